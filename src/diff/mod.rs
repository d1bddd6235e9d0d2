//! The semantic diff, deployed -> requested: per service, per field path, compared by type
//! (quantities as quantities, versions as strings), each change with a risk.
pub mod terraform;
mod version;

pub use version::compare_versions;

use crate::config::{Descriptor, Duration, Quantity};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Risk {
    Safe,
    Warn,
    Destructive,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    Added,
    Changed,
    Removed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldChange {
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new: Option<String>,
    pub risk: Risk,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
}

impl ServiceChange {
    /// The requested side as people read it: a version, `removed`, or `unparseable` for a
    /// descriptor that exists but does not parse (never shown as a removal).
    pub fn to_label(&self) -> &str {
        match (&self.to, self.kind) {
            (Some(v), _) => v,
            (None, ChangeKind::Removed) => "removed",
            (None, _) => "unparseable",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceChange {
    pub service: String,
    pub kind: ChangeKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    pub risk: Risk,
    pub fields: Vec<FieldChange>,
}

/// A requested descriptor that could not be read is never "no change" and never safe.
#[derive(Debug, Clone, PartialEq)]
pub enum Requested<'a> {
    Present(&'a Descriptor),
    Absent,
    /// The file exists but does not parse (empty, invalid): its state is unknown.
    Unreadable,
}

/// Diffs one service. `None` when nothing differs.
pub fn service(
    name: &str,
    deployed: Option<&Descriptor>,
    requested: Requested,
) -> Option<ServiceChange> {
    match (deployed, requested) {
        (None, Requested::Absent) => None,
        (Some(d), Requested::Absent) => Some(ServiceChange {
            service: name.to_string(),
            kind: ChangeKind::Removed,
            from: Some(d.version.clone()),
            to: None,
            risk: Risk::Destructive,
            fields: vec![FieldChange {
                path: "service".into(),
                old: Some(name.to_string()),
                new: None,
                risk: Risk::Destructive,
                why: Some("the descriptor was deleted: the service would be removed".into()),
            }],
        }),
        (d, Requested::Unreadable) => Some(ServiceChange {
            service: name.to_string(),
            kind: if d.is_some() {
                ChangeKind::Changed
            } else {
                ChangeKind::Added
            },
            from: d.map(|d| d.version.clone()),
            to: None,
            risk: Risk::Destructive,
            fields: vec![FieldChange {
                path: "service".into(),
                old: d.map(|_| name.to_string()),
                new: None,
                risk: Risk::Destructive,
                why: Some("the requested descriptor does not parse: its state is unknown".into()),
            }],
        }),
        (None, Requested::Present(r)) => {
            let fields = fields(None, Some(r));
            Some(ServiceChange {
                service: name.to_string(),
                kind: ChangeKind::Added,
                from: None,
                to: Some(r.version.clone()),
                risk: fields.iter().map(|f| f.risk).max().unwrap_or(Risk::Safe),
                fields,
            })
        }
        (Some(d), Requested::Present(r)) => {
            let fields = fields(Some(d), Some(r));
            if fields.is_empty() {
                return None;
            }
            Some(ServiceChange {
                service: name.to_string(),
                kind: ChangeKind::Changed,
                from: Some(d.version.clone()),
                to: Some(r.version.clone()),
                risk: fields.iter().map(|f| f.risk).max().unwrap_or(Risk::Safe),
                fields,
            })
        }
    }
}

/// Lists compared as sets: order carries no meaning there.
const SET_FIELDS: &[&str] = &["ports", "firewall.ingress", "notify.email", "notify.slack"];
const QUANTITY_FIELDS: &[&str] = &["resources.cpu", "resources.memory"];
const DURATION_FIELDS: &[&str] = &[
    "healthcheck.interval",
    "healthcheck.timeout",
    "healthcheck.initial_delay",
];

/// Flattens a descriptor to `path -> value` (scalars, and set-like lists whole). Written
/// out by hand rather than through `serde_json::to_value`: it runs twice per changed
/// service, thousands of times on a large push.
/// The field paths of `d` in the sections `keep` names (a path's first segment).
fn flatten(d: &Descriptor, keep: &dyn Fn(&str) -> bool) -> BTreeMap<String, Value> {
    let mut m = BTreeMap::new();
    let text = |v: &str| Value::String(v.to_string());
    let list = |v: &[String]| Value::Array(v.iter().map(|s| text(s)).collect());
    if keep("service") {
        m.insert("service".to_string(), text(&d.service));
    }
    if keep("version") {
        m.insert("version".to_string(), text(&d.version));
    }
    if keep("maintainer") {
        m.insert("maintainer".to_string(), text(&d.maintainer));
    }
    if let Some(x) = d.domain.as_ref().filter(|_| keep("domain")) {
        m.insert("domain".to_string(), text(x));
    }
    if let Some(p) = d.port.filter(|_| keep("port")) {
        m.insert("port".to_string(), Value::from(p));
    }
    if let Some(h) = d.healthcheck.as_ref().filter(|_| keep("healthcheck")) {
        for (i, e) in h.endpoints.iter().enumerate() {
            m.insert(format!("healthcheck.endpoints[{i}]"), text(e));
        }
        m.insert("healthcheck.retries".to_string(), Value::from(h.retries));
        m.insert(
            "healthcheck.interval".to_string(),
            text(&h.interval.to_string()),
        );
        m.insert(
            "healthcheck.timeout".to_string(),
            text(&h.timeout.to_string()),
        );
        m.insert(
            "healthcheck.initial_delay".to_string(),
            text(&h.initial_delay.to_string()),
        );
    }
    if let Some(r) = d.resources.as_ref().filter(|_| keep("resources")) {
        if let Some(c) = &r.cpu {
            m.insert("resources.cpu".to_string(), text(c.raw()));
        }
        if let Some(c) = &r.memory {
            m.insert("resources.memory".to_string(), text(c.raw()));
        }
    }
    if !d.ports.is_empty() && keep("ports") {
        m.insert(
            "ports".to_string(),
            Value::Array(d.ports.iter().map(|p| Value::from(*p)).collect()),
        );
    }
    if let Some(f) = d.firewall.as_ref().filter(|_| keep("firewall")) {
        if !f.ingress.is_empty() {
            m.insert("firewall.ingress".to_string(), list(&f.ingress));
        }
    }
    if keep("notify") {
        if !d.notify.email.is_empty() {
            m.insert("notify.email".to_string(), list(&d.notify.email));
        }
        if !d.notify.slack.is_empty() {
            m.insert("notify.slack".to_string(), list(&d.notify.slack));
        }
    }
    m
}

/// Whether a top-level section differs at all. Typed equality (quantities by value) implies
/// that no field of the section would be reported, so equal sections are not flattened:
/// most changes touch one line of a descriptor.
fn section_differs(a: &Descriptor, b: &Descriptor, section: &str) -> bool {
    match section {
        "service" => a.service != b.service,
        "version" => a.version != b.version,
        "maintainer" => a.maintainer != b.maintainer,
        "domain" => a.domain != b.domain,
        "port" => a.port != b.port,
        "healthcheck" => a.healthcheck != b.healthcheck,
        "resources" => a.resources != b.resources,
        "ports" => a.ports != b.ports,
        "firewall" => a.firewall != b.firewall,
        "notify" => a.notify != b.notify,
        _ => true,
    }
}

fn render(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(a) => format!("[{}]", a.iter().map(render).collect::<Vec<_>>().join(", ")),
        other => other.to_string(),
    }
}

fn same(path: &str, a: &Value, b: &Value) -> bool {
    if let (Value::String(x), Value::String(y)) = (a, b) {
        if QUANTITY_FIELDS.contains(&path) {
            if let (Ok(x), Ok(y)) = (Quantity::parse(x), Quantity::parse(y)) {
                return x == y;
            }
        }
        if DURATION_FIELDS.contains(&path) {
            if let (Ok(x), Ok(y)) = (Duration::parse(x), Duration::parse(y)) {
                return x == y;
            }
        }
    }
    if SET_FIELDS.contains(&path) {
        if let (Value::Array(x), Value::Array(y)) = (a, b) {
            let xs: BTreeSet<String> = x.iter().map(render).collect();
            let ys: BTreeSet<String> = y.iter().map(render).collect();
            return xs == ys;
        }
    }
    a == b
}

fn fields(deployed: Option<&Descriptor>, requested: Option<&Descriptor>) -> Vec<FieldChange> {
    let keep = |section: &str| match (deployed, requested) {
        (Some(a), Some(b)) => section_differs(a, b, section),
        _ => true,
    };
    let old = deployed.map(|d| flatten(d, &keep)).unwrap_or_default();
    let new = requested.map(|d| flatten(d, &keep)).unwrap_or_default();
    let paths: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    let mut out = Vec::new();
    for path in paths {
        let (o, n) = (old.get(path), new.get(path));
        if let (Some(o), Some(n)) = (o, n) {
            if same(path, o, n) {
                continue;
            }
        }
        let (risk, why) = if deployed.is_none() {
            (Risk::Safe, None)
        } else {
            risk_of(path, o, n)
        };
        out.push(FieldChange {
            path: path.clone(),
            old: o.map(render),
            new: n.map(render),
            risk,
            why,
        });
    }
    out
}

/// The risk of one field change, before any policy: rules decide fail/warn/allow.
fn risk_of(path: &str, old: Option<&Value>, new: Option<&Value>) -> (Risk, Option<String>) {
    let s = |v: Option<&Value>| v.map(render);
    match path {
        "version" => match (s(old), s(new)) {
            (Some(o), Some(n)) => match compare_versions(&o, &n) {
                Some(Ordering::Less) => (Risk::Safe, None),
                Some(Ordering::Greater) => (
                    Risk::Destructive,
                    Some(format!("downgrade from {o} to {n}")),
                ),
                Some(Ordering::Equal) => (Risk::Safe, None),
                None => (
                    Risk::Warn,
                    Some(format!("{o} and {n} are not comparable versions")),
                ),
            },
            _ => (Risk::Warn, None),
        },
        "port" | "domain" => (
            Risk::Warn,
            Some(format!("{path} changes: clients must follow")),
        ),
        "ports" => {
            let set = |v: Option<&Value>| -> BTreeSet<String> {
                match v {
                    Some(Value::Array(a)) => a.iter().map(render).collect(),
                    _ => BTreeSet::new(),
                }
            };
            let opened: Vec<String> = set(new).difference(&set(old)).cloned().collect();
            if opened.is_empty() {
                (Risk::Safe, None)
            } else {
                (
                    Risk::Warn,
                    Some(format!("opens port(s) {}", opened.join(", "))),
                )
            }
        }
        "firewall.ingress" => (Risk::Warn, Some("firewall ingress changes".into())),
        "healthcheck.retries" if s(new).as_deref() == Some("0") => (
            Risk::Destructive,
            Some("zero retries: a slow start fails the deploy".into()),
        ),
        p if p.starts_with("healthcheck.endpoints") && new.is_none() => (
            Risk::Warn,
            Some("a health-check endpoint is no longer checked".into()),
        ),
        p if p.starts_with("healthcheck") && new.is_none() => {
            (Risk::Warn, Some("the health check is weakened".into()))
        }
        _ => (Risk::Safe, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(text: &str) -> Descriptor {
        crate::config::parse_descriptor("services/api.yaml", "api", text.as_bytes()).unwrap()
    }
    const BASE: &str = "service: api\nversion: \"1.4.1\"\nmaintainer: a@example.com\nresources: { cpu: 1, memory: 512Mi }\nports: [8080, 9090]\nhealthcheck: { endpoints: [/healthz, /ready] }\n";

    #[test]
    fn identical_is_no_change_and_quantities_compare_by_value() {
        assert!(service("api", Some(&d(BASE)), Requested::Present(&d(BASE))).is_none());
        let same = BASE
            .replace("cpu: 1,", "cpu: 1000m,")
            .replace("[8080, 9090]", "[9090, 8080]");
        assert!(service("api", Some(&d(BASE)), Requested::Present(&d(&same))).is_none());
    }

    #[test]
    fn versions_are_strings_and_fields_are_located() {
        let a = d(&BASE.replace("1.4.1", "1.1"));
        let b = d(&BASE.replace("1.4.1", "1.10").replace("/ready", "/live"));
        let c = service("api", Some(&a), Requested::Present(&b)).unwrap();
        let paths: Vec<&str> = c.fields.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, vec!["healthcheck.endpoints[1]", "version"]);
        assert_eq!(c.risk, Risk::Safe);
    }

    #[test]
    fn removal_unreadable_and_downgrade_are_destructive() {
        let base = d(BASE);
        assert_eq!(
            service("api", Some(&base), Requested::Absent).unwrap().risk,
            Risk::Destructive
        );
        assert_eq!(
            service("api", Some(&base), Requested::Unreadable)
                .unwrap()
                .risk,
            Risk::Destructive
        );
        let down = d(&BASE.replace("1.4.1", "1.3.9"));
        let c = service("api", Some(&base), Requested::Present(&down)).unwrap();
        assert_eq!(c.risk, Risk::Destructive);
    }
}
