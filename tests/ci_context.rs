//! Every CI system's variables, and every real GitHub payload, into the right push context.
use gitops_gate::ci::{self, CiSystem, Env, Overrides, PushKind};
use std::path::PathBuf;

fn fixture(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/github")
        .join(name)
        .display()
        .to_string()
}

fn github(event: &str, payload: &str, extra: &[(&str, &str)]) -> ci::PushContext {
    let mut pairs = vec![
        ("GITHUB_ACTIONS".to_string(), "true".to_string()),
        ("GITHUB_EVENT_NAME".to_string(), event.to_string()),
        ("GITHUB_EVENT_PATH".to_string(), fixture(payload)),
        (
            "GITHUB_SERVER_URL".to_string(),
            "https://github.com".to_string(),
        ),
        (
            "GITHUB_REPOSITORY".to_string(),
            "Codertocat/Hello-World".to_string(),
        ),
        ("GITHUB_RUN_ID".to_string(), "42".to_string()),
        ("GITHUB_ACTOR".to_string(), "Codertocat".to_string()),
    ];
    pairs.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    ci::detect(&Env::from_pairs(pairs), &Overrides::default()).unwrap()
}

#[test]
fn tag_deletions_are_deletes_with_no_head() {
    for f in [
        "payload.json",
        "1.payload.json",
        "with-installation.payload.json",
        "with-organization.payload.json",
    ] {
        let c = github("push", f, &[]);
        assert_eq!(c.kind, PushKind::Delete, "{f}");
        assert_eq!(c.head, None, "{f}");
        assert_eq!(c.tag.as_deref(), Some("simple-tag"), "{f}");
        assert_eq!(
            c.before.as_deref(),
            Some("6113728f27ae82c7b1a177c8d03f9e96e0adf246")
        );
        assert_eq!(
            c.run_url.as_deref(),
            Some("https://github.com/Codertocat/Hello-World/actions/runs/42")
        );
    }
}

#[test]
fn new_branches_are_creations_with_no_before() {
    for f in [
        "with-new-branch.payload.json",
        "with-no-username-committer.payload.json",
    ] {
        let c = github("push", f, &[]);
        assert_eq!(c.kind, PushKind::Create, "{f}");
        assert_eq!(c.before, None);
        assert_eq!(c.branch.as_deref(), Some("master"));
        assert_eq!(
            c.head.as_deref(),
            Some("6113728f27ae82c7b1a177c8d03f9e96e0adf246")
        );
        assert_eq!(c.ci, CiSystem::Github);
    }
}

#[test]
fn pull_requests_use_the_real_head_never_the_merge_commit() {
    for f in [
        "opened.payload.json",
        "closed.payload.json",
        "synchronize.payload.json",
    ] {
        // GITHUB_SHA is the synthetic merge commit: it must not become the head.
        let c = github(
            "pull_request",
            f,
            &[
                ("GITHUB_SHA", "1111111111111111111111111111111111111111"),
                ("GITHUB_REF", "refs/pull/2/merge"),
            ],
        );
        assert_eq!(
            c.head.as_deref(),
            Some("ec26c3e57ca3a959ca5aad62de7213c562f8c821"),
            "{f}"
        );
        assert_eq!(
            c.branch.as_deref(),
            Some("master"),
            "the base branch, not 2/merge"
        );
        let pr = c.pull_request.unwrap();
        assert_eq!(pr.number, 2);
        assert_eq!(pr.head_ref.as_deref(), Some("changes"));
        assert!(!pr.merged, "{f}: closed without merge is not merged");
        assert_eq!(
            c.before.as_deref(),
            Some("f95f852bd8fca8fcc58a9a2d6c842781e32a215e")
        );
    }
    let c = github("pull_request_review", "review-submitted.payload.json", &[]);
    assert!(c.pull_request.is_some());
    assert!(c.head.is_some());
}

#[test]
fn deployments_and_dispatch_take_the_run_ref_and_sha() {
    let c = github("deployment", "deployment.payload.json", &[]);
    assert_eq!(
        c.head.as_deref(),
        Some("f95f852bd8fca8fcc58a9a2d6c842781e32a215e")
    );
    assert_eq!(c.branch.as_deref(), Some("master"));
    let c = github("deployment_status", "deployment_status.payload.json", &[]);
    assert!(c.head.is_some());
    let sha = "2222222222222222222222222222222222222222";
    let c = github(
        "workflow_dispatch",
        "with-new-branch.payload.json",
        &[("GITHUB_REF", "refs/heads/qa"), ("GITHUB_SHA", sha)],
    );
    assert_eq!(c.branch.as_deref(), Some("qa"));
    assert_eq!(c.head.as_deref(), Some(sha));
    assert_eq!(c.before, None);
}

#[test]
fn an_unreadable_payload_is_invalid_input() {
    let env = Env::from_pairs([
        ("GITHUB_ACTIONS", "true"),
        ("GITHUB_EVENT_NAME", "push"),
        ("GITHUB_EVENT_PATH", "/nonexistent/event.json"),
    ]);
    let e = ci::detect(&env, &Overrides::default()).unwrap_err();
    assert_eq!(e.exit, gitops_gate::error::Exit::Invalid);
    assert!(e.message.contains("/nonexistent/event.json"), "{e}");
}

fn jenkins(extra: &[(&str, &str)]) -> ci::PushContext {
    let mut pairs = vec![
        ("JENKINS_URL", "https://jenkins.example.com/"),
        ("BUILD_URL", "https://jenkins.example.com/job/x/7/"),
    ];
    pairs.extend_from_slice(extra);
    ci::detect(&Env::from_pairs(pairs), &Overrides::default()).unwrap()
}

