//! One module per subcommand: each turns parsed arguments into a request, calls the stages,
//! prints, and returns the exit code.
pub mod demo;
pub mod healthcheck;
pub mod plan;
pub mod run;
pub mod schema;
pub mod validate;
