//! Keys of the engine's records in the store's metadata namespace.
//!
//! | key | value |
//! |---|---|
//! | `snap/` + 32-byte id | the encoded `Snapshot` object (its hash is the id) |
//! | `ref/` + UTF-8 name | 32-byte snapshot id |
//! | `pin/` + 32-byte id | empty: the snapshot is pinned |
//! | `wd/` + canonical directory path | 32-byte id of the snapshot it holds |

use helios_types::SnapshotId;

use crate::error::{EngineError, EngineResult};

pub(crate) const SNAP: &[u8] = b"snap/";
pub(crate) const REF: &[u8] = b"ref/";
pub(crate) const PIN: &[u8] = b"pin/";
pub(crate) const WORKDIR: &[u8] = b"wd/";

pub(crate) fn with_prefix(prefix: &[u8], rest: &[u8]) -> Vec<u8> {
    let mut key = Vec::with_capacity(prefix.len() + rest.len());
    key.extend_from_slice(prefix);
    key.extend_from_slice(rest);
    key
}

pub(crate) fn snapshot(id: &SnapshotId) -> Vec<u8> {
    with_prefix(SNAP, id.as_bytes())
}

pub(crate) fn pin(id: &SnapshotId) -> Vec<u8> {
    with_prefix(PIN, id.as_bytes())
}

/// The key of a working directory's head, by its canonical path.
pub(crate) fn workdir(dir: &std::path::Path) -> Vec<u8> {
    with_prefix(WORKDIR, dir.as_os_str().as_encoded_bytes())
}

/// The key of a ref, after checking its name: 1..=255 bytes, no control
/// characters (so names print safely and never hold NUL).
pub(crate) fn ref_key(name: &str) -> EngineResult<Vec<u8>> {
    if name.is_empty() || name.len() > 255 || name.chars().any(char::is_control) {
        return Err(EngineError::BadRefName(name.to_owned()));
    }
    Ok(with_prefix(REF, name.as_bytes()))
}

/// The id at the end of a `snap/` or `pin/` key.
pub(crate) fn id_suffix(key: &[u8], prefix: &[u8]) -> Option<SnapshotId> {
    key.strip_prefix(prefix).and_then(SnapshotId::from_slice)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ref_names_are_checked() {
        assert_eq!(ref_key("main").unwrap(), b"ref/main");
        assert!(ref_key("").is_err());
        assert!(ref_key("a\0b").is_err());
        assert!(ref_key("a\nb").is_err());
        assert!(ref_key(&"x".repeat(256)).is_err());
        let id = SnapshotId::from_bytes([7; 32]);
        assert_eq!(id_suffix(&snapshot(&id), SNAP), Some(id));
        assert_eq!(id_suffix(&pin(&id), SNAP), None);
    }
}
