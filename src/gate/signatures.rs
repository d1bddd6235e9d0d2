//! `signatures` (`require_signed: true`): every commit carries a good signature. Locally
//! that is `%G?` = `G` against `gates.allowed_signers` (SSH) or `gates.gpg_keyring` (GPG);
//! with GitHub, `verification.verified`.
//! Forge merges (committer `GitHub <noreply@github.com>`) are judged by the pull request
//! they merged: GitHub must have verified the merge itself, and every commit of the PR
//! that is not in the range (a squash merge's originals) must be verified by GitHub, as the
//! PR's commit list reports it (the list is checked complete, and a verification outage on
//! it is exit 4, by `integrations`). Commits of the PR that are in the range are judged in
//! their own right, like every range commit.
use super::committers::{forge_merge, good_signer, merged_pr_commits};
use super::facts::{PrCommit, OFFLINE};
use super::Rule;
use super::{plural, short_list, Check, Input};
use std::collections::HashSet;

pub fn check(input: &Input) -> Vec<Check> {
    if !input.gates.require_signed() {
        return Vec::new();
    }
    let local = input.facts.local_signatures.is_some();
    if !local && input.facts.github.is_none() {
        if input.offline {
            return vec![Check::skip(
                Rule::Signatures,
                format!("signatures not verified {OFFLINE}"),
            )
            .offline()];
        }
        return vec![Check::fail(
            Rule::Signatures,
            "require_signed is set but signatures cannot be verified: no gates.allowed_signers, no gates.gpg_keyring and no GitHub API",
        )
        .hint("add gates.allowed_signers (SSH) or gates.gpg_keyring (GPG): <file in the repository>, or run with GITHUB_REPOSITORY and GITHUB_TOKEN")];
    }
    let mut bad: Vec<(String, String)> = Vec::new();
    let in_range: HashSet<&str> = input.commits.iter().map(|c| c.id.as_str()).collect();
    for c in input.commits {
        // Before the commit's own signature: GitHub signs its merges, which says nothing
        // of what they merged.
        if let Some(n) = forge_merge(input, c) {
            let unverified: Vec<&PrCommit> = merged_pr_commits(input, c)
                .iter()
                .filter(|p| !in_range.contains(p.sha.as_str()) && !p.verified)
                .collect();
            if !unverified.is_empty() {
                bad.push((c.id.clone(), unverified_pr(n, &unverified)));
            }
            continue;
        }
        if good_signer(input, c).is_some() {
            continue;
        }
        let why = if let Some(l) = input
            .facts
            .local_signatures
            .as_ref()
            .and_then(|m| m.get(&c.id))
        {
            match l.status {
                'N' if input.gates.gpg_keyring.is_some() => {
                    "unsigned (or an X.509 signature: only SSH and GPG count locally)".to_string()
                }
                'N' => "unsigned (or not an SSH signature: only those count locally without gates.gpg_keyring)".to_string(),
                'U' => "signed by a key not in gates.allowed_signers (or not trusted)".to_string(),
                'E' => "signature cannot be checked: signed by a key not in gates.gpg_keyring, or not an SSH/GPG signature the policy covers".to_string(),
                'X' | 'Y' => "signed by an expired key (or an expired signature)".to_string(),
                'R' => "signed by a revoked key".to_string(),
                'B' => "bad signature".to_string(),
                s => format!("signature not good (%G? = {s})"),
            }
        } else if let Some(g) = input
            .facts
            .github
            .as_ref()
            .and_then(|g| g.commits.get(&c.id))
        {
            format!("not verified by GitHub ({})", g.reason)
        } else {
            "no signature status".to_string()
        };
        bad.push((c.id.clone(), why));
    }
    if bad.is_empty() {
        let how = if local {
            "by an allowed signer"
        } else {
            "verified by GitHub"
        };
        if input.commits.is_empty() {
            return vec![Check::pass(
                Rule::Signatures,
                "no commits: no signatures to check",
            )];
        }
        return vec![Check::pass(
            Rule::Signatures,
            format!(
                "all {} are signed {how}",
                plural(input.commits.len(), "commit")
            ),
        )];
    }
    let ids: Vec<String> = bad.iter().map(|(i, _)| i.clone()).collect();
    let mut out = vec![Check::fail(
        Rule::Signatures,
        format!(
            "{} of {} lack a good signature by an allowed signer: {}",
            bad.len(),
            plural(input.commits.len(), "commit"),
            short_list(&ids, 5)
        ),
    )
    .commit(bad[0].0.clone())
    .value(bad[0].1.clone())
    .commits(ids)
    .hint("sign each commit (git commit -S) with a key listed in gates.allowed_signers or gates.gpg_keyring")];
    out.extend(bad.iter().skip(1).take(20).map(|(id, why)| {
        Check::fail(Rule::Signatures, format!("{}: {why}", &id[..7]))
            .commit(id.clone())
            .value(why.clone())
    }));
    out
}

/// "merge of pull request #5, whose commits a1b2c3d (unsigned), ... are not verified by
/// GitHub (2 of its commits outside the range)".
fn unverified_pr(n: u64, unverified: &[&PrCommit]) -> String {
    let mut shown: Vec<String> = unverified
        .iter()
        .take(5)
        .map(|p| format!("{} ({})", &p.sha[..p.sha.len().min(7)], p.reason))
        .collect();
    if unverified.len() > 5 {
        shown.push(format!("and {} more", unverified.len() - 5));
    }
    let (whose, are) = if unverified.len() == 1 {
        ("commit", "is")
    } else {
        ("commits", "are")
    };
    format!(
        "merge of pull request #{n}, whose {whose} {} {are} not verified by GitHub ({} of its commits outside the range)",
        shown.join(", "),
        unverified.len()
    )
}
