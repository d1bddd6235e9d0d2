//! The error model (DESIGN.md section 6): each layer returns typed errors that keep their
//! `source()`; the binary turns whatever reaches it into one `CommandError` (an exit kind,
//! the cause chain, hints) in exactly one place, `CommandError::from`. An error no layer
//! classified is a bug in gitops-gate (`Exit::Internal`), never "your input is wrong".
use std::fmt;
use std::sync::Arc;

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
    /// A bug in gitops-gate: an error no layer classified. 70 is sysexits' `EX_SOFTWARE`
    /// ("internal software error"); it sits apart from the outcomes 0-5, so a script that
    /// branches on those never reads a bug as one of them, and 6 stays free for a new outcome.
    Internal,
}

impl Exit {
    /// The meaning as the exit-code table states it, for the last line of an error.
    pub fn meaning(self) -> &'static str {
        match self {
            Exit::Ok => "ok",
            Exit::Rejected => "rejected by the gate",
            Exit::Invalid => "invalid input",
            Exit::StageFailed => "a stage failed",
            Exit::Unavailable => "a service was unavailable",
            Exit::Superseded => "superseded",
            Exit::Internal => "internal error",
        }
    }

    pub fn code(self) -> i32 {
        match self {
            Exit::Ok => 0,
            Exit::Rejected => 1,
            Exit::Invalid => 2,
            Exit::StageFailed => 3,
            Exit::Unavailable => 4,
            Exit::Superseded => 5,
            Exit::Internal => 70,
        }
    }
}

/// A cause kept by a `Failure`: shared, so a `Failure` stays `Clone`.
pub type Cause = Arc<dyn std::error::Error + Send + Sync + 'static>;

/// An error a layer has already classified: its kind decides the exit code, its hint tells
/// the user what to do, and `source` keeps the lower-level error it came from (printed as a
/// `caused by:` line).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct Failure {
    pub exit: Exit,
    pub message: String,
    pub hint: Option<String>,
    #[source]
    pub source: Option<Cause>,
}

