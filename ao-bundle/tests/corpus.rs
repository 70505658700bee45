//! Differential runs of every program under `tests/corpus/`: each is loaded
//! unbundled (one chunk per file, named after its path) and bundled with every
//! combination of dead-code elimination and minification, on ao-local under
//! real Lua 5.3. The same messages must give the same replies, the same final
//! state, and errors that name the same source file and line once the bundle's
//! line map has rewritten them.
//!
//! All programs are built with `DEBUG = false` and `TARGET = "shard"`
//! defined; the unbundled runs get the same values as real globals.

use std::path::{Path, PathBuf};

use ao_bundle::{Bundle, BundleOptions, Define, FsLoader, bundle};
use ao_local::LocalAo;
use ao_transport::{Address, Message, ProcessId};

/// Messages every program is sent: `N` 1 to 4 are ordinary steps, 98 and 99
/// raise errors (a runtime error and an `error` call).
const STEPS: [&str; 6] = ["1", "2", "3", "4", "98", "99"];

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}

/// Every `.lua` file under `root`, as (module name, path relative to root).
fn modules(root: &Path) -> Vec<(String, String)> {
    fn walk(dir: &Path, root: &Path, out: &mut Vec<(String, String)>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
        entries.sort();
        for path in entries {
            if path.is_dir() {
                walk(&path, root, out);
            } else if path.extension().is_some_and(|e| e == "lua") {
                let rel = path.strip_prefix(root).unwrap().to_string_lossy().replace('\\', "/");
                let stem = rel.trim_end_matches(".lua").trim_end_matches("/init");
                out.push((stem.replace('/', "."), rel));
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out
}

/// A Lua long-bracket literal that cannot be closed by `text`.
fn long_string(text: &str) -> String {
    let mut level = 0;
    while text.contains(&format!("]{}]", "=".repeat(level))) {
        level += 1;
    }
    let eq = "=".repeat(level);
    format!("[{eq}[\n{text}]{eq}]")
}

/// The program as Lua would load it from files: each module its own chunk,
/// named `@path` so errors name `path:line`, reachable as `name` and `.name`.
fn load_unbundled(ao: &LocalAo, pid: &ProcessId, root: &Path) {
    let globals = ao.eval(pid, "DEBUG = false\nTARGET = 'shard'").unwrap();
    assert!(globals.is_ok());
    for (name, path) in modules(root) {
        let source = std::fs::read_to_string(root.join(&path)).unwrap();
        let chunk = format!(
            "package.preload[{name:?}] = assert(load({}, {:?}))\npackage.preload[{:?}] = function() return require({name:?}) end",
            long_string(&source),
            format!("@{path}"),
            format!(".{name}"),
        );
        let r = ao.eval(pid, &chunk).unwrap();
        assert!(r.error.is_none(), "loading {path}: {:?}", r.error);
    }
    let r = ao.eval(pid, "require('main')").unwrap();
    assert!(r.error.is_none(), "running main unbundled: {:?}", r.error);
}

/// Replies (tags and data) and the error, with variable names in Lua's
/// messages blanked: renamed locals are the one difference allowed.
type Outcome = (Vec<(String, String)>, Option<String>);

fn step(ao: &LocalAo, pid: &ProcessId, n: &str, map: Option<&Bundle>) -> Outcome {
    let who = Address::from_bytes([7; 32]);
    let msg = Message::builder(pid.clone()).tag("Action", "Step").tag("N", n).build().unwrap();
    let (_, r) = ao.call_as(&who, msg).unwrap();
    let replies = r
        .messages
        .iter()
        .map(|m| (format!("{:?}", m.tags), String::from_utf8_lossy(&m.data).into_owned()))
        .collect();
    let error = r.error.map(|e| {
        let e = map.map_or(e.clone(), |b| b.line_map.rewrite(&e, &["aos"]));
        blank_names(&e)
    });
    (replies, error)
}

/// `(local 'count')` and friends, with the name blanked.
fn blank_names(text: &str) -> String {
    let mut out = text.to_owned();
    for kind in ["local", "upvalue"] {
        let open = format!("({kind} '");
        let mut from = 0;
        while let Some(at) = out[from..].find(&open).map(|i| i + from) {
            let start = at + open.len();
            match out[start..].find("')") {
                Some(len) => {
                    out.replace_range(start..start + len, "_");
                    from = start;
                }
                None => break,
            }
        }
    }
    out
}

fn state(ao: &LocalAo, pid: &ProcessId) -> String {
    let r = ao.eval(pid, "table.concat(Out or Trace or {}, '\\n')").unwrap();
    assert!(r.error.is_none(), "{:?}", r.error);
    r.output
}

fn options(dce: bool, minify: bool) -> BundleOptions {
    BundleOptions::new("main")
        .define("DEBUG", Define::Bool(false))
        .define("TARGET", Define::Str("shard".into()))
        .dce(dce)
        .minify(minify)
}

/// Runs `program` every way and checks that the runs agree; returns the
/// bundles built, by (dce, minify), and the errors of steps 98 and 99.
fn differential(program: &str) -> Vec<Built> {
    differential_with_errors(program).0
}

/// A bundle and the (dce, minify) options it was built with.
type Built = ((bool, bool), Bundle);

fn differential_with_errors(program: &str) -> (Vec<Built>, [String; 2]) {
    let root = corpus().join(program);
    let plain = LocalAo::builder().seed(3).build().unwrap();
    let p = plain.spawn_aos("").unwrap();
    load_unbundled(&plain, &p, &root);
    let expected: Vec<Outcome> = STEPS.iter().map(|n| step(&plain, &p, n, None)).collect();
    let expected_state = state(&plain, &p);
    assert!(!expected_state.is_empty(), "{program} records nothing");
    for (n, (_, error)) in STEPS.iter().zip(&expected) {
        let must_fail = matches!(*n, "98" | "99");
        assert_eq!(error.is_some(), must_fail, "{program} step {n}: {error:?}");
    }

    let mut built = Vec::new();
    for (dce, minify) in [(false, false), (true, false), (false, true), (true, true)] {
        let b = bundle(&FsLoader::new(&root).unwrap(), &options(dce, minify)).unwrap();
        let again = bundle(&FsLoader::new(&root).unwrap(), &options(dce, minify)).unwrap();
        assert!(again.code == b.code && again.line_map == b.line_map, "{program}: deterministic");
        let ao = LocalAo::builder().seed(3).build().unwrap();
        let pid = ao.spawn_aos("").unwrap();
        let r = ao.eval(&pid, &b.code).unwrap();
        let how = format!("{program} with dce={dce} minify={minify}");
        assert!(
            r.error.is_none(),
            "{how}: loading the bundle: {:?}",
            r.error.map(|e| b.line_map.rewrite(&e, &["aos"]))
        );
        for (n, want) in STEPS.iter().zip(&expected) {
            assert_eq!(&step(&ao, &pid, n, Some(&b)), want, "{how}: step {n}");
        }
        assert_eq!(state(&ao, &pid), expected_state, "{how}: final state");
        built.push(((dce, minify), b));
    }
    let errors = [expected[4].1.clone().unwrap_or_default(), expected[5].1.clone().unwrap_or_default()];
    (built, errors)
}

#[test]
fn closures_varargs_and_methods() {
    let built = differential("closures");
    let text = &built[0].1.code;
    assert!(text.contains("Counter"), "the plain bundle keeps names");
}

#[test]
fn integer_and_float_semantics() {
    differential("numbers");
}

#[test]
fn string_literals_of_every_kind() {
    for ((_, minify), b) in differential("strings") {
        // A literal that spans lines keeps its lines, minified or not.
        assert!(b.code.contains("'line1\\\nline2'"), "minify={minify}");
    }
}

#[test]
fn metatables_and_env() {
    let root = corpus().join("metatables");
    let text = std::fs::read_to_string(root.join("main.lua")).unwrap();
    assert!(text.contains("local missing = UNDEFINED_GLOBAL"));
    for ((dce, _), b) in differential("metatables") {
        // The unused local reads a global through __index: it must stay.
        assert!(b.code.contains("UNDEFINED_GLOBAL"), "dce={dce}");
    }
}

#[test]
fn module_side_effects_keep_their_order() {
    let built = differential("order");
    let names: Vec<&str> = built[0].1.modules.iter().map(|m| m.name.as_str()).collect();
    assert!(names.contains(&"mods.cycle_two"), "{names:?}");
}

#[test]
fn the_language_semantics_program() {
    differential("semantics");
}

#[test]
fn errors_map_back_to_the_line_that_raised_them() {
    // Every bundled run above already gave these same texts after mapping.
    let cases = [
        (
            "dce",
            "main.lua:71: attempt to index a nil value (field 'Missing')",
            "mods/tools.lua:11: check failed for 99",
        ),
        (
            "closures",
            "main.lua:57: attempt to index a nil value (local '_')",
            "lib/util.lua:23: util failed: deliberately",
        ),
        (
            "order",
            "main.lua:36: attempt to index a number value (field 'value')",
            "mods/cycle_two.lua:6: exploded in cycle_two",
        ),
    ];
    for (program, runtime, raised) in cases {
        let (_, [e98, e99]) = differential_with_errors(program);
        assert!(e98.contains(runtime), "{program}: {e98}");
        assert!(e99.contains(raised), "{program}: {e99}");
    }
}

#[test]
fn dead_code_goes_and_live_code_stays() {
    for ((dce, minify), b) in differential("dce") {
        let names: Vec<&str> = b.modules.iter().map(|m| m.name.as_str()).collect();
        let removed: Vec<&str> =
            b.modules.iter().flat_map(|m| m.removed.iter().map(|r| r.what.as_str())).collect();
        if dce {
            // Required only from an unused function, and from `if DEBUG`.
            assert_eq!(names, ["main", "mods.tools"], "minify={minify}");
            for what in [
                "unused local unused_pure",
                "unused local function unused_helper",
                "unused local function helper_a",
                "unused local function helper_b",
                "unused local unused_fn",
                "unused local dropped",
                "unused local removed_before_paren",
                "unused local function unused_private",
                "unreachable code after goto",
                "unreachable code after break",
                "unreachable code after return",
                "if statement",
            ] {
                assert!(removed.contains(&what), "{what} not in {removed:?}");
            }
            assert!(!b.code.contains("unused_call") || !minify, "renamed when minified");
            assert!(b.code.contains("call kept"), "an unused local with an effect stays");
        } else {
            assert_eq!(
                names,
                ["main", "mods.debug_tools", "mods.only_dead", "mods.tools"],
                "minify={minify}"
            );
            assert!(removed.is_empty(), "{removed:?}");
        }
    }
}
