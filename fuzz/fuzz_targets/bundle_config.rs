//! Any bytes as a bundle config file: never panics; a config that loads has
//! targets, each with entries and an output inside its out_dir.
#![no_main]

use std::path::Path;

use ao_bundle::Config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(config) = Config::from_toml(text, Path::new("/base"), "fuzz.toml") {
        assert!(!config.targets.is_empty());
        for t in config.targets.values() {
            assert!(!t.entries.is_empty());
            assert!(!Path::new(&t.out).is_absolute());
        }
    }
});
