//! The command line: clap types, logging set-up, dispatch, and the mapping of every outcome
//! to a documented exit code. clap stays here; commands receive plain request values.
use crate::ci::{self, Env};
use crate::commands;
use crate::error::{self, Exit};
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "gitops-gate",
    version,
    about = "Gate, plan and run deploys from a Git repository of deployment descriptors"
)]
#[command(after_help = EXIT_CODES)]
pub struct Cli {
    /// More log output on stderr (repeat for more).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only errors on stderr.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Command,
}

pub const EXIT_CODES: &str = "Exit codes:
  0  allowed, or nothing to do (with `run`: every stage succeeded)
  1  rejected by the gate policy
  2  invalid input: usage, configuration, descriptor, CI context, insufficient history
  3  a stage failed while running the plan
  4  an external service needed for the decision was unreachable (failed closed)
  5  superseded: the environment's ledger moved since the plan was made
  70 internal error: a bug in gitops-gate (report it with the --verbose output)";

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Gate the push and write the release plan (plan.json, plan.md, jenkins.*).
    Plan(PlanArgs),
    /// Check the policy and every descriptor on every environment branch (or one --env).
    Validate(ValidateArgs),
    /// Print JSON Schemas for gitops.yaml and services/<name>.yaml.
    #[command(after_help = "Examples:
  gitops-gate schema > gitops-gate.schema.json
  gitops-gate schema | jq 'keys'             # [\"gitops.yaml\", \"services/<name>.yaml\"]")]
    Schema,
    /// Show what the push changes, deployed -> requested, and which rules it trips.
    Diff(DiffArgs),
    /// Run the whole flow on a built-in example repository in a temp dir.
    Demo(DemoArgs),
    /// Plan then execute the release (or execute a saved --plan), record it, move the ledger.
    Run(RunArgs),
    /// The built-in health check of services on an environment's branch.
    Healthcheck(HealthcheckArgs),
    /// Create a deployment repository: policy, example service, branches, ledger, CI files.
    Init(InitArgs),
    /// Set a service's version on an environment branch as a commit (optionally pushed).
    Bump(BumpArgs),
    /// Deployment metrics from the ledger, the run records and the branches' history.
    #[command(after_help = REPORT_METRICS)]
    Report(ReportArgs),
    /// Commit the descriptors of the last successful deploy (or --to) on the environment's branch.
    Rollback(RollbackArgs),
    /// Show what promoting one environment into the next changes; open or update its PR.
    Promote(PromoteArgs),
    /// Per environment: what runs (commit, versions), the last run, any claim, what waits.
    Status(StatusArgs),
}

#[derive(Args, Debug)]
#[command(after_help = "Examples:
  gitops-gate status
  gitops-gate status --env prod --format json")]
pub struct StatusArgs {
    /// The deployment repository (or any folder inside it).
    #[arg(long, default_value = ".")]
    pub repo: PathBuf,
    /// Only this environment.
    #[arg(long)]
    pub env: Option<String>,
    /// Do not fetch the ledgers, claims and run records from origin first.
    #[arg(long)]
    pub no_fetch: bool,
    /// Output on stdout.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Show the freeze windows in force at this time (RFC 3339) instead of now.
    #[arg(long, value_name = "RFC3339")]
    pub now: Option<String>,
}

#[derive(Args, Debug)]
#[command(after_help = "Examples:
  gitops-gate promote --from qa --to staging            # open or update the pull request
  gitops-gate promote --from staging --to prod --service api --offline --format json")]
