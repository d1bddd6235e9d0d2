//! The facts the gate reads from GitHub: the pull request a promotion came from and its
//! reviews, each commit's logins and signature verification, and the commits of a merged
//! pull request. Every call goes through `client::Client` (octocrab), which keeps
//! pagination, retries, rate limits and the deadline; `pulls` opens the promotion pull
//! request. `GITHUB_API_URL` (GHES) and `GITHUB_TOKEN` come from the environment snapshot.
pub mod client;
pub mod pulls;

use crate::ci::{Env, PushContext, Secrets};
use crate::error::Failure;
use crate::model::{is_forge_commit, CommitFacts, PrCommit, PullRequestFacts, Review};
use client::{Client, Deadline};
use serde::Deserialize;
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

/// Commit lookups in flight at once.
const CONCURRENCY: usize = 16;

pub struct Github {
    client: Client,
}

/// Verification reasons that mean GitHub could not check, not that the commit is unsigned:
/// the run fails closed instead of judging.
pub const OUTAGE_REASONS: &[&str] = &["gpgverify_unavailable", "gpgverify_error", "ocsp_pending"];

impl Github {
    /// `None` when GitHub is not available to this run (no repository known).
    pub fn from_env(
        env: &Env,
        secrets: &Secrets,
        ctx: &PushContext,
        timeout: Duration,
    ) -> Result<Option<Github>, Failure> {
        let Some(repo) = ctx
            .repository
            .clone()
            .or_else(|| env.get("GITHUB_REPOSITORY").map(str::to_string))
        else {
            return Ok(None);
        };
        if env.get("GITHUB_API_URL").is_none() && secrets.get("GITHUB_TOKEN").is_none() {
            return Ok(None);
        }
        Ok(Some(Github {
            client: Client::new(
                env.get("GITHUB_API_URL"),
                &repo,
                secrets.get("GITHUB_TOKEN"),
                secrets,
                Deadline::Shared(Instant::now() + timeout),
                "check GITHUB_TOKEN: it needs contents: read and pull-requests: read",
            )?,
        }))
    }

    fn get(&self, path: &str, what: &str) -> Result<Value, Failure> {
        self.client.get(path, what)
    }

    fn list(&self, path: &str, what: &str) -> Result<Vec<Value>, Failure> {
        self.client.list(path, what)
    }

    /// The pull request the head came from: the event's PR, else a merged PR into `branch`
    /// associated with the head commit.
    pub fn pull_request(
        &self,
        ctx: &PushContext,
        head: &str,
        branch: &str,
    ) -> Result<Option<PullRequestFacts>, Failure> {
        let pr: Option<Value> = match &ctx.pull_request {
            Some(p) => Some(self.get(
                &format!("/pulls/{}", p.number),
                &format!("GET pull request #{}", p.number),
            )?),
            None => self.merged_pr_for(head, branch)?,
        };
        let Some(pr) = pr else { return Ok(None) };
        let number = pr.get("number").and_then(Value::as_u64).unwrap_or(0);
        let s = |path: &[&str]| {
            let mut v = &pr;
            for p in path {
                v = v.get(p)?;
            }
            v.as_str().map(str::to_string)
        };
        let merged = pr.get("merged").and_then(Value::as_bool).unwrap_or(false)
            || pr.get("merged_at").is_some_and(|m| !m.is_null());
        let reviews = self.reviews(number)?;
        Ok(Some(PullRequestFacts {
            number,
            base_ref: s(&["base", "ref"]).unwrap_or_default(),
            head_ref: s(&["head", "ref"]).unwrap_or_default(),
            merged,
            author: s(&["user", "login"]).unwrap_or_default(),
            head_sha: s(&["head", "sha"]),
            reviews,
        }))
    }

