//! `gitops-gate run` end to end: a real repository with a bare `origin`, a deploy command
//! that appends to a file, a health endpoint and a Slack receiver on 127.0.0.1.
mod common;
use assert_cmd::Command;
use gitops_gate::repo::{Identity, Repo};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

struct Server {
    base: String,
    slack: Arc<Mutex<Vec<String>>>,
    /// (method url, body) of every JIRA call.
    jira: Arc<Mutex<Vec<(String, String)>>>,
}

/// `/healthz` answers 503 until the `healthy_after`-th request; `/never` always 503;
/// POST `/slack` records the body.
fn server(healthy_after: u32) -> Server {
    let s = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let base = format!("http://{}", s.server_addr().to_ip().unwrap());
    let slack = Arc::new(Mutex::new(Vec::new()));
    let seen = slack.clone();
    let jira: Arc<Mutex<Vec<(String, String)>>> = Arc::new(Mutex::new(Vec::new()));
    let jseen = jira.clone();
    let hits = AtomicU32::new(0);
    std::thread::spawn(move || {
        for mut r in s.incoming_requests() {
            let url = r.url().to_string();
            if url.starts_with("/rest/api/2/") {
                let mut body = String::new();
                r.as_reader().read_to_string(&mut body).unwrap();
                let mut j = jseen.lock().unwrap();
                let created = j.iter().any(|(m, _)| m == "POST /rest/api/2/issue");
                j.push((format!("{} {url}", r.method()), body));
                let (code, answer) = if url.starts_with("/rest/api/2/search") {
                    let issues = if created {
                        r#"[{"key":"OPS-99"}]"#
                    } else {
                        "[]"
                    };
                    (200, format!(r#"{{"issues":{issues}}}"#))
                } else if url.starts_with("/rest/api/2/user/search") {
                    (
                        200,
                        r#"[{"accountId":"acc-alice","emailAddress":"alice@example.com"}]"#
                            .to_string(),
                    )
                } else if url == "/rest/api/2/issue" {
                    (201, r#"{"id":"1","key":"OPS-99"}"#.to_string())
                } else {
                    (201, "{}".to_string())
                };
                let _ = r.respond(tiny_http::Response::from_string(answer).with_status_code(code));
                continue;
            }
            let code = if url == "/slack" {
                let mut body = String::new();
                r.as_reader().read_to_string(&mut body).unwrap();
                seen.lock().unwrap().push(body);
                200
            } else if url == "/healthz" {
                let n = hits.fetch_add(1, Ordering::SeqCst) + 1;
                if n >= healthy_after {
                    200
                } else {
                    503
                }
            } else {
                503
            };
            let _ = r.respond(tiny_http::Response::from_string("ok").with_status_code(code));
        }
    });
    Server { base, slack, jira }
}

use common::git;

struct Fixture {
    _tmp: tempfile::TempDir,
    repo: PathBuf,
    remote: PathBuf,
    log: PathBuf,
    out: PathBuf,
    head: String,
    root: String,
}

/// `before` runs in the deploy step before it logs (e.g. `sleep 1; ` to widen a race).
fn policy_with(log: &Path, base: &str, extra: &str, before: &str) -> String {
    format!(
        r#"version: 1
environments:
  qa: {{ branch: qa, pipeline: [deploy, healthcheck] }}
steps:
  deploy: {{ run: ["sh", "-c", "{before}echo \"$GITOPS_SERVICE $GITOPS_VERSION $GITOPS_ACTION\" >> {}"], timeout: 1m }}
  healthcheck: {{ url_base: "{base}" }}
integrations:
  slack: {{ webhook_env: TEST_SLACK_URL }}
{extra}"#,
        log.display()
    )
}

fn descriptor(version: &str, endpoint: &str) -> String {
    format!(
        r#"service: api
version: "{version}"
maintainer: team-api@example.com
domain: api.qa.example.com
port: 8080
healthcheck: {{ endpoints: ["{endpoint}"], retries: 4, interval: 50ms, timeout: 1s }}
"#
    )
}

fn fixture(base: &str, endpoint: &str) -> Fixture {
    fixture_with(base, endpoint, "")
}

fn fixture_with(base: &str, endpoint: &str, extra: &str) -> Fixture {
    fixture_full(base, endpoint, extra, "")
}

fn fixture_full(base: &str, endpoint: &str, extra: &str, before_deploy: &str) -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let repo_dir = tmp.path().join("deployments");
    let remote = tmp.path().join("origin.git");
    let log = tmp.path().join("deploys.log");
    let repo = Repo::init(&repo_dir).unwrap();
    let alice = Identity::new("Alice", "alice@example.com", 1_767_225_600);
    let pol = policy_with(&log, base, extra, before_deploy);
    let v1 = descriptor("1.0.0", endpoint);
    let root = repo
        .commit_files(
            Some("refs/heads/qa"),
            &[],
            &[
                ("gitops.yaml", Some(pol.as_bytes())),
                ("services/api.yaml", Some(v1.as_bytes())),
            ],
            &alice,
            &alice,
            "OPS-1: initial",
        )
        .unwrap();
    repo.set_ref(&Repo::ledger_ref("qa"), root, "test").unwrap();
    let v2 = descriptor("1.1.0", endpoint);
    let head = repo
        .commit_files(
            Some("refs/heads/qa"),
            &[root],
            &[("services/api.yaml", Some(v2.as_bytes()))],
            &alice,
            &alice,
            "OPS-2: bump api",
        )
        .unwrap();
    common::git_std()
        .args(["init", "--bare", "-q"])
        .arg(&remote)
        .status()
        .unwrap();
    git(
        &repo_dir,
        &["remote", "add", "origin", remote.to_str().unwrap()],
    );
    git(
        &repo_dir,
        &["push", "-q", "origin", "refs/heads/qa:refs/heads/qa"],
    );
    git(
        &repo_dir,
        &[
            "push",
            "-q",
            "origin",
            "refs/gitops-gate/deployed/qa:refs/gitops-gate/deployed/qa",
        ],
    );
    Fixture {
        out: tmp.path().join("out"),
        _tmp: tmp,
        repo: repo_dir,
        remote,
        log,
        head: head.to_string(),
        root: root.to_string(),
    }
}

fn gate(f: &Fixture, slack: &str) -> Command {
    Command::from_std(gate_std(f, slack))
}

fn gate_std(f: &Fixture, slack: &str) -> std::process::Command {
    let mut c = common::gate_std(&common::home());
    c.env("TEST_SLACK_URL", slack)
        .arg("run")
        .arg("--repo")
        .arg(&f.repo)
        .arg("--branch")
        .arg("qa")
        .arg("--head")
        .arg("qa")
        .arg("--no-fetch")
        .arg("--out")
        .arg(&f.out);
    c
}

fn deploys(f: &Fixture) -> Vec<String> {
    std::fs::read_to_string(&f.log)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

fn remote_ledger(f: &Fixture) -> String {
    git(&f.remote, &["rev-parse", "refs/gitops-gate/deployed/qa"])
}

#[test]
fn a_successful_run_deploys_once_moves_the_ledger_and_records_a_note() {
    let s = server(3);
    let f = fixture(&s.base, "/healthz");
    let slack = format!("{}/slack", s.base);
    let out = gate(&f, &slack).assert().code(0);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(stderr.contains("attempt 3/4"), "{stderr}");
    assert_eq!(deploys(&f), vec!["api 1.1.0 deploy"]);
    assert_eq!(remote_ledger(&f), f.head);
    let note = git(
        &f.remote,
        &["notes", "--ref=refs/notes/gitops-gate", "show", &f.head],
    );
    let rec: serde_json::Value = serde_json::from_str(&note).unwrap();
    assert_eq!(rec["result"], "succeeded");
    assert_eq!(rec["stages"][1]["id"], "deploy");
    assert_eq!(rec["stages"][2]["attempts"], 3);
    let run: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(f.out.join("run.json")).unwrap()).unwrap();
    assert_eq!(run["result"], "succeeded");
    assert_eq!(run["ledger"], "moved");
    let msgs = s.slack.lock().unwrap().clone();
    assert_eq!(msgs.len(), 2, "start and end: {msgs:?}");
    let start: serde_json::Value = serde_json::from_str(&msgs[0]).unwrap();
    assert!(start["text"].as_str().unwrap().contains("api 1.1.0"));
    assert!(start["blocks"].is_array());
    assert!(msgs[1].contains("succeeded"));

    // The same plan again: the ledger moved, so it is refused before any deploy.
    let again = gate(&f, &slack)
        .arg("--plan")
        .arg(f.out.join("plan.json"))
        .assert()
        .code(5);
    let _ = again;
    assert_eq!(deploys(&f).len(), 1, "deployed exactly once");
}

#[test]
fn a_lost_race_exits_5_and_names_the_winner() {
    let s = server(1);
    let f = fixture(&s.base, "/healthz");
    // Another run wins first: origin's ledger moves behind our back (local ref unchanged).
    let winner = git(&f.repo, &["rev-parse", "qa"]);
    let other = git(
        &f.repo,
        &[
            "commit-tree",
            "-p",
            &winner,
            "-m",
            "other",
            &format!("{winner}^{{tree}}"),
        ],
    );
    git(
        &f.repo,
        &["push", "-q", "origin", &format!("{other}:refs/heads/other")],
    );
    git(
        &f.remote,
        &[
            "update-ref",
            "refs/gitops-gate/deployed/qa",
            &other,
            &f.root,
        ],
    );
    let out = gate(&f, "http://127.0.0.1:9/none").assert().code(5);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(stderr.contains(&other), "names the winner: {stderr}");
    assert_eq!(remote_ledger(&f), other, "the winner's ledger stays");
    // The claim reads origin's ledger first: no stage ran at all.
    assert!(deploys(&f).is_empty(), "{:?}", deploys(&f));
    assert!(!f.out.join("run.json").exists());
}

#[test]
fn an_unhealthy_service_fails_the_run_and_keeps_the_ledger() {
    let s = server(1);
    let f = fixture(&s.base, "/never");
    let out = gate(&f, &format!("{}/slack", s.base)).assert().code(3);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(stderr.contains("not healthy after 4 attempts"), "{stderr}");
    assert_eq!(remote_ledger(&f), f.root);
    let note = git(
        &f.remote,
        &["notes", "--ref=refs/notes/gitops-gate", "show", &f.head],
    );
    assert!(note.contains("\"failed\""));
    let msgs = s.slack.lock().unwrap().clone();
    assert!(msgs[1].contains("failed at"), "{msgs:?}");
    // The failed run released its claim, so the environment is not wedged.
    let c = remote_claim(&f).expect("a claim record on origin");
    assert_eq!(c["state"], "released");
    assert_eq!(c["result"], "failed");
    gate(&f, &format!("{}/slack", s.base)).assert().code(3);
    assert_eq!(deploys(&f).len(), 2, "the re-run was not blocked");
}

#[test]
fn dry_run_has_no_side_effects() {
    let s = server(1);
    let f = fixture(&s.base, "/healthz");
    let out = gate(&f, &format!("{}/slack", s.base))
        .arg("--dry-run")
        .assert()
        .code(0);
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(stdout.contains("would run [deploy api]"), "{stdout}");
    assert!(deploys(&f).is_empty());
    assert_eq!(remote_ledger(&f), f.root);
    assert!(s.slack.lock().unwrap().is_empty());
    assert!(!f.out.join("run.json").exists());
}

/// A minimal SMTP receiver: EHLO/MAIL/RCPT/DATA/QUIT, recording (recipients, data).
/// (recipients, data) of every mail received.
type Mails = Arc<Mutex<Vec<(Vec<String>, String)>>>;

fn smtp() -> (u16, Mails) {
    use std::io::{BufRead, BufReader, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let mails = Arc::new(Mutex::new(Vec::new()));
    let m = mails.clone();
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let mut w = conn.unwrap();
            let mut r = BufReader::new(w.try_clone().unwrap());
            w.write_all(b"220 localhost ESMTP test\r\n").unwrap();
            let mut rcpt = Vec::new();
            let mut line = String::new();
            loop {
                line.clear();
                if r.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                let up = line.to_ascii_uppercase();
                if up.starts_with("EHLO") || up.starts_with("HELO") {
                    w.write_all(b"250-localhost\r\n250 8BITMIME\r\n").unwrap();
                } else if up.starts_with("RCPT TO:") {
                    rcpt.push(line[8..].trim().trim_matches(['<', '>']).to_string());
                    w.write_all(b"250 ok\r\n").unwrap();
                } else if up.starts_with("DATA") {
                    w.write_all(b"354 go\r\n").unwrap();
                    let mut data = String::new();
                    loop {
                        line.clear();
                        r.read_line(&mut line).unwrap();
                        if line == ".\r\n" {
                            break;
                        }
                        data.push_str(&line);
                    }
                    m.lock().unwrap().push((std::mem::take(&mut rcpt), data));
                    w.write_all(b"250 queued\r\n").unwrap();
                } else if up.starts_with("QUIT") {
                    w.write_all(b"221 bye\r\n").unwrap();
                    break;
                } else {
                    w.write_all(b"250 ok\r\n").unwrap();
                }
            }
        }
    });
    (port, mails)
}

