//! A saved plan edited by hand, and deploy steps that outlive their runner.
use crate::common::{self, alice, descriptor, mallory, TestRepo};
use gitops_gate::model::CommitId;
use std::path::{Path, PathBuf};

/// qa deploys with one command step that appends `$GITOPS_SERVICE $GITOPS_VERSION` to `log`;
/// only alice may commit.
fn policy(log: &Path) -> String {
    format!(
        r#"version: 1
environments:
  qa: {{ branch: qa, pipeline: [deploy] }}
gates:
  committers: ["alice@example.com"]
steps:
  deploy: {{ run: ["sh", "-c", "echo \"$GITOPS_SERVICE $GITOPS_VERSION\" >> {}"], timeout: 1m }}
"#,
        log.display()
    )
}

struct Pushed {
    t: TestRepo,
    log: PathBuf,
    root: CommitId,
}

/// api 1.4.2 deployed to qa (the ledger there), then `who` pushes api 1.4.3.
fn pushed_by(who: (&str, &str)) -> Pushed {
    let mut t = TestRepo::empty();
    let log = t.dir.path().join("deploys.log");
    let pol = policy(&log);
    let v1 = descriptor("api", "1.4.2");
    let root = t.commit(
        "qa",
        &[],
        &[
            ("gitops.yaml", Some(&pol)),
            ("services/api.yaml", Some(&v1)),
        ],
        alice(),
        "OPS-1: initial",
    );
    t.set_ref("refs/gitops-gate/deployed/qa", root);
    let v2 = descriptor("api", "1.4.3");
    t.commit_on(
        "qa",
        &[("services/api.yaml", Some(&v2))],
        who,
        "OPS-2: bump api",
    );
    Pushed { t, log, root }
}

impl Pushed {
    fn plan_json(&self) -> PathBuf {
        self.t.out().join("plan.json")
    }

    /// `gitops-gate <cmd> --repo R --branch qa --head qa --out OUT`.
    fn gate(&self, cmd: &str) -> assert_cmd::Command {
        let mut c = common::gate(&common::home());
        c.arg(cmd)
            .arg("--repo")
            .arg(self.t.path())
            .args(["--branch", "qa", "--head", "qa", "--out"])
            .arg(self.t.out());
        c
    }

    fn run_saved(&self) -> (i32, String, String) {
        let mut c = self.gate("run");
        c.arg("--plan").arg(self.plan_json());
        common::run(c)
    }

    fn ledger(&self) -> Option<CommitId> {
        self.t.repo.ref_target("refs/gitops-gate/deployed/qa")
    }

    fn deploys(&self) -> Vec<String> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    fn edit_plan(&self, edit: impl FnOnce(&mut serde_json::Value)) {
        let mut plan = common::read_json(&self.plan_json());
        edit(&mut plan);
        std::fs::write(self.plan_json(), serde_json::to_vec_pretty(&plan).unwrap()).unwrap();
    }
}

const REMAKE_HINT: &str = "hint: make a new plan with `gitops-gate plan`, or run `gitops-gate run` to plan and run in one go\ngitops-gate: exit 5: superseded\n";

#[test]
fn an_edited_plan_decision_is_refused_and_nothing_deploys() {
    let p = pushed_by(mallory());
    let (code, _, _) = common::run(p.gate("plan"));
    assert_eq!(code, 1, "mallory is no allowed committer");
    // The attack: flip the rejection and add the stage a deploy plan would have.
    p.edit_plan(|plan| {
        assert_eq!(plan["decision"], "reject");
        plan["decision"] = "deploy".into();
        plan["stages"] = serde_json::json!([
            { "id": "deploy", "service": "api", "version": "1.4.3", "action": "deploy" }
        ]);
    });
    let (code, stdout, stderr) = p.run_saved();
    assert_eq!(code, 5, "{stderr}");
    assert_eq!(stdout, "");
    assert!(
        stderr.starts_with("error: the saved plan does not match what Git says for this push (")
            && stderr.contains("\n  decision: file says \"deploy\", Git says \"reject\"\n")
            && stderr.contains("\n  stages[0]: file says {\"action\":\"deploy\",")
            && stderr.ends_with(REMAKE_HINT),
        "{stderr}"
    );
    assert_eq!(p.ledger(), Some(p.root), "the ledger did not move");
    assert!(p.deploys().is_empty(), "the deploy step never ran");
    assert!(!p.t.out().join("run.json").exists(), "no run started");
}

