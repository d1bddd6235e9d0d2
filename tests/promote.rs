//! `gitops-gate promote` against a fake GitHub REST API on 127.0.0.1.
mod common;
use gitops_gate::commands::demo::{api, POLICY};
use gitops_gate::repo::{Identity, Repo};
use std::sync::{Arc, Mutex};

fn setup(dir: &std::path::Path) {
    let repo = Repo::init(dir).unwrap();
    let who = Identity::new("Alice", "alice@example.com", 1_790_000_000);
    let (a1, a2) = (api("1.4.2"), api("1.4.3"));
    let c0 = repo
        .commit_files(
            Some("refs/heads/staging"),
            &[],
            &[
                ("gitops.yaml", Some(POLICY.as_bytes())),
                ("services/api.yaml", Some(a1.as_bytes())),
            ],
            &who,
            &who,
            "OPS-1: init\n",
        )
        .unwrap();
    repo.set_ref("refs/heads/qa", c0, "t").unwrap();
    let c1 = repo
        .commit_files(
            Some("refs/heads/qa"),
            &[c0],
            &[("services/api.yaml", Some(a2.as_bytes()))],
            &who,
            &who,
            "OPS-12: bump api\n",
        )
        .unwrap();
    // qa runs the bump: its ledger is there.
    repo.set_ref("refs/gitops-gate/deployed/qa", c1, "t")
        .unwrap();
}

type Log = Arc<Mutex<Vec<(String, String, String)>>>;

/// Answers like GitHub: the list is empty until a PR was created.
fn fake_github() -> (String, Log) {
    let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let url = format!("http://{}", server.server_addr().to_ip().unwrap());
    let log: Log = Arc::default();
    let l = log.clone();
    std::thread::spawn(move || {
        let mut created = false;
        for mut req in server.incoming_requests() {
            let mut body = String::new();
            let _ = req.as_reader().read_to_string(&mut body);
            let auth = req
                .headers()
                .iter()
                .find(|h| h.field.equiv("Authorization"))
                .map(|h| h.value.to_string())
                .unwrap_or_default();
            l.lock()
                .unwrap()
                .push((format!("{} {}", req.method(), req.url()), body, auth));
            let pr = r#"{"number":7,"html_url":"https://github.example/acme/deploy/pull/7"}"#;
            let reply = match (req.method().as_str(), created) {
                ("GET", false) => "[]".to_string(),
                ("GET", true) => format!("[{pr}]"),
                ("POST", _) => {
                    created = true;
                    pr.to_string()
                }
                _ => pr.to_string(),
            };
            let code = if req.method().as_str() == "POST" {
                201
            } else {
                200
            };
            let _ = req.respond(tiny_http::Response::from_string(reply).with_status_code(code));
        }
    });
    (url, log)
}

fn promote(dir: &std::path::Path, api_url: &str) -> String {
    let out = common::gate(&common::home())
        .env("GITHUB_TOKEN", "ghp_test_token_value")
        .env("GITHUB_API_URL", api_url)
        .env("GITHUB_REPOSITORY", "acme/deploy")
        .args(["promote", "--from", "qa", "--to", "staging", "--repo"])
        .arg(dir)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    String::from_utf8(out).unwrap()
}

#[test]
fn promote_creates_then_updates_the_same_pull_request() {
    let tmp = tempfile::tempdir().unwrap();
    setup(tmp.path());
    let (url, log) = fake_github();
    let out = promote(tmp.path(), &url);
    assert!(out.contains("opened pull request #7"), "{out}");
    assert!(out.contains("| api | 1.4.2 | 1.4.3 |"), "{out}");
    assert!(!out.contains("ghp_test_token_value"));
    let out = promote(tmp.path(), &url);
    assert!(out.contains("updated pull request #7"), "{out}");
    let log = log.lock().unwrap();
    let methods: Vec<&str> = log.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(
        methods,
        [
            "GET /repos/acme/deploy/pulls?state=open&head=acme%3Aqa&base=staging",
            "POST /repos/acme/deploy/pulls",
            "GET /repos/acme/deploy/pulls?state=open&head=acme%3Aqa&base=staging",
            "PATCH /repos/acme/deploy/pulls/7",
        ]
    );
    let created: serde_json::Value = serde_json::from_str(&log[1].1).unwrap();
    assert_eq!(created["head"], "qa");
    assert_eq!(created["base"], "staging");
    assert!(created["body"].as_str().unwrap().contains("OPS-12"));
    assert!(log.iter().all(|r| r.2 == "Bearer ghp_test_token_value"));
}

#[test]
fn promote_offline_prints_git_commands() {
    let tmp = tempfile::tempdir().unwrap();
    setup(tmp.path());
    common::gate(&common::home())
        .args([
            "promote",
            "--from",
            "qa",
            "--to",
            "staging",
            "--offline",
            "--repo",
        ])
        .arg(tmp.path())
        .assert()
        .success()
        .stdout(predicates::str::contains("git merge --no-ff "));
}

