//! The failure ticket's assignee on JIRA Data Center (users by `name`, searched with
//! `username=`) and on Cloud (by `accountId`, searched with `query=`), through a whole
//! failing `gitops-gate run` against fake JIRA servers on 127.0.0.1.
mod common;
use common::{gate, run, TestRepo};
use std::sync::{Arc, Mutex};

/// (method url, body, Authorization) of every call.
type Calls = Arc<Mutex<Vec<(String, String, Option<String>)>>>;

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    DataCenter,
    Cloud,
}

/// A JIRA of `kind` that knows alice@example.com when `knows_alice`.
fn jira(kind: Kind, knows_alice: bool) -> (String, Calls) {
    let s = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let base = format!("http://{}", s.server_addr().to_ip().unwrap());
    let calls: Calls = Arc::default();
    let c = calls.clone();
    let b = base.clone();
    std::thread::spawn(move || {
        for mut r in s.incoming_requests() {
            let url = r.url().to_string();
            let mut body = String::new();
            r.as_reader().read_to_string(&mut body).unwrap();
            let auth = r
                .headers()
                .iter()
                .find(|h| h.field.equiv("Authorization"))
                .map(|h| h.value.as_str().to_string());
            c.lock()
                .unwrap()
                .push((format!("{} {url}", r.method()), body, auth));
            let path = url.split('?').next().unwrap_or("").to_string();
            let query = url.split_once('?').map(|x| x.1).unwrap_or("").to_string();
            let (code, answer) = match (kind, path.as_str()) {
                (Kind::DataCenter, "/rest/api/2/serverInfo") => (
                    200,
                    format!(
                        r#"{{"baseUrl":"{b}","version":"9.12.2","versionNumbers":[9,12,2],"deploymentType":"DataCenter","buildNumber":9120002,"serverTitle":"Jira"}}"#
                    ),
                ),
                (Kind::Cloud, "/rest/api/2/serverInfo") => (
                    200,
                    format!(
                        r#"{{"baseUrl":"{b}","version":"1001.0.0-SNAPSHOT","versionNumbers":[1001,0,0],"deploymentType":"Cloud","buildNumber":100244,"serverTitle":"Jira"}}"#
                    ),
                ),
                (Kind::DataCenter, "/rest/api/2/user/search") => {
                    // DC needs `username` (it matches user names and emails) and knows no
                    // `query` parameter.
                    if !query.contains("username=") {
                        (
                            400,
                            r#"{"errorMessages":["The username query parameter was not provided"],"errors":{}}"#
                                .to_string(),
                        )
                    } else if knows_alice && query.contains("alice%40example.com") {
                        (
                            200,
                            format!(
                                r#"[{{"self":"{b}/rest/api/2/user?username=alice","key":"JIRAUSER10100","name":"alice","emailAddress":"alice@example.com","displayName":"Alice","active":true,"timeZone":"UTC","locale":"en_US"}}]"#
                            ),
                        )
                    } else {
                        (200, "[]".to_string())
                    }
                }
                (Kind::Cloud, "/rest/api/2/user/search") => {
                    if query.contains("username=") {
                        (
                            400,
                            r#"{"errorMessages":["The query parameter 'username' is not supported in GDPR strict mode."],"errors":{}}"#
                                .to_string(),
                        )
                    } else if knows_alice && query.contains("alice%40example.com") {
                        (
                            200,
                            format!(
                                r#"[{{"self":"{b}/rest/api/2/user?accountId=5b10ac8d82e05b22cc7d4ef5","accountId":"5b10ac8d82e05b22cc7d4ef5","accountType":"atlassian","emailAddress":"alice@example.com","displayName":"Alice","active":true}}]"#
                            ),
                        )
                    } else {
                        (200, "[]".to_string())
                    }
                }
                (_, "/rest/api/2/search") => (
                    200,
                    r#"{"startAt":0,"maxResults":1,"total":0,"issues":[]}"#.to_string(),
                ),
                (_, "/rest/api/2/issue") => (
                    201,
                    format!(
                        r#"{{"id":"10100","key":"OPS-77","self":"{b}/rest/api/2/issue/10100"}}"#
                    ),
                ),
                (_, p) if p.ends_with("/comment") => (201, r#"{"id":"1"}"#.to_string()),
                _ => (404, r#"{"errorMessages":["not found"]}"#.to_string()),
            };
            let _ = r.respond(
                tiny_http::Response::from_string(answer)
                    .with_status_code(code)
                    .with_header(
                        "Content-Type: application/json;charset=UTF-8"
                            .parse::<tiny_http::Header>()
                            .unwrap(),
                    ),
            );
        }
    });
    (base, calls)
}

/// qa with a deploy step that fails, a ticket on failure, and `users:` as given.
fn repo(jira_url: &str, users: &str) -> TestRepo {
    let policy = format!(
        r#"version: 1
environments:
  qa: {{ branch: qa, pipeline: [deploy] }}
steps:
  deploy: {{ run: ["sh", "-c", "echo rollout failed; exit 1"], timeout: 1m }}
integrations:
  jira: {{ url: "{jira_url}", ticket_on_failure: {{ project: OPS, type: Bug }}{users} }}
"#
    );
    let mut t = TestRepo::empty();
    t.deployed_then_bump(&policy, "OPS-2: api 1.4.3");
    t
}

fn failing_run(t: &TestRepo, env: &[(&str, &str)]) {
    let mut c = gate(t.dir.path());
    for (k, v) in env {
        c.env(k, v);
    }
    c.arg("run")
        .arg("--repo")
        .arg(t.path())
        .args(["--branch", "qa", "--head", "qa", "--no-fetch", "--out"])
        .arg(t.out());
    let (code, _, stderr) = run(c);
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains("opened OPS-77"), "{stderr}");
}

fn created(calls: &Calls) -> serde_json::Value {
    let calls = calls.lock().unwrap();
    let c: Vec<_> = calls
        .iter()
        .filter(|(u, _, _)| u == "POST /rest/api/2/issue")
        .collect();
    assert_eq!(c.len(), 1, "one ticket: {calls:?}");
    serde_json::from_str(&c[0].1).unwrap()
}

fn user_searches(calls: &Calls) -> Vec<String> {
    calls
        .lock()
        .unwrap()
        .iter()
        .filter(|(u, _, _)| u.starts_with("GET /rest/api/2/user/search"))
        .map(|(u, _, _)| u.clone())
        .collect()
}

#[test]
fn data_center_assigns_the_committer_by_name() {
    let (base, calls) = jira(Kind::DataCenter, true);
    let t = repo(&base, "");
    failing_run(&t, &[("JIRA_PAT", "dc-pat-secret")]);
    let ticket = created(&calls);
    assert_eq!(
        ticket["fields"]["assignee"],
        serde_json::json!({ "name": "alice" }),
        "{ticket}"
    );
    let searches = user_searches(&calls);
    assert_eq!(searches.len(), 1);
    assert!(
        searches[0].contains("username=alice%40example.com") && !searches[0].contains("query="),
        "{searches:?}"
    );
    let calls = calls.lock().unwrap();
    assert!(calls
        .iter()
        .all(|(_, _, a)| a.as_deref() == Some("Bearer dc-pat-secret")));
    assert!(calls
        .iter()
        .any(|(u, b, _)| u == "POST /rest/api/2/issue/OPS-2/comment" && b.contains("failed")));
}

#[test]
fn data_center_falls_back_to_the_users_map_by_name() {
    let (base, calls) = jira(Kind::DataCenter, false);
    let t = repo(&base, ", users: { alice@example.com: asmith }");
    failing_run(&t, &[("JIRA_PAT", "dc-pat-secret")]);
    assert_eq!(
        created(&calls)["fields"]["assignee"],
        serde_json::json!({ "name": "asmith" })
    );
}

#[test]
fn cloud_assigns_by_account_id_and_searches_with_query() {
    let (base, calls) = jira(Kind::Cloud, true);
    let t = repo(&base, "");
    failing_run(
        &t,
        &[
            ("JIRA_EMAIL", "bot@example.com"),
            ("JIRA_API_TOKEN", "cloud-token"),
        ],
    );
    assert_eq!(
        created(&calls)["fields"]["assignee"],
        serde_json::json!({ "accountId": "5b10ac8d82e05b22cc7d4ef5" })
    );
    let searches = user_searches(&calls);
    assert!(
        searches[0].contains("query=alice%40example.com") && !searches[0].contains("username="),
        "{searches:?}"
    );
}

#[test]
fn cloud_users_map_entries_are_account_ids_and_name_prefix_forces_a_name() {
    let (base, calls) = jira(Kind::Cloud, false);
    let t = repo(&base, ", users: { alice@example.com: \"557058:f58131cb\" }");
    failing_run(&t, &[("JIRA_PAT", "x-pat-secret")]);
    assert_eq!(
        created(&calls)["fields"]["assignee"],
        serde_json::json!({ "accountId": "557058:f58131cb" })
    );
    let (base, calls) = jira(Kind::Cloud, false);
    let t = repo(&base, ", users: { alice@example.com: \"name:alice\" }");
    failing_run(&t, &[("JIRA_PAT", "x-pat-secret")]);
    assert_eq!(
        created(&calls)["fields"]["assignee"],
        serde_json::json!({ "name": "alice" })
    );
}
