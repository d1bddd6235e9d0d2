//! The built-in healthcheck: for each endpoint of each service, wait `initial_delay`, then up
//! to `retries` GETs every `interval`, each bounded by `timeout`; healthy on 2xx. Services
//! and endpoints are checked concurrently, one thread each, over one shared client.
use crate::config::Descriptor;
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct Target {
    pub service: String,
    pub urls: Vec<String>,
    pub retries: u32,
    pub interval: Duration,
    pub timeout: Duration,
    pub initial_delay: Duration,
}

#[derive(Debug, Clone)]
pub struct Outcome {
    pub service: String,
    pub healthy: bool,
    /// Attempts made, summed over endpoints.
    pub attempts: u32,
    pub detail: String,
    pub url: Option<String>,
}

/// The URLs to check: `<base><path>`, base `https://<domain>` unless `url_base` is given;
/// absolute endpoints are used as they are.
/// Why a service cannot be health-checked as its descriptor stands.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("services/{0}.yaml has no `healthcheck`: add endpoints, or drop healthcheck from the pipeline")]
    NoHealthcheck(String),
    #[error("services/{service}.yaml has no `domain` to check `{endpoint}` on: add one, or pass --url-base")]
    NoDomain { service: String, endpoint: String },
    #[error("services/{0}.yaml lists no healthcheck endpoints")]
    NoEndpoints(String),
}

pub fn target(d: &Descriptor, url_base: Option<&str>) -> Result<Target, TargetError> {
    let Some(h) = &d.healthcheck else {
        return Err(TargetError::NoHealthcheck(d.service.clone()));
    };
    let base = match (url_base, &d.domain) {
        (Some(b), _) => b.trim_end_matches('/').to_string(),
        (None, Some(dom)) => format!("https://{dom}"),
        (None, None) => String::new(),
    };
    let mut urls = Vec::new();
    for e in &h.endpoints {
        if e.starts_with("http://") || e.starts_with("https://") {
            urls.push(e.clone());
        } else if base.is_empty() {
            return Err(TargetError::NoDomain {
                service: d.service.clone(),
                endpoint: e.clone(),
            });
        } else {
            let sep = if e.starts_with('/') { "" } else { "/" };
            urls.push(format!("{base}{sep}{e}"));
        }
    }
    if urls.is_empty() {
        return Err(TargetError::NoEndpoints(d.service.clone()));
    }
    Ok(Target {
        service: d.service.clone(),
        urls,
        retries: h.retries.max(1),
        interval: h.interval.std(),
        timeout: h.timeout.std(),
        initial_delay: h.initial_delay.std(),
    })
}

/// Checks every target concurrently; the outcomes keep the targets' order.
pub fn check_all(targets: &[Target]) -> Vec<Outcome> {
    let client = match crate::integrations::client(Duration::from_secs(3600)) {
        Ok(c) => c,
        Err(e) => {
            return targets
                .iter()
                .map(|t| Outcome {
                    service: t.service.clone(),
                    healthy: false,
                    attempts: 0,
                    detail: format!("cannot build an HTTP client: {e}"),
                    url: None,
                })
                .collect()
        }
    };
    std::thread::scope(|s| {
        let handles: Vec<_> = targets
            .iter()
            .map(|t| {
                let endpoints: Vec<_> = t
                    .urls
                    .iter()
                    .map(|u| {
                        let client = client.clone();
                        s.spawn(move || endpoint(&client, t, u))
                    })
                    .collect();
                (t, endpoints)
            })
            .collect();
        handles
            .into_iter()
            .map(|(t, eps)| {
                let results: Vec<(bool, u32, String, String)> = eps
                    .into_iter()
                    .map(|h| {
                        h.join().unwrap_or((
                            false,
                            0,
                            String::new(),
                            "the check panicked".to_string(),
                        ))
                    })
                    .collect();
                let attempts = results.iter().map(|r| r.1).sum();
                let bad: Vec<&(bool, u32, String, String)> =
                    results.iter().filter(|r| !r.0).collect();
                Outcome {
                    service: t.service.clone(),
                    healthy: bad.is_empty(),
                    attempts,
                    detail: if bad.is_empty() {
                        format!("{} healthy", plural(t.urls.len()))
                    } else {
                        bad.iter()
                            .map(|r| format!("{}: {}", r.2, r.3))
                            .collect::<Vec<_>>()
                            .join("; ")
                    },
                    url: bad.first().map(|r| r.2.clone()).or(t.urls.first().cloned()),
                }
            })
            .collect()
    })
}

fn plural(n: usize) -> String {
    if n == 1 {
        "1 endpoint".into()
    } else {
        format!("{n} endpoints")
    }
}

/// One endpoint: (healthy, attempts, url, last status).
fn endpoint(
    client: &reqwest::blocking::Client,
    t: &Target,
    url: &str,
) -> (bool, u32, String, String) {
    let start = Instant::now();
    if !t.initial_delay.is_zero() {
        crate::errln!(
            "[healthcheck {}] {url}: waiting {:?} before the first attempt",
            t.service,
            t.initial_delay
        );
        std::thread::sleep(t.initial_delay);
    }
    let mut last = String::from("no attempt");
    for n in 1..=t.retries {
        let began = Instant::now();
        let r = client.get(url).timeout(t.timeout).send();
        last = match r {
            Ok(resp) if resp.status().is_success() => {
                crate::errln!(
                    "[healthcheck {}] {url}: attempt {n}/{}, {:.1}s, HTTP {} healthy",
                    t.service,
                    t.retries,
                    start.elapsed().as_secs_f64(),
                    resp.status().as_u16()
                );
                return (true, n, url.to_string(), format!("HTTP {}", resp.status()));
            }
            Ok(resp) => format!("HTTP {}", resp.status()),
            Err(e) if e.is_timeout() => format!("no answer within {:?}", t.timeout),
            Err(e) => crate::integrations::error_text(&e),
        };
        crate::errln!(
            "[healthcheck {}] {url}: attempt {n}/{}, {:.1}s, last: {last}",
            t.service,
            t.retries,
            start.elapsed().as_secs_f64()
        );
        if n < t.retries {
            std::thread::sleep(t.interval.saturating_sub(began.elapsed()));
        }
    }
    (
        false,
        t.retries,
        url.to_string(),
        format!(
            "not healthy after {} attempt{} (last: {last})",
            t.retries,
            if t.retries == 1 { "" } else { "s" }
        ),
    )
}
