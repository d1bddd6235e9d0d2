//! A saved plan is a claim about what Git says, never an authority: `run --plan FILE`
//! evaluates the push again (the gate is deterministic) and refuses any difference between
//! the file and that re-derived plan, naming every field that differs. The run then executes
//! the re-derived plan, so a field this comparison leaves out can never take effect either.
use super::Plan;
use crate::error::Failure;
use serde_json::Value;

/// Fields that legitimately differ between two evaluations of one push: who runs it and
/// where. A hand-off within one CI run (Jenkins stages of one build, GitHub Actions jobs of
/// one workflow run, GitLab jobs of one pipeline) sees the same values, but a deploy job
/// triggered from the planning run (another run URL, another actor) is still the same push.
/// Neither decides anything: the rules read the CI context itself, and the run records its
/// own. Nor does when each was evaluated: the run judges freeze windows and soak times at its
/// own time, and the checks those rules give (which name windows and soak ends, never the
/// time itself) are compared, so a plan made before a freeze does not run inside it.
pub const IGNORED: &[&[&str]] = &[
    &["push", "actor"],
    &["push", "run_url"],
    &["evaluated_at"],
    &["now_from_flag"],
];

/// At most this many differences are listed; the count says how many there were.
const MAX_LISTED: usize = 20;

/// At most this many characters of a value are shown.
const MAX_VALUE_CHARS: usize = 80;

pub const HINT: &str =
    "make a new plan with `gitops-gate plan`, or run `gitops-gate run` to plan and run in one go";

/// `Ok` when `saved` says what `derived` (the same push, evaluated now) says, else exit 5
/// naming each differing field as `path: file says X, Git says Y`.
pub fn verify_saved_plan(saved: &Plan, derived: &Plan) -> Result<(), Failure> {
    let diffs = differences(saved, derived);
    if diffs.is_empty() {
        return Ok(());
    }
    let mut lines: Vec<String> = diffs.iter().take(MAX_LISTED).cloned().collect();
    if diffs.len() > MAX_LISTED {
        lines.push(format!("... and {} more", diffs.len() - MAX_LISTED));
    }
    Err(Failure::superseded(format!(
        "the saved plan does not match what Git says for this push ({} {} differ{}), so nothing ran:\n  {}",
        diffs.len(),
        if diffs.len() == 1 { "field" } else { "fields" },
        if diffs.len() == 1 { "s" } else { "" },
        lines.join("\n  ")
    ))
    .hint(HINT))
}

/// Every difference between the two plans as JSON, one line each, keys in sorted order.
pub fn differences(saved: &Plan, derived: &Plan) -> Vec<String> {
    let as_value = |p: &Plan| {
        let mut v = serde_json::to_value(p).unwrap_or(Value::Null);
        for path in IGNORED {
            remove(&mut v, path);
        }
        v
    };
    let mut out = Vec::new();
    diff(
        &mut String::new(),
        &as_value(saved),
        &as_value(derived),
        &mut out,
    );
    out
}

fn remove(v: &mut Value, path: &[&str]) {
    match path {
        [] => {}
        [last] => {
            if let Some(o) = v.as_object_mut() {
                o.remove(*last);
            }
        }
        [first, rest @ ..] => {
            if let Some(inner) = v.get_mut(*first) {
                remove(inner, rest);
            }
        }
    }
}

fn diff(path: &mut String, file: &Value, git: &Value, out: &mut Vec<String>) {
    if file == git {
        return;
    }
    let here = path.len();
    match (file, git) {
        (Value::Object(f), Value::Object(g)) => {
            // In key order (serde_json's maps are sorted), then those only Git has.
            let keys = f.keys().chain(g.keys().filter(|k| !f.contains_key(*k)));
            for k in keys {
                push_key(path, k);
                match (f.get(k), g.get(k)) {
                    (Some(a), Some(b)) => diff(path, a, b, out),
                    (a, b) => out.push(line(path, a, b)),
                }
                path.truncate(here);
            }
        }
        (Value::Array(f), Value::Array(g)) => {
            for i in 0..f.len().max(g.len()) {
                path.push_str(&format!("[{i}]"));
                match (f.get(i), g.get(i)) {
                    (Some(a), Some(b)) => diff(path, a, b, out),
                    (a, b) => out.push(line(path, a, b)),
                }
                path.truncate(here);
            }
        }
        _ => out.push(line(path, Some(file), Some(git))),
    }
}

/// `.name` for a plain key, `["key"]` (JSON-escaped) for anything else: keys come from the
/// file, and a newline or `::` in one must not reach the log as a line of its own.
fn push_key(path: &mut String, key: &str) {
    let plain = !key.is_empty()
        && key.len() <= 64
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if plain {
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(key);
    } else {
        path.push('[');
        path.push_str(&shown(&Value::String(key.to_string())));
        path.push(']');
    }
}

