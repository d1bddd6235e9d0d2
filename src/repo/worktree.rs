//! The work tree: `init` checks out what it committed; `bump` and `rollback` commit on a
//! branch that may be checked out, and leave its work tree as `git commit` would.
use super::{git_err, remote, Repo};
use crate::error::Failure;
use git2::Oid;

impl Repo {
    /// Writes HEAD's tree into the work tree and the index, overwriting what is there.
    pub fn checkout_head_force(&self) -> Result<(), Failure> {
        let mut opts = git2::build::CheckoutBuilder::new();
        opts.force();
        self.git
            .checkout_head(Some(&mut opts))
            .map_err(git_err("cannot check out the new commit"))
    }

    /// Whether `branch` is the checked-out branch; if it is, refuses uncommitted changes to
    /// tracked files, which a commit written beside them would otherwise leave behind as a
    /// confusing diff.
    pub fn checked_out_clean(&self, branch: &str) -> Result<bool, Failure> {
        if self.current_branch().as_deref() != Some(branch) {
            return Ok(false);
        }
        let status = remote::git(
            &self.dir(),
            &["status", "--porcelain", "--untracked-files=no"],
        )
        .map_err(|e| Failure::invalid(format!("cannot run git status: {e}")))?;
        if !status.stdout.is_empty() {
            return Err(Failure::invalid(format!(
                "branch `{branch}` is checked out with uncommitted changes"
            ))
            .hint("commit or stash them first (git stash), then try again"));
        }
        Ok(true)
    }

    /// Moves the checked-out branch to `commit`, a descendant of its tip, updating the index
    /// and the work tree (`git merge --ff-only`).
    pub fn fast_forward_checked_out(&self, branch: &str, commit: Oid) -> Result<(), Failure> {
        let out = remote::git(
            &self.dir(),
            &[
                "merge",
                "--ff-only",
                "--quiet",
                "--end-of-options",
                &commit.to_string(),
            ],
        )
        .map_err(|e| Failure::invalid(format!("cannot run git merge: {e}")))?;
        if !out.status.success() {
            return Err(Failure::invalid(format!(
                "cannot update the work tree of `{branch}`: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(())
    }
}
