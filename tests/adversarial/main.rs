//! Attacks from the hardening review, one test per attack, named for it. Each asserts the
//! exit code, stdout and stderr together, and fails on the code before its fix.
#[path = "../common/mod.rs"]
mod common;
#[path = "../fakes/mod.rs"]
mod fakes;

mod gate_output;
mod input;
mod saved_plan_and_steps;
