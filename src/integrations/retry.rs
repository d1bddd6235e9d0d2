//! The one retry loop of the integrations, and the GET built on it.
//!
//! `run` makes an attempt, then retries while the attempt says it is worth it, at most
//! `Backoff::attempts` times and never past `Backoff::deadline`: after capped exponential
//! backoff with full jitter (`random(0, min(cap, base * 2^n))`), or after the pause the
//! server asked for (`Retry-After`, GitHub's `x-ratelimit-reset`) when it fits in the
//! deadline; a server-asked pause past the deadline ends the loop at once (no retry storm).
//! Every message goes through `Secrets::redact`.
//!
//! Two front ends share it: `retry` (the notification and JIRA-ticket clients: POSTs, SMTP;
//! errors as text) and `gating` with `judge` (the gating clients, JIRA lookups over
//! `get`/`get_checked` and GitHub over octocrab: timeouts, connection errors, truncated
//! bodies, 5xx and 429 retried; 401/403 are credentials problems and not retried, except
//! GitHub's rate-limit 403s; errors are exit 4).
use super::IntegrationError;
use crate::ci::Secrets;
use crate::error::Failure;
use reqwest::blocking::Client;
use reqwest::header::HeaderMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Retry schedule: `attempts` tries at most, full-jitter backoff `rand(0, min(cap, base*2^n))`,
/// never sleeping past `deadline`.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub attempts: u32,
    pub base: Duration,
    pub cap: Duration,
    pub deadline: Instant,
}

impl Backoff {
    pub fn new(attempts: u32, within: Duration) -> Backoff {
        Backoff {
            attempts,
            base: Duration::from_millis(200),
            cap: Duration::from_secs(5),
            deadline: Instant::now() + within,
        }
    }
    /// The pause before retry number `n` (0-based), or `None` when the deadline forbids it.
    pub fn pause(&self, n: u32) -> Option<Duration> {
        let ceiling = self
            .base
            .saturating_mul(1u32 << n.min(16))
            .min(self.cap)
            .as_millis() as u64;
        let d = Duration::from_millis(rand::random_range(0..=ceiling));
        let left = self.deadline.checked_duration_since(Instant::now())?;
        (d < left).then_some(d)
    }
    pub fn remaining(&self) -> Duration {
        self.deadline
            .checked_duration_since(Instant::now())
            .unwrap_or(Duration::ZERO)
    }
}

/// What one attempt tells the retry loop.
pub enum Attempt<T, E = String> {
    Done(T),
    /// Worth another try (connect error, timeout, truncated body, 5xx, 429).
    Retry(String),
    /// Worth another try after the pause the server asked for, instead of the backoff.
    RetryAfter(String, Duration),
    /// Retrying cannot help (4xx, bad answer, refused credentials).
    Fatal(E),
}

impl<T, E> Attempt<T, E> {
    /// Judges a `Done` value further; the retry verdicts pass through.
    pub fn and_then<U>(self, f: impl FnOnce(T) -> Attempt<U, E>) -> Attempt<U, E> {
        match self {
            Attempt::Done(v) => f(v),
            Attempt::Retry(e) => Attempt::Retry(e),
            Attempt::RetryAfter(e, w) => Attempt::RetryAfter(e, w),
            Attempt::Fatal(e) => Attempt::Fatal(e),
        }
    }
}

/// Why `run` returned without a value.
pub enum GaveUp<E> {
    /// An attempt said retrying cannot help.
    Fatal(E),
    /// Out of attempts or of time: the last reason (unredacted) and the attempts made.
    Exhausted { last: String, attempts: u32 },
}

/// The retry loop. `f` is called at most `b.attempts` times and never once the deadline has
/// passed; the pauses are logged (redacted) at debug level.
pub fn run<T, E>(
    what: &str,
    b: &Backoff,
    secrets: &Secrets,
    mut f: impl FnMut() -> Attempt<T, E>,
) -> Result<T, GaveUp<E>> {
    let mut last = String::from("no time left before the deadline");
    let mut n = 0;
    while n < b.attempts && Instant::now() < b.deadline {
        n += 1;
        let asked = match f() {
            Attempt::Done(v) => return Ok(v),
            Attempt::Fatal(e) => return Err(GaveUp::Fatal(e)),
            Attempt::Retry(e) => {
                last = e;
                None
            }
            Attempt::RetryAfter(e, w) => {
                if Instant::now() + w > b.deadline {
                    last = format!("{e}, asked to wait {}s, past the deadline", w.as_secs());
                    break;
                }
                last = e;
                Some(w)
            }
        };
        if n >= b.attempts {
            break;
        }
        // `None`: the deadline leaves no room for the jittered pause.
        let Some(pause) = asked.or_else(|| b.pause(n - 1)) else {
            break;
        };
        if Instant::now() + pause >= b.deadline {
            break;
        }
        log::debug!(
            "{what}: attempt {n} failed: {}; retrying in {}ms",
            secrets.redact(&last),
            pause.as_millis()
        );
        std::thread::sleep(pause);
    }
    Err(GaveUp::Exhausted { last, attempts: n })
}

