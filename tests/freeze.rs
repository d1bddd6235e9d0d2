//! Freeze windows end to end through the binary, at times given with `--now`: inside and
//! outside a window, across a DST change, the environments filter, the emergency override
//! against a fake JIRA on 127.0.0.1, `--now` under CI, saved plans, and located errors.
mod common;
mod fakes;
use common::{alice, descriptor, read_json, run, TestRepo};
use fakes::*;

/// Fridays 16:00 Berlin for 64h, prod only.
const FREEZE: &str = r#"  freeze:
    - { cron: "0 16 * * FRI", duration: 64h, timezone: Europe/Berlin, environments: [prod], reason: "weekend freeze" }
"#;

fn policy(freeze: &str) -> String {
    format!(
        "version: 1\nenvironments:\n  qa:   {{ branch: qa, pipeline: [deploy] }}\n  prod: {{ branch: prod, pipeline: [deploy] }}\ngates:\n  max_commits: 100\n{freeze}steps:\n  deploy: {{ run: [\"true\"] }}\n"
    )
}

/// The deployment repository with `policy` deployed everywhere and a push bumping api on
/// `env`'s branch with `message`.
fn pushed(policy: &str, env: &str, message: &str) -> TestRepo {
    let (mut t, _) = TestRepo::deployment_with(policy);
    let v = descriptor("api", "1.4.3");
    t.commit_on(env, &[("services/api.yaml", Some(&v))], alice(), message);
    t
}

/// `plan --env ENV --now NOW`; returns (exit, plan.json).
fn plan_at(t: &TestRepo, env: &str, now: &str) -> (i32, serde_json::Value) {
    plan_at_with(t, env, now, &[])
}

fn plan_at_with(t: &TestRepo, env: &str, now: &str, extra: &[&str]) -> (i32, serde_json::Value) {
    let mut c = common::gate(t.dir.path());
    c.arg("plan")
        .arg("--repo")
        .arg(t.path())
        .args(["--env", env, "--no-fetch", "--now", now])
        .args(extra)
        .arg("--out")
        .arg(t.out());
    let (code, _, _) = run(c);
    (code, read_json(&t.out().join("plan.json")))
}

