//! Writing commits without a work tree: `init`, `bump`, `demo` and tests build history with
//! it, with fixed identities and times where they need stable ids.
use super::{git_err, Repo};
use crate::error::Failure;
use crate::model::CommitId;
use git2::{Oid, Repository, Signature, Time};
use std::path::Path;

/// Who makes a commit, and when (seconds since the epoch).
#[derive(Debug, Clone)]
pub struct Identity {
    pub name: String,
    pub email: String,
    pub time: i64,
}

impl Identity {
    pub fn new(name: &str, email: &str, time: i64) -> Identity {
        Identity {
            name: name.into(),
            email: email.into(),
            time,
        }
    }
    fn signature(&self) -> Result<Signature<'static>, Failure> {
        Signature::new(&self.name, &self.email, &Time::new(self.time, 0))
            .map_err(git_err("invalid identity"))
    }
}

impl Repo {
    /// A new repository (non-bare) at `path`, with `main` as the initial branch name.
    pub fn init(path: &Path) -> Result<Repo, Failure> {
        super::tune_libgit2();
        let mut opts = git2::RepositoryInitOptions::new();
        opts.initial_head("main");
        let git = Repository::init_opts(path, &opts).map_err(git_err(format!(
            "cannot create a repository at {}",
            path.display()
        )))?;
        Ok(Repo { git })
    }

    /// Commits `files` (path -> content, `None` deletes) on top of `parent`'s tree and moves
    /// `refname` (if given) to the new commit.
    pub fn commit_files(
        &self,
        refname: Option<&str>,
        parents: &[CommitId],
        files: &[(&str, Option<&[u8]>)],
        author: &Identity,
        committer: &Identity,
        message: &str,
    ) -> Result<CommitId, Failure> {
        self.commit_files_as(refname, parents, files, &[], author, committer, message)
    }

    /// `commit_files`, with the files named in `executable` written as `100755`, as a step
    /// script must be to run. Other files keep the mode they had (a bump never drops an
    /// executable bit), new ones are `100644`.
    #[allow(clippy::too_many_arguments)]
    pub fn commit_files_as(
        &self,
        refname: Option<&str>,
        parents: &[CommitId],
        files: &[(&str, Option<&[u8]>)],
        executable: &[&str],
        author: &Identity,
        committer: &Identity,
        message: &str,
    ) -> Result<CommitId, Failure> {
        let git = &self.git;
        let base_tree = match parents.first() {
            Some(p) => Some(
                git.find_commit((*p).into())
                    .and_then(|c| c.tree())
                    .map_err(git_err(format!("cannot read {p}")))?,
            ),
            None => None,
        };
        let mut tree_id = base_tree.as_ref().map(|t| t.id());
        for (path, content) in files {
            let mode = executable.contains(path).then_some(0o100755);
            tree_id = Some(self.put_path(tree_id, path, *content, mode)?);
        }
        let tree_id = match tree_id {
            Some(t) => t,
            None => git
                .treebuilder(None)
                .and_then(|b| b.write())
                .map_err(git_err("cannot write an empty tree"))?,
        };
        let tree = git
            .find_tree(tree_id)
            .map_err(git_err("cannot read the new tree"))?;
        let parent_commits = parents
            .iter()
            .map(|p| git.find_commit((*p).into()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(git_err("cannot read a parent commit"))?;
        let refs: Vec<&git2::Commit> = parent_commits.iter().collect();
        let id: CommitId = git
            .commit(
                None,
                &author.signature()?,
                &committer.signature()?,
                message,
                &tree,
                &refs,
            )
            .map_err(git_err("cannot write the commit"))?
            .into();
        if let Some(r) = refname {
            self.set_ref(r, id, message.lines().next().unwrap_or("commit"))?;
        }
        Ok(id)
    }

    /// Returns the id of `tree` with `path` set to `content` (or removed).
    fn put_path(
        &self,
        tree: Option<Oid>,
        path: &str,
        content: Option<&[u8]>,
        mode: Option<i32>,
    ) -> Result<Oid, Failure> {
        let git = &self.git;
        let existing = tree
            .map(|t| git.find_tree(t))
            .transpose()
            .map_err(git_err("cannot read a tree"))?;
        let mut builder = git
            .treebuilder(existing.as_ref())
            .map_err(git_err("cannot build a tree"))?;
        match path.split_once('/') {
            None => match content {
                Some(bytes) => {
                    let blob = git.blob(bytes).map_err(git_err("cannot write a blob"))?;
                    let kept = builder
                        .get(path)
                        .ok()
                        .flatten()
                        .map(|e| e.filemode())
                        .filter(|m| *m == 0o100755);
                    builder
                        .insert(path, blob, mode.or(kept).unwrap_or(0o100644))
                        .map_err(git_err(format!("cannot add {path}")))?;
                }
                None => {
                    if builder.get(path).ok().flatten().is_some() {
                        builder
                            .remove(path)
                            .map_err(git_err(format!("cannot remove {path}")))?;
                    }
                }
            },
            Some((dir, rest)) => {
                let sub = builder
                    .get(dir)
                    .ok()
                    .flatten()
                    .filter(|e| e.kind() == Some(git2::ObjectType::Tree))
                    .map(|e| e.id());
                let new_sub = self.put_path(sub, rest, content, mode)?;
                let empty = git
                    .find_tree(new_sub)
                    .map(|t| t.is_empty())
                    .unwrap_or(false);
                if empty {
                    if builder.get(dir).ok().flatten().is_some() {
                        builder
                            .remove(dir)
                            .map_err(git_err(format!("cannot remove {dir}")))?;
                    }
                } else {
                    builder
                        .insert(dir, new_sub, 0o040000)
                        .map_err(git_err(format!("cannot add {dir}")))?;
                }
            }
        }
        builder.write().map_err(git_err("cannot write a tree"))
    }
}
