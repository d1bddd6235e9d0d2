//! `schema`: the requested policy and descriptors parse strictly and make sense, and the
//! deployed descriptors still parse.
use super::Rule;
use super::{Check, DiffInput};
use crate::config::ConfigError;

/// A deployed descriptor that no longer parses (the parser grew stricter since it was
/// deployed): worth a warning, as the diff treats it as absent.
#[derive(Debug, Clone, PartialEq)]
pub struct Unparsable {
    pub path: String,
    /// The first problem the parser reported.
    pub error: ConfigError,
}

pub fn check(input: &DiffInput) -> Vec<Check> {
    if input.problems.is_empty() {
        return vec![Check::pass(
            Rule::Schema,
            format!(
                "policy and {} changed descriptor(s) are valid",
                input.changes.len()
            ),
        )];
    }
    input
        .problems
        .iter()
        .map(|p| {
            let mut c = Check::fail(Rule::Schema, p.message.clone())
                .file(p.file.clone())
                .line(p.line);
            if let Some(f) = &p.field {
                c = c.field(f.clone());
            }
            c.hint(p.hint.clone().unwrap_or_else(|| {
                "fix the file; `gitops-gate validate` lists every problem".into()
            }))
        })
        .collect()
}

/// The deployed side: read before the requested side's checks, as it was always shown.
pub fn deployed(input: &DiffInput) -> Vec<Check> {
    input
        .unparsable
        .iter()
        .map(|u| {
            Check::warn(
                Rule::Schema,
                format!(
                    "the deployed {} no longer parses: {}",
                    u.path, u.error.message
                ),
            )
        })
        .collect()
}
