//! The demonstration workload.
