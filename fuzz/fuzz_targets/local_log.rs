//! Any bytes as an ao-local message log: never panics; a decoded log is consistent.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(decoded) = ao_local::decode_log(Path::new("fuzz.log"), data) {
        assert!(decoded.torn_tail_bytes <= data.len());
        assert_eq!(decoded.process.len(), 43);
    }
});
