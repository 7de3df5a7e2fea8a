//! The one integration-test binary of helios-vst: edits and reads, lazy
//! loading, export, structural sharing, and model-based properties.

mod common;
mod edits;
mod golden;
mod lazy;
mod model;
