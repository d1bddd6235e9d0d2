//! End to end: real Git repositories in temp dirs, the built binary, each diff rule passing
//! and failing, the Terraform fixtures, and `gitops-gate diff`.
mod common;
use assert_cmd::Command;
use gitops_gate::repo::{Identity, Repo};
use serde_json::Value;
use std::path::{Path, PathBuf};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/terraform");

fn policy(gates: &str) -> String {
    format!(
        "version: 1\nenvironments:\n  qa: {{ branch: main, pipeline: [deploy] }}\ngates:\n{gates}\nsteps:\n  deploy: {{ run: [\"true\"] }}\n"
    )
}

fn svc(name: &str, extra: &str) -> String {
    format!("service: {name}\nversion: \"1.4.1\"\nmaintainer: team@example.com\n{extra}")
}

const API: &str = "domain: api.example.com\nport: 8080\nports: [8080]\nresources: { cpu: 1, memory: 1Gi }\nhealthcheck: { endpoints: [/healthz, /ready], retries: 5 }\nfirewall: { ingress: [10.1.0.0/16] }\n";

struct Fixture {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    out: PathBuf,
}

/// Deployed commit (ledger) with `base`, then a push on `main` applying `push`.
fn repo(base: &[(&str, Option<String>)], push: &[(&str, Option<String>)]) -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("repo");
    let r = Repo::init(&dir).unwrap();
    let who = Identity::new("Alice", "alice@example.com", 1_767_225_600);
    let files = |f: &[(&str, Option<String>)]| -> Vec<(String, Option<Vec<u8>>)> {
        f.iter()
            .map(|(p, c)| (p.to_string(), c.as_ref().map(|c| c.as_bytes().to_vec())))
            .collect()
    };
    let b = files(base);
    let b: Vec<(&str, Option<&[u8]>)> = b.iter().map(|(p, c)| (p.as_str(), c.as_deref())).collect();
    let root = r
        .commit_files(
            Some("refs/heads/main"),
            &[],
            &b,
            &who,
            &who,
            "OPS-1: deployed",
        )
        .unwrap();
    r.set_ref(&Repo::ledger_ref("qa"), root, "test: deployed")
        .unwrap();
    let p = files(push);
    let p: Vec<(&str, Option<&[u8]>)> = p.iter().map(|(p, c)| (p.as_str(), c.as_deref())).collect();
    r.commit_files(
        Some("refs/heads/main"),
        &[root],
        &p,
        &who,
        &who,
        "OPS-2: the push",
    )
    .unwrap();
    let out = tmp.path().join("out");
    Fixture {
        _tmp: tmp,
        dir,
        out,
    }
}

fn bin(dir: &Path) -> Command {
    common::gate(dir)
}

/// Runs `plan`; returns (exit code, plan.json, plan.md, stderr).
fn plan(f: &Fixture, extra: &[&str]) -> (i32, Value, String, String) {
    let o = bin(&f.dir)
        .args(["plan", "--repo"])
        .arg(&f.dir)
        .args(["--env", "qa", "--no-fetch", "--out"])
        .arg(&f.out)
        .args(extra)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    let json = std::fs::read_to_string(f.out.join("plan.json")).unwrap_or_default();
    let md = std::fs::read_to_string(f.out.join("plan.md")).unwrap_or_default();
    let v: Value = serde_json::from_str(&json).unwrap_or(Value::Null);
    (o.status.code().unwrap_or(-1), v, md, stderr)
}

fn checks<'a>(v: &'a Value, rule: &str) -> Vec<&'a Value> {
    v["checks"]
        .as_array()
        .map(|a| a.iter().filter(|c| c["rule"] == rule).collect())
        .unwrap_or_default()
}

fn verdicts(v: &Value, rule: &str) -> Vec<String> {
    checks(v, rule)
        .iter()
        .map(|c| c["verdict"].as_str().unwrap_or("").to_string())
        .collect()
}

