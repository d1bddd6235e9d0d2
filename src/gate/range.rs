//! `range`: which commits this push asks to deploy, and where the base came from.
use super::Rule;
use super::{plural, Check, Input};
use crate::model::BaseSource;

pub fn check(input: &Input) -> Vec<Check> {
    let r = input.range;
    let n = input.commits.len();
    let max = input.gates.max_commits();
    let base = r
        .base
        .as_deref()
        .map(|b| &b[..7.min(b.len())])
        .unwrap_or("(root)");
    let head = &r.head[..7.min(r.head.len())];
    if r.over_limit {
        return vec![Check::fail(
            Rule::Range,
            format!("more than {max} commits between {base} and {head}; refusing to judge a partial range"),
        )
        .limit(max.to_string())
        .hint("deploy in smaller steps, or raise gates.max_commits")];
    }
    let from = match r.source {
        BaseSource::Ledger => "the ledger",
        BaseSource::Before => "the CI's previous commit",
        BaseSource::Flag => "--base",
        BaseSource::Bootstrap => "--bootstrap (all history)",
    };
    let count = if n == 0 {
        "no commits".to_string()
    } else {
        plural(n, "commit")
    };
    let detail = format!("{count} from {base} ({from}) to {head}");
    let c = match r.source {
        BaseSource::Ledger | BaseSource::Flag => Check::pass(Rule::Range, detail),
        BaseSource::Before | BaseSource::Bootstrap => Check::warn(
            Rule::Range,
            format!("{detail}; {} has no ledger yet", input.environment),
        )
        .hint("after the first successful run the ledger is the base"),
    };
    vec![c]
}
