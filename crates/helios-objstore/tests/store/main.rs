//! The one integration-test binary of helios-objstore: the conformance
//! suite for both stores, open errors, corruption, crash safety with real
//! child processes killed by SIGKILL, and the (ignored) 1M-object stress run.

mod common;
mod compaction;
mod conformance;
mod corruption;
mod open;
mod process;
mod stress;
