//! `freeze`: nothing deploys while a window of `gates.freeze` is in force for the
//! environment (see `config::freeze` for when that is). The rejection names the window,
//! its reason, and when it ends in its own time zone and in UTC.
//!
//! The emergency override takes three: a trailer on the head commit (the commit that is
//! deployed, the same one skip markers are read from), `Deploy-Freeze-Override: OPS-123`;
//! the same ticket given by whoever runs the deploy, `--freeze-override OPS-123`, which the
//! pusher does not control; and JIRA's approval: the ticket must pass `gates.jira`'s status
//! and approval rules (or, without `gates.jira`, be in the `done` status category). Where
//! the ticket is not looked up (`gates.jira.verify: presence`, `--offline`) the override is
//! refused and the freeze holds. An accepted
//! override is a `warn`, so the plan, its annotations and the run record name it.
use super::facts::OFFLINE;
use super::jira::{allows, approval_hint, ticket_keys, Refusal};
use super::{Check, Input, Rule, Verdict};
use crate::config::freeze::{show, FreezeError, FreezeWindow, Occurrence};
use crate::config::{Environment, Gates, JiraGate, JiraVerify};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

/// The commit trailer that asks to deploy inside a freeze.
pub const TRAILER: &str = "Deploy-Freeze-Override";

/// The freeze in force when the plan was made, as the plan and the run record name it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FreezeState {
    pub windows: Vec<ActiveWindow>,
    /// The emergency override the head commit asked for, and whether it was accepted.
    #[serde(rename = "override", default, skip_serializing_if = "Option::is_none")]
    pub emergency: Option<Override>,
}

/// One window in force.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActiveWindow {
    /// Where the policy defines it: `gates.freeze[0]`.
    pub field: String,
    pub reason: String,
    pub cron: String,
    pub timezone: String,
    /// RFC 3339 in the window's time zone, then in UTC.
    pub start: String,
    pub end: String,
    pub start_utc: String,
    pub end_utc: String,
    /// Occurrences kept overlapping: the freeze lasts at least until `end`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub open_ended: bool,
}

/// A `Deploy-Freeze-Override` trailer on the head commit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Override {
    pub ticket: String,
    pub commit: String,
    /// It let the deploy through.
    pub accepted: bool,
    /// What was found of the ticket.
    pub detail: String,
}

/// The ticket rules an override's ticket must pass: `gates.jira`'s, or without it a
/// lookup requiring the `done` status category, any project.
pub fn override_gate(gates: &Gates) -> JiraGate {
    gates.jira.clone().unwrap_or(JiraGate {
        required: true,
        projects: Vec::new(),
        statuses: Vec::new(),
        status_categories: None,
        approvals: None,
        approval_field: None,
        verify: None,
    })
}

/// The value of the head commit's `Deploy-Freeze-Override` trailer: a `Key: value` line
/// (key in any case) in the message's last paragraph, which is not its subject.
pub fn trailer(message: &str) -> Option<String> {
    let text = message.replace("\r\n", "\n");
    let paragraphs: Vec<&str> = text
        .trim()
        .split("\n\n")
        .filter(|p| !p.trim().is_empty())
        .collect();
    if paragraphs.len() < 2 {
        return None;
    }
    paragraphs.last()?.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.trim()
            .eq_ignore_ascii_case(TRAILER)
            .then(|| value.trim().to_string())
    })
}

/// The windows of the effective gates that cover `environment`, with their field paths.
pub fn windows<'a>(
    gates: &'a Gates,
    environment: &str,
    env: &Environment,
) -> Vec<(String, &'a FreezeWindow)> {
    let at = if env.gates.freeze.is_some() {
        format!("environments.{environment}.gates.freeze")
    } else {
        "gates.freeze".to_string()
    };
    gates
        .freeze
        .iter()
        .flatten()
        .enumerate()
        .filter(|(_, w)| w.applies_to(environment))
        .map(|(i, w)| (format!("{at}[{i}]"), w))
        .collect()
}

pub(crate) type Evaluated<'a> = Vec<(String, &'a FreezeWindow, Result<Occurrence, FreezeError>)>;

