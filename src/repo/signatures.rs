//! Local signature checks with the `git` CLI: `git log --format=%H %G? %GS %GF %GP` over
//! the range, against files the policy names and that are read from the deployed commit (a
//! push cannot add its own signer):
//! - SSH: `gpg.ssh.allowedSignersFile` set by `-c` to `gates.allowed_signers`;
//! - OpenPGP: `gates.gpg_keyring` (armored or binary public keys) imported into a fresh,
//!   temporary `GNUPGHOME` whose keys alone are trusted (ultimate ownertrust), so the
//!   runner's own keyrings never count.
//!
//! Only `%G?` = `G` is a good signature by an allowed signer; the identity is the signer
//! (`%GS`: the SSH principal, or the email of the GPG user id), never the commit's email.
//! X.509 signatures are never trusted, nor OpenPGP ones without a keyring. Every program
//! runs with an argv, never through a shell.
use crate::error::Failure;
use crate::model::LocalSignature;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

/// What the policy trusts, as read from the deployed commit.
#[derive(Default)]
pub struct Trust<'a> {
    /// An SSH allowed-signers file.
    pub allowed_signers: Option<&'a [u8]>,
    /// OpenPGP public keys (`gpg --export [--armor]`).
    pub gpg_keyring: Option<&'a [u8]>,
}

fn temp_file(bytes: &[u8], what: &str) -> Result<tempfile::NamedTempFile, Failure> {
    let mut file = tempfile::NamedTempFile::new()
        .map_err(|e| Failure::invalid(format!("cannot write the {what}: {e}")))?;
    file.write_all(bytes)
        .and_then(|_| file.flush())
        .map_err(|e| Failure::invalid(format!("cannot write the {what}: {e}")))?;
    Ok(file)
}

