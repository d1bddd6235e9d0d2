//! Facts from outside services, gathered before the gate runs (by `integrations/`) and
//! handed to the rules as plain values. An error from a service is never a fact: it stops
//! the run (exit 4) before the rules see anything. `None` means "not looked up" (offline,
//! or the integration is not configured); the rules say which.
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Facts {
    /// JIRA tickets by key, when JIRA was consulted.
    pub jira: Option<BTreeMap<String, Ticket>>,
    /// What GitHub said, when it was consulted.
    pub github: Option<GithubFacts>,
    /// Local signature verification (`git verify-commit` against `gates.allowed_signers`),
    /// by commit SHA.
    pub local_signatures: Option<BTreeMap<String, LocalSignature>>,
    /// The lower environment's deployed state, for `promotion`.
    pub lower: Option<LowerFacts>,
}

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

#[derive(Debug, Clone, Default, PartialEq)]
pub struct GithubFacts {
    /// The merged (or event) pull request the head came from; `None`: no such PR.
    pub pull_request: Option<PullRequestFacts>,
    /// Per commit SHA, when identities or signatures were needed.
    pub commits: BTreeMap<String, CommitFacts>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PullRequestFacts {
    pub number: u64,
    pub base_ref: String,
    pub head_ref: String,
    pub merged: bool,
    pub author: String,
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
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalSignature {
    /// `%G?`: only `G` is a good signature by an allowed signer.
    pub status: char,
    /// `%GS`: the signer principal from the allowed-signers file.
    pub signer: String,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct LowerFacts {
    pub environment: String,
    /// The lower environment's ledger commit; `None`: nothing deployed there yet.
    pub ledger: Option<String>,
    /// Service -> version at the ledger commit.
    pub versions: BTreeMap<String, String>,
    /// `result` of the run-record note on the ledger commit, when there is one.
    pub run_result: Option<String>,
}

/// Forge merges: committed by GitHub itself, judged by the pull request they merged.
pub fn is_forge_commit(name: &str, email: &str) -> bool {
    name == "GitHub" && email.eq_ignore_ascii_case("noreply@github.com")
}

/// Appended to the detail of every check skipped because of `--offline`.
pub const OFFLINE: &str = "(--offline)";
