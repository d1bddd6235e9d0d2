//! Where a push comes from: one module per CI system, each turning the environment and the
//! event payload into a `PushContext`. This is the only module that reads `std::env`; the
//! rest of the program receives an `Env` snapshot or values built from it.
mod github;
mod gitlab;
mod jenkins;

use crate::error::Failure;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

pub const ZERO_SHA: &str = "0000000000000000000000000000000000000000";

/// A snapshot of the process environment, so tests pass their own and nothing reads
/// globals deep inside the code.
#[derive(Debug, Clone, Default)]
pub struct Env(BTreeMap<String, String>);

impl Env {
    /// The one read of the real process environment.
    pub fn from_process() -> Env {
        Env(std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect())
    }
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Env {
        Env(pairs
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect())
    }
    /// A variable, with empty treated as unset (CI systems export empty values freely).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }
    pub fn is_true(&self, key: &str) -> bool {
        matches!(self.get(key), Some(v) if v.eq_ignore_ascii_case("true") || v == "1")
    }
    pub fn vars(&self) -> impl Iterator<Item = (&String, &String)> {
        self.0.iter()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CiSystem {
    Github,
    Jenkins,
    Gitlab,
    Local,
}

impl CiSystem {
    pub fn name(self) -> &'static str {
        match self {
            CiSystem::Github => "github",
            CiSystem::Jenkins => "jenkins",
            CiSystem::Gitlab => "gitlab",
            CiSystem::Local => "local",
        }
    }
}

/// What kind of ref update this is. `Force` is also decided later from the repository,
/// because a CI payload's `forced` flag is only a hint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PushKind {
    Create,
    Update,
    Force,
    Delete,
    Tag,
}

/// The pull request a run is about, when the event is one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PullRequest {
    pub number: u64,
    /// The PR's real head commit, never the synthetic merge commit.
    pub head_sha: Option<String>,
    pub head_ref: Option<String>,
    pub base_ref: String,
    pub merged: bool,
}

/// One push, as every CI system describes it once normalised.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PushContext {
    pub ci: CiSystem,
    /// `push`, `pull_request`, `workflow_dispatch`, `merge_request_event`, `manual`, ...
    pub event: String,
    /// The branch the push targets (for a pull request: its base branch).
    pub branch: Option<String>,
    pub tag: Option<String>,
    /// The previous tip: a hint only, never the base of the range by itself.
    pub before: Option<String>,
    /// The pushed revision; `None` when the ref was deleted.
    pub head: Option<String>,
    pub kind: PushKind,
    /// The CI's own "forced" flag, when it has one.
    pub forced_hint: bool,
    pub actor: Option<String>,
    pub triggering_actor: Option<String>,
    pub run_url: Option<String>,
    pub repository: Option<String>,
    pub pull_request: Option<PullRequest>,
}

impl PushContext {
    pub fn local() -> PushContext {
        PushContext {
            ci: CiSystem::Local,
            event: "manual".into(),
            branch: None,
            tag: None,
            before: None,
            head: None,
            kind: PushKind::Update,
            forced_hint: false,
            actor: None,
            triggering_actor: None,
            run_url: None,
            repository: None,
            pull_request: None,
        }
    }
    pub fn is_deleted(&self) -> bool {
        self.kind == PushKind::Delete
    }
}

/// What the user said on the command line; flags win over everything a CI says.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub env: Option<String>,
    pub branch: Option<String>,
    pub base: Option<String>,
    pub head: Option<String>,
}

/// Files and switches a CI system offers for our outputs.
#[derive(Debug, Clone, Default)]
pub struct CiOutputs {
    /// GitHub Actions: workflow commands on stdout are live.
    pub github_actions: bool,
    pub github_output: Option<PathBuf>,
    pub step_summary: Option<PathBuf>,
}

impl CiOutputs {
    pub fn from_env(env: &Env) -> CiOutputs {
        let actions = env.is_true("GITHUB_ACTIONS");
        CiOutputs {
            github_actions: actions,
            github_output: actions
                .then(|| env.get("GITHUB_OUTPUT").map(PathBuf::from))
                .flatten(),
            step_summary: actions
                .then(|| env.get("GITHUB_STEP_SUMMARY").map(PathBuf::from))
                .flatten(),
        }
    }
}

/// Which CI system runs us, judged by the variables each one always sets.
pub fn system(env: &Env) -> CiSystem {
    if env.is_true("GITHUB_ACTIONS") {
        CiSystem::Github
    } else if env.is_true("GITLAB_CI") {
        CiSystem::Gitlab
    } else if env.get("JENKINS_URL").is_some()
        || env.get("JENKINS_HOME").is_some()
        || env
            .get("BUILD_TAG")
            .is_some_and(|t| t.starts_with("jenkins-"))
    {
        CiSystem::Jenkins
    } else {
        CiSystem::Local
    }
}

/// Builds the push context from the CI environment, then applies the flags.
pub fn detect(env: &Env, overrides: &Overrides) -> Result<PushContext, Failure> {
    let mut ctx = match system(env) {
        CiSystem::Github => github::detect(env)?,
        CiSystem::Gitlab => gitlab::detect(env)?,
        CiSystem::Jenkins => jenkins::detect(env)?,
        CiSystem::Local => PushContext::local(),
    };
    apply(&mut ctx, overrides);
    Ok(ctx)
}

fn apply(ctx: &mut PushContext, o: &Overrides) {
    if let Some(b) = &o.branch {
        ctx.branch = Some(b.clone());
    }
    if let Some(h) = &o.head {
        ctx.head = Some(h.clone());
        if ctx.kind == PushKind::Delete {
            ctx.kind = PushKind::Update;
        }
    }
    if let Some(b) = &o.base {
        ctx.before = Some(b.clone());
        if ctx.kind == PushKind::Create {
            ctx.kind = PushKind::Update;
        }
    }
}

