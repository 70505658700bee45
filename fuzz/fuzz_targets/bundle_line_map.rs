//! Any bytes as a line map file: never panics; a map that loads answers every
//! lookup inside its segments and round-trips through JSON.
#![no_main]

use ao_bundle::LineMap;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(map) = LineMap::from_json(text) {
        for s in &map.segments {
            assert!(map.lookup(s.bundle_line).is_some());
            assert!(map.lookup(s.bundle_line + s.lines - 1).is_some());
        }
        assert_eq!(LineMap::from_json(&map.to_json()).unwrap(), map);
        let _ = map.rewrite("[string \"aos\"]:18446744073709551615: x aos:0: y", &["aos"]);
    }
});
