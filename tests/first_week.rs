//! A team's first week, through the binary only, as the README's "First week" tells it:
//! `init`, an edited deploy script, `bump`, `plan`, `run` on qa, `promote`, `run` on staging
//! and prod, a deploy whose health check fails, `rollback`, the `run` that redeploys the last
//! good version, then reviews required for promotions (a fake GitHub on loopback answering
//! the pull request and its reviews), and `status` and `report` showing it all.
mod common;
mod fakes;

use fakes::{Fake, Resp};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// The team's machine: a HOME, a git identity (as CI jobs set it), the stand-in cluster the
/// example scripts deploy to, and the fake GitHub.
struct Team {
    _tmp: tempfile::TempDir,
    repo: PathBuf,
    origin: PathBuf,
    cluster: PathBuf,
    github: String,
}

impl Team {
    fn gg(&self, dir: &Path, args: &[&str]) -> (i32, String, String) {
        let cluster = self.cluster.to_str().unwrap();
        gg_with(
            dir,
            args,
            &[
                ("GITOPS_EXAMPLE_CLUSTER", cluster),
                ("GITHUB_API_URL", &self.github),
                ("GITHUB_REPOSITORY", "acme/deploy"),
                ("GITHUB_TOKEN", "ghp_first_week_token"),
            ],
        )
    }
    fn git(&self, args: &[&str]) -> String {
        common::git(&self.repo, args)
    }
    fn running(&self, env: &str) -> String {
        std::fs::read_to_string(self.cluster.join(env).join("example"))
            .unwrap_or_default()
            .trim()
            .to_string()
    }
    fn ledger_on_origin(&self, env: &str) -> String {
        common::git(
            &self.origin,
            &["rev-parse", &format!("refs/gitops-gate/deployed/{env}")],
        )
    }
    /// Merges `from` into `into` as GitHub's merge button does, and pushes it.
    fn merge(&self, into: &str, from: &str, message: &str) -> String {
        self.git(&["checkout", "-q", into]);
        self.git(&["merge", "-q", "--no-ff", "-m", message, from]);
        self.git(&["push", "-q", "origin", into]);
        self.git(&["rev-parse", "HEAD"])
    }
}

