//! Thin entry point: parse the command line, run, exit with the documented code.
use clap::Parser;

fn main() {
    let cli = gitops_gate::cli::Cli::parse();
    std::process::exit(gitops_gate::cli::run(cli).code());
}
