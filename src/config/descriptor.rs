//! `services/<name>.yaml`: one service's desired state in one environment.
use super::error::VersionError;
use super::{ConfigError, Duration, Quantity};
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Descriptor {
    /// Must equal the file name without `.yaml`.
    pub service: String,
    /// Kept as a string: `1.10` and `1.1` are different versions. Letters, digits and
    /// `. _ + -`, starting with a letter or digit, at most 128 characters: downstream jobs
    /// put it into commands.
    #[serde(deserialize_with = "version_text")]
    #[schemars(pattern(VERSION_PATTERN), length(min = 1, max = 128))]
    pub version: String,
    /// Who owns it; receives failure notices.
    pub maintainer: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<Healthcheck>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Resources>,
    /// Every port the service listens on or needs opened.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firewall: Option<Firewall>,
    #[serde(default, skip_serializing_if = "Notify::is_empty")]
    pub notify: Notify,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Healthcheck {
    /// Paths (`/healthz`) fetched on the service's domain, or absolute URLs.
    pub endpoints: Vec<String>,
    #[serde(default = "default_retries")]
    pub retries: u32,
    #[serde(default = "default_interval")]
    pub interval: Duration,
    #[serde(default = "default_timeout")]
    pub timeout: Duration,
    /// Wait before the first attempt, for slow starters (JVM).
    #[serde(default = "zero")]
    pub initial_delay: Duration,
}

fn default_retries() -> u32 {
    3
}
fn default_interval() -> Duration {
    Duration::from_std(std::time::Duration::from_secs(5))
}
fn default_timeout() -> Duration {
    Duration::from_std(std::time::Duration::from_secs(2))
}
fn zero() -> Duration {
    Duration::from_std(std::time::Duration::ZERO)
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Resources {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<Quantity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<Quantity>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Firewall {
    /// Source CIDRs allowed in; `0.0.0.0/0` or `::/0` means the whole internet.
    #[serde(default)]
    pub ingress: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Notify {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub email: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub slack: Vec<String>,
}

impl Notify {
    pub fn is_empty(&self) -> bool {
        self.email.is_empty() && self.slack.is_empty()
    }
}

/// The versions a descriptor (and `bump`) accepts, as a regular expression for the schema.
pub const VERSION_PATTERN: &str = "^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$";
pub const MAX_VERSION_CHARS: usize = 128;

/// Why `v` is not a version, or `Ok`: semantic versions with build metadata, dates and Git
/// SHAs pass; white space, slashes and shell metacharacters do not, since downstream jobs put
/// the version into commands.
pub fn check_version(v: &str) -> Result<(), VersionError> {
    let shown = || v.escape_debug().to_string();
    if v.is_empty() {
        return Err(VersionError::Empty);
    }
    if v.chars().count() > MAX_VERSION_CHARS {
        return Err(VersionError::TooLong {
            chars: v.chars().count(),
        });
    }
    if !v.as_bytes()[0].is_ascii_alphanumeric() {
        return Err(VersionError::BadStart { shown: shown() });
    }
    if let Some(c) = v
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '+' | '-')))
    {
        return Err(VersionError::BadChar {
            shown: shown(),
            c: c.escape_debug().to_string(),
        });
    }
    if v.eq_ignore_ascii_case("null") {
        return Err(VersionError::Null(v.to_string()));
    }
    Ok(())
}

/// The hint for a version `check_version` refused.
pub const VERSION_HINT: &str = "write a version of letters, digits and . _ + - (starting with a letter or digit, at most 128), such as \"1.4.2\", \"2026.12.03\" or \"1.0.0+build.7\"";

/// `version:` left empty or null (`~`, `null`) is refused here, where YAML still tells a
/// null from the text "null"; a plain number keeps its text (`1.10` stays "1.10").
fn version_text<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Option::<String>::deserialize(d)?.ok_or_else(|| {
        serde::de::Error::custom("the version is empty or null; write a version such as \"1.4.2\"")
    })
}

pub(crate) fn valid_service_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b[0].is_ascii_lowercase()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
}

/// A CIDR (`10.0.0.0/8`, `::/0`) or a bare address; returns the prefix length.
pub(crate) fn parse_cidr(s: &str) -> Option<(std::net::IpAddr, u8)> {
    let (addr, len) = match s.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (s, None),
    };
    let ip: std::net::IpAddr = addr.parse().ok()?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let len = match len {
        Some(l) => l.parse::<u8>().ok().filter(|l| *l <= max)?,
        None => max,
    };
    Some((ip, len))
}

