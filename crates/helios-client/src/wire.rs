//! Between the engine's types and the wire's: each pair here is the one
//! place that decides how a value travels, used by the server (helios-
//! server) to answer and by [`Client`](crate::Client) to read the answer
//! back into the engine's types.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::Duration;

use helios_types::api::{CommitMetrics, Durability, GcReport, VerifyReport};
use helios_types::{EntryKind, Hash, Name, RepoPath, Snapshot, SnapshotId};
use helios_vst::{Change, Entry};
use helios_workdir::{Mounted, Report};

use crate::error::ClientError;
use crate::proto;

/// A commit's durability as the wire says it.
pub fn durability(wire: proto::Durability) -> Durability {
    match wire {
        proto::Durability::Sync => Durability::Sync,
        proto::Durability::Async => Durability::Async,
    }
}

/// How a durability travels (an in-memory commit travels as async).
pub fn durability_to_wire(durability: Durability) -> proto::Durability {
    match durability {
        Durability::Sync => proto::Durability::Sync,
        // An in-memory snapshot would die with the call that made it: the
        // server stores it as an async commit.
        Durability::Async | Durability::Memory => proto::Durability::Async,
    }
}

/// A working-directory report as it travels.
pub fn report_to_wire(r: &Report) -> proto::WorkdirReport {
    proto::WorkdirReport {
        files_written: r.files_written,
        bytes_written: r.bytes_written,
        dirs_created: r.dirs_created,
        removed: r.removed,
        files_scanned: r.files_scanned,
        files_hashed: r.files_hashed,
        bytes_hashed: r.bytes_hashed,
        objects_stored: r.objects_stored,
        bytes_stored: r.bytes_stored,
        skipped: r.skipped,
        edits: r.edits,
        fast_path: r.fast_path,
        fallback: r.fallback.unwrap_or_default().to_owned(),
        state_unrecorded: r.state_unrecorded,
    }
}

/// The report back. Its `fallback` is a static text in the engine; the
/// server's own words are not kept, only whether there was one.
pub fn report(w: Option<proto::WorkdirReport>) -> Report {
    let w = w.unwrap_or_default();
    Report {
        files_written: w.files_written,
        bytes_written: w.bytes_written,
        dirs_created: w.dirs_created,
        removed: w.removed,
        files_scanned: w.files_scanned,
        files_hashed: w.files_hashed,
        bytes_hashed: w.bytes_hashed,
        objects_stored: w.objects_stored,
        bytes_stored: w.bytes_stored,
        skipped: w.skipped,
        edits: w.edits,
        fast_path: w.fast_path,
        fallback: (!w.fallback.is_empty()).then_some("scanned everything (the server says why)"),
        state_unrecorded: w.state_unrecorded,
    }
}

/// A commit's cost read back from its reply.
pub fn metrics(reply: &proto::CommitReply) -> CommitMetrics {
    CommitMetrics {
        commit_latency: Duration::from_micros(reply.commit_latency_micros),
        new_objects: reply.new_objects,
        new_objects_size: reply.new_objects_size,
    }
}

/// A duration in whole microseconds, as every latency travels.
pub fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// A full id from a reply.
pub fn id(hex: &str) -> Result<SnapshotId, ClientError> {
    SnapshotId::from_str(hex).map_err(|_| bad("snapshot id", hex))
}

fn hash(hex: &str) -> Result<Hash, ClientError> {
    Hash::from_str(hex).map_err(|_| bad("hash", hex))
}

fn bad(what: &'static str, value: &str) -> ClientError {
    ClientError::BadReply {
        what,
        value: value.chars().take(80).collect(),
    }
}

/// A snapshot record as it travels.
pub fn snapshot_to_wire(id: &SnapshotId, s: &Snapshot) -> proto::SnapshotRecord {
    proto::SnapshotRecord {
        id: id.to_hex(),
        root: s.root.to_hex(),
        parents: s.parents.iter().map(SnapshotId::to_hex).collect(),
        time_micros: s.time_micros,
        label: s.label.clone(),
        metadata: s.metadata.clone().into_iter().collect(),
    }
}

