//! `schema`: the requested policy and descriptors parse strictly and make sense.
use super::Rule;
use super::{Check, DiffInput};

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
