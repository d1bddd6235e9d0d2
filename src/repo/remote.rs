//! Network Git operations through the `git` CLI, which carries the CI's credentials. Every
//! argument is passed as argv (never a shell), SHAs and ref names only, after
//! `--end-of-options` where git accepts it.
use std::path::Path;
use std::process::{Command, Output};

/// Why a fetch did not bring what was asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchError {
    /// The remote could not be reached or refused us: fail closed (exit 4).
    Unreachable(String),
    /// The remote answered, but does not have what we asked for (exit 2).
    Missing(String),
    /// No remote of that name is configured.
    NoRemote,
}

pub fn git(dir: &Path, args: &[&str]) -> std::io::Result<Output> {
    Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_ASKPASS", "true")
        .stdin(std::process::Stdio::null())
        .output()
}

pub fn has_remote(dir: &Path, remote: &str) -> bool {
    git(dir, &["remote", "get-url", "--", remote])
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// `git fetch --no-tags <remote> <refspecs...>`, optionally unshallowing first.
pub fn fetch(
    dir: &Path,
    remote: &str,
    refspecs: &[String],
    unshallow: bool,
) -> Result<(), FetchError> {
    if !has_remote(dir, remote) {
        return Err(FetchError::NoRemote);
    }
    let mut args: Vec<&str> = vec!["fetch", "--quiet", "--no-tags", "--no-write-fetch-head"];
    if unshallow {
        args.push("--unshallow");
    }
    args.push("--end-of-options");
    args.push(remote);
    args.extend(refspecs.iter().map(String::as_str));
    let out =
        git(dir, &args).map_err(|e| FetchError::Unreachable(format!("cannot run git: {e}")))?;
    if out.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
    if unshallow && stderr.contains("on a complete repository does not make sense") {
        return fetch(dir, remote, refspecs, false);
    }
    let missing = [
        "couldn't find remote ref",
        "not our ref",
        "no such remote ref",
        "unadvertised object",
    ];
    if missing.iter().any(|m| stderr.contains(m)) {
        Err(FetchError::Missing(stderr))
    } else {
        Err(FetchError::Unreachable(stderr))
    }
}

/// Why a push of the ledger or the notes did not land.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PushError {
    /// The remote holds something else than we expected: another run won.
    #[error("{0}")]
    Rejected(String),
    /// The remote could not be reached or refused us.
    #[error("{0}")]
    Unreachable(String),
}

/// `git push --force-with-lease=<ref>:<expected-or-empty> origin <new>:<ref>`: the ref moves
/// only when the remote still points where we read it. A push that finds the ref already at
/// `new` is a no-op for git (no lease check), so it counts as lost: another run moved it.
pub fn push_ledger(
    dir: &Path,
    refname: &str,
    new: &str,
    expected: Option<&str>,
) -> Result<(), PushError> {
    let lease = format!("--force-with-lease={refname}:{}", expected.unwrap_or(""));
    let spec = format!("{new}:{refname}");
    let out = push(
        dir,
        &[lease.as_str(), "--end-of-options", "origin", spec.as_str()],
    )?;
    let up_to_date = out
        .lines()
        .any(|l| l.starts_with("=\t") && l.contains(refname));
    if up_to_date && expected != Some(new) {
        return Err(PushError::Rejected(format!(
            "{refname} was already at {new} on origin: another run moved it"
        )));
    }
    Ok(())
}

/// Runs `git push --porcelain`; returns its stdout.
fn push(dir: &Path, args: &[&str]) -> Result<String, PushError> {
    let mut all = vec!["push", "--porcelain"];
    all.extend_from_slice(args);
    let out = git(dir, &all).map_err(|e| PushError::Unreachable(format!("cannot run git: {e}")))?;
    if out.status.success() {
        return Ok(String::from_utf8_lossy(&out.stdout).to_string());
    }
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let rejected = [
        "stale info",
        "[rejected]",
        "non-fast-forward",
        "fetch first",
        "already exists",
        // A concurrent push holding or moving the remote ref.
        "cannot lock ref",
        "failed to update ref",
        "incorrect old value",
    ];
    if rejected.iter().any(|r| text.contains(r)) {
        Err(PushError::Rejected(text.trim().to_string()))
    } else {
        Err(PushError::Unreachable(text.trim().to_string()))
    }
}

/// The commit `refname` points at on `origin` (`Ok(None)`: it does not exist there).
pub fn remote_ref(dir: &Path, refname: &str) -> Result<Option<String>, PushError> {
    let out = git(dir, &["ls-remote", "--end-of-options", "origin", refname])
        .map_err(|e| PushError::Unreachable(format!("cannot run git: {e}")))?;
    if !out.status.success() {
        return Err(PushError::Unreachable(
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).lines().find_map(|l| {
        let (sha, name) = l.split_once('\t')?;
        (name == refname).then(|| sha.to_string())
    }))
}

/// Brings the remote notes ref into the local one (a missing remote ref is fine).
pub fn fetch_notes(dir: &Path, notes_ref: &str) -> Result<(), FetchError> {
    match fetch(dir, "origin", &[format!("+{notes_ref}:{notes_ref}")], false) {
        Ok(()) | Err(FetchError::Missing(_)) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Pushes the notes ref (fast-forward only: a concurrent writer makes us re-fetch and retry).
pub fn push_notes(dir: &Path, notes_ref: &str) -> Result<(), PushError> {
    let spec = format!("{notes_ref}:{notes_ref}");
    push(dir, &["--end-of-options", "origin", spec.as_str()]).map(|_| ())
}

/// What `refnames` point at on `origin`, in one `git ls-remote` (absent refs are missing).
pub fn remote_refs(
    dir: &Path,
    refnames: &[&str],
) -> Result<std::collections::BTreeMap<String, String>, PushError> {
    let mut args = vec!["ls-remote", "--end-of-options", "origin"];
    args.extend_from_slice(refnames);
    let out =
        git(dir, &args).map_err(|e| PushError::Unreachable(format!("cannot run git: {e}")))?;
    if !out.status.success() {
        return Err(PushError::Unreachable(
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let (sha, name) = l.split_once('\t')?;
            refnames
                .contains(&name)
                .then(|| (name.to_string(), sha.to_string()))
        })
        .collect())
}

/// Brings `origin`'s `refname` into the local ref of the same name (forced): the object it
/// points at is then readable with git2.
pub fn fetch_ref(dir: &Path, refname: &str) -> Result<(), FetchError> {
    fetch(dir, "origin", &[format!("+{refname}:{refname}")], false)
}

/// `git push --force-with-lease=<ref>:<expected-or-empty> origin <new>:<ref>` for a ref whose
/// every value is a fresh object (the deploy claim), so "already up to date" cannot happen.
pub fn push_with_lease(
    dir: &Path,
    refname: &str,
    new: &str,
    expected: Option<&str>,
) -> Result<(), PushError> {
    let lease = format!("--force-with-lease={refname}:{}", expected.unwrap_or(""));
    let spec = format!("{new}:{refname}");
    push(
        dir,
        &[lease.as_str(), "--end-of-options", "origin", spec.as_str()],
    )
    .map(|_| ())
}
