//! What GitHub shows of a plan and of a run, in GitHub Actions (never in a dry run, an
//! `--offline` one, or outside Actions):
//!
//! - the commit status `gitops-gate/<env>` on the head (`integrations.github.statuses`), so
//!   branch protection and rulesets can require it. `plan` sets it from the decision
//!   ([`plan_state`]); `run` sets the same, then the run's result.
//! - the run as a GitHub deployment (`integrations.github.deployments`): created `queued`,
//!   then `in_progress`, then `success` or `failure`, with the Actions run as `log_url` and
//!   the deployed services' domain as `environment_url`.
//!
//! A deployment that cannot be written is a warning, as a notification is. A commit status
//! too, unless `statuses: required`: then the command fails closed (exit 4; 2 when the job
//! has no token), `run` before its first stage. The writes themselves are
//! `integrations::github_deployments`'; this module decides what they say.
use crate::ci::{CiOutputs, Env, Secrets};
use crate::config::{CommitStatuses, Descriptor, Policy};
use crate::error::{Exit, Failure};
use crate::integrations::github_deployments::{
    CommitState, CommitStatus, DeploymentState, DeploymentStatus, Deployments, GithubWriteError,
    NewDeployment,
};
use crate::plan::{Decision, Plan};
use serde_json::json;
use std::collections::BTreeMap;

/// The commit status a plan gives its head, and its description; `None` when the plan names
/// no head or environment (a deleted ref): nothing was judged, so nothing is said, least of
/// all "passed". (A plan the gate could not make, exit 2, 4 or 5, never comes here.)
///
/// - `failure`: rejected; the first failing check (`rule: detail`).
/// - `pending`: allowed, with stages for `run` to run on a push; `run` sets the result.
/// - `success`: allowed with nothing to run (a skip, or nothing changed), or a pull request
///   the gate allows (nothing runs on a pull request's head: the merge is what deploys).
pub fn plan_state(plan: &Plan) -> Option<(CommitState, String)> {
    plan.push.head.as_ref()?;
    plan.environment.as_deref().filter(|e| !e.is_empty())?;
    Some(match plan.decision {
        Decision::Reject => (
            CommitState::Failure,
            plan.failing()
                .next()
                .map(|c| format!("{}: {}", c.rule.as_str(), c.detail))
                .unwrap_or_else(|| plan.reason.clone()),
        ),
        Decision::Skip => (CommitState::Success, plan.reason.clone()),
        Decision::Deploy if plan.push.event.starts_with("pull_request") => (
            CommitState::Success,
            format!("allowed: {} once merged", plan.reason),
        ),
        Decision::Deploy if plan.stages.is_empty() => (CommitState::Success, plan.reason.clone()),
        Decision::Deploy => (
            CommitState::Pending,
            format!("allowed: {}; the run sets the result", plan.reason),
        ),
    })
}

/// `api 1.4.3, web 2.0.2` (a removed service: `api removed`).
pub fn services_text(plan: &Plan) -> String {
    let parts: Vec<String> = plan
        .changes
        .iter()
        .map(|c| match &c.to {
            Some(v) => format!("{} {v}", c.service),
            None => format!("{} removed", c.service),
        })
        .collect();
    if parts.is_empty() {
        "the policy".to_string()
    } else {
        parts.join(", ")
    }
}

/// The deployment's payload: the plan's services and versions, and its digest.
pub fn payload(plan: &Plan) -> serde_json::Value {
    json!({
        "plan_digest": plan.digest,
        "services": plan.changes.iter().map(|c| json!({
            "service": c.service,
            "version": c.to,
            "from": c.from,
        })).collect::<Vec<_>>(),
    })
}

/// `https://<domain>` of the first changed service (in the plan's order) whose requested
/// descriptor names a domain.
pub fn environment_url(plan: &Plan, requested: &BTreeMap<String, Descriptor>) -> Option<String> {
    plan.changes
        .iter()
        .filter_map(|c| requested.get(&c.service)?.domain.as_deref())
        .find(|d| !d.is_empty())
        .map(|d| format!("https://{d}"))
}

/// Whether `env` is GitHub's "production environment": the highest of a policy's two or
/// more environments (a lone environment is where changes are tried, not served).
pub fn production(policy: &Policy, env: &str) -> bool {
    let envs = &policy.environments.0;
    envs.len() > 1 && envs.last().is_some_and(|(name, _)| name == env)
}

/// A deployment GitHub took.
pub struct Deployment {
    id: u64,
    log_url: Option<String>,
    environment_url: Option<String>,
}

/// The GitHub writes of one command.
pub struct Github {
    statuses: CommitStatuses,
    deployments: bool,
    client: Result<Deployments, GithubWriteError>,
    /// Every description is redacted again before it leaves: it quotes checks and stages.
    secrets: Secrets,
}

impl Github {
    /// `None` outside GitHub Actions, or when the policy asks for neither statuses nor
    /// deployments.
    pub fn new(
        policy: &Policy,
        env: &Env,
        outputs: &CiOutputs,
        secrets: &Secrets,
    ) -> Option<Github> {
        if !outputs.github_actions {
            return None;
        }
        let g = policy.integrations.github.as_ref()?;
        if g.statuses.is_off() && !g.deployments {
            return None;
        }
        Some(Github {
            statuses: g.statuses,
            deployments: g.deployments,
            client: Deployments::new(
                env.get("GITHUB_API_URL"),
                env.get("GITHUB_REPOSITORY"),
                secrets,
            ),
            secrets: secrets.clone(),
        })
    }