fn checks(plan: &serde_json::Value, rule: &str) -> Vec<serde_json::Value> {
    plan["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["rule"] == rule)
        .cloned()
        .collect()
}

fn detail(c: &serde_json::Value) -> &str {
    c["detail"].as_str().unwrap()
}

#[test]
fn a_deploy_inside_a_window_is_rejected_with_the_window_and_its_end() {
    let t = pushed(&policy(FREEZE), "prod", "OPS-2: bump api");
    // Sunday 2026-03-29: the clocks went forward that night, so the window that began on
    // Friday 16:00 CET ends on Monday 09:00 CEST, 64 elapsed hours later.
    let (code, plan) = plan_at(&t, "prod", "2026-03-29T12:00:00Z");
    assert_eq!(code, 1);
    assert_eq!(plan["decision"], "reject");
    let c = &checks(&plan, "freeze")[0];
    assert_eq!(c["verdict"], "fail");
    assert_eq!(
        detail(c),
        "prod is frozen: \"weekend freeze\", from Fri 2026-03-27 16:00 CET (15:00 UTC) until Mon 2026-03-30 09:00 CEST (07:00 UTC)"
    );
    assert_eq!(c["field"], "gates.freeze[0]");
    assert_eq!(c["limit"], "2026-03-30T07:00:00Z");
    assert!(c["hint"]
        .as_str()
        .unwrap()
        .contains("Deploy-Freeze-Override: <ticket>"));
    assert!(plan["reason"]
        .as_str()
        .unwrap()
        .starts_with("rejected by freeze: prod is frozen"));
    // The plan names the window and the time it was judged at.
    let w = &plan["freeze"]["windows"][0];
    assert_eq!(w["reason"], "weekend freeze");
    assert_eq!(w["start"], "2026-03-27T16:00:00+01:00");
    assert_eq!(w["end"], "2026-03-30T09:00:00+02:00");
    assert_eq!(w["start_utc"], "2026-03-27T15:00:00Z");
    assert_eq!(w["end_utc"], "2026-03-30T07:00:00Z");
    assert!(plan["freeze"].get("override").is_none());
    assert_eq!(plan["evaluated_at"], "2026-03-29T12:00:00Z");
    assert_eq!(plan["now_from_flag"], true);
}

#[test]
fn a_deploy_outside_a_window_passes_and_names_the_next() {
    let t = pushed(&policy(FREEZE), "prod", "OPS-2: bump api");
    // The end is exclusive: at 07:00 UTC on Monday the freeze is over.
    let (code, plan) = plan_at(&t, "prod", "2026-03-30T07:00:00Z");
    assert_eq!(code, 0);
    assert_eq!(plan["decision"], "deploy");
    let c = &checks(&plan, "freeze")[0];
    assert_eq!(c["verdict"], "pass");
    assert_eq!(
        detail(c),
        "no freeze window is in force for prod; the next, \"weekend freeze\", starts Fri 2026-04-03 16:00 CEST (14:00 UTC)"
    );
    assert!(plan.get("freeze").is_none());
    // One second before its start, still outside.
    let (code, _) = plan_at(&t, "prod", "2026-04-03T13:59:59Z");
    assert_eq!(code, 0);
    let (code, _) = plan_at(&t, "prod", "2026-04-03T14:00:00Z");
    assert_eq!(code, 1);
}

#[test]
fn the_window_starts_at_16_00_berlin_time_in_winter_and_in_summer() {
    let t = pushed(&policy(FREEZE), "prod", "OPS-2: bump api");
    // Friday 14:30 UTC is 15:30 CET in January (before the start) but 16:30 CEST in July.
    assert_eq!(plan_at(&t, "prod", "2026-01-09T14:30:00Z").0, 0);
    assert_eq!(plan_at(&t, "prod", "2026-07-10T14:30:00Z").0, 1);
    // And an offset in --now means the same instant.
    assert_eq!(plan_at(&t, "prod", "2026-07-10T16:30:00+02:00").0, 1);
    assert_eq!(plan_at(&t, "prod", "2026-01-09T15:30:00+01:00").0, 0);
}

#[test]
fn a_window_for_prod_leaves_qa_alone() {
    let t = pushed(&policy(FREEZE), "qa", "OPS-2: bump api");
    let (code, plan) = plan_at(&t, "qa", "2026-03-29T12:00:00Z");
    assert_eq!(code, 0);
    assert!(checks(&plan, "freeze").is_empty());
    assert!(plan.get("freeze").is_none());
    // --now is still recorded, as a time a person chose.
    assert_eq!(plan["evaluated_at"], "2026-03-29T12:00:00Z");
    assert_eq!(plan["now_from_flag"], true);
}

#[test]
fn an_environment_can_replace_the_windows() {
    let p = policy(FREEZE).replace(
        "prod: { branch: prod, pipeline: [deploy] }",
        "prod: { branch: prod, pipeline: [deploy], gates: { freeze: [] } }",
    );
    let t = pushed(&p, "prod", "OPS-2: bump api");
    let (code, plan) = plan_at(&t, "prod", "2026-03-29T12:00:00Z");
    assert_eq!(code, 0);
    assert!(checks(&plan, "freeze").is_empty());
}

#[test]
fn a_push_that_deploys_nothing_is_not_refused_by_a_freeze() {
    let (mut t, _) = TestRepo::deployment_with(&policy(FREEZE));
    t.commit_on(
        "prod",
        &[("README.md", Some("notes\n"))],
        alice(),
        "OPS-3: notes",
    );
    let (code, plan) = plan_at(&t, "prod", "2026-03-29T12:00:00Z");
    assert_eq!(code, 0);
    assert_eq!(plan["decision"], "skip");
    let c = &checks(&plan, "freeze")[0];
    assert_eq!(c["verdict"], "pass");
    assert_eq!(
        detail(c),
        "\"weekend freeze\" is in force, but the push deploys nothing"
    );
}

#[test]
fn without_a_lookup_a_trailer_is_refused_even_under_presence() {
    let message = "OPS-2: hotfix api\n\nDeploy-Freeze-Override: OPS-123\n";
    // No gates.jira: the ticket must be looked up, and no integrations.jira says where.
    let t = pushed(&policy(FREEZE), "prod", message);
    let (code, plan) = plan_at_with(&t, "prod", "2026-03-29T12:00:00Z", OVERRIDE);
    assert_eq!(code, 1);
    let c = &checks(&plan, "freeze")[0];
    assert!(
        detail(c).ends_with(
            "is refused: OPS-123 cannot be looked up: no integrations.jira says where JIRA is"
        ),
        "{c}"
    );
    assert_eq!(plan["freeze"]["override"]["ticket"], "OPS-123");
    assert_eq!(plan["freeze"]["override"]["accepted"], false);
    // `verify: presence`: nothing looks the ticket up, so nothing approves it; the freeze
    // holds (a commit message alone never lifts one).
    let presence =
        format!("  jira: {{ required: true, projects: [OPS], verify: presence }}\n{FREEZE}");
    let t = pushed(&policy(&presence), "prod", message);
    let (code, plan) = plan_at_with(&t, "prod", "2026-03-29T12:00:00Z", OVERRIDE);
    assert_eq!(code, 1);
    let c = &checks(&plan, "freeze")[0];
    assert_eq!(c["verdict"], "fail");
    assert!(
        detail(c).ends_with(
            "OPS-123 is not looked up (gates.jira.verify: presence), and an override needs JIRA's approval"
        ),
        "{c}"
    );
    assert_eq!(plan["freeze"]["override"]["accepted"], false);
    // A trailer naming something else than a ticket of the projects is refused.
    let t = pushed(
        &policy(&presence),
        "prod",
        "OPS-2: hotfix\n\nDeploy-Freeze-Override: PAY-9\n",
    );
    let (code, plan) = plan_at_with(&t, "prod", "2026-03-29T12:00:00Z", OVERRIDE);
    assert_eq!(code, 1);
    assert!(detail(&checks(&plan, "freeze")[0]).ends_with(
        "the Deploy-Freeze-Override trailer names `PAY-9`, which is not a ticket of OPS"
    ));
}

#[test]
fn now_is_refused_under_ci_and_must_be_rfc3339() {
    let t = pushed(&policy(FREEZE), "prod", "OPS-2: bump api");
    let mut c = common::gate(t.dir.path());
    c.env("CI", "true")
        .arg("plan")
        .arg("--repo")
        .arg(t.path())
        .args([
            "--env",
            "prod",
            "--no-fetch",
            "--now",
            "2026-03-30T08:00:00Z",
            "--out",
        ])
        .arg(t.out());
    let (code, _, stderr) = run(c);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("error: --now is refused under CI (CI is set)"),
        "{stderr}"
    );
    // Any CI's marker counts, and `CI` set to anything but false/0.
    for (k, v, why) in [
        ("CI", "yes", "CI is set"),
        ("TF_BUILD", "True", "TF_BUILD is set"),
        ("TEAMCITY_VERSION", "2025.1", "TEAMCITY_VERSION is set"),
        ("BUILDKITE", "true", "BUILDKITE is set"),
    ] {
        let mut c = common::gate(t.dir.path());
        c.env(k, v)
            .arg("plan")
            .arg("--repo")
            .arg(t.path())
            .args([
                "--env",
                "prod",
                "--no-fetch",
                "--now",
                "2026-03-30T08:00:00Z",
            ])
            .arg("--out")
            .arg(t.out());
        let (code, _, stderr) = run(c);
        assert_eq!(code, 2, "{k}={v}: {stderr}");
        assert!(
            stderr.contains(&format!("error: --now is refused under CI ({why})")),
            "{stderr}"
        );
    }
    let mut c = common::gate(t.dir.path());
    c.arg("plan")
        .arg("--repo")
        .arg(t.path())
        .args(["--env", "prod", "--no-fetch", "--now", "friday", "--out"])
        .arg(t.out());
    let (code, _, stderr) = run(c);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("--now `friday` is not an RFC 3339 time"),
        "{stderr}"
    );
}

