//! The deploy claim: exactly one run deploys a given ledger state of an environment.
//!
//! Before the first stage, a run takes `refs/gitops-gate/claim/<env>` by compare-and-swap on
//! `origin` (`git push --force-with-lease=<ref>:<what we read>`; without an `origin`, a local
//! ref compare-and-swap). The ref points at a parentless commit whose message holds a
//! [`ClaimRecord`]: the head being deployed, the ledger commit the run starts from (`base`),
//! the plan digest, a random run id, when it started and when it expires. Every value of the
//! ref is a fresh commit, so a lease can never be fooled by a ref that left and came back
//! (no ABA). When the run ends, successfully or not, it advances the claim to a `released`
//! record (again by compare-and-swap against its own claim).
//!
//! A claim held by another run is *live*, and this run exits 5 without running any stage,
//! unless one of these holds:
//! - it is `released`;
//! - it is superseded: its `base` is no longer the environment's ledger (that run moved the
//!   ledger and then crashed, or it will lose the ledger compare-and-swap anyway);
//! - it expired: `expires` is the claim time plus the sum of the plan's stage timeouts (a
//!   healthcheck counts its retries, intervals and timeouts) plus 5 minutes, capped at
//!   [`MAX_LIFETIME`] (6 hours), so a run that crashed (runner killed, machine lost) frees the
//!   environment on its own after that. A record whose `expires` lies more than the cap after
//!   its `started` (or whose times do not parse) is forged or corrupt and counts as expired;
//! - `run --break-claim` was given: for an operator who knows the holder is gone and cannot
//!   wait for the expiry. The ledger itself still moves only by compare-and-swap, so breaking a
//!   claim can at worst repeat a deploy, never corrupt the ledger.
//!
//! The record also names the holder's process: host name, pid, and on Linux the process's
//! start time and the machine (boot id and pid namespace). A `--break-claim` on the machine
//! that runs the holder refuses while that process still lives (its steps die with it, see
//! `run::command`), saying which process it is and how to stop it; from another machine it
//! cannot tell, and breaks the claim as asked.
//!
//! After taking the claim the run reads the ledger again: a run that finished between our
//! first look and our claim has moved it, and we exit 5 (still without any stage).
use super::{Setup, DEFAULT_STEP_TIMEOUT};
use crate::error::Failure;
use crate::model::StageId;
use crate::repo::{remote, Identity, Repo};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

pub const CLAIM_PREFIX: &str = "refs/gitops-gate/claim/";

/// Time on top of the stages' timeouts: notifications, the ledger push, the note.
pub const MARGIN: Duration = Duration::from_secs(5 * 60);

/// The longest a claim can block anyone, whatever the descriptors say.
pub const MAX_LIFETIME: Duration = Duration::from_secs(6 * 60 * 60);