#[test]
fn a_failure_mails_comments_and_opens_one_ticket() {
    let s = server(1);
    let (port, mails) = smtp();
    let extra = format!(
        "  email: {{ smtp: \"127.0.0.1:{port}\", from: \"deploys@example.com\" }}\n  jira: {{ url: \"{}\", ticket_on_failure: {{ project: OPS, type: Bug }}, users: {{ bob@example.com: acc-bob }} }}\n",
        s.base
    );
    let f = fixture_with(&s.base, "/never", &extra);
    let slack = format!("{}/slack", s.base);
    gate(&f, &slack)
        .env("JIRA_EMAIL", "bot@example.com")
        .env("JIRA_API_TOKEN", "sekrit-token")
        .assert()
        .code(3);
    let m = mails.lock().unwrap().clone();
    assert_eq!(m.len(), 1, "one mail");
    assert_eq!(m[0].0, vec!["team-api@example.com"]);
    assert!(m[0].1.contains("failed"), "{}", m[0].1);
    let calls = s.jira.lock().unwrap().clone();
    assert!(
        calls
            .iter()
            .any(|(u, b)| u == "POST /rest/api/2/issue/OPS-2/comment" && b.contains("failed")),
        "{calls:?}"
    );
    let created: Vec<&(String, String)> = calls
        .iter()
        .filter(|(u, _)| u == "POST /rest/api/2/issue")
        .collect();
    assert_eq!(created.len(), 1);
    let t: serde_json::Value = serde_json::from_str(&created[0].1).unwrap();
    assert_eq!(t["fields"]["project"]["key"], "OPS");
    assert_eq!(t["fields"]["issuetype"]["name"], "Bug");
    assert_eq!(t["fields"]["assignee"]["accountId"], "acc-alice");
    assert!(t["fields"]["description"]
        .as_str()
        .unwrap()
        .contains("not healthy"));

    // The same failure again: the open ticket is found, no second one.
    gate(&f, &slack)
        .env("JIRA_EMAIL", "bot@example.com")
        .env("JIRA_API_TOKEN", "sekrit-token")
        .assert()
        .code(3);
    let calls = s.jira.lock().unwrap().clone();
    assert_eq!(
        calls
            .iter()
            .filter(|(u, _)| u == "POST /rest/api/2/issue")
            .count(),
        1
    );
    assert!(calls
        .iter()
        .any(|(u, _)| u == "POST /rest/api/2/issue/OPS-99/comment"));
}