#[test]
fn a_saved_plan_from_before_the_freeze_does_not_run_inside_it() {
    let t = pushed(&policy(FREEZE), "prod", "OPS-2: bump api");
    let (code, _) = plan_at(&t, "prod", "2026-03-27T14:59:00Z");
    assert_eq!(code, 0);
    let saved = t.dir.path().join("saved.json");
    std::fs::copy(t.out().join("plan.json"), &saved).unwrap();
    let run_plan = |now: &str| {
        let mut c = common::gate(t.dir.path());
        c.arg("run")
            .arg("--repo")
            .arg(t.path())
            .args(["--no-fetch", "--dry-run", "--now", now, "--plan"])
            .arg(&saved)
            .arg("--out")
            .arg(t.dir.path().join("run-out"));
        run(c)
    };
    // A minute later, inside the window: the re-derived plan rejects, so the file is stale.
    let (code, _, stderr) = run_plan("2026-03-27T15:00:00Z");
    assert_eq!(code, 5, "{stderr}");
    assert!(stderr.contains("checks["), "{stderr}");
    assert!(
        stderr.contains("decision: file says \"deploy\", Git says \"reject\""),
        "{stderr}"
    );
    // Still before it: the same plan, though evaluated at another time.
    let (code, _, stderr) = run_plan("2026-03-27T14:59:30Z");
    assert_eq!(code, 0, "{stderr}");
}

