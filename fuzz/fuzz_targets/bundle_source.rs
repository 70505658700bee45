//! Any bytes as the entry module of a project that also has a small library:
//! bundling never panics, only returns typed errors; a bundle that is built
//! ends by requiring the entry.
#![no_main]

use ao_bundle::{BundleOptions, MemoryLoader, bundle};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(source) = std::str::from_utf8(data) else { return };
    let project = MemoryLoader::new()
        .file("main.lua", source)
        .file("lib.lua", "return { answer = 42 }")
        .file("lib/init.lua", "return require('lib')");
    // With defines and minification, so folding and the minifier see every input too.
    let options = BundleOptions::new("main")
        .define("DEBUG", ao_bundle::Define::Bool(false))
        .define("TARGET", ao_bundle::Define::Str("shard".into()))
        .minify(true);
    if let Ok(built) = bundle(&project, &options) {
        assert!(built.code.ends_with("require(\"main\")\n"));
    }
});
