//! JIRA writes for a run: a comment on every ticket of the range, and a ticket on failure
//! (assigned to the head commit's committer, not duplicated while one is still open).
//! Auth: `JIRA_PAT` (bearer) or `JIRA_EMAIL` + `JIRA_API_TOKEN` (basic).
use super::{basic, classify, client, retry, segment, Attempt, Backoff, IntegrationError};
use crate::ci::Secrets;
use reqwest::blocking::{Client, RequestBuilder};
use serde_json::{json, Value};
use std::time::Duration;

/// Which JIRA answers: they name users differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavour {
    Cloud,
    /// Server or Data Center.
    DataCenter,
    Unknown,
}

/// A JIRA user as an assignee: Cloud by `accountId`, Server/Data Center by `name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Account {
    Cloud(String),
    Server(String),
}

impl Account {
    /// An entry of the policy's `users:` map: `name:jdoe` is a Server/Data Center user
    /// name, `accountId:...` (or a bare value) a Cloud account id unless the server is known
    /// to be Data Center.
    pub fn from_config(value: &str, flavour: Flavour) -> Account {
        if let Some(n) = value.strip_prefix("name:") {
            Account::Server(n.to_string())
        } else if let Some(id) = value.strip_prefix("accountId:") {
            Account::Cloud(id.to_string())
        } else if flavour == Flavour::DataCenter {
            Account::Server(value.to_string())
        } else {
            Account::Cloud(value.to_string())
        }
    }
}

pub struct Jira<'a> {
    base: String,
    http: Client,
    auth: Option<String>,
    secrets: &'a Secrets,
    within: Duration,
}

impl<'a> Jira<'a> {
    pub fn new(
        base: &str,
        secrets: &'a Secrets,
        within: Duration,
    ) -> Result<Jira<'a>, IntegrationError> {
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
            http: client(Duration::from_secs(15))
                .map_err(|e| IntegrationError::Unreachable(secrets.redact(&e.to_string())))?,
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

    fn call(
        &self,
        what: &str,
        build: impl Fn() -> RequestBuilder,
    ) -> Result<Value, IntegrationError> {
        let b = Backoff::new(4, self.within);
        retry(what, &b, self.secrets, || {
            classify(self.req(build()).send()).and_then(|r| {
                if r.status().is_success() {
                    return Attempt::Done(r.json::<Value>().unwrap_or(Value::Null));
                }
                let s = r.status();
                let body: String = r.text().unwrap_or_default().chars().take(300).collect();
                Attempt::Fatal(format!("HTTP {s}: {body}"))
            })
        })
    }

    pub fn comment(&self, key: &str, body: &str) -> Result<(), IntegrationError> {
        let url = format!("{}/rest/api/2/issue/{}/comment", self.base, segment(key));
        self.call(&format!("JIRA comment on {key}"), || {
            self.http.post(&url).json(&json!({ "body": body }))
        })
        .map(|_| ())
    }

    /// The first issue matching `jql`, if any.
    pub fn search_one(&self, jql: &str) -> Result<Option<String>, IntegrationError> {
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

    /// Cloud or Server/Data Center, from `GET /rest/api/2/serverInfo` (`deploymentType`);
    /// `Unknown` when the server does not say (or cannot be asked).
    pub fn flavour(&self) -> Flavour {
        let url = format!("{}/rest/api/2/serverInfo", self.base);
        match self.call("JIRA server info", || self.http.get(&url)) {
            Ok(v) => match v["deploymentType"].as_str() {
                Some(t) if t.eq_ignore_ascii_case("cloud") => Flavour::Cloud,
                Some(t)
                    if t.eq_ignore_ascii_case("server") || t.eq_ignore_ascii_case("datacenter") =>
                {
                    Flavour::DataCenter
                }
                _ => Flavour::Unknown,
            },
            Err(e) => {
                log::debug!("JIRA serverInfo: {e}");
                Flavour::Unknown
            }
        }
    }

    /// The user whose email is `email`: Cloud searches `query=` and answers `accountId`s;
    /// Server/Data Center searches `username=` (which also matches emails) and answers
    /// `name`s. With an unknown flavour both parameters go and the answer's shape decides.
    pub fn user_by_email(
        &self,
        email: &str,
        flavour: Flavour,
    ) -> Result<Option<Account>, IntegrationError> {
        let url = format!("{}/rest/api/2/user/search", self.base);
        let query: &[(&str, &str)] = match flavour {
            Flavour::Cloud => &[("query", email)],
            Flavour::DataCenter => &[("username", email)],
            Flavour::Unknown => &[("query", email), ("username", email)],
        };
        let v = self.call("JIRA user search", || self.http.get(&url).query(query))?;
        Ok(v.as_array().and_then(|a| {
            a.iter()
                .find(|u| {
                    u["emailAddress"]
                        .as_str()
                        .is_none_or(|e| e.eq_ignore_ascii_case(email))
                        && u["active"].as_bool() != Some(false)
                })
                .and_then(|u| match (u["accountId"].as_str(), u["name"].as_str()) {
                    (Some(id), _) if flavour != Flavour::DataCenter => {
                        Some(Account::Cloud(id.to_string()))
                    }
                    (_, Some(name)) => Some(Account::Server(name.to_string())),
                    (Some(id), None) => Some(Account::Cloud(id.to_string())),
                    (None, None) => None,
                })
        }))
    }

    pub fn create(
        &self,
        project: &str,
        issue_type: &str,
        summary: &str,
        description: &str,
        labels: &[String],
        assignee: Option<&Account>,
    ) -> Result<String, IntegrationError> {
        let url = format!("{}/rest/api/2/issue", self.base);
        let mut fields = json!({
            "project": { "key": project },
            "issuetype": { "name": issue_type },
            "summary": summary.chars().take(250).collect::<String>(),
            "description": description,
            "labels": labels,
        });
        match assignee {
            Some(Account::Cloud(id)) => fields["assignee"] = json!({ "accountId": id }),
            Some(Account::Server(name)) => fields["assignee"] = json!({ "name": name }),
            None => {}
        }
        let v = self.call("JIRA create issue", || {
            self.http.post(&url).json(&json!({ "fields": fields }))
        })?;
        v["key"].as_str().map(str::to_string).ok_or_else(|| {
            IntegrationError::BadAnswer("JIRA created an issue but sent no key".into())
        })
    }
}

/// A JQL string literal.
pub fn jql_quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}
