//! The line map, end to end: errors raised in bundled modules on ao-local map
//! back to the file and line that raised them.

use std::path::Path;

use ao_bundle::{BundleOptions, FsLoader, LineMap, MemoryLoader, bundle};
use ao_local::LocalAo;
use ao_transport::Message;

#[test]
fn a_runtime_error_in_a_minified_module_maps_back_to_its_file_and_line() {
    let project = MemoryLoader::new()
        .file("main.lua", "local boom = require('lib.boom')\nHandlers.add('Boom', 'Boom', function(m) boom.go(m.Why) end)\n")
        .file("lib/boom.lua", "local M = {}\n\nfunction M.go(why)\n  error('kaboom: ' .. why)\nend\n\nreturn M\n")
        .file("lib/unused.lua", "return 1");
    let built = bundle(&project, &BundleOptions::new("main").minify(true)).unwrap();
    assert!(
        // Minified and renamed, lines kept.
        built.code.contains("function M.go(a)\nerror('kaboom: '..a)\nend"),
        "minified: {}",
        built.code
    );
    let ao = LocalAo::new();
    let pid = ao.spawn_aos("").unwrap();
    assert!(ao.eval(&pid, &built.code).unwrap().is_ok());

    let (_, r) =
        ao.call(Message::builder(pid).tag("Action", "Boom").tag("Why", "test").build().unwrap()).unwrap();
    let raw = r.error.expect("the handler fails");
    assert!(raw.starts_with("[string \"aos\"]:"), "ao-local names the Eval chunk 'aos': {raw}");
    // Through JSON, as a tool reading the map file beside the bundle would.
    let map = LineMap::from_json(&built.line_map.to_json()).unwrap();
    assert_eq!(map.rewrite(&raw, &["aos"]), "lib/boom.lua:4: kaboom: test");
}

#[test]
fn every_mapped_line_is_the_source_line() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/arena/src");
    let built = bundle(&FsLoader::new(&root).unwrap(), &BundleOptions::new("main")).unwrap();
    let bundle_lines: Vec<&str> = built.code.lines().collect();
    let mut checked = 0;
    for (i, text) in bundle_lines.iter().enumerate() {
        let Some(src) = built.line_map.lookup(i + 1) else { continue };
        let source = std::fs::read_to_string(root.join(src.file)).unwrap();
        assert_eq!(
            *text,
            source.lines().nth(src.line - 1).unwrap(),
            "bundle line {} -> {}:{}",
            i + 1,
            src.file,
            src.line
        );
        checked += 1;
    }
    let total: usize = built
        .modules
        .iter()
        .map(|m| std::fs::read_to_string(root.join(&m.path)).unwrap().lines().count())
        .sum();
    assert_eq!(checked, total, "every source line is mapped");
    assert_eq!(built.line_map.segments.len(), built.modules.len());
}
