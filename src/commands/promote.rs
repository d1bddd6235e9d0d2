//! `gitops-gate promote --from qa --to staging`: shows what the promotion would change, then
//! opens or updates its pull request (or, `--offline`, prints the git commands).
use crate::ci::{Env, Secrets};
use crate::cli::PromoteArgs;
use crate::config::{self, POLICY_FILE};
use crate::error::{Exit, Failure};
use crate::promote::{self, github};
use crate::repo::{remote, Identity, Repo};

pub fn run(a: &PromoteArgs, env: &Env) -> anyhow::Result<Exit> {
    let repo = Repo::open(&a.repo)?;
    let at = repo
        .resolve("HEAD")
        .ok()
        .filter(|c| repo.entry_id(*c, POLICY_FILE).ok().flatten().is_some())
        .or_else(|| repo.branch_tip(&a.to))
        .ok_or_else(|| Failure::invalid(format!("no {POLICY_FILE} found")))?;
    let policy = config::parse_policy(
        POLICY_FILE,
        &repo.read_path(at, POLICY_FILE)?.unwrap_or_default(),
    )?;
    let (p, from_tip, to_tip) =
        promote::compute(&repo, &policy, &a.from, &a.to, a.service.as_deref())?;
    crate::outln!("{}", p.body());
    if p.changes.is_empty() {
        crate::outln!("nothing to promote");
        return Ok(Exit::Ok);
    }
    let mut head = p.from_branch.clone();
    if let Some(s) = &a.service {
        let c = &p.changes[0];
        let version = c.to.clone().unwrap_or_else(|| "removed".into());
        head = format!("promote/{}/{s}-{version}", p.to_branch);
        let path = format!("services/{s}.yaml");
        let content = repo.read_path(from_tip, &path)?;
        let who = Identity::new(
            "gitops-gate",
            "gitops-gate@localhost",
            chrono::Utc::now().timestamp(),
        );
        let msg = format!(
            "Promote {s} {} -> {version} to {}\n",
            c.from.as_deref().unwrap_or("-"),
            p.to_env
        );
        let oid = repo.commit_files(
            Some(&format!("refs/heads/{head}")),
            &[to_tip],
            &[(path.as_str(), content.as_deref())],
            &who,
            &who,
            &msg,
        )?;
        if !a.offline {
            // Replace the promotion branch only if nobody moved it since we looked.
            let refname = format!("refs/heads/{head}");
            let push = remote::remote_ref(&repo.dir(), &refname).and_then(|seen| {
                remote::push_ledger(&repo.dir(), &refname, &oid.to_string(), seen.as_deref())
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
    }
    if a.offline {
        crate::outln!("Offline: open the pull request by hand:");
        crate::outln!("  git push origin {head}");
        crate::outln!(
            "  # then open a pull request {head} -> {} titled {:?}",
            p.to_branch,
            p.title()
        );
        crate::outln!("or merge directly (the gate still judges the push):");
        crate::outln!("  git fetch origin {head} {}", p.to_branch);
        crate::outln!("  git checkout {}", p.to_branch);
        crate::outln!("  git merge --no-ff origin/{head}");
        crate::outln!("  git push origin {}", p.to_branch);
        return Ok(Exit::Ok);
    }
    let secrets = Secrets::from_env(env, &[]);
    let token = secrets.get("GITHUB_TOKEN").ok_or_else(|| {
        Failure::invalid("GITHUB_TOKEN is not set").hint("export GITHUB_TOKEN, or use --offline")
    })?;
    let slug = a
        .repo_slug
        .clone()
        .or_else(|| env.get("GITHUB_REPOSITORY").map(str::to_string))
        .filter(|s| s.split('/').count() == 2)
        .ok_or_else(|| {
            Failure::invalid("no repository: pass --repo-slug owner/name or set GITHUB_REPOSITORY")
        })?;
    let client = github::Client {
        api: env
            .get("GITHUB_API_URL")
            .unwrap_or("https://api.github.com")
            .to_string(),
        token: token.to_string(),
        slug,
    };
    match client.open_or_update(&head, &p.to_branch, &p.title(), &p.body())? {
        github::Outcome::Created(n, url) => crate::outln!("opened pull request #{n} {url}"),
        github::Outcome::Updated(n, url) => crate::outln!("updated pull request #{n} {url}"),
    }
    Ok(Exit::Ok)
}
