//! `approvals`: a promoted environment only takes a merged pull request from the branch of
//! its `promotes_from` environment, reviewed by enough people other than its author (each
//! reviewer's latest review counts) with no outstanding "changes requested".
use super::facts::OFFLINE;
use super::Rule;
use super::{Check, Input};

pub fn check(input: &Input) -> Vec<Check> {
    let Some(lower) = &input.env.promotes_from else {
        return Vec::new();
    };
    let lower_branch = input
        .policy
        .environment(lower)
        .map(|e| e.branch.clone())
        .unwrap_or_else(|| lower.clone());
    let branch = &input.env.branch;
    let required = input
        .gates
        .approvals
        .as_ref()
        .map(|a| a.required)
        .unwrap_or(1);
    if required == 0 {
        // A team whose Git host is not GitHub turns reviews off explicitly; the promotion
        // rule still holds staging and prod to what the lower environment ran.
        return vec![Check::pass(
            Rule::Approvals,
            format!(
                "gates.approvals.required is 0: {} takes promotions from {lower} without reviews",
                input.environment
            ),
        )];
    }
    let count_stale = input
        .gates
        .approvals
        .as_ref()
        .is_some_and(|a| a.count_stale);
    let head = input.range.head.clone();
    let Some(gh) = &input.facts.github else {
        if input.offline {
            return vec![Check::skip(
                Rule::Approvals,
                format!("pull request and reviews not looked up {OFFLINE}"),
            )
            .offline()];
        }
        return vec![Check::fail(
            Rule::Approvals,
            format!("{} promotes from {lower}: its pull request reviews need the GitHub API, which this run has not", input.environment),
        )
        .hint(
            "run in GitHub Actions, or set GITHUB_REPOSITORY and GITHUB_TOKEN (GITHUB_API_URL for \
             GHES); a repository not on GitHub sets `gates.approvals.required: 0` in the policy \
             the environment runs (the deployed one judges), so before its first push",
        )];
    };
    let Some(pr) = &gh.pull_request else {
        return vec![Check::fail(
            Rule::Approvals,
            format!(
                "{} comes from no merged pull request into `{branch}`: {} only takes reviewed promotions from `{lower_branch}`",
                &head[..head.len().min(7)],
                input.environment
            ),
        )
        .commit(head.clone())
        .hint(format!("open a pull request from `{lower_branch}` into `{branch}` (gitops-gate promote) and merge it once approved"))];
    };
    let mut out = Vec::new();
    let is_event_pr = input.push.pull_request.is_some();
    if pr.base_ref != *branch || pr.head_ref != lower_branch {
        out.push(
            Check::fail(
                Rule::Approvals,
                format!(
                    "pull request #{} merges `{}` into `{}`; {} only takes `{lower_branch}` into `{branch}`",
                    pr.number, pr.head_ref, pr.base_ref, input.environment
                ),
            )
            .value(pr.head_ref.clone())
            .limit(lower_branch.clone())
            .hint("promotions go one step at a time: qa -> staging -> prod"),
        );
    }
    if !pr.merged && !is_event_pr {
        out.push(Check::fail(
            Rule::Approvals,
            format!("pull request #{} is not merged", pr.number),
        ));
    }
    // An approval counts only when it was given on the pull request's head commit: a
    // review of an older commit did not see what is deployed (GitHub's "dismiss stale
    // reviews"). A review or head without a commit id cannot be shown current.
    let current = |r: &super::facts::Review| {
        count_stale || (r.commit_id.is_some() && r.commit_id == pr.head_sha)
    };
    let approving: Vec<&super::facts::Review> = pr
        .reviews
        .iter()
        .filter(|r| r.state == "APPROVED" && !r.login.eq_ignore_ascii_case(&pr.author))
        .collect();
    let approvers: Vec<&str> = approving
        .iter()
        .filter(|r| current(r))
        .map(|r| r.login.as_str())
        .collect();
    let stale: Vec<&str> = approving
        .iter()
        .filter(|r| !current(r))
        .map(|r| r.login.as_str())
        .collect();
    let blocking: Vec<&str> = pr
        .reviews
        .iter()
        .filter(|r| r.state == "CHANGES_REQUESTED")
        .map(|r| r.login.as_str())
        .collect();
    if !blocking.is_empty() {
        out.push(
            Check::fail(
                Rule::Approvals,
                format!(
                    "pull request #{} has changes requested by {}",
                    pr.number,
                    blocking.join(", ")
                ),
            )
            .hint("resolve the requested changes and get a new review"),
        );
    }
    if (approvers.len() as u32) < required {
        out.push(
            Check::fail(
                Rule::Approvals,
                format!(
                    "pull request #{} has {} of {required} required approvals from people other than its author {}{}{}",
                    pr.number,
                    approvers.len(),
                    pr.author,
                    if approvers.is_empty() { String::new() } else { format!(" ({})", approvers.join(", ")) },
                    if stale.is_empty() {
                        String::new()
                    } else {
                        format!(
                            "; stale approvals of an older commit than the head {} do not count: {}",
                            pr.head_sha.as_deref().map(|h| &h[..h.len().min(7)]).unwrap_or("(unknown)"),
                            stale.join(", ")
                        )
                    }
                ),
            )
            .value(approvers.len().to_string())
            .limit(required.to_string())
            .hint(if stale.is_empty() {
                "ask a reviewer other than the author to approve the pull request"
            } else {
                "ask the reviewers to approve the pull request's latest commit (or set gates.approvals.count_stale: true)"
            }),
        );
    }
    if out.is_empty() {
        out.push(Check::pass(
            Rule::Approvals,
            format!(
                "pull request #{} ({lower_branch} -> {branch}) approved by {}",
                pr.number,
                if approvers.is_empty() {
                    "nobody (none required)".to_string()
                } else {
                    approvers.join(", ")
                }
            ),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::check;
    use crate::ci::{PullRequest, PushContext};
    use crate::gate::facts::{Facts, GithubFacts, PullRequestFacts, Review};
    use crate::gate::{Input, RangeFacts, Verdict};
    use crate::model::BaseSource;
    use std::collections::BTreeMap;

    const POLICY: &str = "version: 1\nenvironments:\n  qa: { branch: qa, pipeline: [deploy] }\n  staging: { branch: staging, pipeline: [deploy], promotes_from: qa }\ngates:\n  approvals: { required: 1 }\nsteps:\n  deploy: { run: [\"true\"] }\n";

    const HEAD: &str = "1111111111111111111111111111111111111111";

    fn review(login: &str, state: &str) -> Review {
        Review {
            login: login.into(),
            state: state.into(),
            commit_id: Some(HEAD.into()),
        }
    }

    fn judge(
        push: &PushContext,
        pr: Option<PullRequestFacts>,
        offline: bool,
    ) -> Vec<crate::gate::Check> {
        judge_policy(push, pr, offline, POLICY)
    }

    fn judge_with(
        push: &PushContext,
        pr: Option<PullRequestFacts>,
        approvals: &str,
    ) -> Vec<crate::gate::Check> {
        let policy = POLICY.replace("approvals: { required: 1 }", approvals);
        judge_policy(push, pr, false, &policy)
    }

    fn judge_policy(
        push: &PushContext,
        pr: Option<PullRequestFacts>,
        offline: bool,
        policy: &str,
    ) -> Vec<crate::gate::Check> {
        let policy = crate::config::parse_policy("gitops.yaml", policy.as_bytes()).unwrap();
        let env = policy.environment("staging").unwrap().clone();
        let gates = policy.gates_for("staging");
        let range = RangeFacts {
            base: None,
            head: "a".repeat(40),
            source: BaseSource::Ledger,
            rewritten: false,
            over_limit: false,
        };
        let facts = Facts {
            github: (!offline).then(|| GithubFacts {
                pull_request: pr,
                commits: BTreeMap::new(),
            }),
            ..Facts::default()
        };
        let empty = BTreeMap::new();
        check(&Input {
            environment: "staging",
            env: &env,
            policy: &policy,
            gates: &gates,
            push,
            range: &range,
            commits: &[],
            diff: &crate::gate::DiffInput {
                gates: &gates,
                changes: &[],
                deployed: &empty,
                requested: &empty,
                problems: &[],
                policy_notes: &[],
                unparsable: &[],
                all_requested: None,
                terraform: &[],
            },
            offline,
            facts: &facts,
            clock: &crate::clock::Clock::system(),
            policy_changed: false,
            freeze_override: None,
        })
    }

    fn pr(merged: bool, reviews: Vec<Review>) -> PullRequestFacts {
        PullRequestFacts {
            number: 7,
            base_ref: "staging".into(),
            head_ref: "qa".into(),
            merged,
            author: "alice".into(),
            head_sha: Some(HEAD.into()),
            reviews,
        }
    }

    #[test]
    fn an_open_pr_is_judged_on_its_pull_request_event_only() {
        let mut push = PushContext::local();
        let open = pr(false, vec![review("bob", "APPROVED")]);
        let c = judge(&push, Some(open.clone()), false);
        assert!(
            c.iter().any(|c| c.detail.contains("is not merged")),
            "{c:?}"
        );
        push.pull_request = Some(PullRequest {
            number: 7,
            head_sha: None,
            head_ref: Some("qa".into()),
            base_ref: "staging".into(),
            merged: false,
        });
        let c = judge(&push, Some(open), false);
        assert_eq!(c[0].verdict, Verdict::Pass, "{c:?}");
    }

    #[test]
    fn the_authors_own_approval_and_dismissed_reviews_do_not_count() {
        let push = PushContext::local();
        let c = judge(
            &push,
            Some(pr(
                true,
                vec![review("alice", "APPROVED"), review("bob", "DISMISSED")],
            )),
            false,
        );
        assert_eq!(c[0].verdict, Verdict::Fail);
        assert!(c[0].detail.contains("0 of 1"), "{c:?}");
    }

    #[test]
    fn a_stale_approval_does_not_count_unless_the_policy_says_so() {
        let push = PushContext::local();
        let mut old = review("bob", "APPROVED");
        old.commit_id = Some("2".repeat(40));
        let mut unknown = review("dave", "APPROVED");
        unknown.commit_id = None;
        let c = judge(&push, Some(pr(true, vec![old.clone(), unknown])), false);
        assert_eq!(c[0].verdict, Verdict::Fail, "{c:?}");
        assert!(c[0].detail.contains("0 of 1"), "{c:?}");
        assert!(
            c[0].detail.contains("do not count: bob, dave"),
            "{}",
            c[0].detail
        );
        let c = judge(
            &push,
            Some(pr(true, vec![old.clone(), review("carol", "APPROVED")])),
            false,
        );
        assert_eq!(c[0].verdict, Verdict::Pass, "{c:?}");
        assert!(c[0].detail.contains("approved by carol"), "{c:?}");
        // A head without a known sha: no approval can be shown current.
        let mut headless = pr(true, vec![review("carol", "APPROVED")]);
        headless.head_sha = None;
        assert_eq!(
            judge(&push, Some(headless), false)[0].verdict,
            Verdict::Fail
        );
    }

    #[test]
    fn count_stale_counts_approvals_of_older_commits() {
        let push = PushContext::local();
        let mut old = review("bob", "APPROVED");
        old.commit_id = Some("2".repeat(40));
        let c = judge_with(
            &push,
            Some(pr(true, vec![old])),
            "approvals: { required: 1, count_stale: true }",
        );
        assert_eq!(c[0].verdict, Verdict::Pass, "{c:?}");
    }

    #[test]
    fn offline_skips() {
        let c = judge(&PushContext::local(), None, true);
        assert_eq!(c[0].verdict, Verdict::Skip);
        assert!(c[0].detail.contains(crate::gate::facts::OFFLINE));
    }
}
