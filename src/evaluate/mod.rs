//! One push through the whole pure pipeline: CI context -> repository -> config -> diff ->
//! gate -> plan. Commands call this and then render, run or show the result.
use crate::ci::{Env, PushContext, PushKind, Secrets};
use crate::config::{self, ConfigError, ConfigErrors, Descriptor, Policy};
use crate::diff::terraform::PlanFile;
use crate::error::Failure;
use crate::gate::{self, RangeFacts};
use crate::model::{BaseSource, CommitId};
use crate::plan::{self, Plan, PushSummary};
use crate::repo::{CommitInfo, Range, Repo};
use std::collections::BTreeMap;
use std::path::PathBuf;

mod descriptors;
mod read;
mod target;
mod unsettled;

use descriptors::Judgement;
use target::{Located, Target};
use unsettled::redeploy_unsettled;

pub struct Request {
    pub repo: PathBuf,
    pub ctx: PushContext,
    pub env: Option<String>,
    pub base: Option<String>,
    pub bootstrap: bool,
    pub fetch: bool,
    /// Refresh the ledgers and run records from `origin` first (all but `--no-fetch`).
    pub refresh: bool,
    pub offline: bool,
    /// `--terraform-plan FILE`s: `terraform show -json` output on disk.
    pub terraform_plans: Vec<PathBuf>,
    /// Where the policy lives in the repository (default `gitops.yaml`); always read at the
    /// deployed commit, so choosing the path never lets a push choose its rules.
    pub policy_path: String,
    /// The environment snapshot (`GITHUB_API_URL`, `GITHUB_REPOSITORY`, ...).
    pub vars: Env,
    /// Credentials for the integrations; never printed.
    pub secrets: Secrets,
    /// `--branch` named the branch: one that maps to no environment is a typo to report,
    /// where a CI push to such a branch is simply nothing to deploy.
    pub branch_flag: bool,
    /// Keep each changed descriptor's text, for `diff`'s text view. Only `diff` shows them;
    /// elsewhere they are dropped as each pair is parsed, as a push changing 5,000 services
    /// would otherwise hold all 10,000 texts (3-4 MB) to the end.
    pub texts: bool,
    /// When the push is judged: the clock, or `--now` outside CI.
    pub clock: crate::clock::Clock,
    /// `--freeze-override`: the ticket the operator names for a deploy inside a freeze.
    pub freeze_override: Option<String>,
}

/// A descriptor file as it was deployed and as it is requested, for people-facing diffs.
#[derive(Debug, Clone)]
pub struct FileChange {
    pub service: String,
    pub path: String,
    pub old: Option<String>,
    pub new: Option<String>,
}

pub struct Evaluation {
    pub plan: Plan,
    pub commits: Vec<CommitInfo>,
    pub policy: Option<Policy>,
    pub deployed: BTreeMap<String, Descriptor>,
    pub requested: BTreeMap<String, Descriptor>,
    pub files: Vec<FileChange>,
    /// Terraform/OpenTofu plans judged with the push.
    pub terraform: Vec<PlanFile>,
}

impl Evaluation {
    fn early(plan: Plan) -> Evaluation {
        Evaluation {
            plan,
            commits: Vec::new(),
            policy: None,
            deployed: BTreeMap::new(),
            requested: BTreeMap::new(),
            files: Vec::new(),
            terraform: Vec::new(),
        }
    }
}

/// The push as the plan reports it, before the repository is read.
pub fn summary(ctx: &PushContext) -> PushSummary {
    PushSummary {
        branch: ctx.branch.clone(),
        base: None,
        head: ctx.head.clone(),
        kind: ctx.kind,
        ci: ctx.ci,
        event: ctx.event.clone(),
        commits: 0,
        base_source: None,
        actor: ctx.actor.clone(),
        run_url: ctx.run_url.clone(),
    }
}

