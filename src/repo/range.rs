//! The range algorithm (threats.md section 2): the base is the environment's ledger commit,
//! `before` is only a hint, and a missing base, a shallow clone, a rewritten history and an
//! over-long range are each an explicit outcome, never "no commits, so pass".
use super::remote::{self, FetchError};
use super::{CommitInfo, Repo};
use crate::error::Failure;
use crate::model::{BaseSource, CommitId};

pub struct RangeRequest<'a> {
    pub env: &'a str,
    pub head: CommitId,
    pub before: Option<&'a str>,
    pub base_flag: Option<&'a str>,
    pub bootstrap: bool,
    /// May we run `git fetch` to complete a shallow clone or find the ledger?
    pub fetch: bool,
    /// Refresh every ledger and the run records from `origin` before judging, so a reused
    /// checkout (a Jenkins workspace, a persistent runner) never judges against a stale copy.
    /// Off only with `--no-fetch`.
    pub refresh: bool,
    pub max_commits: usize,
}

#[derive(Debug, Clone)]
pub struct Range {
    pub base: Option<CommitId>,
    pub source: BaseSource,
    pub head: CommitId,
    /// The ledger commit when the plan was made (the plan is bound to it).
    pub ledger: Option<CommitId>,
    pub commits: Vec<CommitInfo>,
    /// The base is not an ancestor of the head: history was rewritten (a force push).
    pub rewritten: bool,
    /// The walk stopped at `max_commits`.
    pub over_limit: bool,
    /// We deepened a shallow clone to get here.
    pub fetched: bool,
}

impl Range {
    /// Head is already what the ledger says is deployed.
    pub fn already_deployed(&self) -> bool {
        self.ledger == Some(self.head)
    }
}

const FETCH_DEPTH_HINT: &str = "check out the full history: actions/checkout with `fetch-depth: 0` (GitLab: GIT_DEPTH: 0), or allow gitops-gate to fetch (--fetch)";

/// The base a push is judged from, found (and fetched) before any history is walked.
#[derive(Debug, Clone)]
pub struct Resolved {
    base: Option<CommitId>,
    base_sha: Option<String>,
    source: BaseSource,
    ledger: Option<CommitId>,
    fetched: bool,
}

impl Resolved {
    pub fn base(&self) -> Option<CommitId> {
        self.base
    }
    pub fn ledger(&self) -> Option<CommitId> {
        self.ledger
    }
}

pub fn compute(repo: &Repo, req: &RangeRequest) -> Result<Range, Failure> {
    let resolved = resolve(repo, req)?;
    walk(repo, req, resolved)
}

/// Steps 1-4 of the range algorithm: the base, from the ledger, the flags or the event,
/// fetched or deepened when this clone lacks it.
pub fn resolve(repo: &Repo, req: &RangeRequest) -> Result<Resolved, Failure> {
    let ledger_ref = Repo::ledger_ref(req.env);
    let mut fetched = false;
    let mut ledger = repo.ledger(req.env);
    let mut asked_origin = false;
    if req.refresh || (ledger.is_none() && req.fetch) {
        asked_origin = true;
        // A CI checkout holds branches only. Every environment's ledger comes with this one
        // (a pattern, so a remote with none yet is no error), then the run records: the
        // promotion rule reads the lower environment's, and the capacity rule the sums
        // recorded on the deployed commit. The records are fetched by their exact name, as a
        // pattern would also take any ref beside it.
        match repo.fetch_ledgers() {
            Ok(()) => ledger = repo.ledger(req.env),
            Err(FetchError::Missing(_)) | Err(FetchError::NoRemote) => {}
            Err(FetchError::Unreachable(e)) => {
                return Err(Failure::unavailable(format!(
                    "cannot reach origin to read the ledger {ledger_ref}: {e}"
                ))
                .hint("the deployed state lives on the remote; retry when it is reachable"))
            }
        }
    }

    let (base_sha, source): (Option<String>, BaseSource) = if let Some(b) = req.base_flag {
        (Some(b.to_string()), BaseSource::Flag)
    } else if let Some(l) = ledger {
        (Some(l.to_string()), BaseSource::Ledger)
    } else if let Some(b) = req.before {
        (Some(b.to_string()), BaseSource::Before)
    } else if req.bootstrap {
        (None, BaseSource::Bootstrap)
    } else {
        return Err(no_base(repo, req.env, asked_origin));
    };

    let mut base = match &base_sha {
        Some(sha) => Some(resolve_or_fetch(repo, sha, req, &mut fetched)?),
        None => None,
    };
    if source == BaseSource::Flag || source == BaseSource::Before {
        // A flag may name a branch or tag; keep the commit.
        base = base.or_else(|| base_sha.as_deref().and_then(|s| repo.resolve(s).ok()));
    }

    // In a shallow clone, ancestry answers are unreliable until the history is complete.
    if repo.is_shallow() && req.fetch && !fetched {
        let mut want = vec![req.head.to_string()];
        want.extend(base.map(|b| b.to_string()));
        deepen(repo, &want)?;
        fetched = true;
    }
    Ok(Resolved {
        base,
        base_sha,
        source,
        ledger,
        fetched,
    })
}

