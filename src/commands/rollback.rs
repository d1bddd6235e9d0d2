//! `gitops-gate rollback --env ENV [--to SHA]`: a commit on the environment's branch that
//! restores the `services/` descriptors of the last successful deploy (the ledger, or the
//! newest succeeded run record that is not the current head), or of `--to`. The commit then
//! goes through the gate like any other, and the run after a failed one redeploys every
//! service the failed run touched (see `evaluate::redeploy_unsettled`), so the cluster
//! converges on the restored descriptors.
use crate::cli::{Format, RollbackArgs};
use crate::config;
use crate::error::{Exit, Failure};
use crate::model::CommitId;
use crate::repo::{identity, notes::NOTES_REF, remote, Repo};
use crate::report::parse_note;
use std::collections::BTreeMap;

pub fn run(a: &RollbackArgs) -> anyhow::Result<Exit> {
    let repo = Repo::open(&a.repo)?;
    let policy = super::policy_for(&repo, Some(&a.env))?;
    let branch = policy.require_environment(&a.env)?.branch.clone();
    let local_ref = format!("refs/heads/{branch}");
    let tip = repo.ref_target(&local_ref).ok_or_else(|| {
        Failure::invalid(format!("branch {branch} does not exist here"))
            .hint(format!("fetch it: git fetch origin {branch}:{branch}"))
    })?;
    let (target, why) = match &a.to {
        Some(to) => (repo.resolve(to)?, format!("requested with --to {to}")),
        None => last_good(&repo, &a.env, tip)?,
    };
    let old = services(&repo, tip)?;
    let new = services(&repo, target)?;
    let mut files: Vec<(String, Option<Vec<u8>>)> = Vec::new();
    let mut restored = Vec::new();
    for path in old
        .keys()
        .chain(new.keys())
        .collect::<std::collections::BTreeSet<_>>()
    {
        let (o, n) = (old.get(path), new.get(path));
        if o.map(|x| &x.1) == n.map(|x| &x.1) {
            continue;
        }
        let ver = |x: Option<&(String, Vec<u8>)>| x.map(|x| x.0.clone());
        restored.push((path.clone(), ver(o), ver(n)));
        files.push((path.clone(), n.map(|x| x.1.clone())));
    }
    let short = |o: CommitId| o.to_string()[..7].to_string();
    if files.is_empty() {
        match a.format {
            Format::Json => crate::outln!(
                "{}",
                serde_json::json!({
                    "environment": a.env, "branch": branch, "commit": null,
                    "restores": target.to_string(), "services": [],
                    "pushed": false,
                })
            ),
            Format::Text => crate::outln!(
                "{branch} already has the descriptors of {}: nothing to roll back",
                short(target)
            ),
        }
        return Ok(Exit::Ok);
    }
    let reason = a
        .reason
        .clone()
        .unwrap_or_else(|| "the current state failed to deploy or misbehaves".into());
    let lines: Vec<String> = restored
        .iter()
        .map(|(p, o, n)| {
            format!(
                "- {p}: {} -> {}",
                o.as_deref().unwrap_or("absent"),
                n.as_deref().unwrap_or("absent")
            )
        })
        .collect();
    let ticket = a
        .ticket
        .as_deref()
        .map(|t| format!("{t}: "))
        .unwrap_or_default();
    let message = format!(
        "{ticket}Rollback {}: restore services/ of {}\n\nRestores the descriptors of {target} ({why}).\nReason: {reason}\n\n{}\n",
        a.env,
        short(target),
        lines.join("\n")
    );
    let (author, committer) = identity::of_git(
        &repo.dir(),
        a.author_name.as_deref(),
        a.author_email.as_deref(),
    )?;
    let checked_out = repo.checked_out_clean(&branch)?;
    let refs: Vec<(&str, Option<&[u8]>)> = files
        .iter()
        .map(|(p, c)| (p.as_str(), c.as_deref()))
        .collect();
    let oid = repo.commit_files(None, &[tip], &refs, &author, &committer, &message)?;
    if checked_out {
        repo.fast_forward_checked_out(&branch, oid)?;
    } else if repo
        .compare_and_swap(&local_ref, Some(tip), oid, "gitops-gate rollback")
        .is_err()
    {
        return Err(
            Failure::superseded(format!("{local_ref} moved while rolling back"))
                .hint("run the rollback again")
                .into(),
        );
    }
    if a.push {
        // Fast-forward only: the lease is the tip the rollback was written on.
        match remote::push_ledger(
            &repo.dir(),
            &local_ref,
            &oid.to_string(),
            Some(&tip.to_string()),
        ) {
            Ok(()) => {}
            Err(remote::PushError::Rejected(e)) => {
                return Err(Failure::superseded(format!(
                    "origin {branch} moved since {}: {e}",
                    short(tip)
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
    let next = format!("gitops-gate run --env {}", a.env);
    match a.format {
        Format::Json => crate::outln!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "environment": a.env,
                "branch": branch,
                "commit": oid.to_string(),
                "restores": target.to_string(),
                "why": why,
                "reason": reason,
                "ticket": a.ticket,
                "services": restored.iter().map(|(p, o, n)| serde_json::json!({"path": p, "from": o, "to": n})).collect::<Vec<_>>(),
                "pushed": a.push,
                "next": next,
            }))?
        ),
        Format::Text => {
            crate::outln!("{}", message.trim_end());
            crate::outln!(
                "\ncommitted {} on {branch}{}; deploy it like any commit:\n  {next}",
                short(oid),
                if a.push {
                    " and pushed it to origin"
                } else {
                    ""
                }
            );
        }
    }
    Ok(Exit::Ok)
}

/// The ledger when it differs from the tip, else the newest succeeded run record whose head
/// is not the tip.
fn last_good(repo: &Repo, env: &str, tip: CommitId) -> anyhow::Result<(CommitId, String)> {
    if let Some(l) = repo.ledger(env).filter(|l| *l != tip) {
        return Ok((
            l,
            format!("the last successful deploy, {}", Repo::ledger_ref(env)),
        ));
    }
    let mut best: Option<(chrono::DateTime<chrono::Utc>, CommitId)> = None;
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
fn services(repo: &Repo, commit: CommitId) -> anyhow::Result<BTreeMap<String, (String, Vec<u8>)>> {
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
