//! `gitops-gate bump`: one scalar changes, every other byte stays; races on push are rebased.
mod common;
use common::*;
use std::path::Path;

const ODD: &str = "# api: owned by team-api, bumped nightly\nservice: api\nversion: '1.4.2'   # keep quotes\nmaintainer: team-api@example.com\n\n# health\nhealthcheck: {endpoints: [\"/healthz\"],   retries: 3}\nports: [ 8080 ]\n";

fn git(dir: &Path, args: &[&str]) -> String {
    let out = common::git_std()
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "Bob")
        .env("GIT_AUTHOR_EMAIL", "bob@example.com")
        .env("GIT_COMMITTER_NAME", "Bob")
        .env("GIT_COMMITTER_EMAIL", "bob@example.com")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn bump(home: &Path, repo: &Path, args: &[&str]) -> (i32, String, String) {
    let mut c = gate(home);
    c.arg("bump").args(args).arg("--repo").arg(repo).args([
        "--author-name",
        "Nightly",
        "--author-email",
        "ci@example.com",
    ]);
    run(c)
}

#[test]
fn only_the_version_bytes_change_and_the_result_deploys() {
    let (mut t, _) = TestRepo::deployment();
    t.commit_on(
        "qa",
        &[("services/api.yaml", Some(ODD))],
        alice(),
        "OPS-2: odd layout",
    );
    let before = t.tip("qa");
    let (code, out, _) = bump(
        t.dir.path(),
        &t.path(),
        &["api", "1.4.3", "--env", "qa", "--ticket", "OPS-12"],
    );
    assert_eq!(code, 0, "{out}");
    let after = t.tip("qa");
    let repo = git2::Repository::open(t.path()).unwrap();
    let c = repo.find_commit(after.into()).unwrap();
    assert_eq!(c.parent_id(0).unwrap(), before.into());
    assert_eq!(c.message().unwrap(), "OPS-12: bump api to 1.4.3 on qa");
    assert_eq!(c.author().email(), Some("ci@example.com"));
    let blob = c
        .tree()
        .unwrap()
        .get_path(Path::new("services/api.yaml"))
        .unwrap()
        .to_object(&repo)
        .unwrap();
    let text = std::str::from_utf8(blob.as_blob().unwrap().content())
        .unwrap()
        .to_string();
    assert_eq!(text, ODD.replace("'1.4.2'", "'1.4.3'"));
    // The same bump again is a no-op.
    let (code, out, _) = bump(t.dir.path(), &t.path(), &["api", "1.4.3", "--env", "qa"]);
    assert_eq!(code, 0);
    assert!(out.contains("already at 1.4.3"), "{out}");
    assert_eq!(t.tip("qa"), after);
}

#[test]
fn unknown_services_bad_versions_and_dirty_work_trees_are_refused() {
    let (t, _) = TestRepo::deployment();
    let bump_test = |repo: &Path, args: &[&str]| {
        Test::new(&t)
            .arg("bump")
            .args(args)
            .arg("--repo")
            .arg(repo)
            .args([
                "--author-name",
                "Nightly",
                "--author-email",
                "ci@example.com",
            ])
            .status(2)
    };
    bump_test(&t.path(), &["nope", "1.0.0", "--env", "qa"])
        .stderr(
            "error: no service `nope` (services/nope.yaml) on this branch\n\
             hint: services here: api, web\n\
             gitops-gate: exit 2: invalid input\n",
        )
        .run();
    for bad in ["1 .0", "", "1\n2", "-rf"] {
        let (code, _, _) = bump(t.dir.path(), &t.path(), &["api", bad, "--env", "qa"]);
        assert_eq!(code, 2, "{bad:?}");
    }
    bump_test(&t.path(), &["api", "1.0.0", "--env", "nowhere"])
        .stderr(
            "error: `nowhere` is not an environment of the policy\n\
             hint: environments: qa, staging, prod\n\
             gitops-gate: exit 2: invalid input\n",
        )
        .run();
    // A checked-out branch with uncommitted changes.
    let work = t.dir.path().join("work");
    git(
        t.dir.path(),
        &[
            "clone",
            "--quiet",
            "--branch",
            "qa",
            t.path().to_str().unwrap(),
            work.to_str().unwrap(),
        ],
    );
    std::fs::write(work.join("services/web.yaml"), "edited\n").unwrap();
    bump_test(&work, &["api", "1.5.0", "--env", "qa"])
        .stderr(
            "error: branch `qa` is checked out with uncommitted changes\n\
             hint: commit or stash them first (git stash), then try again\n\
             gitops-gate: exit 2: invalid input\n",
        )
        .run();
    // Clean, it commits and the work tree follows.
    git(&work, &["checkout", "--quiet", "--", "services/web.yaml"]);
    let (code, _, _) = bump(t.dir.path(), &work, &["api", "1.5.0", "--env", "qa"]);
    assert_eq!(code, 0);
    let text = std::fs::read_to_string(work.join("services/api.yaml")).unwrap();
    assert!(text.contains("version: \"1.5.0\""), "{text}");
    assert_eq!(git(&work, &["status", "--porcelain"]), "");
}

