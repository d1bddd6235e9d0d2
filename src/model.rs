//! Plain values every stage shares, the bottom layer that imports none of the others: Git
//! ids (`repo::` converts to and from its Git library's at its boundary), where a push's base
//! came from, stage ids, and what the integrations fetched (JIRA tickets, GitHub pull
//! requests, reviews and commits) and git's signature checks found. The integrations produce
//! those and the gate's facts carry them to the rules; neither side imports the other.
mod base;
mod commit;
mod id;
mod stage;

pub use base::BaseSource;
pub use commit::{CommitInfo, Person};
pub use id::{CommitId, EntryId, InvalidId};
pub use stage::StageId;

#[derive(Debug, Clone, PartialEq)]
pub enum Ticket {
    Found {
        status: String,
        /// `statusCategory.key`: `new`, `indeterminate` or `done`.
        category: String,
        /// Jira Service Management approvals, when they were asked for.
        approvals: Option<Approvals>,
    },
    NotFound,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Approvals {
    pub approved: u32,
    pub declined: u32,
    pub pending: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PullRequestFacts {
    pub number: u64,
    pub base_ref: String,
    pub head_ref: String,
    pub merged: bool,
    pub author: String,
    /// `head.sha`: the commit reviews must have been made on to count (unless
    /// `gates.approvals.count_stale`).
    pub head_sha: Option<String>,
    /// Each reviewer's latest non-`COMMENTED` review, sorted by login.
    pub reviews: Vec<Review>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Review {
    pub login: String,
    /// `APPROVED`, `CHANGES_REQUESTED`, `DISMISSED`, `PENDING`.
    pub state: String,
    pub commit_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct CommitFacts {
    pub author_login: Option<String>,
    pub committer_login: Option<String>,
    pub verified: bool,
    pub reason: String,
    /// The identity GitHub bound to the signature: the committer email, only when verified.
    pub signer: Option<String>,
    /// For commits made by the forge (`GitHub <noreply@github.com>`): the merged PR.
    pub merged_pr: Option<u64>,
    /// For forge merges: every commit of the merged PR (the list checked complete against
    /// the PR's `commits` count). A squash merge is judged by these, as they are not in the
    /// range.
    pub merged_pr_commits: Vec<PrCommit>,
}

/// One commit of a pull request, as GitHub lists it (`GET /pulls/{n}/commits`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PrCommit {
    pub sha: String,
    pub author_name: String,
    pub author_email: String,
    pub committer_name: String,
    pub committer_email: String,
    pub author_login: Option<String>,
    pub committer_login: Option<String>,
    /// The committer email GitHub bound to a verified signature.
    pub signer: Option<String>,
    /// `commit.verification.verified` as the PR's commit list gives it.
    pub verified: bool,
    /// `commit.verification.reason` (`valid`, `unsigned`, `unknown_key`, ...).
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalSignature {
    /// `%G?`: only `G` is a good signature by an allowed signer.
    pub status: char,
    /// The signer principal: `%GS` from the allowed-signers file (SSH), or the email of
    /// the key's user id (`%GS` `Name <email>`) from the policy's GPG keyring.
    pub signer: String,
    /// OpenPGP signatures: the signing key's and its primary key's fingerprints (`%GF`,
    /// `%GP`), upper-case hex; `signer:` entries may name either.
    pub fingerprints: Vec<String>,
}

/// Forge merges: committed by GitHub itself, judged by the pull request they merged.
pub fn is_forge_commit(name: &str, email: &str) -> bool {
    name == "GitHub" && email.eq_ignore_ascii_case("noreply@github.com")
}
