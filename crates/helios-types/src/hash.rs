//! Digest newtypes and the two hash algorithms a store may be created with.
//!
//! Both algorithms produce 32-byte digests, so one `Hash` type serves both;
//! which algorithm made a hash is a property of the store that holds it,
//! recorded in the store's configuration and checked when it is opened.

use std::fmt;
use std::str::FromStr;

use sha2::Digest as _;

/// Length in bytes of every digest Helios computes.
pub const HASH_LEN: usize = 32;

/// Why a string is not a hash.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseHashError {
    /// The string is not 64 characters long.
    #[error("a hash is {expected} hex characters, got {got}")]
    WrongLength {
        /// Characters expected.
        expected: usize,
        /// Characters given.
        got: usize,
    },
    /// The string holds a character outside `0-9a-fA-F`.
    #[error("a hash holds only hex digits")]
    NotHex,
}

/// Defines a 32-byte digest newtype with hex `Display`, `Debug` and `FromStr`.
/// One macro so that every hash role prints and parses the same way.
macro_rules! digest_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name([u8; HASH_LEN]);

        impl $name {
            /// Wraps raw digest bytes.
            pub const fn from_bytes(bytes: [u8; HASH_LEN]) -> Self {
                Self(bytes)
            }

            /// The raw digest bytes.
            pub const fn as_bytes(&self) -> &[u8; HASH_LEN] {
                &self.0
            }

            /// Reads a digest from a slice that must be exactly 32 bytes long.
            pub fn from_slice(bytes: &[u8]) -> Option<Self> {
                <[u8; HASH_LEN]>::try_from(bytes).ok().map(Self)
            }

            /// Lower-case hex, 64 characters.
            pub fn to_hex(&self) -> String {
                hex::encode(self.0)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.to_hex())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                // Twelve characters identify an object in practice and keep
                // test failures and logs readable.
                write!(f, "{}({})", stringify!($name), &self.to_hex()[..12])
            }
        }

        impl FromStr for $name {
            type Err = ParseHashError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                if s.len() != 2 * HASH_LEN {
                    return Err(ParseHashError::WrongLength { expected: 2 * HASH_LEN, got: s.len() });
                }
                let mut bytes = [0u8; HASH_LEN];
                hex::decode_to_slice(s, &mut bytes).map_err(|_| ParseHashError::NotHex)?;
                Ok(Self(bytes))
            }
        }
    };
}

digest_type!(
    /// The content hash of one encoded object (blob, tree or snapshot): the
    /// key under which every layer stores it.
    Hash
);

digest_type!(
    /// The identity of a snapshot: the hash of its encoded `Snapshot` object.
    /// Two snapshots with equal content but different parents or labels have
    /// different ids and equal root trees.
    SnapshotId
);

impl SnapshotId {
    /// The object hash under which this snapshot's record is stored.
    pub const fn object_hash(&self) -> Hash {
        Hash(self.0)
    }
}

impl From<SnapshotId> for Hash {
    fn from(id: SnapshotId) -> Self {
        id.object_hash()
    }
}

/// The digest a store uses for every object it holds. Chosen when the store
/// is created and recorded with it; opening a store with the other algorithm
/// is an error, so hashes of different algorithms never mix.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum HashAlgorithm {
    /// BLAKE3, the default: several times faster than SHA-256 on this
    /// hardware and parallel-friendly for large files.
    #[default]
    Blake3,
    /// SHA-256, for users who need a FIPS-style digest.
    Sha256,
}

impl HashAlgorithm {
    /// Every algorithm, in tag order.
    pub const ALL: [HashAlgorithm; 2] = [HashAlgorithm::Blake3, HashAlgorithm::Sha256];

    /// The one-byte tag recorded in a store's configuration.
    pub const fn tag(self) -> u8 {
        match self {
            HashAlgorithm::Blake3 => 1,
            HashAlgorithm::Sha256 => 2,
        }
    }

    /// The algorithm a configuration tag names, if any.
    pub const fn from_tag(tag: u8) -> Option<Self> {
        match tag {
            1 => Some(HashAlgorithm::Blake3),
            2 => Some(HashAlgorithm::Sha256),
            _ => None,
        }
    }

