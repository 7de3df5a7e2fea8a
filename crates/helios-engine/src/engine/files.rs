//! Reading one file of a tree: whole or by byte range, streamed chunk by
//! chunk, fetching only the chunks a range touches.

use std::io::Write;
use std::ops::Range;

use helios_types::file::{FileError, StoredFile};
use helios_types::{EntryKind, RepoPath};
use helios_vst::Vst;

use super::HeliosEngine;
use crate::error::{EngineError, EngineResult};

/// Why streaming a file out stopped: the store, or the writer.
enum ReadError {
    File(FileError),
    Write(std::io::Error),
}

impl From<FileError> for ReadError {
    fn from(e: FileError) -> Self {
        ReadError::File(e)
    }
}

impl HeliosEngine {
    /// Writes the bytes of `range` (clamped to the file's end) of the file
    /// or symlink at `path` in `tree` to `out`, one chunk at a time: a
    /// chunked file's other chunks are never read, and memory stays
    /// bounded whatever the file's size. Returns the bytes written.
    pub fn read_file_into(
        &self,
        tree: &Vst,
        path: &RepoPath,
        range: Range<u64>,
        out: &mut dyn Write,
    ) -> EngineResult<u64> {
        let entry = tree
            .get(path)?
            .ok_or_else(|| EngineError::NoSuchFile(path.clone()))?;
        if entry.kind == EntryKind::Dir {
            return Err(EngineError::NotAFile(path.clone()));
        }
        let file_error = |source| EngineError::File {
            path: path.clone(),
            source: Box::new(source),
        };
        let mut written = 0u64;
        let mut write = |piece: &[u8]| {
            written += piece.len() as u64;
            out.write_all(piece).map_err(ReadError::Write)
        };
        let store = self.objects();
        let file = match tree.pending_bytes(path)? {
            // Written by an edit and not stored yet.
            Some(bytes) => StoredFile::from_bytes(entry.hash, bytes.to_vec()),
            None => StoredFile::open_sized(store, entry.hash, entry.size).map_err(file_error)?,
        };
        file.for_each_piece(store, range, &mut write)
            .map_err(|e| match e {
                ReadError::File(e) => file_error(e),
                ReadError::Write(source) => EngineError::Io {
                    op: "write file content",
                    path: path.to_string().into(),
                    source,
                },
            })?;
        Ok(written)
    }

    /// The bytes of `range` (clamped to the file's end) of the file at
    /// `path` in `tree`; see [`HeliosEngine::read_file_into`].
    pub fn read_file(
        &self,
        tree: &Vst,
        path: &RepoPath,
        range: Range<u64>,
    ) -> EngineResult<Vec<u8>> {
        let mut out = Vec::new();
        self.read_file_into(tree, path, range, &mut out)?;
        Ok(out)
    }
}
