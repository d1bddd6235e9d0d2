//! The gate: one module per rule, each a pure `fn(&Input) -> Vec<Check>`. Rules do no I/O;
//! facts from outside services reach them as values, so tests and `--offline` supply them.
mod approvals;
mod capacity;
mod committers;
mod destructive;
pub mod facts;
mod firewall;
mod force_push;
pub mod freeze;
mod jira;
mod limits;
mod policy;
mod ports;
mod promotion;
mod range;
mod schema;
mod signatures;
mod skip_marker;
mod soak;
mod terraform;

pub use capacity::{Counted, HeadState, Recorded, Swap};
pub use facts::Facts;
pub use jira::{scan as scan_tickets, ticket_keys, Scan as TicketScan};
pub use policy::PolicyNote;
pub use schema::Unparsable;

use crate::ci::PushContext;
use crate::config::{ConfigError, Descriptor, Environment, Gates, Policy};
use crate::diff::ServiceChange;
use crate::model::BaseSource;
use crate::repo::CommitInfo;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Ordered by severity, so the worst verdict of a set is its maximum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Pass,
    Skip,
    Warn,
    Fail,
}

/// The rules, by the ids plans and reports use for them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rule {
    Range,
    SkipMarker,
    Committers,
    Signatures,
    Jira,
    Approvals,
    Promotion,
    ForcePush,
    Schema,
    Capacity,
    Limits,
    Ports,
    Firewall,
    Destructive,
    Terraform,
    Freeze,
    Soak,
    Policy,
    Offline,
    Unavailable,
    Superseded,
    Input,
}

impl Rule {
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::Range => "range",
            Rule::SkipMarker => "skip-marker",
            Rule::Committers => "committers",
            Rule::Signatures => "signatures",
            Rule::Jira => "jira",
            Rule::Approvals => "approvals",
            Rule::Promotion => "promotion",
            Rule::ForcePush => "force-push",
            Rule::Schema => "schema",
            Rule::Capacity => "capacity",
            Rule::Limits => "limits",
            Rule::Ports => "ports",
            Rule::Firewall => "firewall",
            Rule::Destructive => "destructive",
            Rule::Terraform => "terraform",
            Rule::Freeze => "freeze",
            Rule::Soak => "soak",
            Rule::Policy => "policy",
            Rule::Offline => "offline",
            Rule::Unavailable => "unavailable",
            Rule::Superseded => "superseded",
            Rule::Input => "input",
        }
    }
}

impl std::fmt::Display for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

impl PartialEq<&str> for Rule {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// One rule applied to the push, with the evidence a person needs to act on it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Check {
    pub rule: Rule,
    pub verdict: Verdict,
    pub detail: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// Every commit the check is about, when there are several.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub commits: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The deployed value, when the check compares deployed with requested.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// Skipped because the run is `--offline`: the `offline` rule counts these, by this
    /// flag rather than by the wording of the detail. Not part of the plan file (its
    /// detail says "(--offline)").
    #[serde(skip)]
    pub offline: bool,
}

