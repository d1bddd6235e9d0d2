//! `destructive`: changes that hurt a running service, each judged by its key in
//! `gates.destructive`: `remove_service` (descriptor deleted, emptied or unreadable),
//! `downgrade` (lower by semantic-version order, or not comparable), `port_change`,
//! `domain_change`, and `healthcheck` (endpoints removed, `retries` or `timeout` set to zero).
//! An unknown requested state is never a pass: `allow` still warns there.
use super::Rule;
use super::{Check, DiffInput};
use crate::config::{Descriptor, DestructiveGate, Level};
use crate::diff::{compare_versions, ChangeKind, ServiceChange};
use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

pub fn check(input: &DiffInput) -> Vec<Check> {
    judge(
        &input.gates.destructive(),
        input.changes,
        input.deployed,
        input.requested,
    )
}

struct Found {
    key: &'static str,
    level: Level,
    /// Unknown state: `allow` becomes `warn`.
    unknown: bool,
    service: String,
    field: String,
    old: Option<String>,
    new: Option<String>,
    detail: String,
}

pub fn judge(
    gate: &DestructiveGate,
    changes: &[ServiceChange],
    deployed: &BTreeMap<String, Descriptor>,
    requested: &BTreeMap<String, Descriptor>,
) -> Vec<Check> {
    let mut found: Vec<Found> = Vec::new();
    for c in changes {
        let name = &c.service;
        let f = |key, level, field: &str, old: Option<String>, new: Option<String>, detail| Found {
            key,
            level,
            unknown: false,
            service: name.clone(),
            field: field.to_string(),
            old,
            new,
            detail,
        };
        if c.kind == ChangeKind::Removed {
            found.push(f(
                "remove_service",
                gate.remove_service,
                "service",
                c.from.clone(),
                None,
                format!("{name} would be removed: services/{name}.yaml is deleted"),
            ));
            continue;
        }
        let (Some(old), Some(new)) = (deployed.get(name), requested.get(name)) else {
            if !requested.contains_key(name) {
                // Present at the head but not parsed: emptied or invalid.
                let mut x = f(
                    "remove_service",
                    gate.remove_service,
                    "service",
                    c.from.clone(),
                    None,
                    format!(
                        "services/{name}.yaml is empty or does not parse: the requested state of {name} is unknown"
                    ),
                );
                x.unknown = true;
                found.push(x);
            }
            continue;
        };
        if old.version != new.version {
            match compare_versions(&old.version, &new.version) {
                Some(Ordering::Greater) => found.push(f(
                    "downgrade",
                    gate.downgrade,
                    "version",
                    Some(old.version.clone()),
                    Some(new.version.clone()),
                    format!(
                        "{name} is downgraded from {} to {}",
                        old.version, new.version
                    ),
                )),
                None => {
                    let mut x = f(
                        "downgrade",
                        gate.downgrade,
                        "version",
                        Some(old.version.clone()),
                        Some(new.version.clone()),
                        format!(
                            "{name}: versions {} and {} do not compare, so this may be a downgrade",
                            old.version, new.version
                        ),
                    );
                    x.unknown = true;
                    found.push(x);
                }
                _ => {}
            }
        }
        if old.port.is_some() && old.port != new.port {
            let show = |p: Option<u16>| p.map(|p| p.to_string()).unwrap_or_else(|| "(none)".into());
            found.push(f(
                "port_change",
                gate.port_change,
                "port",
                Some(show(old.port)),
                Some(show(new.port)),
                format!(
                    "{name} moves port {} -> {}: clients must follow",
                    show(old.port),
                    show(new.port)
                ),
            ));
        }
        let closed: Vec<String> = old
            .ports
            .iter()
            .filter(|p| !new.ports.contains(p))
            .map(u16::to_string)
            .collect();
        if !closed.is_empty() {
            found.push(f(
                "port_change",
                gate.port_change,
                "ports",
                Some(list(old.ports.iter().map(u16::to_string))),
                Some(list(new.ports.iter().map(u16::to_string))),
                format!("{name} closes port(s) {}", closed.join(", ")),
            ));
        }
        if old.domain.is_some() && old.domain != new.domain {
            let show = |d: &Option<String>| d.clone().unwrap_or_else(|| "(none)".into());
            found.push(f(
                "domain_change",
                gate.domain_change,
                "domain",
                Some(show(&old.domain)),
                Some(show(&new.domain)),
                format!(
                    "{name} moves domain {} -> {}",
                    show(&old.domain),
                    show(&new.domain)
                ),
            ));
        }
        if let Some(oh) = &old.healthcheck {
            match &new.healthcheck {
                None => found.push(f(
                    "healthcheck",
                    gate.healthcheck,
                    "healthcheck",
                    Some(list(oh.endpoints.iter().cloned())),
                    None,
                    format!("{name} no longer has a health check"),
                )),
                Some(nh) => {
                    let now: BTreeSet<&String> = nh.endpoints.iter().collect();
                    let gone: Vec<String> = oh
                        .endpoints
                        .iter()
                        .filter(|e| !now.contains(e))
                        .cloned()
                        .collect();
                    if !gone.is_empty() {
                        found.push(f(
                            "healthcheck",
                            gate.healthcheck,
                            "healthcheck.endpoints",
                            Some(list(oh.endpoints.iter().cloned())),
                            Some(list(nh.endpoints.iter().cloned())),
                            format!("{name} stops checking {}", gone.join(", ")),
                        ));
                    }
                    if nh.retries == 0 && oh.retries != 0 {
                        found.push(f(
                            "healthcheck",
                            gate.healthcheck,
                            "healthcheck.retries",
                            Some(oh.retries.to_string()),
                            Some("0".into()),
                            format!("{name} sets health-check retries to zero: one slow start fails the deploy"),
                        ));
                    }
                    if nh.timeout.is_zero() && !oh.timeout.is_zero() {
                        found.push(f(
                            "healthcheck",
                            gate.healthcheck,
                            "healthcheck.timeout",
                            Some(oh.timeout.to_string()),
                            Some(nh.timeout.to_string()),
                            format!(
                                "{name} sets the health-check timeout to zero: every check fails"
                            ),
                        ));
                    }
                }
            }
        }
    }
    let mut out: Vec<Check> = found.into_iter().map(to_check).collect();
    if out.is_empty() && !changes.is_empty() {
        out.push(Check::pass(
            Rule::Destructive,
            format!(
                "no destructive change in {}",
                super::plural_services(changes.len())
            ),
        ));
    }
    out
}

