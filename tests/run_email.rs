//! Email over SMTP with STARTTLS and AUTH against an in-process SMTP server on 127.0.0.1
//! that behaves as a submission server does: STARTTLS offered in clear, AUTH offered only
//! after TLS, mail refused before AUTH, a self-signed certificate (rcgen) trusted through
//! `integrations.email.ca_file`.
mod common;
use common::{gate, run, TestRepo};
use gitops_gate::ci::{Env, Secrets};
use gitops_gate::integrations::email::{send, Mail};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone, Default)]
struct Session {
    /// STARTTLS completed.
    tls: bool,
    /// (mechanism, user, password) of a successful AUTH.
    auth: Option<(String, String, String)>,
    /// Every AUTH line seen (to prove none came before TLS).
    auth_attempts: Vec<(bool, String)>,
    rcpt: Vec<String>,
    data: Option<String>,
}

type Sessions = Arc<Mutex<Vec<Session>>>;

struct Smtp {
    port: u16,
    sessions: Sessions,
    /// The server certificate (self-signed), PEM.
    cert_pem: String,
}

impl Smtp {
    /// The sessions so far, once at least `n` have ended. The server records a session when
    /// its connection closes, which can come after the client has returned from QUIT.
    fn sessions(&self, n: usize) -> Vec<Session> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let s = self.sessions.lock().unwrap().clone();
            if s.len() >= n || std::time::Instant::now() > deadline {
                return s;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }
}

/// `mechanisms`: what the server offers after STARTTLS, e.g. "PLAIN LOGIN" or "LOGIN".
/// `starttls`: whether it offers STARTTLS at all.
fn smtp(mechanisms: &'static str, starttls: bool) -> Smtp {
    let ck = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    let cert_pem = ck.cert.pem();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = Arc::new(
        rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![ck.cert.der().clone()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(
                    rustls::pki_types::PrivatePkcs8KeyDer::from(ck.key_pair.serialize_der()),
                ),
            )
            .unwrap(),
    );
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let sessions: Sessions = Arc::default();
    let s = sessions.clone();
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(tcp) = conn else { continue };
            let mut sess = Session::default();
            let mut r = BufReader::new(tcp);
            let _ = r.get_mut().write_all(b"220 mail.test ESMTP ready\r\n");
            let upgrade = dialogue(&mut r, &mut sess, mechanisms, starttls);
            if upgrade {
                let tcp = r.into_inner();
                let conn = rustls::ServerConnection::new(config.clone()).unwrap();
                let mut r = BufReader::new(rustls::StreamOwned::new(conn, tcp));
                sess.tls = true;
                dialogue(&mut r, &mut sess, mechanisms, false);
            }
            s.lock().unwrap().push(sess);
        }
    });
    Smtp {
        port,
        sessions,
        cert_pem,
    }
}

fn line<S: Read>(r: &mut BufReader<S>) -> Option<String> {
    let mut l = String::new();
    match r.read_line(&mut l) {
        Ok(0) | Err(_) => None,
        Ok(_) => Some(l.trim_end_matches(['\r', '\n']).to_string()),
    }
}

