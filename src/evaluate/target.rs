//! Which environment, branch and head commit a request judges: from the CI's push, the
//! flags, and the policy's mapping of branches to environments. A push that maps to nothing
//! (a tag, a feature branch in CI) ends here as an early skip.
use super::{parse_policy_at, Request};
use crate::ci::PushContext;
use crate::config::{ConfigErrors, Policy};
use crate::error::Failure;
use crate::model::CommitId;
use crate::plan::{self, Plan, PushSummary};
use crate::repo::Repo;

/// What the rest of the evaluation judges.
pub(super) struct Target {
    pub environment: String,
    /// The branch judged (`None` for a tag named with --env).
    pub branch: Option<String>,
    pub head: CommitId,
    /// The policy at the head (requested), when there is one.
    pub head_policy: Option<Result<Policy, ConfigErrors>>,
}

pub(super) enum Located {
    Judge(Box<Target>),
    /// Nothing to judge: the plan says why.
    Early(Box<Plan>),
}

/// The environment, branch and head; fills `push` with the branch and head.
pub(super) fn locate(
    repo: &Repo,
    req: &Request,
    push: &mut PushSummary,
) -> anyhow::Result<Located> {
    let ctx = &req.ctx;
    let policy_file = req.policy_path.as_str();
    let branch = match (&ctx.branch, &req.env) {
        (Some(b), _) => Some(b.clone()),
        // `--env` alone judges that environment's branch, whatever is checked out.
        (None, Some(e)) if ctx.tag.is_none() => Some(branch_of_environment(repo, e, policy_file)?),
        (None, _) if ctx.tag.is_none() => repo.current_branch(),
        (None, _) => None,
    };
    if let (Some(e), Some(b), true) = (&req.env, &ctx.branch, req.branch_flag) {
        // Both named by hand: they must agree, or the wrong branch is judged against the
        // environment's ledger.
        let own = branch_of_environment(repo, e, policy_file)?;
        if own != *b {
            return Err(Failure::invalid(format!(
                "--branch `{b}` is not the branch of environment `{e}`, which is `{own}`"
            ))
            .hint(format!(
                "pass only --env {e} (its branch is `{own}`), or only --branch {b}"
            ))
            .into());
        }
    }
    let head = head_of(repo, ctx, branch.as_deref())?;
    push.head = Some(head.to_string());
    push.branch = branch.clone();

    let head_policy = parse_policy_at(repo, head, policy_file)?;
    let environment = match (&req.env, &branch, &head_policy) {
        (Some(e), _, _) => e.clone(),
        (None, _, _) if ctx.tag.is_some() => {
            return Ok(Located::Early(Box::new(plan::early_skip(
                &format!(
                    "tag `{}` maps to no environment: tags do not deploy (pass --env to gate one)",
                    ctx.tag.as_deref().unwrap_or("")
                ),
                push.clone(),
                None,
            ))))
        }
        (None, None, _) => {
            return Err(Failure::invalid(
                "cannot tell which branch this push is for (detached HEAD)",
            )
            .hint("pass --env ENV (or --branch BRANCH)")
            .into())
        }
        (None, Some(_), None) => {
            return Err(Failure::invalid(format!(
                "{policy_file} is missing at {}",
                &head.to_string()[..7]
            ))
            .hint(format!(
                "{}, or pass --env",
                crate::config::missing_policy_hint(policy_file)
            ))
            .into())
        }
        (None, Some(_), Some(Err(e))) => return Err(e.clone().into()),
        (None, Some(b), Some(Ok(p))) => match p.environment_for_branch(b) {
            Some((name, _)) => name.to_string(),
            None if req.branch_flag => {
                return Err(p
                    .require_branch(b)
                    .err()
                    .map(anyhow::Error::new)
                    .unwrap_or_else(|| anyhow::anyhow!("branch `{b}`")))
            }
            None => {
                let known: Vec<String> = p
                    .environments
                    .iter()
                    .map(|(n, e)| format!("{} ({n})", e.branch))
                    .collect();
                // By hand, the checked-out branch was only a guess at what to judge.
                let by_hand = if ctx.ci == crate::ci::CiSystem::Local {
                    "; pass --env ENV to judge an environment's branch from here"
                } else {
                    ""
                };
                return Ok(Located::Early(Box::new(plan::early_skip(
                    &format!(
                        "branch `{b}` is no environment's branch ({}): nothing to deploy{by_hand}",
                        known.join(", ")
                    ),
                    push.clone(),
                    None,
                ))));
            }
        },
    };
    Ok(Located::Judge(Box::new(Target {
        environment,
        branch,
        head,
        head_policy,
    })))
}

/// The branch of environment `env`, from the policy at its ledger (what is deployed) or,
/// with none yet, at HEAD. An unknown name is an error with the names that exist.
fn branch_of_environment(repo: &Repo, env: &str, policy_file: &str) -> anyhow::Result<String> {
    let at = repo
        .ledger(env)
        .into_iter()
        .chain(repo.resolve("HEAD").ok());
    let mut policy = None;
    for commit in at {
        if let Some(Ok(p)) = parse_policy_at(repo, commit, policy_file)? {
            if let Some(e) = p.environment(env) {
                return Ok(e.branch.clone());
            }
            policy.get_or_insert(p);
        }
    }
    match policy {
        Some(p) => Err(p
            .require_environment(env)
            .err()
            .map(anyhow::Error::new)
            .unwrap_or_else(|| anyhow::anyhow!("`{env}`"))),
        // No readable policy anywhere: the environment's name is its branch, as `init` makes
        // them, and the evaluation says what is wrong with the policy.
        None => Ok(env.to_string()),
    }
}

/// The commit to judge: the CI's or `--head`, else the tip of the environment's branch (not
/// whatever is checked out), else HEAD. Run by hand, a head that is not on the
/// environment's branch is refused: deploying it would run what the branch does not hold.
fn head_of(repo: &Repo, ctx: &PushContext, branch: Option<&str>) -> anyhow::Result<CommitId> {
    let tip = branch.and_then(|b| repo.branch_tip(b));
    let Some(rev) = &ctx.head else {
        return match tip {
            Some(t) => Ok(t),
            None => Ok(repo.resolve("HEAD")?),
        };
    };
    let head = repo.resolve(rev)?;
    let by_hand = ctx.ci == crate::ci::CiSystem::Local && ctx.pull_request.is_none();
    if let (true, Some(tip), Some(b)) = (by_hand, tip, branch) {
        if !repo.is_ancestor(head, tip)? {
            return Err(Failure::invalid(format!(
                "{} ({rev}) is not on branch `{b}`, whose tip is {}",
                &head.to_string()[..7],
                &tip.to_string()[..7]
            ))
            .hint(format!(
                "deploy what the branch holds: commit or merge it onto `{b}` first, or pass a --head that is on `{b}`"
            ))
            .into());
        }
    }
    Ok(head)
}
