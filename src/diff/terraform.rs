//! Terraform / OpenTofu plans, as `terraform show -json` (or `tofu show -json`) prints them.
//!
//! Only what judging needs is kept: each resource's address and its `actions`. The `before`,
//! `after` and `*_sensitive` values are never read into this model, so no sensitive value can
//! reach a message, a log or a plan file.
use serde_json::Value;

/// The plan JSON format majors this reader understands (`format_version` "1.x").
pub const SUPPORTED_MAJOR: u64 = 1;
/// Plans are refused above this size before parsing.
pub const MAX_PLAN_BYTES: usize = 64 << 20;

/// What a resource's `actions` list means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Action {
    NoOp,
    Read,
    Create,
    Update,
    /// `["delete", "create"]` or `["create", "delete"]`: a deletion too.
    Replace,
    Delete,
    /// Any other list (a newer Terraform's `forget`, an empty list...): needs a person.
    Unknown,
}

impl Action {
    pub fn of(actions: &[String]) -> Action {
        let a: Vec<&str> = actions.iter().map(String::as_str).collect();
        match a.as_slice() {
            ["no-op"] => Action::NoOp,
            ["read"] => Action::Read,
            ["create"] => Action::Create,
            ["update"] => Action::Update,
            ["delete"] => Action::Delete,
            ["delete", "create"] | ["create", "delete"] => Action::Replace,
            // `delete` anywhere is a deletion, whatever else the list holds.
            _ if a.contains(&"delete") => Action::Delete,
            _ => Action::Unknown,
        }
    }
    /// Whether the resource (or its current instance) is destroyed.
    pub fn deletes(self) -> bool {
        matches!(self, Action::Delete | Action::Replace)
    }
    pub fn symbol(self) -> &'static str {
        match self {
            Action::NoOp | Action::Read => " ",
            Action::Create => "+",
            Action::Update => "~",
            Action::Replace => "-/+",
            Action::Delete => "-",
            Action::Unknown => "?",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ResourceChange {
    pub address: String,
    /// The raw `actions` list, for evidence.
    pub actions: Vec<String>,
    pub action: Action,
    /// `action_reason`, when Terraform gives one (`replace_because_cannot_update`).
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TerraformPlan {
    pub format_version: String,
    pub changes: Vec<ResourceChange>,
}

impl TerraformPlan {
    pub fn count(&self, a: Action) -> usize {
        self.changes.iter().filter(|c| c.action == a).count()
    }
    /// "1 to add, 1 to change, 2 to destroy (1 replaced)", like `terraform plan`.
    pub fn summary(&self) -> String {
        let add = self.count(Action::Create) + self.count(Action::Replace);
        let change = self.count(Action::Update);
        let destroy = self.count(Action::Delete) + self.count(Action::Replace);
        let mut s = format!("{add} to add, {change} to change, {destroy} to destroy");
        let replaced = self.count(Action::Replace);
        if replaced > 0 {
            s.push_str(&format!(" ({replaced} replaced)"));
        }
        let unknown = self.count(Action::Unknown);
        if unknown > 0 {
            s.push_str(&format!(", {unknown} with unknown actions"));
        }
        s
    }
}

/// A plan file named by the policy or on the command line, and what reading it gave.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanFile {
    /// `infra/plan.json@abc1234` for a file at the head commit, or the path given.
    pub source: String,
    pub plan: Result<TerraformPlan, PlanError>,
}

/// Why a Terraform plan file cannot be judged; each says what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("not found at the head commit (gates.terraform.plans names it)")]
    NotAtHead,
    #[error("over the {MAX_PLAN_BYTES} byte limit; refused before parsing")]
    BlobTooLarge,
    #[error("the plan is over the {MAX_PLAN_BYTES} byte limit; refused before parsing")]
    TooLarge,
    #[error("not JSON ({0}); write it with `terraform show -json plan.out > plan.json`")]
    NotJson(String),
    #[error("not a plan: the top level is not a JSON object")]
    NotAnObject,
    #[error("`format_version` is not a string")]
    FormatVersionNotAString,
    #[error("no `format_version`: this is not `terraform show -json` output of a plan")]
    NoFormatVersion,
    #[error("`format_version` \"{0}\" is not a version such as \"1.2\"")]
    BadFormatVersion(String),
    #[error(
        "plan format_version \"{0}\" is newer than this gitops-gate understands ({SUPPORTED_MAJOR}.x): \
         its meaning may have changed, so it is refused; upgrade gitops-gate, or produce the plan with a Terraform/OpenTofu release that writes {SUPPORTED_MAJOR}.x"
    )]
    TooNew(String),
    #[error("plan format_version \"{0}\" is older than {SUPPORTED_MAJOR}.x; use Terraform >= 0.12's `terraform show -json`")]
    TooOld(String),
    #[error("`resource_changes` is not a list")]
    ChangesNotAList,
    #[error("resource_changes[{0}] has no `address`")]
    NoAddress(usize),
    #[error("resource_changes[{i}] ({address}) has no `change.actions` list")]
    NoActions { i: usize, address: String },
    #[error("resource_changes[{i}] ({address}): an action is not a string")]
    ActionNotAString { i: usize, address: String },
}

