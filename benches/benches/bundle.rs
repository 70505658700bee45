//! ao-bundle build times and sizes beside darklua, the Rust-written Lua
//! bundler and minifier: the arena, and a generated project of 200 modules
//! and over 50 000 lines; a cold build beside a rebuild after one change.
//!
//! `benches/bundle.sh` installs darklua (`cargo install darklua --locked`) and
//! runs this; without darklua on `PATH` its rows are skipped with a note.
//! Both tools read the project from disk and write the bundle to disk, so each
//! timing covers the whole job. darklua bundles path-style requires
//! (`require("./m5")`), so it gets a twin of the project that differs only in
//! how requires are written.
//!
//! `cargo bench -p ao-ops-benches --bench bundle`

use std::fmt::Write as _;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::Command;

use ao_bundle::{BundleOptions, Bundler, FsLoader, MemoryLoader, bundle};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const MODULES: usize = 200;
const FUNCTIONS_PER_MODULE: usize = 25;

/// How a generated module writes its requires.
#[derive(Clone, Copy)]
enum Requires {
    /// `require('gen.m5')`, as aos projects write them.
    Dotted,
    /// `require('./m5')`, as darklua's path mode expects.
    Path,
}

/// One module of about 260 lines: functions, tables, loops, strings,
/// requires, and (as real projects have) a debug helper nothing calls.
fn module_source(k: usize, version: usize, requires: Requires) -> String {
    let mut src = String::with_capacity(8 * 1024);
    let _ = write!(src, "-- module {k}, version {version}\nlocal M = {{ id = {k} }}\n");
    for dep in [k + 1, k * 2 + 1, k * 3 + 2].into_iter().filter(|d| *d < MODULES) {
        match requires {
            Requires::Dotted => {
                let _ = writeln!(src, "local dep{dep} = require('gen.m{dep}')");
            }
            Requires::Path => {
                let _ = writeln!(src, "local dep{dep} = require('./m{dep}')");
            }
        }
    }
    let _ = write!(
        src,
        "local function debug_dump(value, indent)\n  indent = indent or ''\n  local parts = {{}}\n  for key, item in pairs(value) do\n    parts[#parts + 1] = indent .. tostring(key) .. ' = ' .. tostring(item)\n  end\n  return table.concat(parts, '\\n')\nend\n\n"
    );
    for f in 0..FUNCTIONS_PER_MODULE {
        let _ = write!(
            src,
            "function M.f{f}(a, b, ...)\n  local t = {{ a, b, ... }}\n  local acc = {version}\n  for i = 1, #t do\n    if type(t[i]) == 'number' then acc = acc + t[i] * {f} // 2 else acc = acc .. tostring(t[i]) end\n  end\n  local s = \"value: \" .. tostring(acc) .. '\\n'\n  return s, {{ k = {k}, f = {f} }}\nend\n\n"
        );
    }
    src.push_str("return M\n");
    src
}

fn main_source(requires: Requires) -> &'static str {
    match requires {
        Requires::Dotted => "local root = require('gen.m0')\nreturn root\n",
        Requires::Path => "local root = require('./gen/m0')\nreturn root\n",
    }
}

fn generated(version_of_m1: usize) -> MemoryLoader {
    let mut p = MemoryLoader::new().file("main.lua", main_source(Requires::Dotted));
    for k in 0..MODULES {
        let version = if k == 1 { version_of_m1 } else { 0 };
        p.set(format!("gen/m{k}.lua"), module_source(k, version, Requires::Dotted));
    }
    p
}

/// Writes the generated project to `dir` with the given require style.
fn write_project(dir: &Path, requires: Requires) {
    std::fs::create_dir_all(dir.join("gen")).expect("mkdir");
    std::fs::write(dir.join("main.lua"), main_source(requires)).expect("write");
    for k in 0..MODULES {
        std::fs::write(dir.join(format!("gen/m{k}.lua")), module_source(k, 0, requires)).expect("write");
    }
}

/// darklua's configuration for the closest job to ours, with every rule of
/// its that makes output smaller: bundle, drop types (its bundler writes Luau
/// annotations), comments and spaces, dead code, `nil` declarations; group
/// locals, indexes to fields, call parentheses; rename locals; dense output.
const DARKLUA_CONFIG: &str = r#"{
  "generator": "dense",
  "bundle": { "require_mode": "path" },
  "rules": ["remove_types", "remove_comments", "remove_spaces", "compute_expression",
            "remove_unused_if_branch", "remove_unused_while", "filter_after_early_return",
            "remove_empty_do", "remove_unused_variable", "remove_nil_declaration",
            "group_local_assignment", "convert_index_to_field", "remove_function_call_parens",
            "rename_variables"]
}"#;

fn darklua() -> Option<PathBuf> {
    let found = Command::new("darklua").arg("--version").output().ok()?;
    found.status.success().then(|| PathBuf::from("darklua"))
}

