//! Renderers of a plan: JSON for machines, Markdown for people, flat parameters for Jenkins.
use super::{Decision, Plan};
use crate::gate::Verdict;
use std::fmt::Write;

pub fn json(plan: &Plan) -> String {
    let mut out = Vec::new();
    // A plan is plain data and a Vec never refuses a write: this cannot fail.
    let _ = json_to(plan, &mut out);
    String::from_utf8(out).unwrap_or_default()
}

/// `json`, streamed: a plan for thousands of services is megabytes, never held whole.
pub fn json_to(plan: &Plan, mut w: impl std::io::Write) -> std::io::Result<()> {
    serde_json::to_writer_pretty(&mut w, plan)?;
    w.write_all(b"\n")
}

/// Makes untrusted text safe inside a Markdown table cell: no HTML, no cell breaks.
pub fn md(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '|' => out.push_str("\\|"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '`' => out.push('\''),
            '\n' | '\r' => out.push(' '),
            '[' => out.push_str("\\["),
            ']' => out.push_str("\\]"),
            '*' | '_' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

fn short(s: &str) -> &str {
    &s[..s.len().min(7)]
}

fn verdict_mark(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "pass",
        Verdict::Skip => "skip",
        Verdict::Warn => "**warn**",
        Verdict::Fail => "**FAIL**",
    }
}

pub fn markdown(plan: &Plan) -> String {
    let mut o = String::new();
    let env = plan.environment.as_deref().unwrap_or("(no environment)");
    let _ = writeln!(
        o,
        "## gitops-gate: {} {}\n",
        plan.decision.as_str(),
        md(env)
    );
    let _ = writeln!(
        o,
        "**Decision: {}** — {}\n",
        plan.decision.as_str(),
        md(&plan.reason)
    );
    if plan.offline {
        let _ = writeln!(
            o,
            "**Offline run: checks that need JIRA or GitHub were not made.**\n"
        );
    }
    let p = &plan.push;
    let range = match (&p.base, &p.head) {
        (Some(b), Some(h)) => format!("`{}..{}`", short(b), short(h)),
        (None, Some(h)) => format!("up to `{}`", short(h)),
        _ => "no commits".into(),
    };
    let commits = match p.commits {
        0 => "no commits".to_string(),
        1 => "1 commit".to_string(),
        n => format!("{n} commits"),
    };
    let _ = writeln!(
        o,
        "Push: branch `{}`, {range}, {commits}, {:?} via {}.\n",
        md(p.branch.as_deref().unwrap_or("-")),
        p.kind,
        p.ci.name()
    );
    if !plan.changes.is_empty() {
        let _ = writeln!(
            o,
            "### Services\n\n| Service | From | To | Risk |\n| --- | --- | --- | --- |"
        );
        for c in &plan.changes {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {:?} |",
                md(&c.service),
                md(c.from.as_deref().unwrap_or("—")),
                md(c.to_label()),
                c.risk
            );
        }
        o.push('\n');
    }
    let _ = writeln!(
        o,
        "### Checks\n\n| Rule | Verdict | Detail |\n| --- | --- | --- |"
    );
    for c in &plan.checks {
        let _ = writeln!(
            o,
            "| {} | {} | {} |",
            c.rule,
            verdict_mark(c.verdict),
            md(&c.detail)
        );
    }
    let failing: Vec<_> = plan.failing().collect();
    if !failing.is_empty() {
        let _ = writeln!(o, "\n### Why it was rejected\n");
        for c in failing {
            let _ = write!(o, "- **{}**: {}", c.rule, md(&c.detail));
            let mut ev = Vec::new();
            if let Some(f) = &c.file {
                ev.push(format!(
                    "file `{}{}`",
                    md(f),
                    c.line.map(|l| format!(":{l}")).unwrap_or_default()
                ));
            }
            if let Some(f) = &c.field {
                ev.push(format!("field `{}`", md(f)));
            }
            if let Some(v) = &c.old {
                ev.push(format!("old {}", md(v)));
            }
            if let Some(v) = &c.value {
                let label = if c.old.is_some() { "new" } else { "value" };
                ev.push(format!("{label} {}", md(v)));
            }
            if let Some(l) = &c.limit {
                ev.push(format!("limit {}", md(l)));
            }
            if let Some(cm) = &c.commit {
                ev.push(format!("commit `{}`", short(cm)));
            }
            if !ev.is_empty() {
                let _ = write!(o, " ({})", ev.join(", "));
            }
            if let Some(h) = &c.hint {
                let _ = write!(o, "\n  - hint: {}", md(h));
            }
            o.push('\n');
        }
    }
    if plan.decision == Decision::Deploy {
        let _ = writeln!(o, "\n### Stages\n");
        for (i, s) in plan.stages.iter().enumerate() {
            let what = match (&s.service, &s.version) {
                (Some(sv), Some(v)) => format!(" `{}` {}", md(sv), md(v)),
                (Some(sv), None) => format!(" `{}`", md(sv)),
                _ => String::new(),
            };
            let action = match s.action.as_deref() {
                Some("remove") => " (remove)",
                _ => "",
            };
            let _ = writeln!(o, "{}. {}{what}{action}", i + 1, s.id);
        }
    }
    let _ = writeln!(o, "\n<sub>plan digest `{}`</sub>", short(&plan.digest));
    o
}

