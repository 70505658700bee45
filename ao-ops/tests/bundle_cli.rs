//! `ao-ops bundle` and `ao-ops verify` as a user runs them.

use std::path::Path;
use std::process::Command;

fn ao_ops(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ao-ops")).args(args).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn arena_root() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/arena/src").to_string_lossy().into_owned()
}

#[test]
fn bundles_the_arena_validates_it_and_verifies_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("arena.lua");
    let out_s = out.to_string_lossy().into_owned();
    let root = arena_root();
    let (ok, stdout, stderr) =
        ao_ops(&["bundle", "--root", &root, "--entry", "main", "--out", &out_s, "--handler", "Join"]);
    assert!(ok, "{stderr}");
    assert!(stdout.starts_with("bundled 5 modules into"), "{stdout}");
    assert!(stdout.contains("main.lua") && stdout.contains("runtime modules: json"), "{stdout}");
    assert!(stdout.contains("(bundler glue)") && stdout.contains("largest functions:"), "{stdout}");
    assert!(stdout.contains("systems.move (arena/systems.lua:"), "{stdout}");
    assert!(stdout.contains(
        "validated on ao-local: loads cleanly, handlers _eval, _default, Join, Move, Tick, State, Ping"
    ));
    for suffix in ["", ".map.json", ".manifest.json"] {
        assert!(dir.path().join(format!("arena.lua{suffix}")).is_file(), "{suffix}");
    }
    let (ok, stdout, _) = ao_ops(&["verify", &out_s, "--root", &root]);
    assert!(ok && stdout.starts_with("ok: bundle and sources match"), "{stdout}");

    // One changed byte in the bundle: verify fails and says so.
    let mut bytes = std::fs::read(&out).unwrap();
    bytes[20] ^= 1;
    std::fs::write(&out, bytes).unwrap();
    let (ok, stdout, stderr) = ao_ops(&["verify", &out_s]);
    assert!(!ok);
    assert!(stdout.starts_with("mismatch: bundle: blake3"), "{stdout}");
    assert!(stderr.contains("1 mismatch(es)"), "{stderr}");
}

#[test]
fn json_report_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("a.lua").to_string_lossy().into_owned();
    let root = arena_root();
    let (ok, stdout, _) = ao_ops(&["bundle", "--root", &root, "--entry", "main", "--out", &out, "--json"]);
    assert!(ok);
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["modules"].as_array().unwrap().len(), 5);
    assert_eq!(report["externals"], serde_json::json!(["json"]));
    assert_eq!(report["size"]["modules"].as_array().unwrap().len(), 5);
    assert!(report["size"]["compressed"].as_u64().unwrap() < report["size"]["bytes"].as_u64().unwrap());

    let (ok, _, stderr) = ao_ops(&["bundle", "--root", &root, "--entry", "nope", "--out", &out]);
    assert!(!ok && stderr.contains("module 'nope' not found"), "{stderr}");
    let (ok, _, stderr) =
        ao_ops(&["bundle", "--root", &root, "--entry", "main", "--out", &out, "--handler", "Fly"]);
    assert!(!ok && stderr.contains("expected handlers not registered: Fly"), "{stderr}");
    let (ok, _, stderr) =
        ao_ops(&["bundle", "--root", &root, "--entry", "main", "--out", &out, "--limit", "1000"]);
    assert!(!ok && stderr.contains("over the limit of 1000"), "{stderr}");
}

