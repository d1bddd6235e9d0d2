//! `gitops-gate init [DIR]`: scaffold a deployment repository: the policy, one example
//! descriptor, the environment branches, the ledger refs at the initial commit (so the first
//! push has a base), the CI files and a README.
use crate::cli::{Ci, InitArgs};
use crate::error::{Exit, Failure};
use crate::repo::{identity, Identity, Repo};
use std::path::Path;

pub const POLICY: &str = include_str!("../../templates/init/gitops.yaml");
pub const EXAMPLE: &str = include_str!("../../templates/init/example.yaml");
pub const WORKFLOW: &str = include_str!("../../templates/init/workflow.yml");
pub const JENKINSFILE: &str = include_str!("../../templates/init/Jenkinsfile");
pub const README: &str = include_str!("../../templates/init/README.md");
pub const GITIGNORE: &str = include_str!("../../templates/init/gitignore");
pub const DEPLOY: &str = include_str!("../../templates/init/scripts/deploy.sh");
pub const SMOKE: &str = include_str!("../../templates/init/scripts/smoke.sh");
pub const REGRESSION: &str = include_str!("../../templates/init/scripts/regression.sh");

/// The example step scripts, which `steps` in the policy names: executable in Git.
pub const SCRIPTS: [&str; 3] = [
    "scripts/deploy.sh",
    "scripts/smoke.sh",
    "scripts/regression.sh",
];

pub const ENVIRONMENTS: [&str; 3] = ["qa", "staging", "prod"];
pub const WORKFLOW_PATH: &str = ".github/workflows/gitops-gate.yml";

/// The files `init` writes for a choice of CI, path -> content.
pub fn files(ci: Ci) -> Vec<(&'static str, &'static str)> {
    let mut v = vec![
        ("README.md", README),
        (".gitignore", GITIGNORE),
        ("gitops.yaml", POLICY),
        ("services/example.yaml", EXAMPLE),
        (SCRIPTS[0], DEPLOY),
        (SCRIPTS[1], SMOKE),
        (SCRIPTS[2], REGRESSION),
    ];
    if matches!(ci, Ci::Github | Ci::Both) {
        v.push((WORKFLOW_PATH, WORKFLOW));
    }
    if matches!(ci, Ci::Jenkins | Ci::Both) {
        v.push(("Jenkinsfile", JENKINSFILE));
    }
    v
}

pub fn run(a: &InitArgs) -> anyhow::Result<Exit> {
    let dir = a.dir.as_path();
    let files = files(a.ci);
    if !a.force {
        refuse_existing(dir, &files)?;
    }
    std::fs::create_dir_all(dir).map_err(|e| {
        Failure::invalid(format!("cannot create {}: {e}", dir.display()))
            .hint("pass a directory you can write to")
    })?;
    let repo = if dir.join(".git").exists() {
        Repo::open(dir)?
    } else {
        Repo::init(dir)?
    };
    let parent = repo.branch_tip("main");
    // The first commit is yours, as `git commit` would make it; a machine with no
    // identity yet (a fresh laptop, a container) still gets a repository, by a name that
    // says who wrote it.
    let (author, committer) = identity::of_git(&repo.dir(), None, None).unwrap_or_else(|_| {
        let who = Identity::new(
            "gitops-gate init",
            "gitops-gate-init@users.noreply.example",
            chrono::Utc::now().timestamp(),
        );
        (who.clone(), who)
    });
    let contents: Vec<(&str, Option<&[u8]>)> = files
        .iter()
        .map(|(p, c)| (*p, Some(c.as_bytes())))
        .collect();
    let root = repo.commit_files_as(
        Some("refs/heads/main"),
        parent.as_slice(),
        &contents,
        &SCRIPTS,
        &author,
        &committer,
        "gitops-gate init: policy, example service, CI files [skip deploy]",
    )?;
    for env in ENVIRONMENTS {
        repo.set_ref(&format!("refs/heads/{env}"), root, "gitops-gate init")?;
        repo.set_ref(&Repo::ledger_ref(env), root, "gitops-gate init: deployed")?;
    }
    repo.checkout_head_force()?;
    let shown = dir.display();
    crate::outln!(
        "Created a deployment repository in {shown} (commit {}).",
        &root.to_string()[..12]
    );
    crate::outln!("  gitops.yaml            the policy: qa -> staging -> prod, gates, steps");
    crate::outln!("  services/example.yaml  one service's descriptor");
    crate::outln!(
        "  scripts/*.sh           deploy, regression and smoke steps: replace their example bodies"
    );
    crate::outln!(
        "Branches qa, staging and prod hold the same descriptors, and each environment's"
    );
    crate::outln!("ledger (refs/gitops-gate/deployed/<env>) is at this commit: that is deployed.");
    crate::outln!("Next:");
    crate::outln!("  cd {shown}");
    crate::outln!("  git remote add origin <url>");
    crate::outln!("  git push origin main qa staging prod 'refs/gitops-gate/*:refs/gitops-gate/*'");
    crate::outln!("  gitops-gate bump example 1.0.1 --env qa --ticket OPS-1 --push");
    crate::outln!("  gitops-gate run --env qa --dry-run");
    crate::outln!("The README's \"First week\" goes on from there.");
    Ok(Exit::Ok)
}

fn refuse_existing(dir: &Path, files: &[(&str, &str)]) -> Result<(), Failure> {
    let existing: Vec<&str> = files
        .iter()
        .map(|(p, _)| *p)
        .filter(|p| dir.join(p).exists())
        .collect();
    if !existing.is_empty() {
        return Err(Failure::invalid(format!(
            "{} already holds {}: not overwriting",
            dir.display(),
            existing.join(", ")
        ))
        .hint("pass --force to overwrite them, or choose another directory"));
    }
    if let Ok(repo) = Repo::open(dir) {
        let taken: Vec<&str> = ENVIRONMENTS
            .into_iter()
            .filter(|e| repo.branch_tip(e).is_some() || repo.ledger(e).is_some())
            .collect();
        if !taken.is_empty() {
            return Err(Failure::invalid(format!(
                "{} already has branches or ledger refs for {}: not overwriting",
                dir.display(),
                taken.join(", ")
            ))
            .hint("pass --force to reset them to the new commit"));
        }
    }
    Ok(())
}
