//! The shipped Jenkins pipelines and the plan agree on parameter names: each generic
//! pipeline declares every parameter the plan's stages of its kind carry, and no more.
mod common;
use gitops_gate::repo::{Identity, Repo};
use std::collections::BTreeSet;
use std::path::Path;

const POLICY: &str = r#"version: 1
environments:
  qa: { branch: qa, pipeline: [deploy, healthcheck, regression, smoke] }
steps:
  deploy: { jenkins: gitops/deploy }
  regression: { jenkins: gitops/regression-test }
  smoke: { jenkins: gitops/smoke-test }
"#;

fn descriptor(version: &str) -> String {
    format!(
        r##"service: api
version: "{version}"
maintainer: team@example.com
domain: api.example.com
port: 8080
healthcheck: {{ endpoints: ["/healthz"], retries: 3, interval: 1s, timeout: 1s, initial_delay: 2s }}
resources: {{ cpu: 500m, memory: 512Mi }}
ports: [8080]
notify: {{ email: ["a@example.com"], slack: ["#api"] }}
"##
    )
}

/// Every `string(name: 'X'` in a Jenkinsfile.
fn declared(file: &str) -> BTreeSet<String> {
    let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{file}: {e}"));
    let re = regex::Regex::new(r"string\(name:\s*'([A-Z0-9_]+)'").unwrap();
    re.captures_iter(&text).map(|c| c[1].to_string()).collect()
}

fn pipeline(name: &str) -> String {
    format!(
        "{}/jenkins/pipelines/{name}/Jenkinsfile",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn plan_stages(tmp: &Path) -> Vec<serde_json::Value> {
    let dir = tmp.join("repo");
    let repo = Repo::init(&dir).unwrap();
    let who = Identity::new("Dev", "dev@example.com", 1_767_225_600);
    let v1 = descriptor("1.0.0");
    let root = repo
        .commit_files(
            Some("refs/heads/qa"),
            &[],
            &[
                ("gitops.yaml", Some(POLICY.as_bytes())),
                ("services/api.yaml", Some(v1.as_bytes())),
            ],
            &who,
            &who,
            "OPS-1: start",
        )
        .unwrap();
    repo.set_ref(&Repo::ledger_ref("qa"), root, "test").unwrap();
    let v2 = descriptor("1.1.0");
    let head = repo
        .commit_files(
            Some("refs/heads/qa"),
            &[root],
            &[("services/api.yaml", Some(v2.as_bytes()))],
            &who,
            &who,
            "OPS-2: bump api",
        )
        .unwrap();
    let out = tmp.join("out");
    common::gate(&common::home())
        .env_remove("GITHUB_ACTIONS")
        .env_remove("JENKINS_URL")
        .env_remove("CI")
        .args(["plan", "--no-fetch", "--offline", "--repo"])
        .arg(&dir)
        .args(["--branch", "qa", "--head", &head.to_string(), "--out"])
        .arg(&out)
        .assert()
        .success();
    let j: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("jenkins.json")).unwrap()).unwrap();
    assert_eq!(j["decision"], "deploy");
    j["stages"].as_array().unwrap().clone()
}

fn keys(stage: &serde_json::Value) -> BTreeSet<String> {
    stage["parameters"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect()
}

#[test]
fn generic_pipelines_declare_exactly_the_stage_parameters() {
    let tmp = tempfile::tempdir().unwrap();
    let stages = plan_stages(tmp.path());
    let mut seen = BTreeSet::new();
    for s in &stages {
        let id = s["id"].as_str().unwrap();
        let file = match id {
            "deploy" => "deploy",
            "healthcheck" => "healthcheck",
            "regression" => "regression-test",
            "smoke" => "smoke-test",
            _ => continue,
        };
        seen.insert(id.to_string());
        let want = keys(s);
        let lib: BTreeSet<String> = gitops_gate::plan::parameter_names(id)
            .into_iter()
            .map(String::from)
            .collect();
        assert_eq!(want, lib, "plan stage {id} vs plan::parameter_names");
        let got = declared(&pipeline(file));
        let missing: Vec<_> = want.difference(&got).collect();
        let extra: Vec<_> = got.difference(&want).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "{file}: missing {missing:?}, not in the plan {extra:?}"
        );
        // Each declared parameter is used, not only declared.
        let text = std::fs::read_to_string(pipeline(file)).unwrap();
        for p in &got {
            assert!(
                text.matches(p.as_str()).count() >= 2,
                "{file}: {p} declared but never used"
            );
        }
    }
    assert_eq!(
        seen.len(),
        4,
        "the plan had every generic stage kind: {seen:?}"
    );
}

#[test]
fn release_pipelines_declare_the_notify_parameters() {
    let tmp = tempfile::tempdir().unwrap();
    let stages = plan_stages(tmp.path());
    let notify = stages
        .iter()
        .find(|s| s["id"] == "notify-start")
        .expect("a notify-start stage");
    let mut want = keys(notify);
    let lib: BTreeSet<String> = gitops_gate::plan::parameter_names("notify-start")
        .into_iter()
        .map(String::from)
        .collect();
    assert_eq!(want, lib);
    want.insert("PLAN_JSON".into());
    for env in ["qa", "staging", "prod"] {
        let got = declared(&pipeline(&format!("release-{env}")));
        assert_eq!(got, want, "release-{env}");
    }
}
