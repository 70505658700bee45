//! `ao-ops env` as a user runs it: the exit-code contract (0 clean, 1 error,
//! 2 drift), an Eval behind the tool's back found and planned away, approvals.

use std::path::{Path, PathBuf};
use std::process::Command;

fn arena() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/arena")
}

fn ao_ops(args: &[&str]) -> (i32, String, String) {
    let out =
        Command::new(env!("CARGO_BIN_EXE_ao-ops")).args(args).env("RUST_BACKTRACE", "0").output().unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn check_drift_apply_and_the_exit_code_contract() {
    let dir = tempfile::tempdir().unwrap();
    let s = |p: PathBuf| p.to_string_lossy().into_owned();
    let config = s(arena().join("ao-env.toml"));
    let (dist, state, local) =
        (s(dir.path().join("dist")), s(dir.path().join("state")), s(dir.path().join("local")));
    let (code, _, err) =
        ao_ops(&["bundle", "--config", &s(arena().join("ao-bundle.toml")), "--out-dir", &dist]);
    assert_eq!(code, 0, "{err}");
    let paths = ["--config", &config, "--state", &state, "--local", &local, "--releases", &dist];
    let run = |cmd: &[&str]| {
        let mut args = cmd.to_vec();
        args.extend(paths);
        ao_ops(&args)
    };

    let (code, out, _) = run(&["env", "check"]);
    assert_eq!((code, out.lines().count()), (0, 3), "{out}");
    let (code, out, _) = run(&["env", "explain", "prod", "processes.world.shards"]);
    assert_eq!(code, 0);
    assert!(out.contains("ao-env.prod.toml:14:1") && out.contains("overrides 1 from"), "{out}");

    let (code, out, _) = run(&["env", "drift", "dev"]);
    assert_eq!(code, 2, "not provisioned is drift: {out}");
    let (code, out, err) = run(&["env", "apply", "dev"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("2 spawned"), "{out}");
    let (code, out, _) = run(&["env", "drift", "dev"]);
    assert_eq!(code, 0, "{out}");

    // Behind the tool's back: an Eval straight into the world process.
    {
        let ao = ao_local::LocalAo::builder().log_dir(&local).build().unwrap();
        let st: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.path().join("state/dev.state.json")).unwrap())
                .unwrap();
        let pid: ao_transport::ProcessId =
            st["instances"]["world/0"]["process"].as_str().unwrap().parse().unwrap();
        let r = ao.eval(&pid, "Handlers.add('Backdoor', 'Backdoor', function() end)").unwrap();
        assert!(r.error.is_none());
    }
    let (code, out, _) = run(&["env", "drift", "dev", "--json"]);
    assert_eq!(code, 2, "{out}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    let kinds: Vec<&str> =
        report["differences"].as_array().unwrap().iter().map(|d| d["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["code", "unrecorded-evals", "extra-handlers"]);
    let (code, out, _) = run(&["env", "plan", "dev"]);
    assert_eq!(code, 2);
    assert!(out.contains("eval") && out.contains("remove") && out.contains("Backdoor"), "{out}");
    assert_eq!(run(&["env", "apply", "dev"]).0, 0);
    assert_eq!(run(&["env", "drift", "dev"]).0, 0);

    // Errors are exit 1: an unknown environment, prod without approvals.
    let (code, _, err) = run(&["env", "drift", "qa"]);
    assert_eq!(code, 1);
    assert!(err.contains("no environment named \"qa\" (known: dev, prod, staging)"), "{err}");
    let (code, _, err) = run(&["env", "apply", "prod", "--approve", "alice"]);
    assert_eq!(code, 1);
    assert!(err.contains("needs 2 approval(s)"), "{err}");
    let (code, out, _) = run(&["env", "apply", "prod", "--approve", "alice", "--approve", "bob"]);
    assert_eq!(code, 0, "{out}");
    let (code, out, _) = run(&["env", "consistency", "staging", "prod"]);
    assert_eq!(code, 0, "{out}");
    let (code, out, _) = run(&["env", "teardown", "dev"]);
    assert_eq!(code, 0);
    assert!(out.starts_with("retired 2 process(es)"), "{out}");
}

#[test]
fn check_secrets_resolves_and_never_prints_a_value() {
    const SECRET: &str = "sk-env-cli-7c1f99e0-never-print";
    let dir = tempfile::tempdir().unwrap();
    let module = "TQV426e5pgvLy8-tVGhLM4mviQ7HQroOMbC5mN3OHVk";
    let sched = "dCYq2BAm6lfcTUy-FryJc92xaKsji6B5GkyC1BMdKCE";
    let write = |motd: &str| {
        std::fs::write(
            dir.path().join("ao-env.toml"),
            format!("game = \"g\"\n[defaults]\nmodule = \"{module}\"\nscheduler = \"{sched}\"\n[processes.world]\ntarget = \"t\"\n[processes.world.config]\nmotd = \"{motd}\"\n"),
        )
        .unwrap();
        std::fs::write(
            dir.path().join("ao-env.dev.toml"),
            "[environment]\nwallet = \"env:AO_ENV_CLI_TEST_WALLET\"\n",
        )
        .unwrap();
    };
    let config = dir.path().join("ao-env.toml").to_string_lossy().into_owned();
    let state = dir.path().join("state").to_string_lossy().into_owned();
    let check = || {
        let out = Command::new(env!("CARGO_BIN_EXE_ao-ops"))
            .args(["env", "check", "--secrets", "--config", &config, "--state", &state])
            .env("AO_ENV_CLI_TEST_WALLET", SECRET)
            .output()
            .unwrap();
        (
            out.status.code().unwrap(),
            String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
        )
    };
    write("hello");
    let (code, out) = check();
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("ok: secrets resolved"), "{out}");
    write(&format!("pasted {SECRET}"));
    let (code, out) = check();
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("holds the value of secret env:AO_ENV_CLI_TEST_WALLET"), "{out}");
    assert!(!out.contains(SECRET), "{out}");
}
