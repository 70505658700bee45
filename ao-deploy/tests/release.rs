//! Releases from the arena's real files: built by ao-bundle, configured by
//! ao-env; refused with the reason before anything changes when the bundle
//! does not match its manifest or the environment does not validate. And the
//! transport's error classes: retryable errors are retried, final ones roll back.

mod support;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use ao_deploy::{
    CodeStore, Driver, ErrorKind, MemorySnapshots, Phase, Release, Rollout, Runner, Stop, Strategy,
};
use ao_env::{InstanceKey, Project};
use ao_health::Timestamp;
use ao_local::LocalAo;
use ao_transport::retry::Clock;
use ao_transport::{
    AoTransport, EvalResult, Message, MessageId, ProcessId, SpawnRequest, TransportError, TransportErrorKind,
    TransportFuture,
};
use support::{World, spawn_spec, spec};

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if ["dist", ".ao-env", ".ao-deploy"].contains(&e.file_name().to_str().unwrap()) {
            continue;
        }
        if e.path().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

fn arena_copy() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("arena");
    copy_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/arena"), &dir);
    let config = ao_bundle::Config::load(&dir.join("ao-bundle.toml")).unwrap();
    ao_bundle::Bundler::new().build_targets(&config, &[]).unwrap();
    (tmp, dir)
}

fn refusal(e: &ao_deploy::Error) -> String {
    match e.kind() {
        ErrorKind::ReleaseRefused { reason, .. } => reason.clone(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn releases_are_refused_before_anything_changes() {
    let (_tmp, dir) = arena_copy();
    let project = Project::load(&dir.join("ao-env.toml")).unwrap();
    let key = InstanceKey::new("world", 0);
    let (release, spawn) = Release::from_environment(&project, "dev", &key, "1.0").unwrap();
    // The environment's config comes along: dev's overlay sets 4 players.
    assert_eq!(release.reference().config["max_players"], 4);
    assert!(spawn.tags.iter().any(|(n, v)| n == "Name" && v == "arena-dev-world-0"));
    assert_eq!(spawn.boot.as_deref(), Some(ao_env::INFO_LUA));

    // The bundle changed after its manifest was written: refused, and ao-bundle agrees.
    let bundle = dir.join("dist/arena.lua");
    let mut code = std::fs::read_to_string(&bundle).unwrap();
    code.push_str("\n-- tampered\n");
    std::fs::write(&bundle, &code).unwrap();
    let err = Release::from_environment(&project, "dev", &key, "1.0").unwrap_err();
    let reason = refusal(&err);
    assert!(
        reason.contains("hashes to") && reason.contains("its manifest says") && reason.contains("rebuild it"),
        "{reason}"
    );
    let manifest = ao_bundle::Manifest::from_json(
        &std::fs::read_to_string(dir.join("dist/arena.lua.manifest.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(ao_bundle::verify(code.as_bytes(), &manifest, None).unwrap().len(), 1);
    let err = Release::from_files("arena", "1.0", &bundle, None, serde_json::Map::new()).unwrap_err();
    assert!(refusal(&err).contains("rebuild it"));

    // An environment that does not validate: refused with every problem, file and line.
    std::fs::write(dir.join("ao-env.dev.toml"), "[processes.world]\nshard = 2\n").unwrap();
    let project = Project::load(&dir.join("ao-env.toml")).unwrap();
    let err = Release::from_environment(&project, "dev", &key, "1.0").unwrap_err();
    let reason = refusal(&err);
    assert!(reason.contains("unknown key `shard`") && reason.contains("ao-env.dev.toml:2:1"), "{reason}");
    let err = Release::from_environment(&project, "qa", &key, "1.0").unwrap_err();
    assert!(refusal(&err).contains("no environment named"), "{err}");
}

/// A transport that fails the first `n` sends to one process with `kind`.
struct Flaky {
    inner: LocalAo,
    target: ProcessId,
    kind: TransportErrorKind,
    left: AtomicU32,
}

impl AoTransport for Flaky {
    fn spawn(&self, request: SpawnRequest) -> TransportFuture<'_, ProcessId> {
        self.inner.spawn(request)
    }

    fn send(&self, message: Message) -> TransportFuture<'_, MessageId> {
        if *message.target() == self.target
            && self.left.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok()
        {
            let kind = self.kind;
            return Box::pin(async move { Err(TransportError::new(kind, "injected")) });
        }
        self.inner.send(message)
    }

    fn result(&self, process: ProcessId, message: MessageId) -> TransportFuture<'_, EvalResult> {
        self.inner.result(process, message)
    }

    fn dry_run(&self, message: Message) -> TransportFuture<'_, EvalResult> {
        self.inner.dry_run(message)
    }
}

fn run_with(kind: TransportErrorKind, failures: u32) -> (Rollout, u32) {
    let w = World::new(LocalAo::new());
    let v2 = support::v2();
    w.code.put_release(&v2).unwrap();
    let s = spec(
        "flaky",
        v2.reference(),
        w.v1.reference(),
        Strategy::BlueGreen { target: w.target(), spawn: spawn_spec(), scale_down_delay_ms: 0 },
        w.ao.signer(),
    );
    let flaky = Arc::new(Flaky {
        inner: w.ao.clone(),
        target: w.router.clone(),
        kind,
        left: AtomicU32::new(failures),
    });
    let clock: Arc<dyn Clock> = Arc::new(w.ao.clone());
    let snaps = MemorySnapshots::default();
    let mut d = Driver::new(flaky.clone(), clock, &w.code, &snaps, &support::NO_MIGRATION)
        .retry_policy(support::fast_retry());
    let mut r = Rollout::new(s, Timestamp::from_millis(0)).unwrap();
    let pending = r.drain_actions();
    let report = Runner::new(&mut d).run(&mut r, pending).unwrap();
    assert!(matches!(report.stop, Stop::Finished(_)));
    (r, flaky.left.load(Ordering::SeqCst))
}

#[test]
fn retryable_errors_are_retried_and_final_ones_roll_back() {
    // Three timeouts holding the router: retried with backoff, the rollout succeeds.
    let (r, left) = run_with(TransportErrorKind::Timeout, 3);
    assert_eq!((r.phase(), left), (Phase::Succeeded, 0));
    // A final error (the router refuses the deployer): no retry, rollback.
    let (r, left) = run_with(TransportErrorKind::Unauthorized, 1);
    assert_eq!((r.phase(), left), (Phase::RolledBack, 0));
    let f = r.failure().unwrap();
    assert_eq!(f.step, "hold traffic");
    assert!(f.reason.contains("unauthorized: injected (after 1 attempt, error is final)"), "{}", f.reason);
    // As many retryable errors as the policy's 12 attempts: given up, rolled back.
    let (r, left) = run_with(TransportErrorKind::Unavailable, 12);
    assert_eq!((r.phase(), left), (Phase::RolledBack, 0));
    assert!(r.failure().unwrap().reason.contains("attempts exhausted"), "{:?}", r.failure());
}
