//! Gathers the facts the rules need, before the gate runs: JIRA tickets, GitHub pull
//! request, reviews, logins and verification, local signatures, and the lower
//! environment's ledger. The integrations fetch (in their own `model` values) and this
//! stage decides what to ask and turns the answers into the gate's facts, so the gate stays
//! pure and the integrations know nothing of rules. Any service error is returned (exit 4),
//! never turned into a fact.
use crate::ci::{Env, PushContext, Secrets};
use crate::config::{self, Environment, Gates, Policy};
use crate::error::Failure;
use crate::gate::facts::{is_forge_commit, Facts, LowerFacts};
use crate::gate::scan_tickets;
use crate::integrations::{github::Github, jira};
use crate::model::CommitId;
use crate::repo::signatures as git_signatures;
use crate::repo::{notes::NOTES_REF, CommitInfo, Repo};
use std::collections::BTreeMap;
use std::time::Duration;

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

pub struct Gather<'a> {
    pub repo: &'a Repo,
    pub policy: &'a Policy,
    pub gates: &'a Gates,
    pub env: &'a Environment,
    pub ctx: &'a PushContext,
    pub head: CommitId,
    pub base: Option<CommitId>,
    /// Where signature trust files are read: a deployed (or operator-named) commit, never
    /// one the push itself could have written.
    pub trust_at: Option<CommitId>,
    pub commits: &'a [CommitInfo],
    pub offline: bool,
    pub vars: &'a Env,
    pub secrets: &'a Secrets,
    /// The environment's name (freeze windows may name it).
    pub environment: &'a str,
    /// When the push is judged: whether a freeze window is in force.
    pub clock: &'a crate::clock::Clock,
    /// The service changes, for the soak of the versions arriving.
    pub changes: &'a [crate::diff::ServiceChange],
}

pub fn gather(g: &Gather) -> Result<Facts, Failure> {
    let mut facts = Facts {
        lower: lower_facts(g)?,
        soak: soak_facts(g)?,
        ..Facts::default()
    };
    let committers = g.gates.committers();
    let has = |p: &str| committers.iter().any(|c| c.starts_with(p));
    let logins = has("github:");
    let signatures = g.gates.require_signed() || has("signer:");
    if signatures && (g.gates.allowed_signers.is_some() || g.gates.gpg_keyring.is_some()) {
        // From the deployed commit: a push cannot add its own signer.
        let at = g.trust_at.ok_or_else(|| {
            Failure::invalid(
                "signatures are judged against the allowed signers of a deployed commit, and this environment has no ledger yet (the base is only the push's previous tip)",
            )
            .hint("bootstrap once with --base <SHA of what runs now> (or --bootstrap to trust the pushed files)")
        })?;
        let read = |key: &str, path: &Option<String>| -> Result<Option<Vec<u8>>, Failure> {
            let Some(path) = path else { return Ok(None) };
            let bytes = g.repo.read_path(at, path)?.ok_or_else(|| {
                Failure::invalid(format!(
                    "gates.{key} names `{path}`, which does not exist at {}",
                    &at.to_string()[..7]
                ))
                .hint(format!(
                    "commit the {} file (deployed before it is relied on)",
                    if key == "gpg_keyring" {
                        "GPG keyring"
                    } else {
                        "allowed-signers"
                    }
                ))
            })?;
            Ok(Some(bytes))
        };
        let ssh = read("allowed_signers", &g.gates.allowed_signers)?;
        let gpg = read("gpg_keyring", &g.gates.gpg_keyring)?;
        let shas: Vec<String> = g.commits.iter().map(|c| c.id.clone()).collect();
        facts.local_signatures = Some(git_signatures::verify(
            &g.repo.dir(),
            &git_signatures::Trust {
                allowed_signers: ssh.as_deref(),
                gpg_keyring: gpg.as_deref(),
            },
            &shas,
        )?);
    }
    if g.offline {
        return Ok(facts);
    }

    if let Some(gate) = g.gates.jira.as_ref().filter(|j| j.needs_lookup()) {
        // Tickets that must be looked up, and nowhere to look: fail closed, never a pass.
        let Some(integ) = &g.policy.integrations.jira else {
            return Err(Failure::invalid(format!(
                "gates.jira requires each ticket to be looked up in JIRA (branch {}), but the policy has no integrations.jira.url",
                g.env.branch
            ))
            .hint(config::JIRA_SETUP_HINT));
        };
        let found = scan_tickets(g.commits, &gate.projects);
        let keys = found.keys();
        if !keys.is_empty() {
            let looked_up = look_up(integ, gate, &keys, g.secrets);
            facts.jira = Some(match looked_up {
                Ok(t) => t,
                // A commit without a ticket is a rejection already: report it (exit 1),
                // with why the named tickets were not looked up, rather than let a JIRA
                // outage hide it.
                Err(e) if !found.missing.is_empty() => {
                    facts.jira_error = Some(e.message);
                    BTreeMap::new()
                }
                Err(e) => return Err(e),
            });
        } else {
            facts.jira = Some(BTreeMap::new());
        }
    }

    facts.freeze_override = freeze_override(g, facts.jira.as_ref())?;

    let forge: Vec<&CommitInfo> = g
        .commits
        .iter()
        .filter(|c| is_forge_commit(&c.committer.name, &c.committer.email))
        .collect();
    // Reviews are looked up unless the policy turned them off (`approvals.required: 0`).
    let promoted =
        g.env.promotes_from.is_some() && g.gates.approvals.as_ref().is_none_or(|a| a.required > 0);
    let all_commits = logins || (signatures && facts.local_signatures.is_none());
    if promoted || all_commits || !forge.is_empty() {
        let timeout = g
            .policy
            .integrations
            .github
            .as_ref()
            .and_then(|i| i.timeout.as_ref())
            .map(|d| d.std())
            .unwrap_or(DEFAULT_TIMEOUT);
        if let Some(gh) = Github::from_env(g.vars, g.secrets, g.ctx, timeout)? {
            let mut out = crate::gate::facts::GithubFacts::default();
            if promoted {
                out.pull_request = gh.pull_request(g.ctx, &g.head.to_string(), &g.env.branch)?;
            }
            let shas: Vec<(String, bool)> = if all_commits {
                g.commits
                    .iter()
                    .map(|c| {
                        (
                            c.id.clone(),
                            is_forge_commit(&c.committer.name, &c.committer.email),
                        )
                    })
                    .collect()
            } else {
                forge.iter().map(|c| (c.id.clone(), true)).collect()
            };
            if !shas.is_empty() {
                out.commits = gh.commits(&shas)?;
            }
            if signatures {
                let range = g.commits.iter().map(|c| c.id.as_str()).collect();
                crate::integrations::github::pr_verification_outage(&out.commits, &range)?;
            }
            facts.github = Some(out);
        }
    }
    Ok(facts)
}

