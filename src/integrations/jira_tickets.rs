//! JIRA writes for a run: a comment on every ticket of the range, and a ticket on failure
//! (assigned to the head commit's committer, not duplicated while one is still open).
//! Auth: `JIRA_PAT` (bearer) or `JIRA_EMAIL` + `JIRA_API_TOKEN` (basic).
use super::{basic, classify, client, retry, segment, Attempt, Backoff};
use crate::ci::Secrets;
use reqwest::blocking::{Client, RequestBuilder};
use serde_json::{json, Value};
use std::time::Duration;

pub struct Jira<'a> {
    base: String,
    http: Client,
    auth: Option<String>,
    secrets: &'a Secrets,
    within: Duration,
}

impl<'a> Jira<'a> {
    pub fn new(base: &str, secrets: &'a Secrets, within: Duration) -> Result<Jira<'a>, String> {
        let auth = if let Some(p) = secrets.get("JIRA_PAT") {
            Some(format!("Bearer {p}"))
        } else {
            match (secrets.get("JIRA_EMAIL"), secrets.get("JIRA_API_TOKEN")) {
                (Some(e), Some(t)) => Some(basic(e, t)),
                _ => None,
            }
        };
        Ok(Jira {
            base: base.trim_end_matches('/').to_string(),
            http: client(Duration::from_secs(15)).map_err(|e| e.to_string())?,
            auth,
            secrets,
            within,
        })
    }

    fn req(&self, r: RequestBuilder) -> RequestBuilder {
        let r = r.header("Accept", "application/json");
        match &self.auth {
            Some(a) => r.header("Authorization", a),
            None => r,
        }
    }

    fn call(&self, what: &str, build: impl Fn() -> RequestBuilder) -> Result<Value, String> {
        let b = Backoff::new(4, self.within);
        retry(what, &b, self.secrets, || {
            match classify(self.req(build()).send()) {
                Attempt::Done(r) if r.status().is_success() => {
                    Attempt::Done(r.json::<Value>().unwrap_or(Value::Null))
                }
                Attempt::Done(r) => {
                    let s = r.status();
                    let body: String = r.text().unwrap_or_default().chars().take(300).collect();
                    Attempt::Fatal(format!("HTTP {s}: {body}"))
                }
                Attempt::Retry(e) => Attempt::Retry(e),
                Attempt::Fatal(e) => Attempt::Fatal(e),
            }
        })
    }

    pub fn comment(&self, key: &str, body: &str) -> Result<(), String> {
        let url = format!("{}/rest/api/2/issue/{}/comment", self.base, segment(key));
        self.call(&format!("JIRA comment on {key}"), || {
            self.http.post(&url).json(&json!({ "body": body }))
        })
        .map(|_| ())
    }

    /// The first issue matching `jql`, if any.
    pub fn search_one(&self, jql: &str) -> Result<Option<String>, String> {
        let url = format!("{}/rest/api/2/search", self.base);
        let v = self.call("JIRA search", || {
            self.http
                .get(&url)
                .query(&[("jql", jql), ("maxResults", "1"), ("fields", "key")])
        })?;
        Ok(v["issues"]
            .as_array()
            .and_then(|a| a.first())
            .and_then(|i| i["key"].as_str())
            .map(str::to_string))
    }

    /// The account (Cloud `accountId`, Server `name`) whose email is `email`.
    pub fn user_by_email(&self, email: &str) -> Result<Option<String>, String> {
        let url = format!("{}/rest/api/2/user/search", self.base);
        let v = self.call("JIRA user search", || {
            self.http
                .get(&url)
                .query(&[("query", email), ("username", email)])
        })?;
        Ok(v.as_array().and_then(|a| {
            a.iter()
                .find(|u| {
                    u["emailAddress"]
                        .as_str()
                        .is_none_or(|e| e.eq_ignore_ascii_case(email))
                })
                .and_then(|u| u["accountId"].as_str().or(u["name"].as_str()))
                .map(str::to_string)
        }))
    }

    pub fn create(
        &self,
        project: &str,
        issue_type: &str,
        summary: &str,
        description: &str,
        labels: &[String],
        assignee: Option<&str>,
    ) -> Result<String, String> {
        let url = format!("{}/rest/api/2/issue", self.base);
        let mut fields = json!({
            "project": { "key": project },
            "issuetype": { "name": issue_type },
            "summary": summary.chars().take(250).collect::<String>(),
            "description": description,
            "labels": labels,
        });
        if let Some(a) = assignee {
            fields["assignee"] = json!({ "accountId": a });
        }
        let v = self.call("JIRA create issue", || {
            self.http.post(&url).json(&json!({ "fields": fields }))
        })?;
        v["key"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| "JIRA created an issue but sent no key".to_string())
    }
}

/// A JQL string literal.
pub fn jql_quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}
