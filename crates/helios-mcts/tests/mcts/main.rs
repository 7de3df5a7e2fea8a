//! Integration tests of helios-mcts: real RocksDB stores in temporary
//! directories, real working directories, the real checker process.

mod common;
mod demo;
mod reward;
mod search;
mod workdir;