/// qa's branch has moved past what qa runs: the promotion offers what runs (its ledger),
/// from a branch of its own at that commit, and names the commits it leaves out.
#[test]
fn promote_offers_what_the_lower_environment_runs_not_its_branch_tip() {
    let tmp = tempfile::tempdir().unwrap();
    setup(tmp.path());
    let repo = Repo::open(tmp.path()).unwrap();
    let deployed = repo.ledger("qa").unwrap();
    let who = Identity::new("Alice", "alice@example.com", 1_790_000_200);
    repo.commit_files(
        Some("refs/heads/qa"),
        &[deployed],
        &[("services/api.yaml", Some(api("1.5.0").as_bytes()))],
        &who,
        &who,
        "OPS-14: bump api to 1.5.0\n",
    )
    .unwrap();
    let mut c = common::gate(&common::home());
    c.args([
        "promote",
        "--from",
        "qa",
        "--to",
        "staging",
        "--offline",
        "--format",
        "json",
        "--repo",
    ])
    .arg(tmp.path());
    let (code, out, err) = common::run(c);
    assert_eq!((code, err.as_str()), (0, ""));
    let j: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(j["commit"], deployed.to_string());
    assert_eq!(j["changes"][0]["to"], "1.4.3", "{j}");
    let short = &deployed.to_string()[..7];
    assert_eq!(j["head"], format!("promote/staging/{short}"));
    assert_eq!(j["left_out"].as_array().unwrap().len(), 1, "{j}");
    assert_eq!(j["left_out"][0]["summary"], "OPS-14: bump api to 1.5.0");
    // The text says the same to a person.
    let mut c = common::gate(&common::home());
    c.args([
        "promote",
        "--from",
        "qa",
        "--to",
        "staging",
        "--offline",
        "--repo",
    ])
    .arg(tmp.path());
    let (code, out, _) = common::run(c);
    assert_eq!(code, 0);
    assert!(
        out.contains(&format!("Promotes what `qa` runs ({short})")),
        "{out}"
    );
    assert!(
        out.contains("**Left out** (1 commit(s) on `qa` not deployed there yet"),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "git push origin {deployed}:refs/heads/promote/staging/{short}"
        )),
        "{out}"
    );
    // Nothing deployed on qa at all: nothing to promote, and how to get there.
    common::git2_repo(&repo)
        .find_reference("refs/gitops-gate/deployed/qa")
        .unwrap()
        .delete()
        .unwrap();
    let mut c = common::gate(&common::home());
    c.args([
        "promote",
        "--from",
        "qa",
        "--to",
        "staging",
        "--offline",
        "--repo",
    ])
    .arg(tmp.path());
    let (code, _, err) = common::run(c);
    assert_eq!(code, 2);
    assert!(
        err.contains("`qa` has nothing deployed yet") && err.contains("gitops-gate run --env qa"),
        "{err}"
    );
}

use common::git;

#[test]
fn promoting_one_service_pushes_its_own_branch_and_names_the_policys_checks() {
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().join("work");
    setup(&work);
    // A second service on qa that must not ride along.
    let repo = Repo::open(&work).unwrap();
    let who = Identity::new("Alice", "alice@example.com", 1_790_000_100);
    let qa = repo.branch_tip("qa").unwrap();
    repo.commit_files(
        Some("refs/heads/qa"),
        &[qa],
        &[(
            "services/web.yaml",
            Some(gitops_gate::commands::demo::WEB.as_bytes()),
        )],
        &who,
        &who,
        "OPS-13: web\n",
    )
    .unwrap();
    let remote = tmp.path().join("remote.git");
    git(
        tmp.path(),
        &["init", "--quiet", "--bare", remote.to_str().unwrap()],
    );
    git(
        &work,
        &["remote", "add", "origin", remote.to_str().unwrap()],
    );
    git(&work, &["push", "--quiet", "origin", "qa", "staging"]);
    let (url, log) = fake_github();
    let out = common::gate(&common::home())
        .env("GIT_AUTHOR_NAME", "Alice")
        .env("GIT_AUTHOR_EMAIL", "alice@example.com")
        .env("GIT_COMMITTER_NAME", "Alice")
        .env("GIT_COMMITTER_EMAIL", "alice@example.com")
        .env("GITHUB_TOKEN", "ghp_test_token_value")
        .env("GITHUB_API_URL", &url)
        .env("GITHUB_REPOSITORY", "acme/deploy")
        .args([
            "promote",
            "--from",
            "qa",
            "--to",
            "staging",
            "--service",
            "api",
            "--repo",
        ])
        .arg(&work)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let out = String::from_utf8(out).unwrap();
    assert!(out.contains("opened pull request #7"), "{out}");
    let branch = "promote/staging/api-1.4.3";
    let changed = git(&remote, &["diff", "--name-only", "staging", branch]);
    assert_eq!(changed, "services/api.yaml", "only the promoted service");
    let log = log.lock().unwrap();
    let created: serde_json::Value = serde_json::from_str(&log[1].1).unwrap();
    assert_eq!(created["head"], branch);
    let body = created["body"].as_str().unwrap();
    let checks = body
        .split("**Checks `plan` will run:** ")
        .nth(1)
        .unwrap()
        .lines()
        .next()
        .unwrap();
    for rule in [
        "range",
        "committers",
        "jira",
        "approvals",
        "promotion",
        "capacity",
        "limits",
        "ports",
    ] {
        assert!(checks.contains(rule), "{rule} missing from {checks}");
    }
    assert!(
        !checks.contains("terraform"),
        "the demo policy names no terraform plans: {checks}"
    );
}
