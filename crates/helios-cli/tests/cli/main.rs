//! The `helios` binary end to end, on real directories and real stores:
//! the quick start and round trips, damage and bad input, and a checkout
//! killed half-way.

// A skipped part says why on stderr.
#![allow(clippy::print_stderr)]

mod common;
mod damage;
mod interrupted;
mod round_trip;
