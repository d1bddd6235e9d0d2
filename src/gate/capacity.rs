//! `capacity`: the sum of every requested service's cpu and memory against `gates.capacity`.
//! The sum covers all descriptors at the head, not only the changed ones.
use super::Rule;
use super::{Check, DiffInput};
use crate::config::{Descriptor, Quantity, Resources};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// The summed resources of every descriptor at the head commit, and the ones that did not
/// parse.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeadState {
    /// Descriptors counted in the sums.
    pub services: usize,
    /// Milli-cores.
    pub cpu: u128,
    /// Milli-bytes.
    pub memory: u128,
    /// Paths of descriptors at the head that do not parse: the sum is unknown without them.
    pub unreadable: Vec<String>,
}

/// What one descriptor adds to its environment's sums.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counted {
    Resources { cpu: u128, memory: u128 },
    Unreadable,
}

impl Counted {
    pub fn of(r: Option<&Resources>) -> Counted {
        Counted::Resources {
            cpu: Dim::Cpu.get(r),
            memory: Dim::Memory.get(r),
        }
    }
}

/// A changed descriptor as the sums see it: deployed and requested side (`None`: no such
/// file on that side).
pub struct Swap<'a> {
    pub path: &'a str,
    pub old: Option<Counted>,
    pub new: Option<Counted>,
}

/// A commit's sums as a successful deploy records them with its run record (`capacity`), so
/// the next push reads only the descriptors it changes instead of all of them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recorded {
    /// How descriptors are counted; a record of another schema is not used.
    pub schema: u32,
    /// The id of `services/` at the commit. A note copied onto another commit (a rebase with
    /// `notes.rewriteRef` does that) describes other content, so a record whose tree differs
    /// from the commit's is not used.
    pub tree: String,
    pub services: usize,
    /// Milli-cores and milli-bytes, as decimal strings: JSON readers lose integers past
    /// 2^53, which milli-bytes pass at 9 TB.
    pub cpu: String,
    pub memory: String,
    pub unreadable: Vec<String>,
}

impl Recorded {
    pub const SCHEMA: u32 = 1;
    /// 2^96 milli-units, beyond any cluster: a larger record is refused, so no sum over it
    /// can overflow.
    pub const MAX_SUM: u128 = 1 << 96;
}

impl HeadState {
    pub fn count(&mut self, path: &str, c: Counted) {
        match c {
            Counted::Resources { cpu, memory } => {
                self.services += 1;
                self.cpu = self.cpu.saturating_add(cpu);
                self.memory = self.memory.saturating_add(memory);
            }
            Counted::Unreadable => self.unreadable.push(path.to_string()),
        }
    }

    pub fn recorded(&self, tree: String) -> Recorded {
        Recorded {
            schema: Recorded::SCHEMA,
            tree,
            services: self.services,
            cpu: self.cpu.to_string(),
            memory: self.memory.to_string(),
            unreadable: self.unreadable.clone(),
        }
    }

    /// The base's recorded sums with the changed descriptors swapped in. `None` when the
    /// record disagrees with what the push read of the base (it calls a descriptor
    /// unreadable that parses, or the other way round, or a removal takes more than its
    /// totals hold), when its numbers are beyond any cluster, or when it does not parse: the
    /// caller then sums every descriptor.
    pub fn carried(base: &Recorded, changed: &[Swap]) -> Option<HeadState> {
        let sane = |v: u128| (v <= Recorded::MAX_SUM).then_some(v);
        let (mut cpu, mut memory): (u128, u128) = (
            sane(base.cpu.parse().ok()?)?,
            sane(base.memory.parse().ok()?)?,
        );
        let mut services = base.services;
        let mut unreadable: BTreeSet<&str> = base.unreadable.iter().map(String::as_str).collect();
        if unreadable.len() != base.unreadable.len() {
            return None;
        }
        for s in changed {
            // Only a descriptor the record calls unreadable may be unreadable at the base.
            let was_unreadable = unreadable.remove(s.path);
            match s.old {
                Some(Counted::Unreadable) if was_unreadable => {}
                _ if was_unreadable => return None,
                None => {}
                Some(Counted::Resources { cpu: c, memory: m }) => {
                    services = services.checked_sub(1)?;
                    cpu = cpu.checked_sub(c)?;
                    memory = memory.checked_sub(m)?;
                }
                Some(Counted::Unreadable) => return None,
            }
            match s.new {
                None => {}
                Some(Counted::Resources { cpu: c, memory: m }) => {
                    services = services.checked_add(1)?;
                    cpu = sane(cpu.checked_add(c)?)?;
                    memory = sane(memory.checked_add(m)?)?;
                }
                Some(Counted::Unreadable) => {
                    unreadable.insert(s.path);
                }
            }
        }
        Some(HeadState {
            services,
            cpu,
            memory,
            unreadable: unreadable.into_iter().map(str::to_string).collect(),
        })
    }
}