#[test]
fn bad_windows_are_configuration_errors_naming_line_and_field() {
    for (window, says) in [
        (
            r#"{ cron: "0 16 * *", duration: 64h, timezone: Europe/Berlin, reason: x }"#,
            "gates.freeze[0].cron: `0 16 * *` is not a cron pattern of five fields",
        ),
        (
            r#"{ cron: "0 16 * * FRI", duration: 64h, timezone: Europe/Berlinn, reason: x }"#,
            "gates.freeze[0].timezone: `Europe/Berlinn` is not an IANA time zone name",
        ),
        (
            r#"{ cron: "0 16 * * FRI", duration: 64 hours, timezone: UTC, reason: x }"#,
            "gates.freeze[0].duration: `64 hours` is not a duration",
        ),
        (
            r#"{ cron: "0 16 * * FRI", duration: 64h, timezone: UTC, environments: [prd], reason: x }"#,
            "gates.freeze[0].environments[0]: `prd` is not an environment",
        ),
        (
            r#"{ cron: "0 0 30 2 *", duration: 1h, timezone: UTC, reason: x }"#,
            "gates.freeze[0].cron: `0 0 30 2 *` never matches a date",
        ),
    ] {
        let p = policy(&format!("  freeze:\n    - {window}\n"));
        let (t, _) = TestRepo::deployment_with(&p);
        let mut c = common::gate(t.dir.path());
        c.arg("validate").arg("--repo").arg(t.path());
        let (code, stdout, stderr) = run(c);
        assert_eq!(code, 2, "{window}");
        let all = format!("{stdout}{stderr}");
        // The window is on line 8 of the policy.
        assert!(all.contains(":8"), "{window}: {all}");
        assert!(all.contains(says), "{window}: {all}");
    }
}

// --- The emergency override against a fake JIRA ---

const ENV: &[(&str, &str)] = &[
    ("JIRA_EMAIL", "ci@example.com"),
    ("JIRA_API_TOKEN", "t0ken"),
];

/// A qa frozen at weekends, with `gates.jira` (`required`: the commits' tickets too).
fn jira_repo(url: &str, message: &str, required: bool) -> (Git, String) {
    let g = Git::new();
    g.write(
        "gitops.yaml",
        &format!(
            "version: 1\nenvironments:\n  qa: {{ branch: qa, pipeline: [deploy] }}\ngates:\n  jira: {{ required: {required}, projects: [OPS], statuses: [Approved] }}\n  offline: allow\n  freeze:\n    - {{ cron: \"0 16 * * FRI\", duration: 64h, timezone: Europe/Berlin, reason: \"weekend freeze\" }}\nsteps:\n  deploy: {{ run: [\"true\"] }}\nintegrations:\n  jira: {{ url: \"{url}\", timeout: 3s }}\n"
        ),
    );
    g.write("services/api.yaml", &api("1.0.0"));
    let base = g.commit("OPS-1: initial", "Alice", "alice@example.com", None);
    g.ledger("qa", &base);
    g.write("services/api.yaml", &api("1.0.1"));
    let head = g.commit(message, "Alice", "alice@example.com", None);
    (g, head)
}

fn jira(override_status: &'static str) -> Fake {
    Fake::start(2, move |s, _| {
        let key = s.path().rsplit('/').next().unwrap_or("").to_string();
        match key.as_str() {
            "OPS-2" => Resp::json(200, jira_issue("x", "OPS-2", "Approved", "done")),
            "OPS-123" if override_status == "down" => Resp::json(503, "{}"),
            "OPS-123" if override_status == "missing" => Resp::json(404, JIRA_404),
            "OPS-123" => Resp::json(
                200,
                jira_issue("x", "OPS-123", override_status, "indeterminate"),
            ),
            _ => Resp::json(404, JIRA_404),
        }
    })
}

const HOTFIX: &str = "OPS-2: hotfix api\n\nDeploy-Freeze-Override: OPS-123";
/// `plan` of qa's push `head` at `now`, with the flags in `extra`.
fn plan_qa(g: &Git, head: &str, now: &str, extra: &[&str]) -> Run {
    let mut args = vec![
        "--env", "qa", "--branch", "qa", "--head", head, "--now", now,
    ];
    args.extend_from_slice(extra);
    plan(g, &args, ENV)
}

