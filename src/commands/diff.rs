//! `gitops-gate diff`: what the push would change, deployed -> requested, in a
//! terraform-plan-like view (`+` added, `-` removed, `~` changed), with the YAML text diff of
//! each changed descriptor and the Terraform plans judged with it. Exit 0 when no `fail` rule
//! tripped, 1 when one did, 2 on bad input.
use crate::ci::Env;
use crate::cli::{DiffArgs, Format};
use crate::diff::terraform::{Action, PlanFile};
use crate::diff::{ChangeKind, Risk, ServiceChange};
use crate::error::{Exit, Failure};
use crate::evaluate::{self, Evaluation, FileChange};
use crate::gate::{Check, Verdict};
use serde::Serialize;
use std::fmt::Write;
use std::io::IsTerminal;

pub fn run(a: &DiffArgs, env: &Env) -> anyhow::Result<Exit> {
    let req = evaluate::Request {
        texts: true,
        ..super::request(&a.common, env)?
    };
    let ev = evaluate::evaluate(&req)?;
    let view = View::of(&ev, &a.service);
    match a.format {
        Format::Json => {
            let mut s = serde_json::to_string_pretty(&view.json())
                .map_err(|e| Failure::invalid(format!("cannot render JSON: {e}")))?;
            s.push('\n');
            crate::out!("{s}");
        }
        Format::Text => {
            let colour = std::io::stdout().is_terminal() && env.get("NO_COLOR").is_none();
            crate::out!("{}", view.text(colour));
        }
    }
    Ok(if view.checks.iter().any(|c| c.verdict == Verdict::Fail) {
        Exit::Rejected
    } else {
        Exit::Ok
    })
}

/// The evaluation, narrowed to the services asked for.
pub struct View<'a> {
    pub environment: Option<&'a str>,
    pub base: Option<&'a str>,
    pub head: Option<&'a str>,
    pub changes: Vec<&'a ServiceChange>,
    pub files: Vec<&'a FileChange>,
    pub terraform: &'a [PlanFile],
    /// The warn and fail checks (the passing ones are in `plan`).
    pub checks: Vec<&'a Check>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub change: usize,
    pub add: usize,
    pub remove: usize,
    pub destructive: usize,
}

impl Counts {
    pub fn line(&self) -> String {
        format!(
            "{} to change, {} to add, {} to remove, {} destructive",
            self.change, self.add, self.remove, self.destructive
        )
    }
}

