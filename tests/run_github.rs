//! What `plan` and `run` write to GitHub in Actions, through the binary against a fake REST
//! API on 127.0.0.1 that answers as GitHub does: the commit status `gitops-gate/<env>`
//! (`integrations.github.statuses`) for each outcome, the run's deployment and its statuses
//! (`integrations.github.deployments`), with the exact request bodies in order; `warn`
//! against `required` when GitHub is down; the token never in any output.
mod common;
mod fakes;
use common::{gate, read_json, run, TestRepo};
use fakes::{Fake, Resp, Seen};
use serde_json::{json, Value};

const TOKEN: &str = "ghs_16C7e42F292c6912E7710c838347Ae178B4a";
const RUN_URL: &str = "https://github.com/acme/deploys/actions/runs/777";

/// GitHub's answers, shortened from the REST API's examples (the fields that matter, and
/// the ones a strict reader would trip on).
fn github_answer(s: &Seen, _n: usize) -> Resp {
    if s.header("Authorization") != Some(&format!("Bearer {TOKEN}")) {
        return Resp::json(
            401,
            r#"{"message":"Bad credentials","documentation_url":"https://docs.github.com/rest","status":"401"}"#,
        );
    }
    let body: Value = serde_json::from_str(&s.body).unwrap_or(Value::Null);
    match (s.method.as_str(), s.path()) {
        ("POST", "/repos/acme/deploys/deployments") => Resp::json(
            201,
            json!({
                "url": "https://api.github.com/repos/acme/deploys/deployments/4242",
                "id": 4242,
                "node_id": "DE_kwDOAbCdEs4AAAABAgMEBQ",
                "sha": body["ref"],
                "ref": body["ref"],
                "task": "deploy",
                "payload": body["payload"],
                "original_environment": body["environment"],
                "environment": body["environment"],
                "description": body["description"],
                "creator": { "login": "github-actions[bot]", "id": 41898282, "type": "Bot" },
                "created_at": "2026-12-06T23:00:00Z",
                "updated_at": "2026-12-06T23:00:00Z",
                "statuses_url": "https://api.github.com/repos/acme/deploys/deployments/4242/statuses",
                "repository_url": "https://api.github.com/repos/acme/deploys",
                "transient_environment": false,
                "production_environment": false
            })
            .to_string(),
        ),
        ("POST", "/repos/acme/deploys/deployments/4242/statuses") => Resp::json(
            201,
            json!({
                "url": "https://api.github.com/repos/acme/deploys/deployments/4242/statuses/1",
                "id": 1,
                "node_id": "DES_kwDOAbCdEs4AAAABAgMEBQ",
                "state": body["state"],
                "creator": { "login": "github-actions[bot]", "id": 41898282, "type": "Bot" },
                "description": body["description"],
                "environment": "qa",
                "target_url": body["log_url"],
                "log_url": body["log_url"],
                "environment_url": body["environment_url"],
                "created_at": "2026-12-06T23:00:01Z",
                "updated_at": "2026-12-06T23:00:01Z",
                "deployment_url": "https://api.github.com/repos/acme/deploys/deployments/4242",
                "repository_url": "https://api.github.com/repos/acme/deploys"
            })
            .to_string(),
        ),
        ("POST", p) if p.starts_with("/repos/acme/deploys/statuses/") => Resp::json(
            201,
            json!({
                "url": format!("https://api.github.com/repos/acme/deploys{}", &p["/repos/acme/deploys".len()..]),
                "avatar_url": "https://github.com/images/error/hubot_happy.gif",
                "id": 1,
                "node_id": "MDY6U3RhdHVzMQ==",
                "state": body["state"],
                "description": body["description"],
                "target_url": body["target_url"],
                "context": body["context"],
                "created_at": "2026-12-06T23:00:00Z",
                "updated_at": "2026-12-06T23:00:00Z",
                "creator": { "login": "github-actions[bot]", "id": 41898282, "type": "Bot" }
            })
            .to_string(),
        ),
        _ => Resp::json(
            404,
            r#"{"message":"Not Found","documentation_url":"https://docs.github.com/rest"}"#,
        ),
    }
}

