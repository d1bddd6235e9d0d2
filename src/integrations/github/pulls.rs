//! Opens or updates the promotion pull request; never a duplicate: an open pull request with
//! the same head and base is updated instead. Through `Client`, so the same timeouts,
//! retries, rate limits and redaction as the gate's lookups: the list and the update are
//! idempotent and retried; the create is retried only after a rate limit, when GitHub
//! refused it unprocessed.
use super::client::{Client, Deadline, Replay};
use crate::ci::Secrets;
use crate::error::Failure;
use serde_json::{json, Value};
use std::time::Duration;

/// The whole open-or-update, lookups and retries included.
const TIMEOUT: Duration = Duration::from_secs(60);

pub enum Outcome {
    Created(u64, String),
    Updated(u64, String),
}

/// Opens (or updates) the pull request `head` -> `base` of repository `slug`.
pub fn open_or_update(
    api: Option<&str>,
    slug: &str,
    secrets: &Secrets,
    pr: &Request,
) -> Result<Outcome, Failure> {
    let client = Client::new(
        api,
        slug,
        secrets.get("GITHUB_TOKEN"),
        secrets,
        Deadline::EachCall(TIMEOUT),
        "check GITHUB_TOKEN: it needs pull-requests: write",
    )?;
    let head = format!("{}:{}", client.owner(), pr.head);
    let query = form(&[("state", "open"), ("head", &head), ("base", pr.base)]);
    // One page: GitHub allows one open pull request per head and base.
    let open = client.get(&format!("/pulls?{query}"), "list pull requests")?;
    let existing = open
        .as_array()
        .and_then(|a| a.first())
        .and_then(|p| p.get("number").and_then(Value::as_u64));
    let answer = match existing {
        Some(n) => client.send(
            http::Method::PATCH,
            &format!("/pulls/{n}"),
            &json!({"title": pr.title, "body": pr.body}),
            "update pull request",
            Replay::Idempotent,
        )?,
        None => client.send(
            http::Method::POST,
            "/pulls",
            &json!({"title": pr.title, "head": pr.head, "base": pr.base, "body": pr.body}),
            "create pull request",
            Replay::Creates,
        )?,
    };
    let n = answer.get("number").and_then(Value::as_u64).unwrap_or(0);
    let link = answer
        .get("html_url")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    Ok(match existing {
        Some(_) => Outcome::Updated(n, link),
        None => Outcome::Created(n, link),
    })
}

/// The promotion pull request.
pub struct Request<'a> {
    pub head: &'a str,
    pub base: &'a str,
    pub title: &'a str,
    pub body: &'a str,
}

/// `k=v&k=v`, form-encoded.
fn form(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", super::super::segment(v)))
        .collect::<Vec<_>>()
        .join("&")
}
