//! JIRA (Cloud and Data Center) over REST v2: one issue lookup per distinct ticket key, a
//! bounded number in flight, and Jira Service Management approvals when the policy asks for
//! them. Credentials only from `Secrets`: `JIRA_EMAIL` + `JIRA_API_TOKEN` (Cloud, basic) or
//! `JIRA_PAT` (Data Center, bearer).
use super::http_retry::{self, Auth, Reply, Service};
use crate::ci::Secrets;
use crate::error::Failure;
use crate::gate::facts::{Approvals, Ticket};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Requests in flight at once.
pub const CONCURRENCY: usize = 32;
const PAGE: u32 = 50;

pub struct Lookup<'a> {
    pub url: &'a str,
    pub keys: &'a [String],
    pub approvals: bool,
    pub timeout: Duration,
    pub secrets: &'a Secrets,
}

#[derive(Deserialize)]
struct Issue {
    fields: Fields,
}
#[derive(Deserialize)]
struct Fields {
    status: Status,
}
#[derive(Deserialize)]
struct Status {
    name: String,
    #[serde(rename = "statusCategory")]
    category: Category,
}
#[derive(Deserialize)]
struct Category {
    key: String,
}
#[derive(Deserialize)]
struct ApprovalPage {
    #[serde(default)]
    values: Vec<Approval>,
    #[serde(rename = "isLastPage")]
    is_last_page: bool,
    #[serde(default)]
    size: Option<u32>,
}
#[derive(Deserialize)]
struct Approval {
    #[serde(rename = "finalDecision")]
    final_decision: String,
}

fn auth(secrets: &Secrets) -> Result<Auth, Failure> {
    if let Some(pat) = secrets.get("JIRA_PAT") {
        return Ok(Auth::Bearer(pat.to_string()));
    }
    match (secrets.get("JIRA_EMAIL"), secrets.get("JIRA_API_TOKEN")) {
        (Some(u), Some(p)) => Ok(Auth::Basic {
            user: u.to_string(),
            password: p.to_string(),
        }),
        _ => Err(Failure::unavailable(
            "no JIRA credentials: set JIRA_EMAIL and JIRA_API_TOKEN (Cloud) or JIRA_PAT (Data Center)",
        )
        .hint("check JIRA credentials: export them in the CI job's environment")),
    }
}

/// A ticket key is ASCII by construction (`gate::ticket_keys`); refuse anything else before
/// it reaches a URL.
fn safe_key(k: &str) -> bool {
    !k.is_empty()
        && k.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Looks every key up; any failure to learn a ticket's state stops the run (exit 4).
pub fn lookup(l: &Lookup) -> Result<BTreeMap<String, Ticket>, Failure> {
    let svc = Service {
        name: "JIRA",
        credentials_hint: "check JIRA credentials (JIRA_EMAIL + JIRA_API_TOKEN, or JIRA_PAT) and their access to the projects",
        auth: auth(l.secrets)?,
        secrets: l.secrets.clone(),
        deadline: Instant::now() + l.timeout,
        headers: vec![("X-ExperimentalApi", "opt-in".to_string())],
    };
    let base = l.url.trim_end_matches('/');
    let client = http_retry::client()?;
    let next = AtomicUsize::new(0);
    let results: Mutex<BTreeMap<String, Ticket>> = Mutex::new(BTreeMap::new());
    let first_error: Mutex<Option<Failure>> = Mutex::new(None);
    let workers = CONCURRENCY.min(l.keys.len()).max(1);
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                if first_error.lock().map(|e| e.is_some()).unwrap_or(true) {
                    return;
                }
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(key) = l.keys.get(i) else { return };
                match one(&client, &svc, base, key, l.approvals) {
                    Ok(t) => {
                        if let Ok(mut r) = results.lock() {
                            r.insert(key.clone(), t);
                        }
                    }
                    Err(e) => {
                        if let Ok(mut f) = first_error.lock() {
                            f.get_or_insert(e);
                        }
                        return;
                    }
                }
            });
        }
    });
    if let Some(e) = first_error.into_inner().ok().flatten() {
        return Err(e);
    }
    let results = results
        .into_inner()
        .map_err(|_| Failure::unavailable("a JIRA lookup thread panicked; failing closed"))?;
    if results.len() != l.keys.len() {
        return Err(Failure::unavailable(format!(
            "JIRA lookups incomplete: {} of {} tickets answered; failing closed",
            results.len(),
            l.keys.len()
        )));
    }
    Ok(results)
}