pub struct PromoteArgs {
    /// The deployment repository (or any folder inside it).
    #[arg(long, default_value = ".")]
    pub repo: PathBuf,
    /// The lower environment: what its ledger says runs there is promoted.
    #[arg(long)]
    pub from: String,
    /// The higher environment, whose branch the pull request targets.
    #[arg(long)]
    pub to: String,
    /// Promote only this service, on a branch promote/<to>/<service>-<version>.
    #[arg(long)]
    pub service: Option<String>,
    /// No GitHub: print the git commands instead.
    #[arg(long)]
    pub offline: bool,
    /// Do not fetch the ledgers from origin first.
    #[arg(long)]
    pub no_fetch: bool,
    /// owner/name (default: $GITHUB_REPOSITORY).
    #[arg(long)]
    pub repo_slug: Option<String>,
    /// Output on stdout.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Args, Debug)]
#[command(after_help = "Examples:
  gitops-gate rollback --env qa --ticket OPS-42 --reason \"health check failed\"
  gitops-gate rollback --env prod --to 1a2b3c4 --push --format json")]
pub struct RollbackArgs {
    /// The deployment repository (or any folder inside it).
    #[arg(long, default_value = ".")]
    pub repo: PathBuf,
    /// The environment to roll back; the commit goes on its branch.
    #[arg(long)]
    pub env: String,
    /// Restore the descriptors of this commit instead of the last successful deploy.
    #[arg(long)]
    pub to: Option<String>,
    /// Why, for the commit message.
    #[arg(long)]
    pub reason: Option<String>,
    /// JIRA ticket named at the start of the commit message (the jira rule wants one).
    #[arg(long)]
    pub ticket: Option<String>,
    /// Push to origin with a lease on the branch tip.
    #[arg(long)]
    pub push: bool,
    /// Author name (default: git's identity: GIT_AUTHOR_NAME, then user.name).
    #[arg(long)]
    pub author_name: Option<String>,
    /// Author email (default: git's identity: GIT_AUTHOR_EMAIL, then user.email).
    #[arg(long)]
    pub author_email: Option<String>,
    /// Output on stdout.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

pub const REPORT_METRICS: &str = "Metrics (runs whose `finished` lies in [since, until]):
  deployment frequency  succeeded runs / days in the window (x 7 per week)
  lead time             per succeeded run: finished - author time of the oldest commit in
                        base..head of the run; median and p90 (nearest rank)
  change failure rate   failed runs / all runs
  time to restore       a failed run following a success (or opening the window) -> the
                        finished time of the next succeeded run of the same environment; median;
                        failures not yet followed by a success count as unrestored
  blocked               plan records with \"decision\":\"reject\" in the notes, per failing rule
Run records are read from the Git notes under refs/notes/gitops-gate (one JSON per line).

Examples:
  gitops-gate report --since 30d
  gitops-gate report --env prod --format html --out report.html";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    Text,
    Json,
    Markdown,
    Html,
}

#[derive(Args, Debug)]
pub struct ReportArgs {
    /// The deployment repository (or any folder inside it).
    #[arg(long, default_value = ".")]
    pub repo: PathBuf,
    /// Only this environment.
    #[arg(long)]
    pub env: Option<String>,
    /// Window start: 90d, 12w, 36h, or an RFC 3339 time.
    #[arg(long, default_value = "90d")]
    pub since: String,
    /// Window end (RFC 3339; default now).
    #[arg(long)]
    pub until: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
    pub format: ReportFormat,
    /// Write here instead of stdout.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Handoff {
    Jenkins,
}

#[derive(Args, Debug)]
#[command(after_help = "Examples:
  gitops-gate run --env qa --dry-run        # what would run, and can every step start?
  gitops-gate run --env qa --url-base http://127.0.0.1:8080 --format json")]
pub struct RunArgs {
    #[command(flatten)]
    pub common: Common,
    /// Where the plan and run.json go (default: gitops-gate-out/ at the repository root).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Execute this saved plan.json instead of planning.
    #[arg(long)]
    pub plan: Option<PathBuf>,
    /// Walk the run and print what it would do, with no side effects.
    #[arg(long)]
    pub dry_run: bool,
    /// Hand every non-builtin step to this system.
    #[arg(long, value_enum)]
    pub handoff: Option<Handoff>,
    /// URL base for health checks instead of https://<domain> (http:// or https://).
    #[arg(long, value_parser = url_base)]
    pub url_base: Option<String>,
    /// Take the environment's deploy claim even when another run holds it (only once you
    /// know that run is gone; a stale claim also expires on its own).
    #[arg(long)]
    pub break_claim: bool,
    /// Append the run's CDEvents (CloudEvents JSON, one per line) to this file.
    #[arg(long, value_name = "FILE")]
    pub events: Option<PathBuf>,
    /// Output on stdout.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Args, Debug)]
#[command(after_help = "Examples:
  gitops-gate healthcheck --env qa
  gitops-gate healthcheck api --env staging --url-base http://127.0.0.1:8080")]
pub struct HealthcheckArgs {
    /// Services to check (default: every service on the branch).
    pub services: Vec<String>,
    /// The deployment repository (or any folder inside it).
    #[arg(long, default_value = ".")]
    pub repo: PathBuf,
    /// The environment whose descriptors are checked.
    #[arg(long)]
    pub env: String,
    /// The revision to read descriptors from (default: the environment's branch).
    #[arg(long)]
    pub head: Option<String>,
    /// URL base instead of https://<domain> (http:// or https://).
    #[arg(long, value_parser = url_base)]
    pub url_base: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

/// What every gating command shares: where the repository is and which push to judge.
#[derive(Args, Debug, Clone)]
pub struct Common {
    /// The deployment repository (or any folder inside it).
    #[arg(long, default_value = ".")]
    pub repo: PathBuf,
    /// The environment: its branch's tip is judged (default: the environment of --branch,
    /// else of the CI's or the checked-out branch).
    #[arg(long)]
    pub env: Option<String>,
    /// The branch (default: from CI, else the current branch).
    #[arg(long)]
    pub branch: Option<String>,
    /// The base commit (default: the environment's ledger).
    #[arg(long)]
    pub base: Option<String>,
    /// The head revision (default: from CI, else HEAD).
    #[arg(long)]
    pub head: Option<String>,
    /// First deploy: nothing is deployed yet, judge all history.
    #[arg(long)]
    pub bootstrap: bool,
    /// Fetch missing history and the ledger from origin (default: on in CI).
    #[arg(long, overrides_with = "no_fetch")]
    pub fetch: bool,
    /// Never run git fetch.
    #[arg(long)]
    pub no_fetch: bool,
    /// Make no calls to JIRA or GitHub; rules that need them report `skip`.
    #[arg(long)]
    pub offline: bool,
    /// Where the policy lives in the repository; like gitops.yaml it is read at the deployed
    /// commit, so a push cannot choose the rules that judge it.
    #[arg(long, value_name = "PATH", default_value = crate::config::POLICY_FILE)]
    pub policy: String,
    /// A Terraform/OpenTofu plan (`terraform show -json` output) to judge too; repeatable.
    #[arg(long = "terraform-plan", value_name = "FILE")]
    pub terraform_plan: Vec<PathBuf>,
    /// Judge as if it were this time (RFC 3339), for freeze windows and soak times;
    /// refused under CI. The plan records it.
    #[arg(long, value_name = "RFC3339")]
    pub now: Option<String>,
    /// Deploy inside a freeze window: the break-glass, given by whoever runs the deploy (a
    /// workflow_dispatch input, a Jenkins parameter), never by the push. The head commit
    /// must carry the same ticket in a `Deploy-Freeze-Override:` trailer, and JIRA must
    /// approve it.
    #[arg(long, value_name = "TICKET")]
    pub freeze_override: Option<String>,
}

/// `plan --format`: the summary, or the checks as a report for code scanning or CI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PlanFormat {
    Text,
    Json,
    // SARIF 2.1.0, one result per violation (also written to OUT/plan.sarif).
    Sarif,
    // JUnit XML, one test case per rule (also written to OUT/junit.xml).
    Junit,
}

#[derive(Args, Debug)]
#[command(after_help = "Examples:
  gitops-gate plan --env qa                 # judge qa's branch against what qa runs
  gitops-gate plan --env staging --head 1a2b3c4 --format json --out /tmp/plan
  gitops-gate plan --format sarif > /dev/null  # gitops-gate-out/plan.sarif for code scanning")]
pub struct PlanArgs {
    #[command(flatten)]
    pub common: Common,
    /// Where the plan files go (default: gitops-gate-out/ at the repository root).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Output on stdout; sarif and junit also go to OUT/plan.sarif, OUT/junit.xml.
    #[arg(long, value_enum, default_value_t = PlanFormat::Text)]
    pub format: PlanFormat,
}

#[derive(Args, Debug)]
#[command(after_help = "Examples:
  gitops-gate diff --env qa
  gitops-gate diff --env prod --service api --format json")]
pub struct DiffArgs {
    #[command(flatten)]
    pub common: Common,
    /// Only these services (repeatable).
    #[arg(long)]
    pub service: Vec<String>,
    /// Output on stdout.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Args, Debug)]
#[command(after_help = "Examples:
  gitops-gate validate                      # every branch, and your uncommitted edits
  gitops-gate validate --env prod --format json")]
pub struct ValidateArgs {
    /// The deployment repository (or any folder inside it).
    #[arg(long, default_value = ".")]
    pub repo: PathBuf,
    /// Where the policy lives in the repository.
    #[arg(long, value_name = "PATH", default_value = crate::config::POLICY_FILE)]
    pub policy: String,
    /// Only this environment's branch.
    #[arg(long)]
    pub env: Option<String>,
    /// Output on stdout.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Args, Debug)]
#[command(after_help = "Examples:
  gitops-gate demo
  gitops-gate demo --keep /tmp/demo-repo     # look around in the example repository after")]
pub struct DemoArgs {
    /// Keep the demo repository here instead of a temp dir.
    #[arg(long)]
    pub keep: Option<PathBuf>,
}

/// Which CI files `init` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Ci {
    Github,
    Jenkins,
    Both,
}

#[derive(Args, Debug)]
#[command(after_help = "Examples:
  gitops-gate bump api 1.4.3 --env qa --ticket OPS-42
  GIT_AUTHOR_NAME=ci GIT_AUTHOR_EMAIL=ci@example.com gitops-gate bump api 1.4.3 --env qa --push --format json")]
pub struct BumpArgs {
    /// The service (services/SERVICE.yaml).
    pub service: String,
    /// The new version: letters, digits and . _ + - (no spaces or shell characters).
    pub version: String,
    /// The environment whose branch gets the commit.
    #[arg(long)]
    pub env: String,
    /// The deployment repository (or any folder inside it).
    #[arg(long, default_value = ".")]
    pub repo: PathBuf,
    /// Commit message (default: "bump SERVICE to VERSION on ENV").
    #[arg(long)]
    pub message: Option<String>,
    /// JIRA ticket named at the start of the message.
    #[arg(long)]
    pub ticket: Option<String>,
    /// Push to origin with a lease, rebasing the one commit on a race.
    #[arg(long)]
    pub push: bool,
    /// Author name (default: git's identity: GIT_AUTHOR_NAME, then user.name).
    #[arg(long)]
    pub author_name: Option<String>,
    /// Author email (default: git's identity: GIT_AUTHOR_EMAIL, then user.email).
    #[arg(long)]
    pub author_email: Option<String>,
    /// Output on stdout.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Args, Debug)]
#[command(after_help = "Examples:
  gitops-gate init deployments
  gitops-gate init . --ci github")]
pub struct InitArgs {
    /// Where the repository goes (created if missing).
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// Which CI files to write.
    #[arg(long, value_enum, default_value_t = Ci::Both)]
    pub ci: Ci,
    /// Overwrite existing files and reset existing environment branches and ledger refs.
    #[arg(long)]
    pub force: bool,
}

/// `--url-base`: a base URL the health check can call, checked before anything runs.
fn url_base(s: &str) -> Result<String, String> {
    let rest = s
        .strip_prefix("http://")
        .or_else(|| s.strip_prefix("https://"))
        .ok_or_else(|| format!("`{s}` has no scheme: write http://{s} (or https://)"))?;
    if rest.is_empty() || rest.starts_with('/') {
        return Err(format!("`{s}` names no host, e.g. http://127.0.0.1:8080"));
    }
    Ok(s.trim_end_matches('/').to_string())
}

fn init_logging(cli: &Cli, env: &Env) {
    let spec = if cli.quiet {
        "error".to_string()
    } else if let Some(s) = env.get("GITOPS_GATE_LOG").or(env.get("RUST_LOG")) {
        s.to_string()
    } else {
        match cli.verbose {
            0 => "warn",
            1 => "info",
            _ => "debug",
        }
        .to_string()
    };
    let mut b = env_logger::Builder::new();
    b.parse_filters(&spec)
        .format_timestamp(None)
        .format_target(false)
        .target(env_logger::Target::Stderr);
    if ci::CiOutputs::from_env(env).github_actions {
        // Log records quote untrusted text too: in GitHub Actions each is one line that
        // starts with its level, so no line of it reads as a workflow command.
        b.format(|buf, record| {
            use std::io::Write as _;
            let msg = record
                .args()
                .to_string()
                .replace('\r', "\\r")
                .replace('\n', "\\n");
            writeln!(buf, "[{}] {msg}", record.level())
        });
    }
    let _ = b.try_init();
}

impl Common {
    /// `--out`, else `gitops-gate-out/` at the repository's root, wherever in it the command
    /// runs (the folder `init`'s .gitignore names).
    pub fn out_dir(&self, out: Option<&std::path::Path>) -> PathBuf {
        const DEFAULT: &str = "gitops-gate-out";
        match out {
            Some(o) => o.to_path_buf(),
            None => crate::repo::Repo::open(&self.repo)
                .ok()
                .and_then(|r| r.workdir_root())
                .map(|root| root.join(DEFAULT))
                .unwrap_or_else(|| PathBuf::from(DEFAULT)),
        }
    }