/// One SMTP dialogue; `true` when the client asked for STARTTLS (upgrade, then talk again).
fn dialogue<S: Read + Write>(
    r: &mut BufReader<S>,
    sess: &mut Session,
    mechanisms: &str,
    offer_starttls: bool,
) -> bool {
    let tls = sess.tls;
    let say = |r: &mut BufReader<S>, text: &str| {
        let _ = r.get_mut().write_all(text.as_bytes());
        let _ = r.get_mut().flush();
    };
    while let Some(l) = line(r) {
        let up = l.to_ascii_uppercase();
        if up.starts_with("EHLO") {
            let mut ext = vec!["mail.test".to_string(), "8BITMIME".to_string()];
            if offer_starttls {
                ext.push("STARTTLS".into());
            }
            if tls {
                ext.push(format!("AUTH {mechanisms}"));
            }
            let n = ext.len();
            let text: String = ext
                .iter()
                .enumerate()
                .map(|(i, e)| format!("250{}{e}\r\n", if i + 1 == n { " " } else { "-" }))
                .collect();
            say(r, &text);
        } else if up == "STARTTLS" && offer_starttls {
            say(r, "220 2.0.0 Ready to start TLS\r\n");
            return true;
        } else if up.starts_with("AUTH ") {
            sess.auth_attempts.push((tls, l.clone()));
            let parts: Vec<&str> = l.split_whitespace().collect();
            let mech = parts
                .get(1)
                .map(|m| m.to_ascii_uppercase())
                .unwrap_or_default();
            if !tls || !mechanisms.split(' ').any(|m| m == mech) {
                say(r, "504 5.5.4 Unrecognized authentication type\r\n");
                continue;
            }
            let creds = if mech == "PLAIN" {
                let b64 = match parts.get(2) {
                    Some(b) => b.to_string(),
                    None => {
                        say(r, "334 \r\n");
                        line(r).unwrap_or_default()
                    }
                };
                let raw = b64_decode(&b64);
                let f: Vec<&[u8]> = raw.split(|b| *b == 0).collect();
                (f.len() == 3).then(|| {
                    (
                        String::from_utf8_lossy(f[1]).to_string(),
                        String::from_utf8_lossy(f[2]).to_string(),
                    )
                })
            } else {
                say(r, "334 VXNlcm5hbWU6\r\n");
                let u = b64_decode(&line(r).unwrap_or_default());
                say(r, "334 UGFzc3dvcmQ6\r\n");
                let p = b64_decode(&line(r).unwrap_or_default());
                Some((
                    String::from_utf8_lossy(&u).to_string(),
                    String::from_utf8_lossy(&p).to_string(),
                ))
            };
            match creds {
                Some((u, p)) if u == "deploy-bot" && p == "s3cret-pass" => {
                    sess.auth = Some((mech, u, p));
                    say(r, "235 2.7.0 Authentication successful\r\n");
                }
                _ => say(r, "535 5.7.8 Authentication credentials invalid\r\n"),
            }
        } else if up.starts_with("MAIL FROM:") {
            if sess.auth.is_none() {
                say(r, "530 5.7.0 Authentication required\r\n");
            } else {
                say(r, "250 2.1.0 Ok\r\n");
            }
        } else if up.starts_with("RCPT TO:") {
            sess.rcpt
                .push(l[8..].trim().trim_matches(['<', '>']).to_string());
            say(r, "250 2.1.5 Ok\r\n");
        } else if up == "DATA" {
            say(r, "354 End data with <CR><LF>.<CR><LF>\r\n");
            let mut data = String::new();
            while let Some(d) = line(r) {
                if d == "." {
                    break;
                }
                data.push_str(&d);
                data.push('\n');
            }
            sess.data = Some(data);
            say(r, "250 2.0.0 Ok: queued\r\n");
        } else if up == "QUIT" {
            say(r, "221 2.0.0 Bye\r\n");
            return false;
        } else if up == "RSET" || up == "NOOP" {
            say(r, "250 2.0.0 Ok\r\n");
        } else {
            say(r, "502 5.5.2 Error: command not recognized\r\n");
        }
    }
    false
}

fn b64_decode(s: &str) -> Vec<u8> {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for c in s.trim().bytes().filter(|c| *c != b'=') {
        let Some(v) = A.iter().position(|a| *a == c) else {
            continue;
        };
        acc = (acc << 6) | v as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

fn secrets(with_password: bool) -> Secrets {
    let mut pairs = vec![("SMTP_USERNAME", "deploy-bot")];
    if with_password {
        pairs.push(("SMTP_PASSWORD", "s3cret-pass"));
    }
    Secrets::from_env(&Env::from_pairs(pairs), &[])
}

fn write_ca(dir: &Path, pem: &str) -> PathBuf {
    let p = dir.join("ca.pem");
    std::fs::write(&p, pem).unwrap();
    p
}

fn mail<'a>(smtp: &'a str, to: &'a [String], ca: Option<&'a Path>) -> Mail<'a> {
    Mail {
        smtp,
        from: "deploys@example.com",
        to,
        subject: "[gitops-gate] qa succeeded: api 1.4.3",
        body: "release to qa succeeded",
        ca_file: ca,
    }
}

#[test]
fn starttls_then_auth_plain_with_a_trusted_self_signed_certificate() {
    let server = smtp("PLAIN LOGIN", true);
    let dir = tempfile::tempdir().unwrap();
    let ca = write_ca(dir.path(), &server.cert_pem);
    let addr = format!("127.0.0.1:{}", server.port);
    let to = vec!["team-api@example.com".to_string()];
    send(&mail(&addr, &to, Some(&ca)), &secrets(true)).unwrap();
    let s = server.sessions(1);
    assert_eq!(s.len(), 1, "{s:?}");
    assert!(s[0].tls, "the session was upgraded with STARTTLS");
    assert_eq!(
        s[0].auth,
        Some(("PLAIN".into(), "deploy-bot".into(), "s3cret-pass".into()))
    );
    assert!(
        s[0].auth_attempts.iter().all(|(tls, _)| *tls),
        "no AUTH in clear"
    );
    assert_eq!(s[0].rcpt, vec!["team-api@example.com"]);
    let data = s[0].data.clone().unwrap();
    assert!(
        data.contains("Subject: [gitops-gate] qa succeeded"),
        "{data}"
    );
    assert!(data.contains("release to qa succeeded"), "{data}");
}

