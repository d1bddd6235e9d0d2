//! Writing results: plan files atomically, GitHub step outputs and summaries safely, and
//! untrusted text on stdout inert for GitHub's workflow-command parser.
use crate::ci::CiOutputs;
use crate::plan::{render, Plan};
use anyhow::{Context, Result};
use std::io::Write;
use std::path::{Path, PathBuf};

/// GitHub fails a step summary above 1 MiB; we stay below it with a note.
const SUMMARY_LIMIT: usize = 1024 * 1024 - 4096;

/// Writes `bytes` to `path` via a temp file, fsync and rename: readers never see half a
/// file, and a run record survives a crash of the machine.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_via_temp(path, true, |w| w.write_all(bytes))
}

/// For plan files, streamed as they are produced. The rename keeps them atomic; they are not
/// fsynced, since a plan is recomputed from Git at will and its readers are the same CI job
/// (an fsync of a 10 MB plan cost more than rendering it).
pub fn write_atomic_with(
    path: &Path,
    write: impl FnOnce(&mut std::io::BufWriter<&mut std::fs::File>) -> std::io::Result<()>,
) -> Result<()> {
    write_via_temp(path, false, write)
}

fn write_via_temp(
    path: &Path,
    durable: bool,
    // A concrete writer, not `dyn Write`: serializers make many tiny writes.
    write: impl FnOnce(&mut std::io::BufWriter<&mut std::fs::File>) -> std::io::Result<()>,
) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("cannot write in {}", dir.display()))?;
    {
        let mut w = std::io::BufWriter::with_capacity(64 << 10, tmp.as_file_mut());
        write(&mut w).with_context(|| format!("cannot write {}", path.display()))?;
        w.flush()?;
    }
    if durable {
        tmp.as_file().sync_all()?;
    }
    tmp.persist(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

fn random_token() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// Appends `name=value` pairs to a GitHub file command (`$GITHUB_OUTPUT`), each as a heredoc
/// with a fresh random delimiter that is checked absent from the name and value.
pub fn append_github_file(path: &Path, pairs: &[(&str, String)]) -> Result<()> {
    let mut text = String::new();
    for (name, value) in pairs {
        let delim = format!("ghadelimiter_{}", random_token());
        if name.contains(&delim) || value.contains(&delim) || name.contains('\n') {
            anyhow::bail!(
                "refusing to write output `{name}`: it contains its delimiter or a newline"
            );
        }
        text.push_str(&format!("{name}<<{delim}\n{value}\n{delim}\n"));
    }
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("cannot append to {}", path.display()))?;
    f.write_all(text.as_bytes())
        .with_context(|| format!("cannot append to {}", path.display()))?;
    Ok(())
}

/// Wraps untrusted text so GitHub runs no workflow command hidden in it.
pub fn inert(text: &str, actions: bool) -> String {
    if !actions {
        return format!("{}\n", text.trim_end_matches('\n'));
    }
    let token = loop {
        let t = random_token();
        if !text.contains(&t) {
            break t;
        }
    };
    format!("::stop-commands::{token}\n{text}\n::{token}::\n")
}

/// Escapes a message for a workflow command's data (`::error::<data>`).
pub fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a workflow command property value (`file=`, `title=`).
pub fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// The files `plan` writes, and what it tells GitHub.
pub struct Written {
    pub dir: PathBuf,
    pub plan_json: PathBuf,
}

pub fn write_plan(plan: &Plan, out: &Path, ci: &CiOutputs) -> Result<Written> {
    let plan_json = out.join("plan.json");
    // Rendered and written on every core: for thousands of services these are megabytes
    // each, and of unequal size, so each is its own task.
    let ((markdown, json), (jenkins, properties)) = rayon::join(
        || {
            rayon::join(
                || -> Result<String> {
                    let markdown = render::markdown(plan);
                    write_atomic_with(&out.join("plan.md"), |w| w.write_all(markdown.as_bytes()))?;
                    Ok(markdown)
                },
                || write_atomic_with(&plan_json, |w| render::json_to(plan, w)),
            )
        },
        || {
            rayon::join(
                || {
                    write_atomic_with(&out.join("jenkins.json"), |w| {
                        render::jenkins_json_to(plan, w)
                    })
                },
                || {
                    write_atomic_with(&out.join("jenkins.properties"), |w| {
                        render::jenkins_properties_to(plan, w)
                    })
                },
            )
        },
    );
    json?;
    jenkins?;
    properties?;
    let markdown = markdown?;
    if let Some(path) = &ci.github_output {
        let abs = std::path::absolute(&plan_json).unwrap_or(plan_json.clone());
        append_github_file(
            path,
            &[
                ("decision", plan.decision.as_str().to_string()),
                ("environment", plan.environment.clone().unwrap_or_default()),
                ("services", plan.services().join(",")),
                ("plan", abs.display().to_string()),
            ],
        )?;
    }
    if let Some(path) = &ci.step_summary {
        append_summary(path, &markdown)?;
    }
    Ok(Written {
        dir: out.to_path_buf(),
        plan_json,
    })
}

pub fn append_summary(path: &Path, markdown: &str) -> Result<()> {
    let text = if markdown.len() > SUMMARY_LIMIT {
        let mut cut = SUMMARY_LIMIT;
        while !markdown.is_char_boundary(cut) {
            cut -= 1;
        }
        format!(
            "{}\n\n_Summary truncated at 1 MiB; plan.md holds the whole plan._\n",
            &markdown[..cut]
        )
    } else {
        markdown.to_string()
    };
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("cannot append to {}", path.display()))?;
    f.write_all(text.as_bytes())?;
    f.write_all(b"\n")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn github_outputs_use_fresh_heredocs() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out");
        append_github_file(
            &p,
            &[("decision", "deploy".into()), ("x", "a\nevil=1".into())],
        )
        .unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("decision<<ghadelimiter_"));
        assert_eq!(lines[1], "deploy");
        assert_eq!(lines[2], &lines[0]["decision<<".len()..]);
        assert!(lines[3].starts_with("x<<ghadelimiter_"));
        assert_ne!(&lines[3][3..], &lines[0][10..], "delimiters are fresh");
        assert_eq!(lines[4..6], ["a", "evil=1"]);
    }

    #[test]
    fn inert_text_is_fenced_by_a_random_token() {
        let t = inert("::error::pwned\n::add-mask::x", true);
        let first = t.lines().next().unwrap();
        let token = first.strip_prefix("::stop-commands::").unwrap();
        assert_eq!(token.len(), 32);
        assert_eq!(t.lines().last().unwrap(), format!("::{token}::"));
        assert_eq!(inert("x", false), "x\n");
    }

    #[test]
    fn escapes_workflow_command_data() {
        assert_eq!(escape_data("50%\nx"), "50%25%0Ax");
        assert_eq!(escape_property("a:b,c"), "a%3Ab%2Cc");
    }
}
