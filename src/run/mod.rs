//! Executes a plan stage by stage, records the run (`run.json`, a Git note) and moves the
//! ledger by compare-and-swap. A failed stage stops the run; the remaining stages are
//! recorded `skipped`; `notify-end` still runs. Notifications never change the result.
pub mod cancel;
pub mod claim;
pub mod command;
pub mod events;
pub mod healthcheck;
mod notify;
pub mod record;

use crate::ci::{CiOutputs, Env, Secrets};
use crate::config::{Descriptor, Policy};
use crate::error::{Exit, Failure};
use crate::integrations::github_deployments::{CommitState, DeploymentState};
use crate::integrations::jenkins::Jenkins;
use crate::model::StageId;
use crate::plan::{Decision, Plan, Stage};
use crate::repo::{self, notes::NOTES_REF, remote, CommitInfo, Repo};
use record::{now, CiRecord, RunRecord, StageRecord};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// A line of the run's progress: stdout as text; with `--format json` stdout carries one JSON
/// document only, so the progress goes to stderr.
macro_rules! say {
    ($s:expr, $($arg:tt)*) => {
        if $s.json {
            crate::errln!($($arg)*)
        } else {
            crate::outln!($($arg)*)
        }
    };
}

pub const DEFAULT_STEP_TIMEOUT: Duration = Duration::from_secs(30 * 60);

pub struct Setup {
    pub plan: Plan,
    /// The plan.json the commands see as GITOPS_PLAN.
    pub plan_path: PathBuf,
    pub out: PathBuf,
    pub policy: Policy,
    pub requested: BTreeMap<String, Descriptor>,
    pub deployed: BTreeMap<String, Descriptor>,
    pub commits: Vec<CommitInfo>,
    pub repo_dir: PathBuf,
    pub env: Env,
    pub outputs: CiOutputs,
    pub dry_run: bool,
    /// `--handoff jenkins`: every non-builtin step goes to Jenkins.
    pub handoff_jenkins: bool,
    pub url_base: Option<String>,
    /// `--break-claim`: take the environment's deploy claim even from a live holder.
    pub break_claim: bool,
    /// `--format json`: stdout is for the one JSON document the command prints at the end.
    pub json: bool,
    /// Where command steps run when the work tree does not hold the deployed commit: a
    /// checkout of it, so the steps are the deployed commit's scripts.
    pub steps_dir: Option<PathBuf>,
    /// `run --events FILE`: the run's CDEvents, appended as JSON lines.
    pub events: Option<PathBuf>,
}

impl Setup {
    pub fn steps_dir(&self) -> &std::path::Path {
        self.steps_dir.as_deref().unwrap_or(&self.repo_dir)
    }

    /// Where the steps run, as a person reads it: the repository, or the deployed commit
    /// (a temporary checkout's path says nothing).
    pub fn steps_shown(&self) -> String {
        match (&self.steps_dir, self.plan.push.head.as_deref()) {
            (Some(_), Some(h)) => format!("commit {}", &h[..h.len().min(7)]),
            _ => self.repo_dir.display().to_string(),
        }
    }
}

struct StageResult {
    ok: bool,
    attempts: u32,
    url: Option<String>,
    detail: String,
    tail: Vec<String>,
}

impl StageResult {
    fn fail(detail: impl Into<String>) -> StageResult {
        StageResult {
            ok: false,
            attempts: 1,
            url: None,
            detail: detail.into(),
            tail: Vec::new(),
        }
    }
}

/// The failed stage, for the failure ticket.
pub struct FailedStage {
    pub id: StageId,
    pub service: Option<String>,
    pub version: Option<String>,
    pub detail: String,
    pub tail: Vec<String>,
    pub url: Option<String>,
}