/// Parses `terraform show -json` output. Errors say what is wrong and what to do.
pub fn parse(bytes: &[u8]) -> Result<TerraformPlan, PlanError> {
    if bytes.len() > MAX_PLAN_BYTES {
        return Err(PlanError::TooLarge);
    }
    let v: Value = serde_json::from_slice(bytes).map_err(|e| PlanError::NotJson(e.to_string()))?;
    let obj = v.as_object().ok_or(PlanError::NotAnObject)?;
    let fv = match obj.get("format_version") {
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err(PlanError::FormatVersionNotAString),
        None => return Err(PlanError::NoFormatVersion),
    };
    let major: u64 = fv
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .ok_or_else(|| PlanError::BadFormatVersion(fv.clone()))?;
    if major > SUPPORTED_MAJOR {
        return Err(PlanError::TooNew(fv));
    }
    if major < SUPPORTED_MAJOR {
        return Err(PlanError::TooOld(fv));
    }
    let mut changes = Vec::new();
    match obj.get("resource_changes") {
        None | Some(Value::Null) => {}
        Some(Value::Array(list)) => {
            for (i, rc) in list.iter().enumerate() {
                changes.push(resource(i, rc)?);
            }
        }
        Some(_) => return Err(PlanError::ChangesNotAList),
    }
    Ok(TerraformPlan {
        format_version: fv,
        changes,
    })
}

fn resource(i: usize, rc: &Value) -> Result<ResourceChange, PlanError> {
    let address = rc
        .get("address")
        .and_then(Value::as_str)
        .ok_or(PlanError::NoAddress(i))?
        .to_string();
    let actions = rc
        .get("change")
        .and_then(|c| c.get("actions"))
        .and_then(Value::as_array)
        .ok_or_else(|| PlanError::NoActions {
            i,
            address: address.clone(),
        })?;
    let actions: Vec<String> = actions
        .iter()
        .map(|a| {
            a.as_str()
                .map(str::to_string)
                .ok_or_else(|| PlanError::ActionNotAString {
                    i,
                    address: address.clone(),
                })
        })
        .collect::<Result<_, _>>()?;
    Ok(ResourceChange {
        address,
        action: Action::of(&actions),
        actions,
        reason: rc
            .get("action_reason")
            .and_then(Value::as_str)
            .map(str::to_string),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acts(a: &[&str]) -> Action {
        Action::of(&a.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn delete_anywhere_is_a_deletion_and_odd_lists_are_unknown() {
        assert_eq!(acts(&["delete", "create"]), Action::Replace);
        assert_eq!(acts(&["create", "delete"]), Action::Replace);
        assert_eq!(acts(&["update", "delete"]), Action::Delete);
        assert!(acts(&["create", "delete"]).deletes());
        assert_eq!(acts(&["forget"]), Action::Unknown);
        assert_eq!(acts(&[]), Action::Unknown);
        assert_eq!(acts(&["no-op"]), Action::NoOp);
        assert!(!acts(&["update"]).deletes());
    }

    #[test]
    fn refuses_newer_formats_and_non_plans() {
        let e = parse(br#"{"format_version":"2.0","resource_changes":[]}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("2.0") && e.contains("refused"), "{e}");
        assert_eq!(parse(b"{}").unwrap_err(), PlanError::NoFormatVersion);
        assert!(parse(b"not json")
            .unwrap_err()
            .to_string()
            .contains("terraform show -json"));
        let e = parse(br#"{"format_version":"1.2","resource_changes":[{"address":"a"}]}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("change.actions"), "{e}");
        let p = parse(br#"{"format_version":"1.2"}"#).unwrap();
        assert!(p.changes.is_empty());
    }

    #[test]
    fn reads_the_opentofu_fixtures() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/terraform");
        let read = |f: &str| parse(&std::fs::read(format!("{dir}/{f}")).unwrap()).unwrap();
        let del = read("basic-delete.json");
        assert_eq!(del.count(Action::Delete), 1);
        assert_eq!(del.count(Action::Update), 1);
        assert_eq!(del.summary(), "0 to add, 1 to change, 1 to destroy");
        let rep = read("requires-replace.json");
        assert_eq!(rep.count(Action::Replace), 1);
        assert_eq!(
            rep.changes[0].reason.as_deref(),
            Some("replace_because_cannot_update")
        );
        let noop = read("no-op.json");
        assert!(noop.changes.iter().all(|c| c.action == Action::NoOp));
    }
}
