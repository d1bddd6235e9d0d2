//! `gitops-gate run` handing stages to Jenkins end to end: `--handoff jenkins` and
//! `steps.<name>.jenkins`, against a server on 127.0.0.1 that behaves as Jenkins does (crumb
//! with its session cookie, 201 + Location, a queue item without then with `executable`, a
//! build `building: true` then with a result, folder paths, the build's parameters).
mod common;
use common::{gate, read_json, run, TestRepo};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone)]
struct Build {
    /// `/job/team/job/smoke%20test`.
    job: String,
    params: Vec<(String, String)>,
    queue_polls: u32,
    build_polls: u32,
}

#[derive(Default)]
struct State {
    builds: Vec<Build>,
    health: u32,
}

fn header(r: &tiny_http::Request, name: &'static str) -> Option<String> {
    r.headers()
        .iter()
        .find(|h| h.field.equiv(name))
        .map(|h| h.value.as_str().to_string())
}

/// Jenkins with the jobs `results` names (job path -> result), plus `/healthz` (200).
fn jenkins(results: &[(&str, &'static str)]) -> (String, Arc<Mutex<State>>) {
    let s = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let base = format!("http://{}", s.server_addr().to_ip().unwrap());
    let results: BTreeMap<String, &'static str> =
        results.iter().map(|(j, r)| (j.to_string(), *r)).collect();
    let state = Arc::new(Mutex::new(State::default()));
    let st = state.clone();
    let b = base.clone();
    std::thread::spawn(move || {
        for mut r in s.incoming_requests() {
            let url = r.url().to_string();
            let mut st = st.lock().unwrap();
            let json = |v: serde_json::Value| {
                tiny_http::Response::from_string(v.to_string()).with_header(
                    "Content-Type: application/json"
                        .parse::<tiny_http::Header>()
                        .unwrap(),
                )
            };
            let auth_ok =
                header(&r, "Authorization").as_deref() == Some("Basic dXNlcjp0b2tlbjEyMzQ=");
            let resp = if url == "/healthz" {
                st.health += 1;
                tiny_http::Response::from_string("ok")
            } else if !auth_ok {
                tiny_http::Response::from_string("unauthorized").with_status_code(401)
            } else if url == "/crumbIssuer/api/json" {
                json(serde_json::json!({"crumb": "c0ffee", "crumbRequestField": "Jenkins-Crumb"}))
                    .with_header(
                        "Set-Cookie: JSESSIONID.abc=sess1; Path=/; HttpOnly"
                            .parse::<tiny_http::Header>()
                            .unwrap(),
                    )
            } else if let Some(job) = url.strip_suffix("/buildWithParameters") {
                if header(&r, "Jenkins-Crumb").as_deref() != Some("c0ffee")
                    || header(&r, "Cookie").as_deref() != Some("JSESSIONID.abc=sess1")
                {
                    tiny_http::Response::from_string("No valid crumb was included in the request")
                        .with_status_code(403)
                } else if !results.contains_key(job) {
                    tiny_http::Response::from_string("Not Found").with_status_code(404)
                } else {
                    let mut body = String::new();
                    r.as_reader().read_to_string(&mut body).unwrap();
                    st.builds.push(Build {
                        job: job.to_string(),
                        params: form::parse(&body),
                        queue_polls: 0,
                        build_polls: 0,
                    });
                    let n = st.builds.len();
                    tiny_http::Response::from_string("")
                        .with_status_code(201)
                        .with_header(
                            format!("Location: {b}/queue/item/{n}/")
                                .parse::<tiny_http::Header>()
                                .unwrap(),
                        )
                }
            } else if let Some(n) = url
                .strip_prefix("/queue/item/")
                .and_then(|r| r.strip_suffix("/api/json"))
                .and_then(|n| n.parse::<usize>().ok())
                .filter(|n| (1..=st.builds.len()).contains(n))
            {
                let build = &mut st.builds[n - 1];
                build.queue_polls += 1;
                if build.queue_polls < 2 {
                    json(
                        serde_json::json!({"cancelled": false, "executable": null, "why": "Waiting for next available executor"}),
                    )
                } else {
                    json(
                        serde_json::json!({"executable": {"number": n, "url": format!("{b}{}/{n}/", build.job)}}),
                    )
                }
            } else if let Some(n) = (0..st.builds.len())
                .find(|i| url.starts_with(&format!("{}/{}/api/json", st.builds[*i].job, i + 1)))
            {
                let number = n + 1;
                let result = results[&st.builds[n].job];
                let build = &mut st.builds[n];
                let burl = format!("{b}{}/{number}/", build.job);
                if url.contains("tree=actions") {
                    let params: Vec<serde_json::Value> = build
                        .params
                        .iter()
                        .map(|(k, v)| serde_json::json!({"name": k, "value": v}))
                        .collect();
                    json(serde_json::json!({"actions": [{}, {"parameters": params}]}))
                } else {
                    build.build_polls += 1;
                    if build.build_polls < 2 {
                        json(
                            serde_json::json!({"building": true, "result": null, "number": number}),
                        )
                    } else {
                        json(
                            serde_json::json!({"building": false, "result": result, "number": number, "url": burl}),
                        )
                    }
                }
            } else {
                tiny_http::Response::from_string("Not Found").with_status_code(404)
            };
            let _ = r.respond(resp);
        }
    });
    (base, state)
}

mod form {
    pub fn parse(body: &str) -> Vec<(String, String)> {
        body.split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (dec(k), dec(v))
            })
            .collect()
    }
    fn dec(s: &str) -> String {
        let b = s.replace('+', " ");
        let bytes = b.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'%' && i + 2 < bytes.len() {
                out.push(u8::from_str_radix(&b[i + 1..i + 3], 16).unwrap());
                i += 3;
            } else {
                out.push(bytes[i]);
                i += 1;
            }
        }
        String::from_utf8(out).unwrap()
    }
}

