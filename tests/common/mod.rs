//! Test support: hermetic deployment repositories (fixed identities and times, no global
//! Git config) and a runner for the built binary that shows everything when a test fails.
#![allow(dead_code)]
use assert_cmd::Command;
use gitops_gate::model::CommitId;
use gitops_gate::repo::{Identity, Repo};
use std::path::{Path, PathBuf};

pub const POLICY: &str = r##"version: 1
environments:
  qa:      { branch: qa,      pipeline: [deploy, healthcheck] }
  staging: { branch: staging, pipeline: [deploy, healthcheck, regression], promotes_from: qa }
  prod:    { branch: prod,    pipeline: [deploy, healthcheck, smoke],      promotes_from: staging }
gates:
  committers: ["alice@example.com", "bob@example.com"]
  jira: { required: true, projects: ["OPS", "PAY"], verify: presence }
steps:
  deploy:     { run: ["./scripts/deploy.sh"], timeout: 10m }
  regression: { run: ["make", "regression"], timeout: 30m }
  smoke:      { jenkins: "smoke-test" }
"##;

pub fn descriptor(name: &str, version: &str) -> String {
    format!(
        "service: {name}\nversion: \"{version}\"\nmaintainer: team-{name}@example.com\ndomain: {name}.example.com\nport: 8080\nhealthcheck:\n  endpoints: [\"/healthz\"]\n  retries: 3\n  interval: 1s\n  timeout: 1s\nresources: {{ cpu: 500m, memory: 512Mi }}\nports: [8080]\nnotify: {{ email: [\"{name}@example.com\"], slack: [\"#{name}\"] }}\n"
    )
}

pub struct TestRepo {
    pub dir: tempfile::TempDir,
    pub repo: Repo,
    time: i64,
}

/// The repository through git2 itself, for fixtures `Repo` offers no call for (deleting a
/// ref, a note written by hand): `Repo` keeps git2 to itself.
pub fn git2_repo(repo: &Repo) -> git2::Repository {
    git2::Repository::open(repo.git_dir()).unwrap()
}

pub fn alice() -> (&'static str, &'static str) {
    ("Alice", "alice@example.com")
}
pub fn mallory() -> (&'static str, &'static str) {
    ("Mallory", "mallory@evil.example")
}

impl TestRepo {
    /// A repository with the policy and two services on `main`, branches qa, staging, prod
    /// at that commit, and every environment's ledger there too.
    pub fn deployment() -> (TestRepo, CommitId) {
        Self::deployment_with(POLICY)
    }

    /// The same, with no promotion rules: every branch deploys on its own.
    pub fn unpromoted() -> (TestRepo, CommitId) {
        let p = POLICY
            .replace(", promotes_from: qa", "")
            .replace(",      promotes_from: staging", "");
        Self::deployment_with(&p)
    }

    pub fn deployment_with(policy: &str) -> (TestRepo, CommitId) {
        let mut t = TestRepo::empty();
        let api = descriptor("api", "1.4.2");
        let web = descriptor("web", "2.0.1");
        let root = t.commit(
            "main",
            &[],
            &[
                ("gitops.yaml", Some(policy)),
                ("services/api.yaml", Some(&api)),
                ("services/web.yaml", Some(&web)),
            ],
            alice(),
            "OPS-1: initial descriptors",
        );
        for env in ["qa", "staging", "prod"] {
            t.set_ref(&format!("refs/heads/{env}"), root);
            t.set_ref(&format!("refs/gitops-gate/deployed/{env}"), root);
        }
        (t, root)
    }

    pub fn empty() -> TestRepo {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repo::init(&dir.path().join("repo")).unwrap();
        TestRepo {
            dir,
            repo,
            time: 1_767_225_600,
        }
    }

    pub fn path(&self) -> PathBuf {
        self.dir.path().join("repo")
    }

    pub fn out(&self) -> PathBuf {
        self.dir.path().join("out")
    }

