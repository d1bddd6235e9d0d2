//! `gitops-gate demo`: the whole flow on a built-in deployment repository in a temp dir,
//! with no network and no configuration: one push that deploys, one that is rejected.
use crate::ci::PushContext;
use crate::cli::DemoArgs;
use crate::error::Exit;
use crate::evaluate::{self, Request};
use crate::model::CommitId;
use crate::output;
use crate::plan::render;
use crate::repo::{Identity, Repo};
use anyhow::Context as _;

pub const POLICY: &str = r##"# gitops-gate policy of the demo repository
version: 1
environments:
  qa:      { branch: qa,      pipeline: [deploy, healthcheck] }
  staging: { branch: staging, pipeline: [deploy, healthcheck, regression], promotes_from: qa }
  prod:    { branch: prod,    pipeline: [deploy, healthcheck, smoke],      promotes_from: staging }
gates:
  skip_markers: ["skip deployment", "[skip deploy]"]
  committers: ["alice@example.com", "bob@example.com"]
  # The demo has no JIRA to ask: tickets are only required to be named. A real policy
  # leaves `verify` at its default (lookup) and configures integrations.jira.
  jira: { required: true, projects: ["OPS", "PAY"], verify: presence }
  capacity: { cpu: "16", memory: "64Gi" }
  limits: { cpu: "4", memory: "8Gi" }
  ports: { allowed: ["80", "443", "8000-8999"] }
steps:
  deploy:     { run: ["./scripts/deploy.sh"], timeout: 10m }
  regression: { run: ["make", "regression"], timeout: 30m }
  smoke:      { run: ["make", "smoke"], timeout: 5m }
"##;

pub fn api(version: &str) -> String {
    format!(
        r##"service: api
version: "{version}"
maintainer: team-api@example.com
domain: api.qa.example.com
port: 8080
healthcheck:
  endpoints: ["/healthz", "/ready"]
  retries: 10
  interval: 5s
  timeout: 2s
  initial_delay: 30s
resources: {{ cpu: 500m, memory: 512Mi }}
ports: [8080]
firewall: {{ ingress: ["10.0.0.0/8"] }}
notify: {{ email: ["team-api@example.com"], slack: ["#api-deploys"] }}
"##
    )
}

pub const WEB: &str = r##"service: web
version: "2.0.1"
maintainer: team-web@example.com
domain: web.qa.example.com
port: 8000
healthcheck: { endpoints: ["/"], retries: 5, interval: 2s, timeout: 1s }
resources: { cpu: "1", memory: 1Gi }
ports: [8000]
notify: { slack: ["#web"] }
"##;