pub fn execute(s: &Setup) -> anyhow::Result<Exit> {
    let plan = &s.plan;
    let github = (!s.dry_run)
        .then(|| crate::publish::Github::new(&s.policy, &s.env, &s.outputs, &secrets_of(s)))
        .flatten();
    if plan.decision != Decision::Deploy {
        // The commit status says what the plan says (integrations.github.statuses).
        let status = github.as_ref().map_or(Ok(()), |g| g.plan_status(plan));
        say!(
            s,
            "decision: {} ({}): nothing to run",
            plan.decision.as_str(),
            plan.reason
        );
        if plan.decision == Decision::Reject && !s.dry_run {
            // What `report` counts as blocked, by rule.
            let failing: Vec<serde_json::Value> = plan
                .failing()
                .map(|c| serde_json::json!({ "rule": c.rule, "verdict": "fail" }))
                .collect();
            let record = serde_json::json!({
                "schema": 1,
                "environment": plan.environment,
                "head": plan.push.head,
                "base": plan.push.base,
                "plan_digest": plan.digest,
                "decision": "reject",
                "finished": now(),
                "checks": failing,
            });
            if let Some(head) = plan.push.head.as_deref() {
                if let Err(e) = write_note(s, head, &record) {
                    log::warn!("cannot record the rejection as a note: {e:#}");
                }
            }
        }
        return crate::publish::merge(plan.exit(), status);
    }
    let environment = plan.environment.clone().unwrap_or_default();
    let head = plan.push.head.clone().unwrap_or_default();
    let webhook_env = webhook_env(s);
    let secrets = secrets_of(s);
    // Exactly one run deploys this ledger state: the loser stops here, before any stage.
    let mut claim = if s.dry_run {
        say!(
            s,
            "would claim {} by compare-and-swap before the first stage",
            claim::claim_ref(&environment)
        );
        None
    } else {
        Some(claim::acquire(s, &environment, &head)?)
    };
    // `pending` until the run ends; under `statuses: required` a status that cannot be
    // written stops the run here, before any stage (the claim is released as abandoned).
    if let Some(g) = &github {
        g.plan_status(plan)?;
    }
    let mut rec = RunRecord {
        schema: 1,
        environment: environment.clone(),
        head: head.clone(),
        base: plan.push.base.clone(),
        plan_digest: plan.digest.clone(),
        started: now(),
        finished: None,
        result: "running".into(),
        stages: plan
            .stages
            .iter()
            .map(|st| StageRecord {
                id: st.id.clone(),
                service: st.service.clone(),
                result: "pending".into(),
                started: None,
                finished: None,
                attempts: 0,
                url: None,
                detail: None,
            })
            .collect(),
        ci: CiRecord {
            system: plan.push.ci.name().into(),
            run_url: plan.push.run_url.clone(),
        },
        actor: plan.push.actor.clone(),
        ledger: None,
        capacity: None,
        freeze: plan.freeze.clone(),
    };
    let run_json = s.out.join("run.json");
    let save = |rec: &RunRecord| -> anyhow::Result<()> {
        if !s.dry_run {
            crate::output::write_atomic(&run_json, serde_json::to_string_pretty(rec)?.as_bytes())?;
        }
        Ok(())
    };
    save(&rec)?;
    let notifier = notify::Notifier {
        setup: s,
        secrets: &secrets,
        webhook_env: &webhook_env,
    };

    // The run as a GitHub deployment (integrations.github.deployments): queued, then
    // in_progress once the stages start.
    let deployment = github
        .as_ref()
        .and_then(|g| Some((g, g.start_deployment(plan, &s.policy, &s.requested)?)));
    let mut failed: Option<FailedStage> = None;
    let mut end_index = None;
    if !s.dry_run {
        cancel::install();
    }
    if let Some((g, d)) = &deployment {
        let what = format!("deploying {}", crate::publish::services_text(plan));
        g.deployment_status(d, DeploymentState::InProgress, &what);
    }
    for (i, st) in plan.stages.iter().enumerate() {
        if st.id == StageId::NotifyEnd {
            end_index = Some(i);
            continue;
        }
        if failed.is_some() {
            rec.stages[i].result = "skipped".into();
            save(&rec)?;
            continue;
        }
        rec.stages[i].started = Some(now());
        rec.stages[i].result = "running".into();
        save(&rec)?;
        let r = if cancel::cancelled() {
            StageResult {
                ok: false,
                attempts: 0,
                url: None,
                detail: "the run was cancelled (a signal) before this stage started".into(),
                tail: Vec::new(),
            }
        } else if st.id == StageId::NotifyStart {
            if s.dry_run {
                say!(s, "would notify: start of the release to {environment}");
            } else {
                notifier.start();
            }
            StageResult {
                ok: true,
                attempts: 1,
                url: None,
                detail: if s.dry_run { "dry run" } else { "notified" }.into(),
                tail: Vec::new(),
            }
        } else {
            run_stage(s, st, &secrets)
        };
        let label = stage_label(st);
        if r.ok {
            crate::errln!("gitops-gate: {label}: ok ({})", r.detail);
        } else {
            crate::errln!("gitops-gate: {label}: FAILED: {}", r.detail);
        }
        let sr = &mut rec.stages[i];
        sr.finished = Some(now());
        sr.attempts = r.attempts;
        sr.url = r.url.clone();
        sr.detail = Some(secrets.redact(&r.detail));
        sr.result = if s.dry_run {
            "skipped"
        } else if r.ok {
            "succeeded"
        } else {
            "failed"
        }
        .into();
        if !r.ok {
            failed = Some(FailedStage {
                id: st.id.clone(),
                service: st.service.clone(),
                version: st.version.clone(),
                detail: secrets.redact(&r.detail),
                tail: r.tail.iter().map(|l| secrets.redact(l)).collect(),
                url: r.url,
            });
        }
        save(&rec)?;
    }

    let mut exit = if failed.is_some() {
        Exit::StageFailed
    } else {
        Exit::Ok
    };
    let mut superseded: Option<anyhow::Error> = None;
    if s.dry_run && failed.is_some() {
        rec.ledger = Some("dry-run".into());
    } else if s.dry_run {
        say!(s,
            "would move {} to {head} (expected {}) and attach the run record as a note under {NOTES_REF}",
            Repo::ledger_ref(&environment),
            plan.ledger.as_deref().unwrap_or("no ledger yet")
        );
        rec.ledger = Some("dry-run".into());
    } else if failed.is_none() {
        match move_ledger(s, &environment, &head) {
            Ok(()) => {
                rec.ledger = Some("moved".into());
                // Read after the deploy, from Git rather than the plan file: it costs one
                // read of every descriptor, which a deploy dwarfs.
                match Repo::open(&s.repo_dir)
                    .and_then(|r| crate::sums::record(&r, r.resolve(&head)?))
                {
                    Ok(c) => rec.capacity = Some(c),
                    Err(e) => log::warn!("the capacity sums were not recorded: {e}"),
                }
            }
            Err(e) => {
                let (code, _) = crate::error::classify(&e);
                rec.ledger = Some(if code == Exit::Superseded {
                    "superseded".into()
                } else {
                    "unchanged".into()
                });
                exit = code;
                superseded = Some(e);
            }
        }
    } else {
        rec.ledger = Some("unchanged".into());
    }
    rec.result = if failed.is_none() && superseded.is_none() {
        "succeeded".into()
    } else {
        "failed".into()
    };
    // The ledger has moved (or stays, on failure): the next run may go.
    if let Some(c) = claim.as_mut() {
        c.release(&rec.result);
    }

    // GitHub's view of the result: the deployment's last status and the commit status.
    let outcome = if rec.result == "succeeded" {
        format!(
            "deployed to {environment}: {}",
            crate::publish::services_text(plan)
        )
    } else if let Some(f) = &failed {
        let of = f
            .service
            .as_deref()
            .map(|s| format!(" of {s}"))
            .unwrap_or_default();
        format!("stage `{}`{of} failed: {}", f.id, f.detail)
    } else {
        let why = superseded
            .as_ref()
            .map(|e| secrets.redact(&e.to_string()))
            .unwrap_or_default();
        format!("deployed, but the ledger did not move: {why}")
    };
    let succeeded = rec.result == "succeeded";
    if let Some((g, d)) = &deployment {
        let state = if succeeded {
            DeploymentState::Success
        } else {
            DeploymentState::Failure
        };
        g.deployment_status(d, state, &outcome);
    }
    let status = match &github {
        Some(g) => g.commit_status(
            plan,
            if succeeded {
                CommitState::Success
            } else {
                CommitState::Failure
            },
            &outcome,
        ),
        None => Ok(()),
    };
    if let Some(i) = end_index {
        rec.stages[i].started = Some(now());
        if s.dry_run {
            say!(s, "would notify: end of the release ({})", rec.result);
            rec.stages[i].result = "skipped".into();
        } else {
            notifier.end(&rec, failed.as_ref());
            rec.stages[i].result = "succeeded".into();
        }
        rec.stages[i].finished = Some(now());
        rec.stages[i].attempts = 1;
    }
    rec.finished = Some(now());
    save(&rec)?;
    if !s.dry_run {
        if let Err(e) = write_note(s, &head, &rec) {
            log::warn!("the run record note was not stored: {e:#}");
        }
    }
    // After the record is stored and the claim released: a slow sink, or a job killed while
    // it waits, costs only the events.
    events::emit(s, &rec);
    if !s.dry_run {
        say!(s, "run {}: {}", rec.result, run_json.display());
    }
    if let Some(e) = superseded {
        if let Err(f) = status {
            crate::errln!("gitops-gate: error: {}", f.message);
        }
        return Err(e);
    }
    if let Some(f) = &failed {
        let of = f
            .service
            .as_deref()
            .map(|s| format!(" of {s}"))
            .unwrap_or_default();
        if s.dry_run {
            crate::errln!(
                "gitops-gate: dry run: stage `{}`{of} could not run: {}\n  nothing was changed; a real run would stop there (exit 3)",
                f.id,
                f.detail
            );
        } else {
            crate::errln!(
                "gitops-gate: stage `{}`{of} failed, so the release stopped: {}\n  the ledger stays at {}; fix the cause, then run again or push a fix (the next run redeploys what this one touched) (exit 3)",
                f.id,
                f.detail,
                plan.ledger.as_deref().unwrap_or("(nothing deployed yet)")
            );
        }
    }
    crate::publish::merge(exit, status)
}

