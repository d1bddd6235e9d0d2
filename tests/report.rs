//! `gitops-gate report` over a scripted history with run records written as Git notes.
mod common;
use chrono::{TimeZone, Utc};
use gitops_gate::model::CommitId;
use gitops_gate::repo::{Identity, Repo};
use std::path::Path;

const B: i64 = 1_790_000_000;

fn commit(repo: &Repo, parent: Option<CommitId>, t: i64, v: &str) -> CommitId {
    let who = Identity::new("Alice", "alice@example.com", t);
    let body = format!("service: api\nversion: \"{v}\"\nmaintainer: a@example.com\n");
    let parents: Vec<CommitId> = parent.into_iter().collect();
    repo.commit_files(
        Some("refs/heads/qa"),
        &parents,
        &[("services/api.yaml", Some(body.as_bytes()))],
        &who,
        &who,
        &format!("OPS-1: api {v}\n"),
    )
    .unwrap()
}

fn rfc(t: i64) -> String {
    Utc.timestamp_opt(t, 0).unwrap().to_rfc3339()
}

fn record(base: CommitId, head: CommitId, finished: i64, result: &str) -> String {
    serde_json::json!({
        "schema": 1, "environment": "qa", "head": head.to_string(), "base": base.to_string(),
        "plan_digest": "x", "started": rfc(finished - 60), "finished": rfc(finished),
        "result": result,
        "stages": [{"id": "deploy", "service": "api", "result": result, "started": rfc(finished - 60),
                    "finished": rfc(finished), "attempts": 1, "url": null}],
        "ci": {"system": "local", "run_url": null}, "actor": "alice"
    })
    .to_string()
}

fn note(repo: &Repo, on: CommitId, text: &str) {
    let sig = git2::Signature::new("gate", "gate@example.com", &git2::Time::new(B, 0)).unwrap();
    common::git2_repo(repo)
        .note(
            &sig,
            &sig,
            Some("refs/notes/gitops-gate"),
            on.into(),
            text,
            true,
        )
        .unwrap();
}

fn scripted(dir: &Path) -> Repo {
    let repo = Repo::init(dir).unwrap();
    let c0 = commit(&repo, None, B, "1.0.0");
    let c1 = commit(&repo, Some(c0), B + 1000, "1.0.1");
    let c2 = commit(&repo, Some(c1), B + 2000, "1.0.2");
    let c3 = commit(&repo, Some(c2), B + 3000, "1.0.1");
    note(&repo, c1, &record(c0, c1, B + 5000, "succeeded"));
    let reject = r#"{"schema":1,"decision":"reject","environment":"qa","checks":[{"rule":"jira","verdict":"fail"},{"rule":"committers","verdict":"pass"}]}"#;
    note(
        &repo,
        c2,
        &format!("{}\n{reject}\n", record(c1, c2, B + 10_000, "failed")),
    );
    note(
        &repo,
        c3,
        &format!(
            "{}\n{}\n",
            record(c1, c3, B + 12_000, "failed"),
            record(c1, c3, B + 20_000, "succeeded")
        ),
    );
    repo.set_ref("refs/gitops-gate/deployed/qa", c3, "test")
        .unwrap();
    repo
}

fn report(dir: &Path, format: &str) -> String {
    let out = common::gate(&common::home())
        .args([
            "report",
            "--format",
            format,
            "--since",
            &rfc(B),
            "--until",
            &rfc(B + 7 * 86_400),
        ])
        .arg("--repo")
        .arg(dir)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    String::from_utf8(out).unwrap()
}

#[test]
fn report_metrics_are_exact() {
    let tmp = tempfile::tempdir().unwrap();
    scripted(tmp.path());
    let v: serde_json::Value = serde_json::from_str(&report(tmp.path(), "json")).unwrap();
    let qa = &v["environments"]["qa"];
    assert_eq!(qa["runs"], 4);
    assert_eq!(qa["succeeded"], 2);
    assert_eq!(qa["failed"], 2);
    assert_eq!(qa["change_failure_rate"], 0.5);
    assert_eq!(qa["deploys_per_week"], 2.0);
    assert_eq!(qa["lead_time_median_s"], 4000);
    assert_eq!(qa["lead_time_p90_s"], 18_000);
    assert_eq!(qa["time_to_restore_median_s"], 10_000);
    assert_eq!(qa["restores"], 1);
    assert_eq!(qa["unrestored"], 0);
    assert_eq!(v["services"]["api"]["runs"], 4);
    assert_eq!(v["blocked"]["jira"], 1);
    assert!(v["blocked"].get("committers").is_none());
    assert!(v["ledger"]["qa"].is_string());
}

#[test]
fn markdown_and_html_render_the_same_numbers() {
    let tmp = tempfile::tempdir().unwrap();
    scripted(tmp.path());
    let md = report(tmp.path(), "markdown");
    assert!(
        md.contains("| qa | 4 | 0.29 | 2.00 | 1.1h | 5.0h | 50.0% | 2.8h (0 unrestored) |"),
        "{md}"
    );
    let html = report(tmp.path(), "html");
    assert!(html.contains("<svg id=\"weekly\""));
    assert!(html.contains("<svg id=\"environments\""));
    assert!(
        html.contains("qa: 50% of runs failed"),
        "the failure-rate bar carries the number"
    );
    assert!(!html.contains("src=") && !html.contains("<link") && !html.contains("<script"));
    let path = tmp.path().join("report.html");
    std::fs::write(&path, &html).unwrap();
    let chromium = ["chromium", "chromium-browser"].into_iter().find(|c| {
        std::process::Command::new(c)
            .arg("--version")
            .output()
            .is_ok()
    });
    let Some(bin) = chromium else {
        eprintln!(
            "SKIPPED: chromium is not installed; the HTML report was not rendered in a browser"
        );
        return;
    };
    let out = std::process::Command::new(bin)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--dump-dom"])
        .arg(format!("file://{}", path.display()))
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&out.stdout);
    assert!(
        dom.contains("class=\"ok\"") && dom.contains("class=\"lead\""),
        "chromium did not render the charts: {dom}"
    );
}
