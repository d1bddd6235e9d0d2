//! What the gate prints and decides: workflow commands in untrusted text, JIRA fail-closed, large pushes.
use crate::common::*;
use gitops_gate::model::CommitId;

/// The shared policy as it was before `verify:` existed: tickets required, JIRA lookups
/// implied, and no `integrations.jira`.
fn lookup_policy() -> String {
    POLICY.replace(", verify: presence", "")
}

fn bump(t: &mut TestRepo, branch: &str, version: &str, who: (&str, &str), msg: &str) -> CommitId {
    let d = descriptor("api", version);
    t.commit_on(branch, &[("services/api.yaml", Some(&d))], who, msg)
}

/// `gitops-gate plan` on `branch` at `head`, with `extra` flags and `env` variables.
fn plan(
    t: &TestRepo,
    branch: &str,
    head: CommitId,
    extra: &[&str],
    env: &[(&str, &str)],
) -> (i32, String, String) {
    let mut c = gate(t.dir.path());
    c.envs(env.iter().copied())
        .arg("plan")
        .arg("--repo")
        .arg(t.path())
        .args(["--branch", branch, "--head", &head.to_string(), "--out"])
        .arg(t.out())
        .args(extra);
    run(c)
}

fn plan_json(t: &TestRepo) -> serde_json::Value {
    read_json(&t.out().join("plan.json"))
}

/// The plan's text lines for one rule (`  FAIL  jira  ...`), verdict and detail.
fn rule_lines<'a>(stdout: &'a str, rule: &str) -> Vec<&'a str> {
    stdout
        .lines()
        .filter(|l| l.split_whitespace().nth(1) == Some(rule))
        .collect()
}