pub fn claim_ref(env: &str) -> String {
    format!("{CLAIM_PREFIX}{env}")
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClaimRecord {
    pub schema: u32,
    /// `held` while the run deploys, `released` once it ended.
    pub state: String,
    pub environment: String,
    pub head: String,
    /// The ledger commit the run started from (`None`: nothing deployed yet).
    #[serde(default)]
    pub base: Option<String>,
    pub plan_digest: String,
    /// Random, so two runs of the same plan hold different claims.
    pub run_id: String,
    pub started: String,
    /// RFC 3339; after it, the claim no longer blocks anyone.
    pub expires: String,
    /// `succeeded`, `failed` or `abandoned`, once released.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// The host name of the machine running the holder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// The holder's process id (its steps die with it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// When that process started, in clock ticks since boot (Linux): a reused pid is not it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid_start: Option<u64>,
    /// `<boot id> <pid namespace>` (Linux): the pid means something only there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machine: Option<String>,
}

impl ClaimRecord {
    /// The commit message: a summary line, a blank line, the JSON.
    pub fn message(&self) -> String {
        format!(
            "gitops-gate claim: {} {} ({})\n\n{}\n",
            self.environment,
            self.head,
            self.state,
            serde_json::to_string_pretty(self).unwrap_or_default()
        )
    }

    pub fn parse(message: &str) -> Option<ClaimRecord> {
        let json = &message[message.find('{')?..];
        serde_json::from_str(json.trim()).ok()
    }

    fn expired(&self, now: chrono::DateTime<chrono::Utc>) -> bool {
        let parse = |s: &str| chrono::DateTime::parse_from_rfc3339(s).ok();
        match (parse(&self.started), parse(&self.expires)) {
            (Some(started), Some(expires)) => {
                // A record claiming longer than any run may take is forged or corrupt: it
                // never blocks beyond the cap.
                let cap =
                    chrono::Duration::from_std(MAX_LIFETIME).unwrap_or(chrono::Duration::hours(6));
                let limit = started.checked_add_signed(cap).unwrap_or(started);
                now >= expires || expires > limit
            }
            // An unreadable time never blocks forever.
            _ => true,
        }
    }
}

/// Why a claim held by someone else does not block us, or `None` when it does.
pub fn dead_because(
    c: &ClaimRecord,
    ledger: Option<&str>,
    now: chrono::DateTime<chrono::Utc>,
) -> Option<String> {
    if c.state != "held" {
        Some(format!("it was {}", shown::text(&c.state)))
    } else if c.base.as_deref() != ledger {
        Some(format!(
            "the ledger moved past its base {} (to {})",
            c.base.as_deref().map(shown::sha).unwrap_or("(none)".into()),
            ledger.map(shown::sha).unwrap_or("(none)".into())
        ))
    } else if c.expired(now) {
        Some(format!(
            "it expired at {} (or claimed more than the {}-hour cap)",
            shown::time(&c.expires),
            MAX_LIFETIME.as_secs() / 3600
        ))
    } else {
        None
    }
}

/// How long one health check may take: its initial delay plus, per URL and retry, an
/// interval and a timeout (saturating: descriptor values are not trusted to be small).
pub fn healthcheck_bound(t: &super::healthcheck::Target) -> Duration {
    let per_try = t.interval.saturating_add(t.timeout);
    let tries = u32::try_from(t.urls.len().max(1))
        .unwrap_or(u32::MAX)
        .saturating_mul(t.retries.max(1));
    t.initial_delay
        .saturating_add(per_try.checked_mul(tries).unwrap_or(Duration::MAX))
}

/// How long the plan may legitimately take: the sum of its stages' bounds plus [`MARGIN`],
/// at most [`MAX_LIFETIME`].
pub fn budget(s: &Setup) -> Duration {
    let mut total = MARGIN;
    for st in &s.plan.stages {
        total = total.saturating_add(match &st.id {
            StageId::NotifyStart | StageId::NotifyEnd => Duration::ZERO,
            StageId::Healthcheck => st
                .service
                .as_ref()
                .and_then(|svc| s.requested.get(svc))
                .and_then(|d| super::healthcheck::target(d, Some("http://x")).ok())
                .map(|t| healthcheck_bound(&t))
                .unwrap_or(DEFAULT_STEP_TIMEOUT),
            StageId::Step(step) => s
                .policy
                .steps
                .get(step)
                .and_then(|x| x.timeout.as_ref())
                .map(|t| t.std())
                .unwrap_or(DEFAULT_STEP_TIMEOUT),
        });
    }
    total.min(MAX_LIFETIME)
}

/// When a claim taken at `started` for `budget` expires: never past [`MAX_LIFETIME`].
pub fn expiry(
    started: chrono::DateTime<chrono::Utc>,
    budget: Duration,
) -> chrono::DateTime<chrono::Utc> {
    let d =
        chrono::Duration::from_std(budget.min(MAX_LIFETIME)).unwrap_or(chrono::Duration::hours(6));
    started.checked_add_signed(d).unwrap_or(started)
}

enum Store {
    /// `origin`, through the git CLI.
    Origin,
    /// No `origin`: the local repository.
    Local,
}

enum Lost {
    /// Someone else changed the ref between our read and our write.
    Race,
    Unreachable(String),
}

/// A claim this run holds; released (advanced to a `released` record) when dropped.
pub struct Held {
    dir: PathBuf,
    store: Store,
    refname: String,
    oid: String,
    record: ClaimRecord,
    released: bool,
}

impl Held {
    pub fn refname(&self) -> &str {
        &self.refname
    }

    /// Ends the claim: `result` is `succeeded`, `failed` or `abandoned`. A failure to
    /// release is a warning: the claim is superseded by the ledger or expires anyway.
    pub fn release(&mut self, result: &str) {
        if self.released {
            return;
        }
        self.released = true;
        let mut rec = self.record.clone();
        rec.state = "released".into();
        rec.result = Some(result.to_string());
        let outcome = (|| -> Result<(), Lost> {
            let repo = Repo::open(&self.dir).map_err(|e| Lost::Unreachable(e.to_string()))?;
            let new = write_record(&repo, &rec).map_err(|e| Lost::Unreachable(e.to_string()))?;
            let swap = || {
                cas(
                    &self.store,
                    &self.dir,
                    &repo,
                    &self.refname,
                    &new,
                    Some(&self.oid),
                )
            };
            match swap() {
                // Not hearing back does not mean the push failed: look at what origin has.
                Err(Lost::Unreachable(why)) if matches!(self.store, Store::Origin) => {
                    match remote::remote_ref(&self.dir, &self.refname) {
                        Ok(Some(now)) if now == new => Ok(()),
                        // Still our claim: one more try.
                        Ok(Some(now)) if now == self.oid => swap(),
                        Ok(_) => Err(Lost::Race),
                        Err(_) => Err(Lost::Unreachable(why)),
                    }
                }
                other => other,
            }
        })();
        match outcome {
            Ok(()) => log::info!("released {}", self.refname),
            Err(Lost::Race) => log::warn!(
                "{} no longer holds this run's claim (broken with --break-claim or expired and taken over)",
                self.refname
            ),
            Err(Lost::Unreachable(why)) => log::warn!(
                "cannot release {} ({why}); the next run finds it superseded by the ledger or expired at {}",
                self.refname,
                self.record.expires
            ),
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.release("abandoned");
    }
}

/// Takes the environment's claim for this run, or refuses with exit 5 (another run holds it,
/// or the ledger moved) or exit 4 (`origin` unreachable).
pub fn acquire(s: &Setup, env: &str, head: &str) -> anyhow::Result<Held> {
    let refname = claim_ref(env);
    let ledger_ref = Repo::ledger_ref(env);
    let dir = s.repo_dir.clone();
    let store = if remote::has_remote(&dir, "origin") {
        Store::Origin
    } else {
        Store::Local
    };
    let repo = Repo::open(&dir)?;
    let where_ = match store {
        Store::Origin => "on origin",
        Store::Local => "in the local repository",
    };
    let unreachable = |why: String| -> anyhow::Error {
        Failure::unavailable(format!("cannot claim {refname} {where_}: {why}"))
            .hint("nothing was deployed; check the CI's access to origin and re-run")
            .into()
    };
    let (claim, ledger) =
        read(&store, &dir, &repo, &refname, &ledger_ref).map_err(|e| unreachable(e.to_string()))?;
    let expected = s.plan.ledger.as_deref();
    if ledger.as_deref() != expected {
        return Err(ledger_moved(
            &ledger_ref,
            expected,
            ledger.as_deref(),
            where_,
        ));
    }
    if let Some(current) = &claim {
        let rec = match load(&store, &dir, &repo, &refname, current) {
            Ok(r) => r,
            Err(Unreadable::Moved(why)) => {
                return Err(Failure::superseded(format!("{why}; no stage ran"))
                    .hint("the other run deploys this state; re-run the pipeline if needed")
                    .into())
            }
            Err(Unreadable::Unreachable(why)) => return Err(unreachable(why)),
        };
        let dead = match &rec {
            Some(r) => dead_because(r, ledger.as_deref(), chrono::Utc::now()),
            None => None,
        };
        match (dead, s.break_claim) {
            (Some(why), _) => log::info!("taking over {refname}: {why}"),
            (None, true) => {
                // On this machine we can see whether the holder still runs: breaking a live
                // run's claim would deploy beside its step.
                if let Some((r, pid)) = rec.as_ref().and_then(|r| Some((r, holder::live(r)?))) {
                    return Err(Failure::superseded(format!(
                        "--break-claim refused: {refname} {where_} is held by gitops-gate process {pid} on this host ({}), which is still running: {}; breaking the claim would start a second deploy beside its step, so no stage ran",
                        shown::text(r.host.as_deref().unwrap_or_default()),
                        describe(r)
                    ))
                    .hint(format!(
                        "let it finish, or stop it first: `kill {pid}` cancels it (its step is killed, the run recorded and the claim released); if it does not stop, `kill -9 {pid}` (its step dies with it), then re-run with --break-claim"
                    ))
                    .into());
                }
                crate::errln!(
                    "gitops-gate: --break-claim: taking over {refname} from {}",
                    rec.as_ref()
                        .map(describe)
                        .unwrap_or_else(|| current.clone())
                )
            }
            (None, false) => {
                let (who, until) = match &rec {
                    Some(r) => (
                        describe(r),
                        format!(
                            "until it ends or expires at {} (at most {} hours after it started)",
                            shown::time(&r.expires),
                            MAX_LIFETIME.as_secs() / 3600
                        ),
                    ),
                    None => (
                        format!("commit {current}, which is not a gitops-gate claim"),
                        "until it is broken".to_string(),
                    ),
                };
                return Err(Failure::superseded(format!(
                    "another run is deploying to {env}: {refname} {where_} is held by {who}; it blocks this run {until}, so no stage ran"
                ))
                .hint("let that run finish; if it crashed, wait for the expiry (a claim never blocks more than 6 hours) or re-run with --break-claim once you are sure it is gone")
                .into());
            }
        }
    }
    let started = chrono::Utc::now();
    let expires = expiry(started, budget(s));
    let fmt =
        |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let record = ClaimRecord {
        schema: 1,
        state: "held".into(),
        environment: env.to_string(),
        head: head.to_string(),
        base: expected.map(str::to_string),
        plan_digest: s.plan.digest.clone(),
        run_id: format!("{:032x}", rand::random::<u128>()),
        started: fmt(started),
        expires: fmt(expires),
        result: None,
        run_url: s.plan.push.run_url.clone(),
        actor: s.plan.push.actor.clone(),
        host: holder::host(),
        pid: Some(std::process::id()),
        pid_start: holder::started(std::process::id()),
        machine: holder::machine(),
    };
    let oid = write_record(&repo, &record)?;
    match cas(&store, &dir, &repo, &refname, &oid, claim.as_deref()) {
        Ok(()) => {}
        Err(Lost::Race) => return Err(Failure::superseded(format!(
            "another run claimed {refname} {where_} first; no stage ran"
        ))
        .hint("the winner deploys this state; re-run the pipeline for the newest commit if needed")
        .into()),
        Err(Lost::Unreachable(why)) => {
            // The push may have landed even though we did not hear back: then the claim is
            // ours, and left alone it would block the retry until it expires.
            if let Store::Origin = store {
                if let Ok(Some(now)) = remote::remote_ref(&dir, &refname) {
                    if now == oid {
                        let mut held = Held {
                            dir: dir.clone(),
                            store,
                            refname: refname.clone(),
                            oid,
                            record,
                            released: false,
                        };
                        held.release("abandoned");
                    }
                }
            }
            return Err(unreachable(why));
        }
    }
    let mut held = Held {
        dir: dir.clone(),
        store,
        refname: refname.clone(),
        oid,
        record,
        released: false,
    };
    // A run that finished between our read and our claim moved the ledger.
    match read(&held.store, &dir, &repo, &refname, &ledger_ref) {
        Ok((_, now)) if now.as_deref() == expected => {}
        Ok((_, now)) => {
            held.release("superseded");
            return Err(ledger_moved(&ledger_ref, expected, now.as_deref(), where_));
        }
        Err(why) => {
            held.release("abandoned");
            return Err(unreachable(why.to_string()));
        }
    }
    crate::errln!(
        "gitops-gate: claimed {refname} {where_} (expires {})",
        held.record.expires
    );
    Ok(held)
}

/// One line about the holder of `r`; every field is checked or cleaned first, since anyone
/// with push access can write a claim record.
fn describe(r: &ClaimRecord) -> String {
    format!(
        "a run of plan {} for {} since {}{}{}",
        shown::text(&r.plan_digest.chars().take(12).collect::<String>()),
        shown::sha(&r.head),
        shown::time(&r.started),
        r.actor
            .as_deref()
            .map(|a| format!(" by {}", shown::text(a)))
            .unwrap_or_default(),
        r.run_url
            .as_deref()
            .and_then(shown::url)
            .map(|u| format!(" ({u})"))
            .unwrap_or_default()
    )
}

/// The process holding a claim, as far as this machine can tell.
pub mod holder {
    use super::ClaimRecord;

    /// This machine's host name.
    pub fn host() -> Option<String> {
        let mut buf = [0u8; 256];
        // SAFETY: gethostname writes at most `buf.len()` bytes into the buffer.
        if unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } != 0 {
            return None;
        }
        let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
        let name = String::from_utf8_lossy(&buf[..end]).into_owned();
        (!name.is_empty()).then_some(name)
    }

    /// `<boot id> <pid namespace>`: two processes with one of these share pids.
    pub fn machine() -> Option<String> {
        let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
        let ns = std::fs::read_link("/proc/self/ns/pid").ok()?;
        Some(format!("{} {}", boot.trim(), ns.display()))
    }

    /// When process `pid` started (clock ticks since boot), from `/proc/<pid>/stat`.
    pub fn started(pid: u32) -> Option<u64> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // The command name (field 2) may hold spaces and parentheses: count after the last
        // `)`. Field 3 (the state) comes first there; the start time is field 22.
        let rest = &stat[stat.rfind(')')? + 1..];
        rest.split_whitespace().nth(19)?.parse().ok()
    }

    /// Whether process `pid` runs a program named gitops-gate (`None`: cannot tell).
    fn is_gitops_gate(pid: u32) -> Option<bool> {
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        let argv0 = cmdline.split(|b| *b == 0).next().unwrap_or_default();
        let name = argv0.rsplit(|b| *b == b'/').next().unwrap_or_default();
        Some(String::from_utf8_lossy(name).contains("gitops-gate"))
    }

    /// Whether a process `pid` exists (one of another user counts: EPERM).
    fn exists(pid: u32) -> bool {
        let Ok(p) = libc::pid_t::try_from(pid) else {
            return false;
        };
        // SAFETY: signal 0 sends nothing; it only checks that the process exists.
        p > 0
            && (unsafe { libc::kill(p, 0) } == 0
                || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM))
    }

    /// The pid of the claim's holder when it is a live gitops-gate process on this machine;
    /// `None` when it is gone, or runs elsewhere (then nothing can be checked).
    pub fn live(r: &ClaimRecord) -> Option<u32> {
        let pid = r.pid?;
        if pid == std::process::id() || r.host.is_none() || r.host != host() {
            return None;
        }
        if r.machine.is_some() && r.machine != machine() {
            return None;
        }
        if !exists(pid) {
            return None;
        }
        if let Some(start) = r.pid_start {
            if started(pid) != Some(start) {
                return None;
            }
        }
        if is_gitops_gate(pid) == Some(false) {
            return None;
        }
        Some(pid)
    }
}

