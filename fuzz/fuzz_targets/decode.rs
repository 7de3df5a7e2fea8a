//! Fuzz target: the object decoder must never panic, and whatever it
//! accepts must re-encode to exactly the input (one encoding per object).
//! A chunk list it accepts must also describe a file that has to be
//! chunked, in chunks the chunker could have cut.
#![no_main]

use helios_types::file::{CHUNK_MAX, CHUNKED_FROM};
use helios_types::Object;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(object) = Object::decode(data) {
        assert_eq!(object.encode(), data, "accepted a non-canonical encoding");
        if let Object::ChunkList(list) = &object {
            let sum: u64 = list.chunks().iter().map(|c| u64::from(c.len)).sum();
            assert_eq!(sum, list.size(), "a chunk list's size is its chunks' sum");
            assert!(list.size() >= CHUNKED_FROM, "a small file is a blob");
            assert!(
                list.chunks().iter().all(|c| (1..=CHUNK_MAX).contains(&c.len)),
                "every chunk is 1 to CHUNK_MAX bytes"
            );
        }
    }
});
