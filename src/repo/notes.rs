//! Git notes (run records under `refs/notes/gitops-gate`), read with git2.
use super::{git_err, Repo};
use crate::error::Failure;
use git2::Oid;

pub const NOTES_REF: &str = "refs/notes/gitops-gate";

impl Repo {
    /// The note on `commit` under `notes_ref`, if any.
    pub fn note(&self, notes_ref: &str, commit: Oid) -> Result<Option<String>, Failure> {
        match self.git.find_note(Some(notes_ref), commit) {
            Ok(n) => Ok(Some(
                String::from_utf8_lossy(n.message_bytes()).into_owned(),
            )),
            Err(e) if e.code() == git2::ErrorCode::NotFound => Ok(None),
            Err(e) => Err(git_err(format!("cannot read the note on {commit}"))(e)),
        }
    }
}
