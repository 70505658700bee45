//! The arena game on ao-local, deployed by ao-deploy: releases built by
//! ao-bundle from `examples/arena`, a blue process behind a router, players.
#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use ao_bundle::{BundleOptions, Manifest, MemoryLoader, bundle};
use ao_deploy::{
    CodeStore, DEPLOY_LUA, Driver, Error, HealthWindow, MemoryCodeStore, MemorySnapshots, Migration,
    NoMigration, Release, ReleaseRef, RolloutSpec, SmokeTest, SpawnLookup, SpawnSpec, StateOptions, Strategy,
    Target, Validation, configure, router_boot,
};
use ao_local::LocalAo;
use ao_transport::retry::{Clock, Jitter, RetryPolicy};
use ao_transport::{Address, AoTransport, Message, ProcessId};

const ARENA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/arena/src");

fn sources() -> Vec<(String, String)> {
    ["main.lua", "arena/config.lua", "arena/ecs.lua", "arena/components.lua", "arena/systems.lua"]
        .iter()
        .map(|f| ((*f).to_owned(), std::fs::read_to_string(Path::new(ARENA).join(f)).unwrap()))
        .collect()
}

/// A release of the arena, its `main.lua` changed by `patch`, bundled and
/// manifested by ao-bundle.
pub fn arena_release(version: &str, patch: impl Fn(&str) -> String) -> Release {
    let mut loader = MemoryLoader::new();
    for (path, text) in sources() {
        let text = if path == "main.lua" { patch(&text) } else { text };
        loader = loader.file(&path, &text);
    }
    let options = BundleOptions::new("main");
    let built = bundle(&loader, &options).unwrap();
    let manifest = Manifest::new(&built, &options, "arena.lua").to_json();
    Release::from_code("arena", version, built.code.into_bytes(), &manifest, serde_json::Map::new()).unwrap()
}

/// v1: the arena as it is.
pub fn v1() -> Release {
    arena_release("1", str::to_owned)
}

/// v2: the same rules plus a `Version` handler.
pub fn v2() -> Release {
    arena_release("2", |m| {
        format!(
            "{m}\nHandlers.add('Version', 'Version', function(msg) msg.reply({{ Action = 'Version', Data = '2' }}) end)\n"
        )
    })
}

/// A release whose `Ping` fails: its smoke test and probes fail.
pub fn broken() -> Release {
    arena_release("3-broken", |m| {
        m.replace("msg.reply({ Action = 'Pong', Data = 'pong' })", "error('ping is broken')")
    })
}

pub fn globals() -> Vec<String> {
    vec!["Arena".into()]
}

/// A player's wallet.
pub fn player(n: u32) -> Address {
    let mut b = [0u8; 32];
    b[..4].copy_from_slice(&n.to_le_bytes());
    b[31] = 0x40;
    Address::from_bytes(b)
}

/// The arena deployed by hand (what a first install leaves): blue with the
/// module, v1 and its config, and a router in front of it.
pub struct World {
    pub ao: LocalAo,
    pub blue: ProcessId,
    pub router: ProcessId,
    pub code: MemoryCodeStore,
    pub v1: Release,
}

pub fn install(ao: &LocalAo, release: &Release, routed: bool) -> (ProcessId, Option<ProcessId>) {
    let blue = ao.spawn_aos("").unwrap();
    let router = routed.then(|| ao.spawn_aos(&router_boot(&blue, &ao.signer())).unwrap());
    for src in [
        DEPLOY_LUA.to_owned(),
        configure(release.reference(), router.as_ref(), &globals()),
        String::from_utf8(release.code().to_vec()).unwrap(),
    ] {
        let r = ao.eval(&blue, &src).unwrap();
        assert!(r.error.is_none(), "{:?}", r.error);
    }
    (blue, router)
}

impl World {
    pub fn new(ao: LocalAo) -> Self {
        let v1 = v1();
        let (blue, router) = install(&ao, &v1, true);
        let code = MemoryCodeStore::new();
        code.put_release(&v1).unwrap();
        Self { ao, blue, router: router.unwrap(), code, v1 }
    }

    pub fn target(&self) -> Target {
        Target { name: "world/0".into(), process: self.blue.clone(), router: Some(self.router.clone()) }
    }
}

pub fn smoke() -> Vec<SmokeTest> {
    vec![
        SmokeTest {
            name: "ping".into(),
            tags: vec![("Action".into(), "Ping".into())],
            data: String::new(),
            expect: ao_deploy::Expectation {
                tags: vec![("Action".into(), "Pong".into())],
                data: Some("pong".into()),
                ..Default::default()
            },
        },
        SmokeTest {
            name: "state".into(),
            tags: vec![("Action".into(), "State".into())],
            data: String::new(),
            expect: ao_deploy::Expectation { data_contains: Some("\"size\"".into()), ..Default::default() },
        },
    ]
}

