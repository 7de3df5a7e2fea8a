//! Shared test helpers: a reference root built only from helios-types, and
//! an in-memory loader that counts loads.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use helios_types::{
    Blob, EntryKind, Hash, HashAlgorithm, Name, ObjectKind, RepoPath, Tree, TreeEntry,
};
use helios_vst::{LoadError, NewObjects, TreeLoader};

pub(crate) const ALG: HashAlgorithm = HashAlgorithm::Blake3;

pub(crate) fn p(s: &str) -> RepoPath {
    RepoPath::parse(s).unwrap()
}

/// A leaf in a model: kind plus bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum MEntry {
    Dir,
    Leaf(EntryKind, Vec<u8>),
}

/// Path components to entry; every ancestor directory is present.
pub(crate) type Model = BTreeMap<Vec<Name>, MEntry>;

/// The root hash of `model`, computed with helios-types alone (no VST code):
/// `(hash, total size)` of the directory at `prefix`.
pub(crate) fn reference(model: &Model, alg: HashAlgorithm) -> (Hash, u64) {
    reference_at(model, &[], alg)
}

fn reference_at(model: &Model, prefix: &[Name], alg: HashAlgorithm) -> (Hash, u64) {
    let mut entries = Vec::new();
    for (path, entry) in model.iter() {
        if path.len() != prefix.len() + 1 || !path.starts_with(prefix) {
            continue;
        }
        let name = path[prefix.len()].clone();
        let (kind, hash, size) = match entry {
            MEntry::Dir => {
                let (hash, size) = reference_at(model, path, alg);
                (EntryKind::Dir, hash, size)
            }
            MEntry::Leaf(kind, bytes) => (*kind, Blob::hash_of(alg, bytes), bytes.len() as u64),
        };
        entries.push(TreeEntry {
            name,
            kind,
            hash,
            size,
        });
    }
    let tree = Tree::new(entries).unwrap();
    (tree.hash(alg), tree.total_size())
}

/// Trees by hash, as the engine's L1/L2 would hold them.
#[derive(Default)]
pub(crate) struct MemLoader {
    pub(crate) trees: Mutex<HashMap<Hash, Tree>>,
    pub(crate) loads: AtomicUsize,
    pub(crate) fail: Mutex<Option<Hash>>,
}

impl MemLoader {
    /// Takes the trees of an export made under `alg`.
    pub(crate) fn absorb(&self, new: &NewObjects, alg: HashAlgorithm) {
        let mut trees = self.trees.lock().unwrap();
        for o in &new.objects {
            assert_eq!(
                alg.digest(&o.encoded),
                o.hash,
                "exported object hashes to its key"
            );
            if o.kind == ObjectKind::Tree {
                trees.insert(o.hash, Tree::decode(&o.encoded).unwrap());
            } else {
                assert!(Blob::decode(&o.encoded).is_ok());
            }
        }
    }

    pub(crate) fn loads(&self) -> usize {
        self.loads.load(Ordering::SeqCst)
    }
}

impl TreeLoader for MemLoader {
    fn load_tree(&self, hash: &Hash) -> Result<Option<Tree>, LoadError> {
        self.loads.fetch_add(1, Ordering::SeqCst);
        if *self.fail.lock().unwrap() == Some(*hash) {
            return Err("disk on fire".into());
        }
        Ok(self.trees.lock().unwrap().get(hash).cloned())
    }
}
