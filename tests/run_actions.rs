//! `gitops-gate run` inside GitHub Actions (GITHUB_ACTIONS=true): command-step output folded
//! in `::group::`/`::endgroup::` with commit text kept inert, and the run mirrored as a
//! GitHub deployment with statuses against a fake REST API on 127.0.0.1 (the exact bodies,
//! and the commit statuses, are in tests/run_github.rs).
mod common;
use common::{gate, read_json, run, TestRepo};
use std::sync::{Arc, Mutex};

/// (method path, body) of every GitHub API call.
type Calls = Arc<Mutex<Vec<(String, String)>>>;

/// The GitHub REST API (deployments and statuses) and `/healthz` on one server.
fn github() -> (String, Calls) {
    let s = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let base = format!("http://{}", s.server_addr().to_ip().unwrap());
    let calls: Calls = Arc::default();
    let c = calls.clone();
    std::thread::spawn(move || {
        for mut r in s.incoming_requests() {
            let url = r.url().to_string();
            if url == "/healthz" {
                let _ = r.respond(tiny_http::Response::from_string("ok"));
                continue;
            }
            let mut body = String::new();
            r.as_reader().read_to_string(&mut body).unwrap();
            let auth = r
                .headers()
                .iter()
                .find(|h| h.field.equiv("Authorization"))
                .map(|h| h.value.as_str().to_string());
            c.lock()
                .unwrap()
                .push((format!("{} {url}", r.method()), body));
            let (code, answer) = if auth.as_deref() != Some("Bearer ghs_test_token") {
                (401, r#"{"message":"Bad credentials"}"#.to_string())
            } else if url == "/repos/acme/deploys/deployments" {
                (
                    201,
                    r#"{"id": 4242, "url": "https://api.github.com/repos/acme/deploys/deployments/4242", "environment": "qa"}"#
                        .to_string(),
                )
            } else if url == "/repos/acme/deploys/deployments/4242/statuses" {
                (201, r#"{"id": 1, "state": "in_progress"}"#.to_string())
            } else {
                (404, r#"{"message":"Not Found"}"#.to_string())
            };
            let resp = tiny_http::Response::from_string(answer)
                .with_status_code(code)
                .with_header(
                    "Content-Type: application/json; charset=utf-8"
                        .parse::<tiny_http::Header>()
                        .unwrap(),
                );
            let _ = r.respond(resp);
        }
    });
    (base, calls)
}

/// Text a commit author controls, full of workflow commands.
const HOSTILE: &str =
    "::error::pwned by a commit message\n::add-mask::hunter2\n::set-output name=decision::deploy";

fn repo(base: &str, deployments: bool) -> (TestRepo, String) {
    let policy = format!(
        r#"version: 1
environments:
  qa: {{ branch: qa, pipeline: [deploy, healthcheck] }}
steps:
  deploy:
    run: ["sh", "-c", "echo deploying $GITOPS_SERVICE; git log -1 --format=%B \"$GITOPS_COMMIT\"; exit ${{DEPLOY_EXIT:-0}}"]
    timeout: 1m
  healthcheck: {{ url_base: "{base}" }}
integrations:
  github: {{ deployments: {deployments} }}
"#
    );
    let mut t = TestRepo::empty();
    let head = t.deployed_then_bump(&policy, &format!("OPS-2: api 1.4.3\n\n{HOSTILE}\n"));
    (t, head.to_string())
}

/// `run` as a `workflow_dispatch` job on `qa` would call it.
fn actions_run(t: &TestRepo, head: &str, api: &str) -> assert_cmd::Command {
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
        .env("GITHUB_TOKEN", "ghs_test_token")
        .env("GITHUB_OUTPUT", d.join("github_output"))
        .env("GITHUB_STEP_SUMMARY", d.join("step_summary"))
        .arg("run")
        .arg("--repo")
        .arg(t.path())
        .args(["--no-fetch", "--out"])
        .arg(t.out());
    c
}

/// The workflow-command lines the Actions runner would act on in `text`: lines starting
/// with `::` (after leading whitespace), except inside `::stop-commands::T` ... `::T::`.
fn live_commands(text: &str) -> Vec<String> {
    let mut live = Vec::new();
    let mut stopped: Option<String> = None;
    for line in text.lines() {
        let l = line.trim_start();
        if let Some(tok) = &stopped {
            if l == format!("::{tok}::") {
                stopped = None;
                live.push(l.to_string());
            }
            continue;
        }
        if let Some(tok) = l.strip_prefix("::stop-commands::") {
            stopped = Some(tok.to_string());
            live.push(l.to_string());
        } else if l.starts_with("::") {
            live.push(l.to_string());
        }
    }
    live
}

#[test]
fn command_output_is_folded_in_a_group_and_commit_text_stays_inert() {
    let (api, _) = github();
    let (t, head) = repo(&api, false);
    let (code, stdout, stderr) = run(actions_run(&t, &head, &api));
    assert_eq!(code, 0, "{stderr}");
    // The commit text did reach the output (the step printed it), prefixed...
    assert!(
        stderr.contains("[deploy api] ::error::pwned by a commit message"),
        "{stderr}"
    );
    // ...but the runner acts on none of it, on either stream.
    for (name, text) in [("stdout", &stdout), ("stderr", &stderr)] {
        for cmd in live_commands(text) {
            assert!(
                !cmd.contains("pwned") && !cmd.contains("hunter2") && !cmd.contains("set-output"),
                "{name} has a live workflow command from the commit: {cmd}"
            );
        }
    }
    // The group around the step, with the stop-commands fence inside it.
    let lines: Vec<&str> = stderr.lines().collect();
    let open = lines
        .iter()
        .position(|l| *l == "::group::[deploy api]")
        .expect("a ::group:: line for the deploy step");
    let token = lines[open + 1]
        .strip_prefix("::stop-commands::")
        .expect("stop-commands right after the group opens");
    assert!(token.len() >= 32, "a random token: {token}");
    let resume = lines
        .iter()
        .position(|l| *l == format!("::{token}::"))
        .expect("commands resume after the step");
    assert_eq!(lines[resume + 1], "::endgroup::");
    let inside = &lines[open + 2..resume];
    assert!(inside.contains(&"[deploy api] deploying api"), "{inside:?}");
    assert!(
        inside
            .iter()
            .any(|l| l.contains("::error::pwned by a commit message")),
        "the commit text is inside the fence: {inside:?}"
    );
    assert!(
        !lines[..open]
            .iter()
            .chain(&lines[resume..])
            .any(|l| l.starts_with("[deploy api]")),
        "all the step's output is inside the group"
    );
}

#[test]
fn a_run_is_mirrored_as_a_github_deployment_with_statuses() {
    let (api, calls) = github();
    let (t, head) = repo(&api, true);
    let (code, _, stderr) = run(actions_run(&t, &head, &api));
    assert_eq!(code, 0, "{stderr}");
    assert!(!stderr.contains("ghs_test_token"));
    let calls = calls.lock().unwrap().clone();
    let paths: Vec<&str> = calls.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(
        paths,
        [
            "POST /repos/acme/deploys/deployments",
            "POST /repos/acme/deploys/deployments/4242/statuses",
            "POST /repos/acme/deploys/deployments/4242/statuses",
            "POST /repos/acme/deploys/deployments/4242/statuses",
        ]
    );
    let created: serde_json::Value = serde_json::from_str(&calls[0].1).unwrap();
    assert_eq!(created["ref"], head.as_str());
    assert_eq!(created["environment"], "qa");
    assert_eq!(created["auto_merge"], false);
    assert_eq!(created["required_contexts"], serde_json::json!([]));
    let states: Vec<serde_json::Value> = calls[1..]
        .iter()
        .map(|(_, b)| serde_json::from_str(b).unwrap())
        .collect();
    assert_eq!(states[0]["state"], "queued");
    assert_eq!(states[1]["state"], "in_progress");
    assert_eq!(states[2]["state"], "success");
    assert_eq!(
        states[2]["log_url"],
        "https://github.com/acme/deploys/actions/runs/777"
    );
    assert_eq!(read_json(&t.out().join("run.json"))["result"], "succeeded");
}

#[test]
fn a_failed_run_ends_its_github_deployment_in_failure() {
    let (api, calls) = github();
    let (t, head) = repo(&api, true);
    let mut c = actions_run(&t, &head, &api);
    c.env("DEPLOY_EXIT", "1");
    let (code, _, _) = run(c);
    assert_eq!(code, 3);
    let calls = calls.lock().unwrap().clone();
    let states: Vec<String> = calls
        .iter()
        .filter(|(p, _)| p.ends_with("/statuses"))
        .map(|(_, b)| serde_json::from_str::<serde_json::Value>(b).unwrap()["state"].to_string())
        .collect();
    assert_eq!(states, ["\"queued\"", "\"in_progress\"", "\"failure\""]);
}

#[test]
fn without_deployments_true_github_is_not_called() {
    let (api, calls) = github();
    let (t, head) = repo(&api, false);
    let (code, _, _) = run(actions_run(&t, &head, &api));
    assert_eq!(code, 0);
    assert!(calls.lock().unwrap().is_empty());
}