/// A snapshot record read back.
pub fn snapshot(w: proto::SnapshotRecord) -> Result<(SnapshotId, Snapshot), ClientError> {
    let parents = w.parents.iter().map(|p| id(p)).collect::<Result<_, _>>()?;
    Ok((
        id(&w.id)?,
        Snapshot {
            root: hash(&w.root)?,
            parents,
            time_micros: w.time_micros,
            label: w.label,
            metadata: w.metadata.into_iter().collect::<BTreeMap<_, _>>(),
        },
    ))
}

fn kind_to_wire(kind: EntryKind) -> proto::EntryKind {
    match kind {
        EntryKind::File => proto::EntryKind::File,
        EntryKind::Executable => proto::EntryKind::Executable,
        EntryKind::Symlink => proto::EntryKind::Symlink,
        EntryKind::Dir => proto::EntryKind::Dir,
    }
}

fn kind(wire: proto::EntryKind) -> EntryKind {
    match wire {
        proto::EntryKind::File => EntryKind::File,
        proto::EntryKind::Executable => EntryKind::Executable,
        proto::EntryKind::Symlink => EntryKind::Symlink,
        proto::EntryKind::Dir => EntryKind::Dir,
    }
}

/// A tree entry as it travels.
pub fn entry_to_wire(e: &Entry) -> proto::Entry {
    proto::Entry {
        kind: kind_to_wire(e.kind).into(),
        hash: e.hash.to_hex(),
        size: e.size,
    }
}

fn entry(w: Option<proto::Entry>) -> Result<Entry, ClientError> {
    let w = w.ok_or_else(|| bad("change", "an entry is missing"))?;
    Ok(Entry {
        kind: kind(w.kind()),
        hash: hash(&w.hash)?,
        size: w.size,
    })
}

/// A difference between two snapshots as it travels.
pub fn change_to_wire(c: &Change) -> proto::Change {
    let (kind, old, new) = match c {
        Change::Added { entry, .. } => (proto::ChangeKind::Added, None, Some(entry)),
        Change::Deleted { entry, .. } => (proto::ChangeKind::Deleted, Some(entry), None),
        Change::Modified { old, new, .. } => (proto::ChangeKind::Modified, Some(old), Some(new)),
        Change::TypeChanged { old, new, .. } => {
            (proto::ChangeKind::TypeChanged, Some(old), Some(new))
        }
    };
    proto::Change {
        kind: kind.into(),
        path: c.path().to_string(),
        old: old.map(entry_to_wire),
        new: new.map(entry_to_wire),
    }
}

/// A difference read back.
pub fn change(w: proto::Change) -> Result<Change, ClientError> {
    let path = repo_path(&w.path)?;
    Ok(match w.kind() {
        proto::ChangeKind::Added => Change::Added {
            path,
            entry: entry(w.new)?,
        },
        proto::ChangeKind::Deleted => Change::Deleted {
            path,
            entry: entry(w.old)?,
        },
        proto::ChangeKind::Modified => Change::Modified {
            path,
            old: entry(w.old)?,
            new: entry(w.new)?,
        },
        proto::ChangeKind::TypeChanged => Change::TypeChanged {
            path,
            old: entry(w.old)?,
            new: entry(w.new)?,
        },
    })
}

fn repo_path(text: &str) -> Result<RepoPath, ClientError> {
    RepoPath::parse(text).map_err(|_| bad("path", text))
}

/// A listed directory entry read back.
pub fn ls_entry(w: proto::LsEntry) -> Result<(Name, Entry), ClientError> {
    let name = Name::new(&w.name).map_err(|_| bad("name", &w.name))?;
    Ok((name, entry(w.entry)?))
}

/// What a collection reclaimed, as it travels.
pub fn gc_to_wire(r: &GcReport) -> proto::GcReply {
    proto::GcReply {
        marked: r.marked,
        objects_reclaimed: r.objects_reclaimed,
        bytes_reclaimed: r.bytes_reclaimed,
        snapshots_reclaimed: r.snapshots_reclaimed,
    }
}

/// What a collection reclaimed, read back.
pub fn gc(w: &proto::GcReply) -> GcReport {
    GcReport {
        marked: w.marked,
        objects_reclaimed: w.objects_reclaimed,
        bytes_reclaimed: w.bytes_reclaimed,
        snapshots_reclaimed: w.snapshots_reclaimed,
    }
}