/// Steps 5-6: ancestry, the force-push and supersede decisions, and the walk of every
/// commit. It needs no other part of the evaluation, so it can run beside the descriptor
/// reading (on its own repository handle).
pub fn walk(repo: &Repo, req: &RangeRequest, r: Resolved) -> Result<Range, Failure> {
    let ledger_ref = Repo::ledger_ref(req.env);
    let Resolved {
        base,
        base_sha,
        source,
        ledger,
        mut fetched,
    } = r;
    // libgit2 reads the shallow grafts once per open: look again after git changed them.
    let reopened;
    let repo = if fetched {
        reopened = Repo::open(repo.git_dir())?;
        &reopened
    } else {
        repo
    };
    let mut walk = repo.walk_range(base, req.head, req.max_commits)?;
    // The walk answers "does the head descend from the base?" when it is complete and the
    // clone is not shallow (the commit just after the base is always walked); otherwise ask
    // the commit graph, as before.
    let descends = match base {
        None => true,
        Some(b) if b == req.head || walk.reaches_hidden => true,
        Some(b) if walk.over_limit || repo.is_shallow() => repo.is_ancestor(b, req.head)?,
        Some(_) => false,
    };
    if let (Some(l), BaseSource::Ledger) = (ledger, source) {
        if l != req.head && !descends && repo.is_ancestor(req.head, l)? {
            return Err(Failure::superseded(format!(
                "{} is already behind what {} runs: the ledger {ledger_ref} is at {l}, a descendant of it",
                short(req.head),
                req.env
            ))
            .hint("a newer push was deployed first; nothing to do for this older one"));
        }
    }

    let rewritten = !descends;
    if rewritten && repo.is_shallow() {
        return Err(Failure::invalid(format!(
            "the clone is shallow: cannot tell whether {} descends from the base {}",
            short(req.head),
            base.map(short).unwrap_or_default()
        ))
        .hint(FETCH_DEPTH_HINT));
    }
    if rewritten && source == BaseSource::Before {
        return Err(Failure::invalid(format!(
            "{} has no ledger and the previous tip {} is not an ancestor of {} (force push?)",
            req.env,
            base_sha.as_deref().unwrap_or(""),
            short(req.head)
        ))
        .hint(format!(
            "bootstrap the environment with --base <SHA of what {} runs now>",
            req.env
        )));
    }

    if !walk.boundary.is_empty() && req.fetch && !fetched {
        deepen(repo, &[req.head.to_string()])?;
        fetched = true;
        walk = Repo::open(repo.git_dir())?.walk_range(base, req.head, req.max_commits)?;
    }
    if !walk.boundary.is_empty() {
        return Err(Failure::invalid(format!(
            "the clone is shallow: history behind {} is missing, so the range {}..{} cannot be complete",
            walk.boundary[0].get(..7).unwrap_or(&walk.boundary[0]),
            base.map(short).unwrap_or_else(|| "(root)".into()),
            short(req.head)
        ))
        .hint(FETCH_DEPTH_HINT));
    }
    Ok(Range {
        base,
        source,
        head: req.head,
        ledger,
        commits: walk.commits,
        rewritten,
        over_limit: walk.over_limit,
        fetched,
    })
}

