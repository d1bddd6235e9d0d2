//! `firewall`: an ingress source that is public (`0.0.0.0/0`, `::/0`, any /0) or wider than
//! a deployed source it contains, judged by `gates.firewall.public_ingress`.
use super::Rule;
use super::{Check, DiffInput};
use crate::config::{parse_cidr, Descriptor, Level};
use std::collections::BTreeMap;
use std::net::IpAddr;

pub fn check(input: &DiffInput) -> Vec<Check> {
    judge(
        input.gates.firewall_public_ingress(),
        input.deployed,
        input.requested,
    )
}

fn ingress(d: &Descriptor) -> Vec<String> {
    d.firewall
        .as_ref()
        .map(|f| f.ingress.clone())
        .unwrap_or_default()
}

fn bits(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u32::from(a) as u128,
        IpAddr::V6(a) => u128::from(a),
    }
}

/// Whether network `a` (with prefix `la`) contains `b`/`lb`, same family.
fn contains(a: (IpAddr, u8), b: (IpAddr, u8)) -> bool {
    if a.0.is_ipv4() != b.0.is_ipv4() || a.1 > b.1 {
        return false;
    }
    let width = if a.0.is_ipv4() { 32 } else { 128 };
    if a.1 == 0 {
        return true;
    }
    let shift = width - a.1 as u32;
    (bits(a.0) >> shift) == (bits(b.0) >> shift)
}

pub fn judge(
    level: Level,
    deployed: &BTreeMap<String, Descriptor>,
    requested: &BTreeMap<String, Descriptor>,
) -> Vec<Check> {
    let mut out = Vec::new();
    for (name, d) in requested {
        let old = deployed.get(name).map(ingress).unwrap_or_default();
        let old_nets: Vec<(IpAddr, u8)> = old.iter().filter_map(|s| parse_cidr(s)).collect();
        for (i, src) in ingress(d).iter().enumerate() {
            if old.contains(src) {
                continue;
            }
            // The descriptor parser refuses unparseable sources; unknown is never safe.
            let Some(net) = parse_cidr(src) else {
                out.push(
                    Check::fail(
                        Rule::Firewall,
                        format!("{name}: ingress `{src}` is not a CIDR"),
                    )
                    .file(format!("services/{name}.yaml"))
                    .field(format!("firewall.ingress[{i}]"))
                    .value(src.clone()),
                );
                continue;
            };
            let why = if net.1 == 0 {
                Some("opens ingress to the whole internet".to_string())
            } else {
                old_nets
                    .iter()
                    .zip(&old)
                    .find(|(o, _)| contains(net, **o) && net.1 < o.1)
                    .map(|(_, o)| format!("widens ingress from {o}"))
            };
            let Some(why) = why else { continue };
            let detail = format!("{name}: ingress {src} {why}");
            let c = match level {
                Level::Fail => Check::fail(Rule::Firewall, detail).hint(
                    "allow only the networks that need access, or set gates.firewall.public_ingress",
                ),
                Level::Warn => Check::warn(Rule::Firewall, detail),
                Level::Allow => Check::pass(
                    Rule::Firewall,
                    format!("{detail}; allowed by gates.firewall.public_ingress"),
                ),
            };
            let mut c = c
                .file(format!("services/{name}.yaml"))
                .field(format!("firewall.ingress[{i}]"))
                .value(src.clone())
                .limit(format!("public_ingress: {}", level_name(level)));
            if !old.is_empty() {
                c = c.old(format!("[{}]", old.join(", ")));
            }
            out.push(c);
        }
    }
    if out.is_empty() && requested.values().any(|d| !ingress(d).is_empty()) {
        out.push(Check::pass(
            Rule::Firewall,
            "no public or widened ingress in the changed services",
        ));
    }
    out
}

fn level_name(l: Level) -> &'static str {
    match l {
        Level::Fail => "fail",
        Level::Warn => "warn",
        Level::Allow => "allow",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gate::Verdict;

    fn d(ingress: &str) -> Descriptor {
        let t = format!(
            "service: api\nversion: \"1\"\nmaintainer: a@example.com\nfirewall: {{ ingress: {ingress} }}\n"
        );
        crate::config::parse_descriptor("f", "api", t.as_bytes()).unwrap()
    }
    fn one(s: &str) -> BTreeMap<String, Descriptor> {
        BTreeMap::from([("api".to_string(), d(s))])
    }

    #[test]
    fn public_and_wider_sources_trip_the_level() {
        let dep = one("[10.1.0.0/16]");
        let c = judge(Level::Fail, &dep, &one("[\"0.0.0.0/0\"]"));
        assert_eq!(c[0].verdict, Verdict::Fail, "{c:?}");
        assert_eq!(c[0].old.as_deref(), Some("[10.1.0.0/16]"));
        let c = judge(Level::Fail, &dep, &one("[\"::/0\"]"));
        assert_eq!(c[0].verdict, Verdict::Fail);
        let c = judge(Level::Warn, &dep, &one("[10.0.0.0/8]"));
        assert_eq!(c[0].verdict, Verdict::Warn);
        assert!(c[0].detail.contains("widens ingress from 10.1.0.0/16"));
        let c = judge(Level::Allow, &dep, &one("[\"0.0.0.0/0\"]"));
        assert_eq!(c[0].verdict, Verdict::Pass);
        // Narrower, or unrelated private ranges, pass.
        let c = judge(Level::Fail, &dep, &one("[10.1.2.0/24, 192.168.0.0/16]"));
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].verdict, Verdict::Pass, "{c:?}");
    }
}
