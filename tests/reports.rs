//! `plan --format sarif` and `--format junit` end to end through the binary: the SARIF
//! validated against the published SARIF 2.1.0 schema (tests/fixtures/sarif, see its
//! README.md), the JUnit XML parsed by a strict XML 1.0 parser, hostile text included, and
//! the exit code still the decision's.
mod common;
use common::*;
use serde_json::Value;
use std::path::Path;

const POLICY: &str = r#"version: 1
environments:
  qa: { branch: qa, pipeline: [deploy] }
gates:
  skip_markers: ["[skip deploy]"]
  committers: ["alice@example.com"]
  jira:
    required: true
    projects: ["OPS"]
    verify: presence
  limits: { cpu: "1", memory: "1Gi" }
steps:
  deploy: { run: ["true"] }
"#;

fn sarif_errors(log: &Value) -> Vec<String> {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sarif/sarif-schema-2.1.0.json");
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let v = jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .expect("the SARIF schema compiles");
    v.iter_errors(log)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect()
}

/// qa runs api 1.4.2 and web 2.0.1; mallory pushes api with 2 CPUs (over `limits`), web
/// downgraded (a warning), with no ticket and a skip marker.
fn rejected() -> (TestRepo, gitops_gate::model::CommitId) {
    let (mut t, _) = TestRepo::deployment_with(POLICY);
    let api = descriptor("api", "1.4.3").replace("cpu: 500m", "cpu: \"2\"");
    let head = t.commit_on(
        "qa",
        &[
            ("services/api.yaml", Some(&api)),
            ("services/web.yaml", Some(&descriptor("web", "2.0.0"))),
        ],
        mallory(),
        "bump api [skip deploy]",
    );
    (t, head)
}

fn plan(t: &TestRepo, head: gitops_gate::model::CommitId, format: &str) -> (i32, String) {
    let mut c = gate(t.dir.path());
    c.arg("plan")
        .arg("--repo")
        .arg(t.path())
        .args(["--branch", "qa", "--head", &head.to_string(), "--no-fetch"])
        .args(["--format", format])
        .arg("--out")
        .arg(t.out());
    let (code, out, _) = run(c);
    (code, out)
}