/// A repository whose qa ledger is at api 1.4.2, with the qa head at api 1.4.3 (committed
/// with `message`); `github` is the policy's `integrations.github` value.
fn repo(github: &str, message: &str, gates: &str) -> (TestRepo, String) {
    let policy = format!(
        r#"version: 1
environments:
  qa: {{ branch: qa, pipeline: [deploy] }}
  prod: {{ branch: prod, pipeline: [deploy] }}
gates:
  approvals: {{ required: 0 }}
{gates}steps:
  deploy:
    run: ["sh", "-c", "echo deploying $GITOPS_SERVICE; exit ${{DEPLOY_EXIT:-0}}"]
    timeout: 1m
integrations:
  github: {github}
"#
    );
    let mut t = TestRepo::empty();
    let head = t.deployed_then_bump(&policy, message);
    (t, head.to_string())
}

/// `command` (plan or run) as a `workflow_dispatch` job on `qa` calls it.
fn actions(t: &TestRepo, command: &str, head: &str, api: &str) -> assert_cmd::Command {
    let mut c = gate(t.dir.path());
    let d = t.dir.path();
    c.env("GITHUB_ACTIONS", "true")
        .env("GITHUB_EVENT_NAME", "workflow_dispatch")
        .env("GITHUB_REF", "refs/heads/qa")
        .env("GITHUB_SHA", head)
        .env("GITHUB_REPOSITORY", "acme/deploys")
        .env("GITHUB_SERVER_URL", "https://github.com")
        .env("GITHUB_RUN_ID", "777")
        .env("GITHUB_ACTOR", "alice")
        .env("GITHUB_API_URL", api)
        .env("GITHUB_TOKEN", TOKEN)
        .env("GITHUB_OUTPUT", d.join("github_output"))
        .env("GITHUB_STEP_SUMMARY", d.join("step_summary"))
        .arg(command)
        .arg("--repo")
        .arg(t.path())
        .args(["--no-fetch", "--out"])
        .arg(t.out());
    c
}

/// (method path, body) of every request.
fn calls(f: &Fake) -> Vec<(String, Value)> {
    f.requests()
        .iter()
        .map(|s| {
            (
                format!("{} {}", s.method, s.url),
                serde_json::from_str(&s.body).unwrap_or(Value::Null),
            )
        })
        .collect()
}

/// The token appears nowhere the job shows or keeps: stdout, stderr, the out folder, the
/// step summary and outputs.
fn no_token(t: &TestRepo, stdout: &str, stderr: &str) {
    assert!(!stdout.contains(TOKEN) && !stderr.contains(TOKEN));
    let mut files = vec![
        t.dir.path().join("github_output"),
        t.dir.path().join("step_summary"),
    ];
    if let Ok(rd) = std::fs::read_dir(t.out()) {
        files.extend(rd.flatten().map(|e| e.path()));
    }
    for f in files {
        if let Ok(text) = std::fs::read_to_string(&f) {
            assert!(!text.contains(TOKEN), "the token is in {}", f.display());
        }
    }
}

fn status(head: &str) -> String {
    format!("POST /repos/acme/deploys/statuses/{head}")
}
const DEPLOYMENTS: &str = "POST /repos/acme/deploys/deployments";
const DEPLOYMENT_STATUSES: &str = "POST /repos/acme/deploys/deployments/4242/statuses";

