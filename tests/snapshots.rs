//! The human outputs, as snapshots under tests/snapshots/: the plan summary, `diff`,
//! `validate`, `status`, `--help`, and every error a user can hit from the command line
//! with its hint. A change of wording is a reviewed diff of a `.snap` file.
//!
//! Each snapshot holds the exit status, stdout and stderr of one run together. Commit ids,
//! digests, temp paths, times and durations are redacted (`common::snapshot_filters`); the
//! identities and commit times are fixed by `TestRepo`. To accept a new wording, run
//! `INSTA_UPDATE=always cargo test --test snapshots` and review the `.snap` diff.
mod common;
use common::*;
use gitops_gate::model::CommitId;

/// Asserts `test`'s transcript against `tests/snapshots/snapshots__<name>.snap`, redacted.
macro_rules! snapshot {
    ($name:expr, $test:expr) => {
        insta::with_settings!({ filters => snapshot_filters(), omit_expression => true }, {
            insta::assert_snapshot!($name, $test.transcript());
        })
    };
}

fn bump(t: &mut TestRepo, branch: &str, version: &str, who: (&str, &str), msg: &str) -> CommitId {
    let d = descriptor("api", version);
    t.commit_on(branch, &[("services/api.yaml", Some(&d))], who, msg)
}

/// `gitops-gate <cmd> --repo R --out OUT` (`--out` for `plan` and `run` only).
fn gate_in(t: &TestRepo, cmd: &str) -> Test {
    let test = Test::new(t).arg(cmd).arg("--repo").arg(t.path());
    match cmd {
        "plan" | "run" => test.arg("--out").arg(t.out()),
        _ => test,
    }
}

/// `gitops-gate plan` of `head` pushed to `branch`.
fn plan(t: &TestRepo, branch: &str, head: CommitId) -> Test {
    gate_in(t, "plan").args(["--branch", branch, "--head", &head.to_string()])
}

// ---- the human outputs -------------------------------------------------------------------

#[test]
fn help() {
    let dir = tempfile::tempdir().unwrap();
    snapshot!("help", Test::new(&dir).arg("--help"));
}

#[test]
fn plan_deploy() {
    let (mut t, _) = TestRepo::unpromoted();
    let head = bump(&mut t, "staging", "1.4.3", alice(), "OPS-42: bump api");
    snapshot!("plan_deploy", plan(&t, "staging", head));
}

#[test]
fn plan_reject_with_several_failing_rules() {
    let (mut t, _) = TestRepo::deployment();
    bump(&mut t, "qa", "1.4.3", mallory(), "OPS-42: bump");
    bump(&mut t, "qa", "1.4.4", alice(), "no ticket here");
    let open = descriptor("api", "1.4.5").replace("ports: [8080]", "ports: [8080, 22]");
    let head = t.commit_on(
        "qa",
        &[
            ("services/api.yaml", Some(&open)),
            ("services/web.yaml", None),
        ],
        mallory(),
        "also none",
    );
    snapshot!("plan_reject", plan(&t, "qa", head));
}

#[test]
fn diff_text() {
    let (mut t, _) = TestRepo::deployment();
    let api = descriptor("api", "1.5.0").replace("port: 8080", "port: 9090");
    let head = t.commit_on(
        "qa",
        &[
            ("services/api.yaml", Some(&api)),
            ("services/web.yaml", None),
            ("services/db.yaml", Some(&descriptor("db", "15.2"))),
        ],
        alice(),
        "OPS-7: api 1.5.0 on 9090, db in, web out",
    );
    snapshot!(
        "diff",
        gate_in(&t, "diff").args(["--branch", "qa", "--head", &head.to_string()])
    );
}

#[test]
fn validate_with_several_problems() {
    let (mut t, _) = TestRepo::deployment();
    let typo = descriptor("api", "1").replace("retries: 3", "retires: 3");
    t.commit_on("qa", &[("services/api.yaml", Some(&typo))], alice(), "x");
    let lots = descriptor("web", "1").replace("512Mi", "lots");
    t.commit_on(
        "prod",
        &[
            ("services/web.yaml", Some(&lots)),
            ("services/db.yml", Some("x")),
        ],
        alice(),
        "y",
    );
    snapshot!("validate", gate_in(&t, "validate"));
}

#[test]
fn validate_clean() {
    let (t, _) = TestRepo::deployment();
    snapshot!("validate_clean", gate_in(&t, "validate"));
}

#[test]
fn status_text() {
    let (mut t, _) = TestRepo::deployment();
    bump(&mut t, "qa", "1.4.3", alice(), "OPS-42: bump api");
    snapshot!("status", gate_in(&t, "status").arg("--no-fetch"));
}

// ---- errors, each with its hint -----------------------------------------------------------

#[test]
fn error_usage() {
    let dir = tempfile::tempdir().unwrap();
    snapshot!(
        "error_usage",
        Test::new(&dir).args(["plan", "--no-such-flag"])
    );
}