/// The variable holding the Slack webhook (a secret).
fn webhook_env(s: &Setup) -> String {
    s.policy
        .integrations
        .slack
        .as_ref()
        .map(|w| w.webhook_env.clone())
        .unwrap_or_else(|| "SLACK_WEBHOOK_URL".into())
}

/// Every secret the run may meet, to redact from what it prints and records.
fn secrets_of(s: &Setup) -> Secrets {
    Secrets::from_env(&s.env, &[webhook_env(s).as_str()])
}

fn stage_label(st: &Stage) -> String {
    match &st.service {
        Some(s) => format!("[{} {s}]", st.id),
        None => format!("[{}]", st.id),
    }
}

fn run_stage(s: &Setup, st: &Stage, secrets: &Secrets) -> StageResult {
    let step = s.policy.steps.get(st.id.as_str());
    let timeout = step
        .and_then(|x| x.timeout.as_ref())
        .map(|t| t.std())
        .unwrap_or(DEFAULT_STEP_TIMEOUT);
    if st.id == StageId::Healthcheck {
        return healthcheck_stage(s, st);
    }
    let jenkins_job = step
        .and_then(|x| x.jenkins.clone())
        .or_else(|| st.jenkins_job.clone())
        .or_else(|| s.handoff_jenkins.then(|| st.id.to_string()));
    if let Some(job) = jenkins_job {
        return jenkins_stage(s, st, &job, timeout, secrets);
    }
    let Some(argv) = step.and_then(|x| x.run.as_ref()) else {
        return StageResult::fail(format!(
            "gitops.yaml has no `steps.{}` with `run` or `jenkins`: say how the step runs",
            st.id
        ));
    };
    if s.dry_run {
        // A dry run that cannot start the step is no rehearsal: say so, as the run would.
        if let Err(why) = findable(argv, s.steps_dir(), &s.steps_shown(), s.env.get("PATH")) {
            return StageResult::fail(why.to_string());
        }
        say!(
            s,
            "would run {} {:?} in {}",
            stage_label(st),
            argv,
            s.steps_shown()
        );
        return ok("dry run");
    }
    let out = command::run(&command::CommandStep {
        argv,
        env: step_env(s, st),
        dir: s.steps_dir(),
        timeout,
        prefix: stage_label(st),
        github_actions: s.outputs.github_actions,
    });
    StageResult {
        ok: out.success,
        attempts: 1,
        url: None,
        detail: out.detail,
        tail: out.tail,
    }
}

