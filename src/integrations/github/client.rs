//! The one GitHub client: octocrab over hyper and rustls, run on a small tokio runtime the
//! client owns, so the rest of the program stays synchronous (`Runtime::block_on`).
//!
//! octocrab gives the transport: connect and read timeouts, the base URI joined to every
//! route (`GITHUB_API_URL`, with GHES's `/api/v3` path kept), the token sent only to that
//! host, and the `Link` header parsed into a `Page` (`next`, `last`). Its own retry layer is
//! not compiled in (no `retry` feature): it would retry POSTs and knows nothing of the run's
//! deadline. Retries happen at one layer, `retry::gating`: every attempt returns the status,
//! the headers and the whole body, so rate limits (`x-ratelimit-reset`, `retry-after`) and
//! truncated bodies are judged as for every gating service.
//!
//! Answers are read as `serde_json::Value`, not octocrab's typed models, on purpose: those
//! reject valid GitHub answers. `Review.state` is a closed enum (an unknown state is a
//! deserialization error), as are `PullRequest.mergeable_state` and the commit files'
//! `status`; `Author` requires all eighteen fields of a full user object. A model error here
//! would deny deploys (exit 4) over a field the gate never reads.
use crate::ci::Secrets;
use crate::error::Failure;
use crate::integrations::retry::{self, Attempt, Auth, Service, PER_REQUEST};
use crate::integrations::CONNECT_TIMEOUT;
use octocrab::{FromResponse, Octocrab, Page};
use serde_json::Value;
use std::time::{Duration, Instant};

pub const DEFAULT_API: &str = "https://api.github.com";
const MAX_PAGES: usize = 100;

/// When the calls must be done by.
#[derive(Clone, Copy)]
pub enum Deadline {
    /// One deadline for every call of the client (the gate's lookups: one run, one budget).
    Shared(Instant),
    /// Each call gets this long from its start (the deployment mirror: calls at the start
    /// and the end of a run).
    EachCall(Duration),
}

/// Whether a call may be sent again after an answer that does not prove it was refused.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Replay {
    /// GET, and a PATCH that sets the same fields: sending it twice changes nothing.
    Idempotent,
    /// A POST that creates something: retried only after a rate limit (GitHub refused it
    /// unprocessed); a timeout, a broken connection or a 5xx leave the outcome unknown, and
    /// it is not sent again.
    Creates,
}

/// What an exchange brought back: a 2xx body read as `T`, or another answer that retrying
/// cannot change (404, other 4xx, 3xx), with its status and GitHub's `message`.
enum Answer<T> {
    Read(T),
    Other(u16, String),
}

pub struct Client {
    crab: Octocrab,
    rt: tokio::runtime::Runtime,
    base: http::Uri,
    /// `scheme://host` of the API, the only part of it that messages print.
    origin: String,
    owner: String,
    repo: String,
    svc: Service,
    deadline: Deadline,
}

/// `owner/name` with GitHub's characters only (it goes into every route).
pub fn split_slug(slug: &str) -> Option<(&str, &str)> {
    let valid = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    };
    slug.split_once('/').filter(|(o, r)| valid(o) && valid(r))
}

