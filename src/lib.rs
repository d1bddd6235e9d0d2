//! gitops-gate: a stateless deploy gate over a Git repository of deployment descriptors.
//!
//! Data flows one way: `ci` (push context) -> `repo` (range, trees) -> `config` (policy,
//! descriptors) -> `diff` (service changes) -> `gate` (checks) -> `plan` (decision, stages)
//! -> render. `evaluate` wires those stages together for the commands. `facts` turns what
//! the `integrations` fetch into the gate's facts; `model` holds the plain values both
//! share, so neither imports the other.
/// `print!` that never panics, through the one stdout writer (`output::print`): in GitHub
/// Actions inside a stop-commands block, so untrusted text never runs as a workflow
/// command. A closed stdout (`gitops-gate plan | head`) must not stop a gate or a deploy
/// half-way, so output that cannot be written is dropped and the run goes on to its own
/// exit code.
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => { $crate::output::print(format_args!($($arg)*)) };
}

/// `println!` that never panics (see `out!`).
#[macro_export]
macro_rules! outln {
    () => { $crate::output::print(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::output::println(format_args!($($arg)*)) };
}

/// `eprintln!` that never panics: a closed stderr (`2>&1 | head`) must not stop a deploy
/// either. It ends an open stdout block first (`output::eprintln`).
#[macro_export]
macro_rules! errln {
    ($($arg:tt)*) => { $crate::output::eprintln(format_args!($($arg)*)) };
}

pub mod ci;
pub mod cli;
pub mod clock;
pub mod commands;
pub mod config;
pub mod diff;
pub mod edit;
pub mod error;
pub mod evaluate;
pub mod facts;
pub mod gate;
pub mod integrations;
pub mod model;
pub mod output;
pub mod plan;
pub mod promote;
pub mod publish;
pub mod repo;
pub mod report;
pub mod run;
pub mod soak;
pub mod sums;
