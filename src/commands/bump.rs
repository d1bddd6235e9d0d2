//! `gitops-gate bump SERVICE VERSION --env ENV`: set one service's version on an environment
//! branch as a commit (the nightly build's way in), keeping every other byte of the
//! descriptor, and optionally push it with a lease, rebasing its one commit on a race.
use crate::cli::{BumpArgs, Format};
use crate::config;
use crate::edit;
use crate::error::{Exit, Failure};
use crate::model::CommitId;
use crate::repo::remote::{self, PushError};
use crate::repo::{Identity, Repo};

/// How often a push that lost a race is rebased and tried again.
const PUSH_TRIES: usize = 3;

pub fn run(a: &BumpArgs) -> anyhow::Result<Exit> {
    let repo = Repo::open(&a.repo)?;
    edit::check_version(&a.version).map_err(|e| {
        Failure::invalid(format!("{e}; nothing committed")).hint(config::VERSION_HINT)
    })?;
    let branch = branch_of(&repo, &a.env)?;
    let path = format!("{}/{}.yaml", config::SERVICES_DIR, a.service);
    let who = identity(&repo, a)?;
    let message = match &a.ticket {
        Some(t) => format!(
            "{t}: {}",
            a.message.clone().unwrap_or_else(|| default_message(a))
        ),
        None => a.message.clone().unwrap_or_else(|| default_message(a)),
    };
    let checked_out = repo.checked_out_clean(&branch)?;
    let tip = repo.branch_tip(&branch).ok_or_else(|| {
        Failure::invalid(format!(
            "branch `{branch}` of environment `{}` does not exist",
            a.env
        ))
        .hint(format!("create it: git branch {branch}"))
    })?;
    let json = a.format == Format::Json;
    let report = |commit: Option<CommitId>, pushed: Option<CommitId>| -> anyhow::Result<()> {
        if json {
            crate::outln!(
                "{}",
                serde_json::to_string_pretty(&serde_json::json!({
                    "service": a.service,
                    "version": a.version,
                    "environment": a.env,
                    "branch": branch,
                    "commit": commit.map(|c| c.to_string()),
                    "pushed": pushed.map(|c| c.to_string()),
                }))?
            );
        }
        Ok(())
    };
    let Some(commit) = edit_commit(&repo, tip, &path, a, &who, &message)? else {
        if !json {
            crate::outln!(
                "{} is already at {} on {branch}: nothing to commit",
                a.service,
                a.version
            );
        }
        report(None, None)?;
        return Ok(Exit::Ok);
    };
    let local = format!("refs/heads/{branch}");
    if checked_out {
        repo.fast_forward_checked_out(&branch, commit)?;
    } else if repo
        .compare_and_swap(&local, repo.ref_target(&local), commit, "gitops-gate bump")
        .is_err()
    {
        return Err(Failure::superseded(format!("{local} moved while bumping"))
            .hint("bump again")
            .into());
    }
    if !json {
        let on = if branch == a.env {
            branch.clone()
        } else {
            format!("{branch} ({})", a.env)
        };
        crate::outln!(
            "{} -> {} on {on}: commit {}",
            a.service,
            a.version,
            &commit.to_string()[..7]
        );
    }
    let pushed = if a.push {
        push(&repo, &branch, tip, commit, &path, a, &who, &message)?
    } else {
        None
    };
    report(Some(commit), pushed)?;
    Ok(Exit::Ok)
}

/// Progress: stdout as text, stderr when stdout carries the JSON document.
fn say(a: &BumpArgs, line: String) {
    if a.format == Format::Json {
        crate::errln!("{line}");
    } else {
        crate::outln!("{line}");
    }
}

fn default_message(a: &BumpArgs) -> String {
    format!("bump {} to {} on {}", a.service, a.version, a.env)
}

/// The environment's branch, from the policy (at its ledger, else HEAD): a typo gets a
/// did-you-mean.
fn branch_of(repo: &Repo, env: &str) -> anyhow::Result<String> {
    let policy = super::policy_for(repo, Some(env))?;
    Ok(policy.require_environment(env)?.branch.clone())
}

/// Author and committer as `git commit` would take them; the flags replace the author.
fn identity(repo: &Repo, a: &BumpArgs) -> Result<Who, Failure> {
    crate::repo::identity::of_git(
        &repo.dir(),
        a.author_name.as_deref(),
        a.author_email.as_deref(),
    )
}

/// (author, committer).
type Who = (Identity, Identity);