fn parse_issue(r: &Reply) -> Result<(), String> {
    r.json::<Issue>().map(|_| ())
}

fn one(
    client: &reqwest::blocking::Client,
    svc: &Service,
    base: &str,
    key: &str,
    approvals: bool,
) -> Result<Ticket, Failure> {
    if !safe_key(key) {
        return Ok(Ticket::NotFound);
    }
    let url = format!("{base}/rest/api/2/issue/{key}?fields=status,assignee,summary,issuetype");
    let what = format!("GET issue {key}");
    let reply = http_retry::get_checked(client, svc, &url, &what, parse_issue)?;
    match reply.status {
        200..=299 => {}
        404 => return Ok(Ticket::NotFound),
        s => {
            return Err(Failure::unavailable(format!(
                "JIRA answered HTTP {s} to {what}; failing closed"
            ))
            .hint("check integrations.jira.url and the ticket key"))
        }
    }
    let issue: Issue = reply
        .json()
        .map_err(|e| Failure::unavailable(format!("JIRA {what}: {e}")))?;
    let approvals = if approvals {
        Some(approvals_of(client, svc, base, key)?)
    } else {
        None
    };
    Ok(Ticket::Found {
        status: issue.fields.status.name,
        category: issue.fields.status.category.key,
        approvals,
    })
}

fn approvals_of(
    client: &reqwest::blocking::Client,
    svc: &Service,
    base: &str,
    key: &str,
) -> Result<Approvals, Failure> {
    let mut out = Approvals::default();
    let mut start = 0u32;
    for _page in 0..1000 {
        let url =
            format!("{base}/rest/servicedeskapi/request/{key}/approval?start={start}&limit={PAGE}");
        let what = format!("GET approvals of {key} (start={start})");
        let reply = http_retry::get_checked(client, svc, &url, &what, |r| {
            r.json::<ApprovalPage>().map(|_| ())
        })?;
        match reply.status {
            200..=299 => {}
            404 => {
                return Err(Failure::unavailable(format!(
                    "JIRA has no service-desk request {key}: its approvals cannot be read; failing closed"
                ))
                .hint("gates.jira.approvals needs Jira Service Management tickets; remove it for plain JIRA projects"))
            }
            s => {
                return Err(Failure::unavailable(format!(
                    "JIRA answered HTTP {s} to {what}; failing closed"
                )))
            }
        }
        let page: ApprovalPage = reply
            .json()
            .map_err(|e| Failure::unavailable(format!("JIRA {what}: {e}")))?;
        let n = page.values.len() as u32;
        if page.size.is_some_and(|s| s != n) {
            return Err(Failure::unavailable(format!(
                "JIRA {what}: page says size {} but holds {n} approvals; failing closed",
                page.size.unwrap_or(0)
            )));
        }
        for a in &page.values {
            match a.final_decision.as_str() {
                "approved" => out.approved += 1,
                "declined" => out.declined += 1,
                _ => out.pending += 1,
            }
        }
        if page.is_last_page {
            return Ok(out);
        }
        if n == 0 {
            return Err(Failure::unavailable(format!(
                "JIRA {what}: an empty page that is not the last; failing closed"
            )));
        }
        start += n;
    }
    Err(Failure::unavailable(format!(
        "JIRA approvals of {key}: too many pages; failing closed"
    )))
}
