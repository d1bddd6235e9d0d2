//! `gitops-gate plan` end to end, as CI calls it: exit codes, files written, stdout.
mod common;
use common::*;
use gitops_gate::model::CommitId;
use std::path::Path;

fn plan(
    t: &TestRepo,
    branch: &str,
    head: CommitId,
    extra: &[&str],
) -> (i32, String, String, serde_json::Value) {
    plan_with_env(t, branch, head, extra, &[])
}

fn plan_with_env(
    t: &TestRepo,
    branch: &str,
    head: CommitId,
    extra: &[&str],
    env: &[(&str, &Path)],
) -> (i32, String, String, serde_json::Value) {
    let mut c = gate(t.dir.path());
    c.envs(env.iter().copied())
        .arg("plan")
        .arg("--repo")
        .arg(t.path())
        .args(["--branch", branch, "--head", &head.to_string(), "--out"])
        .arg(t.out())
        .args(extra);
    let (code, out, err) = run(c);
    let p = t.out().join("plan.json");
    let json = if p.exists() {
        read_json(&p)
    } else {
        serde_json::Value::Null
    };
    (code, out, err, json)
}

/// `plan` as a `Test`: `head` pushed to `branch`, the plan files in `t.out()`.
fn plan_test(t: &TestRepo, branch: &str, head: CommitId) -> Test {
    Test::new(t)
        .arg("plan")
        .arg("--repo")
        .arg(t.path())
        .args(["--branch", branch, "--head", &head.to_string(), "--out"])
        .arg(t.out())
}

fn bump(t: &mut TestRepo, branch: &str, version: &str, who: (&str, &str), msg: &str) -> CommitId {
    let d = descriptor("api", version);
    t.commit_on(branch, &[("services/api.yaml", Some(&d))], who, msg)
}

#[test]
fn a_good_push_deploys_with_the_environments_pipeline() {
    let (mut t, root) = TestRepo::unpromoted();
    let head = bump(&mut t, "staging", "1.4.3", alice(), "OPS-42: bump api");
    let (code, out, _, p) = plan(&t, "staging", head, &[]);
    assert_eq!(code, 0);
    assert_eq!(p["decision"], "deploy");
    assert_eq!(p["environment"], "staging");
    assert_eq!(p["schema"], 1);
    assert_eq!(p["push"]["base"], root.to_string());
    assert_eq!(p["push"]["commits"], 1);
    assert_eq!(p["changes"][0]["service"], "api");
    assert_eq!(p["changes"][0]["from"], "1.4.2");
    assert_eq!(p["changes"][0]["to"], "1.4.3");
    let stages: Vec<String> = p["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            format!(
                "{}{}",
                s["id"].as_str().unwrap(),
                s["service"]
                    .as_str()
                    .map(|s| format!(":{s}"))
                    .unwrap_or_default()
            )
        })
        .collect();
    assert_eq!(
        stages,
        [
            "notify-start",
            "deploy:api",
            "healthcheck:api",
            "regression:api",
            "notify-end"
        ]
    );
    assert_eq!(p["stages"][1]["parameters"]["VERSION"], "1.4.3");
    assert_eq!(p["stages"][1]["parameters"]["GITOPS_RUN_ID"], p["digest"]);
    assert!(out.contains("DEPLOY staging"), "{out}");
    for f in ["plan.md", "jenkins.properties", "jenkins.json"] {
        assert!(t.out().join(f).exists(), "{f}");
    }
    let props = std::fs::read_to_string(t.out().join("jenkins.properties")).unwrap();
    assert!(props.contains("GITOPS_DECISION=deploy\n"), "{props}");
    assert!(props.contains("GITOPS_STAGE_2_VERSION=1.4.3\n"), "{props}");
    assert!(props.contains("GITOPS_STAGE_2_DOMAIN=api.example.com\n"));
    let md = std::fs::read_to_string(t.out().join("plan.md")).unwrap();
    assert!(md.contains("| api | 1.4.2 | 1.4.3 |"), "{md}");
    // The same inputs give the same plan digest.
    let (_, _, _, again) = plan(&t, "staging", head, &[]);
    assert_eq!(again["digest"], p["digest"]);
}

