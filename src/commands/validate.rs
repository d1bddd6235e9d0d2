//! `gitops-gate validate`: the policy and every descriptor on every environment branch (or
//! one), all problems reported, not only the first.
use crate::cli::{Format, ValidateArgs};
use crate::config::{self, ConfigError};
use crate::error::{Exit, Failure};
use crate::model::CommitId;
use crate::repo::Repo;
use rayon::prelude::*;
use std::path::Path;

/// One state that was checked: an environment's branch (its tip, or the work tree when it is
/// checked out), or the work tree of a branch that is no environment's.
pub struct Checked {
    pub environment: Option<String>,
    pub branch: Option<String>,
    pub worktree: bool,
    pub descriptors: usize,
}

pub struct Report {
    pub checked: Vec<Checked>,
    pub problems: Vec<ConfigError>,
}

/// Validates one commit: its policy and every entry under `services/`.
pub fn validate_commit(
    repo: &Repo,
    label: &str,
    commit: CommitId,
    policy_file: &str,
) -> Result<(usize, Vec<ConfigError>), Failure> {
    let at = |f: &str| format!("{label}:{f}");
    let mut problems = Vec::new();
    match repo.entry_id(commit, policy_file)? {
        None => problems.push(
            ConfigError::new(&at(policy_file), "missing")
                .hint(crate::config::missing_policy_hint(policy_file)),
        ),
        Some(id) => {
            if repo.blob_size(id)? > config::MAX_FILE_BYTES {
                problems.push(ConfigError::new(&at(policy_file), "over the 1 MiB limit"));
            } else if let Err(e) = config::parse_policy(&at(policy_file), &repo.read_blob(id)?) {
                problems.extend(e.0);
            }
        }
    }
    let mut files = Vec::new();
    for (path, id, is_blob) in repo.service_entries(commit)? {
        let name = match config::service_name_of(&path) {
            Ok(n) if is_blob => n.to_string(),
            Ok(_) => {
                problems.push(ConfigError::new(
                    &at(&path),
                    repo.not_a_file_at(commit, &path),
                ));
                continue;
            }
            Err(why) => {
                problems.push(ConfigError::new(&at(&path), why));
                continue;
            }
        };
        let bytes = if repo.blob_size(id)? > config::MAX_FILE_BYTES {
            vec![b' '; config::MAX_FILE_BYTES + 1]
        } else {
            repo.read_blob(id)?
        };
        files.push((at(&path), name, bytes));
    }
    let n = files.len();
    problems.extend(parse_all(&files));
    Ok((n, problems))
}

/// Every descriptor parsed on every core: (file label, service name, bytes) -> problems.
fn parse_all(files: &[(String, String, Vec<u8>)]) -> Vec<ConfigError> {
    files
        .par_iter()
        .flat_map_iter(
            |(file, name, bytes)| match config::parse_descriptor(file, name, bytes) {
                Ok(_) => Vec::new(),
                Err(e) => e.0,
            },
        )
        .collect()
}

/// Validates the work tree as it is, uncommitted edits included: what a person is about to
/// commit is what they want checked.
pub fn validate_worktree(root: &Path, label: &str, policy_file: &str) -> (usize, Vec<ConfigError>) {
    let at = |f: &str| format!("{label}:{f}");
    let mut problems = Vec::new();
    match read_capped(&root.join(policy_file)) {
        Ok(None) => problems.push(
            ConfigError::new(&at(policy_file), "missing")
                .hint(crate::config::missing_policy_hint(policy_file)),
        ),
        Ok(Some(bytes)) => {
            if let Err(e) = config::parse_policy(&at(policy_file), &bytes) {
                problems.extend(e.0);
            }
        }
        Err(why) => problems.push(ConfigError::new(&at(policy_file), why)),
    }
    let dir = root.join(config::SERVICES_DIR);
    let mut entries: Vec<std::fs::DirEntry> = match std::fs::read_dir(&dir) {
        Ok(rd) => rd.filter_map(Result::ok).collect(),
        Err(_) => Vec::new(),
    };
    entries.sort_by_key(|e| e.file_name());
    let mut files = Vec::new();
    for e in entries {
        let path = format!(
            "{}/{}",
            config::SERVICES_DIR,
            e.file_name().to_string_lossy()
        );
        let name = match config::service_name_of(&path) {
            Ok(n) => n.to_string(),
            Err(why) => {
                problems.push(ConfigError::new(&at(&path), why));
                continue;
            }
        };
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            problems.push(ConfigError::new(
                &at(&path),
                "is a folder, not a descriptor",
            ));
            continue;
        }
        match read_capped(&e.path()) {
            Ok(Some(bytes)) => files.push((at(&path), name, bytes)),
            Ok(None) => {}
            Err(why) => problems.push(ConfigError::new(&at(&path), why)),
        }
    }
    let n = files.len();
    problems.extend(parse_all(&files));
    (n, problems)
}

/// Why a file on disk cannot be validated.
#[derive(Debug, thiserror::Error)]
enum Unreadable {
    #[error("cannot read it: {0}")]
    Io(#[from] std::io::Error),
    #[error("over the {} byte limit", config::MAX_FILE_BYTES)]
    TooLarge,
}

/// A file's bytes, refused over the size cap before they are read whole.
fn read_capped(path: &Path) -> Result<Option<Vec<u8>>, Unreadable> {
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
        Ok(m) if m.len() > config::MAX_FILE_BYTES as u64 => return Err(Unreadable::TooLarge),
        Ok(_) => {}
    }
    Ok(Some(std::fs::read(path)?))
}

