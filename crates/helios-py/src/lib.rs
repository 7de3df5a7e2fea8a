//! Helios for Python: `import helios` (built by maturin from
//! `python/pyproject.toml` into the native module `helios._helios`).
//!
//! It binds the curated public API and nothing below it:
//!
//! - `Store` ([`store`]): the engine embedded in the process — commit and
//!   check out working directories, read snapshots, refs, pins, gc,
//!   verify, mounts.
//! - `Tree` ([`tree`]): in-memory trees, forked in O(1), edited as bytes
//!   and committed without a directory.
//! - `mcts.Search` ([`search`], [`env`]): the Rust search driving a Python
//!   environment.
//! - The exception hierarchy ([`errors`]) and result records ([`records`]).
//!
//! Two rules hold at the boundary. The GIL is released around every
//! engine call, so Python threads commit and switch in parallel (the
//! engine is `Send + Sync`). No Rust error crosses as a panic: each is
//! mapped to a `helios.HeliosError` subclass (and PyO3 turns a panic into
//! an exception rather than an abort).

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod convert;
mod env;
mod errors;
mod records;
mod search;
mod store;
mod tree;

use pyo3::prelude::*;

/// The native module `helios._helios`; the `helios` package re-exports it.
#[pymodule]
#[pyo3(name = "_helios")]
fn helios_native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<store::Store>()?;
    m.add_class::<tree::Tree>()?;
    m.add_class::<records::CommitMetrics>()?;
    m.add_class::<records::Report>()?;
    m.add_class::<records::Entry>()?;
    m.add_class::<records::Change>()?;
    m.add_class::<records::Snapshot>()?;
    m.add_class::<records::GcReport>()?;
    m.add_class::<records::VerifyReport>()?;
    m.add_class::<records::Mounted>()?;
    m.add_class::<search::Search>()?;
    m.add_class::<search::SearchResult>()?;
    m.add_class::<search::SearchNode>()?;
    m.add_class::<env::Proposal>()?;
    errors::register(m)?;
    Ok(())
}
