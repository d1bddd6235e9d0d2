//! Reading a push: the history walk and the descriptor side, at the same time. The walk is
//! `git log` in its own process (see `repo::git_log`), so it runs from the start on the
//! other core while this thread reads the descriptors on a repository handle of its own and
//! every core parses and judges them; only the rules that need commits wait for the walk.
//! The handles, the threads and the closing of the handles' caches live here, not in the
//! driver.
use super::descriptors::{judge_descriptors, read_descriptors, Descriptors, Judgement};
use super::Request;
use crate::config::{ConfigErrors, Policy};
use crate::model::CommitId;
use crate::repo::{self, Range, RangeRequest, Repo};

/// What `read_push` needs of the located target.
pub(super) struct Target<'a> {
    pub environment: &'a str,
    pub branch: Option<&'a str>,
    pub head: CommitId,
    pub head_policy: &'a Option<Result<Policy, ConfigErrors>>,
}

/// The range of commits (from the ledger) and the judged descriptor side of the push.
pub(super) fn read_push(
    repo: Repo,
    req: &Request,
    t: &Target,
    started: std::time::Instant,
) -> anyhow::Result<(anyhow::Result<Range>, anyhow::Result<Judgement>)> {
    let (ctx, policy_file) = (&req.ctx, req.policy_path.as_str());
    let (environment, head, head_policy) = (t.environment, t.head, t.head_policy);
    let head_max = match &head_policy {
        Some(Ok(p)) => p.gates_for(environment).max_commits(),
        _ => 10_000,
    };
    let range_req = RangeRequest {
        env: environment,
        head,
        before: ctx.before.as_deref(),
        base_flag: req.base.as_deref(),
        bootstrap: req.bootstrap,
        fetch: req.fetch,
        refresh: req.refresh,
        max_commits: head_max,
    };
    let resolved = repo::range::resolve(&repo, &range_req)?;
    let job = Descriptors {
        environment,
        flag_env: req.env.is_some(),
        branch: t.branch,
        head,
        base: resolved.base(),
        ledger: resolved.ledger(),
        head_policy,
        policy_file,
        terraform_plans: &req.terraform_plans,
    };
    let git_dir = repo.git_dir().to_path_buf();
    // The descriptor side reads on a handle of its own, closed once every descriptor is
    // read: that unmaps the pack and frees the handle's caches (about 10 MiB for 10,000
    // descriptors) before the stages are laid out. A pack is mapped once for all the
    // handles that read it, so this first handle is closed as well; the integrations open
    // a new one.
    drop(repo);
    // The history walk needs only the base and the head, and the descriptors need no
    // commits. The walk is `git log` in its own process (see `repo::git_log`), so it runs
    // from the start on the other core while this thread reads the descriptors on its handle
    // and every core parses and judges them; only the rules that need commits wait for it.
    let (range, judged) = std::thread::scope(|s| {
        let walker = s.spawn(|| {
            let w = Repo::open(&git_dir).and_then(|r| repo::range::walk(&r, &range_req, resolved));
            log::debug!("timing: history walk {:?}", started.elapsed());
            w
        });
        let judged = (|| {
            let repo = Repo::open(&git_dir)?;
            let read = read_descriptors(&repo, job.base, head, policy_file, req.texts)?;
            log::debug!(
                "timing: descriptors read and parsed {:?}",
                started.elapsed()
            );
            let mut judged = judge_descriptors(&repo, &job, read)?;
            repo.close_in_background();
            if let Judgement::Judged(j) = &mut judged {
                j.lay_out(environment, head);
            }
            log::debug!("timing: descriptors judged {:?}", started.elapsed());
            Ok::<_, anyhow::Error>(judged)
        })();
        (walker.join(), judged)
    });
    Ok((
        range
            .map_err(|_| {
                crate::error::Failure::new(
                    crate::error::Exit::Internal,
                    "the history walk stopped unexpectedly (its thread panicked)",
                )
            })?
            .map_err(anyhow::Error::from),
        judged,
    ))
}