/// The windows in force at `now`, and those whose maths failed (which count as in force:
/// a freeze nobody can evaluate is not a freeze that is over).
pub(crate) fn in_force_at<'a>(
    gates: &'a Gates,
    environment: &str,
    env: &Environment,
    now: DateTime<Utc>,
) -> Evaluated<'a> {
    windows(gates, environment, env)
        .into_iter()
        .filter_map(|(field, w)| match w.active_at(now) {
            Ok(None) => None,
            Ok(Some(o)) => Some((field, w, Ok(o))),
            Err(e) => Some((field, w, Err(e))),
        })
        .collect()
}

/// Whether any window is in force (for facts: look the override's ticket up only then).
pub fn in_force(gates: &Gates, environment: &str, env: &Environment, now: DateTime<Utc>) -> bool {
    !in_force_at(gates, environment, env, now).is_empty()
}

fn utc(t: &DateTime<chrono_tz::Tz>) -> String {
    t.with_timezone(&Utc)
        .to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn active_window(field: &str, w: &FreezeWindow, o: &Occurrence) -> ActiveWindow {
    ActiveWindow {
        field: field.to_string(),
        reason: w.reason.clone(),
        cron: w.cron.to_string(),
        timezone: w.timezone.to_string(),
        start: o.start.to_rfc3339(),
        end: o.end.to_rfc3339(),
        start_utc: utc(&o.start),
        end_utc: utc(&o.end),
        open_ended: o.open_ended,
    }
}

/// What the override comes to: verdict for the windows, whether it was accepted, what was
/// found, and a hint.
struct Judged {
    verdict: Verdict,
    accepted: bool,
    detail: String,
    hint: Option<String>,
}

fn judge_override(input: &Input, value: &str) -> Judged {
    let gate = override_gate(input.gates);
    let refuse = |detail: String, hint: Option<String>| Judged {
        verdict: Verdict::Fail,
        accepted: false,
        detail,
        hint,
    };
    if ticket_keys(value, &gate.projects) != [value] {
        let projects = if gate.projects.is_empty() {
            "JIRA ticket".to_string()
        } else {
            format!("ticket of {}", gate.projects.join(", "))
        };
        return refuse(
            format!("the {TRAILER} trailer names `{value}`, which is not a {projects}"),
            Some(format!("write one ticket key: `{TRAILER}: OPS-123`")),
        );
    }
    // The push alone never lifts a freeze (notes/threats.md): whoever runs the deploy
    // confirms the same ticket with a flag the pusher does not control.
    match input.freeze_override {
        Some(t) if t.trim().eq_ignore_ascii_case(value) => {}
        Some(t) => {
            return refuse(
                format!("--freeze-override names `{t}`, the trailer {value}"),
                Some(format!(
                    "run the deploy with `--freeze-override {value}`, or correct the trailer"
                )),
            )
        }
        None => {
            return refuse(
                format!(
                    "whoever runs the deploy has not confirmed it with --freeze-override {value}"
                ),
                Some(format!(
                    "an override is break-glass: run the deploy with `--freeze-override {value}` \
                     (in GitHub Actions a workflow_dispatch input, in Jenkins a build parameter)"
                )),
            )
        }
    }
    // Neither a policy that does not look tickets up nor an `--offline` run can see JIRA's
    // approval, and without it the trailer would be a commit message lifting a freeze
    // (notes/threats.md: a break-glass override is never driven by a commit message).
    if gate.verify() == JiraVerify::Presence {
        return refuse(
            format!("{value} is not looked up (gates.jira.verify: presence), and an override needs JIRA's approval"),
            Some("set gates.jira.verify: lookup and integrations.jira, or deploy after the window".into()),
        );
    }
    if input.offline {
        return refuse(
            format!("{value} cannot be looked up {OFFLINE}, and an override needs JIRA's approval"),
            Some("plan without --offline so the ticket is looked up".into()),
        );
    }
    if input.policy.integrations.jira.is_none() {
        return refuse(
            format!("{value} cannot be looked up: no integrations.jira says where JIRA is"),
            Some(
                "add `integrations: { jira: { url: https://<you>.atlassian.net } }` and set \
                 JIRA_EMAIL and JIRA_API_TOKEN (or JIRA_PAT); an override needs JIRA's approval"
                    .into(),
            ),
        );
    }
    let Some((_, ticket)) = input
        .facts
        .freeze_override
        .as_ref()
        .filter(|(k, _)| k == value)
    else {
        return refuse(
            format!("{value} was not looked up"),
            Some("the JIRA lookup did not run; this is a bug in gathering facts".into()),
        );
    };
    match allows(&gate, ticket) {
        Ok(status) => Judged {
            verdict: Verdict::Warn,
            accepted: true,
            detail: format!("{value} is {status}"),
            hint: None,
        },
        Err(r) => {
            let (detail, hint) = match r {
                Refusal::NotFound => (
                    format!("{value} does not exist in JIRA"),
                    "name an existing ticket".to_string(),
                ),
                Refusal::Status {
                    status,
                    category,
                    allowed,
                } => (
                    format!("{value} is {status} ({category}); an override needs {allowed}"),
                    format!("move {value} to {allowed} in JIRA, then re-run"),
                ),
                Refusal::Declined(n) => (
                    format!("{value} has {n} declined approval(s)"),
                    "a declined approval blocks the override".to_string(),
                ),
                Refusal::Approvals {
                    approved,
                    need,
                    pending,
                } => (
                    format!(
                        "{value} has {approved} of {need} required approvals ({pending} pending)"
                    ),
                    approval_hint(&gate, value),
                ),
            };
            refuse(detail, Some(hint))
        }
    }
}

/// The checks and the freeze the plan records.
fn judge(input: &Input) -> (Vec<Check>, Option<FreezeState>) {
    let all = windows(input.gates, input.environment, input.env);
    if all.is_empty() {
        return (Vec::new(), None);
    }
    let now = input.clock.now;
    let active = in_force_at(input.gates, input.environment, input.env, now);
    if active.is_empty() {
        let next = all
            .iter()
            .filter_map(|(_, w)| {
                w.next_start(now)
                    .ok()
                    .map(|t| (t.with_timezone(&Utc), t, w))
            })
            .min_by_key(|(u, _, _)| *u);
        let detail = match next {
            Some((_, t, w)) => format!(
                "no freeze window is in force for {}; the next, \"{}\", starts {}",
                input.environment,
                w.reason,
                show(&t)
            ),
            None => format!("no freeze window is in force for {}", input.environment),
        };
        return (vec![Check::pass(Rule::Freeze, detail)], None);
    }
    let mut state = FreezeState {
        windows: active
            .iter()
            .filter_map(|(f, w, o)| o.as_ref().ok().map(|o| active_window(f, w, o)))
            .collect(),
        emergency: None,
    };
    if input.diff.changes.is_empty() && !input.policy_changed {
        let checks = active
            .iter()
            .map(|(field, w, _)| {
                Check::pass(
                    Rule::Freeze,
                    format!("\"{}\" is in force, but the push deploys nothing", w.reason),
                )
                .field(field.clone())
            })
            .collect();
        return (checks, Some(state));
    }
    let head = input.commits.first().filter(|c| c.id == input.range.head);
    let asked = head.and_then(|h| trailer(&h.message).map(|t| (h, t)));
    let judged = asked.as_ref().map(|(h, value)| {
        let j = judge_override(input, value);
        state.emergency = Some(Override {
            ticket: value.clone(),
            commit: h.id.clone(),
            accepted: j.accepted,
            detail: j.detail.clone(),
        });
        j
    });
    let checks = active
        .iter()
        .map(|(field, w, o)| {
            let o = match o {
                Ok(o) => o,
                Err(e) => {
                    return Check::fail(
                        Rule::Freeze,
                        format!(
                            "cannot tell whether \"{}\" ({} in {}) is in force: {}",
                            w.reason,
                            w.cron,
                            w.timezone,
                            e.with_cause()
                        ),
                    )
                    .field(field.clone())
                    .hint("fix the window's cron pattern or time zone in the deployed policy")
                }
            };
            let until = if o.open_ended { "at least until" } else { "until" };
            let frozen = format!(
                "{} is frozen: \"{}\", from {} {until} {}",
                input.environment,
                w.reason,
                show(&o.start),
                show(&o.end)
            );
            let check = match (&judged, &asked) {
                (Some(j), Some((h, value))) => {
                    let detail = if j.accepted {
                        format!(
                            "{frozen}; deploying under the emergency override {TRAILER}: {value} on {} ({})",
                            h.short(),
                            j.detail
                        )
                    } else {
                        format!(
                            "{frozen}; the override {TRAILER} on {} is refused: {}",
                            h.short(),
                            j.detail
                        )
                    };
                    let mut c = Check::new(Rule::Freeze, j.verdict, detail).commit(h.id.clone());
                    if let Some(hint) = &j.hint {
                        c = c.hint(hint.clone());
                    }
                    c
                }
                _ => {
                    let frozen = match input.freeze_override {
                        Some(t) => format!(
                            "{frozen}; --freeze-override {t} was given, but the head commit has no {TRAILER} trailer"
                        ),
                        None => frozen,
                    };
                    Check::fail(Rule::Freeze, frozen).hint(format!(
                        "deploy after {}; in an emergency, end the head commit's message with the trailer `{TRAILER}: <ticket>` naming a ticket JIRA approves, and run the deploy with `--freeze-override <ticket>`",
                        show(&o.end)
                    ))
                }
            };
            check.field(field.clone()).limit(utc(&o.end))
        })
        .collect();
    (checks, Some(state))
}

pub fn check(input: &Input) -> Vec<Check> {
    judge(input).0
}

/// The freeze in force for the plan (and the run record), if any.
pub fn state(input: &Input) -> Option<FreezeState> {
    judge(input).1
}

/// Whether an accepted override's ticket: `Some(ticket)` for the facts lookup, when the
/// head commit asks for an override that needs JIRA.
pub fn ticket_to_look_up(gates: &Gates, head_message: &str) -> Option<String> {
    let gate = override_gate(gates);
    let value = trailer(head_message)?;
    (gate.verify() == JiraVerify::Lookup && ticket_keys(&value, &gate.projects) == [value.as_str()])
        .then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gate::facts::Ticket;

    fn found(status: &str, category: &str) -> Ticket {
        Ticket::Found {
            status: status.into(),
            category: category.into(),
            approvals: None,
        }
    }

    #[test]
    fn the_trailer_is_read_from_the_last_paragraph_only() {
        assert_eq!(
            trailer("OPS-9: hotfix\n\nbody text\n\nDeploy-Freeze-Override: OPS-123\n"),
            Some("OPS-123".into())
        );
        assert_eq!(
            trailer("OPS-9: hotfix\n\ndeploy-freeze-override:  OPS-7 \nSigned-off-by: a"),
            Some("OPS-7".into())
        );
        // A subject alone, or a trailer above the last paragraph, is no trailer.
        assert_eq!(trailer("Deploy-Freeze-Override: OPS-123"), None);
        assert_eq!(
            trailer("OPS-9\n\nDeploy-Freeze-Override: OPS-1\n\nmore text"),
            None
        );
        assert_eq!(
            trailer("OPS-9\r\n\r\nDeploy-Freeze-Override: OPS-2\r\n"),
            Some("OPS-2".into())
        );
    }

    #[test]
    fn the_override_ticket_passes_the_jira_status_rules() {
        let gate = override_gate(&Gates::default());
        assert_eq!(allows(&gate, &found("Done", "done")), Ok("Done".into()));
        assert!(allows(&gate, &found("In Review", "indeterminate")).is_err());
        assert_eq!(allows(&gate, &Ticket::NotFound), Err(Refusal::NotFound));
        let gates = Gates {
            jira: Some(JiraGate {
                projects: vec!["OPS".into()],
                verify: Some(JiraVerify::Presence),
                ..override_gate(&Gates::default())
            }),
            ..Gates::default()
        };
        assert_eq!(
            ticket_to_look_up(&gates, "x\n\nDeploy-Freeze-Override: OPS-1"),
            None
        );
        let gates = Gates {
            jira: Some(JiraGate {
                verify: None,
                ..gates.jira.clone().unwrap()
            }),
            ..Gates::default()
        };
        assert_eq!(
            ticket_to_look_up(&gates, "x\n\nDeploy-Freeze-Override: OPS-1"),
            Some("OPS-1".into())
        );
        assert_eq!(
            ticket_to_look_up(&gates, "x\n\nDeploy-Freeze-Override: PAY-1"),
            None
        );
    }
}
