//! The `helios` binary end to end, on real directories and real stores:
//! the quick start and round trips, damage and bad input, a checkout
//! killed half-way, the server, and the demo.

// A skipped part says why on stderr.
#![allow(clippy::print_stderr)]

mod bench_cli;
mod cluster;
mod common;
mod damage;
mod demo;
mod front;
mod interrupted;
mod killed_gc;
mod large_files;
mod overlay;
mod remote;
mod round_trip;
mod safety;
mod server;
mod signals;
