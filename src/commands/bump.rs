//! `gitops-gate bump SERVICE VERSION --env ENV`: sets one service's version on the
//! environment's branch (only that scalar changes) and commits it; `--push` pushes with a
//! lease and, when the branch moved, re-applies the edit on the new tip (bounded retries).
use crate::cli::BumpArgs;
use crate::config::{self, POLICY_FILE};
use crate::edit::version::{check_version, set_version};
use crate::error::{Exit, Failure};
use crate::gate::ticket_keys;
use crate::repo::{remote, Identity, Repo};
use anyhow::Context;
use git2::Oid;
use std::path::Path;

const MAX_PUSH_ATTEMPTS: usize = 3;

pub fn run(a: &BumpArgs) -> anyhow::Result<Exit> {
    check_version(&a.version)?;
    if let Some(t) = &a.ticket {
        if ticket_keys(t, &[]) != vec![t.clone()] {
            return Err(Failure::invalid(format!("`{t}` is not a JIRA key"))
                .hint("pass --ticket PROJECT-123")
                .into());
        }
    }
    let repo = Repo::open(&a.repo)?;
    let dir = repo.dir();
    let identity = identity(&dir, a)?;
    let policy = load_policy(&repo, a)?;
    let env = policy.environment(&a.env).ok_or_else(|| {
        let names: Vec<&str> = policy
            .environments
            .iter()
            .map(|(n, _)| n.as_str())
            .collect();
        Failure::invalid(format!("unknown environment `{}`", a.env))
            .hint(format!("environments: {}", names.join(", ")))
    })?;
    let branch = env.branch.clone();
    let local_ref = format!("refs/heads/{branch}");
    let checked_out = repo.current_branch().as_deref() == Some(branch.as_str());
    if checked_out {
        let out = remote::git(&dir, &["status", "--porcelain", "--untracked-files=no"])
            .context("cannot run git status")?;
        if !out.status.success() || !out.stdout.is_empty() {
            return Err(Failure::invalid(format!(
                "branch {branch} is checked out and has uncommitted changes"
            ))
            .hint("commit or stash them first (git status)")
            .into());
        }
    }
    for attempt in 1..=MAX_PUSH_ATTEMPTS {
        if a.push {
            let spec = format!("+refs/heads/{branch}:refs/remotes/origin/{branch}");
            remote::fetch(&dir, "origin", &[spec], false).map_err(|e| {
                Failure::unavailable(format!("cannot fetch {branch} from origin: {e:?}"))
            })?;
        }
        let base = if a.push {
            repo.ref_target(&format!("refs/remotes/origin/{branch}"))
        } else {
            repo.ref_target(&local_ref)
        }
        .ok_or_else(|| Failure::invalid(format!("branch {branch} does not exist")))?;
        let new = commit_bump(&repo, a, base, &identity)?;
        if !a.push {
            repo.set_ref(&local_ref, new, "gitops-gate bump")?;
            finish(&repo, &dir, checked_out, new, a, &branch)?;
            return Ok(Exit::Ok);
        }
        let lease = format!("--force-with-lease=refs/heads/{branch}:{base}");
        let refspec = format!("{new}:refs/heads/{branch}");
        let out = remote::git(&dir, &["push", "--porcelain", &lease, "origin", &refspec])
            .context("cannot run git push")?;
        if out.status.success() {
            let local = repo.ref_target(&local_ref);
            let ff = match local {
                None => true,
                Some(l) => repo.is_ancestor(l, new)?,
            };
            if ff {
                repo.set_ref(&local_ref, new, "gitops-gate bump")?;
                finish(&repo, &dir, checked_out, new, a, &branch)?;
            } else {
                log::warn!("local {branch} has diverged from origin; left as it is");
                println!("pushed {} to origin/{branch}", &new.to_string()[..7]);
            }
            return Ok(Exit::Ok);
        }
        let stderr = String::from_utf8_lossy(&out.stderr).to_string()
            + &String::from_utf8_lossy(&out.stdout);
        let moved = ["stale info", "non-fast-forward", "fetch first", "rejected"]
            .iter()
            .any(|m| stderr.contains(m));
        if !moved {
            return Err(Failure::unavailable(format!(
                "git push to origin failed: {}",
                stderr.trim()
            ))
            .into());
        }
        log::warn!("{branch} moved on origin (attempt {attempt}); re-applying the bump");
    }
    Err(Failure::unavailable(format!(
        "{branch} kept moving on origin: gave up after {MAX_PUSH_ATTEMPTS} attempts"
    ))
    .hint("run the bump again")
    .into())
}