    /// The stable lower-case name (`blake3`, `sha256`).
    pub const fn name(self) -> &'static str {
        match self {
            HashAlgorithm::Blake3 => "blake3",
            HashAlgorithm::Sha256 => "sha256",
        }
    }

    /// Hashes bytes that are already a complete encoded object.
    pub fn digest(self, encoded: &[u8]) -> Hash {
        let mut hasher = self.hasher();
        hasher.update(encoded);
        hasher.finish()
    }

    /// A streaming hasher, for objects too large to hold in memory at once.
    pub fn hasher(self) -> ObjectHasher {
        match self {
            HashAlgorithm::Blake3 => ObjectHasher::Blake3(Box::new(blake3::Hasher::new())),
            HashAlgorithm::Sha256 => ObjectHasher::Sha256(sha2::Sha256::new()),
        }
    }
}

impl fmt::Display for HashAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for HashAlgorithm {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|alg| alg.name() == s)
            .ok_or_else(|| format!("unknown hash algorithm `{s}` (expected blake3 or sha256)"))
    }
}

/// Incremental hashing of an encoded object with the store's algorithm.
/// Feed it the object header first (see [`crate::ObjectHeader`]), then the
/// payload in as many pieces as convenient.
#[derive(Clone)]
pub enum ObjectHasher {
    /// BLAKE3 state (boxed: it is much larger than SHA-256's).
    Blake3(Box<blake3::Hasher>),
    /// SHA-256 state.
    Sha256(sha2::Sha256),
}

impl ObjectHasher {
    /// Adds bytes to the preimage.
    pub fn update(&mut self, bytes: &[u8]) {
        match self {
            ObjectHasher::Blake3(h) => {
                h.update(bytes);
            }
            ObjectHasher::Sha256(h) => h.update(bytes),
        }
    }

    /// The digest of everything fed so far.
    pub fn finish(self) -> Hash {
        match self {
            ObjectHasher::Blake3(h) => Hash(*h.finalize().as_bytes()),
            ObjectHasher::Sha256(h) => Hash(h.finalize().into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip_and_errors() {
        let h = HashAlgorithm::Blake3.digest(b"x");
        assert_eq!(h.to_string().parse::<Hash>().unwrap(), h);
        assert_eq!(h.to_string().len(), 64);
        assert_eq!(
            "abc".parse::<Hash>(),
            Err(ParseHashError::WrongLength {
                expected: 64,
                got: 3
            })
        );
        assert_eq!("g".repeat(64).parse::<Hash>(), Err(ParseHashError::NotHex));
        assert!(format!("{h:?}").starts_with("Hash("));
    }

    #[test]
    fn algorithms_differ_and_match_reference_implementations() {
        let b = HashAlgorithm::Blake3.digest(b"abc");
        let s = HashAlgorithm::Sha256.digest(b"abc");
        assert_ne!(b, s);
        assert_eq!(b.as_bytes(), blake3::hash(b"abc").as_bytes());
        assert_eq!(
            s.to_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn streaming_equals_one_shot() {
        for alg in HashAlgorithm::ALL {
            let mut h = alg.hasher();
            h.update(b"hello ");
            h.update(b"world");
            assert_eq!(h.finish(), alg.digest(b"hello world"));
        }
    }

    #[test]
    fn algorithm_tags_and_names_round_trip() {
        for alg in HashAlgorithm::ALL {
            assert_eq!(HashAlgorithm::from_tag(alg.tag()), Some(alg));
            assert_eq!(alg.name().parse::<HashAlgorithm>(), Ok(alg));
        }
        assert_eq!(HashAlgorithm::from_tag(0), None);
        assert!("md5".parse::<HashAlgorithm>().is_err());
    }

    #[test]
    fn snapshot_id_converts_to_its_object_hash() {
        let h = HashAlgorithm::Blake3.digest(b"s");
        let id = SnapshotId::from_bytes(*h.as_bytes());
        assert_eq!(Hash::from(id), h);
        assert_eq!(SnapshotId::from_slice(&[0; 31]), None);
    }
}
