//! One GET with bounded retries inside a deadline, shared by the gating clients (JIRA,
//! GitHub). Timeouts, connection errors, truncated bodies, 5xx and 429 are retried with
//! capped exponential backoff and full jitter (`random(0, min(cap, base * 2^n))`, the
//! schedule of `integrations::Backoff`), honouring `Retry-After` and GitHub's
//! `x-ratelimit-reset` when they fit in the deadline. 401/403 are credentials problems: no
//! retry. Every message goes through `Secrets::redact`.
//!
//! The HTTP client, the backoff schedule and the transport-error text are those of
//! `integrations` (mod.rs), shared with the notification clients; what is particular here is
//! the GET loop that reads server-asked waits and classifies credentials answers, which the
//! generic `integrations::retry` (POSTs, SMTP) does not do.
use super::Backoff;
use crate::ci::Secrets;
use crate::error::Failure;
use reqwest::blocking::Client;
use reqwest::header::HeaderMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const BASE: Duration = Duration::from_millis(100);
const CAP: Duration = Duration::from_secs(2);
const MAX_ATTEMPTS: u32 = 6;
const PER_REQUEST: Duration = Duration::from_secs(10);
const SECONDARY_LIMIT_WAIT: Duration = Duration::from_secs(60);

/// How to authenticate; `Debug` never shows the value.
#[derive(Clone)]
pub enum Auth {
    None,
    Basic { user: String, password: String },
    Bearer(String),
}

/// A service the calls are made to, for messages and hints.
#[derive(Clone)]
pub struct Service {
    pub name: &'static str,
    pub credentials_hint: &'static str,
    pub auth: Auth,
    pub secrets: Secrets,
    pub deadline: Instant,
    /// Extra headers sent with every request.
    pub headers: Vec<(&'static str, String)>,
}

pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, String> {
        serde_json::from_slice(&self.body).map_err(|e| format!("unreadable JSON: {e}"))
    }
}

/// The shared client (rustls, connect timeout, no redirects); each request sets its own
/// timeout, bounded by the deadline.
pub fn client() -> Result<Client, Failure> {
    super::client(PER_REQUEST)
        .map_err(|e| Failure::unavailable(format!("cannot build an HTTP client: {e}")))
}

/// The wait a 429/5xx/rate-limited 403 asks for, from `Retry-After` (seconds) or
/// `x-ratelimit-reset` (epoch seconds) when `x-ratelimit-remaining` is 0.
fn asked_wait(h: &HeaderMap) -> Option<Duration> {
    let get = |n: &str| h.get(n).and_then(|v| v.to_str().ok()).map(str::trim);
    if let Some(v) = get("retry-after") {
        if let Ok(s) = v.parse::<u64>() {
            return Some(Duration::from_secs(s));
        }
        // The HTTP-date form: `Retry-After: Wed, 21 Oct 2026 07:28:00 GMT`.
        if let Ok(at) = chrono::DateTime::parse_from_rfc2822(v) {
            let secs = (at.timestamp() - chrono::Utc::now().timestamp()).max(0) as u64;
            return Some(Duration::from_secs(secs));
        }
    }
    if get("x-ratelimit-remaining") == Some("0") {
        let reset = get("x-ratelimit-reset")?.parse::<u64>().ok()?;
        let now = SystemTime::now().duration_since(UNIX_EPOCH).ok()?.as_secs();
        return Some(Duration::from_secs(reset.saturating_sub(now)));
    }
    None
}

/// GitHub's primary limit (`x-ratelimit-remaining: 0`), or its secondary limit, which may
/// come with `retry-after` or only with a message saying so.
fn rate_limited_403(h: &HeaderMap, body: &[u8]) -> bool {
    String::from_utf8_lossy(body)
        .to_ascii_lowercase()
        .contains("rate limit")
        || h.get("x-ratelimit-remaining")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim() == "0")
        || h.contains_key("retry-after")
}

