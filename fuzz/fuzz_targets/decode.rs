//! Fuzz target: the object decoder must never panic, and whatever it
//! accepts must re-encode to exactly the input (one encoding per object).
#![no_main]

use helios_types::Object;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(object) = Object::decode(data) {
        assert_eq!(object.encode(), data, "accepted a non-canonical encoding");
    }
});
