//! A saved plan edited by hand, and deploy steps that outlive their runner.
use crate::common::{self, alice, descriptor, mallory, TestRepo};
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
    root: git2::Oid,
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

    fn ledger(&self) -> Option<git2::Oid> {
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

const REMAKE_HINT: &str = "hint: make a new plan with `gitops-gate plan`, or run `gitops-gate run` to plan and run in one go\ngitops-gate: exit 5 (Superseded)\n";

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
