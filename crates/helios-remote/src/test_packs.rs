//! Packs for the crate's unit tests: a `file://` remote in a temporary
//! directory, and packs of distinct blobs stored on it.

use std::path::Path;

use helios_types::{Blob, Hash, HashAlgorithm};

use crate::pack::PackBuilder;
use crate::remote::Remote;

/// The URL of a remote in `dir/remote`, and the remote, marked.
pub(crate) fn file_remote(dir: &Path) -> (String, Remote) {
    let url = format!("file://{}", dir.join("remote").display());
    let remote = Remote::open(&url).unwrap();
    remote.init(HashAlgorithm::Blake3).unwrap();
    (url, remote)
}

/// Stores one pack of `blobs` distinct blobs of `len` bytes (at least 8),
/// seeded by `seed`; returns the pack's id and the blobs' hashes.
pub(crate) fn store_blobs(
    remote: &Remote,
    seed: u8,
    blobs: usize,
    len: usize,
) -> (Hash, Vec<Hash>) {
    let alg = HashAlgorithm::Blake3;
    let mut builder = PackBuilder::new(alg);
    let mut hashes = Vec::new();
    for n in 0..blobs {
        let mut content = vec![seed; len];
        content[..8].copy_from_slice(&(n as u64).to_le_bytes());
        let encoded = Blob::encode_bytes(&content);
        let hash = alg.digest(&encoded);
        builder.add(hash, &encoded).unwrap();
        hashes.push(hash);
    }
    let (pack, index) = builder.finish();
    (remote.put_pack(pack, &index).unwrap(), hashes)
}
