//! CDEvents v0.4 for each run (docs/events.md): `dev.cdevents.service.deployed`, `upgraded`,
//! `rolledback` or `removed` for every service whose `deploy` stage succeeded, then one
//! `dev.cdevents.environment.modified`. Each CDEvent travels as the `data` of a CloudEvent
//! 1.0 (JSON format, the CDEvents CloudEvents binding), written as JSON lines to
//! `run --events FILE` and POSTed in structured mode to `integrations.events.url`.
//!
//! Events never change a run's result: they are built once the stages have run, and every
//! failure to deliver them is a warning.
use super::record::RunRecord;
use super::Setup;
use crate::diff::{compare_versions, ChangeKind, ServiceChange};
use crate::repo::CommitInfo;
use serde_json::{json, Value};
use std::cmp::Ordering;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The CDEvents specification the events follow (`context.version`).
pub const SPEC_VERSION: &str = "0.4.1";
/// `context.source` when `integrations.events.source` does not say.
pub const DEFAULT_SOURCE: &str = "/gitops-gate";

/// What happened to one service, by the run's diff.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceEvent {
    /// A service the environment did not run.
    Deployed,
    /// A running service changed, to a version that is not older.
    Upgraded,
    /// Back to an older version: a lower version by semantic-version order, a
    /// `gitops-gate rollback` commit in the range restoring it, or the redeploy of what the
    /// ledger holds after a failed run.
    RolledBack,
    /// The descriptor was deleted.
    Removed,
}

impl ServiceEvent {
    pub fn cdevent_type(self) -> &'static str {
        match self {
            ServiceEvent::Deployed => "dev.cdevents.service.deployed.0.2.0",
            ServiceEvent::Upgraded => "dev.cdevents.service.upgraded.0.2.0",
            ServiceEvent::RolledBack => "dev.cdevents.service.rolledback.0.2.0",
            ServiceEvent::Removed => "dev.cdevents.service.removed.0.2.0",
        }
    }

    /// Decides from the change; `restored` says a rollback commit of the range restores
    /// the service.
    pub fn of(change: &ServiceChange, restored: bool) -> ServiceEvent {
        match change.kind {
            ChangeKind::Added => ServiceEvent::Deployed,
            ChangeKind::Removed => ServiceEvent::Removed,
            ChangeKind::Changed => {
                let lower = match (&change.from, &change.to) {
                    (Some(f), Some(t)) => compare_versions(t, f) == Some(Ordering::Less),
                    _ => false,
                };
                let redeploy = change.fields.iter().any(|f| {
                    f.path == "version"
                        && f.old != f.new
                        && f.why.as_deref().is_some_and(|w| w.starts_with("redeploy:"))
                });
                if lower || restored || redeploy {
                    ServiceEvent::RolledBack
                } else {
                    ServiceEvent::Upgraded
                }
            }
        }
    }
}

pub const ENVIRONMENT_MODIFIED: &str = "dev.cdevents.environment.modified.0.2.0";

/// Whether a commit of the range is a `gitops-gate rollback` of `environment` that restores
/// `service` (its summary `[TICKET: ]Rollback <env>: restore services/ of <sha>`, its body
/// a `- services/<service>.yaml: ...` line). The message only names the event type; it
/// decides nothing else.
pub fn restored_by_rollback(commits: &[CommitInfo], environment: &str, service: &str) -> bool {
    let summary_start = format!("Rollback {environment}: restore services/ of ");
    let line_start = format!("- services/{service}.yaml: ");
    commits.iter().any(|c| {
        let summary = c.summary();
        let summary = match summary.split_once(": ") {
            Some((ticket, rest)) if is_ticket(ticket) => rest,
            _ => summary,
        };
        summary.starts_with(&summary_start) && c.message.lines().any(|l| l.starts_with(&line_start))
    })
}

fn is_ticket(s: &str) -> bool {
    match s.split_once('-') {
        Some((project, n)) => {
            project.starts_with(|c: char| c.is_ascii_uppercase())
                && project
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
                && !n.is_empty()
                && n.bytes().all(|b| b.is_ascii_digit())
        }
        None => false,
    }
}

