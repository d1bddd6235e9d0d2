//! `gitops.yaml`: environments, gate rules, pipeline steps and integration endpoints.
//! Credentials never live here; integrations name the environment variables that hold them.
use super::descriptor::line_of;
use super::{ConfigError, Duration, OrderedMap, Resources};
use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::{de, Deserialize, Deserializer, Serialize, Serializer};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Format version; only `1` exists.
    pub version: u32,
    /// Ordered low -> high (qa, staging, prod).
    pub environments: OrderedMap<Environment>,
    /// Defaults for every environment; `environments.<env>.gates` overrides any key.
    #[serde(default)]
    pub gates: Gates,
    /// How each generic pipeline step runs. `healthcheck` is built in.
    #[serde(default)]
    pub steps: BTreeMap<String, Step>,
    #[serde(default)]
    pub integrations: Integrations,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Environment {
    pub branch: String,
    /// The release pipeline: step names in order, run for every changed service.
    pub pipeline: Vec<String>,
    /// The lower environment whose branch alone may be merged into this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promotes_from: Option<String>,
    #[serde(default, skip_serializing_if = "Gates::is_empty")]
    pub gates: Gates,
    /// How long a version must have run in `promotes_from`, with no failed run since,
    /// before it may deploy here (e.g. `24h`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub soak: Option<Duration>,
}

/// `fail | warn | allow`: what a tripped rule does to the decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Fail,
    Warn,
    Allow,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum OfflineMode {
    Allow,
    Reject,
}

/// Every key is optional so an environment can override any one of them; the accessors
/// give the documented defaults.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Gates {
    /// Case-insensitive phrases in the head commit's message that skip the deploy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skip_markers: Option<Vec<String>>,
    /// Allowlist: `email`, `github:login` or `signer:principal`. Empty or absent: anyone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub committers: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require_signed: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jira: Option<JiraGate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approvals: Option<ApprovalsGate>,
    /// The cluster: the sum over all services must fit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<Resources>,
    /// One service at most.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<Resources>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ports: Option<PortsGate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firewall: Option<FirewallGate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destructive: Option<DestructiveGate>,
    /// Terraform/OpenTofu plans (`terraform show -json`) to judge with the push.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terraform: Option<TerraformGate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub force_push: Option<Level>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promotion: Option<Level>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_commits: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offline: Option<OfflineMode>,
    /// An SSH allowed-signers file in the repository (`gpg.ssh.allowedSignersFile`): local
    /// signature checks for `signer:` entries and `require_signed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_signers: Option<String>,
    /// OpenPGP public keys in the repository (`gpg --export --armor`), read from the
    /// deployed commit: local GPG signature checks for `signer:` entries (the key's user-id
    /// email or fingerprint) and `require_signed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpg_keyring: Option<String>,
    /// Windows in which nothing deploys, e.g. Fridays from 16:00 Europe/Berlin for 64h.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub freeze: Option<Vec<super::FreezeWindow>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JiraGate {
    /// Every non-merge commit must name a ticket of `projects`.
    #[serde(default = "yes")]
    pub required: bool,
    #[serde(default)]
    pub projects: Vec<String>,
    /// Statuses that allow a deploy (case-insensitive names); empty: the ticket's
    /// `statusCategory.key` must be one of `status_categories`.
    #[serde(default)]
    pub statuses: Vec<String>,
    /// Status categories (`fields.status.statusCategory.key`: `new`, `indeterminate`,
    /// `done`, `undefined`) that allow a deploy when `statuses` is not given; default
    /// `[done]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_categories: Option<Vec<String>>,
    /// Approvals the ticket needs: Jira Service Management approvals, or those in
    /// `approval_field`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approvals: Option<u32>,
    /// A custom field holding the approvals (e.g. `customfield_10050`), read with the
    /// issue instead of the Service Management approvals API: a JSM "Approvals" field
    /// (each approval object counts by its `finalDecision`; any declined blocks) or a
    /// user picker (each distinct user counts as one approval).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_field: Option<String>,
    /// `lookup` (default): each ticket is looked up in JIRA (`integrations.jira`), and a
    /// run that cannot look it up fails closed. `presence`: only that every commit names a
    /// ticket, with no JIRA lookup, a choice the policy has to state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify: Option<JiraVerify>,
}

