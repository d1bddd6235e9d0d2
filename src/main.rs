//! Thin entry point: parse the command line, run, exit with the documented code.
use clap::Parser;

fn main() {
    tune_allocator();
    let cli = gitops_gate::cli::Cli::parse();
    std::process::exit(gitops_gate::cli::run(cli).code());
}

/// A large push allocates tens of MiB on several threads at once, and glibc grows each heap
/// 128 KiB at a time, every step taking the address-space lock the other threads' page faults
/// wait on. Growing 16 MiB at a time measured 5-10% faster on 5,000 descriptors, for about
/// 1 MiB more peak memory (untouched pages cost nothing).
fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets a glibc tunable; called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_TOP_PAD, 16 << 20);
    }
}
