//! Push and fetch: snapshots between an engine and a [`Remote`].
//!
//! Push sends what the remote lacks of a snapshot's closure (its record,
//! its tree, every blob and chunk list beneath, and its ancestors), in
//! packs written children first: a pack stored before an interrupted push
//! holds only whole subtrees, so a later push may trust that an object on
//! the remote has everything beneath it there too. Then, if asked, it
//! moves a ref, fast-forward only unless forced.
//!
//! Fetch walks the same closure from a ref, level by level, reading from
//! the remote only what this store lacks, grouped by pack (one ranged read
//! per pack and level), every object rehashed. File content goes to the
//! engine in batches as it arrives (memory stays bounded); the trees,
//! chunk lists and snapshot records, which make it reachable, go last in
//! one durable write. Until that write, the content stored is unreachable,
//! as a crash leaves it: the next collection reclaims it, and nothing names
//! a snapshot that is not whole.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use helios_engine::{EngineError, HeliosEngine};
use helios_types::{ChunkList, Hash, ObjectKind, Snapshot, SnapshotId, Tree};

use crate::catalog::Catalog;
use crate::error::{FormatError, RemoteError};
use crate::pack::{IndexEntry, PackBuilder, PackIndex};
use crate::remote::{PackUpload, Remote};

/// A pack is stored once it holds this many bytes: big enough that a
/// request carries megabytes, small enough that an interrupted push
/// loses little and that the first pack is on its way soon.
pub const PACK_BYTES: usize = 16 << 20;

/// Packs a push sends at once while it builds the next: an object store
/// takes two large writes together faster than one after the other (a
/// 3-node Garage: 2 x 32 MiB in 515 ms together, 650 ms in turn), and
/// memory stays bounded at this many packs and one more.
pub const PACKS_IN_FLIGHT: usize = 2;

/// A fetch hands file content (blobs, a large file's chunks) to the
/// engine once it holds this much, so that its memory is bounded whatever
/// the size of what it fetches.
pub const IMPORT_BYTES: usize = 64 << 20;

/// What a push sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pushed {
    /// Objects (records included) the remote lacked and now holds.
    pub objects: u64,
    /// Their encoded bytes.
    pub bytes: u64,
    /// Packs stored.
    pub packs: u64,
    /// Whether the ref moved (false: it named the snapshot already, or
    /// none was asked for).
    pub ref_moved: bool,
}

/// What a fetch brought.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fetched {
    /// The snapshot the ref names.
    pub id: SnapshotId,
    /// Objects (records included) read from the remote and stored here.
    pub objects: u64,
    /// Their encoded bytes.
    pub bytes: u64,
}

/// The remote and this store must hash alike; returns whether the remote
/// is marked at all (one that is not holds nothing yet).
fn check_algorithm(engine: &HeliosEngine, remote: &Remote) -> Result<bool, RemoteError> {
    match remote.algorithm()? {
        Some(alg) if alg != engine.algorithm() => Err(RemoteError::AlgorithmMismatch {
            url: remote.url().to_owned(),
            remote: alg,
            local: engine.algorithm(),
        }),
        marked => Ok(marked.is_some()),
    }
}

/// What an encoded object names, each with whether it is a snapshot
/// record: a tree's entries and a chunk list's chunks are objects; a
/// record names its root tree and its parents' records.
fn children(hash: Hash, encoded: &[u8]) -> Result<Vec<(Hash, bool)>, FormatError> {
    let damaged = |e: helios_types::DecodeError| FormatError::Damaged {
        hash,
        reason: e.to_string(),
    };
    Ok(match ObjectKind::of_encoded(encoded) {
        Some(ObjectKind::Tree) => Tree::decode(encoded)
            .map_err(damaged)?
            .entries()
            .iter()
            .map(|e| (e.hash, false))
            .collect(),
        Some(ObjectKind::ChunkList) => ChunkList::decode(encoded)
            .map_err(damaged)?
            .chunks()
            .iter()
            .map(|c| (c.hash, false))
            .collect(),
        Some(ObjectKind::Snapshot) => {
            let snapshot = Snapshot::decode(encoded).map_err(damaged)?;
            std::iter::once((snapshot.root, false))
                .chain(snapshot.parents.iter().map(|p| (p.object_hash(), true)))
                .collect()
        }
        Some(ObjectKind::Blob) => Vec::new(),
        None => {
            return Err(FormatError::Damaged {
                hash,
                reason: "unknown object kind".into(),
            });
        }
    })
}

