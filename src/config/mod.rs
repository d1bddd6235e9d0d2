//! Policy and descriptor types, and their strict, located loading.
//!
//! `serde_yaml` stays behind `yaml.rs`: it is unmaintained upstream, so the rest of the code
//! only ever sees typed values and located `ConfigError`s.
// Located errors are large by design and only built on the failure path.
#![allow(clippy::result_large_err)]

mod descriptor;
pub(crate) use descriptor::line_of;
mod duration;
mod environments;
mod error;
mod fast;
pub mod freeze;
mod ordered;
mod policy;
mod quantity;
pub mod schema;
mod yaml;

pub(crate) use descriptor::parse_cidr;
pub use descriptor::{
    check_version, Descriptor, Firewall, Healthcheck, Notify, Resources, VERSION_HINT,
    VERSION_PATTERN,
};
pub use duration::Duration;
pub use environments::did_you_mean;
pub use error::{ConfigError, ConfigErrors, DescriptorPathError, ValueError, VersionError};
pub use freeze::{CronSchedule, FreezeError, FreezeWindow, TimeZoneName};
pub use ordered::OrderedMap;
pub use policy::CommitStatuses;
pub use policy::{
    ApprovalsGate, DestructiveGate, EmailIntegration, Environment, FirewallGate, Gates,
    GithubIntegration, Integrations, JenkinsIntegration, JiraGate, JiraIntegration, JiraVerify,
    Level, OfflineMode, Policy, PortRange, PortsGate, SlackIntegration, Step, TerraformGate,
    TicketOnFailure, JIRA_SETUP_HINT,
};
pub use quantity::Quantity;
pub use yaml::MAX_FILE_BYTES;

/// Where policy and descriptors live inside a deployment repository.
pub const POLICY_FILE: &str = "gitops.yaml";

/// What to do about a policy file no commit holds: a `--policy` path is more likely mistyped
/// than the repository unscaffolded.
pub fn missing_policy_hint(policy_file: &str) -> String {
    if policy_file == POLICY_FILE {
        "create it with `gitops-gate init`".into()
    } else {
        format!("check the --policy path: `{policy_file}` is read from the commit, relative to the repository's root")
    }
}
pub const SERVICES_DIR: &str = "services";

/// Parses `gitops.yaml` strictly and checks what types alone cannot say.
pub fn parse_policy(file: &str, bytes: &[u8]) -> Result<Policy, ConfigErrors> {
    let (policy, text) =
        yaml::parse::<Policy>(file, bytes, yaml::Pass::ValueFirst).map_err(ConfigErrors::one)?;
    let problems = policy.validate(file, &text);
    if problems.is_empty() {
        Ok(policy)
    } else {
        Err(ConfigErrors(problems))
    }
}

/// Parses one `services/<name>.yaml`; `name` is the file stem, which must equal `service:`.
pub fn parse_descriptor(file: &str, name: &str, bytes: &[u8]) -> Result<Descriptor, ConfigErrors> {
    parse_descriptor_traced(file, name, bytes).0
}

/// `parse_descriptor`, also saying whether the fast reader answered.
fn parse_descriptor_traced(file: &str, name: &str, bytes: &[u8]) -> (Parsed, bool) {
    let (descriptor, text, fast) =
        match yaml::parse_traced::<Descriptor>(file, bytes, yaml::Pass::TypedFirst) {
            Ok(p) => p,
            Err(e) => return (Err(ConfigErrors::one(e)), false),
        };
    let problems = descriptor.validate(file, name, &text);
    let parsed = if problems.is_empty() {
        Ok(descriptor)
    } else {
        Err(ConfigErrors(problems))
    };
    (parsed, fast)
}

/// One side of a changed descriptor, as read.
pub type Parsed = Result<Descriptor, ConfigErrors>;

/// Both sides of a changed descriptor. A push most often changes only the `version:` line;
/// when the deployed side was read by the fast reader (so every value sits on its own
/// line) and the requested text differs from it in that one top-level line, the requested
/// descriptor is the deployed one with the new version, validated again, without a second
/// parse. Anything else is parsed in full.
pub fn parse_descriptor_pair(
    file: &str,
    name: &str,
    old: Option<&[u8]>,
    new: Option<&[u8]>,
) -> (Option<Parsed>, Option<Parsed>) {
    let mut fast_old = false;
    let parsed_old = old.map(|b| {
        let (parsed, fast) = parse_descriptor_traced(file, name, b);
        fast_old = fast;
        parsed
    });
    let parsed_new = new.map(|n| {
        if let (true, Some(Ok(d)), Some(o)) = (fast_old, &parsed_old, old) {
            if let Some(d) = version_only(file, name, d, o, n) {
                return Ok(d);
            }
        }
        parse_descriptor(file, name, n)
    });
    (parsed_old, parsed_new)
}

/// The deployed descriptor with a new version, when that is all `new` changes and the new
/// descriptor validates; `None` sends `new` through the full parse (and its located errors).
fn version_only(
    file: &str,
    name: &str,
    deployed: &Descriptor,
    old: &[u8],
    new: &[u8],
) -> Option<Descriptor> {
    if new.len() > MAX_FILE_BYTES {
        return None;
    }
    let (old, new) = (
        std::str::from_utf8(old).ok()?,
        std::str::from_utf8(new).ok()?,
    );
    let (mut o, mut n) = (old.split('\n'), new.split('\n'));
    let mut changed = None;
    loop {
        match (o.next(), n.next()) {
            (None, None) => break,
            (Some(a), Some(b)) if a == b => {}
            (Some(a), Some(b)) if changed.is_none() => changed = Some((a, b)),
            _ => return None,
        }
    }
    let (a, b) = changed?;
    // The deployed line must have been the version (a top-level key at column 0) too.
    fast::version_line(a)?;
    let version = fast::version_line(b)?;
    let d = Descriptor {
        version,
        ..deployed.clone()
    };
    d.validate(file, name, new).is_empty().then_some(d)
}

