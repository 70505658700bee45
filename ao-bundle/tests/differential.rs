//! Bundled and unbundled runs of the same project give the same results, on
//! ao-local under real Lua 5.3; a newer bundle hot-reloads over an older one.

use std::path::Path;

use ao_bundle::{BundleOptions, ErrorKind, FsLoader, MemoryLoader, bundle};
use ao_local::LocalAo;
use ao_transport::{Address, Message, ProcessId};

/// A Lua long-bracket literal that cannot be closed by `text`.
fn long_string(text: &str) -> String {
    let mut level = 0;
    while text.contains(&format!("]{}]", "=".repeat(level))) {
        level += 1;
    }
    let eq = "=".repeat(level);
    format!("[{eq}[\n{text}]{eq}]")
}

/// Loads a project the unbundled way: each file registered as its own chunk
/// (what Lua's file searcher would find), then the entry required.
fn load_unbundled(ao: &LocalAo, pid: &ProcessId, root: &Path, files: &[(&str, &str)], entry: &str) {
    for (name, path) in files {
        let source = std::fs::read_to_string(root.join(path)).unwrap();
        let chunk = format!(
            "package.preload[{name:?}] = assert(load({}, {:?}))",
            long_string(&source),
            format!("@{path}")
        );
        let r = ao.eval(pid, &chunk).unwrap();
        assert!(r.error.is_none(), "loading {path}: {:?}", r.error);
    }
    let r = ao.eval(pid, &format!("require({entry:?})")).unwrap();
    assert!(r.error.is_none(), "running {entry}: {:?}", r.error);
}

fn load_bundled(ao: &LocalAo, pid: &ProcessId, code: &str) {
    let r = ao.eval(pid, code).unwrap();
    assert!(r.error.is_none(), "bundle failed: {:?}", r.error);
}

/// Each reply's tags and data, and the error, of sending `tags` as `who`.
type Reply = (Vec<(String, String)>, Option<String>);

fn ask(ao: &LocalAo, pid: &ProcessId, who: &Address, tags: &[(&str, &str)]) -> Reply {
    let msg = tags.iter().fold(Message::builder(pid.clone()), |b, (n, v)| b.tag(*n, *v)).build().unwrap();
    let (_, r) = ao.call_as(who, msg).unwrap();
    let replies = r
        .messages
        .iter()
        .map(|m| (format!("{:?}", m.tags), String::from_utf8_lossy(&m.data).into_owned()))
        .collect();
    (replies, r.error)
}

fn corpus_root() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/semantics")
}

#[test]
fn language_semantics_survive_bundling() {
    semantics_survive(false);
}

#[test]
fn language_semantics_survive_bundling_and_minifying() {
    semantics_survive(true);
}

fn semantics_survive(minify: bool) {
    let root = corpus_root();
    let built = bundle(&FsLoader::new(&root).unwrap(), &BundleOptions::new("main").minify(minify)).unwrap();
    if minify {
        assert!(!built.code.contains("-- closures and upvalues"), "comments are gone");
    }
    assert_eq!(built.modules.len(), 4);

    let (plain, bundled) = (LocalAo::new(), LocalAo::new());
    let (p, b) = (plain.spawn_aos("").unwrap(), bundled.spawn_aos("").unwrap());
    // `.lib.c` and `lib.c` name one file; as in Lua with a searcher for both
    // forms, they must be one module: alias it before running the entry.
    let alias = plain.eval(&p, "package.preload['.lib.c'] = function() return require('lib.c') end").unwrap();
    assert!(alias.error.is_none());
    let files =
        [("lib.c", "lib/c.lua"), ("lib.a", "lib/a.lua"), ("lib.b", "lib/b.lua"), ("main", "main.lua")];
    load_unbundled(&plain, &p, &root, &files, "main");
    load_bundled(&bundled, &b, &built.code);

    let who = Address::from_bytes([3; 32]);
    let trace_plain = ask(&plain, &p, &who, &[("Action", "Trace")]);
    let trace_bundled = ask(&bundled, &b, &who, &[("Action", "Trace")]);
    assert_eq!(trace_plain, trace_bundled);
    let trace = &trace_bundled.0[0].1;
    for expected in [
        "c:load (once)",
        "same module instance true",
        "closures 6 1",
        "goto 1,3,5,7",
        "shadow outer b-module!",
        "numbers 3\t",
        "break 2 tick`s",
        "scopes 3 11,10,20,30",
    ] {
        let expected = expected.replace('\t', "");
        assert!(trace.contains(&expected), "missing {expected:?} in {trace}");
    }
    // Module side effects in the same order, each module once.
    let order: Vec<&str> = trace.lines().filter(|l| l.contains(":load") || l.starts_with("main:")).collect();
    assert_eq!(order, ["main:start 2", "a:load lib.a", "c:load (once)", "b:load", "main:end a b+c"]);
    assert_eq!(trace.matches("c:load").count(), 1);
    for n in ["1", "10", "1000"] {
        assert_eq!(
            ask(&plain, &p, &who, &[("Action", "Calc"), ("N", n)]),
            ask(&bundled, &b, &who, &[("Action", "Calc"), ("N", n)])
        );
    }
}

