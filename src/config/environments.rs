//! Naming an environment or a branch on the command line: the policy's answer, or an error
//! that says which names exist and which one was probably meant. A typo must never read as
//! "a new environment" (bootstrap it) or "not an environment's branch" (nothing to do).
use super::{Environment, Policy};
use crate::error::Failure;

impl Policy {
    /// The environment called `name`.
    pub fn require_environment(&self, name: &str) -> Result<&Environment, Failure> {
        self.environment(name).ok_or_else(|| {
            let names: Vec<&str> = self.environments.keys().map(String::as_str).collect();
            let branches: Vec<&str> = self
                .environments
                .iter()
                .map(|(_, e)| e.branch.as_str())
                .collect();
            let guess = did_you_mean(name, &names).or_else(|| {
                // A branch name given as an environment: say which environment it is.
                self.environment_for_branch(name)
                    .map(|(e, _)| e.to_string())
            });
            let hint = match guess {
                Some(g) => format!(
                    "did you mean `--env {g}`? environments: {}",
                    names.join(", ")
                ),
                // Branches only when they are not named like their environments.
                None if names == branches => format!("environments: {}", names.join(", ")),
                None => format!(
                    "environments: {} (their branches: {})",
                    names.join(", "),
                    branches.join(", ")
                ),
            };
            Failure::invalid(format!("`{name}` is not an environment of the policy")).hint(hint)
        })
    }

    /// The environment whose branch is `branch`, named explicitly (`--branch`).
    pub fn require_branch(&self, branch: &str) -> Result<(&str, &Environment), Failure> {
        self.environment_for_branch(branch).ok_or_else(|| {
            let branches: Vec<&str> = self
                .environments
                .iter()
                .map(|(_, e)| e.branch.as_str())
                .collect();
            let hint = match did_you_mean(branch, &branches) {
                Some(g) => format!(
                    "did you mean `--branch {g}`? environment branches: {}",
                    branches.join(", ")
                ),
                None => format!("environment branches: {}", branches.join(", ")),
            };
            Failure::invalid(format!(
                "branch `{branch}` is no environment's branch, so nothing would deploy"
            ))
            .hint(hint)
        })
    }
}

/// The closest of `candidates` to `word`, when it is close enough to be a typo.
pub fn did_you_mean(word: &str, candidates: &[&str]) -> Option<String> {
    candidates
        .iter()
        .map(|c| (strsim::damerau_levenshtein(word, c), *c))
        .min()
        .filter(|(d, c)| *d > 0 && *d <= 2.max(c.len() / 3))
        .map(|(_, c)| c.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_the_closest_name_only_when_it_is_a_typo() {
        let c = ["qa", "staging", "prod"];
        assert_eq!(did_you_mean("stagin", &c).as_deref(), Some("staging"));
        assert_eq!(did_you_mean("prd", &c).as_deref(), Some("prod"));
        assert_eq!(did_you_mean("qaa", &c).as_deref(), Some("qa"));
        assert_eq!(did_you_mean("production-eu", &c), None);
    }
}
