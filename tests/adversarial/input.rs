//! Hostile input: YAML nesting, versions that are not versions, secrets in URLs, odd tree entries.
use crate::common::{self, alice, gate, git, home, run, TestRepo};
use gitops_gate::model::CommitId;
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
    t.deployed_then_bump(&policy, "OPS-2: bump api");
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
        t.deployed_then_bump(&gated, "OPS-2: bump api");
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

/// A deployment whose qa branch then holds api's descriptor with `version_line` in place of
/// its version; returns the repository and the qa tip.
fn qa_with_version_line(version_line: &str) -> (TestRepo, CommitId) {
    let (mut t, _) = TestRepo::deployment();
    let d = common::descriptor("api", "1.4.2").replace("version: \"1.4.2\"", version_line);
    let head = t.commit_on(
        "qa",
        &[("services/api.yaml", Some(&d))],
        alice(),
        "OPS-2: bump api",
    );
    (t, head)
}

fn validate_qa(t: &TestRepo) -> (i32, String, String) {
    let mut c = gate(&home());
    c.args(["validate", "--env", "qa", "--repo"]).arg(t.path());
    run(c)
}

/// `version: ~`, `null` or nothing used to deploy the literal text, and a version holding a
/// shell command reached the commands downstream jobs run. Each is a schema error naming the
/// file, the line and the field, exit 2; versions of the documented set still pass, and a
/// plain number keeps its text.
#[test]
fn a_version_that_is_null_empty_or_a_shell_command_is_a_located_schema_error() {
    let long = format!("version: \"{}\"", "1".repeat(129));
    let bad = [
        "version: ~",
        "version: null",
        "version: NULL",
        "version:",
        "version: \"\"",
        "version: \"1.0; rm -rf /\"",
        "version: \"$(id)\"",
        "version: \"`id`\"",
        "version: ../../etc/passwd",
        "version: \"1.0 beta\"",
        "version: \"-rf\"",
        "version: \".1\"",
        "version: \"1.0\\n2\"",
        long.as_str(),
    ];
    for line in bad {
        let (t, _) = qa_with_version_line(line);
        let (code, stdout, stderr) = validate_qa(&t);
        assert_eq!(code, 2, "{line}");
        assert!(
            stdout.contains("qa:services/api.yaml:2: version: "),
            "{line}: file, line and field:\n{stdout}"
        );
        assert!(stdout.ends_with("1 problem(s)\n"), "{line}:\n{stdout}");
        assert_eq!(stderr, "", "{line}");
    }
    for (line, version) in [
        ("version: 1.10", "1.10"),
        ("version: \"1.0.0+build.7\"", "1.0.0+build.7"),
        ("version: 2026.12.03", "2026.12.03"),
        ("version: 3f2a9c1d", "3f2a9c1d"),
        ("version: v2.0.0-rc.1_b", "v2.0.0-rc.1_b"),
        ("version: 'null-safe'", "null-safe"),
    ] {
        let (t, _) = qa_with_version_line(line);
        let (code, stdout, stderr) = validate_qa(&t);
        assert_eq!(
            (code, stdout.as_str(), stderr.as_str()),
            (
                0,
                "checked qa (branch qa): policy and 2 descriptor(s)\nvalid\n",
                ""
            ),
            "{line}"
        );
        let mut c = gate(&home());
        c.args(["plan", "--branch", "qa", "--head", "qa", "--no-fetch"])
            .args(["--offline", "--format", "json", "--repo"])
            .arg(t.path())
            .arg("--out")
            .arg(t.out());
        let (_, stdout, _) = run(c);
        let plan: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        assert_eq!(plan["changes"][0]["to"], version, "{line}");
    }
    // The same refusal through `plan`: the push is invalid input, exit 2.
    let (t, _) = qa_with_version_line("version: ~");
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
    .arg(t.out());
    let (code, stdout, _) = run(c);
    assert_eq!(code, 2);
    assert!(
        stdout.contains("at services/api.yaml:2, field version"),
        "{stdout}"
    );
}

/// `bump` checks the version with the descriptor's own rule before it commits anything.
#[test]
fn bump_refuses_a_version_that_is_not_a_version_before_committing() {
    let (t, root) = TestRepo::deployment();
    for bad in ["1.0;id", "null", "1.0 beta", "$(id)", "a/b", ""] {
        let mut c = gate(&home());
        c.args(["bump", "api", bad, "--env", "qa", "--repo"])
            .arg(t.path())
            .args([
                "--author-name",
                "Nightly",
                "--author-email",
                "ci@example.com",
            ]);
        let (code, stdout, stderr) = run(c);
        assert_eq!(code, 2, "{bad}");
        assert_eq!(stdout, "", "{bad}");
        assert!(stderr.contains("nothing committed"), "{bad}:\n{stderr}");
        assert!(
            stderr.contains("hint: write a version of letters, digits and . _ + -"),
            "{bad}:\n{stderr}"
        );
        assert_eq!(t.tip("qa"), root, "{bad}: nothing committed");
    }
}