impl Failure {
    pub fn new(exit: Exit, message: impl Into<String>) -> Self {
        Failure {
            exit,
            message: message.into(),
            hint: None,
            source: None,
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
    /// Keeps `cause` as this failure's `source()`: printed on its own `caused by:` line.
    pub fn caused_by(mut self, cause: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Arc::new(cause));
        self
    }
}

/// What the edge knows about one error type of a layer: its exit kind and hint.
trait Classified {
    fn exit(&self) -> Exit;
    fn hint(&self) -> Option<String>;
}

impl Classified for Failure {
    fn exit(&self) -> Exit {
        self.exit
    }
    fn hint(&self) -> Option<String> {
        self.hint.clone()
    }
}

impl Classified for crate::config::ConfigErrors {
    fn exit(&self) -> Exit {
        Exit::Invalid
    }
    fn hint(&self) -> Option<String> {
        Some("fix the fields named above; `gitops-gate validate` lists every problem".into())
    }
}

impl Classified for crate::config::ConfigError {
    fn exit(&self) -> Exit {
        Exit::Invalid
    }
    fn hint(&self) -> Option<String> {
        None
    }
}

impl Classified for crate::integrations::IntegrationError {
    fn exit(&self) -> Exit {
        // Gating lookups fail closed; a run's stage failures never reach the edge as errors.
        crate::integrations::IntegrationError::exit(self)
    }
    fn hint(&self) -> Option<String> {
        Some(self.hint())
    }
}

/// An I/O error at the edge is about a file or folder the user named or owns (`--out`,
/// `--plan`, a run record): the context above it names which. jj reads them the same way.
impl Classified for std::io::Error {
    fn exit(&self) -> Exit {
        Exit::Invalid
    }
    fn hint(&self) -> Option<String> {
        use std::io::ErrorKind as K;
        match self.kind() {
            K::NotFound => Some("check that the path named above exists"),
            K::PermissionDenied | K::ReadOnlyFilesystem => {
                Some("check the permissions of the path named above")
            }
            K::AlreadyExists | K::NotADirectory | K::IsADirectory => {
                Some("something else is in the way at the path named above: move it, or choose another path")
            }
            K::StorageFull | K::QuotaExceeded => Some("free some disk space, then run it again"),
            _ => None,
        }
        .map(str::to_string)
    }
}

/// The first classified cause in `cause`'s chain decides, outermost first.
fn classified(cause: &(dyn std::error::Error + 'static)) -> Option<(Exit, Option<String>)> {
    fn of<T: Classified + std::error::Error + 'static>(
        c: &(dyn std::error::Error + 'static),
    ) -> Option<(Exit, Option<String>)> {
        c.downcast_ref::<T>().map(|e| (e.exit(), e.hint()))
    }
    of::<Failure>(cause)
        .or_else(|| of::<crate::config::ConfigErrors>(cause))
        .or_else(|| of::<crate::config::ConfigError>(cause))
        .or_else(|| of::<crate::integrations::IntegrationError>(cause))
        .or_else(|| of::<std::io::Error>(cause))
}

/// The exit code and first hint of an error chain, for callers that record an outcome before
/// the edge prints it (the refusal plan, `run --format json`): the same reading as
/// `CommandError::from`.
pub fn classify(err: &anyhow::Error) -> (Exit, Option<String>) {
    match err.chain().find_map(classified) {
        Some(found) => found,
        None => (Exit::Internal, Some(REPORT_BUG.to_string())),
    }
}

/// The messages of an error chain, outermost first, without repeats: a cause the line above
/// already ends with (`cannot read X: object not found`, then `object not found`) is not
/// given again.
pub fn causes(err: &anyhow::Error) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for cause in err.chain() {
        let text = cause.to_string().trim_end().to_string();
        let repeated = lines
            .last()
            .is_some_and(|above| above == &text || above.ends_with(&format!(": {text}")));
        if !repeated {
            lines.push(text);
        }
    }
    lines
}

/// Where to report a bug, and what to attach.
pub const REPORT_BUG: &str = "this is a bug in gitops-gate, not a problem with your input: \
please report it to the gitops-gate maintainers with the command you ran and its output \
with --verbose --verbose (or RUST_LOG=debug), including the causes above";

/// The one error a command ends with: the exit kind, the chain of causes (outermost first)
/// and hints. Built once, at the edge (`cli::run`), from whatever error the command returned.
#[derive(Debug)]
pub struct CommandError {
    pub exit: Exit,
    pub error: anyhow::Error,
    pub hints: Vec<String>,
}

impl From<anyhow::Error> for CommandError {
    fn from(error: anyhow::Error) -> Self {
        let (exit, hint) = classify(&error);
        CommandError {
            exit,
            error,
            hints: hint.into_iter().collect(),
        }
    }
}

impl CommandError {
    /// The messages of the chain (see `causes`).
    pub fn causes(&self) -> Vec<String> {
        causes(&self.error)
    }
}

/// `error: ...`, one `caused by:` line per cause, then the hints: what a user reads on
/// stderr (no colour: the caller fences it in GitHub Actions).
impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let causes = self.causes();
        let (first, rest) = causes.split_first().map_or(("", &[][..]), |(a, b)| (a, b));
        if self.exit == Exit::Internal {
            writeln!(f, "error: internal error: {first}")?;
        } else {
            writeln!(f, "error: {first}")?;
        }
        for cause in rest {
            writeln!(f, "  caused by: {cause}")?;
        }
        for h in &self.hints {
            writeln!(f, "hint: {h}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ConfigError, ConfigErrors};

    #[derive(Debug, thiserror::Error)]
    #[error("a layer forgot to classify this")]
    struct Unknown;

    #[test]
    fn an_unclassified_error_is_internal_with_its_causes_and_a_bug_report_hint() {
        let err = anyhow::Error::new(Unknown).context("cannot plan qa");
        let e = CommandError::from(err);
        assert_eq!(e.exit, Exit::Internal);
        assert_eq!(e.exit.code(), 70);
        let text = e.to_string();
        assert_eq!(
            text,
            format!(
                "error: internal error: cannot plan qa\n  caused by: a layer forgot to classify \
                 this\nhint: {REPORT_BUG}\n"
            )
        );
        assert!(text.contains("bug in gitops-gate") && text.contains("--verbose"));
    }

    #[test]
    fn a_plain_message_error_is_internal_not_invalid_input() {
        let e = CommandError::from(anyhow::anyhow!("something odd"));
        assert_eq!(e.exit, Exit::Internal);
        assert_ne!(e.exit.code(), Exit::Invalid.code());
        // The edge goes through the same conversion.
        assert_eq!(
            crate::cli::report(anyhow::anyhow!("something odd")),
            Exit::Internal
        );
        assert_eq!(
            crate::cli::report(anyhow::Error::new(Failure::invalid("bad --env"))),
            Exit::Invalid
        );
    }

    #[test]
    fn a_failure_anywhere_in_the_chain_decides_and_keeps_its_causes_and_hint() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let f = Failure::invalid("cannot read plan.json")
            .hint("pass the plan `plan` wrote")
            .caused_by(io);
        let e = CommandError::from(anyhow::Error::new(f).context("run qa"));
        assert_eq!(e.exit, Exit::Invalid);
        assert_eq!(
            e.to_string(),
            "error: run qa\n  caused by: cannot read plan.json\n  caused by: no such file\n\
             hint: pass the plan `plan` wrote\n"
        );
    }

    #[test]
    fn a_cause_the_line_above_already_quotes_is_not_repeated() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "object not found");
        let f = Failure::invalid("cannot read services/api.yaml: object not found").caused_by(io);
        assert_eq!(
            CommandError::from(anyhow::Error::new(f)).to_string(),
            "error: cannot read services/api.yaml: object not found\n"
        );
    }

    #[test]
    fn the_outermost_classified_cause_wins() {
        let inner = Failure::unavailable("JIRA is unreachable");
        let outer = Failure::superseded("the ledger moved").caused_by(inner);
        assert_eq!(
            CommandError::from(anyhow::Error::new(outer)).exit,
            Exit::Superseded
        );
    }

    #[test]
    fn configuration_and_io_problems_are_invalid_input() {
        let c = ConfigErrors::one(ConfigError::new("gitops.yaml", "bad").at(Some(3), Some(1)));
        let e = CommandError::from(anyhow::Error::new(c));
        assert_eq!(e.exit, Exit::Invalid);
        assert_eq!(e.hints.len(), 1);
        let io = std::io::Error::new(std::io::ErrorKind::PermissionDenied, "denied");
        let e = CommandError::from(anyhow::Error::new(io).context("cannot write out/plan.json"));
        assert_eq!(e.exit, Exit::Invalid);
        assert_eq!(
            e.to_string(),
            "error: cannot write out/plan.json\n  caused by: denied\n\
             hint: check the permissions of the path named above\n"
        );
    }

    #[test]
    fn integration_errors_fail_closed_with_a_hint() {
        let e =
            crate::integrations::IntegrationError::Unreachable("JIRA: connection refused".into());
        let e = CommandError::from(anyhow::Error::new(e));
        assert_eq!(e.exit, Exit::Unavailable);
        assert_eq!(e.hints.len(), 1);
    }

    #[test]
    fn exit_codes_are_distinct() {
        let all = [
            Exit::Ok,
            Exit::Rejected,
            Exit::Invalid,
            Exit::StageFailed,
            Exit::Unavailable,
            Exit::Superseded,
            Exit::Internal,
        ];
        let codes = all
            .iter()
            .map(|e| e.code())
            .collect::<std::collections::BTreeSet<_>>();
        assert_eq!(codes.len(), all.len());
    }
}
