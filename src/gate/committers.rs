//! `committers`: every commit's author and committer against the allowlist. Email entries
//! match exactly (case-insensitive). `github:` and `signer:` entries need verified identity
//! (GitHub's API or a signature), which this rule cannot see: commits that match no email
//! entry are then `skip`, pending that verification, never `pass`.
use super::{plural, short_list, Check, Input};

pub fn check(input: &Input) -> Vec<Check> {
    let list = input.gates.committers();
    if list.is_empty() {
        return vec![Check::pass("committers", "no allowlist: anyone may deploy")];
    }
    let emails: Vec<String> = list
        .iter()
        .filter(|e| !e.contains(':'))
        .map(|e| e.to_lowercase())
        .collect();
    let verified_entries = list.len() != emails.len();
    let allowed = |e: &str| emails.contains(&e.to_lowercase());
    let mut bad: Vec<(String, String)> = Vec::new();
    for c in input.commits {
        let mut who = Vec::new();
        if !allowed(&c.author.email) {
            who.push(format!("author {} <{}>", c.author.name, c.author.email));
        }
        if !allowed(&c.committer.email) && c.committer.email != c.author.email {
            who.push(format!(
                "committer {} <{}>",
                c.committer.name, c.committer.email
            ));
        }
        if !who.is_empty() {
            bad.push((c.id.clone(), who.join(", ")));
        }
    }
    let n = input.commits.len();
    if bad.is_empty() {
        return vec![Check::pass(
            "committers",
            format!(
                "all {} have allowlisted authors and committers",
                plural(n, "commit")
            ),
        )];
    }
    let ids: Vec<String> = bad.iter().map(|(id, _)| id.clone()).collect();
    let first = &bad[0];
    if verified_entries {
        return vec![Check::skip(
            "committers",
            format!(
                "{} of {} match no allowlisted email and await GitHub or signature verification: {}",
                bad.len(),
                plural(n, "commit"),
                short_list(&ids, 5)
            ),
        )
        .commits(ids)
        .hint("github: and signer: entries are judged with the GitHub API or signatures")];
    }
    let mut checks = vec![Check::fail(
        "committers",
        format!(
            "{} of {} are by people not on the allowlist: {}",
            bad.len(),
            plural(n, "commit"),
            short_list(&ids, 5)
        ),
    )
    .commit(first.0.clone())
    .value(first.1.clone())
    .commits(ids)
    .hint("only gates.committers may deploy; ask one of them to push, or add the person to the allowlist")];
    // One line per offending commit, so a person sees each identity.
    checks.extend(bad.iter().skip(1).take(20).map(|(id, who)| {
        Check::fail("committers", format!("{} by {who}", &id[..7]))
            .commit(id.clone())
            .value(who.clone())
    }));
    checks
}
