//! What a plan and a run write to GitHub (REST API): a deployment (`POST
//! /repos/{o}/{r}/deployments` with `auto_merge: false`, `required_contexts: []`,
//! `transient_environment: false`), its statuses (`POST .../deployments/{id}/statuses`), and
//! the commit status of the head (`POST .../statuses/{sha}`).
//!
//! octocrab has no typed Deployments API: these go through the client's generic layer
//! (`github::client`), with its timeouts, rate-limit waits and redaction. Creating the
//! deployment is sent again only after a rate limit, never after a timeout or a 5xx (it may
//! have been done); a status is retried as a GET is, since posting the same state twice
//! changes nothing GitHub shows. Whether an error is a warning or fails the step is the
//! caller's call (`publish`): this module only says what went wrong, as a typed error.
use super::github::client::{Client, Deadline, Replay};
use crate::ci::Secrets;
use crate::error::{Exit, Failure};
use serde_json::{json, Value};
use std::time::Duration;

/// Each call's budget, waits for rate limits included: a mirror must not hold up a run.
const TIMEOUT: Duration = Duration::from_secs(15);

/// GitHub refuses a status description longer than this (HTTP 422).
pub const DESCRIPTION_MAX: usize = 140;

/// Why a write to GitHub did not happen.
#[derive(Debug, thiserror::Error)]
pub enum GithubWriteError {
    #[error("no GITHUB_TOKEN in the environment")]
    NoToken,
    #[error("no GITHUB_REPOSITORY (owner/name) in the environment")]
    NoRepository,
    #[error("cannot set up the GitHub client")]
    Client(#[source] Failure),
    #[error("GitHub did not take the {what}")]
    Request {
        what: String,
        #[source]
        source: Failure,
    },
    #[error("GitHub answered the new deployment without an id")]
    NoDeploymentId,
}

impl GithubWriteError {
    /// A missing token or repository (or an unusable `GITHUB_API_URL`) is the job's set-up
    /// (2); everything else is GitHub not answering as it should (4).
    pub fn exit(&self) -> Exit {
        match self {
            GithubWriteError::NoToken | GithubWriteError::NoRepository => Exit::Invalid,
            GithubWriteError::Client(f) => f.exit,
            GithubWriteError::Request { source, .. } => source.exit,
            GithubWriteError::NoDeploymentId => Exit::Unavailable,
        }
    }

    /// Why, in a sentence for a message that already says what was not written: the
    /// client's own message (which names the call, the API's host and GitHub's answer) for a
    /// request, else this error's.
    pub fn reason(&self) -> String {
        match self {
            GithubWriteError::Client(f) | GithubWriteError::Request { source: f, .. } => {
                f.message.clone()
            }
            other => other.to_string(),
        }
    }
}

/// A deployment's state, as the statuses API spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeploymentState {
    Queued,
    InProgress,
    Success,
    Failure,
}

impl DeploymentState {
    pub fn as_str(self) -> &'static str {
        match self {
            DeploymentState::Queued => "queued",
            DeploymentState::InProgress => "in_progress",
            DeploymentState::Success => "success",
            DeploymentState::Failure => "failure",
        }
    }
}

/// A commit status's state (`error` is left to GitHub's own checks: gitops-gate always
/// knows whether it allowed the push).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommitState {
    Pending,
    Success,
    Failure,
}

impl CommitState {
    pub fn as_str(self) -> &'static str {
        match self {
            CommitState::Pending => "pending",
            CommitState::Success => "success",
            CommitState::Failure => "failure",
        }
    }
}

/// `POST /deployments`.
pub struct NewDeployment<'a> {
    /// The deployed commit (a SHA, never a branch: the deployment is of what was judged).
    pub sha: &'a str,
    pub environment: &'a str,
    pub description: &'a str,
    /// The highest environment of the policy.
    pub production: bool,
    /// The plan's services and versions, and its digest.
    pub payload: Value,
}

/// `POST /deployments/{id}/statuses`.
pub struct DeploymentStatus<'a> {
    pub state: DeploymentState,
    pub description: &'a str,
    /// The Actions run (GitHub also takes it as `target_url`).
    pub log_url: Option<&'a str>,
    /// Where the environment answers.
    pub environment_url: Option<&'a str>,
}

/// `POST /statuses/{sha}`.
pub struct CommitStatus<'a> {
    pub state: CommitState,
    /// `gitops-gate/<env>`, what branch protection and rulesets require.
    pub context: &'a str,
    pub description: &'a str,
    pub target_url: Option<&'a str>,
}

/// The client of the writes: one per command, for every call it makes.
pub struct Deployments {
    client: Client,
}

