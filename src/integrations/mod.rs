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

/// What went wrong talking to an outside service, by what the caller can do about it. The
/// text is the whole message, already redacted (`Secrets::redact`). At the edge the first
/// three fail closed (exit 4, DESIGN.md section 6); a run's stages and notifications turn
/// them into a failed stage or a warning before that.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IntegrationError {
    /// No usable answer: cannot connect, timed out, 5xx, retries or the deadline ran out.
    #[error("{0}")]
    Unreachable(String),
    /// The service answered no: credentials refused, a missing job, another 4xx.
    #[error("{0}")]
    Refused(String),
    /// An answer gitops-gate cannot use: unreadable JSON, a field missing or of the wrong
    /// shape, a build that lost its parameters.
    #[error("{0}")]
    BadAnswer(String),
    /// The integration's settings in gitops.yaml cannot be used (an SMTP port, an address).
    #[error("{0}")]
    Misconfigured(String),
}

impl IntegrationError {
    /// What to do next, by kind.
    pub fn hint(&self) -> String {
        match self {
            IntegrationError::Unreachable(_) => {
                "retry when the service answers; the deploy is not allowed without it"
            }
            IntegrationError::Refused(_) => {
                "check the credentials and the names in gitops.yaml against the service"
            }
            IntegrationError::BadAnswer(_) => {
                "check that the URL in gitops.yaml points at the service's API, not a proxy or login page"
            }
            IntegrationError::Misconfigured(_) => "fix the integration's settings in gitops.yaml",
        }
        .to_string()
    }
    /// The exit code this error leads to when nothing above it decided.
    pub fn exit(&self) -> crate::error::Exit {
        match self {
            IntegrationError::Misconfigured(_) => crate::error::Exit::Invalid,
            _ => crate::error::Exit::Unavailable,
        }
    }
}

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
    use base64::Engine as _;
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{token}"));
    format!("Basic {encoded}")
}

/// Every byte but RFC 3986's unreserved ones (`A-Z a-z 0-9 - . _ ~`) is escaped.
pub(crate) const NOT_UNRESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes one path segment (RFC 3986 unreserved kept).
pub fn segment(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, NOT_UNRESERVED).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn base64_and_segments() {
        assert_eq!(basic("user", "pass"), "Basic dXNlcjpwYXNz");
        assert_eq!(basic("a", ""), "Basic YTo=");
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
