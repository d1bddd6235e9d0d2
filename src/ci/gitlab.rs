//! GitLab CI: predefined variables. `CI_COMMIT_BEFORE_SHA` is all zeros for new branches,
//! merge request pipelines and manual runs, so it is a hint only.
use super::{sha_or_none, Env, PullRequest, PushContext, PushKind};
use crate::error::Failure;

/// Pipeline sources we know how to read; others are refused rather than guessed at.
const SOURCES: &[&str] = &[
    "push",
    "web",
    "schedule",
    "api",
    "external",
    "chat",
    "webide",
    "merge_request_event",
    "external_pull_request_event",
    "parent_pipeline",
    "trigger",
    "pipeline",
];

pub fn detect(env: &Env) -> Result<PushContext, Failure> {
    let source = env.get("CI_PIPELINE_SOURCE").unwrap_or("push");
    if !SOURCES.contains(&source) {
        return Err(
            Failure::invalid(format!("unknown GitLab CI_PIPELINE_SOURCE `{source}`")).hint(
                format!(
                    "known sources: {}; or pass --env/--base/--head",
                    SOURCES.join(", ")
                ),
            ),
        );
    }
    let mut ctx = PushContext::local();
    ctx.ci = super::CiSystem::Gitlab;
    ctx.event = source.to_string();
    ctx.head = sha_or_none(env.get("CI_COMMIT_SHA"));
    ctx.run_url = env.get("CI_PIPELINE_URL").map(str::to_string);
    ctx.actor = env.get("GITLAB_USER_LOGIN").map(str::to_string);
    ctx.repository = env.get("CI_PROJECT_PATH").map(str::to_string);
    if source == "merge_request_event" {
        let target = env
            .get("CI_MERGE_REQUEST_TARGET_BRANCH_NAME")
            .ok_or_else(|| {
                Failure::invalid(
                    "a merge request pipeline without CI_MERGE_REQUEST_TARGET_BRANCH_NAME",
                )
            })?;
        ctx.branch = Some(target.to_string());
        ctx.before = sha_or_none(env.get("CI_MERGE_REQUEST_DIFF_BASE_SHA"));
        ctx.pull_request = Some(PullRequest {
            number: env
                .get("CI_MERGE_REQUEST_IID")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0),
            head_sha: ctx.head.clone(),
            head_ref: env
                .get("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME")
                .map(str::to_string),
            base_ref: target.to_string(),
            merged: false,
        });
        return Ok(ctx);
    }
    if let Some(tag) = env.get("CI_COMMIT_TAG") {
        ctx.tag = Some(tag.to_string());
        ctx.kind = PushKind::Tag;
        return Ok(ctx);
    }
    ctx.branch = env
        .get("CI_COMMIT_BRANCH")
        .or(env.get("CI_COMMIT_REF_NAME"))
        .map(str::to_string);
    ctx.before = sha_or_none(env.get("CI_COMMIT_BEFORE_SHA"));
    if ctx.before.is_none() && source == "push" {
        ctx.kind = PushKind::Create;
    }
    Ok(ctx)
}