pub fn run(a: &DemoArgs) -> anyhow::Result<Exit> {
    let tmp = tempfile::tempdir().context("cannot create a temporary directory for the demo")?;
    let dir = match &a.keep {
        Some(k) => {
            std::fs::create_dir_all(k).with_context(|| format!("cannot create {}", k.display()))?;
            k.clone()
        }
        None => tmp.path().to_path_buf(),
    };
    let repo = Repo::init(&dir.join("deployments"))?;
    let alice = Identity::new("Alice", "alice@example.com", 1_767_225_600);
    let api_v1 = api("1.4.2");
    let root = repo.commit_files(
        Some("refs/heads/main"),
        &[],
        &[
            ("gitops.yaml", Some(POLICY.as_bytes())),
            ("services/api.yaml", Some(api_v1.as_bytes())),
            ("services/web.yaml", Some(WEB.as_bytes())),
        ],
        &alice,
        &alice,
        "OPS-1: initial deployment descriptors",
    )?;
    for env in ["qa", "staging", "prod"] {
        repo.set_ref(&format!("refs/heads/{env}"), root, "demo")?;
        repo.set_ref(&Repo::ledger_ref(env), root, "demo: deployed")?;
    }
    crate::outln!("Demo deployment repository: {}", repo.dir().display());
    crate::outln!("Branches qa, staging and prod all run api 1.4.2 and web 2.0.1.\n");

    let bump = api("1.4.3");
    let good = repo.commit_files(
        Some("refs/heads/qa"),
        &[root],
        &[("services/api.yaml", Some(bump.as_bytes()))],
        &alice,
        &alice,
        "OPS-42: bump api to 1.4.3",
    )?;
    crate::outln!("== Push 1: alice bumps api to 1.4.3 on qa (\"OPS-42: bump api to 1.4.3\")\n");
    let out = dir.join("out-push-1");
    let ev = evaluate::evaluate(&request(&repo, good))?;
    output::write_plan(&ev.plan, &out, &Default::default())?;
    crate::out!("{}", render::text(&ev.plan));
    crate::outln!("\nplan written to {}\n", out.join("plan.json").display());

    let mallory = Identity::new("Mallory", "mallory@evil.example", 1_767_229_200);
    let bad_api = bump.replace("ports: [8080]", "ports: [8080, 22]");
    let bad = repo.commit_files(
        Some("refs/heads/qa"),
        &[good],
        &[("services/api.yaml", Some(bad_api.as_bytes()))],
        &mallory,
        &mallory,
        "open a debug port",
    )?;
    crate::outln!("== Push 2: mallory@evil.example opens port 22 on qa, with no ticket\n");
    let out = dir.join("out-push-2");
    let ev = evaluate::evaluate(&request(&repo, bad))?;
    output::write_plan(&ev.plan, &out, &Default::default())?;
    crate::out!("{}", render::text(&ev.plan));
    crate::outln!(
        "\nIn CI this push exits {} ({:?}), so it never deploys. The full plan: {}",
        ev.plan.exit().code(),
        ev.plan.exit(),
        out.join("plan.md").display()
    );
    release(&dir)?;
    if a.keep.is_none() {
        crate::outln!("(the demo repository is removed on exit; pass --keep DIR to look around)");
    }
    Ok(Exit::Ok)
}

const RELEASE_POLICY: &str = r##"version: 1
environments:
  qa: { branch: qa, pipeline: [deploy, healthcheck] }
steps:
  deploy: { run: ["true"], timeout: 1m }
  healthcheck: { url_base: "URL_BASE" }
"##;

fn release_service(name: &str, version: &str, endpoint: &str) -> String {
    format!(
        "service: {name}\nversion: \"{version}\"\nmaintainer: team-{name}@example.com\nport: 8000\nhealthcheck: {{ endpoints: [\"{endpoint}\"], retries: 3, interval: 100ms, timeout: 1s }}\n"
    )
}