impl Deployments {
    /// A client for `repo` (`owner/name`) at `api` with the job's `GITHUB_TOKEN`.
    pub fn new(
        api: Option<&str>,
        repo: Option<&str>,
        secrets: &Secrets,
    ) -> Result<Deployments, GithubWriteError> {
        let token = secrets
            .get("GITHUB_TOKEN")
            .ok_or(GithubWriteError::NoToken)?;
        let repo = repo.ok_or(GithubWriteError::NoRepository)?;
        let client = Client::new(
            api,
            repo,
            Some(token),
            secrets,
            Deadline::EachCall(TIMEOUT),
            "check GITHUB_TOKEN: the job needs `deployments: write` and `statuses: write`",
        )
        .map_err(GithubWriteError::Client)?;
        Ok(Deployments { client })
    }

    fn post(
        &self,
        path: &str,
        body: &Value,
        what: &str,
        replay: Replay,
    ) -> Result<Value, GithubWriteError> {
        self.client
            .send(http::Method::POST, path, body, what, replay)
            .map_err(|source| GithubWriteError::Request {
                what: what.to_string(),
                source,
            })
    }

    /// Creates the deployment; returns its id.
    pub fn create(&self, d: &NewDeployment) -> Result<u64, GithubWriteError> {
        let v = self.post(
            "/deployments",
            &json!({
                "ref": d.sha,
                "task": "deploy",
                "environment": d.environment,
                "auto_merge": false,
                "required_contexts": [],
                "transient_environment": false,
                "production_environment": d.production,
                "description": one_line(d.description, DESCRIPTION_MAX),
                "payload": d.payload,
            }),
            "create deployment",
            Replay::Creates,
        )?;
        v["id"].as_u64().ok_or(GithubWriteError::NoDeploymentId)
    }

    /// Moves deployment `id` to `s.state`. Only `success` makes the environment's earlier
    /// deployments inactive (`auto_inactive`): after a failure the last good one still runs.
    pub fn status(&self, id: u64, s: &DeploymentStatus) -> Result<(), GithubWriteError> {
        let mut body = json!({
            "state": s.state.as_str(),
            "description": one_line(s.description, DESCRIPTION_MAX),
            "auto_inactive": s.state == DeploymentState::Success,
        });
        if let Some(u) = s.log_url {
            body["log_url"] = json!(u);
        }
        if let Some(u) = s.environment_url {
            body["environment_url"] = json!(u);
        }
        self.post(
            &format!("/deployments/{id}/statuses"),
            &body,
            &format!("deployment status {}", s.state.as_str()),
            Replay::Idempotent,
        )
        .map(|_| ())
    }

    /// Sets the commit status `s.context` of `sha`.
    pub fn commit_status(&self, sha: &str, s: &CommitStatus) -> Result<(), GithubWriteError> {
        if sha.len() != 40 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(GithubWriteError::Request {
                what: format!("commit status {}", s.context),
                source: Failure::invalid(format!("`{sha}` is not a commit SHA")),
            });
        }
        let mut body = json!({
            "state": s.state.as_str(),
            "context": s.context,
            "description": one_line(s.description, DESCRIPTION_MAX),
        });
        if let Some(u) = s.target_url {
            body["target_url"] = json!(u);
        }
        self.post(
            &format!("/statuses/{sha}"),
            &body,
            &format!("commit status {} ({})", s.context, s.state.as_str()),
            Replay::Idempotent,
        )
        .map(|_| ())
    }
}

/// `text` on one line, at most `max` characters (not bytes), ending in `…` when cut.
pub fn one_line(text: &str, max: usize) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= max {
        return flat;
    }
    let mut cut: String = flat.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_are_one_line_and_at_most_140_characters() {
        assert_eq!(one_line("a\nb \t c", 140), "a b c");
        let long = "é".repeat(200);
        let d = one_line(&long, DESCRIPTION_MAX);
        assert_eq!(d.chars().count(), 140);
        assert!(d.ends_with('…'));
        assert_eq!(one_line(&"x".repeat(140), 140), "x".repeat(140));
    }

    #[test]
    fn errors_keep_their_cause_and_say_their_exit() {
        let e = GithubWriteError::Request {
            what: "commit status gitops-gate/qa (pending)".into(),
            source: Failure::unavailable(
                "GitHub answered HTTP 403 to it: Resource not accessible by integration",
            ),
        };
        assert_eq!(
            e.to_string(),
            "GitHub did not take the commit status gitops-gate/qa (pending)"
        );
        let cause = std::error::Error::source(&e).unwrap();
        assert!(cause.downcast_ref::<Failure>().is_some());
        assert_eq!(
            e.reason(),
            "GitHub answered HTTP 403 to it: Resource not accessible by integration"
        );
        assert_eq!(e.exit(), Exit::Unavailable);
        assert_eq!(GithubWriteError::NoToken.exit(), Exit::Invalid);
    }
}
