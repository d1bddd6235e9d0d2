//! Email over SMTP with lettre: STARTTLS when the server offers it (plain only to loopback),
//! `SMTP_USERNAME`/`SMTP_PASSWORD` when set.
use crate::ci::Secrets;
use lettre::message::{header::ContentType, Mailbox};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{Message, SmtpTransport, Transport};
use std::time::Duration;

pub struct Mail<'a> {
    pub smtp: &'a str,
    pub from: &'a str,
    pub to: &'a [String],
    pub subject: &'a str,
    pub body: &'a str,
}

pub fn send(m: &Mail, secrets: &Secrets) -> Result<(), String> {
    let red = |e: String| secrets.redact(&e);
    let (host, port) = match m.smtp.rsplit_once(':') {
        Some((h, p)) => (
            h.trim_start_matches('[').trim_end_matches(']'),
            p.parse::<u16>()
                .map_err(|_| format!("integrations.email.smtp `{}`: bad port", m.smtp))?,
        ),
        None => (m.smtp, 587),
    };
    let from: Mailbox = m
        .from
        .parse()
        .map_err(|e| format!("integrations.email.from `{}`: {e}", m.from))?;
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
        return Err("no valid email recipients".into());
    }
    let msg = builder
        .body(m.body.to_string())
        .map_err(|e| format!("cannot build the mail: {e}"))?;
    let loopback = host == "127.0.0.1" || host == "::1" || host == "localhost";
    let tls = if loopback {
        Tls::None
    } else {
        let params = TlsParameters::new(host.to_string()).map_err(|e| red(e.to_string()))?;
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
    super::retry("SMTP", &b, secrets, || match transport.send(&msg) {
        Ok(_) => super::Attempt::Done(()),
        Err(e) if e.is_permanent() => super::Attempt::Fatal(e.to_string()),
        Err(e) => super::Attempt::Retry(e.to_string()),
    })
    .map(|_| ())
}
