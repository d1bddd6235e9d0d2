//! CDEvents end to end through the binary: `run --events FILE` and `integrations.events.url`
//! against a loopback sink (tests/fakes), every event validated against the CDEvents v0.4.1
//! schemas copied into tests/fixtures/cdevents/ (Apache-2.0, see its README.md).
mod common;
mod fakes;
use common::*;
use fakes::{Fake, Resp};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn policy(extra: &str) -> String {
    format!(
        r#"version: 1
environments:
  qa: {{ branch: qa, pipeline: [deploy] }}
gates:
  destructive: {{ remove_service: allow, downgrade: allow }}
steps:
  deploy: {{ run: ["sh", "-c", "test \"$GITOPS_SERVICE\" != broken"], timeout: 1m }}
{extra}"#
    )
}

/// The schemas' links resolve against `https://cdevents.dev/0.4.1/schema/`; they are served
/// from the fixtures, never fetched.
struct Fixtures;

impl jsonschema::Retrieve for Fixtures {
    fn retrieve(
        &self,
        uri: &jsonschema::Uri<String>,
    ) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
        let name = uri
            .as_str()
            .strip_prefix("https://cdevents.dev/0.4.1/schema/links/")
            .ok_or_else(|| format!("not a fixture: {}", uri.as_str()))?;
        let text = std::fs::read_to_string(fixtures().join("links").join(format!("{name}.json")))?;
        Ok(serde_json::from_str(&text)?)
    }
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cdevents")
}

/// The schema errors of a CloudEvent's CDEvent `data`, by the schema of its type (formats
/// checked too).
fn schema_errors(event: &Value) -> Vec<String> {
    let kind = event["type"].as_str().expect("a type");
    let file = match kind {
        "dev.cdevents.service.deployed.0.2.0" => "servicedeployed",
        "dev.cdevents.service.upgraded.0.2.0" => "serviceupgraded",
        "dev.cdevents.service.rolledback.0.2.0" => "servicerolledback",
        "dev.cdevents.service.removed.0.2.0" => "serviceremoved",
        "dev.cdevents.environment.modified.0.2.0" => "environmentmodified",
        other => panic!("unexpected type {other}"),
    };
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join(format!("{file}.json"))).unwrap(),
    )
    .unwrap();
    let validator = jsonschema::options()
        .with_retriever(Fixtures)
        .should_validate_formats(true)
        .build(&schema)
        .expect("the schema compiles");
    validator
        .iter_errors(&event["data"])
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

/// Validates a CloudEvent: `schema_errors`, and the binding's rules for the CloudEvents
/// attributes.
fn validate(event: &Value) {
    let data = &event["data"];
    let errors = schema_errors(event);
    assert!(errors.is_empty(), "{errors:#?}\n{data:#}");
    // The CloudEvents binding: the envelope repeats the CDEvent's attributes.
    assert_eq!(event["specversion"], "1.0");
    assert_eq!(event["id"], data["context"]["id"]);
    assert_eq!(event["source"], data["context"]["source"]);
    assert_eq!(event["type"], data["context"]["type"]);
    assert_eq!(event["time"], data["context"]["timestamp"]);
    assert_eq!(event["subject"], data["subject"]["id"]);
    assert_eq!(event["datacontenttype"], "application/json");
    assert_eq!(data["context"]["version"], "0.4.1");
}

fn lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn run_qa(
    t: &TestRepo,
    head: gitops_gate::model::CommitId,
    env: &[(&str, &str)],
) -> (i32, String, String, Duration) {
    let mut c = gate(t.dir.path());
    c.arg("run")
        .arg("--repo")
        .arg(t.path())
        .args(["--branch", "qa", "--head", &head.to_string(), "--no-fetch"])
        .arg("--out")
        .arg(t.out())
        .arg("--events")
        .arg(t.out().join("events.jsonl"));
    for (k, v) in env {
        c.env(k, v);
    }
    let started = Instant::now();
    let (code, out, err) = run(c);
    (code, out, err, started.elapsed())
}