#[test]
fn auth_login_when_that_is_all_the_server_offers() {
    let server = smtp("LOGIN", true);
    let dir = tempfile::tempdir().unwrap();
    let ca = write_ca(dir.path(), &server.cert_pem);
    let addr = format!("127.0.0.1:{}", server.port);
    let to = vec!["team-api@example.com".to_string()];
    send(&mail(&addr, &to, Some(&ca)), &secrets(true)).unwrap();
    let s = server.sessions(1);
    assert!(s[0].tls);
    assert_eq!(s[0].auth.as_ref().map(|a| a.0.as_str()), Some("LOGIN"));
    assert!(s[0].data.is_some(), "mail received");
}

#[test]
fn an_untrusted_certificate_fails_and_the_password_is_never_sent() {
    let server = smtp("PLAIN LOGIN", true);
    let other = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca = write_ca(dir.path(), &other.cert.pem());
    let addr = format!("127.0.0.1:{}", server.port);
    let to = vec!["team-api@example.com".to_string()];
    let e = send(&mail(&addr, &to, Some(&ca)), &secrets(true))
        .unwrap_err()
        .to_string();
    assert!(!e.contains("s3cret-pass"), "{e}");
    let s = server.sessions(1);
    assert!(!s.is_empty());
    assert!(
        s.iter()
            .all(|x| x.auth_attempts.is_empty() && x.data.is_none()),
        "{s:?}"
    );
}

#[test]
fn a_password_is_never_sent_to_a_server_without_starttls() {
    let server = smtp("PLAIN LOGIN", false);
    let dir = tempfile::tempdir().unwrap();
    let ca = write_ca(dir.path(), &server.cert_pem);
    let addr = format!("127.0.0.1:{}", server.port);
    let to = vec!["team-api@example.com".to_string()];
    let e = send(&mail(&addr, &to, Some(&ca)), &secrets(true))
        .unwrap_err()
        .to_string();
    assert!(!e.contains("s3cret-pass"), "{e}");
    let s = server.sessions(1);
    assert!(
        s.iter()
            .all(|x| x.auth_attempts.is_empty() && x.data.is_none()),
        "{s:?}"
    );
}

#[test]
fn a_bad_ca_file_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.pem");
    let to = vec!["team-api@example.com".to_string()];
    let e = send(&mail("127.0.0.1:1", &to, Some(&missing)), &secrets(true))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("integrations.email.ca_file") && e.contains("nope.pem"),
        "{e}"
    );
}

/// The whole `run`: `integrations.email.ca_file` (relative to the work tree) and the
/// credentials from the environment reach the server; the mail goes to the maintainer.
#[test]
fn a_run_mails_over_starttls_with_the_policy_ca_file_and_env_credentials() {
    let server = smtp("PLAIN LOGIN", true);
    let policy = format!(
        r#"version: 1
environments:
  qa: {{ branch: qa, pipeline: [deploy] }}
steps:
  deploy: {{ run: ["true"], timeout: 1m }}
integrations:
  email: {{ smtp: "127.0.0.1:{}", from: "deploys@example.com", ca_file: "certs/smtp-ca.pem" }}
"#,
        server.port
    );
    let mut t = TestRepo::empty();
    t.deployed_then_bump(&policy, "OPS-2: api 1.4.3");
    std::fs::create_dir_all(t.path().join("certs")).unwrap();
    std::fs::write(t.path().join("certs/smtp-ca.pem"), &server.cert_pem).unwrap();
    let mut c = gate(t.dir.path());
    c.env("SMTP_USERNAME", "deploy-bot")
        .env("SMTP_PASSWORD", "s3cret-pass")
        .arg("run")
        .arg("--repo")
        .arg(t.path())
        .args(["--branch", "qa", "--head", "qa", "--no-fetch", "--out"])
        .arg(t.out());
    let (code, stdout, stderr) = run(c);
    assert_eq!(code, 0, "{stderr}");
    assert!(!stderr.contains("s3cret-pass") && !stdout.contains("s3cret-pass"));
    let s = server.sessions(1);
    let delivered: Vec<&Session> = s.iter().filter(|x| x.data.is_some()).collect();
    assert_eq!(delivered.len(), 1, "{s:?}");
    assert!(delivered[0].tls);
    assert_eq!(
        delivered[0].auth.as_ref().map(|a| a.1.as_str()),
        Some("deploy-bot")
    );
    let mut rcpt = delivered[0].rcpt.clone();
    rcpt.sort();
    assert_eq!(rcpt, ["api@example.com", "team-api@example.com"]);
}