/// What a verification checked, read back.
pub fn verify(w: &proto::FsckReply) -> VerifyReport {
    VerifyReport {
        trees: w.trees_checked,
        blobs: w.blobs_checked,
        chunk_lists: 0,
        bytes: w.bytes_checked,
        remote: w.remote_unchecked,
    }
}

/// How a mount set up its directory, as it travels.
pub fn mounted_to_wire(id: &SnapshotId, m: &Mounted) -> proto::MountReply {
    match m {
        Mounted::Overlay => proto::MountReply {
            id: id.to_hex(),
            overlay: true,
            ..proto::MountReply::default()
        },
        Mounted::Checkout { reason, report } => proto::MountReply {
            id: id.to_hex(),
            overlay: false,
            reason: reason.clone(),
            report: Some(report_to_wire(report)),
        },
    }
}

/// How a mount set up its directory, read back.
pub fn mounted(w: proto::MountReply) -> Mounted {
    if w.overlay {
        Mounted::Overlay
    } else {
        Mounted::Checkout {
            reason: w.reason,
            report: report(w.report),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use helios_types::HashAlgorithm;

    fn entry_of(kind: EntryKind, content: &[u8]) -> Entry {
        Entry {
            kind,
            hash: HashAlgorithm::Blake3.digest(content),
            size: content.len() as u64,
        }
    }

    #[test]
    fn every_kind_of_change_travels_and_comes_back_the_same() {
        let path = RepoPath::parse("src/a b/ü.rs").unwrap();
        let file = entry_of(EntryKind::File, b"one");
        let exec = entry_of(EntryKind::Executable, b"two");
        let dir = entry_of(EntryKind::Dir, b"three");
        for c in [
            Change::Added {
                path: path.clone(),
                entry: file,
            },
            Change::Deleted {
                path: path.clone(),
                entry: dir,
            },
            Change::Modified {
                path: path.clone(),
                old: file,
                new: exec,
            },
            Change::TypeChanged {
                path: path.clone(),
                old: exec,
                new: dir,
            },
        ] {
            assert_eq!(change(change_to_wire(&c)).unwrap(), c);
        }
    }

    #[test]
    fn a_snapshot_record_travels_and_comes_back_the_same() {
        let parent = SnapshotId::from_bytes([7; 32]);
        let s = Snapshot {
            root: HashAlgorithm::Sha256.digest(b"root"),
            parents: vec![parent],
            time_micros: 1_700_000_000_000_000,
            label: "a label\nwith a newline".into(),
            metadata: BTreeMap::from([("reward".into(), "0.5".into())]),
        };
        let id = SnapshotId::from_bytes([9; 32]);
        assert_eq!(snapshot(snapshot_to_wire(&id, &s)).unwrap(), (id, s));
    }

    #[test]
    fn a_malformed_reply_is_a_typed_error_not_a_panic() {
        let mut w = snapshot_to_wire(
            &SnapshotId::from_bytes([1; 32]),
            &Snapshot {
                root: HashAlgorithm::Blake3.digest(b""),
                parents: vec![],
                time_micros: 0,
                label: String::new(),
                metadata: BTreeMap::new(),
            },
        );
        w.root = "not hex".into();
        assert!(matches!(
            snapshot(w),
            Err(ClientError::BadReply { what: "hash", .. })
        ));
        let c = proto::Change {
            kind: proto::ChangeKind::Modified.into(),
            path: "../escape".into(),
            old: None,
            new: None,
        };
        assert!(matches!(change(c), Err(ClientError::BadReply { .. })));
    }

    #[test]
    fn a_workdir_report_travels_whole() {
        let r = Report {
            files_written: 1,
            bytes_written: 2,
            dirs_created: 3,
            removed: 4,
            files_scanned: 5,
            files_hashed: 6,
            bytes_hashed: 7,
            objects_stored: 8,
            bytes_stored: 9,
            skipped: 10,
            edits: 11,
            fast_path: true,
            fallback: None,
            state_unrecorded: true,
        };
        assert_eq!(report(Some(report_to_wire(&r))), r);
    }
}
