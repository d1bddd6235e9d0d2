//! `committers`: every commit's identity against the allowlist. Email entries match the
//! author and committer as RFC 5321 compares addresses: the domain case-insensitively, the
//! local part exactly (`Alice@example.com` is not `alice@example.com`, `alice@EXAMPLE.com`
//! is). `github:login` entries match the GitHub
//! accounts GitHub attributes the commit to (from its API, never from the email);
//! `signer:principal` entries match the principal of a good signature (`%GS` from the
//! allowed-signers file, the user-id email or the fingerprint of a key in the GPG keyring,
//! or the committer email GitHub bound to a verified signature). Forge merges are judged by
//! the pull request they merged: its commits outside the range (a squash merge's) must be
//! allowlisted too.
use super::facts::{is_forge_commit, PrCommit, OFFLINE};
use super::Rule;
use super::{plural, short_list, Check, Input};
use crate::repo::CommitInfo;

/// The principal of a good signature on `c`, when one is known.
pub(crate) fn good_signer(input: &Input, c: &CommitInfo) -> Option<String> {
    if let Some(local) = &input.facts.local_signatures {
        return local
            .get(&c.id)
            .filter(|s| s.status == 'G' && !s.signer.is_empty())
            .map(|s| s.signer.clone());
    }
    let g = input.facts.github.as_ref()?.commits.get(&c.id)?;
    g.verified.then(|| g.signer.clone()).flatten()
}

/// The OpenPGP fingerprints (signing key, primary key) of a good local signature on `c`.
pub(crate) fn good_fingerprints(input: &Input, c: &CommitInfo) -> Vec<String> {
    input
        .facts
        .local_signatures
        .as_ref()
        .and_then(|m| m.get(&c.id))
        .filter(|s| s.status == 'G')
        .map(|s| s.fingerprints.clone())
        .unwrap_or_default()
}

/// A forge merge GitHub itself vouches for (verified signature) and that merged a PR.
pub(crate) fn forge_merge(input: &Input, c: &CommitInfo) -> Option<u64> {
    if !is_forge_commit(&c.committer.name, &c.committer.email) {
        return None;
    }
    let g = input.facts.github.as_ref()?.commits.get(&c.id)?;
    if g.verified {
        g.merged_pr
    } else {
        None
    }
}

/// Every commit of the pull request forge merge `c` merged, as GitHub listed them.
pub(crate) fn merged_pr_commits<'a>(input: &'a Input, c: &CommitInfo) -> &'a [PrCommit] {
    input
        .facts
        .github
        .as_ref()
        .and_then(|g| g.commits.get(&c.id))
        .map(|f| f.merged_pr_commits.as_slice())
        .unwrap_or_default()
}

/// An address as RFC 5321 compares it: the local part as written (it is case-sensitive),
/// the domain in lower case (domains are not).
pub(crate) fn mailbox(email: &str) -> String {
    match email.rsplit_once('@') {
        Some((local, domain)) => format!("{local}@{}", domain.to_ascii_lowercase()),
        None => email.to_string(),
    }
}

/// Identities listed one per row; the plan's first committers check counts the rest.
const MAX_ROWS: usize = 20;