/// The line of a field path (`environments.qa.pipeline[1]`) in the file, for semantic
/// errors that serde cannot locate: each segment's `key:` is searched from the line of the
/// segment before, so flow mappings (`{ a: 1, b: 2 }`) are found too.
pub(crate) fn line_of(text: &str, path: &str) -> Option<usize> {
    let lines: Vec<&str> = text.lines().collect();
    let mut from = 0;
    let mut found = None;
    for seg in path.split('.') {
        let key = seg.split('[').next().unwrap_or(seg);
        if key.is_empty() {
            continue;
        }
        let hit = (from..lines.len()).find(|&i| has_key(lines[i], key));
        if let Some(i) = hit {
            found = Some(i + 1);
            from = i;
        }
    }
    found
}

fn has_key(line: &str, key: &str) -> bool {
    // A commented-out example (`#   jenkins: {...}`) is not the key.
    if line.trim_start().starts_with('#') {
        return false;
    }
    let code = line.split(" #").next().unwrap_or(line);
    let mut start = 0;
    while let Some(pos) = code[start..].find(key) {
        let i = start + pos;
        let before = code[..i].chars().next_back();
        let after = &code[i + key.len()..];
        let boundary = matches!(before, None | Some(' ' | '{' | ',' | '"' | '\'' | '-'));
        let after = after.trim_start_matches(['"', '\'']);
        if boundary && after.starts_with(':') {
            return true;
        }
        start = i + key.len();
    }
    false
}

impl Descriptor {
    /// What types cannot say: names, versions, addresses and zero values that never work.
    pub(crate) fn validate(&self, file: &str, name: &str, text: &str) -> Vec<ConfigError> {
        let mut out = Vec::new();
        let err = |field: &str, msg: String, hint: &str| {
            ConfigError::new(file, msg)
                .field(field)
                .at(line_of(text, field), None)
                .hint(hint)
        };
        if self.service != name {
            out.push(err(
                "service",
                format!(
                    "service `{}` does not match the file name `{name}.yaml`",
                    self.service
                ),
                "name the file after the service",
            ));
        }
        if let Err(why) = check_version(&self.version) {
            out.push(err("version", why.to_string(), VERSION_HINT));
        }
        if !self.maintainer.contains('@') {
            out.push(err(
                "maintainer",
                format!("maintainer `{}` is not an email address", self.maintainer),
                "name a team or person address, e.g. team-api@example.com",
            ));
        }
        if let Some(d) = &self.domain {
            let ok = !d.is_empty()
                && d.len() <= 253
                && d.split('.').all(|l| {
                    !l.is_empty()
                        && !l.starts_with('-')
                        && l.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-')
                });
            if !ok {
                out.push(err(
                    "domain",
                    format!("domain `{d}` is not a host name"),
                    "write a bare host name such as api.qa.example.com, without scheme or path",
                ));
            }
        }
        if self.port == Some(0) || self.ports.contains(&0) {
            out.push(err("port", "port 0 is not a port".into(), "use 1-65535"));
        }
        if let Some(h) = &self.healthcheck {
            if h.endpoints.is_empty() {
                out.push(err(
                    "healthcheck.endpoints",
                    "a health check needs at least one endpoint".into(),
                    "add a path such as /healthz, or remove `healthcheck`",
                ));
            }
            for (i, e) in h.endpoints.iter().enumerate() {
                let ok =
                    e.starts_with('/') || e.starts_with("http://") || e.starts_with("https://");
                if !ok || e.chars().any(char::is_whitespace) {
                    out.push(err(
                        &format!("healthcheck.endpoints[{i}]"),
                        format!("endpoint `{e}` is neither a path nor a URL"),
                        "start it with / (a path on the service's domain) or http(s)://",
                    ));
                }
            }
            if h.timeout.is_zero() {
                out.push(err(
                    "healthcheck.timeout",
                    "a zero timeout fails every health check".into(),
                    "use a duration such as 2s",
                ));
            }
        }
        if let Some(f) = &self.firewall {
            for (i, src) in f.ingress.iter().enumerate() {
                if parse_cidr(src).is_none() {
                    out.push(err(
                        &format!("firewall.ingress[{i}]"),
                        format!("`{src}` is not an IP address or CIDR"),
                        "write a CIDR such as 10.0.0.0/8",
                    ));
                }
            }
        }
        for (i, e) in self.notify.email.iter().enumerate() {
            if !e.contains('@') {
                out.push(err(
                    &format!("notify.email[{i}]"),
                    format!("`{e}` is not an email address"),
                    "write an address such as team@example.com",
                ));
            }
        }
        out
    }
}
