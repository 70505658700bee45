//! `ao-ops demo` as a user runs it: the binary, its exit status and what it prints.

use std::process::Command;

#[test]
fn demo_plays_the_arena_and_reports_real_results() {
    let out = Command::new(env!("CARGO_BIN_EXE_ao-ops")).arg("demo").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "demo failed: {}\n{text}", String::from_utf8_lossy(&out.stderr));
    for expected in [
        "loaded 5 modules by Eval, in dependency order:",
        "[alice] Join Name=alice      -> Joined Entity=1 X=1 Y=1",
        "-> Join-Error Error=already joined",
        "-> Move-Error Error=invalid direction Up (use N, S, E or W)",
        "Outcome=hit",
        "-> Ticked Healed=1 Tick=3",
        "-> Tick-Error Error=only the owner may tick",
        "dry-run State matches the real State, and changed nothing",
        "error: unauthorized: Eval from",
        "the process state hash is unchanged; bob's points are still 1",
        "reloaded 5 modules; the world kept its 3 players",
        "unauthorized Evals:      1",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
}

#[test]
fn the_same_seed_gives_the_same_demo() {
    let run = |seed: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_ao-ops")).args(["demo", "--seed", seed]).output().unwrap();
        assert!(out.status.success());
        // Lua memory depends on when the garbage collector ran; everything else is deterministic.
        let text = String::from_utf8(out.stdout).unwrap();
        text.lines().filter(|l| !l.contains("lua memory")).collect::<Vec<_>>().join("\n")
    };
    assert_eq!(run("3"), run("3"));
    assert_ne!(run("3"), run("4"), "the seed changes ids and hashes");
}
