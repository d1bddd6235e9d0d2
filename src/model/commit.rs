//! A commit as every stage sees it: plain data that `repo::` fills in from Git.
use serde::Serialize;

/// One identity on a commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Person {
    pub name: String,
    pub email: String,
    /// Seconds since the epoch.
    pub time: i64,
}

/// A commit as the gate sees it: plain data, no git2 types.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CommitInfo {
    pub id: String,
    pub message: String,
    pub author: Person,
    pub committer: Person,
    pub parents: usize,
}

impl CommitInfo {
    pub fn short(&self) -> &str {
        &self.id[..self.id.len().min(7)]
    }
    pub fn summary(&self) -> &str {
        self.message.lines().next().unwrap_or("")
    }
    pub fn is_merge(&self) -> bool {
        self.parents > 1
    }
}
