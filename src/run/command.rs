//! Command steps: argv executed directly (never a shell) in its own process group, output
//! streamed line by line with a `[stage service]` prefix, killed as a group on timeout.
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Lines of output kept for the failure ticket.
pub const TAIL_LINES: usize = 40;

pub struct CommandStep<'a> {
    pub argv: &'a [String],
    pub env: Vec<(String, String)>,
    pub dir: &'a Path,
    pub timeout: Duration,
    /// `[deploy api]`.
    pub prefix: String,
    /// Fold the output in `::group::` and fence it from the workflow-command parser.
    pub github_actions: bool,
}

#[derive(Debug)]
pub struct CommandOutcome {
    pub success: bool,
    /// Why it failed, in one line.
    pub detail: String,
    pub tail: Vec<String>,
}

pub fn run(step: &CommandStep) -> CommandOutcome {
    let Some((program, args)) = step.argv.split_first() else {
        return failed("the step's `run` is empty", Vec::new());
    };
    let mut cmd = Command::new(program);
    cmd.args(args)
        .current_dir(step.dir)
        .envs(step.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let fence = step.github_actions.then(|| {
        let token = format!("{:032x}", rand::random::<u128>());
        crate::errln!("::group::{}", crate::output::escape_data(&step.prefix));
        crate::errln!("::stop-commands::{token}");
        token
    });
    let outcome = spawn_and_wait(&mut cmd, step);
    if let Some(token) = fence {
        crate::errln!("::{token}::");
        crate::errln!("::endgroup::");
    }
    outcome
}

fn spawn_and_wait(cmd: &mut Command, step: &CommandStep) -> CommandOutcome {
    let program = &step.argv[0];
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            return failed(
                &format!("cannot start `{program}` in {}: {e}", step.dir.display()),
                Vec::new(),
            )
        }
    };
    let pgid = child.id() as i32;
    let tail = Arc::new(Mutex::new(VecDeque::new()));
    let readers: Vec<_> = [
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
    ]
    .into_iter()
    .flatten()
    .map(|r| {
        let tail = tail.clone();
        let prefix = step.prefix.clone();
        std::thread::spawn(move || stream(r, &prefix, &tail))
    })
    .collect();
    let deadline = Instant::now() + step.timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break Ok(s),
            Ok(None) if Instant::now() >= deadline => {
                kill_group(pgid);
                let _ = child.wait();
                break Err(format!(
                    "`{program}` timed out after {:?}; its process group was killed",
                    step.timeout
                ));
            }
            Ok(None) if super::cancel::cancelled() => {
                kill_group(pgid);
                let _ = child.wait();
                break Err(format!(
                    "`{program}` was stopped: the run was cancelled (a signal), and its process group was killed"
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => break Err(format!("cannot wait for `{program}`: {e}")),
        }
    };
    // The group is gone or the leader exited; stragglers holding the pipes are killed too so
    // the readers finish.
    kill_group(pgid);
    for r in readers {
        let _ = r.join();
    }
    let tail: Vec<String> = tail
        .lock()
        .map(|t| t.iter().cloned().collect())
        .unwrap_or_default();
    match status {
        Ok(s) if s.success() => CommandOutcome {
            success: true,
            detail: format!("`{program}` exited 0"),
            tail,
        },
        Ok(s) => {
            use std::os::unix::process::ExitStatusExt;
            let how = match (s.code(), s.signal()) {
                (Some(c), _) => format!("exited {c}"),
                (None, Some(sig)) => format!("was killed by signal {sig}"),
                _ => "failed".to_string(),
            };
            failed(&format!("`{program}` {how}"), tail)
        }
        Err(e) => failed(&e, tail),
    }
}

fn failed(detail: &str, tail: Vec<String>) -> CommandOutcome {
    CommandOutcome {
        success: false,
        detail: detail.to_string(),
        tail,
    }
}

fn kill_group(pgid: i32) {
    if pgid > 0 {
        // SAFETY: killpg only sends a signal; a group that no longer exists returns ESRCH.
        unsafe {
            libc::killpg(pgid, libc::SIGKILL);
        }
    }
}

fn stream(r: Box<dyn std::io::Read + Send>, prefix: &str, tail: &Mutex<VecDeque<String>>) {
    let mut reader = BufReader::new(r);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf) {
            Ok(0) | Err(_) => break,
            Ok(_) => {
                let line = String::from_utf8_lossy(&buf);
                let line = line.trim_end_matches(['\n', '\r']);
                let mut err = std::io::stderr().lock();
                let _ = writeln!(err, "{prefix} {line}");
                if let Ok(mut t) = tail.lock() {
                    if t.len() == TAIL_LINES {
                        t.pop_front();
                    }
                    t.push_back(line.to_string());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step<'a>(argv: &'a [String], dir: &'a Path, timeout: Duration) -> CommandStep<'a> {
        CommandStep {
            argv,
            env: vec![("GITOPS_SERVICE".into(), "api".into())],
            dir,
            timeout,
            prefix: "[deploy api]".into(),
            github_actions: false,
        }
    }

    #[test]
    fn exit_status_decides_and_env_is_passed() {
        let d = tempfile::tempdir().unwrap();
        let argv: Vec<String> = ["sh", "-c", "echo svc=$GITOPS_SERVICE; exit 3"]
            .map(String::from)
            .to_vec();
        let o = run(&step(&argv, d.path(), Duration::from_secs(30)));
        assert!(!o.success);
        assert_eq!(o.detail, "`sh` exited 3");
        assert_eq!(o.tail, vec!["svc=api"]);
        let ok: Vec<String> = vec!["true".into()];
        assert!(run(&step(&ok, d.path(), Duration::from_secs(30))).success);
    }

    #[test]
    fn timeout_kills_the_whole_group() {
        let d = tempfile::tempdir().unwrap();
        let marker = d.path().join("grandchild-survived");
        let script = format!("(sleep 2; touch {}) & sleep 30", marker.display());
        let argv: Vec<String> = vec!["sh".into(), "-c".into(), script];
        let o = run(&step(&argv, d.path(), Duration::from_millis(300)));
        assert!(!o.success);
        assert!(o.detail.contains("timed out"), "{}", o.detail);
        std::thread::sleep(Duration::from_millis(2500));
        assert!(
            !marker.exists(),
            "the background grandchild was killed with the group"
        );
    }

    #[test]
    fn a_missing_program_fails_clearly() {
        let d = tempfile::tempdir().unwrap();
        let argv: Vec<String> = vec!["/nonexistent/deploy".into()];
        let o = run(&step(&argv, d.path(), Duration::from_secs(5)));
        assert!(!o.success);
        assert!(o.detail.contains("cannot start"));
    }
}
