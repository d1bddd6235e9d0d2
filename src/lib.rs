//! gitops-gate: a stateless deploy gate over a Git repository of deployment descriptors.
//!
//! Data flows one way: `ci` (push context) -> `repo` (range, trees) -> `config` (policy,
//! descriptors) -> `diff` (service changes) -> `gate` (checks) -> `plan` (decision, stages)
//! -> render. `evaluate` wires those stages together for the commands.
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
