//! Outcomes the binary branches on, each with its documented exit code (DESIGN.md section 6).
use std::fmt;

/// The documented exit codes. Callers choose by meaning, never by number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub enum Exit {
    /// Allowed, or nothing to do.
    Ok,
    /// Rejected by the gate policy.
    Rejected,
    /// Invalid input: usage, configuration, descriptor, CI context, insufficient history.
    Invalid,
    /// A stage failed while running the plan.
    StageFailed,
    /// An external service needed for the decision was unreachable (failed closed).
    Unavailable,
    /// The environment's ledger moved since the plan was made.
    Superseded,
}

impl Exit {
    pub fn code(self) -> i32 {
        match self {
            Exit::Ok => 0,
            Exit::Rejected => 1,
            Exit::Invalid => 2,
            Exit::StageFailed => 3,
            Exit::Unavailable => 4,
            Exit::Superseded => 5,
        }
    }
}

/// An error whose kind decides the exit code, with a hint that tells the user what to do.
///
/// Lower layers return it (often inside `anyhow` context chains); `cli` finds it in the
/// chain to pick the exit code and print the hint.
#[derive(Debug, Clone)]
pub struct Failure {
    pub exit: Exit,
    pub message: String,
    pub hint: Option<String>,
}

impl Failure {
    pub fn new(exit: Exit, message: impl Into<String>) -> Self {
        Failure {
            exit,
            message: message.into(),
            hint: None,
        }
    }
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(Exit::Invalid, message)
    }
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(Exit::Unavailable, message)
    }
    pub fn superseded(message: impl Into<String>) -> Self {
        Self::new(Exit::Superseded, message)
    }
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

/// The exit code and hint for any error chain: the first `Failure` found decides; anything
/// else is treated as invalid input, the only safe reading of an unclassified error.
pub fn classify(err: &anyhow::Error) -> (Exit, Option<String>) {
    for cause in err.chain() {
        if let Some(f) = cause.downcast_ref::<Failure>() {
            return (f.exit, f.hint.clone());
        }
        if let Some(c) = cause.downcast_ref::<crate::config::ConfigErrors>() {
            let _ = c;
            return (
                Exit::Invalid,
                Some(
                    "fix the fields named above; `gitops-gate validate` lists every problem".into(),
                ),
            );
        }
    }
    (Exit::Invalid, None)
}
