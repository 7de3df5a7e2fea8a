//! Integration tests of helios-demo: the demo end to end on real RocksDB
//! stores in temporary directories, real working directories and the real
//! checker process, and the search's pruning, gc and reward under the
//! demo's workload.

mod common;
mod demo;
mod reward;
mod search;