const SUNDAY: &str = "2026-03-29T12:00:00Z";
const OVERRIDE: &[&str] = &["--freeze-override", "OPS-123"];

#[test]
fn an_override_whose_ticket_is_approved_deploys_and_is_named_in_plan_and_run_record() {
    let fake = jira("Approved");
    let (g, head) = jira_repo(&fake.url, HOTFIX, true);
    let r = plan_qa(&g, &head, SUNDAY, OVERRIDE);
    assert_eq!(r.code, 0);
    let c = &r.checks("freeze")[0];
    assert_eq!(c["verdict"], "warn");
    assert!(
        c["detail"].as_str().unwrap().ends_with(&format!(
            "deploying under the emergency override Deploy-Freeze-Override: OPS-123 on {} (OPS-123 is Approved)",
            &head[..7]
        )),
        "{c}"
    );
    let o = &r.plan()["freeze"]["override"];
    assert_eq!(o["ticket"], "OPS-123");
    assert_eq!(o["commit"], head.as_str());
    assert_eq!(o["accepted"], true);
    assert_eq!(fake.count("/rest/api/2/issue/OPS-123"), 1);

    // `run` deploys it, and the run record names the window and the override.
    let out = tempfile::tempdir().unwrap();
    let mut c = common::gate_std(g.home.path());
    c.args([
        "run",
        "--env",
        "qa",
        "--branch",
        "qa",
        "--no-fetch",
        "--now",
        SUNDAY,
        "--freeze-override",
        "OPS-123",
        "--repo",
    ])
    .arg(g.path())
    .arg("--out")
    .arg(out.path());
    for (k, v) in ENV {
        c.env(k, v);
    }
    let (code, _, _) = run(assert_cmd::Command::from_std(c));
    assert_eq!(code, 0);
    let record = read_json(&out.path().join("run.json"));
    assert_eq!(record["result"], "succeeded");
    assert_eq!(record["freeze"]["override"]["ticket"], "OPS-123");
    assert_eq!(record["freeze"]["windows"][0]["reason"], "weekend freeze");
    let note = g.git(&["notes", "--ref=refs/notes/gitops-gate", "show", &head]);
    assert!(note.contains("\"ticket\":\"OPS-123\""), "{note}");
}

#[test]
fn an_override_whose_ticket_is_not_approved_or_missing_is_refused() {
    let fake = jira("In Progress");
    let (g, head) = jira_repo(&fake.url, HOTFIX, true);
    let r = plan_qa(&g, &head, SUNDAY, OVERRIDE);
    assert_eq!(r.code, 1);
    let c = &r.checks("freeze")[0];
    assert_eq!(c["verdict"], "fail");
    assert!(
        c["detail"].as_str().unwrap().ends_with(
            "is refused: OPS-123 is In Progress (indeterminate); an override needs Approved"
        ),
        "{c}"
    );
    assert_eq!(c["hint"], "move OPS-123 to Approved in JIRA, then re-run");
    assert_eq!(r.plan()["freeze"]["override"]["accepted"], false);

    let fake = jira("missing");
    let (g, head) = jira_repo(&fake.url, HOTFIX, true);
    let r = plan_qa(&g, &head, SUNDAY, OVERRIDE);
    assert_eq!(r.code, 1);
    assert!(r.checks("freeze")[0]["detail"]
        .as_str()
        .unwrap()
        .ends_with("OPS-123 does not exist in JIRA"));
}

#[test]
fn jira_down_during_a_freeze_fails_closed_and_outside_one_is_not_asked() {
    // Tickets in commits are not required here, so only the override is ever looked up.
    let fake = jira("down");
    let (g, head) = jira_repo(&fake.url, HOTFIX, false);
    let r = plan_qa(&g, &head, SUNDAY, OVERRIDE);
    assert_eq!(r.code, 4, "{}", r.stderr);
    // Outside the window the trailer is not looked up at all.
    let before = fake.count("/rest/api/2/issue/OPS-123");
    let r = plan_qa(&g, &head, "2026-03-31T12:00:00Z", &[]);
    assert_eq!(r.code, 0);
    assert_eq!(fake.count("/rest/api/2/issue/OPS-123"), before);
}

