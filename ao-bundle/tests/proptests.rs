//! Random module graphs bundle, load, and run like their unbundled sources.

use std::fmt::Write as _;

use ao_bundle::{BundleOptions, MemoryLoader, bundle};
use ao_local::LocalAo;
use proptest::prelude::*;

/// Module `i` requires some later modules (a DAG), in the order and literal forms given.
fn graphs() -> impl Strategy<Value = Vec<Vec<(usize, u8)>>> {
    (1usize..7).prop_flat_map(|n| {
        (0..n).map(|i| prop::collection::vec(((i + 1)..=n, 0u8..4), 0..3)).collect::<Vec<_>>()
    })
}

fn require_form(name: &str, form: u8) -> String {
    match form {
        0 => format!("require('{name}')"),
        1 => format!("require(\"{name}\")"),
        2 => format!("require \"{name}\""),
        _ => format!("require('.{name}')"),
    }
}

/// Builds the project: `main` is module 0; module k > 0 is `m.k` at `m/k.lua`.
fn project(graph: &[Vec<(usize, u8)>]) -> (MemoryLoader, Vec<(String, String)>) {
    let n = graph.len();
    let name = |k: usize| if k == 0 { "main".to_owned() } else { format!("m.m{k}") };
    let path = |k: usize| if k == 0 { "main.lua".to_owned() } else { format!("m/m{k}.lua") };
    let mut loader = MemoryLoader::new();
    let mut files = Vec::new();
    for k in 0..=n {
        let deps = graph.get(k).cloned().unwrap_or_default();
        let mut src = format!("Trace = Trace or {{}}\nTrace[#Trace + 1] = '{}>'\n", name(k));
        for (d, form) in deps {
            let _ = writeln!(src, "local v{d} = {}", require_form(&name(d), form));
        }
        let _ = write!(src, "Trace[#Trace + 1] = '<{}'\nreturn {k}\n", name(k));
        loader.set(path(k), src.clone());
        files.push((name(k), src));
    }
    (loader, files)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn bundled_graphs_run_like_unbundled_ones(graph in graphs(), minify in any::<bool>()) {
        let (loader, files) = project(&graph);
        let built = bundle(&loader, &BundleOptions::new("main").minify(minify)).unwrap();

        let plain = LocalAo::new();
        let p = plain.spawn_aos("").unwrap();
        for (name, src) in &files {
            let chunk = format!("package.preload[{name:?}] = assert(load([==[{src}]==], {name:?}))\npackage.preload[{:?}] = function() return require({name:?}) end", format!(".{name}"));
            prop_assert!(plain.eval(&p, &chunk).unwrap().error.is_none());
        }
        prop_assert!(plain.eval(&p, "require('main')").unwrap().error.is_none());

        let bundled = LocalAo::new();
        let b = bundled.spawn_aos("").unwrap();
        let r = bundled.eval(&b, &built.code).unwrap();
        prop_assert!(r.error.is_none(), "{:?}", r.error);

        let trace = "table.concat(Trace, ' ')";
        prop_assert_eq!(plain.eval(&p, trace).unwrap().output, bundled.eval(&b, trace).unwrap().output);
        // Only modules reachable from main are in the bundle, each once.
        let reachable = built.modules.len();
        prop_assert!(reachable >= 1 && reachable <= graph.len() + 1);
        prop_assert_eq!(bundled.eval(&b, "#Trace").unwrap().output, (2 * reachable).to_string());
    }
}
