//! `gitops-gate bump` end to end on temp repositories.
use assert_cmd::Command;
use gitops_gate::commands::demo::POLICY;
use gitops_gate::repo::{Identity, Repo};
use std::path::Path;

const API: &str = "# owned by team-api\nservice: api   # must match the file name\nversion: 1.4.2    # nightly bumps this\nmaintainer: 'team-api@example.com'\nport: 8080\n";

fn setup(dir: &Path) -> Repo {
    let repo = Repo::init(dir).unwrap();
    let who = Identity::new("Alice", "alice@example.com", 1_767_225_600);
    repo.commit_files(
        Some("refs/heads/qa"),
        &[],
        &[
            ("gitops.yaml", Some(POLICY.as_bytes())),
            ("services/api.yaml", Some(API.as_bytes())),
        ],
        &who,
        &who,
        "OPS-1: initial\n",
    )
    .unwrap();
    repo
}

fn bump(dir: &Path, args: &[&str]) -> assert_cmd::assert::Assert {
    Command::cargo_bin("gitops-gate")
        .unwrap()
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .arg("bump")
        .args(args)
        .args([
            "--env",
            "qa",
            "--author-name",
            "Bot",
            "--author-email",
            "bot@example.com",
        ])
        .arg("--repo")
        .arg(dir)
        .assert()
}

#[test]
fn bump_changes_only_the_version_bytes_and_carries_the_ticket() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = setup(tmp.path());
    let before = repo.branch_tip("qa").unwrap();
    bump(
        tmp.path(),
        &["api", "1.10", "--ticket", "OPS-12", "--message", "nightly"],
    )
    .success();
    let tip = repo.branch_tip("qa").unwrap();
    assert_ne!(tip, before);
    let got = repo.read_path(tip, "services/api.yaml").unwrap().unwrap();
    assert_eq!(
        String::from_utf8(got).unwrap(),
        API.replace("1.4.2", "\"1.10\"")
    );
    let info = repo.commit_info(tip).unwrap();
    assert_eq!(info.message, "OPS-12: bump api 1.4.2 -> 1.10\n\nnightly\n");
    assert_eq!(info.parents, 1);
    assert_eq!(
        repo.read_path(tip, "gitops.yaml").unwrap().unwrap(),
        POLICY.as_bytes()
    );
}

#[test]
fn bump_refuses_unknown_services_and_bad_versions() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = setup(tmp.path());
    let before = repo.branch_tip("qa").unwrap();
    bump(tmp.path(), &["nope", "1.0.0"])
        .code(2)
        .stderr(predicates::str::contains("unknown service `nope`"));
    bump(tmp.path(), &["api", "1.0 beta"])
        .code(2)
        .stderr(predicates::str::contains("whitespace"));
    assert_eq!(repo.branch_tip("qa").unwrap(), before);
}

fn git(dir: &Path, args: &[&str]) {
    let st = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&st.stderr)
    );
}

#[test]
fn bump_refuses_a_dirty_checked_out_branch_and_updates_a_clean_one() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = setup(tmp.path());
    git(tmp.path(), &["checkout", "-q", "qa"]);
    std::fs::write(tmp.path().join("services/api.yaml"), "dirty").unwrap();
    bump(tmp.path(), &["api", "1.5.0"])
        .code(2)
        .stderr(predicates::str::contains("uncommitted changes"));
    git(tmp.path(), &["checkout", "-q", "--", "services/api.yaml"]);
    bump(tmp.path(), &["api", "1.5.0"]).success();
    let on_disk = std::fs::read_to_string(tmp.path().join("services/api.yaml")).unwrap();
    assert_eq!(on_disk, API.replace("1.4.2", "1.5.0"));
    let _ = repo;
}

#[test]
fn bump_push_builds_on_the_fetched_origin_tip() {
    let tmp = tempfile::tempdir().unwrap();
    let origin = tmp.path().join("origin");
    let repo = setup(&origin);
    let work = tmp.path().join("work");
    git(
        tmp.path(),
        &[
            "clone",
            "-q",
            "--bare",
            origin.to_str().unwrap(),
            work.to_str().unwrap(),
        ],
    );
    // origin moves after the clone: another service is added on qa.
    let who = Identity::new("Carol", "carol@example.com", 1_767_229_200);
    let moved = repo
        .commit_files(
            Some("refs/heads/qa"),
            &[repo.branch_tip("qa").unwrap()],
            &[("README.md", Some(b"hi\n".as_slice()))],
            &who,
            &who,
            "OPS-2: docs\n",
        )
        .unwrap();
    git(
        &work,
        &["remote", "set-url", "origin", origin.to_str().unwrap()],
    );
    bump(&work, &["api", "1.4.3", "--push"]).success();
    let tip = repo.branch_tip("qa").unwrap();
    let info = repo.commit_info(tip).unwrap();
    assert!(info.message.starts_with("bump api 1.4.2 -> 1.4.3"));
    let parent = repo.raw().find_commit(tip).unwrap().parent_id(0).unwrap();
    assert_eq!(parent, moved);
}