/// 50,000 nested `[` (100 KB) kept serde_yaml busy for 22 s before "recursion limit
/// exceeded", and minutes at the 1 MiB cap. A linear scan refuses the file before any
/// parser sees it, naming file, line and column; the same guard covers the policy and block
/// (indentation) nesting, and brackets in quotes, comments or plain text are not nesting.
/// (The time is measured by `bench/yaml_depth.sh`, not asserted here.)
#[test]
fn a_descriptor_nested_50000_deep_is_refused_before_parsing() {
    let deep = format!(
        "{}ports: {}\n",
        common::descriptor("api", "1.4.3").replace("ports: [8080]\n", ""),
        "[".repeat(50_000)
    );
    let (mut t, _) = TestRepo::deployment();
    t.commit_on(
        "qa",
        &[("services/api.yaml", Some(&deep))],
        alice(),
        "OPS-2: deep",
    );
    let (code, stdout, stderr) = validate_qa(&t);
    assert_eq!(code, 2);
    // `ports:` is one level; the 32nd `[` (column 8 + 31) is the 33rd.
    assert_eq!(
        stdout,
        "checked qa (branch qa): policy and 2 descriptor(s)\n\
         qa:services/api.yaml:13:39: nesting deeper than 32 levels; descriptors need at most a few \
         (hint: flatten the file: deeper nesting is refused before parsing, since it costs the parser time with the square of the depth)\n\
         1 problem(s)\n"
    );
    assert_eq!(stderr, "");
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
    .arg(t.out());
    let (code, stdout, _) = run(c);
    assert_eq!(code, 2);
    assert!(
        stdout.contains("nesting deeper than 32 levels")
            && stdout.contains("at services/api.yaml:13"),
        "{stdout}"
    );

    // A policy nested by indentation goes through the same gate.
    let block: String = (0..40)
        .map(|i| format!("{}k{i}:\n", "  ".repeat(i)))
        .collect();
    let policy = format!("{}x:\n{block}", common::POLICY);
    t.commit_on("qa", &[("gitops.yaml", Some(&policy))], alice(), "OPS-3");
    let (code, stdout, stderr) = validate_qa(&t);
    assert_eq!((code, stderr.as_str()), (2, ""));
    assert!(
        stdout.contains("qa:gitops.yaml:46:65: nesting deeper than 32 levels"),
        "{stdout}"
    );

    // Brackets in quotes, comments and plain text are not nesting: this parses as before.
    let brackets = "[".repeat(200);
    let fine = common::descriptor("api", "1.4.3")
        .replace(
            "domain: api.example.com",
            &format!("domain: api.example.com # {brackets}"),
        )
        .replace("\"#api\"", &format!("\"#api{brackets}\""));
    let (mut t, _) = TestRepo::deployment();
    t.commit_on(
        "qa",
        &[("services/api.yaml", Some(&fine))],
        alice(),
        "OPS-2: fine",
    );
    let (code, stdout, stderr) = validate_qa(&t);
    assert_eq!(
        (code, stdout.as_str(), stderr.as_str()),
        (
            0,
            "checked qa (branch qa): policy and 2 descriptor(s)\nvalid\n",
            ""
        )
    );
}

/// A commit on `branch` whose `services/` also holds `name` with `mode` (a gitlink
/// 0o160000 pointing at `target`, or a symlink 0o120000 to a blob holding `target`'s text).
fn commit_odd_entry(t: &TestRepo, branch: &str, name: &str, mode: i32) -> CommitId {
    let repo = git2::Repository::open(t.path()).unwrap();
    let tip = repo.find_commit(t.tip(branch).into()).unwrap();
    let root = tip.tree().unwrap();
    let services = repo
        .find_tree(root.get_name("services").unwrap().id())
        .unwrap();
    let target = if mode == 0o160000 {
        tip.id()
    } else {
        repo.blob(b"api.yaml").unwrap()
    };
    let mut sb = repo.treebuilder(Some(&services)).unwrap();
    sb.insert(name, target, mode).unwrap();
    let sid = sb.write().unwrap();
    let mut rb = repo.treebuilder(Some(&root)).unwrap();
    rb.insert("services", sid, 0o040000).unwrap();
    let tree = repo.find_tree(rb.write().unwrap()).unwrap();
    let sig = git2::Signature::new(
        "Alice",
        "alice@example.com",
        &git2::Time::new(1_767_300_000, 0),
    )
    .unwrap();
    repo.commit(
        Some(&format!("refs/heads/{branch}")),
        &sig,
        &sig,
        "OPS-3: odd entry",
        &tree,
        &[&tip],
    )
    .unwrap()
    .into()
}

/// A `.yaml` under `services/` that is a submodule (a gitlink) or a symlink failed with a
/// bare "cannot read blob <id>". It is named, with what it is and the command that fixes it,
/// exit 2, by `validate` and by `plan`.
#[test]
fn a_descriptor_that_is_a_submodule_or_a_symlink_is_named_with_the_fix() {
    for (mode, what) in [(0o160000, "a submodule"), (0o120000, "a symbolic link")] {
        let (t, _) = TestRepo::deployment();
        commit_odd_entry(&t, "qa", "x.yaml", mode);
        let expected = format!(
            "is {what}, not a file: descriptors must be regular files; remove it with `git rm --cached services/x.yaml`"
        );
        let (code, stdout, stderr) = validate_qa(&t);
        assert_eq!(code, 2, "{what}");
        assert!(
            stdout.contains(&format!("qa:services/x.yaml: {expected}\n")),
            "{what}:\n{stdout}"
        );
        assert!(stdout.ends_with("1 problem(s)\n"), "{stdout}");
        assert_eq!(stderr, "", "{what}");
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
        .arg(t.out());
        let (code, stdout, stderr) = run(c);
        assert_eq!(code, 2, "{what}");
        let both = format!("{stdout}{stderr}");
        assert!(both.contains(&expected), "{what}:\n{both}");
        assert!(!both.contains("cannot read blob"), "{both}");
    }
}
