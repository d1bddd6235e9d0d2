//! `gitops-gate status`: per environment, what runs there (the ledger's commit and versions),
//! the last run and its outcome, any deploy claim, and what waits on the branch undeployed,
//! as `argocd app get` shows an application. Read from Git alone (the ledger refs, the claim
//! refs and the run records), refreshed from origin first.
use crate::cli::{Format, StatusArgs};
use crate::config::{self, Policy};
use crate::model::CommitId;
use crate::repo::{notes::note_records, notes::NOTES_REF, remote, Repo};
use crate::run::claim::{claim_ref, ClaimRecord};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashSet};

/// How many waiting commits are listed by name.
const SHOWN: usize = 10;

pub fn run(a: &StatusArgs) -> anyhow::Result<crate::error::Exit> {
    let repo = Repo::open(&a.repo)?;
    let mut warnings = Vec::new();
    if !a.no_fetch {
        match repo.fetch_ledgers() {
            Ok(()) | Err(remote::FetchError::NoRemote) | Err(remote::FetchError::Missing(_)) => {}
            Err(remote::FetchError::Unreachable(e)) => warnings.push(format!(
                "origin is unreachable ({e}): this is the local copy of the ledgers, which may be stale"
            )),
        }
        // The claims too: who holds an environment right now.
        let claims = format!("+{0}*:{0}*", crate::run::claim::CLAIM_PREFIX);
        let _ = remote::fetch(&repo.dir(), "origin", &[claims], false);
    }
    let policy = super::policy_for(&repo, a.env.as_deref())?;
    if let Some(e) = &a.env {
        policy.require_environment(e)?;
    }
    let clock = match &a.now {
        Some(v) => crate::clock::Clock::from_flag(v)
            .map_err(|e| crate::error::Failure::invalid(e.to_string()))?,
        None => crate::clock::Clock::system(),
    };
    let records = runs_by_environment(&repo)?;
    let mut envs = Vec::new();
    for (name, _) in policy.environments.iter() {
        if a.env.as_ref().is_some_and(|e| e != name) {
            continue;
        }
        envs.push(environment(
            &repo,
            &policy,
            name,
            records.get(name.as_str()),
            &clock,
        )?);
    }
    let doc = json!({ "environments": envs, "warnings": warnings });
    match a.format {
        Format::Json => crate::outln!("{}", serde_json::to_string_pretty(&doc)?),
        Format::Text => {
            for w in &warnings {
                crate::errln!("warning: {w}");
            }
            crate::out!("{}", text(&doc));
        }
    }
    Ok(crate::error::Exit::Ok)
}

/// Every run record, newest last, per environment.
fn runs_by_environment(repo: &Repo) -> anyhow::Result<BTreeMap<String, Vec<Value>>> {
    let mut out: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for (_, text) in repo.notes(NOTES_REF)? {
        for r in note_records(&text) {
            // Runs only: a rejected plan's record has no `started`.
            if r.get("started").is_none() {
                continue;
            }
            if let Some(e) = r.get("environment").and_then(Value::as_str) {
                out.entry(e.to_string()).or_default().push(r.clone());
            }
        }
    }
    for runs in out.values_mut() {
        runs.sort_by(|a, b| {
            let key = |v: &Value| {
                v.get("started")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string()
            };
            key(a).cmp(&key(b))
        });
    }
    Ok(out)
}

