//! A failed run's services, deployed again by the next run.
use super::descriptors::Judged;
use crate::config::{self, Descriptor};
use crate::diff::{self, ServiceChange};
use crate::error::Failure;
use crate::model::CommitId;
use crate::repo::{CommitInfo, Repo};

/// A failed run leaves the cluster in a state the ledger does not describe: its deploy
/// stages may have rolled out versions that never passed. Every service such a run (recorded
/// on a commit of this range) started to deploy is deployed again, even when the push asks
/// for exactly what the ledger holds (a rollback), so the cluster converges on the request.
pub(super) fn redeploy_unsettled(
    repo: &Repo,
    environment: &str,
    head: CommitId,
    commits: &[CommitInfo],
    j: &mut Judged,
) -> anyhow::Result<()> {
    if commits.is_empty() {
        return Ok(());
    }
    let ids: std::collections::HashSet<CommitId> = commits
        .iter()
        .filter_map(|c| c.id.parse::<CommitId>().ok())
        .collect();
    let mut added = false;
    for (run_head, service) in repo.unsettled(environment, &ids)? {
        if j.changes.iter().any(|c| c.service == service) {
            continue;
        }
        let path = format!("{}/{service}.yaml", config::SERVICES_DIR);
        let read = |at: CommitId| -> Result<Option<Descriptor>, Failure> {
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
