//! Integration tests of helios-engine, one binary: lifecycle on RocksDB,
//! properties, gc, concurrency, crash recovery with a killed child process,
//! and deduplication on a search-like trace.

// Test data uses small, bounded numbers; reports go to stderr.
#![allow(clippy::cast_possible_truncation, clippy::print_stderr)]

mod common;
mod concurrency;
mod crash;
mod dedup;
mod gc;
mod history;
mod import;
mod large_files;
mod lifecycle;
mod properties;
mod watch;
mod workdirs;
