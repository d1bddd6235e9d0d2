//! The plan: the decision, the checks, the service changes and the ordered stages, as data.
//! Everything else (JSON, Markdown, Jenkins parameters, GitHub outputs) renders it.
pub mod junit;
pub mod parameters;
pub mod render;
pub mod sarif;
pub mod verify;

pub use parameters::Parameters;

use crate::ci::{CiSystem, PushKind};
use crate::config::{Descriptor, Environment, Policy};
use crate::diff::{ChangeKind, ServiceChange};
use crate::gate::Rule;
use crate::gate::{Check, Verdict};
use crate::model::{BaseSource, StageId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const SCHEMA: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    Deploy,
    Skip,
    Reject,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Deploy => "deploy",
            Decision::Skip => "skip",
            Decision::Reject => "reject",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PushSummary {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head: Option<String>,
    pub kind: PushKind,
    pub ci: CiSystem,
    pub event: String,
    pub commits: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_source: Option<BaseSource>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_url: Option<String>,
}

/// One step of the release, for one service (or the whole release, for notifications).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stage {
    pub id: StageId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// `deploy` or `remove` for deploy stages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// The Jenkins job that runs this stage, when the policy names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jenkins_job: Option<String>,
    /// Everything a generic pipeline needs to run the stage by itself.
    #[serde(default, skip_serializing_if = "Parameters::is_empty")]
    pub parameters: Parameters,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub schema: u32,
    pub decision: Decision,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// One line: why this decision.
    pub reason: String,
    /// Binds the plan to its inputs; also the idempotency key of a run.
    pub digest: String,
    /// The ledger commit the plan was computed from; a run refuses when it has moved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ledger: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub offline: bool,
    /// When the push was judged (RFC 3339, UTC), present when a rule depends on the time
    /// (freeze windows, soak) or `--now` gave it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evaluated_at: Option<String>,
    /// `evaluated_at` came from `--now`, not the clock.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub now_from_flag: bool,
    /// The freeze window(s) in force and the emergency override asked for, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub freeze: Option<crate::gate::freeze::FreezeState>,
    pub push: PushSummary,
    /// The JIRA tickets the range names (`gates.jira.projects`), each once, in order of
    /// first appearance. Absent when there are none or the range was not judged.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tickets: Vec<String>,
    pub checks: Vec<Check>,
    pub changes: Vec<ServiceChange>,
    pub stages: Vec<Stage>,
}

impl Plan {
    /// Rejections caused by files that do not parse are invalid input (2), the rest are
    /// policy rejections (1).
    pub fn exit(&self) -> crate::error::Exit {
        match self.decision {
            Decision::Reject if self.failing().any(|c| c.rule == Rule::Schema) => {
                crate::error::Exit::Invalid
            }
            Decision::Reject => crate::error::Exit::Rejected,
            _ => crate::error::Exit::Ok,
        }
    }
    pub fn services(&self) -> Vec<&str> {
        self.changes.iter().map(|c| c.service.as_str()).collect()
    }
    pub fn failing(&self) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(|c| c.verdict == Verdict::Fail)
    }
}

/// A plan that decides before any repository content is read (ref deleted, no environment).
pub fn early_skip(reason: &str, push: PushSummary, environment: Option<String>) -> Plan {
    Plan {
        schema: SCHEMA,
        decision: Decision::Skip,
        environment,
        reason: reason.to_string(),
        digest: crate::plan::digest(&[reason, push.head.as_deref().unwrap_or("")]),
        ledger: None,
        offline: false,
        evaluated_at: None,
        now_from_flag: false,
        freeze: None,
        push,
        tickets: Vec::new(),
        checks: vec![Check::skip(Rule::Range, reason)],
        changes: Vec::new(),
        stages: Vec::new(),
    }
}

/// The plan written when the gate could not decide (invalid input, an unreachable service, a
/// superseded push): every non-zero exit leaves a complete plan saying why, never none.
pub fn refused(
    exit: crate::error::Exit,
    message: &str,
    hint: Option<&str>,
    push: PushSummary,
    environment: Option<String>,
) -> Plan {
    use crate::error::Exit;
    let rule = match exit {
        Exit::Unavailable => Rule::Unavailable,
        Exit::Superseded => Rule::Superseded,
        _ => Rule::Input,
    };
    let mut check = Check::fail(rule, message);
    if let Some(h) = hint {
        check = check.hint(h);
    }
    Plan {
        schema: SCHEMA,
        decision: Decision::Reject,
        environment,
        reason: format!("not decided (exit {}): {message}", exit.code()),
        digest: crate::plan::digest(&[rule.as_str(), message, push.head.as_deref().unwrap_or("")]),
        ledger: None,
        offline: false,
        evaluated_at: None,
        now_from_flag: false,
        freeze: None,
        push,
        tickets: Vec::new(),
        checks: vec![check],
        changes: Vec::new(),
        stages: Vec::new(),
    }
}

/// SHA-256 over the parts, each length-prefixed so no two inputs collide by concatenation.
pub fn digest(parts: &[&str]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p.as_bytes());
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

