//! L1, the warm object cache: a bounded ring-buffer arena of LZ4-compressed objects with a concurrent index and statistics, wrapping any object store. Filled by the L1 issue.

#![forbid(unsafe_code)]
#![deny(missing_docs)]