#[test]
fn an_edited_stage_version_is_refused_and_nothing_deploys() {
    let p = pushed_by(alice());
    let (code, _, stderr) = common::run(p.gate("plan"));
    assert_eq!(code, 0, "{stderr}");
    // The attack: deploy a version no descriptor holds.
    p.edit_plan(|plan| {
        let stage = &mut plan["stages"][1];
        assert_eq!(stage["id"], "deploy");
        stage["version"] = "6.6.6".into();
        stage["parameters"]["VERSION"] = "6.6.6".into();
    });
    let (code, stdout, stderr) = p.run_saved();
    assert_eq!(code, 5, "{stderr}");
    assert_eq!(stdout, "");
    assert_eq!(
        stderr,
        format!(
            "error: the saved plan does not match what Git says for this push (2 fields differ), so nothing ran:\n  \
             stages[1].parameters.VERSION: file says \"6.6.6\", Git says \"1.4.3\"\n  \
             stages[1].version: file says \"6.6.6\", Git says \"1.4.3\"\n{REMAKE_HINT}"
        )
    );
    assert_eq!(p.ledger(), Some(p.root), "the ledger did not move");
    assert!(p.deploys().is_empty(), "the deploy step never ran");
}

#[test]
fn an_unedited_saved_plan_runs_the_plan_git_gives() {
    let p = pushed_by(alice());
    let (code, _, stderr) = common::run(p.gate("plan"));
    assert_eq!(code, 0, "{stderr}");
    let (code, stdout, stderr) = p.run_saved();
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        stdout,
        format!("run succeeded: {}\n", p.t.out().join("run.json").display())
    );
    assert!(
        stderr.contains("gitops-gate: [deploy api]: ok (`sh` exited 0)")
            && !stderr.contains("error"),
        "{stderr}"
    );
    assert_eq!(p.deploys(), vec!["api 1.4.3"]);
    assert_eq!(
        p.ledger(),
        Some(p.t.tip("qa")),
        "the ledger moved to the head"
    );
    // The same file again: the ledger moved, and the old check says so first.
    let (code, stdout, stderr) = p.run_saved();
    assert_eq!(code, 5, "{stderr}");
    assert_eq!(stdout, "");
    assert!(
        stderr.contains("error: the plan was made against ledger ")
            && stderr.contains("hint: make a new plan: `gitops-gate run` plans and runs in one go"),
        "{stderr}"
    );
    assert_eq!(p.deploys().len(), 1, "deployed exactly once");
}

/// A deploy step (`sh STEP`) that writes its pid to `step.pid`; while the file `hold` exists
/// it also starts a `sleep 300` in the background (its pid in `grand.pid`) and waits for it,
/// as a deploy script waits for the tool it started. Then it logs the deploy.
struct Held {
    p: Pushed,
    dir: PathBuf,
}

fn held_step() -> Held {
    let mut t = TestRepo::empty();
    let dir = t.dir.path().to_path_buf();
    let log = dir.join("deploys.log");
    let step = dir.join("step.sh");
    std::fs::write(
        &step,
        format!(
            r#"d='{}'
echo $$ > "$d/step.tmp" && mv "$d/step.tmp" "$d/step.pid"
if [ -e "$d/hold" ]; then
  sleep 300 &
  echo $! > "$d/grand.tmp" && mv "$d/grand.tmp" "$d/grand.pid"
  wait
fi
echo "$GITOPS_SERVICE $GITOPS_VERSION" >> "$d/deploys.log"
"#,
            dir.display()
        ),
    )
    .unwrap();
    std::fs::write(dir.join("hold"), "").unwrap();
    let pol = format!(
        r#"version: 1
environments:
  qa: {{ branch: qa, pipeline: [deploy] }}
steps:
  deploy: {{ run: ["sh", "{}"], timeout: 2m }}
"#,
        step.display()
    );
    let v1 = descriptor("api", "1.4.2");
    let root = t.commit(
        "qa",
        &[],
        &[
            ("gitops.yaml", Some(&pol)),
            ("services/api.yaml", Some(&v1)),
        ],
        alice(),
        "OPS-1: initial",
    );
    t.set_ref("refs/gitops-gate/deployed/qa", root);
    let v2 = descriptor("api", "1.4.3");
    t.commit_on(
        "qa",
        &[("services/api.yaml", Some(&v2))],
        alice(),
        "OPS-2: bump api",
    );
    Held {
        p: Pushed { t, log, root },
        dir,
    }
}

/// A process seen once: its pid and start time, so a reused pid is not mistaken for it.
#[derive(Debug, Clone, Copy)]
struct Seen {
    pid: i32,
    start: u64,
}

/// (state, start time) of `/proc/<pid>/stat`.
fn proc_stat(pid: i32) -> Option<(char, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut f = rest.split_whitespace();
    let state = f.next()?.chars().next()?;
    Some((state, f.nth(18)?.parse().ok()?))
}

impl Seen {
    fn alive(self) -> bool {
        matches!(proc_stat(self.pid), Some((state, start)) if state != 'Z' && start == self.start)
    }
}

/// Kills what a failed test would otherwise leave running.
struct Reaper(Vec<Seen>);
impl Drop for Reaper {
    fn drop(&mut self) {
        for s in &self.0 {
            if s.alive() {
                // SAFETY: kill only sends a signal, to a process this test started.
                unsafe { libc::kill(s.pid, libc::SIGKILL) };
            }
        }
    }
}