#[test]
fn a_run_sets_pending_then_mirrors_the_deployment_queued_in_progress_success() {
    let gh = Fake::start(2, github_answer);
    let (t, head) = repo(
        "{ deployments: true, statuses: warn }",
        "OPS-2: api 1.4.3",
        "",
    );
    let (code, stdout, stderr) = run(actions(&t, "run", &head, &gh.url));
    assert_eq!(code, 0, "{stderr}");
    no_token(&t, &stdout, &stderr);
    let digest = read_json(&t.out().join("plan.json"))["digest"].clone();
    let calls = calls(&gh);
    let expected = [
        (
            status(&head),
            json!({
                "state": "pending",
                "context": "gitops-gate/qa",
                "description": "allowed: 1 service to deploy to qa; the run sets the result",
                "target_url": RUN_URL,
            }),
        ),
        (
            DEPLOYMENTS.to_string(),
            json!({
                "ref": head,
                "task": "deploy",
                "environment": "qa",
                "auto_merge": false,
                "required_contexts": [],
                "transient_environment": false,
                "production_environment": false,
                "description": "1 service to deploy to qa",
                "payload": {
                    "plan_digest": digest,
                    "services": [ { "service": "api", "version": "1.4.3", "from": "1.4.2" } ],
                },
            }),
        ),
        (
            DEPLOYMENT_STATUSES.to_string(),
            json!({
                "state": "queued",
                "description": "1 service to deploy to qa",
                "auto_inactive": false,
                "log_url": RUN_URL,
                "environment_url": "https://api.example.com",
            }),
        ),
        (
            DEPLOYMENT_STATUSES.to_string(),
            json!({
                "state": "in_progress",
                "description": "deploying api 1.4.3",
                "auto_inactive": false,
                "log_url": RUN_URL,
                "environment_url": "https://api.example.com",
            }),
        ),
        (
            DEPLOYMENT_STATUSES.to_string(),
            json!({
                "state": "success",
                "description": "deployed to qa: api 1.4.3",
                "auto_inactive": true,
                "log_url": RUN_URL,
                "environment_url": "https://api.example.com",
            }),
        ),
        (
            status(&head),
            json!({
                "state": "success",
                "context": "gitops-gate/qa",
                "description": "deployed to qa: api 1.4.3",
                "target_url": RUN_URL,
            }),
        ),
    ];
    assert_eq!(calls, expected);
    assert_eq!(read_json(&t.out().join("run.json"))["result"], "succeeded");
}

#[test]
fn a_failed_run_ends_in_failure_and_keeps_the_last_good_deployment_active() {
    let gh = Fake::start(2, github_answer);
    let (t, head) = repo(
        "{ deployments: true, statuses: required }",
        "OPS-2: api 1.4.3",
        "",
    );
    let mut c = actions(&t, "run", &head, &gh.url);
    c.env("DEPLOY_EXIT", "1");
    let (code, stdout, stderr) = run(c);
    assert_eq!(code, 3, "{stderr}");
    no_token(&t, &stdout, &stderr);
    let calls = calls(&gh);
    let states: Vec<(&str, &str)> = calls
        .iter()
        .map(|(p, b)| {
            (
                if p.contains("/deployments") {
                    "deployment"
                } else {
                    "commit"
                },
                b["state"].as_str().unwrap_or("create"),
            )
        })
        .collect();
    assert_eq!(
        states,
        [
            ("commit", "pending"),
            ("deployment", "create"),
            ("deployment", "queued"),
            ("deployment", "in_progress"),
            ("deployment", "failure"),
            ("commit", "failure"),
        ]
    );
    let last = &calls[4].1;
    assert_eq!(last["auto_inactive"], false);
    assert_eq!(last["log_url"], RUN_URL);
    let description = calls[5].1["description"].as_str().unwrap();
    assert!(
        description.starts_with("stage `deploy` of api failed: "),
        "{description}"
    );
    assert_eq!(calls[4].1["description"], calls[5].1["description"]);
    assert!(description.chars().count() <= 140);
}

#[test]
fn plan_sets_pending_when_stages_will_run() {
    let gh = Fake::start(2, github_answer);
    let (t, head) = repo("{ statuses: warn }", "OPS-2: api 1.4.3", "");
    let (code, stdout, stderr) = run(actions(&t, "plan", &head, &gh.url));
    assert_eq!(code, 0, "{stderr}");
    no_token(&t, &stdout, &stderr);
    assert_eq!(
        calls(&gh),
        [(
            status(&head),
            json!({
                "state": "pending",
                "context": "gitops-gate/qa",
                "description": "allowed: 1 service to deploy to qa; the run sets the result",
                "target_url": RUN_URL,
            })
        )]
    );
}

