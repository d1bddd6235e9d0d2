//! `gitops-gate rollback --env ENV [--to SHA]`: a commit on the environment's branch that
//! restores the `services/` descriptors of the last successful deploy (the ledger, or the
//! newest succeeded run record that is not the current head), or of `--to`. The commit then
//! goes through the gate like any other: this command prints how to plan it.
use crate::cli::RollbackArgs;
use crate::config::{self, POLICY_FILE};
use crate::error::{Exit, Failure};
use crate::repo::{notes::NOTES_REF, remote, Identity, Repo};
use crate::report::parse_note;
use git2::Oid;
use std::collections::BTreeMap;

pub fn run(a: &RollbackArgs) -> anyhow::Result<Exit> {
    let repo = Repo::open(&a.repo)?;
    let head = repo.resolve("HEAD").ok();
    let policy_at = head
        .into_iter()
        .find(|c| repo.entry_id(*c, POLICY_FILE).ok().flatten().is_some())
        .or_else(|| repo.branch_tip(&a.env))
        .ok_or_else(|| Failure::invalid(format!("no {POLICY_FILE} found")))?;
    let bytes = repo.read_path(policy_at, POLICY_FILE)?.unwrap_or_default();
    let policy = config::parse_policy(POLICY_FILE, &bytes)?;
    let env = policy
        .environment(&a.env)
        .ok_or_else(|| Failure::invalid(format!("unknown environment `{}`", a.env)))?;
    let branch = env.branch.clone();
    let local_ref = format!("refs/heads/{branch}");
    let tip = repo
        .ref_target(&local_ref)
        .ok_or_else(|| Failure::invalid(format!("branch {branch} does not exist")))?;
    let (target, why) = match &a.to {
        Some(to) => (repo.resolve(to)?, format!("requested with --to {to}")),
        None => last_good(&repo, &a.env, tip)?,
    };
    let old = services(&repo, tip)?;
    let new = services(&repo, target)?;
    let mut files: Vec<(String, Option<Vec<u8>>)> = Vec::new();
    let mut lines = Vec::new();
    for path in old
        .keys()
        .chain(new.keys())
        .collect::<std::collections::BTreeSet<_>>()
    {
        let (o, n) = (old.get(path), new.get(path));
        if o.map(|x| &x.1) == n.map(|x| &x.1) {
            continue;
        }
        let ver = |x: Option<&(String, Vec<u8>)>| {
            x.map(|x| x.0.clone()).unwrap_or_else(|| "absent".into())
        };
        lines.push(format!("- {}: {} -> {}", path, ver(o), ver(n)));
        files.push((path.clone(), n.map(|x| x.1.clone())));
    }
    if files.is_empty() {
        crate::outln!(
            "{branch} already has the descriptors of {}: nothing to roll back",
            &target.to_string()[..7]
        );
        return Ok(Exit::Ok);
    }
    let short = &target.to_string()[..7];
    let reason = a
        .reason
        .clone()
        .unwrap_or_else(|| "the current state failed to deploy or misbehaves".into());
    let message = format!(
        "Rollback {}: restore services/ of {short}\n\nRestores the descriptors of {} ({why}).\nReason: {reason}\n\n{}\n",
        a.env,
        target,
        lines.join("\n")
    );
    let who = Identity::new(
        a.author_name.as_deref().unwrap_or("gitops-gate"),
        a.author_email.as_deref().unwrap_or("gitops-gate@localhost"),
        chrono::Utc::now().timestamp(),
    );
    let refs: Vec<(&str, Option<&[u8]>)> = files
        .iter()
        .map(|(p, c)| (p.as_str(), c.as_deref()))
        .collect();
    let oid = repo.commit_files(Some(&local_ref), &[tip], &refs, &who, &who, &message)?;
    if a.push {
        // Fast-forward only: the lease is the tip the rollback was written on.
        let refname = format!("refs/heads/{branch}");
        match remote::push_ledger(
            &repo.dir(),
            &refname,
            &oid.to_string(),
            Some(&tip.to_string()),
        ) {
            Ok(()) => crate::outln!("pushed {} to origin {branch}", &oid.to_string()[..7]),
            Err(remote::PushError::Rejected(e)) => {
                return Err(Failure::superseded(format!(
                    "origin {branch} moved since {}: {e}",
                    &tip.to_string()[..7]
                ))
                .hint("fetch, then run the rollback again on the new tip")
                .into())
            }
            Err(remote::PushError::Unreachable(e)) => return Err(Failure::unavailable(format!(
                "cannot push to origin: {e}"
            ))
            .hint("the rollback commit is on the local branch; push it when origin is reachable")
            .into()),
        }
    }
    crate::outln!("{}", message.trim_end());
    crate::outln!("\ncommitted {} on {branch}; gate it like any commit:\n  gitops-gate plan --env {} --branch {branch} --head {oid}", &oid.to_string()[..7], a.env);
    Ok(Exit::Ok)
}

/// The ledger when it differs from the tip, else the newest succeeded run record whose head
/// is not the tip.
fn last_good(repo: &Repo, env: &str, tip: Oid) -> anyhow::Result<(Oid, String)> {
    if let Some(l) = repo.ledger(env).filter(|l| *l != tip) {
        return Ok((
            l,
            format!("the last successful deploy, {}", Repo::ledger_ref(env)),
        ));
    }
    let mut best: Option<(chrono::DateTime<chrono::Utc>, Oid)> = None;
    for (_, text) in repo.notes(NOTES_REF)? {
        for r in parse_note(&text).0 {
            if r.environment != env || r.result.as_deref() != Some("succeeded") {
                continue;
            }
            let (Some(f), Some(h)) = (r.finished, repo.parse_oid(&r.head)) else {
                continue;
            };
            if h != tip && repo.has_commit(h) && best.is_none_or(|b| f > b.0) {
                best = Some((f, h));
            }
        }
    }
    best.map(|(_, h)| {
        (
            h,
            "the newest succeeded run record before the current head".to_string(),
        )
    })
    .ok_or_else(|| {
        Failure::invalid(format!("no earlier successful deploy of {env} is recorded"))
            .hint("pass --to SHA")
            .into()
    })
}

/// services/*.yaml at `commit`: path -> (version, bytes).
fn services(repo: &Repo, commit: Oid) -> anyhow::Result<BTreeMap<String, (String, Vec<u8>)>> {
    let mut out = BTreeMap::new();
    for (path, id, blob) in repo.service_entries(commit)? {
        if !blob {
            continue;
        }
        let bytes = repo.read_blob(id)?;
        let name = config::service_name_of(&path).unwrap_or("");
        let version = config::parse_descriptor(&path, name, &bytes)
            .map(|d| d.version)
            .unwrap_or_else(|_| "?".into());
        out.insert(path, (version, bytes));
    }
    Ok(out)
}