/// Why a step's program cannot start, and what to do (the text is the stage's detail).
#[derive(Debug, thiserror::Error)]
enum NotRunnable {
    #[error("the step's `run` is empty: name the program to run")]
    Empty,
    #[error(
        "`{0}` is not executable: git update-index --chmod=+x {0} (and chmod +x), then commit"
    )]
    NotExecutable(String),
    #[error(
        "`{program}` does not exist in {shown}: add it, or change the step's `run` in gitops.yaml"
    )]
    Missing { program: String, shown: String },
    #[error("`{0}` is not on PATH: install it, or change the step's `run` in gitops.yaml")]
    NotOnPath(String),
}

/// Whether `argv[0]` names a program the step can start: a path (relative to the repository
/// root, where steps run) to an executable file, or a name found on PATH.
fn findable(
    argv: &[String],
    dir: &std::path::Path,
    shown: &str,
    path: Option<&str>,
) -> Result<(), NotRunnable> {
    use std::os::unix::fs::PermissionsExt;
    let Some(program) = argv.first().filter(|p| !p.is_empty()) else {
        return Err(NotRunnable::Empty);
    };
    let executable = |p: &std::path::Path| {
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.contains('/') {
        let path = dir.join(program);
        if executable(&path) {
            return Ok(());
        }
        return Err(if path.exists() {
            NotRunnable::NotExecutable(program.clone())
        } else {
            NotRunnable::Missing {
                program: program.clone(),
                shown: shown.to_string(),
            }
        });
    }
    let on_path = path
        .map(|p| std::env::split_paths(p).any(|d| executable(&d.join(program))))
        .unwrap_or(false);
    if on_path {
        Ok(())
    } else {
        Err(NotRunnable::NotOnPath(program.clone()))
    }
}

fn ok(detail: &str) -> StageResult {
    StageResult {
        ok: true,
        attempts: 0,
        url: None,
        detail: detail.into(),
        tail: Vec::new(),
    }
}

/// GITOPS_SERVICE, _VERSION, _ENVIRONMENT, _COMMIT, _PLAN, _ACTION and every parameter as
/// GITOPS_<NAME>.
pub fn step_env(s: &Setup, st: &Stage) -> Vec<(String, String)> {
    let mut env: BTreeMap<String, String> = BTreeMap::new();
    for (k, v) in &st.parameters {
        let name = if k.starts_with("GITOPS_") {
            k.to_string()
        } else {
            format!("GITOPS_{k}")
        };
        env.insert(name, v.to_string());
    }
    let abs = std::path::absolute(&s.plan_path).unwrap_or(s.plan_path.clone());
    let fixed = [
        ("GITOPS_SERVICE", st.service.clone()),
        ("GITOPS_VERSION", st.version.clone()),
        ("GITOPS_ENVIRONMENT", s.plan.environment.clone()),
        ("GITOPS_COMMIT", s.plan.push.head.clone()),
        ("GITOPS_PLAN", Some(abs.display().to_string())),
        ("GITOPS_ACTION", st.action.clone()),
    ];
    for (k, v) in fixed {
        env.insert(k.into(), v.unwrap_or_default());
    }
    env.into_iter().collect()
}

fn healthcheck_stage(s: &Setup, st: &Stage) -> StageResult {
    let Some(svc) = &st.service else {
        return StageResult::fail("the healthcheck stage names no service");
    };
    let Some(d) = s.requested.get(svc) else {
        return StageResult::fail(format!("services/{svc}.yaml is not in the requested state"));
    };
    let base = s.url_base.clone().or_else(|| {
        s.policy
            .steps
            .get("healthcheck")
            .and_then(|h| h.url_base.clone())
    });
    let t = match healthcheck::target(d, base.as_deref()) {
        Ok(t) => t,
        Err(e) => return StageResult::fail(e.to_string()),
    };
    if s.dry_run {
        say!(
            s,
            "would check {} ({} attempts every {:?})",
            t.urls.join(", "),
            t.retries,
            t.interval
        );
        return ok("dry run");
    }
    let o = healthcheck::check_all(std::slice::from_ref(&t)).remove(0);
    StageResult {
        ok: o.healthy,
        attempts: o.attempts,
        url: o.url,
        detail: o.detail.clone(),
        tail: vec![o.detail],
    }
}

fn jenkins_stage(
    s: &Setup,
    st: &Stage,
    job: &str,
    timeout: Duration,
    secrets: &Secrets,
) -> StageResult {
    let Some(j) = &s.policy.integrations.jenkins else {
        return StageResult::fail(format!(
            "stage `{}` goes to Jenkins job `{job}` but gitops.yaml has no integrations.jenkins.url",
            st.id
        ));
    };
    let mut params = st.parameters.to_map();
    params.insert("GITOPS_RUN_ID".into(), s.plan.digest.clone());
    if s.dry_run {
        say!(
            s,
            "would trigger Jenkins job `{job}` at {} with {} parameters",
            j.url,
            params.len()
        );
        return ok("dry run");
    }
    let mut client = match Jenkins::new(&j.url, secrets) {
        Ok(c) => c,
        Err(e) => return StageResult::fail(e.to_string()),
    };
    match client.run(job, &params, timeout) {
        Ok(b) => StageResult {
            ok: b.succeeded(),
            attempts: b.polls,
            url: Some(b.url.clone()),
            detail: format!("Jenkins build #{} of `{job}`: {}", b.number, b.result),
            tail: vec![format!("see {}console", b.url)],
        },
        Err(e) => StageResult::fail(secrets.redact(&e.to_string())),
    }
}

/// Compare-and-swap of the ledger: on `origin` with --force-with-lease, else locally.
fn move_ledger(s: &Setup, env: &str, head: &str) -> anyhow::Result<()> {
    let refname = Repo::ledger_ref(env);
    let expected = s.plan.ledger.clone();
    let r = Repo::open(&s.repo_dir)?;
    let head_oid = r.resolve(head)?;
    if remote::has_remote(&s.repo_dir, "origin") {
        match remote::push_ledger(&s.repo_dir, &refname, head, expected.as_deref()) {
            Ok(()) => {
                r.set_ref(&refname, head_oid, "gitops-gate: deployed")?;
                Ok(())
            }
            Err(remote::PushError::Rejected(why)) => {
                let winner = remote::remote_ref(&s.repo_dir, &refname)
                    .ok()
                    .flatten()
                    .unwrap_or_else(|| "an unknown commit".into());
                log::debug!("push rejected: {why}");
                Err(Failure::superseded(format!(
                    "another run moved {refname} on origin to {winner} first; this run's ledger move lost the race"
                ))
                .hint("the winner's deploy is the current state: re-run the pipeline for the newest commit")
                .into())
            }
            Err(remote::PushError::Unreachable(why)) => Err(Failure::unavailable(format!(
                "cannot move {refname} on origin: {why}"
            ))
            .hint(
                "the deploy ran but the ledger did not move: check the CI's push rights and re-run",
            )
            .into()),
        }
    } else {
        let exp = match &expected {
            Some(e) => Some(r.resolve(e)?),
            None => None,
        };
        match r.compare_and_swap(&refname, exp, head_oid, "gitops-gate: deployed") {
            Ok(()) => Ok(()),
            Err(Ok(current)) => Err(Failure::superseded(format!(
                "another run moved {refname} to {} first",
                current
                    .map(|c| c.to_string())
                    .unwrap_or_else(|| "nothing".into())
            ))
            .into()),
            Err(Err(f)) => Err(f.into()),
        }
    }
}

/// The run record as a note on the head commit, pushed when there is an `origin`.
fn write_note(s: &Setup, head: &str, rec: &impl serde::Serialize) -> anyhow::Result<()> {
    let r = Repo::open(&s.repo_dir)?;
    let oid = r.resolve(head)?;
    let record = serde_json::to_value(rec)?;
    if !remote::has_remote(&s.repo_dir, "origin") {
        r.append_note(oid, &record)?;
        return Ok(());
    }
    let mut last = String::new();
    for _ in 0..4 {
        if let Err(e) = remote::fetch_notes(&s.repo_dir, NOTES_REF) {
            log::debug!("cannot fetch {NOTES_REF}: {e:?}");
        }
        r.append_note(oid, &record)?;
        match remote::push_notes(&s.repo_dir, NOTES_REF) {
            Ok(()) => return Ok(()),
            Err(e) => last = format!("{e:?}"),
        }
    }
    anyhow::bail!("cannot push {NOTES_REF}: {last}")
}

pub use repo::notes::NOTES_REF as NOTES;
