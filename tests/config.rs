//! The file formats of DESIGN.md section 2, parsed strictly, with located errors.
use gitops_gate::config::{self, Level, Quantity};

const DESIGN_POLICY: &str = r##"# gitops.yaml
version: 1
environments:                 # ordered low -> high
  qa:      { branch: qa,      pipeline: [deploy, healthcheck] }
  staging: { branch: staging, pipeline: [deploy, healthcheck, regression], promotes_from: qa }
  prod:    { branch: prod,    pipeline: [deploy, healthcheck, smoke],      promotes_from: staging }
gates:                        # defaults; environments.<env>.gates overrides any key
  skip_markers: ["skip deployment", "[skip deploy]"]
  committers: ["alice@example.com", "github:bob", "signer:ops@example.com"]  # empty = anyone
  require_signed: false
  jira: { required: true, projects: ["OPS", "PAY"], statuses: ["Approved"], approvals: 1 }
  approvals: { required: 1 }                        # PR reviews, for promoted environments
  capacity: { cpu: "16", memory: "64Gi" }           # the cluster, summed over services
  limits:   { cpu: "4",  memory: "8Gi" }            # one service
  ports:    { allowed: ["80", "443", "8000-8999"] }
  firewall: { public_ingress: fail }                # 0.0.0.0/0 or ::/0 in a descriptor
  destructive: { remove_service: fail, downgrade: warn, port_change: warn, domain_change: warn }
  force_push: fail
  promotion: fail                                   # version must have passed promotes_from
  max_commits: 10000
  offline: reject
steps:                        # how each generic step runs
  deploy:     { run: ["./scripts/deploy.sh"], timeout: 10m }   # argv, never a shell string
  smoke:      { jenkins: "smoke-test" }                         # or a Jenkins job
  regression: { run: ["make", "regression"], timeout: 30m }
  # healthcheck is built in: HTTP GETs from the descriptor, with its retries and timeouts
integrations:                 # endpoints only; credentials always come from the environment
  jira:    { url: "https://jira.example.com", ticket_on_failure: { project: OPS, type: Bug } }
  slack:   { webhook_env: SLACK_WEBHOOK_URL }
  email:   { smtp: "smtp.example.com:587", from: "deploys@example.com" }
  jenkins: { url: "https://jenkins.example.com" }
  github:  { deployments: true }
"##;

const DESIGN_DESCRIPTOR: &str = r##"# services/api.yaml
service: api
version: "1.4.2"
maintainer: team-api@example.com
domain: api.qa.example.com
port: 8080
healthcheck:
  endpoints: ["/healthz", "/ready"]
  retries: 10
  interval: 5s
  timeout: 2s
  initial_delay: 30s          # slow starters (JVM)
resources: { cpu: 500m, memory: 512Mi }
ports: [8080, 9090]
firewall: { ingress: ["10.0.0.0/8"] }
notify: { email: ["team-api@example.com"], slack: ["#api-deploys"] }
"##;

#[test]
fn the_designs_examples_parse() {
    let p = config::parse_policy("gitops.yaml", DESIGN_POLICY.as_bytes()).unwrap();
    let names: Vec<&String> = p.environments.keys().collect();
    assert_eq!(names, ["qa", "staging", "prod"], "order is kept");
    assert_eq!(p.environment_for_branch("staging").unwrap().0, "staging");
    let g = p.gates_for("prod");
    assert_eq!(g.force_push(), Level::Fail);
    assert_eq!(g.max_commits(), 10_000);
    assert_eq!(
        g.capacity.unwrap().memory.unwrap(),
        Quantity::parse("64Gi").unwrap()
    );
    let d =
        config::parse_descriptor("services/api.yaml", "api", DESIGN_DESCRIPTOR.as_bytes()).unwrap();
    assert_eq!(d.version, "1.4.2");
    assert_eq!(d.healthcheck.unwrap().initial_delay.std().as_secs(), 30);
}