fn list(items: impl Iterator<Item = String>) -> String {
    format!("[{}]", items.collect::<Vec<_>>().join(", "))
}

fn to_check(f: Found) -> Check {
    let level = match (f.level, f.unknown) {
        (Level::Allow, true) => Level::Warn,
        (l, _) => l,
    };
    let key = f.key;
    // A requested descriptor that does not parse is a broken file, not a decision to remove
    // the service: the fix is in the file, never in the policy.
    let unparseable = f.unknown && key == "remove_service";
    let c = match level {
        Level::Fail if unparseable => Check::fail(Rule::Destructive, f.detail).hint(format!(
            "fix services/{}.yaml: the schema check above names the line and field (gitops-gate validate lists them all)",
            f.service
        )),
        Level::Fail => Check::fail(Rule::Destructive, f.detail).hint(format!(
            "if this is intended, set gates.destructive.{key} to warn or allow in a reviewed policy change"
        )),
        Level::Warn => Check::warn(Rule::Destructive, f.detail),
        Level::Allow => Check::pass(
            Rule::Destructive,
            format!("{}; allowed by gates.destructive.{key}", f.detail),
        ),
    };
    let mut c = c
        .file(format!("services/{}.yaml", f.service))
        .field(f.field)
        .limit(format!(
            "{key}: {}",
            match f.level {
                Level::Fail => "fail",
                Level::Warn => "warn",
                Level::Allow => "allow",
            }
        ));
    if let Some(o) = f.old {
        c = c.old(o);
    }
    c.value(f.new.unwrap_or_else(|| {
        if unparseable {
            "(unparseable)"
        } else {
            "(removed)"
        }
        .into()
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diff::{service, Requested};
    use crate::gate::Verdict;

    const BASE: &str = "service: api\nversion: \"1.4.1\"\nmaintainer: a@example.com\ndomain: api.example.com\nport: 8080\nports: [8080, 9090]\nhealthcheck: { endpoints: [/healthz, /ready], retries: 5 }\n";

    fn d(t: &str) -> Descriptor {
        crate::config::parse_descriptor("f", "api", t.as_bytes()).unwrap()
    }
    fn run(gate: &DestructiveGate, new: Option<&str>) -> Vec<Check> {
        let old = d(BASE);
        let new_d = new.map(d);
        let req = match &new_d {
            Some(n) => Requested::Present(n),
            None => Requested::Absent,
        };
        let changes: Vec<_> = service("api", Some(&old), req).into_iter().collect();
        let dep = BTreeMap::from([("api".to_string(), old.clone())]);
        let reqm: BTreeMap<String, Descriptor> =
            new_d.into_iter().map(|n| ("api".to_string(), n)).collect();
        judge(gate, &changes, &dep, &reqm)
    }
    fn strict() -> DestructiveGate {
        DestructiveGate {
            remove_service: Level::Fail,
            downgrade: Level::Fail,
            port_change: Level::Fail,
            domain_change: Level::Fail,
            healthcheck: Level::Fail,
        }
    }

    #[test]
    fn each_destructive_change_is_found_once_with_evidence() {
        let cases = [
            ("version: \"1.4.1\"", "version: \"1.3.0\"", "version"),
            ("version: \"1.4.1\"", "version: \"latest\"", "version"),
            ("port: 8080", "port: 8081", "port"),
            ("ports: [8080, 9090]", "ports: [8080]", "ports"),
            (
                "domain: api.example.com",
                "domain: api2.example.com",
                "domain",
            ),
            ("[/healthz, /ready]", "[/healthz]", "healthcheck.endpoints"),
            ("retries: 5", "retries: 0", "healthcheck.retries"),
        ];
        for (from, to, field) in cases {
            let c = run(&strict(), Some(&BASE.replace(from, to)));
            assert_eq!(c.len(), 1, "{field}: {c:?}");
            assert_eq!(c[0].verdict, Verdict::Fail, "{field}");
            assert_eq!(c[0].field.as_deref(), Some(field));
            assert!(c[0].old.is_some() && c[0].value.is_some() && c[0].limit.is_some());
        }
        let c = run(&strict(), None);
        assert_eq!(
            (c[0].verdict, c[0].field.as_deref()),
            (Verdict::Fail, Some("service"))
        );
        assert!(run(&strict(), Some(&BASE.replace("1.4.1", "1.10.0")))[0].verdict == Verdict::Pass);
    }

    #[test]
    fn levels_are_honoured_and_unknown_is_never_allowed() {
        let mut g = strict();
        g.downgrade = Level::Allow;
        let c = run(&g, Some(&BASE.replace("1.4.1", "1.3.0")));
        assert_eq!(c[0].verdict, Verdict::Pass);
        let c = run(&g, Some(&BASE.replace("\"1.4.1\"", "latest")));
        assert_eq!(c[0].verdict, Verdict::Warn, "{c:?}");
        g.domain_change = Level::Warn;
        let c = run(&g, Some(&BASE.replace("api.example.com", "x.example.com")));
        assert_eq!(c[0].verdict, Verdict::Warn);
        // Unreadable requested descriptor: judged as remove_service, never a pass.
        let old = d(BASE);
        let changes: Vec<_> = service("api", Some(&old), Requested::Unreadable)
            .into_iter()
            .collect();
        let dep = BTreeMap::from([("api".to_string(), old)]);
        g.remove_service = Level::Allow;
        let c = judge(&g, &changes, &dep, &BTreeMap::new());
        assert_eq!(c[0].verdict, Verdict::Warn, "{c:?}");
    }
}
