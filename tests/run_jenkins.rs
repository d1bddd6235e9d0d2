//! The Jenkins client against a server on 127.0.0.1 that behaves as Jenkins does: a crumb
//! required (403 first), 201 + Location, a queue item without then with `executable`, a build
//! `building: true` then with a result, folder paths, 404 for an unknown job.
use gitops_gate::ci::{Env, Secrets};
use gitops_gate::integrations::jenkins::Jenkins;
use gitops_gate::integrations::IntegrationError;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Default)]
struct State {
    triggers: Vec<String>,
    queue_polls: u32,
    build_polls: u32,
    /// Parameter names the job defines (others are dropped, as Jenkins does).
    defined: Vec<String>,
    sent: Vec<(String, String)>,
}

fn header(r: &tiny_http::Request, name: &'static str) -> Option<String> {
    r.headers()
        .iter()
        .find(|h| h.field.equiv(name))
        .map(|h| h.value.as_str().to_string())
}

fn jenkins(defined: &[&str], result: &'static str) -> (String, Arc<Mutex<State>>) {
    let s = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let base = format!("http://{}", s.server_addr().to_ip().unwrap());
    let state = Arc::new(Mutex::new(State {
        defined: defined.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    }));
    let st = state.clone();
    let b = base.clone();
    std::thread::spawn(move || {
        for mut r in s.incoming_requests() {
            let url = r.url().to_string();
            let auth_ok =
                header(&r, "Authorization").as_deref() == Some("Basic dXNlcjp0b2tlbjEyMzQ=");
            let mut st = st.lock().unwrap();
            let json = |v: serde_json::Value| {
                tiny_http::Response::from_string(v.to_string()).with_header(
                    "Content-Type: application/json"
                        .parse::<tiny_http::Header>()
                        .unwrap(),
                )
            };
            let resp = if !auth_ok {
                tiny_http::Response::from_string("unauthorized").with_status_code(401)
            } else if url == "/crumbIssuer/api/json" {
                json(serde_json::json!({"crumb": "c0ffee", "crumbRequestField": "Jenkins-Crumb"}))
                    .with_header(
                        "Set-Cookie: JSESSIONID.abc=sess1; Path=/; HttpOnly"
                            .parse::<tiny_http::Header>()
                            .unwrap(),
                    )
            } else if url == "/job/team/job/deploy%20app/buildWithParameters" {
                let crumb = header(&r, "Jenkins-Crumb");
                let cookie = header(&r, "Cookie");
                if crumb.as_deref() != Some("c0ffee")
                    || cookie.as_deref() != Some("JSESSIONID.abc=sess1")
                {
                    tiny_http::Response::from_string("No valid crumb was included in the request")
                        .with_status_code(403)
                } else {
                    let mut body = String::new();
                    r.as_reader().read_to_string(&mut body).unwrap();
                    st.triggers.push(body.clone());
                    st.sent = url::form_urlencoded_parse(&body);
                    tiny_http::Response::from_string("")
                        .with_status_code(201)
                        .with_header(
                            format!("Location: {b}/queue/item/7/")
                                .parse::<tiny_http::Header>()
                                .unwrap(),
                        )
                }
            } else if url == "/queue/item/7/api/json" {
                st.queue_polls += 1;
                if st.queue_polls < 3 {
                    json(
                        serde_json::json!({"cancelled": false, "executable": null, "why": "Waiting for next available executor"}),
                    )
                } else {
                    json(
                        serde_json::json!({"executable": {"number": 12, "url": format!("{b}/job/team/job/deploy%20app/12/")}}),
                    )
                }
            } else if url
                == "/job/team/job/deploy%20app/12/api/json?tree=building,result,url,number"
            {
                st.build_polls += 1;
                if st.build_polls < 3 {
                    json(serde_json::json!({"building": true, "result": null, "number": 12}))
                } else {
                    json(
                        serde_json::json!({"building": false, "result": result, "number": 12, "url": format!("{b}/job/team/job/deploy%20app/12/")}),
                    )
                }
            } else if url.starts_with("/job/team/job/deploy%20app/12/api/json?tree=actions") {
                let params: Vec<serde_json::Value> = st
                    .sent
                    .iter()
                    .filter(|(k, _)| st.defined.contains(k))
                    .map(|(k, v)| serde_json::json!({"name": k, "value": v}))
                    .collect();
                json(serde_json::json!({"actions": [{}, {"parameters": params}]}))
            } else {
                tiny_http::Response::from_string("Not Found").with_status_code(404)
            };
            let _ = r.respond(resp);
        }
    });
    (base, state)
}