fn parse_policy_at(
    repo: &Repo,
    commit: CommitId,
    policy_file: &str,
) -> Result<Option<Result<Policy, ConfigErrors>>, Failure> {
    let Some(id) = repo.entry_id(commit, policy_file)? else {
        return Ok(None);
    };
    let file = format!("{policy_file}@{}", &commit.to_string()[..7]);
    if repo.blob_size(id)? > config::MAX_FILE_BYTES {
        return Ok(Some(Err(ConfigErrors::one(ConfigError::new(
            &file,
            format!(
                "file is over the {} byte limit; refused before parsing",
                config::MAX_FILE_BYTES
            ),
        )))));
    }
    let bytes = repo.read_blob(id)?;
    Ok(Some(config::parse_policy(&file, &bytes)))
}

pub fn evaluate(req: &Request) -> anyhow::Result<Evaluation> {
    let ctx = &req.ctx;
    let mut push = summary(ctx);
    if ctx.kind == PushKind::Delete {
        return Ok(Evaluation::early(plan::early_skip(
            "ref deleted: nothing is deployed",
            push,
            req.env.clone(),
        )));
    }
    let repo = Repo::open(&req.repo)?;
    let Target {
        environment,
        branch,
        head,
        head_policy,
    } = match target::locate(&repo, req, &mut push)? {
        Located::Judge(t) => *t,
        Located::Early(plan) => return Ok(Evaluation::early(*plan)),
    };

    let started = std::time::Instant::now();
    let (range, judged) = read::read_push(
        repo,
        req,
        &read::Target {
            environment: &environment,
            branch: branch.as_deref(),
            head,
            head_policy: &head_policy,
        },
        started,
    )?;
    // The walk's verdicts (superseded, rewritten, shallow) come first, as they always did.
    let mut range = range?;
    summarise_range(&mut push, &range);
    let mut j = match judged? {
        Judgement::AlreadyDeployed(policy) => {
            return Ok(already_deployed(push, environment, head, &range, *policy))
        }
        Judgement::Judged(j) => *j,
    };
    let repo = Repo::open(&req.repo)?;
    if range.over_limit || range.commits.len() > j.gates.max_commits() {
        // Refused whole: `range` says so, and nothing is judged (or looked up) from a part.
        range.over_limit = true;
        range.commits.clear();
    }

    redeploy_unsettled(&repo, &environment, head, &range.commits, &mut j)?;

    let facts = RangeFacts {
        base: range.base.map(|b| b.to_string()),
        head: head.to_string(),
        source: range.source,
        rewritten: range.rewritten,
        over_limit: range.over_limit,
    };
    // Facts from outside services, before the (pure) rules: an outage stops here (exit 4).
    let gathered = crate::facts::gather(&crate::facts::Gather {
        repo: &repo,
        policy: &j.policy,
        gates: &j.gates,
        env: &j.env_def,
        ctx,
        head,
        base: range.base,
        trust_at: trust_at(&range, head),
        commits: &range.commits,
        offline: req.offline,
        vars: &req.vars,
        secrets: &req.secrets,
        environment: &environment,
        clock: &req.clock,
        changes: &j.changes,
    })?;
    let tickets = match &j.gates.jira {
        Some(jira) => gate::scan_tickets(&range.commits, &jira.projects).keys(),
        None => Vec::new(),
    };
    let diff_checks = std::mem::take(&mut j.diff_checks);
    let diff = j.diff_input();
    let input = gate::Input {
        environment: &environment,
        env: &j.env_def,
        policy: &j.policy,
        gates: &j.gates,
        push: ctx,
        range: &facts,
        commits: &range.commits,
        diff: &diff,
        offline: req.offline,
        facts: &gathered,
        clock: &req.clock,
        policy_changed: j.policy_changed,
        freeze_override: req.freeze_override.as_deref(),
    };
    let freeze = gate::freeze::state(&input);
    // The time is part of the plan only where a rule depends on it.
    let timed = req.clock.from_flag || gate::depends_on_time(&input);
    let checks = gate::evaluate(&input, diff_checks);
    log::debug!("timing: rules {:?}", started.elapsed());
    let plan = plan::build(plan::BuildInput {
        environment,
        push,
        checks,
        changes: j.changes,
        stages: j.stages,
        skip: None,
        policy_changed: j.policy_changed,
        digest: j.digest,
        ledger: range.ledger.map(|l| l.to_string()),
        offline: req.offline,
        tickets,
        evaluated_at: timed.then(|| req.clock.rfc3339()),
        now_from_flag: req.clock.from_flag,
        freeze,
    });
    Ok(Evaluation {
        plan,
        commits: range.commits,
        policy: Some(j.policy),
        deployed: j.deployed,
        requested: j.requested,
        files: j.files,
        terraform: j.terraform,
    })
}