/// `run` for the clients whose failures are not the gate's: an attempt that says retrying
/// cannot help is `Refused`, running out of attempts or time is `Unreachable`; redacted.
pub fn retry<T>(
    what: &str,
    b: &Backoff,
    secrets: &Secrets,
    f: impl FnMut() -> Attempt<T>,
) -> Result<T, IntegrationError> {
    run(what, b, secrets, f).map_err(|g| match g {
        GaveUp::Fatal(e) => IntegrationError::Refused(secrets.redact(&format!("{what}: {e}"))),
        GaveUp::Exhausted { last, attempts } => IntegrationError::Unreachable(secrets.redact(
            &format!("{what}: {last} (gave up after {attempts} attempts)"),
        )),
    })
}

/// Classifies a transport result: connect/timeout errors and 5xx/429 retry (after the wait
/// the server asked for, when it did), other answers are the caller's to judge.
pub fn classify(
    r: reqwest::Result<reqwest::blocking::Response>,
) -> Attempt<reqwest::blocking::Response> {
    match r {
        Err(e) => Attempt::Retry(super::error_text(&e)),
        Ok(resp) => {
            let s = resp.status();
            if s.is_server_error() || s.as_u16() == 429 {
                match asked_wait(resp.headers()) {
                    Some(w) => Attempt::RetryAfter(format!("HTTP {s}"), w),
                    None => Attempt::Retry(format!("HTTP {s}")),
                }
            } else {
                Attempt::Done(resp)
            }
        }
    }
}

// The GET's schedule (gating lookups: many keys in parallel, one deadline).
const BASE: Duration = Duration::from_millis(100);
const CAP: Duration = Duration::from_secs(2);
const MAX_ATTEMPTS: u32 = 6;
/// One attempt's longest wait, connection to last byte.
pub const PER_REQUEST: Duration = Duration::from_secs(10);
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
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, IntegrationError> {
        serde_json::from_slice(&self.body)
            .map_err(|e| IntegrationError::BadAnswer(format!("unreadable JSON: {e}")))
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
    check: impl Fn(&Reply) -> Result<(), IntegrationError>,
) -> Result<Reply, Failure> {
    let attempt = || -> Attempt<Reply, Failure> {
        let remaining = svc.deadline.saturating_duration_since(Instant::now());
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
        let resp = match req.send() {
            Err(e) => return Attempt::Retry(describe(&e)),
            Ok(r) => r,
        };
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = match resp.bytes() {
            Err(e) => {
                return Attempt::Retry(format!("HTTP {status}, body cut short: {}", describe(&e)))
            }
            Ok(b) => b.to_vec(),
        };
        let reply = Reply {
            status,
            headers,
            body,
        };
        if (200..300).contains(&status) {
            return match check(&reply) {
                Ok(()) => Attempt::Done(reply),
                Err(e) => Attempt::Retry(format!("HTTP {status}, {e}")),
            };
        }
        judge(svc, what, status, &reply.headers, &reply.body).and_then(|()| Attempt::Done(reply))
    };
    gating(svc, what, attempt)
}

/// How the gating clients judge an answer that is not a 2xx: 401, and a 403 that is not a
/// rate limit, are credentials problems (never retried); GitHub's rate-limited 403s, 429 and
/// 5xx are retried after the wait the server asked for (`retry-after`, or
/// `x-ratelimit-reset` when `x-ratelimit-remaining` is 0), else after the backoff; anything
/// else (404, other 4xx, 3xx) is `Done` for the caller to judge.
pub fn judge(
    svc: &Service,
    what: &str,
    status: u16,
    headers: &HeaderMap,
    body: &[u8],
) -> Attempt<(), Failure> {
    match status {
        401 => Attempt::Fatal(credentials(svc, what, status)),
        403 if !rate_limited_403(headers, body) => Attempt::Fatal(credentials(svc, what, status)),
        403 | 429 | 500..=599 => {
            let why = format!("HTTP {status}");
            match asked_wait(headers) {
                Some(w) => Attempt::RetryAfter(why, w),
                // GitHub's secondary limit without `retry-after`: its docs say to wait
                // at least a minute.
                None if status == 403 => Attempt::RetryAfter(why, SECONDARY_LIMIT_WAIT),
                None => Attempt::Retry(why),
            }
        }
        _ => Attempt::Done(()),
    }
}

