//! Soak times end to end through the binary, at times given with `--now`, over run records
//! written as `run` writes them (notes under refs/notes/gitops-gate): not yet over, over, a
//! failed run since, a failed run of another service, no record at all.
mod common;
use common::{alice, descriptor, read_json, run, TestRepo};
use serde_json::json;

const POLICY: &str = r#"version: 1
environments:
  staging: { branch: staging, pipeline: [deploy] }
  prod:    { branch: prod, pipeline: [deploy], promotes_from: staging, soak: 24h }
gates:
  approvals: { required: 0 }
steps:
  deploy: { run: ["true"] }
"#;

struct Soak {
    t: TestRepo,
    /// The staging commit that deployed api 1.4.3.
    staged: gitops_gate::model::CommitId,
}

/// A run record on `commit`, as `run` writes it.
fn record(
    t: &TestRepo,
    env: &str,
    commit: gitops_gate::model::CommitId,
    result: &str,
    finished: &str,
    stages: serde_json::Value,
) {
    t.repo
        .append_note(
            commit,
            &json!({
                "schema": 1, "environment": env, "head": commit.to_string(),
                "plan_digest": "d", "started": finished, "finished": finished,
                "result": result, "stages": stages, "ci": { "system": "local" },
            }),
        )
        .unwrap();
}

fn deployed(service: &str, result: &str) -> serde_json::Value {
    json!([{ "id": "deploy", "service": service, "result": result, "attempts": 1 }])
}

/// api 1.4.2 ran in staging since February; 1.4.3 deployed there on 2026-03-01 at 10:00
/// UTC; prod's branch asks for 1.4.3.
fn soaking() -> Soak {
    let (mut t, root) = TestRepo::deployment_with(POLICY);
    record(
        &t,
        "staging",
        root,
        "succeeded",
        "2026-02-01T10:00:00Z",
        deployed("api", "succeeded"),
    );
    let v = descriptor("api", "1.4.3");
    let staged = t.commit_on(
        "staging",
        &[("services/api.yaml", Some(&v))],
        alice(),
        "OPS-2: api 1.4.3",
    );
    t.set_ref("refs/gitops-gate/deployed/staging", staged);
    record(
        &t,
        "staging",
        staged,
        "succeeded",
        "2026-03-01T10:00:00Z",
        deployed("api", "succeeded"),
    );
    t.commit_on(
        "prod",
        &[("services/api.yaml", Some(&v))],
        alice(),
        "OPS-2: promote api 1.4.3",
    );
    Soak { t, staged }
}