impl Check {
    pub fn new(rule: Rule, verdict: Verdict, detail: impl Into<String>) -> Check {
        Check {
            rule,
            verdict,
            detail: detail.into(),
            commit: None,
            commits: Vec::new(),
            file: None,
            line: None,
            field: None,
            old: None,
            value: None,
            limit: None,
            hint: None,
            offline: false,
        }
    }
    pub fn pass(rule: Rule, detail: impl Into<String>) -> Check {
        Self::new(rule, Verdict::Pass, detail)
    }
    pub fn fail(rule: Rule, detail: impl Into<String>) -> Check {
        Self::new(rule, Verdict::Fail, detail)
    }
    pub fn warn(rule: Rule, detail: impl Into<String>) -> Check {
        Self::new(rule, Verdict::Warn, detail)
    }
    pub fn skip(rule: Rule, detail: impl Into<String>) -> Check {
        Self::new(rule, Verdict::Skip, detail)
    }
    /// Marks a skip as caused by `--offline` (see `offline`).
    pub fn offline(mut self) -> Check {
        self.offline = true;
        self
    }
    pub fn commit(mut self, c: impl Into<String>) -> Check {
        self.commit = Some(c.into());
        self
    }
    pub fn commits(mut self, c: Vec<String>) -> Check {
        self.commits = c;
        self
    }
    pub fn file(mut self, f: impl Into<String>) -> Check {
        self.file = Some(f.into());
        self
    }
    pub fn line(mut self, l: Option<usize>) -> Check {
        self.line = l;
        self
    }
    pub fn field(mut self, f: impl Into<String>) -> Check {
        self.field = Some(f.into());
        self
    }
    pub fn value(mut self, v: impl Into<String>) -> Check {
        self.value = Some(v.into());
        self
    }
    /// The deployed value beside the requested `value`.
    pub fn old(mut self, v: impl Into<String>) -> Check {
        self.old = Some(v.into());
        self
    }
    pub fn limit(mut self, l: impl Into<String>) -> Check {
        self.limit = Some(l.into());
        self
    }
    pub fn hint(mut self, h: impl Into<String>) -> Check {
        self.hint = Some(h.into());
        self
    }
}

/// What the range computation found, as plain values.
#[derive(Debug, Clone)]
pub struct RangeFacts {
    pub base: Option<String>,
    pub head: String,
    pub source: BaseSource,
    pub rewritten: bool,
    pub over_limit: bool,
}

/// What the rules over the descriptors look at. It holds no commits, so these rules can be
/// judged while the history is still being walked. Deployed and requested hold the parsed
/// descriptors the rules need (at least every changed service).
pub struct DiffInput<'a> {
    pub gates: &'a Gates,
    pub changes: &'a [ServiceChange],
    pub deployed: &'a BTreeMap<String, Descriptor>,
    pub requested: &'a BTreeMap<String, Descriptor>,
    /// Problems in the requested policy and descriptors.
    pub problems: &'a [ConfigError],
    /// What choosing the judging policy found.
    pub policy_notes: &'a [PolicyNote],
    /// Deployed descriptors that no longer parse.
    pub unparsable: &'a [Unparsable],
    /// Every descriptor at the head, parsed (only when `gates.capacity` is set).
    pub all_requested: Option<&'a HeadState>,
    /// Terraform/OpenTofu plans named by the policy or `--terraform-plan`.
    pub terraform: &'a [crate::diff::terraform::PlanFile],
}

/// What the rules over the push look at: its commits, its range and the outside facts, with
/// the descriptor side beside them.
pub struct Input<'a> {
    pub environment: &'a str,
    pub env: &'a Environment,
    pub policy: &'a Policy,
    pub gates: &'a Gates,
    pub push: &'a PushContext,
    pub range: &'a RangeFacts,
    pub commits: &'a [CommitInfo],
    pub diff: &'a DiffInput<'a>,
    pub offline: bool,
    /// What JIRA, GitHub, signatures and the lower environment's ledger said.
    pub facts: &'a Facts,
    /// When the push is judged (freeze windows, soak).
    pub clock: &'a crate::clock::Clock,
    /// The push changes the policy: a deploy even with no service changes.
    pub policy_changed: bool,
    /// `--freeze-override`: the operator's half of a freeze override (the trailer is the
    /// push's half; JIRA's approval the third).
    pub freeze_override: Option<&'a str>,
}

/// A rule, by what it needs to see.
enum RuleFn {
    Diff(fn(&DiffInput) -> Vec<Check>),
    Push(fn(&Input) -> Vec<Check>),
    /// A rule over each commit of the range: not run on a range refused as too long, which
    /// `range` alone reports (counts from a truncated range would mislead).
    Commits(fn(&Input) -> Vec<Check>),
}