#[test]
fn plan_sets_failure_with_the_first_reason_when_rejected() {
    let gh = Fake::start(2, github_answer);
    let (t, head) = repo(
        "{ statuses: warn }",
        "OPS-2: api 1.4.3",
        "  committers: [\"bob@example.com\"]\n",
    );
    let (code, stdout, stderr) = run(actions(&t, "plan", &head, &gh.url));
    assert_eq!(code, 1, "{stderr}");
    no_token(&t, &stdout, &stderr);
    let plan = read_json(&t.out().join("plan.json"));
    let first = plan["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["verdict"] == "fail")
        .unwrap()
        .clone();
    assert_eq!(first["rule"], "committers");
    let calls = calls(&gh);
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].0, status(&head));
    let body = &calls[0].1;
    assert_eq!(body["state"], "failure");
    assert_eq!(body["context"], "gitops-gate/qa");
    assert_eq!(body["target_url"], RUN_URL);
    let d = body["description"].as_str().unwrap();
    let whole = format!("committers: {}", first["detail"].as_str().unwrap());
    let whole = whole.split_whitespace().collect::<Vec<_>>().join(" ");
    // Cut at 140 characters when longer: `one_line`'s unit test.
    assert_eq!(d, whole);
}

#[test]
fn plan_sets_success_when_nothing_will_run() {
    let gh = Fake::start(2, github_answer);
    let (t, head) = repo("{ statuses: warn }", "OPS-2: api 1.4.3 [skip deploy]", "");
    let (code, _, stderr) = run(actions(&t, "plan", &head, &gh.url));
    assert_eq!(code, 0, "{stderr}");
    let plan = read_json(&t.out().join("plan.json"));
    assert_eq!(plan["decision"], "skip");
    assert_eq!(
        calls(&gh),
        [(
            status(&head),
            json!({
                "state": "success",
                "context": "gitops-gate/qa",
                "description": plan["reason"],
                "target_url": RUN_URL,
            })
        )]
    );
}

#[test]
fn a_rejected_run_sets_failure_and_runs_nothing() {
    let gh = Fake::start(2, github_answer);
    let (t, head) = repo(
        "{ deployments: true, statuses: warn }",
        "OPS-2: api 1.4.3",
        "  committers: [\"bob@example.com\"]\n",
    );
    let (code, _, stderr) = run(actions(&t, "run", &head, &gh.url));
    assert_eq!(code, 1, "{stderr}");
    let calls = calls(&gh);
    assert_eq!(
        calls.len(),
        1,
        "no deployment for a rejected push: {calls:?}"
    );
    assert_eq!(calls[0].1["state"], "failure");
    assert!(calls[0].1["description"]
        .as_str()
        .unwrap()
        .starts_with("committers: "));
}

#[test]
fn without_statuses_or_deployments_github_is_not_called() {
    let gh = Fake::start(2, github_answer);
    let (t, head) = repo("{ timeout: 5s }", "OPS-2: api 1.4.3", "");
    let (code, _, _) = run(actions(&t, "run", &head, &gh.url));
    assert_eq!(code, 0);
    assert!(gh.requests().is_empty());
}

/// A closed port: GitHub is down.
fn down() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    format!("http://127.0.0.1:{port}")
}

