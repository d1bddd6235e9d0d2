//! `jira` presence: every non-merge commit names a ticket of an allowed project. Whether the
//! ticket exists and allows the deploy is looked up by the JIRA integration; without one,
//! the check says so as a warning.
use super::facts::Ticket;
use super::Rule;
use super::{plural, short_list, Check, Input};
use regex::Regex;
use std::sync::OnceLock;

const NOT_TICKETS: &[&str] = &[
    "UTF", "SHA", "ISO", "RFC", "TLS", "SSL", "AES", "MD", "HTTP", "GHSA", "PEP", "IPV",
];

/// Ticket keys named in `text`, restricted to `projects` (all projects when empty).
/// `CVE-2024-1234`, `UTF-8` or `SHA-256` never count; Unicode word boundaries make
/// homoglyph prefixes (`АBC-1`, Cyrillic А) and zero-width joins fail to match. Issue
/// numbers have no leading zero and at most 9 digits (`OPS-01`, `OPS-1234567890` are no
/// keys): JIRA's issue numbers are far smaller, and a longer run of digits is an id of
/// something else.
pub fn ticket_keys(text: &str, projects: &[String]) -> Vec<String> {
    static RE: OnceLock<Regex> = OnceLock::new();
    let re = RE.get_or_init(|| {
        Regex::new(r"\b([A-Z][A-Z0-9_]{1,9})-([1-9][0-9]{0,8})\b").expect("static regex")
    });
    let mut out: Vec<String> = Vec::new();
    for m in re.captures_iter(text) {
        let project = &m[1];
        // CVE ids always; and, when no projects are configured, the usual non-ticket
        // prefixes (`UTF-8`, `SHA-256`, `ISO-8601`, `RFC-2119`, ...).
        if project == "CVE" || (projects.is_empty() && NOT_TICKETS.contains(&project)) {
            continue;
        }
        // `\b` also breaks at `-`, so `CVE-2024-1234` would yield `2024`-less pieces; also
        // refuse a key glued to a following `-digit` (the middle of a longer identifier).
        let end = m.get(0).map(|g| g.end()).unwrap_or(0);
        if text[end..].starts_with('-') && text[end + 1..].starts_with(|c: char| c.is_ascii_digit())
        {
            continue;
        }
        let start = m.get(0).map(|g| g.start()).unwrap_or(0);
        if text[..start].ends_with('-') {
            continue;
        }
        if !projects.is_empty() && !projects.iter().any(|p| p == project) {
            continue;
        }
        let key = format!("{}-{}", &m[1], &m[2]);
        if !out.contains(&key) {
            out.push(key);
        }
    }
    out
}

/// The tickets a range names: every key once, in order of first appearance, with the
/// commits naming it, and the non-merge commits that name none. One scan serves the rule,
/// the JIRA lookup and the plan's `tickets`.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Scan {
    /// Each key with every commit that names it.
    pub by_key: Vec<(String, Vec<String>)>,
    /// Non-merge commits that name no ticket.
    pub missing: Vec<String>,
    /// How many commits were read (merges are exempt).
    pub non_merge: usize,
}

impl Scan {
    pub fn keys(&self) -> Vec<String> {
        self.by_key.iter().map(|(k, _)| k.clone()).collect()
    }
}

/// Scans the messages of `commits` (merges exempt) for keys of `projects`.
pub fn scan(commits: &[crate::repo::CommitInfo], projects: &[String]) -> Scan {
    // Thousands of messages in a long range: scanned on every core, judged in order.
    use rayon::prelude::*;
    let non_merge: Vec<_> = commits.iter().filter(|c| !c.is_merge()).collect();
    let per_commit: Vec<Vec<String>> = non_merge
        .par_iter()
        .map(|c| ticket_keys(&c.message, projects))
        .collect();
    let mut out = Scan {
        non_merge: non_merge.len(),
        ..Scan::default()
    };
    let mut index: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for (c, found) in non_merge.iter().zip(per_commit) {
        if found.is_empty() {
            out.missing.push(c.id.clone());
        }
        for k in found {
            match index.get(&k) {
                Some(&i) => out.by_key[i].1.push(c.id.clone()),
                None => {
                    index.insert(k.clone(), out.by_key.len());
                    out.by_key.push((k, vec![c.id.clone()]));
                }
            }
        }
    }
    out
}

