//! JIRA lookups against a fake JIRA (Cloud and Data Center wire formats) on 127.0.0.1:
//! verdicts, fault handling (fail closed, exit 4), and the end-to-end gate.
mod common;
mod fakes;
use fakes::*;
use gitops_gate::ci::{Env, Secrets};
use gitops_gate::error::Exit;
use gitops_gate::gate::facts::{Approvals, Ticket};
use gitops_gate::integrations::jira::{lookup, Lookup};
use std::time::Duration;

const TOKEN: &str = "atl-T0ken-SECRET-9f8e7d";
const PAT: &str = "dc-pat-SECRET-4455";

fn cloud() -> Secrets {
    Secrets::from_env(
        &Env::from_pairs([("JIRA_EMAIL", "ci@example.com"), ("JIRA_API_TOKEN", TOKEN)]),
        &[],
    )
}

fn run(
    fake: &Fake,
    keys: &[&str],
    approvals: bool,
    secrets: &Secrets,
    timeout: Duration,
) -> Result<std::collections::BTreeMap<String, Ticket>, gitops_gate::error::Failure> {
    let keys: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
    lookup(&Lookup {
        url: &fake.url,
        keys: &keys,
        approvals,
        approval_field: None,
        timeout,
        secrets,
    })
}

fn issue_key(s: &Seen) -> String {
    s.path().rsplit('/').next().unwrap_or("").to_string()
}

#[test]
fn cloud_lookup_reads_status_and_sends_basic_auth() {
    let fake = Fake::start(4, |s, _| {
        let base = "https://example.atlassian.net";
        match issue_key(s).as_str() {
            "OPS-1" => Resp::json(200, jira_issue(base, "OPS-1", "Done", "done")),
            "OPS-2" => Resp::json(200, jira_issue(base, "OPS-2", "In Review", "indeterminate")),
            _ => Resp::json(404, JIRA_404),
        }
    });
    let t = run(
        &fake,
        &["OPS-1", "OPS-2", "OPS-3"],
        false,
        &cloud(),
        Duration::from_secs(5),
    )
    .unwrap();
    assert_eq!(
        t["OPS-1"],
        Ticket::Found {
            status: "Done".into(),
            category: "done".into(),
            approvals: None
        }
    );
    assert!(matches!(&t["OPS-2"], Ticket::Found { category, .. } if category == "indeterminate"));
    assert_eq!(t["OPS-3"], Ticket::NotFound);
    let reqs = fake.requests();
    assert_eq!(reqs.len(), 3, "one request per key");
    let r = &reqs[0];
    assert!(
        r.url.ends_with("?fields=status,assignee,summary,issuetype"),
        "{}",
        r.url
    );
    use base64_encode as b64;
    assert_eq!(
        r.header("Authorization"),
        Some(format!("Basic {}", b64(&format!("ci@example.com:{TOKEN}"))).as_str())
    );
}

