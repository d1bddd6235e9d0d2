//! Reads run records: Git notes under `refs/notes/gitops-gate`, one JSON object per line
//! (a note may hold several records).
use super::{git_err, Repo};
use crate::error::Failure;

pub const NOTES_REF: &str = "refs/notes/gitops-gate";

impl Repo {
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
            let blob = self.read_blob(note)?;
            out.push((
                commit.to_string(),
                String::from_utf8_lossy(&blob).into_owned(),
            ));
        }
        Ok(out)
    }
}