impl Client {
    /// A client for repository `slug` (`owner/name`) at `api` (`GITHUB_API_URL`, default
    /// api.github.com); `token` is sent as a bearer token to that host only.
    pub fn new(
        api: Option<&str>,
        slug: &str,
        token: Option<&str>,
        secrets: &Secrets,
        deadline: Deadline,
        credentials_hint: &'static str,
    ) -> Result<Client, Failure> {
        let (owner, repo) = split_slug(slug).ok_or_else(|| {
            Failure::invalid(format!("GITHUB_REPOSITORY `{slug}` is not owner/name"))
        })?;
        let api = api.unwrap_or(DEFAULT_API).trim().trim_end_matches('/');
        let origin = super::super::origin(api);
        let base: http::Uri = api
            .parse()
            .ok()
            .filter(|u: &http::Uri| u.scheme().is_some() && u.authority().is_some())
            .ok_or_else(|| {
                Failure::invalid(format!("GITHUB_API_URL ({origin}) is not an http(s) URL"))
            })?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("gitops-gate-github")
            .enable_all()
            .build()
            .map_err(|e| Failure::unavailable(format!("cannot start the GitHub client: {e}")))?;
        let mut builder = Octocrab::builder()
            .base_uri(base.clone())
            .map_err(|_| Failure::invalid(format!("GITHUB_API_URL ({origin}) is not a URL")))?
            .set_connect_timeout(Some(CONNECT_TIMEOUT))
            .set_read_timeout(Some(PER_REQUEST))
            .set_write_timeout(Some(PER_REQUEST))
            .add_header(http::header::ACCEPT, "application/vnd.github+json".into());
        if let Some(t) = token {
            builder = builder.personal_token(t.to_string());
        }
        // hyper's client spawns its connection tasks on the runtime being entered.
        let crab = {
            let _in = rt.enter();
            builder.build().map_err(|e| {
                Failure::unavailable(
                    secrets.redact(&format!("cannot build the GitHub client: {}", chain(&e))),
                )
            })?
        };
        Ok(Client {
            crab,
            rt,
            base,
            origin,
            owner: owner.to_string(),
            repo: repo.to_string(),
            svc: Service {
                name: "GitHub",
                credentials_hint,
                // octocrab sends the token; `Service` names the service and holds the
                // secrets and the deadline here.
                auth: Auth::None,
                secrets: secrets.clone(),
                deadline: match deadline {
                    Deadline::Shared(at) => at,
                    Deadline::EachCall(d) => Instant::now() + d,
                },
                headers: Vec::new(),
            },
            deadline,
        })
    }

    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// `/repos/{owner}/{repo}{path}`.
    fn route(&self, path: &str) -> String {
        format!("/repos/{}/{}{path}", self.owner, self.repo)
    }

    /// The service, with this call's deadline.
    fn service(&self) -> Service {
        let mut svc = self.svc.clone();
        if let Deadline::EachCall(d) = self.deadline {
            svc.deadline = Instant::now() + d;
        }
        svc
    }

    /// One exchange, retried by `retry::gating`: the status and, for a 2xx, the body read
    /// as `T` (a body that does not read is retried, as a truncated one). Other answers that
    /// retrying cannot change (404, other 4xx) come back with `None`.
    fn call<T: FromResponse + Send>(
        &self,
        method: http::Method,
        uri: &str,
        body: Option<&Value>,
        what: &str,
        replay: Replay,
    ) -> Result<Answer<T>, Failure> {
        let svc = self.service();
        let attempt = || -> Attempt<Answer<T>, Failure> {
            let left = svc.deadline.saturating_duration_since(Instant::now());
            let once = self.once::<T>(&svc, method.clone(), uri, body, what);
            let a = self.rt.block_on(async {
                tokio::time::timeout(left.min(PER_REQUEST), once)
                    .await
                    .unwrap_or_else(|_| {
                        (Attempt::Retry(format!("timed out ({})", self.origin)), true)
                    })
            });
            match a {
                // Sent, and no answer that proves GitHub refused it unprocessed.
                (Attempt::Retry(why), true) if replay == Replay::Creates => {
                    Attempt::Fatal(Failure::unavailable(svc.secrets.redact(&format!(
                        "GitHub {what}: {why}; not sent again, since it may have been done"
                    ))))
                }
                (a, _) => a,
            }
        };
        retry::gating(&svc, what, attempt)
    }

