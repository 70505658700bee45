//! ao-deploy on ao-local with the arena game:
//! - the router's added cost per forwarded message, beside a direct send to
//!   the same game (with and without ao-deploy's process module);
//! - the time to deploy the arena blue-green (16 players, 2 000 moves of state
//!   moved and checked), and to roll back a release whose smoke test fails,
//!   or after the switch (an operator's abort: the state moves back).
//!
//! Before timing, one blue-green under load is checked and its figures printed:
//! messages sent, handled, lost, doubled.
//!
//! `cargo bench -p ao-ops-benches --bench deploy`

use std::cell::Cell;
use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ao_bundle::{BundleOptions, Manifest, MemoryLoader, bundle};
use ao_deploy::{
    Action, ActionKind, CodeStore, Command, Control, Driver, Expectation, Finalize, HealthWindow,
    MemoryCodeStore, MemorySnapshots, NoMigration, Phase, QueuedCommands, Release, Rollout, RolloutSpec,
    Runner, SmokeTest, SpawnSpec, StateOptions, Stop, Strategy, Target, Validation, configure, router_boot,
};
use ao_health::Timestamp;
use ao_local::LocalAo;
use ao_transport::retry::Clock;
use ao_transport::{Address, AoTransport, Message, ProcessId};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};

const ARENA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/arena/src");

fn release(version: &str, patch: impl Fn(&str) -> String) -> Release {
    let mut loader = MemoryLoader::new();
    for f in ["main.lua", "arena/config.lua", "arena/ecs.lua", "arena/components.lua", "arena/systems.lua"] {
        let text = std::fs::read_to_string(format!("{ARENA}/{f}")).expect("arena source");
        loader = loader.file(f, &if f == "main.lua" { patch(&text) } else { text });
    }
    let options = BundleOptions::new("main");
    let built = bundle(&loader, &options).expect("bundle");
    let manifest = Manifest::new(&built, &options, "arena.lua").to_json();
    Release::from_code("arena", version, built.code.into_bytes(), &manifest, serde_json::Map::new())
        .expect("release")
}

fn player(n: u32) -> Address {
    let mut b = [0u8; 32];
    b[..4].copy_from_slice(&n.to_le_bytes());
    b[31] = 0x40;
    Address::from_bytes(b)
}

struct World {
    ao: LocalAo,
    blue: ProcessId,
    router: ProcessId,
    code: MemoryCodeStore,
    v1: Release,
}

fn install(ao: &LocalAo, r: &Release, module: bool) -> (ProcessId, ProcessId) {
    let blue = ao.spawn_aos("").expect("spawn");
    let router = ao.spawn_aos(&router_boot(&blue, &ao.signer())).expect("router");
    let mut sources = Vec::new();
    if module {
        sources.push(ao_deploy::DEPLOY_LUA.to_owned());
        sources.push(configure(r.reference(), Some(&router), &["Arena".to_owned()]));
    }
    sources.push(String::from_utf8(r.code().to_vec()).expect("utf-8"));
    for s in sources {
        assert!(ao.eval(&blue, &s).expect("eval").error.is_none());
    }
    (blue, router)
}

/// Players join and move: `count` messages, through `to`.
fn play(ao: &LocalAo, to: &ProcessId, players: u32, count: u32, seed: &mut u64) -> u64 {
    let mut sent = 0;
    for k in 0..count {
        let msg = if k < players {
            Message::builder(to.clone()).tag("Action", "Join").build()
        } else {
            *seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            let dir = ["N", "S", "E", "W"][(*seed >> 40) as usize % 4];
            Message::builder(to.clone()).tag("Action", "Move").tag("Direction", dir).build()
        }
        .expect("message");
        let who = player(if k < players { k } else { (*seed >> 33) as u32 % players });
        ao.submit_as(&who, msg).expect("send");
        sent += 1;
    }
    sent
}

fn world(players: u32, moves: u32) -> World {
    let ao = LocalAo::new();
    let v1 = release("1", str::to_owned);
    let (blue, router) = install(&ao, &v1, true);
    let code = MemoryCodeStore::new();
    code.put_release(&v1).expect("code");
    let mut seed = 7;
    play(&ao, &router, players, players + moves, &mut seed);
    World { ao, blue, router, code, v1 }
}

fn spec(w: &World, release: &Release) -> RolloutSpec {
    RolloutSpec {
        id: "bench".into(),
        environment: "bench".into(),
        release: release.reference().clone(),
        previous: w.v1.reference().clone(),
        strategy: Strategy::BlueGreen {
            target: Target {
                name: "world/0".into(),
                process: w.blue.clone(),
                router: Some(w.router.clone()),
            },
            spawn: SpawnSpec {
                module: ao_local::aos_module(),
                scheduler: ao_local::local_scheduler(),
                tags: vec![],
                boot: None,
            },
            scale_down_delay_ms: 30_000,
        },
        validation: Validation {
            smoke: vec![SmokeTest {
                name: "ping".into(),
                tags: vec![("Action".into(), "Ping".into())],
                data: String::new(),
                expect: Expectation {
                    tags: vec![("Action".into(), "Pong".into())],
                    ..Expectation::default()
                },
            }],
            // 60 s of probes every 10 s, on ao-local's virtual clock.
            health: HealthWindow { duration_ms: 60_000, interval_ms: 10_000, max_failures: 0 },
        },
        state: StateOptions {
            globals: vec!["Arena".into()],
            chunk_bytes: 16 * 1024,
            ..StateOptions::default()
        },
        finalize: Finalize::Auto,
        authority: w.ao.signer(),
        labels: BTreeMap::new(),
    }
}