#[test]
fn the_arena_plays_the_same_bundled_and_unbundled() {
    arena_plays_the_same(false, false);
    arena_plays_the_same(true, false);
}

#[test]
fn the_arena_plays_the_same_bundled_minified_and_unbundled() {
    arena_plays_the_same(false, true);
    arena_plays_the_same(true, true);
}

fn arena_plays_the_same(dce: bool, minify: bool) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/arena/src");
    let options = BundleOptions::new("main").dce(dce).minify(minify);
    let built = bundle(&FsLoader::new(&root).unwrap(), &options).unwrap();
    let names: Vec<&str> = built.modules.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["arena.components", "arena.config", "arena.ecs", "arena.systems", "main"]);
    assert_eq!(built.externals, ["json"]);

    let (plain, bundled) =
        (LocalAo::builder().seed(5).build().unwrap(), LocalAo::builder().seed(5).build().unwrap());
    let (p, b) = (plain.spawn_aos("").unwrap(), bundled.spawn_aos("").unwrap());
    let files = [
        ("arena.config", "arena/config.lua"),
        ("arena.ecs", "arena/ecs.lua"),
        ("arena.components", "arena/components.lua"),
        ("arena.systems", "arena/systems.lua"),
        ("main", "main.lua"),
    ];
    load_unbundled(&plain, &p, &root, &files, "main");
    load_bundled(&bundled, &b, &built.code);

    let players: Vec<Address> = (1..=3).map(|n| Address::from_bytes([n; 32])).collect();
    let owner = plain.signer();
    let mut script: Vec<(Address, Vec<(&str, &str)>)> = Vec::new();
    for p in &players {
        script.push((p.clone(), vec![("Action", "Join")]));
    }
    for (i, dir) in ["E", "S", "S", "W", "N", "E", "Up", "E", "S"].iter().enumerate() {
        script.push((players[i % 3].clone(), vec![("Action", "Move"), ("Direction", dir)]));
        if i % 3 == 2 {
            script.push((owner.clone(), vec![("Action", "Tick")]));
        }
    }
    script.push((owner.clone(), vec![("Action", "State")]));
    script.push((players[0].clone(), vec![("Action", "Tick")]));
    for (who, tags) in &script {
        assert_eq!(ask(&plain, &p, who, tags), ask(&bundled, &b, who, tags), "{tags:?}");
    }
    let dump = "require('json').encode(Arena)";
    assert_eq!(plain.eval(&p, dump).unwrap().output, bundled.eval(&b, dump).unwrap().output);
}

#[test]
fn a_newer_bundle_replaces_module_code_and_keeps_runtime_modules() {
    let version = |v: &str| {
        MemoryLoader::new()
            .file("main.lua", "local greet = require('greet')\nHandlers.add('Hi', 'Hi', function(m) m.reply({ Data = greet() }) end)")
            .file("greet.lua", format!("local json = require('json')\nreturn function() return json.encode({{ v = '{v}' }}) end"))
    };
    let v1 = bundle(&version("1"), &BundleOptions::new("main")).unwrap();
    let v2 = bundle(&version("2"), &BundleOptions::new("main")).unwrap();
    let ao = LocalAo::new();
    let pid = ao.spawn_aos("").unwrap();
    let hi = |ao: &LocalAo| {
        let (_, r) = ao.call(Message::builder(pid.clone()).tag("Action", "Hi").build().unwrap()).unwrap();
        assert!(r.error.is_none(), "{:?}", r.error);
        r.messages[0].data_str().unwrap().to_owned()
    };
    load_bundled(&ao, &pid, &v1.code);
    assert_eq!(hi(&ao), r#"{"v":"1"}"#);
    load_bundled(&ao, &pid, &v2.code);
    assert_eq!(hi(&ao), r#"{"v":"2"}"#, "the new greet module took effect");
    // The runtime's own json module was not reloaded or removed.
    assert_eq!(ao.eval(&pid, "package.loaded.json == require('json')").unwrap().output, "true");
    let handlers = ao.process_info(&pid).unwrap().handlers;
    assert_eq!(handlers.iter().filter(|h| *h == "Hi").count(), 1);
}

#[test]
fn fs_loader_refuses_symlinks_out_of_the_root() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret.lua"), "return 'secret'").unwrap();
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("main.lua"), "return require('leak')").unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(outside.path().join("secret.lua"), root.path().join("leak.lua")).unwrap();
    #[cfg(unix)]
    {
        let err = bundle(&FsLoader::new(root.path()).unwrap(), &BundleOptions::new("main")).unwrap_err();
        assert!(matches!(err.kind(), ErrorKind::OutsideRoot { .. }), "{err}");
        assert!(err.to_string().contains("main.lua:1:8"), "{err}");
    }
}

