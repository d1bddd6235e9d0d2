//! The CDEvents sink: each CloudEvent POSTed in the HTTP binding's structured mode
//! (`Content-Type: application/cloudevents+json`), with bounded retries (5xx, 429, transport
//! errors) inside one deadline for the whole run. A notification, so it only ever warns: the
//! first event that cannot be delivered stops the rest, and the deadline bounds the time.
use super::retry::{self, Attempt, Backoff, GaveUp};
use crate::ci::Secrets;
use std::time::Duration;

/// One deadline for every post of a run, unless `integrations.events.timeout` says.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Tries per event, inside the deadline.
const ATTEMPTS: u32 = 3;
pub const CONTENT_TYPE: &str = "application/cloudevents+json; charset=utf-8";

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("integrations.events.url is not an http:// or https:// URL")]
    BadUrl,
    #[error("cannot build an HTTP client")]
    Client(#[source] reqwest::Error),
    #[error("the CDEvents sink at {origin} refused event {n} of {total}: HTTP {status}")]
    Refused {
        origin: String,
        n: usize,
        total: usize,
        status: u16,
    },
    #[error("the CDEvents sink at {origin} did not take event {n} of {total}: {last} (gave up after {attempts} attempts)")]
    GaveUp {
        origin: String,
        n: usize,
        total: usize,
        last: String,
        attempts: u32,
    },
}

/// POSTs each event in order; returns how many were delivered, or why delivery stopped.
/// Messages name the sink by scheme and host only (`origin`): a URL may carry a token.
pub fn post(
    url: &str,
    token: Option<&str>,
    events: &[serde_json::Value],
    within: Duration,
    secrets: &Secrets,
) -> Result<usize, SinkError> {
    let parsed = reqwest::Url::parse(url.trim()).map_err(|_| SinkError::BadUrl)?;
    if !matches!(parsed.scheme(), "http" | "https") || !parsed.has_host() {
        return Err(SinkError::BadUrl);
    }
    let origin = super::origin(url);
    let per_request = Duration::from_secs(5).min(within);
    let http = reqwest::blocking::Client::builder()
        .use_rustls_tls()
        .connect_timeout(super::CONNECT_TIMEOUT.min(per_request))
        .timeout(per_request)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("gitops-gate/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(SinkError::Client)?;
    let b = Backoff::new(ATTEMPTS, within);
    for (i, event) in events.iter().enumerate() {
        let (n, total) = (i + 1, events.len());
        let body = event.to_string();
        let result = retry::run("CDEvents sink", &b, secrets, || {
            let mut req = http
                .post(parsed.clone())
                .header(reqwest::header::CONTENT_TYPE, CONTENT_TYPE)
                .timeout(per_request.min(b.remaining().max(Duration::from_millis(1))))
                .body(body.clone());
            if let Some(t) = token {
                req = req.bearer_auth(t);
            }
            // 5xx, 429 and transport errors retry; any other answer is final.
            match retry::classify(req.send()) {
                Attempt::Done(r) if r.status().is_success() => Attempt::Done(()),
                Attempt::Done(r) => Attempt::Fatal(r.status().as_u16()),
                Attempt::Retry(e) | Attempt::Fatal(e) => Attempt::Retry(e),
                Attempt::RetryAfter(e, w) => Attempt::RetryAfter(e, w),
            }
        });
        match result {
            Ok(()) => {}
            Err(GaveUp::Fatal(status)) => {
                return Err(SinkError::Refused {
                    origin,
                    n,
                    total,
                    status,
                })
            }
            Err(GaveUp::Exhausted { last, attempts }) => {
                return Err(SinkError::GaveUp {
                    origin,
                    n,
                    total,
                    last: secrets.redact(&last),
                    attempts,
                })
            }
        }
    }
    Ok(events.len())
}