/// `jenkins.json`: what a Jenkinsfile needs to run each stage through the generic pipelines.
pub fn jenkins_json(plan: &Plan) -> String {
    let mut out = Vec::new();
    let _ = jenkins_json_to(plan, &mut out);
    String::from_utf8(out).unwrap_or_default()
}

pub fn jenkins_json_to(plan: &Plan, mut w: impl std::io::Write) -> std::io::Result<()> {
    #[derive(serde::Serialize)]
    struct Stage<'a> {
        id: &'a str,
        service: Option<&'a str>,
        version: Option<&'a str>,
        job: Option<&'a str>,
        parameters: &'a super::Parameters,
    }
    #[derive(serde::Serialize)]
    struct Handoff<'a> {
        schema: u32,
        decision: Decision,
        environment: Option<&'a str>,
        digest: &'a str,
        base: Option<&'a str>,
        head: Option<&'a str>,
        services: Vec<&'a str>,
        stages: Vec<Stage<'a>>,
    }
    let v = Handoff {
        schema: super::SCHEMA,
        decision: plan.decision,
        environment: plan.environment.as_deref(),
        digest: &plan.digest,
        base: plan.push.base.as_deref(),
        head: plan.push.head.as_deref(),
        services: plan.services(),
        stages: plan
            .stages
            .iter()
            .map(|s| Stage {
                id: s.id.as_str(),
                service: s.service.as_deref(),
                version: s.version.as_deref(),
                job: s.jenkins_job.as_deref(),
                parameters: &s.parameters,
            })
            .collect(),
    };
    serde_json::to_writer_pretty(&mut w, &v)?;
    w.write_all(b"\n")
}

/// Escapes a value for a Java `.properties` file (what `readProperties` parses).
pub fn properties_value(v: &str) -> String {
    let mut out = String::new();
    push_properties_value(&mut out, v);
    out
}

fn push_properties_value(out: &mut String, v: &str) {
    let plain =
        |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '/' | ',' | '@' | '+');
    if v.chars().all(plain) {
        out.push_str(v);
        return;
    }
    for (i, c) in v.chars().enumerate() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '=' => out.push_str("\\="),
            ':' => out.push_str("\\:"),
            '#' | '!' if i == 0 => {
                out.push('\\');
                out.push(c);
            }
            ' ' if i == 0 => out.push_str("\\ "),
            c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                let mut buf = [0u16; 2];
                for u in c.encode_utf16(&mut buf) {
                    out.push_str(&format!("\\u{u:04x}"));
                }
            }
            c => out.push(c),
        }
    }
}

/// `jenkins.properties`: the same, flat, for `readProperties`.
pub fn jenkins_properties(plan: &Plan) -> String {
    let mut out = Vec::new();
    let _ = jenkins_properties_to(plan, &mut out);
    String::from_utf8(out).unwrap_or_default()
}