/// Minimal base64 so the test does not trust the code under test.
fn base64_encode(s: &str) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let b = s.as_bytes();
    let mut out = String::new();
    for chunk in b.chunks(3) {
        let n = (chunk[0] as u32) << 16
            | (*chunk.get(1).unwrap_or(&0) as u32) << 8
            | *chunk.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn data_center_uses_bearer_pat_and_reads_paged_approvals() {
    let fake = Fake::start(2, |s, _| {
        let p = s.path();
        if p.ends_with("/approval") {
            if s.url.contains("start=0") {
                Resp::json(200, jsm_approvals(&["approved", "pending"], 0, false))
            } else {
                Resp::json(200, jsm_approvals(&["approved"], 2, true))
            }
        } else {
            Resp::json(
                200,
                jira_issue("https://jira.example.com", "PAY-7", "Approved", "done"),
            )
        }
    });
    let secrets = Secrets::from_env(&Env::from_pairs([("JIRA_PAT", PAT)]), &[]);
    let t = run(&fake, &["PAY-7"], true, &secrets, Duration::from_secs(5)).unwrap();
    assert_eq!(
        t["PAY-7"],
        Ticket::Found {
            status: "Approved".into(),
            category: "done".into(),
            approvals: Some(Approvals {
                approved: 2,
                declined: 0,
                pending: 1
            })
        }
    );
    let reqs = fake.requests();
    assert!(reqs
        .iter()
        .all(|r| r.header("Authorization") == Some(&format!("Bearer {PAT}"))));
    let pages: Vec<&str> = reqs
        .iter()
        .filter(|r| r.path().ends_with("/approval"))
        .map(|r| r.url.as_str())
        .collect();
    assert_eq!(pages.len(), 2, "{pages:?}");
    assert!(pages.iter().any(|u| u.contains("start=2")), "{pages:?}");
}

#[test]
fn server_error_is_retried_then_succeeds() {
    let fake = Fake::start(1, |_, n| {
        if n < 2 {
            Resp::json(
                500,
                r#"{"errorMessages":["Internal server error"],"errors":{}}"#,
            )
        } else {
            Resp::json(200, jira_issue("x", "OPS-1", "Done", "done"))
        }
    });
    let t = run(&fake, &["OPS-1"], false, &cloud(), Duration::from_secs(10)).unwrap();
    assert!(matches!(t["OPS-1"], Ticket::Found { .. }));
    assert_eq!(fake.requests().len(), 3);
}

#[test]
fn persistent_500_fails_closed_with_exit_4() {
    let fake = Fake::start(1, |_, _| Resp::json(500, "{}"));
    let e = run(&fake, &["OPS-1"], false, &cloud(), Duration::from_secs(3)).unwrap_err();
    assert_eq!(e.exit, Exit::Unavailable);
    assert!(e.message.contains("HTTP 500"), "{}", e.message);
    assert!(fake.requests().len() >= 2, "retried");
}

#[test]
fn timeout_fails_closed() {
    let fake = Fake::start(4, |_, _| {
        Resp::json(200, jira_issue("x", "OPS-1", "Done", "done")).delay(Duration::from_secs(5))
    });
    let e = run(&fake, &["OPS-1"], false, &cloud(), Duration::from_secs(1)).unwrap_err();
    assert_eq!(e.exit, Exit::Unavailable);
    assert!(e.message.contains("timed out"), "{}", e.message);
}

#[test]
fn rate_limit_without_retry_after_is_retried() {
    let fake = Fake::start(1, |_, n| {
        if n == 0 {
            Resp::json(429, r#"{"errorMessages":["Rate limit exceeded."]}"#)
        } else {
            Resp::json(200, jira_issue("x", "OPS-1", "Done", "done"))
        }
    });
    assert!(run(&fake, &["OPS-1"], false, &cloud(), Duration::from_secs(10)).is_ok());
    assert_eq!(fake.requests().len(), 2);
}

#[test]
fn rate_limit_with_retry_after_is_honoured_or_refused_past_the_deadline() {
    // Retry-After: 1 fits in the deadline: one wait, then the answer.
    let fake = Fake::start(1, |_, n| {
        if n == 0 {
            Resp::json(429, "{}").header("Retry-After", "1")
        } else {
            Resp::json(200, jira_issue("x", "OPS-1", "Done", "done"))
        }
    });
    assert!(run(&fake, &["OPS-1"], false, &cloud(), Duration::from_secs(10)).is_ok());
    assert_eq!(fake.requests().len(), 2);
    // Retry-After: 120 is past a 3 s deadline: no retry storm, exit 4 at once.
    let fake = Fake::start(1, |_, _| Resp::json(429, "{}").header("Retry-After", "120"));
    let e = run(&fake, &["OPS-1"], false, &cloud(), Duration::from_secs(3)).unwrap_err();
    assert_eq!(e.exit, Exit::Unavailable);
    assert!(e.message.contains("past the deadline"), "{}", e.message);
    assert_eq!(fake.requests().len(), 1);
}

#[test]
fn unauthorized_is_exit_4_with_credentials_hint_and_no_retry() {
    let fake = Fake::start(1, |_, _| Resp {
        status: 401,
        headers: vec![
            ("Content-Type".into(), "text/plain;charset=UTF-8".into()),
            (
                "WWW-Authenticate".into(),
                "OAuth realm=\"https%3A%2F%2Fexample.atlassian.net\"".into(),
            ),
        ],
        body: b"Client must be authenticated to access this resource.".to_vec(),
        delay: Duration::ZERO,
    });
    let e = run(&fake, &["OPS-1"], false, &cloud(), Duration::from_secs(5)).unwrap_err();
    assert_eq!(e.exit, Exit::Unavailable);
    assert!(e
        .hint
        .as_deref()
        .unwrap_or("")
        .contains("check JIRA credentials"));
    assert!(!e.message.contains(TOKEN));
    assert_eq!(fake.requests().len(), 1);
}

#[test]
fn truncated_body_is_retried_then_fails_closed() {
    let full = jira_issue("x", "OPS-1", "Done", "done");
    let half = full[..full.len() / 2].to_string();
    let fake = Fake::start(1, move |_, _| Resp::json(200, half.clone()));
    let e = run(&fake, &["OPS-1"], false, &cloud(), Duration::from_secs(3)).unwrap_err();
    assert_eq!(e.exit, Exit::Unavailable);
    assert!(e.message.contains("JSON"), "{}", e.message);
    assert!(fake.requests().len() >= 2);
}

#[test]
fn missing_credentials_fail_closed() {
    let fake = Fake::start(1, |_, _| Resp::json(200, "{}"));
    let e = run(
        &fake,
        &["OPS-1"],
        false,
        &Secrets::default(),
        Duration::from_secs(3),
    )
    .unwrap_err();
    assert_eq!(e.exit, Exit::Unavailable);
    assert!(fake.requests().is_empty());
}

#[test]
fn a_homoglyph_key_never_reaches_the_server() {
    let fake = Fake::start(1, |_, _| {
        Resp::json(200, jira_issue("x", "OPS-1", "Done", "done"))
    });
    // Cyrillic О (U+041E) in place of the Latin O.
    let t = run(
        &fake,
        &["\u{41e}PS-1"],
        false,
        &cloud(),
        Duration::from_secs(3),
    )
    .unwrap();
    assert_eq!(t["\u{41e}PS-1"], Ticket::NotFound);
    assert!(fake.requests().is_empty());
}

// ---- end to end: the binary, a repository, and the fake JIRA ----

fn policy(url: &str, extra: &str) -> String {
    format!(
        "version: 1\nenvironments:\n  qa: {{ branch: qa, pipeline: [deploy] }}\ngates:\n  jira: {{ required: true, projects: [OPS], statuses: [Approved]{extra} }}\nsteps:\n  deploy: {{ run: [\"true\"] }}\nintegrations:\n  jira: {{ url: \"{url}\", timeout: 3s }}\n"
    )
}

fn repo_with(url: &str, extra: &str, message: &str) -> (Git, String) {
    let g = Git::new();
    g.write("gitops.yaml", &policy(url, extra));
    g.write("services/api.yaml", &api("1.0.0"));
    let base = g.commit("OPS-1: initial", "Alice", "alice@example.com", None);
    g.ledger("qa", &base);
    g.write("services/api.yaml", &api("1.0.1"));
    let head = g.commit(message, "Alice", "alice@example.com", None);
    (g, head)
}

fn jira_fake() -> Fake {
    Fake::start(4, |s, _| match issue_key(s).as_str() {
        "OPS-1" => Resp::json(200, jira_issue("x", "OPS-1", "Approved", "done")),
        "OPS-2" => Resp::json(
            200,
            jira_issue("x", "OPS-2", "In Progress", "indeterminate"),
        ),
        _ => Resp::json(404, JIRA_404),
    })
}

const ENV: &[(&str, &str)] = &[("JIRA_EMAIL", "ci@example.com"), ("JIRA_API_TOKEN", TOKEN)];

#[test]
fn e2e_approved_ticket_deploys() {
    let fake = jira_fake();
    let (g, head) = repo_with(&fake.url, "", "OPS-1: bump api");
    let r = plan(&g, &["--env", "qa", "--branch", "qa", "--head", &head], ENV);
    assert_eq!(r.code, 0);
    assert_eq!(r.plan()["decision"], "deploy");
    assert_eq!(r.checks("jira")[0]["verdict"], "pass");
    assert!(r.checks("jira")[0]["detail"]
        .as_str()
        .unwrap()
        .contains("OPS-1 is Approved"));
}

#[test]
fn e2e_missing_ticket_and_wrong_status_reject_naming_the_commit() {
    let fake = jira_fake();
    let (g, head) = repo_with(&fake.url, "", "OPS-99: bump api");
    let r = plan(&g, &["--env", "qa", "--branch", "qa", "--head", &head], ENV);
    assert_eq!(r.code, 1);
    let c = &r.checks("jira")[0];
    assert_eq!(c["verdict"], "fail");
    assert_eq!(c["commit"], head.as_str());
    assert!(
        c["detail"]
            .as_str()
            .unwrap()
            .contains("OPS-99, named by commit"),
        "{c}"
    );

    let (g, head) = repo_with(&fake.url, "", "OPS-2: bump api");
    let r = plan(&g, &["--env", "qa", "--branch", "qa", "--head", &head], ENV);
    assert_eq!(r.code, 1);
    assert!(r.checks("jira")[0]["detail"]
        .as_str()
        .unwrap()
        .contains("is In Progress"));
}

#[test]
fn e2e_homoglyph_key_rejects() {
    let fake = jira_fake();
    let (g, head) = repo_with(&fake.url, "", "\u{41e}PS-1: bump api");
    let r = plan(&g, &["--env", "qa", "--branch", "qa", "--head", &head], ENV);
    assert_eq!(r.code, 1);
    assert!(r.checks("jira")[0]["detail"]
        .as_str()
        .unwrap()
        .contains("name no JIRA ticket"));
}

#[test]
fn e2e_declined_approval_rejects() {
    let fake = Fake::start(2, |s, _| {
        if s.path().ends_with("/approval") {
            Resp::json(200, jsm_approvals(&["approved", "declined"], 0, true))
        } else {
            Resp::json(200, jira_issue("x", "OPS-1", "Approved", "done"))
        }
    });
    let (g, head) = repo_with(&fake.url, ", approvals: 1", "OPS-1: bump api");
    let r = plan(&g, &["--env", "qa", "--branch", "qa", "--head", &head], ENV);
    assert_eq!(r.code, 1);
    assert!(r.checks("jira")[0]["detail"]
        .as_str()
        .unwrap()
        .contains("declined"));
}

#[test]
fn e2e_outage_exits_4_and_no_secret_is_written_anywhere() {
    for status in [401u16, 503] {
        let fake = Fake::start(2, move |_, _| {
            Resp::json(status, r#"{"errorMessages":["nope"]}"#)
        });
        let (g, head) = repo_with(&fake.url, "", "OPS-1: bump api");
        let mut env = ENV.to_vec();
        env.push(("GITOPS_GATE_LOG", "debug"));
        env.push(("GITHUB_TOKEN", "ghp_SECRETgithubTOKEN0001"));
        let r = plan(
            &g,
            &[
                "--env", "qa", "--branch", "qa", "--head", &head, "--format", "json",
            ],
            &env,
        );
        assert_eq!(r.code, 4, "status {status}");
        if status == 401 {
            assert!(r.stderr.contains("check JIRA credentials"), "{}", r.stderr);
        }
        let all = r.everything();
        for secret in [
            TOKEN,
            "ghp_SECRETgithubTOKEN0001",
            &base64_encode(&format!("ci@example.com:{TOKEN}")),
        ] {
            assert!(!all.contains(secret), "secret leaked: {secret}");
        }
        // The token really was sent, so the grep above could have found it.
        assert!(fake
            .requests()
            .iter()
            .any(|s| s.header("Authorization").is_some()));
    }
}

#[test]
fn e2e_success_run_writes_no_secret() {
    let fake = jira_fake();
    let (g, head) = repo_with(&fake.url, "", "OPS-1: bump api");
    let mut env = ENV.to_vec();
    env.push(("GITOPS_GATE_LOG", "debug"));
    let r = plan(
        &g,
        &["--env", "qa", "--branch", "qa", "--head", &head],
        &env,
    );
    assert_eq!(r.code, 0);
    assert!(!r.files.is_empty());
    assert!(!r.everything().contains(TOKEN));
}

#[test]
fn e2e_offline_skips_jira_and_rejects_unless_allowed() {
    let fake = jira_fake();
    let (g, head) = repo_with(&fake.url, "", "OPS-1: bump api");
    let r = plan(
        &g,
        &[
            "--env",
            "qa",
            "--branch",
            "qa",
            "--head",
            &head,
            "--offline",
        ],
        ENV,
    );
    assert_eq!(r.code, 1);
    assert_eq!(r.checks("jira")[0]["verdict"], "skip");
    assert_eq!(r.checks("offline")[0]["verdict"], "fail");
    let md = &r.files.iter().find(|(n, _)| n == "plan.md").unwrap().1;
    assert!(md.contains("**Offline run"), "{md}");
    assert!(fake.requests().is_empty(), "offline makes no calls");

    let g2 = Git::new();
    g2.write(
        "gitops.yaml",
        &policy(&fake.url, "").replace("gates:\n", "gates:\n  offline: allow\n"),
    );
    g2.write("services/api.yaml", &api("1.0.0"));
    let base = g2.commit("OPS-1: initial", "Alice", "alice@example.com", None);
    g2.ledger("qa", &base);
    g2.write("services/api.yaml", &api("1.0.1"));
    let head = g2.commit("OPS-1: bump", "Alice", "alice@example.com", None);
    let r = plan(
        &g2,
        &[
            "--env",
            "qa",
            "--branch",
            "qa",
            "--head",
            &head,
            "--offline",
        ],
        ENV,
    );
    assert_eq!(r.code, 0);
    assert_eq!(r.plan()["decision"], "deploy");
    assert_eq!(r.checks("offline")[0]["verdict"], "warn");
}

#[test]
fn e2e_a_commit_without_ticket_rejects_even_when_jira_is_down() {
    let fake = Fake::start(1, |_, _| Resp::json(503, "{}"));
    let (g, head) = repo_with(&fake.url, "", "bump api, no ticket");
    let r = plan(&g, &["--env", "qa", "--branch", "qa", "--head", &head], ENV);
    assert_eq!(r.code, 1);
    assert!(r.checks("jira")[0]["detail"]
        .as_str()
        .unwrap()
        .contains("name no JIRA ticket"));
    assert!(fake.requests().is_empty());
}

#[test]
fn data_center_captcha_403_is_a_credentials_problem() {
    let fake = Fake::start(1, |_, _| Resp {
        status: 403,
        headers: vec![
            ("Content-Type".into(), "text/html;charset=UTF-8".into()),
            (
                "X-Seraph-LoginReason".into(),
                "AUTHENTICATION_DENIED".into(),
            ),
            (
                "X-Authentication-Denied-Reason".into(),
                "CAPTCHA_CHALLENGE; login-url=https://jira.example.com/login.jsp".into(),
            ),
        ],
        body: b"<html><body>Forbidden</body></html>".to_vec(),
        delay: Duration::ZERO,
    });
    let secrets = Secrets::from_env(&Env::from_pairs([("JIRA_PAT", PAT)]), &[]);
    let e = run(&fake, &["OPS-1"], false, &secrets, Duration::from_secs(3)).unwrap_err();
    assert_eq!(e.exit, Exit::Unavailable);
    assert!(e
        .hint
        .as_deref()
        .unwrap_or("")
        .contains("check JIRA credentials"));
    assert!(!format!("{} {:?}", e.message, e.hint).contains(PAT));
    assert_eq!(fake.requests().len(), 1);
}

// ---- approvals from a custom field, status categories ----

const FIELD: &str = "customfield_10050";

/// An issue as JIRA returns it when `fields=...,customfield_10050` is asked for: the
/// field's value, or no key at all when `value` is `None` (JIRA omits unknown fields).
fn issue_with_field(key: &str, status: &str, category: &str, value: Option<&str>) -> String {
    let mut v: serde_json::Value = serde_json::from_str(&jira_issue(
        "https://example.atlassian.net",
        key,
        status,
        category,
    ))
    .unwrap();
    if let Some(val) = value {
        v["fields"][FIELD] = serde_json::from_str(val).unwrap();
    }
    v.to_string()
}

/// The values of a Jira Service Management "Approvals" field: one approval object per
/// decision, as the field carries them in the issue JSON.
fn jsm_field(decisions: &[&str]) -> String {
    let page: serde_json::Value = serde_json::from_str(&jsm_approvals(decisions, 0, true)).unwrap();
    page["values"].to_string()
}

const USERS: &str = r#"[{"self":"https://example.atlassian.net/rest/api/2/user?accountId=5b10a2844c20165700ede21g","accountId":"5b10a2844c20165700ede21g","avatarUrls":{},"displayName":"Mia Krystof","active":true,"timeZone":"Europe/Berlin","accountType":"atlassian"},{"self":"https://example.atlassian.net/rest/api/2/user?accountId=5b10ac8d82e05b22cc7d4ef5","accountId":"5b10ac8d82e05b22cc7d4ef5","avatarUrls":{},"displayName":"Emma Richards","active":true,"timeZone":"Australia/Sydney","accountType":"atlassian"}]"#;

fn field_lookup(
    fake: &Fake,
) -> Result<std::collections::BTreeMap<String, Ticket>, gitops_gate::error::Failure> {
    let keys = vec!["OPS-1".to_string()];
    lookup(&Lookup {
        url: &fake.url,
        keys: &keys,
        approvals: true,
        approval_field: Some(FIELD),
        timeout: Duration::from_secs(5),
        secrets: &cloud(),
    })
}

#[test]
fn approvals_are_read_from_the_configured_field_without_the_service_desk_api() {
    let body = issue_with_field(
        "OPS-1",
        "Done",
        "done",
        Some(&jsm_field(&["approved", "pending", "approved"])),
    );
    let fake = Fake::start(2, move |s, _| {
        if s.path().contains("servicedeskapi") {
            Resp::json(500, "{}")
        } else {
            Resp::json(200, body.clone())
        }
    });
    let t = field_lookup(&fake).unwrap();
    assert_eq!(
        t["OPS-1"],
        Ticket::Found {
            status: "Done".into(),
            category: "done".into(),
            approvals: Some(Approvals {
                approved: 2,
                declined: 0,
                pending: 1
            })
        }
    );
    let reqs = fake.requests();
    assert_eq!(reqs.len(), 1, "the field comes with the issue");
    assert!(
        reqs[0]
            .url
            .ends_with("?fields=status,assignee,summary,issuetype,customfield_10050"),
        "{}",
        reqs[0].url
    );
}

#[test]
fn a_user_picker_field_counts_each_user_once() {
    let body = issue_with_field("OPS-1", "Done", "done", Some(USERS));
    let fake = Fake::start(1, move |_, _| Resp::json(200, body.clone()));
    let t = field_lookup(&fake).unwrap();
    assert!(
        matches!(&t["OPS-1"], Ticket::Found { approvals: Some(a), .. } if a.approved == 2 && a.declined == 0),
        "{t:?}"
    );
    // An empty field is `null`: no approvals.
    let body = issue_with_field("OPS-1", "Done", "done", Some("null"));
    let fake = Fake::start(1, move |_, _| Resp::json(200, body.clone()));
    let t = field_lookup(&fake).unwrap();
    assert!(
        matches!(&t["OPS-1"], Ticket::Found { approvals: Some(a), .. } if a.approved == 0),
        "{t:?}"
    );
}

#[test]
fn a_field_jira_does_not_return_or_cannot_be_read_is_a_configuration_error() {
    let body = issue_with_field("OPS-1", "Done", "done", None);
    let fake = Fake::start(1, move |_, _| Resp::json(200, body.clone()));
    let e = field_lookup(&fake).unwrap_err();
    assert_eq!(e.exit, Exit::Invalid);
    assert!(
        e.message.contains("no field `customfield_10050`"),
        "{}",
        e.message
    );
    // A select list is not an approvals field.
    let body = issue_with_field(
        "OPS-1",
        "Done",
        "done",
        Some(r#"{"self":"x","value":"Yes","id":"10020"}"#),
    );
    let fake = Fake::start(1, move |_, _| Resp::json(200, body.clone()));
    let e = field_lookup(&fake).unwrap_err();
    assert_eq!(e.exit, Exit::Invalid);
    assert!(e.message.contains("holds no approvals"), "{}", e.message);
}

fn gate_policy(url: &str, jira: &str) -> String {
    format!(
        "version: 1\nenvironments:\n  qa: {{ branch: qa, pipeline: [deploy] }}\ngates:\n  jira: {{ required: true, projects: [OPS]{jira} }}\nsteps:\n  deploy: {{ run: [\"true\"] }}\nintegrations:\n  jira: {{ url: \"{url}\", timeout: 3s }}\n"
    )
}

fn gated_repo(url: &str, jira: &str, message: &str) -> (Git, String) {
    let g = Git::new();
    g.write("gitops.yaml", &gate_policy(url, jira));
    g.write("services/api.yaml", &api("1.0.0"));
    let base = g.commit("OPS-1: initial", "Alice", "alice@example.com", None);
    g.ledger("qa", &base);
    g.write("services/api.yaml", &api("1.0.1"));
    let head = g.commit(message, "Alice", "alice@example.com", None);
    (g, head)
}

fn field_fake(value: &'static str) -> Fake {
    Fake::start(2, move |s, _| {
        if s.path().contains("servicedeskapi") {
            return Resp::json(404, "{}");
        }
        let value = match value {
            "jsm-2" => jsm_field(&["approved", "approved"]),
            "jsm-1" => jsm_field(&["approved", "pending"]),
            "jsm-declined" => jsm_field(&["approved", "approved", "declined"]),
            other => other.to_string(),
        };
        Resp::json(
            200,
            issue_with_field(&issue_key(s), "Done", "done", Some(&value)),
        )
    })
}

#[test]
fn e2e_field_approvals_pass_fail_and_declined() {
    let jira = ", approvals: 2, approval_field: customfield_10050";
    let fake = field_fake("jsm-2");
    let (g, head) = gated_repo(&fake.url, jira, "OPS-1: bump api");
    let r = plan(&g, &["--env", "qa", "--branch", "qa", "--head", &head], ENV);
    assert_eq!(r.code, 0);
    assert_eq!(r.checks("jira")[0]["verdict"], "pass");
    assert!(fake
        .requests()
        .iter()
        .all(|s| !s.path().contains("servicedeskapi")));

    let fake = field_fake("jsm-1");
    let (g, head) = gated_repo(&fake.url, jira, "OPS-1: bump api");
    let r = plan(&g, &["--env", "qa", "--branch", "qa", "--head", &head], ENV);
    assert_eq!(r.code, 1);
    let c = &r.checks("jira")[0];
    assert!(
        c["detail"]
            .as_str()
            .unwrap()
            .contains("has 1 of 2 required approvals (1 pending)"),
        "{c}"
    );
    assert!(
        c["hint"].as_str().unwrap().contains("customfield_10050"),
        "{c}"
    );

    let fake = field_fake("jsm-declined");
    let (g, head) = gated_repo(&fake.url, jira, "OPS-1: bump api");
    let r = plan(&g, &["--env", "qa", "--branch", "qa", "--head", &head], ENV);
    assert_eq!(r.code, 1);
    assert!(r.checks("jira")[0]["detail"]
        .as_str()
        .unwrap()
        .contains("1 declined approval"));

    // A user picker with two people meets `approvals: 2`, with one it does not.
    let fake = field_fake(USERS);
    let (g, head) = gated_repo(&fake.url, jira, "OPS-1: bump api");
    let r = plan(&g, &["--env", "qa", "--branch", "qa", "--head", &head], ENV);
    assert_eq!(r.code, 0);
    let fake = field_fake(
        r#"[{"name":"jdoe","key":"JIRAUSER10100","displayName":"J Doe","active":true}]"#,
    );
    let (g, head) = gated_repo(&fake.url, jira, "OPS-1: bump api");
    let r = plan(&g, &["--env", "qa", "--branch", "qa", "--head", &head], ENV);
    assert_eq!(r.code, 1);
}

fn category_fake() -> Fake {
    Fake::start(4, |s, _| match issue_key(s).as_str() {
        "OPS-1" => Resp::json(200, jira_issue("x", "OPS-1", "Closed", "done")),
        "OPS-2" => Resp::json(200, jira_issue("x", "OPS-2", "In Review", "indeterminate")),
        "OPS-3" => Resp::json(200, jira_issue("x", "OPS-3", "Open", "new")),
        _ => Resp::json(404, JIRA_404),
    })
}

#[test]
fn e2e_status_categories_default_to_done_and_are_configurable() {
    let fake = category_fake();
    let run = |jira: &str, msg: &str| {
        let (g, head) = gated_repo(&fake.url, jira, msg);
        plan(&g, &["--env", "qa", "--branch", "qa", "--head", &head], ENV)
    };
    // Default: only the done category.
    assert_eq!(run("", "OPS-1: bump").code, 0);
    let r = run("", "OPS-2: bump");
    assert_eq!(r.code, 1);
    let d = r.checks("jira")[0]["detail"].as_str().unwrap().to_string();
    assert!(
        d.contains("is In Review (indeterminate); the deploy needs a status of the done category"),
        "{d}"
    );
    // [done, indeterminate]: In Review deploys, Open (new) does not.
    let cats = ", status_categories: [done, indeterminate]";
    assert_eq!(run(cats, "OPS-2: bump").code, 0);
    assert_eq!(run(cats, "OPS-1: bump").code, 0);
    let r = run(cats, "OPS-3: bump");
    assert_eq!(r.code, 1);
    assert!(r.checks("jira")[0]["detail"]
        .as_str()
        .unwrap()
        .contains("done or indeterminate categories"));
}

#[test]
fn e2e_contradictory_or_unknown_jira_keys_are_configuration_errors() {
    let fake = category_fake();
    for (jira, says) in [
        (
            ", statuses: [Approved], status_categories: [done]",
            "not both",
        ),
        (
            ", status_categories: [finished]",
            "`finished` is not a JIRA status category",
        ),
        (
            ", approval_field: customfield_10050",
            "approvals (how many are needed) is not",
        ),
        (
            ", approvals: 1, approval_field: \"Approvers list\"",
            "is not a JIRA field id",
        ),
    ] {
        let (g, head) = gated_repo(&fake.url, jira, "OPS-1: bump");
        let r = plan(&g, &["--env", "qa", "--branch", "qa", "--head", &head], ENV);
        assert_eq!(r.code, 2, "{jira}");
        assert!(r.stderr.contains(says), "{jira}: {}", r.stderr);
    }
    assert!(fake.requests().is_empty());
}