#[test]
fn github_down_is_a_warning_under_warn() {
    let api = down();
    let (t, head) = repo(
        "{ deployments: true, statuses: warn }",
        "OPS-2: api 1.4.3",
        "",
    );
    let (code, stdout, stderr) = run(actions(&t, "plan", &head, &api));
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("the commit status gitops-gate/qa of ")
            && stderr.contains("was not set to pending (a warning"),
        "{stderr}"
    );
    no_token(&t, &stdout, &stderr);
    let (code, stdout, stderr) = run(actions(&t, "run", &head, &api));
    assert_eq!(code, 0, "the deploy goes on: {stderr}");
    assert!(stderr.contains("[deploy api]"), "{stderr}");
    assert!(stderr.contains("GitHub deployment not created"), "{stderr}");
    assert!(
        stderr.contains("was not set to success (a warning"),
        "{stderr}"
    );
    no_token(&t, &stdout, &stderr);
}

#[test]
fn github_down_fails_closed_under_required() {
    let api = down();
    let (t, head) = repo("{ statuses: required }", "OPS-2: api 1.4.3", "");
    let (code, stdout, stderr) = run(actions(&t, "plan", &head, &api));
    assert_eq!(code, 4, "{stderr}");
    assert!(
        stderr.contains("the commit status gitops-gate/qa of ")
            && stderr.contains("was not set to pending: GitHub is unavailable")
            && stderr.contains("cannot connect (http://127.0.0.1)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("hint: integrations.github.statuses is `required`"),
        "{stderr}"
    );
    no_token(&t, &stdout, &stderr);

    // `run` stops before its first stage: nothing deployed, the ledger where it was.
    let ledger = t.repo.ref_target("refs/gitops-gate/deployed/qa");
    let (code, stdout, stderr) = run(actions(&t, "run", &head, &api));
    assert_eq!(code, 4, "{stderr}");
    assert!(!stderr.contains("[deploy api]"), "{stderr}");
    assert!(!stdout.contains("deploying api"), "{stdout}");
    assert_eq!(t.repo.ref_target("refs/gitops-gate/deployed/qa"), ledger);
    no_token(&t, &stdout, &stderr);
}

#[test]
fn a_token_without_statuses_write_fails_closed_under_required() {
    let gh = Fake::start(2, |s, n| {
        if s.path().starts_with("/repos/acme/deploys/statuses/") {
            Resp::json(
                403,
                r#"{"message":"Resource not accessible by integration","documentation_url":"https://docs.github.com/rest/commits/statuses#create-a-commit-status","status":"403"}"#,
            )
        } else {
            github_answer(s, n)
        }
    });
    let (t, head) = repo("{ statuses: required }", "OPS-2: api 1.4.3", "");
    let (code, stdout, stderr) = run(actions(&t, "plan", &head, &gh.url));
    assert_eq!(code, 4, "{stderr}");
    assert!(stderr.contains("HTTP 403"), "{stderr}");
    assert_eq!(
        gh.count(&format!("/repos/acme/deploys/statuses/{head}")),
        1,
        "not retried"
    );
    no_token(&t, &stdout, &stderr);
}

#[test]
fn required_without_a_token_is_a_set_up_error() {
    let gh = Fake::start(2, github_answer);
    let (t, head) = repo("{ statuses: required }", "OPS-2: api 1.4.3", "");
    let mut c = actions(&t, "plan", &head, &gh.url);
    c.env_remove("GITHUB_TOKEN");
    let (code, _, stderr) = run(c);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("no GITHUB_TOKEN"), "{stderr}");
    assert!(gh.requests().is_empty());
}

#[test]
fn outside_actions_nothing_is_written() {
    let gh = Fake::start(2, github_answer);
    let (t, head) = repo(
        "{ deployments: true, statuses: required }",
        "OPS-2: api 1.4.3",
        "",
    );
    let mut c = gate(t.dir.path());
    c.env("GITHUB_REPOSITORY", "acme/deploys")
        .env("GITHUB_API_URL", &gh.url)
        .env("GITHUB_TOKEN", TOKEN)
        .args([
            "plan",
            "--no-fetch",
            "--env",
            "qa",
            "--head",
            &head,
            "--repo",
        ])
        .arg(t.path())
        .arg("--out")
        .arg(t.out());
    let (code, _, stderr) = run(c);
    assert_eq!(code, 0, "{stderr}");
    assert!(gh.requests().is_empty());
}