    /// The status [`plan_state`] gives the plan's head. `Err` only under `required`.
    pub fn plan_status(&self, plan: &Plan) -> Result<(), Failure> {
        match plan_state(plan) {
            Some((state, description)) => self.commit_status(plan, state, &description),
            None => Ok(()),
        }
    }

    /// Sets `gitops-gate/<env>` on the plan's head. A failure is a warning, or under
    /// `statuses: required` the error returned.
    pub fn commit_status(
        &self,
        plan: &Plan,
        state: CommitState,
        description: &str,
    ) -> Result<(), Failure> {
        let (Some(env), Some(head)) = (plan.environment.as_deref(), plan.push.head.as_deref())
        else {
            return Ok(());
        };
        if self.statuses.is_off() {
            return Ok(());
        }
        if plan.offline {
            // Nothing is sent offline; under `required` that is said, not silent.
            if self.statuses == crate::config::CommitStatuses::Required {
                log::warn!(
                    "integrations.github.statuses is required, but an --offline run writes no \
                     commit status (gitops-gate/{env})"
                );
            }
            return Ok(());
        }
        let context = format!("gitops-gate/{env}");
        let written = match &self.client {
            Ok(c) => c
                .commit_status(
                    head,
                    &CommitStatus {
                        state,
                        context: &context,
                        description: &self.secrets.redact(description),
                        target_url: plan.push.run_url.as_deref(),
                    },
                )
                .map_err(|e| (e.exit(), e.reason())),
            Err(e) => Err((e.exit(), e.reason())),
        };
        let Err((exit, why)) = written else {
            log::info!("commit status {context} of {head}: {}", state.as_str());
            return Ok(());
        };
        let what = format!(
            "the commit status {context} of {} was not set to {}",
            short(head),
            state.as_str()
        );
        if self.statuses == CommitStatuses::Required {
            return Err(Failure::new(exit, format!("{what}: {why}")).hint(
                "integrations.github.statuses is `required`: give the job GITHUB_TOKEN with \
                 `statuses: write` and re-run when GitHub answers, or set it to `warn`",
            ));
        }
        // The client fails closed for the gate's lookups and says so; here it does not.
        let why = why.trim_end_matches("; failing closed");
        log::warn!("{what} (a warning: integrations.github.statuses is `warn`): {why}");
        Ok(())
    }

    /// Creates the run's deployment of the plan's head and marks it `queued`; `None`, with a
    /// warning, when deployments are off or GitHub did not take it.
    pub fn start_deployment(
        &self,
        plan: &Plan,
        policy: &Policy,
        requested: &BTreeMap<String, Descriptor>,
    ) -> Option<Deployment> {
        if !self.deployments || plan.offline {
            return None;
        }
        let env = plan.environment.as_deref()?;
        let head = plan.push.head.as_deref()?;
        let client = self
            .client
            .as_ref()
            .map_err(|e| log::warn!("GitHub deployment not created: {}", e.reason()))
            .ok()?;
        let production = production(policy, env);
        let id = client
            .create(&NewDeployment {
                sha: head,
                environment: env,
                description: &self.secrets.redact(&plan.reason),
                production,
                payload: payload(plan),
            })
            .map_err(|e| log::warn!("GitHub deployment not created: {}", e.reason()))
            .ok()?;
        let d = Deployment {
            id,
            log_url: plan.push.run_url.clone(),
            environment_url: environment_url(plan, requested),
        };
        self.deployment_status(&d, DeploymentState::Queued, &plan.reason);
        Some(d)
    }

    /// Moves the deployment to `state`; a failure is a warning.
    pub fn deployment_status(&self, d: &Deployment, state: DeploymentState, description: &str) {
        let Ok(client) = &self.client else { return };
        if let Err(e) = client.status(
            d.id,
            &DeploymentStatus {
                state,
                description: &self.secrets.redact(description),
                log_url: d.log_url.as_deref(),
                environment_url: d.environment_url.as_deref(),
            },
        ) {
            log::warn!(
                "GitHub deployment {} not set to {}: {}",
                d.id,
                state.as_str(),
                e.reason()
            );
        }
    }
}

/// The exit of a command whose commit status returned `status`: a status that could not be
/// written (under `required`) decides the exit of a command that would end 0; beside a
/// rejection or a failed stage it is printed and the command keeps its own exit.
pub fn merge(exit: Exit, status: Result<(), Failure>) -> anyhow::Result<Exit> {
    match status {
        Ok(()) => Ok(exit),
        Err(f) if exit == Exit::Ok => Err(f.into()),
        Err(f) => {
            crate::errln!("gitops-gate: error: {}", f.message);
            Ok(exit)
        }
    }
}

fn short(sha: &str) -> &str {
    &sha[..sha.len().min(7)]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(envs: &str) -> Policy {
        let text =
            format!("version: 1\nenvironments:\n{envs}steps:\n  deploy: {{ run: [\"true\"] }}\n");
        crate::config::parse_policy("gitops.yaml", text.as_bytes()).unwrap()
    }

    #[test]
    fn the_highest_of_several_environments_is_production() {
        let p = policy(
            "  qa: { branch: qa, pipeline: [deploy] }\n  live: { branch: live, pipeline: [deploy] }\n",
        );
        assert!(production(&p, "live"));
        assert!(!production(&p, "qa"));
        let lone = policy("  prod: { branch: prod, pipeline: [deploy] }\n");
        assert!(!production(&lone, "prod"));
    }
}
