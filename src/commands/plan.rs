//! `gitops-gate plan`: gate the push, write the plan files, print the summary.
use crate::ci::{CiOutputs, Env};
use crate::cli::{Format, PlanArgs, PlanFormat};
use crate::error::Exit;
use crate::evaluate;
use crate::gate::Verdict;
use crate::output;
use crate::plan::sarif::Location;
use crate::plan::{render, Plan};

pub fn run(a: &PlanArgs, env: &Env) -> anyhow::Result<Exit> {
    let outputs = CiOutputs::from_env(env);
    let out = a.common.out_dir(a.out.as_deref());
    let req = super::request(&a.common, env)?;
    let ev = match evaluate::evaluate(&req) {
        Ok(ev) => ev,
        Err(e) => {
            // Leave a plan that says why, for the CI step and whoever reads the artifacts.
            let (exit, hint) = crate::error::classify(&e);
            let push = evaluate::summary(&req.ctx);
            // The plan files are artifacts: the message is redacted as the edge redacts stderr.
            let message = req.secrets.redact(&e.to_string());
            let hint = hint.map(|h| req.secrets.redact(&h));
            let plan = crate::plan::refused(exit, &message, hint.as_deref(), push, req.env.clone());
            if let Err(w) = output::write_plan(&plan, &out, &outputs) {
                log::warn!("cannot write the refusal plan: {w:#}");
            }
            // The report a CI step uploads says why too (no repository to locate checks in).
            if let Err(w) = checks_report(&plan, a.format, &out, &[]) {
                log::warn!("cannot write the refusal report: {w:#}");
            }
            return Err(e);
        }
    };
    let started = std::time::Instant::now();
    // The summary is rendered while the plan files are written (for thousands of services
    // it is hundreds of kilobytes), and printed once they are.
    let (written, summary) = rayon::join(
        || output::write_plan(&ev.plan, &out, &outputs),
        || match a.format {
            PlanFormat::Text => summary(&ev.plan, Format::Text),
            PlanFormat::Json => summary(&ev.plan, Format::Json),
            PlanFormat::Sarif | PlanFormat::Junit => String::new(),
        },
    );
    let written = written?;
    let summary = match a.format {
        PlanFormat::Sarif | PlanFormat::Junit => {
            let located = locate(&ev.plan, &a.common.repo, &a.common.policy);
            checks_report(&ev.plan, a.format, &out, &located)?.unwrap_or_default()
        }
        PlanFormat::Text | PlanFormat::Json => summary,
    };
    log::debug!("timing: plan files written {:?}", started.elapsed());
    crate::out!("{summary}");
    if outputs.github_actions {
        annotate(&ev.plan);
    }
    log::info!("plan written to {}", written.plan_json.display());
    // The commit status `gitops-gate/<env>` (integrations.github.statuses).
    let status = match ev.policy.as_ref().and_then(|p| {
        crate::publish::Github::new(p, env, &outputs, &crate::ci::Secrets::from_env(env, &[]))
    }) {
        Some(g) => g.plan_status(&ev.plan),
        None => Ok(()),
    };
    let exit = crate::publish::merge(ev.plan.exit(), status)?;
    // The process ends here: freeing thousands of parsed descriptors one by one would cost
    // more than the rest of a large plan's output.
    std::mem::forget(ev);
    Ok(exit)
}

/// Prints `summary`, for `run`, which writes its plan files first.
pub fn print(plan: &Plan, format: Format, actions: bool) {
    crate::out!("{}", summary(plan, format));
    if actions {
        annotate(plan);
    }
}

/// The plan for the terminal. In GitHub Actions it is printed, like everything on stdout,
/// inside a stop-commands block (`output::Fence`).
pub fn summary(plan: &Plan, format: Format) -> String {
    let text = match format {
        Format::Json => render::json(plan),
        Format::Text => render::text(plan),
    };
    format!("{}\n", text.trim_end())
}

/// `--format sarif|junit`: the report, written to `out` (plan.sarif, junit.xml) and returned
/// for stdout; `None` for the other formats.
fn checks_report(
    plan: &Plan,
    format: PlanFormat,
    out: &std::path::Path,
    located: &[Option<Location>],
) -> anyhow::Result<Option<String>> {
    let (file, text) = match format {
        PlanFormat::Sarif => (
            "plan.sarif",
            format!("{:#}\n", crate::plan::sarif::sarif(plan, located)),
        ),
        PlanFormat::Junit => {
            // The failure texts name the same file and line as SARIF's locations.
            let mut p = plan.clone();
            for (c, l) in p.checks.iter_mut().zip(located) {
                if let Some(l) = l {
                    c.file.get_or_insert_with(|| l.uri.clone());
                    if c.line.is_none() {
                        c.line = l.line;
                    }
                }
            }
            ("junit.xml", crate::plan::junit::junit(&p))
        }
        PlanFormat::Text | PlanFormat::Json => return Ok(None),
    };
    output::write_atomic(&out.join(file), text.as_bytes())?;
    log::info!("{} written to {}", file, out.join(file).display());
    Ok(Some(text))
}