fn short(o: CommitId) -> String {
    o.short()
}

fn no_base(repo: &Repo, env: &str, asked_origin: bool) -> Failure {
    let ledger = Repo::ledger_ref(env);
    let failure = Failure::invalid(format!(
        "environment `{env}` has no ledger ({ledger}) and the push names no previous commit",
    ));
    if !asked_origin && remote::has_remote(&repo.dir(), "origin") {
        // A fresh clone has branches only: the ledger is probably on origin.
        return failure.hint(format!(
            "fetch it first: git fetch origin '+refs/gitops-gate/*:refs/gitops-gate/*' (or drop --no-fetch); bootstrap only if origin has no {ledger} either"
        ));
    }
    failure.hint(format!(
        "bootstrap it once: gitops-gate plan --env {env} --base <SHA of what {env} runs now> (or --bootstrap to judge all history)"
    ))
}

/// The base commit, fetching it when this clone lacks it.
fn resolve_or_fetch(
    repo: &Repo,
    sha: &str,
    req: &RangeRequest,
    fetched: &mut bool,
) -> Result<CommitId, Failure> {
    if let Some(oid) = repo.parse_oid(sha) {
        if repo.has_commit(oid) {
            return Ok(oid);
        }
        if !req.fetch {
            return Err(Failure::invalid(format!(
                "the base commit {sha} is not in this clone{}",
                if repo.is_shallow() { " (shallow)" } else { "" }
            ))
            .hint(FETCH_DEPTH_HINT));
        }
        deepen(repo, &[sha.to_string(), req.head.to_string()])?;
        *fetched = true;
        if repo.has_commit(oid) {
            return Ok(oid);
        }
        return Err(Failure::invalid(format!(
            "the remote answered but does not have the base commit {sha}"
        ))
        .hint("the base may have been rewritten away; bootstrap with --base <SHA deployed now>"));
    }
    repo.resolve(sha)
}

/// Completes a shallow clone (and fetches the named commits) with the git CLI.
fn deepen(repo: &Repo, shas: &[String]) -> Result<(), Failure> {
    let unshallow = repo.is_shallow();
    log::info!("fetching missing history from origin (unshallow: {unshallow})");
    match remote::fetch(&repo.dir(), "origin", shas, unshallow) {
        Ok(()) => Ok(()),
        // The remote may refuse to serve bare SHAs; a plain unshallow still completes history.
        Err(FetchError::Missing(_)) if unshallow => {
            match remote::fetch(&repo.dir(), "origin", &[], true) {
                Ok(()) => Ok(()),
                Err(e) => Err(fetch_failure(e)),
            }
        }
        Err(FetchError::Missing(_)) => Ok(()),
        Err(e) => Err(fetch_failure(e)),
    }
}

fn fetch_failure(e: FetchError) -> Failure {
    match e {
        FetchError::Unreachable(msg) => Failure::unavailable(format!(
            "cannot fetch the missing history from origin: {msg}"
        ))
        .hint("retry when the remote is reachable, or check out with fetch-depth: 0"),
        FetchError::Missing(msg) => Failure::invalid(format!(
            "the remote answered without the missing history: {msg}"
        ))
        .hint(FETCH_DEPTH_HINT),
        FetchError::NoRemote => Failure::invalid(
            "the clone is shallow or lacks the base, and there is no `origin` remote to fetch from",
        )
        .hint(FETCH_DEPTH_HINT),
    }
}
