//! The exception hierarchy and the one mapping from the engine's typed
//! errors to it.
//!
//! Every exception derives from `helios.HeliosError`, so a harness can
//! catch the package's failures in one clause and its own separately. The
//! classes say what a caller can do about a failure (look elsewhere, free
//! disk space, wait for the lock, fix its input), not which layer raised
//! it; the message is the engine's own, with its path, hash or snapshot.

use helios_engine::{EngineError, ErrorClass};
use helios_mcts::MctsError;
use helios_types::NameError;
use helios_vst::VstError;
use helios_workdir::WorkdirError;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::types::PyList;

pyo3::create_exception!(
    helios,
    HeliosError,
    PyException,
    "Base class of every error Helios raises."
);
pyo3::create_exception!(
    helios,
    NotFound,
    HeliosError,
    "No such snapshot, ref, id prefix, store or path."
);
pyo3::create_exception!(
    helios,
    Corrupt,
    HeliosError,
    "Stored bytes fail their hash check or do not decode, or an object a snapshot needs is missing."
);
pyo3::create_exception!(
    helios,
    Locked,
    HeliosError,
    "Another handle holds the store's lock, or another operation is using the working directory."
);
pyo3::create_exception!(
    helios,
    NoSpace,
    HeliosError,
    "The disk is full; what was acknowledged stays readable and queued writes resume once space is freed."
);
pyo3::create_exception!(
    helios,
    InvalidInput,
    HeliosError,
    "An argument the engine refuses: a bad path, ref name, id, durability or configuration value."
);
pyo3::create_exception!(
    helios,
    WouldLoseFiles,
    HeliosError,
    "Checkout would delete or overwrite untracked or changed files (listed in `paths`); nothing was written."
);
pyo3::create_exception!(
    helios,
    Reclaimed,
    HeliosError,
    "A commit reuses objects gc reclaimed: pin or ref the snapshots you fork from."
);
pyo3::create_exception!(
    helios,
    Closed,
    HeliosError,
    "The store was closed; no further call is possible."
);

/// Registers the exception classes on the module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("HeliosError", py.get_type::<HeliosError>())?;
    m.add("NotFound", py.get_type::<NotFound>())?;
    m.add("Corrupt", py.get_type::<Corrupt>())?;
    m.add("Locked", py.get_type::<Locked>())?;
    m.add("NoSpace", py.get_type::<NoSpace>())?;
    m.add("InvalidInput", py.get_type::<InvalidInput>())?;
    m.add("WouldLoseFiles", py.get_type::<WouldLoseFiles>())?;
    m.add("Reclaimed", py.get_type::<Reclaimed>())?;
    m.add("Closed", py.get_type::<Closed>())?;
    Ok(())
}

/// The exception class an error belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Base,
    NotFound,
    Corrupt,
    Locked,
    NoSpace,
    InvalidInput,
    Reclaimed,
    Closed,
    WouldLoseFiles,
}

impl Class {
    fn new_err(self, message: String) -> PyErr {
        match self {
            Class::Base => HeliosError::new_err(message),
            Class::NotFound => NotFound::new_err(message),
            Class::Corrupt => Corrupt::new_err(message),
            Class::Locked => Locked::new_err(message),
            Class::NoSpace => NoSpace::new_err(message),
            Class::InvalidInput => InvalidInput::new_err(message),
            Class::Reclaimed => Reclaimed::new_err(message),
            Class::Closed => Closed::new_err(message),
            Class::WouldLoseFiles => WouldLoseFiles::new_err(message),
        }
    }
}

/// An engine error as the Python exception it maps to.
pub(crate) fn engine_error(e: EngineError) -> PyErr {
    if let EngineError::Workdir(WorkdirError::WouldLoseFiles { paths, .. }) = &e {
        let paths: Vec<String> = paths.iter().map(ToString::to_string).collect();
        let err = WouldLoseFiles::new_err(e.to_string());
        // Best effort: the message already names the files.
        Python::attach(|py| {
            if let Ok(list) = PyList::new(py, paths) {
                let _ = err.value(py).setattr("paths", list);
            }
        });
        return err;
    }
    Class::from(e.class()).new_err(e.to_string())
}

/// A search error as the Python exception it maps to.
pub(crate) fn mcts_error(e: MctsError) -> PyErr {
    match e {
        MctsError::Engine(inner) => engine_error(inner),
        other => mcts_class(&other).new_err(other.to_string()),
    }
}

/// A tree error as the Python exception it maps to.
pub(crate) fn vst_error(e: VstError) -> PyErr {
    Class::from(ErrorClass::of_vst(&e)).new_err(e.to_string())
}

/// A refused path as [`InvalidInput`].
pub(crate) fn name_error(path: &str, e: NameError) -> PyErr {
    InvalidInput::new_err(format!("bad path {path:?}: {e}"))
}

/// The engine's classification of its errors, as exception classes.
impl From<ErrorClass> for Class {
    fn from(class: ErrorClass) -> Self {
        match class {
            ErrorClass::NotFound => Class::NotFound,
            ErrorClass::InvalidInput => Class::InvalidInput,
            ErrorClass::Corrupt => Class::Corrupt,
            ErrorClass::Locked => Class::Locked,
            ErrorClass::NoSpace => Class::NoSpace,
            ErrorClass::Reclaimed => Class::Reclaimed,
            ErrorClass::Closed => Class::Closed,
            ErrorClass::WouldLoseFiles => Class::WouldLoseFiles,
            ErrorClass::Other => Class::Base,
        }
    }
}

fn mcts_class(e: &MctsError) -> Class {
    match e {
        MctsError::Engine(inner) => inner.class().into(),
        MctsError::Vst(v) => ErrorClass::of_vst(v).into(),
        MctsError::Io { source, .. } => ErrorClass::of_io(source).into(),
        MctsError::UnknownNode { .. } | MctsError::Config(_) => Class::InvalidInput,
        MctsError::OverlayUnavailable { .. }
        | MctsError::Scorer(_)
        | MctsError::Environment(_)
        | MctsError::EvaluatorPanicked { .. } => Class::Base,
    }
}