pub fn spawn_spec() -> SpawnSpec {
    SpawnSpec {
        module: ao_local::aos_module(),
        scheduler: ao_local::local_scheduler(),
        tags: vec![("Name".into(), "arena-green".into())],
        boot: None,
    }
}

pub fn spec(
    id: &str,
    release: &ReleaseRef,
    previous: &ReleaseRef,
    strategy: Strategy,
    authority: Address,
) -> RolloutSpec {
    RolloutSpec {
        id: id.into(),
        environment: "dev".into(),
        release: release.clone(),
        previous: previous.clone(),
        strategy,
        validation: Validation {
            smoke: smoke(),
            health: HealthWindow { duration_ms: 3_000, interval_ms: 1_000, max_failures: 0 },
        },
        state: StateOptions { globals: globals(), chunk_bytes: 512, ..StateOptions::default() },
        finalize: ao_deploy::Finalize::Auto,
        authority,
        labels: BTreeMap::new(),
    }
}

/// Every local process is a candidate for a spawn reference.
pub struct LocalLookup(pub LocalAo);

impl SpawnLookup for LocalLookup {
    fn candidates(&self, _reference: &str) -> Result<Vec<ProcessId>, Error> {
        Ok(self.0.processes())
    }
}

pub fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        initial_delay: std::time::Duration::from_millis(50),
        max_delay: std::time::Duration::from_secs(1),
        multiplier: 2.0,
        max_attempts: 12,
        deadline: Some(std::time::Duration::from_secs(60)),
        jitter: Jitter::Full,
    }
}

pub fn driver<'a>(
    ao: &LocalAo,
    code: &'a dyn CodeStore,
    snaps: &'a MemorySnapshots,
    migration: &'a dyn Migration,
) -> Driver<'a> {
    let transport: Arc<dyn AoTransport> = Arc::new(ao.clone());
    let clock: Arc<dyn Clock> = Arc::new(ao.clone());
    Driver::new(transport, clock, code, snaps, migration).retry_policy(fast_retry())
}

pub static NO_MIGRATION: NoMigration = NoMigration;

/// A dry-run reply's data.
pub fn ask(ao: &LocalAo, pid: &ProcessId, action: &str) -> String {
    let r = ao.simulate(Message::builder(pid.clone()).tag("Action", action).build().unwrap()).unwrap();
    assert!(r.error.is_none(), "{action}: {:?}", r.error);
    r.messages
        .iter()
        .find(|m| m.tag("Action") == Some(action))
        // Else the first reply (Ping -> Pong).
        .or_else(|| r.messages.first())
        .map(|m| m.data_str().unwrap().to_owned())
        .unwrap_or_default()
}

pub fn info(ao: &LocalAo, pid: &ProcessId) -> serde_json::Value {
    serde_json::from_str(&ask(ao, pid, "Deploy-Info")).unwrap()
}

pub fn router_status(ao: &LocalAo, router: &ProcessId) -> serde_json::Value {
    serde_json::from_str(&ask(ao, router, "Deploy-Router-Status")).unwrap()
}

/// The game state as the game reports it (JSON, players by entity).
pub fn game_state(ao: &LocalAo, pid: &ProcessId) -> String {
    ask(ao, pid, "State")
}

/// Player traffic: joins, then moves in a deterministic pseudo-random order.
pub struct Players {
    pub n: u32,
    pub sent: u64,
    pub failed: u64,
    seed: u64,
}

impl Players {
    pub fn new(n: u32, seed: u64) -> Self {
        Self { n, sent: 0, failed: 0, seed }
    }

    fn next(&mut self) -> u64 {
        self.seed = self.seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        self.seed >> 33
    }

    /// The next player message: a join for each player first, then moves.
    pub fn message(&mut self, to: &ProcessId) -> (Address, Message) {
        let k = self.sent + self.failed;
        if k < u64::from(self.n) {
            let p = player(k as u32);
            return (
                p,
                Message::builder(to.clone())
                    .tag("Action", "Join")
                    .tag("Name", format!("p{k}"))
                    .build()
                    .unwrap(),
            );
        }
        let who = player((self.next() % u64::from(self.n)) as u32);
        let dir = ["N", "S", "E", "W"][(self.next() % 4) as usize];
        (who, Message::builder(to.clone()).tag("Action", "Move").tag("Direction", dir).build().unwrap())
    }

    /// Sends `count` messages to `to`; a message whose send fails (an injected
    /// fault before it was taken) is not counted as sent and is not retried
    /// (retrying a reply lost after delivery would send it twice).
    pub fn send(&mut self, ao: &LocalAo, to: &ProcessId, count: u32) {
        for _ in 0..count {
            let (who, msg) = self.message(to);
            match ao.submit_as(&who, msg) {
                Ok(_) => self.sent += 1,
                Err(e) if format!("{e}").contains("reply dropped") => self.sent += 1,
                Err(_) => self.failed += 1,
            }
        }
    }
}
