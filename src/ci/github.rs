//! GitHub Actions: `GITHUB_*` variables plus the webhook payload at `GITHUB_EVENT_PATH`.
use super::{is_zero_sha, sha_or_none, split_ref, Env, PullRequest, PushContext, PushKind};
use crate::error::Failure;
use serde_json::Value;

pub fn detect(env: &Env) -> Result<PushContext, Failure> {
    let event = env.get("GITHUB_EVENT_NAME").unwrap_or("push").to_string();
    let payload = read_payload(env)?;
    let mut ctx = PushContext::local();
    ctx.ci = super::CiSystem::Github;
    ctx.event = event.clone();
    ctx.actor = env.get("GITHUB_ACTOR").map(str::to_string);
    ctx.triggering_actor = env.get("GITHUB_TRIGGERING_ACTOR").map(str::to_string);
    ctx.repository = env.get("GITHUB_REPOSITORY").map(str::to_string);
    if let (Some(server), Some(repo), Some(run)) = (
        env.get("GITHUB_SERVER_URL"),
        env.get("GITHUB_REPOSITORY"),
        env.get("GITHUB_RUN_ID"),
    ) {
        ctx.run_url = Some(format!("{server}/{repo}/actions/runs/{run}"));
    }
    match event.as_str() {
        "push" => from_push(&mut ctx, env, payload.as_ref())?,
        "pull_request" | "pull_request_target" | "pull_request_review" => {
            from_pull_request(&mut ctx, payload.as_ref())?
        }
        "deployment" | "deployment_status" => from_deployment(&mut ctx, env, payload.as_ref()),
        _ => {
            // workflow_dispatch, schedule, repository_dispatch...: the ref and SHA of the run.
            let (branch, tag) = split_ref(env.get("GITHUB_REF").unwrap_or_default());
            ctx.branch = branch;
            ctx.tag = tag.clone();
            ctx.head = env.get("GITHUB_SHA").map(str::to_string);
            if tag.is_some() {
                ctx.kind = PushKind::Tag;
            }
        }
    }
    Ok(ctx)
}

fn read_payload(env: &Env) -> Result<Option<Value>, Failure> {
    let Some(path) = env.get("GITHUB_EVENT_PATH") else {
        return Ok(None);
    };
    let text = std::fs::read(path).map_err(|e| {
        Failure::invalid(format!(
            "cannot read the event payload GITHUB_EVENT_PATH={path}: {e}"
        ))
        .hint("run inside GitHub Actions, or pass --base/--head/--env explicitly")
    })?;
    serde_json::from_slice(&text).map(Some).map_err(|e| {
        Failure::invalid(format!("the event payload {path} is not JSON: {e}"))
            .hint("GitHub writes this file; pass --base/--head/--env to run without it")
    })
}

fn s<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p)?;
    }
    cur.as_str()
}

fn b(v: &Value, key: &str) -> bool {
    v.get(key).and_then(Value::as_bool).unwrap_or(false)
}

fn from_push(ctx: &mut PushContext, env: &Env, payload: Option<&Value>) -> Result<(), Failure> {
    let Some(p) = payload else {
        return Err(Failure::invalid("a push event without GITHUB_EVENT_PATH")
            .hint("GitHub always sets it; locally pass --base/--head/--env"));
    };
    let git_ref = s(p, &["ref"]).or(env.get("GITHUB_REF")).unwrap_or_default();
    let (branch, tag) = split_ref(git_ref);
    if branch.is_none() && tag.is_none() {
        return Err(Failure::invalid(format!(
            "the push payload's ref `{git_ref}` is neither a branch nor a tag"
        )));
    }
    let after = s(p, &["after"]);
    let before = s(p, &["before"]);
    ctx.branch = branch;
    ctx.tag = tag.clone();
    ctx.before = sha_or_none(before);
    ctx.head = sha_or_none(after);
    ctx.forced_hint = b(p, "forced");
    ctx.kind = if b(p, "deleted") || is_zero_sha(after) {
        ctx.head = None;
        PushKind::Delete
    } else if tag.is_some() {
        PushKind::Tag
    } else if b(p, "created") || is_zero_sha(before) {
        PushKind::Create
    } else if ctx.forced_hint {
        PushKind::Force
    } else {
        PushKind::Update
    };
    if ctx.actor.is_none() {
        ctx.actor = s(p, &["sender", "login"]).map(str::to_string);
    }
    Ok(())
}

fn from_pull_request(ctx: &mut PushContext, payload: Option<&Value>) -> Result<(), Failure> {
    let pr = payload.and_then(|p| p.get("pull_request")).ok_or_else(|| {
        Failure::invalid("a pull_request event whose payload has no `pull_request`")
            .hint("pass --base/--head/--env explicitly")
    })?;
    let base_ref = s(pr, &["base", "ref"])
        .ok_or_else(|| Failure::invalid("the pull request payload has no base.ref"))?
        .to_string();
    let number = pr
        .get("number")
        .and_then(Value::as_u64)
        .or_else(|| {
            payload
                .and_then(|p| p.get("number"))
                .and_then(Value::as_u64)
        })
        .unwrap_or(0);
    let merged = b(pr, "merged") || pr.get("merged_at").is_some_and(|m| !m.is_null());
    // The PR's own head, never GITHUB_SHA (the synthetic merge commit).
    let head_sha = sha_or_none(s(pr, &["head", "sha"]));
    ctx.branch = Some(base_ref.clone());
    ctx.head = head_sha.clone();
    ctx.before = sha_or_none(s(pr, &["base", "sha"]));
    ctx.kind = PushKind::Update;
    ctx.pull_request = Some(PullRequest {
        number,
        head_sha,
        head_ref: s(pr, &["head", "ref"]).map(str::to_string),
        base_ref,
        merged,
    });
    if ctx.actor.is_none() {
        ctx.actor = payload
            .and_then(|p| s(p, &["sender", "login"]))
            .map(str::to_string);
    }
    Ok(())
}

/// A deployment names the commit and ref it deploys; the run's GITHUB_SHA is the same commit.
fn from_deployment(ctx: &mut PushContext, env: &Env, payload: Option<&Value>) {
    let d = payload.and_then(|p| p.get("deployment"));
    ctx.head = d
        .and_then(|d| sha_or_none(s(d, &["sha"])))
        .or_else(|| env.get("GITHUB_SHA").map(str::to_string));
    let r = d.and_then(|d| s(d, &["ref"])).unwrap_or_default();
    let (branch, tag) = if r.starts_with("refs/") {
        split_ref(r)
    } else if r.is_empty() || r.len() == 40 && r.bytes().all(|b| b.is_ascii_hexdigit()) {
        split_ref(env.get("GITHUB_REF").unwrap_or_default())
    } else {
        (Some(r.to_string()), None)
    };
    ctx.branch = branch;
    ctx.tag = tag;
}