/// qa runs api 1.4.2, web 2.0.1 and old 1.0.0; the push upgrades api, downgrades web,
/// removes old and adds db.
fn four_changes(extra: &str) -> (TestRepo, gitops_gate::model::CommitId) {
    let mut t = TestRepo::empty();
    let root = t.commit(
        "qa",
        &[],
        &[
            ("gitops.yaml", Some(&policy(extra))),
            ("services/api.yaml", Some(&descriptor("api", "1.4.2"))),
            ("services/web.yaml", Some(&descriptor("web", "2.0.1"))),
            ("services/old.yaml", Some(&descriptor("old", "1.0.0"))),
        ],
        alice(),
        "OPS-1: initial",
    );
    t.set_ref("refs/gitops-gate/deployed/qa", root);
    let head = t.commit_on(
        "qa",
        &[
            ("services/api.yaml", Some(&descriptor("api", "1.4.3"))),
            ("services/web.yaml", Some(&descriptor("web", "2.0.0"))),
            ("services/old.yaml", None),
            ("services/db.yaml", Some(&descriptor("db", "1.0.0+build.7"))),
        ],
        alice(),
        "OPS-2: four changes",
    );
    (t, head)
}

fn by_subject(events: &[Value]) -> Vec<(String, String)> {
    events
        .iter()
        .map(|e| {
            (
                e["subject"].as_str().unwrap().to_string(),
                e["type"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn a_run_writes_and_posts_one_valid_event_per_service_then_environment_modified() {
    let sink = Fake::start(2, |_, _| Resp::json(202, ""));
    let (t, head) = four_changes(&format!(
        "integrations:\n  events: {{ url: \"{}/events\", source: \"/ci/deploys\", token_env: EVENTS_TOKEN }}\n",
        sink.url
    ));
    let (code, _, err, _) = run_qa(&t, head, &[("EVENTS_TOKEN", "s3cr3t-token-value")]);
    assert_eq!(code, 0, "{err}");
    let events = lines(&t.out().join("events.jsonl"));
    let mut got = by_subject(&events);
    let last = got.pop().unwrap();
    got.sort();
    assert_eq!(
        got,
        [
            (
                "qa/api".into(),
                "dev.cdevents.service.upgraded.0.2.0".into()
            ),
            ("qa/db".into(), "dev.cdevents.service.deployed.0.2.0".into()),
            ("qa/old".into(), "dev.cdevents.service.removed.0.2.0".into()),
            (
                "qa/web".into(),
                "dev.cdevents.service.rolledback.0.2.0".into()
            ),
        ]
    );
    assert_eq!(
        last,
        (
            "qa".into(),
            "dev.cdevents.environment.modified.0.2.0".into()
        )
    );
    for e in &events {
        validate(e);
        assert_eq!(e["source"], "/ci/deploys");
        assert_eq!(
            e["data"]["customData"]["gitops-gate"]["head"],
            head.to_string()
        );
    }
    let ids: std::collections::BTreeSet<&str> =
        events.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), events.len(), "ids are unique");
    let artifact = |s: &str| {
        events
            .iter()
            .find(|e| e["subject"] == s)
            .map(|e| e["data"]["subject"]["content"]["artifactId"].clone())
            .unwrap()
    };
    assert_eq!(artifact("qa/api"), "pkg:generic/api@1.4.3");
    assert_eq!(artifact("qa/db"), "pkg:generic/db@1.0.0%2Bbuild.7");
    assert_eq!(artifact("qa/old"), Value::Null, "removed has no artifactId");

    // The sink got the same events, in structured mode, with the bearer token.
    let seen = sink.requests();
    assert_eq!(seen.len(), events.len());
    for (s, e) in seen.iter().zip(&events) {
        assert_eq!(s.method, "POST");
        assert_eq!(s.path(), "/events");
        assert_eq!(
            s.header("content-type"),
            Some("application/cloudevents+json; charset=utf-8")
        );
        assert_eq!(s.header("authorization"), Some("Bearer s3cr3t-token-value"));
        assert_eq!(&serde_json::from_str::<Value>(&s.body).unwrap(), e);
    }
    assert!(!err.contains("s3cr3t"), "{err}");

    // A second run appends; a run with nothing to deploy adds nothing.
    let (code, _, err, _) = run_qa(&t, head, &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(lines(&t.out().join("events.jsonl")).len(), events.len());
}

/// The validation has teeth: what the schemas forbid is caught, links included.
#[test]
fn the_schemas_catch_a_broken_event() {
    let good: Value = serde_json::json!({
        "specversion": "1.0", "id": "1", "source": "/s", "type": "dev.cdevents.service.upgraded.0.2.0",
        "data": {
            "context": { "version": "0.4.1", "id": "1", "source": "/s",
                         "type": "dev.cdevents.service.upgraded.0.2.0", "timestamp": "2026-12-06T10:00:00Z" },
            "subject": { "id": "qa/api", "type": "service",
                         "content": { "environment": { "id": "qa" }, "artifactId": "pkg:generic/api@1" } }
        }
    });
    assert_eq!(schema_errors(&good), Vec::<String>::new());
    let broken = |path: &[&str], v: Value| {
        let mut e = good.clone();
        let mut at = &mut e["data"];
        for p in &path[..path.len() - 1] {
            at = &mut at[*p];
        }
        at[path[path.len() - 1]] = v;
        assert!(!schema_errors(&e).is_empty(), "{path:?} accepted");
    };
    broken(&["context", "timestamp"], "yesterday".into());
    broken(
        &["context", "type"],
        "dev.cdevents.service.deployed.0.2.0".into(),
    );
    broken(&["subject", "content", "artifactId"], "".into());
    broken(&["subject", "content", "extra"], "x".into());
    broken(
        &["context", "links"],
        serde_json::json!([{ "linkType": "BOGUS" }]),
    );
}

#[test]
fn a_sink_that_is_down_or_hangs_is_a_warning_and_the_deploy_succeeds_in_bounded_time() {
    // Down: nothing listens on the port.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (t, head) = four_changes(&format!(
        "integrations:\n  events: {{ url: \"http://127.0.0.1:{port}/hook/SECRETPATH\", timeout: 2s }}\n"
    ));
    let (code, _, err, took) = run_qa(&t, head, &[]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("CDEvents sink at http://127.0.0.1"), "{err}");
    assert!(err.contains("the release is not affected"), "{err}");
    assert!(!err.contains("SECRETPATH"), "{err}");
    assert!(took < Duration::from_secs(20), "{took:?}");
    assert_eq!(
        lines(&t.out().join("events.jsonl")).len(),
        5,
        "the file still has them"
    );
    assert_eq!(
        t.repo.ledger("qa"),
        Some(head),
        "the ledger moved: the deploy succeeded"
    );

    // Hangs: each answer comes after 30 s; the run waits at most its 2 s deadline.
    let sink = Fake::start(4, |_, _| Resp::json(200, "").delay(Duration::from_secs(30)));
    let (t, head) = four_changes(&format!(
        "integrations:\n  events: {{ url: \"{}/events\", timeout: 2s }}\n",
        sink.url
    ));
    let (code, _, err, took) = run_qa(&t, head, &[]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("did not take event 1 of 5"), "{err}");
    assert!(took < Duration::from_secs(20), "{took:?}");
    assert_eq!(sink.requests().len(), 1, "no retry storm past the deadline");

    // Refuses: a 4xx is not retried.
    let sink = Fake::start(1, |_, _| Resp::json(400, "{}"));
    let (t, head) = four_changes(&format!(
        "integrations:\n  events: {{ url: \"{}/events\" }}\n",
        sink.url
    ));
    let (code, _, err, _) = run_qa(&t, head, &[]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("refused event 1 of 5: HTTP 400"), "{err}");
    assert_eq!(sink.requests().len(), 1);
}

#[test]
fn a_failed_deploy_stage_emits_nothing() {
    let mut t = TestRepo::empty();
    let root = t.commit(
        "qa",
        &[],
        &[
            ("gitops.yaml", Some(&policy(""))),
            ("services/api.yaml", Some(&descriptor("api", "1.0.0"))),
        ],
        alice(),
        "OPS-1: initial",
    );
    t.set_ref("refs/gitops-gate/deployed/qa", root);
    let head = t.commit_on(
        "qa",
        &[("services/broken.yaml", Some(&descriptor("broken", "1.0.0")))],
        alice(),
        "OPS-2: add broken",
    );
    let (code, _, err, _) = run_qa(&t, head, &[]);
    assert_eq!(code, 3, "{err}");
    // `run` opened the file before the deploy (a bad path is exit 2 up front); nothing in it.
    assert_eq!(
        std::fs::read_to_string(t.out().join("events.jsonl")).unwrap(),
        "",
        "no deploy stage succeeded: no events"
    );
}

#[test]
fn a_gitops_gate_rollback_is_rolledback_even_when_versions_do_not_compare() {
    let mut t = TestRepo::empty();
    let root = t.commit(
        "qa",
        &[],
        &[
            ("gitops.yaml", Some(&policy(""))),
            ("services/api.yaml", Some(&descriptor("api", "build-bbb"))),
        ],
        alice(),
        "OPS-1: initial",
    );
    t.set_ref("refs/gitops-gate/deployed/qa", root);
    // build-bbb -> build-aaa: no version order, so an upgrade ...
    let head = t.commit_on(
        "qa",
        &[("services/api.yaml", Some(&descriptor("api", "build-aaa")))],
        alice(),
        "OPS-2: api build-aaa",
    );
    let (code, _, err, _) = run_qa(&t, head, &[]);
    assert_eq!(code, 0, "{err}");
    let first = lines(&t.out().join("events.jsonl"));
    assert_eq!(first[0]["type"], "dev.cdevents.service.upgraded.0.2.0");
    // ... and `gitops-gate rollback` back to build-bbb a rollback.
    let mut c = gate(t.dir.path());
    c.arg("rollback")
        .arg("--repo")
        .arg(t.path())
        .args([
            "--env", "qa", "--ticket", "OPS-3", "--format", "json", "--to",
        ])
        .arg(root.to_string())
        .args([
            "--author-name",
            "Alice",
            "--author-email",
            "alice@example.com",
        ]);
    let (code, _, err) = run(c);
    assert_eq!(code, 0, "{err}");
    let back = t.tip("qa");
    assert_ne!(back, head);
    let (code, _, err, _) = run_qa(&t, back, &[]);
    assert_eq!(code, 0, "{err}");
    let all = lines(&t.out().join("events.jsonl"));
    let new = &all[first.len()..];
    for e in new {
        validate(e);
    }
    assert_eq!(
        by_subject(new),
        [
            (
                "qa/api".into(),
                "dev.cdevents.service.rolledback.0.2.0".into()
            ),
            (
                "qa".into(),
                "dev.cdevents.environment.modified.0.2.0".into()
            ),
        ]
    );
    assert_eq!(
        new[0]["data"]["subject"]["content"]["artifactId"],
        "pkg:generic/api@build-bbb"
    );
}

/// `--events` naming a place no file can be is a wrong flag: exit 2 before anything deploys,
/// not a warning after the deploy.
#[test]
fn an_events_path_that_cannot_be_written_stops_the_run_before_the_deploy() {
    let (t, head) = four_changes("");
    std::fs::create_dir_all(t.out()).unwrap();
    std::fs::write(t.out().join("a-file"), "x").unwrap();
    let mut c = gate(t.dir.path());
    c.arg("run")
        .arg("--repo")
        .arg(t.path())
        .args(["--branch", "qa", "--head", &head.to_string(), "--no-fetch"])
        .arg("--out")
        .arg(t.out())
        .arg("--events")
        .arg(t.out().join("a-file").join("events.jsonl"));
    let (code, _, err) = run(c);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("error: --events: cannot write the CDEvents to ")
            && err.contains("hint: give --events a file in a folder that exists or can be made"),
        "{err}"
    );
    let ledger = common::git2_repo(&t.repo)
        .refname_to_id("refs/gitops-gate/deployed/qa")
        .unwrap();
    assert_ne!(ledger.to_string(), head.to_string(), "nothing deployed");
    assert!(!t.out().join("run.json").exists());
}
