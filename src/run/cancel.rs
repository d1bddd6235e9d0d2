//! A run cancelled by its CI (SIGINT, SIGTERM, SIGHUP) stops at the next safe point instead of
//! dying where it stands: the running step's process group is killed, the remaining stages
//! are recorded as skipped, and the deploy claim is released, so the environment is not
//! blocked until the claim expires. A second signal exits at once.
//!
//! signal-hook's `flag` handlers do only async-signal-safe work (an atomic store; `_exit`
//! for the second signal), which the hand-written sigaction did before.
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::flag;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock, Once};

static CANCELLED: LazyLock<Arc<AtomicBool>> = LazyLock::new(Arc::default);

/// Installs the handlers; called when a run starts executing stages (once per process).
pub fn install() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        for sig in [SIGINT, SIGTERM, SIGHUP] {
            // The order matters: the conditional exit is registered first, so it sees the
            // flag as it was before this signal set it (set: this is the second signal).
            let registered = flag::register_conditional_shutdown(sig, 128 + sig, CANCELLED.clone())
                .and_then(|_| flag::register(sig, CANCELLED.clone()));
            if let Err(e) = registered {
                log::warn!(
                    "cannot handle signal {sig}: {e}; a cancelled run stops where it stands"
                );
            }
        }
    });
}

/// Whether the run was asked to stop.
pub fn cancelled() -> bool {
    CANCELLED.load(Ordering::SeqCst)
}
