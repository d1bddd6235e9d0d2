//! `soak`: a version arriving on an environment with `soak: <duration>` must have run in
//! its `promotes_from` environment for at least that long, with no failed run of the
//! service there since. The run records of the lower environment say when: the stretch
//! starts at the end of the first succeeded run that deployed the version after the last
//! other version or failed run of the service (see `facts::soak`). The check says when the
//! soak ends, whether it is over or not.
use super::{Check, Input, Rule};
use crate::diff::ChangeKind;
use chrono::{DateTime, SecondsFormat, Utc};

fn at(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn short(c: &str) -> &str {
    &c[..c.len().min(7)]
}

pub fn check(input: &Input) -> Vec<Check> {
    let (Some(soak), Some(lower)) = (&input.env.soak, &input.env.promotes_from) else {
        return Vec::new();
    };
    let length = crate::config::freeze::span(soak);
    let arriving: Vec<_> = input
        .diff
        .changes
        .iter()
        .filter(|c| c.kind != ChangeKind::Removed && c.to.is_some() && c.to != c.from)
        .collect();
    if arriving.is_empty() {
        return Vec::new();
    }
    let Some(facts) = &input.facts.soak else {
        return vec![Check::fail(
            Rule::Soak,
            format!("the run records of {lower} were not read"),
        )
        .hint("this is a bug in gathering facts")];
    };
    let now = input.clock.now;
    let mut out = Vec::new();
    let mut good = Vec::new();
    for c in arriving {
        let version = c.to.clone().unwrap_or_default();
        let file = format!("services/{}.yaml", c.service);
        let s = facts
            .services
            .get(&c.service)
            .filter(|s| s.version == version);
        let Some((since, commit)) = s.and_then(|s| s.since.clone()) else {
            let why = match s.and_then(|s| s.failed.clone()) {
                Some((t, commit)) => format!(
                    "a run of {} in {lower} failed at {} (commit {}) and no run of {version} succeeded there since",
                    c.service,
                    at(&t),
                    short(&commit)
                ),
                None => format!(
                    "no succeeded run of {} {version} in {lower} is recorded",
                    c.service
                ),
            };
            out.push(
                Check::fail(Rule::Soak, format!("{why}: the {soak} soak has not begun"))
                    .file(file)
                    .field("version")
                    .value(version.clone())
                    .hint(format!(
                    "deploy {} {version} to {lower} and let it run for {soak} without a failed run",
                    c.service
                )),
            );
            continue;
        };
        let ends = since + length;
        let restarted = match s.and_then(|s| s.failed.clone()) {
            Some((t, _)) => format!(", after a failed run at {}", at(&t)),
            None => String::new(),
        };
        if now < ends {
            out.push(
                Check::fail(
                    Rule::Soak,
                    format!(
                        "{} {version} has run in {lower} since {} (commit {}{restarted}): soak ends at {}",
                        c.service,
                        at(&since),
                        short(&commit),
                        at(&ends)
                    ),
                )
                .file(file)
                .field("version")
                .value(version.clone())
                .limit(at(&ends))
                .hint(format!("deploy it again after {}", at(&ends))),
            );
        } else {
            good.push(format!(
                "{} {version} since {} (soak ended at {})",
                c.service,
                at(&since),
                at(&ends)
            ));
        }
    }
    if out.is_empty() {
        let n = good.len();
        let mut listed = good.iter().take(5).cloned().collect::<Vec<_>>().join(", ");
        if n > 5 {
            listed.push_str(&format!(" and {} more", n - 5));
        }
        out.push(Check::pass(
            Rule::Soak,
            format!("ran {soak} in {lower} with no failed run: {listed}"),
        ));
    }
    out
}