#[test]
fn builds_every_target_of_a_config() {
    let dir = tempfile::tempdir().unwrap();
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/arena/ao-bundle.toml");
    let out_dir = dir.path().to_string_lossy().into_owned();
    let (ok, stdout, stderr) =
        ao_ops(&["bundle", "--config", &config.to_string_lossy(), "--out-dir", &out_dir]);
    assert!(ok, "{stderr}");
    let targets: Vec<&str> = stdout.lines().filter(|l| l.starts_with("target ")).collect();
    assert_eq!(targets.len(), 2, "{stdout}");
    assert!(targets[0].starts_with("target arena: 5 modules"), "{stdout}");
    assert!(targets[1].starts_with("target arena-rules: 4 modules"), "{stdout}");
    // Each target's size report, and the shared cache at work for the second.
    assert_eq!(stdout.matches("(bundler glue)").count(), 2, "{stdout}");
    assert!(
        stdout.contains("validated on ao-local: loads cleanly, handlers _eval, _default, Join"),
        "{stdout}"
    );
    let cache = stdout.lines().last().unwrap();
    assert!(cache.starts_with("cache: 0 modules parsed, 4 from memory"), "{stdout}");
    assert!(
        dir.path().join("arena.lua").is_file() && dir.path().join("arena-rules.lua.manifest.json").is_file()
    );
    let (ok, stdout, stderr) =
        ao_ops(&["bundle", "--config", &config.to_string_lossy(), "--out-dir", &out_dir, "--json"]);
    assert!(ok, "{stderr}");
    let reports: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let names: Vec<&str> =
        reports.as_array().unwrap().iter().map(|r| r["target"].as_str().unwrap()).collect();
    assert_eq!(names, ["arena", "arena-rules"]);
    assert!(reports[0]["size"]["bytes"].as_u64().unwrap() > 1000);
    let (ok, _, stderr) =
        ao_ops(&["bundle", "--config", &config.to_string_lossy(), "--out-dir", &out_dir, "--target", "x"]);
    assert!(!ok && stderr.contains("no target named"), "{stderr}");
}

#[test]
fn defines_fold_debug_code_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("main.lua"), "if DEBUG then require('devtools') end\nMode = TARGET\n")
        .unwrap();
    let out = dir.path().join("b.lua").to_string_lossy().into_owned();
    let root = dir.path().to_string_lossy().into_owned();
    let (ok, stdout, stderr) = ao_ops(&[
        "bundle",
        "--root",
        &root,
        "--entry",
        "main",
        "--out",
        &out,
        "--define",
        "DEBUG=false",
        "--define",
        "TARGET=shard",
        "--minify",
    ]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("removed: if statement at main.lua:1"), "{stdout}");
    let code = std::fs::read_to_string(&out).unwrap();
    assert!(code.contains("Mode=\"shard\"") && !code.contains("devtools"), "{code}");
    let (ok, _, stderr) =
        ao_ops(&["bundle", "--root", &root, "--entry", "main", "--out", &out, "--define", "1X=2"]);
    assert!(!ok && stderr.contains("is not a Lua name"), "{stderr}");
}

#[test]
fn trace_maps_an_ao_error_back_to_the_source_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("arena.lua");
    let out_s = out.to_string_lossy().into_owned();
    let (ok, _, stderr) =
        ao_ops(&["bundle", "--root", &arena_root(), "--entry", "main", "--out", &out_s, "--minify"]);
    assert!(ok, "{stderr}");
    // Find the bundle line holding main.lua's `Handlers.add('Join'` and fake an error there.
    let code = std::fs::read_to_string(&out).unwrap();
    let bundle_line = code.lines().position(|l| l.contains("Handlers.add('Join'")).unwrap() + 1;
    let source = std::fs::read_to_string(Path::new(&arena_root()).join("main.lua")).unwrap();
    let source_line = source.lines().position(|l| l.contains("Handlers.add('Join'")).unwrap() + 1;
    let error = dir.path().join("error.txt");
    std::fs::write(&error, format!("[string \"aos\"]:{bundle_line}: boom\nstack traceback:\n\t[C]: in ?"))
        .unwrap();
    let map = format!("{out_s}.map.json");
    let (ok, stdout, stderr) = ao_ops(&["trace", "--map", &map, &error.to_string_lossy()]);
    assert!(ok, "{stderr}");
    assert_eq!(stdout, format!("main.lua:{source_line}: boom\nstack traceback:\n\t[C]: in ?"));

    // Bad input: a clear error and a failing exit status, no backtrace.
    let (ok, _, stderr) = ao_ops(&["trace", "--map", &out_s, &error.to_string_lossy()]);
    assert!(!ok);
    assert!(stderr.starts_with("error: reading ") && stderr.contains("invalid line map"), "{stderr}");
    assert!(!stderr.contains("Stack backtrace"), "{stderr}");
}