/// How far `gates.jira` checks a ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum JiraVerify {
    /// Look each ticket up: it exists, its status allows the deploy, its approvals.
    Lookup,
    /// Only that every commit names a ticket of `projects`; nothing is looked up.
    Presence,
}

/// JIRA's status category keys.
pub const STATUS_CATEGORIES: &[&str] = &["new", "indeterminate", "done", "undefined"];

impl JiraGate {
    /// The status categories that allow a deploy when no `statuses` are given.
    pub fn status_categories(&self) -> Vec<String> {
        self.status_categories
            .clone()
            .unwrap_or_else(|| vec!["done".to_string()])
    }
    pub fn verify(&self) -> JiraVerify {
        self.verify.unwrap_or(JiraVerify::Lookup)
    }
    /// Tickets must be looked up in JIRA (required, and not `verify: presence`).
    pub fn needs_lookup(&self) -> bool {
        self.required && self.verify() == JiraVerify::Lookup
    }
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApprovalsGate {
    pub required: u32,
    /// Count approvals submitted on an older commit than the pull request's head (default
    /// false: a stale approval does not count, as with GitHub's "dismiss stale reviews").
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub count_stale: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PortsGate {
    pub allowed: Vec<PortRange>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FirewallGate {
    #[serde(default = "fail")]
    pub public_ingress: Level,
}

fn fail() -> Level {
    Level::Fail
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DestructiveGate {
    #[serde(default = "fail")]
    pub remove_service: Level,
    #[serde(default = "warn")]
    pub downgrade: Level,
    #[serde(default = "warn")]
    pub port_change: Level,
    #[serde(default = "warn")]
    pub domain_change: Level,
    /// Health-check endpoints removed, or `retries`/`timeout` set to zero.
    #[serde(default = "warn")]
    pub healthcheck: Level,
}

/// `gates.terraform`: plan files at the head commit, and what deleting or replacing does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TerraformGate {
    /// Paths in the repository of `terraform show -json` output, read from the head commit.
    #[serde(default)]
    pub plans: Vec<String>,
    /// A resource destroyed (`delete` in its actions, alone).
    #[serde(default = "fail")]
    pub delete: Level,
    /// A resource destroyed and re-created (`["delete","create"]` or `["create","delete"]`).
    #[serde(default = "fail")]
    pub replace: Level,
}

fn warn() -> Level {
    Level::Warn
}

impl Default for DestructiveGate {
    fn default() -> Self {
        DestructiveGate {
            remove_service: Level::Fail,
            downgrade: Level::Warn,
            port_change: Level::Warn,
            domain_change: Level::Warn,
            healthcheck: Level::Warn,
        }
    }
}

/// `"80"`, `80` or `"8000-8999"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRange {
    pub low: u16,
    pub high: u16,
}

impl PortRange {
    pub fn contains(&self, p: u16) -> bool {
        self.low <= p && p <= self.high
    }
    fn parse(s: &str) -> Result<PortRange, super::error::ValueError> {
        let bad = || super::error::ValueError::NotAPortRange(s.to_string());
        let (lo, hi) = s.split_once('-').unwrap_or((s, s));
        let low: u16 = lo.trim().parse().map_err(|_| bad())?;
        let high: u16 = hi.trim().parse().map_err(|_| bad())?;
        if low == 0 || low > high {
            return Err(bad());
        }
        Ok(PortRange { low, high })
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.low == self.high {
            write!(f, "{}", self.low)
        } else {
            write!(f, "{}-{}", self.low, self.high)
        }
    }
}

impl Serialize for PortRange {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for PortRange {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = PortRange;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a port (443) or range (\"8000-8999\")")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<PortRange, E> {
                PortRange::parse(v).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<PortRange, E> {
                PortRange::parse(&v.to_string()).map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<PortRange, E> {
                PortRange::parse(&v.to_string()).map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for PortRange {
    fn schema_name() -> Cow<'static, str> {
        "PortRange".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "anyOf": [
                { "type": "integer", "minimum": 1, "maximum": 65535 },
                { "type": "string", "pattern": "^[0-9]+(-[0-9]+)?$" }
            ]
        })
    }
}

/// One generic step: a command (argv, never a shell string) or a Jenkins job.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Step {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jenkins: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    /// For the built-in healthcheck: a URL base instead of `https://<domain>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url_base: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Integrations {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jira: Option<JiraIntegration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slack: Option<SlackIntegration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<EmailIntegration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jenkins: Option<JenkinsIntegration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub github: Option<GithubIntegration>,
    /// CDEvents after each run (docs/events.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events: Option<EventsIntegration>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EventsIntegration {
    /// The sink each CloudEvent is POSTed to in structured mode (http:// or https://).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The events' `source`, a URI reference (default `/gitops-gate`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The environment variable holding a bearer token for the sink (a secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_env: Option<String>,
    /// One deadline for all posts of a run (default 10s); the run never waits longer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JiraIntegration {
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket_on_failure: Option<TicketOnFailure>,
    /// One deadline for all JIRA calls of a run (default 30s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    /// Committer email -> JIRA account, when the user search finds nobody: a Cloud
    /// accountId, or on Server/Data Center a user name (`name:` or `accountId:` forces either).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub users: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TicketOnFailure {
    pub project: String,
    #[serde(rename = "type")]
    pub issue_type: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SlackIntegration {
    /// The environment variable holding the webhook URL (a secret).
    #[serde(default = "slack_env")]
    pub webhook_env: String,
}

fn slack_env() -> String {
    "SLACK_WEBHOOK_URL".into()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailIntegration {
    /// `host:port`.
    pub smtp: String,
    pub from: String,
    /// PEM file of extra CA certificates to trust for the server's STARTTLS/TLS certificate
    /// (an internal CA or a self-signed server), relative to the repository's work tree. Set,
    /// it also turns TLS on for a loopback server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JenkinsIntegration {
    pub url: String,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GithubIntegration {
    #[serde(default)]
    pub deployments: bool,
    /// One deadline for all GitHub API calls of a run (default 30s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    /// The commit status `gitops-gate/<env>` on the head, set by `plan` and `run` in
    /// GitHub Actions: `off` (default), `warn` (a status that cannot be written is a
    /// warning), `required` (it fails the step, exit 4).
    #[serde(default, skip_serializing_if = "CommitStatuses::is_off")]
    pub statuses: CommitStatuses,
}

/// `integrations.github.statuses`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum CommitStatuses {
    #[default]
    Off,
    Warn,
    Required,
}

impl CommitStatuses {
    pub fn is_off(&self) -> bool {
        *self == CommitStatuses::Off
    }
}

/// The JIRA project-key shape: an upper-case letter, then 1-9 of upper-case, digit, `_`.
pub(crate) fn valid_project_key(k: &str) -> bool {
    let b = k.as_bytes();
    (2..=10).contains(&b.len())
        && b[0].is_ascii_uppercase()
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == b'_')
}

/// `gates.jira` keys that cannot work together: (field path, message, hint).
fn jira_gate_errors(j: &JiraGate, at: &str) -> Vec<(String, String, &'static str)> {
    let mut out = Vec::new();
    if let Some(cats) = &j.status_categories {
        if !j.statuses.is_empty() {
            out.push((
                format!("{at}.jira.status_categories"),
                "give either `statuses` or `status_categories`, not both".to_string(),
                "`statuses` names exact statuses; `status_categories` JIRA's categories (new, indeterminate, done)",
            ));
        }
        if cats.is_empty() {
            out.push((
                format!("{at}.jira.status_categories"),
                "an empty status_categories list would reject every ticket".to_string(),
                "leave it out for the default [done]",
            ));
        }
        for (k, c) in cats.iter().enumerate() {
            if !STATUS_CATEGORIES.contains(&c.as_str()) {
                out.push((
                    format!("{at}.jira.status_categories[{k}]"),
                    format!("`{c}` is not a JIRA status category"),
                    "categories are new, indeterminate, done (and undefined)",
                ));
            }
        }
    }
    if let Some(f) = &j.approval_field {
        if f.is_empty() || !f.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            out.push((
                format!("{at}.jira.approval_field"),
                format!("`{f}` is not a JIRA field id"),
                "write the field id, e.g. customfield_10050 (not its display name)",
            ));
        }
        if j.approvals.is_none() {
            out.push((
                format!("{at}.jira.approval_field"),
                "approval_field is set but approvals (how many are needed) is not".to_string(),
                "add `approvals: 1` (or more) next to approval_field",
            ));
        }
    }
    out
}

/// What to do when tickets must be looked up and JIRA is not configured.
pub const JIRA_SETUP_HINT: &str = "add integrations.jira.url to gitops.yaml (`integrations: { jira: { url: \"https://jira.example.com\" } }`) and export JIRA_EMAIL + JIRA_API_TOKEN (JIRA Cloud) or JIRA_PAT (Data Center); or, to check only that each commit names a ticket, say so: `gates.jira: { verify: presence, ... }`";

/// Steps every pipeline may name without defining them.
pub const BUILTIN_STEPS: &[&str] = &["healthcheck"];

impl Gates {
    pub fn is_empty(&self) -> bool {
        *self == Gates::default()
    }

    /// `over`'s keys win, key by key (a nested object replaces the default one whole).
    pub fn overlay(&self, over: &Gates) -> Gates {
        fn pick<T: Clone>(o: &Option<T>, b: &Option<T>) -> Option<T> {
            o.clone().or_else(|| b.clone())
        }
        Gates {
            skip_markers: pick(&over.skip_markers, &self.skip_markers),
            committers: pick(&over.committers, &self.committers),
            require_signed: pick(&over.require_signed, &self.require_signed),
            jira: pick(&over.jira, &self.jira),
            approvals: pick(&over.approvals, &self.approvals),
            capacity: pick(&over.capacity, &self.capacity),
            limits: pick(&over.limits, &self.limits),
            ports: pick(&over.ports, &self.ports),
            firewall: pick(&over.firewall, &self.firewall),
            destructive: pick(&over.destructive, &self.destructive),
            terraform: pick(&over.terraform, &self.terraform),
            force_push: pick(&over.force_push, &self.force_push),
            promotion: pick(&over.promotion, &self.promotion),
            max_commits: pick(&over.max_commits, &self.max_commits),
            offline: pick(&over.offline, &self.offline),
            allowed_signers: pick(&over.allowed_signers, &self.allowed_signers),
            gpg_keyring: pick(&over.gpg_keyring, &self.gpg_keyring),
            freeze: pick(&over.freeze, &self.freeze),
        }
    }

    pub fn skip_markers(&self) -> Vec<String> {
        self.skip_markers
            .clone()
            .unwrap_or_else(|| vec!["skip deployment".into(), "[skip deploy]".into()])
    }
    pub fn committers(&self) -> &[String] {
        self.committers.as_deref().unwrap_or(&[])
    }
    pub fn require_signed(&self) -> bool {
        self.require_signed.unwrap_or(false)
    }
    pub fn force_push(&self) -> Level {
        self.force_push.unwrap_or(Level::Fail)
    }
    pub fn promotion(&self) -> Level {
        self.promotion.unwrap_or(Level::Fail)
    }
    pub fn max_commits(&self) -> usize {
        self.max_commits.unwrap_or(10_000)
    }
    pub fn offline(&self) -> OfflineMode {
        self.offline.unwrap_or(OfflineMode::Reject)
    }
    pub fn destructive(&self) -> DestructiveGate {
        self.destructive.clone().unwrap_or_default()
    }
    pub fn firewall_public_ingress(&self) -> Level {
        self.firewall
            .as_ref()
            .map(|f| f.public_ingress)
            .unwrap_or(Level::Fail)
    }
}

impl Policy {
    /// The environment whose branch is `branch`.
    pub fn environment_for_branch(&self, branch: &str) -> Option<(&str, &Environment)> {
        self.environments
            .iter()
            .find(|(_, e)| e.branch == branch)
            .map(|(n, e)| (n.as_str(), e))
    }

    pub fn environment(&self, name: &str) -> Option<&Environment> {
        self.environments.get(name)
    }

    /// Global gates overlaid with the environment's own.
    pub fn gates_for(&self, env: &str) -> Gates {
        match self.environments.get(env) {
            Some(e) => self.gates.overlay(&e.gates),
            None => self.gates.clone(),
        }
    }

    /// The environments whose tickets must be looked up in JIRA while no
    /// `integrations.jira` says where: (environment, field path of its `jira` gate). An
    /// online run of such an environment fails closed; `validate` reports each.
    pub fn unverifiable_jira(&self) -> Vec<(String, String)> {
        if self.integrations.jira.is_some() {
            return Vec::new();
        }
        self.environments
            .iter()
            .filter(|(name, _)| {
                self.gates_for(name)
                    .jira
                    .as_ref()
                    .is_some_and(JiraGate::needs_lookup)
            })
            .map(|(name, env)| {
                let at = if env.gates.jira.is_some() {
                    format!("environments.{name}.gates.jira")
                } else {
                    "gates.jira".to_string()
                };
                (name.clone(), at)
            })
            .collect()
    }

    /// `unverifiable_jira` as configuration errors located in `file` (whose text is `text`),
    /// for every environment or `only` one.
    pub fn unverifiable_jira_errors(
        &self,
        file: &str,
        text: &str,
        only: Option<&str>,
    ) -> Vec<ConfigError> {
        self.unverifiable_jira()
            .into_iter()
            .filter(|(env, _)| only.is_none_or(|o| o == env))
            .map(|(env, at)| {
                ConfigError::new(
                    file,
                    format!(
                        "environment `{env}` requires JIRA tickets to be looked up ({at}.required: true), but no integrations.jira says where JIRA is"
                    ),
                )
                .field(format!("{at}.required"))
                .at(line_of(text, &at), None)
                .hint(JIRA_SETUP_HINT)
            })
            .collect()
    }

    pub(crate) fn validate(&self, file: &str, text: &str) -> Vec<ConfigError> {
        let mut out = Vec::new();
        let err = |field: String, msg: String, hint: &str| {
            let line = line_of(text, &field);
            ConfigError::new(file, msg)
                .field(field)
                .at(line, None)
                .hint(hint)
        };
        if self.version != 1 {
            out.push(err(
                "version".into(),
                format!("policy version {} is not supported", self.version),
                "this gitops-gate reads `version: 1`",
            ));
        }
        if self.environments.is_empty() {
            out.push(err(
                "environments".into(),
                "no environments are defined".into(),
                "define at least one, e.g. `qa: { branch: qa, pipeline: [deploy, healthcheck] }`",
            ));
        }
        let mut gates = vec![("gates".to_string(), &self.gates)];
        for (i, (name, env)) in self.environments.iter().enumerate() {
            let at = format!("environments.{name}");
            if !name
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
                || name.is_empty()
            {
                out.push(err(
                    at.clone(),
                    format!("environment name `{name}` may only hold letters, digits, '-' and '_'"),
                    "it names the ledger ref refs/gitops-gate/deployed/<env>",
                ));
            }
            if let Some((other, _)) = self
                .environments
                .iter()
                .take(i)
                .find(|(_, e)| e.branch == env.branch)
            {
                out.push(err(
                    format!("{at}.branch"),
                    format!(
                        "branch `{}` already belongs to environment `{other}`",
                        env.branch
                    ),
                    "each environment needs its own branch",
                ));
            }
            if env.pipeline.is_empty() {
                out.push(err(
                    format!("{at}.pipeline"),
                    "the pipeline is empty".into(),
                    "list the steps, e.g. [deploy, healthcheck]",
                ));
            }
            for (j, step) in env.pipeline.iter().enumerate() {
                if !self.steps.contains_key(step) && !BUILTIN_STEPS.contains(&step.as_str()) {
                    out.push(err(
                        format!("{at}.pipeline[{j}]"),
                        format!("step `{step}` is not defined under `steps`"),
                        &format!("add `steps.{step}: {{ run: [...] }}` or a Jenkins job; built in: healthcheck"),
                    ));
                }
            }
            if let Some(from) = &env.promotes_from {
                match self.environments.position(from) {
                    Some(p) if p < i => {}
                    Some(_) => out.push(err(
                        format!("{at}.promotes_from"),
                        format!("`{from}` is not lower than `{name}`"),
                        "environments are ordered low -> high; promote from an earlier one",
                    )),
                    None => out.push(err(
                        format!("{at}.promotes_from"),
                        format!("`{from}` is not an environment"),
                        &format!(
                            "valid environments: {}",
                            self.environments
                                .keys()
                                .cloned()
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    )),
                }
            }
            if env.soak.is_some() && env.promotes_from.is_none() {
                out.push(err(
                    format!("{at}.soak"),
                    format!("`{name}` has a soak time but no promotes_from to soak in"),
                    "add `promotes_from: <lower environment>`, or remove soak",
                ));
            }
            if let Some(d) = env
                .soak
                .as_ref()
                .filter(|d| d.std() > super::freeze::LONGEST)
            {
                out.push(err(
                    format!("{at}.soak"),
                    format!("{d} is longer than a year and a day (8784h)"),
                    "give the time, e.g. 24h",
                ));
            }
            if env.soak.as_ref().is_some_and(Duration::is_zero) {
                out.push(err(
                    format!("{at}.soak"),
                    "a soak time of 0s asks for nothing".into(),
                    "give the time, e.g. 24h, or remove soak",
                ));
            }
            gates.push((format!("{at}.gates"), &env.gates));
        }
        let names: Vec<&str> = self.environments.keys().map(String::as_str).collect();
        for (at, g) in gates {
            if let Some(j) = &g.jira {
                for (k, p) in j.projects.iter().enumerate() {
                    if !valid_project_key(p) {
                        out.push(err(
                            format!("{at}.jira.projects[{k}]"),
                            format!("`{p}` is not a JIRA project key"),
                            "keys are an upper-case letter then 1-9 upper-case letters, digits or _",
                        ));
                    }
                }
                out.extend(
                    jira_gate_errors(j, &at)
                        .into_iter()
                        .map(|(f, m, h)| err(f, m, h)),
                );
            }
            for (k, c) in g.committers().iter().enumerate() {
                let ok = match c.split_once(':') {
                    Some(("github", login)) => !login.is_empty(),
                    Some(("signer", principal)) => !principal.is_empty(),
                    Some(_) => false,
                    None => c.contains('@'),
                };
                if !ok {
                    out.push(err(
                        format!("{at}.committers[{k}]"),
                        format!("`{c}` is not an email, `github:<login>` or `signer:<principal>`"),
                        "write alice@example.com, github:bob or signer:ops@example.com",
                    ));
                }
            }
            for (f, m, h) in super::freeze::errors(g.freeze.as_deref().unwrap_or(&[]), &at, &names)
            {
                out.push(err(f, m, &h));
            }
            if g.max_commits == Some(0) {
                out.push(err(
                    format!("{at}.max_commits"),
                    "max_commits 0 would reject every push".into(),
                    "leave it out for the default of 10000",
                ));
            }
        }
        for (name, step) in &self.steps {
            let at = format!("steps.{name}");
            match (&step.run, &step.jenkins) {
                (Some(_), Some(_)) => out.push(err(
                    at,
                    "a step is either `run` or `jenkins`, not both".into(),
                    "keep one",
                )),
                (Some(argv), None) if argv.is_empty() || argv[0].is_empty() => out.push(err(
                    format!("{at}.run"),
                    "`run` needs a program".into(),
                    "write the argv, e.g. [\"./scripts/deploy.sh\"]",
                )),
                (None, None) if !BUILTIN_STEPS.contains(&name.as_str()) => out.push(err(
                    at,
                    "the step says neither `run` nor `jenkins`".into(),
                    "add `run: [argv...]` or `jenkins: JOB`",
                )),
                _ => {}
            }
        }
        let i = &self.integrations;
        if let Some(t) = i.events.as_ref().and_then(|e| e.timeout.as_ref()) {
            if t.std() > EVENTS_TIMEOUT_MAX {
                out.push(err(
                    "integrations.events.timeout".into(),
                    format!("{t} is longer than the 60s a run may wait for its events"),
                    "leave it out for 10s; the events never decide a deploy",
                ));
            }
        }
        let urls = [
            (
                "integrations.jira.url",
                i.jira.as_ref().map(|j| j.url.as_str()),
            ),
            (
                "integrations.jenkins.url",
                i.jenkins.as_ref().map(|j| j.url.as_str()),
            ),
            (
                "integrations.events.url",
                i.events.as_ref().and_then(|e| e.url.as_deref()),
            ),
        ];
        for (field, url) in urls {
            if let Some(u) = url.filter(|u| !is_http_url(u)) {
                out.push(err(
                    field.into(),
                    format!("`{u}` is not an http:// or https:// URL"),
                    "write the whole address, e.g. https://host.example.com/path",
                ));
            }
        }
        out
    }
}

/// The longest a run's end may wait for the CDEvents sink: it holds the CI job (and its
/// runner), never the decision.
const EVENTS_TIMEOUT_MAX: std::time::Duration = std::time::Duration::from_secs(60);

/// What a client here can call: an absolute http(s) URL with a host. Found at `validate`,
/// not as a warning after a deploy.
fn is_http_url(u: &str) -> bool {
    reqwest::Url::parse(u.trim())
        .is_ok_and(|p| matches!(p.scheme(), "http" | "https") && p.host_str().is_some())
}