fn one(gates: &str, before: &str, after: Option<&str>) -> (i32, Value, String, String) {
    let f = repo(
        &[
            ("gitops.yaml", Some(policy(gates))),
            ("services/api.yaml", Some(svc("api", before))),
            (
                "services/web.yaml",
                Some(svc("web", "resources: { cpu: 2, memory: 2Gi }\n")),
            ),
        ],
        &[("services/api.yaml", after.map(|a| svc("api", a)))],
    );
    plan(&f, &[])
}

#[test]
fn capacity_sums_every_service_at_the_head() {
    let gates = "  capacity: { cpu: \"4\", memory: 64Gi }";
    // api 1 -> 2 with web's 2 unchanged: 4 of 4 fits.
    let (code, v, _, err) = one(gates, API, Some(&API.replace("cpu: 1,", "cpu: 2,")));
    assert_eq!(code, 0, "{err}\n{v}");
    assert_eq!(verdicts(&v, "capacity"), ["pass", "pass"]);
    // api 1 -> 3: 5 of 4, although api alone is below the limit; web counts.
    let (code, v, md, _) = one(gates, API, Some(&API.replace("cpu: 1,", "cpu: 3,")));
    assert_eq!(code, 1, "{v}");
    let c = checks(&v, "capacity")[0];
    assert_eq!(c["verdict"], "fail");
    assert_eq!(c["value"], "5");
    assert_eq!(c["old"], "3");
    assert_eq!(c["limit"], "4");
    assert!(c["detail"].as_str().unwrap().contains("api 1 -> 3"), "{c}");
    assert!(
        md.contains("field `resources.cpu`, old 3, new 5, limit 4"),
        "{md}"
    );
    assert_eq!(v["decision"], "reject");
}

