//! Mirrors a run as a GitHub deployment with statuses (REST API): `POST
//! /repos/{o}/{r}/deployments` with `auto_merge: false` and `required_contexts: []`, then
//! `POST .../deployments/{id}/statuses`. Failures are warnings, never the run's result.
use super::{client, error_text};
use crate::ci::Secrets;
use serde_json::{json, Value};
use std::time::Duration;

pub struct Deployments<'a> {
    api: String,
    repo: String,
    token: String,
    secrets: &'a Secrets,
    http: reqwest::blocking::Client,
}

impl<'a> Deployments<'a> {
    /// `None` unless a token and an `owner/name` repository are known.
    pub fn new(
        api: Option<&str>,
        repo: Option<&str>,
        secrets: &'a Secrets,
    ) -> Option<Deployments<'a>> {
        let token = secrets.get("GITHUB_TOKEN")?.to_string();
        let repo = repo?.to_string();
        Some(Deployments {
            api: api
                .unwrap_or("https://api.github.com")
                .trim_end_matches('/')
                .to_string(),
            repo,
            token,
            secrets,
            http: client(Duration::from_secs(15)).ok()?,
        })
    }

    fn post(&self, path: &str, body: &Value) -> Result<Value, String> {
        let url = format!("{}/repos/{}{path}", self.api, self.repo);
        let r = self
            .http
            .post(&url)
            .bearer_auth(&self.token)
            .header("Accept", "application/vnd.github+json")
            .header("X-GitHub-Api-Version", "2022-11-28")
            .json(body)
            .send()
            .map_err(|e| self.secrets.redact(&error_text(&e)))?;
        let status = r.status();
        let v: Value = r.json().unwrap_or(Value::Null);
        if status.is_success() {
            Ok(v)
        } else {
            Err(self
                .secrets
                .redact(&format!("GitHub answered HTTP {status} for {path}: {v}")))
        }
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
        self.post(&format!("/deployments/{id}/statuses"), &body)
            .map(|_| ())
    }
}
