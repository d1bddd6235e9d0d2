//! Deployment metrics from run records (Git notes) and the environment branches' history.
//!
//! Definitions (also in `gitops-gate report --help` and docs/report.md), over the runs whose
//! `finished` lies in the window [since, until]:
//! - deployment frequency: succeeded runs / days in the window (and x 7 per week);
//! - lead time for changes: for each succeeded run, `finished` minus the author time of the
//!   oldest commit in `base..head` (all of head when base is absent); median and p90
//!   (nearest rank);
//! - change failure rate: failed runs / all runs;
//! - time to restore: for each failed run that follows a succeeded run (or opens the
//!   window), the time from its `finished` to the `finished` of the next succeeded run of the
//!   same environment; median; failures not yet restored are counted as `unrestored`;
//! - blocked: plan records with `"decision":"reject"`, counted per failing rule.
pub mod render;

use crate::repo::Repo;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Deserialize)]
pub struct RunRecord {
    #[serde(default)]
    pub environment: String,
    #[serde(default)]
    pub head: String,
    #[serde(default)]
    pub base: Option<String>,
    pub finished: Option<DateTime<Utc>>,
    pub result: Option<String>,
    #[serde(default)]
    pub stages: Vec<StageRecord>,
    #[serde(default)]
    pub decision: Option<String>,
    #[serde(default)]
    pub checks: Vec<CheckRecord>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct StageRecord {
    #[serde(default)]
    pub service: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CheckRecord {
    #[serde(default)]
    pub rule: String,
    #[serde(default)]
    pub verdict: String,
}

/// Parses a note: one JSON object, or one per line. Unparsable lines are skipped and counted.
pub fn parse_note(text: &str) -> (Vec<RunRecord>, usize) {
    if let Ok(r) = serde_json::from_str::<RunRecord>(text) {
        return (vec![r], 0);
    }
    let mut out = Vec::new();
    let mut bad = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        match serde_json::from_str::<RunRecord>(line) {
            Ok(r) => out.push(r),
            Err(_) => bad += 1,
        }
    }
    (out, bad)
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Metrics {
    pub runs: usize,
    pub succeeded: usize,
    pub failed: usize,
    pub deploys_per_day: f64,
    pub deploys_per_week: f64,
    pub change_failure_rate: Option<f64>,
    pub lead_time_median_s: Option<i64>,
    pub lead_time_p90_s: Option<i64>,
    pub time_to_restore_median_s: Option<i64>,
    pub restores: usize,
    pub unrestored: usize,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Report {
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub environments: BTreeMap<String, Metrics>,
    pub services: BTreeMap<String, Metrics>,
    /// Rejected plans per rule.
    pub blocked: BTreeMap<String, usize>,
    /// Succeeded runs per ISO week (`2026-W48`) and environment, for the charts.
    pub weekly: BTreeMap<String, BTreeMap<String, (usize, usize)>>,
    pub ledger: BTreeMap<String, String>,
    pub skipped_records: usize,
}

struct Run {
    env: String,
    finished: DateTime<Utc>,
    ok: bool,
    lead: Option<i64>,
    services: Vec<String>,
}

fn nearest_rank(sorted: &[i64], p: f64) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[rank - 1])
}

fn metrics(runs: &[&Run], days: f64) -> Metrics {
    let mut m = Metrics {
        runs: runs.len(),
        succeeded: runs.iter().filter(|r| r.ok).count(),
        ..Metrics::default()
    };
    m.failed = m.runs - m.succeeded;
    m.deploys_per_day = m.succeeded as f64 / days;
    m.deploys_per_week = m.deploys_per_day * 7.0;
    m.change_failure_rate = (m.runs > 0).then(|| m.failed as f64 / m.runs as f64);
    let mut leads: Vec<i64> = runs
        .iter()
        .filter(|r| r.ok)
        .filter_map(|r| r.lead)
        .collect();
    leads.sort_unstable();
    m.lead_time_median_s = nearest_rank(&leads, 0.5);
    m.lead_time_p90_s = nearest_rank(&leads, 0.9);
    // Runs arrive sorted by finished; restores are per environment.
    let mut by_env: BTreeMap<&str, Vec<&Run>> = BTreeMap::new();
    for r in runs {
        by_env.entry(&r.env).or_default().push(r);
    }
    let mut restores = Vec::new();
    for list in by_env.values() {
        let mut open: Option<DateTime<Utc>> = None;
        for r in list {
            match (r.ok, open) {
                (false, None) => open = Some(r.finished),
                (true, Some(t)) => {
                    restores.push((r.finished - t).num_seconds());
                    open = None;
                }
                _ => {}
            }
        }
        if open.is_some() {
            m.unrestored += 1;
        }
    }
    restores.sort_unstable();
    m.restores = restores.len();
    m.time_to_restore_median_s = nearest_rank(&restores, 0.5);
    m
}

/// Builds the report for `env` (all environments when `None`).
pub fn build(
    repo: &Repo,
    env: Option<&str>,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
) -> anyhow::Result<Report> {
    let mut report = Report {
        since,
        until,
        ..Report::default()
    };
    let mut runs = Vec::new();
    for (_commit, text) in repo.notes(crate::repo::notes::NOTES_REF)? {
        let (records, bad) = parse_note(&text);
        report.skipped_records += bad;
        for r in records {
            if env.is_some_and(|e| e != r.environment) {
                continue;
            }
            if r.decision.as_deref() == Some("reject") {
                // A rule counts once per blocked run, however many checks it failed (one
                // row per committer identity, one per ticket).
                let mut rules: Vec<&str> = Vec::new();
                for c in r.checks.iter().filter(|c| c.verdict == "fail") {
                    if !rules.contains(&c.rule.as_str()) {
                        rules.push(&c.rule);
                        *report.blocked.entry(c.rule.clone()).or_default() += 1;
                    }
                }
                continue;
            }
            let (Some(finished), Some(result)) = (r.finished, r.result.as_deref()) else {
                report.skipped_records += 1;
                continue;
            };
            if finished < since || finished > until {
                continue;
            }
            let ok = result == "succeeded";
            // Author clocks can run ahead of the deploy: a change never takes negative time.
            let lead = if ok {
                lead_time(repo, &r, finished).map(|l| l.max(0))
            } else {
                None
            };
            let mut services: Vec<String> =
                r.stages.iter().filter_map(|s| s.service.clone()).collect();
            services.sort();
            services.dedup();
            runs.push(Run {
                env: r.environment.clone(),
                finished,
                ok,
                lead,
                services,
            });
        }
    }
    runs.sort_by_key(|r| r.finished);
    let days = ((until - since).num_seconds() as f64 / 86_400.0).max(1.0 / 24.0);
    let mut envs: BTreeMap<String, Vec<&Run>> = BTreeMap::new();
    let mut svcs: BTreeMap<String, Vec<&Run>> = BTreeMap::new();
    for r in &runs {
        envs.entry(r.env.clone()).or_default().push(r);
        for s in &r.services {
            svcs.entry(s.clone()).or_default().push(r);
        }
        let week = r.finished.format("%G-W%V").to_string();
        let cell = report
            .weekly
            .entry(week)
            .or_default()
            .entry(r.env.clone())
            .or_default();
        if r.ok {
            cell.0 += 1;
        } else {
            cell.1 += 1;
        }
    }
    report.environments = envs
        .iter()
        .map(|(k, v)| (k.clone(), metrics(v, days)))
        .collect();
    report.services = svcs
        .iter()
        .map(|(k, v)| (k.clone(), metrics(v, days)))
        .collect();
    for e in report.environments.keys().cloned().collect::<Vec<_>>() {
        if let Some(l) = repo.ledger(&e) {
            report.ledger.insert(e, l.to_string());
        }
    }
    Ok(report)
}

fn lead_time(repo: &Repo, r: &RunRecord, finished: DateTime<Utc>) -> Option<i64> {
    let head = repo.parse_oid(&r.head)?;
    let base = r.base.as_deref().and_then(|b| repo.parse_oid(b));
    let walk = repo.walk(base, head, 10_000).ok()?;
    let oldest = walk.commits.iter().map(|c| c.author.time).min()?;
    Some(finished.timestamp() - oldest)
}

/// A `--since` that is neither a duration nor a time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SinceError {
    #[error("`{0}` is not a duration (90d, 12w, 36h) or an RFC 3339 time")]
    NotADuration(String),
    #[error("`{0}`: valid units are h, d and w")]
    BadUnit(String),
}

/// `90d`, `12w`, `36h`, or an RFC 3339 time.
pub fn parse_since(s: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, SinceError> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    let (num, unit) = s.split_at(s.len().saturating_sub(1));
    let n: i64 = num
        .parse()
        .map_err(|_| SinceError::NotADuration(s.to_string()))?;
    let secs = match unit {
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return Err(SinceError::BadUnit(s.to_string())),
    };
    Ok(now - chrono::Duration::seconds(n * secs))
}
