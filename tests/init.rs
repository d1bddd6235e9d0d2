//! `gitops-gate init` end to end: the repository it writes validates, and a push to each
//! environment branch (a bump on qa, then promotion merges) plans a deploy.
use assert_cmd::Command;
use gitops_gate::repo::{Identity, Repo};
use std::path::Path;

fn bin() -> Command {
    Command::cargo_bin("gitops-gate").unwrap()
}

fn plan(dir: &Path, branch: &str, head: &str, out: &Path) -> serde_json::Value {
    bin()
        .env_remove("GITHUB_ACTIONS")
        .env_remove("JENKINS_URL")
        .env_remove("GITLAB_CI")
        .env_remove("CI")
        .args(["plan", "--no-fetch", "--offline", "--repo"])
        .arg(dir)
        .args(["--branch", branch, "--head", head, "--out"])
        .arg(out)
        .assert()
        .success();
    let text = std::fs::read_to_string(out.join("plan.json")).unwrap();
    serde_json::from_str(&text).unwrap()
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
    for (env, head) in heads {
        let out = tmp.path().join(format!("out-{env}"));
        let p = plan(&dir, env, &head.to_string(), &out);
        assert_eq!(p["decision"], "deploy", "{env}: {}", p["reason"]);
        assert_eq!(p["environment"], env);
        assert_eq!(p["changes"][0]["service"], "example");
    }
}

#[test]
fn init_refuses_to_overwrite_without_force() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("d");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("README.md"), "mine\n").unwrap();
    bin()
        .arg("init")
        .arg(&dir)
        .assert()
        .code(2)
        .stderr(predicates::str::contains("README.md"))
        .stderr(predicates::str::contains("--force"));
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
        "gitops.yaml",
        "services/example.yaml",
        "Jenkinsfile",
        ".github/workflows/gitops-gate.yml",
    ] {
        std::fs::remove_file(dir.join(f)).unwrap();
    }
    bin()
        .arg("init")
        .arg(&dir)
        .assert()
        .code(2)
        .stderr(predicates::str::contains("branches or ledger refs"));
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
