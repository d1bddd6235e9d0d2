//! `gitops-gate rollback` restores the descriptors of the last successful deploy.
mod common;
use gitops_gate::commands::demo::{api, POLICY, WEB};
use gitops_gate::model::CommitId;
use gitops_gate::repo::{Identity, Repo};

fn commit(repo: &Repo, parent: &[CommitId], files: &[(&str, Option<&[u8]>)], t: i64) -> CommitId {
    let who = Identity::new("Alice", "alice@example.com", t);
    repo.commit_files(
        Some("refs/heads/qa"),
        parent,
        files,
        &who,
        &who,
        "OPS-1: change\n",
    )
    .unwrap()
}

fn run(dir: &std::path::Path) -> String {
    let out = common::gate(&common::home())
        .env("GIT_AUTHOR_NAME", "Olga Ops")
        .env("GIT_AUTHOR_EMAIL", "olga@example.com")
        .env("GIT_COMMITTER_NAME", "Olga Ops")
        .env("GIT_COMMITTER_EMAIL", "olga@example.com")
        .args(["rollback", "--env", "qa", "--reason", "healthcheck failed"])
        .arg("--repo")
        .arg(dir)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    String::from_utf8(out).unwrap()
}

#[test]
fn rollback_restores_the_ledger_descriptors() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = Repo::init(tmp.path()).unwrap();
    let (a1, a2) = (api("1.0.1"), api("1.0.2"));
    let c0 = commit(
        &repo,
        &[],
        &[
            ("gitops.yaml", Some(POLICY.as_bytes())),
            ("services/api.yaml", Some(a1.as_bytes())),
        ],
        1_790_000_000,
    );
    let c1 = commit(
        &repo,
        &[c0],
        &[
            ("services/api.yaml", Some(a2.as_bytes())),
            ("services/web.yaml", Some(WEB.as_bytes())),
        ],
        1_790_001_000,
    );
    repo.set_ref("refs/gitops-gate/deployed/qa", c0, "t")
        .unwrap();
    let out = run(tmp.path());
    assert!(out.contains("- services/api.yaml: 1.0.2 -> 1.0.1"), "{out}");
    assert!(
        out.contains("- services/web.yaml: 2.0.1 -> absent"),
        "{out}"
    );
    let tip = repo.branch_tip("qa").unwrap();
    let info = repo.commit_info(tip).unwrap();
    assert!(info
        .message
        .starts_with("Rollback qa: restore services/ of"));
    assert!(info.message.contains("Reason: healthcheck failed"));
    assert_eq!(
        CommitId::from(
            common::git2_repo(&repo)
                .find_commit(tip.into())
                .unwrap()
                .parent_id(0)
                .unwrap()
        ),
        c1
    );
    assert_eq!(
        repo.read_path(tip, "services/api.yaml").unwrap().unwrap(),
        a1.as_bytes()
    );
    assert_eq!(repo.read_path(tip, "services/web.yaml").unwrap(), None);
}

#[test]
fn rollback_uses_run_records_when_the_ledger_is_the_head() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = Repo::init(tmp.path()).unwrap();
    let (a1, a2) = (api("1.0.1"), api("1.0.2"));
    let c0 = commit(
        &repo,
        &[],
        &[
            ("gitops.yaml", Some(POLICY.as_bytes())),
            ("services/api.yaml", Some(a1.as_bytes())),
        ],
        1_790_000_000,
    );
    let c1 = commit(
        &repo,
        &[c0],
        &[("services/api.yaml", Some(a2.as_bytes()))],
        1_790_001_000,
    );
    repo.set_ref("refs/gitops-gate/deployed/qa", c1, "t")
        .unwrap();
    let sig = git2::Signature::now("gate", "gate@example.com").unwrap();
    let rec = |h: CommitId, f: &str| {
        format!(
            r#"{{"schema":1,"environment":"qa","head":"{h}","finished":"{f}","result":"succeeded"}}"#
        )
    };
    common::git2_repo(&repo)
        .note(
            &sig,
            &sig,
            Some("refs/notes/gitops-gate"),
            c0.into(),
            &rec(c0, "2026-11-01T10:00:00Z"),
            false,
        )
        .unwrap();
    common::git2_repo(&repo)
        .note(
            &sig,
            &sig,
            Some("refs/notes/gitops-gate"),
            c1.into(),
            &rec(c1, "2026-11-02T10:00:00Z"),
            false,
        )
        .unwrap();
    let out = run(tmp.path());
    assert!(out.contains("- services/api.yaml: 1.0.2 -> 1.0.1"), "{out}");
    let tip = repo.branch_tip("qa").unwrap();
    assert_eq!(
        repo.read_path(tip, "services/api.yaml").unwrap().unwrap(),
        a1.as_bytes()
    );
}

use common::git;