/// Claim record fields made safe to print: one line, no control characters, nothing a CI
/// runner reads as a workflow command (`::name::`).
pub mod shown {
    /// A hex object id, or a placeholder.
    pub fn sha(s: &str) -> String {
        if (4..=64).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_hexdigit()) {
            s.to_string()
        } else {
            "(not an object id)".into()
        }
    }

    /// An RFC 3339 time, re-formatted, or a placeholder.
    pub fn time(s: &str) -> String {
        match chrono::DateTime::parse_from_rfc3339(s) {
            Ok(t) => t
                .to_utc()
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            Err(_) => "(not a time)".into(),
        }
    }

    /// Free text: control characters (newlines included) dropped, `::` broken up, at most
    /// 200 characters.
    pub fn text(s: &str) -> String {
        let clean: String = s.chars().filter(|c| !c.is_control()).take(200).collect();
        clean.replace("::", ": :")
    }

    /// A URL without whitespace or control characters (anything else is dropped).
    pub fn url(s: &str) -> Option<String> {
        let ok = !s.is_empty()
            && s.len() <= 2000
            && !s.chars().any(|c| c.is_whitespace() || c.is_control());
        ok.then(|| s.replace("::", "%3A%3A"))
    }
}

fn ledger_moved(
    ledger_ref: &str,
    expected: Option<&str>,
    now: Option<&str>,
    where_: &str,
) -> anyhow::Error {
    Failure::superseded(format!(
        "{ledger_ref} {where_} is {} but the plan was made against {}: another run deployed first, so no stage ran",
        now.unwrap_or("(none)"),
        expected.unwrap_or("(none)")
    ))
    .hint("re-run the pipeline: a new plan starts from the new ledger")
    .into()
}