    /// GET /commits/{sha}/pulls, all pages: the merged PR into `branch` that produced `sha`
    /// (its merge commit, else its head), else any merged PR into `branch`.
    fn merged_pr_for(&self, sha: &str, branch: &str) -> Result<Option<Value>, Failure> {
        let prs = self.list(
            &format!("/commits/{sha}/pulls"),
            &format!("GET pull requests of {}", &sha[..sha.len().min(7)]),
        )?;
        let merged_into = |p: &&Value| {
            p.get("merged_at").is_some_and(|m| !m.is_null())
                && p.pointer("/base/ref").and_then(Value::as_str) == Some(branch)
        };
        let exact = prs.iter().filter(merged_into).find(|p| {
            p.get("merge_commit_sha").and_then(Value::as_str) == Some(sha)
                || p.pointer("/head/sha").and_then(Value::as_str) == Some(sha)
        });
        Ok(exact.or_else(|| prs.iter().find(merged_into)).cloned())
    }

    /// Each reviewer's latest review that is not `COMMENTED`.
    fn reviews(&self, number: u64) -> Result<Vec<Review>, Failure> {
        #[derive(Deserialize)]
        struct R {
            user: Option<User>,
            state: String,
            commit_id: Option<String>,
            submitted_at: Option<String>,
        }
        #[derive(Deserialize)]
        struct User {
            login: String,
        }
        let all = self.list(
            &format!("/pulls/{number}/reviews"),
            &format!("GET reviews of #{number}"),
        )?;
        let mut latest: BTreeMap<String, (chrono::DateTime<chrono::Utc>, usize, Review)> =
            BTreeMap::new();
        for (i, v) in all.into_iter().enumerate() {
            let r: R = serde_json::from_value(v)
                .map_err(|e| Failure::unavailable(format!("GitHub review of #{number}: {e}")))?;
            let state = r.state.to_ascii_uppercase();
            if state == "COMMENTED" || state == "PENDING" {
                continue;
            }
            let (Some(user), Some(at)) = (r.user, r.submitted_at) else {
                continue;
            };
            let at = chrono::DateTime::parse_from_rfc3339(&at)
                .map(|d| d.with_timezone(&chrono::Utc))
                .map_err(|e| {
                    Failure::unavailable(format!(
                        "GitHub review of #{number}: bad submitted_at: {e}"
                    ))
                })?;
            let review = Review {
                login: user.login.clone(),
                state,
                commit_id: r.commit_id,
            };
            let newer = latest
                .get(&user.login)
                .is_none_or(|(t, j, _)| (at, i) > (*t, *j));
            if newer {
                latest.insert(user.login, (at, i, review));
            }
        }
        Ok(latest.into_values().map(|(_, _, r)| r).collect())
    }

    /// Logins and verification of each commit, a bounded number in flight.
    pub fn commits(
        &self,
        shas: &[(String, bool)],
    ) -> Result<BTreeMap<String, CommitFacts>, Failure> {
        let found = super::fan_out(shas, CONCURRENCY, |(sha, forge)| {
            self.commit(sha, *forge).map(|f| (sha.clone(), f))
        })?;
        let out: BTreeMap<String, CommitFacts> = found.into_iter().collect();
        if out.len() != shas.len() {
            return Err(Failure::unavailable(
                "GitHub commit lookups incomplete; failing closed",
            ));
        }
        Ok(out)
    }

    fn commit(&self, sha: &str, forge: bool) -> Result<CommitFacts, Failure> {
        let short = &sha[..sha.len().min(7)];
        let v = self.get(&format!("/commits/{sha}"), &format!("GET commit {short}"))?;
        let s = |p: &str| v.pointer(p).and_then(Value::as_str).map(str::to_string);
        let verified = v
            .pointer("/commit/verification/verified")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let reason = s("/commit/verification/reason").unwrap_or_else(|| "unsigned".into());
        if OUTAGE_REASONS.contains(&reason.as_str()) {
            return Err(Failure::unavailable(format!(
                "GitHub could not verify the signature of {short} ({reason}); failing closed"
            ))
            .hint("GitHub's signature verification is down; retry later"));
        }
        let mut f = CommitFacts {
            author_login: s("/author/login"),
            committer_login: s("/committer/login"),
            verified,
            signer: if verified {
                s("/commit/committer/email")
            } else {
                None
            },
            reason,
            merged_pr: None,
            merged_pr_commits: Vec::new(),
        };
        let name = s("/commit/committer/name").unwrap_or_default();
        let email = s("/commit/committer/email").unwrap_or_default();
        if forge && is_forge_commit(&name, &email) {
            let prs = self.list(
                &format!("/commits/{sha}/pulls"),
                &format!("GET pull requests of {short}"),
            )?;
            f.merged_pr = prs
                .iter()
                .find(|p| {
                    p.get("merged_at").is_some_and(|m| !m.is_null())
                        && p.get("merge_commit_sha").and_then(Value::as_str) == Some(sha)
                })
                .and_then(|p| p.get("number").and_then(Value::as_u64));
            if let Some(n) = f.merged_pr {
                f.merged_pr_commits = self.pr_commits(n)?;
            }
        }
        Ok(f)
    }

