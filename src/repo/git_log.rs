//! The gate's history walk, run by `git log` in a process of its own.
//!
//! libgit2 serialises pack reads behind process-wide locks, so a walk on a thread beside the
//! descriptor reading ran at half speed (2 cores: 1.2 of them busy). In a child process the
//! walk has the other core to itself at git's own speed, and git is the reference parser of
//! the commits it prints. `Repo::walk` (libgit2, in-process) stays for the many small walks
//! of `report` and `promote`, where a process per walk would cost more than it saves; a test
//! holds the two to the same answer, commit by commit.
use super::{CommitInfo, Person, Walk};
use crate::error::Failure;
use git2::Oid;
use std::collections::HashSet;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};

/// Hash, parents, author, committer, raw message: NUL-separated, and with `-z` each commit
/// NUL-terminated. No field can hold a NUL (git and libgit2 both read them as C strings).
const FORMAT: &str = "--format=%H%x00%P%x00%an%x00%ae%x00%at%x00%cn%x00%ce%x00%ct%x00%B";
const FIELDS: usize = 9;

/// Why `git log` gave no walk: the caller walks in-process instead.
#[derive(Debug)]
pub struct Unavailable(pub String);

/// What `Repo::walk` answers, from `git log --topo-order`: newest first, every commit before
/// its parents, at most `limit` commits.
pub fn walk(
    git_dir: &Path,
    hide: Option<Oid>,
    head: Oid,
    limit: usize,
    boundary: &HashSet<Oid>,
) -> Result<Result<Walk, Failure>, Unavailable> {
    let mut cmd = Command::new("git");
    cmd.arg("--git-dir")
        .arg(git_dir)
        // The objects as stored (no replacements, no signature output), and every message in
        // UTF-8, whatever `i18n.logOutputEncoding` says: a message with an `encoding` header
        // is converted, one without is passed as it is (and read lossily, as libgit2's is).
        .args(["--no-replace-objects", "-c", "log.showSignature=false"])
        .args([
            "log",
            "--topo-order",
            "-z",
            "--encoding=UTF-8",
            "--no-color",
        ])
        .arg(FORMAT)
        .arg(format!("--max-count={}", limit.saturating_add(1)))
        .arg("--end-of-options")
        .arg(head.to_string());
    if let Some(h) = hide {
        cmd.arg(format!("^{h}"));
    }
    cmd.arg("--")
        .env_remove("GIT_OBJECT_DIRECTORY")
        .env_remove("GIT_ALTERNATE_OBJECT_DIRECTORIES")
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .map_err(|e| Unavailable(format!("cannot run git: {e}")))?;
    // stderr drains on its own thread, so a chatty git can never block on a full pipe
    // while this one reads stdout.
    let stderr = child.stderr.take();
    let drain = std::thread::spawn(move || {
        let mut err = Vec::new();
        if let Some(mut s) = stderr {
            let _ = s.read_to_end(&mut err);
        }
        err
    });
    let mut out = Vec::with_capacity(1 << 16);
    let read = child.stdout.take().map(|mut s| s.read_to_end(&mut out));
    let err = drain.join().unwrap_or_default();
    let status = child
        .wait()
        .map_err(|e| Unavailable(format!("git log did not finish: {e}")))?;
    if !status.success() || !matches!(read, Some(Ok(_))) {
        return Err(Unavailable(format!(
            "git log failed ({status}): {}",
            String::from_utf8_lossy(&err).trim()
        )));
    }
    Ok(parse(&out, hide, limit, boundary))
}

fn parse(
    out: &[u8],
    hide: Option<Oid>,
    limit: usize,
    boundary: &HashSet<Oid>,
) -> Result<Walk, Failure> {
    let garbled = || Failure::invalid("git log printed a commit that cannot be read");
    let mut fields = out.split(|b| *b == 0);
    let mut walk = Walk::default();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    // A date git cannot read prints as nothing; libgit2 reads it as the epoch.
    let time = |b: &[u8]| {
        std::str::from_utf8(b)
            .ok()
            .and_then(|s| s.parse::<i64>().ok())
            .unwrap_or(0)
    };
    let hidden = hide.map(|h| h.to_string());
    while let Some(id) = fields.next().filter(|f| !f.is_empty()) {
        let f: Vec<&[u8]> = fields.by_ref().take(FIELDS - 1).collect();
        if f.len() != FIELDS - 1 {
            return Err(garbled());
        }
        let oid = std::str::from_utf8(id)
            .ok()
            .and_then(|s| Oid::from_str(s).ok())
            .ok_or_else(garbled)?;
        if walk.commits.len() == limit {
            walk.over_limit = true;
            break;
        }
        if boundary.contains(&oid) {
            walk.boundary.push(oid.to_string());
        }
        let parents: Vec<&[u8]> = f[0]
            .split(|b| *b == b' ')
            .filter(|p| !p.is_empty())
            .collect();
        if let Some(h) = &hidden {
            if parents.contains(&h.as_bytes()) {
                walk.reaches_hidden = true;
            }
        }
        // libgit2's message skips the newlines that may open it; git's `%B` keeps them.
        let message = &f[7][f[7].iter().take_while(|b| **b == b'\n').count()..];
        walk.commits.push(CommitInfo {
            id: oid.to_string(),
            message: text(message),
            author: Person {
                name: text(f[1]),
                email: text(f[2]),
                time: time(f[3]),
            },
            committer: Person {
                name: text(f[4]),
                email: text(f[5]),
                time: time(f[6]),
            },
            parents: parents.len(),
        });
    }
    Ok(walk)
}
