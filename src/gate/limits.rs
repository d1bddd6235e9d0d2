//! `limits`: one service's requested cpu or memory over `gates.limits`.
use super::Rule;
use super::{Check, DiffInput};
use crate::config::{Descriptor, Quantity, Resources};
use std::collections::BTreeMap;

pub fn check(input: &DiffInput) -> Vec<Check> {
    match &input.gates.limits {
        Some(l) => judge(l, input.deployed, input.requested),
        None => Vec::new(),
    }
}

pub fn judge(
    limits: &Resources,
    deployed: &BTreeMap<String, Descriptor>,
    requested: &BTreeMap<String, Descriptor>,
) -> Vec<Check> {
    let mut out = Vec::new();
    type Get = fn(&Resources) -> Option<&Quantity>;
    let dims: [(&str, Option<&Quantity>, Get); 2] = [
        ("cpu", limits.cpu.as_ref(), |r| r.cpu.as_ref()),
        ("memory", limits.memory.as_ref(), |r| r.memory.as_ref()),
    ];
    let mut checked = 0;
    for (name, d) in requested {
        for (dim, limit, get) in &dims {
            let Some(limit) = limit else { continue };
            checked += 1;
            let Some(q) = d.resources.as_ref().and_then(get) else {
                continue;
            };
            if q.milli() <= limit.milli() {
                continue;
            }
            let old = deployed
                .get(name)
                .and_then(|o| o.resources.as_ref())
                .and_then(get);
            let mut c = Check::fail(
                Rule::Limits,
                format!(
                    "{name} requests {dim} {} over the per-service limit {}",
                    q.raw(),
                    limit.raw()
                ),
            )
            .file(format!("services/{name}.yaml"))
            .field(format!("resources.{dim}"))
            .value(q.raw())
            .limit(limit.raw())
            .hint(format!(
                "lower resources.{dim}, split the service, or raise gates.limits.{dim}"
            ));
            if let Some(o) = old {
                c = c.old(o.raw());
            }
            out.push(c);
        }
    }
    if out.is_empty() && checked > 0 {
        out.push(Check::pass(
            Rule::Limits,
            format!(
                "{} within the per-service limits",
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

    fn d(cpu: &str) -> Descriptor {
        let t = format!(
            "service: api\nversion: \"1\"\nmaintainer: a@example.com\nresources: {{ cpu: {cpu} }}\n"
        );
        crate::config::parse_descriptor("f", "api", t.as_bytes()).unwrap()
    }

    #[test]
    fn over_the_limit_fails_with_evidence_and_equal_by_value_passes() {
        let lim = Resources {
            cpu: Some(Quantity::parse("4").unwrap()),
            memory: None,
        };
        let dep = BTreeMap::from([("api".to_string(), d("1"))]);
        let req = BTreeMap::from([("api".to_string(), d("4500m"))]);
        let c = judge(&lim, &dep, &req);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].verdict, Verdict::Fail);
        assert_eq!(c[0].field.as_deref(), Some("resources.cpu"));
        assert_eq!(c[0].old.as_deref(), Some("1"));
        assert_eq!(c[0].value.as_deref(), Some("4500m"));
        assert_eq!(c[0].limit.as_deref(), Some("4"));
        let req = BTreeMap::from([("api".to_string(), d("4000m"))]);
        assert_eq!(judge(&lim, &dep, &req)[0].verdict, Verdict::Pass);
    }
}
