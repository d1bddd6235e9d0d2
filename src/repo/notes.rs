//! Run records as Git notes under `refs/notes/gitops-gate`, and the local compare-and-swap
//! of the ledger ref (used when there is no `origin`).
use super::{git_err, Repo};
use crate::error::Failure;
use crate::model::CommitId;
use git2::{Oid, Signature};

pub const NOTES_REF: &str = "refs/notes/gitops-gate";

/// The records a note holds: one JSON object, or one per line (newest last). Lines that are
/// not JSON are left out; the report counts them.
pub fn note_records(text: &str) -> Vec<serde_json::Value> {
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(text) {
        return vec![v];
    }
    text.lines()
        .filter_map(|l| serde_json::from_str(l.trim()).ok())
        .collect()
}

impl Repo {
    /// Every environment's ledger from `origin` (a pattern, so a remote with none yet is no
    /// error), then the run records (by their exact name, as a pattern would also take any
    /// ref beside it; a remote with no records is no error either). A CI checkout or a fresh
    /// clone holds branches only, and a reused one may hold stale copies.
    pub fn fetch_ledgers(&self) -> Result<(), super::remote::FetchError> {
        use super::remote::{fetch, FetchError};
        let ledgers = format!("+{}*:{}*", Repo::ledger_ref(""), Repo::ledger_ref(""));
        let records = format!("+{NOTES_REF}:{NOTES_REF}");
        fetch(&self.dir(), "origin", &[ledgers], false)?;
        match fetch(&self.dir(), "origin", &[records], false) {
            Err(FetchError::Missing(_)) => Ok(()),
            other => other,
        }
    }

    /// Adds a record to the note on `commit`, keeping the records already there: a failed
    /// run followed by a successful re-run of the same commit must count as both.
    pub fn append_note(&self, commit: CommitId, record: &serde_json::Value) -> Result<(), Failure> {
        let mut lines: Vec<String> = self
            .note(NOTES_REF, commit)?
            .map(|t| note_records(&t).iter().map(|v| v.to_string()).collect())
            .unwrap_or_default();
        lines.push(record.to_string());
        self.write_note(commit, &(lines.join("\n") + "\n"))
    }

    /// Every note under `notes_ref`: (annotated commit, note text). No notes ref: empty.
    pub fn notes(&self, notes_ref: &str) -> Result<Vec<(String, String)>, Failure> {
        let iter = match self.git.notes(Some(notes_ref)) {
            Ok(i) => i,
            Err(e) if e.code() == git2::ErrorCode::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(git_err(format!("cannot read {notes_ref}"))(e)),
        };
        let mut out = Vec::new();
        for item in iter {
            let (note, commit) = item.map_err(git_err(format!("cannot read {notes_ref}")))?;
            let blob = self.blob_bytes(note)?;
            out.push((
                commit.to_string(),
                String::from_utf8_lossy(&blob).into_owned(),
            ));
        }
        Ok(out)
    }

    /// Services whose deploy stage started in a failed run of `env` recorded on one of
    /// `commits`: after such a run the cluster may run what it tried to deploy, whatever the
    /// ledger says, so the next run redeploys them. Each with the commit of the failed run,
    /// newest run last. Only the notes on `commits` are read.
    pub fn unsettled(
        &self,
        env: &str,
        commits: &std::collections::HashSet<CommitId>,
    ) -> Result<Vec<(CommitId, String)>, Failure> {
        let iter = match self.git.notes(Some(NOTES_REF)) {
            Ok(i) => i,
            Err(e) if e.code() == git2::ErrorCode::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(git_err(format!("cannot read {NOTES_REF}"))(e)),
        };
        let mut runs: Vec<(String, CommitId, Vec<String>)> = Vec::new();
        for item in iter {
            let (note, commit) = item.map_err(git_err(format!("cannot read {NOTES_REF}")))?;
            let commit = CommitId::from(commit);
            if !commits.contains(&commit) {
                continue;
            }
            let text = String::from_utf8_lossy(&self.blob_bytes(note)?).into_owned();
            for r in note_records(&text) {
                let field = |k: &str| r.get(k).and_then(|v| v.as_str());
                if field("environment") != Some(env) || field("result") != Some("failed") {
                    continue;
                }
                let started = r
                    .get("stages")
                    .and_then(|s| s.as_array())
                    .into_iter()
                    .flatten()
                    .filter(|st| st.get("id").and_then(|v| v.as_str()) == Some("deploy"))
                    .filter(|st| {
                        matches!(
                            st.get("result").and_then(|v| v.as_str()),
                            Some("succeeded" | "failed" | "running")
                        )
                    })
                    .filter_map(|st| st.get("service").and_then(|v| v.as_str()))
                    .map(str::to_string)
                    .collect();
                runs.push((field("started").unwrap_or("").to_string(), commit, started));
            }
        }
        runs.sort();
        Ok(runs
            .into_iter()
            .flat_map(|(_, commit, services)| services.into_iter().map(move |s| (commit, s)))
            .collect())
    }

    /// Attaches (or replaces) the note on `commit`.
    pub fn write_note(&self, commit: CommitId, text: &str) -> Result<(), Failure> {
        let sig = Signature::now("gitops-gate", "gitops-gate@localhost")
            .map_err(git_err("invalid note signature"))?;
        self.git
            .note(&sig, &sig, Some(NOTES_REF), commit.into(), text, true)
            .map(|_| ())
            .map_err(git_err(format!(
                "cannot write the run record note on {commit}"
            )))
    }

    /// The note on `commit` under `notes_ref`; a missing note is `None`, a broken one an error.
    pub fn note(&self, notes_ref: &str, commit: CommitId) -> Result<Option<String>, Failure> {
        match self.git.find_note(Some(notes_ref), commit.into()) {
            Ok(n) => Ok(Some(
                String::from_utf8_lossy(n.message_bytes()).into_owned(),
            )),
            Err(e) if e.code() == git2::ErrorCode::NotFound => Ok(None),
            Err(e) => Err(git_err(format!("cannot read the note on {commit}"))(e)),
        }
    }

    /// The run record on `commit`, if it has one that can be read.
    pub fn read_note(&self, commit: CommitId) -> Option<String> {
        self.note(NOTES_REF, commit).ok().flatten()
    }

    /// Moves `refname` from `expected` (`None`: must not exist) to `new`, atomically.
    /// `Err(Ok(current))` when someone else moved it first.
    pub fn compare_and_swap(
        &self,
        refname: &str,
        expected: Option<CommitId>,
        new: CommitId,
        log: &str,
    ) -> Result<(), Result<Option<CommitId>, Failure>> {
        let new = Oid::from(new);
        let r = match expected {
            Some(e) => self
                .git
                .reference_matching(refname, new, true, e.into(), log),
            None => self.git.reference(refname, new, false, log),
        };
        match r {
            Ok(_) => Ok(()),
            Err(e)
                if matches!(
                    e.code(),
                    git2::ErrorCode::Modified | git2::ErrorCode::Exists | git2::ErrorCode::Locked
                ) || e.class() == git2::ErrorClass::Reference =>
            {
                Err(Ok(self.ref_target(refname)))
            }
            Err(e) => Err(Err(git_err(format!("cannot move {refname}"))(e))),
        }
    }
}
