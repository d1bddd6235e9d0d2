//! JIRA lookups at scale: 200 distinct ticket keys against a fake JIRA answering in 50 ms.
//! The timed run is `#[ignore]`d (run it with `bench/jira_200_keys.sh`); the always-on test
//! checks that lookups really run concurrently, and never more than the bound at once.
mod common;
mod fakes;
use fakes::*;
use gitops_gate::ci::{Env, Secrets};
use gitops_gate::integrations::jira::{lookup, Lookup, CONCURRENCY};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn key_of(path: &str) -> String {
    path.split('?')
        .next()
        .unwrap_or("")
        .rsplit('/')
        .next()
        .unwrap_or("")
        .to_string()
}

#[test]
fn lookups_run_concurrently_within_the_bound() {
    let now = Arc::new(AtomicUsize::new(0));
    let max = Arc::new(AtomicUsize::new(0));
    let (n2, m2) = (now.clone(), max.clone());
    let (url, count) = plain_server(Duration::ZERO, move |path| {
        let cur = n2.fetch_add(1, Ordering::SeqCst) + 1;
        m2.fetch_max(cur, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(50));
        n2.fetch_sub(1, Ordering::SeqCst);
        (200, jira_issue("x", &key_of(path), "Approved", "done"))
    });
    let keys: Vec<String> = (1..=100).map(|i| format!("OPS-{i}")).collect();
    let secrets = Secrets::from_env(&Env::from_pairs([("JIRA_PAT", "pat-xyz-123")]), &[]);
    let t = lookup(&Lookup {
        url: &url,
        keys: &keys,
        approvals: false,
        approval_field: None,
        timeout: Duration::from_secs(30),
        secrets: &secrets,
    })
    .unwrap();
    assert_eq!(t.len(), 100);
    assert_eq!(count.load(Ordering::SeqCst), 100, "one request per key");
    let m = max.load(Ordering::SeqCst);
    assert!(m > 1 && m <= CONCURRENCY, "max in flight {m}");
}

#[test]
#[ignore = "timed benchmark: bench/jira_200_keys.sh"]
fn bench_200_keys_end_to_end() {
    let (url, count) = plain_server(Duration::from_millis(50), |path| {
        (200, jira_issue("x", &key_of(path), "Approved", "done"))
    });
    let g = Git::new();
    g.write(
        "gitops.yaml",
        &format!("version: 1\nenvironments:\n  qa: {{ branch: qa, pipeline: [deploy] }}\ngates:\n  jira: {{ required: true, projects: [OPS], statuses: [Approved] }}\nsteps:\n  deploy: {{ run: [\"true\"] }}\nintegrations:\n  jira: {{ url: \"{}\" }}\n", url),
    );
    g.write("services/api.yaml", &api("1.0.0"));
    let base = g.commit("OPS-1: initial", "Alice", "alice@example.com", None);
    g.ledger("qa", &base);
    for i in 1..=200 {
        if i == 200 {
            g.write("services/api.yaml", &api("1.0.1"));
        }
        g.commit(
            &format!("OPS-{i}: change {i}"),
            "Alice",
            "alice@example.com",
            None,
        );
    }
    let head = g.git(&["rev-parse", "HEAD"]);
    let start = Instant::now();
    let r = plan(
        &g,
        &["--env", "qa", "--branch", "qa", "--head", &head],
        &[
            ("JIRA_EMAIL", "ci@example.com"),
            ("JIRA_API_TOKEN", "tok-bench-1"),
        ],
    );
    let took = start.elapsed();
    assert_eq!(r.code, 0);
    assert_eq!(count.load(Ordering::SeqCst), 200, "one request per key");
    println!(
        "BENCH 200 distinct JIRA keys, 50 ms per answer: plan judged in {} ms",
        took.as_millis()
    );
    assert!(took < Duration::from_secs(1), "took {took:?}");
}