fn environment(
    repo: &Repo,
    policy: &Policy,
    name: &str,
    runs: Option<&Vec<Value>>,
    clock: &crate::clock::Clock,
) -> anyhow::Result<Value> {
    let env = policy.require_environment(name)?;
    let tip = repo.branch_tip(&env.branch);
    let ledger = repo.ledger(name);
    let commit = |c: CommitId| -> anyhow::Result<Value> {
        let info = repo.commit_info(c)?;
        Ok(json!({
            "commit": c.to_string(),
            "summary": info.summary(),
            "author": info.author.email,
            "time": chrono::DateTime::from_timestamp(info.committer.time, 0).map(|t| t.to_rfc3339()),
        }))
    };
    let deployed = match ledger {
        Some(l) => {
            let mut d = commit(l)?;
            d["services"] = json!(versions(repo, l)?);
            d
        }
        None => Value::Null,
    };
    let last_run = runs.and_then(|r| r.last()).map(|r| {
        let failed_stage = r
            .get("stages")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find(|s| s.get("result").and_then(Value::as_str) == Some("failed"))
            .map(|s| {
                json!({
                    "id": s.get("id"),
                    "service": s.get("service"),
                    "detail": s.get("detail"),
                })
            });
        json!({
            "result": r.get("result"),
            "head": r.get("head"),
            "started": r.get("started"),
            "finished": r.get("finished"),
            "actor": r.get("actor"),
            "run_url": r.get("ci").and_then(|c| c.get("run_url")),
            "failed_stage": failed_stage,
        })
    });
    let claim = repo
        .ref_target(&claim_ref(name))
        .and_then(|c| repo.commit_info(c).ok())
        .and_then(|i| ClaimRecord::parse(&i.message))
        .map(|c| {
            json!({
                "state": c.state, "head": c.head, "actor": c.actor, "started": c.started,
                "expires": c.expires, "result": c.result, "run_url": c.run_url,
            })
        });
    let mut waiting = json!({ "commits": 0, "shown": [], "changes": [], "redeploy": [] });
    if let (Some(tip), true) = (tip, tip != ledger) {
        let walk = repo.walk(ledger, tip, 10_000)?;
        waiting["commits"] = json!(walk.commits.len());
        waiting["shown"] = json!(walk
            .commits
            .iter()
            .take(SHOWN)
            .map(|c| json!({"commit": c.id, "summary": c.summary(), "author": c.author.email}))
            .collect::<Vec<_>>());
        let before = match ledger {
            Some(l) => versions(repo, l)?,
            None => BTreeMap::new(),
        };
        let after = versions(repo, tip)?;
        let mut changes = Vec::new();
        for s in before
            .keys()
            .chain(after.keys())
            .collect::<std::collections::BTreeSet<_>>()
        {
            let (b, a) = (before.get(s), after.get(s));
            if b != a {
                changes.push(json!({"service": s, "from": b, "to": a}));
            }
        }
        waiting["changes"] = json!(changes);
        let ids: HashSet<CommitId> = walk
            .commits
            .iter()
            .filter_map(|c| c.id.parse::<CommitId>().ok())
            .collect();
        let mut redeploy: Vec<String> = repo
            .unsettled(name, &ids)?
            .into_iter()
            .map(|(_, s)| s)
            .collect();
        redeploy.sort();
        redeploy.dedup();
        waiting["redeploy"] = json!(redeploy);
    }
    let mut out = json!({
        "environment": name,
        "branch": env.branch,
        "tip": tip.map(|t| t.to_string()),
        "deployed": deployed,
        "last_run": last_run,
        "claim": claim,
        "waiting": waiting,
    });
    // Only while a freeze window is in force, so the document is otherwise unchanged.
    let gates = policy.gates_for(name);
    let frozen: Vec<Value> = crate::gate::freeze::in_force_at(&gates, name, env, clock.now)
        .into_iter()
        .map(|(field, w, o)| match o {
            Ok(o) => json!({
                "field": field, "reason": w.reason, "start": o.start.to_rfc3339(),
                "end": o.end.to_rfc3339(), "until": config::freeze::show(&o.end),
                "open_ended": o.open_ended,
            }),
            Err(e) => json!({ "field": field, "reason": w.reason, "error": e.with_cause() }),
        })
        .collect();
    if !frozen.is_empty() {
        out["freeze"] = json!(frozen);
    }
    Ok(out)
}

/// Service -> version (`unparseable` for a descriptor that does not parse).
fn versions(repo: &Repo, commit: CommitId) -> anyhow::Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for (path, id, blob) in repo.service_entries(commit)? {
        let Ok(name) = config::service_name_of(&path) else {
            continue;
        };
        let version = if blob {
            config::parse_descriptor(&path, name, &repo.read_blob(id)?)
                .map(|d| d.version)
                .unwrap_or_else(|_| "unparseable".into())
        } else {
            "unparseable".into()
        };
        out.insert(name.to_string(), version);
    }
    Ok(out)
}