#[test]
fn jenkins_previous_commit_is_only_a_hint_in_every_spelling() {
    let head = "3333333333333333333333333333333333333333";
    for prev in [None, Some(""), Some("null"), Some(head)] {
        let mut v = vec![("GIT_COMMIT", head), ("GIT_BRANCH", "origin/qa")];
        if let Some(p) = prev {
            v.push(("GIT_PREVIOUS_SUCCESSFUL_COMMIT", p));
        }
        let c = jenkins(&v);
        assert_eq!(c.before, None, "{prev:?} means no previous commit");
        assert_eq!(c.kind, PushKind::Create);
        assert_eq!(c.branch.as_deref(), Some("qa"));
        assert_eq!(c.ci, CiSystem::Jenkins);
    }
    let prev = "4444444444444444444444444444444444444444";
    let c = jenkins(&[
        ("GIT_COMMIT", head),
        ("GIT_BRANCH", "origin/qa"),
        ("GIT_PREVIOUS_SUCCESSFUL_COMMIT", prev),
    ]);
    assert_eq!(c.before.as_deref(), Some(prev));
    assert_eq!(c.kind, PushKind::Update);
    assert_eq!(
        c.run_url.as_deref(),
        Some("https://jenkins.example.com/job/x/7/")
    );
}

#[test]
fn jenkins_multibranch_and_change_requests() {
    let head = "3333333333333333333333333333333333333333";
    let c = jenkins(&[
        ("GIT_COMMIT", head),
        ("BRANCH_NAME", "staging"),
        ("GIT_BRANCH", "origin/ignored"),
    ]);
    assert_eq!(c.branch.as_deref(), Some("staging"));
    let c = jenkins(&[
        ("GIT_COMMIT", head),
        ("BRANCH_NAME", "PR-24"),
        ("CHANGE_ID", "24"),
        ("CHANGE_TARGET", "prod"),
        ("CHANGE_BRANCH", "staging"),
    ]);
    assert_eq!(
        c.branch.as_deref(),
        Some("prod"),
        "a PR gates its target branch"
    );
    let pr = c.pull_request.unwrap();
    assert_eq!((pr.number, pr.head_ref.as_deref()), (24, Some("staging")));
    let c = jenkins(&[("GIT_COMMIT", head), ("TAG_NAME", "v1")]);
    assert_eq!((c.kind, c.tag.as_deref()), (PushKind::Tag, Some("v1")));
}

fn gitlab(extra: &[(&str, &str)]) -> Result<ci::PushContext, gitops_gate::error::Failure> {
    let mut pairs = vec![
        ("GITLAB_CI", "true"),
        (
            "CI_PIPELINE_URL",
            "https://gitlab.example.com/p/-/pipelines/9",
        ),
    ];
    pairs.extend_from_slice(extra);
    ci::detect(&Env::from_pairs(pairs), &Overrides::default())
}

#[test]
fn gitlab_branches_merge_requests_and_unknown_sources() {
    let head = "5555555555555555555555555555555555555555";
    let zero = "0000000000000000000000000000000000000000";
    let c = gitlab(&[
        ("CI_PIPELINE_SOURCE", "push"),
        ("CI_COMMIT_SHA", head),
        ("CI_COMMIT_BRANCH", "qa"),
        ("CI_COMMIT_BEFORE_SHA", zero),
    ])
    .unwrap();
    assert_eq!(
        (c.kind, c.before.clone(), c.branch.as_deref()),
        (PushKind::Create, None, Some("qa"))
    );
    let prev = "6666666666666666666666666666666666666666";
    let c = gitlab(&[
        ("CI_PIPELINE_SOURCE", "push"),
        ("CI_COMMIT_SHA", head),
        ("CI_COMMIT_BRANCH", "qa"),
        ("CI_COMMIT_BEFORE_SHA", prev),
    ])
    .unwrap();
    assert_eq!(
        (c.kind, c.before.as_deref()),
        (PushKind::Update, Some(prev))
    );
    let c = gitlab(&[
        ("CI_PIPELINE_SOURCE", "merge_request_event"),
        ("CI_COMMIT_SHA", head),
        ("CI_MERGE_REQUEST_IID", "12"),
        ("CI_MERGE_REQUEST_TARGET_BRANCH_NAME", "staging"),
        ("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME", "qa"),
        ("CI_MERGE_REQUEST_DIFF_BASE_SHA", prev),
        ("CI_COMMIT_BEFORE_SHA", zero),
    ])
    .unwrap();
    assert_eq!(c.branch.as_deref(), Some("staging"));
    assert_eq!(c.before.as_deref(), Some(prev));
    assert_eq!(c.pull_request.unwrap().number, 12);
    let e = gitlab(&[
        ("CI_PIPELINE_SOURCE", "ondemand_dast_scan"),
        ("CI_COMMIT_SHA", head),
    ])
    .unwrap_err();
    assert!(e.message.contains("ondemand_dast_scan"));
}

#[test]
fn flags_win_over_the_ci() {
    let env = Env::from_pairs([
        ("GITLAB_CI", "true"),
        ("CI_COMMIT_SHA", "5555555555555555555555555555555555555555"),
        ("CI_COMMIT_BRANCH", "qa"),
    ]);
    let o = Overrides {
        env: Some("prod".into()),
        branch: Some("prod".into()),
        base: None,
        head: Some("abc".into()),
    };
    let c = ci::detect(&env, &o).unwrap();
    assert_eq!(
        (c.branch.as_deref(), c.head.as_deref()),
        (Some("prod"), Some("abc"))
    );
    assert_eq!(
        ci::detect(&Env::default(), &Overrides::default())
            .unwrap()
            .ci,
        CiSystem::Local
    );
}
