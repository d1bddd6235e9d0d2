//! `gitops-gate run`: plan (as `plan` does) then execute, or execute a saved `--plan FILE`
//! after re-reading the ledger (a plan whose ledger moved is refused, exit 5) and planning
//! the push again: any difference from the file is refused (exit 5), and the re-derived plan
//! is the one that runs.
use crate::ci::{CiOutputs, Env};
use crate::cli::{Format, RunArgs};
use crate::error::{Exit, Failure};
use crate::evaluate;
use crate::model::CommitId;
use crate::output;
use crate::plan::Plan;
use crate::repo::Repo;
use crate::run::{self, Setup};

pub fn run(a: &RunArgs, env: &Env) -> anyhow::Result<Exit> {
    let out = a.common.out_dir(a.out.as_deref());
    if a.format == Format::Text {
        return plan_and_execute(a, env, &out);
    }
    // One JSON document on stdout, whatever happens: the plan, the run record (when the plan
    // ran), and the error that stopped it. Progress went to stderr.
    let run_json = out.join("run.json");
    let _ = std::fs::remove_file(&run_json);
    if a.plan.is_none() {
        // Nothing of an earlier run in the same folder may pass for this one's.
        let _ = std::fs::remove_file(out.join("plan.json"));
    }
    let result = plan_and_execute(a, env, &out);
    let read = |p: &std::path::Path| {
        std::fs::read_to_string(p)
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
    };
    let plan = read(&a.plan.clone().unwrap_or_else(|| out.join("plan.json")));
    let record = if a.dry_run { None } else { read(&run_json) };
    let (exit, error) = match &result {
        Ok(code) => (*code, None),
        Err(e) => (
            crate::error::classify(e).0,
            Some(
                crate::ci::Secrets::from_env(env, &[]).redact(&crate::error::causes(e).join(": ")),
            ),
        ),
    };
    crate::outln!(
        "{}",
        serde_json::to_string_pretty(&serde_json::json!({
            "plan": plan,
            "run": record,
            "dry_run": a.dry_run,
            "exit": exit.code(),
            "error": error,
        }))?
    );
    result
}