#[test]
fn error_not_a_git_repository() {
    let dir = tempfile::tempdir().unwrap();
    snapshot!(
        "error_not_a_git_repository",
        Test::new(&dir).args(["plan", "--repo", "."])
    );
}

/// An I/O error is the user's (exit 2), with the file it concerns, the OS's cause on its own
/// line and a hint; never the internal-error exit.
#[test]
fn error_out_dir_is_a_file() {
    let (mut t, _) = TestRepo::deployment();
    let head = bump(&mut t, "qa", "1.4.3", alice(), "OPS-42: bump api");
    let file = t.path().join("in-the-way");
    std::fs::write(&file, "not a folder").unwrap();
    snapshot!(
        "error_out_dir_is_a_file",
        Test::new(&t)
            .args(["plan", "--repo"])
            .arg(t.path())
            .arg("--out")
            .arg(&file)
            .args(["--branch", "qa", "--head", &head.to_string()])
    );
}

#[test]
fn error_unknown_environment_did_you_mean() {
    let (t, _) = TestRepo::deployment();
    snapshot!(
        "error_unknown_environment",
        gate_in(&t, "plan").args(["--env", "stagin"])
    );
}

#[test]
fn error_branch_of_no_environment() {
    let (mut t, root) = TestRepo::deployment();
    let head = t.commit(
        "feature",
        &[root],
        &[("services/api.yaml", Some(&descriptor("api", "1.4.3")))],
        alice(),
        "OPS-42: x",
    );
    snapshot!("error_branch_of_no_environment", plan(&t, "feature", head));
    snapshot!("error_branch_did_you_mean", plan(&t, "qaa", head));
}

#[test]
fn error_head_off_the_environments_branch() {
    let (mut t, root) = TestRepo::deployment();
    let head = t.commit(
        "feature",
        &[root],
        &[("services/api.yaml", Some(&descriptor("api", "1.4.3")))],
        alice(),
        "OPS-42: x",
    );
    snapshot!("error_head_off_the_branch", plan(&t, "qa", head));
}

#[test]
fn error_no_ledger() {
    let (mut t, _) = TestRepo::deployment();
    t.delete_ref("refs/gitops-gate/deployed/qa");
    let head = bump(&mut t, "qa", "1.4.3", alice(), "OPS-2: a");
    // No remote: bootstrap it.
    snapshot!("error_no_ledger_bootstrap", plan(&t, "qa", head));
    // A clone with an origin, not fetched: fetch it first.
    git(
        &t.path(),
        &["remote", "add", "origin", "https://git.example/deploy.git"],
    );
    snapshot!(
        "error_no_ledger_fetch_first",
        plan(&t, "qa", head).arg("--no-fetch")
    );
}

#[test]
fn error_older_push_than_the_deployed_one() {
    let (mut t, _) = TestRepo::deployment();
    let older = bump(&mut t, "qa", "1.4.3", alice(), "OPS-2: a");
    let newer = bump(&mut t, "qa", "1.4.4", alice(), "OPS-3: b");
    t.set_ref("refs/gitops-gate/deployed/qa", newer);
    snapshot!("error_older_push_superseded", plan(&t, "qa", older));
}

#[test]
fn error_policy_that_does_not_parse() {
    let (mut t, _) = TestRepo::deployment();
    let broken = POLICY.replace("qa:      { branch: qa,", "qa:      { branch: qa");
    let head = t.commit_on(
        "qa",
        &[("gitops.yaml", Some(&broken))],
        alice(),
        "OPS-3: break the policy",
    );
    snapshot!("error_policy_yaml_syntax", plan(&t, "qa", head));
    let typo = POLICY.replace("gates:", "gatse:");
    let head = t.commit_on(
        "qa",
        &[("gitops.yaml", Some(&typo))],
        alice(),
        "OPS-4: a typo in the policy",
    );
    snapshot!("error_policy_unknown_key", plan(&t, "qa", head));
}

#[test]
fn error_deployed_policy_that_does_not_parse() {
    let (mut t, _) = TestRepo::deployment();
    let typo = POLICY
        .replace("max_commits", "max_comits")
        .replace("  committers:", "  max_comits: 3\n  committers:");
    let broken = t.commit_on(
        "qa",
        &[("gitops.yaml", Some(&typo))],
        alice(),
        "OPS-3: policy typo",
    );
    t.set_ref("refs/gitops-gate/deployed/qa", broken);
    let head = bump(&mut t, "qa", "1.4.3", alice(), "OPS-4: bump api");
    snapshot!(
        "error_deployed_policy",
        plan(&t, "qa", head).args(["--env", "qa"])
    );
}