/// Sends snapshot `id` and what it reaches that the remote lacks; then,
/// with `name`, points the remote's ref there: only forward (the ref's
/// snapshot must be an ancestor of `id`) unless `force`.
pub fn push(
    engine: &HeliosEngine,
    remote: &Remote,
    id: SnapshotId,
    name: Option<&str>,
    force: bool,
) -> Result<Pushed, RemoteError> {
    if !check_algorithm(engine, remote)? {
        // A new remote: marked, and its conditional writes checked.
        remote.init(engine.algorithm())?;
    }
    // Checked before anything is sent: a refused ref costs no upload.
    let current = match name {
        Some(name) => remote.get_ref(name)?,
        None => None,
    };
    if let (Some(name), Some(entry)) = (name, &current)
        && entry.id != id
        && !force
        && !descends_from(engine, id, entry.id)?
    {
        return Err(RemoteError::NotFastForward {
            url: remote.url().to_owned(),
            name: name.to_owned(),
            now: entry.id,
        });
    }
    let catalog = Catalog::read(remote)?;
    let mut pushed = send_closure(engine, remote, &catalog, id)?;
    if let Some(name) = name
        && current.map(|e| e.id) != Some(id)
    {
        remote.update_ref(name, current.as_ref(), id)?;
        pushed.ref_moved = true;
    }
    Ok(pushed)
}

