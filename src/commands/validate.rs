//! `gitops-gate validate`: the policy and every descriptor on every environment branch (or
//! one), all problems reported, not only the first.
use crate::cli::{Format, ValidateArgs};
use crate::config::{self, ConfigError};
use crate::error::{Exit, Failure};
use crate::repo::Repo;
use rayon::prelude::*;

pub struct Report {
    pub checked: Vec<(String, String, usize)>,
    pub problems: Vec<ConfigError>,
}

/// Validates one commit: its policy and every entry under `services/`.
pub fn validate_commit(
    repo: &Repo,
    label: &str,
    commit: git2::Oid,
    policy_file: &str,
) -> Result<(usize, Vec<ConfigError>), Failure> {
    let at = |f: &str| format!("{label}:{f}");
    let mut problems = Vec::new();
    match repo.entry_id(commit, policy_file)? {
        None => problems.push(
            ConfigError::new(&at(policy_file), "missing").hint("create it with `gitops-gate init`"),
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
    let found: Vec<ConfigError> = files
        .par_iter()
        .flat_map_iter(
            |(file, name, bytes)| match config::parse_descriptor(file, name, bytes) {
                Ok(_) => Vec::new(),
                Err(e) => e.0,
            },
        )
        .collect();
    problems.extend(found);
    Ok((n, problems))
}

pub fn run(a: &ValidateArgs) -> anyhow::Result<Exit> {
    let policy_file = a.policy.as_str();
    let repo = Repo::open(&a.repo)?;
    let head = repo.resolve("HEAD")?;
    let policy = match repo.read_path(head, policy_file)? {
        Some(bytes) => config::parse_policy(policy_file, &bytes),
        None => {
            return Err(Failure::invalid(format!("no {policy_file} at HEAD"))
                .hint("run inside a deployment repository, or create one with `gitops-gate init`")
                .into())
        }
    };
    let mut report = Report {
        checked: Vec::new(),
        problems: Vec::new(),
    };
    match policy {
        Err(e) => report.problems.extend(e.0),
        Ok(p) => {
            if let Some(env) = &a.env {
                if p.environment(env).is_none() {
                    return Err(Failure::invalid(format!("`{env}` is not an environment"))
                        .hint(format!(
                            "valid environments: {}",
                            p.environments
                                .keys()
                                .cloned()
                                .collect::<Vec<_>>()
                                .join(", ")
                        ))
                        .into());
                }
            }
            for (name, env) in p.environments.iter() {
                if a.env.as_ref().is_some_and(|e| e != name) {
                    continue;
                }
                match repo.branch_tip(&env.branch) {
                    Some(tip) => {
                        let (n, problems) = validate_commit(&repo, &env.branch, tip, policy_file)?;
                        report.checked.push((name.clone(), env.branch.clone(), n));
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
    match a.format {
        Format::Json => crate::outln!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "valid": report.problems.is_empty(),
                "checked": report.checked.iter().map(|(e, b, n)| serde_json::json!({"environment": e, "branch": b, "descriptors": n})).collect::<Vec<_>>(),
                "problems": report.problems,
            }))?
        ),
        Format::Text => {
            for (e, b, n) in &report.checked {
                crate::outln!("checked {e} (branch {b}): policy and {n} descriptor(s)");
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
