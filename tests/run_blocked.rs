//! A rejected `run` leaves a record, so `report` can say which rule blocked how many deploys;
//! a note keeps every run of a commit.
mod common;
use common::*;

#[test]
fn rejected_runs_are_recorded_and_counted_by_rule() {
    let (mut t, _) = TestRepo::deployment();
    let bad = t.commit_on(
        "qa",
        &[("services/api.yaml", Some(&descriptor("api", "1.4.3")))],
        mallory(),
        "OPS-7: bump",
    );
    let mut c = gate(t.dir.path());
    c.arg("run")
        .arg("--repo")
        .arg(t.path())
        .args([
            "--branch",
            "qa",
            "--head",
            &bad.to_string(),
            "--no-fetch",
            "--out",
        ])
        .arg(t.out());
    let (code, _, _) = run(c);
    assert_eq!(code, 1);
    let note = t
        .repo
        .note("refs/notes/gitops-gate", bad)
        .unwrap()
        .expect("a note on the rejected head");
    let records = gitops_gate::repo::notes::note_records(&note);
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["decision"], "reject");
    assert_eq!(records[0]["checks"][0]["rule"], "committers");
    // The same commit judged again keeps both records.
    let mut c = gate(t.dir.path());
    c.arg("run")
        .arg("--repo")
        .arg(t.path())
        .args([
            "--branch",
            "qa",
            "--head",
            &bad.to_string(),
            "--no-fetch",
            "--out",
        ])
        .arg(t.out());
    assert_eq!(run(c).0, 1);
    let note = t.repo.note("refs/notes/gitops-gate", bad).unwrap().unwrap();
    assert_eq!(gitops_gate::repo::notes::note_records(&note).len(), 2);
    let mut c = gate(t.dir.path());
    c.arg("report").arg("--repo").arg(t.path()).args([
        "--format",
        "json",
        "--since",
        "2000-01-01T00:00:00Z",
    ]);
    let (code, out, _) = run(c);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["blocked"]["committers"], 2, "{v}");
}
