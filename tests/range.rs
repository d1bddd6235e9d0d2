//! The range algorithm against git itself, and each of its hard cases.
mod common;
use common::*;
use gitops_gate::model::{BaseSource, CommitId};
use gitops_gate::repo::{range, RangeRequest, Repo};
use std::collections::BTreeSet;

fn compute(
    t: &TestRepo,
    head: CommitId,
    before: Option<&str>,
) -> Result<range::Range, gitops_gate::error::Failure> {
    let repo = Repo::open(&t.path()).unwrap();
    range::compute(
        &repo,
        &RangeRequest {
            env: "qa",
            head,
            before,
            base_flag: None,
            bootstrap: false,
            fetch: false,
            refresh: false,
            max_commits: 10_000,
        },
    )
}

/// A merge-heavy history: feature branches forked at different points, merged back, one
/// merged twice, plus a commit only reachable through a merge's second parent.
fn merge_heavy() -> (TestRepo, CommitId, CommitId) {
    let (mut t, root) = TestRepo::deployment();
    let mut tip = root;
    let mut features = Vec::new();
    for i in 0..6 {
        tip = t.commit(
            "qa",
            &[tip],
            &[("notes.txt", Some(&format!("{i}")))],
            alice(),
            &format!("OPS-{}: step {i}", i + 10),
        );
        let f = t.commit(
            &format!("f{i}"),
            &[tip],
            &[(&*format!("f{i}.txt"), Some("x"))],
            alice(),
            &format!("OPS-{}: feature {i}", i + 100),
        );
        let f2 = t.commit(
            &format!("f{i}"),
            &[f],
            &[(&*format!("f{i}b.txt"), Some("y"))],
            alice(),
            "OPS-7: more",
        );
        features.push(f2);
    }
    let ledger = t.tip("qa");
    // Merge features in an interleaved order, some forked before the ledger.
    for (i, f) in features.iter().enumerate().rev() {
        let head = t.tip("qa");
        tip = t.commit(
            "qa",
            &[head, *f],
            &[(&*format!("merge{i}.txt"), Some("m"))],
            alice(),
            &format!("Merge f{i}"),
        );
    }
    (t, ledger, tip)
}

#[test]
fn the_range_is_exactly_what_git_rev_list_says() {
    let (t, ledger, head) = merge_heavy();
    t.set_ref("refs/gitops-gate/deployed/qa", ledger);
    let r = compute(&t, head, None).unwrap();
    assert_eq!(r.source, BaseSource::Ledger);
    assert_eq!(r.base, Some(ledger));
    let ours: BTreeSet<String> = r.commits.iter().map(|c| c.id.clone()).collect();
    let git: BTreeSet<String> = t
        .rev_list(&format!("{ledger}..{head}"))
        .into_iter()
        .collect();
    assert_eq!(ours, git);
    assert_eq!(ours.len(), r.commits.len(), "no commit twice");
    assert_eq!(r.commits[0].id, head.to_string(), "newest first");
    // Topological: every commit comes before its parents.
    let pos = |id: &str| r.commits.iter().position(|c| c.id == id);
    let repo = git2::Repository::open(t.path()).unwrap();
    for c in &r.commits {
        let commit = repo
            .find_commit(git2::Oid::from_str(&c.id).unwrap())
            .unwrap();
        for p in commit.parent_ids() {
            if let Some(pp) = pos(&p.to_string()) {
                assert!(pos(&c.id).unwrap() < pp);
            }
        }
    }
}