pub struct BuildInput {
    pub environment: String,
    pub push: PushSummary,
    pub checks: Vec<Check>,
    pub changes: Vec<ServiceChange>,
    /// Laid out by `stages` beforehand (they need no verdict); kept only for a deploy.
    pub stages: Vec<Stage>,
    /// A reason to skip decided before the rules (already deployed, ...).
    pub skip: Option<String>,
    pub policy_changed: bool,
    pub digest: String,
    pub ledger: Option<String>,
    pub offline: bool,
    /// The JIRA tickets the range names.
    pub tickets: Vec<String>,
    pub evaluated_at: Option<String>,
    pub now_from_flag: bool,
    pub freeze: Option<crate::gate::freeze::FreezeState>,
}

/// What the stages of a deploy are made of: the changes, their descriptors and the
/// environment's pipeline.
pub struct StagesInput<'a> {
    pub environment: &'a str,
    pub env: &'a Environment,
    pub policy: &'a Policy,
    pub head: &'a str,
    pub changes: &'a [ServiceChange],
    pub requested: &'a BTreeMap<String, Descriptor>,
    pub deployed: &'a BTreeMap<String, Descriptor>,
    pub digest: &'a str,
}

/// Decides, and keeps the stages for a deploy. A failing check always rejects, even beside a skip
/// marker: a marker skips the deploy, it never lets a rejected change pass a merge check.
pub fn build(b: BuildInput) -> Plan {
    let fails: Vec<&Check> = b
        .checks
        .iter()
        .filter(|c| c.verdict == Verdict::Fail)
        .collect();
    let marker = b
        .checks
        .iter()
        .find(|c| c.rule == Rule::SkipMarker && c.verdict == Verdict::Skip);
    let (decision, reason) = if !fails.is_empty() {
        let rules: Vec<&str> =
            fails
                .iter()
                .map(|c| c.rule.as_str())
                .fold(Vec::new(), |mut v, r| {
                    if !v.contains(&r) {
                        v.push(r);
                    }
                    v
                });
        (
            Decision::Reject,
            format!("rejected by {}: {}", rules.join(", "), fails[0].detail),
        )
    } else if let Some(s) = b.skip.clone() {
        (Decision::Skip, s)
    } else if let Some(m) = marker {
        (Decision::Skip, m.detail.clone())
    } else if b.changes.is_empty() && !b.policy_changed {
        (
            Decision::Skip,
            "no descriptor or policy changes: nothing to deploy".to_string(),
        )
    } else if b.changes.is_empty() {
        (
            Decision::Deploy,
            "only gitops.yaml changes: the new policy takes effect once recorded".to_string(),
        )
    } else {
        (
            Decision::Deploy,
            format!(
                "{} to deploy to {}",
                crate::gate::plural_services(b.changes.len()),
                b.environment
            ),
        )
    };
    let stages = if decision == Decision::Deploy {
        b.stages
    } else {
        Vec::new()
    };
    Plan {
        schema: SCHEMA,
        decision,
        environment: Some(b.environment),
        reason,
        digest: b.digest,
        ledger: b.ledger,
        offline: b.offline,
        evaluated_at: b.evaluated_at,
        now_from_flag: b.now_from_flag,
        freeze: b.freeze,
        push: b.push,
        tickets: b.tickets,
        checks: b.checks,
        changes: b.changes,
        stages,
    }
}