/// Two `run`s of the same push started together, `rounds` times on fresh fixtures: each
/// time exactly one deploys (the deploy step appends to a file), the other exits 5 without
/// running any stage.
#[test]
fn two_runs_racing_deploy_exactly_once_and_the_loser_exits_5() {
    let s = server(1);
    let slack = format!("{}/slack", s.base);
    // A slow deploy makes the runs overlap while one is deploying; a fast one lets the
    // winner finish (and release its claim) while the loser is still planning.
    for (round, before) in ["sleep 1; ", "sleep 1; ", "", ""].iter().enumerate() {
        let f = fixture_full(&s.base, "/healthz", "", before);
        let kids: Vec<(std::process::Child, PathBuf)> = (0..2)
            .map(|i| {
                let err = f._tmp.path().join(format!("stderr-{i}"));
                let mut c = common::gate_std(&common::home());
                c.env("TEST_SLACK_URL", &slack)
                    .arg("run")
                    .arg("--repo")
                    .arg(&f.repo)
                    .args(["--branch", "qa", "--head", "qa", "--no-fetch", "--out"])
                    .arg(f._tmp.path().join(format!("out-{i}")))
                    .stdout(std::process::Stdio::null())
                    .stderr(std::fs::File::create(&err).unwrap());
                (c.spawn().unwrap(), err)
            })
            .collect();
        let mut results: Vec<(i32, String, PathBuf)> = kids
            .into_iter()
            .enumerate()
            .map(|(i, (mut k, err))| {
                let code = k.wait().unwrap().code().unwrap();
                (
                    code,
                    std::fs::read_to_string(err).unwrap(),
                    f._tmp.path().join(format!("out-{i}")),
                )
            })
            .collect();
        results.sort_by_key(|r| r.0);
        let codes: Vec<i32> = results.iter().map(|r| r.0).collect();
        assert_eq!(codes, vec![0, 5], "round {round}: {results:?}");
        assert_eq!(
            deploys(&f),
            vec!["api 1.1.0 deploy"],
            "round {round}: the deploy ran exactly once"
        );
        let loser = &results[1];
        assert!(
            loser.1.contains("no stage ran"),
            "round {round}: the loser says why: {}",
            loser.1
        );
        assert!(!loser.1.contains("[deploy api]"), "{}", loser.1);
        assert!(!loser.2.join("run.json").exists(), "the loser ran nothing");
        assert_eq!(remote_ledger(&f), f.head);
        let c = remote_claim(&f).unwrap();
        assert_eq!(c["state"], "released");
        assert_eq!(c["result"], "succeeded");
    }
}