/// qa runs deploy, healthcheck, smoke; smoke is `steps.smoke.jenkins: "team/smoke test"`,
/// deploy is a local command appending to `local.log` (which a hand-off replaces).
fn repo(base: &str) -> (TestRepo, String) {
    let mut t = TestRepo::empty();
    let log = t.dir.path().join("local.log");
    let policy = format!(
        r#"version: 1
environments:
  qa: {{ branch: qa, pipeline: [deploy, healthcheck, smoke] }}
steps:
  smoke: {{ jenkins: "team/smoke test", timeout: 1m }}
  deploy: {{ run: ["sh", "-c", "echo local-deploy >> {}"], timeout: 1m }}
  healthcheck: {{ url_base: "{base}" }}
integrations:
  jenkins: {{ url: "{base}" }}
"#,
        log.display()
    );
    let head = t.deployed_then_bump(&policy, "OPS-2: api 1.4.3");
    (t, head.to_string())
}

fn run_cmd(t: &TestRepo) -> assert_cmd::Command {
    let mut c = gate(t.dir.path());
    c.env("JENKINS_USER", "user")
        .env("JENKINS_API_TOKEN", "token1234")
        .arg("run")
        .arg("--repo")
        .arg(t.path())
        .args(["--branch", "qa", "--head", "qa", "--no-fetch", "--out"])
        .arg(t.out());
    c
}

fn param<'a>(b: &'a Build, name: &str) -> Option<&'a str> {
    b.params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

