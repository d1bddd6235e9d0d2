//! What the gate prints and decides: workflow commands in untrusted text, JIRA fail-closed, large pushes.
use crate::common::*;
use std::path::Path;

/// The shared policy as it was before `verify:` existed: tickets required, JIRA lookups
/// implied, and no `integrations.jira`.
fn lookup_policy() -> String {
    POLICY.replace(", verify: presence", "")
}

fn bump(t: &mut TestRepo, branch: &str, version: &str, who: (&str, &str), msg: &str) -> git2::Oid {
    let d = descriptor("api", version);
    t.commit_on(branch, &[("services/api.yaml", Some(&d))], who, msg)
}

/// `gitops-gate plan` on `branch` at `head`, with `extra` flags and `env` variables.
fn plan(
    t: &TestRepo,
    branch: &str,
    head: git2::Oid,
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
    assert!(err.contains("hint: add integrations.jira.url to gitops.yaml"), "{err}");
    assert!(err.contains("JIRA_EMAIL + JIRA_API_TOKEN") && err.contains("JIRA_PAT"));
    assert!(err.contains("verify: presence"), "{err}");
    assert!(err.ends_with("gitops-gate: exit 2 (Invalid)\n"), "{err}");
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
            problems.iter().any(|l| l.contains(&format!("environment `{env}`"))
                && l.contains("gitops.yaml")
                && l.contains("gates.jira.required")),
            "{env}: {out}"
        );
    }
    assert!(out.contains("hint: add integrations.jira.url to gitops.yaml"), "{out}");
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
    assert!(problems[0].contains("environments.staging.gates.jira.required"), "{out}");
}