fn deploy(
    w: &World,
    release: &Release,
    control: &mut dyn Control,
    mut between: impl FnMut(&Rollout, &Action),
) -> Rollout {
    w.code.put_release(release).expect("code");
    let snaps = MemorySnapshots::default();
    let transport: Arc<dyn AoTransport> = Arc::new(w.ao.clone());
    let clock: Arc<dyn Clock> = Arc::new(w.ao.clone());
    let mut d = Driver::new(transport, clock, &w.code, &snaps, &NoMigration);
    let mut r = Rollout::new(spec(w, release), Timestamp::from_millis(0)).expect("spec");
    let pending = r.drain_actions();
    let report =
        Runner::new(&mut d).control(control).between(&mut between).run(&mut r, pending).expect("run");
    assert!(matches!(report.stop, Stop::Finished(_)));
    r
}

/// Sends an abort once the flag is set.
struct AbortWhen<'c>(&'c Cell<bool>, bool);

impl Control for AbortWhen<'_> {
    fn poll(&mut self) -> Vec<Command> {
        if self.0.get() && !self.1 {
            self.1 = true;
            vec![Command::Abort]
        } else {
            vec![]
        }
    }
}

fn info(ao: &LocalAo, pid: &ProcessId) -> serde_json::Value {
    let r = ao
        .simulate(Message::builder(pid.clone()).tag("Action", "Deploy-Info").build().expect("msg"))
        .expect("info");
    serde_json::from_slice(&r.messages[0].data).expect("json")
}

/// One blue-green under load, checked: every message handled once.
fn check_under_load() {
    let w = world(16, 2_000);
    let v2 = release("2", |m| format!("{m}\nDeployVersion = 2\n"));
    let mut seed = 99;
    let mut sent = 16 + 2_000;
    let ao = w.ao.clone();
    let router = w.router.clone();
    let start = Instant::now();
    let r =
        deploy(&w, &v2, &mut QueuedCommands(vec![]), |_, _| sent += play(&ao, &router, 16, 300, &mut seed));
    let took = start.elapsed();
    assert_eq!(r.phase(), Phase::Succeeded);
    let status = ao
        .simulate(
            Message::builder(w.router.clone()).tag("Action", "Deploy-Router-Status").build().expect("m"),
        )
        .expect("status");
    let status: serde_json::Value = serde_json::from_slice(&status.messages[0].data).expect("json");
    let green: ProcessId = status["active"].as_str().expect("active").parse().expect("pid");
    let ledger = &info(&w.ao, &green)["ledger"];
    let handled = ledger["count"].as_u64().expect("count");
    let dup = ledger["dup"].as_u64().expect("dup");
    println!(
        "blue-green under load: {sent} player messages sent, {handled} handled, {} lost, {dup} doubled, {} buffered during the switch; whole rollout with the load {took:.2?}",
        sent - handled,
        status["stats"]["buffered"]
    );
    assert_eq!((handled, dup), (sent, 0));
}

fn router_cost(c: &mut Criterion) {
    let mut g = c.benchmark_group("forward_one_message");
    g.throughput(Throughput::Elements(1));
    g.measurement_time(Duration::from_secs(4));
    g.sample_size(20);
    let v1 = release("1", str::to_owned);
    let ping = |to: &ProcessId| Message::builder(to.clone()).tag("Action", "Ping").build().expect("msg");
    for (name, module, through_router) in [
        ("direct_plain_arena", false, false),
        ("direct_arena_with_deploy_module", true, false),
        ("through_router", true, true),
    ] {
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let ao = LocalAo::new();
                let (blue, router) = install(&ao, &v1, module);
                let msg = ping(if through_router { &router } else { &blue });
                let who = player(1);
                let start = Instant::now();
                for _ in 0..iters {
                    black_box(ao.submit_as(&who, msg.clone()).expect("send"));
                }
                start.elapsed()
            });
        });
    }
    g.finish();
}

fn deploy_times(c: &mut Criterion) {
    check_under_load();
    let mut g = c.benchmark_group("arena_16_players_2000_moves");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(8));
    let v2 = release("2", |m| format!("{m}\nDeployVersion = 2\n"));
    let broken =
        release("3", |m| m.replace("msg.reply({ Action = 'Pong', Data = 'pong' })", "error('broken')"));
    g.bench_function("deploy_blue_green", |b| {
        b.iter_batched(
            || world(16, 2_000),
            |w| {
                assert_eq!(deploy(&w, &v2, &mut QueuedCommands(vec![]), |_, _| {}).phase(), Phase::Succeeded);
                w // dropped outside the timing
            },
            BatchSize::PerIteration,
        );
    });
    g.bench_function("roll_back_failed_smoke_test", |b| {
        b.iter_batched(
            || world(16, 2_000),
            |w| {
                let phase = deploy(&w, &broken, &mut QueuedCommands(vec![]), |_, _| {}).phase();
                assert_eq!(phase, Phase::RolledBack);
                w
            },
            BatchSize::PerIteration,
        );
    });
    g.bench_function("roll_back_after_switch_abort", |b| {
        b.iter_batched(
            || world(16, 2_000),
            |w| {
                // Abort once green serves (its first probe ran): the state goes back to blue.
                let probed = Cell::new(false);
                let mut control = AbortWhen(&probed, false);
                let r = deploy(&w, &v2, &mut control, |r, a| {
                    if matches!(a.kind, ActionKind::Probe { .. }) && r.phase() == Phase::Progressing {
                        probed.set(true);
                    }
                });
                assert_eq!(r.phase(), Phase::RolledBack);
                (w, r)
            },
            BatchSize::PerIteration,
        );
    });
    g.finish();
}

criterion_group!(benches, router_cost, deploy_times);
criterion_main!(benches);
