//! Local signature checks with the `git` CLI: `git log --format=%H %G? %GS` with
//! `gpg.ssh.allowedSignersFile` set by `-c` to the policy's allowed-signers file, taken from
//! the deployed commit (a push cannot add its own signer). Only `%G?` = `G` is a good
//! signature by an allowed signer; the identity is the signer principal `%GS`. OpenPGP and
//! X.509 signatures are not trusted here (no policy-controlled keyring yet).
use crate::error::Failure;
use crate::gate::facts::LocalSignature;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

pub fn verify(
    repo_dir: &Path,
    allowed_signers: &[u8],
    shas: &[String],
) -> Result<BTreeMap<String, LocalSignature>, Failure> {
    let mut file = tempfile::NamedTempFile::new()
        .map_err(|e| Failure::invalid(format!("cannot write the allowed-signers file: {e}")))?;
    file.write_all(allowed_signers)
        .and_then(|_| file.flush())
        .map_err(|e| Failure::invalid(format!("cannot write the allowed-signers file: {e}")))?;
    let mut child = Command::new("git")
        .arg("-C")
        .arg(repo_dir)
        .arg("-c")
        .arg(format!(
            "gpg.ssh.allowedSignersFile={}",
            file.path().display()
        ))
        // Only SSH signatures are judged, against the policy's file: OpenPGP and X.509
        // signatures would be checked against the runner's own keyrings, which the policy
        // does not control, so those verifiers are disabled (their commits never show `G`).
        .args([
            "-c",
            "gpg.program=false",
            "-c",
            "gpg.x509.program=false",
            "log",
            "--no-walk=unsorted",
            "--stdin",
            "--format=%H%x00%G?%x00%GS%x00",
        ])
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Failure::unavailable(format!("cannot run git to check signatures: {e}")))?;
    let mut input = String::new();
    for s in shas {
        if !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Failure::invalid(format!("`{s}` is not a commit id")));
        }
        input.push_str(s);
        input.push('\n');
    }
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
        result.insert(id.to_string(), LocalSignature { status, signer });
    }
    if let Some(missing) = shas.iter().find(|s| !result.contains_key(*s)) {
        return Err(Failure::unavailable(format!(
            "git reported no signature status for {missing}; failing closed"
        )));
    }
    Ok(result)
}