pub fn check(input: &Input) -> Vec<Check> {
    let Some(gate) = &input.gates.jira else {
        return Vec::new();
    };
    if !gate.required {
        return vec![Check::pass(
            Rule::Jira,
            "tickets are not required (gates.jira.required: false)",
        )];
    }
    let found = scan(input.commits, &gate.projects);
    if input.commits.is_empty() {
        return vec![Check::pass(Rule::Jira, "no commits: no tickets to check")];
    }
    if found.non_merge == 0 {
        return vec![Check::pass(
            Rule::Jira,
            "only merge commits, which need no ticket",
        )];
    }
    let projects = if gate.projects.is_empty() {
        "any project".to_string()
    } else {
        gate.projects.join(", ")
    };
    let mut checks = Vec::new();
    if !found.missing.is_empty() {
        let missing = &found.missing;
        checks.push(
            Check::fail(
                Rule::Jira,
                format!(
                    "{} of {} name no JIRA ticket of {projects}: {}",
                    missing.len(),
                    plural(found.non_merge, "commit"),
                    short_list(missing, 5)
                ),
            )
            .commit(missing[0].clone())
            .commits(missing.clone())
            .hint(format!(
                "name a ticket in each commit message, e.g. \"{}-123: ...\" (git commit --amend, or rebase with reword before pushing)",
                gate.projects.first().map(String::as_str).unwrap_or("OPS")
            )),
        );
    }
    // Every ticket that is named is still judged, so one run shows every problem.
    if found.by_key.is_empty() {
        return checks;
    }
    let keys = found.keys();
    let listed = if keys.len() > 10 {
        format!("{} and {} more", keys[..10].join(", "), keys.len() - 10)
    } else {
        keys.join(", ")
    };
    let named = if found.missing.is_empty() {
        format!("every commit names a ticket ({listed})")
    } else {
        format!("{} named ({listed})", plural(keys.len(), "ticket"))
    };
    if gate.verify() == crate::config::JiraVerify::Presence {
        if found.missing.is_empty() {
            checks.push(Check::pass(
                Rule::Jira,
                format!(
                    "{named}; presence only (gates.jira.verify: presence), not looked up in JIRA"
                ),
            ));
        }
        return checks;
    }
    if input.offline {
        checks.push(
            Check::skip(
                Rule::Jira,
                format!("{named}; status not looked up {}", super::facts::OFFLINE),
            )
            .offline(),
        );
        return checks;
    }
    if input.policy.integrations.jira.is_none() {
        // Gathering facts refuses this run first (exit 2); never a pass.
        checks.push(
            Check::fail(
                Rule::Jira,
                format!("{named}; not verified: gates.jira needs a lookup and no integrations.jira is configured"),
            )
            .hint(crate::config::JIRA_SETUP_HINT),
        );
        return checks;
    }
    let Some(tickets) = &input.facts.jira else {
        checks.push(
            Check::fail(
                Rule::Jira,
                format!("{named}; their status was not looked up"),
            )
            .hint("the JIRA lookup did not run; this is a bug in gathering facts"),
        );
        return checks;
    };
    checks.extend(judge(
        gate,
        found.by_key,
        tickets,
        input.facts.jira_error.as_deref(),
    ));
    checks
}

/// Each named ticket against what JIRA said of it. `lookup_error`: why JIRA could not be
/// asked, when the range was rejected for unticketed commits anyway.
fn judge(
    gate: &crate::config::JiraGate,
    by_key: Vec<(String, Vec<String>)>,
    tickets: &std::collections::BTreeMap<String, Ticket>,
    lookup_error: Option<&str>,
) -> Vec<Check> {
    let mut checks = Vec::new();
    let mut good = Vec::new();
    for (key, ids) in by_key {
        let first = ids[0].clone();
        let short = &first[..first.len().min(7)];
        let fail = |detail: String| {
            Check::fail(Rule::Jira, detail)
                .commit(first.clone())
                .commits(ids.clone())
                .value(key.clone())
        };
        let Some(ticket) = tickets.get(&key) else {
            checks.push(fail(match lookup_error {
                Some(why) => format!("{key} (named by {short}) was not looked up: {why}"),
                None => format!("{key} (named by {short}) was not looked up"),
            }));
            continue;
        };
        match allows(gate, ticket) {
            Ok(status) => good.push(format!("{key} is {status}")),
            Err(Refusal::NotFound) => checks.push(
                fail(format!(
                    "{key}, named by commit {short}, does not exist in JIRA"
                ))
                .hint("name an existing ticket (check for typos and look-alike characters)"),
            ),
            Err(Refusal::Status {
                status,
                category,
                allowed,
            }) => checks.push(
                fail(format!(
                    "{key} (commit {short}) is {status} ({category}); the deploy needs {allowed}"
                ))
                .limit(allowed.clone())
                .hint(format!("move {key} to {allowed} in JIRA, then re-run")),
            ),
            Err(Refusal::Declined(n)) => checks.push(
                fail(format!(
                    "{key} (commit {short}) has {n} declined approval(s)"
                ))
                .hint("a declined approval blocks the deploy; open a new approval"),
            ),
            Err(Refusal::Approvals {
                approved,
                need,
                pending,
            }) => checks.push(
                fail(format!(
                    "{key} (commit {short}) has {approved} of {need} required approvals ({pending} pending)"
                ))
                .limit(need.to_string())
                .hint(approval_hint(gate, &key)),
            ),
        }
    }
    if checks.is_empty() {
        let n = good.len();
        let mut text = good.iter().take(5).cloned().collect::<Vec<_>>().join(", ");
        if n > 5 {
            text = format!("{n} tickets allow the deploy: {text} and {} more", n - 5);
        }
        checks.push(Check::pass(Rule::Jira, text));
    }
    checks
}

