//! `gitops-gate rollback` restores the descriptors of the last successful deploy.
use assert_cmd::Command;
use git2::Oid;
use gitops_gate::commands::demo::{api, POLICY, WEB};
use gitops_gate::repo::{Identity, Repo};

fn commit(repo: &Repo, parent: &[Oid], files: &[(&str, Option<&[u8]>)], t: i64) -> Oid {
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
    let out = Command::cargo_bin("gitops-gate")
        .unwrap()
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
        repo.raw().find_commit(tip).unwrap().parent_id(0).unwrap(),
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
    let rec = |h: Oid, f: &str| {
        format!(
            r#"{{"schema":1,"environment":"qa","head":"{h}","finished":"{f}","result":"succeeded"}}"#
        )
    };
    repo.raw()
        .note(
            &sig,
            &sig,
            Some("refs/notes/gitops-gate"),
            c0,
            &rec(c0, "2026-11-01T10:00:00Z"),
            false,
        )
        .unwrap();
    repo.raw()
        .note(
            &sig,
            &sig,
            Some("refs/notes/gitops-gate"),
            c1,
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