/// What the events are built from: plain values, so tests build them without a run.
pub struct Input<'a> {
    pub source: &'a str,
    pub environment: &'a str,
    pub head: &'a str,
    pub plan_digest: &'a str,
    pub run_url: Option<&'a str>,
    pub changes: &'a [ServiceChange],
    /// `(service, finished)` of every `deploy` stage that succeeded, in stage order.
    pub deployed: Vec<(&'a str, &'a str)>,
    pub commits: &'a [CommitInfo],
    /// When the run finished: the time of `environment.modified`.
    pub finished: &'a str,
}

/// The run's CloudEvents, in order: the services, then `environment.modified` (none when no
/// deploy stage succeeded).
pub fn build(input: &Input) -> Vec<Value> {
    let mut out = Vec::new();
    for (service, finished) in &input.deployed {
        let Some(change) = input.changes.iter().find(|c| c.service == *service) else {
            continue;
        };
        let restored = restored_by_rollback(input.commits, input.environment, service);
        let kind = ServiceEvent::of(change, restored);
        let mut content = json!({
            "environment": { "id": input.environment, "source": input.source },
        });
        if kind != ServiceEvent::Removed {
            let version = change.to.as_deref().unwrap_or("unknown");
            content["artifactId"] = Value::String(purl(service, version));
        }
        let mut custom = custom_data(input);
        if let Some(from) = &change.from {
            custom["from"] = Value::String(from.clone());
        }
        if let Some(to) = &change.to {
            custom["to"] = Value::String(to.clone());
        }
        out.push(cloudevent(
            input.source,
            kind.cdevent_type(),
            finished,
            json!({
                "id": format!("{}/{}", input.environment, service),
                "source": input.source,
                "type": "service",
                "content": content,
            }),
            custom,
        ));
    }
    if !out.is_empty() {
        out.push(cloudevent(
            input.source,
            ENVIRONMENT_MODIFIED,
            input.finished,
            json!({
                "id": input.environment,
                "source": input.source,
                "type": "environment",
                "content": { "name": input.environment },
            }),
            custom_data(input),
        ));
    }
    out
}

fn custom_data(input: &Input) -> Value {
    let mut v = json!({ "head": input.head, "plan_digest": input.plan_digest });
    if let Some(u) = input.run_url {
        v["run_url"] = Value::String(u.to_string());
    }
    v
}

/// A CDEvent inside its CloudEvent: the CloudEvents attributes repeat the CDEvent's id,
/// source, type, subject id and timestamp, as the binding requires.
fn cloudevent(source: &str, kind: &str, timestamp: &str, subject: Value, custom: Value) -> Value {
    let id = uuid_v4();
    let subject_id = subject["id"].clone();
    json!({
        "specversion": "1.0",
        "id": id,
        "source": source,
        "type": kind,
        "subject": subject_id,
        "time": timestamp,
        "datacontenttype": "application/json",
        "data": {
            "context": {
                "version": SPEC_VERSION,
                "id": id,
                "source": source,
                "type": kind,
                "timestamp": timestamp,
            },
            "subject": subject,
            "customData": { "gitops-gate": custom },
            "customDataContentType": "application/json",
        },
    })
}

/// A random (version 4) UUID: unique per event, as CDEvents asks of `id` within a source.
fn uuid_v4() -> String {
    let mut b = rand::random::<u128>().to_be_bytes();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// `pkg:generic/<service>@<version>`, name and version percent-encoded as purl asks.
pub fn purl(service: &str, version: &str) -> String {
    format!(
        "pkg:generic/{}@{}",
        crate::integrations::segment(service),
        crate::integrations::segment(version)
    )
}

/// Whether `s` can stand as `context.source`: a URI reference of printable ASCII with no
/// spaces (RFC 3986 has no room for them), not empty.
pub fn valid_source(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_graphic() && !b"<>\"{}|\\^`".contains(&b))
}

