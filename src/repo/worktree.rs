//! The work tree: `init` checks out what it committed; `bump` and `rollback` commit on a
//! branch that may be checked out, and leave its work tree as `git commit` would.
use super::{git_err, remote, Repo};
use crate::error::Failure;
use crate::model::CommitId;

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
    pub fn fast_forward_checked_out(&self, branch: &str, commit: CommitId) -> Result<(), Failure> {
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

/// A detached checkout of one commit in a temporary folder (`git worktree add --detach`),
/// removed again when dropped.
pub struct Checkout {
    main: std::path::PathBuf,
    dir: tempfile::TempDir,
}

impl Checkout {
    pub fn path(&self) -> std::path::PathBuf {
        self.dir.path().to_path_buf()
    }
}

impl Drop for Checkout {
    fn drop(&mut self) {
        let path = self.path();
        let path = path.to_string_lossy();
        // No `worktree prune`: it would also judge a concurrent run's checkout that is still
        // being created, and `remove` already deletes this one's administrative folder.
        let _ = remote::git(&self.main, &["worktree", "remove", "--force", &path]);
    }
}

impl Repo {
    /// Where a run's steps must run to use the deployed commit's scripts: the work tree when
    /// it holds `commit` (CI checks out the pushed commit), else a temporary checkout of
    /// `commit`. A run by hand from another branch would otherwise run that branch's
    /// scripts against this commit's descriptors.
    pub fn checkout_of(&self, commit: CommitId) -> Result<Option<Checkout>, Failure> {
        let head = self
            .git
            .head()
            .ok()
            .and_then(|h| h.target())
            .map(CommitId::from);
        if head == Some(commit) || self.git.workdir().is_none() {
            return Ok(None);
        }
        let dir = tempfile::Builder::new()
            .prefix("gitops-gate-steps-")
            .tempdir()
            .map_err(|e| Failure::invalid(format!("cannot make a folder for the steps: {e}")))?;
        // The (empty) temporary folder itself: git names the worktree's administrative
        // folder after it, so two runs at once never share `.git/worktrees/<name>`.
        let path = dir.path();
        let out = remote::git(
            &self.dir(),
            &[
                "worktree",
                "add",
                "--quiet",
                "--detach",
                &path.to_string_lossy(),
                &commit.to_string(),
            ],
        )
        .map_err(|e| Failure::invalid(format!("cannot run git worktree: {e}")))?;
        if !out.status.success() {
            return Err(Failure::invalid(format!(
                "cannot check out {} for the steps: {}",
                &commit.to_string()[..7],
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(Some(Checkout {
            main: self.dir(),
            dir,
        }))
    }
}
