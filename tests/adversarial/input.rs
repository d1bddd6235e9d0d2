//! Hostile input: YAML nesting, versions that are not versions, secrets in URLs, odd tree entries.
use crate::common::{self, alice, gate, git, home, run, TestRepo};
use std::path::Path;

/// A loopback port nothing listens on (bound, then released).
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Every file under `dir`, as text, with its path.
fn files_under(dir: &Path) -> String {
    let mut out = String::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.push_str(&files_under(&p));
        } else {
            out.push_str(&format!("== {}\n", p.display()));
            out.push_str(&String::from_utf8_lossy(&std::fs::read(&p).unwrap()));
        }
    }
    out
}

/// Everything a run leaves in the repository: commit messages (claims) and run-record notes.
fn repo_text(repo: &Path) -> String {
    git(
        repo,
        &[
            "log",
            "--all",
            "--notes=refs/notes/gitops-gate",
            "--format=%H %B%n%N",
        ],
    )
}

/// Each integration pointed at a closed loopback port through a URL that reqwest (or the
/// SMTP client) renders normalised (upper-case scheme and host, a trailing newline), with
/// a secret in the URL's path or in a credential variable: the secret reaches neither
/// stdout, stderr nor any file written, and the message still names the service by scheme
/// and host.
#[test]
fn a_secret_in_an_unreachable_services_url_never_reaches_output_in_any_rendering() {
    let port = closed_port();
    let host = format!("LOCALHOST:{port}");
    let mut t = TestRepo::empty();
    let policy = format!(
        r#"version: 1
environments:
  qa: {{ branch: qa, pipeline: [deploy, smoke] }}
steps:
  deploy: {{ run: ["true"], timeout: 1m }}
  smoke:  {{ jenkins: "smoke-test", timeout: 20s }}
integrations:
  slack:   {{ webhook_env: SLACK_WEBHOOK_URL }}
  email:   {{ smtp: "{host}", from: "deploys@example.com" }}
  jenkins: {{ url: "HTTP://{host}/jenkins/" }}
  jira:    {{ url: "HTTP://{host}/jira", timeout: 5s, ticket_on_failure: {{ project: OPS, type: Bug }} }}
"#
    );
    let root = t.commit(
        "qa",
        &[],
        &[
            ("gitops.yaml", Some(&policy)),
            (
                "services/api.yaml",
                Some(&common::descriptor("api", "1.4.2")),
            ),
        ],
        alice(),
        "OPS-1: initial",
    );
    t.set_ref("refs/gitops-gate/deployed/qa", root);
    t.commit_on(
        "qa",
        &[(
            "services/api.yaml",
            Some(&common::descriptor("api", "1.4.3")),
        )],
        alice(),
        "OPS-2: bump api",
    );
    let secrets = [
        "SlackHookSECRET",
        "JenkinsTokenSECRET",
        "JiraTokenSECRET",
        "SmtpPassSECRET",
    ];
    let slack = format!("HTTP://{host}/services/T000/B000/SlackHookSECRET\n");
    let mut c = gate(&home());
    c.args([
        "run",
        "--branch",
        "qa",
        "--head",
        "qa",
        "--no-fetch",
        "--repo",
    ])
    .arg(t.path())
    .arg("--out")
    .arg(t.out())
    .env("SLACK_WEBHOOK_URL", &slack)
    .env("JENKINS_USER", "deployer")
    .env("JENKINS_API_TOKEN", "JenkinsTokenSECRET")
    .env("JIRA_EMAIL", "bot@example.com")
    .env("JIRA_API_TOKEN", "JiraTokenSECRET")
    .env("SMTP_USERNAME", "mailer")
    .env("SMTP_PASSWORD", "SmtpPassSECRET");
    let (code, stdout, stderr) = run(c);
    assert_eq!(code, 3, "the Jenkins stage cannot run");
    assert!(stdout.contains("smoke"), "{stdout}");
    let written = files_under(&t.out()) + &repo_text(&t.path());
    for s in secrets {
        for (what, text) in [
            ("stdout", &stdout),
            ("stderr", &stderr),
            ("files", &written),
        ] {
            assert!(!text.contains(s), "{s} in {what}:\n{text}");
        }
    }
    for service in ["Slack webhook", "SMTP", "JIRA", "Jenkins"] {
        assert!(
            stderr.lines().any(|l| l.contains(service)
                && (l.contains("http://localhost") || l.contains("smtp://localhost"))),
            "{service} named with its scheme and host:\n{stderr}"
        );
    }
    assert!(
        written.contains("cannot reach Jenkins: cannot connect (http://localhost)"),
        "{written}"
    );

    // The gating clients: a JIRA lookup and GitHub's commit logins fail closed (exit 4).
    let jira_gate = policy.replace(
        "steps:",
        "gates:\n  jira: { required: true, projects: [OPS] }\nsteps:",
    );
    let github_gate = policy.replace("steps:", "gates:\n  committers: [\"github:alice\"]\nsteps:");
    for (gated, service) in [(jira_gate, "JIRA"), (github_gate, "GitHub")] {
        // Judged by the deployed policy: a new root holds it.
        let mut t = TestRepo::empty();
        let root = t.commit(
            "qa",
            &[],
            &[
                ("gitops.yaml", Some(&gated)),
                (
                    "services/api.yaml",
                    Some(&common::descriptor("api", "1.4.2")),
                ),
            ],
            alice(),
            "OPS-1: initial",
        );
        t.set_ref("refs/gitops-gate/deployed/qa", root);
        t.commit_on(
            "qa",
            &[(
                "services/api.yaml",
                Some(&common::descriptor("api", "1.4.3")),
            )],
            alice(),
            "OPS-2: bump api",
        );
        let mut c = gate(&home());
        c.args([
            "plan",
            "--branch",
            "qa",
            "--head",
            "qa",
            "--no-fetch",
            "--repo",
        ])
        .arg(t.path())
        .arg("--out")
        .arg(t.out())
        .env("JIRA_PAT", "JiraTokenSECRET")
        .env("GITHUB_REPOSITORY", "acme/deployments")
        .env("GITHUB_TOKEN", "GithubTokenSECRET")
        .env(
            "GITHUB_API_URL",
            format!("HTTP://{host}/api/v3/GithubPathSECRET"),
        );
        let (code, stdout, stderr) = run(c);
        assert_eq!(code, 4, "{service} unreachable fails closed");
        assert_eq!(stdout, "", "{service}");
        assert!(
            stderr.contains(&format!("{service} is unavailable"))
                && stderr.contains("cannot connect (http://localhost)"),
            "{service}:\n{stderr}"
        );
        let written = files_under(&t.out());
        for s in ["JiraTokenSECRET", "GithubTokenSECRET", "GithubPathSECRET"] {
            assert!(!stderr.contains(s), "{s} in stderr:\n{stderr}");
            assert!(!written.contains(s), "{s} in files:\n{written}");
        }
    }
}