/// The ticket of the head commit's `Deploy-Freeze-Override` trailer, as JIRA has it: only
/// while a freeze window is in force and the ticket is to be looked up in a configured JIRA
/// (without one the rule refuses the override). A ticket the commits' lookup already holds
/// is not asked for again.
fn freeze_override(
    g: &Gather,
    looked_up: Option<&BTreeMap<String, crate::gate::facts::Ticket>>,
) -> Result<Option<(String, crate::gate::facts::Ticket)>, Failure> {
    use crate::gate::freeze;
    let Some(head) = g.commits.first().filter(|c| c.id == g.head.to_string()) else {
        return Ok(None);
    };
    let Some(key) = freeze::ticket_to_look_up(g.gates, &head.message) else {
        return Ok(None);
    };
    let Some(integ) = &g.policy.integrations.jira else {
        return Ok(None);
    };
    if !freeze::in_force(g.gates, g.environment, g.env, g.clock.now) {
        return Ok(None);
    }
    if let Some(t) = looked_up.and_then(|m| m.get(&key)) {
        return Ok(Some((key, t.clone())));
    }
    let gate = freeze::override_gate(g.gates);
    let mut found = look_up(integ, &gate, std::slice::from_ref(&key), g.secrets)?;
    Ok(found.remove(&key).map(|t| (key, t)))
}

/// Looks `keys` up as `gate` reads them (approvals from its field), within the JIRA
/// integration's one deadline.
fn look_up(
    integ: &config::JiraIntegration,
    gate: &config::JiraGate,
    keys: &[String],
    secrets: &crate::ci::Secrets,
) -> Result<std::collections::BTreeMap<String, crate::model::Ticket>, Failure> {
    jira::lookup(&jira::Lookup {
        url: &integ.url,
        keys,
        approvals: gate.approvals.is_some(),
        approval_field: gate.approval_field.as_deref(),
        timeout: integ
            .timeout
            .as_ref()
            .map(|d| d.std())
            .unwrap_or(DEFAULT_TIMEOUT),
        secrets,
    })
}

/// For `soak`: how long each arriving version has run in `promotes_from`.
fn soak_facts(g: &Gather) -> Result<Option<crate::gate::facts::SoakFacts>, Failure> {
    let (Some(_), Some(lower)) = (&g.env.soak, &g.env.promotes_from) else {
        return Ok(None);
    };
    let wanted: Vec<(String, String)> = g
        .changes
        .iter()
        .filter(|c| c.kind != crate::diff::ChangeKind::Removed && c.from != c.to)
        .filter_map(|c| c.to.clone().map(|v| (c.service.clone(), v)))
        .collect();
    crate::soak::read(g.repo, lower, &wanted)
        .map(Some)
        .map_err(crate::soak::SoakError::into_failure)
}

/// The lower environment's ledger commit, the versions deployed there, and the result in
/// the run-record note on that commit.
fn lower_facts(g: &Gather) -> Result<Option<LowerFacts>, Failure> {
    let Some(lower) = &g.env.promotes_from else {
        return Ok(None);
    };
    let mut f = LowerFacts {
        environment: lower.clone(),
        ..LowerFacts::default()
    };
    let Some(ledger) = g.repo.ledger(lower) else {
        return Ok(Some(f));
    };
    f.ledger = Some(ledger.to_string());
    for (path, id, blob) in g.repo.service_entries(ledger)? {
        if !blob {
            continue;
        }
        let Ok(name) = config::service_name_of(&path) else {
            continue;
        };
        if g.repo.blob_size(id)? > config::MAX_FILE_BYTES {
            continue;
        }
        let bytes = g.repo.read_blob(id)?;
        if let Ok(d) = config::parse_descriptor(&path, name, &bytes) {
            f.versions.insert(name.to_string(), d.version);
        }
    }
    if let Some(note) = g.repo.note(NOTES_REF, ledger)? {
        // The newest run record on the commit decides (a note keeps every run of it).
        let records = crate::repo::notes::note_records(&note);
        let newest = records
            .iter()
            .rev()
            .find(|v| v.get("result").is_some())
            .ok_or_else(|| {
                Failure::invalid(format!(
                    "the note on {lower}'s ledger commit {} holds no run record",
                    &ledger.to_string()[..7]
                ))
            })?;
        f.run_result = Some(
            newest
                .get("result")
                .and_then(|r| r.as_str())
                .unwrap_or("unknown")
                .to_string(),
        );
    }
    Ok(Some(f))
}
