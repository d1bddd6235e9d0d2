//! The environment-wide sums the capacity rule judges a push by: read from every descriptor
//! at a commit, or carried forward from the sums a successful deploy recorded with its run
//! record on the base commit.
//!
//! Carrying them forward is what lets a push that changes 100 of 5,000 descriptors read 200
//! blobs instead of 5,100. The record is trusted as the ledger is: both are written by `run`
//! with the same credentials, and a forged ledger could point at a commit with no capacity
//! gate at all; the promotion rule already trusts the run records.
use crate::config::{self, ConfigErrors, Descriptor};
use crate::error::Failure;
use crate::gate::{Counted, HeadState, Recorded, Swap};
use crate::model::{CommitId, EntryId};
use crate::repo::{notes, BlobTrust, Repo};
use std::collections::HashMap;

/// What a descriptor side adds to the sums: a strictly valid descriptor its resources, and
/// anything else what the lenient read of its text gives, as `at` counts every descriptor.
pub fn counted(parsed: &Result<Descriptor, ConfigErrors>, bytes: Option<&[u8]>) -> Counted {
    match parsed {
        Ok(d) => Counted::of(d.resources.as_ref()),
        Err(_) => read(bytes),
    }
}

fn read(bytes: Option<&[u8]>) -> Counted {
    match bytes.map(config::descriptor_resources) {
        Some(Ok(r)) => Counted::of(r.as_ref()),
        _ => Counted::Unreadable,
    }
}

/// The head's sums for a push from `base`: carried forward from the base's record when it has
/// one for its tree that agrees with the changed descriptors, else summed over the head.
pub fn for_push(
    repo: &Repo,
    base: Option<CommitId>,
    head: CommitId,
    changed: &[Swap],
) -> Result<HeadState, Failure> {
    if let Some(b) = base {
        match recorded(repo, b) {
            Ok(Some(r)) => match HeadState::carried(&r, changed) {
                Some(s) => {
                    log::debug!("capacity: sums carried from the run record on {b}");
                    return Ok(s);
                }
                None => log::warn!(
                    "the capacity sums recorded on {} disagree with its descriptors: summing every descriptor instead",
                    &b.to_string()[..7]
                ),
            },
            Ok(None) => log::debug!("capacity: no sums recorded on {b}: summing every descriptor"),
            Err(e) => log::warn!("cannot read the run record on {b} ({e}): summing every descriptor"),
        }
    }
    let known: HashMap<&str, Counted> = changed
        .iter()
        .filter_map(|s| s.new.map(|n| (s.path, n)))
        .collect();
    at(repo, head, &known)
}

/// The sums of every descriptor at `commit`, for its run record.
pub fn record(repo: &Repo, commit: CommitId) -> Result<Recorded, Failure> {
    Ok(at(repo, commit, &HashMap::new())?.recorded(services_tree(repo, commit)?))
}

/// Every descriptor at `commit`, except those in `known` (already read, by path).
fn at(repo: &Repo, commit: CommitId, known: &HashMap<&str, Counted>) -> Result<HeadState, Failure> {
    let mut state = HeadState::default();
    let mut todo: Vec<(String, EntryId)> = Vec::new();
    for (path, id, is_blob) in repo.service_entries(commit)? {
        if config::service_name_of(&path).is_err() {
            continue;
        }
        if let Some(c) = known.get(path.as_str()) {
            state.count(&path, *c);
        } else if is_blob {
            todo.push((path, id));
        } else {
            state.count(&path, Counted::Unreadable);
        }
    }
    // Unchanged descriptors are the deployed ones, judged strictly when they changed: one
    // lenient pass for their resources is enough here.
    let ids: Vec<Option<EntryId>> = todo.iter().map(|t| Some(t.1)).collect();
    let counted = repo.map_blobs(&ids, BlobTrust::Judged, config::MAX_FILE_BYTES, |_, b| {
        read(b.as_deref())
    })?;
    for ((path, _), c) in todo.iter().zip(counted) {
        state.count(path, c);
    }
    state.unreadable.sort();
    Ok(state)
}

fn services_tree(repo: &Repo, commit: CommitId) -> Result<String, Failure> {
    Ok(repo
        .entry_id(commit, config::SERVICES_DIR)?
        .map(|t| t.to_string())
        .unwrap_or_default())
}

/// The newest sums recorded on `commit` for its own `services/` tree.
fn recorded(repo: &Repo, commit: CommitId) -> Result<Option<Recorded>, Failure> {
    let Some(note) = repo.note(notes::NOTES_REF, commit)? else {
        return Ok(None);
    };
    let tree = services_tree(repo, commit)?;
    Ok(notes::note_records(&note)
        .into_iter()
        .rev()
        .filter_map(|mut v| serde_json::from_value::<Recorded>(v.get_mut("capacity")?.take()).ok())
        .find(|r| r.schema == Recorded::SCHEMA && r.tree == tree))
}