/// A health endpoint that answers 200 until told the service is broken.
fn health() -> (String, Arc<AtomicBool>) {
    let broken = Arc::new(AtomicBool::new(false));
    let b = broken.clone();
    let fake = Fake::start(2, move |s, _| {
        if s.path() == "/healthz" && !b.load(Ordering::SeqCst) {
            Resp::json(200, r#"{"status":"ok"}"#)
        } else {
            Resp::json(503, r#"{"status":"broken"}"#)
        }
    });
    (fake.url, broken)
}

/// The commit bob reviewed: the pull request's head.
const REVIEWED: &str = "c0ffee0000000000000000000000000000000001";

/// GitHub as `promote` and the approvals gate see it: pull requests opened by `promote`, and
/// for any merged commit a merged pull request into `base` (set by the test) approved by bob.
fn github(promotion: Arc<Mutex<(String, String)>>) -> Fake {
    Fake::start(2, move |s, _| {
        let p = s.path().to_string();
        let (from, base) = promotion.lock().unwrap().clone();
        let pr = |merge: &str| {
            format!(
                r#"{{"url":"x","id":1007,"number":7,"state":"closed","title":"Promote","html_url":"https://github.example/acme/deploy/pull/7","user":{{"login":"alice","id":1,"type":"User"}},"merged_at":"2026-12-01T10:00:00Z","merge_commit_sha":"{merge}","head":{{"label":"acme:{from}","ref":"{from}","sha":"{REVIEWED}"}},"base":{{"label":"acme:{base}","ref":"{base}","sha":"{merge}"}},"author_association":"MEMBER","draft":false}}"#
            )
        };
        if let Some(rest) = p.strip_prefix("/repos/acme/deploy/commits/") {
            if let Some(sha) = rest.strip_suffix("/pulls") {
                return Resp::json(200, format!("[{}]", pr(sha)));
            }
        }
        if p == "/repos/acme/deploy/pulls/7/reviews" {
            return Resp::json(
                200,
                format!(
                    r#"[{{"id":81,"user":{{"login":"bob","id":2,"type":"User"}},"body":"","state":"APPROVED","submitted_at":"2026-12-01T09:30:00Z","commit_id":"{REVIEWED}"}}]"#
                ),
            );
        }
        if p == "/repos/acme/deploy/pulls" && s.method == "GET" {
            return Resp::json(200, "[]");
        }
        if p == "/repos/acme/deploy/pulls" && s.method == "POST" {
            return Resp::json(201, pr("0"));
        }
        Resp::json(404, r#"{"message":"Not Found"}"#)
    })
}

fn json(out: &str) -> Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("not one JSON document ({e}):\n{out}"))
}

#[test]
fn a_team_goes_from_init_to_prod_through_a_failed_deploy_and_a_rollback() {
    let tmp = tempfile::tempdir().unwrap();
    let (health_url, broken) = health();
    // Which promotion the fake GitHub's merged pull request is: (from, into).
    let promotion = Arc::new(Mutex::new((String::new(), String::new())));
    let gh = github(promotion.clone());
    let promoting = |from: &str, into: &str| {
        *promotion.lock().unwrap() = (from.to_string(), into.to_string());
    };
    let t = Team {
        repo: tmp.path().join("deployments"),
        origin: tmp.path().join("origin.git"),
        cluster: tmp.path().join("cluster"),
        github: gh.url.clone(),
        _tmp: tmp,
    };
    let url_base = ["--url-base", health_url.as_str()];
    let root = t.repo.parent().unwrap().to_path_buf();

    // Day 1: a repository, pushed to the team's remote with its ledger refs.
    let (code, out, err) = t.gg(&root, &["init", "deployments"]);
    assert_eq!((code, err.as_str()), (0, ""), "{out}");
    assert!(
        out.contains("gitops-gate bump example 1.0.1 --env qa"),
        "{out}"
    );
    common::git(&root, &["init", "-q", "--bare", t.origin.to_str().unwrap()]);
    t.git(&["remote", "add", "origin", t.origin.to_str().unwrap()]);
    t.git(&[
        "push",
        "-q",
        "origin",
        "main",
        "qa",
        "staging",
        "prod",
        "refs/gitops-gate/*:refs/gitops-gate/*",
    ]);
    for s in ["deploy", "smoke", "regression"] {
        let mode = t.git(&["ls-files", "-s", &format!("scripts/{s}.sh")]);
        assert!(mode.starts_with("100755"), "{mode}");
    }

    // The team makes the example theirs on qa: the deploy script logs each deploy, and the
    // health check gives up sooner. (Staging and prod take only reviewed promotions by
    // default: `gates.approvals`.)
    t.git(&["checkout", "-q", "qa"]);
    let script = std::fs::read_to_string(t.repo.join("scripts/deploy.sh")).unwrap();
    std::fs::write(
        t.repo.join("scripts/deploy.sh"),
        format!("{script}printf '%s %s %s\\n' \"$GITOPS_ENVIRONMENT\" \"$GITOPS_SERVICE\" \"$GITOPS_VERSION\" >> \"$cluster/deploys.log\"\n"),
    )
    .unwrap();
    let example = std::fs::read_to_string(t.repo.join("services/example.yaml")).unwrap();
    std::fs::write(
        t.repo.join("services/example.yaml"),
        example
            .replace("retries: 5", "retries: 2")
            .replace("interval: 5s", "interval: 1s"),
    )
    .unwrap();
    // validate checks what is on disk, before it is committed, and says so.
    let (code, out, _) = t.gg(&t.repo.join("services"), &["validate"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("checked qa (the working tree of branch qa, uncommitted edits included)"),
        "{out}"
    );
    t.git(&[
        "commit",
        "-q",
        "-am",
        "OPS-1: log deploys, quicker health check",
    ]);

    // bump, then plan from a subdirectory: qa deploys 1.0.1.
    let (code, out, err) = t.gg(
        &t.repo,
        &[
            "bump", "example", "1.0.1", "--env", "qa", "--ticket", "OPS-2", "--format", "json",
        ],
    );
    assert_eq!((code, err.as_str()), (0, ""));
    let bumped = json(&out);
    assert_eq!(bumped["branch"], "qa");
    let info = t.git(&["log", "-1", "--format=%an <%ae>|%s", "qa"]);
    assert_eq!(
        info,
        "Dana Dev <dana@example.com>|OPS-2: bump example to 1.0.1 on qa"
    );
    assert_eq!(
        t.git(&["status", "--porcelain"]),
        "",
        "bump keeps the checked-out tree clean"
    );
    t.git(&["push", "-q", "origin", "qa"]);
    let plan_out = t.repo.join("gitops-gate-out");
    let (code, out, _) = t.gg(&t.repo.join("services"), &["plan", "--env", "qa"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("DEPLOY qa") && out.contains("example 1.0.0 -> 1.0.1"),
        "{out}"
    );
    assert!(
        plan_out.join("plan.json").is_file(),
        "plan writes at the repository root"
    );

    // run on qa: the edited script deploys, the health check passes, the ledger moves on origin.
    let mut args = vec!["run", "--env", "qa"];
    args.extend(url_base);
    let (code, out, err) = t.gg(&t.repo, &args);
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(t.running("qa"), "1.0.1");
    assert_eq!(t.ledger_on_origin("qa"), t.git(&["rev-parse", "qa"]));
    let log = std::fs::read_to_string(t.cluster.join("deploys.log")).unwrap();
    assert_eq!(log, "qa example 1.0.1\n");

    // Promote what qa runs: the pull request is opened on the fake GitHub, approved by bob,
    // merged, and the merge deploys staging, whose gate checks that review.
    let (code, out, err) = t.gg(
        &t.repo,
        &[
            "promote", "--from", "qa", "--to", "staging", "--format", "json",
        ],
    );
    assert_eq!((code, err.as_str()), (0, ""));
    let pr = json(&out);
    assert_eq!(pr["head"], "qa");
    assert_eq!(pr["pull_request"]["number"], 7);
    assert_eq!(pr["changes"][0]["to"], "1.0.1");
    t.merge("staging", "qa", "OPS-2: Merge pull request #7 from acme/qa");
    promoting("qa", "staging");
    let mut args = vec!["run", "--env", "staging"];
    args.extend(url_base);
    let (code, out, err) = t.gg(&t.repo, &args);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        err.contains("regression: example 1.0.1 passed on staging"),
        "{err}"
    );
    assert_eq!(t.running("staging"), "1.0.1");

    let (code, _, _) = t.gg(
        &t.repo,
        &["promote", "--from", "staging", "--to", "prod", "--offline"],
    );
    assert_eq!(code, 0);
    t.merge(
        "prod",
        "staging",
        "OPS-2: Merge pull request #7 from acme/staging",
    );
    promoting("staging", "prod");
    let mut args = vec!["run", "--env", "prod", "--format", "json"];
    args.extend(url_base);
    let (code, out, err) = t.gg(&t.repo, &args);
    assert_eq!(code, 0, "{out}\n{err}");
    let run = json(&out);
    assert_eq!(run["run"]["result"], "succeeded");
    assert!(
        err.contains("smoke: example 1.0.1 answers on prod"),
        "{err}"
    );
    assert_eq!(t.running("prod"), "1.0.1");

    // Day 3: 1.0.2 is broken. Its deploy on qa fails the health check; the ledger stays.
    t.git(&["checkout", "-q", "qa"]);
    let good = t.git(&["rev-parse", "qa"]);
    let (code, _, _) = t.gg(
        &t.repo,
        &[
            "bump", "example", "1.0.2", "--env", "qa", "--ticket", "OPS-3", "--push",
        ],
    );
    assert_eq!(code, 0);
    broken.store(true, Ordering::SeqCst);
    let mut args = vec!["run", "--env", "qa"];
    args.extend(url_base);
    let (code, out, err) = t.gg(&t.repo, &args);
    assert_eq!(code, 3, "{out}\n{err}");
    assert!(
        err.contains("stage `healthcheck` of example failed"),
        "{err}"
    );
    assert_eq!(
        t.running("qa"),
        "1.0.2",
        "the failed version is what runs now"
    );
    assert_eq!(t.ledger_on_origin("qa"), good);
    broken.store(false, Ordering::SeqCst);

    // status says so: what runs by the ledger, the failed run, what waits.
    let (code, out, _) = t.gg(&t.repo, &["status", "--env", "qa", "--format", "json"]);
    assert_eq!(code, 0);
    let st = json(&out);
    let qa = &st["environments"][0];
    assert_eq!(qa["deployed"]["commit"], good.as_str());
    assert_eq!(qa["deployed"]["services"]["example"], "1.0.1");
    assert_eq!(qa["last_run"]["result"], "failed");
    assert_eq!(qa["last_run"]["failed_stage"]["id"], "healthcheck");
    assert_eq!(qa["waiting"]["commits"], 1);
    assert_eq!(qa["waiting"]["redeploy"][0], "example");

    // rollback restores the last good descriptors; the next run redeploys them, although
    // they equal what the ledger holds.
    let (code, out, err) = t.gg(
        &t.repo.join("scripts"),
        &[
            "rollback",
            "--env",
            "qa",
            "--ticket",
            "OPS-4",
            "--reason",
            "1.0.2 fails its health check",
            "--push",
        ],
    );
    assert_eq!((code, err.as_str()), (0, ""), "{out}");
    assert!(
        out.contains("- services/example.yaml: 1.0.2 -> 1.0.1"),
        "{out}"
    );
    assert!(out.contains("gitops-gate run --env qa"), "{out}");
    assert_eq!(t.git(&["status", "--porcelain"]), "");
    assert_eq!(
        t.git(&["log", "-1", "--format=%ae|%s", "qa"]),
        format!(
            "dana@example.com|OPS-4: Rollback qa: restore services/ of {}",
            &good[..7]
        )
    );
    let mut args = vec!["run", "--env", "qa"];
    args.extend(url_base);
    let (code, out, err) = t.gg(&t.repo, &args);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("example 1.0.2 -> 1.0.1"), "{out}");
    assert_eq!(t.running("qa"), "1.0.1");

    // Day 4: a good 1.0.3 goes all the way, each promotion a merged pull request approved by
    // bob on the fake GitHub.
    let (code, _, _) = t.gg(
        &t.repo,
        &[
            "bump", "example", "1.0.3", "--env", "qa", "--ticket", "OPS-5", "--push",
        ],
    );
    assert_eq!(code, 0);
    let mut args = vec!["run", "--env", "qa"];
    args.extend(url_base);
    assert_eq!(t.gg(&t.repo, &args).0, 0);
    for (env, from) in [("staging", "qa"), ("prod", "staging")] {
        promoting(from, env);
        t.merge(
            env,
            from,
            &format!("OPS-5: Merge pull request #7 from acme/{from}"),
        );
        let mut args = vec!["run", "--env", env, "--format", "json"];
        args.extend(url_base);
        let (code, out, err) = t.gg(&t.repo, &args);
        assert_eq!(code, 0, "{out}\n{err}");
        let run = json(&out);
        let approvals: Vec<&Value> = run["plan"]["checks"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["rule"] == "approvals")
            .collect();
        assert_eq!(approvals.len(), 1, "{}", run["plan"]["checks"]);
        assert_eq!(approvals[0]["verdict"], "pass", "{}", approvals[0]);
        assert_eq!(t.running(env), "1.0.3");
    }
    assert!(gh.count("/repos/acme/deploy/pulls/7/reviews") >= 2);

    // status and report show the week.
    let (code, out, _) = t.gg(&t.repo, &["status"]);
    assert_eq!(code, 0);
    for env in ["qa", "staging", "prod"] {
        assert!(out.contains(&format!("{env} (branch {env})")), "{out}");
    }
    assert!(out.contains("services   example 1.0.3"), "{out}");
    assert!(
        out.contains("waiting    nothing: the branch is what runs"),
        "{out}"
    );
    let (code, out, _) = t.gg(&t.repo, &["report", "--format", "json", "--since", "3650d"]);
    assert_eq!(code, 0, "{out}");
    let report = json(&out);
    let example = &report["services"]["example"];
    assert_eq!(
        (
            &example["succeeded"],
            &example["failed"],
            &example["restores"]
        ),
        (&Value::from(7), &Value::from(1), &Value::from(1)),
        "{report}"
    );
    assert_eq!(report["environments"]["qa"]["change_failure_rate"], 0.25);
    let deploys = std::fs::read_to_string(t.cluster.join("deploys.log")).unwrap();
    assert_eq!(deploys.lines().count(), 8, "{deploys}");
}

/// A fresh `init` repository, its identity set as CI sets it.
fn fresh() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("deployments");
    let mut c = common::gate(&common::home());
    c.arg("init").arg(&repo);
    assert_eq!(common::run(c).0, 0);
    (tmp, repo)
}

