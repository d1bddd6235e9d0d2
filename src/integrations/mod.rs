//! Clients for outside services. The gating ones (JIRA, GitHub, signatures) fail closed:
//! any error is exit 4, never a pass.
pub mod gather;
pub mod git_signatures;
pub mod github;
pub mod http_retry;
pub mod jira;