#[test]
fn module_code_sees_the_same_globals_bundled() {
    // Regression: the bundle once declared chunk-level locals (`loaded`,
    // `preload`) that module code could capture instead of same-named globals.
    let project = MemoryLoader::new()
        .file("main.lua", "loaded, preload, name, _ = 'g1', 'g2', 'g3', 'g4'\nResult = require('probe')")
        .file(
            "probe.lua",
            "return table.concat({ tostring(loaded), tostring(preload), tostring(name), tostring(_) }, ',')",
        );
    let built = bundle(&project, &BundleOptions::new("main")).unwrap();
    let ao = LocalAo::new();
    let pid = ao.spawn_aos("").unwrap();
    load_bundled(&ao, &pid, &built.code);
    assert_eq!(ao.eval(&pid, "Result").unwrap().output, "g1,g2,g3,g4");
}

const MAIN_WITH_DEBUG: &str = "local log = require('log')\nif DEBUG then\n  require('debug.tools').install()\nend\n\
    Handlers.add('Mode', 'Mode', function(m)\n  if TARGET == 'shard' then m.reply({ Data = log.tag('shard') })\n  \
    else m.reply({ Data = log.tag('full') }) end\nend)\n";
const LOG: &str = "return { tag = function(x) if DEBUG then return 'debug:' .. x end return x .. '' end }\n";
const TOOLS: &str = "return { install = function() Installed = true end }\n";

#[test]
fn defines_drop_debug_code_and_runs_still_agree() {
    let project = MemoryLoader::new()
        .file("main.lua", MAIN_WITH_DEBUG)
        .file("log.lua", LOG)
        .file("debug/tools.lua", TOOLS);
    let options = BundleOptions::new("main")
        .define("DEBUG", ao_bundle::Define::Bool(false))
        .define("TARGET", ao_bundle::Define::Str("shard".into()));
    let built = bundle(&project, &options).unwrap();
    let names: Vec<&str> = built.modules.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["log", "main"], "the debug-only module is not bundled");
    assert!(!built.code.contains("install"), "{}", built.code);
    let removed: usize = built.modules.iter().map(|m| m.removed.len()).sum();
    assert!(removed >= 3, "{:?}", built.modules);

    // The same program unbundled, with the constants as real globals.
    let plain = LocalAo::new();
    let p = plain.spawn_aos("DEBUG = false\nTARGET = 'shard'").unwrap();
    for (name, path, source) in [
        ("log", "log.lua", LOG),
        ("debug.tools", "debug/tools.lua", TOOLS),
        ("main", "main.lua", MAIN_WITH_DEBUG),
    ] {
        let chunk = format!("package.preload[{name:?}] = assert(load({}, {path:?}))", long_string(source));
        assert!(plain.eval(&p, &chunk).unwrap().is_ok());
    }
    assert!(plain.eval(&p, "require('main')").unwrap().is_ok());
    let bundled = LocalAo::new();
    let b = bundled.spawn_aos("").unwrap();
    load_bundled(&bundled, &b, &built.code);

    let who = Address::from_bytes([1; 32]);
    let mode = [("Action", "Mode")];
    assert_eq!(ask(&plain, &p, &who, &mode), ask(&bundled, &b, &who, &mode));
    assert_eq!(ask(&bundled, &b, &who, &mode).0[0].1, "shard");
    // A runtime error still maps to the right source line after folding.
    let r = bundled.eval(&b, "return require('log').tag(nil)").unwrap();
    let mapped = built.line_map.rewrite(&r.error.unwrap(), &["aos"]);
    assert!(mapped.starts_with("log.lua:1:") && mapped.contains("concatenate"), "{mapped}");
}