#[test]
fn error_descriptor_schema() {
    let (mut t, _) = TestRepo::deployment();
    let bad = descriptor("api", "1.4.3")
        .replace("retries: 3", "retires: 3")
        .replace("512Mi", "lots");
    let head = t.commit_on(
        "qa",
        &[("services/api.yaml", Some(&bad))],
        alice(),
        "OPS-4: typos",
    );
    snapshot!("error_descriptor_schema", plan(&t, "qa", head));
}

#[test]
fn error_descriptor_unparseable() {
    let (mut t, _) = TestRepo::deployment();
    let head = t.commit_on(
        "qa",
        &[("services/api.yaml", Some("service: api\nversion: [\n"))],
        alice(),
        "OPS-4: break it",
    );
    snapshot!("error_descriptor_unparseable", plan(&t, "qa", head));
}

#[test]
fn error_jira_required_without_integrations() {
    let (mut t, _) = TestRepo::deployment_with(&POLICY.replace(", verify: presence", ""));
    let head = bump(&mut t, "qa", "1.4.3", alice(), "OPS-99999: bump api");
    snapshot!("error_jira_without_integrations", plan(&t, "qa", head));
}

#[test]
fn error_run_dry_run_step_program_missing() {
    let (mut t, _) = TestRepo::deployment();
    bump(&mut t, "qa", "1.4.3", alice(), "OPS-42: bump api");
    snapshot!(
        "error_run_dry_run_missing_program",
        gate_in(&t, "run").args(["--branch", "qa", "--head", "qa", "--no-fetch", "--dry-run"])
    );
}

#[test]
fn error_saved_plan_edited() {
    let (mut t, _) = TestRepo::deployment();
    bump(&mut t, "qa", "1.4.3", mallory(), "OPS-42: bump api");
    let head = ["--branch", "qa", "--head", "qa", "--no-fetch"];
    let planned = gate_in(&t, "plan").args(head).transcript();
    assert!(planned.starts_with("status: 1\n"), "{planned}");
    let path = t.out().join("plan.json");
    let mut p = read_json(&path);
    p["decision"] = "deploy".into();
    std::fs::write(&path, serde_json::to_vec_pretty(&p).unwrap()).unwrap();
    snapshot!(
        "error_saved_plan_edited",
        gate_in(&t, "run").args(head).arg("--plan").arg(&path)
    );
}

/// git with no identity at all: `user.useConfigOnly` makes that so on any machine, whatever
/// its host name.
fn no_identity(test: Test) -> Test {
    test.env("GIT_CONFIG_COUNT", "1")
        .env("GIT_CONFIG_KEY_0", "user.useConfigOnly")
        .env("GIT_CONFIG_VALUE_0", "true")
}

#[test]
fn error_bump_and_rollback_without_a_git_identity() {
    let (mut t, _) = TestRepo::deployment();
    bump(&mut t, "qa", "1.4.3", alice(), "OPS-42: bump api");
    snapshot!(
        "error_bump_no_identity",
        no_identity(gate_in(&t, "bump").args(["api", "1.4.4", "--env", "qa"]))
    );
    snapshot!(
        "error_rollback_no_identity",
        no_identity(gate_in(&t, "rollback").args(["--env", "qa"]))
    );
}

#[test]
fn error_bump_refusals() {
    let (t, _) = TestRepo::deployment();
    let bump = |args: &[&str]| {
        gate_in(&t, "bump").args(args).args([
            "--author-name",
            "Alice",
            "--author-email",
            "alice@example.com",
        ])
    };
    snapshot!(
        "error_bump_unknown_service",
        bump(&["apj", "1.4.4", "--env", "qa"])
    );
    snapshot!(
        "error_bump_bad_version",
        bump(&["api", "1.4.4; rm -rf /", "--env", "qa"])
    );
    snapshot!(
        "error_bump_unknown_environment",
        bump(&["api", "1.4.4", "--env", "prd"])
    );
}

#[test]
fn error_rollback_with_nothing_to_restore() {
    let (t, _) = TestRepo::deployment();
    snapshot!(
        "error_rollback_nothing_to_restore",
        gate_in(&t, "rollback").args([
            "--env",
            "qa",
            "--author-name",
            "Alice",
            "--author-email",
            "alice@example.com"
        ])
    );
}

#[test]
fn error_promote_without_a_token() {
    let (mut t, _) = TestRepo::deployment();
    let head = bump(&mut t, "qa", "1.4.3", alice(), "OPS-42: bump api");
    t.set_ref("refs/gitops-gate/deployed/qa", head);
    snapshot!(
        "error_promote_without_token",
        gate_in(&t, "promote").args(["--from", "qa", "--to", "staging", "--no-fetch"])
    );
}

#[test]
fn error_init_over_an_existing_repository() {
    let dir = tempfile::tempdir().unwrap();
    let first = Test::new(&dir).args(["init", "deploy"]).transcript();
    assert!(first.starts_with("status: 0\n"), "{first}");
    snapshot!(
        "error_init_existing",
        Test::new(&dir).args(["init", "deploy"])
    );
}