fn load_policy(repo: &Repo, a: &BumpArgs) -> anyhow::Result<config::Policy> {
    let head = repo.resolve("HEAD").ok();
    let tip = head
        .into_iter()
        .chain(repo.branch_tip(&a.env))
        .find(|c| repo.entry_id(*c, POLICY_FILE).ok().flatten().is_some())
        .ok_or_else(|| Failure::invalid(format!("no {POLICY_FILE} at HEAD")))?;
    let bytes = repo.read_path(tip, POLICY_FILE)?.unwrap_or_default();
    Ok(config::parse_policy(POLICY_FILE, &bytes)?)
}

fn commit_bump(repo: &Repo, a: &BumpArgs, base: Oid, who: &Identity) -> anyhow::Result<Oid> {
    let path = format!("services/{}.yaml", a.service);
    let old = repo.read_path(base, &path)?.ok_or_else(|| {
        let known: Vec<String> = repo
            .service_entries(base)
            .map(|v| v.into_iter().map(|(p, _, _)| p).collect())
            .unwrap_or_default();
        Failure::invalid(format!("unknown service `{}`: no {path}", a.service))
            .hint(format!("known descriptors: {}", known.join(", ")))
    })?;
    let old_version = config::parse_descriptor(&path, &a.service, &old)
        .map(|d| d.version)
        .unwrap_or_else(|_| "?".into());
    let new = set_version(&path, &a.service, &old, &a.version)?;
    if new == old {
        return Err(Failure::invalid(format!(
            "{} is already at {} on this branch",
            a.service, a.version
        ))
        .into());
    }
    let mut subject = format!("bump {} {} -> {}", a.service, old_version, a.version);
    if let Some(t) = &a.ticket {
        subject = format!("{t}: {subject}");
    }
    let message = match &a.message {
        Some(m) => format!("{subject}\n\n{m}\n"),
        None => format!("{subject}\n"),
    };
    Ok(repo.commit_files(
        None,
        &[base],
        &[(path.as_str(), Some(new.as_slice()))],
        who,
        who,
        &message,
    )?)
}

fn finish(
    _repo: &Repo,
    dir: &Path,
    checked_out: bool,
    new: Oid,
    a: &BumpArgs,
    branch: &str,
) -> anyhow::Result<()> {
    if checked_out {
        // The tracked files were clean (checked above): bring them to the new commit.
        let out = remote::git(dir, &["reset", "--quiet", "--hard", &new.to_string()])
            .context("cannot run git reset")?;
        if !out.status.success() {
            log::warn!(
                "the work tree was not updated: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    println!(
        "{branch}: {} bumped to {} in {}",
        a.service,
        a.version,
        &new.to_string()[..7]
    );
    Ok(())
}

fn identity(dir: &Path, a: &BumpArgs) -> anyhow::Result<Identity> {
    let get = |key: &str| -> Option<String> {
        let out = remote::git(dir, &["config", "--get", key]).ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
            .filter(|s| !s.is_empty())
    };
    let name = a.author_name.clone().or_else(|| get("user.name"));
    let email = a.author_email.clone().or_else(|| get("user.email"));
    match (name, email) {
        (Some(n), Some(e)) => Ok(Identity::new(&n, &e, chrono::Utc::now().timestamp())),
        _ => Err(Failure::invalid("no committer identity")
            .hint("set git config user.name/user.email or pass --author-name/--author-email")
            .into()),
    }
}
