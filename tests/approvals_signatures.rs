//! Signatures and signer identity with real `git` and `ssh-keygen` in temp repositories:
//! the identity that counts is the signer principal from the allowed-signers file, never
//! the email a commit claims.
mod common;
mod fakes;
use fakes::*;
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
    let outdir = tempfile::tempdir().unwrap();
    let o = common::gate_std(g.home.path())
        .env("GNUPGHOME", &gnupg)
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

// ---- GPG: keys in a keyring the policy names, read from the deployed commit ----

/// A GnuPG home with alice's and mallory's signing keys (no passphrase); its agent is
/// stopped on drop.
struct Gpg {
    home: tempfile::TempDir,
    alice: String,
    mallory: String,
}

impl Drop for Gpg {
    fn drop(&mut self) {
        let _ = std::process::Command::new("gpgconf")
            .arg("--homedir")
            .arg(self.home.path())
            .args(["--kill", "all"])
            .output();
    }
}

impl Gpg {
    fn new() -> Gpg {
        let home = tempfile::Builder::new().prefix("gpg").tempdir().unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(home.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        }
        let mut g = Gpg {
            home,
            alice: String::new(),
            mallory: String::new(),
        };
        g.alice = g.key("Alice <alice@example.com>");
        g.mallory = g.key("Mallory <mallory@example.com>");
        g
    }
    fn gpg(&self, args: &[&str]) -> String {
        let out = std::process::Command::new("gpg")
            .env("GNUPGHOME", self.home.path())
            .args(["--batch", "--no-tty"])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "gpg {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
    /// Generates a key for `uid`; returns its fingerprint.
    fn key(&self, uid: &str) -> String {
        self.gpg(&[
            "--passphrase",
            "",
            "--quick-gen-key",
            uid,
            "ed25519",
            "sign",
            "never",
        ]);
        let listing = self.gpg(&["--with-colons", "--list-keys", uid]);
        listing
            .lines()
            .find_map(|l| l.strip_prefix("fpr:"))
            .and_then(|l| l.split(':').find(|f| !f.is_empty()))
            .unwrap()
            .to_string()
    }
    fn export(&self, fprs: &[&str]) -> String {
        let mut args = vec!["--armor", "--export"];
        args.extend_from_slice(fprs);
        self.gpg(&args)
    }
    /// Commits everything as `name <email>`, signed with the GPG key `fpr`.
    fn commit(&self, g: &Git, msg: &str, name: &str, email: &str, fpr: &str) -> String {
        g.git(&["add", "-A"]);
        let out = g
            .cmd()
            .env("GNUPGHOME", self.home.path())
            .env("GIT_AUTHOR_NAME", name)
            .env("GIT_AUTHOR_EMAIL", email)
            .env("GIT_COMMITTER_NAME", name)
            .env("GIT_COMMITTER_EMAIL", email)
            .args(["-c", "gpg.format=openpgp", "-c"])
            .arg(format!("user.signingkey={fpr}"))
            .args(["commit", "-q", "-S", "--allow-empty", "-m", msg])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "signed commit: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        g.git(&["rev-parse", "HEAD"])
    }
}

/// A qa repository whose deployed commit trusts alice's GPG key (and, with `ssh`, alice's
/// SSH key too).
fn gpg_repo(k: &Gpg, committers: &str, ssh: Option<&Keys>) -> Git {
    let g = Git::new();
    let ssh_line = if ssh.is_some() {
        "  allowed_signers: .gitops/allowed_signers\n"
    } else {
        ""
    };
    g.write(
        "gitops.yaml",
        &format!(
            "version: 1\nenvironments:\n  qa: {{ branch: qa, pipeline: [deploy] }}\ngates:\n  committers: [{committers}]\n  require_signed: true\n  gpg_keyring: .gitops/keyring.asc\n{ssh_line}steps:\n  deploy: {{ run: [\"true\"] }}\n"
        ),
    );
    g.write(".gitops/keyring.asc", &k.export(&[&k.alice]));
    if let Some(s) = ssh {
        g.write(
            ".gitops/allowed_signers",
            &format!("alice@example.com namespaces=\"git\" {}\n", s.alice.1),
        );
    }
    g.write("services/api.yaml", &api("1.0.0"));
    let base = k.commit(&g, "initial", "Alice", "alice@example.com", &k.alice);
    g.ledger("qa", &base);
    g.write("services/api.yaml", &api("1.0.1"));
    g
}

/// The gate, with the signer's own GnuPG home as the runner's: keys trusted there (mallory's
/// too) must not count.
fn gpg_gate(g: &Git, k: &Gpg, head: &str) -> Run {
    let home = k.home.path().to_str().unwrap().to_string();
    plan(
        g,
        &["--env", "qa", "--branch", "qa", "--head", head],
        &[("GNUPGHOME", &home)],
    )
}

#[test]
fn gpg_signed_by_a_key_in_the_policy_keyring_deploys() {
    let k = Gpg::new();
    let g = gpg_repo(&k, "\"signer:alice@example.com\"", None);
    let head = k.commit(&g, "bump", "Alice", "alice@example.com", &k.alice);
    let r = gpg_gate(&g, &k, &head);
    assert_eq!(r.code, 0);
    assert_eq!(r.checks("signatures")[0]["verdict"], "pass");
    assert_eq!(r.checks("committers")[0]["verdict"], "pass");
}

#[test]
fn gpg_unsigned_commit_claiming_an_allowed_email_is_rejected() {
    let k = Gpg::new();
    let g = gpg_repo(&k, "\"signer:alice@example.com\"", None);
    let head = g.commit("bump", "Alice", "alice@example.com", None);
    let r = gpg_gate(&g, &k, &head);
    assert_eq!(r.code, 1);
    let s = &r.checks("signatures")[0];
    assert!(s["value"].as_str().unwrap().starts_with("unsigned"), "{s}");
    assert_eq!(r.checks("committers")[0]["verdict"], "fail");
}

#[test]
fn gpg_signed_by_a_key_outside_the_keyring_is_rejected_even_if_the_runner_trusts_it() {
    let k = Gpg::new();
    let g = gpg_repo(&k, "\"signer:alice@example.com\"", None);
    // mallory's key is ultimately trusted in the runner's GNUPGHOME, not in the policy's.
    let head = k.commit(&g, "bump", "Alice", "alice@example.com", &k.mallory);
    let r = gpg_gate(&g, &k, &head);
    assert_eq!(r.code, 1);
    let s = &r.checks("signatures")[0];
    assert_eq!(s["verdict"], "fail");
    assert!(
        s["value"]
            .as_str()
            .unwrap()
            .contains("not in gates.gpg_keyring"),
        "{s}"
    );
}

#[test]
fn gpg_identity_is_the_key_not_the_committer_email() {
    let k = Gpg::new();
    // alice's key, committed as bob: alice is allowed, so it passes ...
    let g = gpg_repo(&k, "\"signer:alice@example.com\"", None);
    let head = k.commit(&g, "bump", "Bob", "bob@example.com", &k.alice);
    assert_eq!(gpg_gate(&g, &k, &head).code, 0);
    // ... and when only bob is allowed, the same commit is rejected: the signer is alice.
    let g = gpg_repo(&k, "\"signer:bob@example.com\"", None);
    let head = k.commit(&g, "bump", "Bob", "bob@example.com", &k.alice);
    let r = gpg_gate(&g, &k, &head);
    assert_eq!(r.code, 1);
    let c = &r.checks("committers")[0];
    assert!(
        c["value"]
            .as_str()
            .unwrap()
            .contains("signer alice@example.com"),
        "{c}"
    );
    // A fingerprint names the key too.
    let g = gpg_repo(&k, &format!("\"signer:{}\"", k.alice.to_lowercase()), None);
    let head = k.commit(&g, "bump", "Bob", "bob@example.com", &k.alice);
    assert_eq!(gpg_gate(&g, &k, &head).code, 0);
}

#[test]
fn gpg_a_push_cannot_add_its_own_key() {
    let k = Gpg::new();
    let g = gpg_repo(&k, "\"signer:alice@example.com\"", None);
    g.write(".gitops/keyring.asc", &k.export(&[&k.alice, &k.mallory]));
    let head = k.commit(&g, "bump", "Mallory", "mallory@example.com", &k.mallory);
    let r = gpg_gate(&g, &k, &head);
    assert_eq!(r.code, 1, "the deployed keyring judges the push");
}

#[test]
fn ssh_and_gpg_signers_together() {
    let ssh = keys();
    let k = Gpg::new();
    let g = gpg_repo(&k, "\"signer:alice@example.com\"", Some(&ssh));
    k.commit(&g, "one", "Alice", "alice@example.com", &k.alice);
    g.write("services/api.yaml", &api("1.0.2"));
    let head = g.commit("two", "Alice", "alice@example.com", Some(&ssh.alice.0));
    let r = gpg_gate(&g, &k, &head);
    assert_eq!(r.code, 0);
    assert!(r.checks("signatures")[0]["detail"]
        .as_str()
        .unwrap()
        .contains("all 2 commits are signed"));
    // mallory's SSH key is in neither file.
    g.write("services/api.yaml", &api("1.0.3"));
    let head = g.commit("three", "Alice", "alice@example.com", Some(&ssh.mallory.0));
    assert_eq!(gpg_gate(&g, &k, &head).code, 1);
}

#[test]
fn a_keyring_that_is_not_one_is_a_configuration_error() {
    let k = Gpg::new();
    let g = gpg_repo(&k, "\"signer:alice@example.com\"", None);
    // Replace the deployed keyring with garbage, then deploy again.
    g.write(".gitops/keyring.asc", "not a key\n");
    let base = k.commit(&g, "break keyring", "Alice", "alice@example.com", &k.alice);
    g.ledger("qa", &base);
    g.write("services/api.yaml", &api("1.0.2"));
    let head = k.commit(&g, "bump", "Alice", "alice@example.com", &k.alice);
    let r = gpg_gate(&g, &k, &head);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("gpg_keyring"), "{}", r.stderr);
}