fn write_record(repo: &Repo, r: &ClaimRecord) -> Result<String, Failure> {
    let id = Identity::new(
        "gitops-gate",
        "gitops-gate@localhost",
        chrono::Utc::now().timestamp(),
    );
    repo.commit_files(None, &[], &[], &id, &id, &r.message())
        .map(|o| o.to_string())
}

/// (claim, ledger) as the store has them.
fn read(
    store: &Store,
    dir: &std::path::Path,
    repo: &Repo,
    refname: &str,
    ledger_ref: &str,
) -> Result<(Option<String>, Option<String>), remote::PushError> {
    match store {
        Store::Origin => {
            let refs = remote::remote_refs(dir, &[refname, ledger_ref])?;
            Ok((refs.get(refname).cloned(), refs.get(ledger_ref).cloned()))
        }
        Store::Local => Ok((
            repo.ref_target(refname).map(|o| o.to_string()),
            repo.ref_target(ledger_ref).map(|o| o.to_string()),
        )),
    }
}

enum Unreadable {
    /// The ref moved on between our read and the fetch: someone is claiming right now.
    Moved(String),
    Unreachable(String),
}

/// The record of claim commit `sha` (`Ok(None)`: it is no claim record).
fn load(
    store: &Store,
    dir: &std::path::Path,
    repo: &Repo,
    refname: &str,
    sha: &str,
) -> Result<Option<ClaimRecord>, Unreadable> {
    if let Store::Origin = store {
        remote::fetch_ref(dir, refname)
            .map_err(|e| Unreadable::Unreachable(format!("cannot fetch {refname}: {e:?}")))?;
    }
    let Some(oid) = repo.parse_oid(sha) else {
        return Ok(None);
    };
    match repo.commit_info(oid) {
        Ok(c) => Ok(ClaimRecord::parse(&c.message)),
        Err(_) if !repo.has_commit(oid) => Err(Unreadable::Moved(format!(
            "{refname} changed while it was being read (another run is claiming it)"
        ))),
        Err(_) => Ok(None),
    }
}

