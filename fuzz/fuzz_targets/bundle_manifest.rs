//! Any bytes as a bundle manifest: never panics; a manifest that loads
//! round-trips and can verify any bundle bytes.
#![no_main]

use ao_bundle::{Manifest, verify};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(m) = Manifest::from_json(text) {
        assert_eq!(Manifest::from_json(&m.to_json()).unwrap(), m);
        let _ = verify(data, &m, None);
    }
});