#[test]
fn rollback_pushes_fast_forward_only() {
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().join("work");
    let repo = Repo::init(&work).unwrap();
    let (a1, a2) = (api("1.0.1"), api("1.0.2"));
    let c0 = commit(
        &repo,
        &[],
        &[
            ("gitops.yaml", Some(POLICY.as_bytes())),
            ("services/api.yaml", Some(a1.as_bytes())),
        ],
        1_790_000_000,
    );
    commit(
        &repo,
        &[c0],
        &[("services/api.yaml", Some(a2.as_bytes()))],
        1_790_001_000,
    );
    repo.set_ref("refs/gitops-gate/deployed/qa", c0, "t")
        .unwrap();
    let remote = tmp.path().join("remote.git");
    git(
        tmp.path(),
        &["init", "--quiet", "--bare", remote.to_str().unwrap()],
    );
    git(
        &work,
        &["remote", "add", "origin", remote.to_str().unwrap()],
    );
    git(&work, &["push", "--quiet", "origin", "qa"]);
    let rollback = |dir: &std::path::Path| {
        common::gate(&common::home())
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .args([
                "rollback",
                "--env",
                "qa",
                "--push",
                "--author-name",
                "Olga Ops",
            ])
            .args(["--author-email", "olga@example.com", "--repo"])
            .arg(dir)
            .output()
            .unwrap()
    };
    let out = rollback(&work);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        git(&remote, &["rev-parse", "qa"]),
        git(&work, &["rev-parse", "qa"])
    );
    assert_eq!(
        git(&remote, &["show", "qa:services/api.yaml"]),
        a1.trim_end()
    );
    // Origin moves on; a rollback written on the old tip is refused (exit 5), not forced.
    let other = tmp.path().join("other");
    git(
        tmp.path(),
        &[
            "clone",
            "--quiet",
            "--branch",
            "qa",
            remote.to_str().unwrap(),
            other.to_str().unwrap(),
        ],
    );
    std::fs::write(other.join("services/api.yaml"), api("1.0.3")).unwrap();
    git(
        &other,
        &[
            "-c",
            "user.name=B",
            "-c",
            "user.email=b@example.com",
            "commit",
            "--quiet",
            "-am",
            "OPS-9: 1.0.3",
        ],
    );
    git(&other, &["push", "--quiet", "origin", "qa"]);
    // Locally, someone else's bad version lands on the stale tip and is rolled back.
    let tip = repo.branch_tip("qa").unwrap();
    commit(
        &repo,
        &[tip],
        &[("services/api.yaml", Some(api("1.0.4").as_bytes()))],
        1_790_002_000,
    );
    let before = git(&remote, &["rev-parse", "qa"]);
    let out = rollback(&work);
    assert_eq!(
        out.status.code(),
        Some(5),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        git(&remote, &["rev-parse", "qa"]),
        before,
        "origin untouched"
    );
}

/// Checked out, the branch's work tree follows the rollback commit (nothing left to commit),
/// the ticket leads the message, and the commit is by git's identity, as `git commit` takes
/// it: GIT_AUTHOR_* first, then the repository's config. With no identity at all it says how
/// to set one, and commits nothing.
#[test]
fn rollback_on_the_checked_out_branch_leaves_a_clean_tree_and_is_by_the_git_identity() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("work");
    let repo = Repo::init(&dir).unwrap();
    let (a1, a2) = (api("1.0.1"), api("1.0.2"));
    let c0 = commit(
        &repo,
        &[],
        &[
            ("gitops.yaml", Some(POLICY.as_bytes())),
            ("services/api.yaml", Some(a1.as_bytes())),
        ],
        1_790_000_000,
    );
    let c1 = commit(
        &repo,
        &[c0],
        &[("services/api.yaml", Some(a2.as_bytes()))],
        1_790_001_000,
    );
    repo.set_ref("refs/gitops-gate/deployed/qa", c0, "t")
        .unwrap();
    git(&dir, &["checkout", "-q", "-f", "qa"]);
    let sub = dir.join("services");

    // No identity anywhere: refused before anything is written.
    let c = common::gate(&common::home());
    let mut c = c;
    c.args(["rollback", "--env", "qa", "--repo"]).arg(&sub);
    let (code, out, err) = common::run(c);
    assert_eq!((code, out.as_str()), (2, ""));
    assert!(
        err.contains("git knows no identity for the commit")
            && err.contains("GIT_AUTHOR_NAME/GIT_AUTHOR_EMAIL"),
        "{err}"
    );
    assert_eq!(repo.branch_tip("qa"), Some(c1));

    // From a subdirectory, with the CI's identity in the environment.
    let mut c = common::gate(&common::home());
    c.env("GIT_AUTHOR_NAME", "Ci Bot")
        .env("GIT_AUTHOR_EMAIL", "ci@example.com")
        .env("GIT_COMMITTER_NAME", "Ci Bot")
        .env("GIT_COMMITTER_EMAIL", "ci@example.com")
        .args([
            "rollback", "--env", "qa", "--ticket", "OPS-9", "--format", "json", "--repo",
        ])
        .arg(&sub);
    let (code, out, err) = common::run(c);
    assert_eq!((code, err.as_str()), (0, ""));
    let j: serde_json::Value = serde_json::from_str(&out).unwrap();
    let tip = repo.branch_tip("qa").unwrap();
    assert_eq!(j["commit"], tip.to_string());
    assert_eq!(j["restores"], c0.to_string());
    assert_eq!(j["services"][0]["from"], "1.0.2");
    assert_eq!(j["services"][0]["to"], "1.0.1");
    assert_eq!(j["next"], "gitops-gate run --env qa");
    let info = repo.commit_info(tip).unwrap();
    assert!(
        info.message
            .starts_with("OPS-9: Rollback qa: restore services/ of"),
        "{}",
        info.message
    );
    assert_eq!(
        (info.author.email.as_str(), info.committer.email.as_str()),
        ("ci@example.com", "ci@example.com")
    );
    assert_eq!(git(&dir, &["status", "--porcelain"]), "");
    assert_eq!(
        std::fs::read_to_string(dir.join("services/api.yaml")).unwrap(),
        a1
    );
}