/// Every rule, in the order people read their checks: the policy that judges the push and
/// the deployed side first.
const RULES: [RuleFn; 19] = [
    RuleFn::Diff(policy::check),
    RuleFn::Diff(schema::deployed),
    RuleFn::Push(range::check),
    RuleFn::Push(force_push::check),
    RuleFn::Diff(schema::check),
    RuleFn::Push(skip_marker::check),
    RuleFn::Commits(committers::check),
    RuleFn::Commits(signatures::check),
    RuleFn::Commits(jira::check),
    RuleFn::Diff(capacity::check),
    RuleFn::Diff(limits::check),
    RuleFn::Diff(ports::check),
    RuleFn::Diff(firewall::check),
    RuleFn::Diff(destructive::check),
    RuleFn::Diff(terraform::check),
    RuleFn::Push(approvals::check),
    RuleFn::Push(promotion::check),
    RuleFn::Push(soak::check),
    RuleFn::Push(freeze::check),
];

/// The checks of the rules over the descriptors, in table order, waiting for the others.
#[derive(Default)]
pub struct DiffChecks(Vec<Vec<Check>>);

/// Applies the rules over the descriptors. Pure and independent, so they run on every core
/// (a large push gives each thousands of services to judge).
pub fn judge_diff(input: &DiffInput) -> DiffChecks {
    use rayon::prelude::*;
    DiffChecks(
        RULES
            .par_iter()
            .filter_map(|rule| match rule {
                RuleFn::Diff(check) => Some(check(input)),
                RuleFn::Push(_) | RuleFn::Commits(_) => None,
            })
            .collect(),
    )
}

/// Applies the rules over the push (on every core too) and lays out every check in table
/// order.
pub fn evaluate(input: &Input, diff: DiffChecks) -> Vec<Check> {
    use rayon::prelude::*;
    let pushed: Vec<Vec<Check>> = RULES
        .par_iter()
        .filter_map(|rule| match rule {
            RuleFn::Push(check) => Some(check(input)),
            RuleFn::Commits(check) if !input.range.over_limit => Some(check(input)),
            RuleFn::Commits(_) => Some(Vec::new()),
            RuleFn::Diff(_) => None,
        })
        .collect();
    let (mut diff, mut pushed) = (diff.0.into_iter(), pushed.into_iter());
    let mut checks: Vec<Check> = RULES
        .iter()
        .flat_map(|rule| match rule {
            RuleFn::Diff(_) => diff.next(),
            RuleFn::Push(_) | RuleFn::Commits(_) => pushed.next(),
        })
        .flatten()
        .collect();
    checks.extend(offline(input, &checks));
    checks
}

/// An `--offline` run decides `deploy` only under `gates.offline: allow`.
fn offline(input: &Input, checks: &[Check]) -> Vec<Check> {
    if !input.offline {
        return Vec::new();
    }
    let mut rules: Vec<&str> = Vec::new();
    for c in checks
        .iter()
        .filter(|c| c.verdict == Verdict::Skip && c.offline)
    {
        if !rules.contains(&c.rule.as_str()) {
            rules.push(c.rule.as_str());
        }
    }
    if rules.is_empty() {
        return Vec::new();
    }
    let list = rules.join(", ");
    match input.gates.offline() {
        crate::config::OfflineMode::Allow => vec![Check::warn(
            Rule::Offline,
            format!("offline run: {list} not verified; allowed by gates.offline: allow"),
        )],
        crate::config::OfflineMode::Reject => vec![Check::fail(
            Rule::Offline,
            format!("offline run: {list} could not be verified, and gates.offline is reject"),
        )
        .hint("run without --offline, or set gates.offline: allow in the deployed policy")],
    }
}

/// Whether a rule judging this push reads the time (a freeze window covers the
/// environment, or it has a soak time): the plan then records when it was evaluated.
pub fn depends_on_time(input: &Input) -> bool {
    input.env.soak.is_some()
        || !freeze::windows(input.gates, input.environment, input.env).is_empty()
}

