//! Promotions against a fake GitHub REST API on 127.0.0.1: merged PR provenance, reviews
//! (latest per reviewer, Link pagination, completeness), logins, verification outages, and
//! the `promotion` rule reading the lower environment's ledger and run records.
mod common;
mod fakes;
use fakes::*;
use std::sync::Arc;

const TOKEN: &str = "ghp_SECRETtoken000000000000000000000001";

struct Repo {
    g: Git,
    c1: String,
    merge: String,
}

fn policy(extra_gates: &str) -> String {
    let approvals = if extra_gates.contains("approvals:") {
        ""
    } else {
        "  approvals: { required: 2 }\n"
    };
    format!(
        "version: 1\nenvironments:\n  qa: {{ branch: qa, pipeline: [deploy] }}\n  staging: {{ branch: staging, pipeline: [deploy], promotes_from: qa }}\ngates:\n{approvals}{extra_gates}steps:\n  deploy: {{ run: [\"true\"] }}\nintegrations:\n  github: {{ timeout: 3s }}\n"
    )
}

/// qa deployed at c1 (api 1.0.1), staging deployed at c0 (api 1.0.0), and the staging head
/// a forge merge of qa (`staging_version` lets the merge carry another version).
fn setup(extra_gates: &str, staging_version: Option<&str>) -> Repo {
    let (g, c1) = lower_deployed(extra_gates);
    let out = g
        .cmd()
        .env("GIT_AUTHOR_NAME", "Alice")
        .env("GIT_AUTHOR_EMAIL", "alice@example.com")
        .env("GIT_COMMITTER_NAME", "GitHub")
        .env("GIT_COMMITTER_EMAIL", "noreply@github.com")
        .args([
            "merge",
            "--no-ff",
            "-q",
            "-m",
            "Merge pull request #5 from o/qa",
            "qa",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    if let Some(v) = staging_version {
        g.write("services/api.yaml", &api(v));
        let out = g
            .cmd()
            .env("GIT_AUTHOR_NAME", "Alice")
            .env("GIT_AUTHOR_EMAIL", "alice@example.com")
            .env("GIT_COMMITTER_NAME", "GitHub")
            .env("GIT_COMMITTER_EMAIL", "noreply@github.com")
            .args(["commit", "-q", "-a", "--amend", "--no-edit"])
            .output()
            .unwrap();
        assert!(out.status.success());
    }
    let merge = g.git(&["rev-parse", "HEAD"]);
    Repo { g, c1, merge }
}

/// qa deployed at c1 (api 1.0.1), staging deployed at c0 (api 1.0.0), staging checked out.
fn lower_deployed(extra_gates: &str) -> (Git, String) {
    let g = Git::new();
    g.write("gitops.yaml", &policy(extra_gates));
    if extra_gates.contains(".gitops/allowed_signers") {
        let keys = tempfile::tempdir().unwrap();
        let (_, public) = ssh_key(keys.path(), "alice");
        g.write(
            ".gitops/allowed_signers",
            &format!("alice@example.com namespaces=\"git\" {public}\n"),
        );
    }
    g.write("services/api.yaml", &api("1.0.0"));
    let c0 = g.commit("initial", "Alice", "alice@example.com", None);
    g.git(&["branch", "staging"]);
    g.write("services/api.yaml", &api("1.0.1"));
    let c1 = g.commit("bump api", "Alice", "alice@example.com", None);
    g.ledger("qa", &c1);
    g.ledger("staging", &c0);
    g.git(&["checkout", "-q", "staging"]);
    (g, c1)
}

/// As `setup`, but GitHub squashed PR #5: the staging head is one forge commit on c0, and
/// the PR's commits (c1) are not in the range.
fn setup_squash(extra_gates: &str) -> Repo {
    let (g, c1) = lower_deployed(extra_gates);
    g.git(&["merge", "--squash", "-q", "qa"]);
    let out = g
        .cmd()
        .env("GIT_AUTHOR_NAME", "Alice")
        .env("GIT_AUTHOR_EMAIL", "alice@example.com")
        .env("GIT_COMMITTER_NAME", "GitHub")
        .env("GIT_COMMITTER_EMAIL", "noreply@github.com")
        .args(["commit", "-q", "-m", "Promote qa to staging (#5)"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let merge = g.git(&["rev-parse", "HEAD"]);
    assert_eq!(
        g.git(&["rev-list", "--count", "HEAD"]),
        "2",
        "a squash on c0"
    );
    Repo { g, c1, merge }
}

#[derive(Clone)]
struct World {
    merge: String,
    c1: String,
    head_ref: &'static str,
    with_pr: bool,
    /// (login, state, submitted_at) per page.
    pages: Vec<Vec<(&'static str, &'static str, &'static str)>>,
    /// Page number that answers 502, forever.
    broken_page: Option<usize>,
    /// Announce this many pages in rel="last" (default: the real count).
    announce: Option<usize>,
    author_login: &'static str,
    reason: &'static str,
    forge_verified: bool,
    /// Answer every request with this status (401, or 403 primary rate limit).
    refuse: Option<u16>,
    /// Reviewers whose reviews were made on an older commit than the PR head.
    stale: Vec<&'static str>,
    /// The merged PR's commits (sha, author email, author login), as /pulls/5/commits
    /// lists them.
    pr_commits: Vec<(String, &'static str, &'static str)>,
    /// The PR's `commits` count, when it differs from the list.
    pr_commit_count: Option<usize>,
    /// `verification.reason` of each listed PR commit, by index (`valid` is verified);
    /// past the end: `unsigned`.
    pr_reasons: Vec<&'static str>,
}

impl World {
    fn new(r: &Repo) -> World {
        World {
            merge: r.merge.clone(),
            c1: r.c1.clone(),
            head_ref: "qa",
            with_pr: true,
            pages: vec![
                vec![
                    ("bob", "COMMENTED", "2026-11-30T10:00:00Z"),
                    ("carol", "CHANGES_REQUESTED", "2026-11-30T10:05:00Z"),
                ],
                vec![
                    ("carol", "APPROVED", "2026-11-30T11:00:00Z"),
                    ("bob", "APPROVED", "2026-11-30T11:01:00Z"),
                    ("alice", "APPROVED", "2026-11-30T11:02:00Z"),
                ],
            ],
            broken_page: None,
            announce: None,
            author_login: "alice",
            reason: "valid",
            forge_verified: true,
            refuse: None,
            stale: Vec::new(),
            pr_commits: vec![(r.c1.clone(), "alice@example.com", "alice")],
            pr_commit_count: None,
            pr_reasons: Vec::new(),
        }
    }
}

fn pr_json(w: &World) -> String {
    format!(
        r#"{{"url":"https://api.github.com/repos/o/r/pulls/5","id":1005,"node_id":"PR_kwDO","html_url":"https://github.com/o/r/pull/5","number":5,"state":"closed","locked":false,"title":"Promote qa to staging","user":{{"login":"alice","id":1,"type":"User"}},"body":null,"created_at":"2026-11-30T09:00:00Z","updated_at":"2026-11-30T12:00:00Z","closed_at":"2026-11-30T12:00:00Z","merged_at":"2026-11-30T12:00:00Z","merge_commit_sha":"{}","head":{{"label":"o:{}","ref":"{}","sha":"{}","user":{{"login":"o","id":9}}}},"base":{{"label":"o:staging","ref":"staging","sha":"0000000000000000000000000000000000000001","user":{{"login":"o","id":9}}}},"author_association":"MEMBER","draft":false}}"#,
        w.merge, w.head_ref, w.head_ref, w.c1
    )
}

fn review_json(i: usize, login: &str, state: &str, at: &str, commit: &str) -> String {
    format!(
        r#"{{"id":{},"node_id":"PRR_kwDO","user":{{"login":"{login}","id":{},"type":"User"}},"body":"","state":"{state}","html_url":"https://github.com/o/r/pull/5#pullrequestreview-{i}","pull_request_url":"https://api.github.com/repos/o/r/pulls/5","author_association":"MEMBER","submitted_at":"{at}","commit_id":"{commit}"}}"#,
        80 + i,
        100 + i
    )
}

fn commit_json(w: &World, sha: &str) -> String {
    let forge = sha == w.merge;
    let (cname, cemail, clogin) = if forge {
        ("GitHub", "noreply@github.com", "web-flow")
    } else {
        ("Alice", "alice@example.com", w.author_login)
    };
    let verified = if forge {
        w.forge_verified
    } else {
        w.reason == "valid"
    };
    let reason = if forge && w.forge_verified {
        "valid"
    } else if forge {
        "unknown_key"
    } else {
        w.reason
    };
    format!(
        r#"{{"sha":"{sha}","node_id":"C_kwDO","commit":{{"author":{{"name":"Alice","email":"alice@example.com","date":"2026-11-30T12:00:00Z"}},"committer":{{"name":"{cname}","email":"{cemail}","date":"2026-11-30T12:00:00Z"}},"message":"m","tree":{{"sha":"{sha}","url":"x"}},"url":"x","comment_count":0,"verification":{{"verified":{verified},"reason":"{reason}","signature":null,"payload":null,"verified_at":null}}}},"url":"x","html_url":"x","comments_url":"x","author":{{"login":"{}","id":1,"type":"User"}},"committer":{{"login":"{clogin}","id":19864447,"type":"User"}},"parents":[],"stats":{{"total":2,"additions":1,"deletions":1}},"files":[]}}"#,
        w.author_login
    )
}

fn github(w: World) -> Fake {
    let w = Arc::new(w);
    Fake::start(4, move |s, _| {
        let p = s.path().to_string();
        match w.refuse {
            Some(401) => {
                return Resp::json(401, r#"{"message":"Bad credentials","documentation_url":"https://docs.github.com/rest","status":"401"}"#)
            }
            Some(st) => {
                return Resp::json(st, r#"{"message":"API rate limit exceeded for installation ID 1.","documentation_url":"https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"}"#)
                    .header("x-ratelimit-limit", "5000")
                    .header("x-ratelimit-remaining", "0")
                    .header("x-ratelimit-reset", "4102444800")
            }
            None => {}
        }
        let base = format!("http://{}", s.header("Host").unwrap_or(""));
        if let Some(rest) = p.strip_prefix("/repos/o/r/commits/") {
            if let Some(sha) = rest.strip_suffix("/pulls") {
                let body = if w.with_pr && (sha == w.merge || sha == w.c1) {
                    format!("[{}]", pr_json(&w))
                } else {
                    "[]".to_string()
                };
                return Resp::json(200, body);
            }
            return Resp::json(200, commit_json(&w, rest));
        }
        if p == "/repos/o/r/pulls/5/reviews" || p == "/repositories/123/pulls/5/reviews" {
            let page: usize = s
                .url
                .split(['?', '&'])
                .find_map(|kv| kv.strip_prefix("page="))
                .and_then(|n| n.parse().ok())
                .unwrap_or(1);
            if w.broken_page == Some(page) {
                return Resp::json(502, r#"{"message":"Server Error"}"#);
            }
            let items = &w.pages[page - 1];
            let body: Vec<String> = items
                .iter()
                .enumerate()
                .map(|(i, (l, st, at))| {
                    let on = if w.stale.contains(l) {
                        "0123456789abcdef0123456789abcdef01234567"
                    } else {
                        w.c1.as_str()
                    };
                    review_json(page * 10 + i, l, st, at, on)
                })
                .collect();
            let total = w.announce.unwrap_or(w.pages.len());
            let link = |n: usize| {
                format!("<{base}/repositories/123/pulls/5/reviews?per_page=100&page={n}>")
            };
            let mut links = Vec::new();
            if page < w.pages.len() {
                links.push(format!("{}; rel=\"next\"", link(page + 1)));
            }
            if page == 1 && total > 1 {
                links.push(format!("{}; rel=\"last\"", link(total)));
            }
            let mut r = Resp::json(200, format!("[{}]", body.join(",")))
                .header("X-RateLimit-Remaining", "4999")
                .header("X-GitHub-Api-Version-Selected", "2022-11-28");
            if !links.is_empty() {
                r = r.header("Link", &links.join(", "));
            }
            return r;
        }
        if p == "/repos/o/r/pulls/5" {
            let mut pr: serde_json::Value = serde_json::from_str(&pr_json(&w)).unwrap();
            pr["merged"] = true.into();
            pr["commits"] = w.pr_commit_count.unwrap_or(w.pr_commits.len()).into();
            pr["additions"] = 1.into();
            pr["deletions"] = 1.into();
            pr["changed_files"] = 1.into();
            return Resp::json(200, pr.to_string());
        }
        if p == "/repos/o/r/pulls/5/commits" {
            let items: Vec<String> = w
                .pr_commits
                .iter()
                .enumerate()
                .map(|(i, (sha, email, login))| {
                    let reason = w.pr_reasons.get(i).copied().unwrap_or("unsigned");
                    pr_commit_json(sha, email, login, reason)
                })
                .collect();
            return Resp::json(200, format!("[{}]", items.join(",")));
        }
        Resp::json(
            404,
            r#"{"message":"Not Found","documentation_url":"https://docs.github.com/rest","status":"404"}"#,
        )
    })
}

/// One entry of `GET /repos/{o}/{r}/pulls/{n}/commits`.
fn pr_commit_json(sha: &str, email: &str, login: &str, reason: &str) -> String {
    let name = login[..1].to_uppercase() + &login[1..];
    let verified = reason == "valid";
    format!(
        r#"{{"sha":"{sha}","node_id":"C_kwDO","commit":{{"author":{{"name":"{name}","email":"{email}","date":"2026-11-30T11:00:00Z"}},"committer":{{"name":"{name}","email":"{email}","date":"2026-11-30T11:00:00Z"}},"message":"bump api","tree":{{"sha":"{sha}","url":"x"}},"url":"x","comment_count":0,"verification":{{"verified":{verified},"reason":"{reason}","signature":null,"payload":null,"verified_at":null}}}},"url":"x","html_url":"x","comments_url":"x","author":{{"login":"{login}","id":7,"type":"User"}},"committer":{{"login":"{login}","id":7,"type":"User"}},"parents":[{{"sha":"0000000000000000000000000000000000000002","url":"x"}}]}}"#
    )
}

fn gate(r: &Repo, fake: &Fake, extra: &[&str]) -> Run {
    let mut args = vec![
        "--env", "staging", "--branch", "staging", "--head", &r.merge,
    ];
    args.extend_from_slice(extra);
    plan(
        &r.g,
        &args,
        &[
            ("GITHUB_API_URL", &fake.url),
            ("GITHUB_REPOSITORY", "o/r"),
            ("GITHUB_TOKEN", TOKEN),
            ("GITOPS_GATE_LOG", "debug"),
        ],
    )
}

#[test]
fn reviewed_promotion_from_qa_deploys() {
    let r = setup("", None);
    let fake = github(World::new(&r));
    let run = gate(&r, &fake, &[]);
    assert_eq!(run.code, 0);
    let a = &run.checks("approvals")[0];
    assert_eq!(a["verdict"], "pass");
    // carol's latest review approves, alice's own approval does not count.
    assert!(
        a["detail"]
            .as_str()
            .unwrap()
            .contains("approved by bob, carol"),
        "{a}"
    );
    let p = &run.checks("promotion")[0];
    assert_eq!(p["verdict"], "pass");
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .contains("api 1.0.1 deployed to qa"),
        "{p}"
    );
    // Both review pages were read, the token was sent, and never written out.
    assert!(fake.requests().iter().any(|s| s.url.contains("page=2")));
    assert!(fake
        .requests()
        .iter()
        .all(|s| s.header("Authorization") == Some(&format!("Bearer {TOKEN}"))));
    assert!(!run.everything().contains(TOKEN));
}

#[test]
fn outstanding_changes_requested_and_author_approval_do_not_count() {
    let r = setup("", None);
    let mut w = World::new(&r);
    w.pages = vec![vec![
        ("bob", "APPROVED", "2026-11-30T10:00:00Z"),
        ("alice", "APPROVED", "2026-11-30T10:01:00Z"),
        ("carol", "APPROVED", "2026-11-30T10:02:00Z"),
        ("carol", "CHANGES_REQUESTED", "2026-11-30T10:03:00Z"),
        ("carol", "COMMENTED", "2026-11-30T10:04:00Z"),
    ]];
    let fake = github(w);
    let run = gate(&r, &fake, &[]);
    assert_eq!(run.code, 1);
    let details: Vec<String> = run
        .checks("approvals")
        .iter()
        .map(|c| c["detail"].as_str().unwrap().to_string())
        .collect();
    assert!(
        details
            .iter()
            .any(|d| d.contains("changes requested by carol")),
        "{details:?}"
    );
    assert!(
        details
            .iter()
            .any(|d| d.contains("1 of 2 required approvals")),
        "{details:?}"
    );
}

#[test]
fn a_side_door_branch_is_rejected() {
    let r = setup("", None);
    let mut w = World::new(&r);
    w.head_ref = "hotfix";
    let run = gate(&r, &github(w), &[]);
    assert_eq!(run.code, 1);
    assert!(run.checks("approvals")[0]["detail"]
        .as_str()
        .unwrap()
        .contains("merges `hotfix` into `staging`"));
}

#[test]
fn no_pull_request_is_rejected() {
    let r = setup("", None);
    let mut w = World::new(&r);
    w.with_pr = false;
    let run = gate(&r, &github(w), &[]);
    assert_eq!(run.code, 1);
    assert!(run.checks("approvals")[0]["detail"]
        .as_str()
        .unwrap()
        .contains("no merged pull request"));
}

#[test]
fn a_page_failing_mid_list_exits_4() {
    let r = setup("", None);
    let mut w = World::new(&r);
    w.broken_page = Some(2);
    let run = gate(&r, &github(w), &[]);
    assert_eq!(run.code, 4);
    assert!(run.stderr.contains("page 2"), "{}", run.stderr);
}

#[test]
fn a_list_shorter_than_announced_exits_4() {
    let r = setup("", None);
    let mut w = World::new(&r);
    w.announce = Some(3);
    let run = gate(&r, &github(w), &[]);
    assert_eq!(run.code, 4);
    assert!(run.stderr.contains("announced 3 pages"), "{}", run.stderr);
}

#[test]
fn github_login_entries_use_the_api_login_not_the_email() {
    let r = setup(
        "  committers: [\"github:alice\", \"github:web-flow\"]\n",
        None,
    );
    let fake = github(World::new(&r));
    let run = gate(&r, &fake, &[]);
    assert_eq!(run.code, 0);
    assert_eq!(run.checks("committers")[0]["verdict"], "pass");

    // Same email, but GitHub attributes the commit to mallory.
    let r = setup("  committers: [\"github:alice\"]\n", None);
    let mut w = World::new(&r);
    w.author_login = "mallory";
    let run = gate(&r, &github(w), &[]);
    assert_eq!(run.code, 1);
    let c = &run.checks("committers")[0];
    assert!(
        c["value"].as_str().unwrap().contains("GitHub mallory"),
        "{c}"
    );
}

#[test]
fn verification_outage_exits_4_not_unsigned() {
    for reason in ["gpgverify_unavailable", "gpgverify_error"] {
        let r = setup("  require_signed: true\n", None);
        let mut w = World::new(&r);
        w.reason = reason;
        let run = gate(&r, &github(w), &[]);
        assert_eq!(run.code, 4, "{reason}");
        assert!(run.stderr.contains(reason));
    }
    // An unsigned commit is a rejection, not an outage.
    let r = setup("  require_signed: true\n", None);
    let mut w = World::new(&r);
    w.reason = "unsigned";
    let run = gate(&r, &github(w), &[]);
    assert_eq!(run.code, 1);
    let s = &run.checks("signatures")[0];
    assert!(
        s["detail"].as_str().unwrap().contains("1 of 2"),
        "the forge merge counts: {s}"
    );
}

#[test]
fn a_version_not_deployed_to_qa_is_rejected_naming_where() {
    let r = setup("", Some("1.0.2"));
    let run = gate(&r, &github(World::new(&r)), &[]);
    assert_eq!(run.code, 1);
    let p = &run.checks("promotion")[0];
    assert_eq!(p["verdict"], "fail");
    let d = p["detail"].as_str().unwrap();
    assert!(
        d.contains("api 1.0.2 is not what qa runs now (qa runs 1.0.1 at"),
        "{d}"
    );
}

#[test]
fn a_failed_run_record_on_qa_blocks_the_promotion_and_warn_level_only_warns() {
    let r = setup("", None);
    r.g.git(&[
        "-c",
        "user.name=CI",
        "-c",
        "user.email=ci@example.com",
        "notes",
        "--ref",
        "refs/notes/gitops-gate",
        "add",
        "-m",
        r#"{"schema":1,"environment":"qa","result":"failed"}"#,
        &r.c1,
    ]);
    let run = gate(&r, &github(World::new(&r)), &[]);
    assert_eq!(run.code, 1);
    assert!(run.checks("promotion")[0]["detail"]
        .as_str()
        .unwrap()
        .contains("run record says `failed`"));

    let r = setup("  promotion: warn\n", Some("1.0.2"));
    let run = gate(&r, &github(World::new(&r)), &[]);
    assert_eq!(run.code, 0);
    assert_eq!(run.checks("promotion")[0]["verdict"], "warn");
}

#[test]
fn offline_skips_approvals_but_judges_promotion() {
    let r = setup("  offline: allow\n", Some("1.0.2"));
    let fake = github(World::new(&r));
    let run = gate(&r, &fake, &["--offline"]);
    assert_eq!(run.code, 1);
    assert_eq!(run.checks("approvals")[0]["verdict"], "skip");
    assert_eq!(run.checks("promotion")[0]["verdict"], "fail");
    assert!(fake.requests().is_empty());
}

#[test]
fn a_forge_merge_github_did_not_verify_is_judged_as_its_claimed_committer() {
    let r = setup("  committers: [\"alice@example.com\"]\n", None);
    let run = gate(&r, &github(World::new(&r)), &[]);
    assert_eq!(
        run.code, 0,
        "a verified forge merge of PR #5 is judged by the PR"
    );
    let mut w = World::new(&r);
    w.forge_verified = false;
    let run = gate(&r, &github(w), &[]);
    assert_eq!(run.code, 1);
    let c = &run.checks("committers")[0];
    assert!(
        c["value"]
            .as_str()
            .unwrap()
            .contains("GitHub <noreply@github.com>"),
        "{c}"
    );
}

#[test]
fn bad_credentials_and_rate_limits_past_the_deadline_exit_4_without_leaking_the_token() {
    for status in [401u16, 403] {
        let r = setup("", None);
        let mut w = World::new(&r);
        w.refuse = Some(status);
        let fake = github(w);
        let run = gate(&r, &fake, &[]);
        assert_eq!(run.code, 4, "HTTP {status}");
        if status == 401 {
            assert!(run.stderr.contains("check GITHUB_TOKEN"), "{}", run.stderr);
        } else {
            assert!(run.stderr.contains("past the deadline"), "{}", run.stderr);
        }
        assert_eq!(fake.requests().len(), 1, "no retry storm");
        assert!(!run.everything().contains(TOKEN));
    }
}

#[test]
fn a_pull_request_event_is_judged_by_its_own_pull_request() {
    use gitops_gate::ci::{Env, PullRequest, PushContext, Secrets};
    use gitops_gate::integrations::github::Github;
    let r = setup("", None);
    let merge = r.merge.clone();
    // /pulls/5 answers like the PR list item, with `merged` as the single-PR endpoint has.
    let pr = Fake::start(2, {
        let merge = merge.clone();
        move |s, _| {
            if s.path() == "/repos/o/r/pulls/5" {
                let body = format!(
                    r#"{{"number":5,"state":"open","merged":false,"merged_at":null,"merge_commit_sha":"{merge}","user":{{"login":"alice","id":1}},"head":{{"ref":"qa","sha":"{merge}"}},"base":{{"ref":"staging","sha":"{merge}"}}}}"#
                );
                return Resp::json(200, body);
            }
            // The reviews: one approval, one page.
            Resp::json(
                200,
                format!(
                    "[{}]",
                    review_json(1, "bob", "APPROVED", "2026-11-30T11:00:00Z", &merge)
                ),
            )
        }
    });
    let env = Env::from_pairs([
        ("GITHUB_API_URL", pr.url.as_str()),
        ("GITHUB_REPOSITORY", "o/r"),
    ]);
    let secrets = Secrets::from_env(&Env::from_pairs([("GITHUB_TOKEN", TOKEN)]), &[]);
    let mut ctx = PushContext::local();
    ctx.event = "pull_request".into();
    ctx.pull_request = Some(PullRequest {
        number: 5,
        head_sha: Some(merge.clone()),
        head_ref: Some("qa".into()),
        base_ref: "staging".into(),
        merged: false,
    });
    let gh = Github::from_env(&env, &secrets, &ctx, std::time::Duration::from_secs(3))
        .unwrap()
        .unwrap();
    let facts = gh.pull_request(&ctx, &merge, "staging").unwrap().unwrap();
    assert_eq!(facts.number, 5);
    assert!(!facts.merged);
    assert_eq!(
        (
            facts.base_ref.as_str(),
            facts.head_ref.as_str(),
            facts.author.as_str()
        ),
        ("staging", "qa", "alice")
    );
    assert!(pr
        .requests()
        .iter()
        .any(|s| s.path() == "/repos/o/r/pulls/5"));
    assert_eq!(facts.reviews.len(), 1);
    assert!(
        pr.requests()
            .iter()
            .all(|s| !s.path().contains("/commits/")),
        "no commit -> PR lookup for a PR event"
    );
}

#[test]
fn a_secondary_rate_limit_without_retry_after_is_not_a_retry_storm() {
    let r = setup("", None);
    let fake = Fake::start(1, |_, _| {
        Resp::json(
            403,
            r#"{"message":"You have exceeded a secondary rate limit. Please wait a few minutes before you try again.","documentation_url":"https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits","status":"403"}"#,
        )
    });
    let run = gate(&r, &fake, &[]);
    assert_eq!(run.code, 4);
    assert!(run.stderr.contains("past the deadline"), "{}", run.stderr);
    assert!(
        !run.stderr.contains("check GITHUB_TOKEN"),
        "a rate limit is not a credentials problem"
    );
    assert_eq!(fake.requests().len(), 1);
}

#[test]
fn a_stale_approval_does_not_count_unless_count_stale() {
    let r = setup("", None);
    let mut w = World::new(&r);
    // carol's approval was given on an older commit than the PR head.
    w.stale = vec!["carol"];
    let run = gate(&r, &github(w.clone()), &[]);
    assert_eq!(run.code, 1);
    let d: Vec<String> = run
        .checks("approvals")
        .iter()
        .map(|c| c["detail"].as_str().unwrap().to_string())
        .collect();
    assert!(
        d.iter().any(|d| d.contains("1 of 2 required approvals")
            && d.contains("(bob)")
            && d.contains("do not count: carol")),
        "{d:?}"
    );

    let r = setup("  approvals: { required: 2, count_stale: true }\n", None);
    let mut w = World::new(&r);
    w.stale = vec!["carol"];
    let run = gate(&r, &github(w), &[]);
    assert_eq!(run.code, 0);
    assert!(run.checks("approvals")[0]["detail"]
        .as_str()
        .unwrap()
        .contains("approved by bob, carol"));
}

#[test]
fn a_truncated_commit_list_of_the_merged_pull_request_exits_4() {
    let r = setup("  committers: [\"alice@example.com\"]\n", None);
    let mut w = World::new(&r);
    // The PR says 251 commits; GitHub lists at most 250 (here: the one it has).
    w.pr_commit_count = Some(251);
    let fake = github(w);
    let run = gate(&r, &fake, &[]);
    assert_eq!(run.code, 4);
    assert!(
        run.stderr
            .contains("listed 1 of the 251 commits of pull request #5"),
        "{}",
        run.stderr
    );
    assert!(fake.count("/repos/o/r/pulls/5/commits") >= 1);
    assert!(!run.everything().contains(TOKEN));
}

#[test]
fn a_squash_merge_is_judged_by_the_commits_of_its_pull_request() {
    // The PR's commits are not in the range (as after a squash merge): GitHub's account of
    // them decides.
    let outside = "feedfacefeedfacefeedfacefeedfacefeedface".to_string();
    let r = setup("  committers: [\"alice@example.com\"]\n", None);
    let mut w = World::new(&r);
    w.pr_commits = vec![
        (r.c1.clone(), "alice@example.com", "alice"),
        (outside.clone(), "mallory@example.com", "mallory"),
    ];
    let run = gate(&r, &github(w), &[]);
    assert_eq!(run.code, 1);
    let c = &run.checks("committers")[0];
    assert_eq!(c["commit"], r.merge.as_str(), "{c}");
    assert!(
        c["value"].as_str().unwrap().contains(
            "merge of pull request #5, whose commit feedfac (1 of its commits outside the range by people not on the allowlist) is by author Mallory <mallory@example.com> (GitHub mallory)"
        ),
        "{c}"
    );

    // The same squash by an allowlisted author deploys.
    let r = setup("  committers: [\"alice@example.com\"]\n", None);
    let mut w = World::new(&r);
    w.pr_commits = vec![(outside, "alice@example.com", "alice")];
    assert_eq!(gate(&r, &github(w), &[]).code, 0);
}

#[test]
fn a_squash_merge_of_verified_commits_passes_require_signed() {
    let r = setup_squash("  require_signed: true\n");
    let mut w = World::new(&r);
    let outside = "feedfacefeedfacefeedfacefeedfacefeedface".to_string();
    w.pr_commits = vec![
        (r.c1.clone(), "alice@example.com", "alice"),
        (outside, "alice@example.com", "alice"),
    ];
    w.pr_reasons = vec!["valid", "valid"];
    let fake = github(w);
    let run = gate(&r, &fake, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let s = &run.checks("signatures")[0];
    assert_eq!(s["verdict"], "pass", "{s}");
    assert!(fake.count("/repos/o/r/pulls/5/commits") >= 1);
    assert!(!run.everything().contains(TOKEN));
}

#[test]
fn an_unsigned_commit_of_a_squashed_pull_request_is_rejected_naming_it() {
    let r = setup_squash("  require_signed: true\n");
    let mut w = World::new(&r);
    let outside = "feedfacefeedfacefeedfacefeedfacefeedface".to_string();
    w.pr_commits = vec![
        (r.c1.clone(), "alice@example.com", "alice"),
        (outside, "alice@example.com", "alice"),
    ];
    w.pr_reasons = vec!["valid", "unsigned"];
    let run = gate(&r, &github(w), &[]);
    assert_eq!(run.code, 1);
    let s = &run.checks("signatures")[0];
    assert_eq!(s["verdict"], "fail", "{s}");
    assert_eq!(s["commit"], r.merge.as_str(), "{s}");
    let value = s["value"].as_str().unwrap();
    assert!(
        value.contains(
            "merge of pull request #5, whose commit feedfac (unsigned) is not verified by GitHub"
        ),
        "{s}"
    );
    assert!(!value.contains(&r.c1[..7]), "c1 is verified: {s}");
    assert!(
        s["detail"].as_str().unwrap().contains("1 of 1 commit"),
        "{s}"
    );
    assert!(!run.everything().contains(TOKEN));

    // GitHub's own signature on the squash does not stand in for the PR's: with no PR
    // commit verified, both are named.
    let r = setup_squash("  require_signed: true\n");
    let mut w = World::new(&r);
    w.pr_commits = vec![
        (r.c1.clone(), "alice@example.com", "alice"),
        (
            "0badc0de0badc0de0badc0de0badc0de0badc0de".into(),
            "alice@example.com",
            "alice",
        ),
    ];
    w.pr_reasons = vec!["unknown_key", "unsigned"];
    let run = gate(&r, &github(w), &[]);
    assert_eq!(run.code, 1);
    let value = run.checks("signatures")[0]["value"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        value.contains(&format!(
            "whose commits {} (unknown_key), 0badc0d (unsigned) are not verified by GitHub (2 of its commits outside the range)",
            &r.c1[..7]
        )),
        "{value}"
    );
}

#[test]
fn a_verification_outage_on_a_squashed_pull_request_commit_exits_4() {
    for reason in ["gpgverify_unavailable", "gpgverify_error"] {
        let r = setup_squash("  require_signed: true\n");
        let mut w = World::new(&r);
        w.pr_reasons = vec![reason];
        let run = gate(&r, &github(w), &[]);
        assert_eq!(run.code, 4, "{reason}");
        assert!(
            run.stderr.contains(&format!(
                "GitHub could not verify the signature of {} of pull request #5 ({reason})",
                &r.c1[..7]
            )),
            "{}",
            run.stderr
        );
        assert!(!run.everything().contains(TOKEN));
    }
    // Without a signature requirement the PR commits' verification is not needed.
    let r = setup_squash("  committers: [\"alice@example.com\"]\n");
    let mut w = World::new(&r);
    w.pr_reasons = vec!["gpgverify_unavailable"];
    assert_eq!(gate(&r, &github(w), &[]).code, 0);
    // A PR commit in the range (merge commit, not squash) is judged by its own lookup.
    let r = setup("  require_signed: true\n", None);
    let mut w = World::new(&r);
    w.pr_reasons = vec!["gpgverify_unavailable"];
    assert_eq!(gate(&r, &github(w), &[]).code, 0);
}

#[test]
fn signer_entries_judge_a_squashed_pull_request_by_its_verified_signers() {
    let gates = "  committers: [\"signer:alice@example.com\"]\n";
    let r = setup_squash(gates);
    let mut w = World::new(&r);
    w.pr_reasons = vec!["valid"];
    assert_eq!(gate(&r, &github(w), &[]).code, 0);

    // The same commit unsigned: the email it claims does not count for a signer: entry.
    let r = setup_squash(gates);
    let run = gate(&r, &github(World::new(&r)), &[]);
    assert_eq!(run.code, 1);
    let c = &run.checks("committers")[0];
    assert_eq!(c["commit"], r.merge.as_str(), "{c}");
    let value = c["value"].as_str().unwrap();
    assert!(value.contains("merge of pull request #5"), "{c}");
    assert!(value.contains(&r.c1[..7]), "{c}");
    assert!(
        value.contains("no good signature by an allowed signer (GitHub: unsigned)"),
        "{c}"
    );
    assert!(!run.everything().contains(TOKEN));
}

#[test]
fn with_local_signatures_a_squashed_pull_request_is_still_judged_by_github() {
    // The squash's originals are not in the range (nor, usually, in the clone): GitHub's
    // verification of the PR's commits is the only account of them.
    let gates = "  require_signed: true\n  allowed_signers: .gitops/allowed_signers\n";
    let r = setup_squash(gates);
    let mut w = World::new(&r);
    w.pr_reasons = vec!["valid"];
    let run = gate(&r, &github(w), &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let s = &run.checks("signatures")[0];
    assert!(
        s["detail"]
            .as_str()
            .unwrap()
            .contains("by an allowed signer"),
        "judged locally: {s}"
    );
    let r = setup_squash(gates);
    let run = gate(&r, &github(World::new(&r)), &[]);
    assert_eq!(run.code, 1);
    let s = &run.checks("signatures")[0];
    assert!(
        s["value"].as_str().unwrap().contains(&format!(
            "merge of pull request #5, whose commit {} (unsigned)",
            &r.c1[..7]
        )),
        "{s}"
    );
    assert!(!run.everything().contains(TOKEN));
}