#[test]
fn handoff_jenkins_runs_each_stage_as_a_jenkins_build_and_records_it() {
    let (base, state) = jenkins(&[
        ("/job/deploy", "SUCCESS"),
        ("/job/team/job/smoke%20test", "SUCCESS"),
    ]);
    let (t, head) = repo(&base);
    let mut c = run_cmd(&t);
    c.args(["--handoff", "jenkins"]);
    let (code, _, stderr) = run(c);
    assert_eq!(code, 0, "{stderr}");
    assert!(!stderr.contains("token1234"), "the token never shows");
    assert_eq!(
        local_deploys(&t),
        0,
        "the hand-off replaced the local command"
    );

    let plan = read_json(&t.out().join("plan.json"));
    let digest = plan["digest"].as_str().unwrap().to_string();
    let st = state.lock().unwrap();
    let jobs: Vec<&str> = st.builds.iter().map(|b| b.job.as_str()).collect();
    // deploy goes to the job named after the step; smoke to its folder job; the healthcheck
    // stays built in.
    assert_eq!(jobs, vec!["/job/deploy", "/job/team/job/smoke%20test"]);
    assert!(st.health >= 1, "the built-in healthcheck ran");
    let deploy = &st.builds[0];
    assert_eq!(param(deploy, "SERVICE"), Some("api"));
    assert_eq!(param(deploy, "VERSION"), Some("1.4.3"));
    assert_eq!(param(deploy, "ACTION"), Some("deploy"));
    assert_eq!(param(deploy, "GITOPS_RUN_ID"), Some(digest.as_str()));
    assert_eq!(param(&st.builds[1], "GITOPS_RUN_ID"), Some(digest.as_str()));
    assert_eq!(param(&st.builds[1], "SERVICE"), Some("api"));
    for b in &st.builds {
        assert_eq!(b.queue_polls, 2, "followed the queue item: {b:?}");
        assert_eq!(b.build_polls, 2, "polled the build to its result: {b:?}");
    }

    let rec = read_json(&t.out().join("run.json"));
    assert_eq!(rec["result"], "succeeded");
    assert_eq!(rec["ledger"], "moved");
    let stages = rec["stages"].as_array().unwrap();
    let ids: Vec<&str> = stages.iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        [
            "notify-start",
            "deploy",
            "healthcheck",
            "smoke",
            "notify-end"
        ]
    );
    assert_eq!(stages[1]["url"], format!("{base}/job/deploy/1/"));
    assert_eq!(
        stages[3]["url"],
        format!("{base}/job/team/job/smoke%20test/2/")
    );
    assert!(stages[1]["detail"]
        .as_str()
        .unwrap()
        .contains("Jenkins build #1"));
    assert_eq!(
        t.repo
            .ref_target("refs/gitops-gate/deployed/qa")
            .unwrap()
            .to_string(),
        head
    );
}

#[test]
fn a_failed_jenkins_build_stops_the_run_with_exit_3() {
    let (base, state) = jenkins(&[
        ("/job/deploy", "FAILURE"),
        ("/job/team/job/smoke%20test", "SUCCESS"),
    ]);
    let (t, _) = repo(&base);
    let ledger = t.repo.ref_target("refs/gitops-gate/deployed/qa").unwrap();
    let mut c = run_cmd(&t);
    c.args(["--handoff", "jenkins"]);
    let (code, _, stderr) = run(c);
    assert_eq!(code, 3);
    assert!(stderr.contains("FAILURE"), "{stderr}");
    let st = state.lock().unwrap();
    assert_eq!(
        st.builds.len(),
        1,
        "nothing after the failed deploy was triggered"
    );
    assert_eq!(st.health, 0);
    let rec = read_json(&t.out().join("run.json"));
    assert_eq!(rec["result"], "failed");
    let results: Vec<&str> = rec["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["result"].as_str().unwrap())
        .collect();
    assert_eq!(
        results,
        ["succeeded", "failed", "skipped", "skipped", "succeeded"]
    );
    assert_eq!(
        t.repo.ref_target("refs/gitops-gate/deployed/qa"),
        Some(ledger),
        "the ledger stays"
    );
}

fn local_deploys(t: &TestRepo) -> usize {
    std::fs::read_to_string(t.dir.path().join("local.log"))
        .unwrap_or_default()
        .lines()
        .count()
}

#[test]
fn without_handoff_the_command_runs_locally_and_only_jenkins_steps_go_to_jenkins() {
    let (base, state) = jenkins(&[
        ("/job/deploy", "SUCCESS"),
        ("/job/team/job/smoke%20test", "SUCCESS"),
    ]);
    let (t, _) = repo(&base);
    let (code, _, stderr) = run(run_cmd(&t));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(local_deploys(&t), 1);
    let st = state.lock().unwrap();
    let jobs: Vec<&str> = st.builds.iter().map(|b| b.job.as_str()).collect();
    assert_eq!(jobs, vec!["/job/team/job/smoke%20test"]);
}