fn run_darklua(exe: &Path, dir: &Path) -> usize {
    let status = Command::new(exe)
        .current_dir(dir)
        .args(["process", "main.lua", "out.lua", "--config", "darklua.json"])
        .stdout(std::process::Stdio::null())
        .status()
        .expect("run darklua");
    assert!(status.success(), "darklua failed");
    std::fs::metadata(dir.join("out.lua")).expect("darklua output").len() as usize
}

fn run_ours(dir: &Path, options: &BundleOptions) -> usize {
    let built = Bundler::new().bundle(&FsLoader::new(dir).expect("root"), options).expect("bundle");
    ao_bundle::write_atomic(&dir.join("ours.lua"), built.code.as_bytes()).expect("write");
    built.code.len()
}

fn generated_project(c: &mut Criterion) {
    let project = generated(0);
    let lines: usize = (0..MODULES).map(|k| module_source(k, 0, Requires::Dotted).lines().count()).sum();
    let bytes: usize = (0..MODULES).map(|k| module_source(k, 0, Requires::Dotted).len()).sum();
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
            p.set("gen/m1.lua", module_source(1, v, Requires::Dotted));
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
            p.set("gen/m1.lua", module_source(1, w, Requires::Dotted));
            let out = warm_min.bundle(&p, &minified).expect("bundle");
            assert_eq!(warm_min.last_stats().parsed, 1);
            black_box(out)
        });
    });

    // The whole job from disk to disk, beside darklua doing the same.
    let dir = tempfile::tempdir().expect("tempdir");
    let (ours_dir, theirs_dir) = (dir.path().join("ours"), dir.path().join("darklua"));
    write_project(&ours_dir, Requires::Dotted);
    write_project(&theirs_dir, Requires::Path);
    std::fs::write(theirs_dir.join("darklua.json"), DARKLUA_CONFIG).expect("write");
    let plain_size = built.code.len();
    let ours_size = run_ours(&ours_dir, &minified);
    group.sample_size(10);
    group.bench_function("ao_bundle_disk_to_disk_minified", |b| {
        b.iter(|| black_box(run_ours(&ours_dir, &minified)));
    });
    let mut sizes = format!(
        "generated project: {bytes} bytes of source; ao-bundle {plain_size} bytes plain, {ours_size} bytes minified"
    );
    match darklua() {
        Some(exe) => {
            let theirs_size = run_darklua(&exe, &theirs_dir);
            group.bench_function("darklua_disk_to_disk_minified", |b| {
                b.iter(|| black_box(run_darklua(&exe, &theirs_dir)));
            });
            let _ = write!(
                sizes,
                "; darklua {theirs_size} bytes (ao-bundle/darklua size ratio {:.3})",
                ours_size as f64 / theirs_size as f64
            );
        }
        None => sizes.push_str("; darklua not on PATH (run benches/bundle.sh to install it): skipped"),
    }
    group.finish();
    eprintln!("{sizes}");
}

fn arena(c: &mut Criterion) {
    let arena = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/arena/src");
    let loader = FsLoader::new(&arena).expect("arena");
    let options = BundleOptions::new("main");
    c.bench_function("bundle_arena_cold", |b| {
        b.iter(|| black_box(Bundler::new().bundle(&loader, &options).expect("bundle")));
    });
    let minified = BundleOptions::new("main").minify(true);
    c.bench_function("bundle_arena_cold_minified", |b| {
        b.iter(|| black_box(Bundler::new().bundle(&loader, &minified).expect("bundle")));
    });
    let size = bundle(&loader, &minified).expect("bundle").code.len();
    // darklua on the same game, its requires written path-style.
    let note = darklua().map_or_else(
        || "darklua not on PATH: skipped".to_owned(),
        |exe| {
            let dir = tempfile::tempdir().expect("tempdir");
            for rel in
                ["main.lua", "arena/config.lua", "arena/ecs.lua", "arena/components.lua", "arena/systems.lua"]
            {
                let text = std::fs::read_to_string(arena.join(rel)).expect("arena source");
                let prefix = if rel == "main.lua" { "./arena/" } else { "./" };
                let text = text.replace("require('arena.", &format!("require('{prefix}"));
                let path = dir.path().join(rel);
                std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
                std::fs::write(path, text).expect("write");
            }
            std::fs::write(dir.path().join("darklua.json"), DARKLUA_CONFIG).expect("write");
            let out = Command::new(exe)
                .current_dir(dir.path())
                .args(["process", "main.lua", "out.lua", "--config", "darklua.json"])
                .output()
                .expect("run darklua");
            if out.status.success() {
                let theirs = std::fs::metadata(dir.path().join("out.lua")).map_or(0, |m| m.len());
                format!("darklua {theirs} bytes")
            } else {
                let why = String::from_utf8_lossy(&out.stderr);
                let first = why.lines().find(|l| l.contains("unable to parse")).unwrap_or("failed");
                format!("darklua cannot bundle it ({})", first.trim())
            }
        },
    );
    eprintln!("arena: ao-bundle {size} bytes minified; {note}");
}

criterion_group!(benches_group, generated_project, arena);
criterion_main!(benches_group);