/// `notify-start`, each changed service's pipeline steps, `notify-end`.
pub fn stages(b: &StagesInput) -> Vec<Stage> {
    let common = || -> Vec<(&'static str, String)> {
        vec![
            ("GITOPS_RUN_ID", b.digest.to_string()),
            ("ENVIRONMENT", b.environment.to_string()),
            ("COMMIT", b.head.to_string()),
        ]
    };
    // In first-seen order, deduplicated through a set: a push may touch thousands.
    let (mut emails, mut slack): (Vec<String>, Vec<String>) = (Vec::new(), Vec::new());
    let mut seen: std::collections::HashSet<(bool, &str)> = std::collections::HashSet::new();
    for c in b.changes {
        if let Some(d) = b
            .requested
            .get(&c.service)
            .or_else(|| b.deployed.get(&c.service))
        {
            for e in d.notify.email.iter().chain(std::iter::once(&d.maintainer)) {
                if seen.insert((true, e.as_str())) {
                    emails.push(e.clone());
                }
            }
            for s in &d.notify.slack {
                if seen.insert((false, s.as_str())) {
                    slack.push(s.clone());
                }
            }
        }
    }
    let notify = |id: StageId| {
        let mut p = common();
        p.push((
            "SERVICES",
            b.changes
                .iter()
                .map(|c| c.service.as_str())
                .collect::<Vec<_>>()
                .join(","),
        ));
        p.push(("NOTIFY_EMAIL", emails.join(",")));
        p.push(("NOTIFY_SLACK", slack.join(",")));
        Stage {
            id,
            service: None,
            version: None,
            action: None,
            jenkins_job: None,
            parameters: Parameters::shared(p),
        }
    };
    // Each service's stages are built independently (on every core: thousands of
    // parameter maps for a large push), then laid out in plan order.
    use rayon::prelude::*;
    let per_service: Vec<Vec<Stage>> = b
        .changes
        .par_iter()
        .map(|c| {
            let mut out = Vec::new();
            let removed = c.kind == ChangeKind::Removed;
            let desc = b
                .requested
                .get(&c.service)
                .or_else(|| b.deployed.get(&c.service));
            let steps: Vec<&String> = if removed {
                b.env
                    .pipeline
                    .iter()
                    .filter(|s| s.as_str() == "deploy")
                    .collect()
            } else {
                b.env.pipeline.iter().collect()
            };
            // The service's parameters once, shared by each of its stages.
            let mut base = common();
            if let Some(d) = desc {
                service_parameters(d, &mut base);
            }
            let base = Parameters::shared(base);
            for step in steps {
                let mut p = base.sharing();
                let action = (step == "deploy")
                    .then(|| if removed { "remove" } else { "deploy" }.to_string());
                if let Some(a) = &action {
                    p.insert("ACTION", a.as_str());
                }
                out.push(Stage {
                    id: StageId::named(step),
                    service: Some(c.service.clone()),
                    version: if removed {
                        c.from.clone()
                    } else {
                        c.to.clone()
                    },
                    action,
                    jenkins_job: b.policy.steps.get(step).and_then(|s| s.jenkins.clone()),
                    parameters: p,
                });
            }
            out
        })
        .collect();
    let mut out = Vec::with_capacity(2 + per_service.iter().map(Vec::len).sum::<usize>());
    out.push(notify(StageId::NotifyStart));
    out.extend(per_service.into_iter().flatten());
    out.push(notify(StageId::NotifyEnd));
    out
}

/// The descriptor as flat parameters, the hand-off format of the generic pipelines.
pub fn service_parameters(d: &Descriptor, p: &mut Vec<(&'static str, String)>) {
    p.push(("SERVICE", d.service.clone()));
    p.push(("VERSION", d.version.clone()));
    p.push(("MAINTAINER", d.maintainer.clone()));
    p.push(("DOMAIN", d.domain.clone().unwrap_or_default()));
    p.push(("PORT", d.port.map(|p| p.to_string()).unwrap_or_default()));
    let h = d.healthcheck.as_ref();
    p.push((
        "HEALTH_ENDPOINTS",
        h.map(|h| h.endpoints.join(",")).unwrap_or_default(),
    ));
    p.push((
        "HEALTH_RETRIES",
        h.map(|h| h.retries.to_string()).unwrap_or_default(),
    ));
    let ms = |f: fn(&crate::config::Healthcheck) -> &crate::config::Duration| {
        h.map(|h| f(h).std().as_millis().to_string())
            .unwrap_or_default()
    };
    p.push(("HEALTH_INTERVAL_MS", ms(|h| &h.interval)));
    p.push(("HEALTH_TIMEOUT_MS", ms(|h| &h.timeout)));
    p.push(("HEALTH_INITIAL_DELAY_MS", ms(|h| &h.initial_delay)));
    let r = d.resources.as_ref();
    p.push((
        "CPU",
        r.and_then(|r| r.cpu.as_ref())
            .map(|q| q.raw().to_string())
            .unwrap_or_default(),
    ));
    p.push((
        "MEMORY",
        r.and_then(|r| r.memory.as_ref())
            .map(|q| q.raw().to_string())
            .unwrap_or_default(),
    ));
    p.push((
        "PORTS",
        d.ports
            .iter()
            .map(u16::to_string)
            .collect::<Vec<_>>()
            .join(","),
    ));
    p.push(("NOTIFY_EMAIL", d.notify.email.join(",")));
    p.push(("NOTIFY_SLACK", d.notify.slack.join(",")));
}

/// Every parameter name a stage of each kind carries, for the Jenkins pipelines' contract.
pub fn parameter_names(stage: &str) -> Vec<&'static str> {
    let common = ["GITOPS_RUN_ID", "ENVIRONMENT", "COMMIT"];
    let notify = ["SERVICES", "NOTIFY_EMAIL", "NOTIFY_SLACK"];
    let service = [
        "SERVICE",
        "VERSION",
        "MAINTAINER",
        "DOMAIN",
        "PORT",
        "HEALTH_ENDPOINTS",
        "HEALTH_RETRIES",
        "HEALTH_INTERVAL_MS",
        "HEALTH_TIMEOUT_MS",
        "HEALTH_INITIAL_DELAY_MS",
        "CPU",
        "MEMORY",
        "PORTS",
        "NOTIFY_EMAIL",
        "NOTIFY_SLACK",
    ];
    let mut v: Vec<&str> = common.to_vec();
    if stage.starts_with("notify") {
        v.extend(notify);
    } else {
        v.extend(service);
        if stage == "deploy" {
            v.push("ACTION");
        }
    }
    v
}
