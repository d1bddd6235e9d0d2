//! One module per subcommand: each turns parsed arguments into a request, calls the stages,
//! prints, and returns the exit code.
pub mod bump;
pub mod demo;
pub mod diff;
pub mod healthcheck;
pub mod init;
pub mod plan;
pub mod promote;
pub mod report;
pub mod rollback;
pub mod run;
pub mod schema;
pub mod status;
pub mod validate;

use crate::ci::{self, Env};
use crate::cli::Common;
use crate::evaluate::Request;

/// The evaluation request every gating command (plan, diff, run) builds from the same flags
/// and CI context.
pub fn request(common: &Common, env: &Env) -> anyhow::Result<Request> {
    request_with(common, env, &common.overrides())
}

/// The same, with the flags already overridden (by a saved plan, for `run --plan`).
pub fn request_with(
    common: &Common,
    env: &Env,
    overrides: &ci::Overrides,
) -> anyhow::Result<Request> {
    let ctx = ci::detect(env, overrides)?;
    let clock = clock(common, env, &ctx)?;
    Ok(Request {
        repo: common.repo.clone(),
        fetch: common.fetch(&ctx),
        refresh: !common.no_fetch,
        ctx,
        env: overrides.env.clone(),
        base: common.base.clone(),
        bootstrap: common.bootstrap,
        offline: common.offline,
        terraform_plans: common.terraform_plan.clone(),
        policy_path: common.policy.clone(),
        branch_flag: overrides.branch.is_some(),
        vars: env.clone(),
        secrets: ci::Secrets::from_env(env, &[]),
        texts: false,
        clock,
        freeze_override: common.freeze_override.clone(),
    })
}

/// Variables a CI system sets in every job, for the systems gitops-gate does not read the
/// push from: `--now` is refused where any is set, as it is for any non-empty `CI` but
/// `false`/`0`.
const CI_MARKERS: &[&str] = &[
    "GITHUB_ACTIONS",
    "GITLAB_CI",
    "JENKINS_URL",
    "TF_BUILD",
    "TEAMCITY_VERSION",
    "BUILDKITE",
    "CIRCLECI",
    "BITBUCKET_BUILD_NUMBER",
    "DRONE",
    "TRAVIS",
    "CODEBUILD_BUILD_ID",
];

/// The evaluation time: `--now` when given, else the system clock. `--now` is refused
/// under CI (a CI system detected, `CI` set to anything but `false`/`0`, or a CI system's own
/// marker): a pipeline that could pick its own time could step out of a freeze or through a
/// soak.
fn clock(common: &Common, env: &Env, ctx: &ci::PushContext) -> anyhow::Result<crate::clock::Clock> {
    let Some(value) = &common.now else {
        return Ok(crate::clock::Clock::system());
    };
    let marker = CI_MARKERS
        .iter()
        .find(|k| env.get(k).is_some_and(|v| !v.is_empty()));
    let ci_set = env
        .get("CI")
        .is_some_and(|v| !v.trim().is_empty() && !matches!(v.trim(), "false" | "0"));
    if ctx.ci != ci::CiSystem::Local || ci_set || marker.is_some() {
        let system = if ctx.ci != ci::CiSystem::Local {
            format!("running in {}", ctx.ci.name())
        } else if let Some(k) = marker {
            format!("{k} is set")
        } else {
            "CI is set".to_string()
        };
        return Err(crate::error::Failure::invalid(format!(
            "--now is refused under CI ({system}): the gate judges freeze windows and soak times at the real time there"
        ))
        .hint("use --now only on a workstation, to rehearse a decision; in CI leave it out")
        .into());
    }
    crate::clock::Clock::from_flag(value)
        .map_err(|e| crate::error::Failure::invalid(e.to_string()).into())
}

/// The policy a command that names an environment goes by (`rollback`, `bump`, `promote`,
/// `status`): at the environment's ledger, what is deployed; else at HEAD; else on the branch
/// named like the environment, as `init` makes them.
pub fn policy_for(
    repo: &crate::repo::Repo,
    env: Option<&str>,
) -> anyhow::Result<crate::config::Policy> {
    use crate::config::POLICY_FILE;
    let candidates = env
        .and_then(|e| repo.ledger(e))
        .into_iter()
        .chain(repo.resolve("HEAD").ok())
        .chain(env.and_then(|e| repo.branch_tip(e)));
    let mut first_error = None;
    for at in candidates {
        if let Some(bytes) = repo.read_path(at, POLICY_FILE)? {
            let file = format!("{POLICY_FILE}@{}", &at.to_string()[..7]);
            match crate::config::parse_policy(&file, &bytes) {
                Ok(p) if env.is_none_or(|e| p.environment(e).is_some()) => return Ok(p),
                Ok(p) => {
                    first_error.get_or_insert(Ok(p));
                }
                Err(e) => {
                    first_error.get_or_insert(Err(e));
                }
            }
        }
    }
    match first_error {
        // The policy knows no such environment: say which ones it knows.
        Some(Ok(p)) => {
            let e = env.unwrap_or_default();
            Err(p
                .require_environment(e)
                .err()
                .map(anyhow::Error::new)
                .unwrap_or_else(|| anyhow::anyhow!("`{e}`")))
        }
        Some(Err(e)) => Err(e.into()),
        None => Err(crate::error::Failure::invalid(format!(
            "no {POLICY_FILE} found at HEAD{}",
            env.map(|e| format!(" or on the ledger or branch of `{e}`"))
                .unwrap_or_default()
        ))
        .hint(
            "run inside a deployment repository (gitops-gate init creates one), or pass --repo DIR",
        )
        .into()),
    }
}
