//! What promoting one environment's branch into the next would change, and the pull
//! request body that says so.
pub mod github;

use crate::config::{self, Policy};
use crate::diff::{self, Requested, ServiceChange};
use crate::gate::ticket_keys;
use crate::repo::Repo;
use git2::Oid;
use std::collections::BTreeMap;

pub struct Promotion {
    pub from_branch: String,
    pub to_branch: String,
    pub to_env: String,
    pub changes: Vec<ServiceChange>,
    pub tickets: Vec<String>,
    pub checks: Vec<String>,
    pub pipeline: Vec<String>,
}

fn descriptors(
    repo: &Repo,
    c: Oid,
) -> anyhow::Result<BTreeMap<String, Option<config::Descriptor>>> {
    let mut out = BTreeMap::new();
    for (path, id, blob) in repo.service_entries(c)? {
        let Ok(name) = config::service_name_of(&path) else {
            continue;
        };
        let d = if blob {
            config::parse_descriptor(&path, name, &repo.read_blob(id)?).ok()
        } else {
            None
        };
        out.insert(name.to_string(), d);
    }
    Ok(out)
}

pub fn compute(
    repo: &Repo,
    policy: &Policy,
    from_env: &str,
    to_env: &str,
    only: Option<&str>,
) -> anyhow::Result<(Promotion, Oid, Oid)> {
    let env = |n: &str| {
        policy
            .environment(n)
            .ok_or_else(|| crate::error::Failure::invalid(format!("unknown environment `{n}`")))
    };
    let (from, to) = (env(from_env)?, env(to_env)?);
    let tip = |b: &str| {
        repo.branch_tip(b)
            .ok_or_else(|| crate::error::Failure::invalid(format!("branch {b} does not exist")))
    };
    let (ft, tt) = (tip(&from.branch)?, tip(&to.branch)?);
    let (fd, td) = (descriptors(repo, ft)?, descriptors(repo, tt)?);
    let mut changes = Vec::new();
    for name in fd
        .keys()
        .chain(td.keys())
        .collect::<std::collections::BTreeSet<_>>()
    {
        if only.is_some_and(|o| o != name) {
            continue;
        }
        let requested = match fd.get(name) {
            None => Requested::Absent,
            Some(None) => Requested::Unreadable,
            Some(Some(d)) => Requested::Present(d),
        };
        if let Some(c) = diff::service(name, td.get(name).and_then(|d| d.as_ref()), requested) {
            changes.push(c);
        }
    }
    let walk = repo.walk(Some(tt), ft, 10_000)?;
    let projects = policy
        .gates_for(to_env)
        .jira
        .map(|j| j.projects)
        .unwrap_or_default();
    let mut tickets = Vec::new();
    for c in &walk.commits {
        for k in ticket_keys(&c.message, &projects) {
            if !tickets.contains(&k) {
                tickets.push(k);
            }
        }
    }
    let checks = crate::gate::rules_for(&policy.gates_for(to_env), to)
        .into_iter()
        .map(str::to_string)
        .collect();
    Ok((
        Promotion {
            from_branch: from.branch.clone(),
            to_branch: to.branch.clone(),
            to_env: to_env.to_string(),
            changes,
            tickets,
            checks,
            pipeline: to.pipeline.clone(),
        },
        ft,
        tt,
    ))
}

fn cell(s: &str) -> String {
    s.replace('|', "\\|")
        .replace('\n', " ")
        .replace('<', "&lt;")
}

impl Promotion {
    pub fn title(&self) -> String {
        format!("Promote {} to {}", self.from_branch, self.to_branch)
    }
    pub fn body(&self) -> String {
        let mut b = format!(
            "Promotes `{}` into `{}` ({}).\n\n| service | from | to | risk |\n| --- | --- | --- | --- |\n",
            cell(&self.from_branch),
            cell(&self.to_branch),
            cell(&self.to_env)
        );
        for c in &self.changes {
            b.push_str(&format!(
                "| {} | {} | {} | {:?} |\n",
                cell(&c.service),
                cell(c.from.as_deref().unwrap_or("-")),
                cell(c.to.as_deref().unwrap_or("-")),
                c.risk
            ));
        }
        b.push_str(&format!(
            "\n**JIRA tickets:** {}\n\n**Checks `plan` will run:** {}\n\n**Pipeline:** {}\n",
            if self.tickets.is_empty() {
                "none".into()
            } else {
                self.tickets.join(", ")
            },
            self.checks.join(", "),
            self.pipeline.join(" -> ")
        ));
        b
    }
}
