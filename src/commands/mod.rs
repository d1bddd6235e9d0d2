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
    Ok(Request {
        repo: common.repo.clone(),
        fetch: common.fetch(&ctx),
        ctx,
        env: overrides.env.clone(),
        base: common.base.clone(),
        bootstrap: common.bootstrap,
        offline: common.offline,
        terraform_plans: common.terraform_plan.clone(),
        policy_path: common.policy.clone(),
        vars: env.clone(),
        secrets: ci::Secrets::from_env(env, &[]),
        texts: false,
    })
}
