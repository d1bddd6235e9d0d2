//! How long each version a push promotes has run in the lower environment, read from the
//! run records (Git notes under `refs/notes/gitops-gate`), for the `soak` rule.
//!
//! The records of the lower environment are read newest first. For each service, the
//! stretch of its requested version is every succeeded run whose head commit holds that
//! version, back to the first one after a run that held another version or a failed run
//! that touched the service (a stage of it ran: it was deployed, checked or tested and the
//! run failed). `since` is the end of the oldest succeeded run of the stretch: the version
//! has run there, with no failed run since, from then on.
use crate::config;
use crate::error::Failure;
use crate::gate::facts::{ServiceSoak, SoakFacts};
use crate::repo::{notes, Repo};
use chrono::{DateTime, Utc};
use std::collections::HashMap;

/// Reading the run records or the descriptors they point at failed.
#[derive(Debug, thiserror::Error)]
pub enum SoakError {
    #[error("cannot read the run records of {environment}")]
    Records {
        environment: String,
        #[source]
        source: Box<Failure>,
    },
    #[error("cannot read services/{service}.yaml at {commit} (a run of {environment})")]
    Descriptor {
        environment: String,
        service: String,
        commit: String,
        #[source]
        source: Box<Failure>,
    },
}

impl SoakError {
    /// As the gate's one failure type, keeping the exit code of the cause.
    pub fn into_failure(self) -> Failure {
        let source = match &self {
            SoakError::Records { source, .. } | SoakError::Descriptor { source, .. } => {
                (**source).clone()
            }
        };
        Failure {
            message: format!("{self}: {}", source.message),
            ..source
        }
    }
}

/// One finished run of the lower environment.
struct Run {
    at: DateTime<Utc>,
    head: String,
    succeeded: bool,
    /// Services with a stage that ran (not `pending` or `skipped`).
    touched: Vec<String>,
}

fn runs(repo: &Repo, environment: &str) -> Result<Vec<Run>, SoakError> {
    let all = repo
        .notes(notes::NOTES_REF)
        .map_err(|source| SoakError::Records {
            environment: environment.to_string(),
            source: Box::new(source),
        })?;
    let ledger = repo.ledger(environment);
    let mut out = Vec::new();
    for (commit, text) in all {
        for r in notes::note_records(&text) {
            let field = |k: &str| r.get(k).and_then(|v| v.as_str());
            if field("environment") != Some(environment) {
                continue;
            }
            let succeeded = match field("result") {
                Some("succeeded") => true,
                Some("failed") => false,
                _ => continue,
            };
            let Some(at) = field("finished")
                .or(field("started"))
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.with_timezone(&Utc))
            else {
                continue;
            };
            let touched = r
                .get("stages")
                .and_then(|s| s.as_array())
                .into_iter()
                .flatten()
                .filter(|st| {
                    !matches!(
                        st.get("result").and_then(|v| v.as_str()),
                        Some("pending" | "skipped")
                    )
                })
                .filter_map(|st| st.get("service").and_then(|v| v.as_str()))
                .map(str::to_string)
                .collect();
            let head = field("head").unwrap_or(&commit).to_string();
            if succeeded && !consistent(repo, ledger, &commit, &head, at) {
                log::warn!(
                    "the run record of {environment} on {} does not match its commit or {environment}'s ledger: not counted for soak",
                    &commit[..commit.len().min(7)]
                );
                continue;
            }
            out.push(Run {
                at,
                head,
                succeeded,
                touched,
            });
        }
    }
    // Newest first; a failure and a success at the same second: the failure counts as
    // the later, the cautious reading.
    out.sort_by(|a, b| b.at.cmp(&a.at).then(a.succeeded.cmp(&b.succeeded)));
    Ok(out)
}

/// Whether a succeeded record can be what `run` wrote: `run` notes the commit it deployed
/// (so the record's `head` is the annotated commit), that commit is then in the ledger's
/// history, and the run ended after the commit was made. Notes are as writable as any ref a
/// pusher may push, so a record that fails any of these (a note on another environment's
/// commit, a backdated `finished`) never shortens a soak. A failed record is kept either
/// way: it can only lengthen one.
fn consistent(
    repo: &Repo,
    ledger: Option<crate::model::CommitId>,
    commit: &str,
    head: &str,
    at: DateTime<Utc>,
) -> bool {
    let (Some(id), Some(ledger)) = (repo.parse_oid(commit), ledger) else {
        return false;
    };
    if head != commit {
        return false;
    }
    let in_history = id == ledger || repo.is_ancestor(id, ledger).unwrap_or(false);
    let made = repo.commit_info(id).map(|c| c.committer.time).ok();
    in_history && made.is_some_and(|t| at.timestamp() >= t)
}

/// The version of `service` at `head`, `None` when the commit or the file is missing or
/// does not parse.
fn version_at(
    repo: &Repo,
    environment: &str,
    head: &str,
    service: &str,
) -> Result<Option<String>, SoakError> {
    let Some(oid) = repo.parse_oid(head) else {
        return Ok(None);
    };
    let path = format!("{}/{service}.yaml", config::SERVICES_DIR);
    let bytes = repo
        .read_path(oid, &path)
        .map_err(|source| SoakError::Descriptor {
            environment: environment.to_string(),
            service: service.to_string(),
            commit: head[..head.len().min(7)].to_string(),
            source: Box::new(source),
        })?;
    Ok(bytes
        .and_then(|b| config::parse_descriptor(&path, service, &b).ok())
        .map(|d| d.version))
}

/// The soak of each `(service, version)` in `environment`.
pub fn read(
    repo: &Repo,
    environment: &str,
    wanted: &[(String, String)],
) -> Result<SoakFacts, SoakError> {
    let mut facts = SoakFacts {
        environment: environment.to_string(),
        ..SoakFacts::default()
    };
    if wanted.is_empty() {
        return Ok(facts);
    }
    let runs = runs(repo, environment)?;
    let mut versions: HashMap<(String, String), Option<String>> = HashMap::new();
    for (service, version) in wanted {
        let mut s = ServiceSoak {
            version: version.clone(),
            ..ServiceSoak::default()
        };
        for r in &runs {
            if !r.succeeded {
                if r.touched.iter().any(|t| t == service) {
                    s.failed = Some((r.at, r.head.clone()));
                    break;
                }
                continue;
            }
            let key = (r.head.clone(), service.clone());
            let v = match versions.get(&key) {
                Some(v) => v.clone(),
                None => {
                    let v = version_at(repo, environment, &r.head, service)?;
                    versions.insert(key, v.clone());
                    v
                }
            };
            if v.as_deref() != Some(version.as_str()) {
                break;
            }
            s.since = Some((r.at, r.head.clone()));
        }
        facts.services.insert(service.clone(), s);
    }
    Ok(facts)
}