impl<'a> View<'a> {
    pub fn of(ev: &'a Evaluation, services: &[String]) -> View<'a> {
        let wanted = |s: &str| services.is_empty() || services.iter().any(|w| w == s);
        let p = &ev.plan;
        View {
            environment: p.environment.as_deref(),
            base: p.push.base.as_deref(),
            head: p.push.head.as_deref(),
            changes: p.changes.iter().filter(|c| wanted(&c.service)).collect(),
            files: ev
                .files
                .iter()
                .filter(|f| wanted(&f.service) && f.old != f.new)
                .collect(),
            terraform: &ev.terraform,
            checks: p
                .checks
                .iter()
                .filter(|c| c.verdict >= Verdict::Warn)
                .filter(|c| {
                    // A service filter narrows the service checks; the others always show.
                    services.is_empty()
                        || match c.file.as_deref().and_then(service_of_file) {
                            Some(s) => wanted(s),
                            None => true,
                        }
                })
                .collect(),
        }
    }

    pub fn counts(&self) -> Counts {
        let mut n = Counts::default();
        for c in &self.changes {
            match c.kind {
                ChangeKind::Added => n.add += 1,
                ChangeKind::Changed => n.change += 1,
                ChangeKind::Removed => n.remove += 1,
            }
            if c.risk == Risk::Destructive {
                n.destructive += 1;
            }
        }
        n
    }

    pub fn text(&self, colour: bool) -> String {
        let paint = |code: &str, s: &str| {
            if colour {
                format!("\x1b[{code}m{s}\x1b[0m")
            } else {
                s.to_string()
            }
        };
        let mut o = String::new();
        let range = match (self.base, self.head) {
            (Some(b), Some(h)) => format!("{}..{}", short(b), short(h)),
            (None, Some(h)) => format!("(nothing deployed)..{}", short(h)),
            _ => "(no range)".into(),
        };
        let _ = writeln!(
            o,
            "gitops-gate diff: {} {range} (deployed -> requested)\n",
            clean(self.environment.unwrap_or("(no environment)"))
        );
        if self.changes.is_empty() {
            let _ = writeln!(o, "No service changes.\n");
        }
        for c in &self.changes {
            let (sym, code) = match c.kind {
                ChangeKind::Added => ("+", "32"),
                ChangeKind::Removed => ("-", "31"),
                ChangeKind::Changed => ("~", "33"),
            };
            let versions = match (&c.from, &c.to) {
                (Some(f), Some(t)) if f != t => format!("{} -> {}", clean(f), clean(t)),
                (Some(f), Some(_)) => clean(f),
                (None, Some(t)) => format!("(new) {}", clean(t)),
                (Some(f), None) if c.kind == ChangeKind::Removed => {
                    format!("{} -> (removed)", clean(f))
                }
                (Some(f), None) => format!("{} -> (unreadable)", clean(f)),
                (None, None) => "(unreadable)".into(),
            };
            let risk = match c.risk {
                Risk::Safe => paint("32", "safe"),
                Risk::Warn => paint("33", "warn"),
                Risk::Destructive => paint("1;31", "destructive"),
            };
            let _ = writeln!(
                o,
                "{} {}  {versions}  [{risk}]",
                paint(code, sym),
                paint("1", &clean(&c.service))
            );
            for f in &c.fields {
                let sym = match (&f.old, &f.new) {
                    (None, Some(_)) => "+",
                    (Some(_), None) => "-",
                    _ => "~",
                };
                let value = match (&f.old, &f.new) {
                    (Some(a), Some(b)) => format!("{} -> {}", clean(a), clean(b)),
                    (None, Some(b)) => clean(b),
                    (Some(a), None) => clean(a),
                    (None, None) => String::new(),
                };
                let why = f
                    .why
                    .as_deref()
                    .map(|w| format!("  # {}", clean(w)))
                    .unwrap_or_default();
                let _ = writeln!(o, "    {sym} {}: {value}{why}", clean(&f.path));
            }
            o.push('\n');
        }
        for f in &self.files {
            let old = f.old.as_deref().map(clean).unwrap_or_default();
            let new = f.new.as_deref().map(clean).unwrap_or_default();
            let path = clean(&f.path);
            let text = similar::TextDiff::from_lines(&old, &new)
                .unified_diff()
                .context_radius(3)
                .header(
                    &format!("{path} (deployed)"),
                    &format!("{path} (requested)"),
                )
                .to_string();
            for line in text.lines() {
                let code = if line.starts_with("+++") || line.starts_with("---") {
                    "1"
                } else if line.starts_with('+') {
                    "32"
                } else if line.starts_with('-') {
                    "31"
                } else if line.starts_with("@@") {
                    "36"
                } else {
                    ""
                };
                if code.is_empty() {
                    let _ = writeln!(o, "{line}");
                } else {
                    let _ = writeln!(o, "{}", paint(code, line));
                }
            }
            o.push('\n');
        }
        for t in self.terraform {
            match &t.plan {
                Err(e) => {
                    let _ = writeln!(
                        o,
                        "Terraform {}: unreadable: {}\n",
                        clean(&t.source),
                        clean(&e.to_string())
                    );
                }
                Ok(p) => {
                    let _ = writeln!(o, "Terraform {}: {}", clean(&t.source), p.summary());
                    for rc in p
                        .changes
                        .iter()
                        .filter(|c| !matches!(c.action, Action::NoOp | Action::Read))
                    {
                        let code = match rc.action {
                            Action::Create => "32",
                            Action::Delete | Action::Replace => "31",
                            _ => "33",
                        };
                        let _ = writeln!(
                            o,
                            "  {} {} [{}]",
                            paint(code, rc.action.symbol()),
                            clean(&rc.address),
                            clean(&rc.actions.join(", "))
                        );
                    }
                    o.push('\n');
                }
            }
        }
        if !self.checks.is_empty() {
            let _ = writeln!(o, "Checks:");
            for c in &self.checks {
                let v = match c.verdict {
                    Verdict::Fail => paint("1;31", "FAIL"),
                    _ => paint("33", "warn"),
                };
                let _ = write!(o, "  {v} {}: {}", c.rule, clean(&c.detail));
                let mut ev = Vec::new();
                if let Some(f) = &c.field {
                    ev.push(format!("field {}", clean(f)));
                }
                if let Some(x) = &c.old {
                    ev.push(format!("old {}", clean(x)));
                }
                if let Some(x) = &c.value {
                    ev.push(format!("new {}", clean(x)));
                }
                if let Some(x) = &c.limit {
                    ev.push(format!("limit {}", clean(x)));
                }
                if !ev.is_empty() {
                    let _ = write!(o, " ({})", ev.join(", "));
                }
                o.push('\n');
            }
            o.push('\n');
        }
        let _ = writeln!(o, "Summary: {}", self.counts().line());
        o
    }

    pub fn json(&self) -> serde_json::Value {
        let texts: Vec<serde_json::Value> = self
            .files
            .iter()
            .map(|f| {
                let old = f.old.as_deref().unwrap_or("");
                let new = f.new.as_deref().unwrap_or("");
                serde_json::json!({
                    "service": f.service,
                    "path": f.path,
                    "diff": similar::TextDiff::from_lines(old, new)
                        .unified_diff()
                        .header(&f.path, &f.path)
                        .to_string(),
                })
            })
            .collect();
        let terraform: Vec<serde_json::Value> = self
            .terraform
            .iter()
            .map(|t| match &t.plan {
                Ok(p) => serde_json::json!({
                    "source": t.source,
                    "format_version": p.format_version,
                    "summary": p.summary(),
                    "resources": p.changes.iter().map(|c| serde_json::json!({
                        "address": c.address, "actions": c.actions,
                    })).collect::<Vec<_>>(),
                }),
                Err(e) => serde_json::json!({ "source": t.source, "error": e.to_string() }),
            })
            .collect();
        let counts = self.counts();
        serde_json::json!({
            "environment": self.environment,
            "base": self.base,
            "head": self.head,
            "summary": counts,
            "summary_line": counts.line(),
            "changes": self.changes,
            "text_diffs": texts,
            "terraform": terraform,
            "checks": self.checks,
        })
    }
}

fn short(s: &str) -> &str {
    &s[..s.len().min(7)]
}

fn service_of_file(f: &str) -> Option<&str> {
    f.strip_prefix("services/")?.strip_suffix(".yaml")
}

/// Descriptor text is untrusted: drop control characters (terminal escapes) before it
/// reaches a terminal; keep newlines and tabs.
fn clean(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_control() || *c == '\n' || *c == '\t')
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_line_and_escapes_are_dropped() {
        let c = Counts {
            change: 2,
            add: 1,
            remove: 1,
            destructive: 1,
        };
        assert_eq!(
            c.line(),
            "2 to change, 1 to add, 1 to remove, 1 destructive"
        );
        assert_eq!(clean("a\x1b[31mb\nc"), "a[31mb\nc");
        assert_eq!(service_of_file("services/api.yaml"), Some("api"));
    }
}
