//! Who a commit is by, found as `git commit` finds it: `GIT_AUTHOR_*` / `GIT_COMMITTER_*`,
//! then `user.name` / `user.email` from the repository's, the global and the system config.
//! Asking `git var` keeps every rule git has (EMAIL, `user.useConfigOnly`, per-repository
//! config) instead of a copy of some of them.
use super::{remote, Identity};
use crate::error::Failure;
use std::path::Path;

/// The author and the committer of a commit made in `dir`. `name`/`email`, when given,
/// replace the author's (the `--author-name`/`--author-email` flags), and stand in for the
/// committer when git knows no one.
pub fn of_git(
    dir: &Path,
    name: Option<&str>,
    email: Option<&str>,
) -> Result<(Identity, Identity), Failure> {
    let now = chrono::Utc::now().timestamp();
    let author = ident(dir, "GIT_AUTHOR_IDENT");
    let committer = ident(dir, "GIT_COMMITTER_IDENT");
    let author = match (name, email, &author) {
        (Some(n), Some(e), _) => Ok(Identity::new(n, e, now)),
        (n, e, Ok(a)) => Ok(Identity::new(
            n.unwrap_or(&a.name),
            e.unwrap_or(&a.email),
            a.time,
        )),
        (_, _, Err(why)) => Err(why.to_string()),
    };
    let author = author.map_err(|why| {
        Failure::invalid(format!("git knows no identity for the commit: {why}")).hint(
            "set one as for any commit (git config user.name \"You\"; git config user.email you@example.com, \
             or GIT_AUTHOR_NAME/GIT_AUTHOR_EMAIL in CI), or pass --author-name and --author-email",
        )
    })?;
    let committer = committer.unwrap_or_else(|_| author.clone());
    Ok((author, committer))
}

/// Why git gave no identity.
#[derive(Debug, thiserror::Error)]
enum IdentError {
    #[error("cannot run git: {0}")]
    CannotRun(#[source] std::io::Error),
    /// git's own last line, without `fatal: `.
    #[error("{0}")]
    Git(String),
    #[error("git var {0}: unexpected output")]
    Unexpected(String),
}

/// `git var NAME`: `Name <email> 1767225600 +0000`.
fn ident(dir: &Path, var: &str) -> Result<Identity, IdentError> {
    let out = remote::git(dir, &["var", var]).map_err(IdentError::CannotRun)?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let line = err
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("git var failed")
            .trim()
            .trim_start_matches("fatal: ")
            .to_string();
        return Err(IdentError::Git(line));
    }
    parse(&String::from_utf8_lossy(&out.stdout)).ok_or_else(|| IdentError::Unexpected(var.into()))
}

fn parse(line: &str) -> Option<Identity> {
    let line = line.trim();
    let open = line.rfind('<')?;
    let close = line[open..].find('>')? + open;
    let name = line[..open].trim();
    let email = &line[open + 1..close];
    let time = line[close + 1..]
        .split_whitespace()
        .next()
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| chrono::Utc::now().timestamp());
    Some(Identity::new(name, email, time))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_git_var_prints() {
        let i = parse("Ada Lovelace <ada@example.com> 1767225600 +0100\n").unwrap();
        assert_eq!(
            (i.name.as_str(), i.email.as_str(), i.time),
            ("Ada Lovelace", "ada@example.com", 1_767_225_600)
        );
        assert!(parse("no email here").is_none());
    }
}