/// Where each failing or warning check points, for SARIF: its file (as the head has it) and
/// the line of its field; a check that names no file points at its rule's key in the policy
/// (`environments.<env>.gates.<rule>`, else `gates.<rule>`). Unreadable files leave the line
/// out, never the result.
fn locate(plan: &Plan, repo: &std::path::Path, policy: &str) -> Vec<Option<Location>> {
    use crate::plan::sarif::repo_path;
    let repo = crate::repo::Repo::open(repo).ok();
    let head = repo
        .as_ref()
        .zip(plan.push.head.as_deref())
        .and_then(|(r, h)| r.resolve(h).ok());
    let mut texts: std::collections::HashMap<String, Option<String>> = Default::default();
    let mut read = |path: &str| -> Option<String> {
        texts
            .entry(path.to_string())
            .or_insert_with(|| {
                let bytes = repo.as_ref()?.read_path(head?, path).ok()??;
                String::from_utf8(bytes).ok()
            })
            .clone()
    };
    plan.checks
        .iter()
        .map(|c| {
            if c.verdict < Verdict::Warn {
                return None;
            }
            Some(match &c.file {
                Some(f) => {
                    let uri = repo_path(f).to_string();
                    let line = c.line.or_else(|| {
                        let field = c.field.as_deref()?;
                        crate::config::line_of(&read(&uri)?, field)
                    });
                    Location { uri, line }
                }
                None => {
                    let key = c.rule.as_str().replace('-', "_");
                    // `line_of` answers the deepest key it found; only the rule's own counts.
                    let at = |t: &str, path: String| {
                        crate::config::line_of(t, &path).filter(|n| {
                            t.lines()
                                .nth(n - 1)
                                .is_some_and(|l| l.contains(&format!("{key}:")))
                        })
                    };
                    let line = read(policy).and_then(|t| {
                        plan.environment
                            .as_deref()
                            .and_then(|e| at(&t, format!("environments.{e}.gates.{key}")))
                            .or_else(|| at(&t, format!("gates.{key}")))
                    });
                    Location {
                        uri: policy.to_string(),
                        line,
                    }
                }
            })
        })
        .collect()
}

/// One workflow annotation: level (`error`, `warning`), properties, message (unescaped).
pub type Annotation = (&'static str, Vec<(&'static str, String)>, String);

/// GitHub shows at most 10 error annotations per step, so each rule gets one: its worst
/// check (the first of them), with how many more the plan holds. A JIRA failure is then
/// never hidden behind rows of committers.
pub fn annotations(plan: &Plan) -> Vec<Annotation> {
    let mut rules: Vec<crate::gate::Rule> = Vec::new();
    for c in &plan.checks {
        if !rules.contains(&c.rule) {
            rules.push(c.rule);
        }
    }
    let mut out = Vec::new();
    for rule in rules {
        let of_rule = || plan.checks.iter().filter(move |c| c.rule == rule);
        let Some(worst) = of_rule().map(|c| c.verdict).max() else {
            continue;
        };
        if worst < Verdict::Warn {
            continue;
        }
        let mut worst_checks = of_rule().filter(|c| c.verdict == worst);
        let Some(c) = worst_checks.next() else {
            continue;
        };
        let more = worst_checks.count();
        let level = if worst == Verdict::Fail {
            "error"
        } else {
            "warning"
        };
        let mut props = vec![("title", format!("gitops-gate {}", c.rule))];
        if let Some(f) = &c.file {
            props.push(("file", f.clone()));
        }
        if let Some(l) = c.line {
            props.push(("line", l.to_string()));
        }
        let mut message = c.detail.clone();
        if more > 0 {
            message.push_str(&format!(" (and {more} more in the plan)"));
        }
        out.push((level, props, message));
    }
    out
}

/// Emits `annotations` as workflow commands, outside the stdout block, escaped.
pub fn annotate(plan: &Plan) {
    for (level, props, message) in annotations(plan) {
        output::annotate(level, &props, &message);
    }
}
