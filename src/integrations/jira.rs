//! JIRA (Cloud and Data Center) over REST v2: one issue lookup per distinct ticket key, a
//! bounded number in flight, and Jira Service Management approvals when the policy asks for
//! them. Credentials only from `Secrets`: `JIRA_EMAIL` + `JIRA_API_TOKEN` (Cloud, basic) or
//! `JIRA_PAT` (Data Center, bearer).
use super::retry::{self, Auth, Reply, Service};
use super::IntegrationError::{self, BadAnswer};
use crate::ci::Secrets;
use crate::error::Failure;
use crate::model::{Approvals, Ticket};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Requests in flight at once.
pub const CONCURRENCY: usize = 32;
const PAGE: u32 = 50;

pub struct Lookup<'a> {
    pub url: &'a str,
    pub keys: &'a [String],
    pub approvals: bool,
    /// With `approvals`: read them from this custom field of the issue (`customfield_10050`)
    /// instead of the Service Management approvals API.
    pub approval_field: Option<&'a str>,
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
    let client = retry::client()?;
    let found = super::fan_out(l.keys, CONCURRENCY, |key| {
        one(&client, &svc, base, key, l.approvals, l.approval_field).map(|t| (key.clone(), t))
    })?;
    let results: BTreeMap<String, Ticket> = found.into_iter().collect();
    if results.len() != l.keys.len() {
        return Err(Failure::unavailable(format!(
            "JIRA lookups incomplete: {} of {} tickets answered; failing closed",
            results.len(),
            l.keys.len()
        )));
    }
    Ok(results)
}

fn parse_issue(r: &Reply) -> Result<(), IntegrationError> {
    r.json::<Issue>().map(|_| ())
}

fn one(
    client: &reqwest::blocking::Client,
    svc: &Service,
    base: &str,
    key: &str,
    approvals: bool,
    approval_field: Option<&str>,
) -> Result<Ticket, Failure> {
    if !safe_key(key) {
        return Ok(Ticket::NotFound);
    }
    // The field id is checked by the policy (`[A-Za-z0-9_]+`); check again before it
    // reaches a URL.
    let field = match approval_field.filter(|_| approvals) {
        Some(f) if safe_key(f) => Some(f),
        Some(f) => {
            return Err(Failure::invalid(format!(
                "gates.jira.approval_field `{f}` is not a JIRA field id"
            )))
        }
        None => None,
    };
    let mut url = format!("{base}/rest/api/2/issue/{key}?fields=status,assignee,summary,issuetype");
    if let Some(f) = field {
        url.push(',');
        url.push_str(f);
    }
    let what = format!("GET issue {key}");
    let reply = retry::get_checked(client, svc, &url, &what, parse_issue)?;
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
    let raw: Value = reply
        .json()
        .map_err(|e| Failure::unavailable(format!("JIRA {what}: {e}")))?;
    let issue: Issue = serde_json::from_value(raw.clone())
        .map_err(|e| Failure::unavailable(format!("JIRA {what}: unreadable issue: {e}")))?;
    let approvals = match (approvals, field) {
        (false, _) => None,
        (true, Some(f)) => Some(field_approvals(&raw, key, f)?),
        (true, None) => Some(approvals_of(client, svc, base, key)?),
    };
    Ok(Ticket::Found {
        status: issue.fields.status.name,
        category: issue.fields.status.category.key,
        approvals,
    })
}

/// Approvals from the custom field `field` of the issue JSON. JIRA omits a field it does
/// not know (or that the issue's screens do not show); an empty field is `null`.
fn field_approvals(issue: &Value, key: &str, field: &str) -> Result<Approvals, Failure> {
    let Some(v) = issue.get("fields").and_then(|f| f.get(field)) else {
        return Err(Failure::invalid(format!(
            "JIRA returned no field `{field}` for {key}: gates.jira.approval_field names a field that does not exist or is not on {key}'s screens"
        ))
        .hint("find the field id with GET /rest/api/2/field (e.g. customfield_10050) and check the CI user can see it"));
    };
    count_field(v).map_err(|e| {
        Failure::invalid(format!(
            "JIRA field `{field}` of {key} holds no approvals: {e}"
        ))
        .hint("gates.jira.approval_field must be a Service Management Approvals field or a user picker")
    })
}

