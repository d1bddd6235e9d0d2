//! Signatures and signer identity with real `git` and `ssh-keygen` in temp repositories:
//! the identity that counts is the signer principal from the allowed-signers file, never
//! the email a commit claims.
mod common;
use common::*;
use std::path::PathBuf;

struct Keys {
    _dir: tempfile::TempDir,
    alice: (PathBuf, String),
    mallory: (PathBuf, String),
}

fn keys() -> Keys {
    let dir = tempfile::tempdir().unwrap();
    let alice = ssh_key(dir.path(), "alice");
    let mallory = ssh_key(dir.path(), "mallory");
    Keys {
        _dir: dir,
        alice,
        mallory,
    }
}

/// A qa repository whose deployed commit allows alice's key, with `committers` and
/// `require_signed` as given; returns the repo and the deployed commit.
fn repo(k: &Keys, committers: &str) -> Git {
    let g = Git::new();
    g.write(
        "gitops.yaml",
        &format!(
            "version: 1\nenvironments:\n  qa: {{ branch: qa, pipeline: [deploy] }}\ngates:\n  committers: [{committers}]\n  require_signed: true\n  allowed_signers: .gitops/allowed_signers\nsteps:\n  deploy: {{ run: [\"true\"] }}\n"
        ),
    );
    g.write(
        ".gitops/allowed_signers",
        &format!("alice@example.com namespaces=\"git\" {}\n", k.alice.1),
    );
    g.write("services/api.yaml", &api("1.0.0"));
    let base = g.commit("initial", "Alice", "alice@example.com", Some(&k.alice.0));
    g.ledger("qa", &base);
    g.write("services/api.yaml", &api("1.0.1"));
    g
}

fn gate(g: &Git, head: &str) -> Run {
    plan(g, &["--env", "qa", "--branch", "qa", "--head", head], &[])
}

#[test]
fn signed_by_an_allowed_key_deploys() {
    let k = keys();
    let g = repo(&k, "\"signer:alice@example.com\"");
    let head = g.commit("bump", "Alice", "alice@example.com", Some(&k.alice.0));
    let r = gate(&g, &head);
    assert_eq!(r.code, 0);
    assert_eq!(r.checks("signatures")[0]["verdict"], "pass");
    assert_eq!(r.checks("committers")[0]["verdict"], "pass");
}

#[test]
fn unsigned_commit_claiming_an_allowed_email_is_rejected() {
    let k = keys();
    let g = repo(&k, "\"signer:alice@example.com\"");
    let head = g.commit("bump", "Alice", "alice@example.com", None);
    let r = gate(&g, &head);
    assert_eq!(r.code, 1);
    let s = &r.checks("signatures")[0];
    assert_eq!(s["verdict"], "fail");
    assert_eq!(s["value"], "unsigned");
    assert_eq!(r.checks("committers")[0]["verdict"], "fail");
}

#[test]
fn signed_by_an_unknown_key_is_rejected() {
    let k = keys();
    let g = repo(&k, "\"signer:alice@example.com\"");
    let head = g.commit("bump", "Alice", "alice@example.com", Some(&k.mallory.0));
    let r = gate(&g, &head);
    assert_eq!(r.code, 1);
    let s = &r.checks("signatures")[0];
    assert_eq!(s["verdict"], "fail");
    assert!(
        s["value"]
            .as_str()
            .unwrap()
            .contains("not in gates.allowed_signers"),
        "{s}"
    );
}

#[test]
fn identity_is_the_signer_not_the_committer_email() {
    let k = keys();
    // Signed with alice's key, committed as bob: alice is allowed, so it passes ...
    let g = repo(&k, "\"signer:alice@example.com\"");
    let head = g.commit("bump", "Bob", "bob@example.com", Some(&k.alice.0));
    let r = gate(&g, &head);
    assert_eq!(r.code, 0);
    assert_eq!(r.checks("committers")[0]["verdict"], "pass");
    // ... and when only bob is allowed, the same commit is rejected: the identity is alice.
    let g = repo(&k, "\"signer:bob@example.com\"");
    let head = g.commit("bump", "Bob", "bob@example.com", Some(&k.alice.0));
    let r = gate(&g, &head);
    assert_eq!(r.code, 1);
    let c = &r.checks("committers")[0];
    assert_eq!(c["verdict"], "fail");
    assert!(
        c["value"]
            .as_str()
            .unwrap()
            .contains("signer alice@example.com"),
        "{c}"
    );
}

#[test]
fn a_push_cannot_add_its_own_signer() {
    let k = keys();
    let g = repo(&k, "\"signer:alice@example.com\"");
    // The push adds mallory to the allowed signers, as alice, and signs with mallory.
    g.write(
        ".gitops/allowed_signers",
        &format!(
            "alice@example.com namespaces=\"git\" {}\nalice@example.com namespaces=\"git\" {}\n",
            k.alice.1, k.mallory.1
        ),
    );
    let head = g.commit("bump", "Alice", "alice@example.com", Some(&k.mallory.0));
    let r = gate(&g, &head);
    assert_eq!(
        r.code, 1,
        "the deployed allowed-signers file judges the push"
    );
}

#[test]
fn offline_still_checks_signatures_locally() {
    let k = keys();
    let g = repo(&k, "\"signer:alice@example.com\"");
    let head = g.commit("bump", "Alice", "alice@example.com", None);
    let r = plan(
        &g,
        &[
            "--env",
            "qa",
            "--branch",
            "qa",
            "--head",
            &head,
            "--offline",
        ],
        &[],
    );
    assert_eq!(r.code, 1);
    assert_eq!(r.checks("signatures")[0]["verdict"], "fail");
}