/// A descriptor as YAML that `parse_descriptor` reads back to the same value.
pub fn render_descriptor(d: &Descriptor) -> Result<String, yaml::RenderError> {
    yaml::render(d)
}

/// Only the `resources` of a descriptor, in one lenient pass: for capacity sums over the
/// unchanged descriptors (identical to deployed ones, judged strictly when they changed).
pub fn descriptor_resources(bytes: &[u8]) -> Result<Option<Resources>, ConfigError> {
    #[derive(serde::Deserialize)]
    struct Only {
        #[serde(default)]
        resources: Option<Resources>,
    }
    yaml::parse_loose::<Only>(bytes).map(|o| o.resources)
}

/// The service name a descriptor path stands for, or why the path is not a descriptor.
pub fn service_name_of(path: &str) -> Result<&str, DescriptorPathError> {
    let rest = path
        .strip_prefix(SERVICES_DIR)
        .and_then(|p| p.strip_prefix('/'))
        .ok_or_else(|| DescriptorPathError::NotUnderServices(path.to_string()))?;
    if rest.contains('/') {
        return Err(DescriptorPathError::SubFolder);
    }
    if let Some(stem) = rest.strip_suffix(".yml") {
        return Err(DescriptorPathError::YmlSuffix(stem.to_string()));
    }
    let stem = rest
        .strip_suffix(".yaml")
        .ok_or(DescriptorPathError::NotYaml)?;
    if !descriptor::valid_service_name(stem) {
        return Err(DescriptorPathError::BadName(stem.to_string()));
    }
    Ok(stem)
}

/// For the fuzz target: whenever the fast YAML reader answers for `bytes`, `serde_yaml`
/// gives the same descriptor (the fast path may only ever give up, never differ).
#[doc(hidden)]
pub fn fast_path_agrees(bytes: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return true;
    };
    match fast::parse::<Descriptor>(text) {
        None => true,
        Some(fast) => serde_yaml::from_str::<Descriptor>(text).ok() == Some(fast),
    }
}

#[cfg(test)]
mod pair_tests {
    use super::*;

    const OLD: &str = "service: api\nversion: \"1.4.2\"\nmaintainer: team@example.com\n\
        resources: { cpu: 500m, memory: 512Mi }\nports: [8080]\n";

    fn pair(old: &str, new: &str) -> Result<Descriptor, ConfigErrors> {
        let (o, n) = parse_descriptor_pair(
            "services/api.yaml",
            "api",
            Some(old.as_bytes()),
            Some(new.as_bytes()),
        );
        assert!(o.unwrap().is_ok());
        n.unwrap()
    }

    fn full(new: &str) -> Result<Descriptor, ConfigErrors> {
        parse_descriptor("services/api.yaml", "api", new.as_bytes())
    }

    /// Whichever way the requested side is read, it is what a full parse gives.
    #[test]
    fn the_pair_always_agrees_with_a_full_parse() {
        let versions = [
            "version: \"1.5.0\"",
            "version: 1.10",
            "version: '2.0.0-rc.1' # next",
            "version: 2",
            "version: \"two words\"",
            "version:",
            "version: [1]",
            "version: \"1.5\" trailing",
            "  version: \"1.5.0\"",
            "versions: \"1.5.0\"",
        ];
        for line in versions {
            let new = OLD.replace("version: \"1.4.2\"", line);
            let (p, f) = (pair(OLD, &new), full(&new));
            assert_eq!(p.as_ref().ok(), f.as_ref().ok(), "{line}");
            assert_eq!(p.is_err(), f.is_err(), "{line}");
        }
        // More than the version changes, or the deployed side is outside the fast subset.
        let two = OLD.replace("1.4.2", "1.5.0").replace("8080", "9090");
        assert_eq!(pair(OLD, &two).ok(), full(&two).ok());
        let slow_old = OLD.replace("ports: [8080]", "ports: [\n  8080]");
        let slow_new = slow_old.replace("1.4.2", "1.5.0");
        assert_eq!(pair(&slow_old, &slow_new).unwrap().version, "1.5.0");
        assert_eq!(pair(&slow_old, &slow_new).ok(), full(&slow_new).ok());
    }

    #[test]
    fn a_version_only_change_skips_the_second_parse() {
        let new = OLD.replace("1.4.2", "1.5.0");
        let deployed = full(OLD).unwrap();
        let d = version_only(
            "services/api.yaml",
            "api",
            &deployed,
            OLD.as_bytes(),
            new.as_bytes(),
        );
        assert_eq!(d.map(|d| d.version), Some("1.5.0".to_string()));
        // A version that fails validation goes through the full parse for its located error.
        let bad = OLD.replace("\"1.4.2\"", "\"1 5\"");
        assert!(version_only(
            "services/api.yaml",
            "api",
            &deployed,
            OLD.as_bytes(),
            bad.as_bytes()
        )
        .is_none());
        assert!(pair(OLD, &bad).is_err());
    }
}
