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
