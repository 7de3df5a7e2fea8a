//! Benchmarks of helios-l1cache: written by its issue.

fn main() {}