/// Why a ticket does not allow a deploy under `gates.jira`'s status and approval rules.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Refusal {
    NotFound,
    /// Its status is not one the gate allows (`allowed` says which are, for people).
    Status {
        status: String,
        category: String,
        allowed: String,
    },
    /// This many approvals were declined.
    Declined(u32),
    Approvals {
        approved: u32,
        need: u32,
        pending: u32,
    },
}

/// Whether `ticket` allows a deploy under `gate`'s statuses (or status categories) and
/// approvals: its status name, or why not. The one judgement of a ticket, for the tickets
/// commits name and for a freeze override's ticket alike.
pub(crate) fn allows(gate: &crate::config::JiraGate, ticket: &Ticket) -> Result<String, Refusal> {
    let Ticket::Found {
        status,
        category,
        approvals,
    } = ticket
    else {
        return Err(Refusal::NotFound);
    };
    let categories = gate.status_categories();
    let status_ok = if gate.statuses.is_empty() {
        categories.iter().any(|c| c.eq_ignore_ascii_case(category))
    } else {
        gate.statuses.iter().any(|s| s.eq_ignore_ascii_case(status))
    };
    if !status_ok {
        let allowed = if gate.statuses.is_empty() {
            format!(
                "a status of the {} {}",
                categories.join(" or "),
                if categories.len() == 1 {
                    "category"
                } else {
                    "categories"
                }
            )
        } else {
            gate.statuses.join(" or ")
        };
        return Err(Refusal::Status {
            status: status.clone(),
            category: category.clone(),
            allowed,
        });
    }
    if let Some(need) = gate.approvals {
        let a = approvals.unwrap_or_default();
        if a.declined > 0 {
            return Err(Refusal::Declined(a.declined));
        }
        if a.approved < need {
            return Err(Refusal::Approvals {
                approved: a.approved,
                need,
                pending: a.pending,
            });
        }
    }
    Ok(status.clone())
}

/// Where `key` gets the approvals it lacks.
pub(crate) fn approval_hint(gate: &crate::config::JiraGate, key: &str) -> String {
    match &gate.approval_field {
        Some(f) => format!("get {key} approved (JIRA field {f})"),
        None => format!("get {key} approved in Jira Service Management"),
    }
}

#[cfg(test)]
mod tests {
    use super::ticket_keys;

    #[test]
    fn finds_only_real_keys_of_allowed_projects() {
        let p = vec!["OPS".to_string(), "PAY".to_string()];
        assert_eq!(ticket_keys("OPS-42: bump api", &p), vec!["OPS-42"]);
        assert_eq!(
            ticket_keys("fix (PAY-7), see OPS-42 and OPS-42", &p),
            vec!["PAY-7", "OPS-42"]
        );
        assert!(ticket_keys("UTF-8 and SHA-256 and CVE-2024-1234", &p).is_empty());
        assert!(ticket_keys("CVE-2024-1234", &[]).is_empty());
        assert!(
            ticket_keys("UTF-8 SHA-256", &[]).is_empty(),
            "encodings and digests are no tickets"
        );
        assert_eq!(
            ticket_keys("ABC-12", &[]),
            vec!["ABC-12"],
            "no projects: any other key counts"
        );
        assert!(ticket_keys("ABC-1", &p).is_empty());
        assert!(ticket_keys("OPS-0 OPS-01", &p).is_empty());
        assert!(ticket_keys("OPS-1234567890 OPS-0000000001", &p).is_empty());
        assert_eq!(ticket_keys("OPS-123456789", &p), vec!["OPS-123456789"]);
        assert!(ticket_keys("xOPS-1", &p).is_empty());
        // Cyrillic А before "BC" and a zero-width space inside the key.
        assert!(ticket_keys("\u{410}BC-1", &["ABC".into()]).is_empty());
        assert!(ticket_keys("ABC\u{200b}-1", &["ABC".into()]).is_empty());
        assert_eq!(ticket_keys("ABC-1", &["ABC".into()]), vec!["ABC-1"]);
    }
}
