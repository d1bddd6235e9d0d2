//! `gitops-gate init` end to end: the repository it writes validates, and a push to each
//! environment branch (a bump on qa, then promotion merges) plans a deploy.
mod common;
use assert_cmd::Command;
use common::Test;
use gitops_gate::model::CommitId;
use gitops_gate::repo::{Identity, Repo};
use std::path::Path;

fn bin() -> Command {
    common::gate(&common::home())
}

fn plan(dir: &Path, branch: &str, head: &str, out: &Path) -> (i32, serde_json::Value) {
    let assert = bin()
        .env_remove("GITHUB_ACTIONS")
        .env_remove("JENKINS_URL")
        .env_remove("GITLAB_CI")
        .env_remove("CI")
        .args(["plan", "--no-fetch", "--offline", "--repo"])
        .arg(dir)
        .args(["--branch", branch, "--head", head, "--out"])
        .arg(out)
        .assert();
    let code = assert.get_output().status.code().unwrap_or(-1);
    let text = std::fs::read_to_string(out.join("plan.json")).unwrap();
    (code, serde_json::from_str(&text).unwrap())
}

#[test]
fn init_validates_and_each_branch_plans_a_deploy() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("deployments");
    bin().arg("init").arg(&dir).assert().success();
    for f in [
        "gitops.yaml",
        "services/example.yaml",
        "README.md",
        ".github/workflows/gitops-gate.yml",
        "Jenkinsfile",
    ] {
        assert!(dir.join(f).is_file(), "{f} missing from the work tree");
    }
    bin()
        .args(["validate", "--repo"])
        .arg(&dir)
        .assert()
        .success();

    let repo = Repo::open(&dir).unwrap();
    let root = repo.branch_tip("main").unwrap();
    for env in ["qa", "staging", "prod"] {
        assert_eq!(repo.branch_tip(env), Some(root), "{env} branch");
        assert_eq!(repo.ledger(env), Some(root), "{env} ledger");
    }
    let dev = Identity::new("Dev", "dev@example.com", 1_767_225_600);
    let example = std::fs::read_to_string(dir.join("services/example.yaml")).unwrap();
    let bumped = example.replace("version: \"1.0.0\"", "version: \"1.0.1\"");
    assert_ne!(bumped, example, "the template's version line changed");
    let qa = repo
        .commit_files(
            Some("refs/heads/qa"),
            &[root],
            &[("services/example.yaml", Some(bumped.as_bytes()))],
            &dev,
            &dev,
            "OPS-1: bump example to 1.0.1",
        )
        .unwrap();
    let mut heads = vec![("qa", qa)];
    let mut lower = qa;
    for env in ["staging", "prod"] {
        let tip = repo.branch_tip(env).unwrap();
        let merge = repo
            .commit_files(
                Some(&format!("refs/heads/{env}")),
                &[tip, lower],
                &[("services/example.yaml", Some(bumped.as_bytes()))],
                &dev,
                &dev,
                &format!("OPS-1: promote example 1.0.1 to {env}"),
            )
            .unwrap();
        heads.push((env, merge));
        lower = merge;
    }
    let mut previous: Option<(&str, CommitId)> = None;
    for (env, head) in heads {
        // What `run` does after a successful deploy of the lower environment.
        if let Some((lower, at)) = previous {
            repo.set_ref(&Repo::ledger_ref(lower), at, "test: deployed")
                .unwrap();
        }
        let out = tmp.path().join(format!("out-{env}"));
        let (code, p) = plan(&dir, env, &head.to_string(), &out);
        assert_eq!(p["environment"], env);
        assert_eq!(p["changes"][0]["service"], "example");
        let verdict = |rule: &str| {
            p["checks"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["rule"] == rule)
                .map(|c| c["verdict"].clone())
        };
        if env == "qa" {
            assert_eq!(
                (code, p["decision"].as_str()),
                (0, Some("deploy")),
                "{env}: {}",
                p["reason"]
            );
        } else {
            // Promoted environments: the version passed the lower one; the PR reviews need
            // GitHub, so an --offline run is rejected by the default `gates.offline: reject`.
            assert_eq!(
                verdict("promotion"),
                Some(serde_json::json!("pass")),
                "{env}: {p}"
            );
            assert_eq!(
                verdict("approvals"),
                Some(serde_json::json!("skip")),
                "{env}: {p}"
            );
            let failing: Vec<&str> = p["checks"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|c| c["verdict"] == "fail")
                .map(|c| c["rule"].as_str().unwrap())
                .collect();
            assert_eq!((code, failing), (1, vec!["offline"]), "{env}: {p}");
        }
        previous = Some((env, head));
    }
}

#[test]
fn init_refuses_to_overwrite_without_force() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("d");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("README.md"), "mine\n").unwrap();
    Test::new(&tmp)
        .args(["init", "d"])
        .status(2)
        .stderr(
            "error: d already holds README.md: not overwriting\n\
             hint: pass --force to overwrite them, or choose another directory\n\
             gitops-gate: exit 2: invalid input\n",
        )
        .run();
    assert_eq!(
        std::fs::read_to_string(dir.join("README.md")).unwrap(),
        "mine\n"
    );
    assert!(!dir.join("gitops.yaml").exists());

    bin()
        .arg("init")
        .arg(&dir)
        .arg("--force")
        .assert()
        .success();
    assert_ne!(
        std::fs::read_to_string(dir.join("README.md")).unwrap(),
        "mine\n"
    );
    // With the files gone, a second init is still refused: the branches exist.
    for f in [
        "README.md",
        ".gitignore",
        "gitops.yaml",
        "services/example.yaml",
        "scripts/deploy.sh",
        "scripts/smoke.sh",
        "scripts/regression.sh",
        "Jenkinsfile",
        ".github/workflows/gitops-gate.yml",
    ] {
        std::fs::remove_file(dir.join(f)).unwrap();
    }
    Test::new(&tmp)
        .args(["init", "d"])
        .status(2)
        .stderr(
            "error: d already has branches or ledger refs for qa, staging, prod: not overwriting\n\
             hint: pass --force to reset them to the new commit\n\
             gitops-gate: exit 2: invalid input\n",
        )
        .run();
}

#[test]
fn init_ci_choice_selects_the_files() {
    let tmp = tempfile::tempdir().unwrap();
    let gh = tmp.path().join("gh");
    bin()
        .arg("init")
        .arg(&gh)
        .args(["--ci", "github"])
        .assert()
        .success();
    assert!(gh.join(".github/workflows/gitops-gate.yml").is_file());
    assert!(!gh.join("Jenkinsfile").exists());
    let jk = tmp.path().join("jk");
    bin()
        .arg("init")
        .arg(&jk)
        .args(["--ci", "jenkins"])
        .assert()
        .success();
    assert!(jk.join("Jenkinsfile").is_file());
    assert!(!jk.join(".github").exists());
}