/// Whether `ancestor` is `id` or one of its ancestors, as this store
/// knows them (one this store never saw is not).
fn descends_from(
    engine: &HeliosEngine,
    id: SnapshotId,
    ancestor: SnapshotId,
) -> Result<bool, RemoteError> {
    let mut stack = vec![id];
    let mut seen = HashSet::new();
    while let Some(next) = stack.pop() {
        if next == ancestor {
            return Ok(true);
        }
        if !seen.insert(next) {
            continue;
        }
        match engine.snapshot(&next) {
            Ok(snapshot) => stack.extend(snapshot.parents),
            Err(EngineError::SnapshotNotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(false)
}

/// One step of the push's walk.
enum Step {
    /// Look at an object (or, `snapshot`, a snapshot record).
    Enter { hash: Hash, snapshot: bool },
    /// Its children are packed: pack it.
    Leave { hash: Hash, encoded: Vec<u8> },
}

/// Sends `id`'s closure minus what `catalog` holds. Packs are sent on
/// the remote's runtime while the next is built (reading the store),
/// [`PACKS_IN_FLIGHT`] at a time, and their indexes written in the order
/// built, each as soon as its pack and the index before it are: children's
/// packs become visible before their parents'.
fn send_closure(
    engine: &HeliosEngine,
    remote: &Remote,
    catalog: &Catalog,
    id: SnapshotId,
) -> Result<Pushed, RemoteError> {
    let mut uploads: Vec<PackUpload> = Vec::new();
    let pushed = build_packs(engine, remote, catalog, id, |full| {
        if let Some(at) = uploads.len().checked_sub(PACKS_IN_FLIGHT) {
            remote.wait_sent(&uploads[at])?;
        }
        let (pack, index) = full.finish();
        let upload = remote.start_pack(pack, &index, uploads.last());
        uploads.push(upload);
        Ok(())
    });
    // The packs sent are finished even when the walk failed (each holds
    // whole subtrees, so its index may be read): nothing is left sending
    // behind the caller. After a failed one, none is made visible.
    let mut finished = Ok(());
    for upload in uploads {
        if let Err(e) = remote.finish_pack(upload)
            && finished.is_ok()
        {
            finished = Err(e);
        }
    }
    let pushed = pushed?;
    finished?;
    Ok(pushed)
}

/// Walks `id`'s closure children first and hands each full pack, and the
/// last, to `store`.
fn build_packs(
    engine: &HeliosEngine,
    remote: &Remote,
    catalog: &Catalog,
    id: SnapshotId,
    mut store: impl FnMut(PackBuilder) -> Result<(), RemoteError>,
) -> Result<Pushed, RemoteError> {
    let mut pushed = Pushed::default();
    let mut builder = PackBuilder::new(engine.algorithm());
    let mut seen = HashSet::new();
    let mut steps = vec![Step::Enter {
        hash: id.object_hash(),
        snapshot: true,
    }];
    while let Some(step) = steps.pop() {
        match step {
            Step::Enter { hash, snapshot } => {
                if catalog.holds(&hash) || !seen.insert(hash) {
                    continue;
                }
                let encoded = if snapshot {
                    let id = SnapshotId::from_bytes(*hash.as_bytes());
                    engine.snapshot(&id)?.encode()
                } else {
                    engine
                        .object(&hash)?
                        .ok_or(RemoteError::MissingHere(hash))?
                };
                let kids = children(hash, &encoded).map_err(|e| remote.format_error(e))?;
                steps.push(Step::Leave { hash, encoded });
                steps.extend(
                    kids.into_iter()
                        .map(|(hash, snapshot)| Step::Enter { hash, snapshot }),
                );
            }
            Step::Leave { hash, encoded } => {
                builder
                    .add(hash, &encoded)
                    .map_err(|e| remote.format_error(e))?;
                pushed.objects += 1;
                pushed.bytes += encoded.len() as u64;
                if builder.size() >= PACK_BYTES {
                    let full =
                        std::mem::replace(&mut builder, PackBuilder::new(engine.algorithm()));
                    store(full)?;
                    pushed.packs += 1;
                }
            }
        }
    }
    if builder.count() > 0 {
        store(builder)?;
        pushed.packs += 1;
    }
    Ok(pushed)
}

/// What a fetch reads of one pack on one level: its index, and the
/// entries wanted, each with whether it is a snapshot record.
type PackReads = (Arc<PackIndex>, Vec<(IndexEntry, bool)>);

/// Brings snapshot `name` (a ref of the remote) and what it reaches that
/// this store lacks, in one durable import, and returns its id. This store
/// gets no ref of its own: name it (`set_ref`) so that gc keeps it.
pub fn fetch(engine: &HeliosEngine, remote: &Remote, name: &str) -> Result<Fetched, RemoteError> {
    check_algorithm(engine, remote)?;
    let entry = remote
        .get_ref(name)?
        .ok_or_else(|| RemoteError::NoSuchRef {
            url: remote.url().to_owned(),
            name: name.to_owned(),
        })?;
    fetch_known(engine, remote, entry.id)
}

/// [`fetch`] of a snapshot named by its id (pushed without a ref, as on a
/// store without conditional writes).
pub fn fetch_id(
    engine: &HeliosEngine,
    remote: &Remote,
    id: SnapshotId,
) -> Result<Fetched, RemoteError> {
    if !check_algorithm(engine, remote)? {
        return Err(RemoteError::NotARemote(remote.url().to_owned()));
    }
    fetch_known(engine, remote, id)
}

/// What `helios fetch REMOTE WHAT` does, wherever it runs (in process, or
/// in a server): a full snapshot id is fetched by id and no ref names it;
/// anything else is a ref of `remote` (which this store calls `name`),
/// fetched, then followed by the local ref `NAME/REF`, which it returns.
pub fn fetch_named(
    engine: &HeliosEngine,
    remote: &Remote,
    name: &str,
    what: &str,
) -> Result<(Fetched, Option<String>), RemoteError> {
    if let Ok(id) = what.parse::<SnapshotId>() {
        return Ok((fetch_id(engine, remote, id)?, None));
    }
    let fetched = fetch(engine, remote, what)?;
    let local = format!("{name}/{what}");
    engine.set_ref(&local, &fetched.id)?;
    Ok((fetched, Some(local)))
}

/// Fetches `id`, the algorithm checked.
fn fetch_known(
    engine: &HeliosEngine,
    remote: &Remote,
    id: SnapshotId,
) -> Result<Fetched, RemoteError> {
    let catalog = Catalog::read(remote)?;
    let mut objects = Vec::new();
    let mut content = Vec::new();
    let mut content_bytes = 0;
    // Large files' chunks (what a fetched chunk list names, a level above
    // them), which go where a capture puts them (`import_chunks`).
    let mut chunk_hashes = HashSet::new();
    let mut chunks = Vec::new();
    let (mut count, mut bytes) = (0u64, 0u64);
    let mut records = Vec::new();
    let mut held = Vec::new();
    let mut seen = HashSet::new();
    // A store that reads through holds what it has used, not what that
    // reaches: there, what it holds is looked beneath too.
    let lazy = engine.reads_through();
    // (hash, is a snapshot record)
    let mut level = vec![(id.object_hash(), true)];
    while !level.is_empty() {
        let mut wanted: HashMap<Hash, PackReads> = HashMap::new();
        let mut beneath_held = Vec::new();
        for (hash, snapshot) in level.drain(..) {
            if !seen.insert(hash) {
                continue;
            }
            if holds_here(engine, &hash, snapshot)? {
                held.push(hash);
                if lazy {
                    let encoded = held_here(engine, &hash, snapshot)?;
                    beneath_held
                        .extend(children(hash, &encoded).map_err(|e| remote.format_error(e))?);
                }
                continue;
            }
            let place = catalog.place(&hash).ok_or_else(|| {
                let url = remote.url().to_owned();
                if hash == id.object_hash() {
                    RemoteError::NoSuchSnapshot { url, id }
                } else {
                    RemoteError::MissingThere { url, hash }
                }
            })?;
            let (pack, index, entry) = place;
            wanted
                .entry(pack)
                .or_insert_with(|| (index, Vec::new()))
                .1
                .push((entry, snapshot));
        }
        // Each pack's read is begun before the last one's objects are
        // checked and stored: the wait for bytes overlaps the work on them.
        let start = |(pack, (index, entries)): (Hash, PackReads)| {
            let only: Vec<IndexEntry> = entries.iter().map(|(e, _)| *e).collect();
            (remote.start_read(&pack, only), index, entries)
        };
        level.append(&mut beneath_held);
        let mut packs = wanted.into_iter();
        let mut next = packs.next().map(start);
        while let Some((reading, index, entries)) = next.take() {
            next = packs.next().map(start);
            let read = remote.finish_read(reading, &index)?;
            for ((entry, snapshot), encoded) in entries.into_iter().zip(read) {
                let named = children(entry.hash, &encoded).map_err(|e| remote.format_error(e))?;
                let kind = ObjectKind::of_encoded(&encoded);
                if kind == Some(ObjectKind::ChunkList) {
                    chunk_hashes.extend(named.iter().map(|(hash, _)| *hash));
                }
                level.extend(named);
                count += 1;
                bytes += encoded.len() as u64;
                if snapshot {
                    records.push((SnapshotId::from_bytes(*entry.hash.as_bytes()), encoded));
                } else if kind == Some(ObjectKind::Blob) {
                    content_bytes += encoded.len();
                    if chunk_hashes.contains(&entry.hash) {
                        chunks.push((entry.hash, encoded));
                    } else {
                        content.push((entry.hash, encoded));
                    }
                } else {
                    objects.push((entry.hash, encoded));
                }
            }
            if content_bytes >= IMPORT_BYTES {
                engine.import_chunks(std::mem::take(&mut chunks))?;
                engine.import(std::mem::take(&mut content), Vec::new(), &[])?;
                content_bytes = 0;
            }
        }
    }
    engine.import_chunks(chunks)?;
    objects.append(&mut content);
    engine.import(objects, records, &held)?;
    Ok(Fetched {
        id,
        objects: count,
        bytes,
    })
}

/// The encoding of `hash`, which this store holds (a snapshot's record,
/// for `snapshot`).
fn held_here(engine: &HeliosEngine, hash: &Hash, snapshot: bool) -> Result<Vec<u8>, RemoteError> {
    if snapshot {
        return Ok(engine
            .snapshot(&SnapshotId::from_bytes(*hash.as_bytes()))?
            .encode());
    }
    engine.object(hash)?.ok_or(RemoteError::MissingHere(*hash))
}

/// Whether this store holds `hash` (a snapshot's record, for `snapshot`).
fn holds_here(engine: &HeliosEngine, hash: &Hash, snapshot: bool) -> Result<bool, RemoteError> {
    if !snapshot {
        return Ok(engine
            .objects()
            .contains(hash)
            .map_err(EngineError::Store)?);
    }
    Ok(engine.holds_snapshot(&SnapshotId::from_bytes(*hash.as_bytes()))?)
}