#[test]
fn environment_gates_override_key_by_key() {
    let text = DESIGN_POLICY.replace(
        "  qa:      { branch: qa,      pipeline: [deploy, healthcheck] }",
        "  qa:      { branch: qa,      pipeline: [deploy, healthcheck], gates: { force_push: allow, committers: [] } }",
    );
    let p = config::parse_policy("gitops.yaml", text.as_bytes()).unwrap();
    assert_eq!(p.gates_for("qa").force_push(), Level::Allow);
    assert!(p.gates_for("qa").committers().is_empty());
    assert_eq!(
        p.gates_for("qa").max_commits(),
        10_000,
        "untouched keys keep the default"
    );
    assert_eq!(p.gates_for("prod").force_push(), Level::Fail);
}

fn errors(text: &str) -> Vec<config::ConfigError> {
    config::parse_policy("gitops.yaml", text.as_bytes())
        .unwrap_err()
        .0
}

#[test]
fn policy_mistakes_are_all_reported_with_locations() {
    let text = DESIGN_POLICY
        .replace("promotes_from: qa", "promotes_from: prod")
        .replace(
            "[deploy, healthcheck, smoke]",
            "[deploy, healthcheck, smoke, canary]",
        )
        .replace("\"PAY\"", "\"pay\"");
    let e = errors(&text);
    let fields: Vec<&str> = e.iter().filter_map(|e| e.field.as_deref()).collect();
    assert!(
        fields.contains(&"environments.staging.promotes_from"),
        "{e:?}"
    );
    assert!(fields.contains(&"environments.prod.pipeline[3]"), "{e:?}");
    assert!(fields.contains(&"gates.jira.projects[1]"), "{e:?}");
    assert!(
        e.iter().all(|e| e.line.is_some() && e.hint.is_some()),
        "{e:?}"
    );
}

/// Values that parse but can never work are found by `validate`, at their own line (not at a
/// commented-out example of the same key above them), before they fail a deploy or a plan.
#[test]
fn unusable_urls_and_overlong_durations_are_refused_at_their_line() {
    let text = DESIGN_POLICY
        .replace(
            "integrations:                 #",
            "# integrations:\n#   jenkins: { url: \"https://example\" }\nintegrations:  #",
        )
        .replace("https://jenkins.example.com", "ftp://jenkins.example.com")
        .replace(
            "  github:  { deployments: true }",
            "  github:  { deployments: true }\n  events:  { url: \"127.0.0.1:8080/events\", timeout: 1000h }",
        )
        .replace(
            "  offline: reject",
            "  offline: reject\n  freeze:\n    - { cron: \"0 16 * * FRI\", duration: 9999999999h, timezone: UTC, reason: x }",
        )
        .replace("promotes_from: qa }", "promotes_from: qa, soak: 9000h }");
    let e = errors(&text);
    let at = |field: &str| {
        let e = e
            .iter()
            .find(|e| e.field.as_deref() == Some(field))
            .unwrap_or_else(|| panic!("no error for {field}: {e:?}"));
        let line = text.lines().nth(e.line.unwrap() - 1).unwrap();
        (e.message.clone(), line.to_string())
    };
    let (m, line) = at("integrations.jenkins.url");
    assert!(m.contains("`ftp://jenkins.example.com` is not an http:// or https:// URL"));
    assert!(line.starts_with("  jenkins:"), "{line}");
    let (m, line) = at("integrations.events.url");
    assert!(m.contains("127.0.0.1:8080/events"), "{m}");
    assert!(line.starts_with("  events:"), "{line}");
    let (m, _) = at("integrations.events.timeout");
    assert!(m.contains("1000h is longer than the 60s"), "{m}");
    let (m, line) = at("gates.freeze[0].duration");
    assert!(m.contains("longer than a year and a day"), "{m}");
    assert!(line.contains("9999999999h"), "{line}");
    let (m, line) = at("environments.staging.soak");
    assert!(m.contains("9000h is longer than a year and a day"), "{m}");
    assert!(line.contains("soak: 9000h"), "{line}");
}