fn gpg(home: &Path) -> Command {
    let mut c = Command::new("gpg");
    c.arg("--homedir")
        .arg(home)
        .args(["--batch", "--no-tty", "--no-autostart", "--quiet"])
        .env("GNUPGHOME", home)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

fn run(mut c: Command, input: Option<&[u8]>, what: &str) -> Result<Vec<u8>, Failure> {
    if input.is_some() {
        c.stdin(Stdio::piped());
    }
    let mut child = c.spawn().map_err(|e| {
        Failure::unavailable(format!(
            "cannot run gpg to check OpenPGP signatures ({what}): {e}"
        ))
        .hint("install GnuPG (gpg) on the runner: gates.gpg_keyring needs it")
    })?;
    if let (Some(bytes), Some(mut stdin)) = (input, child.stdin.take()) {
        stdin
            .write_all(bytes)
            .map_err(|e| Failure::unavailable(format!("gpg ({what}): {e}")))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| Failure::unavailable(format!("gpg ({what}): {e}")))?;
    if !out.status.success() {
        return Err(Failure::invalid(format!(
            "gpg could not {what}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(out.stdout)
}

/// A temporary GnuPG home holding only the keyring's keys, each trusted ultimately (the
/// policy vouches for them): the keys' good signatures show `%G?` = `G`.
/// Also returns which primary key owns each user-id email: a user id is whatever its key's
/// holder wrote, so an email counts only for the one key that carries it.
fn gnupg_home(keyring: &[u8]) -> Result<(tempfile::TempDir, BTreeMap<String, String>), Failure> {
    let home = tempfile::Builder::new()
        .prefix("gg-gpg-")
        .tempdir()
        .map_err(|e| Failure::invalid(format!("cannot create a GnuPG home: {e}")))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(home.path(), std::fs::Permissions::from_mode(0o700));
    }
    std::fs::write(home.path().join("gpg.conf"), "no-autostart\n")
        .map_err(|e| Failure::invalid(format!("cannot write gpg.conf: {e}")))?;
    let file = temp_file(keyring, "GPG keyring")?;
    let mut import = gpg(home.path());
    import.arg("--import").arg(file.path());
    run(import, None, "import gates.gpg_keyring").map_err(|e| {
        e.hint("gates.gpg_keyring must hold OpenPGP public keys (gpg --export --armor KEYID)")
    })?;
    let mut list = gpg(home.path());
    list.args(["--with-colons", "--list-keys"]);
    let listing = run(list, None, "list the imported keys")?;
    // The fingerprint record right after each `pub` record is the primary key's.
    let mut ownertrust = String::new();
    let mut after_pub = false;
    let mut primary = String::new();
    let mut owners: BTreeMap<String, String> = BTreeMap::new();
    for line in String::from_utf8_lossy(&listing).lines() {
        let fields: Vec<&str> = line.split(':').collect();
        match fields.first() {
            Some(&"pub") => {
                after_pub = true;
                primary.clear();
            }
            Some(&"fpr") if after_pub => {
                let fpr = fields.get(9).copied().unwrap_or("");
                if !fpr.is_empty() && fpr.bytes().all(|b| b.is_ascii_hexdigit()) {
                    ownertrust.push_str(fpr);
                    ownertrust.push_str(":6:\n");
                    primary = fpr.to_ascii_uppercase();
                }
                after_pub = false;
            }
            Some(&"uid") if !primary.is_empty() => {
                let email = uid_principal(fields.get(9).copied().unwrap_or(""));
                if let Some(other) = owners.insert(email.clone(), primary.clone()) {
                    if other != primary {
                        return Err(Failure::invalid(format!(
                            "gates.gpg_keyring: the user id `{email}` is on two keys ({other} and {primary})"
                        ))
                        .hint("keep one key per signer identity in the keyring"));
                    }
                }
            }
            _ => {}
        }
    }
    if ownertrust.is_empty() {
        return Err(
            Failure::invalid("gates.gpg_keyring holds no OpenPGP public key").hint(
                "export the signers' keys with gpg --export --armor KEYID and commit the file",
            ),
        );
    }
    let mut trust = gpg(home.path());
    trust.arg("--import-ownertrust");
    run(
        trust,
        Some(ownertrust.as_bytes()),
        "trust the imported keys",
    )?;
    Ok((home, owners))
}

/// The email inside `Name <email>`, else the whole user id.
fn uid_principal(uid: &str) -> String {
    // Only a trailing `<email>`: `Mallory <m@x> (<alice@x>)` is not alice's.
    let uid = uid.trim();
    match (uid.strip_suffix('>'), uid.rfind('<')) {
        (Some(_), Some(a)) => uid[a + 1..uid.len() - 1].trim().to_string(),
        _ => uid.to_string(),
    }
}

pub fn verify(
    repo_dir: &Path,
    trust: &Trust,
    shas: &[String],
) -> Result<BTreeMap<String, LocalSignature>, Failure> {
    // No SSH signer allowed: an empty file, so no SSH signature shows `G`.
    let signers = temp_file(trust.allowed_signers.unwrap_or(b""), "allowed-signers file")?;
    let (home, owners) = match trust.gpg_keyring.map(gnupg_home).transpose()? {
        Some((h, o)) => (Some(h), o),
        None => (None, BTreeMap::new()),
    };
    let mut cmd = Command::new("git");
    cmd.arg("-C")
        .arg(repo_dir)
        .arg("-c")
        .arg(format!(
            "gpg.ssh.allowedSignersFile={}",
            signers.path().display()
        ))
        // X.509 signatures would be checked against the runner's own trust store, which
        // the policy does not control: disabled (their commits never show `G`).
        .args(["-c", "gpg.x509.program=false"]);
    match &home {
        // OpenPGP against the temporary home alone.
        Some(h) => {
            cmd.args(["-c", "gpg.program=gpg"])
                .env("GNUPGHOME", h.path());
        }
        // Without a keyring, OpenPGP signatures are not judged (never `G`).
        None => {
            cmd.args(["-c", "gpg.program=false"]);
        }
    }
    cmd.args([
        "log",
        "--no-walk=unsorted",
        "--stdin",
        "--format=%H%x00%G?%x00%GS%x00%GF%x00%GP%x00",
    ])
    .env("GIT_TERMINAL_PROMPT", "0")
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut input = String::new();
    for s in shas {
        if !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Failure::invalid(format!("`{s}` is not a commit id")));
        }
        input.push_str(s);
        input.push('\n');
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| Failure::unavailable(format!("cannot run git to check signatures: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(input.as_bytes())
            .map_err(|e| Failure::unavailable(format!("git log for signatures: {e}")))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| Failure::unavailable(format!("git log for signatures: {e}")))?;
    if !out.status.success() {
        return Err(Failure::unavailable(format!(
            "git could not check signatures: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut result = BTreeMap::new();
    let mut fields = text.split('\0');
    while let Some(id) = fields.next() {
        let id = id.trim();
        if id.is_empty() {
            break;
        }
        let status = fields.next().and_then(|s| s.chars().next()).unwrap_or('E');
        let signer = fields.next().unwrap_or("").to_string();
        let fingerprints: Vec<String> = [fields.next(), fields.next()]
            .into_iter()
            .flatten()
            .map(|f| f.trim().to_ascii_uppercase())
            // OpenPGP fingerprints are hex; SSH ones (`SHA256:...`) are not kept.
            .filter(|f| !f.is_empty() && f.bytes().all(|b| b.is_ascii_hexdigit()))
            .collect();
        // An OpenPGP signature carries hex fingerprints; its `%GS` is a user id, which
        // names the signer only if the signing (primary) key is the one carrying it.
        let signer = if fingerprints.is_empty() {
            signer
        } else {
            let email = uid_principal(&signer);
            match owners.get(&email) {
                Some(owner) if fingerprints.contains(owner) => email,
                _ => fingerprints.last().cloned().unwrap_or_default(),
            }
        };
        result.insert(
            id.to_string(),
            LocalSignature {
                status,
                signer,
                fingerprints,
            },
        );
    }
    if let Some(missing) = shas.iter().find(|s| !result.contains_key(*s)) {
        return Err(Failure::unavailable(format!(
            "git reported no signature status for {missing}; failing closed"
        )));
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::uid_principal;
    #[test]
    fn a_user_id_maps_to_its_email() {
        assert_eq!(
            uid_principal("Alice Liddell <alice@example.com>"),
            "alice@example.com"
        );
        assert_eq!(uid_principal("ops-bot"), "ops-bot");
        // Only a trailing address counts: a comment cannot smuggle in another identity.
        assert_eq!(
            uid_principal("Mallory <mallory@x.com> (<alice@example.com>)"),
            "Mallory <mallory@x.com> (<alice@example.com>)"
        );
    }
}