#[test]
fn sarif_has_one_located_result_per_violation_and_is_valid() {
    let (t, head) = rejected();
    let (code, out) = plan(&t, head, "sarif");
    assert_eq!(code, 1, "the exit code stays the decision's");
    let log: Value = serde_json::from_str(&out).unwrap();
    let file: Value =
        serde_json::from_str(&std::fs::read_to_string(t.out().join("plan.sarif")).unwrap())
            .unwrap();
    assert_eq!(log, file, "stdout and plan.sarif agree");
    assert_eq!(sarif_errors(&log), Vec::<String>::new());
    assert!(
        t.out().join("plan.json").is_file(),
        "the plan files are written as ever"
    );

    let run = &log["runs"][0];
    let rules: Vec<&str> = run["tool"]["driver"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    for r in ["committers", "jira", "limits", "destructive", "skip-marker"] {
        assert!(rules.contains(&r), "{r} in {rules:?}");
    }
    let results = run["results"].as_array().unwrap();
    let by_rule =
        |id: &str| -> Vec<&Value> { results.iter().filter(|r| r["ruleId"] == id).collect() };
    for r in results {
        assert_eq!(
            rules[r["ruleIndex"].as_u64().unwrap() as usize],
            r["ruleId"].as_str().unwrap()
        );
    }
    // Passing and skipped checks are no results.
    assert!(by_rule("skip-marker").is_empty());
    assert!(by_rule("range").is_empty());

    let limits = by_rule("limits");
    assert_eq!(limits.len(), 1, "{limits:?}");
    assert_eq!(limits[0]["level"], "error");
    let loc = &limits[0]["locations"][0]["physicalLocation"];
    assert_eq!(loc["artifactLocation"]["uri"], "services/api.yaml");
    let api_text = descriptor("api", "1.4.3");
    let resources_line = api_text
        .lines()
        .position(|l| l.starts_with("resources:"))
        .unwrap()
        + 1;
    assert_eq!(loc["region"]["startLine"], resources_line);

    let down = by_rule("destructive");
    assert_eq!(down.len(), 1);
    assert_eq!(down[0]["level"], "warning");
    assert_eq!(
        down[0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
        "services/web.yaml"
    );
    assert_eq!(
        down[0]["locations"][0]["physicalLocation"]["region"]["startLine"], 2,
        "version:"
    );

    // No file: the rule's key in the policy.
    let jira = by_rule("jira");
    assert_eq!(jira[0]["level"], "error");
    let loc = &jira[0]["locations"][0]["physicalLocation"];
    assert_eq!(loc["artifactLocation"]["uri"], "gitops.yaml");
    let jira_line = POLICY
        .lines()
        .position(|l| l.trim_start().starts_with("jira:"))
        .unwrap()
        + 1;
    assert_eq!(loc["region"]["startLine"], jira_line);
    assert_eq!(jira[0]["properties"]["commit"], head.to_string());
    assert_eq!(by_rule("committers")[0]["level"], "error");
    assert_eq!(run["properties"]["decision"], "reject");
}

#[test]
fn junit_has_one_test_case_per_rule() {
    let (t, head) = rejected();
    let (code, out) = plan(&t, head, "junit");
    assert_eq!(code, 1);
    assert_eq!(
        out,
        std::fs::read_to_string(t.out().join("junit.xml")).unwrap()
    );
    let doc = roxmltree::Document::parse(&out).expect("well-formed XML");
    let suite = doc
        .descendants()
        .find(|n| n.has_tag_name("testsuite"))
        .unwrap();
    assert_eq!(suite.attribute("name"), Some("gitops-gate.qa"));
    let cases: Vec<roxmltree::Node> = suite
        .children()
        .filter(|n| n.has_tag_name("testcase"))
        .collect();
    let names: Vec<&str> = cases.iter().map(|c| c.attribute("name").unwrap()).collect();
    let mut unique = names.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(
        unique.len(),
        names.len(),
        "one test case per rule: {names:?}"
    );
    let case = |name: &str| {
        *cases
            .iter()
            .find(|c| c.attribute("name") == Some(name))
            .unwrap()
    };
    let has = |name: &str, tag: &str| case(name).children().any(|n| n.has_tag_name(tag));
    assert!(cases
        .iter()
        .all(|c| c.attribute("classname") == Some("gitops-gate.qa")));
    assert!(has("jira", "failure") && has("committers", "failure") && has("limits", "failure"));
    assert!(has("skip-marker", "skipped"));
    assert!(!has("range", "failure") && !has("range", "skipped"));
    assert!(!has("destructive", "failure"), "a warning passes");
    let failures = cases
        .iter()
        .filter(|c| c.children().any(|n| n.has_tag_name("failure")))
        .count();
    assert_eq!(
        suite.attribute("failures"),
        Some(failures.to_string().as_str())
    );
    assert_eq!(
        suite.attribute("tests"),
        Some(cases.len().to_string().as_str())
    );
    assert_eq!(suite.attribute("skipped"), Some("1"));
    let limits = case("limits")
        .children()
        .find(|n| n.has_tag_name("failure"))
        .unwrap();
    // The same file and line as SARIF's location.
    let resources_line = descriptor("api", "1.4.3")
        .lines()
        .position(|l| l.starts_with("resources:"))
        .unwrap()
        + 1;
    assert!(
        limits
            .text()
            .unwrap()
            .contains(&format!("services/api.yaml:{resources_line}]")),
        "{:?}",
        limits.text()
    );
}

/// Untrusted text (a descriptor's version and keys) reaches the reports: the XML stays
/// well-formed and says exactly what the text said, and the SARIF stays valid.
#[test]
fn hostile_text_stays_inert_in_both_reports() {
    let (mut t, _) = TestRepo::deployment_with(POLICY);
    let evil = "service: evil\nversion: \"1]]><x a='b'>&amp;\\x01\\e\\v\"\nmaintainer: m@example.com\n\"</testcase>]]>&\\x07\": 1\n";
    let head = t.commit_on(
        "qa",
        &[("services/evil.yaml", Some(evil))],
        alice(),
        "OPS-1: evil ]]> <b>&amp; \u{1}\u{1b}",
    );
    let (code, out) = plan(&t, head, "junit");
    assert_eq!(code, 2, "a descriptor that does not parse is invalid input");
    let doc = roxmltree::Document::parse(&out).expect("well-formed XML");
    let failure = doc
        .descendants()
        .find(|n| n.has_tag_name("testcase") && n.attribute("name") == Some("schema"))
        .and_then(|c| c.children().find(|n| n.has_tag_name("failure")))
        .expect("a schema failure");
    let text = failure.text().unwrap();
    let message = failure.attribute("message").unwrap();
    // The parser reads back exactly the key, its control character shown as text.
    assert!(text.contains("`</testcase>]]>&\\u{7}`"), "{text}");
    assert!(message.contains("`</testcase>]]>&\\u{7}`"), "{message}");
    assert!(!out.contains('\u{1}') && !out.contains('\u{1b}') && !out.contains('\u{7}'));
    assert!(!out.contains("<x a="), "no raw markup");
    assert_eq!(
        doc.descendants()
            .filter(|n| n.has_tag_name("testsuite"))
            .count(),
        1
    );

    let (code, out) = plan(&t, head, "sarif");
    assert_eq!(code, 2);
    let log: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(sarif_errors(&log), Vec::<String>::new());
    let schema = log["runs"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["ruleId"] == "schema")
        .unwrap();
    assert_eq!(
        schema["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
        "services/evil.yaml"
    );
}

/// The SARIF schema check has teeth.
#[test]
fn the_sarif_schema_catches_a_broken_log() {
    let log = serde_json::json!({
        "version": "2.1.0",
        "runs": [{ "tool": { "driver": { "name": "x" } },
                   "results": [{ "message": { "text": "m" }, "level": "fatal" }] }]
    });
    assert!(!sarif_errors(&log).is_empty());
    let ok = serde_json::json!({
        "version": "2.1.0",
        "runs": [{ "tool": { "driver": { "name": "x" } },
                   "results": [{ "message": { "text": "m" }, "level": "error" }] }]
    });
    assert_eq!(sarif_errors(&ok), Vec::<String>::new());
}
