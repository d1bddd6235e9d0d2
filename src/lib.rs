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
    ($($arg:tt)*) => { $crate::write_or_drop!(stdout, write, $($arg)*) };
}

/// `println!` that never panics (see `out!`).
#[macro_export]
macro_rules! outln {
    ($($arg:tt)*) => { $crate::write_or_drop!(stdout, writeln, $($arg)*) };
}

/// `eprintln!` that never panics: a closed stderr (`2>&1 | head`) must not stop a deploy
/// either.
#[macro_export]
macro_rules! errln {
    ($($arg:tt)*) => { $crate::write_or_drop!(stderr, writeln, $($arg)*) };
}

#[doc(hidden)]
#[macro_export]
macro_rules! write_or_drop {
    ($stream:ident, $write:ident, $($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = $write!(std::io::$stream().lock(), $($arg)*);
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
