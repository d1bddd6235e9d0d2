//! `policy`: which policy judges the push when it cannot simply be the deployed one, and a
//! push that would move a branch to another environment. The descriptor side notes these
//! as it chooses the policy; the rule turns the notes into checks.
use super::{Check, DiffInput, Rule};

/// What choosing the judging policy found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicyNote {
    /// No policy at the base commit: the requested one judges this (first) push.
    NoDeployedPolicy,
    /// The environment is not in the deployed policy, only in the requested one.
    NewEnvironment { environment: String },
    /// The requested policy maps the pushed branch to another environment.
    BranchMoved {
        file: String,
        branch: String,
        from: String,
        to: String,
    },
    /// The push changes the policy file; the deployed one still judges it.
    Changed { file: String },
}

pub fn check(input: &DiffInput) -> Vec<Check> {
    input.policy_notes.iter().map(note).collect()
}

fn note(n: &PolicyNote) -> Check {
    match n {
        PolicyNote::NoDeployedPolicy => Check::warn(
            Rule::Policy,
            "no policy at the base commit: judged by the requested gitops.yaml",
        )
        .hint("after the first deploy the deployed policy judges every push"),
        PolicyNote::NewEnvironment { environment } => Check::warn(
            Rule::Policy,
            format!(
                "environment `{environment}` is new in this push: judged by the requested policy"
            ),
        ),
        PolicyNote::BranchMoved {
            file,
            branch,
            from,
            to,
        } => Check::fail(
            Rule::Policy,
            format!(
                "the requested gitops.yaml moves branch `{branch}` from environment `{from}` to `{to}`"
            ),
        )
        .file(file.clone())
        .hint("change environment mappings in a push of their own, judged by the deployed policy"),
        PolicyNote::Changed { file } => Check::warn(
            Rule::Policy,
            "gitops.yaml changes in this push: judged by the deployed policy; the new one applies once deployed",
        )
        .file(file.clone()),
    }
}