    pub fn overrides(&self) -> ci::Overrides {
        ci::Overrides {
            env: self.env.clone(),
            branch: self.branch.clone(),
            base: None,
            head: self.head.clone(),
        }
    }
    /// Fetching is on in CI, off locally, and the flags win.
    pub fn fetch(&self, ctx: &ci::PushContext) -> bool {
        if self.no_fetch {
            false
        } else {
            self.fetch || ctx.ci != ci::CiSystem::Local
        }
    }
}

/// Runs a command and turns any error into its message, hint and exit code.
pub fn run(cli: Cli) -> Exit {
    let env = Env::from_process();
    init_logging(&cli, &env);
    // In GitHub Actions every command's stdout is fenced from the workflow-command parser;
    // the guard ends the last block however the command returns.
    crate::output::fence_stdout(ci::CiOutputs::from_env(&env).github_actions);
    struct EndFence;
    impl Drop for EndFence {
        fn drop(&mut self) {
            crate::output::end_fence();
        }
    }
    let _end = EndFence;
    let result = match cli.command {
        Command::Plan(a) => commands::plan::run(&a, &env),
        Command::Diff(a) => commands::diff::run(&a, &env),
        Command::Validate(a) => commands::validate::run(&a),
        Command::Schema => commands::schema::run(),
        Command::Demo(a) => commands::demo::run(&a),
        Command::Run(a) => commands::run::run(&a, &env),
        Command::Healthcheck(a) => commands::healthcheck::run(&a),
        Command::Init(a) => commands::init::run(&a),
        Command::Bump(a) => commands::bump::run(&a),
        Command::Report(a) => commands::report::run(&a),
        Command::Rollback(a) => commands::rollback::run(&a),
        Command::Promote(a) => commands::promote::run(&a, &env),
        Command::Status(a) => commands::status::run(&a),
    };
    match result {
        Ok(code) => code,
        Err(err) => report_with(err, &ci::Secrets::from_env(&env, &[])),
    }
}

/// The one conversion of a command's error (`error::CommandError::from`): prints the cause
/// chain, one per line, then the hints; returns the exit code.
pub fn report(err: anyhow::Error) -> Exit {
    report_with(err, &ci::Secrets::default())
}

/// `report`, with one last redaction of the environment's secrets over the whole text: each
/// client redacts its own errors, and this pass covers a cause chain none of them wrote.
pub fn report_with(err: anyhow::Error, secrets: &ci::Secrets) -> Exit {
    let err = error::CommandError::from(err);
    if err.exit == Exit::Internal {
        log::debug!(
            "internal error: {}",
            secrets.redact(&format!("{:?}", err.error))
        );
    }
    // Errors quote descriptor keys, commit messages and branch names: one block, fenced in
    // GitHub Actions like stdout.
    crate::output::eprint_untrusted(&secrets.redact(&err.to_string()));
    crate::errln!(
        "gitops-gate: exit {}: {}",
        err.exit.code(),
        err.exit.meaning()
    );
    err.exit
}
