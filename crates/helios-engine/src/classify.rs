//! [`ErrorClass`]: what kind of failure an [`EngineError`] is, for the
//! front ends that map failures onto a vocabulary of their own — Python's
//! exception classes (helios-py), gRPC status codes (helios-server) — so
//! that they all agree. The classification follows an error's nested
//! causes (a store's error inside a working directory's, say) down to the
//! one that decides.

use std::error::Error as StdError;
use std::io;

use helios_objstore::OpenError;
use helios_types::store::StoreError;
use helios_vst::VstError;
use helios_workdir::WorkdirError;

use crate::error::EngineError;

/// What kind of failure an error is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// No such snapshot, ref, path or store.
    NotFound,
    /// The caller asked for something malformed or impossible (a bad
    /// path or id, an object over the size limit, a setting out of range).
    InvalidInput,
    /// Stored data is damaged or missing (fsck says more).
    Corrupt,
    /// Someone else holds it: the store (another process) or a working
    /// directory (an operation in progress).
    Locked,
    /// The disk is full.
    NoSpace,
    /// A tree points at objects gc has reclaimed.
    Reclaimed,
    /// The engine or the store is closed.
    Closed,
    /// A checkout would delete or overwrite files no snapshot holds.
    WouldLoseFiles,
    /// Anything else (an interrupted checkout, a file that changed while
    /// read, a refused overlay mount, an internal failure).
    Other,
}

impl EngineError {
    /// What kind of failure this is.
    pub fn class(&self) -> ErrorClass {
        use EngineError as E;
        match self {
            E::SnapshotNotFound(_) | E::UnknownPrefix(_) | E::NoSuchFile(_) => ErrorClass::NotFound,
            E::NotAnId(_)
            | E::AmbiguousId { .. }
            | E::NotDurable(_)
            | E::NotAFile(_)
            | E::BadRefName(_)
            | E::ObjectTooLarge { .. }
            | E::WorkdirOverlapsStore { .. }
            | E::AlgorithmMismatch { .. }
            | E::Config { .. }
            | E::L1Config(_) => ErrorClass::InvalidInput,
            E::Corrupt { .. } | E::File { .. } | E::MissingObject(_) => ErrorClass::Corrupt,
            E::Reclaimed(_) => ErrorClass::Reclaimed,
            E::Closed => ErrorClass::Closed,
            E::WriteFailed(store) => ErrorClass::of_store(store),
            E::NotWritten { source, .. } => ErrorClass::of_store(source),
            E::Open(open) => ErrorClass::of_open(open),
            E::Store(store) => ErrorClass::of_store(store),
            E::Vst(v) => ErrorClass::of_vst(v),
            E::Workdir(w) => ErrorClass::of_workdir(w),
            E::Io { source, .. } => ErrorClass::of_io(source),
            E::WriterPanicked | E::SpawnWriter(_) => ErrorClass::Other,
        }
    }
}

impl ErrorClass {
    /// The class of a store's error at open.
    pub fn of_open(e: &OpenError) -> Self {
        match e {
            OpenError::NotFound { .. } => ErrorClass::NotFound,
            OpenError::Locked { .. } => ErrorClass::Locked,
            OpenError::NotADirectory { .. }
            | OpenError::AlgorithmMismatch { .. }
            | OpenError::UnknownFormat { .. }
            | OpenError::NotAStore { .. }
            | OpenError::InvalidConfig { .. } => ErrorClass::InvalidInput,
            OpenError::Io { source, .. } => ErrorClass::of_io(source),
            OpenError::NoSpace { .. } => ErrorClass::NoSpace,
            OpenError::Backend { .. } => ErrorClass::of_sources(e),
        }
    }

    /// The class of an object store's error.
    pub fn of_store(e: &StoreError) -> Self {
        match e {
            StoreError::Corrupt { .. }
            | StoreError::DamagedStorage { .. }
            | StoreError::NotFound(_) => ErrorClass::Corrupt,
            StoreError::Closed => ErrorClass::Closed,
            StoreError::NoSpace { .. } => ErrorClass::NoSpace,
            StoreError::TooLarge { .. } => ErrorClass::InvalidInput,
            StoreError::Backend { .. } => ErrorClass::of_sources(e),
        }
    }

    /// The class of a tree's error.
    pub fn of_vst(e: &VstError) -> Self {
        match e {
            VstError::NotFound { .. } => ErrorClass::NotFound,
            VstError::BadPath { .. }
            | VstError::NotADirectory { .. }
            | VstError::IsADirectory { .. }
            | VstError::NotAFile { .. }
            | VstError::MissingParent { .. }
            | VstError::Root { .. }
            | VstError::TooDeep { .. }
            | VstError::SizeOverflow { .. }
            | VstError::AlgorithmMismatch { .. } => ErrorClass::InvalidInput,
            VstError::TreeMissing { .. } | VstError::CorruptTree { .. } | VstError::Load { .. } => {
                ErrorClass::Corrupt
            }
            VstError::NoLoader { .. } => ErrorClass::Other,
        }
    }

    /// The class of a working directory's error.
    pub fn of_workdir(e: &WorkdirError) -> Self {
        match e {
            WorkdirError::Io { source, .. } => ErrorClass::of_io(source),
            WorkdirError::NotEmpty { .. }
            | WorkdirError::Protected { .. }
            | WorkdirError::BadName { .. }
            | WorkdirError::Ignore { .. }
            | WorkdirError::BadMountPath { .. }
            | WorkdirError::NotOurMount { .. }
            | WorkdirError::FileTooLarge { .. }
            | WorkdirError::TooDeep { .. }
            | WorkdirError::NameTooLong { .. } => ErrorClass::InvalidInput,
            WorkdirError::Content { .. } | WorkdirError::StateCorrupt { .. } => ErrorClass::Corrupt,
            WorkdirError::Store { source, .. } => ErrorClass::of_store(source),
            WorkdirError::Tree(v) => ErrorClass::of_vst(v),
            WorkdirError::Busy { .. } => ErrorClass::Locked,
            WorkdirError::WouldLoseFiles { .. } => ErrorClass::WouldLoseFiles,
            // An interrupted checkout, a file changing while read, overlay
            // or watcher refusals, and variants the crate grows later.
            _ => ErrorClass::Other,
        }
    }

    /// The class of a system error.
    pub fn of_io(e: &io::Error) -> Self {
        match e.kind() {
            io::ErrorKind::NotFound => ErrorClass::NotFound,
            io::ErrorKind::StorageFull => ErrorClass::NoSpace,
            io::ErrorKind::InvalidInput
            | io::ErrorKind::NotADirectory
            | io::ErrorKind::IsADirectory => ErrorClass::InvalidInput,
            _ => ErrorClass::Other,
        }
    }

    /// A backend's error whose cause chain holds a system error: that
    /// error's class (a full disk the backend reports as an I/O error).
    fn of_sources(e: &dyn StdError) -> Self {
        let mut source = e.source();
        while let Some(s) = source {
            if let Some(io) = s.downcast_ref::<io::Error>() {
                return ErrorClass::of_io(io);
            }
            source = s.source();
        }
        ErrorClass::Other
    }
}
