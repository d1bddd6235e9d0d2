//! `ports`: a port (in `port` or `ports`) outside `gates.ports.allowed`. A port the push
//! newly opens fails; one already open on the deployed side is a warning (the policy
//! tightened after it was deployed), so an unrelated change is not held hostage.
use super::Rule;
use super::{Check, DiffInput};
use crate::config::{Descriptor, PortRange};
use std::collections::{BTreeMap, BTreeSet};

pub fn check(input: &DiffInput) -> Vec<Check> {
    match &input.gates.ports {
        Some(p) => judge(&p.allowed, input.deployed, input.requested),
        None => Vec::new(),
    }
}

/// Every port a descriptor opens: `port` and `ports`.
pub fn ports_of(d: &Descriptor) -> BTreeSet<u16> {
    d.ports.iter().copied().chain(d.port).collect()
}

pub fn judge(
    allowed: &[PortRange],
    deployed: &BTreeMap<String, Descriptor>,
    requested: &BTreeMap<String, Descriptor>,
) -> Vec<Check> {
    let allowed_text = allowed
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    let mut out = Vec::new();
    for (name, d) in requested {
        let old = deployed.get(name).map(ports_of).unwrap_or_default();
        for p in ports_of(d) {
            if allowed.iter().any(|r| r.contains(p)) {
                continue;
            }
            let field = if d.ports.contains(&p) {
                "ports"
            } else {
                "port"
            };
            let c = if old.contains(&p) {
                Check::warn(
                    Rule::Ports,
                    format!(
                        "{name} keeps port {p} open, outside the allowed ports ({allowed_text})"
                    ),
                )
                .old(p.to_string())
            } else {
                Check::fail(
                    Rule::Ports,
                    format!("{name} newly opens port {p}, outside the allowed ports ({allowed_text})"),
                )
                .hint("use an allowed port, or add it to gates.ports.allowed in a reviewed policy change")
            };
            out.push(
                c.file(format!("services/{name}.yaml"))
                    .field(field)
                    .value(p.to_string())
                    .limit(allowed_text.clone()),
            );
        }
    }
    if out.is_empty() && !requested.is_empty() {
        out.push(Check::pass(
            Rule::Ports,
            format!(
                "every port of {} is allowed",
                super::plural_services(requested.len())
            ),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gate::Verdict;

    fn d(extra: &str) -> Descriptor {
        let t = format!("service: api\nversion: \"1\"\nmaintainer: a@example.com\n{extra}");
        crate::config::parse_descriptor("f", "api", t.as_bytes()).unwrap()
    }
    fn allowed() -> Vec<PortRange> {
        serde_json::from_str(r#"["443", "8000-8999"]"#).unwrap()
    }

    #[test]
    fn new_ports_outside_the_list_fail_and_are_named() {
        let dep = BTreeMap::from([("api".to_string(), d("port: 8080\nports: [22]\n"))]);
        let req = BTreeMap::from([("api".to_string(), d("port: 8080\nports: [22, 9090]\n"))]);
        let c = judge(&allowed(), &dep, &req);
        assert_eq!(c.len(), 2, "{c:?}");
        assert_eq!(c[0].verdict, Verdict::Warn);
        assert_eq!(c[1].verdict, Verdict::Fail);
        assert!(
            c[1].detail.contains("newly opens port 9090"),
            "{}",
            c[1].detail
        );
        assert_eq!(c[1].limit.as_deref(), Some("443, 8000-8999"));
        let ok = BTreeMap::from([("api".to_string(), d("port: 443\nports: [8999]\n"))]);
        assert_eq!(judge(&allowed(), &dep, &ok)[0].verdict, Verdict::Pass);
        // `port` alone counts too.
        let single = BTreeMap::from([("api".to_string(), d("port: 80\n"))]);
        let c = judge(&allowed(), &BTreeMap::new(), &single);
        assert_eq!(
            (c[0].verdict, c[0].field.as_deref()),
            (Verdict::Fail, Some("port"))
        );
    }
}