pub fn check(input: &DiffInput) -> Vec<Check> {
    let Some(cap) = &input.gates.capacity else {
        return Vec::new();
    };
    let Some(all) = input.all_requested else {
        return vec![Check::warn(
            Rule::Capacity,
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
        let total = match dim {
            Dim::Cpu => all.cpu,
            Dim::Memory => all.memory,
        };
        let sum = |m: &BTreeMap<String, Descriptor>| {
            m.values()
                .map(|d| dim.get(d.resources.as_ref()))
                .fold(0u128, u128::saturating_add)
        };
        let old_total = total
            .saturating_sub(sum(requested))
            .saturating_add(sum(deployed));
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
            super::plural_services(all.services),
            dim.show(total),
            dim.show(limit.milli()),
            dim.show(old_total),
        );
        let c = if total > limit.milli() {
            Check::fail(Rule::Capacity, base).hint(format!(
                "lower resources.{} of a service, or raise gates.capacity.{}",
                dim.name(),
                dim.name()
            ))
        } else if !all.unreadable.is_empty() {
            Check::warn(
                Rule::Capacity,
                format!(
                    "{base}; {} not counted ({}): the sum is a lower bound",
                    super::plural(all.unreadable.len(), "unreadable descriptor"),
                    all.unreadable.join(", ")
                ),
            )
        } else {
            Check::pass(Rule::Capacity, base)
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
            all.count(&n, Counted::of(d(&n, "2", "1Gi").resources.as_ref()));
        }
        all.count("api", Counted::of(d("api", "4", "1Gi").resources.as_ref()));
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
        all.count("a", Counted::of(d("a", "1", "1Gi").resources.as_ref()));
        all.count("services/b.yaml", Counted::Unreadable);
        let c = judge(&cap("8", "8Gi"), &all, &BTreeMap::new(), &BTreeMap::new());
        assert!(c.iter().all(|c| c.verdict == Verdict::Warn), "{c:?}");
    }

    fn counted(cpu: &str, mem: &str) -> Counted {
        Counted::of(Some(&cap(cpu, mem)))
    }

    /// Sums a set of (path, counted) descriptors the way a full read does.
    fn summed(all: &[(&str, Counted)]) -> HeadState {
        let mut s = HeadState::default();
        for (p, c) in all {
            s.count(p, *c);
        }
        s.unreadable.sort();
        s
    }

    #[test]
    fn carried_sums_equal_summing_the_head_again() {
        let base = [
            ("services/a.yaml", counted("1", "1Gi")),
            ("services/b.yaml", counted("2", "2Gi")),
            ("services/c.yaml", Counted::Unreadable),
            ("services/d.yaml", counted("500m", "512Mi")),
        ];
        let head = [
            ("services/a.yaml", counted("1", "1Gi")),
            ("services/b.yaml", Counted::Unreadable),
            ("services/c.yaml", counted("3", "1Gi")),
            ("services/e.yaml", counted("250m", "1Gi")),
        ];
        let changed = [
            Swap {
                path: "services/b.yaml",
                old: Some(base[1].1),
                new: Some(head[1].1),
            },
            Swap {
                path: "services/c.yaml",
                old: Some(base[2].1),
                new: Some(head[2].1),
            },
            Swap {
                path: "services/d.yaml",
                old: Some(base[3].1),
                new: None,
            },
            Swap {
                path: "services/e.yaml",
                old: None,
                new: Some(head[3].1),
            },
        ];
        let record = summed(&base).recorded("t".into());
        assert_eq!(HeadState::carried(&record, &changed), Some(summed(&head)));
        assert_eq!(HeadState::carried(&record, &[]), Some(summed(&base)));
        // The record survives a round trip through the note's JSON, past 2^53 too.
        let mut big = summed(&base);
        big.memory = u128::from(u64::MAX) * 1000;
        let json = serde_json::to_string(&big.recorded("t".into())).unwrap();
        let back: Recorded = serde_json::from_str(&json).unwrap();
        assert_eq!(HeadState::carried(&back, &[]), Some(big));
    }

    #[test]
    fn a_record_that_disagrees_with_the_base_is_not_carried() {
        let record = summed(&[
            ("services/a.yaml", counted("1", "1Gi")),
            ("services/c.yaml", Counted::Unreadable),
        ])
        .recorded("t".into());
        let swap = |path, old, new| Swap { path, old, new };
        let disagree = [
            // The record counts c as unreadable, the push read it.
            swap("services/c.yaml", Some(counted("1", "1Gi")), None),
            // The record has no unreadable b.
            swap("services/b.yaml", Some(Counted::Unreadable), None),
            // c is at the base by the record, not by the push.
            swap("services/c.yaml", None, Some(counted("1", "1Gi"))),
            // More removed than the record holds.
            swap("services/x.yaml", Some(counted("2", "1Gi")), None),
        ];
        for d in disagree {
            let path = d.path;
            assert_eq!(HeadState::carried(&record, &[d]), None, "{path}");
        }
        let mut bad = record.clone();
        bad.cpu = "-1".into();
        assert_eq!(HeadState::carried(&bad, &[]), None);
        bad.cpu = u128::MAX.to_string();
        assert_eq!(HeadState::carried(&bad, &[]), None);
        bad.cpu = "1000".into();
        bad.services = usize::MAX;
        let add = Swap {
            path: "services/n.yaml",
            old: None,
            new: Some(counted("1", "1Gi")),
        };
        assert_eq!(HeadState::carried(&bad, &[add]), None);
    }
}
