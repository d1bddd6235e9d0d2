//! `gitops-gate report`: deployment metrics from run records and branch history.
use crate::cli::{ReportArgs, ReportFormat};
use crate::error::{Exit, Failure};
use crate::output;
use crate::repo::Repo;
use crate::report::{self, render};
use chrono::{DateTime, Utc};

pub fn run(a: &ReportArgs) -> anyhow::Result<Exit> {
    let repo = Repo::open(&a.repo)?;
    let until = match &a.until {
        Some(u) => DateTime::parse_from_rfc3339(u)
            .map_err(|e| Failure::invalid(format!("--until {u}: {e}")))?
            .with_timezone(&Utc),
        None => Utc::now(),
    };
    let since =
        report::parse_since(&a.since, until).map_err(|e| Failure::invalid(e.to_string()))?;
    let r = report::build(&repo, a.env.as_deref(), since, until)?;
    if r.skipped_records > 0 {
        log::warn!(
            "{} note line(s) were not run records and were skipped",
            r.skipped_records
        );
    }
    let text = match a.format {
        ReportFormat::Text => render::text(&r),
        ReportFormat::Json => render::json(&r),
        ReportFormat::Markdown => render::markdown(&r),
        ReportFormat::Html => render::html(&r),
    };
    match &a.out {
        Some(p) => output::write_atomic(p, text.as_bytes())?,
        None => crate::out!("{text}"),
    }
    Ok(Exit::Ok)
}