/// Counts one approvals field value: `null`/`[]` (none), a list of Jira Service Management
/// approval objects (each counts by `finalDecision`, else by its approvers' decisions), or
/// one user or a list of users (each distinct user is one approval).
pub fn count_field(v: &Value) -> Result<Approvals, IntegrationError> {
    let mut out = Approvals::default();
    let items: Vec<&Value> = match v {
        Value::Null => return Ok(out),
        Value::Array(a) => a.iter().collect(),
        Value::Object(_) => vec![v],
        other => {
            return Err(BadAnswer(format!(
                "a {} value, neither approvals nor users",
                kind(other)
            )))
        }
    };
    let mut users: Vec<String> = Vec::new();
    let mut approval_objects = 0usize;
    for item in &items {
        let Some(o) = item.as_object() else {
            return Err(BadAnswer(format!("a list holding a {}", kind(item))));
        };
        if o.contains_key("finalDecision") || o.contains_key("approvers") {
            approval_objects += 1;
            match decision(o) {
                "approved" => out.approved += 1,
                "declined" => out.declined += 1,
                _ => out.pending += 1,
            }
        } else if let Some(id) = ["accountId", "key", "name"]
            .iter()
            .find_map(|k| o.get(*k).and_then(Value::as_str))
        {
            if !users.iter().any(|u| u == id) {
                users.push(id.to_string());
            }
        } else {
            return Err(BadAnswer(
                "an object that is neither an approval nor a user".to_string(),
            ));
        }
    }
    if approval_objects > 0 && !users.is_empty() {
        return Err(BadAnswer("a mix of approvals and users".to_string()));
    }
    out.approved += users.len() as u32;
    Ok(out)
}

/// An approval object's decision: its `finalDecision`, else derived from its approvers
/// (any decline declines; all approved approves; anything else is pending).
fn decision(o: &serde_json::Map<String, Value>) -> &str {
    if let Some(d) = o.get("finalDecision").and_then(Value::as_str) {
        return d;
    }
    let decisions: Vec<&str> = o
        .get("approvers")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|x| {
                    x.get("approverDecision")
                        .and_then(Value::as_str)
                        .unwrap_or("pending")
                })
                .collect()
        })
        .unwrap_or_default();
    if decisions.contains(&"declined") {
        "declined"
    } else if !decisions.is_empty() && decisions.iter().all(|d| *d == "approved") {
        "approved"
    } else {
        "pending"
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "object",
    }
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
        let reply = retry::get_checked(client, svc, &url, &what, |r| {
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

#[cfg(test)]
mod tests {
    use super::count_field;
    use crate::model::Approvals;
    use serde_json::json;

    fn a(approved: u32, declined: u32, pending: u32) -> Approvals {
        Approvals {
            approved,
            declined,
            pending,
        }
    }

    #[test]
    fn counts_service_management_approval_objects() {
        let v = json!([
            {"id": "1", "finalDecision": "approved", "approvers": [{"approver": {"accountId": "a"}, "approverDecision": "approved"}]},
            {"id": "2", "finalDecision": "pending", "approvers": []},
            {"id": "3", "approvers": [{"approver": {"accountId": "b"}, "approverDecision": "declined"}]},
            {"id": "4", "approvers": [{"approver": {"accountId": "c"}, "approverDecision": "approved"}]}
        ]);
        assert_eq!(count_field(&v).unwrap(), a(2, 1, 1));
    }

    #[test]
    fn counts_distinct_users_of_a_user_picker() {
        let cloud = json!([{"accountId": "x1", "displayName": "A"}, {"accountId": "x2"}, {"accountId": "x1"}]);
        assert_eq!(count_field(&cloud).unwrap(), a(2, 0, 0));
        let dc = json!({"name": "jdoe", "key": "JIRAUSER10100", "displayName": "J"});
        assert_eq!(count_field(&dc).unwrap(), a(1, 0, 0));
        assert_eq!(count_field(&json!(null)).unwrap(), a(0, 0, 0));
        assert_eq!(count_field(&json!([])).unwrap(), a(0, 0, 0));
    }

    #[test]
    fn refuses_other_shapes() {
        assert!(count_field(&json!("approved")).is_err());
        assert!(count_field(&json!(3)).is_err());
        assert!(count_field(&json!([{"value": "Yes"}])).is_err());
        assert!(count_field(&json!([{"accountId": "x"}, {"finalDecision": "approved"}])).is_err());
    }
}