/// The bump as a commit on top of `parent`, validated; `None` when nothing changes.
fn edit_commit(
    repo: &Repo,
    parent: CommitId,
    path: &str,
    a: &BumpArgs,
    who: &Who,
    message: &str,
) -> Result<Option<CommitId>, Failure> {
    let known = || -> String {
        repo.service_entries(parent)
            .map(|e| {
                e.iter()
                    .filter_map(|(p, _, _)| config::service_name_of(p).ok().map(str::to_string))
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default()
    };
    let old = repo.read_path(parent, path)?.ok_or_else(|| {
        Failure::invalid(format!(
            "no service `{}` ({path}) on this branch",
            a.service
        ))
        .hint(format!("services here: {}", known()))
    })?;
    let old =
        String::from_utf8(old).map_err(|_| Failure::invalid(format!("{path} is not UTF-8")))?;
    let new = edit::set_version(&old, &a.version)
        .map_err(|e| Failure::invalid(format!("{path}: {e}")))?;
    let parsed = config::parse_descriptor(path, &a.service, new.as_bytes())
        .map_err(|e| Failure::invalid(format!("the bumped descriptor does not validate: {e}")))?;
    if parsed.version != a.version {
        return Err(Failure::invalid(format!(
            "{path}: the edit reads back as version `{}`, not `{}`",
            parsed.version, a.version
        )));
    }
    if new == old {
        return Ok(None);
    }
    // Said before the gate says it: a lower version is a downgrade, which
    // gates.destructive.downgrade judges (warn by default).
    if let Ok(before) = config::parse_descriptor(path, &a.service, old.as_bytes()) {
        if crate::diff::compare_versions(&before.version, &a.version)
            == Some(std::cmp::Ordering::Greater)
        {
            crate::errln!(
                "note: {} {} -> {} is a downgrade; the gate judges it by gates.destructive.downgrade",
                a.service,
                before.version,
                a.version
            );
        }
    }
    repo.commit_files(
        None,
        &[parent],
        &[(path, Some(new.as_bytes()))],
        &who.0,
        &who.1,
        message,
    )
    .map(Some)
}

/// Pushes with a lease on the parent; on a lost race, fetches, re-applies the edit on the new
/// tip and tries again, a bounded number of times.
#[allow(clippy::too_many_arguments)]
fn push(
    repo: &Repo,
    branch: &str,
    mut parent: CommitId,
    mut commit: CommitId,
    path: &str,
    a: &BumpArgs,
    who: &Who,
    message: &str,
) -> Result<Option<CommitId>, Failure> {
    let refname = format!("refs/heads/{branch}");
    let tracking = format!("refs/remotes/origin/{branch}");
    for attempt in 1..=PUSH_TRIES {
        match remote::push_ledger(
            &repo.dir(),
            &refname,
            &commit.to_string(),
            Some(&parent.to_string()),
        ) {
            Ok(()) => {
                say(
                    a,
                    format!("pushed {} to origin {branch}", &commit.to_string()[..7]),
                );
                if attempt > 1 {
                    // The local branch still holds the first, unpushed commit.
                    if repo.current_branch().as_deref() == Some(branch) {
                        say(a, format!("hint: the bump was rebased on origin; run `git pull --rebase` on {branch}"));
                    } else {
                        repo.set_ref(&refname, commit, "gitops-gate bump: rebased")?;
                    }
                }
                return Ok(Some(commit));
            }
            Err(PushError::Unreachable(e)) => {
                return Err(Failure::unavailable(format!("cannot push to origin: {e}"))
                    .hint("the commit is on the local branch; push it when origin is reachable"))
            }
            Err(PushError::Rejected(e)) if attempt < PUSH_TRIES => {
                log::warn!("push rejected ({e}); rebasing the bump on origin/{branch}");
                let spec = format!("+{refname}:{tracking}");
                remote::fetch(&repo.dir(), "origin", &[spec], false).map_err(|e| {
                    Failure::unavailable(format!("cannot fetch origin/{branch}: {e:?}"))
                })?;
                parent = repo
                    .ref_target(&tracking)
                    .ok_or_else(|| Failure::invalid(format!("origin has no branch {branch}")))?;
                match edit_commit(repo, parent, path, a, who, message)? {
                    Some(c) => commit = c,
                    None => {
                        say(
                            a,
                            format!("origin {branch} already has {} {}", a.service, a.version),
                        );
                        return Ok(None);
                    }
                }
            }
            Err(PushError::Rejected(e)) => {
                return Err(Failure::superseded(format!(
                    "origin {branch} kept moving; gave up after {PUSH_TRIES} tries: {e}"
                ))
                .hint("bump again"))
            }
        }
    }
    Ok(None)
}