fn gg(dir: &Path, args: &[&str]) -> (i32, String, String) {
    gg_with(dir, args, &[])
}

/// The binary run in `dir` with a git identity as CI jobs set it, and `env`.
fn gg_with(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut c = common::gate(&common::home());
    c.current_dir(dir)
        .env("GIT_AUTHOR_NAME", "Dana Dev")
        .env("GIT_AUTHOR_EMAIL", "dana@example.com")
        .env("GIT_COMMITTER_NAME", "Dana Dev")
        .env("GIT_COMMITTER_EMAIL", "dana@example.com")
        .envs(env.iter().copied())
        .args(args);
    common::run(c)
}

/// A bare `origin` for `repo` holding its branches and ledger refs, as a team's first push
/// makes it.
fn publish(repo: &Path, origin: &Path) {
    let o = origin.to_str().unwrap();
    common::git(origin.parent().unwrap(), &["init", "-q", "--bare", o]);
    common::git(repo, &["remote", "add", "origin", o]);
    common::git(
        repo,
        &[
            "push",
            "-q",
            "origin",
            "main",
            "qa",
            "staging",
            "prod",
            "refs/gitops-gate/*:refs/gitops-gate/*",
        ],
    );
}

/// `--env qa` judges qa's branch, whatever is checked out; a hand-given head that is not on
/// that branch is refused; typos of environments and branches get a did-you-mean.
#[test]
fn env_judges_its_own_branch_and_names_are_checked() {
    let (_tmp, repo) = fresh();
    assert_eq!(gg(&repo, &["bump", "example", "1.0.1", "--env", "qa"]).0, 0);
    let qa = common::git(&repo, &["rev-parse", "qa"]);
    assert_eq!(common::git(&repo, &["branch", "--show-current"]), "main");
    let (code, out, err) = gg(
        &repo,
        &["plan", "--env", "qa", "--offline", "--format", "json"],
    );
    assert_eq!(code, 0, "{err}");
    let p = json(&out);
    assert_eq!(p["push"]["head"], qa.as_str());
    assert_eq!(p["push"]["branch"], "qa");

    let main = common::git(&repo, &["rev-parse", "main"]);
    common::git(&repo, &["commit", "-q", "--allow-empty", "-m", "not on qa"]);
    let off = common::git(&repo, &["rev-parse", "HEAD"]);
    let (code, out, err) = gg(&repo, &["plan", "--env", "qa", "--head", &off]);
    assert_eq!((code, out.as_str()), (2, ""));
    assert!(
        err.contains(&format!("{} ({off}) is not on branch `qa`", &off[..7])),
        "{err}"
    );
    assert!(err.contains("hint: deploy what the branch holds"), "{err}");
    assert_ne!(main, off);

    let (code, _, err) = gg(&repo, &["plan", "--env", "stagin"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("`stagin` is not an environment of the policy"),
        "{err}"
    );
    assert!(err.contains("did you mean `--env staging`?"), "{err}");
    assert!(!err.contains("bootstrap"), "{err}");
    let (code, _, err) = gg(&repo, &["plan", "--branch", "qaa"]);
    assert_eq!(code, 2);
    assert!(err.contains("did you mean `--branch qa`?"), "{err}");
}

/// A reused checkout (a Jenkins workspace) whose local ledger is stale judges against
/// origin's, so its next run deploys instead of exiting 5; a fresh clone is told to fetch,
/// not to bootstrap, when it may not fetch.
#[test]
fn a_stale_or_missing_local_ledger_is_refreshed_from_origin() {
    let (tmp, repo) = fresh();
    let origin = tmp.path().join("origin.git");
    publish(&repo, &origin);
    // A second workspace deploys 1.0.1 and moves origin's ledger.
    let other = tmp.path().join("other");
    common::git(
        tmp.path(),
        &[
            "clone",
            "-q",
            origin.to_str().unwrap(),
            other.to_str().unwrap(),
        ],
    );
    assert_eq!(
        gg(
            &other,
            &["bump", "example", "1.0.1", "--env", "qa", "--push"]
        )
        .0,
        0
    );
    let pushed = common::git(&other, &["rev-parse", "origin/qa"]);
    common::git(
        &origin,
        &["update-ref", "refs/gitops-gate/deployed/qa", &pushed],
    );
    // The first workspace still holds the old ledger; its plan of the new tip judges from
    // origin's ledger: nothing left to deploy, not "superseded".
    common::git(&repo, &["fetch", "-q", "origin", "qa:qa"]);
    let (code, out, err) = gg(&repo, &["plan", "--env", "qa", "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let p = json(&out);
    assert_eq!(p["decision"], "skip", "{p}");
    assert_eq!(
        common::git(&repo, &["rev-parse", "refs/gitops-gate/deployed/qa"]),
        pushed
    );

    // A fresh clone holds branches only. With --no-fetch it is told to fetch the ledger.
    let clone = tmp.path().join("clone");
    common::git(
        tmp.path(),
        &[
            "clone",
            "-q",
            origin.to_str().unwrap(),
            clone.to_str().unwrap(),
        ],
    );
    common::git(&clone, &["branch", "-q", "qa", "origin/qa"]);
    let (code, _, err) = gg(&clone, &["plan", "--env", "qa", "--no-fetch"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("fetch it first: git fetch origin '+refs/gitops-gate/*:refs/gitops-gate/*'"),
        "{err}"
    );
    // Without --no-fetch it finds it.
    let (code, out, err) = gg(&clone, &["plan", "--env", "qa", "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(json(&out)["decision"], "skip");
}

/// A dry run is a rehearsal of what would run: a step whose program is missing fails it.
#[test]
fn a_dry_run_checks_that_every_step_can_start() {
    let (_tmp, repo) = fresh();
    assert_eq!(gg(&repo, &["bump", "example", "1.0.1", "--env", "qa"]).0, 0);
    let (code, out, err) = gg(&repo, &["run", "--env", "qa", "--dry-run"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("would run [deploy example] [\"./scripts/deploy.sh\"]"),
        "{out}"
    );
    common::git(&repo, &["checkout", "-q", "qa"]);
    common::git(&repo, &["rm", "-q", "scripts/deploy.sh"]);
    common::git(&repo, &["commit", "-q", "-m", "drop the script"]);
    let (code, _, err) = gg(&repo, &["run", "--env", "qa", "--dry-run"]);
    assert_eq!(code, 3, "{err}");
    assert!(
        err.contains("`./scripts/deploy.sh` does not exist in"),
        "{err}"
    );
}

/// A descriptor that does not parse is shown as unparseable, with a hint at the file, not as
/// a removal to allow in the policy.
#[test]
fn an_unparseable_descriptor_is_not_shown_as_a_removal() {
    let (_tmp, repo) = fresh();
    common::git(&repo, &["checkout", "-q", "qa"]);
    std::fs::write(
        repo.join("services/example.yaml"),
        "service: example\nversion: [\n",
    )
    .unwrap();
    common::git(&repo, &["commit", "-q", "-am", "break it"]);
    let (code, out, _) = gg(&repo, &["plan", "--env", "qa"]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("example 1.0.0 -> unparseable"), "{out}");
    assert!(!out.contains("-> removed"), "{out}");
    assert!(out.contains("fix services/example.yaml"), "{out}");
    assert!(
        !out.contains("set gates.destructive.remove_service"),
        "{out}"
    );
}

/// Every command's `--help` describes each option and shows at least two examples, so a
/// newcomer never has to read the code to call it.
#[test]
fn every_command_explains_its_options_with_two_examples() {
    let commands = [
        "plan",
        "validate",
        "schema",
        "diff",
        "demo",
        "run",
        "healthcheck",
        "init",
        "bump",
        "report",
        "rollback",
        "promote",
        "status",
    ];
    for cmd in commands {
        let mut c = common::gate(&common::home());
        c.args([cmd, "--help"]);
        let (code, out, _) = common::run(c);
        assert_eq!(code, 0, "{cmd}");
        let options = out
            .split("Options:")
            .nth(1)
            .unwrap_or_else(|| panic!("{cmd}: no options"));
        for line in options.lines().take_while(|l| !l.starts_with("Examples:")) {
            let t = line.trim_start();
            if !t.starts_with('-') {
                continue;
            }
            let described = t
                .split_once("  ")
                .map(|(_, rest)| rest.trim_start())
                .is_some_and(|rest| !rest.is_empty() && !rest.starts_with('['));
            assert!(described, "{cmd} --help: `{t}` has no description");
        }
        let examples = out
            .split("Examples:")
            .nth(1)
            .unwrap_or_else(|| panic!("{cmd} --help has no examples:\n{out}"));
        let n = examples
            .lines()
            .filter(|l| {
                l.trim_start().starts_with(&format!("gitops-gate {cmd}"))
                    || l.contains(&format!(" gitops-gate {cmd}"))
            })
            .count();
        assert!(n >= 2, "{cmd} --help shows {n} examples:\n{out}");
    }
}

/// `run` deploys only what origin's branch holds (else origin's ledger would point at a
/// commit no teammate has, and their next push would read as a rewritten history), and it
/// runs the deployed commit's step scripts, not those of whatever branch is checked out.
#[test]
fn a_run_deploys_what_origin_has_with_that_commits_scripts() {
    let (tmp, repo) = fresh();
    let (health_url, _) = health();
    let origin = tmp.path().join("origin.git");
    let cluster = tmp.path().join("cluster");
    let cluster_s = cluster.to_str().unwrap();
    let env = [("GITOPS_EXAMPLE_CLUSTER", cluster_s)];
    publish(&repo, &origin);
    common::git(&repo, &["checkout", "-q", "qa"]);
    let script = std::fs::read_to_string(repo.join("scripts/deploy.sh")).unwrap();
    std::fs::write(
        repo.join("scripts/deploy.sh"),
        format!("{script}echo qa-script > \"$cluster/marker\"\n"),
    )
    .unwrap();
    common::git(&repo, &["commit", "-q", "-am", "OPS-1: mark deploys"]);
    common::git(&repo, &["push", "-q", "origin", "qa"]);
    assert_eq!(gg(&repo, &["bump", "example", "1.0.1", "--env", "qa"]).0, 0);
    let run = ["run", "--env", "qa", "--url-base", health_url.as_str()];
    let (code, out, err) = gg_with(&repo, &run, &env);
    assert_eq!(code, 2, "{out}");
    assert!(
        err.contains("is not on origin's `qa`")
            && err.contains("push it first: git push origin qa"),
        "{err}"
    );
    assert!(!cluster.join("qa").exists(), "nothing deployed");

    common::git(&repo, &["push", "-q", "origin", "qa"]);
    common::git(&repo, &["checkout", "-q", "main"]);
    let (code, out, err) = gg_with(&repo, &run, &env);
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(
        std::fs::read_to_string(cluster.join("marker")).unwrap(),
        "qa-script\n"
    );
    assert_eq!(
        std::fs::read_to_string(cluster.join("qa/example")).unwrap(),
        "1.0.1\n"
    );
    assert_eq!(
        common::git(&repo, &["worktree", "list", "--porcelain"])
            .matches("worktree ")
            .count(),
        1,
        "the checkout is gone"
    );
}