/// The claim record on origin (None: no claim ref).
fn remote_claim(f: &Fixture) -> Option<serde_json::Value> {
    let o = common::git_std()
        .arg("-C")
        .arg(&f.remote)
        .args([
            "log",
            "-1",
            "--format=%B",
            "refs/gitops-gate/claim/qa",
            "--",
        ])
        .output()
        .unwrap();
    if !o.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&o.stdout).to_string();
    Some(serde_json::from_str(&text[text.find('{')?..]).unwrap())
}

/// A claim left on origin by another run (as a crashed one leaves it).
fn plant_claim(f: &Fixture, base: &str, expires: &str) {
    let started = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    plant_record(
        f,
        serde_json::json!({
            "schema": 1, "state": "held", "environment": "qa", "head": f.head, "base": base,
            "plan_digest": "0123456789abcdef", "run_id": "crashed", "started": started,
            "expires": expires, "run_url": "https://ci.example.com/run/41",
        }),
    );
}

/// An hour from now, RFC 3339: a live claim's expiry.
fn in_an_hour() -> String {
    (chrono::Utc::now() + chrono::Duration::hours(1))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Any claim record (forged ones included) on origin's claim ref.
fn plant_record(f: &Fixture, record: serde_json::Value) {
    let tree = git(&f.repo, &["hash-object", "-w", "-t", "tree", "/dev/null"]);
    let msg = format!("gitops-gate claim: qa {} (held)\n\n{record}\n", f.head);
    let sha = git(
        &f.repo,
        &[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.com",
            "commit-tree",
            &tree,
            "-m",
            &msg,
        ],
    );
    git(
        &f.repo,
        &[
            "push",
            "-q",
            "--force",
            "origin",
            &format!("{sha}:refs/gitops-gate/claim/qa"),
        ],
    );
}

#[test]
fn a_live_claim_blocks_before_any_stage_and_break_claim_takes_it_over() {
    let s = server(1);
    let f = fixture(&s.base, "/healthz");
    let slack = format!("{}/slack", s.base);
    plant_claim(&f, &f.root, &in_an_hour());
    let out = gate(&f, &slack).assert().code(5);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        stderr.contains("another run is deploying to qa")
            && stderr.contains("https://ci.example.com/run/41")
            && stderr.contains("--break-claim")
            && stderr.contains("6 hours"),
        "{stderr}"
    );
    assert!(deploys(&f).is_empty());
    assert!(
        s.slack.lock().unwrap().is_empty(),
        "not even notify-start ran"
    );
    assert_eq!(remote_claim(&f).unwrap()["run_id"], "crashed", "left alone");

    let out = gate(&f, &slack).arg("--break-claim").assert().code(0);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(stderr.contains("taking over"), "{stderr}");
    assert_eq!(deploys(&f), vec!["api 1.1.0 deploy"]);
    assert_eq!(remote_ledger(&f), f.head);
    let c = remote_claim(&f).unwrap();
    assert_eq!(c["state"], "released");
    assert_ne!(c["run_id"], "crashed");
}

