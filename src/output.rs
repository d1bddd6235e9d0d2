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
        w.flush()
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if durable {
        tmp.as_file()
            .sync_all()
            .with_context(|| format!("cannot write {}", path.display()))?;
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

/// What the program writes on stdout, in GitHub Actions fenced from the workflow-command
/// parser. Every command prints through it (`out!`, `outln!`), so descriptor keys and
/// values, commit messages and branch names can never reach the runner as a live command
/// (`::set-output`, `::add-mask::`, `::error::`): the first write opens a
/// `::stop-commands::<random token>` block, and it stays open until a workflow command the
/// program means (`annotate`), a write to stderr (`errln!`) or the end of the run closes it.
/// Outside GitHub Actions the text passes unchanged.
#[derive(Debug, Default)]
pub struct Fence {
    actions: bool,
    /// The open block's token.
    token: Option<String>,
    /// Nothing written yet on the current line.
    mid_line: bool,
}

impl Fence {
    pub const fn new(actions: bool) -> Fence {
        Fence {
            actions,
            token: None,
            mid_line: false,
        }
    }

    /// Writes `text`, inside a stop-commands block in GitHub Actions.
    pub fn write(&mut self, w: &mut impl Write, text: &str) -> std::io::Result<()> {
        if text.is_empty() {
            return Ok(());
        }
        if self.actions {
            // A 128-bit random token is not guessable; should the text hold it anyway, it
            // gets a block of its own with another.
            if self
                .token
                .as_ref()
                .is_some_and(|t| text.contains(t.as_str()))
            {
                self.close(w)?;
            }
            if self.token.is_none() {
                let token = loop {
                    let t = random_token();
                    if !text.contains(&t) {
                        break t;
                    }
                };
                self.end_line(w)?;
                writeln!(w, "::stop-commands::{token}")?;
                self.token = Some(token);
            }
        }
        w.write_all(text.as_bytes())?;
        self.mid_line = !text.ends_with('\n');
        Ok(())
    }

    /// Ends the open block, if any, on a line of its own.
    pub fn close(&mut self, w: &mut impl Write) -> std::io::Result<()> {
        if let Some(token) = self.token.take() {
            self.end_line(w)?;
            writeln!(w, "::{token}::")?;
        }
        w.flush()
    }

    /// A workflow command the program means, outside any block. `line` must already be
    /// escaped (`escape_data`, `escape_property`).
    pub fn command(&mut self, w: &mut impl Write, line: &str) -> std::io::Result<()> {
        self.close(w)?;
        self.end_line(w)?;
        writeln!(w, "{}", line.trim_end_matches('\n'))?;
        w.flush()
    }

    fn end_line(&mut self, w: &mut impl Write) -> std::io::Result<()> {
        if self.mid_line {
            w.write_all(b"\n")?;
            self.mid_line = false;
        }
        Ok(())
    }
}

/// The process's stdout fence, configured once by `cli::run` from the CI environment.
static STDOUT: std::sync::Mutex<Fence> = std::sync::Mutex::new(Fence::new(false));

fn stdout_fence() -> std::sync::MutexGuard<'static, Fence> {
    // A panic elsewhere while printing leaves the state usable; printing never panics.
    STDOUT.lock().unwrap_or_else(|e| e.into_inner())
}

/// Turns fencing on (GitHub Actions) or off, for the rest of the process.
pub fn fence_stdout(github_actions: bool) {
    let mut f = stdout_fence();
    let _ = f.close(&mut std::io::stdout().lock());
    *f = Fence::new(github_actions);
}

/// `out!`: untrusted text on stdout, fenced in GitHub Actions. A closed stdout
/// (`gitops-gate plan | head`) must not stop a gate or a deploy half-way, so output that
/// cannot be written is dropped.
pub fn print(args: std::fmt::Arguments) {
    let text = args.to_string();
    let _ = stdout_fence().write(&mut std::io::stdout().lock(), &text);
}

/// `outln!`.
pub fn println(args: std::fmt::Arguments) {
    let mut text = args.to_string();
    text.push('\n');
    let _ = stdout_fence().write(&mut std::io::stdout().lock(), &text);
}

/// `errln!`: ends the stdout block first, so the two streams never hold interleaved
/// blocks, then writes the line to stderr (dropped if stderr is closed).
pub fn eprintln(args: std::fmt::Arguments) {
    let text = args.to_string();
    let _ = stdout_fence().close(&mut std::io::stdout().lock());
    let _ = writeln!(std::io::stderr().lock(), "{text}");
}

/// Untrusted text on stderr (an error naming a descriptor key, a commit, a branch): in
/// GitHub Actions a stop-commands block of its own, since the runner reads workflow
/// commands on stderr too. The stdout block is ended first.
pub fn eprint_untrusted(text: &str) {
    let mut f = stdout_fence();
    let _ = f.close(&mut std::io::stdout().lock());
    let mut err = Fence::new(f.actions);
    let mut w = std::io::stderr().lock();
    let _ = err.write(&mut w, &format!("{}\n", text.trim_end_matches('\n')));
    let _ = err.close(&mut w);
}

/// Ends the stdout block: at the end of a run, and before anything else writes to stdout.
pub fn end_fence() {
    let _ = stdout_fence().close(&mut std::io::stdout().lock());
}

/// A GitHub annotation (`error`, `warning`, `notice`) on stdout, outside any block, with its
/// properties and message escaped.
pub fn annotate(level: &str, properties: &[(&str, String)], message: &str) {
    let props: Vec<String> = properties
        .iter()
        .map(|(k, v)| format!("{k}={}", escape_property(v)))
        .collect();
    let line = if props.is_empty() {
        format!("::{level}::{}", escape_data(message))
    } else {
        format!("::{level} {}::{}", props.join(","), escape_data(message))
    };
    let _ = stdout_fence().command(&mut std::io::stdout().lock(), &line);
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
    fn stdout_is_fenced_in_actions_and_commands_stand_outside() {
        let mut w = Vec::new();
        let mut f = Fence::new(true);
        f.write(&mut w, "a: ::error::pwned\n").unwrap();
        f.write(&mut w, "::add-mask::x").unwrap();
        f.command(&mut w, "::error title=t::m").unwrap();
        f.write(&mut w, "b\n").unwrap();
        f.close(&mut w).unwrap();
        f.close(&mut w).unwrap();
        let text = String::from_utf8(w).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let first = lines[0].strip_prefix("::stop-commands::").unwrap();
        assert_eq!(first.len(), 32);
        let second = lines[5].strip_prefix("::stop-commands::").unwrap();
        assert_ne!(first, second, "a fresh token per block");
        assert_eq!(
            lines,
            [
                &format!("::stop-commands::{first}"),
                "a: ::error::pwned",
                "::add-mask::x",
                &format!("::{first}::"),
                "::error title=t::m",
                &format!("::stop-commands::{second}"),
                "b",
                &format!("::{second}::"),
            ]
        );
        let mut w = Vec::new();
        let mut f = Fence::new(false);
        f.write(&mut w, "::error::x\n").unwrap();
        f.close(&mut w).unwrap();
        assert_eq!(w, b"::error::x\n", "outside Actions the text is unchanged");
    }

    #[test]
    fn escapes_workflow_command_data() {
        assert_eq!(escape_data("50%\nx"), "50%25%0Ax");
        assert_eq!(escape_property("a:b,c"), "a%3Ab%2Cc");
    }
}