/// Appends the events to `path`, one JSON document per line, in one write.
pub fn append(path: &Path, events: &[Value]) -> Result<(), EventsError> {
    let mut text = String::new();
    for e in events {
        text.push_str(&e.to_string());
        text.push('\n');
    }
    let io = |source| EventsError::File {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(io)?;
    f.write_all(text.as_bytes()).map_err(io)
}

#[derive(Debug, thiserror::Error)]
pub enum EventsError {
    #[error("cannot write the CDEvents to {}", path.display())]
    File {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Builds the run's events, writes them to `--events`, posts them to the sink; warnings only.
pub(super) fn emit(s: &Setup, rec: &RunRecord) {
    let cfg = s.policy.integrations.events.as_ref();
    if s.dry_run || (s.events.is_none() && cfg.and_then(|c| c.url.as_ref()).is_none()) {
        return;
    }
    let source = match cfg.and_then(|c| c.source.as_deref()) {
        Some(src) if valid_source(src) => src,
        Some(src) => {
            log::warn!(
                "integrations.events.source `{}` is not a URI reference; the events use {DEFAULT_SOURCE}",
                src.escape_debug()
            );
            DEFAULT_SOURCE
        }
        None => DEFAULT_SOURCE,
    };
    let plan = &s.plan;
    let deployed = plan
        .stages
        .iter()
        .zip(&rec.stages)
        .filter(|(st, r)| st.id.as_str() == "deploy" && r.result == "succeeded")
        .filter_map(|(st, r)| Some((st.service.as_deref()?, r.finished.as_deref()?)))
        .collect();
    let finished = rec.finished.clone().unwrap_or_else(super::record::now);
    let events = build(&Input {
        source,
        environment: &rec.environment,
        head: &rec.head,
        plan_digest: &rec.plan_digest,
        run_url: rec.ci.run_url.as_deref(),
        changes: &plan.changes,
        deployed,
        commits: &s.commits,
        finished: &finished,
    });
    if events.is_empty() {
        log::info!("no deploy stage succeeded: no CDEvents");
        return;
    }
    if let Some(path) = &s.events {
        match append(path, &events) {
            Ok(()) => log::info!("{} CDEvents written to {}", events.len(), path.display()),
            Err(e) => log::warn!("{} (the release is not affected)", chain(&e)),
        }
    }
    if let Some((c, url)) = cfg.and_then(|c| Some((c, c.url.as_ref()?))) {
        let token_env = c.token_env.as_deref();
        let secrets = crate::ci::Secrets::from_env(&s.env, token_env.as_slice());
        let token = token_env.and_then(|n| secrets.get(n));
        if let (Some(name), None) = (token_env, token) {
            log::warn!("integrations.events.token_env names {name}, which is not set: the events go without a token");
        }
        let within = c
            .timeout
            .as_ref()
            .map(|t| t.std())
            .unwrap_or(crate::integrations::events::DEFAULT_TIMEOUT);
        match crate::integrations::events::post(url, token, &events, within, &secrets) {
            Ok(n) => log::info!("{n} CDEvents sent to {}", crate::integrations::origin(url)),
            Err(e) => log::warn!(
                "{} (the release is not affected)",
                secrets.redact(&chain(&e))
            ),
        }
    }
}

/// An error and its causes on one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        s.push_str(": ");
        s.push_str(&c.to_string());
        src = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diff::{FieldChange, Risk};
    use crate::repo::Person;

    fn change(kind: ChangeKind, from: Option<&str>, to: Option<&str>) -> ServiceChange {
        ServiceChange {
            service: "api".into(),
            kind,
            from: from.map(Into::into),
            to: to.map(Into::into),
            risk: Risk::Safe,
            fields: vec![FieldChange {
                path: "version".into(),
                old: from.map(Into::into),
                new: to.map(Into::into),
                risk: Risk::Safe,
                why: None,
            }],
        }
    }

    fn commit(message: &str) -> CommitInfo {
        let p = Person {
            name: "A".into(),
            email: "a@example.com".into(),
            time: 0,
        };
        CommitInfo {
            id: "0".repeat(40),
            message: message.into(),
            author: p.clone(),
            committer: p,
            parents: 1,
        }
    }

    #[test]
    fn the_kind_follows_the_diff() {
        use ServiceEvent::*;
        let of = |k, f, t| ServiceEvent::of(&change(k, f, t), false);
        assert_eq!(of(ChangeKind::Added, None, Some("1.0.0")), Deployed);
        assert_eq!(of(ChangeKind::Removed, Some("1.0.0"), None), Removed);
        assert_eq!(
            of(ChangeKind::Changed, Some("1.4.2"), Some("1.4.10")),
            Upgraded
        );
        assert_eq!(
            of(ChangeKind::Changed, Some("1.4.10"), Some("1.4.2")),
            RolledBack
        );
        assert_eq!(
            of(ChangeKind::Changed, Some("1.4.2"), Some("1.4.2")),
            Upgraded
        );
        assert_eq!(of(ChangeKind::Changed, Some("abc"), Some("def")), Upgraded);
        let restored =
            ServiceEvent::of(&change(ChangeKind::Changed, Some("abc"), Some("def")), true);
        assert_eq!(restored, RolledBack);
        let mut redeploy = change(ChangeKind::Changed, Some("b"), Some("a"));
        redeploy.fields[0].why =
            Some("redeploy: the failed run of 1234567 may have left b running".into());
        assert_eq!(ServiceEvent::of(&redeploy, false), RolledBack);
    }

    #[test]
    fn rollback_commits_are_recognised_by_environment_and_service() {
        let msg = "OPS-9: Rollback qa: restore services/ of 1a2b3c4\n\nRestores the descriptors of x.\n\n- services/api.yaml: 1.4.3 -> 1.4.2\n";
        let commits = [commit(msg)];
        assert!(restored_by_rollback(&commits, "qa", "api"));
        assert!(!restored_by_rollback(&commits, "prod", "api"));
        assert!(!restored_by_rollback(&commits, "qa", "web"));
        let plain = [commit(&msg["OPS-9: ".len()..])];
        assert!(restored_by_rollback(&plain, "qa", "api"));
        let quoted = [commit(
            "bump: Rollback qa: restore services/ of x\n\n- services/api.yaml: a\n",
        )];
        assert!(!restored_by_rollback(&quoted, "qa", "api"));
    }

    #[test]
    fn purls_and_ids() {
        assert_eq!(purl("api", "1.4.3"), "pkg:generic/api@1.4.3");
        assert_eq!(purl("api", "1.0+build.5"), "pkg:generic/api@1.0%2Bbuild.5");
        let (a, b) = (uuid_v4(), uuid_v4());
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "4");
        assert!(valid_source("/gitops-gate"));
        assert!(valid_source("https://ci.example.com/deploys"));
        assert!(!valid_source("a b"));
        assert!(!valid_source(""));
    }

    #[test]
    fn environment_modified_follows_the_services_only_when_one_was_deployed() {
        let changes = [change(ChangeKind::Changed, Some("1.4.2"), Some("1.4.3"))];
        let mut input = Input {
            source: "/gitops-gate",
            environment: "qa",
            head: "abc",
            plan_digest: "d",
            run_url: None,
            changes: &changes,
            deployed: vec![("api", "2026-12-06T10:00:00Z")],
            commits: &[],
            finished: "2026-12-06T10:01:00Z",
        };
        let events = build(&input);
        let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
        assert_eq!(
            types,
            ["dev.cdevents.service.upgraded.0.2.0", ENVIRONMENT_MODIFIED]
        );
        let e = &events[0];
        assert_eq!(e["id"], e["data"]["context"]["id"]);
        assert_eq!(e["time"], "2026-12-06T10:00:00Z");
        assert_eq!(e["subject"], "qa/api");
        assert_eq!(
            e["data"]["subject"]["content"]["artifactId"],
            "pkg:generic/api@1.4.3"
        );
        assert_eq!(events[1]["time"], "2026-12-06T10:01:00Z");
        input.deployed.clear();
        assert!(build(&input).is_empty());
    }
}
