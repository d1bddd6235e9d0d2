//! Slack incoming webhooks: `{"text": ..., "blocks": [...]}`, retried only on 5xx and 429
//! (after the `Retry-After` Slack asks for, when it fits).
use super::{classify, client, retry, Attempt, Backoff, IntegrationError};
use crate::ci::Secrets;
use std::time::Duration;

/// Posts one message; the webhook URL is a secret and never appears in the error.
pub fn post(
    webhook: &str,
    text: &str,
    fields: &[(String, String)],
    secrets: &Secrets,
) -> Result<(), IntegrationError> {
    let body = payload(text, fields);
    let http = client(Duration::from_secs(10))
        .map_err(|e| IntegrationError::Unreachable(secrets.redact(&e.to_string())))?;
    let b = Backoff::new(4, Duration::from_secs(30));
    retry("Slack webhook", &b, secrets, || {
        classify(http.post(webhook).json(&body).send()).and_then(|r| {
            if r.status().is_success() {
                return Attempt::Done(());
            }
            Attempt::Fatal(format!(
                "HTTP {}: {}",
                r.status(),
                r.text()
                    .unwrap_or_default()
                    .chars()
                    .take(200)
                    .collect::<String>()
            ))
        })
    })
}

/// The message: a plain `text` fallback plus a header section and one field per fact.
pub fn payload(text: &str, fields: &[(String, String)]) -> serde_json::Value {
    let mut blocks = vec![serde_json::json!({
        "type": "section",
        "text": { "type": "mrkdwn", "text": escape(text) }
    })];
    if !fields.is_empty() {
        blocks.push(serde_json::json!({
            "type": "section",
            "fields": fields.iter().take(10).map(|(k, v)| serde_json::json!({
                "type": "mrkdwn",
                "text": format!("*{}*\n{}", escape(k), escape(v)),
            })).collect::<Vec<_>>()
        }));
    }
    serde_json::json!({ "text": escape(text), "blocks": blocks })
}

/// Slack's three control characters; untrusted text cannot ping @channel or forge links.
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
