//! Jenkins: Git plugin and multibranch variables. `GIT_PREVIOUS_SUCCESSFUL_COMMIT` is only a
//! hint: unset, empty, `null` and equal to `GIT_COMMIT` all mean "no previous commit".
use super::{sha_or_none, Env, PullRequest, PushContext, PushKind};
use crate::error::Failure;

pub fn detect(env: &Env) -> Result<PushContext, Failure> {
    let mut ctx = PushContext::local();
    ctx.ci = super::CiSystem::Jenkins;
    ctx.event = "push".into();
    let head = sha_or_none(env.get("GIT_COMMIT"));
    let previous = sha_or_none(env.get("GIT_PREVIOUS_SUCCESSFUL_COMMIT"))
        .or_else(|| sha_or_none(env.get("GIT_PREVIOUS_COMMIT")))
        .filter(|p| Some(p) != head.as_ref());
    ctx.head = head;
    ctx.before = previous;
    ctx.run_url = env.get("BUILD_URL").map(str::to_string);
    // The GitHub repository the approvals gate asks about: GITHUB_REPOSITORY when the job
    // sets it, else owner/name from the Git plugin's remote URL.
    ctx.repository = env
        .get("GITHUB_REPOSITORY")
        .map(str::to_string)
        .or_else(|| env.get("GIT_URL").and_then(owner_name));
    ctx.actor = env
        .get("CHANGE_AUTHOR")
        .or(env.get("BUILD_USER_ID"))
        .map(str::to_string);
    if let Some(id) = env.get("CHANGE_ID") {
        let target = env.get("CHANGE_TARGET").ok_or_else(|| {
            Failure::invalid("a Jenkins change request build (CHANGE_ID set) without CHANGE_TARGET")
                .hint("pass --env and --head explicitly")
        })?;
        ctx.event = "pull_request".into();
        ctx.branch = Some(target.to_string());
        ctx.pull_request = Some(PullRequest {
            number: id.trim_start_matches("PR-").parse().unwrap_or(0),
            head_sha: ctx.head.clone(),
            head_ref: env.get("CHANGE_BRANCH").map(str::to_string),
            base_ref: target.to_string(),
            merged: false,
        });
        return Ok(ctx);
    }
    if let Some(tag) = env.get("TAG_NAME") {
        ctx.tag = Some(tag.to_string());
        ctx.kind = PushKind::Tag;
        return Ok(ctx);
    }
    ctx.branch = env
        .get("BRANCH_NAME")
        .or(env.get("GIT_LOCAL_BRANCH"))
        .map(str::to_string)
        .or_else(|| env.get("GIT_BRANCH").map(strip_remote));
    if ctx.before.is_none() {
        ctx.kind = PushKind::Create;
    }
    Ok(ctx)
}

/// `owner/name` of `https://github.com/owner/name.git`, `git@github.com:owner/name.git` or
/// `ssh://git@host/owner/name`: the last two path segments, `.git` dropped.
fn owner_name(url: &str) -> Option<String> {
    let path = match url.split_once("://") {
        Some((_, rest)) => rest.split_once('/')?.1,
        None => url.split_once(':')?.1,
    };
    let parts: Vec<&str> = path
        .trim_end_matches('/')
        .trim_end_matches(".git")
        .split('/')
        .filter(|p| !p.is_empty())
        .collect();
    match parts.as_slice() {
        [.., owner, name] => Some(format!("{owner}/{name}")),
        _ => None,
    }
}

/// `origin/qa`, `refs/remotes/origin/qa` and `remotes/origin/qa` all name branch `qa`.
fn strip_remote(b: &str) -> String {
    let b = b
        .strip_prefix("refs/remotes/")
        .or_else(|| b.strip_prefix("remotes/"))
        .unwrap_or(b);
    if let Some(rest) = b.strip_prefix("refs/heads/") {
        return rest.to_string();
    }
    match b.split_once('/') {
        Some((_remote, branch)) => branch.to_string(),
        None => b.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::{owner_name, strip_remote};
    #[test]
    fn strips_the_remote_only() {
        assert_eq!(strip_remote("origin/qa"), "qa");
        assert_eq!(strip_remote("origin/feature/x"), "feature/x");
        assert_eq!(strip_remote("refs/remotes/origin/prod"), "prod");
        assert_eq!(strip_remote("qa"), "qa");
    }

    #[test]
    fn the_github_repository_comes_from_the_remote_url() {
        for url in [
            "https://github.com/acme/deployments.git",
            "https://github.com/acme/deployments",
            "git@github.com:acme/deployments.git",
            "ssh://git@github.example.com/acme/deployments.git",
        ] {
            assert_eq!(
                owner_name(url).as_deref(),
                Some("acme/deployments"),
                "{url}"
            );
        }
        assert_eq!(owner_name("/srv/git/deployments.git"), None);
    }
}