#[test]
fn a_push_that_lost_a_race_is_rebased_and_pushed() {
    let (t, _) = TestRepo::deployment();
    let remote = t.dir.path().join("remote.git");
    git(
        t.dir.path(),
        &[
            "clone",
            "--quiet",
            "--bare",
            t.path().to_str().unwrap(),
            remote.to_str().unwrap(),
        ],
    );
    let mine = t.dir.path().join("mine");
    let theirs = t.dir.path().join("theirs");
    for d in [&mine, &theirs] {
        git(
            t.dir.path(),
            &[
                "clone",
                "--quiet",
                "--branch",
                "main",
                remote.to_str().unwrap(),
                d.to_str().unwrap(),
            ],
        );
        git(d, &["branch", "--quiet", "qa", "origin/qa"]);
    }
    // Someone else pushes to qa first.
    git(&theirs, &["checkout", "--quiet", "qa"]);
    std::fs::write(theirs.join("services/web.yaml"), descriptor("web", "2.0.2")).unwrap();
    git(&theirs, &["commit", "--quiet", "-am", "OPS-3: web 2.0.2"]);
    git(&theirs, &["push", "--quiet", "origin", "qa"]);
    let (code, out, err) = bump(
        t.dir.path(),
        &mine,
        &["api", "1.4.9", "--env", "qa", "--push", "--ticket", "OPS-4"],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("pushed"), "{out}");
    let log = git(&remote, &["log", "--format=%s", "qa"]);
    let subjects: Vec<&str> = log.lines().take(2).collect();
    assert_eq!(
        subjects,
        ["OPS-4: bump api to 1.4.9 on qa", "OPS-3: web 2.0.2"]
    );
    let api = git(&remote, &["show", "qa:services/api.yaml"]);
    assert!(api.contains("version: \"1.4.9\""));
    let web = git(&remote, &["show", "qa:services/web.yaml"]);
    assert!(web.contains("2.0.2"), "their change is kept");
    assert_eq!(
        git(&mine, &["rev-parse", "qa"]),
        git(&remote, &["rev-parse", "qa"]),
        "the local branch follows"
    );
}

/// A lower version is committed (the gate judges it), with a note saying it is a downgrade.
#[test]
fn a_downgrade_is_committed_with_a_note() {
    let (t, _) = TestRepo::deployment();
    let (code, out, err) = bump(t.dir.path(), &t.path(), &["api", "1.4.1", "--env", "qa"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("api -> 1.4.1 on qa: commit "), "{out}");
    assert_eq!(
        err,
        "note: api 1.4.2 -> 1.4.1 is a downgrade; the gate judges it by gates.destructive.downgrade\n"
    );
    let (code, _, err) = bump(t.dir.path(), &t.path(), &["api", "1.5.0", "--env", "qa"]);
    assert_eq!((code, err.as_str()), (0, ""));
}
