//! Command steps: argv executed directly (never a shell) in its own process group, output
//! streamed line by line with a `[stage service]` prefix, killed as a group on timeout.
//!
//! A step dies with its runner, so a `kill -9` of `gitops-gate run` never leaves a deploy
//! running beside the next one. On Linux the step's first process gets `PR_SET_PDEATHSIG`
//! (SIGKILL), and a watchdog (a bare fork of the runner, in a process group of its own, so a
//! signal to the runner's group spares it) waits on a pipe from the runner: when the pipe
//! closes without a word, the runner is gone and the watchdog kills the step's whole process
//! group (what the script started too, which the death signal does not reach).
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
    die_with_runner(&mut cmd);
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
    let watchdog = watchdog::start(pgid);
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
    if let Some(w) = watchdog {
        w.stand_down();
    }
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

/// The step's first process gets SIGKILL when the runner dies (Linux). The death signal
/// follows the *thread* that spawned the step: steps are spawned on the thread that runs the
/// plan, which lives as long as the run.
#[cfg(target_os = "linux")]
fn die_with_runner(cmd: &mut Command) {
    // SAFETY: getpid only reads the process id.
    let runner = unsafe { libc::getpid() };
    // SAFETY: the closure runs between fork and exec, so it only makes async-signal-safe
    // system calls (prctl, getppid) and builds errors that do not allocate.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGKILL as libc::c_ulong,
                0,
                0,
                0,
            ) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            // The runner may have died before the prctl: then no death signal ever comes,
            // and the step must not start an orphaned deploy.
            if libc::getppid() != runner {
                return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        });
    }
}

#[cfg(not(target_os = "linux"))]
fn die_with_runner(_cmd: &mut Command) {}

/// Kills a step's process group when the runner dies before the step ends.
#[cfg(target_os = "linux")]
mod watchdog {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

    pub struct Watchdog {
        pid: libc::pid_t,
        /// The runner's end of the pipe: a byte means "the step is over", EOF means the
        /// runner is gone.
        tx: OwnedFd,
    }

    impl Watchdog {
        /// The step is over (its group already killed): the watchdog exits without a kill.
        pub fn stand_down(self) {
            // SAFETY: a one-byte write to a pipe we own, then waitpid on our own child.
            unsafe {
                let _ = libc::write(self.tx.as_raw_fd(), [1u8].as_ptr().cast(), 1);
                drop(self.tx);
                let mut status = 0;
                while libc::waitpid(self.pid, &mut status, 0) == -1
                    && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted
                {
                }
            }
        }
    }

    /// Forks the watchdog of process group `pgid`; `None` (with a warning) when it cannot.
    pub fn start(pgid: libc::pid_t) -> Option<Watchdog> {
        let mut fds = [0 as libc::c_int; 2];
        // SAFETY: pipe2 fills the two descriptors; O_CLOEXEC keeps the write end out of
        // every program the runner starts later, so only the runner holds it open.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            log::warn!(
                "no watchdog for the step: pipe: {}",
                std::io::Error::last_os_error()
            );
            return None;
        }
        // SAFETY: both descriptors were just created and are owned here.
        let (rx, tx) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        let max_fd = open_max();
        // SAFETY: in the child, only async-signal-safe system calls run until `_exit`
        // (close, setpgid, sigaction through `signal`, read, kill): no allocation, no lock,
        // as fork in a threaded process requires.
        let pid = unsafe { libc::fork() };
        match pid {
            -1 => {
                log::warn!(
                    "no watchdog for the step: fork: {}",
                    std::io::Error::last_os_error()
                );
                None
            }
            0 => unsafe { watch(rx.as_raw_fd(), pgid, max_fd) },
            _ => {
                drop(rx);
                Some(Watchdog { pid, tx })
            }
        }
    }

    /// The highest descriptor number worth closing, read before the fork.
    fn open_max() -> libc::c_int {
        // SAFETY: getrlimit fills the struct.
        let mut r: libc::rlimit = unsafe { std::mem::zeroed() };
        let soft = if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) } == 0 {
            r.rlim_cur
        } else {
            1024
        };
        soft.min(65_536) as libc::c_int
    }

    /// The watchdog's whole life, in the forked child.
    ///
    /// # Safety
    /// Only in the child of `fork`; never returns.
    unsafe fn watch(rx: libc::c_int, pgid: libc::pid_t, max_fd: libc::c_int) -> ! {
        // Hold nothing of the runner's: no pipe of the CI, no socket, no write end of our own
        // pipe (else EOF could never come).
        let below = rx == 0 || libc::syscall(libc::SYS_close_range, 0u32, rx as u32 - 1, 0u32) == 0;
        let above = libc::syscall(libc::SYS_close_range, rx as u32 + 1, u32::MAX, 0u32) == 0;
        if !(below && above) {
            for fd in (0..max_fd).filter(|fd| *fd != rx) {
                libc::close(fd);
            }
        }
        // Out of the runner's process group, and deaf to what stops the runner, so that
        // cancelling the CI job (which signals the runner's group) reaches it only through
        // the runner's death.
        libc::setpgid(0, 0);
        for sig in [libc::SIGINT, libc::SIGHUP, libc::SIGTERM, libc::SIGPIPE] {
            libc::signal(sig, libc::SIG_IGN);
        }
        let mut byte = 0u8;
        loop {
            let n = libc::read(rx, (&mut byte as *mut u8).cast(), 1);
            if n == -1 && *libc::__errno_location() == libc::EINTR {
                continue;
            }
            if n != 1 {
                // EOF (or a broken pipe): the runner died with the step still running.
                libc::killpg(pgid, libc::SIGKILL);
            }
            libc::_exit(0);
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod watchdog {
    pub struct Watchdog;
    impl Watchdog {
        pub fn stand_down(self) {}
    }
    pub fn start(_pgid: libc::pid_t) -> Option<Watchdog> {
        None
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
