//! The descriptor side of a push: which policy judges it (the deployed one), the changed
//! descriptors read, parsed and diffed on every core, the capacity sums, the Terraform plans,
//! the plan digest, and the stages a deploy would run. It needs no commits, so it runs beside
//! the history walk.
use super::{parse_policy_at, FileChange};
use crate::config::{self, ConfigError, ConfigErrors, Descriptor, Policy};
use crate::diff::terraform::{self, PlanFile};
use crate::diff::{self, Requested, ServiceChange};
use crate::error::Failure;
use crate::gate::{self, PolicyNote, Unparsable};
use crate::model::CommitId;
use crate::plan;
use crate::repo::{self, BlobTrust, Repo};
use crate::sums;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// A changed descriptor's blobs, parsed.
pub(super) struct Pending {
    blobs: Blobs,
    /// Deployed and requested, as parsed (`None`: no such file on that side).
    parsed: (Option<Parsed>, Option<Parsed>),
    /// The semantic diff of the two sides, computed where they are parsed.
    change: Option<ServiceChange>,
    /// What each side adds to the capacity sums, read while its text is at hand.
    counted: (Option<gate::Counted>, Option<gate::Counted>),
}

type Parsed = Result<Descriptor, ConfigErrors>;

/// What the descriptor side of a push is judged from: everything but its commits.
pub(super) struct Descriptors<'a> {
    pub(super) environment: &'a str,
    /// `--env` chose the environment (so the branch mapping is not checked).
    pub(super) flag_env: bool,
    pub(super) branch: Option<&'a str>,
    pub(super) head: CommitId,
    pub(super) base: Option<CommitId>,
    pub(super) ledger: Option<CommitId>,
    pub(super) head_policy: &'a Option<Result<Policy, ConfigErrors>>,
    pub(super) policy_file: &'a str,
    pub(super) terraform_plans: &'a [PathBuf],
}

pub(super) enum Judgement {
    /// The head is what the ledger says runs: nothing to judge.
    AlreadyDeployed(Box<Policy>),
    Judged(Box<Judged>),
}

/// The descriptor side, judged: the deployed policy, the diff and its rules' checks, and
/// the stages a deploy would run.
pub(super) struct Judged {
    pub(super) policy: Policy,
    pub(super) env_def: config::Environment,
    pub(super) gates: config::Gates,
    /// What choosing the policy found, for the `policy` rule.
    pub(super) policy_notes: Vec<PolicyNote>,
    /// Deployed descriptors that no longer parse, for the `schema` rule.
    pub(super) unparsable: Vec<Unparsable>,
    pub(super) diff_checks: gate::DiffChecks,
    pub(super) deployed: BTreeMap<String, Descriptor>,
    pub(super) requested: BTreeMap<String, Descriptor>,
    pub(super) changes: Vec<ServiceChange>,
    pub(super) files: Vec<FileChange>,
    pub(super) problems: Vec<ConfigError>,
    pub(super) policy_changed: bool,
    pub(super) all_requested: Option<gate::HeadState>,
    pub(super) terraform: Vec<PlanFile>,
    pub(super) digest: String,
    pub(super) stages: Vec<plan::Stage>,
}

impl Judged {
    /// The diff rules' checks, and the stages: they need no verdict, so they are laid out
    /// now and kept only if the plan deploys.
    pub(super) fn lay_out(&mut self, environment: &str, head: CommitId) {
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

    pub(super) fn diff_input(&self) -> gate::DiffInput<'_> {
        gate::DiffInput {
            gates: &self.gates,
            changes: &self.changes,
            deployed: &self.deployed,
            requested: &self.requested,
            problems: &self.problems,
            policy_notes: &self.policy_notes,
            unparsable: &self.unparsable,
            all_requested: self.all_requested.as_ref(),
            terraform: &self.terraform,
        }
    }
}

/// The rules that judge a push come from what is deployed, so a push cannot loosen them.
pub(super) fn judge_descriptors(
    repo: &Repo,
    job: &Descriptors,
    (tree, pending, name_problems): Read,
) -> anyhow::Result<Judgement> {
    let (environment, policy_file, head) = (job.environment, job.policy_file, job.head);
    let mut notes: Vec<PolicyNote> = Vec::new();
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
            notes.push(PolicyNote::NoDeployedPolicy);
            p.clone()
        }
        (None, Some(Err(e))) => return Err(e.clone().into()),
        (None, None) => {
            return Err(Failure::invalid(format!("{policy_file} is missing at the base and at the head"))
                .hint(config::missing_policy_hint(policy_file))
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
                notes.push(PolicyNote::NewEnvironment {
                    environment: environment.to_string(),
                });
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
                notes.push(PolicyNote::BranchMoved {
                    file: policy_file.to_string(),
                    branch: b.to_string(),
                    from: mapped.to_string(),
                    to: environment.to_string(),
                });
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
                ConfigError::new(policy_file, format!("the push deletes {policy_file}"))
                    .hint("restore it"),
            ),
            Some(Ok(_)) => notes.push(PolicyNote::Changed {
                file: policy_file.to_string(),
            }),
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
    let mut unparsable = Vec::new();
    for mut p in pending {
        counted.push(p.counted);
        let (old, new) = std::mem::take(&mut p.parsed);
        let old = match old {
            Some(Ok(d)) => Some(d),
            Some(Err(mut e)) => {
                unparsable.push(Unparsable {
                    path: p.blobs.path.clone(),
                    error: e.0.swap_remove(0),
                });
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
        policy_notes: notes,
        unparsable,
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
pub(super) type Read = (repo::TreeChanges, Vec<Box<Pending>>, Vec<ConfigError>);

/// The descriptors the push changes, read on this handle and parsed and diffed on every core
/// as they arrive. The deployed side was judged when it was deployed; the requested side is
/// untrusted, so its size is checked before it is inflated.
pub(super) fn read_descriptors(
    repo: &Repo,
    base: Option<CommitId>,
    head: CommitId,
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
    head: CommitId,
    gates: &config::Gates,
    flags: &[PathBuf],
) -> Result<Vec<PlanFile>, Failure> {
    let mut out = Vec::new();
    let short = &head.to_string()[..7];
    for path in gates.terraform.iter().flat_map(|t| t.plans.iter()) {
        let source = format!("{path}@{short}");
        let plan = match repo.entry_id(head, path)? {
            None => Err(terraform::PlanError::NotAtHead),
            Some(id) if repo.blob_size(id)? > terraform::MAX_PLAN_BYTES => {
                Err(terraform::PlanError::BlobTooLarge)
            }
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
    base: Option<CommitId>,
    head: CommitId,
    ledger: Option<CommitId>,
    policy_file: &str,
) -> Result<String, Failure> {
    let id = |c: Option<CommitId>, path: &str| -> Result<String, Failure> {
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
