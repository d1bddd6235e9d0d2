//! Clients for outside services. Each call has explicit connect and request timeouts and
//! bounded retries inside one deadline, and every error passes through `Secrets::redact`.
//! The gating ones (JIRA lookups, GitHub, signatures) fail closed: any error is exit 4, never
//! a pass; the run's notifications (Slack, email, JIRA comments) only warn.
pub mod email;
pub mod gather;
pub mod git_signatures;
pub mod github;
pub mod github_deployments;
pub mod http_retry;
pub mod jenkins;
pub mod jira;
pub mod jira_tickets;
pub mod slack;

use crate::ci::Secrets;
use std::time::{Duration, Instant};

pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// A blocking client with rustls and explicit timeouts; redirects are not followed, so a
/// `Location` answer (Jenkins' queue item) reaches the caller.
pub fn client(request_timeout: Duration) -> anyhow::Result<reqwest::blocking::Client> {
    Ok(reqwest::blocking::Client::builder()
        .use_rustls_tls()
        .connect_timeout(CONNECT_TIMEOUT.min(request_timeout))
        .timeout(request_timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("gitops-gate/", env!("CARGO_PKG_VERSION")))
        .build()?)
}

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
pub enum Attempt<T> {
    Done(T),
    /// Worth another try (connect error, 5xx, 429).
    Retry(String),
    /// Retrying cannot help (4xx, bad answer).
    Fatal(String),
}

/// Runs `f` under the backoff; the error is the last reason, redacted.
pub fn retry<T>(
    what: &str,
    b: &Backoff,
    secrets: &Secrets,
    mut f: impl FnMut() -> Attempt<T>,
) -> Result<T, String> {
    let mut n = 0;
    loop {
        match f() {
            Attempt::Done(v) => return Ok(v),
            Attempt::Fatal(e) => return Err(secrets.redact(&format!("{what}: {e}"))),
            Attempt::Retry(e) => {
                n += 1;
                let pause = (n < b.attempts).then(|| b.pause(n - 1)).flatten();
                match pause {
                    Some(p) => {
                        log::debug!("{}", secrets.redact(&format!("{what}: {e}; retrying")));
                        std::thread::sleep(p)
                    }
                    None => {
                        return Err(
                            secrets.redact(&format!("{what}: {e} (gave up after {n} attempts)"))
                        )
                    }
                }
            }
        }
    }
}

/// Classifies a transport result: connect/timeout errors and 5xx/429 retry, other 4xx fail.
pub fn classify(
    r: reqwest::Result<reqwest::blocking::Response>,
) -> Attempt<reqwest::blocking::Response> {
    match r {
        Err(e) => Attempt::Retry(error_text(&e)),
        Ok(resp) => {
            let s = resp.status();
            if s.is_server_error() || s.as_u16() == 429 {
                Attempt::Retry(format!("HTTP {s}"))
            } else {
                Attempt::Done(resp)
            }
        }
    }
}

/// An error's text without the URL's query (which may carry a token); callers still redact.
pub fn error_text(e: &reqwest::Error) -> String {
    let mut s = e.without_url_ref_text();
    let mut src = std::error::Error::source(e);
    while let Some(c) = src {
        s.push_str(": ");
        s.push_str(&c.to_string());
        src = c.source();
    }
    s
}

trait WithoutUrl {
    fn without_url_ref_text(&self) -> String;
}

impl WithoutUrl for reqwest::Error {
    fn without_url_ref_text(&self) -> String {
        let kind = if self.is_timeout() {
            "timed out"
        } else if self.is_connect() {
            "cannot connect"
        } else if self.is_request() {
            "request failed"
        } else {
            "HTTP error"
        };
        match self.url() {
            Some(u) => format!(
                "{kind} ({}://{}{})",
                u.scheme(),
                u.host_str().unwrap_or(""),
                u.path()
            ),
            None => kind.to_string(),
        }
    }
}

/// Basic auth header value for `user:token`.
pub fn basic(user: &str, token: &str) -> String {
    use base64_lite::encode;
    format!("Basic {}", encode(format!("{user}:{token}").as_bytes()))
}

mod base64_lite {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    pub fn encode(b: &[u8]) -> String {
        let mut s = String::with_capacity(b.len().div_ceil(3) * 4);
        for c in b.chunks(3) {
            let n = (c[0] as u32) << 16
                | (*c.get(1).unwrap_or(&0) as u32) << 8
                | *c.get(2).unwrap_or(&0) as u32;
            s.push(T[(n >> 18) as usize & 63] as char);
            s.push(T[(n >> 12) as usize & 63] as char);
            s.push(if c.len() > 1 {
                T[(n >> 6) as usize & 63] as char
            } else {
                '='
            });
            s.push(if c.len() > 2 {
                T[n as usize & 63] as char
            } else {
                '='
            });
        }
        s
    }
}

/// Percent-encodes one path segment (RFC 3986 unreserved kept).
pub fn segment(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn base64_and_segments() {
        assert_eq!(base64_lite::encode(b"user:pass"), "dXNlcjpwYXNz");
        assert_eq!(base64_lite::encode(b"ab"), "YWI=");
        assert_eq!(segment("a b/c"), "a%20b%2Fc");
    }
    #[test]
    fn backoff_is_capped_and_bounded_by_the_deadline() {
        let b = Backoff::new(5, Duration::from_secs(60));
        for n in 0..20 {
            assert!(b.pause(n).unwrap() <= b.cap);
        }
        let gone = Backoff::new(5, Duration::ZERO);
        assert!(gone.pause(3).is_none());
    }
}
