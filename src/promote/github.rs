//! Opens or updates the promotion pull request through the GitHub REST API; never a
//! duplicate: an open PR with the same head and base is updated instead.
use crate::error::Failure;
use serde_json::{json, Value};

pub struct Client {
    pub api: String,
    pub token: String,
    pub slug: String,
}

pub enum Outcome {
    Created(u64, String),
    Updated(u64, String),
}

impl Client {
    fn http(&self) -> Result<reqwest::blocking::Client, Failure> {
        reqwest::blocking::Client::builder()
            .timeout(std::time::Duration::from_secs(20))
            .user_agent("gitops-gate")
            .build()
            .map_err(|e| Failure::unavailable(format!("cannot build the HTTP client: {e}")))
    }
    fn send(&self, req: reqwest::blocking::RequestBuilder, what: &str) -> Result<Value, Failure> {
        let resp = req
            .bearer_auth(&self.token)
            .header("Accept", "application/vnd.github+json")
            .header("X-GitHub-Api-Version", "2022-11-28")
            .send()
            .map_err(|e| Failure::unavailable(format!("GitHub {what}: {}", e.without_url())))?;
        let status = resp.status();
        let body: Value = resp.json().unwrap_or(Value::Null);
        if !status.is_success() {
            let msg = body["message"]
                .as_str()
                .unwrap_or("")
                .replace(&self.token, "***");
            return Err(Failure::unavailable(format!(
                "GitHub {what}: HTTP {status}: {msg}"
            )));
        }
        Ok(body)
    }

    pub fn open_or_update(
        &self,
        head: &str,
        base: &str,
        title: &str,
        body: &str,
    ) -> Result<Outcome, Failure> {
        let http = self.http()?;
        let owner = self.slug.split('/').next().unwrap_or("");
        let url = format!(
            "{}/repos/{}/pulls",
            self.api.trim_end_matches('/'),
            self.slug
        );
        let list = self.send(
            http.get(&url).query(&[
                ("state", "open"),
                ("head", &format!("{owner}:{head}")),
                ("base", base),
            ]),
            "list pull requests",
        )?;
        let existing = list
            .as_array()
            .and_then(|a| a.first())
            .and_then(|p| p["number"].as_u64());
        let pr = match existing {
            Some(n) => self.send(
                http.patch(format!("{url}/{n}"))
                    .json(&json!({"title": title, "body": body})),
                "update pull request",
            )?,
            None => self.send(
                http.post(&url)
                    .json(&json!({"title": title, "head": head, "base": base, "body": body})),
                "create pull request",
            )?,
        };
        let n = pr["number"].as_u64().unwrap_or(0);
        let link = pr["html_url"].as_str().unwrap_or("").to_string();
        Ok(match existing {
            Some(_) => Outcome::Updated(n, link),
            None => Outcome::Created(n, link),
        })
    }
}
