//! `gitops-gate plan`: gate the push, write the plan files, print the summary.
use crate::ci::{CiOutputs, Env};
use crate::cli::{Format, PlanArgs};
use crate::error::Exit;
use crate::evaluate;
use crate::gate::Verdict;
use crate::output;
use crate::plan::{render, Plan};

pub fn run(a: &PlanArgs, env: &Env) -> anyhow::Result<Exit> {
    let outputs = CiOutputs::from_env(env);
    let req = super::request(&a.common, env)?;
    let ev = match evaluate::evaluate(&req) {
        Ok(ev) => ev,
        Err(e) => {
            // Leave a plan that says why, for the CI step and whoever reads the artifacts.
            let (exit, hint) = crate::error::classify(&e);
            let push = evaluate::summary(&req.ctx);
            let plan =
                crate::plan::refused(exit, &e.to_string(), hint.as_deref(), push, req.env.clone());
            if let Err(w) = output::write_plan(&plan, &a.out, &outputs) {
                log::warn!("cannot write the refusal plan: {w:#}");
            }
            return Err(e);
        }
    };
    let started = std::time::Instant::now();
    // The summary is rendered while the plan files are written (for thousands of services
    // it is hundreds of kilobytes), and printed once they are.
    let (written, summary) = rayon::join(
        || output::write_plan(&ev.plan, &a.out, &outputs),
        || summary(&ev.plan, a.common.format, outputs.github_actions),
    );
    let written = written?;
    log::debug!("timing: plan files written {:?}", started.elapsed());
    crate::out!("{summary}");
    log::info!("plan written to {}", written.plan_json.display());
    let exit = ev.plan.exit();
    // The process ends here: freeing thousands of parsed descriptors one by one would cost
    // more than the rest of a large plan's output.
    std::mem::forget(ev);
    Ok(exit)
}

/// Prints `summary`, for `run`, which writes its plan files first.
pub fn print(plan: &Plan, format: Format, actions: bool) {
    crate::out!("{}", summary(plan, format, actions));
}

/// The plan for the terminal; in GitHub Actions the untrusted text is fenced off from the
/// workflow-command parser, and each failing check becomes an escaped error annotation.
pub fn summary(plan: &Plan, format: Format, actions: bool) -> String {
    use std::fmt::Write as _;
    let mut out = match format {
        Format::Json => output::inert(render::json(plan).trim_end(), actions),
        Format::Text => output::inert(render::text(plan).trim_end(), actions),
    };
    if !actions {
        return out;
    }
    for c in plan.checks.iter().filter(|c| c.verdict >= Verdict::Warn) {
        let level = if c.verdict == Verdict::Fail {
            "error"
        } else {
            "warning"
        };
        let mut props = vec![format!(
            "title={}",
            output::escape_property(&format!("gitops-gate {}", c.rule))
        )];
        if let Some(f) = &c.file {
            props.push(format!("file={}", output::escape_property(f)));
        }
        if let Some(l) = c.line {
            props.push(format!("line={l}"));
        }
        let _ = writeln!(
            out,
            "::{level} {}::{}",
            props.join(","),
            output::escape_data(&c.detail)
        );
    }
    out
}
