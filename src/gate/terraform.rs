//! `terraform`: Terraform/OpenTofu plans judged with the push. `delete` anywhere in a
//! resource's actions is a deletion (`gates.terraform.delete`, or `.replace` for
//! delete+create in either order); an unknown actions list needs review (warn at least);
//! an unreadable plan fails. Only addresses and actions are ever shown, never values.
use super::Rule;
use super::{Check, DiffInput};
use crate::config::{Level, TerraformGate};
use crate::diff::terraform::{Action, PlanFile};

pub fn check(input: &DiffInput) -> Vec<Check> {
    let gate = input.gates.terraform.clone().unwrap_or(TerraformGate {
        plans: Vec::new(),
        delete: Level::Fail,
        replace: Level::Fail,
    });
    judge(&gate, input.terraform)
}

pub fn judge(gate: &TerraformGate, files: &[PlanFile]) -> Vec<Check> {
    let mut out = Vec::new();
    for f in files {
        let plan = match &f.plan {
            Ok(p) => p,
            Err(e) => {
                out.push(
                    Check::fail(Rule::Terraform, format!("{}: {e}", f.source))
                        .file(f.source.clone())
                        .hint("regenerate it with `terraform show -json plan.out` (or `tofu show -json`)"),
                );
                continue;
            }
        };
        let before = out.len();
        for rc in &plan.changes {
            let (key, level, what) = match rc.action {
                Action::Delete => ("delete", gate.delete, "would be destroyed"),
                Action::Replace => ("replace", gate.replace, "would be destroyed and re-created"),
                Action::Unknown => (
                    "unknown",
                    Level::Warn,
                    "has actions this gate does not know; review them",
                ),
                _ => continue,
            };
            let mut detail = format!("{}: {} {what}", f.source, rc.address);
            if let Some(r) = &rc.reason {
                detail.push_str(&format!(" ({r})"));
            }
            let c = match level {
                Level::Fail => Check::fail(Rule::Terraform, detail).hint(format!(
                    "if intended, set gates.terraform.{key} to warn or allow in a reviewed policy change"
                )),
                Level::Warn => Check::warn(Rule::Terraform, detail),
                Level::Allow => Check::pass(Rule::Terraform, format!("{detail}; allowed by gates.terraform.{key}")),
            };
            out.push(
                c.file(f.source.clone())
                    .field(format!("{}.change.actions", rc.address))
                    .value(format!("[{}]", rc.actions.join(", ")))
                    .limit(format!(
                        "{key}: {}",
                        match level {
                            Level::Fail => "fail",
                            Level::Warn => "warn",
                            Level::Allow => "allow",
                        }
                    )),
            );
        }
        if out.len() == before {
            out.push(Check::pass(
                Rule::Terraform,
                format!("{}: {}", f.source, plan.summary()),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diff::terraform::parse;
    use crate::gate::Verdict;

    fn file(json: &str) -> PlanFile {
        PlanFile {
            source: "infra/plan.json".into(),
            plan: parse(json.as_bytes()),
        }
    }
    fn gate(delete: Level, replace: Level) -> TerraformGate {
        TerraformGate {
            plans: vec![],
            delete,
            replace,
        }
    }

    #[test]
    fn deletes_replaces_unknown_and_bad_plans() {
        let j = r#"{"format_version":"1.2","resource_changes":[
          {"address":"a.x","change":{"actions":["create","delete"],"before":{"password":"hunter2"},"before_sensitive":{"password":true}}},
          {"address":"a.y","change":{"actions":["forget"]}},
          {"address":"a.z","change":{"actions":["update"]}}]}"#;
        let c = judge(&gate(Level::Fail, Level::Fail), &[file(j)]);
        assert_eq!(c.len(), 2, "{c:?}");
        assert_eq!(c[0].verdict, Verdict::Fail);
        assert!(c[0].detail.contains("a.x"));
        assert_eq!(c[1].verdict, Verdict::Warn);
        let all = format!("{c:?}");
        assert!(!all.contains("hunter2"), "a sensitive value leaked: {all}");
        let c = judge(&gate(Level::Fail, Level::Allow), &[file(j)]);
        assert_eq!(c[0].verdict, Verdict::Pass);
        let c = judge(
            &gate(Level::Allow, Level::Allow),
            &[file(r#"{"format_version":"2.0"}"#)],
        );
        assert_eq!(c[0].verdict, Verdict::Fail);
        assert!(c[0].detail.contains("refused"));
    }
}
