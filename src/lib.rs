//! gitops-gate: a stateless deploy gate over a Git repository of deployment descriptors.
//!
//! Data flows one way: `ci` (push context) -> `repo` (range, trees) -> `config` (policy,
//! descriptors) -> `diff` (service changes) -> `gate` (checks) -> `plan` (decision, stages)
//! -> render. `evaluate` wires those stages together for the commands.
/// `print!` that never panics. A closed stdout (`gitops-gate plan | head`) must not stop a
/// gate or a deploy half-way, so output that cannot be written is dropped and the run goes
/// on to its own exit code.
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stdout().lock(), $($arg)*);
    }};
}

/// `eprintln!` that never panics: a closed stderr (`2>&1 | head`) must not stop a deploy
/// either (see `out!`).
#[macro_export]
macro_rules! errln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr().lock(), $($arg)*);
    }};
}

/// `eprint!` that never panics (see `errln!`).
#[macro_export]
macro_rules! err {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stderr().lock(), $($arg)*);
    }};
}

/// `println!` that never panics (see `out!`).
#[macro_export]
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

pub mod ci;
pub mod cli;
pub mod commands;
pub mod config;
pub mod diff;
pub mod edit;
pub mod error;
pub mod evaluate;
pub mod gate;
pub mod integrations;
pub mod output;
pub mod plan;
pub mod promote;
pub mod repo;
pub mod report;
pub mod run;
pub mod sums;
