//! Policy and descriptor types, and their strict, located loading.
//!
//! `serde_yaml` stays behind `yaml.rs`: it is unmaintained upstream, so the rest of the code
//! only ever sees typed values and located `ConfigError`s.
// Located errors are large by design and only built on the failure path.
#![allow(clippy::result_large_err)]

mod descriptor;
mod duration;
mod error;
mod fast;
mod ordered;
mod policy;
mod quantity;
pub mod schema;
mod yaml;

pub(crate) use descriptor::parse_cidr;
pub use descriptor::{Descriptor, Firewall, Healthcheck, Notify, Resources};
pub use duration::Duration;
pub use error::{ConfigError, ConfigErrors};
pub use ordered::OrderedMap;
pub use policy::{
    ApprovalsGate, DestructiveGate, EmailIntegration, Environment, FirewallGate, Gates,
    GithubIntegration, Integrations, JenkinsIntegration, JiraGate, JiraIntegration, Level,
    OfflineMode, Policy, PortRange, PortsGate, SlackIntegration, Step, TerraformGate,
    TicketOnFailure,
};
pub use quantity::Quantity;
pub use yaml::MAX_FILE_BYTES;

/// Where policy and descriptors live inside a deployment repository.
pub const POLICY_FILE: &str = "gitops.yaml";
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
    let (descriptor, text) = yaml::parse::<Descriptor>(file, bytes, yaml::Pass::TypedFirst)
        .map_err(ConfigErrors::one)?;
    let problems = descriptor.validate(file, name, &text);
    if problems.is_empty() {
        Ok(descriptor)
    } else {
        Err(ConfigErrors(problems))
    }
}

/// A descriptor as YAML that `parse_descriptor` reads back to the same value.
pub fn render_descriptor(d: &Descriptor) -> Result<String, String> {
    yaml::render(d)
}

/// Only the `resources` of a descriptor, in one lenient pass: for capacity sums over the
/// unchanged descriptors (identical to deployed ones, judged strictly when they changed).
pub fn descriptor_resources(bytes: &[u8]) -> Result<Option<Resources>, String> {
    #[derive(serde::Deserialize)]
    struct Only {
        #[serde(default)]
        resources: Option<Resources>,
    }
    yaml::parse_loose::<Only>(bytes).map(|o| o.resources)
}

/// The service name a descriptor path stands for, or why the path is not a descriptor.
pub fn service_name_of(path: &str) -> Result<&str, String> {
    let rest = path
        .strip_prefix(SERVICES_DIR)
        .and_then(|p| p.strip_prefix('/'))
        .ok_or_else(|| format!("{path} is not under {SERVICES_DIR}/"))?;
    if rest.contains('/') {
        return Err("descriptors live directly under services/, not in sub-folders".into());
    }
    if let Some(stem) = rest.strip_suffix(".yml") {
        return Err(format!(
            "rename it to services/{stem}.yaml: descriptors end in .yaml"
        ));
    }
    let stem = rest
        .strip_suffix(".yaml")
        .ok_or_else(|| "only <name>.yaml descriptors belong in services/".to_string())?;
    if !descriptor::valid_service_name(stem) {
        return Err(format!(
            "`{stem}` is not a valid service name: use lower-case letters, digits and '-', starting with a letter"
        ));
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