#[test]
fn a_required_jira_without_integrations_fails_closed_instead_of_passing_any_key() {
    let (mut t, _) = TestRepo::deployment_with(&lookup_policy());
    // A ticket that exists nowhere: nothing can vouch for it without a JIRA to ask.
    let head = bump(&mut t, "qa", "1.4.3", alice(), "OPS-99999: bump api");

    // Online: a configuration error (exit 2) naming the key to add and the credentials.
    let (code, out, err) = plan(&t, "qa", head, &[], &[]);
    assert_eq!(code, 2, "{err}");
    assert_eq!(out, "", "nothing decided, nothing on stdout");
    assert!(
        err.starts_with("error: gates.jira requires each ticket to be looked up in JIRA (branch qa), but the policy has no integrations.jira.url\n"),
        "{err}"
    );
    assert!(
        err.contains("hint: add integrations.jira.url to gitops.yaml"),
        "{err}"
    );
    assert!(err.contains("JIRA_EMAIL + JIRA_API_TOKEN") && err.contains("JIRA_PAT"));
    assert!(err.contains("verify: presence"), "{err}");
    assert!(
        err.ends_with("gitops-gate: exit 2: invalid input\n"),
        "{err}"
    );
    let p = plan_json(&t);
    assert_eq!(p["decision"], "reject");
    assert_ne!(p["decision"], "deploy");

    // validate names the problem for each environment that requires tickets.
    let mut c = gate(t.dir.path());
    c.arg("validate").arg("--repo").arg(t.path());
    git(&t.path(), &["symbolic-ref", "HEAD", "refs/heads/qa"]);
    let (code, out, err) = run(c);
    assert_eq!(code, 2);
    assert_eq!(err, "");
    let problems: Vec<&str> = out
        .lines()
        .filter(|l| l.contains("requires JIRA tickets to be looked up"))
        .collect();
    assert_eq!(problems.len(), 3, "{out}");
    for env in ["qa", "staging", "prod"] {
        assert!(
            problems
                .iter()
                .any(|l| l.contains(&format!("environment `{env}`"))
                    && l.contains("gitops.yaml")
                    && l.contains("gates.jira.required")),
            "{env}: {out}"
        );
    }
    assert!(
        out.contains("hint: add integrations.jira.url to gitops.yaml"),
        "{out}"
    );
    assert!(out.trim_end().ends_with("3 problem(s)"), "{out}");

    // Offline: as before, the rule is skipped and gates.offline (reject) decides.
    let (code, out, err) = plan(&t, "qa", head, &["--offline"], &[]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(err, "");
    assert_eq!(
        rule_lines(&out, "jira"),
        ["  skip  jira         every commit names a ticket (OPS-99999); status not looked up (--offline)"]
    );
    assert!(
        rule_lines(&out, "offline")[0].contains("FAIL  offline      offline run: jira could not be verified, and gates.offline is reject"),
        "{out}"
    );
}

#[test]
fn jira_presence_only_is_a_choice_the_policy_states() {
    let (mut t, _) = TestRepo::deployment_with(&POLICY.replace(
        "promotes_from: qa",
        "promotes_from: qa, gates: { jira: { required: true, projects: [OPS] } }",
    ));
    let head = bump(&mut t, "qa", "1.4.3", alice(), "OPS-99999: bump api");
    let (code, out, err) = plan(&t, "qa", head, &[], &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(err, "");
    assert_eq!(
        rule_lines(&out, "jira"),
        ["  pass  jira         every commit names a ticket (OPS-99999); presence only (gates.jira.verify: presence), not looked up in JIRA"]
    );
    assert_eq!(plan_json(&t)["decision"], "deploy");

    // validate flags only the environment whose own gates drop `verify: presence`.
    let mut c = gate(t.dir.path());
    c.arg("validate").arg("--repo").arg(t.path());
    git(&t.path(), &["symbolic-ref", "HEAD", "refs/heads/qa"]);
    let (code, out, err) = run(c);
    assert_eq!(code, 2);
    assert_eq!(err, "");
    let problems: Vec<&str> = out
        .lines()
        .filter(|l| l.contains("requires JIRA tickets"))
        .collect();
    assert_eq!(problems.len(), 1, "{out}");
    assert!(problems[0].contains("environment `staging`"), "{out}");
    assert!(
        problems[0].contains("environments.staging.gates.jira.required"),
        "{out}"
    );
}

/// Three workflow commands on lines of their own, as a descriptor key or value or a commit
/// message can hold them.
const INJECTED: &str = "\n::set-output name=decision::deploy\n::add-mask::x\n::error::pwned";

/// The lines GitHub's runner would act on as workflow commands: lines starting with `::`
/// outside `::stop-commands::T` ... `::T::` blocks (the block markers are left out).
/// Panics on a block left open: it would swallow the commands of later steps.
fn live_commands(text: &str) -> Vec<String> {
    let mut live = Vec::new();
    let mut stopped: Option<String> = None;
    for line in text.lines() {
        let l = line.trim_start();
        match &stopped {
            Some(tok) => {
                if l == format!("::{tok}::") {
                    stopped = None;
                }
            }
            None => {
                if let Some(tok) = l.strip_prefix("::stop-commands::") {
                    assert!(tok.len() >= 32, "a random token: {l}");
                    stopped = Some(tok.to_string());
                } else if l.starts_with("::") {
                    live.push(l.to_string());
                }
            }
        }
    }
    assert!(
        stopped.is_none(),
        "a stop-commands block is never closed:\n{text}"
    );
    live
}

/// A live line is only ever one of the tool's own annotations, on one line.
fn assert_only_own_annotations(name: &str, stream: &str, text: &str) {
    for l in live_commands(text) {
        let own = l.starts_with("::error title=gitops-gate ")
            || l.starts_with("::warning title=gitops-gate ");
        assert!(own, "{name}: live workflow command on {stream}: {l}");
    }
}

#[test]
fn a_descriptor_key_cannot_inject_a_workflow_command_in_any_subcommand() {
    let (mut t, root) = TestRepo::deployment_with(POLICY);
    let q = |s: String| format!("{s:?}");
    // api: a hostile key (unknown, so an error quotes it) and value; web: a hostile value
    // in a field that parses, so the diff shows it.
    let api = descriptor("api", "1.4.3").replace(
        "maintainer: team-api@example.com\n",
        &format!(
            "maintainer: team-api@example.com\n{}: {}\n",
            q(format!("evil{INJECTED}")),
            q(format!("v{INJECTED}"))
        ),
    );
    let web = descriptor("web", "2.0.2").replace(
        "maintainer: team-web@example.com",
        &format!(
            "maintainer: {}",
            q(format!("team-web@example.com{INJECTED}"))
        ),
    );
    let head = t.commit_on(
        "qa",
        &[
            ("services/api.yaml", Some(&api)),
            ("services/web.yaml", Some(&web)),
        ],
        alice(),
        &format!("OPS-42: bump{INJECTED}"),
    );
    git(&t.path(), &["symbolic-ref", "HEAD", "refs/heads/main"]);
    let (h, r) = (head.to_string(), root.to_string());
    let (p, o) = (t.path(), t.out());
    let (p, o) = (p.to_str().unwrap(), o.to_str().unwrap());
    let on_qa = ["--branch", "qa", "--head", &h, "--no-fetch"];
    let bump_msg = format!("OPS-43: bump web{INJECTED}");
    // (arguments, exit code, what stdout must show: the hostile text did reach it)
    let cases: Vec<(Vec<&str>, i32, &str)> = vec![
        (
            vec!["validate", "--repo", p],
            2,
            "::error::pwned: unknown field `evil",
        ),
        (
            [&["diff", "--repo", p][..], &on_qa].concat(),
            1,
            "+maintainer: \"team-web@example.com\\n::set-output",
        ),
        (
            [&["plan", "--repo", p, "--out", o][..], &on_qa].concat(),
            2,
            "\n::add-mask::x\n",
        ),
        (
            [&["run", "--dry-run", "--repo", p, "--out", o][..], &on_qa].concat(),
            2,
            "\n::error::pwned`",
        ),
        (
            vec![
                "promote",
                "--repo",
                p,
                "--from",
                "qa",
                "--to",
                "staging",
                "--offline",
            ],
            0,
            "OPS-42",
        ),
        (vec!["report", "--repo", p], 0, "Deployments"),
        (
            vec![
                "bump",
                "--repo",
                p,
                "web",
                "2.0.3",
                "--env",
                "qa",
                "--author-name",
                "A",
                "--author-email",
                "a@example.com",
                "--message",
                &bump_msg,
            ],
            0,
            "web",
        ),
        (
            vec!["status", "--repo", p, "--no-fetch"],
            0,
            "OPS-43: bump web",
        ),
        (
            vec![
                "rollback",
                "--repo",
                p,
                "--env",
                "qa",
                "--author-name",
                "A",
                "--author-email",
                "a@example.com",
                "--to",
                &r,
                "--reason",
                &bump_msg,
            ],
            0,
            "Reason: OPS-43: bump web\n::set-output name=decision::deploy\n",
        ),
    ];
    for (args, want, shown) in cases {
        let mut c = gate(t.dir.path());
        c.env("GITHUB_ACTIONS", "true")
            .env("GITHUB_EVENT_NAME", "workflow_dispatch")
            .env("GITHUB_REF", "refs/heads/qa")
            .env("GITHUB_SHA", &h)
            .args(&args);
        let (code, out, err) = run(c);
        let name = args[0];
        assert_eq!(code, want, "{name}");
        assert!(
            out.starts_with("::stop-commands::"),
            "{name}: stdout opens fenced:\n{out}"
        );
        assert!(
            out.contains(shown),
            "{name}: the hostile text reached stdout:\n{out}"
        );
        assert_only_own_annotations(name, "stdout", &out);
        assert_only_own_annotations(name, "stderr", &err);
        assert!(!err.contains("pwned"), "{name}: {err}");
    }
}

#[test]
fn an_error_quoting_a_descriptor_key_on_stderr_is_fenced_too() {
    let (mut t, _) = TestRepo::deployment_with(&POLICY.replace(", promotes_from: qa", ""));
    let api = descriptor("api", "1.4.3").replace(
        "maintainer: team-api@example.com\n",
        &format!(
            "maintainer: team-api@example.com\n{:?}: 1\n",
            format!("evil{INJECTED}")
        ),
    );
    t.commit_on(
        "qa",
        &[("services/api.yaml", Some(&api))],
        alice(),
        "OPS-42: bump",
    );
    let mut c = gate(t.dir.path());
    c.env("GITHUB_ACTIONS", "true")
        .args([
            "healthcheck",
            "--env",
            "qa",
            "--url-base",
            "http://127.0.0.1:9",
            "--repo",
        ])
        .arg(t.path());
    let (code, out, err) = run(c);
    assert_eq!(code, 2);
    assert_eq!(out, "");
    assert!(err.starts_with("::stop-commands::"), "{err}");
    assert!(
        err.contains("\n::error::pwned: unknown field `evil"),
        "{err}"
    );
    assert!(
        err.ends_with("::\ngitops-gate: exit 2: invalid input\n"),
        "{err}"
    );
    assert_only_own_annotations("healthcheck", "stderr", &err);
    assert!(live_commands(&err).is_empty());
}

use crate::fakes;

/// The workflow commands on stdout outside any stop-commands block.
fn annotations(stdout: &str) -> Vec<String> {
    live_commands(stdout)
}

#[test]
fn a_push_over_max_commits_reports_only_the_refusal() {
    let (mut t, root) = TestRepo::deployment_with(
        &POLICY
            .replace(", promotes_from: qa", "")
            .replace("gates:\n", "gates:\n  max_commits: 3\n"),
    );
    // Five commits: two by someone not allowlisted, two naming no ticket.
    bump(&mut t, "qa", "1.4.3", alice(), "OPS-1: a");
    bump(&mut t, "qa", "1.4.4", mallory(), "OPS-2: b");
    bump(&mut t, "qa", "1.4.5", alice(), "no ticket");
    bump(&mut t, "qa", "1.4.6", mallory(), "none either");
    let head = bump(&mut t, "qa", "1.4.7", alice(), "OPS-3: e");
    let (code, out, err) = plan(&t, "qa", head, &["--no-fetch"], &[]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(err, "");
    let range = rule_lines(&out, "range");
    assert_eq!(
        range,
        [format!(
            "  FAIL  range        more than 3 commits between {} and {}; refusing to judge a partial range",
            &root.to_string()[..7],
            &head.to_string()[..7]
        )]
    );
    for rule in ["committers", "jira", "signatures"] {
        assert!(
            rule_lines(&out, rule).is_empty(),
            "{rule} judged part of a refused range:\n{out}"
        );
    }
    assert!(!out.contains(" of 3 commits"), "{out}");
    let p = plan_json(&t);
    assert_eq!(p["decision"], "reject");
    assert!(p.get("tickets").is_none(), "{p}");
    let rules: Vec<&str> = p["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["rule"].as_str().unwrap())
        .collect();
    assert!(
        !rules
            .iter()
            .any(|r| ["committers", "jira", "signatures"].contains(r)),
        "{rules:?}"
    );
}

#[test]
fn rows_of_committers_cannot_hide_a_jira_failure_from_the_annotations() {
    let (mut t, _) = TestRepo::deployment_with(&POLICY.replace(", promotes_from: qa", ""));
    // 24 strangers with a commit each, one with three, and one commit naming no ticket.
    let names: Vec<(String, String)> = (1..=24)
        .map(|i| (format!("Dev {i}"), format!("dev{i}@example.org")))
        .collect();
    let mut v = 0;
    for (name, email) in &names {
        v += 1;
        bump(
            &mut t,
            "qa",
            &format!("1.5.{v}"),
            (name, email),
            "OPS-5: work",
        );
    }
    for _ in 0..3 {
        v += 1;
        bump(
            &mut t,
            "qa",
            &format!("1.5.{v}"),
            ("Busy", "busy@example.org"),
            "OPS-6: more",
        );
    }
    let head = bump(&mut t, "qa", "1.6.0", alice(), "forgot the ticket");
    let (code, out, err) = plan(
        &t,
        "qa",
        head,
        &["--no-fetch"],
        &[
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_EVENT_NAME", "workflow_dispatch"),
        ],
    );
    assert_eq!(code, 1, "{err}");
    assert_eq!(err, "");
    // One annotation per failing rule, the JIRA one among them.
    let notes = annotations(&out);
    assert_eq!(notes.len(), 2, "{notes:#?}");
    assert!(notes[0].starts_with("::error title=gitops-gate committers::27 of 28 commits are by 25 identities not on the allowlist; 20 of 25 shown: "), "{notes:#?}");
    assert!(
        notes[0].ends_with(" (and 20 more in the plan)"),
        "{notes:#?}"
    );
    assert!(
        notes[1].starts_with(
            "::error title=gitops-gate jira::1 of 28 commits name no JIRA ticket of OPS, PAY: "
        ),
        "{notes:#?}"
    );
    // Committers grouped by identity, with counts.
    let rows = rule_lines(&out, "committers");
    assert_eq!(rows.len(), 21, "a summary and 20 identities:\n{out}");
    assert!(rows[0]
        .contains("27 of 28 commits are by 25 identities not on the allowlist; 20 of 25 shown"));
    // Newest first: busy's three commits are one row.
    assert!(
        rows[1].starts_with("  FAIL  committers   author Busy <busy@example.org>: 3 commits ("),
        "{out}"
    );
    assert!(
        rows[2].starts_with("  FAIL  committers   author Dev 24 <dev24@example.org>: 1 commit (")
    );
    assert!(!out.contains("<dev5@example.org>"), "past the 20 shown");
    let p = plan_json(&t);
    let busy = p["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| {
            c["rule"] == "committers"
                && c["value"] == "author Busy <busy@example.org>"
                && c["detail"].as_str().unwrap().contains(": 3 commits")
        })
        .expect("busy's row");
    assert_eq!(busy["commits"].as_array().unwrap().len(), 3);
}

#[test]
fn every_named_ticket_is_looked_up_and_listed_even_when_a_commit_names_none() {
    let jira = fakes::Fake::start(2, |s, _| {
        let base = "http://jira.invalid";
        match s.path() {
            "/rest/api/2/issue/OPS-7" => {
                fakes::Resp::json(200, fakes::jira_issue(base, "OPS-7", "Done", "done"))
            }
            _ => fakes::Resp::json(404, fakes::JIRA_404),
        }
    });
    let policy = lookup_policy().replace(", promotes_from: qa", "")
        + &format!(
            "integrations:\n  jira: {{ url: \"{}\", timeout: 5s }}\n",
            jira.url
        );
    let (mut t, _) = TestRepo::deployment_with(&policy);
    bump(&mut t, "qa", "1.4.3", alice(), "OPS-7: a");
    bump(&mut t, "qa", "1.4.4", alice(), "OPS-8: b, and OPS-7 again");
    let none = bump(&mut t, "qa", "1.4.5", alice(), "no ticket here");
    // Not keys: ten digits, a leading zero.
    let long = bump(&mut t, "qa", "1.4.6", alice(), "OPS-1234567890: too long");
    let head = bump(&mut t, "qa", "1.4.7", alice(), "OPS-0042: leading zero");
    let (code, out, err) = plan(
        &t,
        "qa",
        head,
        &["--no-fetch"],
        &[("JIRA_PAT", "pat-secret")],
    );
    assert_eq!(code, 1, "{err}");
    assert_eq!(err, "");
    let short = |o: CommitId| o.to_string()[..7].to_string();
    let jira_lines = rule_lines(&out, "jira");
    assert_eq!(jira_lines.len(), 2, "{out}");
    assert_eq!(
        jira_lines[0],
        format!(
            "  FAIL  jira         3 of 5 commits name no JIRA ticket of OPS, PAY: {}, {}, {}",
            short(head),
            short(long),
            short(none)
        )
    );
    assert!(
        jira_lines[1].starts_with("  FAIL  jira         OPS-8, named by commit "),
        "{out}"
    );
    assert!(jira_lines[1].ends_with(", does not exist in JIRA"), "{out}");
    // Both named tickets were asked for, once each; nothing else was.
    let mut asked: Vec<String> = jira
        .requests()
        .iter()
        .map(|s| s.path().to_string())
        .collect();
    asked.sort();
    assert_eq!(
        asked,
        ["/rest/api/2/issue/OPS-7", "/rest/api/2/issue/OPS-8"]
    );
    let p = plan_json(&t);
    assert_eq!(
        p["tickets"],
        serde_json::json!(["OPS-8", "OPS-7"]),
        "newest first, as walked"
    );
    assert!(!std::fs::read_to_string(t.out().join("plan.json"))
        .unwrap()
        .contains("pat-secret"));
}

#[test]
fn an_allowlisted_email_with_another_local_part_case_is_someone_else() {
    let (mut t, _) = TestRepo::deployment_with(&POLICY.replace(", promotes_from: qa", ""));
    // The domain's case does not matter (RFC 5321)...
    let ok = bump(
        &mut t,
        "qa",
        "1.4.3",
        ("Alice", "alice@EXAMPLE.COM"),
        "OPS-1: a",
    );
    let (code, out, err) = plan(&t, "qa", ok, &["--no-fetch"], &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(err, "");
    assert_eq!(
        rule_lines(&out, "committers"),
        ["  pass  committers   all 1 commit are by allowlisted people"]
    );
    // ...the local part's does: `Alice@` is not the allowlisted `alice@`.
    let head = bump(
        &mut t,
        "qa",
        "1.4.4",
        ("Alice?", "Alice@example.com"),
        "OPS-2: b",
    );
    let (code, out, err) = plan(&t, "qa", head, &["--no-fetch"], &[]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(err, "");
    let rows = rule_lines(&out, "committers");
    assert!(
        rows[0].starts_with(
            "  FAIL  committers   1 of 2 commits are by 1 identity not on the allowlist: "
        ),
        "{out}"
    );
    assert!(
        rows[1].starts_with("  FAIL  committers   author Alice? <Alice@example.com>: 1 commit ("),
        "{out}"
    );
}

#[test]
fn an_empty_range_says_no_commits_not_all_zero() {
    let (mut t, _) = TestRepo::deployment_with(&POLICY.replace(", promotes_from: qa", ""));
    // A head past the ledger, judged against itself: `--base` = `--head`.
    let root = bump(&mut t, "qa", "1.4.3", alice(), "OPS-1: a");
    let r = root.to_string();
    let mut c = gate(t.dir.path());
    c.args([
        "diff",
        "--base",
        &r,
        "--head",
        &r,
        "--branch",
        "qa",
        "--no-fetch",
        "--repo",
    ])
    .arg(t.path());
    let (code, diff_out, err) = run(c);
    assert_eq!(code, 0, "{err}");
    assert_eq!(err, "");
    let (code, out, err) = plan(&t, "qa", root, &["--base", &r, "--no-fetch"], &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(err, "");
    for text in [&out, &diff_out] {
        assert!(!text.contains("0 commit"), "{text}");
        assert!(!text.contains("()"), "{text}");
    }
    assert_eq!(
        rule_lines(&out, "range"),
        [format!(
            "  pass  range        no commits from {} (--base) to {}",
            &r[..7],
            &r[..7]
        )]
    );
    assert_eq!(
        rule_lines(&out, "committers"),
        ["  pass  committers   no commits: nobody to check against the allowlist"]
    );
    assert_eq!(
        rule_lines(&out, "jira"),
        ["  pass  jira         no commits: no tickets to check"]
    );
    let md = std::fs::read_to_string(t.out().join("plan.md")).unwrap();
    assert!(md.contains(", no commits, "), "{md}");
}