    /// A commit with explicit parents; moves `branch` to it.
    pub fn commit(
        &mut self,
        branch: &str,
        parents: &[CommitId],
        files: &[(&str, Option<&str>)],
        who: (&str, &str),
        msg: &str,
    ) -> CommitId {
        self.time += 60;
        let id = Identity::new(who.0, who.1, self.time);
        let files: Vec<(&str, Option<&[u8]>)> = files
            .iter()
            .map(|(p, c)| (*p, c.map(str::as_bytes)))
            .collect();
        self.repo
            .commit_files(
                Some(&format!("refs/heads/{branch}")),
                parents,
                &files,
                &id,
                &id,
                msg,
            )
            .unwrap()
    }

    /// A commit on top of `branch`'s tip.
    pub fn commit_on(
        &mut self,
        branch: &str,
        files: &[(&str, Option<&str>)],
        who: (&str, &str),
        msg: &str,
    ) -> CommitId {
        let tip = self.tip(branch);
        self.commit(branch, &[tip], files, who, msg)
    }

    /// The usual starting point of a run test: `policy` and api 1.4.2 deployed to qa (the
    /// ledger set), then a push by alice bumping api to 1.4.3 with `message`; returns the head.
    pub fn deployed_then_bump(&mut self, policy: &str, message: &str) -> CommitId {
        let v1 = descriptor("api", "1.4.2");
        let root = self.commit(
            "qa",
            &[],
            &[
                ("gitops.yaml", Some(policy)),
                ("services/api.yaml", Some(&v1)),
            ],
            alice(),
            "OPS-1: initial",
        );
        self.set_ref("refs/gitops-gate/deployed/qa", root);
        let v2 = descriptor("api", "1.4.3");
        self.commit_on("qa", &[("services/api.yaml", Some(&v2))], alice(), message)
    }

    pub fn tip(&self, branch: &str) -> CommitId {
        self.repo
            .ref_target(&format!("refs/heads/{branch}"))
            .unwrap()
    }

    pub fn set_ref(&self, name: &str, oid: CommitId) {
        self.repo.set_ref(name, oid, "test").unwrap();
    }

    /// Removes a ref, as an environment that was never deployed has no ledger.
    pub fn delete_ref(&self, name: &str) {
        git2_repo(&self.repo)
            .find_reference(name)
            .unwrap()
            .delete()
            .unwrap();
    }

    /// `git rev-list` as the oracle for range computations.
    pub fn rev_list(&self, range: &str) -> Vec<String> {
        git(&self.path(), &["rev-list", range])
            .lines()
            .map(str::to_string)
            .collect()
    }
}

/// `git` as every test runs it, whatever the machine has: the environment cleared but for
/// PATH, no global or system config, a HOME of its own, a fixed identity and fixed dates. A
/// machine with no `user.email` (a fresh CI runner) then behaves as a developer's does.
pub fn git_std() -> std::process::Command {
    let mut c = std::process::Command::new("git");
    c.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home())
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "Test")
        .env("GIT_AUTHOR_EMAIL", "test@example.com")
        .env("GIT_COMMITTER_NAME", "Test")
        .env("GIT_COMMITTER_EMAIL", "test@example.com")
        .env("GIT_AUTHOR_DATE", "2026-01-01T00:00:00Z")
        .env("GIT_COMMITTER_DATE", "2026-01-01T00:00:00Z");
    c
}

/// A HOME for the binary and git that is not the developer's.
pub fn home() -> PathBuf {
    let home = std::env::temp_dir().join("gitops-gate-tests-home");
    let _ = std::fs::create_dir_all(&home);
    home
}

