//! Mirrors a run as a GitHub deployment with statuses (REST API): `POST
//! /repos/{o}/{r}/deployments` with `auto_merge: false` and `required_contexts: []`, then
//! `POST .../deployments/{id}/statuses`. Failures are warnings, never the run's result.
//! octocrab has no typed Deployments API: these go through the client's generic layer
//! (`github::client`), with its timeouts, rate-limit waits and redaction; a POST is sent
//! again only after a rate limit, never after a timeout or a 5xx (it may have been done).
use super::github::client::{Client, Deadline, Replay};
use crate::ci::Secrets;
use serde_json::{json, Value};
use std::time::Duration;

/// Each call's budget, waits for rate limits included: a mirror must not hold up a run.
const TIMEOUT: Duration = Duration::from_secs(15);

pub struct Deployments {
    client: Client,
}

impl Deployments {
    /// `None` unless a token and an `owner/name` repository are known.
    pub fn new(api: Option<&str>, repo: Option<&str>, secrets: &Secrets) -> Option<Deployments> {
        let token = secrets.get("GITHUB_TOKEN")?;
        let client = Client::new(
            api,
            repo?,
            Some(token),
            secrets,
            Deadline::EachCall(TIMEOUT),
            "check GITHUB_TOKEN: it needs deployments: write",
        )
        .map_err(|e| log::warn!("GitHub deployments are not mirrored: {}", e.message))
        .ok()?;
        Some(Deployments { client })
    }

    fn post(&self, path: &str, body: &Value, what: &str) -> Result<Value, String> {
        self.client
            .send(http::Method::POST, path, body, what, Replay::Creates)
            .map_err(|e| e.message)
    }

    /// Creates the deployment; returns its id.
    pub fn create(&self, sha: &str, environment: &str, description: &str) -> Result<u64, String> {
        let v = self.post(
            "/deployments",
            &json!({
                "ref": sha,
                "environment": environment,
                "auto_merge": false,
                "required_contexts": [],
                "description": description.chars().take(140).collect::<String>(),
                "production_environment": environment == "prod",
            }),
            "create deployment",
        )?;
        v["id"]
            .as_u64()
            .ok_or_else(|| "GitHub created no deployment id".to_string())
    }

    /// `state`: in_progress, success, failure, error.
    pub fn status(&self, id: u64, state: &str, log_url: Option<&str>) -> Result<(), String> {
        let mut body = json!({ "state": state });
        if let Some(u) = log_url {
            body["log_url"] = json!(u);
        }
        self.post(
            &format!("/deployments/{id}/statuses"),
            &body,
            &format!("post deployment status {state}"),
        )
        .map(|_| ())
    }
}
