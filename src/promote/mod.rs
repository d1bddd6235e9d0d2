//! What promoting one environment's branch into the next would change, and the pull
//! request body that says so.
use crate::config::{self, Policy};
use crate::diff::{self, Requested, ServiceChange};
use crate::gate::ticket_keys;
use crate::model::CommitId;
use crate::repo::Repo;
use std::collections::BTreeMap;

pub struct Promotion {
    pub from_branch: String,
    /// What the lower environment runs (its ledger): the commit promoted.
    pub from_commit: CommitId,
    /// Commits on the lower branch after its ledger: not deployed there yet, so not promoted.
    pub left_out: Vec<(String, String)>,
    pub to_branch: String,
    pub to_env: String,
    pub changes: Vec<ServiceChange>,
    pub tickets: Vec<String>,
    pub checks: Vec<String>,
    pub pipeline: Vec<String>,
}

fn descriptors(
    repo: &Repo,
    c: CommitId,
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
) -> anyhow::Result<(Promotion, CommitId, CommitId)> {
    let env = |n: &str| {
        policy
            .environment(n)
            .ok_or_else(|| crate::error::Failure::invalid(format!("unknown environment `{n}`")))
    };
    let (from, to) = (env(from_env)?, env(to_env)?);
    if to.promotes_from.as_deref() != Some(from_env) {
        let hint = match &to.promotes_from {
            Some(lower) => format!("{to_env} takes promotions from {lower}: gitops-gate promote --from {lower} --to {to_env}"),
            None => format!("{to_env} has no promotes_from in the policy: change its branch directly"),
        };
        return Err(crate::error::Failure::invalid(format!(
            "`{to_env}` does not promote from `{from_env}`"
        ))
        .hint(hint)
        .into());
    }
    let tip = |b: &str| {
        repo.branch_tip(b)
            .ok_or_else(|| crate::error::Failure::invalid(format!("branch {b} does not exist")))
    };
    let (from_tip, tt) = (tip(&from.branch)?, tip(&to.branch)?);
    // Promote what the lower environment runs, never its branch tip: a commit that has not
    // passed there would only be rejected by the promotion rule.
    let ft = repo.ledger(from_env).ok_or_else(|| {
        crate::error::Failure::invalid(format!(
            "`{from_env}` has nothing deployed yet ({} is missing), so there is nothing to promote",
            Repo::ledger_ref(from_env)
        ))
        .hint(format!(
            "deploy {from_env} first: gitops-gate run --env {from_env}"
        ))
    })?;
    let left_out = if ft == from_tip {
        Vec::new()
    } else {
        repo.walk(Some(ft), from_tip, 10_000)?
            .commits
            .iter()
            .map(|c| (c.short().to_string(), c.summary().to_string()))
            .collect()
    };
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
    let checks = crate::gate::rules_for(&policy.gates_for(to_env), to, to_env)
        .into_iter()
        .map(|r| r.as_str().to_string())
        .collect();
    Ok((
        Promotion {
            from_branch: from.branch.clone(),
            from_commit: ft,
            left_out,
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
        format!(
            "Promote {} ({}) to {}",
            self.from_branch,
            &self.from_commit.to_string()[..7],
            self.to_branch
        )
    }

    /// The branch the pull request comes from: the lower branch itself when its tip is what
    /// runs there, else a branch at that commit.
    pub fn head_branch(&self) -> String {
        if self.left_out.is_empty() {
            self.from_branch.clone()
        } else {
            format!(
                "promote/{}/{}",
                self.to_branch,
                &self.from_commit.to_string()[..7]
            )
        }
    }
    pub fn body(&self) -> String {
        let mut b = format!(
            "Promotes what `{}` runs ({}) into `{}` ({}).\n\n| service | from | to | risk |\n| --- | --- | --- | --- |\n",
            cell(&self.from_branch),
            &self.from_commit.to_string()[..7],
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
        if !self.left_out.is_empty() {
            b.push_str(&format!(
                "\n**Left out** ({} commit(s) on `{}` not deployed there yet; they follow once they are):\n",
                self.left_out.len(),
                cell(&self.from_branch)
            ));
            for (sha, summary) in &self.left_out {
                b.push_str(&format!("- {sha} {}\n", cell(summary)));
            }
        }
        b
    }
}