/// `None` for absent, empty, `null` and all-zero SHAs: all mean "no commit".
pub(crate) fn sha_or_none(v: Option<&str>) -> Option<String> {
    let v = v?.trim();
    if v.is_empty() || v == "null" || v.bytes().all(|b| b == b'0') {
        None
    } else {
        Some(v.to_string())
    }
}

pub(crate) fn is_zero_sha(v: Option<&str>) -> bool {
    matches!(v, Some(s) if !s.is_empty() && s.bytes().all(|b| b == b'0'))
}

/// Splits a fully formed ref into (branch, tag).
pub(crate) fn split_ref(r: &str) -> (Option<String>, Option<String>) {
    if let Some(b) = r.strip_prefix("refs/heads/") {
        (Some(b.to_string()), None)
    } else if let Some(t) = r.strip_prefix("refs/tags/") {
        (None, Some(t.to_string()))
    } else {
        (None, None)
    }
}

/// The secrets the integrations need, read here so no other module touches `std::env`.
/// `Debug` never prints them.
#[derive(Clone, Default)]
pub struct Secrets {
    values: BTreeMap<String, String>,
    /// Every text form a library may render a secret in (see `renderings`), longest first.
    patterns: Vec<String>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.values.keys()).finish()
    }
}

impl Secrets {
    /// Names whose values are secret wherever they appear.
    pub const NAMES: &'static [&'static str] = &[
        "GITHUB_TOKEN",
        "JIRA_EMAIL",
        "JIRA_API_TOKEN",
        "JIRA_PAT",
        "JENKINS_USER",
        "JENKINS_API_TOKEN",
        "SLACK_WEBHOOK_URL",
        "SMTP_USERNAME",
        "SMTP_PASSWORD",
    ];

    /// The well-known secret variables plus any extra names (e.g. a policy's `webhook_env`).
    pub fn from_env(env: &Env, extra: &[&str]) -> Secrets {
        let values: BTreeMap<String, String> = Self::NAMES
            .iter()
            .chain(extra)
            .filter_map(|n| env.get(n).map(|v| (n.to_string(), v.to_string())))
            .collect();
        let mut patterns: Vec<String> = values.values().flat_map(|v| renderings(v)).collect();
        patterns.retain(|p| p.len() >= 4);
        // Longest first, so a whole URL is replaced before a part of it.
        patterns.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        patterns.dedup();
        Secrets { values, patterns }
    }
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }
    /// Replaces every secret value in `text` with `***`, in every form a library may
    /// render it: as given, trimmed (a trailing newline), normalised as a URL (scheme and
    /// host lower-cased, default port dropped), percent-encoded or -decoded, and a URL's
    /// credential-bearing parts (user info, path and query) on their own.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for p in &self.patterns {
            if out.contains(p.as_str()) {
                out = out.replace(p.as_str(), "***");
            }
        }
        out
    }
}

/// The forms a secret value may take in a library's message (see `Secrets::redact`).
fn renderings(v: &str) -> Vec<String> {
    let t = v.trim();
    let mut out = vec![v.to_string(), t.to_string()];
    if let Ok(u) = reqwest::Url::parse(t) {
        out.push(u.to_string());
        out.push(u.as_str().trim_end_matches('/').to_string());
        if u.has_host() {
            // Path, query and fragment: what makes a webhook URL a credential.
            let query = u.query().map(|q| format!("?{q}")).unwrap_or_default();
            let rest = format!("{}{query}", u.path());
            if rest.trim_matches('/').len() >= 4 {
                out.push(rest.to_string());
                out.push(rest.trim_matches('/').to_string());
            }
            out.push(u.username().to_string());
            out.extend(u.password().map(str::to_string));
        }
    }
    for s in out.clone() {
        out.push(percent_encode(&s));
        if let Some(d) = percent_decode(&s) {
            out.push(d);
        }
    }
    out
}

/// Every byte but RFC 3986's unreserved ones as `%XX` (upper-case hex).
fn percent_encode(s: &str) -> String {
    crate::integrations::segment(s)
}

/// `%XX` decoded, when `s` holds any and the result is UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    if !s.contains('%') {
        return None;
    }
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .ok()
        .map(|d| d.into_owned())
}

#[cfg(test)]
mod secret_tests {
    use super::*;

    fn of(pairs: &[(&str, &str)]) -> Secrets {
        Secrets::from_env(&Env::from_pairs(pairs.iter().copied()), &[])
    }

    #[test]
    fn every_rendering_of_a_webhook_url_is_redacted() {
        let s = of(&[(
            "SLACK_WEBHOOK_URL",
            "HTTPS://Hooks.Slack.COM:443/services/T000/B000/XXSECRETXX\n",
        )]);
        for shown in [
            "https://hooks.slack.com/services/T000/B000/XXSECRETXX",
            "(https://hooks.slack.com/services/T000/B000/XXSECRETXX)",
            "HTTPS://Hooks.Slack.COM:443/services/T000/B000/XXSECRETXX",
            "https%3A%2F%2Fhooks.slack.com%2Fservices%2FT000%2FB000%2FXXSECRETXX",
            "path /services/T000/B000/XXSECRETXX only",
        ] {
            let r = s.redact(shown);
            assert!(!r.contains("XXSECRETXX"), "{shown} -> {r}");
        }
        let s = of(&[("JENKINS_API_TOKEN", "a b/c")]);
        assert_eq!(s.redact("x a%20b%2Fc y"), "x *** y");
        assert_eq!(format!("{s:?}"), "[\"JENKINS_API_TOKEN\"]");
    }
}
