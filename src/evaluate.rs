//! One push through the whole pure pipeline: CI context -> repository -> config -> diff ->
//! gate -> plan. Commands call this and then render, run or show the result.
use crate::ci::{Env, PushContext, PushKind, Secrets};
use crate::config::{self, ConfigError, ConfigErrors, Descriptor, Policy};
use crate::diff::terraform::{self, PlanFile};
use crate::diff::{self, Requested, ServiceChange};
use crate::error::Failure;
use crate::gate::{self, Check, RangeFacts};
use crate::plan::{self, Plan, PushSummary};
use crate::repo::{self, BlobTrust, CommitInfo, RangeRequest, Repo};
use crate::sums;
use std::collections::BTreeMap;
use std::path::PathBuf;

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
}

/// A changed descriptor's blobs, parsed.
struct Pending {
    blobs: Blobs,
    /// Deployed and requested, as parsed (`None`: no such file on that side).
    parsed: (Option<Parsed>, Option<Parsed>),
    /// The semantic diff of the two sides, computed where they are parsed.
    change: Option<ServiceChange>,
    /// What each side adds to the capacity sums, read while its text is at hand.
    counted: (Option<gate::Counted>, Option<gate::Counted>),
}

type Parsed = Result<Descriptor, ConfigErrors>;

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
    commit: git2::Oid,
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
    let policy_file = req.policy_path.as_str();
    let mut push = summary(ctx);
    if ctx.kind == PushKind::Delete {
        return Ok(Evaluation::early(plan::early_skip(
            "ref deleted: nothing is deployed",
            push,
            req.env.clone(),
        )));
    }
    let repo = Repo::open(&req.repo)?;
    let branch = match (&ctx.branch, &req.env) {
        (Some(b), _) => Some(b.clone()),
        // `--env` alone judges that environment's branch, whatever is checked out.
        (None, Some(e)) if ctx.tag.is_none() => Some(branch_of_environment(&repo, e, policy_file)?),
        (None, _) if ctx.tag.is_none() => repo.current_branch(),
        (None, _) => None,
    };
    if let (Some(e), Some(b), true) = (&req.env, &ctx.branch, req.branch_flag) {
        // Both named by hand: they must agree, or the wrong branch is judged against the
        // environment's ledger.
        let own = branch_of_environment(&repo, e, policy_file)?;
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
    let head = head_of(&repo, ctx, branch.as_deref())?;
    push.head = Some(head.to_string());
    push.branch = branch.clone();

    let head_policy = parse_policy_at(&repo, head, policy_file)?;
    let environment = match (&req.env, &branch, &head_policy) {
        (Some(e), _, _) => e.clone(),
        (None, _, _) if ctx.tag.is_some() => {
            return Ok(Evaluation::early(plan::early_skip(
                &format!(
                    "tag `{}` maps to no environment: tags do not deploy (pass --env to gate one)",
                    ctx.tag.as_deref().unwrap_or("")
                ),
                push,
                None,
            )))
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
            .hint("create it with `gitops-gate init`, or pass --env")
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
                return Ok(Evaluation::early(plan::early_skip(
                    &format!(
                        "branch `{b}` is no environment's branch ({}): nothing to deploy{by_hand}",
                        known.join(", ")
                    ),
                    push,
                    None,
                )));
            }
        },
    };

    let head_max = match &head_policy {
        Some(Ok(p)) => p.gates_for(&environment).max_commits(),
        _ => 10_000,
    };
    let range_req = RangeRequest {
        env: &environment,
        head,
        before: ctx.before.as_deref(),
        base_flag: req.base.as_deref(),
        bootstrap: req.bootstrap,
        fetch: req.fetch,
        refresh: req.refresh,
        max_commits: head_max,
    };
    let resolved = repo::range::resolve(&repo, &range_req)?;
    let started = std::time::Instant::now();
    let job = Descriptors {
        environment: &environment,
        flag_env: req.env.is_some(),
        branch: branch.as_deref(),
        head,
        base: resolved.base(),
        ledger: resolved.ledger(),
        head_policy: &head_policy,
        policy_file,
        terraform_plans: &req.terraform_plans,
    };
    let git_dir = repo.git_dir().to_path_buf();
    // The descriptor side reads on a handle of its own, closed once every descriptor is
    // read: that unmaps the pack and frees libgit2's caches (about 10 MiB for 10,000
    // descriptors) before the stages are laid out. libgit2 maps a pack once for all the
    // handles that read it, so this first handle is closed as well; the integrations open
    // a new one.
    drop(repo);
    // The history walk needs only the base and the head, and the descriptors need no
    // commits. The walk is `git log` in its own process (see `repo::git_log`), so it runs
    // from the start on the other core while this thread reads the descriptors on its handle
    // and every core parses and judges them; only the rules that need commits wait for it.
    let (range, judged) = std::thread::scope(|s| {
        let walker = s.spawn(|| {
            let w = Repo::open(&git_dir).and_then(|r| repo::range::walk(&r, &range_req, resolved));
            log::debug!("timing: history walk {:?}", started.elapsed());
            w
        });
        let judged = (|| {
            let repo = Repo::open(&git_dir)?;
            let read = read_descriptors(&repo, job.base, head, policy_file, req.texts)?;
            log::debug!(
                "timing: descriptors read and parsed {:?}",
                started.elapsed()
            );
            let mut judged = judge_descriptors(&repo, &job, read)?;
            // Closing unmaps the pack and frees libgit2's caches: 2-3 ms for a large push,
            // which need not hold up the stages. The thread is not joined: nothing waits for
            // it, and the process may end first.
            std::thread::spawn(move || drop(repo));
            if let Judgement::Judged(j) = &mut judged {
                j.lay_out(&environment, head);
            }
            log::debug!("timing: descriptors judged {:?}", started.elapsed());
            Ok::<_, anyhow::Error>(judged)
        })();
        (walker.join(), judged)
    });
    // The walk's verdicts (superseded, rewritten, shallow) come first, as they always did.
    let mut range =
        range.map_err(|_| Failure::invalid("the history walk stopped unexpectedly"))??;
    push.base = range.base.map(|b| b.to_string());
    push.commits = range.commits.len();
    push.base_source = Some(range.source);
    if range.rewritten {
        push.kind = PushKind::Force;
    }
    let mut j = match judged? {
        Judgement::AlreadyDeployed(policy) => {
            let mut p = plan::early_skip(
                &format!(
                    "{} is already deployed to {environment}",
                    &head.to_string()[..7]
                ),
                push,
                Some(environment.clone()),
            );
            p.ledger = range.ledger.map(|l| l.to_string());
            return Ok(Evaluation {
                policy: Some(*policy),
                ..Evaluation::early(p)
            });
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
    let gathered = crate::integrations::gather::gather(&crate::integrations::gather::Gather {
        repo: &repo,
        policy: &j.policy,
        gates: &j.gates,
        env: &j.env_def,
        ctx,
        head,
        base: range.base,
        // Trust files come from what is deployed: the ledger, or a base the operator named.
        // `--bootstrap` is an explicit first-use trust in the head; a mere `before` is not.
        trust_at: match range.source {
            repo::BaseSource::Ledger | repo::BaseSource::Flag => range.base,
            repo::BaseSource::Bootstrap => Some(head),
            repo::BaseSource::Before => None,
        },
        commits: &range.commits,
        offline: req.offline,
        vars: &req.vars,
        secrets: &req.secrets,
    })?;
    let tickets = match &j.gates.jira {
        Some(jira) => gate::scan_tickets(&range.commits, &jira.projects).keys(),
        None => Vec::new(),
    };
    let mut checks = std::mem::take(&mut j.checks);
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
    };
    checks.extend(gate::evaluate(&input, diff_checks));
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

/// A failed run leaves the cluster in a state the ledger does not describe: its deploy
/// stages may have rolled out versions that never passed. Every service such a run (recorded
/// on a commit of this range) started to deploy is deployed again, even when the push asks
/// for exactly what the ledger holds (a rollback), so the cluster converges on the request.
fn redeploy_unsettled(
    repo: &Repo,
    environment: &str,
    head: git2::Oid,
    commits: &[CommitInfo],
    j: &mut Judged,
) -> anyhow::Result<()> {
    if commits.is_empty() {
        return Ok(());
    }
    let ids: std::collections::HashSet<git2::Oid> = commits
        .iter()
        .filter_map(|c| git2::Oid::from_str(&c.id).ok())
        .collect();
    let mut added = false;
    for (run_head, service) in repo.unsettled(environment, &ids)? {
        if j.changes.iter().any(|c| c.service == service) {
            continue;
        }
        let path = format!("{}/{service}.yaml", config::SERVICES_DIR);
        let read = |at: git2::Oid| -> Result<Option<Descriptor>, Failure> {
            Ok(repo
                .read_path(at, &path)?
                .and_then(|b| config::parse_descriptor(&path, &service, &b).ok()))
        };
        // Unchanged since the ledger, so it parsed when deployed; absent at the head, there
        // is nothing to converge on.
        let Some(requested) = read(head)? else {
            continue;
        };
        let tried = read(run_head)?
            .map(|d| d.version)
            .unwrap_or_else(|| "unknown".into());
        let why = format!(
            "redeploy: the failed run of {} may have left {tried} running",
            &run_head.to_string()[..7]
        );
        j.changes.push(ServiceChange {
            service: service.clone(),
            kind: diff::ChangeKind::Changed,
            from: Some(tried.clone()),
            to: Some(requested.version.clone()),
            risk: diff::Risk::Safe,
            fields: vec![diff::FieldChange {
                path: "version".into(),
                old: Some(tried),
                new: Some(requested.version.clone()),
                risk: diff::Risk::Safe,
                why: Some(why),
            }],
        });
        j.deployed.insert(service.clone(), requested.clone());
        j.requested.insert(service, requested);
        added = true;
    }
    if added {
        j.changes.sort_by(|a, b| a.service.cmp(&b.service));
        j.lay_out(environment, head);
    }
    Ok(())
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
fn head_of(repo: &Repo, ctx: &PushContext, branch: Option<&str>) -> anyhow::Result<git2::Oid> {
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

/// What the descriptor side of a push is judged from: everything but its commits.
struct Descriptors<'a> {
    environment: &'a str,
    /// `--env` chose the environment (so the branch mapping is not checked).
    flag_env: bool,
    branch: Option<&'a str>,
    head: git2::Oid,
    base: Option<git2::Oid>,
    ledger: Option<git2::Oid>,
    head_policy: &'a Option<Result<Policy, ConfigErrors>>,
    policy_file: &'a str,
    terraform_plans: &'a [PathBuf],
}

enum Judgement {
    /// The head is what the ledger says runs: nothing to judge.
    AlreadyDeployed(Box<Policy>),
    Judged(Box<Judged>),
}

/// The descriptor side, judged: the deployed policy, the diff and its rules' checks, and
/// the stages a deploy would run.
struct Judged {
    policy: Policy,
    env_def: config::Environment,
    gates: config::Gates,
    /// Notes on the policy and on deployed descriptors, read before every rule's checks.
    checks: Vec<Check>,
    diff_checks: gate::DiffChecks,
    deployed: BTreeMap<String, Descriptor>,
    requested: BTreeMap<String, Descriptor>,
    changes: Vec<ServiceChange>,
    files: Vec<FileChange>,
    problems: Vec<ConfigError>,
    policy_changed: bool,
    all_requested: Option<gate::HeadState>,
    terraform: Vec<PlanFile>,
    digest: String,
    stages: Vec<plan::Stage>,
}

impl Judged {
    /// The diff rules' checks, and the stages: they need no verdict, so they are laid out
    /// now and kept only if the plan deploys.
    fn lay_out(&mut self, environment: &str, head: git2::Oid) {
        let head = head.to_string();
        let (diff_checks, stages) = rayon::join(
            || gate::judge_diff(&self.diff_input()),
            || {
                plan::stages(&plan::StagesInput {
                    environment,
                    env: &self.env_def,
                    policy: &self.policy,
                    head: &head,
                    changes: &self.changes,
                    requested: &self.requested,
                    deployed: &self.deployed,
                    digest: &self.digest,
                })
            },
        );
        self.diff_checks = diff_checks;
        self.stages = stages;
    }

    fn diff_input(&self) -> gate::DiffInput<'_> {
        gate::DiffInput {
            gates: &self.gates,
            changes: &self.changes,
            deployed: &self.deployed,
            requested: &self.requested,
            problems: &self.problems,
            all_requested: self.all_requested.as_ref(),
            terraform: &self.terraform,
        }
    }
}

/// The rules that judge a push come from what is deployed, so a push cannot loosen them.
fn judge_descriptors(
    repo: &Repo,
    job: &Descriptors,
    (tree, pending, name_problems): Read,
) -> anyhow::Result<Judgement> {
    let (environment, policy_file, head) = (job.environment, job.policy_file, job.head);
    let mut checks: Vec<Check> = Vec::new();
    let base_policy = match job.base {
        Some(b) => parse_policy_at(repo, b, policy_file)?,
        None => None,
    };
    let policy: Policy = match (base_policy, job.head_policy) {
        (Some(Ok(p)), _) => p,
        (Some(Err(e)), _) => {
            return Err(anyhow::Error::new(e).context(Failure::invalid(
                "the deployed policy (at the base commit) does not parse",
            ).hint("repair gitops.yaml on the deployed commit, or bootstrap with --base <a commit with a valid policy>")))
        }
        (None, Some(Ok(p))) => {
            checks.push(
                Check::warn("policy", "no policy at the base commit: judged by the requested gitops.yaml")
                    .hint("after the first deploy the deployed policy judges every push"),
            );
            p.clone()
        }
        (None, Some(Err(e))) => return Err(e.clone().into()),
        (None, None) => {
            return Err(Failure::invalid(format!("{policy_file} is missing at the base and at the head"))
                .hint("create it with `gitops-gate init`")
                .into())
        }
    };
    let from_head = || match job.head_policy {
        Some(Ok(p)) => p.environment(environment).cloned(),
        _ => None,
    };
    let env_def = match policy.environment(environment).cloned() {
        Some(e) => e,
        None => match from_head() {
            Some(e) => {
                checks.push(Check::warn(
                    "policy",
                    format!("environment `{environment}` is new in this push: judged by the requested policy"),
                ));
                e
            }
            None => {
                return Err(Failure::invalid(format!(
                    "`{environment}` is not an environment of the policy"
                ))
                .hint(format!(
                    "valid environments: {}",
                    policy
                        .environments
                        .keys()
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
                .into())
            }
        },
    };
    if !job.flag_env {
        if let (Some(b), Some((mapped, _))) = (
            job.branch,
            job.branch.and_then(|b| policy.environment_for_branch(b)),
        ) {
            if mapped != environment {
                checks.push(
                    Check::fail(
                        "policy",
                        format!("the requested gitops.yaml moves branch `{b}` from environment `{mapped}` to `{environment}`"),
                    )
                    .file(policy_file)
                    .hint("change environment mappings in a push of their own, judged by the deployed policy"),
                );
            }
        }
    }
    let gates = policy.gates_for(environment);
    if job.ledger == Some(head) {
        return Ok(Judgement::AlreadyDeployed(Box::new(policy)));
    }

    let mut problems: Vec<ConfigError> = Vec::new();
    if tree.policy_changed {
        match job.head_policy {
            Some(Err(e)) => problems.extend(e.0.iter().cloned()),
            None => problems.push(
                ConfigError::new(policy_file, format!("the push deletes {policy_file}")).hint("restore it"),
            ),
            Some(Ok(_)) => checks.push(Check::warn(
                "policy",
                "gitops.yaml changes in this push: judged by the deployed policy; the new one applies once deployed",
            ).file(policy_file)),
        }
    }
    problems.extend(name_problems);

    // Collected, then built in one go: `collect` sorts the pairs (tree order is not always
    // name order) and fills every node, while inserting in order leaves each about half
    // empty (4 MiB for 10,000 descriptors).
    let mut deployed = Vec::with_capacity(pending.len());
    let mut requested = Vec::with_capacity(pending.len());
    let mut changes: Vec<ServiceChange> = Vec::new();
    let mut files = Vec::new();
    let mut counted = Vec::with_capacity(pending.len());
    for mut p in pending {
        counted.push(p.counted);
        let (old, new) = std::mem::take(&mut p.parsed);
        let old = match old {
            Some(Ok(d)) => Some(d),
            Some(Err(e)) => {
                checks.push(Check::warn(
                    "schema",
                    format!(
                        "the deployed {} no longer parses: {}",
                        p.blobs.path, e.0[0].message
                    ),
                ));
                None
            }
            None => None,
        };
        if let Some(Err(e)) = &new {
            problems.extend(e.0.iter().cloned());
        }
        if let Some(c) = p.change.take() {
            changes.push(c);
        }
        let text = |b: Option<Vec<u8>>| {
            b.map(|b| {
                String::from_utf8(b)
                    .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
            })
        };
        if let Some(d) = old {
            deployed.push((p.blobs.name.clone(), d));
        }
        if let Some(Ok(d)) = new {
            requested.push((p.blobs.name.clone(), d));
        }
        files.push(FileChange {
            service: p.blobs.name,
            path: p.blobs.path,
            old: text(p.blobs.old),
            new: text(p.blobs.new),
        });
    }

    let (deployed, requested): (BTreeMap<String, Descriptor>, BTreeMap<String, Descriptor>) =
        rayon::join(
            || deployed.into_iter().collect(),
            || requested.into_iter().collect(),
        );
    let all_requested = match gates.capacity {
        Some(_) => {
            let swaps: Vec<gate::Swap> = files
                .iter()
                .zip(&counted)
                .map(|(f, (old, new))| gate::Swap {
                    path: &f.path,
                    old: *old,
                    new: *new,
                })
                .collect();
            Some(sums::for_push(repo, job.base, head, &swaps)?)
        }
        None => None,
    };
    let terraform = terraform_plans(repo, head, &gates, job.terraform_plans)?;
    let digest = plan_digest(repo, environment, job.base, head, job.ledger, policy_file)?;
    Ok(Judgement::Judged(Box::new(Judged {
        policy,
        env_def,
        gates,
        checks,
        diff_checks: gate::DiffChecks::default(),
        deployed,
        requested,
        changes,
        files,
        problems,
        policy_changed: tree.policy_changed,
        all_requested,
        terraform,
        stages: Vec::new(),
        digest,
    })))
}

/// A changed descriptor's blobs.
struct Blobs {
    name: String,
    path: String,
    old: Option<Vec<u8>>,
    new: Option<Vec<u8>>,
}

/// What changed, the changed descriptors parsed and diffed, and the problems of paths that
/// are no descriptors.
/// Each pair is boxed where it is parsed: a parsed pair is over a kilobyte, and the batches
/// it travels in are moved and joined on the reading thread.
type Read = (repo::TreeChanges, Vec<Box<Pending>>, Vec<ConfigError>);

/// The descriptors the push changes, read on this handle and parsed and diffed on every core
/// as they arrive. The deployed side was judged when it was deployed; the requested side is
/// untrusted, so its size is checked before it is inflated.
fn read_descriptors(
    repo: &Repo,
    base: Option<git2::Oid>,
    head: git2::Oid,
    policy_file: &str,
    texts: bool,
) -> Result<Read, Failure> {
    let tree = repo.changes(base, head, policy_file)?;
    let mut problems = Vec::new();
    let mut named = Vec::new();
    for c in &tree.services {
        match config::service_name_of(&c.path) {
            // A submodule or symbolic link has no descriptor to read: named, with the fix.
            Ok(_) if c.new_not_a_file.is_some() => {
                let why = c.new_not_a_file.clone().unwrap_or_default();
                problems.push(ConfigError::new(&c.path, why));
            }
            Ok(n) => named.push((n.to_string(), c)),
            Err(why) => {
                if c.new.is_some() {
                    problems.push(ConfigError::new(&c.path, why));
                }
            }
        }
    }
    let ids: Vec<_> = named.iter().map(|(_, c)| (c.old, c.new)).collect();
    let pending = repo.map_pairs(
        &ids,
        (BlobTrust::Judged, BlobTrust::Untrusted),
        config::MAX_FILE_BYTES,
        |i, (old, new)| {
            let (name, c) = &named[i];
            let mut pending = parse_pair(Blobs {
                name: name.clone(),
                path: c.path.clone(),
                old,
                new,
            });
            if !texts {
                (pending.blobs.old, pending.blobs.new) = (None, None);
            }
            Box::new(pending)
        },
    )?;
    Ok((tree, pending, problems))
}

/// Parsed (a version-only change reuses the deployed side) and diffed.
fn parse_pair(b: Blobs) -> Pending {
    let parsed =
        config::parse_descriptor_pair(&b.path, &b.name, b.old.as_deref(), b.new.as_deref());
    let deployed = parsed.0.as_ref().and_then(|r| r.as_ref().ok());
    let requested = match &parsed.1 {
        Some(Ok(d)) => Requested::Present(d),
        Some(Err(_)) => Requested::Unreadable,
        None => Requested::Absent,
    };
    let change = diff::service(&b.name, deployed, requested);
    let counted = (
        parsed
            .0
            .as_ref()
            .map(|p| sums::counted(p, b.old.as_deref())),
        parsed
            .1
            .as_ref()
            .map(|p| sums::counted(p, b.new.as_deref())),
    );
    Pending {
        change,
        blobs: b,
        parsed,
        counted,
    }
}

/// The plans `gates.terraform.plans` names (read from the head commit; a missing or bad one
/// is a failing check), then the `--terraform-plan` files (a bad one is invalid input).
fn terraform_plans(
    repo: &Repo,
    head: git2::Oid,
    gates: &config::Gates,
    flags: &[PathBuf],
) -> Result<Vec<PlanFile>, Failure> {
    let mut out = Vec::new();
    let short = &head.to_string()[..7];
    for path in gates.terraform.iter().flat_map(|t| t.plans.iter()) {
        let source = format!("{path}@{short}");
        let plan = match repo.entry_id(head, path)? {
            None => {
                Err("not found at the head commit (gates.terraform.plans names it)".to_string())
            }
            Some(id) if repo.blob_size(id)? > terraform::MAX_PLAN_BYTES => Err(format!(
                "over the {} byte limit; refused before parsing",
                terraform::MAX_PLAN_BYTES
            )),
            Some(id) => terraform::parse(&repo.read_blob(id)?),
        };
        out.push(PlanFile { source, plan });
    }
    for f in flags {
        let shown = f.display().to_string();
        let bytes = std::fs::read(f).map_err(|e| {
            Failure::invalid(format!("cannot read --terraform-plan {shown}: {e}"))
                .hint("write it with `terraform show -json plan.out > plan.json`")
        })?;
        let plan = terraform::parse(&bytes)
            .map_err(|e| Failure::invalid(format!("--terraform-plan {shown}: {e}")))?;
        out.push(PlanFile {
            source: shown,
            plan: Ok(plan),
        });
    }
    Ok(out)
}

/// Environment, base, head, ledger, and the ids of the deployed and requested policy and
/// descriptor trees: Git ids are content digests, so equal inputs give equal digests.
fn plan_digest(
    repo: &Repo,
    env: &str,
    base: Option<git2::Oid>,
    head: git2::Oid,
    ledger: Option<git2::Oid>,
    policy_file: &str,
) -> Result<String, Failure> {
    let id = |c: Option<git2::Oid>, path: &str| -> Result<String, Failure> {
        Ok(match c {
            Some(c) => repo
                .entry_id(c, path)?
                .map(|o| o.to_string())
                .unwrap_or_default(),
            None => String::new(),
        })
    };
    let (base_sha, head_sha) = (
        base.map(|b| b.to_string()).unwrap_or_default(),
        head.to_string(),
    );
    let ledger = ledger.map(|l| l.to_string()).unwrap_or_default();
    let parts = [
        "gitops-gate plan v1".to_string(),
        env.to_string(),
        base_sha,
        head_sha,
        ledger,
        id(base, policy_file)?,
        id(base, config::SERVICES_DIR)?,
        id(Some(head), policy_file)?,
        id(Some(head), config::SERVICES_DIR)?,
    ];
    let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
    Ok(plan::digest(&refs))
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
