//! ao-bundle build times: the arena, and a generated project of 200 modules and
//! over 50 000 lines; a cold build beside a rebuild after one module changed.
//!
//! `cargo bench -p ao-ops-benches --bench bundle`

use std::fmt::Write as _;
use std::hint::black_box;
use std::path::Path;

use ao_bundle::{BundleOptions, Bundler, FsLoader, MemoryLoader, bundle};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const MODULES: usize = 200;
const FUNCTIONS_PER_MODULE: usize = 25;

/// One module of about 260 lines: functions, tables, loops, strings, requires.
fn module_source(k: usize, version: usize) -> String {
    let mut src = String::with_capacity(8 * 1024);
    let _ = write!(src, "-- module {k}, version {version}\nlocal M = {{ id = {k} }}\n");
    for dep in [k + 1, k * 2 + 1, k * 3 + 2].into_iter().filter(|d| *d < MODULES) {
        let _ = writeln!(src, "local dep{dep} = require('gen.m{dep}')");
    }
    for f in 0..FUNCTIONS_PER_MODULE {
        let _ = write!(
            src,
            "function M.f{f}(a, b, ...)\n  local t = {{ a, b, ... }}\n  local acc = {version}\n  for i = 1, #t do\n    if type(t[i]) == 'number' then acc = acc + t[i] * {f} // 2 else acc = acc .. tostring(t[i]) end\n  end\n  local s = \"value: \" .. tostring(acc) .. '\\n'\n  return s, {{ k = {k}, f = {f} }}\nend\n\n"
        );
    }
    src.push_str("return M\n");
    src
}

fn generated(version_of_m1: usize) -> MemoryLoader {
    let mut p = MemoryLoader::new().file("main.lua", "local root = require('gen.m0')\nreturn root");
    for k in 0..MODULES {
        let version = if k == 1 { version_of_m1 } else { 0 };
        p.set(format!("gen/m{k}.lua"), module_source(k, version));
    }
    p
}

fn benches(c: &mut Criterion) {
    let project = generated(0);
    let lines: usize = (0..MODULES).map(|k| module_source(k, 0).lines().count()).sum();
    let bytes: usize = (0..MODULES).map(|k| module_source(k, 0).len()).sum();
    assert!(lines >= 50_000, "the generated project has {lines} lines");
    let options = BundleOptions::new("main");
    let built = bundle(&project, &options).expect("bundle");
    assert_eq!(built.modules.len(), MODULES + 1);

    let mut group = c.benchmark_group("bundle_generated_200_modules");
    group.throughput(Throughput::Bytes(bytes as u64));
    group.sample_size(20);
    group.bench_function("cold_build", |b| {
        b.iter(|| black_box(Bundler::new().bundle(&project, &options).expect("bundle")));
    });
    // A warm bundler and a project whose module m1 flips between two versions:
    // every iteration is a rebuild after exactly one changed module.
    let versions = [generated(1), generated(2)];
    let mut warm = Bundler::new();
    warm.bundle(&versions[0], &options).expect("bundle");
    warm.bundle(&versions[1], &options).expect("bundle");
    let mut flip = 0;
    group.bench_function("rebuild_after_one_change", |b| {
        b.iter(|| {
            flip ^= 1;
            let out = warm.bundle(&versions[flip], &options).expect("bundle");
            assert_eq!(warm.last_stats().parsed, 0, "both versions are cached after the first round");
            black_box(out)
        });
    });
    let mut cold_one = Bundler::new();
    cold_one.bundle(&versions[0], &options).expect("bundle");
    let mut v = 3;
    group.bench_function("rebuild_after_one_new_change", |b| {
        b.iter(|| {
            // A never-seen version of m1: exactly one module is parsed.
            v += 1;
            let mut p = versions[0].clone();
            p.set("gen/m1.lua", module_source(1, v));
            let out = cold_one.bundle(&p, &options).expect("bundle");
            assert_eq!(cold_one.last_stats().parsed, 1);
            black_box(out)
        });
    });
    let minified = BundleOptions::new("main").minify(true);
    group.bench_function("cold_build_minified", |b| {
        b.iter(|| black_box(Bundler::new().bundle(&project, &minified).expect("bundle")));
    });
    let mut warm_min = Bundler::new();
    warm_min.bundle(&versions[0], &minified).expect("bundle");
    let mut w = 1000;
    group.bench_function("rebuild_minified_after_one_new_change", |b| {
        b.iter(|| {
            w += 1;
            let mut p = versions[0].clone();
            p.set("gen/m1.lua", module_source(1, w));
            let out = warm_min.bundle(&p, &minified).expect("bundle");
            assert_eq!(warm_min.last_stats().parsed, 1);
            black_box(out)
        });
    });
    let plain_size = built.code.len();
    let min_size = bundle(&project, &minified).expect("bundle").code.len();
    eprintln!("generated project: {plain_size} bytes bundled, {min_size} bytes minified");
    group.finish();

    let arena = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/arena/src");
    let loader = FsLoader::new(&arena).expect("arena");
    c.bench_function("bundle_arena_cold", |b| {
        b.iter(|| black_box(Bundler::new().bundle(&loader, &options).expect("bundle")));
    });
}

criterion_group!(benches_group, benches);
criterion_main!(benches_group);
