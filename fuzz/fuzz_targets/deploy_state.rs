//! Any bytes as exported game state: never panics; what decodes is canonical
//! (encoding it again gives the same bytes).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(v) = ao_deploy::decode(data) {
        assert_eq!(ao_deploy::encode(&v), data);
    }
});