pub fn check(input: &Input) -> Vec<Check> {
    let list = input.gates.committers();
    if list.is_empty() {
        return vec![Check::pass(
            Rule::Committers,
            "no allowlist: anyone may deploy",
        )];
    }
    let lower = |p: &str| -> Vec<String> {
        list.iter()
            .filter_map(|e| e.strip_prefix(p))
            .map(|e| e.trim().to_lowercase())
            .collect()
    };
    let emails: Vec<String> = list
        .iter()
        .filter(|e| !e.contains(':'))
        .map(|e| mailbox(e.trim()))
        .collect();
    let logins = lower("github:");
    let signers = lower("signer:");
    let allowed = |e: &str| emails.contains(&mailbox(e));
    let login_ok = |l: &Option<String>| {
        l.as_ref()
            .is_some_and(|l| logins.contains(&l.to_lowercase()))
    };
    let have_github = input.facts.github.is_some();
    let have_signatures = input.facts.local_signatures.is_some() || have_github;
    let mut bad: Vec<(String, String)> = Vec::new();
    let mut unverifiable: Vec<String> = Vec::new();
    let in_range: std::collections::HashSet<&str> =
        input.commits.iter().map(|c| c.id.as_str()).collect();
    // A commit of a merged pull request that is not in the range (a squash merge's
    // originals), judged on what GitHub says of it.
    let pr_commit_ok = |p: &PrCommit| {
        if p.signer
            .as_ref()
            .is_some_and(|s| signers.contains(&s.to_lowercase()))
        {
            return true;
        }
        let author_ok = allowed(&p.author_email) || login_ok(&p.author_login);
        let committer_ok = allowed(&p.committer_email)
            || login_ok(&p.committer_login)
            || (p.committer_email == p.author_email && author_ok);
        author_ok && committer_ok
    };
    for c in input.commits {
        if let Some(n) = forge_merge(input, c) {
            let outside: Vec<&PrCommit> = merged_pr_commits(input, c)
                .iter()
                .filter(|p| !in_range.contains(p.sha.as_str()) && !pr_commit_ok(p))
                .collect();
            if let Some(p) = outside.first() {
                let login = p
                    .author_login
                    .as_ref()
                    .map(|l| format!(" (GitHub {l})"))
                    .unwrap_or_default();
                // As for range commits: with signer: entries, say whose signature it bears.
                let signer = match (&p.signer, signers.is_empty()) {
                    (_, true) => String::new(),
                    (Some(s), false) => format!(", signer {s}"),
                    (None, false) => format!(
                        ", no good signature by an allowed signer (GitHub: {})",
                        p.reason
                    ),
                };
                bad.push((
                    c.id.clone(),
                    format!(
                        "merge of pull request #{n}, whose commit {} ({} of its commits outside the range by people not on the allowlist) is by author {} <{}>{login}, committer {} <{}>{signer}",
                        &p.sha[..p.sha.len().min(7)],
                        outside.len(),
                        p.author_name,
                        p.author_email,
                        p.committer_name,
                        p.committer_email
                    ),
                ));
            }
            continue;
        }
        if !signers.is_empty() {
            if let Some(s) = good_signer(input, c) {
                if signers.contains(&s.to_lowercase()) {
                    continue;
                }
            }
            if good_fingerprints(input, c).iter().any(|f| {
                signers
                    .iter()
                    .any(|e| e.replace(' ', "") == f.to_lowercase())
            }) {
                continue;
            }
        }
        let gh = input
            .facts
            .github
            .as_ref()
            .and_then(|g| g.commits.get(&c.id));
        let author_ok = allowed(&c.author.email) || gh.is_some_and(|g| login_ok(&g.author_login));
        let committer_ok = allowed(&c.committer.email)
            || gh.is_some_and(|g| login_ok(&g.committer_login))
            || (c.committer.email == c.author.email && author_ok);
        if author_ok && committer_ok {
            continue;
        }
        let could_verify =
            (!logins.is_empty() && !have_github) || (!signers.is_empty() && !have_signatures);
        if could_verify {
            unverifiable.push(c.id.clone());
            continue;
        }
        let mut who = Vec::new();
        let login = |l: Option<&String>| l.map(|l| format!(" (GitHub {l})")).unwrap_or_default();
        if !author_ok {
            who.push(format!(
                "author {} <{}>{}",
                c.author.name,
                c.author.email,
                login(gh.and_then(|g| g.author_login.as_ref()))
            ));
        }
        if !committer_ok && c.committer.email != c.author.email {
            who.push(format!(
                "committer {} <{}>{}",
                c.committer.name,
                c.committer.email,
                login(gh.and_then(|g| g.committer_login.as_ref()))
            ));
        }
        if !signers.is_empty() {
            match good_signer(input, c) {
                Some(s) => who.push(format!("signer {s}")),
                None => who.push("no good signature by an allowed signer".into()),
            }
        }
        bad.push((c.id.clone(), who.join(", ")));
    }
    let n = input.commits.len();
    let mut checks = Vec::new();
    if !unverifiable.is_empty() {
        let how = if input.offline {
            format!("not verified {OFFLINE}")
        } else {
            "cannot be verified: github: entries need the GitHub API (GITHUB_REPOSITORY and GITHUB_TOKEN), signer: entries need gates.allowed_signers, gates.gpg_keyring or GitHub".to_string()
        };
        let c = if input.offline {
            Check::skip
        } else {
            Check::fail
        };
        checks.push(
            c(
                Rule::Committers,
                format!(
                    "{} of {} match no allowlisted email and {how}: {}",
                    unverifiable.len(),
                    plural(n, "commit"),
                    short_list(&unverifiable, 5)
                ),
            )
            .commit(unverifiable[0].clone())
            .commits(unverifiable.clone())
            .hint("github: and signer: entries are judged with the GitHub API or signatures"),
        );
        if input.offline {
            if let Some(c) = checks.last_mut() {
                c.offline = true;
            }
        }
    }
    if bad.is_empty() {
        if checks.is_empty() {
            checks.push(Check::pass(
                Rule::Committers,
                if n == 0 {
                    "no commits: nobody to check against the allowlist".to_string()
                } else {
                    format!("all {} are by allowlisted people", plural(n, "commit"))
                },
            ));
        }
        return checks;
    }
    let ids: Vec<String> = bad.iter().map(|(id, _)| id.clone()).collect();
    // One row per identity, with how many commits it made: a long push by one person is one
    // finding, not hundreds.
    let mut groups: Vec<(&str, Vec<String>)> = Vec::new();
    let mut index: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for (id, who) in &bad {
        match index.get(who.as_str()) {
            Some(&i) => groups[i].1.push(id.clone()),
            None => {
                index.insert(who, groups.len());
                groups.push((who, vec![id.clone()]));
            }
        }
    }
    let people = plural(groups.len(), "identity").replace("identitys", "identities");
    let shown = if groups.len() > MAX_ROWS {
        format!("; {MAX_ROWS} of {} shown", groups.len())
    } else {
        String::new()
    };
    checks.push(Check::fail(
        Rule::Committers,
        format!(
            "{} of {} are by {people} not on the allowlist{shown}: {}",
            bad.len(),
            plural(n, "commit"),
            short_list(&ids, 5)
        ),
    )
    .commit(ids[0].clone())
    .value(groups[0].0.to_string())
    .commits(ids)
    .hint("only gates.committers may deploy; ask one of them to push, or add the person to the allowlist"));
    checks.extend(groups.iter().take(MAX_ROWS).map(|(who, ids)| {
        Check::fail(
            Rule::Committers,
            format!(
                "{who}: {} ({})",
                plural(ids.len(), "commit"),
                short_list(ids, 3)
            ),
        )
        .commit(ids[0].clone())
        .commits(ids.clone())
        .value(who.to_string())
    }));
    checks
}

#[cfg(test)]
mod tests {
    use super::mailbox;

    #[test]
    fn the_domain_is_case_insensitive_and_the_local_part_is_not() {
        assert_eq!(mailbox("alice@EXAMPLE.Com"), "alice@example.com");
        assert_eq!(mailbox("Alice@example.com"), "Alice@example.com");
        assert_ne!(mailbox("Alice@example.com"), mailbox("alice@example.com"));
        assert_eq!(mailbox("a@b@Example.com"), "a@b@example.com");
    }
}
