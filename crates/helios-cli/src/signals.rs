//! SIGINT and SIGTERM end a command cleanly: the first one sets a flag that
//! long commands poll (the demo's search stops between two nodes), the
//! engine closes as usual — queued commits are written, or `close` names
//! the ones that were not — and the process exits with 128 + the signal's
//! number. A second signal ends the process at once; everything the store
//! acknowledged is crash-safe, so that loses nothing acknowledged.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use signal_hook::consts::{SIGINT, SIGTERM};

/// Which termination signal arrived, if any.
#[derive(Clone, Debug, Default)]
pub struct Interrupt {
    seen: Arc<AtomicBool>,
    signal: Arc<AtomicUsize>,
}

impl Interrupt {
    /// Installs the handlers for this process.
    pub fn install() -> std::io::Result<Interrupt> {
        let interrupt = Interrupt::default();
        for signal in [SIGINT, SIGTERM] {
            // Registered first, so it sees the flag as the previous signal
            // left it: set means this is the second one.
            signal_hook::flag::register_conditional_shutdown(
                signal,
                128 + signal,
                Arc::clone(&interrupt.seen),
            )?;
            signal_hook::flag::register(signal, Arc::clone(&interrupt.seen))?;
            let number = usize::try_from(signal).unwrap_or_default();
            signal_hook::flag::register_usize(signal, Arc::clone(&interrupt.signal), number)?;
        }
        Ok(interrupt)
    }

    /// Whether a signal asked the command to stop.
    pub fn requested(&self) -> bool {
        self.seen.load(Ordering::Relaxed)
    }

    /// The signal's name and the exit status it calls for (128 + number).
    pub fn outcome(&self) -> Option<(&'static str, u8)> {
        if !self.requested() {
            return None;
        }
        let number = self.signal.load(Ordering::Relaxed);
        let name = if number == usize::try_from(SIGINT).unwrap_or_default() {
            "SIGINT"
        } else {
            "SIGTERM"
        };
        Some((name, u8::try_from(128 + number).unwrap_or(u8::MAX)))
    }
}
