//! The sizes of pushed blobs, from `git cat-file --batch-check` in a process of its own.
//!
//! A pushed blob is untrusted, so its size is checked before it is inflated: a small delta
//! can describe a huge object. libgit2 answers a size query by walking the blob's delta
//! chain down to its base to learn the type, which costs as much as reading the blob: 15 ms
//! of a push changing 5,000 descriptors, on the one thread that reads them. git answers a
//! size-only query from the delta's own header, and does it on the other core.
//!
//! Sizes arrive as git prints them. A blob whose size has not arrived when it is read is
//! checked through libgit2 as before, so the reading never waits for git (only for starting
//! it); without git, or if it answers anything unexpected, every blob is checked in-process.
use git2::Oid;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};

/// Below this many pushed blobs the in-process check is cheaper than starting git.
pub const WORTH_A_PROCESS: usize = 500;

pub struct Sizes {
    rx: Receiver<(Oid, usize)>,
    got: Vec<(Oid, usize)>,
    /// How many blobs were asked about, and how many of them git had sized by then.
    pub asked: usize,
    pub answered: usize,
    child: Option<Child>,
}

impl Sizes {
    /// Asks git for the size of each of `ids`, in order. Never fails: a git that cannot
    /// start simply answers nothing.
    pub fn start(git_dir: &Path, ids: &[Oid]) -> Sizes {
        let (tx, rx) = mpsc::channel();
        let mut sizes = Sizes {
            rx,
            got: Vec::with_capacity(ids.len()),
            asked: 0,
            answered: 0,
            child: None,
        };
        let spawned = Command::new("git")
            .arg("--git-dir")
            .arg(git_dir)
            .args([
                "--no-replace-objects",
                "cat-file",
                // The type would make git walk each delta chain, as libgit2 does. It is not
                // needed: `find_blob` refuses whatever is not a blob.
                "--batch-check=%(objectname) %(objectsize)",
            ])
            // The objects libgit2 reads: it ignores these variables, so git must too.
            .env_remove("GIT_OBJECT_DIRECTORY")
            .env_remove("GIT_ALTERNATE_OBJECT_DIRECTORIES")
            // A partial clone would fetch each missing object from the remote, and could ask
            // for credentials: a missing object ends the answers instead.
            .env("GIT_NO_LAZY_FETCH", "1")
            .env("GIT_TERMINAL_PROMPT", "0")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn();
        let mut child = match spawned {
            Ok(c) => c,
            Err(e) => {
                log::debug!("sizes: cannot run git ({e}): checked in-process");
                return sizes;
            }
        };
        let (Some(mut stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            sizes.child = Some(child);
            return sizes;
        };
        let input: String = ids.iter().map(|id| format!("{id}\n")).collect();
        // Written on a thread of its own: git answers while it reads, and a full pipe each
        // way would otherwise block both.
        std::thread::spawn(move || {
            let _ = stdin.write_all(input.as_bytes());
        });
        let ids = ids.to_vec();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            for id in ids {
                let Some(Ok(line)) = lines.next() else { return };
                match answer(&line, id) {
                    Some(size) if tx.send((id, size)).is_ok() => {}
                    _ => return,
                }
            }
        });
        sizes.child = Some(child);
        sizes
    }

    /// The size of `id`, the next of the ids `start` was given, when git has answered for it
    /// by now. The answer names its blob, so a caller that asks out of order gets nothing
    /// rather than another blob's size.
    pub fn next(&mut self, id: Oid) -> Option<usize> {
        let k = self.asked;
        self.asked += 1;
        while self.got.len() <= k {
            self.got.push(self.rx.try_recv().ok()?);
        }
        let (named, size) = self.got[k];
        let known = (named == id).then_some(size);
        self.answered += usize::from(known.is_some());
        known
    }
}

/// `<id> <size>` for exactly the object asked about; anything else (`<id> missing`) stops
/// the answers.
fn answer(line: &str, id: Oid) -> Option<usize> {
    let (name, size) = line.split_once(' ')?;
    if name.parse::<Oid>().ok()? != id {
        return None;
    }
    size.parse().ok()
}

#[cfg(test)]
impl Sizes {
    /// Answers received so far, asked about or not.
    fn rx_len(&mut self) -> usize {
        while let Ok(a) = self.rx.try_recv() {
            self.got.push(a);
        }
        self.got.len()
    }
}

impl Drop for Sizes {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repo::{Identity, Repo};

    #[test]
    fn answers_only_for_the_blob_asked_about() {
        let id: Oid = "0123456789abcdef0123456789abcdef01234567".parse().unwrap();
        assert_eq!(answer(&format!("{id} 42"), id), Some(42));
        for bad in [
            format!("{id} missing"),
            format!("{id} 42 x"),
            format!("{id} -1"),
            format!("{} 42", Oid::zero()),
            String::new(),
        ] {
            assert_eq!(answer(&bad, id), None, "{bad}");
        }
    }

    #[test]
    fn git_reports_each_size_in_order_and_stops_at_a_missing_blob() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repo::init(dir.path()).unwrap();
        let bodies: Vec<String> = (0..50).map(|i| "x".repeat(i * 3)).collect();
        let ids: Vec<Oid> = bodies
            .iter()
            .map(|b| repo.git.blob(b.as_bytes()).unwrap())
            .collect();
        let id = Identity::new("A", "a@example.com", 1_767_225_600);
        repo.commit_files(Some("refs/heads/qa"), &[], &[], &id, &id, "m")
            .unwrap();
        let mut asked = ids.clone();
        asked.insert(
            40,
            "0123456789abcdef0123456789abcdef01234567".parse().unwrap(),
        );
        let mut sizes = Sizes::start(repo.git_dir(), &asked);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        // Waits until git has answered for all 40 blobs before the missing one.
        while sizes.rx_len() < 40 && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        for (k, b) in bodies.iter().take(40).enumerate() {
            // Asked for another blob than the answer names: no answer, for the 4th.
            let id = if k == 3 { ids[4] } else { ids[k] };
            let want = (k != 3).then_some(b.len());
            assert_eq!(sizes.next(id), want, "blob {k}");
        }
        // The missing object ends the answers: the rest are checked in-process.
        std::thread::sleep(std::time::Duration::from_millis(100));
        assert_eq!(sizes.next(asked[40]), None);
        assert_eq!(sizes.next(asked[41]), None);
        assert_eq!((sizes.asked, sizes.answered), (42, 39));
    }
}