pub fn run(a: &ValidateArgs) -> anyhow::Result<Exit> {
    let policy_file = a.policy.as_str();
    let repo = Repo::open(&a.repo)?;
    let head = repo.resolve("HEAD")?;
    // The work tree when there is one: the checked-out branch is judged as it is on disk.
    let worktree = repo.workdir();
    let current = repo.current_branch();
    let on_disk = worktree
        .as_ref()
        .map(|root| root.join(policy_file))
        .filter(|p| p.is_file());
    let (policy, text) = match (on_disk, repo.read_path(head, policy_file)?) {
        (Some(path), _) => match read_capped(&path) {
            Ok(bytes) => {
                let bytes = bytes.unwrap_or_default();
                (
                    config::parse_policy(policy_file, &bytes),
                    String::from_utf8_lossy(&bytes).into_owned(),
                )
            }
            Err(why) => (
                Err(config::ConfigErrors::one(ConfigError::new(
                    policy_file,
                    why,
                ))),
                String::new(),
            ),
        },
        (None, Some(bytes)) => (
            config::parse_policy(policy_file, &bytes),
            String::from_utf8_lossy(&bytes).into_owned(),
        ),
        (None, None) => {
            return Err(Failure::invalid(format!("no {policy_file} at HEAD"))
                .hint("run inside a deployment repository, or create one with `gitops-gate init`")
                .into())
        }
    };
    let mut report = Report {
        checked: Vec::new(),
        problems: Vec::new(),
    };
    let policy_ok = policy.clone();
    match policy {
        Err(e) => report.problems.extend(e.0),
        Ok(p) => {
            if let Some(env) = &a.env {
                p.require_environment(env)?;
            }
            // Tickets to look up, and no JIRA to look them up in: every online run of such
            // an environment fails closed, so say so now.
            report.problems.extend(p.unverifiable_jira_errors(
                policy_file,
                &text,
                a.env.as_deref(),
            ));
            for (name, env) in p.environments.iter() {
                if a.env.as_ref().is_some_and(|e| e != name) {
                    continue;
                }
                let on_disk = worktree
                    .as_deref()
                    .filter(|_| current.as_deref() == Some(env.branch.as_str()));
                if let Some(root) = on_disk {
                    let label = format!("{} (working tree)", env.branch);
                    let (n, problems) = validate_worktree(root, &label, policy_file);
                    report.checked.push(Checked {
                        environment: Some(name.clone()),
                        branch: Some(env.branch.clone()),
                        worktree: true,
                        descriptors: n,
                    });
                    report.problems.extend(problems);
                    continue;
                }
                match repo.branch_tip(&env.branch) {
                    Some(tip) => {
                        let (n, problems) = validate_commit(&repo, &env.branch, tip, policy_file)?;
                        report.checked.push(Checked {
                            environment: Some(name.clone()),
                            branch: Some(env.branch.clone()),
                            worktree: false,
                            descriptors: n,
                        });
                        report.problems.extend(problems);
                    }
                    None => report.problems.push(
                        ConfigError::new(
                            &env.branch,
                            format!(
                                "branch `{}` of environment `{name}` does not exist",
                                env.branch
                            ),
                        )
                        .hint(format!(
                            "create it: git branch {} && git push origin {}",
                            env.branch, env.branch
                        )),
                    ),
                }
            }
        }
    }
    if let (Some(root), Ok(p), None) = (&worktree, &policy_ok, &a.env) {
        let is_env_branch = current
            .as_deref()
            .is_some_and(|b| p.environment_for_branch(b).is_some());
        if !is_env_branch {
            let label = format!(
                "{} (working tree)",
                current.as_deref().unwrap_or("detached HEAD")
            );
            let (n, problems) = validate_worktree(root, &label, policy_file);
            report.checked.push(Checked {
                environment: None,
                branch: current.clone(),
                worktree: true,
                descriptors: n,
            });
            report.problems.extend(problems);
        }
    }
    match a.format {
        Format::Json => crate::outln!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "valid": report.problems.is_empty(),
                "checked": report.checked.iter().map(|c| serde_json::json!({"environment": c.environment, "branch": c.branch, "source": if c.worktree { "working tree" } else { "branch tip" }, "descriptors": c.descriptors})).collect::<Vec<_>>(),
                "problems": report.problems,
            }))?
        ),
        Format::Text => {
            for c in &report.checked {
                let branch = c.branch.as_deref().unwrap_or("detached HEAD");
                let source = if c.worktree {
                    format!("the working tree of branch {branch}, uncommitted edits included")
                } else {
                    format!("branch {branch}")
                };
                let n = c.descriptors;
                match &c.environment {
                    Some(e) => {
                        crate::outln!("checked {e} ({source}): policy and {n} descriptor(s)")
                    }
                    None => crate::outln!("checked {source}: policy and {n} descriptor(s)"),
                }
            }
            for p in &report.problems {
                crate::outln!("{p}");
            }
            if report.problems.is_empty() {
                crate::outln!("valid");
            } else {
                crate::outln!("{} problem(s)", report.problems.len());
            }
        }
    }
    Ok(if report.problems.is_empty() {
        Exit::Ok
    } else {
        Exit::Invalid
    })
}
