//! Benchmarks of helios-vst: written by its issue.

fn main() {}
