//! `plan --format sarif`: the plan's violations as SARIF 2.1.0, for GitHub code scanning
//! (`github/codeql-action/upload-sarif`) and other SARIF viewers (docs/plan.md). One result
//! per failing or warning check, `ruleId` the gate rule's id, located at the file and line
//! the check names, or at the rule's key in the policy when it names none.
use super::Plan;
use crate::gate::{Check, Rule, Verdict};
use serde_json::{json, Value};

pub const SCHEMA_URI: &str =
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json";

/// Where a check points in the repository: a path relative to its root, and a line when
/// one is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub uri: String,
    pub line: Option<usize>,
}

/// The rules of the plan's checks, each once, in the order the plan lists them.
pub fn rules_in(plan: &Plan) -> Vec<Rule> {
    let mut rules = Vec::new();
    for c in &plan.checks {
        if !rules.contains(&c.rule) {
            rules.push(c.rule);
        }
    }
    rules
}

/// What each rule checks, for `tool.driver.rules` and JUnit readers.
pub fn describe(rule: Rule) -> &'static str {
    match rule {
        Rule::Range => "the pushed range is complete and starts at what is deployed",
        Rule::SkipMarker => "a skip marker on the head commit skips the deploy",
        Rule::Committers => "every commit is by an allowlisted committer or signer",
        Rule::Signatures => "every commit carries a trusted signature",
        Rule::Jira => "every commit names an approved JIRA ticket",
        Rule::Approvals => "the promotion pull request has the required approvals",
        Rule::Promotion => "each version has passed the environment it is promoted from",
        Rule::ForcePush => "the push does not rewrite deployed history",
        Rule::Schema => "the policy and the descriptors parse and make sense",
        Rule::Capacity => "the environment's services fit the cluster's capacity",
        Rule::Limits => "each service stays within the per-service limits",
        Rule::Ports => "services expose only allowed ports",
        Rule::Firewall => "no descriptor opens public ingress",
        Rule::Destructive => "removals, downgrades, port and domain changes are allowed",
        Rule::Terraform => "the Terraform/OpenTofu plans are allowed",
        Rule::Policy => "a change of the policy is itself gated",
        Rule::Offline => "an --offline run may decide deploy",
        Rule::Unavailable => "the services the decision needs answered",
        Rule::Superseded => "the environment's ledger has not moved since the plan",
        Rule::Input => "the push and its context are valid input",
        #[allow(unreachable_patterns)]
        _ => "a gitops-gate rule",
    }
}

/// `path@abc1234` (a file read at a commit) as the path alone.
pub fn repo_path(file: &str) -> &str {
    match file.rsplit_once('@') {
        Some((path, at)) if !at.is_empty() && at.bytes().all(|b| b.is_ascii_hexdigit()) => path,
        _ => file,
    }
}

/// The SARIF log. `locations[i]` is where `plan.checks[i]` points (see `Location`).
pub fn sarif(plan: &Plan, locations: &[Option<Location>]) -> Value {
    let rules = rules_in(plan);
    let descriptors: Vec<Value> = rules
        .iter()
        .map(|r| {
            json!({
                "id": r.as_str(),
                "name": r.as_str(),
                "shortDescription": { "text": describe(*r) },
            })
        })
        .collect();
    let results: Vec<Value> = plan
        .checks
        .iter()
        .enumerate()
        .filter(|(_, c)| c.verdict >= Verdict::Warn)
        .map(|(i, c)| result(c, &rules, locations.get(i).cloned().flatten()))
        .collect();
    let env = plan.environment.as_deref().unwrap_or("none");
    let mut run = json!({
        "tool": { "driver": {
            "name": "gitops-gate",
            "version": env!("CARGO_PKG_VERSION"),
            "rules": descriptors,
        }},
        // One category per environment, so code scanning keeps each environment's alerts.
        "automationDetails": { "id": format!("gitops-gate/{env}/") },
        "results": results,
        "properties": {
            "decision": plan.decision.as_str(),
            "reason": plan.reason,
            "environment": plan.environment,
            "digest": plan.digest,
        },
    });
    if let Some(head) = &plan.push.head {
        run["properties"]["head"] = Value::String(head.clone());
    }
    json!({
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [run],
    })
}

fn result(c: &Check, rules: &[Rule], loc: Option<Location>) -> Value {
    let mut text = c.detail.clone();
    if let Some(h) = &c.hint {
        text.push_str(&format!(" Hint: {h}"));
    }
    let mut r = json!({
        "ruleId": c.rule.as_str(),
        "ruleIndex": rules.iter().position(|r| *r == c.rule).unwrap_or(0),
        "level": if c.verdict == Verdict::Fail { "error" } else { "warning" },
        "message": { "text": text },
    });
    if let Some(l) = loc {
        let mut physical = json!({
            "artifactLocation": { "uri": uri_reference(&l.uri), "uriBaseId": "%SRCROOT%" },
        });
        if let Some(line) = l.line.filter(|n| *n > 0) {
            physical["region"] = json!({ "startLine": line });
        }
        r["locations"] = json!([{ "physicalLocation": physical }]);
    }
    let mut props = serde_json::Map::new();
    for (k, v) in [
        ("commit", &c.commit),
        ("field", &c.field),
        ("old", &c.old),
        ("value", &c.value),
        ("limit", &c.limit),
    ] {
        if let Some(v) = v {
            props.insert(k.into(), Value::String(v.clone()));
        }
    }
    if !c.commits.is_empty() {
        props.insert("commits".into(), json!(c.commits));
    }
    if !props.is_empty() {
        r["properties"] = Value::Object(props);
    }
    r
}

/// A repository path as a relative URI reference: each segment percent-encoded.
fn uri_reference(path: &str) -> String {
    path.split('/')
        .map(crate::integrations::segment)
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_read_at_a_commit_lose_the_commit() {
        assert_eq!(repo_path("gitops.yaml@1a2b3c4"), "gitops.yaml");
        assert_eq!(repo_path("services/api.yaml"), "services/api.yaml");
        assert_eq!(repo_path("team@example.com"), "team@example.com");
        assert_eq!(uri_reference("services/a b.yaml"), "services/a%20b.yaml");
    }
}
