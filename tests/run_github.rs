//! The GitHub deployment mirror against a fake REST API on 127.0.0.1.
use gitops_gate::ci::{Env, Secrets};
use gitops_gate::integrations::github_deployments::Deployments;
use std::sync::{Arc, Mutex};

/// (url, body, Authorization) of every call.
type Calls = Arc<Mutex<Vec<(String, String, Option<String>)>>>;

#[test]
fn creates_a_deployment_then_statuses() {
    let s = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let base = format!("http://{}", s.server_addr().to_ip().unwrap());
    let calls: Calls = Arc::default();
    let c = calls.clone();
    std::thread::spawn(move || {
        for mut r in s.incoming_requests() {
            let mut body = String::new();
            r.as_reader().read_to_string(&mut body).unwrap();
            let auth = r
                .headers()
                .iter()
                .find(|h| h.field.equiv("Authorization"))
                .map(|h| h.value.as_str().to_string());
            c.lock().unwrap().push((r.url().to_string(), body, auth));
            let answer = if r.url() == "/repos/acme/deploys/deployments" {
                r#"{"id": 42}"#
            } else {
                r#"{"id": 1}"#
            };
            let _ = r.respond(tiny_http::Response::from_string(answer).with_status_code(201));
        }
    });
    let secrets = Secrets::from_env(&Env::from_pairs([("GITHUB_TOKEN", "ghs_secret")]), &[]);
    let d = Deployments::new(Some(&base), Some("acme/deploys"), &secrets).unwrap();
    let id = d
        .create("abc123", "qa", "1 service to deploy to qa")
        .unwrap();
    assert_eq!(id, 42);
    d.status(id, "success", Some("https://ci/run/1")).unwrap();
    let calls = calls.lock().unwrap();
    let created: serde_json::Value = serde_json::from_str(&calls[0].1).unwrap();
    assert_eq!(created["auto_merge"], false);
    assert_eq!(created["required_contexts"], serde_json::json!([]));
    assert_eq!(created["ref"], "abc123");
    assert_eq!(calls[0].2.as_deref(), Some("Bearer ghs_secret"));
    assert_eq!(calls[1].0, "/repos/acme/deploys/deployments/42/statuses");
    assert!(calls[1].1.contains("\"success\""));
}
