//! `ao-ops deploy|rollback|promote|pause|resume|abort|history` as a user runs
//! them on a copy of the arena: install, blue-green, a broken release rolled
//! back, promotion gates, an operator's pause and promote, the lease, history,
//! and the exit codes (0 done, 1 error, 2 rolled back, 3 paused, 5 lease held).

use std::path::{Path, PathBuf};
use std::process::Command;

fn arena() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/arena")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let name = e.file_name();
        if name == "dist" || name == ".ao-env" || name == ".ao-deploy" {
            continue;
        }
        if e.path().is_dir() {
            copy_dir(&e.path(), &to.join(&name));
        } else {
            std::fs::copy(e.path(), to.join(&name)).unwrap();
        }
    }
}

struct Game {
    dir: tempfile::TempDir,
}

impl Game {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        copy_dir(&arena(), &dir.path().join("arena"));
        let g = Self { dir };
        // Promotion soak times a test can meet without waiting: staging none, prod an hour.
        let cfg = std::fs::read_to_string(g.path("ao-deploy.toml")).unwrap();
        std::fs::write(
            g.path("ao-deploy.toml"),
            cfg.replace("soak = { staging = \"1s\", prod = \"2s\" }", "soak = { prod = \"1h\" }"),
        )
        .unwrap();
        g
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join("arena").join(p)
    }

    fn run(&self, args: &[&str]) -> (i32, String, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_ao-ops"))
            .args(args)
            .current_dir(self.dir.path().join("arena"))
            .env("RUST_BACKTRACE", "0")
            .env("USER", "ann")
            .env("HOSTNAME", "ci")
            .output()
            .unwrap();
        (
            out.status.code().unwrap(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn ok(&self, args: &[&str]) -> String {
        let (code, out, err) = self.run(args);
        assert_eq!(code, 0, "{args:?}\n{out}{err}");
        out
    }

    /// Changes `main.lua` and rebuilds the bundle.
    fn release(&self, patch: impl Fn(&str) -> String) {
        let main = self.path("src/main.lua");
        let text = std::fs::read_to_string(&main).unwrap();
        std::fs::write(&main, patch(&text)).unwrap();
        self.ok(&["bundle", "--config", "ao-bundle.toml"]);
    }
}

const PONG: &str = "msg.reply({ Action = 'Pong', Data = 'pong' })";

#[test]
fn deploy_roll_back_promote_and_the_exit_codes() {
    let g = Game::new();
    g.ok(&["bundle", "--config", "ao-bundle.toml"]);
    let out = g.ok(&["deploy", "dev", "--plan"]);
    assert!(out.contains("would install world in dev") && out.contains("spawn a router in front"), "{out}");
    let out = g.ok(&["deploy", "dev"]);
    assert!(out.contains("installed world in dev") && out.contains("installed rules in dev"), "{out}");
    g.ok(&["deploy", "staging"]);
    assert_eq!(g.run(&["env", "drift", "dev"]).0, 0, "install keeps ao-env's state file in step");

    // v2: a blue-green that succeeds; ao-env still sees no drift.
    g.release(|m| format!("{m}\nHandlers.add('Version', 'Version', function(msg) msg.reply({{ Action = 'Version', Data = '2' }}) end)\n"));
    let plan = g.ok(&["deploy", "dev", "--process", "world", "--version", "2", "--plan"]);
    for step in ["spawn green", "transfer state blue -> green", "switch to green", "retire blue"] {
        assert!(plan.contains(step), "{plan}");
    }
    assert!(!g.path(".ao-deploy/dev/world/journal.log").exists(), "--plan touches nothing");
    let out = g.ok(&["deploy", "dev", "--process", "world", "--version", "2"]);
    assert!(out.contains("succeeded; journal kept in"), "{out}");
    let (code, out, _) = g.run(&["env", "drift", "dev"]);
    assert_eq!(code, 0, "{out}");
    let out = g.ok(&["deploy", "dev", "--process", "world", "--version", "2"]);
    assert!(out.contains("nothing to do"), "{out}");

    // A broken release: its smoke test fails, it rolls back by itself: exit 2.
    let good = std::fs::read_to_string(g.path("src/main.lua")).unwrap();
    g.release(|m| m.replace(PONG, "error('ping is broken')"));
    let (code, out, _) = g.run(&["deploy", "dev", "--process", "world", "--version", "3"]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("FAILED: failed: ping: error:")
            && out.contains("ping is broken")
            && out.contains("rolled-back"),
        "{out}"
    );
    std::fs::write(g.path("src/main.lua"), &good).unwrap();
    g.ok(&["bundle", "--config", "ao-bundle.toml"]);

    // Staging changes only by promotion; prod only after staging.
    let (code, out, _) = g.run(&["deploy", "staging"]);
    assert_eq!(code, 1);
    assert!(out.contains("staging is promoted into, not deployed to"), "{out}");
    let (code, out, _) = g.run(&["promote", "prod", "--process", "world"]);
    assert_eq!(code, 1);
    assert!(out.contains("nothing has succeeded in staging"), "{out}");
    let (code, out, _) = g.run(&["promote", "staging", "--process", "world", "--from", "prod"]);
    assert_eq!(code, 1);
    assert!(out.contains("staging comes after dev, not after prod"), "{out}");
    let out = g.ok(&["promote", "staging", "--process", "world"]);
    assert!(out.contains("promoting arena@2 from dev to staging") && out.contains("succeeded"), "{out}");
    // Prod is protected: an hour of soak, two approvals of three; every closed gate is named.
    g.ok(&["deploy", "prod"]);
    let (code, out, _) =
        g.run(&["promote", "prod", "--process", "world", "--approve", "alice", "--approve", "mallory"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("has soaked") && out.contains("prod needs 1h"), "{out}");
    assert!(out.contains("needs 2 approval(s)") && out.contains("got [\"alice\"]"), "{out}");
    let approvals = std::fs::read_to_string(g.path(".ao-deploy/approvals.jsonl")).unwrap();
    assert_eq!(approvals.lines().count(), 2, "approvals are recorded, who and when: {approvals}");

    // History: text, JSON, metrics.
    let out = g.ok(&["history"]);
    assert!(out.contains("dev: 2 finished, 50% succeeded"), "{out}");
    assert!(out.contains("staging: 1 finished, 100% succeeded"), "{out}");
    let json: serde_json::Value =
        serde_json::from_str(&g.ok(&["history", "--json", "--env", "dev"])).unwrap();
    assert_eq!(json["deployments"].as_array().unwrap().len(), 2);
    assert_eq!(json["deployments"][1]["failing_step"]["step"], "smoke green");
    assert_eq!(json["environments"]["dev"]["success_ratio"], 0.5);
    let metrics = g.ok(&["history", "--metrics"]);
    assert!(
        metrics.contains("ao_deploy_deployments_total{environment=\"dev\",result=\"rolled-back\"} 1"),
        "{metrics}"
    );

    // Rollback of a completed deployment: back to what ran before v2.
    let out = g.ok(&["rollback", "dev", "--process", "world"]);
    assert!(out.contains("rolling world in dev back to arena@sha-") && out.contains("succeeded"), "{out}");
}

#[test]
fn operators_pause_promote_and_abort_and_one_deployer_holds_the_lease() {
    let g = Game::new();
    // A canary that waits for an operator after its first step.
    let cfg = std::fs::read_to_string(g.path("ao-deploy.toml")).unwrap();
    std::fs::write(
        g.path("ao-deploy.toml"),
        cfg.replace(
            "strategy = \"blue-green\"",
            "strategy = \"canary\"\ncanary.steps = [{ set_weight = 50 }, { pause = \"forever\" }]",
        ),
    )
    .unwrap();
    g.ok(&["bundle", "--config", "ao-bundle.toml"]);
    g.ok(&["deploy", "dev"]);
    g.release(|m| format!("{m}\nDeployedVersion = 2\n"));
    let (code, out, _) = g.run(&["deploy", "dev", "--process", "world", "--version", "2"]);
    assert_eq!(code, 3, "paused: {out}");
    assert!(out.contains("paused (until promoted or resumed)"), "{out}");
    // One rollout at a time: a second deploy is refused while it is in progress.
    let (code, out, _) = g.run(&["deploy", "dev", "--process", "world", "--version", "2"]);
    assert_eq!(code, 1);
    assert!(out.contains("is in progress (started by ann@ci): resume or abort it"), "{out}");
    // Abort rolls it back: exit 2.
    let (code, out, _) = g.run(&["abort", "dev", "--process", "world"]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("aborted by an operator"), "{out}");
    // Again, and this time promote: the pause is skipped, the canary takes over.
    assert_eq!(g.run(&["deploy", "dev", "--process", "world", "--version", "2"]).0, 3);
    let (code, out, _) = g.run(&["promote", "dev", "--process", "world", "--deployer", "bob@ci"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("skipped") && out.contains("succeeded"), "{out}");
    // Another deployer holding a fresh lease: refused with who, exit 5.
    g.release(|m| format!("{m}\nDeployedVersion = 3\n"));
    let lease = g.path(".ao-deploy/dev/world/lease.json");
    let _held =
        ao_deploy::acquire(&lease, "carol@elsewhere", "carols-rollout", ao_health::Timestamp::now(), 600_000)
            .unwrap();
    let (code, out, _) = g.run(&["deploy", "dev", "--process", "world", "--version", "3"]);
    assert_eq!(code, 5, "{out}");
    assert!(out.contains("being deployed by carol@elsewhere (rollout carols-rollout"), "{out}");
    // Bad input: clear errors, exit 1.
    let (code, _, err) = g.run(&["deploy", "qa"]);
    assert_eq!(code, 1);
    assert!(err.contains("no environment named \"qa\""), "{err}");
    let (code, _, err) = g.run(&["deploy", "dev", "--process", "lobby"]);
    assert_eq!(code, 1);
    assert!(err.contains("dev has no process \"lobby\" (processes: rules, world)"), "{err}");
    let (code, out, _) = g.run(&["resume", "dev", "--process", "world"]);
    assert_eq!(code, 1);
    assert!(out.contains("no rollout is in progress in dev"), "{out}");
    for cmd in ["deploy", "rollback", "promote", "pause", "resume", "abort", "history"] {
        let (code, out, _) = g.run(&[cmd, "--help"]);
        assert_eq!(code, 0);
        if cmd != "history" {
            assert!(out.contains("Exit codes: 0 done"), "{cmd}: {out}");
        }
    }
}

#[test]
fn a_bad_command_line_exits_1_never_2_which_means_rolled_back() {
    let g = Game::new();
    for args in [
        &["deploy", "--no-such-flag", "dev"][..],
        &["deploy"][..],
        &["rollback", "dev", "extra"][..],
        &["history", "--json=maybe"][..],
        &["pause"][..],
    ] {
        let (code, _, err) = g.run(args);
        assert_eq!(code, 1, "{args:?}: {err}");
        assert!(err.starts_with("error:"), "{args:?}: {err}");
    }
    // A history directory that cannot be read is an error, not an empty history.
    let (code, out, err) = g.run(&["history", "--dir", "ao-env.toml"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("reading the deployment history in ao-env.toml"), "{err}");
    let (code, out, _) = g.run(&["history", "--dir", "no-such-dir"]);
    assert_eq!((code, out.as_str()), (0, "no deployments yet\n"));
    // A deploy config named explicitly must exist: defaults stand in only for the implicit one.
    let (code, out, err) = g.run(&["deploy", "dev", "--plan", "--deploy-config", "no-such-deploy.toml"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("no-such-deploy.toml"), "{err}");
    assert_eq!(err.matches("os error 2").count(), 1, "the cause is said once: {err}");
    for cmd in ["deploy", "rollback", "promote", "pause", "resume", "abort", "history"] {
        let (code, out, _) = g.run(&[cmd, "--help"]);
        assert_eq!(code, 0, "{cmd} --help");
        assert!(out.contains("Exit codes: 0 done"), "{cmd} --help documents the exit codes:\n{out}");
    }
}