#[test]
fn plan_on_a_pull_request_sets_success_on_its_head_when_allowed() {
    let gh = Fake::start(2, github_answer);
    let (t, head) = repo("{ statuses: warn }", "OPS-2: api 1.4.3", "");
    let base = t.repo.ref_target("refs/gitops-gate/deployed/qa").unwrap();
    let event = t.dir.path().join("event.json");
    std::fs::write(
        &event,
        json!({
            "action": "synchronize",
            "number": 5,
            "pull_request": {
                "number": 5,
                "state": "open",
                "merged": false,
                "merged_at": null,
                "head": { "ref": "bump-api", "sha": head },
                "base": { "ref": "qa", "sha": base.to_string() },
            },
            "sender": { "login": "alice" },
        })
        .to_string(),
    )
    .unwrap();
    let mut c = actions(&t, "plan", &head, &gh.url);
    c.env("GITHUB_EVENT_NAME", "pull_request")
        .env("GITHUB_EVENT_PATH", &event)
        .env("GITHUB_REF", "refs/pull/5/merge")
        // The synthetic merge commit: never the one the status goes on.
        .env("GITHUB_SHA", "1111111111111111111111111111111111111111");
    let (code, _, stderr) = run(c);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(read_json(&t.out().join("plan.json"))["decision"], "deploy");
    assert_eq!(
        calls(&gh),
        [(
            status(&head),
            json!({
                "state": "success",
                "context": "gitops-gate/qa",
                "description": "allowed: 1 service to deploy to qa once merged",
                "target_url": RUN_URL,
            })
        )]
    );
}

/// `statuses` takes the three documented values, and the schema says so.
#[test]
fn statuses_is_off_warn_or_required() {
    let (t, head) = repo("{ statuses: true }", "OPS-2: api 1.4.3", "");
    let mut c = gate(t.dir.path());
    c.args([
        "plan",
        "--no-fetch",
        "--env",
        "qa",
        "--head",
        &head,
        "--repo",
    ])
    .arg(t.path())
    .arg("--out")
    .arg(t.out());
    let (code, _, stderr) = run(c);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("integrations.github.statuses") && stderr.contains("`required`"),
        "{stderr}"
    );
    let (code, schema, _) = run({
        let mut c = gate(t.dir.path());
        c.arg("schema");
        c
    });
    assert_eq!(code, 0);
    let schema: Value = serde_json::from_str(&schema).unwrap();
    let text = schema["gitops.yaml"].to_string();
    assert!(text.contains(r#"["off","warn","required"]"#), "{text}");
}

/// The policy `init` writes shows the key commented; uncommented, it parses as documented.
#[test]
fn init_shows_the_github_integration_commented() {
    let template = include_str!("../templates/init/gitops.yaml");
    let line = template
        .lines()
        .find(|l| l.contains("github: {"))
        .expect("a github line");
    assert_eq!(line, "#   github: { deployments: true, statuses: warn }");
    let policy = format!(
        "version: 1\nenvironments:\n  qa: {{ branch: qa, pipeline: [deploy] }}\nsteps:\n  deploy: {{ run: [\"true\"] }}\nintegrations:\n{}\n",
        line.trim_start_matches('#')
    );
    let p = gitops_gate::config::parse_policy("gitops.yaml", policy.as_bytes()).unwrap();
    let g = p.integrations.github.unwrap();
    assert!(g.deployments);
    assert_eq!(g.statuses, gitops_gate::config::CommitStatuses::Warn);
}

#[test]
fn a_dry_run_writes_nothing() {
    let gh = Fake::start(2, github_answer);
    let (t, head) = repo(
        "{ deployments: true, statuses: required }",
        "OPS-2: api 1.4.3",
        "",
    );
    let mut c = actions(&t, "run", &head, &gh.url);
    c.arg("--dry-run");
    let (code, _, stderr) = run(c);
    assert_eq!(code, 0, "{stderr}");
    assert!(gh.requests().is_empty());
}
