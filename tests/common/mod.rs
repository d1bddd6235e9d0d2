//! Test support: hermetic deployment repositories (fixed identities and times, no global
//! Git config) and a runner for the built binary that shows everything when a test fails.
#![allow(dead_code)]
use assert_cmd::Command;
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

pub fn alice() -> (&'static str, &'static str) {
    ("Alice", "alice@example.com")
}
pub fn mallory() -> (&'static str, &'static str) {
    ("Mallory", "mallory@evil.example")
}

impl TestRepo {
    /// A repository with the policy and two services on `main`, branches qa, staging, prod
    /// at that commit, and every environment's ledger there too.
    pub fn deployment() -> (TestRepo, git2::Oid) {
        Self::deployment_with(POLICY)
    }

    /// The same, with no promotion rules: every branch deploys on its own.
    pub fn unpromoted() -> (TestRepo, git2::Oid) {
        let p = POLICY
            .replace(", promotes_from: qa", "")
            .replace(",      promotes_from: staging", "");
        Self::deployment_with(&p)
    }

    pub fn deployment_with(policy: &str) -> (TestRepo, git2::Oid) {
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
        parents: &[git2::Oid],
        files: &[(&str, Option<&str>)],
        who: (&str, &str),
        msg: &str,
    ) -> git2::Oid {
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
    ) -> git2::Oid {
        let tip = self.tip(branch);
        self.commit(branch, &[tip], files, who, msg)
    }

    /// The usual starting point of a run test: `policy` and api 1.4.2 deployed to qa (the
    /// ledger set), then a push by alice bumping api to 1.4.3 with `message`; returns the head.
    pub fn deployed_then_bump(&mut self, policy: &str, message: &str) -> git2::Oid {
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

    pub fn tip(&self, branch: &str) -> git2::Oid {
        self.repo
            .ref_target(&format!("refs/heads/{branch}"))
            .unwrap()
    }

    pub fn set_ref(&self, name: &str, oid: git2::Oid) {
        self.repo.set_ref(name, oid, "test").unwrap();
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
