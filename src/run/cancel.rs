//! A run cancelled by its CI (SIGINT, SIGTERM, SIGHUP) stops at the next safe point instead of
//! dying where it stands: the running step's process group is killed, the remaining stages
//! are recorded as skipped, and the deploy claim is released, so the environment is not
//! blocked until the claim expires. A second signal exits at once.
use std::sync::atomic::{AtomicBool, Ordering};

static CANCELLED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(sig: libc::c_int) {
    // Only async-signal-safe work here: a flag, or `_exit` on the second signal.
    if CANCELLED.swap(true, Ordering::SeqCst) {
        // SAFETY: _exit is async-signal-safe and ends the process without unwinding.
        unsafe { libc::_exit(128 + sig) };
    }
}

/// Installs the handlers; called once when a run starts executing stages.
pub fn install() {
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: the handler only touches an atomic or calls `_exit`; the sigaction struct
        // is zeroed and then filled as sigaction(2) documents.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_signal as *const () as usize;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(sig, &action, std::ptr::null_mut());
        }
    }
}

/// Whether the run was asked to stop.
pub fn cancelled() -> bool {
    CANCELLED.load(Ordering::SeqCst)
}