fn line(path: &str, file: Option<&Value>, git: Option<&Value>) -> String {
    let side = |v: Option<&Value>| v.map(shown).unwrap_or_else(|| "nothing".to_string());
    let path = if path.is_empty() { "(the plan)" } else { path };
    format!("{path}: file says {}, Git says {}", side(file), side(git))
}

/// A value as compact JSON (so one line: newlines are escaped), cut to a readable length.
fn shown(v: &Value) -> String {
    let s = serde_json::to_string(v).unwrap_or_default();
    if s.chars().count() <= MAX_VALUE_CHARS {
        s
    } else {
        let cut: String = s.chars().take(MAX_VALUE_CHARS).collect();
        format!("{cut}...")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ci::{CiSystem, PushKind};
    use crate::plan::{Decision, Parameters, PushSummary, Stage};

    fn plan() -> Plan {
        Plan {
            schema: 1,
            decision: Decision::Deploy,
            environment: Some("qa".into()),
            reason: "1 service to deploy to qa".into(),
            digest: "d".into(),
            ledger: Some("a".into()),
            offline: false,
            evaluated_at: None,
            now_from_flag: false,
            freeze: None,
            tickets: Vec::new(),
            push: PushSummary {
                branch: Some("qa".into()),
                base: Some("a".into()),
                head: Some("b".into()),
                kind: PushKind::Update,
                ci: CiSystem::Jenkins,
                event: "push".into(),
                commits: 1,
                base_source: None,
                actor: Some("alice".into()),
                run_url: Some("https://ci/1".into()),
            },
            checks: Vec::new(),
            changes: Vec::new(),
            stages: vec![
                Stage {
                    id: "notify-start".into(),
                    service: None,
                    version: None,
                    action: None,
                    jenkins_job: None,
                    parameters: Parameters::default(),
                },
                Stage {
                    id: "deploy".into(),
                    service: Some("api".into()),
                    version: Some("1.4.3".into()),
                    action: Some("deploy".into()),
                    jenkins_job: None,
                    parameters: Parameters::shared(vec![("VERSION", "1.4.3".into())]),
                },
            ],
        }
    }

    #[test]
    fn the_same_plan_passes_and_who_ran_it_is_not_compared() {
        let mut other = plan();
        other.push.actor = Some("bob".into());
        other.push.run_url = None;
        assert_eq!(
            verify_saved_plan(&plan(), &other).map_err(|f| f.message),
            Ok(())
        );
    }

    #[test]
    fn each_differing_field_is_named_with_both_values() {
        let mut file = plan();
        file.stages[1].parameters.insert("VERSION", "6.6.6");
        file.stages[1].version = Some("6.6.6".into());
        file.offline = true;
        let err = verify_saved_plan(&file, &plan()).unwrap_err();
        assert_eq!(err.exit, crate::error::Exit::Superseded);
        let m = err.message;
        assert!(m.contains("(3 fields differ)"), "{m}");
        assert!(
            m.contains("\n  stages[1].version: file says \"6.6.6\", Git says \"1.4.3\""),
            "{m}"
        );
        assert!(
            m.contains("\n  stages[1].parameters.VERSION: file says \"6.6.6\", Git says \"1.4.3\""),
            "{m}"
        );
        assert!(
            m.contains("\n  offline: file says true, Git says nothing"),
            "{m}"
        );
        assert_eq!(err.hint.as_deref(), Some(HINT));
    }

    #[test]
    fn extra_stages_and_hostile_keys_stay_on_one_line_each() {
        let mut file = plan();
        file.stages[1]
            .parameters
            .insert("X\n::error::pwned", "v\n::error::pwned");
        file.stages.push(file.stages[0].clone());
        let d = differences(&file, &plan());
        assert_eq!(d.len(), 2, "{d:?}");
        assert!(
            d[0].starts_with("stages[1].parameters[\"X\\n::error::pwned\"]: file says \"v\\n"),
            "{d:?}"
        );
        assert!(d[1].starts_with("stages[2]: file says {"), "{d:?}");
        assert!(d[1].ends_with("Git says nothing"), "{d:?}");
        assert!(d.iter().all(|l| !l.contains('\n')));
    }

    #[test]
    fn a_long_list_is_cut_and_counted() {
        let mut file = plan();
        for i in 0..30 {
            file.stages[1].parameters.insert(format!("P{i:02}"), "x");
        }
        let m = verify_saved_plan(&file, &plan()).unwrap_err().message;
        assert!(m.contains("(30 fields differ)"), "{m}");
        assert!(m.ends_with("\n  ... and 10 more"), "{m}");
    }
}
