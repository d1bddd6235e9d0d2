//! `capacity`: the sum of every requested service's cpu and memory against `gates.capacity`.
//! The sum covers all descriptors at the head, not only the changed ones.
use super::{Check, DiffInput};
use crate::config::{Descriptor, Quantity, Resources};
use std::collections::BTreeMap;

/// The resources of every descriptor at the head commit, and the ones that did not parse.
#[derive(Debug, Clone, Default)]
pub struct HeadState {
    pub services: BTreeMap<String, Option<Resources>>,
    /// Paths of descriptors at the head that do not parse: the sum is unknown without them.
    pub unreadable: Vec<String>,
}

pub fn check(input: &DiffInput) -> Vec<Check> {
    let Some(cap) = &input.gates.capacity else {
        return Vec::new();
    };
    let Some(all) = input.all_requested else {
        return vec![Check::warn(
            "capacity",
            "gates.capacity is set but the requested descriptors were not summed",
        )];
    };
    judge(cap, all, input.deployed, input.requested)
}

#[derive(Clone, Copy)]
enum Dim {
    Cpu,
    Memory,
}

impl Dim {
    fn name(self) -> &'static str {
        match self {
            Dim::Cpu => "cpu",
            Dim::Memory => "memory",
        }
    }
    fn get(self, r: Option<&Resources>) -> u128 {
        let q = r.and_then(|r| match self {
            Dim::Cpu => r.cpu.as_ref(),
            Dim::Memory => r.memory.as_ref(),
        });
        q.map(Quantity::milli).unwrap_or(0)
    }
    fn show(self, milli: u128) -> String {
        let q = Quantity::from_milli(milli);
        match self {
            Dim::Cpu => q.canonical(),
            Dim::Memory => q.human_bytes(),
        }
    }
}

/// `deployed` and `requested` hold the changed services (deployed and requested side), so
/// the deployed total is the requested total with the changed services swapped back.
pub fn judge(
    cap: &Resources,
    all: &HeadState,
    deployed: &BTreeMap<String, Descriptor>,
    requested: &BTreeMap<String, Descriptor>,
) -> Vec<Check> {
    let mut out = Vec::new();
    for dim in [Dim::Cpu, Dim::Memory] {
        let limit = match dim {
            Dim::Cpu => cap.cpu.as_ref(),
            Dim::Memory => cap.memory.as_ref(),
        };
        let Some(limit) = limit else { continue };
        let field = format!("resources.{}", dim.name());
        let total: u128 = all.services.values().map(|r| dim.get(r.as_ref())).sum();
        let old_total = total
            - requested
                .values()
                .map(|d| dim.get(d.resources.as_ref()))
                .sum::<u128>()
                .min(total)
            + deployed
                .values()
                .map(|d| dim.get(d.resources.as_ref()))
                .sum::<u128>();
        let mut grew: Vec<String> = Vec::new();
        for (name, r) in requested {
            let new = dim.get(r.resources.as_ref());
            let old = deployed.get(name).map(|d| dim.get(d.resources.as_ref()));
            match old {
                Some(o) if new > o => {
                    grew.push(format!("{name} {} -> {}", dim.show(o), dim.show(new)))
                }
                None if new > 0 => grew.push(format!("{name} +{}", dim.show(new))),
                _ => {}
            }
        }
        let grew_text = if grew.is_empty() {
            String::new()
        } else {
            format!("; grew: {}", grew.join(", "))
        };
        let base = format!(
            "{} requested {} over {}: {} of {} (was {}){grew_text}",
            dim.name(),
            if total > limit.milli() {
                "exceeds capacity"
            } else {
                "fits"
            },
            super::plural_services(all.services.len()),
            dim.show(total),
            dim.show(limit.milli()),
            dim.show(old_total),
        );
        let c = if total > limit.milli() {
            Check::fail("capacity", base).hint(format!(
                "lower resources.{} of a service, or raise gates.capacity.{}",
                dim.name(),
                dim.name()
            ))
        } else if !all.unreadable.is_empty() {
            Check::warn(
                "capacity",
                format!(
                    "{base}; {} not counted ({}): the sum is a lower bound",
                    super::plural(all.unreadable.len(), "unreadable descriptor"),
                    all.unreadable.join(", ")
                ),
            )
        } else {
            Check::pass("capacity", base)
        };
        out.push(
            c.field(field)
                .old(dim.show(old_total))
                .value(dim.show(total))
                .limit(dim.show(limit.milli())),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gate::Verdict;

    fn d(name: &str, cpu: &str, mem: &str) -> Descriptor {
        let t = format!(
            "service: {name}\nversion: \"1\"\nmaintainer: a@example.com\nresources: {{ cpu: {cpu}, memory: {mem} }}\n"
        );
        crate::config::parse_descriptor("f", name, t.as_bytes()).unwrap()
    }
    fn cap(cpu: &str, mem: &str) -> Resources {
        Resources {
            cpu: Some(Quantity::parse(cpu).unwrap()),
            memory: Some(Quantity::parse(mem).unwrap()),
        }
    }

    #[test]
    fn sums_every_service_and_names_the_ones_that_grew() {
        let mut all = HeadState::default();
        for i in 0..3 {
            let n = format!("s{i}");
            all.services.insert(n.clone(), d(&n, "2", "1Gi").resources);
        }
        all.services
            .insert("api".into(), d("api", "4", "1Gi").resources);
        let deployed = BTreeMap::from([("api".to_string(), d("api", "1", "1Gi"))]);
        let requested = BTreeMap::from([("api".to_string(), d("api", "4", "1Gi"))]);
        let checks = judge(&cap("8", "64Gi"), &all, &deployed, &requested);
        let cpu = &checks[0];
        assert_eq!(cpu.verdict, Verdict::Fail, "{cpu:?}");
        assert_eq!(cpu.value.as_deref(), Some("10"));
        assert_eq!(cpu.old.as_deref(), Some("7"));
        assert_eq!(cpu.limit.as_deref(), Some("8"));
        assert!(cpu.detail.contains("api 1 -> 4"), "{}", cpu.detail);
        assert_eq!(checks[1].verdict, Verdict::Pass);
        assert_eq!(checks[1].value.as_deref(), Some("4Gi"));
        // Quantities by value: 10 cores = 10000m fits exactly.
        let ok = judge(&cap("10000m", "4Gi"), &all, &deployed, &requested);
        assert!(ok.iter().all(|c| c.verdict == Verdict::Pass), "{ok:?}");
    }

    #[test]
    fn unreadable_descriptors_are_never_a_silent_pass() {
        let mut all = HeadState::default();
        all.services
            .insert("a".into(), d("a", "1", "1Gi").resources);
        all.unreadable.push("services/b.yaml".into());
        let c = judge(&cap("8", "8Gi"), &all, &BTreeMap::new(), &BTreeMap::new());
        assert!(c.iter().all(|c| c.verdict == Verdict::Warn), "{c:?}");
    }
}