/// `plan --env prod --now NOW`: (exit, soak checks, plan).
fn plan_prod(t: &TestRepo, now: &str) -> (i32, Vec<serde_json::Value>, serde_json::Value) {
    let mut c = common::gate(t.dir.path());
    c.arg("plan")
        .arg("--repo")
        .arg(t.path())
        .args(["--env", "prod", "--no-fetch", "--now", now, "--out"])
        .arg(t.out());
    let (code, _, _) = run(c);
    let plan = read_json(&t.out().join("plan.json"));
    let soak = plan["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["rule"] == "soak")
        .cloned()
        .collect();
    (code, soak, plan)
}

fn short(id: gitops_gate::model::CommitId) -> String {
    id.to_string()[..7].to_string()
}

#[test]
fn a_version_still_soaking_is_rejected_with_when_the_soak_ends() {
    let s = soaking();
    let (code, soak, plan) = plan_prod(&s.t, "2026-03-02T09:59:59Z");
    assert_eq!(code, 1);
    assert_eq!(soak.len(), 1);
    assert_eq!(soak[0]["verdict"], "fail");
    assert_eq!(
        soak[0]["detail"],
        format!(
            "api 1.4.3 has run in staging since 2026-03-01T10:00:00Z (commit {}): soak ends at 2026-03-02T10:00:00Z",
            short(s.staged)
        )
    );
    assert_eq!(soak[0]["limit"], "2026-03-02T10:00:00Z");
    assert_eq!(soak[0]["file"], "services/api.yaml");
    assert_eq!(
        soak[0]["hint"],
        "deploy it again after 2026-03-02T10:00:00Z"
    );
    assert_eq!(plan["evaluated_at"], "2026-03-02T09:59:59Z");
    // The promotion rule is satisfied: only the soak holds it back.
    let promotion: Vec<_> = plan["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["rule"] == "promotion")
        .collect();
    assert_eq!(promotion[0]["verdict"], "pass");
}

#[test]
fn a_version_that_has_soaked_passes_and_the_plan_says_when_its_soak_ended() {
    let s = soaking();
    let (code, soak, plan) = plan_prod(&s.t, "2026-03-02T10:00:00Z");
    assert_eq!(code, 0);
    assert_eq!(plan["decision"], "deploy");
    assert_eq!(soak[0]["verdict"], "pass");
    assert_eq!(
        soak[0]["detail"],
        "ran 24h in staging with no failed run: api 1.4.3 since 2026-03-01T10:00:00Z (soak ended at 2026-03-02T10:00:00Z)"
    );
}

#[test]
fn a_failed_run_since_stops_the_soak_and_the_next_success_restarts_it() {
    let mut s = soaking();
    // A re-run of api on a later staging commit failed at 20:00.
    let notes = s.t.commit_on(
        "staging",
        &[("README.md", Some("x\n"))],
        alice(),
        "OPS-3: notes",
    );
    record(
        &s.t,
        "staging",
        notes,
        "failed",
        "2026-03-01T20:00:00Z",
        deployed("api", "failed"),
    );
    let (code, soak, _) = plan_prod(&s.t, "2026-03-05T00:00:00Z");
    assert_eq!(code, 1);
    assert_eq!(
        soak[0]["detail"],
        format!(
            "a run of api in staging failed at 2026-03-01T20:00:00Z (commit {}) and no run of 1.4.3 succeeded there since: the 24h soak has not begun",
            short(notes)
        )
    );
    // It succeeds at 22:00: the soak counts from then.
    let again = s.t.commit_on(
        "staging",
        &[("README.md", Some("y\n"))],
        alice(),
        "OPS-3: again",
    );
    s.t.set_ref("refs/gitops-gate/deployed/staging", again);
    record(
        &s.t,
        "staging",
        again,
        "succeeded",
        "2026-03-01T22:00:00Z",
        deployed("api", "succeeded"),
    );
    let (code, soak, _) = plan_prod(&s.t, "2026-03-02T21:00:00Z");
    assert_eq!(code, 1);
    assert_eq!(
        soak[0]["detail"],
        format!(
            "api 1.4.3 has run in staging since 2026-03-01T22:00:00Z (commit {}, after a failed run at 2026-03-01T20:00:00Z): soak ends at 2026-03-02T22:00:00Z",
            short(again)
        )
    );
    assert_eq!(plan_prod(&s.t, "2026-03-02T22:00:00Z").0, 0);
}

#[test]
fn a_failed_run_of_another_service_does_not_count() {
    let mut s = soaking();
    let other = s.t.commit_on(
        "staging",
        &[("README.md", Some("x\n"))],
        alice(),
        "OPS-4: web",
    );
    record(
        &s.t,
        "staging",
        other,
        "failed",
        "2026-03-01T20:00:00Z",
        json!([
            { "id": "deploy", "service": "web", "result": "failed", "attempts": 1 },
            { "id": "deploy", "service": "api", "result": "pending", "attempts": 0 }
        ]),
    );
    // And a failed run of api in another environment neither.
    record(
        &s.t,
        "prod",
        other,
        "failed",
        "2026-03-01T21:00:00Z",
        deployed("api", "failed"),
    );
    let (code, soak, _) = plan_prod(&s.t, "2026-03-02T10:00:00Z");
    assert_eq!(code, 0);
    assert_eq!(soak[0]["verdict"], "pass");
}

#[test]
fn without_a_run_record_there_is_no_soak() {
    let (mut t, _) = TestRepo::deployment_with(POLICY);
    let v = descriptor("api", "1.4.3");
    let staged = t.commit_on(
        "staging",
        &[("services/api.yaml", Some(&v))],
        alice(),
        "OPS-2: api 1.4.3",
    );
    t.set_ref("refs/gitops-gate/deployed/staging", staged);
    t.commit_on(
        "prod",
        &[("services/api.yaml", Some(&v))],
        alice(),
        "OPS-2: promote api 1.4.3",
    );
    let (code, soak, _) = plan_prod(&t, "2030-01-01T00:00:00Z");
    assert_eq!(code, 1);
    assert_eq!(
        soak[0]["detail"],
        "no succeeded run of api 1.4.3 in staging is recorded: the 24h soak has not begun"
    );
    assert_eq!(
        soak[0]["hint"],
        "deploy api 1.4.3 to staging and let it run for 24h without a failed run"
    );
}

#[test]
fn soak_without_promotes_from_is_a_configuration_error() {
    let p = POLICY.replace("promotes_from: staging, soak: 24h", "soak: 24h");
    let (t, _) = TestRepo::deployment_with(&p);
    let mut c = common::gate(t.dir.path());
    c.arg("validate").arg("--repo").arg(t.path());
    let (code, stdout, stderr) = run(c);
    assert_eq!(code, 2);
    let all = format!("{stdout}{stderr}");
    assert!(
        all.contains(
            ":4: environments.prod.soak: `prod` has a soak time but no promotes_from to soak in"
        ),
        "{all}"
    );
}

/// Run records are notes, which anyone who may push can write: a succeeded record counts
/// only where `run` could have written it. A record naming staging on a commit outside
/// staging's ledger history, and one whose `head` is another commit than the one it is on,
/// do not end a soak (both would, counted: they fall between the 1.4.2 run and the real
/// 1.4.3 one).
#[test]
fn forged_run_records_do_not_shorten_a_soak() {
    let mut s = soaking();
    let prod_head: gitops_gate::model::CommitId = common::git2_repo(&s.t.repo)
        .revparse_single("prod")
        .unwrap()
        .id()
        .into();
    let stages = deployed("api", "succeeded");
    let at = "2026-02-15T10:00:00Z";
    // On the prod commit, which staging never deployed.
    record(&s.t, "staging", prod_head, "succeeded", at, stages.clone());
    // On a later staging commit, claiming to be the record of the earlier one.
    let v = descriptor("api", "1.4.3");
    let later = s.t.commit_on(
        "staging",
        &[("services/api.yaml", Some(&format!("{v}# later\n")))],
        alice(),
        "OPS-3: api 1.4.3 again",
    );
    s.t.set_ref("refs/gitops-gate/deployed/staging", later);
    s.t.repo
        .append_note(
            later,
            &json!({
                "schema": 1, "environment": "staging", "head": s.staged.to_string(),
                "plan_digest": "d", "started": at, "finished": at, "result": "succeeded",
                "stages": stages, "ci": { "system": "local" },
            }),
        )
        .unwrap();
    let (code, soak, _) = plan_prod(&s.t, "2026-03-02T09:59:59Z");
    assert_eq!(code, 1, "{soak:?}");
    assert!(
        soak[0]["detail"]
            .as_str()
            .unwrap()
            .starts_with("api 1.4.3 has run in staging since 2026-03-01T10:00:00Z"),
        "{soak:?}"
    );
}