mod url {
    pub fn form_urlencoded_parse(body: &str) -> Vec<(String, String)> {
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

fn secrets() -> Secrets {
    Secrets::from_env(
        &Env::from_pairs([("JENKINS_USER", "user"), ("JENKINS_API_TOKEN", "token1234")]),
        &[],
    )
}

fn params() -> BTreeMap<String, String> {
    BTreeMap::from([
        ("GITOPS_RUN_ID".to_string(), "digest-1".to_string()),
        ("SERVICE".to_string(), "api".to_string()),
        ("VERSION".to_string(), "1.4.3".to_string()),
    ])
}

#[test]
fn triggers_with_a_crumb_follows_the_queue_and_the_build_to_success() {
    let (base, state) = jenkins(&["GITOPS_RUN_ID", "SERVICE", "VERSION"], "SUCCESS");
    let sec = secrets();
    let mut j = Jenkins::new(&base, &sec).unwrap();
    j.poll = (Duration::from_millis(10), Duration::from_millis(50));
    let b = j
        .run("team/deploy app", &params(), Duration::from_secs(60))
        .unwrap();
    assert!(b.succeeded());
    assert_eq!(b.number, 12);
    let st = state.lock().unwrap();
    assert_eq!(st.triggers.len(), 1, "triggered exactly once");
    assert!(st.sent.contains(&("SERVICE".into(), "api".into())));
    assert_eq!(st.queue_polls, 3);
    assert_eq!(st.build_polls, 3);
}

#[test]
fn a_failed_build_and_dropped_parameters_fail() {
    let (base, _) = jenkins(&["GITOPS_RUN_ID", "SERVICE", "VERSION"], "FAILURE");
    let sec = secrets();
    let mut j = Jenkins::new(&base, &sec).unwrap();
    j.poll = (Duration::from_millis(10), Duration::from_millis(50));
    let b = j
        .run("team/deploy app", &params(), Duration::from_secs(60))
        .unwrap();
    assert!(!b.succeeded());
    assert_eq!(b.result, "FAILURE");

    let (base, _) = jenkins(&["GITOPS_RUN_ID", "SERVICE"], "SUCCESS");
    let mut j = Jenkins::new(&base, &sec).unwrap();
    j.poll = (Duration::from_millis(10), Duration::from_millis(50));
    let e = j
        .run("team/deploy app", &params(), Duration::from_secs(60))
        .unwrap_err();
    assert!(matches!(e, IntegrationError::BadAnswer(_)), "{e:?}");
    let e = e.to_string();
    assert!(
        e.contains("dropped parameters") && e.contains("VERSION"),
        "{e}"
    );
}

#[test]
fn an_unknown_job_is_a_clear_404_and_secrets_never_leak() {
    let (base, state) = jenkins(&[], "SUCCESS");
    let sec = secrets();
    let mut j = Jenkins::new(&base, &sec).unwrap();
    let e = j
        .run("nope", &params(), Duration::from_secs(10))
        .unwrap_err();
    assert!(matches!(e, IntegrationError::Refused(_)), "{e:?}");
    let e = e.to_string();
    assert!(e.contains("no job `nope`") && e.contains("404"), "{e}");
    assert!(!e.contains("token1234"));
    assert!(state.lock().unwrap().triggers.is_empty());
}
