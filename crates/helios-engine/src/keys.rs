//! Keys of the engine's records in the store's metadata namespace.
//!
//! | key | value |
//! |---|---|
//! | `snap/` + 32-byte id | the encoded `Snapshot` object (its hash is the id) |
//! | `ref/` + UTF-8 name | 32-byte snapshot id |
//! | `pin/` + 32-byte id | empty: the snapshot is pinned |
//! | `wd/` + canonical directory path | 32-byte id of the snapshot it holds |
//! | `time/` + 8-byte big-endian `!time_micros` + 32-byte id | empty: the snapshot's place in time |
//! | `index/time` | empty: every `snap/` record has its `time/` key |
//!
//! `time/` keys sort newest first, and among snapshots of one microsecond
//! by id, the order of [`HeliosEngine::list_snapshots`]: the newest `n`
//! snapshots are the first `n` keys, read without touching the others.
//! A store written before the index existed lacks `index/time` until a
//! collection has filled the index in.
//!
//! [`HeliosEngine::list_snapshots`]: crate::HeliosEngine::list_snapshots

use helios_types::SnapshotId;

use crate::error::{EngineError, EngineResult};

pub(crate) const SNAP: &[u8] = b"snap/";
pub(crate) const REF: &[u8] = b"ref/";
pub(crate) const PIN: &[u8] = b"pin/";
pub(crate) const WORKDIR: &[u8] = b"wd/";
pub(crate) const TIME: &[u8] = b"time/";
pub(crate) const TIME_INDEXED: &[u8] = b"index/time";

pub(crate) fn with_prefix(prefix: &[u8], rest: &[u8]) -> Vec<u8> {
    let mut key = Vec::with_capacity(prefix.len() + rest.len());
    key.extend_from_slice(prefix);
    key.extend_from_slice(rest);
    key
}

pub(crate) fn snapshot(id: &SnapshotId) -> Vec<u8> {
    with_prefix(SNAP, id.as_bytes())
}

/// The key that places a snapshot in time (see the module table).
pub(crate) fn by_time(id: &SnapshotId, time_micros: u64) -> Vec<u8> {
    let mut key = with_prefix(TIME, &(!time_micros).to_be_bytes());
    key.extend_from_slice(id.as_bytes());
    key
}

/// The id at the end of a `time/` key.
pub(crate) fn time_id(key: &[u8]) -> Option<SnapshotId> {
    key.strip_prefix(TIME)
        .and_then(|rest| rest.get(8..))
        .and_then(SnapshotId::from_slice)
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

    #[test]
    fn time_keys_sort_newest_first_then_by_id() {
        let (a, b) = (
            SnapshotId::from_bytes([1; 32]),
            SnapshotId::from_bytes([2; 32]),
        );
        let mut keys = vec![
            by_time(&a, 5),
            by_time(&b, 9),
            by_time(&b, 5),
            by_time(&a, 0),
        ];
        keys.sort();
        assert_eq!(
            keys,
            vec![
                by_time(&b, 9),
                by_time(&a, 5),
                by_time(&b, 5),
                by_time(&a, 0)
            ]
        );
        assert_eq!(time_id(&by_time(&b, 7)), Some(b));
        assert_eq!(time_id(b"time/short"), None);
        assert_eq!(time_id(&snapshot(&a)), None);
    }
}
