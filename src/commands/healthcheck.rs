//! `gitops-gate healthcheck [SERVICE...] --env ENV`: the built-in health check of the
//! descriptors on an environment's branch (all services when none is named), concurrently.
use crate::cli::HealthcheckArgs;
use crate::config;
use crate::error::{Exit, Failure};
use crate::repo::Repo;
use crate::run::healthcheck;

pub fn run(a: &HealthcheckArgs) -> anyhow::Result<Exit> {
    let repo = Repo::open(&a.repo)?;
    let head = match &a.head {
        Some(h) => repo.resolve(h)?,
        None => {
            let policy_bytes = repo
                .read_path(repo.resolve("HEAD")?, "gitops.yaml")?
                .ok_or_else(|| Failure::invalid("gitops.yaml is missing at HEAD"))?;
            let policy = config::parse_policy("gitops.yaml", &policy_bytes)?;
            let e = policy.environment(&a.env).ok_or_else(|| {
                Failure::invalid(format!("gitops.yaml has no environment `{}`", a.env))
            })?;
            repo.branch_tip(&e.branch).ok_or_else(|| {
                Failure::invalid(format!("branch `{}` of {} does not exist", e.branch, a.env))
            })?
        }
    };
    let policy_base = repo
        .read_path(head, "gitops.yaml")?
        .and_then(|b| config::parse_policy("gitops.yaml", &b).ok())
        .and_then(|p| p.steps.get("healthcheck").and_then(|s| s.url_base.clone()));
    let base = a.url_base.clone().or(policy_base);
    let mut names = a.services.clone();
    if names.is_empty() {
        names = repo
            .service_entries(head)?
            .into_iter()
            .filter(|(_, _, blob)| *blob)
            .filter_map(|(p, _, _)| {
                p.strip_prefix("services/")?
                    .strip_suffix(".yaml")
                    .map(str::to_string)
            })
            .collect();
    }
    let mut targets = Vec::new();
    for n in &names {
        let path = format!("services/{n}.yaml");
        let bytes = repo
            .read_path(head, &path)?
            .ok_or_else(|| Failure::invalid(format!("{path} does not exist on {}", a.env)))?;
        let d = config::parse_descriptor(&path, n, &bytes)?;
        targets.push(
            healthcheck::target(&d, base.as_deref())
                .map_err(|e| Failure::invalid(e.to_string()))?,
        );
    }
    let started = std::time::Instant::now();
    let outcomes = healthcheck::check_all(&targets);
    let mut bad = 0;
    for o in &outcomes {
        if o.healthy {
            let tries = if o.attempts == 1 {
                "attempt"
            } else {
                "attempts"
            };
            crate::outln!("{}: healthy ({} {tries})", o.service, o.attempts);
        } else {
            bad += 1;
            crate::outln!("{}: UNHEALTHY: {}", o.service, o.detail);
        }
    }
    crate::outln!(
        "{} of {} services healthy in {:.2}s",
        outcomes.len() - bad,
        outcomes.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(if bad == 0 {
        Exit::Ok
    } else {
        Exit::StageFailed
    })
}