fn plan_and_execute(a: &RunArgs, env: &Env, out: &std::path::Path) -> anyhow::Result<Exit> {
    if let Some(path) = &a.events {
        // A file the events cannot go to is a wrong flag: said before anything deploys, not
        // as a warning after it.
        crate::run::events::append(path, &[]).map_err(|e| {
            Failure::invalid(format!("--events: {e}"))
                .caused_by(e)
                .hint("give --events a file in a folder that exists or can be made")
        })?;
    }
    let mut overrides = a.common.overrides();
    let saved: Option<Plan> = match &a.plan {
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(|e| {
                Failure::invalid(format!("cannot read the plan {}: {e}", p.display()))
            })?;
            let plan: Plan = serde_json::from_str(&text).map_err(|e| {
                Failure::invalid(format!("{} is not a gitops-gate plan: {e}", p.display()))
            })?;
            if plan.schema != crate::plan::SCHEMA {
                return Err(Failure::invalid(format!(
                    "{} has plan schema {}; this gitops-gate reads schema {}",
                    p.display(),
                    plan.schema,
                    crate::plan::SCHEMA
                ))
                .into());
            }
            overrides.head = plan.push.head.clone().or(overrides.head);
            overrides.branch = plan.push.branch.clone().or(overrides.branch);
            overrides.env = plan.environment.clone().or(overrides.env);
            Some(plan)
        }
        None => None,
    };
    let outputs = CiOutputs::from_env(env);
    let req = super::request_with(&a.common, env, &overrides)?;
    let ev = evaluate::evaluate(&req)?;
    let (plan, plan_path) = match saved {
        Some(p) => {
            let environment = p.environment.clone().unwrap_or_default();
            let repo = Repo::open(&a.common.repo)?;
            let now = repo.ledger(&environment).map(|o| o.to_string());
            if p.decision == crate::plan::Decision::Deploy && now != p.ledger {
                return Err(Failure::superseded(format!(
                    "the plan was made against ledger {} but {} is now {}",
                    p.ledger.as_deref().unwrap_or("(none)"),
                    Repo::ledger_ref(&environment),
                    now.as_deref().unwrap_or("(none)")
                ))
                .hint("make a new plan: `gitops-gate run` plans and runs in one go")
                .into());
            }
            // The file only says what to expect: what runs is the plan Git gives now.
            crate::plan::verify::verify_saved_plan(&p, &ev.plan)?;
            (ev.plan.clone(), a.plan.clone().unwrap_or_default())
        }
        None => {
            let written = output::write_plan(&ev.plan, out, &outputs)?;
            if a.format == Format::Text {
                crate::commands::plan::print(&ev.plan, a.format, outputs.github_actions);
            }
            (ev.plan.clone(), written.plan_json)
        }
    };
    let Some(policy) = ev.policy.clone() else {
        return run::execute(&Setup {
            plan,
            plan_path,
            out: out.to_path_buf(),
            policy: empty_policy(),
            requested: Default::default(),
            deployed: Default::default(),
            commits: Vec::new(),
            repo_dir: Repo::open(&a.common.repo)
                .map(|r| r.dir())
                .unwrap_or_else(|_| a.common.repo.clone()),
            env: env.clone(),
            outputs,
            dry_run: a.dry_run,
            handoff_jenkins: a.handoff.is_some(),
            url_base: a.url_base.clone(),
            break_claim: a.break_claim,
            json: a.format == Format::Json,
            steps_dir: None,
            events: a.events.clone(),
        });
    };
    let repo = Repo::open(&a.common.repo)?;
    let deploys = plan.decision == crate::plan::Decision::Deploy;
    let head = match plan.push.head.as_deref() {
        Some(h) if deploys => Some(repo.resolve(h)?),
        _ => None,
    };
    if let (Some(h), Some(b)) = (head, plan.push.branch.as_deref()) {
        on_origin(&repo, b, h)?;
    }
    // The steps are the deployed commit's, not whatever the work tree holds.
    let checkout = match head {
        Some(h) => repo.checkout_of(h)?,
        None => None,
    };
    let steps_dir = checkout.as_ref().map(|c| {
        log::info!(
            "the work tree does not hold {}: the steps run from a checkout of it in {}",
            plan.push.head.as_deref().unwrap_or_default(),
            c.path().display()
        );
        c.path()
    });
    let repo_dir = repo.dir();
    run::execute(&Setup {
        plan,
        plan_path,
        out: out.to_path_buf(),
        policy,
        requested: ev.requested,
        deployed: ev.deployed,
        commits: ev.commits,
        repo_dir,
        env: env.clone(),
        outputs,
        dry_run: a.dry_run,
        handoff_jenkins: a.handoff.is_some(),
        url_base: a.url_base.clone(),
        break_claim: a.break_claim,
        json: a.format == Format::Json,
        steps_dir,
        events: a.events.clone(),
    })
}

/// A deploy moves origin's ledger, so what it deploys must be on origin's branch: a commit
/// only this clone has would leave origin's ledger ahead of its branch, and every teammate's
/// next push would read as a rewritten history.
fn on_origin(repo: &Repo, branch: &str, head: CommitId) -> anyhow::Result<()> {
    use crate::repo::remote::{self, FetchError};
    let tracking = format!("refs/remotes/origin/{branch}");
    let spec = format!("+refs/heads/{branch}:{tracking}");
    match remote::fetch(&repo.dir(), "origin", &[spec], false) {
        Ok(()) => {}
        Err(FetchError::NoRemote) => return Ok(()),
        Err(FetchError::Missing(_)) => {
            return Err(Failure::invalid(format!(
                "origin has no branch `{branch}`: the deploy would record a commit no one else has"
            ))
            .hint(format!("push it first: git push origin {branch}"))
            .into())
        }
        Err(FetchError::Unreachable(e)) => {
            return Err(Failure::unavailable(format!(
                "cannot reach origin to check that {} is on `{branch}`: {e}",
                &head.to_string()[..7]
            ))
            .hint("retry when origin is reachable")
            .into())
        }
    }
    let Some(tip) = repo.ref_target(&tracking) else {
        return Ok(());
    };
    if !repo.is_ancestor(head, tip)? {
        return Err(Failure::invalid(format!(
            "{} is not on origin's `{branch}` (at {}): deploying it would move origin's ledger to a commit no one else has",
            &head.to_string()[..7],
            &tip.to_string()[..7]
        ))
        .hint(format!("push it first: git push origin {branch}"))
        .into());
    }
    Ok(())
}

fn empty_policy() -> crate::config::Policy {
    crate::config::Policy {
        version: 1,
        environments: Default::default(),
        gates: Default::default(),
        steps: Default::default(),
        integrations: Default::default(),
    }
}
