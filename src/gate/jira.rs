//! `jira` presence: every non-merge commit names a ticket of an allowed project. Whether the
//! ticket exists and allows the deploy is looked up by the JIRA integration; without one,
//! the check says so as a warning.
use super::facts::Ticket;
use super::{plural, short_list, Check, Input};
use regex::Regex;
use std::sync::OnceLock;

const NOT_TICKETS: &[&str] = &[
    "UTF", "SHA", "ISO", "RFC", "TLS", "SSL", "AES", "MD", "HTTP", "GHSA", "PEP", "IPV",
];

/// Ticket keys named in `text`, restricted to `projects` (all projects when empty).
/// `CVE-2024-1234`, `UTF-8` or `SHA-256` never count; Unicode word boundaries make
/// homoglyph prefixes (`АBC-1`, Cyrillic А) and zero-width joins fail to match.
pub fn ticket_keys(text: &str, projects: &[String]) -> Vec<String> {
    static RE: OnceLock<Regex> = OnceLock::new();
    let re = RE.get_or_init(|| {
        Regex::new(r"\b([A-Z][A-Z0-9_]{1,9})-([1-9][0-9]*)\b").expect("static regex")
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

pub fn check(input: &Input) -> Vec<Check> {
    let Some(gate) = &input.gates.jira else {
        return Vec::new();
    };
    if !gate.required {
        return vec![Check::pass(
            "jira",
            "tickets are not required (gates.jira.required: false)",
        )];
    }
    let mut missing = Vec::new();
    let mut keys: Vec<String> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let non_merge: Vec<_> = input.commits.iter().filter(|c| !c.is_merge()).collect();
    // Thousands of messages in a long range: scanned on every core, judged in order.
    use rayon::prelude::*;
    let per_commit: Vec<Vec<String>> = non_merge
        .par_iter()
        .map(|c| ticket_keys(&c.message, &gate.projects))
        .collect();
    for (c, found) in non_merge.iter().zip(per_commit) {
        if found.is_empty() {
            missing.push(c.id.clone());
        }
        for k in found {
            if seen.insert(k.clone()) {
                keys.push(k);
            }
        }
    }
    let projects = if gate.projects.is_empty() {
        "any project".to_string()
    } else {
        gate.projects.join(", ")
    };
    if !missing.is_empty() {
        return vec![Check::fail(
            "jira",
            format!(
                "{} of {} name no JIRA ticket of {projects}: {}",
                missing.len(),
                plural(non_merge.len(), "commit"),
                short_list(&missing, 5)
            ),
        )
        .commit(missing[0].clone())
        .commits(missing)
        .hint(format!(
            "name a ticket in each commit message, e.g. \"{}-123: ...\" (git commit --amend, or rebase with reword before pushing)",
            gate.projects.first().map(String::as_str).unwrap_or("OPS")
        ))];
    }
    let listed = if keys.len() > 10 {
        format!("{} and {} more", keys[..10].join(", "), keys.len() - 10)
    } else {
        keys.join(", ")
    };
    if input.policy.integrations.jira.is_none() {
        return vec![Check::warn(
            "jira",
            format!("every commit names a ticket ({listed}); not verified, no integrations.jira"),
        )
        .hint("configure integrations.jira so ticket status and approvals are checked")];
    }
    if input.offline {
        return vec![Check::skip(
            "jira",
            format!(
                "every commit names a ticket ({listed}); status not looked up {}",
                super::facts::OFFLINE
            ),
        )];
    }
    let Some(tickets) = &input.facts.jira else {
        return vec![Check::fail(
            "jira",
            format!("every commit names a ticket ({listed}); their status was not looked up"),
        )
        .hint("the JIRA lookup did not run; this is a bug in gathering facts")];
    };
    judge(input, gate, &non_merge, tickets)
}

fn judge(
    input: &Input,
    gate: &crate::config::JiraGate,
    commits: &[&crate::repo::CommitInfo],
    tickets: &std::collections::BTreeMap<String, Ticket>,
) -> Vec<Check> {
    let _ = input;
    let mut checks = Vec::new();
    let mut good = Vec::new();
    // Each ticket once, with every commit that names it.
    let mut by_key: Vec<(String, Vec<String>)> = Vec::new();
    for c in commits {
        for k in ticket_keys(&c.message, &gate.projects) {
            match by_key.iter_mut().find(|(key, _)| *key == k) {
                Some((_, ids)) => ids.push(c.id.clone()),
                None => by_key.push((k, vec![c.id.clone()])),
            }
        }
    }
    for (key, ids) in by_key {
        let first = ids[0].clone();
        let short = &first[..first.len().min(7)];
        let fail = |detail: String| {
            Check::fail("jira", detail)
                .commit(first.clone())
                .commits(ids.clone())
                .value(key.clone())
        };
        match tickets.get(&key) {
            None => checks.push(fail(format!("{key} (named by {short}) was not looked up"))),
            Some(Ticket::NotFound) => checks.push(
                fail(format!(
                    "{key}, named by commit {short}, does not exist in JIRA"
                ))
                .hint("name an existing ticket (check for typos and look-alike characters)"),
            ),
            Some(Ticket::Found {
                status,
                category,
                approvals,
            }) => {
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
                        gate.statuses.join(", ")
                    };
                    checks.push(
                        fail(format!(
                            "{key} (commit {short}) is {status} ({category}); the deploy needs {allowed}"
                        ))
                        .limit(allowed.clone())
                        .hint(format!("move {key} to {allowed} in JIRA, then re-run")),
                    );
                    continue;
                }
                if let Some(need) = gate.approvals {
                    let a = approvals.unwrap_or_default();
                    if a.declined > 0 {
                        checks.push(
                            fail(format!(
                                "{key} (commit {short}) has {} declined approval(s)",
                                a.declined
                            ))
                            .hint("a declined approval blocks the deploy; open a new approval"),
                        );
                        continue;
                    }
                    if a.approved < need {
                        checks.push(
                            fail(format!(
                                "{key} (commit {short}) has {} of {need} required approvals ({} pending)",
                                a.approved, a.pending
                            ))
                            .limit(need.to_string())
                            .hint(match &gate.approval_field {
                                Some(f) => format!("get {key} approved (JIRA field {f})"),
                                None => format!("get {key} approved in Jira Service Management"),
                            }),
                        );
                        continue;
                    }
                }
                good.push(format!("{key} is {status}"));
            }
        }
    }
    if checks.is_empty() {
        let n = good.len();
        let mut text = good.iter().take(5).cloned().collect::<Vec<_>>().join(", ");
        if n > 5 {
            text = format!("{n} tickets allow the deploy: {text} and {} more", n - 5);
        }
        checks.push(Check::pass("jira", text));
    }
    checks
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
        assert!(ticket_keys("xOPS-1", &p).is_empty());
        // Cyrillic А before "BC" and a zero-width space inside the key.
        assert!(ticket_keys("\u{410}BC-1", &["ABC".into()]).is_empty());
        assert!(ticket_keys("ABC\u{200b}-1", &["ABC".into()]).is_empty());
        assert_eq!(ticket_keys("ABC-1", &["ABC".into()]), vec!["ABC-1"]);
    }
}
