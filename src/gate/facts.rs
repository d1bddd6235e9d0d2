//! Facts from outside services, gathered before the gate runs (by `integrations/`) and
//! handed to the rules as plain values. An error from a service is never a fact: it stops
//! the run (exit 4) before the rules see anything. `None` means "not looked up" (offline,
//! or the integration is not configured); the rules say which.
use std::collections::BTreeMap;

pub use crate::model::{
    is_forge_commit, Approvals, CommitFacts, LocalSignature, PrCommit, PullRequestFacts, Review,
    Ticket,
};

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Facts {
    /// JIRA tickets by key, when JIRA was consulted.
    pub jira: Option<BTreeMap<String, Ticket>>,
    /// Why JIRA could not be asked, when the range is rejected for unticketed commits
    /// anyway (a lookup error then does not hide that rejection behind exit 4).
    pub jira_error: Option<String>,
    /// What GitHub said, when it was consulted.
    pub github: Option<GithubFacts>,
    /// Local signature verification (`git log %G?` against `gates.allowed_signers` and/or
    /// `gates.gpg_keyring`),
    /// by commit SHA.
    pub local_signatures: Option<BTreeMap<String, LocalSignature>>,
    /// The lower environment's deployed state, for `promotion`.
    pub lower: Option<LowerFacts>,
    /// The ticket a `Deploy-Freeze-Override` trailer names, as JIRA has it: looked up
    /// only while a freeze window is in force and the ticket needs a lookup.
    pub freeze_override: Option<(String, Ticket)>,
    /// How long each arriving version has run in the lower environment, for `soak`.
    pub soak: Option<SoakFacts>,
}

/// What the lower environment's run records say of the versions a push promotes.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SoakFacts {
    pub environment: String,
    /// Per service, of the requested version.
    pub services: BTreeMap<String, ServiceSoak>,
}

/// One service's requested version in the lower environment, read from the run records
/// newest first: `since` is the end of the first succeeded run of its current unbroken
/// stretch there (no other version, no failed run of the service after it).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ServiceSoak {
    pub version: String,
    /// When (and on which commit) the stretch began; `None`: no succeeded run of this
    /// version since the last other version or failure.
    pub since: Option<(chrono::DateTime<chrono::Utc>, String)>,
    /// The failed run of the service that ended the stretch before, if that is what did.
    pub failed: Option<(chrono::DateTime<chrono::Utc>, String)>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct GithubFacts {
    /// The merged (or event) pull request the head came from; `None`: no such PR.
    pub pull_request: Option<PullRequestFacts>,
    /// Per commit SHA, when identities or signatures were needed.
    pub commits: BTreeMap<String, CommitFacts>,
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

/// Appended to the detail of every check skipped because of `--offline`.
pub const OFFLINE: &str = "(--offline)";