#[test]
fn an_expired_or_superseded_claim_does_not_wedge_the_environment() {
    let s = server(1);
    let slack = format!("{}/slack", s.base);
    // A crashed run's claim, past its expiry.
    let f = fixture(&s.base, "/healthz");
    plant_claim(&f, &f.root, "2026-01-01T00:00:00Z");
    gate(&f, &slack).assert().code(0);
    assert_eq!(deploys(&f).len(), 1);
    assert_eq!(remote_claim(&f).unwrap()["result"], "succeeded");

    // A claim taken from an older ledger: that run moved the ledger (or will lose), so it
    // no longer blocks, however fresh.
    let f = fixture(&s.base, "/healthz");
    plant_claim(
        &f,
        "1111111111111111111111111111111111111111",
        "2999-01-01T00:00:00Z",
    );
    gate(&f, &slack).assert().code(0);
    assert_eq!(deploys(&f).len(), 1);

    // A forged claim (fresh start, expiry centuries away) blocks no longer than the cap,
    // that is not at all once it claims more than the cap.
    let f = fixture(&s.base, "/healthz");
    plant_claim(&f, &f.root, "2999-01-01T00:00:00Z");
    gate(&f, &slack).assert().code(0);
    assert_eq!(deploys(&f).len(), 1);
    assert_eq!(remote_claim(&f).unwrap()["result"], "succeeded");
    // Our own claim expires within the cap.
    let c = remote_claim(&f).unwrap();
    let t = |k: &str| chrono::DateTime::parse_from_rfc3339(c[k].as_str().unwrap()).unwrap();
    assert!(t("expires") - t("started") <= chrono::Duration::hours(6));
}