/// GET `url`. Returns any reply the caller must judge (2xx, 404, other 4xx); fails with exit
/// 4 on credentials problems and once retries or the deadline run out.
pub fn get(client: &Client, svc: &Service, url: &str, what: &str) -> Result<Reply, Failure> {
    get_checked(client, svc, url, what, |_| Ok(()))
}

/// Like `get`, with `check` run on every 2xx body: an `Err` (truncated or unreadable
/// body) counts as a transient failure and is retried.
pub fn get_checked(
    client: &Client,
    svc: &Service,
    url: &str,
    what: &str,
    check: impl Fn(&Reply) -> Result<(), String>,
) -> Result<Reply, Failure> {
    let schedule = Backoff {
        attempts: MAX_ATTEMPTS,
        base: BASE,
        cap: CAP,
        deadline: svc.deadline,
    };
    let mut last = String::new();
    for attempt in 0..MAX_ATTEMPTS {
        let now = Instant::now();
        if now >= svc.deadline {
            break;
        }
        let remaining = svc.deadline - now;
        let mut req = client
            .get(url)
            .timeout(remaining.min(PER_REQUEST))
            .header("Accept", "application/json");
        for (k, v) in &svc.headers {
            req = req.header(*k, v);
        }
        req = match &svc.auth {
            Auth::None => req,
            Auth::Basic { user, password } => req.basic_auth(user, Some(password)),
            Auth::Bearer(t) => req.bearer_auth(t),
        };
        let mut wait = None;
        match req.send() {
            Err(e) => last = describe(&e),
            Ok(resp) => {
                let status = resp.status().as_u16();
                let headers = resp.headers().clone();
                match resp.bytes() {
                    Err(e) => last = format!("HTTP {status}, body cut short: {}", describe(&e)),
                    Ok(body) => {
                        let reply = Reply {
                            status,
                            headers,
                            body: body.to_vec(),
                        };
                        match status {
                            200..=299 => match check(&reply) {
                                Ok(()) => return Ok(reply),
                                Err(e) => last = format!("HTTP {status}, {e}"),
                            },
                            401 => return Err(credentials(svc, what, status)),
                            403 if !rate_limited_403(&reply.headers, &reply.body) => {
                                return Err(credentials(svc, what, status))
                            }
                            403 | 429 | 500..=599 => {
                                wait = asked_wait(&reply.headers);
                                if status == 403 && wait.is_none() {
                                    // GitHub's secondary limit without `retry-after`: its
                                    // docs say to wait at least a minute.
                                    wait = Some(SECONDARY_LIMIT_WAIT);
                                }
                                last = format!("HTTP {status}");
                                if let Some(w) = wait {
                                    if Instant::now() + w > svc.deadline {
                                        last = format!(
                                            "HTTP {status}, asked to wait {}s, past the deadline",
                                            w.as_secs()
                                        );
                                        break;
                                    }
                                }
                            }
                            _ => return Ok(reply),
                        }
                    }
                }
            }
        }
        log::debug!(
            "{} {what}: attempt {} failed: {}",
            svc.name,
            attempt + 1,
            svc.secrets.redact(&last)
        );
        let pause = match wait {
            Some(w) => w,
            // `None`: the deadline leaves no room for the jittered pause.
            None => match schedule.pause(attempt) {
                Some(p) => p,
                None => break,
            },
        };
        let now = Instant::now();
        if now + pause >= svc.deadline {
            break;
        }
        std::thread::sleep(pause);
    }
    Err(Failure::unavailable(svc.secrets.redact(&format!(
        "{} is unavailable: {what} failed ({last}); failing closed",
        svc.name
    )))
    .hint(format!(
        "retry when {} answers; the deploy is not allowed without it",
        svc.name
    )))
}

fn credentials(svc: &Service, what: &str, status: u16) -> Failure {
    Failure::unavailable(svc.secrets.redact(&format!(
        "{} refused the credentials: {what} answered HTTP {status}; failing closed",
        svc.name
    )))
    .hint(svc.credentials_hint)
}

fn describe(e: &reqwest::Error) -> String {
    // Scheme, host and path only: the query could carry a token (credentials go in
    // headers, but drop it anyway).
    super::error_text(e)
}