#[test]
fn prod_uses_its_jenkins_smoke_job_and_json_goes_to_stdout() {
    let (mut t, _) = TestRepo::unpromoted();
    let head = bump(&mut t, "prod", "1.4.3", alice(), "OPS-42: bump api");
    let (code, out, _, p) = plan(&t, "prod", head, &["--format", "json"]);
    assert_eq!(code, 0);
    let printed: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(printed, p);
    let smoke = p["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "smoke")
        .unwrap();
    assert_eq!(smoke["jenkins_job"], "smoke-test");
}

#[test]
fn every_offending_commit_is_named() {
    let (mut t, _) = TestRepo::deployment();
    bump(&mut t, "qa", "1.4.3", mallory(), "OPS-42: bump");
    bump(&mut t, "qa", "1.4.4", alice(), "no ticket here");
    let head = bump(&mut t, "qa", "1.4.5", mallory(), "also none");
    let (code, out, _, p) = plan(&t, "qa", head, &[]);
    assert_eq!(code, 1);
    assert_eq!(p["decision"], "reject");
    let checks = p["checks"].as_array().unwrap();
    let committers = checks.iter().find(|c| c["rule"] == "committers").unwrap();
    assert_eq!(committers["verdict"], "fail");
    assert!(
        committers["detail"]
            .as_str()
            .unwrap()
            .starts_with("2 of 3 commits"),
        "{committers}"
    );
    assert_eq!(committers["commits"].as_array().unwrap().len(), 2);
    let jira = checks.iter().find(|c| c["rule"] == "jira").unwrap();
    assert!(
        jira["detail"]
            .as_str()
            .unwrap()
            .starts_with("2 of 3 commits name no JIRA ticket"),
        "{jira}"
    );
    assert!(out.contains("FAIL  committers"), "{out}");
    assert!(
        p["stages"].as_array().unwrap().is_empty(),
        "nothing runs when rejected"
    );
}

#[test]
fn skip_markers_skip_but_never_pass_a_failing_check() {
    let (mut t, _) = TestRepo::deployment();
    let head = bump(
        &mut t,
        "qa",
        "1.4.3",
        alice(),
        "OPS-42: docs only [Skip Deploy]",
    );
    let (code, _, _, p) = plan(&t, "qa", head, &[]);
    assert_eq!((code, p["decision"].as_str()), (0, Some("skip")));
    assert!(p["reason"].as_str().unwrap().contains("[skip deploy]"));
    let head = bump(&mut t, "qa", "1.4.4", mallory(), "skip deployment");
    let (code, _, _, p) = plan(&t, "qa", head, &[]);
    assert_eq!((code, p["decision"].as_str()), (1, Some("reject")));
}

#[test]
fn branches_of_no_environment_and_unchanged_pushes_skip() {
    let (mut t, root) = TestRepo::deployment();
    let d = descriptor("api", "1.4.3");
    let head = t.commit(
        "feature",
        &[root],
        &[("services/api.yaml", Some(&d))],
        alice(),
        "OPS-42: x",
    );
    // Named by hand, a branch of no environment is a mistake to report, never a silent skip.
    plan_test(&t, "feature", head)
        .status(2)
        .stderr(
            "error: branch `feature` is no environment's branch, so nothing would deploy\n\
             hint: environment branches: qa, staging, prod\n\
             gitops-gate: exit 2: invalid input\n",
        )
        .run();
    plan_test(&t, "qaa", head)
        .status(2)
        .stderr(
            "error: branch `qaa` is no environment's branch, so nothing would deploy\n\
             hint: did you mean `--branch qa`? environment branches: qa, staging, prod\n\
             gitops-gate: exit 2: invalid input\n",
        )
        .run();
    // Pushed in CI, it is simply nothing to deploy.
    let payload = serde_json::json!({
        "ref": "refs/heads/feature", "before": root.to_string(), "after": head.to_string(),
        "created": false, "deleted": false, "forced": false, "sender": {"login": "alice"}
    });
    let mut c = gate(t.dir.path());
    github_env(&mut c, t.dir.path(), "push", &payload.to_string());
    c.args(["plan", "--no-fetch", "--repo"])
        .arg(t.path())
        .arg("--out")
        .arg(t.out());
    let (code, _, _) = run(c);
    let p = read_json(&t.out().join("plan.json"));
    assert_eq!((code, p["decision"].as_str()), (0, Some("skip")));
    assert!(
        p["reason"]
            .as_str()
            .unwrap()
            .contains("no environment's branch"),
        "{p}"
    );
    let head = t.commit_on("qa", &[("README.md", Some("hi"))], alice(), "OPS-3: docs");
    let (code, _, _, p) = plan(&t, "qa", head, &[]);
    assert_eq!((code, p["decision"].as_str()), (0, Some("skip")));
    assert!(p["reason"].as_str().unwrap().contains("nothing to deploy"));
    // A hostile branch name is only ever data.
    let evil = "zzz\";echo${IFS}\"hello\";#";
    let (code, out, err, _) = plan(&t, evil, head, &[]);
    assert_eq!(code, 2);
    assert!(err.contains(evil) && !out.contains("hello\n"), "{err}");
}

/// Mallory drops the committer allowlist from the policy at `path` and bumps api in one push.
fn loosening_push(t: &mut TestRepo, path: &str) -> CommitId {
    let loose = POLICY.replace(
        "  committers: [\"alice@example.com\", \"bob@example.com\"]\n",
        "",
    );
    assert_ne!(loose, POLICY, "the allowlist line was removed");
    t.commit_on(
        "qa",
        &[
            (path, Some(&loose)),
            ("services/api.yaml", Some(&descriptor("api", "9.9.9"))),
        ],
        mallory(),
        "OPS-9: relax the rules",
    )
}

#[test]
fn a_push_cannot_loosen_the_rules_that_judge_it() {
    let (mut t, _) = TestRepo::deployment();
    let head = loosening_push(&mut t, "gitops.yaml");
    let (code, _, _, p) = plan(&t, "qa", head, &[]);
    assert_eq!(code, 1, "judged by the deployed policy");
    let policy = p["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["rule"] == "policy")
        .unwrap();
    assert_eq!(policy["verdict"], "warn");
}

#[test]
fn force_pushes_follow_the_policy() {
    let (mut t, root) = TestRepo::deployment();
    let deployed = bump(&mut t, "qa", "1.4.3", alice(), "OPS-2: a");
    t.set_ref("refs/gitops-gate/deployed/qa", deployed);
    let rewritten = t.commit(
        "qa",
        &[root],
        &[("services/api.yaml", Some(&descriptor("api", "1.4.4")))],
        alice(),
        "OPS-3: b",
    );
    let (code, _, _, p) = plan(&t, "qa", rewritten, &[]);
    assert_eq!(code, 1);
    assert_eq!(p["push"]["kind"], "force");
    let fp = p["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["rule"] == "force-push")
        .unwrap();
    assert_eq!(fp["verdict"], "fail");
}

#[test]
fn broken_descriptors_are_invalid_input_with_their_location() {
    let (mut t, _) = TestRepo::deployment();
    let dup = descriptor("api", "1.4.3").replace("  retries: 3\n", "  retries: 3\n  retries: 0\n");
    let head = t.commit_on(
        "qa",
        &[("services/api.yaml", Some(&dup))],
        alice(),
        "OPS-4: dup",
    );
    let (code, out, _, p) = plan(&t, "qa", head, &[]);
    assert_eq!(code, 2);
    let schema = p["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["rule"] == "schema" && c["verdict"] == "fail")
        .unwrap();
    assert_eq!(schema["file"], "services/api.yaml");
    assert_eq!(schema["line"], 9);
    assert!(out.contains("services/api.yaml:9"), "{out}");
    // Empty, oversized and alias-bomb descriptors: refused, never "no changes".
    let bomb = "a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n";
    let huge = format!(
        "service: api\nversion: \"1\"\nmaintainer: a@example.com\ndomain: \"{}\"\n",
        "x".repeat(2 << 20)
    );
    for (what, body) in [
        ("empty", ""),
        ("null", "~\n"),
        ("bomb", bomb),
        ("huge", huge.as_str()),
    ] {
        let head = t.commit_on(
            "qa",
            &[("services/api.yaml", Some(body))],
            alice(),
            "OPS-5: hostile",
        );
        let (code, _, _, p) = plan(&t, "qa", head, &[]);
        assert_eq!(code, 2, "{what}");
        assert_eq!(p["changes"][0]["risk"], "destructive", "{what}");
        t.commit_on(
            "qa",
            &[("services/api.yaml", Some(&descriptor("api", "1.4.2")))],
            alice(),
            "OPS-6: restore",
        );
    }
}

#[test]
fn first_deploys_need_an_explicit_base() {
    let (mut t, root) = TestRepo::deployment();
    t.delete_ref("refs/gitops-gate/deployed/qa");
    let head = bump(&mut t, "qa", "1.4.3", alice(), "OPS-2: a");
    plan_test(&t, "qa", head)
        .status(2)
        .stderr(
            "error: environment `qa` has no ledger (refs/gitops-gate/deployed/qa) and the push names no previous commit\n\
             hint: bootstrap it once: gitops-gate plan --env qa --base <SHA of what qa runs now> (or --bootstrap to judge all history)\n\
             gitops-gate: exit 2: invalid input\n",
        )
        .run();
    let (code, _, _, p) = plan(&t, "qa", head, &["--base", &root.to_string()]);
    assert_eq!((code, p["decision"].as_str()), (0, Some("deploy")));
    let (code, _, _, p) = plan(&t, "qa", head, &["--bootstrap"]);
    assert_eq!(code, 0);
    assert_eq!(p["push"]["commits"], 2);
}

fn github_env(c: &mut assert_cmd::Command, dir: &Path, event: &str, payload: &str) {
    let path = dir.join("event.json");
    std::fs::write(&path, payload).unwrap();
    c.env("GITHUB_ACTIONS", "true")
        .env("CI", "true")
        .env("GITHUB_EVENT_NAME", event)
        .env("GITHUB_EVENT_PATH", &path)
        .env("GITHUB_OUTPUT", dir.join("gh-output"))
        .env("GITHUB_STEP_SUMMARY", dir.join("gh-summary"));
}

#[test]
fn in_github_actions_outputs_are_written_and_commit_text_is_inert() {
    let (mut t, root) = TestRepo::deployment();
    let head = bump(
        &mut t,
        "qa",
        "1.4.3",
        mallory(),
        "OPS-42: x\n::error::injected\n::add-mask::secret",
    );
    let payload = serde_json::json!({
        "ref": "refs/heads/qa", "before": root.to_string(), "after": head.to_string(),
        "created": false, "deleted": false, "forced": false, "sender": {"login": "mallory"}
    });
    let mut c = gate(t.dir.path());
    github_env(&mut c, t.dir.path(), "push", &payload.to_string());
    c.arg("plan")
        .arg("--repo")
        .arg(t.path())
        .arg("--out")
        .arg(t.out())
        .arg("--no-fetch");
    let (code, out, _) = run(c);
    assert_eq!(code, 1);
    let first = out.lines().next().unwrap();
    let token = first
        .strip_prefix("::stop-commands::")
        .expect("stdout starts fenced");
    let end = format!("::{token}::");
    let fenced_end = out.lines().position(|l| l == end).unwrap();
    for (i, l) in out.lines().enumerate() {
        if l.starts_with("::") && i > fenced_end {
            assert!(
                l.starts_with("::error title=") || l.starts_with("::warning title="),
                "{l}"
            );
            assert!(!l[2..].contains("\n"));
        }
    }
    let gh = std::fs::read_to_string(t.dir.path().join("gh-output")).unwrap();
    assert!(gh.contains("decision<<ghadelimiter_"), "{gh}");
    assert!(gh.lines().any(|l| l == "reject"), "{gh}");
    assert!(gh.contains("environment<<"));
    let summary = std::fs::read_to_string(t.dir.path().join("gh-summary")).unwrap();
    assert!(summary.contains("## gitops-gate: reject qa"), "{summary}");
}

#[test]
fn a_deleted_ref_is_a_skip_not_a_pass() {
    let (t, _) = TestRepo::deployment();
    let payload = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/github/payload.json"),
    )
    .unwrap();
    let mut c = gate(t.dir.path());
    github_env(&mut c, t.dir.path(), "push", &payload);
    c.arg("plan")
        .arg("--repo")
        .arg(t.path())
        .arg("--out")
        .arg(t.out());
    let (code, _, _) = run(c);
    assert_eq!(code, 0);
    let p = read_json(&t.out().join("plan.json"));
    assert_eq!(p["decision"], "skip");
    assert_eq!(p["reason"], "ref deleted: nothing is deployed");
    assert_eq!(p["checks"][0]["verdict"], "skip");
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = common::git_std()
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A bare remote with the deployment history and a depth-1 clone of it.
fn shallow_clone() -> (TestRepo, std::path::PathBuf, CommitId) {
    let (mut t, _) = TestRepo::deployment();
    for i in 0..3 {
        bump(
            &mut t,
            "qa",
            &format!("1.5.{i}"),
            alice(),
            &format!("OPS-{}: bump", i + 50),
        );
    }
    let head = t.tip("qa");
    let remote = t.dir.path().join("remote.git");
    git(
        t.dir.path(),
        &[
            "clone",
            "--quiet",
            "--bare",
            t.path().to_str().unwrap(),
            remote.to_str().unwrap(),
        ],
    );
    git(
        &t.path(),
        &[
            "push",
            "--quiet",
            remote.to_str().unwrap(),
            "refs/gitops-gate/deployed/qa:refs/gitops-gate/deployed/qa",
        ],
    );
    let clone = t.dir.path().join("clone");
    git(
        t.dir.path(),
        &[
            "clone",
            "--quiet",
            "--depth",
            "1",
            "--branch",
            "qa",
            &format!("file://{}", remote.display()),
            clone.to_str().unwrap(),
        ],
    );
    (t, clone, head)
}

/// `plan` of `head` on the clone's `qa`.
fn plan_clone(t: &TestRepo, clone: &Path, head: CommitId, extra: &[&str]) -> (i32, String, String) {
    let mut c = gate(t.dir.path());
    c.arg("plan")
        .arg("--repo")
        .arg(clone)
        .args(["--branch", "qa", "--head", &head.to_string(), "--out"])
        .arg(t.out())
        .args(extra);
    run(c)
}

#[test]
fn a_shallow_clone_is_deepened_or_refused_never_judged_partially() {
    let (t, clone, head) = shallow_clone();
    let run_plan = |extra: &[&str]| plan_clone(&t, &clone, head, extra);
    // Without fetching, the ledger is not even here.
    let (code, _, err) = run_plan(&["--no-fetch"]);
    assert_eq!(code, 2, "{err}");
    // With the ledger but a depth-1 history, the range cannot be complete.
    git(
        &clone,
        &[
            "fetch",
            "--quiet",
            "--depth",
            "1",
            "origin",
            "refs/gitops-gate/deployed/qa:refs/gitops-gate/deployed/qa",
        ],
    );
    let (code, _, err) = run_plan(&["--no-fetch"]);
    assert_eq!(code, 2);
    assert!(err.contains("fetch-depth: 0"), "{err}");
    // Allowed to fetch, it deepens and judges every commit.
    let (code, _, _) = run_plan(&["--fetch"]);
    assert_eq!(code, 0);
    let p = read_json(&t.out().join("plan.json"));
    assert_eq!(p["push"]["commits"], 3);
    assert_eq!(p["decision"], "deploy");
}

/// A CI checkout has branches only: fetching the ledger brings every environment's ledger
/// and the run records too (the promotion and capacity rules read them).
#[test]
fn fetching_the_ledger_brings_every_ledger_and_the_run_records() {
    let (t, clone, head) = shallow_clone();
    let remote = t.dir.path().join("remote.git");
    let deployed = git(&remote, &["rev-parse", "refs/gitops-gate/deployed/qa"]);
    git(
        &remote,
        &[
            "update-ref",
            "refs/gitops-gate/deployed/staging",
            deployed.trim(),
        ],
    );
    // A remote with no run records yet: the ledgers still come.
    let (code, _, err) = plan_clone(&t, &clone, head, &["--fetch"]);
    assert_eq!(code, 0, "{err}");
    let refs = git(&clone, &["for-each-ref", "--format=%(refname)"]);
    assert!(refs.contains("refs/gitops-gate/deployed/staging"), "{refs}");
    assert!(!refs.contains("refs/notes/"), "{refs}");
    for r in ["qa", "staging"] {
        let name = format!("refs/gitops-gate/deployed/{r}");
        git(&clone, &["update-ref", "-d", &name]);
    }
    git(
        &remote,
        &[
            "-c",
            "user.name=gitops-gate",
            "-c",
            "user.email=gitops-gate@localhost",
            "notes",
            "--ref",
            "gitops-gate",
            "add",
            "-m",
            r#"{"result":"succeeded"}"#,
            deployed.trim(),
        ],
    );
    let (code, _, err) = plan_clone(&t, &clone, head, &["--fetch"]);
    assert_eq!(code, 0, "{err}");
    let refs = git(&clone, &["for-each-ref", "--format=%(refname)"]);
    for r in [
        "refs/gitops-gate/deployed/qa",
        "refs/gitops-gate/deployed/staging",
        "refs/notes/gitops-gate",
    ] {
        assert!(refs.lines().any(|l| l == r), "{r} not fetched: {refs}");
    }
}

#[test]
fn an_unreachable_remote_fails_closed() {
    let (t, clone, head) = shallow_clone();
    git(
        &clone,
        &[
            "remote",
            "set-url",
            "origin",
            "file:///nonexistent/remote.git",
        ],
    );
    let (code, _, err) = plan_clone(&t, &clone, head, &["--fetch"]);
    assert_eq!(code, 4, "{err}");
    assert!(err.contains("cannot reach origin"), "{err}");
    // Every non-zero exit leaves a plan saying why.
    let p = read_json(&t.out().join("plan.json"));
    assert_eq!(p["decision"], "reject");
    assert_eq!(p["checks"][0]["rule"], "unavailable");
    assert!(
        p["reason"]
            .as_str()
            .unwrap()
            .starts_with("not decided (exit 4)"),
        "{p}"
    );
    assert!(t.out().join("plan.md").exists());
}

#[test]
fn validate_reports_every_problem_on_every_branch() {
    let (mut t, _) = TestRepo::deployment();
    // HEAD is main, which holds the policy.
    Test::new(&t)
        .arg("validate")
        .arg("--repo")
        .arg(t.path())
        .stdout(
            "checked qa (branch qa): policy and 2 descriptor(s)\n\
             checked staging (branch staging): policy and 2 descriptor(s)\n\
             checked prod (branch prod): policy and 2 descriptor(s)\n\
             valid\n",
        )
        .run();
    t.commit_on(
        "qa",
        &[(
            "services/api.yaml",
            Some(&descriptor("api", "1").replace("retries: 3", "retires: 3")),
        )],
        alice(),
        "x",
    );
    t.commit_on(
        "prod",
        &[
            (
                "services/web.yaml",
                Some(&descriptor("web", "1").replace("512Mi", "lots")),
            ),
            ("services/db.yml", Some("x")),
        ],
        alice(),
        "y",
    );
    let mut c = gate(t.dir.path());
    c.arg("validate")
        .arg("--repo")
        .arg(t.path())
        .args(["--format", "json"]);
    let (code, out, _) = run(c);
    assert_eq!(code, 2);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let files: Vec<&str> = v["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["file"].as_str().unwrap())
        .collect();
    assert_eq!(
        files,
        [
            "qa:services/api.yaml",
            "prod:services/db.yml",
            "prod:services/web.yaml"
        ]
    );
    assert_eq!(v["problems"][0]["hint"], "did you mean `retries`?");
}

#[test]
fn schema_prints_both_json_schemas() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = gate(dir.path());
    c.arg("schema");
    let (code, out, _) = run(c);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(v["gitops.yaml"]["properties"]["gates"].is_object());
}

#[test]
fn usage_errors_exit_2_and_demo_runs() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = gate(dir.path());
    c.args(["plan", "--no-such-flag"]);
    assert_eq!(run(c).0, 2);
    Test::new(&dir)
        .args(["plan", "--repo", "."])
        .status(2)
        .stderr(
            "error: . is not a Git repository: could not find repository at '.'\n\
             hint: run inside the deployment repository, or pass --repo DIR\n\
             gitops-gate: exit 2: invalid input\n",
        )
        .run();
    let mut c = gate(dir.path());
    c.arg("demo");
    let (code, out, _) = run(c);
    assert_eq!(code, 0);
    assert!(out.contains("DEPLOY qa"), "{out}");
    assert!(out.contains("REJECT qa"), "{out}");
}

#[test]
fn a_new_branch_push_is_ranged_from_the_ledger() {
    let (mut t, root) = TestRepo::deployment();
    let head = bump(&mut t, "qa", "1.4.3", alice(), "OPS-42: bump");
    let payload = serde_json::json!({
        "ref": "refs/heads/qa", "before": "0000000000000000000000000000000000000000",
        "after": head.to_string(), "created": true, "deleted": false, "forced": false
    });
    let mut c = gate(t.dir.path());
    github_env(&mut c, t.dir.path(), "push", &payload.to_string());
    c.arg("plan")
        .arg("--repo")
        .arg(t.path())
        .arg("--out")
        .arg(t.out())
        .arg("--no-fetch");
    let (code, _, _) = run(c);
    assert_eq!(code, 0);
    let p = read_json(&t.out().join("plan.json"));
    assert_eq!(p["push"]["base"], root.to_string());
    assert_eq!(p["push"]["base_source"], "ledger");
    assert_eq!(p["push"]["kind"], "create");
    assert_eq!(p["decision"], "deploy");
}

#[test]
fn an_older_push_than_the_deployed_one_exits_5() {
    let (mut t, _) = TestRepo::deployment();
    let older = bump(&mut t, "qa", "1.4.3", alice(), "OPS-42: a");
    let newer = bump(&mut t, "qa", "1.4.4", alice(), "OPS-43: b");
    t.set_ref("refs/gitops-gate/deployed/qa", newer);
    plan_test(&t, "qa", older)
        .status(5)
        .stderr(format!(
            "error: {} is already behind what qa runs: the ledger refs/gitops-gate/deployed/qa is at {newer}, a descendant of it\n\
             hint: a newer push was deployed first; nothing to do for this older one\n\
             gitops-gate: exit 5: superseded\n",
            &older.to_string()[..7]
        ))
        .run();
    let (code, _, _, p) = plan(&t, "qa", newer, &[]);
    assert_eq!((code, p["decision"].as_str()), (0, Some("skip")));
    assert!(p["reason"].as_str().unwrap().contains("already deployed"));
}

#[test]
fn a_remote_that_answers_without_the_base_is_invalid_input() {
    let (t, clone, head) = shallow_clone();
    let missing = "1234567890123456789012345678901234567890";
    let mut c = gate(t.dir.path());
    c.arg("plan")
        .arg("--repo")
        .arg(&clone)
        .args([
            "--branch",
            "qa",
            "--head",
            &head.to_string(),
            "--base",
            missing,
            "--fetch",
            "--out",
        ])
        .arg(t.out());
    let (code, _, err) = run(c);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains(missing), "{err}");
}

#[test]
fn deep_nesting_and_option_like_revisions_are_refused() {
    let (mut t, _) = TestRepo::deployment();
    let deep = format!(
        "service: api\nversion: \"1\"\nmaintainer: a@example.com\ndomain: {}{}\n",
        "[".repeat(200),
        "]".repeat(200)
    );
    let head = t.commit_on(
        "qa",
        &[("services/api.yaml", Some(&deep))],
        alice(),
        "OPS-5: deep",
    );
    let (code, _, _, p) = plan(&t, "qa", head, &[]);
    assert_eq!(code, 2);
    assert!(p["checks"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["rule"] == "schema" && c["verdict"] == "fail"));
    let mut c = gate(t.dir.path());
    c.arg("plan")
        .arg("--repo")
        .arg(t.path())
        .args(["--branch=-rf", "--head=--output=/tmp/x", "--out"])
        .arg(t.out());
    let (code, _, err) = run(c);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("is not a revision"), "{err}");
}

#[test]
fn the_policy_may_live_elsewhere_and_is_still_read_at_the_deployed_commit() {
    let mut t = TestRepo::empty();
    let root = t.commit(
        "main",
        &[],
        &[
            ("deploy/policy.yaml", Some(POLICY)),
            ("services/api.yaml", Some(&descriptor("api", "1.4.2"))),
        ],
        alice(),
        "OPS-1: init",
    );
    t.set_ref("refs/heads/qa", root);
    t.set_ref("refs/gitops-gate/deployed/qa", root);
    let head = loosening_push(&mut t, "deploy/policy.yaml");
    let (code, _, err, _) = plan(&t, "qa", head, &[]);
    assert_eq!(code, 2, "no gitops.yaml: {err}");
    let (code, _, _, p) = plan(&t, "qa", head, &["--policy", "deploy/policy.yaml"]);
    assert_eq!(code, 1, "judged by the deployed policy at the custom path");
    let c = p["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["rule"] == "committers")
        .unwrap();
    assert_eq!(c["verdict"], "fail");
}

/// The walk is `git log` in its own process; where git cannot be run, the same walk runs
/// in-process, says so, and plans the same.
#[test]
fn without_git_on_the_path_the_walk_runs_in_process_to_the_same_plan() {
    let (mut t, _) = TestRepo::deployment();
    bump(&mut t, "qa", "1.4.3", alice(), "OPS-42: bump api");
    bump(&mut t, "qa", "1.4.4", mallory(), "OPS-43: again");
    let head = bump(&mut t, "qa", "1.4.5", alice(), "OPS-44: and again");
    let (code, _, _, with_git) = plan(&t, "qa", head, &[]);
    assert_eq!(code, 1, "mallory is not allowlisted");
    let empty = tempfile::tempdir().unwrap();
    let (code, _, err, without) =
        plan_with_env(&t, "qa", head, &["--no-fetch"], &[("PATH", empty.path())]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("walking in-process: cannot run git"), "{err}");
    assert_eq!(with_git, without);
    assert_eq!(without["push"]["commits"], 3);
}

/// `gitops-gate plan | head` closes stdout early: the gate still writes its plan and exits
/// with its own code, instead of panicking on the broken pipe.
#[test]
fn a_closed_stdout_does_not_stop_the_gate() {
    let (mut t, _) = TestRepo::unpromoted();
    let head = bump(&mut t, "staging", "1.4.3", alice(), "OPS-42: bump api");
    let mut child = gate_std(t.dir.path())
        .arg("plan")
        .arg("--repo")
        .arg(t.path())
        .args(["--branch", "staging", "--head", &head.to_string(), "--out"])
        .arg(t.out())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(read_json(&t.out().join("plan.json"))["decision"], "deploy");
}

/// The edge redacts the environment's secrets from every error line, even a cause chain no
/// client wrote (here a `--policy` path that happens to hold the JIRA token).
#[test]
fn an_error_quoting_a_secret_prints_it_redacted() {
    let (t, _) = TestRepo::deployment();
    let token = "s3cr3t-t0ken-value";
    let mut c = gate(t.dir.path());
    c.env("JIRA_API_TOKEN", token)
        .arg("plan")
        .arg("--repo")
        .arg(t.path())
        .args(["--env", "qa", "--no-fetch", "--policy"])
        .arg(format!("{token}.yaml"))
        .arg("--out")
        .arg(t.out());
    let (code, out, err) = run(c);
    assert_eq!(code, 2, "{err}");
    assert!(!out.contains(token) && !err.contains(token), "{out}\n{err}");
    assert!(err.contains(".yaml is missing"), "{err}");
    for f in ["plan.json", "plan.md"] {
        let text = std::fs::read_to_string(t.out().join(f)).unwrap();
        assert!(!text.contains(token), "{f}: {text}");
    }
}