#[test]
fn hostile_healthcheck_numbers_neither_panic_nor_claim_past_the_cap() {
    let s = server(1);
    let mut f = fixture(&s.base, "/healthz");
    // Healthy at once, so the numbers only feed the claim's budget.
    let hostile = descriptor("1.1.0", "/healthz").replace(
        "retries: 4, interval: 50ms",
        "retries: 4294967295, interval: 100000000h",
    );
    let repo = Repo::open(&f.repo).unwrap();
    let alice = Identity::new("Alice", "alice@example.com", 1_767_225_700);
    let parent = repo.resolve(&f.head).unwrap();
    let head = repo
        .commit_files(
            Some("refs/heads/qa"),
            &[parent],
            &[("services/api.yaml", Some(hostile.as_bytes()))],
            &alice,
            &alice,
            "OPS-3: hostile healthcheck",
        )
        .unwrap();
    f.head = head.to_string();
    git(
        &f.repo,
        &["push", "-q", "origin", "refs/heads/qa:refs/heads/qa"],
    );
    let out = gate(&f, &format!("{}/slack", s.base)).assert().code(0);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(!stderr.contains("panicked"), "{stderr}");
    let c = remote_claim(&f).unwrap();
    let t = |k: &str| chrono::DateTime::parse_from_rfc3339(c[k].as_str().unwrap()).unwrap();
    assert_eq!(t("expires") - t("started"), chrono::Duration::hours(6));
}

#[test]
fn a_forged_claim_record_cannot_inject_workflow_commands() {
    let s = server(1);
    let f = fixture(&s.base, "/healthz");
    let started = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    plant_record(
        &f,
        serde_json::json!({
            "schema": 1, "state": "held", "environment": "qa",
            "head": format!("{}\n::error::x", f.head), "base": f.root,
            "plan_digest": "0123\n::error::x", "run_id": "forged",
            "started": started, "expires": in_an_hour(),
            "run_url": "https://ci.example.com/run/41\n::error::y",
            "actor": "eve\r\n::add-mask::z",
        }),
    );
    let out = gate(&f, &format!("{}/slack", s.base)).assert().code(5);
    let o = out.get_output();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        !all.lines().any(|l| l.trim_start().starts_with("::error::")
            || l.trim_start().starts_with("::add-mask::")),
        "{all}"
    );
    assert!(
        !all.contains("run/41"),
        "a run_url with a newline is dropped: {all}"
    );
    assert!(!all.contains("::error::x"), "{all}");
    assert!(all.contains("another run is deploying to qa"), "{all}");
    assert!(
        deploys(&f).is_empty(),
        "the forged but unexpired claim still blocks"
    );
}

