//! `force-push`: the deployed commit is not an ancestor of the head, so history was
//! rewritten under a running environment.
use super::Rule;
use super::{Check, Input};
use crate::config::Level;

pub fn check(input: &Input) -> Vec<Check> {
    let r = input.range;
    if !r.rewritten {
        return Vec::new();
    }
    let base = r.base.as_deref().unwrap_or("");
    let detail = format!(
        "{} is not an ancestor of {}: history was rewritten (force push)",
        &base[..7.min(base.len())],
        &r.head[..7.min(r.head.len())]
    );
    let c = match input.gates.force_push() {
        Level::Fail => Check::fail(Rule::ForcePush, detail)
            .hint("push a commit on top of the deployed history instead (git revert), or set gates.force_push"),
        Level::Warn => Check::warn(Rule::ForcePush, detail),
        Level::Allow => Check::pass(Rule::ForcePush, format!("{detail}; allowed by gates.force_push")),
    };
    vec![c.value(base.to_string()).commit(r.head.clone())]
}