    /// One request; the flag says whether the request may have been processed without a
    /// readable verdict (transport errors, 5xx).
    async fn once<T: FromResponse>(
        &self,
        svc: &Service,
        method: http::Method,
        uri: &str,
        body: Option<&Value>,
        what: &str,
    ) -> (Attempt<Answer<T>, Failure>, bool) {
        let sent = match method {
            http::Method::POST => self.crab._post(uri, body).await,
            http::Method::PATCH => self.crab._patch(uri, body).await,
            _ => self.crab._get(uri).await,
        };
        let resp = match sent {
            Ok(r) => r,
            Err(e) => return (Attempt::Retry(self.describe(&e)), true),
        };
        let status = resp.status().as_u16();
        if (200..300).contains(&status) {
            return match T::from_response(resp).await {
                Ok(v) => (Attempt::Done(Answer::Read(v)), false),
                Err(e) => (
                    Attempt::Retry(format!("HTTP {status}, {}", self.describe(&e))),
                    false,
                ),
            };
        }
        let headers = resp.headers().clone();
        let text = self.crab.body_to_string(resp).await.unwrap_or_default();
        let verdict = retry::judge(svc, what, status, &headers, text.as_bytes());
        let message = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| v.get("message")?.as_str().map(str::to_string))
            .unwrap_or_default();
        (
            verdict.and_then(|()| Attempt::Done(Answer::Other(status, message))),
            status >= 500,
        )
    }

    /// A GET of one object; anything but a 2xx fails closed.
    pub fn get(&self, path: &str, what: &str) -> Result<Value, Failure> {
        match self.call::<Value>(
            http::Method::GET,
            &self.route(path),
            None,
            what,
            Replay::Idempotent,
        )? {
            Answer::Read(v) => Ok(v),
            Answer::Other(status, _) => Err(Failure::unavailable(format!(
                "GitHub answered HTTP {status} to {what}; failing closed"
            ))
            .hint("check GITHUB_REPOSITORY, GITHUB_API_URL and the token's access")),
        }
    }

    /// A POST or PATCH of `body`; anything but a 2xx is an error.
    pub fn send(
        &self,
        method: http::Method,
        path: &str,
        body: &Value,
        what: &str,
        replay: Replay,
    ) -> Result<Value, Failure> {
        match self.call::<Value>(method, &self.route(path), Some(body), what, replay)? {
            Answer::Read(v) => Ok(v),
            Answer::Other(status, message) => Err(Failure::unavailable(self.svc.secrets.redact(
                &format!("GitHub answered HTTP {status} to {what}: {message}"),
            ))),
        }
    }

    /// Every page of a list (`per_page=100`), following `Link: rel="next"`: a page that
    /// fails is exit 4, and the pages that arrive must be as many as the first page's
    /// `rel="last"` announced; a partial list is never returned.
    pub fn list(&self, path: &str, what: &str) -> Result<Vec<Value>, Failure> {
        let sep = if path.contains('?') { '&' } else { '?' };
        let mut uri = format!("{}{sep}per_page=100", self.route(path));
        let mut out = Vec::new();
        let mut expected_pages: Option<u32> = None;
        for page in 1..=MAX_PAGES {
            let what_page = format!("{what} (page {page})");
            let mut p = match self.call::<Page<Value>>(
                http::Method::GET,
                &uri,
                None,
                &what_page,
                Replay::Idempotent,
            )? {
                Answer::Read(p) => p,
                Answer::Other(status, _) => return Err(Failure::unavailable(format!(
                    "GitHub answered HTTP {status} to {what_page}; failing closed, no partial list is judged"
                ))),
            };
            out.extend(p.take_items());
            if page == 1 {
                expected_pages = p.number_of_pages();
            }
            match p.next.take() {
                Some(next) => {
                    if !self.same_api(&next) {
                        return Err(Failure::unavailable(format!(
                            "GitHub {what_page}: the next page points outside {}; refusing to send the token there",
                            self.origin
                        )));
                    }
                    uri = next.to_string();
                }
                None => {
                    if let Some(n) = expected_pages {
                        if n as usize != page {
                            return Err(Failure::unavailable(format!(
                                "GitHub {what}: the list announced {n} pages, {page} arrived; failing closed"
                            )));
                        }
                    }
                    return Ok(out);
                }
            }
        }
        Err(Failure::unavailable(format!(
            "GitHub {what}: more than {MAX_PAGES} pages; failing closed"
        )))
    }

    /// Whether `u` is under the API's scheme, host and path (where the token may go).
    fn same_api(&self, u: &http::Uri) -> bool {
        let base_path = self.base.path().trim_end_matches('/');
        u.scheme() == self.base.scheme()
            && u.authority() == self.base.authority()
            && u.path()
                .strip_prefix(base_path)
                .is_some_and(|rest| rest.starts_with('/'))
    }

    /// An error's text as the other services' errors read (`integrations::error_text`):
    /// what went wrong, the API's scheme and host, then the causes (none of which carry the
    /// URL), redacted.
    fn describe(&self, e: &octocrab::Error) -> String {
        let causes = match std::error::Error::source(e) {
            Some(c) => chain(c),
            None => e.to_string(),
        };
        // hyper-util names a failed connection `client error (Connect)`; its type is not
        // ours to downcast to.
        let kind = if causes.contains("(Connect)") || causes.contains("connect error") {
            "cannot connect"
        } else if matches!(
            e,
            octocrab::Error::Json { .. } | octocrab::Error::Serde { .. }
        ) {
            "unreadable answer"
        } else {
            "request failed"
        };
        self.svc
            .secrets
            .redact(&format!("{kind} ({}): {causes}", self.origin))
    }
}

