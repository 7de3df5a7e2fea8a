//! L0, the Virtual State Tree: an immutable, structurally shared path trie with a lazily memoised Merkle root, batch edits and hash-pruned diff. Filled by the VST issue; performs no I/O.

#![forbid(unsafe_code)]
#![deny(missing_docs)]
