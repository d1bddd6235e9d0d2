//! `skip-marker`: the head commit (and only the head commit, the documented rule) asks not to
//! deploy. It never marks another check as passed, and the ledger does not move, so the
//! skipped commits are judged again by the next push.
use super::Rule;
use super::{Check, Input};

pub fn check(input: &Input) -> Vec<Check> {
    let Some(head) = input.commits.first().filter(|c| c.id == input.range.head) else {
        return Vec::new();
    };
    let message = head.message.to_lowercase();
    let found = input
        .gates
        .skip_markers()
        .into_iter()
        .find(|m| !m.is_empty() && message.contains(&m.to_lowercase()));
    vec![match found {
        Some(m) => Check::skip(
            Rule::SkipMarker,
            format!(
                "head commit {} says `{m}`: nothing is deployed",
                head.short()
            ),
        )
        .commit(head.id.clone())
        .hint("the next push without a marker deploys these commits too"),
        None => Check::pass(Rule::SkipMarker, "no skip marker on the head commit"),
    }]
}