#[test]
fn gpg_only_policy_does_not_trust_an_ssh_signature() {
    let ssh = keys();
    let k = Gpg::new();
    let g = gpg_repo(&k, "\"signer:alice@example.com\"", None);
    // Without gates.allowed_signers no SSH key is a trust root, alice's included.
    let head = g.commit("bump", "Alice", "alice@example.com", Some(&ssh.alice.0));
    let r = gpg_gate(&g, &k, &head);
    assert_eq!(r.code, 1);
    assert_eq!(r.checks("signatures")[0]["verdict"], "fail");
    assert_eq!(r.checks("committers")[0]["verdict"], "fail");
}

#[test]
fn gpg_an_email_on_two_keys_is_a_configuration_error() {
    let k = Gpg::new();
    let g = gpg_repo(&k, "\"signer:alice@example.com\"", None);
    // A second key whose holder also wrote alice's address into its user id.
    let fake = k.key("Alice Impostor <alice@example.com>");
    g.write(".gitops/keyring.asc", &k.export(&[&k.alice, &fake]));
    let base = k.commit(&g, "two keys", "Alice", "alice@example.com", &k.alice);
    g.ledger("qa", &base);
    g.write("services/api.yaml", &api("1.0.2"));
    let head = k.commit(&g, "bump", "Alice", "alice@example.com", &fake);
    let r = gpg_gate(&g, &k, &head);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("on two keys"), "{}", r.stderr);
}