fn text(doc: &Value) -> String {
    use std::fmt::Write as _;
    let s = |v: &Value| v.as_str().unwrap_or("").to_string();
    let short = |v: &Value| {
        v.as_str()
            .map(|c| c[..c.len().min(7)].to_string())
            .unwrap_or_default()
    };
    let mut o = String::new();
    for e in doc["environments"].as_array().into_iter().flatten() {
        let _ = writeln!(o, "{} (branch {})", s(&e["environment"]), s(&e["branch"]));
        let d = &e["deployed"];
        if d.is_null() {
            let _ = writeln!(o, "  deployed   nothing yet (no ledger)");
        } else {
            let _ = writeln!(
                o,
                "  deployed   {}  {}  {}",
                short(&d["commit"]),
                s(&d["time"]),
                s(&d["summary"])
            );
            let services: Vec<String> = d["services"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| format!("{k} {}", v.as_str().unwrap_or("")))
                .collect();
            let _ = writeln!(
                o,
                "  services   {}",
                if services.is_empty() {
                    "none".into()
                } else {
                    services.join(", ")
                }
            );
        }
        match e.get("last_run").filter(|r| !r.is_null()) {
            None => {
                let _ = writeln!(o, "  last run   none recorded");
            }
            Some(r) => {
                let _ = write!(
                    o,
                    "  last run   {} {}  finished {}",
                    s(&r["result"]),
                    short(&r["head"]),
                    s(&r["finished"])
                );
                if let Some(a) = r["actor"].as_str() {
                    let _ = write!(o, " by {a}");
                }
                let _ = writeln!(o);
                if let Some(f) = r.get("failed_stage").filter(|f| !f.is_null()) {
                    let _ = writeln!(
                        o,
                        "             failed at {} {}: {}",
                        s(&f["id"]),
                        s(&f["service"]),
                        s(&f["detail"])
                    );
                }
                if let Some(u) = r["run_url"].as_str() {
                    let _ = writeln!(o, "             {u}");
                }
            }
        }
        if let Some(c) = e.get("claim").filter(|c| !c.is_null()) {
            if c["state"] == "held" {
                let _ = writeln!(
                    o,
                    "  claim      held by {} since {} for {}, expires {}",
                    c["actor"].as_str().unwrap_or("an unnamed run"),
                    s(&c["started"]),
                    short(&c["head"]),
                    s(&c["expires"])
                );
            } else {
                let _ = writeln!(
                    o,
                    "  claim      free (the last run {} it, {})",
                    s(&c["state"]),
                    s(&c["result"])
                );
            }
        }
        for f in e["freeze"].as_array().into_iter().flatten() {
            let until = match f["error"].as_str() {
                Some(err) => format!("(cannot tell until when: {err})"),
                None if f["open_ended"] == true => format!("at least until {}", s(&f["until"])),
                None => format!("until {}", s(&f["until"])),
            };
            let _ = writeln!(o, "  frozen     \"{}\" {until}", s(&f["reason"]));
        }
        let w = &e["waiting"];
        let n = w["commits"].as_u64().unwrap_or(0);
        if n == 0 {
            let _ = writeln!(o, "  waiting    nothing: the branch is what runs");
        } else {
            let _ = writeln!(
                o,
                "  waiting    {n} commit(s) on {} not deployed:",
                s(&e["branch"])
            );
            for c in w["shown"].as_array().into_iter().flatten() {
                let _ = writeln!(
                    o,
                    "               {} {}",
                    short(&c["commit"]),
                    s(&c["summary"])
                );
            }
            if n as usize > SHOWN {
                let _ = writeln!(o, "               ... and {} more", n as usize - SHOWN);
            }
            for c in w["changes"].as_array().into_iter().flatten() {
                let v = |x: &Value| x.as_str().unwrap_or("absent").to_string();
                let _ = writeln!(
                    o,
                    "             {} {} -> {}",
                    s(&c["service"]),
                    v(&c["from"]),
                    v(&c["to"])
                );
            }
            let redeploy: Vec<String> = w["redeploy"]
                .as_array()
                .into_iter()
                .flatten()
                .map(s)
                .collect();
            if !redeploy.is_empty() {
                let _ = writeln!(
                    o,
                    "             redeployed by the next run after a failed one: {}",
                    redeploy.join(", ")
                );
            }
        }
    }
    o
}