fn cas(
    store: &Store,
    dir: &std::path::Path,
    repo: &Repo,
    refname: &str,
    new: &str,
    expected: Option<&str>,
) -> Result<(), Lost> {
    match store {
        Store::Origin => match remote::push_with_lease(dir, refname, new, expected) {
            Ok(()) => Ok(()),
            Err(remote::PushError::Rejected(why)) => {
                log::debug!("claim push rejected: {why}");
                Err(Lost::Race)
            }
            Err(remote::PushError::Unreachable(why)) => Err(Lost::Unreachable(why)),
        },
        Store::Local => {
            let parse = |s: &str| {
                repo.parse_oid(s)
                    .ok_or_else(|| Lost::Unreachable(format!("`{s}` is not an object id")))
            };
            let new = parse(new)?;
            let expected = expected.map(parse).transpose()?;
            match repo.compare_and_swap(refname, expected, new, "gitops-gate: claim") {
                Ok(()) => Ok(()),
                Err(Ok(_)) => Err(Lost::Race),
                Err(Err(f)) => Err(Lost::Unreachable(f.to_string())),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(state: &str, base: Option<&str>, expires: &str) -> ClaimRecord {
        ClaimRecord {
            schema: 1,
            state: state.into(),
            environment: "qa".into(),
            head: "h".into(),
            base: base.map(str::to_string),
            plan_digest: "d".into(),
            run_id: "r".into(),
            started: "2026-12-01T00:00:00Z".into(),
            expires: expires.into(),
            result: None,
            run_url: None,
            actor: None,
            host: None,
            pid: None,
            pid_start: None,
            machine: None,
        }
    }

    #[test]
    fn only_a_live_gitops_gate_process_on_this_machine_holds_against_break_claim() {
        // A child that is not gitops-gate, and this test process itself.
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let mut r = rec("held", Some("a"), "2026-12-01T02:00:00Z");
        r.host = holder::host();
        r.machine = holder::machine();
        r.pid = Some(child.id());
        r.pid_start = holder::started(child.id());
        assert_eq!(holder::live(&r), None, "sleep is no gitops-gate");
        let _ = child.kill();
        let _ = child.wait();
        // Our own parent runs cargo or a shell, not gitops-gate either; a record naming
        // another host, or no pid at all, cannot be checked.
        r.pid = Some(std::os::unix::process::parent_id());
        r.pid_start = None;
        assert_eq!(holder::live(&r), None);
        r.host = Some("elsewhere.example".into());
        assert_eq!(holder::live(&r), None);
        r.pid = None;
        assert_eq!(holder::live(&r), None);
        // A gone process, or a reused pid, is no holder.
        r.host = holder::host();
        r.pid = Some(u32::MAX);
        assert_eq!(holder::live(&r), None);
        r.pid = Some(1);
        r.pid_start = Some(u64::MAX);
        assert_eq!(holder::live(&r), None);
    }

    #[test]
    fn a_claim_blocks_only_while_held_on_the_same_ledger_and_unexpired() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-12-01T01:00:00Z")
            .unwrap()
            .to_utc();
        let live = rec("held", Some("a"), "2026-12-01T02:00:00Z");
        assert_eq!(dead_because(&live, Some("a"), now), None);
        assert!(dead_because(&live, Some("b"), now)
            .unwrap()
            .contains("ledger moved"));
        assert!(dead_because(&live, None, now).is_some());
        let old = rec("held", Some("a"), "2026-12-01T00:30:00Z");
        assert!(dead_because(&old, Some("a"), now)
            .unwrap()
            .contains("expired"));
        let done = rec("released", Some("a"), "2026-12-01T02:00:00Z");
        assert!(dead_because(&done, Some("a"), now).is_some());
        let first = rec("held", None, "2026-12-01T02:00:00Z");
        assert_eq!(dead_because(&first, None, now), None);
    }

    #[test]
    fn hostile_healthcheck_numbers_saturate_and_the_claim_expires_at_the_cap() {
        let t = crate::run::healthcheck::Target {
            service: "api".into(),
            urls: vec!["http://x/a".into(); 3],
            retries: u32::MAX,
            interval: Duration::from_secs(u64::MAX),
            timeout: Duration::MAX,
            initial_delay: Duration::MAX,
        };
        assert_eq!(healthcheck_bound(&t), Duration::MAX);
        let started = chrono::DateTime::parse_from_rfc3339("2026-12-01T00:00:00Z")
            .unwrap()
            .to_utc();
        assert_eq!(
            expiry(started, Duration::MAX).to_rfc3339(),
            "2026-12-01T06:00:00+00:00"
        );
        assert_eq!(
            expiry(started, Duration::from_secs(600)).to_rfc3339(),
            "2026-12-01T00:10:00+00:00"
        );
        // Near the end of chrono's range, no overflow either.
        let late = chrono::DateTime::<chrono::Utc>::MAX_UTC;
        assert_eq!(expiry(late, MAX_LIFETIME), late);
    }

    #[test]
    fn a_record_claiming_more_than_the_cap_is_expired() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-12-01T01:00:00Z")
            .unwrap()
            .to_utc();
        let forged = rec("held", Some("a"), "2999-01-01T00:00:00Z");
        assert!(dead_because(&forged, Some("a"), now)
            .unwrap()
            .contains("cap"));
        let at_cap = rec("held", Some("a"), "2026-12-01T06:00:00Z");
        assert_eq!(dead_because(&at_cap, Some("a"), now), None);
        let mut bad_start = rec("held", Some("a"), "2026-12-01T02:00:00Z");
        bad_start.started = "yesterday".into();
        assert!(dead_because(&bad_start, Some("a"), now).is_some());
    }

    #[test]
    fn printed_fields_are_checked_and_cleaned() {
        let mut r = rec("held", Some("a"), "2026-12-01T02:00:00Z");
        r.head = "abc\n::error::x".into();
        r.plan_digest = "d\n::error::x".into();
        r.started = "2026-12-01T00:00:00Z\n::error::x".into();
        r.actor = Some("eve\n::warning::y\r".into());
        r.run_url = Some("https://ci/run/1\n::error::z".into());
        let d = describe(&r);
        assert!(!d.contains('\n') && !d.contains('\r'), "{d}");
        assert!(!d.contains("::"), "{d}");
        assert!(
            d.contains("(not an object id)") && d.contains("(not a time)"),
            "{d}"
        );
        assert!(
            !d.contains("ci/run"),
            "a run_url with a newline is dropped: {d}"
        );
        r.run_url = Some("https://ci.example.com/run/1".into());
        r.head = "0123abcd".into();
        r.started = "2026-12-01T00:00:00Z".into();
        let d = describe(&r);
        assert!(
            d.contains("(https://ci.example.com/run/1)")
                && d.contains("for 0123abcd since 2026-12-01T00:00:00Z"),
            "{d}"
        );
        assert_eq!(shown::url("https://x/a b"), None);
        assert_eq!(shown::text("a\u{1b}[31mb"), "a[31mb");
    }

    #[test]
    fn the_record_round_trips_through_the_commit_message() {
        let r = rec("held", Some("a"), "2026-12-01T02:00:00Z");
        let m = r.message();
        assert!(m.starts_with("gitops-gate claim: qa h (held)\n\n{"));
        assert_eq!(ClaimRecord::parse(&m), Some(r));
        assert_eq!(ClaimRecord::parse("not a claim"), None);
    }
}
