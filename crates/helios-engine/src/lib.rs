//! The engine: HeliosEngine wires L0, L1 and L2 into the StateManager API (commit, restore, diff, refs, pins, GC, verification, working directories). The only crate that spawns threads. Filled by the engine issue.

#![forbid(unsafe_code)]
#![deny(missing_docs)]