impl Held {
    fn gate(&self, out: &str) -> std::process::Command {
        let mut c = common::gate_std(&common::home());
        c.arg("run")
            .arg("--repo")
            .arg(self.p.t.path())
            .args(["--branch", "qa", "--head", "qa", "--out"])
            .arg(self.dir.join(out));
        c
    }

    /// A runner in the background, once its step (and the step's own child) runs.
    fn start_runner(&self) -> (std::process::Child, Seen, Seen) {
        let child = self
            .gate("out")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let grand = self.dir.join("grand.pid");
        for _ in 0..1200 {
            if grand.exists() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let (step, grand) = (self.seen("step.pid"), self.seen("grand.pid"));
        (child, step, grand)
    }

    fn seen(&self, file: &str) -> Seen {
        let text = std::fs::read_to_string(self.dir.join(file))
            .unwrap_or_else(|e| panic!("{file}: the step did not start: {e}"));
        let pid: i32 = text.trim().parse().unwrap();
        let (_, start) = proc_stat(pid).expect("the step runs");
        Seen { pid, start }
    }
}

/// Waits (bounded) until none of `procs` is alive; true if so.
fn all_gone(procs: &[Seen]) -> bool {
    for _ in 0..600 {
        if !procs.iter().any(|p| p.alive()) {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    false
}

/// `kill -9` of the runner; returns its stdout and stderr.
fn kill_9(child: std::process::Child) -> (String, String) {
    // SAFETY: kill only sends a signal, to our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    let out = child.wait_with_output().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(out.status.signal(), Some(libc::SIGKILL));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    println!("killed runner\n--- stdout\n{stdout}\n--- stderr\n{stderr}");
    (stdout, stderr)
}

#[test]
fn a_killed_runner_takes_its_deploy_step_with_it() {
    let h = held_step();
    let (runner, step, grand) = h.start_runner();
    let _reaper = Reaper(vec![step, grand]);
    assert!(step.alive() && grand.alive());
    let (stdout, stderr) = kill_9(runner);
    assert!(stdout.starts_with("gitops-gate: DEPLOY qa"), "{stdout}");
    assert!(
        stderr
            .starts_with("gitops-gate: claimed refs/gitops-gate/claim/qa in the local repository")
            && !stderr.contains("[deploy api]: ok"),
        "{stderr}"
    );
    assert!(
        all_gone(&[step, grand]),
        "the step ({}) and what it started ({}) outlived the runner",
        step.pid,
        grand.pid
    );
    assert!(
        h.p.deploys().is_empty(),
        "the step never finished its deploy"
    );
    assert_eq!(h.p.ledger(), Some(h.p.root), "the ledger did not move");
}

#[test]
fn break_claim_is_refused_while_the_holder_runs_on_this_host() {
    let h = held_step();
    let (runner, step, grand) = h.start_runner();
    let _reaper = Reaper(vec![step, grand]);
    let holder = runner.id();

    let (code, stdout, stderr) = common::run(assert_cmd::Command::from_std({
        let mut c = h.gate("out2");
        c.arg("--break-claim");
        c
    }));
    assert_eq!(code, 5, "{stderr}");
    assert!(stdout.starts_with("gitops-gate: DEPLOY qa"), "{stdout}");
    assert!(
        stderr.starts_with(&format!(
            "error: --break-claim refused: refs/gitops-gate/claim/qa in the local repository is held by gitops-gate process {holder} on this host ("
        )) && stderr.contains("which is still running: a run of plan ")
            && stderr.contains(&format!(
                "\nhint: let it finish, or stop it first: `kill {holder}` cancels it"
            ))
            && stderr.contains(&format!("`kill -9 {holder}` (its step dies with it)"))
            && stderr.ends_with("gitops-gate: exit 5: superseded\n"),
        "{stderr}"
    );
    assert!(step.alive() && grand.alive(), "the holder's step runs on");
    assert_eq!(h.seen("step.pid").pid, step.pid, "no second step started");

    // Once the holder is gone, the claim can be broken and the deploy runs.
    kill_9(runner);
    assert!(all_gone(&[step, grand]), "the holder's step died with it");
    std::fs::remove_file(h.dir.join("hold")).unwrap();
    let (code, stdout, stderr) = common::run(assert_cmd::Command::from_std({
        let mut c = h.gate("out2");
        c.arg("--break-claim");
        c
    }));
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.starts_with("gitops-gate: DEPLOY qa")
            && stdout.ends_with(&format!(
                "run succeeded: {}\n",
                h.dir.join("out2/run.json").display()
            )),
        "{stdout}"
    );
    assert!(
        stderr.starts_with(
            "gitops-gate: --break-claim: taking over refs/gitops-gate/claim/qa from a run of plan "
        ) && stderr.contains("gitops-gate: [deploy api]: ok (`sh` exited 0)"),
        "{stderr}"
    );
    assert_eq!(h.p.deploys(), vec!["api 1.4.3"]);
    assert_eq!(h.p.ledger(), Some(h.p.t.tip("qa")), "the ledger moved");
}