/// `git -C dir args...` through `git_std`; asserts success and returns trimmed stdout.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let o = git_std().arg("-C").arg(dir).args(args).output().unwrap();
    assert!(
        o.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

/// The binary with a clean environment: only PATH, a private HOME, no Git config.
pub fn gate(home: &Path) -> Command {
    Command::from_std(gate_std(home))
}

/// `gate`, as a `std` command, for tests that drive the process's pipes themselves.
pub fn gate_std(home: &Path) -> std::process::Command {
    let mut c = std::process::Command::new(assert_cmd::cargo::cargo_bin("gitops-gate"));
    c.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GITOPS_GATE_LOG", "warn");
    c
}

/// Runs and returns (exit code, stdout, stderr), printing all three so failures explain.
pub fn run(mut c: Command) -> (i32, String, String) {
    let out = c.output().unwrap();
    let code = out.status.code().unwrap_or(-1);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    println!("exit: {code}\n--- stdout\n{stdout}\n--- stderr\n{stderr}");
    (code, stdout, stderr)
}

pub fn read_json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

impl AsRef<Path> for TestRepo {
    /// The temp folder that holds the repository (`repo/`) and the test's other files:
    /// what a `Test` runs in and lists when it fails.
    fn as_ref(&self) -> &Path {
        self.dir.path()
    }
}

/// One run of the binary, stated as a transcript (just's `tests/test.rs`): set up the
/// arguments, environment, directory and stdin, then state the exit status, stdout and
/// stderr, and `run` asserts all three together.
///
/// ```ignore
/// Test::new(&t)
///     .args(["plan", "--env", "nope"])
///     .status(2)
///     .stderr("error: `nope` is not an environment of the policy\n...")
///     .run();
/// ```
///
/// - The binary runs as `gate_std(root)` does: a cleared environment (PATH only), HOME =
///   `root`, no Git config; its working directory is `root` unless `current_dir` says.
/// - Status defaults to 0; stdout and stderr default to empty: a test that does not
///   expect output asserts there is none.
/// - Expectations are exact, compared after the temp folder's path is replaced with
///   `[TMP]`, so a test can state an error that names a file.
/// - `transcript()` instead returns status, stdout and stderr as one text for
///   `insta::assert_snapshot!` (redact it with `snapshot_filters`).
/// - On a mismatch it panics with the command, the listing of `root`, the status, stdout
///   and stderr (ripgrep's `tests/util.rs`).
pub struct Test {
    root: PathBuf,
    cmd: std::process::Command,
    stdin: Option<Vec<u8>>,
    status: i32,
    stdout: String,
    stderr: String,
}

/// What a `Test` saw, with the temp folder's path as `[TMP]`.
#[derive(Debug)]
pub struct Output {
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Test {
    /// `root`: the test's temp folder (a `TestRepo`, or any path).
    pub fn new(root: impl AsRef<Path>) -> Test {
        let root = root.as_ref().to_path_buf();
        let mut cmd = gate_std(&root);
        cmd.current_dir(&root);
        Test {
            root,
            cmd,
            stdin: None,
            status: 0,
            stdout: String::new(),
            stderr: String::new(),
        }
    }
    pub fn arg(mut self, arg: impl AsRef<std::ffi::OsStr>) -> Test {
        self.cmd.arg(arg);
        self
    }
    pub fn args<I, S>(mut self, args: I) -> Test
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        self.cmd.args(args);
        self
    }
    pub fn env(mut self, key: &str, value: impl AsRef<std::ffi::OsStr>) -> Test {
        self.cmd.env(key, value);
        self
    }
    pub fn current_dir(mut self, dir: impl AsRef<Path>) -> Test {
        self.cmd.current_dir(dir);
        self
    }
    pub fn stdin(mut self, input: impl Into<Vec<u8>>) -> Test {
        self.stdin = Some(input.into());
        self
    }
    pub fn status(mut self, status: i32) -> Test {
        self.status = status;
        self
    }
    pub fn stdout(mut self, expected: impl Into<String>) -> Test {
        self.stdout = expected.into();
        self
    }
    pub fn stderr(mut self, expected: impl Into<String>) -> Test {
        self.stderr = expected.into();
        self
    }

    /// Runs and asserts status, stdout and stderr together; returns what it saw.
    #[track_caller]
    pub fn run(self) -> Output {
        let (status, stdout, stderr) = (self.status, self.stdout.clone(), self.stderr.clone());
        let (description, out) = self.output();
        if out.status != status || out.stdout != stdout || out.stderr != stderr {
            let want = |what: &str, want: &str, got: &str| {
                if want == got {
                    String::new()
                } else {
                    format!("--- expected {what}\n{want}\n")
                }
            };
            panic!(
                "{description}\n{}{}{}",
                if out.status == status {
                    String::new()
                } else {
                    format!("--- expected status {status}\n")
                },
                want("stdout", &stdout, &out.stdout),
                want("stderr", &stderr, &out.stderr),
            );
        }
        out
    }

    /// Runs and returns status, stdout and stderr as one text, for a snapshot.
    pub fn transcript(self) -> String {
        let (_, out) = self.output();
        format!(
            "status: {}\n----- stdout -----\n{}----- stderr -----\n{}",
            out.status, out.stdout, out.stderr
        )
    }

    /// Runs; returns a description of the run (for a failure message) and the output.
    fn output(mut self) -> (String, Output) {
        use std::io::Write as _;
        use std::process::Stdio;
        self.cmd
            .stdin(if self.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = self
            .cmd
            .spawn()
            .unwrap_or_else(|e| panic!("{:?}: {e}", self.cmd));
        if let Some(input) = self.stdin.take() {
            let mut pipe = child.stdin.take().unwrap();
            // A binary that does not read its stdin closes the pipe: not the test's failure.
            let _ = pipe.write_all(&input);
        }
        let o = child.wait_with_output().unwrap();
        let tmp = |b: &[u8]| {
            let root = self.root.display().to_string();
            String::from_utf8_lossy(b).replace(&root, "[TMP]")
        };
        let out = Output {
            status: o.status.code().unwrap_or(-1),
            stdout: tmp(&o.stdout),
            stderr: tmp(&o.stderr),
        };
        let description = format!(
            "\n\n===== command =====\n{:?}\n\n===== {} =====\n{}\n===== status =====\n{}\n\n===== stdout =====\n{}\n===== stderr =====\n{}\n",
            self.cmd,
            self.root.display(),
            listing(&self.root),
            out.status,
            out.stdout,
            out.stderr
        );
        (description, out)
    }
}

/// The files under `dir`, one a line, `.git` folders not entered.
pub fn listing(dir: &Path) -> String {
    fn walk(dir: &Path, depth: usize, out: &mut String) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        let mut entries: Vec<_> = rd.flatten().collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let name = e.file_name().to_string_lossy().into_owned();
            let is_dir = e.file_type().map(|t| t.is_dir()).unwrap_or(false);
            out.push_str(&format!(
                "{}{name}{}\n",
                "  ".repeat(depth),
                if is_dir { "/" } else { "" }
            ));
            if is_dir && name != ".git" && depth < 6 {
                walk(&e.path(), depth + 1, out);
            }
        }
    }
    let mut out = String::new();
    walk(dir, 0, &mut out);
    out
}

/// insta filters that make a transcript stable: commit ids, digests, temp paths, times and
/// durations. Bind them with `insta::with_settings!({filters => snapshot_filters()}, ...)`.
pub fn snapshot_filters() -> Vec<(&'static str, &'static str)> {
    vec![
        // sha256 digests (plan digests, checksums) before commit ids, which they contain.
        (r"\b[0-9a-f]{64}\b", "[DIGEST]"),
        (r"\b[0-9a-f]{40}\b", "[SHA]"),
        (r"\b[0-9a-f]{12}\b", "[SHA12]"),
        (r"\b[0-9a-f]{7}\b", "[SHA7]"),
        // Temp folders other than the test's own (already `[TMP]`).
        (
            r"(/private)?/(tmp|var/folders)/[^\s:`']*\.tmp[A-Za-z0-9]{6}",
            "[TMP]",
        ),
        (
            r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2}| UTC)?",
            "[TIME]",
        ),
        // Elapsed times (`0.3s`, `12ms`, `4.1µs`), not the policy's whole `10m` or `1s`.
        (r"\b\d+\.\d+s\b|\b\d+(\.\d+)?(ms|µs|ns)\b", "[DURATION]"),
    ]
}