/// What the walk found, as the plan's push summary states it.
fn summarise_range(push: &mut PushSummary, range: &Range) {
    push.base = range.base.map(|b| b.to_string());
    push.commits = range.commits.len();
    push.base_source = Some(range.source);
    if range.rewritten {
        push.kind = PushKind::Force;
    }
}

/// The head is what the ledger holds: a skip, with the policy for the run's notifications.
fn already_deployed(
    push: PushSummary,
    environment: String,
    head: CommitId,
    range: &Range,
    policy: Policy,
) -> Evaluation {
    let mut p = plan::early_skip(
        &format!("{} is already deployed to {environment}", head.short()),
        push,
        Some(environment),
    );
    p.ledger = range.ledger.map(|l| l.to_string());
    Evaluation {
        policy: Some(policy),
        ..Evaluation::early(p)
    }
}

/// Where trust files (allowed signers, keyrings) are read: from what is deployed, the ledger
/// or a base the operator named. `--bootstrap` is an explicit first-use trust in the head; a
/// mere `before` is not.
fn trust_at(range: &Range, head: CommitId) -> Option<CommitId> {
    match range.source {
        BaseSource::Ledger | BaseSource::Flag => range.base,
        BaseSource::Bootstrap => Some(head),
        BaseSource::Before => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::demo::{api, POLICY};
    use crate::repo::Identity;

    /// Only `diff` asks for the descriptor texts; `plan` and `run` drop them as each pair
    /// is parsed, and the plan is the same either way.
    #[test]
    fn descriptor_texts_are_kept_only_when_asked_for() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repo::init(dir.path()).unwrap();
        let id = Identity::new("Alice", "alice@example.com", 1_767_225_600);
        let (old, new) = (api("1.4.2"), api("1.4.3"));
        let root = repo
            .commit_files(
                Some("refs/heads/qa"),
                &[],
                &[
                    ("gitops.yaml", Some(POLICY.as_bytes())),
                    ("services/api.yaml", Some(old.as_bytes())),
                ],
                &id,
                &id,
                "OPS-1: descriptors",
            )
            .unwrap();
        repo.set_ref(&Repo::ledger_ref("qa"), root, "deployed")
            .unwrap();
        let head = repo
            .commit_files(
                Some("refs/heads/qa"),
                &[root],
                &[("services/api.yaml", Some(new.as_bytes()))],
                &id,
                &id,
                "OPS-2: bump api",
            )
            .unwrap();
        let evaluate_with = |texts: bool| {
            evaluate(&Request {
                texts,
                offline: true,
                ..crate::commands::demo::request(&repo, head)
            })
            .unwrap()
        };
        let (kept, dropped) = (evaluate_with(true), evaluate_with(false));
        assert_eq!(kept.files.len(), 1);
        assert_eq!(kept.files[0].old.as_deref(), Some(old.as_str()));
        assert_eq!(kept.files[0].new.as_deref(), Some(new.as_str()));
        assert_eq!(dropped.files.len(), 1);
        assert_eq!(dropped.files[0].path, "services/api.yaml");
        assert_eq!(
            (&dropped.files[0].old, &dropped.files[0].new),
            (&None, &None)
        );
        assert_eq!(kept.plan, dropped.plan);
        assert_eq!(kept.plan.changes.len(), 1, "{:?}", kept.plan.changes);
    }
}
