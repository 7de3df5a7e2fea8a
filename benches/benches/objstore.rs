//! Benchmarks of helios-objstore: written by its issue.

fn main() {}
