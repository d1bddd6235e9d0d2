//! Email over SMTP with lettre: STARTTLS when the server offers it, required when a password
//! is sent (plain only to loopback, unless `ca_file` is set), port 465 as implicit TLS;
//! `SMTP_USERNAME`/`SMTP_PASSWORD` when set (AUTH PLAIN or LOGIN, whichever the server
//! offers); `ca_file` adds trusted CAs (an internal CA or a self-signed server).
use super::IntegrationError::{self, Misconfigured};
use crate::ci::Secrets;
use lettre::message::{header::ContentType, Mailbox};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{Message, SmtpTransport, Transport};
use std::time::Duration;

pub struct Mail<'a> {
    pub smtp: &'a str,
    pub from: &'a str,
    pub to: &'a [String],
    pub subject: &'a str,
    pub body: &'a str,
    /// Extra trusted CA certificates (PEM file), from `integrations.email.ca_file`.
    pub ca_file: Option<&'a std::path::Path>,
}

pub fn send(m: &Mail, secrets: &Secrets) -> Result<(), IntegrationError> {
    let red = |e: String| Misconfigured(secrets.redact(&e));
    let (host, port) = match m.smtp.rsplit_once(':') {
        Some((h, p)) => (
            h.trim_start_matches('[').trim_end_matches(']'),
            p.parse::<u16>().map_err(|_| {
                Misconfigured(format!("integrations.email.smtp `{}`: bad port", m.smtp))
            })?,
        ),
        None => (m.smtp, 587),
    };
    let from: Mailbox = m
        .from
        .parse()
        .map_err(|e| Misconfigured(format!("integrations.email.from `{}`: {e}", m.from)))?;
    let mut builder = Message::builder()
        .from(from)
        .subject(m.subject.replace(['\r', '\n'], " "))
        .header(ContentType::TEXT_PLAIN);
    let mut any = false;
    for t in m.to {
        match t.parse::<Mailbox>() {
            Ok(mb) => {
                builder = builder.to(mb);
                any = true;
            }
            Err(e) => log::warn!("skipping email recipient `{t}`: {e}"),
        }
    }
    if !any {
        return Err(Misconfigured("no valid email recipients".into()));
    }
    let msg = builder
        .body(m.body.to_string())
        .map_err(|e| Misconfigured(format!("cannot build the mail: {e}")))?;
    let loopback = host == "127.0.0.1" || host == "::1" || host == "localhost";
    let tls = if loopback && m.ca_file.is_none() {
        Tls::None
    } else {
        let mut b = TlsParameters::builder(host.to_string());
        if let Some(path) = m.ca_file {
            let pem = std::fs::read(path).map_err(|e| {
                Misconfigured(format!(
                    "integrations.email.ca_file {}: {e}",
                    path.display()
                ))
            })?;
            let cert = Certificate::from_pem(&pem).map_err(|e| {
                Misconfigured(format!(
                    "integrations.email.ca_file {} holds no PEM certificate: {e}",
                    path.display()
                ))
            })?;
            b = b.add_root_certificate(cert);
        }
        let params = b.build_rustls().map_err(|e| red(e.to_string()))?;
        if port == 465 {
            Tls::Wrapper(params)
        } else if secrets.get("SMTP_PASSWORD").is_some() {
            // Never send a password in the clear: STARTTLS is required then.
            Tls::Required(params)
        } else {
            Tls::Opportunistic(params)
        }
    };
    let mut t = SmtpTransport::builder_dangerous(host)
        .port(port)
        .tls(tls)
        .timeout(Some(Duration::from_secs(20)));
    if let (Some(u), Some(p)) = (secrets.get("SMTP_USERNAME"), secrets.get("SMTP_PASSWORD")) {
        t = t.credentials(Credentials::new(u.to_string(), p.to_string()));
    }
    let transport = t.build();
    let b = super::Backoff::new(3, Duration::from_secs(60));
    // The relay by scheme and host: which service failed, and nothing a credential rides on.
    let what = format!("SMTP (smtp://{})", host.to_ascii_lowercase());
    super::retry(&what, &b, secrets, || match transport.send(&msg) {
        Ok(_) => super::Attempt::Done(()),
        Err(e) if e.is_permanent() => super::Attempt::Fatal(e.to_string()),
        Err(e) => super::Attempt::Retry(e.to_string()),
    })
    .map(|_| ())
}