/// Part 2: the QA release pipeline for real, against a service on 127.0.0.1.
fn release(dir: &std::path::Path) -> anyhow::Result<()> {
    let server = tiny_http::Server::http("127.0.0.1:0").map_err(|e| {
        crate::error::Failure::invalid(format!("cannot start the demo service: {e}"))
            .hint("the demo listens on a free port of 127.0.0.1: run it where that is allowed")
    })?;
    let base = format!(
        "http://{}",
        server
            .server_addr()
            .to_ip()
            .ok_or_else(|| anyhow::anyhow!("the demo service has no IP address"))?
    );
    std::thread::spawn(move || {
        for r in server.incoming_requests() {
            let code = if r.url() == "/healthz" { 200 } else { 500 };
            let _ = r.respond(tiny_http::Response::from_string("demo").with_status_code(code));
        }
    });
    let repo = Repo::init(&dir.join("release"))?;
    let alice = Identity::new("Alice", "alice@example.com", 1_767_225_600);
    let policy = RELEASE_POLICY.replace("URL_BASE", &base);
    let api1 = release_service("api", "1.4.2", "/healthz");
    let web1 = release_service("web", "2.0.1", "/broken");
    let root = repo.commit_files(
        Some("refs/heads/qa"),
        &[],
        &[
            ("gitops.yaml", Some(policy.as_bytes())),
            ("services/api.yaml", Some(api1.as_bytes())),
            ("services/web.yaml", Some(web1.as_bytes())),
        ],
        &alice,
        &alice,
        "OPS-1: initial",
    )?;
    repo.set_ref(&Repo::ledger_ref("qa"), root, "demo: deployed")?;
    crate::outln!(
        "\n== Part 2: running the QA release pipeline (deploy: `true`, healthcheck: {base})\n"
    );
    let api2 = release_service("api", "1.4.3", "/healthz");
    let good = repo.commit_files(
        Some("refs/heads/qa"),
        &[root],
        &[("services/api.yaml", Some(api2.as_bytes()))],
        &alice,
        &alice,
        "OPS-42: bump api to 1.4.3",
    )?;
    crate::outln!("== Push 3: api 1.4.3 on qa, plan then run\n");
    let code = release_run(&repo, good, &dir.join("out-run-1"))?;
    crate::outln!(
        "\nexit {} ({code:?}): api 1.4.3 is deployed and {} now points at it.\n",
        code.code(),
        Repo::ledger_ref("qa")
    );
    let web2 = release_service("web", "2.0.2", "/broken");
    let bad = repo.commit_files(
        Some("refs/heads/qa"),
        &[good],
        &[("services/web.yaml", Some(web2.as_bytes()))],
        &alice,
        &alice,
        "OPS-43: bump web to 2.0.2",
    )?;
    crate::outln!("== Push 4: web 2.0.2, whose /broken health endpoint answers 500\n");
    let code = release_run(&repo, bad, &dir.join("out-run-2"))?;
    crate::outln!(
        "\nexit {} ({code:?}): the health check failed, so the release stopped, the remaining stages\nwere recorded as skipped, and the ledger stays at api 1.4.3 / web 2.0.1. In CI the job fails\nwith exit 3; run.json and the Git note under refs/notes/gitops-gate say which stage and why.",
        code.code()
    );
    Ok(())
}

fn release_run(repo: &Repo, head: CommitId, out: &std::path::Path) -> anyhow::Result<Exit> {
    let ev = evaluate::evaluate(&request(repo, head))?;
    let written = output::write_plan(&ev.plan, out, &Default::default())?;
    crate::outln!(
        "decision: {} ({})",
        ev.plan.decision.as_str(),
        ev.plan.reason
    );
    let Some(policy) = ev.policy.clone() else {
        return Ok(ev.plan.exit());
    };
    crate::run::execute(&crate::run::Setup {
        plan: ev.plan,
        plan_path: written.plan_json,
        out: out.to_path_buf(),
        policy,
        requested: ev.requested,
        deployed: ev.deployed,
        commits: ev.commits,
        repo_dir: repo.dir(),
        env: crate::ci::Env::default(),
        outputs: Default::default(),
        dry_run: false,
        handoff_jenkins: false,
        url_base: None,
        break_claim: false,
        json: false,
        steps_dir: None,
        events: None,
    })
}

/// A local push of `head` to `qa`, as the demo (and tests of the evaluation) make it.
pub(crate) fn request(repo: &Repo, head: CommitId) -> Request {
    let mut ctx = PushContext::local();
    ctx.branch = Some("qa".into());
    ctx.head = Some(head.to_string());
    Request {
        freeze_override: None,
        repo: repo.dir(),
        ctx,
        env: None,
        base: None,
        bootstrap: false,
        fetch: false,
        refresh: false,
        offline: false,
        terraform_plans: Vec::new(),
        policy_path: crate::config::POLICY_FILE.to_string(),
        branch_flag: true,
        vars: crate::ci::Env::default(),
        secrets: crate::ci::Secrets::default(),
        texts: false,
        clock: crate::clock::Clock::system(),
    }
}