/// The rules a push to an environment is judged by under its effective gates: what
/// `promote` tells reviewers `plan` will check. Rules that always run come first.
pub fn rules_for(gates: &Gates, env: &Environment, environment: &str) -> Vec<Rule> {
    let mut rules = vec![
        Rule::Range,
        Rule::ForcePush,
        Rule::Schema,
        Rule::Policy,
        Rule::SkipMarker,
        Rule::Destructive,
        Rule::Firewall,
    ];
    if !gates.committers().is_empty() {
        rules.push(Rule::Committers);
    }
    if gates.require_signed() || gates.committers().iter().any(|c| c.starts_with("signer:")) {
        rules.push(Rule::Signatures);
    }
    if gates.jira.as_ref().is_some_and(|j| j.required) {
        rules.push(Rule::Jira);
    }
    if env.promotes_from.is_some() {
        rules.extend([Rule::Approvals, Rule::Promotion]);
    }
    if env.soak.is_some() {
        rules.push(Rule::Soak);
    }
    if gates
        .freeze
        .iter()
        .flatten()
        .any(|w| w.applies_to(environment))
    {
        rules.push(Rule::Freeze);
    }
    for (set, rule) in [
        (gates.capacity.is_some(), Rule::Capacity),
        (gates.limits.is_some(), Rule::Limits),
        (gates.ports.is_some(), Rule::Ports),
        (gates.terraform.is_some(), Rule::Terraform),
    ] {
        if set {
            rules.push(rule);
        }
    }
    rules
}

/// `n commit(s)` for messages.
pub(crate) fn plural(n: usize, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}

/// "a1b2c3d, e4f5a6b, ... and 3 more": evidence lists stay readable.
pub(crate) fn short_list(ids: &[String], max: usize) -> String {
    let shown: Vec<&str> = ids.iter().take(max).map(|s| &s[..s.len().min(7)]).collect();
    let mut out = shown.join(", ");
    if ids.len() > max {
        out.push_str(&format!(" and {} more", ids.len() - max));
    }
    out
}

pub(crate) fn plural_services(n: usize) -> String {
    plural(n, "service")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The policy notes and the deployed descriptors that no longer parse are read before
    /// every other rule's checks, as they were when evaluate/ built them.
    #[test]
    fn policy_and_deployed_schema_lead_the_diff_checks() {
        let gates = Gates::default();
        let empty = BTreeMap::new();
        let notes = [
            PolicyNote::NoDeployedPolicy,
            PolicyNote::BranchMoved {
                file: "gitops.yaml".into(),
                branch: "qa".into(),
                from: "qa".into(),
                to: "prod".into(),
            },
        ];
        let unparsable = [Unparsable {
            path: "services/api.yaml".into(),
            error: ConfigError::new("services/api.yaml", "unknown field `replicas`"),
        }];
        let input = DiffInput {
            gates: &gates,
            changes: &[],
            deployed: &empty,
            requested: &empty,
            problems: &[],
            policy_notes: &notes,
            unparsable: &unparsable,
            all_requested: None,
            terraform: &[],
        };
        let checks: Vec<Check> = judge_diff(&input).0.into_iter().flatten().collect();
        let head: Vec<(Rule, Verdict)> =
            checks.iter().take(4).map(|c| (c.rule, c.verdict)).collect();
        assert_eq!(
            head,
            [
                (Rule::Policy, Verdict::Warn),
                (Rule::Policy, Verdict::Fail),
                (Rule::Schema, Verdict::Warn),
                (Rule::Schema, Verdict::Pass),
            ]
        );
        assert_eq!(
            checks[1].detail,
            "the requested gitops.yaml moves branch `qa` from environment `qa` to `prod`"
        );
        assert_eq!(checks[1].file.as_deref(), Some("gitops.yaml"));
        assert_eq!(
            checks[2].detail,
            "the deployed services/api.yaml no longer parses: unknown field `replicas`"
        );
    }
}