/// A claim push that lands on origin although the pusher hears a failure (a connection lost
/// after the update): a pre-receive hook that applies the update itself, once, then declines.
#[cfg(unix)]
fn land_then_fail_the_first_claim_push(f: &Fixture) {
    use std::os::unix::fs::PermissionsExt;
    let hook = f.remote.join("hooks/pre-receive");
    std::fs::create_dir_all(hook.parent().unwrap()).unwrap();
    std::fs::write(
        &hook,
        r#"#!/bin/sh
dir=$(pwd)
while read old new ref; do
  if [ "$ref" = refs/gitops-gate/claim/qa ] && [ ! -e "$dir/failed-once" ]; then
    touch "$dir/failed-once"
    git cat-file commit "$new" > "$dir/claim.tmp"
    unset GIT_QUARANTINE_PATH GIT_OBJECT_DIRECTORY GIT_ALTERNATE_OBJECT_DIRECTORIES
    git hash-object -t commit -w "$dir/claim.tmp" >/dev/null
    git update-ref "$ref" "$new"
    echo "connection reset" >&2
    exit 1
  fi
done
exit 0
"#,
    )
    .unwrap();
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[cfg(unix)]
#[test]
fn a_claim_push_that_landed_unheard_is_released_so_a_retry_is_not_blocked() {
    let s = server(1);
    let f = fixture(&s.base, "/healthz");
    let slack = format!("{}/slack", s.base);
    land_then_fail_the_first_claim_push(&f);
    let out = gate(&f, &slack).assert().code(4);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(stderr.contains("cannot claim"), "{stderr}");
    assert!(deploys(&f).is_empty());
    let c = remote_claim(&f).expect("the claim landed");
    assert_eq!(c["state"], "released", "our own landed claim is released");
    assert_eq!(c["result"], "abandoned");
    // The retry is not blocked by our own claim.
    gate(&f, &slack).assert().code(0);
    assert_eq!(deploys(&f), vec!["api 1.1.0 deploy"]);
}

#[test]
fn without_origin_the_claim_is_a_local_compare_and_swap() {
    let s = server(1);
    let f = fixture(&s.base, "/healthz");
    git(&f.repo, &["remote", "remove", "origin"]);
    gate(&f, &format!("{}/slack", s.base)).assert().code(0);
    assert_eq!(deploys(&f).len(), 1);
    let msg = git(
        &f.repo,
        &[
            "log",
            "-1",
            "--format=%B",
            "refs/gitops-gate/claim/qa",
            "--",
        ],
    );
    assert!(msg.contains("\"state\": \"released\""), "{msg}");
    assert_eq!(
        git(&f.repo, &["rev-parse", "refs/gitops-gate/deployed/qa"]),
        f.head
    );
}

#[test]
fn a_cancelled_run_kills_its_step_and_releases_its_claim() {
    let s = server(0);
    let f = fixture_full(&s.base, "/healthz", "", "sleep 30; ");
    let child = gate_std(&f, &format!("{}/slack", s.base))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the deploy step runs (the claim is held), then cancel as CI does.
    for _ in 0..200 {
        if remote_claim(&f).is_some_and(|c| c["state"] == "held") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    // SAFETY: kill only sends a signal to our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("cancelled"), "{stderr}");
    assert!(
        deploys(&f).is_empty(),
        "the step was killed before it logged"
    );
    assert_eq!(remote_ledger(&f), f.root, "the ledger stays");
    let c = remote_claim(&f).expect("a claim record on origin");
    assert_eq!(c["state"], "released", "{c}");
    let run: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(f.out.join("run.json")).unwrap()).unwrap();
    let results: Vec<&str> = run["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["result"].as_str().unwrap())
        .collect();
    assert!(
        results.contains(&"failed") && results.contains(&"skipped"),
        "{results:?}"
    );
}

#[test]
fn a_second_signal_exits_at_once() {
    let s = server(0);
    let f = fixture_full(&s.base, "/healthz", "", "sleep 30; ");
    let mut child = gate_std(&f, &format!("{}/slack", s.base))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    for _ in 0..200 {
        if remote_claim(&f).is_some_and(|c| c["state"] == "held") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    // Two different signals back to back (two of one kind could merge while pending): the
    // first cancels, the second ends the process with 128 + its number.
    // SAFETY: kill only sends signals to our own child.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let code = child.wait().unwrap().code();
    assert!(
        code == Some(128 + libc::SIGINT) || code == Some(128 + libc::SIGTERM),
        "{code:?}"
    );
}