#[test]
fn offline_an_override_is_refused_even_where_gates_offline_allows() {
    let fake = jira("Approved");
    let (g, head) = jira_repo(&fake.url, HOTFIX, true);
    let r = plan_qa(
        &g,
        &head,
        SUNDAY,
        &["--freeze-override", "OPS-123", "--offline"],
    );
    assert_eq!(r.code, 1);
    let c = &r.checks("freeze")[0];
    assert_eq!(c["verdict"], "fail");
    assert!(c["detail"].as_str().unwrap().ends_with(
        "OPS-123 cannot be looked up (--offline), and an override needs JIRA's approval"
    ));
    assert!(fake.requests().is_empty());
}

#[test]
fn status_shows_a_window_in_force_and_until_when() {
    let t = pushed(&policy(FREEZE), "prod", "OPS-2: bump api");
    let status = |now: &str, format: &str| {
        let mut c = common::gate(t.dir.path());
        c.arg("status").arg("--repo").arg(t.path()).args([
            "--no-fetch",
            "--now",
            now,
            "--format",
            format,
        ]);
        let (code, stdout, _) = run(c);
        assert_eq!(code, 0);
        stdout
    };
    let text = status(SUNDAY, "text");
    assert!(
        text.contains(
            "  frozen     \"weekend freeze\" until Mon 2026-03-30 09:00 CEST (07:00 UTC)\n"
        ),
        "{text}"
    );
    assert_eq!(
        text.matches("frozen").count(),
        1,
        "qa is not frozen: {text}"
    );
    let json: serde_json::Value = serde_json::from_str(&status(SUNDAY, "json")).unwrap();
    let prod = &json["environments"][1];
    assert_eq!(prod["environment"], "prod");
    assert_eq!(prod["freeze"][0]["reason"], "weekend freeze");
    assert_eq!(prod["freeze"][0]["end"], "2026-03-30T09:00:00+02:00");
    assert!(json["environments"][0].get("freeze").is_none());
    assert!(!status("2026-03-31T12:00:00Z", "text").contains("frozen"));
}

#[test]
fn a_skip_marker_does_not_lift_a_freeze() {
    let t = pushed(&policy(FREEZE), "prod", "OPS-2: bump api [skip deploy]");
    let (code, plan) = plan_at(&t, "prod", SUNDAY);
    assert_eq!(code, 1);
    assert_eq!(plan["decision"], "reject");
    assert_eq!(checks(&plan, "skip-marker")[0]["verdict"], "skip");
    assert_eq!(checks(&plan, "freeze")[0]["verdict"], "fail");
}

/// The push alone never lifts a freeze (notes/threats.md): the trailer names the ticket, and
/// whoever runs the deploy must confirm the same ticket with `--freeze-override`; an approved
/// ticket without the flag, or a flag naming another ticket, is refused, and so is the flag
/// with no trailer.
#[test]
fn an_override_needs_the_operators_flag_naming_the_trailers_ticket() {
    let fake = jira("Approved");
    let (g, head) = jira_repo(&fake.url, HOTFIX, true);
    let at = |extra: &[&str]| {
        let r = plan_qa(&g, &head, SUNDAY, extra);
        let c = r.checks("freeze")[0].clone();
        (r.code, c)
    };
    let (code, c) = at(&[]);
    assert_eq!(code, 1);
    assert!(
        c["detail"].as_str().unwrap().ends_with(
            "is refused: whoever runs the deploy has not confirmed it with --freeze-override OPS-123"
        ),
        "{c}"
    );
    assert!(
        c["hint"]
            .as_str()
            .unwrap()
            .contains("workflow_dispatch input"),
        "{c}"
    );
    let (code, c) = at(&["--freeze-override", "OPS-1"]);
    assert_eq!(code, 1);
    assert!(
        c["detail"]
            .as_str()
            .unwrap()
            .ends_with("is refused: --freeze-override names `OPS-1`, the trailer OPS-123"),
        "{c}"
    );
    let (code, c) = at(&["--freeze-override", "ops-123"]);
    assert_eq!(code, 0, "{c}");
    assert_eq!(c["verdict"], "warn");

    // The flag alone, with no trailer on the head commit, lifts nothing.
    let (g, head) = jira_repo(&fake.url, "OPS-2: hotfix api", true);
    let r = plan_qa(&g, &head, SUNDAY, OVERRIDE);
    assert_eq!(r.code, 1);
    let c = &r.checks("freeze")[0];
    assert!(
        c["detail"].as_str().unwrap().ends_with(
            "--freeze-override OPS-123 was given, but the head commit has no Deploy-Freeze-Override trailer"
        ),
        "{c}"
    );
}