    /// Every commit of pull request `n`, all pages, checked against the PR's own `commits`
    /// count: GitHub lists at most 250 commits of a PR, and a short list is never judged
    /// (exit 4).
    pub fn pr_commits(&self, n: u64) -> Result<Vec<PrCommit>, Failure> {
        let pr = self.get(&format!("/pulls/{n}"), &format!("GET pull request #{n}"))?;
        let Some(expected) = pr.get("commits").and_then(Value::as_u64) else {
            return Err(Failure::unavailable(format!(
                "GitHub pull request #{n} does not say how many commits it has; its commit list cannot be shown complete, failing closed"
            )));
        };
        let list = self.list(
            &format!("/pulls/{n}/commits"),
            &format!("GET commits of #{n}"),
        )?;
        if list.len() as u64 != expected {
            return Err(Failure::unavailable(format!(
                "GitHub listed {} of the {expected} commits of pull request #{n}; failing closed, no partial list is judged",
                list.len()
            ))
            .hint("GitHub lists at most 250 commits of a pull request: split the promotion, or merge it with a merge commit so git sees every commit"));
        }
        let mut out = Vec::with_capacity(list.len());
        for v in list {
            let s = |p: &str| v.pointer(p).and_then(Value::as_str).map(str::to_string);
            let Some(sha) = s("/sha") else {
                return Err(Failure::unavailable(format!(
                    "GitHub commits of #{n}: an entry without a sha; failing closed"
                )));
            };
            let verified = v
                .pointer("/commit/verification/verified")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            out.push(PrCommit {
                sha,
                author_name: s("/commit/author/name").unwrap_or_default(),
                author_email: s("/commit/author/email").unwrap_or_default(),
                committer_name: s("/commit/committer/name").unwrap_or_default(),
                committer_email: s("/commit/committer/email").unwrap_or_default(),
                author_login: s("/author/login"),
                committer_login: s("/committer/login"),
                signer: if verified {
                    s("/commit/committer/email")
                } else {
                    None
                },
                verified,
                reason: s("/commit/verification/reason").unwrap_or_else(|| "unsigned".into()),
            });
        }
        Ok(out)
    }
}

/// Fails closed (exit 4) when GitHub could not check the signature of a commit of a
/// merged pull request that is not in the range (a squash merge's originals): those are
/// judged by that verification alone, so an outage must not read as "unsigned". Commits
/// in the range are judged in their own right (their own lookup, or locally).
pub fn pr_verification_outage(
    commits: &BTreeMap<String, CommitFacts>,
    range: &HashSet<&str>,
) -> Result<(), Failure> {
    for f in commits.values() {
        let Some(n) = f.merged_pr else { continue };
        if let Some(p) = f.merged_pr_commits.iter().find(|p| {
            !range.contains(p.sha.as_str()) && OUTAGE_REASONS.contains(&p.reason.as_str())
        }) {
            return Err(Failure::unavailable(format!(
                "GitHub could not verify the signature of {} of pull request #{n} ({}); failing closed",
                &p.sha[..p.sha.len().min(7)],
                p.reason
            ))
            .hint("GitHub's signature verification is down; retry later"));
        }
    }
    Ok(())
}
