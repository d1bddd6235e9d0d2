//! `gitops-gate promote --from qa --to staging`: shows what promoting what the lower
//! environment runs (its ledger) would change, then opens or updates its pull request (or,
//! `--offline`, prints the git commands).
use crate::ci::{Env, Secrets};
use crate::cli::{Format, PromoteArgs};
use crate::error::{Exit, Failure};
use crate::integrations::github::pulls as github;
use crate::promote;
use crate::repo::{identity, remote, Repo};

pub fn run(a: &PromoteArgs, env: &Env) -> anyhow::Result<Exit> {
    let repo = Repo::open(&a.repo)?;
    // The lower environment's ledger may live only on origin (a fresh clone).
    if !a.no_fetch {
        if let Err(remote::FetchError::Unreachable(e)) = repo.fetch_ledgers() {
            return Err(Failure::unavailable(format!(
                "cannot reach origin to read what {} runs: {e}",
                a.from
            ))
            .hint("retry when origin is reachable, or pass --no-fetch to use the local ledger refs")
            .into());
        }
    }
    // Whether GitHub can be asked, before anything is printed or committed.
    let client = if a.offline {
        None
    } else {
        let secrets = Secrets::from_env(env, &[]);
        if secrets.get("GITHUB_TOKEN").is_none() {
            return Err(Failure::invalid("GITHUB_TOKEN is not set: the pull request is opened through the GitHub API")
                .hint("export GITHUB_TOKEN and GITHUB_REPOSITORY=owner/name (or pass --repo-slug), or use --offline for the git commands")
                .into());
        }
        let slug = a
            .repo_slug
            .clone()
            .or_else(|| env.get("GITHUB_REPOSITORY").map(str::to_string))
            .filter(|s| s.split('/').count() == 2)
            .ok_or_else(|| {
                Failure::invalid(
                    "no repository: pass --repo-slug owner/name or set GITHUB_REPOSITORY",
                )
                .hint("or use --offline for the git commands")
            })?;
        Some((slug, secrets))
    };
    let policy = super::policy_for(&repo, Some(&a.to))?;
    policy.require_environment(&a.from)?;
    let (p, from_commit, to_tip) =
        promote::compute(&repo, &policy, &a.from, &a.to, a.service.as_deref())?;
    let text = a.format == Format::Text;
    if text {
        crate::outln!("{}", p.body());
    }
    if p.changes.is_empty() {
        if text {
            crate::outln!("nothing to promote");
        } else {
            print_json(&p, None, None)?;
        }
        return Ok(Exit::Ok);
    }
    let head = match &a.service {
        Some(s) => {
            // One service: a commit on the higher branch that takes its descriptor as the
            // lower environment runs it.
            let c = &p.changes[0];
            let version = c.to.clone().unwrap_or_else(|| "removed".into());
            let head = format!("promote/{}/{s}-{version}", p.to_branch);
            let path = format!("services/{s}.yaml");
            let content = repo.read_path(from_commit, &path)?;
            let (author, committer) = identity::of_git(&repo.dir(), None, None)?;
            let msg = format!(
                "Promote {s} {} -> {version} to {}\n",
                c.from.as_deref().unwrap_or("-"),
                p.to_env
            );
            let oid = repo.commit_files(
                Some(&format!("refs/heads/{head}")),
                &[to_tip],
                &[(path.as_str(), content.as_deref())],
                &author,
                &committer,
                &msg,
            )?;
            (head, oid)
        }
        None => (p.head_branch(), from_commit),
    };
    let (head, commit) = head;
    let own_branch = head != p.from_branch;
    if a.offline {
        if text {
            crate::outln!("Offline: open the pull request by hand:");
            if own_branch {
                crate::outln!("  git push origin {commit}:refs/heads/{head}");
            }
            crate::outln!(
                "  # {}open a pull request {head} -> {} titled {:?}",
                if own_branch { "then " } else { "" },
                p.to_branch,
                p.title()
            );
            crate::outln!("or merge directly (the gate still judges the push):");
            crate::outln!("  git checkout {}", p.to_branch);
            crate::outln!("  git merge --no-ff {commit}");
            crate::outln!("  git push origin {}", p.to_branch);
        } else {
            print_json(&p, Some(&head), None)?;
        }
        return Ok(Exit::Ok);
    }
    if own_branch {
        // Replace the promotion branch only if nobody moved it since we looked.
        let refname = format!("refs/heads/{head}");
        let push = remote::remote_ref(&repo.dir(), &refname).and_then(|seen| {
            if seen.as_deref() == Some(&commit.to_string()) {
                return Ok(());
            }
            remote::push_ledger(&repo.dir(), &refname, &commit.to_string(), seen.as_deref())
        });
        match push {
            Ok(()) => {}
            Err(remote::PushError::Rejected(e)) => {
                return Err(Failure::superseded(format!(
                    "{head} moved on origin while promoting: {e}"
                ))
                .hint("promote again")
                .into())
            }
            Err(remote::PushError::Unreachable(e)) => {
                return Err(
                    Failure::unavailable(format!("cannot push {head} to origin: {e}")).into(),
                )
            }
        }
    }
    let Some((slug, secrets)) = client else {
        return Ok(Exit::Ok);
    };
    let (title, body) = (p.title(), p.body());
    let outcome = github::open_or_update(
        env.get("GITHUB_API_URL"),
        &slug,
        &secrets,
        &github::Request {
            head: &head,
            base: &p.to_branch,
            title: &title,
            body: &body,
        },
    )?;
    if text {
        match &outcome {
            github::Outcome::Created(n, url) => crate::outln!("opened pull request #{n} {url}"),
            github::Outcome::Updated(n, url) => crate::outln!("updated pull request #{n} {url}"),
        }
    } else {
        print_json(&p, Some(&head), Some(&outcome))?;
    }
    Ok(Exit::Ok)
}

fn print_json(
    p: &promote::Promotion,
    head: Option<&str>,
    pr: Option<&github::Outcome>,
) -> anyhow::Result<()> {
    let pull_request = pr.map(|o| match o {
        github::Outcome::Created(n, url) => {
            serde_json::json!({"number": n, "url": url, "created": true})
        }
        github::Outcome::Updated(n, url) => {
            serde_json::json!({"number": n, "url": url, "created": false})
        }
    });
    crate::outln!(
        "{}",
        serde_json::to_string_pretty(&serde_json::json!({
            "from": p.from_branch,
            "to": p.to_branch,
            "environment": p.to_env,
            "commit": p.from_commit.to_string(),
            "head": head,
            "changes": p.changes,
            "tickets": p.tickets,
            "left_out": p.left_out.iter().map(|(sha, s)| serde_json::json!({"commit": sha, "summary": s})).collect::<Vec<_>>(),
            "pull_request": pull_request,
        }))?
    );
    Ok(())
}