/// An error and its causes, one after the other, each once.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        src = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ci::Env;
    use std::sync::{Arc, Mutex};

    /// (method, url, Authorization) of each request; `answer(n, url)` -> (status, headers, body).
    type Seen = Arc<Mutex<Vec<(String, String, Option<String>)>>>;

    fn fake(
        answer: impl Fn(usize, &str, &str) -> (u16, Vec<(&'static str, String)>, String)
            + Send
            + 'static,
    ) -> (String, Seen) {
        let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
        let url = format!("http://{}", server.server_addr().to_ip().unwrap());
        let seen: Seen = Arc::default();
        let s = seen.clone();
        let base = url.clone();
        std::thread::spawn(move || {
            for req in server.incoming_requests() {
                let auth = req
                    .headers()
                    .iter()
                    .find(|h| h.field.equiv("Authorization"))
                    .map(|h| h.value.to_string());
                let n = {
                    let mut all = s.lock().unwrap();
                    all.push((req.method().to_string(), req.url().to_string(), auth));
                    all.len() - 1
                };
                let (status, headers, body) = answer(n, &base, req.url());
                let mut resp = tiny_http::Response::from_string(body).with_status_code(status);
                for (k, v) in headers {
                    resp.add_header(tiny_http::Header::from_bytes(k, v.as_bytes()).unwrap());
                }
                let _ = req.respond(resp);
            }
        });
        (url, seen)
    }

    fn client(api: &str, within: Duration) -> Client {
        let secrets = Secrets::from_env(&Env::from_pairs([("GITHUB_TOKEN", "ghs_t0ken")]), &[]);
        Client::new(
            Some(api),
            "o/r",
            Some("ghs_t0ken"),
            &secrets,
            Deadline::Shared(Instant::now() + within),
            "check GITHUB_TOKEN",
        )
        .unwrap()
    }

    /// GHES: routes under `/api/v3`, the next page followed with the token, the list whole.
    #[test]
    fn a_ghes_list_is_followed_to_its_last_page_with_the_token() {
        let (url, seen) = fake(|n, base, _| {
            let link = |p: u32| {
                format!("<{base}/api/v3/repositories/1/pulls/5/reviews?per_page=100&page={p}>")
            };
            let headers = if n == 0 {
                vec![(
                    "Link",
                    format!("{}; rel=\"next\", {}; rel=\"last\"", link(2), link(2)),
                )]
            } else {
                Vec::new()
            };
            (200, headers, format!("[{{\"n\":{n}}}]"))
        });
        let c = client(&format!("{url}/api/v3/"), Duration::from_secs(10));
        let items = c.list("/pulls/5/reviews", "GET reviews").unwrap();
        assert_eq!(
            items,
            vec![serde_json::json!({"n": 0}), serde_json::json!({"n": 1})]
        );
        let seen = seen.lock().unwrap();
        assert_eq!(seen[0].1, "/api/v3/repos/o/r/pulls/5/reviews?per_page=100");
        assert_eq!(
            seen[1].1,
            "/api/v3/repositories/1/pulls/5/reviews?per_page=100&page=2"
        );
        assert!(seen
            .iter()
            .all(|s| s.2.as_deref() == Some("Bearer ghs_t0ken")));
    }

    /// A next page on another host is refused before the token goes there.
    #[test]
    fn a_next_page_elsewhere_fails_closed() {
        let (url, seen) = fake(|_, _, _| {
            (
                200,
                vec![(
                    "Link",
                    "<http://127.0.0.2:9/x?page=2>; rel=\"next\"".to_string(),
                )],
                "[]".into(),
            )
        });
        let e = client(&url, Duration::from_secs(10))
            .list("/pulls/5/reviews", "GET reviews")
            .unwrap_err();
        assert_eq!(e.exit, crate::error::Exit::Unavailable);
        assert!(
            e.message.contains("outside http://127.0.0.1"),
            "{}",
            e.message
        );
        assert_eq!(seen.lock().unwrap().len(), 1);
    }

    /// A create answered 502 may have been done: sent once. A rate limit refused it
    /// unprocessed: sent again after the asked wait. A GET answered 502 is retried.
    #[test]
    fn a_create_is_sent_again_only_after_a_rate_limit() {
        let (url, seen) = fake(|_, _, _| (502, Vec::new(), r#"{"message":"Server Error"}"#.into()));
        let c = client(&url, Duration::from_secs(10));
        let e = c
            .send(
                http::Method::POST,
                "/deployments",
                &serde_json::json!({}),
                "create deployment",
                Replay::Creates,
            )
            .unwrap_err();
        assert!(e.message.contains("not sent again"), "{}", e.message);
        assert_eq!(seen.lock().unwrap().len(), 1);
        assert!(c.get("/commits/abc", "GET commit").is_err());
        assert!(seen.lock().unwrap().len() > 2, "a GET is retried");

        let (url, seen) = fake(|n, _, _| {
            if n == 0 {
                (
                    429,
                    vec![("retry-after", "1".to_string())],
                    r#"{"message":"rate limited"}"#.into(),
                )
            } else {
                (201, Vec::new(), r#"{"id":7}"#.into())
            }
        });
        let v = client(&url, Duration::from_secs(10))
            .send(
                http::Method::POST,
                "/deployments",
                &serde_json::json!({}),
                "create deployment",
                Replay::Creates,
            )
            .unwrap();
        assert_eq!(v["id"], 7);
        assert_eq!(seen.lock().unwrap().len(), 2);
    }

    /// A connection error names the service by scheme and host only, never the token.
    #[test]
    fn errors_name_scheme_and_host_only() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let e = client(
            &format!("http://user:PASSWORD@127.0.0.1:{port}/api/v3"),
            Duration::from_secs(3),
        )
        .get("/commits/abc", "GET commit abc")
        .unwrap_err();
        assert_eq!(e.exit, crate::error::Exit::Unavailable);
        assert!(
            e.message.contains("cannot connect (http://127.0.0.1): "),
            "{}",
            e.message
        );
        for leak in ["PASSWORD", "ghs_t0ken", &port.to_string()] {
            assert!(!e.message.contains(leak), "{leak} in {}", e.message);
        }
    }
}