#[test]
fn gpg_a_user_id_comment_cannot_claim_another_signer() {
    let k = Gpg::new();
    let g = gpg_repo(&k, "\"signer:alice@example.com\"", None);
    let sly = k.key("Mallory <mallory@example.com> (<alice@example.com>)");
    g.write(".gitops/keyring.asc", &k.export(&[&k.alice, &sly]));
    let base = k.commit(&g, "add a key", "Alice", "alice@example.com", &k.alice);
    g.ledger("qa", &base);
    g.write("services/api.yaml", &api("1.0.2"));
    let head = k.commit(&g, "bump", "Alice", "alice@example.com", &sly);
    let r = gpg_gate(&g, &k, &head);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert_eq!(r.checks("committers")[0]["verdict"], "fail");
}

#[test]
fn without_a_ledger_a_pushs_previous_tip_is_no_trust_anchor() {
    // The previous tip was never deployed: it may be the push that added mallory's key.
    let k = keys();
    let g = repo(&k, "\"signer:alice@example.com\"");
    let before = g.git(&["rev-parse", "HEAD"]);
    g.git(&["update-ref", "-d", "refs/gitops-gate/deployed/qa"]);
    let head = g.commit("bump", "Alice", "alice@example.com", Some(&k.alice.0));
    let jenkins = [
        ("JENKINS_URL", "http://jenkins.invalid/"),
        ("GIT_BRANCH", "origin/qa"),
        ("GIT_COMMIT", head.as_str()),
        ("GIT_PREVIOUS_SUCCESSFUL_COMMIT", before.as_str()),
    ];
    let r = plan(&g, &["--no-fetch"], &jenkins);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("no ledger yet"), "{}", r.stderr);
    assert!(r.stderr.contains("--base"), "{}", r.stderr);
    // Naming the deployed commit explicitly makes it the anchor again.
    let r = plan(&g, &["--no-fetch", "--base", &before], &jenkins);
    assert_eq!(r.code, 0, "{}", r.stderr);
}