/// The gating schedule around `attempt` (at most `MAX_ATTEMPTS` tries, capped jittered
/// backoff, never past `svc.deadline`); giving up is exit 4, redacted, naming the service.
pub fn gating<T>(
    svc: &Service,
    what: &str,
    attempt: impl FnMut() -> Attempt<T, Failure>,
) -> Result<T, Failure> {
    let schedule = Backoff {
        attempts: MAX_ATTEMPTS,
        base: BASE,
        cap: CAP,
        deadline: svc.deadline,
    };
    let label = format!("{} {what}", svc.name);
    run(&label, &schedule, &svc.secrets, attempt).map_err(|g| match g {
        GaveUp::Fatal(f) => f,
        GaveUp::Exhausted { last, .. } => Failure::unavailable(svc.secrets.redact(&format!(
            "{} is unavailable: {what} failed ({last}); failing closed",
            svc.name
        )))
        .hint(format!(
            "retry when {} answers; the deploy is not allowed without it",
            svc.name
        )),
    })
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[test]
    fn backoff_is_capped_and_bounded_by_the_deadline() {
        let b = Backoff::new(5, Duration::from_secs(60));
        for n in 0..20 {
            assert!(b.pause(n).unwrap() <= b.cap);
        }
        let gone = Backoff::new(5, Duration::ZERO);
        assert!(gone.pause(3).is_none());
    }

    fn quick(attempts: u32, within: Duration) -> Backoff {
        Backoff {
            attempts,
            base: Duration::from_millis(1),
            cap: Duration::from_millis(2),
            deadline: Instant::now() + within,
        }
    }

    #[test]
    fn the_loop_stops_at_the_attempt_limit_and_on_fatal() {
        let secrets = Secrets::default();
        let calls = Cell::new(0);
        let r: Result<(), IntegrationError> =
            retry("x", &quick(3, Duration::from_secs(60)), &secrets, || {
                calls.set(calls.get() + 1);
                Attempt::Retry("HTTP 503".into())
            });
        assert_eq!(calls.get(), 3);
        assert_eq!(
            r.unwrap_err(),
            IntegrationError::Unreachable("x: HTTP 503 (gave up after 3 attempts)".into())
        );
        calls.set(0);
        let r: Result<(), IntegrationError> =
            retry("x", &quick(3, Duration::from_secs(60)), &secrets, || {
                calls.set(calls.get() + 1);
                Attempt::Fatal("HTTP 404".into())
            });
        assert_eq!(
            (calls.get(), r.unwrap_err()),
            (1, IntegrationError::Refused("x: HTTP 404".into()))
        );
    }

    #[test]
    fn a_server_asked_wait_past_the_deadline_ends_the_loop_at_once() {
        let secrets = Secrets::default();
        let calls = Cell::new(0);
        let r = run("x", &quick(6, Duration::from_secs(60)), &secrets, || {
            calls.set(calls.get() + 1);
            Attempt::<(), ()>::RetryAfter("HTTP 429".into(), Duration::from_secs(120))
        });
        assert_eq!(calls.get(), 1);
        match r {
            Err(GaveUp::Exhausted { last, attempts }) => {
                assert_eq!(attempts, 1);
                assert_eq!(last, "HTTP 429, asked to wait 120s, past the deadline");
            }
            _ => panic!("expected Exhausted"),
        }
        // A wait that fits is taken, then the next attempt answers.
        calls.set(0);
        let r = run("x", &quick(6, Duration::from_secs(60)), &secrets, || {
            calls.set(calls.get() + 1);
            if calls.get() == 1 {
                Attempt::<u8, ()>::RetryAfter("HTTP 429".into(), Duration::from_millis(1))
            } else {
                Attempt::Done(7)
            }
        });
        assert!(matches!(r, Ok(7)));
        assert_eq!(calls.get(), 2);
    }

    #[test]
    fn no_attempt_once_the_deadline_has_passed() {
        let calls = Cell::new(0);
        let r = run("x", &quick(6, Duration::ZERO), &Secrets::default(), || {
            calls.set(calls.get() + 1);
            Attempt::<(), ()>::Done(())
        });
        assert_eq!(calls.get(), 0);
        assert!(matches!(r, Err(GaveUp::Exhausted { attempts: 0, .. })));
    }

    #[test]
    fn messages_are_redacted() {
        let env = crate::ci::Env::from_pairs([("JIRA_API_TOKEN", "s3cr3t-value")]);
        let secrets = Secrets::from_env(&env, &[]);
        let r: Result<(), IntegrationError> =
            retry("x", &quick(2, Duration::from_secs(60)), &secrets, || {
                Attempt::Retry("sent s3cr3t-value".into())
            });
        assert!(!r.unwrap_err().to_string().contains("s3cr3t-value"));
    }
}
