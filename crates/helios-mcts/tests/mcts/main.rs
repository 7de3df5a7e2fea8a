//! Integration tests of helios-mcts: real RocksDB stores in temporary
//! directories, real working directories, small environments of their own
//! (the demo's environment is tested in helios-demo).

mod common;
mod parallel;
mod reward;
mod search;
mod workdir;