/// After `run` deploys a commit, its run record carries the capacity sums, and the next
/// push starts from them instead of reading every descriptor. The plan is the same whether
/// the sums are carried or read, and a record for another tree, or one that disagrees with
/// the push, is not used.
#[test]
fn capacity_sums_are_carried_from_the_deployed_run_record() {
    let gates = "  capacity: { cpu: \"8\", memory: 64Gi }";
    let f = repo(
        &[
            ("gitops.yaml", Some(policy(gates))),
            ("services/api.yaml", Some(svc("api", API))),
            (
                "services/web.yaml",
                Some(svc("web", "resources: { cpu: 2, memory: 2Gi }\n")),
            ),
            (
                "services/odd.yaml",
                Some(svc("odd", "resources: { cpu: lots }\n")),
            ),
            (
                "services/gone.yaml",
                Some(svc("gone", "resources: { cpu: 1 }\n")),
            ),
        ],
        &[(
            "services/api.yaml",
            Some(svc("api", &API.replace("cpu: 1,", "cpu: 2,"))),
        )],
    );
    let o = bin(&f.dir)
        .args(["run", "--repo"])
        .arg(&f.dir)
        .args(["--env", "qa", "--no-fetch", "--offline", "--out"])
        .arg(&f.out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let run: Value =
        serde_json::from_str(&std::fs::read_to_string(f.out.join("run.json")).unwrap()).unwrap();
    let r = Repo::open(&f.dir).unwrap();
    let deployed = r.ledger("qa").unwrap();
    let tree = r
        .entry_id(deployed, "services")
        .unwrap()
        .unwrap()
        .to_string();
    // api 2 + web 2 + gone 1; odd's cpu is no quantity.
    assert_eq!(
        run["capacity"],
        serde_json::json!({ "schema": 1, "tree": tree, "services": 3, "cpu": "5000",
            "memory": (3u64 << 30).saturating_mul(1000).to_string(),
            "unreadable": ["services/odd.yaml"] }),
        "{run}"
    );

    // The next push: web grows, odd is repaired, gone is removed, new is added.
    let who = Identity::new("Alice", "alice@example.com", 1_767_225_700);
    let web = svc("web", "resources: { cpu: 3, memory: 2Gi }\n");
    let odd = svc("odd", "resources: { cpu: 1 }\n");
    let new = svc("new", "resources: { cpu: 500m }\n");
    r.commit_files(
        Some("refs/heads/main"),
        &[deployed],
        &[
            ("services/web.yaml", Some(web.as_bytes())),
            ("services/odd.yaml", Some(odd.as_bytes())),
            ("services/gone.yaml", None),
            ("services/new.yaml", Some(new.as_bytes())),
        ],
        &who,
        &who,
        "OPS-3: the next push",
    )
    .unwrap();
    let planned = |why: &str| {
        let o = bin(&f.dir)
            .env("GITOPS_GATE_LOG", "debug")
            .args(["plan", "--repo"])
            .arg(&f.dir)
            .args(["--env", "qa", "--no-fetch", "--offline", "--out"])
            .arg(&f.out)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        assert!(err.contains(why), "{why}: {err}");
        let v: Value =
            serde_json::from_str(&std::fs::read_to_string(f.out.join("plan.json")).unwrap())
                .unwrap();
        let cpu = checks(&v, "capacity")[0].clone();
        (v, cpu)
    };
    let (carried, cpu) = planned("sums carried from the run record");
    // api 2 + web 3 + odd 1 + new 0.5; gone no longer counts.
    assert_eq!(
        (cpu["value"].as_str(), cpu["old"].as_str()),
        (Some("6500m"), Some("5")),
        "{cpu}"
    );
    assert_eq!(cpu["verdict"], "pass", "{cpu}");

    let note = r.read_note(deployed).unwrap();
    let forged = |edit: &dyn Fn(&mut Value)| {
        let mut rec: Value = serde_json::from_str(note.lines().last().unwrap()).unwrap();
        edit(&mut rec["capacity"]);
        r.write_note(deployed, &format!("{rec}\n")).unwrap();
    };
    // Copied onto a commit of other content (a rebase copies notes), or of another schema.
    forged(&|c| c["tree"] = "0".repeat(40).into());
    assert_eq!(planned("no sums recorded").0, carried);
    forged(&|c| c["schema"] = 2.into());
    assert_eq!(planned("no sums recorded").0, carried);
    // Calls a descriptor unreadable that the push read at the base.
    forged(&|c| c["unreadable"] = serde_json::json!(["services/odd.yaml", "services/web.yaml"]));
    assert_eq!(planned("disagree with its descriptors").0, carried);
    // No record at all: every descriptor is read.
    r.write_note(deployed, "not a record\n").unwrap();
    assert_eq!(planned("no sums recorded").0, carried);
}

#[test]
fn limits_one_service() {
    let gates = "  limits: { cpu: \"2\", memory: 8Gi }";
    let (code, v, _, err) = one(gates, API, Some(&API.replace("cpu: 1,", "cpu: 2000m,")));
    assert_eq!(
        (code, verdicts(&v, "limits")),
        (0, vec!["pass".to_string()]),
        "{err}"
    );
    let (code, v, md, _) = one(gates, API, Some(&API.replace("cpu: 1,", "cpu: 3,")));
    assert_eq!(code, 1);
    let c = checks(&v, "limits")[0];
    assert_eq!(
        (c["value"].as_str(), c["limit"].as_str()),
        (Some("3"), Some("2"))
    );
    assert!(md.contains("limit 2"), "{md}");
}

#[test]
fn ports_outside_the_allowed_list() {
    let gates = "  ports: { allowed: [\"443\", \"8000-8999\"] }";
    let (code, v, _, err) = one(
        gates,
        API,
        Some(&API.replace("ports: [8080]", "ports: [8080, 8443]")),
    );
    assert_eq!(
        (code, verdicts(&v, "ports")),
        (0, vec!["pass".to_string()]),
        "{err}"
    );
    let (code, v, _, _) = one(
        gates,
        API,
        Some(&API.replace("ports: [8080]", "ports: [8080, 22]")),
    );
    assert_eq!(code, 1);
    let c = checks(&v, "ports")[0];
    assert!(
        c["detail"]
            .as_str()
            .unwrap()
            .contains("newly opens port 22"),
        "{c}"
    );
    assert_eq!(c["field"], "ports");
}

#[test]
fn firewall_public_or_wider_ingress() {
    let (code, v, _, _) = one(
        "  force_push: fail",
        API,
        Some(&API.replace("10.1.0.0/16", "\"0.0.0.0/0\"")),
    );
    assert_eq!(code, 1, "public ingress fails by default: {v}");
    assert_eq!(verdicts(&v, "firewall"), ["fail"]);
    let (code, v, _, _) = one(
        "  firewall: { public_ingress: warn }",
        API,
        Some(&API.replace("10.1.0.0/16", "10.0.0.0/8")),
    );
    assert_eq!(
        (code, verdicts(&v, "firewall")),
        (0, vec!["warn".to_string()])
    );
    let (code, v, _, _) = one(
        "  force_push: fail",
        API,
        Some(&API.replace("10.1.0.0/16", "10.1.2.0/24")),
    );
    assert_eq!(
        (code, verdicts(&v, "firewall")),
        (0, vec!["pass".to_string()])
    );
}

#[test]
fn destructive_changes() {
    let strict = "  destructive: { remove_service: fail, downgrade: fail, port_change: fail, domain_change: fail, healthcheck: fail }";
    let cases = [
        ("version: \"1.4.1\"", "version: \"1.3.0\"", "version"),
        ("port: 8080", "port: 8081", "port"),
        (
            "domain: api.example.com",
            "domain: new.example.com",
            "domain",
        ),
        ("[/healthz, /ready]", "[/healthz]", "healthcheck.endpoints"),
        ("retries: 5", "retries: 0", "healthcheck.retries"),
    ];
    for (from, to, field) in cases {
        let after = svc("api", API).replace(from, to);
        let f = repo(
            &[
                ("gitops.yaml", Some(policy(strict))),
                ("services/api.yaml", Some(svc("api", API))),
            ],
            &[("services/api.yaml", Some(after))],
        );
        let (code, v, _, err) = plan(&f, &[]);
        assert_eq!(code, 1, "{field}: {err}\n{v}");
        let c = checks(&v, "destructive");
        assert_eq!(c.len(), 1, "{field}: {c:?}");
        assert_eq!(c[0]["field"], field);
        assert!(c[0]["old"].is_string() && c[0]["value"].is_string());
    }
    // An upgrade passes.
    let (code, v, _, _) = one(strict, API, Some(&API.replace("retries: 5", "retries: 6")));
    assert_eq!(
        (code, verdicts(&v, "destructive")),
        (0, vec!["pass".to_string()])
    );
    // Removing a service fails by default; an emptied descriptor is never safe.
    let (code, v, _, _) = one("  force_push: fail", API, None);
    assert_eq!(
        (code, verdicts(&v, "destructive")),
        (1, vec!["fail".to_string()])
    );
    let f = repo(
        &[
            (
                "gitops.yaml",
                Some(policy("  destructive: { remove_service: allow }")),
            ),
            ("services/api.yaml", Some(svc("api", API))),
        ],
        &[("services/api.yaml", Some(String::new()))],
    );
    let (code, v, _, _) = plan(&f, &[]);
    // An emptied descriptor is invalid input (exit 2), and destructive even when removal is allowed.
    assert_eq!(code, 2, "{v}");
    assert_eq!(verdicts(&v, "destructive"), ["warn"]);
}

#[test]
fn terraform_fixtures_from_the_policy_and_the_flag() {
    let read = |f: &str| std::fs::read_to_string(format!("{FIXTURES}/{f}")).unwrap();
    let gates = "  terraform: { plans: [infra/plan.json], delete: fail, replace: warn }";
    let run = |fixture: &str| {
        let f = repo(
            &[
                ("gitops.yaml", Some(policy(gates))),
                ("services/api.yaml", Some(svc("api", API))),
            ],
            &[
                (
                    "services/api.yaml",
                    Some(svc("api", &API.replace("retries: 5", "retries: 6"))),
                ),
                ("infra/plan.json", Some(read(fixture))),
            ],
        );
        plan(&f, &[])
    };
    let (code, v, _, _) = run("basic-delete.json");
    assert_eq!(code, 1, "{v}");
    let c = checks(&v, "terraform");
    assert_eq!(c.len(), 1);
    assert!(c[0]["detail"]
        .as_str()
        .unwrap()
        .contains("test_instance.test-delete"));
    let (code, v, _, _) = run("requires-replace.json");
    assert_eq!(
        (code, verdicts(&v, "terraform")),
        (0, vec!["warn".to_string()])
    );
    let (code, v, _, _) = run("no-op.json");
    assert_eq!(
        (code, verdicts(&v, "terraform")),
        (0, vec!["pass".to_string()])
    );

    // --terraform-plan: judged with the default levels (replace fails); a 2.x plan is bad input.
    let f = repo(
        &[
            ("gitops.yaml", Some(policy("  force_push: fail"))),
            ("services/api.yaml", Some(svc("api", API))),
        ],
        &[(
            "services/api.yaml",
            Some(svc("api", &API.replace("retries: 5", "retries: 6"))),
        )],
    );
    let (code, v, _, _) = plan(
        &f,
        &[
            "--terraform-plan",
            &format!("{FIXTURES}/requires-replace.json"),
        ],
    );
    assert_eq!(
        (code, verdicts(&v, "terraform")),
        (1, vec!["fail".to_string()])
    );
    let v2 = f.dir.join("v2.json");
    std::fs::write(&v2, r#"{"format_version":"2.0","resource_changes":[]}"#).unwrap();
    let o = bin(&f.dir)
        .args(["plan", "--repo"])
        .arg(&f.dir)
        .args(["--env", "qa", "--no-fetch", "--terraform-plan"])
        .arg(&v2)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("format_version \"2.0\"") && err.contains("refused"),
        "{err}"
    );
}

#[test]
fn diff_command_text_json_filter_and_exit_codes() {
    let base = [
        ("gitops.yaml", Some(policy("  force_push: fail"))),
        ("services/api.yaml", Some(svc("api", API))),
        ("services/web.yaml", Some(svc("web", "port: 8000\n"))),
        ("services/old.yaml", Some(svc("old", ""))),
        ("services/db.yaml", Some(svc("db", ""))),
    ];
    let push = [
        (
            "services/api.yaml",
            Some(svc("api", API).replace("1.4.1", "1.4.2")),
        ),
        (
            "services/web.yaml",
            Some(svc("web", "port: 8000\n").replace("1.4.1", "1.5.0")),
        ),
        ("services/new.yaml", Some(svc("new", ""))),
        ("services/old.yaml", None),
    ];
    let f = repo(&base, &push);
    let diff = |extra: &[&str]| {
        let o = bin(&f.dir)
            .args(["diff", "--repo"])
            .arg(&f.dir)
            .args(["--env", "qa", "--no-fetch"])
            .args(extra)
            .output()
            .unwrap();
        (
            o.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    let (code, out, err) = diff(&[]);
    assert_eq!(code, 1, "removing `old` fails remove_service: {out}\n{err}");
    assert!(
        out.contains("Summary: 2 to change, 1 to add, 1 to remove, 1 destructive"),
        "{out}"
    );
    assert!(out.contains("~ api  1.4.1 -> 1.4.2"), "{out}");
    assert!(out.contains("+ new  (new) 1.4.1"), "{out}");
    assert!(out.contains("- old  1.4.1 -> (removed)"), "{out}");
    assert!(
        out.contains("-version: \"1.4.1\"\n+version: \"1.4.2\""),
        "{out}"
    );
    assert!(
        !out.contains('\x1b'),
        "no colour when stdout is not a terminal"
    );
    assert!(
        !out.contains("services/db.yaml") && !out.contains(" db "),
        "unchanged services are not shown: {out}"
    );

    let (code, out, _) = diff(&["--service", "api", "--format", "json"]);
    assert_eq!(
        code, 0,
        "the failing check is about `old`, filtered out: {out}"
    );
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["summary"]["change"], 1);
    assert_eq!(v["changes"].as_array().unwrap().len(), 1);
    assert_eq!(v["changes"][0]["service"], "api");
    assert!(v["text_diffs"][0]["diff"]
        .as_str()
        .unwrap()
        .contains("+version: \"1.4.2\""));

    let (code, _, err) = diff(&["--head", "no-such-rev"]);
    assert_eq!(code, 2, "{err}");
}
