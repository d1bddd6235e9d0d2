//! One module per subcommand: each turns parsed arguments into a request, calls the stages,
//! prints, and returns the exit code.
pub mod bump;
pub mod demo;
pub mod plan;
pub mod promote;
pub mod report;
pub mod rollback;
pub mod schema;
pub mod validate;
