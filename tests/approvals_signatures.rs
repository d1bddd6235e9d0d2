//! Signatures and signer identity with real `git` and `ssh-keygen` in temp repositories:
//! the identity that counts is the signer principal from the allowed-signers file, never
//! the email a commit claims.
#[path = "fakes/mod.rs"]
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
    assert!(s["value"].as_str().unwrap().starts_with("unsigned"), "{s}");
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

#[test]
fn a_gpg_signature_trusted_only_by_the_runners_keyring_does_not_count() {
    let k = keys();
    let g = repo(&k, "\"signer:alice@example.com\"");
    // A GPG key for alice in the runner's own keyring (HOME is the test's).
    let gnupg = g.home.path().join(".gnupg");
    std::fs::create_dir_all(&gnupg).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&gnupg, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    let gen = std::process::Command::new("gpg")
        .env("GNUPGHOME", &gnupg)
        .args([
            "--batch",
            "--passphrase",
            "",
            "--quick-gen-key",
            "Alice <alice@example.com>",
            "ed25519",
            "sign",
            "never",
        ])
        .output()
        .unwrap();
    assert!(
        gen.status.success(),
        "{}",
        String::from_utf8_lossy(&gen.stderr)
    );
    g.git(&["add", "-A"]);
    let out = g
        .cmd()
        .env("GNUPGHOME", &gnupg)
        .env("GIT_AUTHOR_NAME", "Alice")
        .env("GIT_AUTHOR_EMAIL", "alice@example.com")
        .env("GIT_COMMITTER_NAME", "Alice")
        .env("GIT_COMMITTER_EMAIL", "alice@example.com")
        .args([
            "-c",
            "user.signingkey=alice@example.com",
            "commit",
            "-q",
            "-S",
            "-m",
            "bump",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // git itself calls it good against that keyring ...
    let raw = g
        .cmd()
        .env("GNUPGHOME", &gnupg)
        .args(["log", "-1", "--format=%G?"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&raw.stdout).trim(), "G");
    let head = g.git(&["rev-parse", "HEAD"]);
    // ... the gate does not: only the policy's allowed-signers file is a trust root.
    let mut c = assert_cmd::Command::cargo_bin("gitops-gate").unwrap();
    let outdir = tempfile::tempdir().unwrap();
    let o = c
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", g.home.path())
        .env("GNUPGHOME", &gnupg)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .args([
            "plan", "--env", "qa", "--branch", "qa", "--head", &head, "--repo",
        ])
        .arg(g.path())
        .arg("--out")
        .arg(outdir.path())
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let plan: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(outdir.path().join("plan.json")).unwrap())
            .unwrap();
    let sig = plan["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["rule"] == "signatures")
        .unwrap()
        .clone();
    assert_eq!(sig["verdict"], "fail", "{sig}");
    assert!(
        sig["value"]
            .as_str()
            .unwrap()
            .contains("not an SSH signature"),
        "{sig}"
    );
}