pub fn jenkins_properties_to(plan: &Plan, mut w: impl std::io::Write) -> std::io::Result<()> {
    w.write_all(b"# gitops-gate plan parameters (schema 1)\n")?;
    // One line buffer, and the key in two parts, so thousands of stage keys allocate nothing.
    let mut line = String::new();
    let mut put = |prefix: &str, k: &str, v: &str| {
        line.clear();
        line.push_str(prefix);
        line.push_str(k);
        line.push('=');
        push_properties_value(&mut line, v);
        line.push('\n');
        w.write_all(line.as_bytes())
    };
    put("GITOPS_DECISION", "", plan.decision.as_str())?;
    put(
        "GITOPS_ENVIRONMENT",
        "",
        plan.environment.as_deref().unwrap_or(""),
    )?;
    put("GITOPS_DIGEST", "", &plan.digest)?;
    put("GITOPS_BASE", "", plan.push.base.as_deref().unwrap_or(""))?;
    put("GITOPS_HEAD", "", plan.push.head.as_deref().unwrap_or(""))?;
    put("GITOPS_SERVICES", "", &plan.services().join(","))?;
    put("GITOPS_STAGES", "", &plan.stages.len().to_string())?;
    for (i, s) in plan.stages.iter().enumerate() {
        let prefix = format!("GITOPS_STAGE_{}_", i + 1);
        put(&prefix, "ID", s.id.as_str())?;
        put(&prefix, "JOB", s.jenkins_job.as_deref().unwrap_or(""))?;
        for (k, v) in &s.parameters {
            put(&prefix, k, v)?;
        }
    }
    Ok(())
}

/// The plain-text summary printed on stdout for people at a terminal or in a CI log.
pub fn text(plan: &Plan) -> String {
    let mut o = String::new();
    let env = plan.environment.as_deref().unwrap_or("(no environment)");
    let _ = writeln!(
        o,
        "gitops-gate: {} {env}: {}",
        plan.decision.as_str().to_uppercase(),
        plan.reason
    );
    if plan.offline {
        let _ = writeln!(
            o,
            "  OFFLINE: checks that need JIRA or GitHub were not made"
        );
    }
    for c in &plan.checks {
        let v = match c.verdict {
            Verdict::Pass => "pass",
            Verdict::Skip => "skip",
            Verdict::Warn => "WARN",
            Verdict::Fail => "FAIL",
        };
        let _ = writeln!(o, "  {v:<4}  {:<12} {}", c.rule, c.detail);
        if c.verdict == Verdict::Fail {
            let mut ev = Vec::new();
            if let Some(f) = &c.file {
                ev.push(format!(
                    "{f}{}",
                    c.line.map(|l| format!(":{l}")).unwrap_or_default()
                ));
            }
            if let Some(f) = &c.field {
                ev.push(format!("field {f}"));
            }
            if let Some(v) = &c.old {
                ev.push(format!("old {v}"));
            }
            if let Some(v) = &c.value {
                let label = if c.old.is_some() { "new" } else { "value" };
                ev.push(format!("{label} {v}"));
            }
            if let Some(l) = &c.limit {
                ev.push(format!("limit {l}"));
            }
            if !ev.is_empty() {
                let _ = writeln!(o, "                     at {}", ev.join(", "));
            }
        }
        if c.verdict >= Verdict::Warn {
            if let Some(h) = &c.hint {
                let _ = writeln!(o, "                     hint: {h}");
            }
        }
    }
    for c in &plan.changes {
        let _ = writeln!(
            o,
            "  {} {} {} -> {} ({:?})",
            match c.kind {
                crate::diff::ChangeKind::Added => '+',
                crate::diff::ChangeKind::Removed => '-',
                crate::diff::ChangeKind::Changed => '~',
            },
            c.service,
            c.from.as_deref().unwrap_or("none"),
            c.to_label(),
            c.risk
        );
    }
    if !plan.stages.is_empty() {
        let names: Vec<String> = plan
            .stages
            .iter()
            .map(|s| match &s.service {
                Some(sv) => format!("{} {sv}", s.id),
                None => s.id.to_string(),
            })
            .collect();
        let _ = writeln!(o, "  stages: {}", names.join(" -> "));
    }
    o
}
