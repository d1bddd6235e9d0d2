//! `signatures` (`require_signed: true`): every commit carries a good signature. Locally
//! that is `%G?` = `G` against `gates.allowed_signers` (SSH) or `gates.gpg_keyring` (GPG);
//! with GitHub, `verification.verified`.
//! Forge merges count when GitHub verified them and they merged a pull request.
use super::committers::{forge_merge, good_signer};
use super::facts::OFFLINE;
use super::{plural, short_list, Check, Input};

pub fn check(input: &Input) -> Vec<Check> {
    if !input.gates.require_signed() {
        return Vec::new();
    }
    let local = input.facts.local_signatures.is_some();
    if !local && input.facts.github.is_none() {
        if input.offline {
            return vec![Check::skip(
                "signatures",
                format!("signatures not verified {OFFLINE}"),
            )];
        }
        return vec![Check::fail(
            "signatures",
            "require_signed is set but signatures cannot be verified: no gates.allowed_signers, no gates.gpg_keyring and no GitHub API",
        )
        .hint("add gates.allowed_signers (SSH) or gates.gpg_keyring (GPG): <file in the repository>, or run with GITHUB_REPOSITORY and GITHUB_TOKEN")];
    }
    let mut bad: Vec<(String, String)> = Vec::new();
    for c in input.commits {
        if good_signer(input, c).is_some() || forge_merge(input, c).is_some() {
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
        return vec![Check::pass(
            "signatures",
            format!(
                "all {} are signed {how}",
                plural(input.commits.len(), "commit")
            ),
        )];
    }
    let ids: Vec<String> = bad.iter().map(|(i, _)| i.clone()).collect();
    let mut out = vec![Check::fail(
        "signatures",
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
        Check::fail("signatures", format!("{}: {why}", &id[..7]))
            .commit(id.clone())
            .value(why.clone())
    }));
    out
}