#[test]
fn typos_unknown_units_and_versions() {
    let e = &errors(&DESIGN_POLICY.replace("max_commits:", "max_comits:"))[0];
    assert_eq!(
        e.hint.as_deref(),
        Some("did you mean `max_commits`?"),
        "{e}"
    );
    assert_eq!(e.line, Some(20));
    let e = &errors(&DESIGN_POLICY.replace("timeout: 10m", "timeout: 10 minutes"))[0];
    assert!(
        e.message.contains("valid units are ms, s, m, h and d"),
        "{e}"
    );
    assert_eq!(e.field.as_deref(), Some("steps.deploy.timeout"));
    let e = &errors(&DESIGN_POLICY.replace("version: 1\n", "version: 2\n"))[0];
    assert!(e.message.contains("version 2"), "{e}");

    let d = |t: &str| config::parse_descriptor("services/api.yaml", "api", t.as_bytes());
    let e = d(&DESIGN_DESCRIPTOR.replace("512Mi", "512MB"))
        .unwrap_err()
        .0
        .remove(0);
    assert_eq!(e.field.as_deref(), Some("resources.memory"), "{e}");
    assert!(e.message.contains("Ki Mi Gi"), "{e}");
    assert_eq!(e.line, Some(13));
    // Unquoted versions stay strings: 1.10 is not 1.1.
    let v = d(&DESIGN_DESCRIPTOR.replace("\"1.4.2\"", "1.10")).unwrap();
    assert_eq!(v.version, "1.10");
    let e = d(&DESIGN_DESCRIPTOR.replace("service: api", "service: web")).unwrap_err();
    assert!(
        e.0[0].message.contains("does not match the file name"),
        "{e}"
    );
    let e = d(&DESIGN_DESCRIPTOR.replace("10.0.0.0/8", "10.0.0.0/33")).unwrap_err();
    assert_eq!(e.0[0].field.as_deref(), Some("firewall.ingress[0]"));
    let e = d(&DESIGN_DESCRIPTOR.replace("  retries: 10\n", "  retries: 10\n  retries: 0\n"))
        .unwrap_err();
    assert_eq!(e.0[0].line, Some(10), "{e}");
}

#[test]
fn descriptor_paths_name_their_service() {
    assert_eq!(config::service_name_of("services/api.yaml"), Ok("api"));
    assert!(config::service_name_of("services/api.yml")
        .unwrap_err()
        .to_string()
        .contains("api.yaml"));
    assert!(config::service_name_of("services/a/b.yaml").is_err());
    assert!(config::service_name_of("services/Api.yaml").is_err());
}

#[test]
fn the_schema_covers_both_files() {
    let s = config::schema::schemas();
    let policy = &s["gitops.yaml"];
    assert!(policy["properties"]["environments"].is_object(), "{policy}");
    assert!(s["services/<name>.yaml"]["properties"]["healthcheck"].is_object());
    assert_eq!(policy["additionalProperties"], serde_json::json!(false));
}

mod no_panics {
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]
        /// Whatever bytes arrive, parsing answers with a value or located errors, never a panic.
        #[test]
        fn parsing_never_panics(text in "(?s)[ -~\n\t:\\-\\[\\]{}&*!#'\"]{0,300}") {
            let _ = gitops_gate::config::parse_descriptor("services/api.yaml", "api", text.as_bytes());
            let _ = gitops_gate::config::parse_policy("gitops.yaml", text.as_bytes());
        }

        #[test]
        fn mutated_descriptors_never_panic(i in 0usize..400, c in any::<u8>()) {
            let mut bytes = super::DESIGN_DESCRIPTOR.as_bytes().to_vec();
            let i = i % bytes.len();
            bytes[i] = c;
            let _ = gitops_gate::config::parse_descriptor("services/api.yaml", "api", &bytes);
        }
    }
}

#[test]
fn the_schema_documents_the_approval_keys() {
    let s = config::schema::schemas();
    let defs = &s["gitops.yaml"]["$defs"];
    let jira = &defs["JiraGate"]["properties"];
    assert!(jira["approval_field"]["description"]
        .as_str()
        .unwrap()
        .contains("customfield_10050"));
    assert!(jira["status_categories"]["description"]
        .as_str()
        .unwrap()
        .contains("statusCategory"));
    assert!(defs["ApprovalsGate"]["properties"]["count_stale"].is_object());
    assert!(defs["Gates"]["properties"]["gpg_keyring"]["description"]
        .as_str()
        .unwrap()
        .contains("gpg --export"));
}
