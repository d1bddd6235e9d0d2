//! Clients for outside services. Each call has explicit connect and request timeouts and
//! bounded retries inside one deadline, and every error passes through `Secrets::redact`.
//! The gating ones (JIRA lookups, GitHub, signatures) fail closed: any error is exit 4, never
//! a pass; the run's notifications (Slack, email, JIRA comments) only warn.
pub mod email;
pub mod events;
pub mod github;
pub mod github_deployments;
pub mod jenkins;
pub mod jira;
pub mod jira_tickets;
pub mod retry;
pub mod slack;

use crate::error::Failure;
use rayon::prelude::*;
pub use retry::{classify, retry, Attempt, Backoff};
use std::time::Duration;

pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// `f` on every item, at most `in_flight` at once (the lookups wait on the network, so a
/// pool of their own rather than rayon's global one, sized for the CPUs); the first error
/// stops the items not yet started and is returned. The results keep the items' order.
pub fn fan_out<T: Sync, R: Send>(
    items: &[T],
    in_flight: usize,
    f: impl Fn(&T) -> Result<R, Failure> + Sync + Send,
) -> Result<Vec<R>, Failure> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(in_flight.min(items.len()).max(1))
        .thread_name(|i| format!("gitops-gate-lookup-{i}"))
        .build()
        .map_err(|e| Failure::unavailable(format!("cannot start the lookup threads: {e}")))?;
    // One item per task, so a slow answer holds up no other item.
    pool.install(|| items.par_iter().with_max_len(1).map(f).collect())
}

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

/// An error's text naming the service by the scheme and host of its URL only: a URL's user
/// info, port, path and query may carry a credential (a Slack webhook is one), and reqwest
/// renders the URL normalised, so redacting the configured text alone would miss it.
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

/// `scheme://host` of a URL, the only part of a configured URL that messages print.
pub fn origin(url: &str) -> String {
    match reqwest::Url::parse(url.trim()) {
        Ok(u) => origin_of(&u),
        Err(_) => "(an unparseable URL)".to_string(),
    }
}

fn origin_of(u: &reqwest::Url) -> String {
    match u.host_str() {
        Some(h) => format!("{}://{h}", u.scheme()),
        None => format!("{}:", u.scheme()),
    }
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
        } else if self.is_decode() || self.is_body() {
            "unreadable answer"
        } else if self.is_request() {
            "request failed"
        } else {
            "HTTP error"
        };
        match self.url() {
            Some(u) => format!("{kind} ({})", origin_of(u)),
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

    /// reqwest's own error for an unreachable webhook: the message names the service by
    /// scheme and host, never the path, port or user info that carry the credential.
    #[test]
    fn a_connect_error_prints_scheme_and_host_only() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("HTTP://user:PASSWORD@LOCALHOST:{port}/services/T000/SECRET?token=QUERY");
        let e = client(std::time::Duration::from_secs(2))
            .unwrap()
            .get(&url)
            .send()
            .unwrap_err();
        assert!(
            e.to_string().contains("SECRET"),
            "reqwest itself prints it: {e}"
        );
        let t = error_text(&e);
        assert!(t.starts_with("cannot connect (http://localhost)"), "{t}");
        for leak in ["SECRET", "PASSWORD", "user", "QUERY", &port.to_string()] {
            assert!(!t.contains(leak), "{leak} in {t}");
        }
        assert_eq!(origin(&url), "http://localhost");
        assert_eq!(origin("not a url"), "(an unparseable URL)");
    }
}