#[test]
fn before_is_only_used_without_a_ledger_and_only_as_an_ancestor() {
    let (t, ledger, head) = merge_heavy();
    // Remove the ledger that deployment() set.
    t.delete_ref("refs/gitops-gate/deployed/qa");
    let r = compute(&t, head, Some(&ledger.to_string())).unwrap();
    assert_eq!(r.source, BaseSource::Before);
    assert_eq!(
        r.commits.len(),
        t.rev_list(&format!("{ledger}..{head}")).len()
    );
    // A `before` that is not an ancestor (a force push) cannot be a base.
    let (mut t2, root) = TestRepo::deployment();
    t2.delete_ref("refs/gitops-gate/deployed/qa");
    let a = t2.commit("side", &[root], &[("a", Some("1"))], alice(), "OPS-2: a");
    let b = t2.commit("qa", &[root], &[("b", Some("1"))], alice(), "OPS-3: b");
    let e = compute(&t2, b, Some(&a.to_string())).unwrap_err();
    assert_eq!(e.exit, gitops_gate::error::Exit::Invalid);
    assert!(e.hint.unwrap().contains("--base"));
    // No ledger and no before: never "no commits, so pass".
    let e = compute(&t2, b, None).unwrap_err();
    assert!(e.message.contains("has no ledger"), "{e}");
}

#[test]
fn a_rewritten_history_is_flagged_and_still_ranged_from_the_ledger() {
    let (mut t, root) = TestRepo::deployment();
    let old = t.commit_on("qa", &[("a", Some("1"))], alice(), "OPS-2: a");
    t.set_ref("refs/gitops-gate/deployed/qa", old);
    let new = t.commit(
        "qa",
        &[root],
        &[("a", Some("2"))],
        alice(),
        "OPS-3: rewritten",
    );
    let r = compute(&t, new, Some(&old.to_string())).unwrap();
    assert!(r.rewritten);
    assert_eq!(r.commits.len(), 1);
    assert_eq!(r.commits[0].id, new.to_string());
}

#[test]
fn an_older_push_than_the_ledger_is_superseded_and_the_ledger_itself_is_done() {
    let (mut t, _) = TestRepo::deployment();
    let older = t.commit_on("qa", &[("a", Some("1"))], alice(), "OPS-2: a");
    let newer = t.commit_on("qa", &[("a", Some("2"))], alice(), "OPS-3: b");
    t.set_ref("refs/gitops-gate/deployed/qa", newer);
    let e = compute(&t, older, None).unwrap_err();
    assert_eq!(e.exit, gitops_gate::error::Exit::Superseded);
    let r = compute(&t, newer, None).unwrap();
    assert!(r.already_deployed());
    assert!(r.commits.is_empty());
}

#[test]
fn the_walk_stops_at_the_limit_and_says_so() {
    let (mut t, _) = TestRepo::deployment();
    let mut head = t.tip("qa");
    for i in 0..5 {
        head = t.commit_on("qa", &[("n", Some(&i.to_string()))], alice(), "OPS-2: n");
    }
    let repo = Repo::open(&t.path()).unwrap();
    let r = range::compute(
        &repo,
        &RangeRequest {
            env: "qa",
            head,
            before: None,
            base_flag: None,
            bootstrap: false,
            fetch: false,
            refresh: false,
            max_commits: 3,
        },
    )
    .unwrap();
    assert!(r.over_limit);
    assert_eq!(r.commits.len(), 3);
}

#[test]
fn annotated_tags_are_peeled_to_their_commit() {
    let (mut t, _) = TestRepo::deployment();
    let c = t.commit_on("qa", &[("a", Some("1"))], alice(), "OPS-2: a");
    let repo = git2::Repository::open(t.path()).unwrap();
    let sig =
        git2::Signature::new("A", "alice@example.com", &git2::Time::new(1_767_225_600, 0)).unwrap();
    let obj = repo.find_object(c.into(), None).unwrap();
    let tag = repo.tag("v1", &obj, &sig, "release v1", false).unwrap();
    let ours = Repo::open(&t.path()).unwrap();
    assert_eq!(ours.resolve("v1").unwrap(), c);
    assert_eq!(ours.resolve(&tag.to_string()).unwrap(), c);
    assert!(
        ours.resolve("--all").is_err(),
        "option-like revisions are refused"
    );
}
