//! ao-health's metric updates beside prometheus-client and the `metrics`
//! crate (with metrics-util's atomic registry), and the cost of full
//! instrumentation on two tick loops: the arena on ao-local (real Lua) and a
//! Rust ECS loop of the same shape.
//!
//! `cargo bench -p ao-ops-benches --bench health`
//!
//! Overhead is measured twice: as the difference between the bare and the
//! instrumented loop (noisy on a shared machine), and as the instrumentation
//! alone, per tick, divided by the bare tick (precise).

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use ao_health::{ActionMetrics, Buckets, EcsMetrics, Histogram, ProcessMetrics, Registry, TickSampler};
use ao_local::LocalAo;
use ao_transport::{Address, Message, ProcessId};
use criterion::{Criterion, criterion_group, criterion_main};
use metrics_util::registry::{AtomicStorage, Registry as MetricsRegistry};

const VALUES: [f64; 8] = [0.0003, 0.002, 0.04, 0.7, 0.012, 3.0, 0.0001, 0.25];

fn metric_ops(c: &mut Criterion) {
    let ours = Registry::new();
    let counter = ours.counter("c", "").unwrap();
    let gauge = ours.gauge("g", "").unwrap();
    let hist = ours.histogram("h", "", &Buckets::default_seconds()).unwrap();
    let family = ours.counter_family("f", "", &["process", "action"]).unwrap();

    let pc_counter = prometheus_client::metrics::counter::Counter::<u64>::default();
    let pc_gauge = prometheus_client::metrics::gauge::Gauge::<f64, AtomicU64>::default();
    let pc_hist =
        prometheus_client::metrics::histogram::Histogram::new(Buckets::default_seconds().bounds().to_vec());
    let pc_family = prometheus_client::metrics::family::Family::<
        Vec<(String, String)>,
        prometheus_client::metrics::counter::Counter,
    >::default();
    let pc_labels =
        vec![("process".to_owned(), "arena-1".to_owned()), ("action".to_owned(), "Move".to_owned())];

    let mr = MetricsRegistry::<metrics::Key, AtomicStorage>::atomic();
    let key = metrics::Key::from_name("c");
    let m_counter = mr.get_or_create_counter(&key, |c| metrics::Counter::from_arc(c.clone()));
    let m_gauge =
        mr.get_or_create_gauge(&metrics::Key::from_name("g"), |g| metrics::Gauge::from_arc(g.clone()));
    let m_bucket = mr.get_or_create_histogram(&metrics::Key::from_name("h"), Arc::clone);
    let m_hist = metrics::Histogram::from_arc(m_bucket.clone());

    // The floor of any duration metric: one clock read.
    let mut g = c.benchmark_group("clock_read");
    g.bench_function("std_instant_now", |b| b.iter(|| black_box(Instant::now())));
    g.finish();

    let mut g = c.benchmark_group("counter_inc");
    g.bench_function("ao_health", |b| b.iter(|| black_box(&counter).inc()));
    g.bench_function("prometheus_client", |b| b.iter(|| black_box(&pc_counter).inc()));
    g.bench_function("metrics", |b| b.iter(|| black_box(&m_counter).increment(1)));
    g.finish();

    let mut g = c.benchmark_group("gauge_set");
    let mut i = 0usize;
    g.bench_function("ao_health", |b| {
        b.iter(|| {
            i = i.wrapping_add(1);
            black_box(&gauge).set(VALUES[i & 7]);
        });
    });
    g.bench_function("prometheus_client", |b| {
        b.iter(|| {
            i = i.wrapping_add(1);
            black_box(&pc_gauge).set(VALUES[i & 7]);
        });
    });
    g.bench_function("metrics", |b| {
        b.iter(|| {
            i = i.wrapping_add(1);
            black_box(&m_gauge).set(VALUES[i & 7]);
        });
    });
    g.finish();

    let mut g = c.benchmark_group("histogram_observe");
    g.bench_function("ao_health", |b| {
        b.iter(|| {
            i = i.wrapping_add(1);
            black_box(&hist).observe(VALUES[i & 7]);
        });
    });
    g.bench_function("prometheus_client", |b| {
        b.iter(|| {
            i = i.wrapping_add(1);
            black_box(&pc_hist).observe(VALUES[i & 7]);
        });
    });
    // metrics-util's bucket keeps every value until an exporter drains it:
    // drain between samples, outside the timing.
    g.bench_function("metrics", |b| {
        b.iter_custom(|iters| {
            m_bucket.clear();
            let start = Instant::now();
            for _ in 0..iters {
                i = i.wrapping_add(1);
                black_box(&m_hist).record(VALUES[i & 7]);
            }
            start.elapsed()
        });
    });
    g.finish();

    // Not the hot path (handles are resolved once), but what a lookup costs.
    let mut g = c.benchmark_group("labelled_lookup");
    g.bench_function("ao_health", |b| b.iter(|| family.with(black_box(&["arena-1", "Move"])).inc()));
    g.bench_function("prometheus_client", |b| {
        b.iter(|| pc_family.get_or_create(black_box(&pc_labels)).inc());
    });
    g.finish();
}

// ---- The arena on ao-local ------------------------------------------------

const PLAYERS: u8 = 16;
const DIRS: [&str; 4] = ["N", "E", "S", "W"];

fn load_arena(ao: &LocalAo) -> ProcessId {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/arena");
    let list = std::fs::read_to_string(root.join("modules.txt")).expect("modules.txt");
    let pid = ao.spawn_aos("").expect("spawn");
    for line in list.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()) {
        let (name, path) = line.split_once(' ').expect("module line");
        let src = std::fs::read_to_string(root.join(path)).expect("module");
        let chunk = if name == "main" {
            src
        } else {
            format!("package.loaded[{name:?}] = (function(...)\n{src}\nend)({name:?})")
        };
        ao.eval(&pid, &chunk).expect("load");
    }
    pid
}

struct Arena {
    ao: LocalAo,
    players: Vec<(Address, [Message; 4])>,
    tick: Message,
    owner: Address,
}

fn arena() -> Arena {
    let ao = LocalAo::new();
    let pid = load_arena(&ao);
    let players = (1..=PLAYERS)
        .map(|n| {
            let w = Address::from_bytes([n; 32]);
            ao.call_as(&w, Message::builder(pid.clone()).tag("Action", "Join").build().expect("join"))
                .expect("join");
            let moves = DIRS.map(|d| {
                Message::builder(pid.clone()).tag("Action", "Move").tag("Direction", d).build().expect("move")
            });
            (w, moves)
        })
        .collect();
    let tick = Message::builder(pid).tag("Action", "Tick").build().expect("tick");
    Arena { owner: ao.signer(), ao, players, tick }
}

struct ArenaMetrics {
    process: ProcessMetrics,
    moves: ActionMetrics,
    ticks: ActionMetrics,
}

/// One round: every player moves, then the owner ticks.
fn arena_round(a: &Arena, round: usize, m: Option<&ArenaMetrics>) {
    let timer = m.map(|m| m.process.tick_timer());
    for (i, (w, moves)) in a.players.iter().enumerate() {
        let (_, r) = a.ao.call_as(w, moves[(round + i) % 4].clone()).expect("move");
        if let Some(m) = m {
            m.moves.observe(&r);
        }
    }
    let (_, r) = a.ao.call_as(&a.owner, a.tick.clone()).expect("tick");
    if let Some(m) = m {
        m.ticks.observe(&r);
    }
    drop(timer);
}

fn arena_tick(c: &mut Criterion) {
    let registry = Registry::new();
    let ecs = EcsMetrics::register(&registry).expect("register");
    let process = ecs.process("arena-1");
    let m = ArenaMetrics { moves: process.action("Move"), ticks: process.action("Tick"), process };

    let mut g = c.benchmark_group("arena_round_ao_local");
    g.measurement_time(Duration::from_secs(8));
    g.sample_size(30);
    // A fresh arena per sample: ao-local keeps every message's result.
    for (name, instrumented) in [("bare", false), ("instrumented", true)] {
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let a = arena();
                let start = Instant::now();
                for r in 0..iters as usize {
                    arena_round(&a, r, instrumented.then_some(&m));
                }
                start.elapsed()
            });
        });
    }
    // The instrumentation of one round alone, on a fixed result.
    let result = ao_transport::EvalResult::default();
    g.bench_function("instrumentation_only", |b| {
        b.iter(|| {
            let timer = m.process.tick_timer();
            for _ in 0..PLAYERS {
                m.moves.observe(black_box(&result));
            }
            m.ticks.observe(black_box(&result));
            drop(timer);
        });
    });
    g.finish();
}

// ---- A Rust ECS loop of the same shape --------------------------------------

/// The arena's world in Rust: component stores, a grid, one Move per player per tick.
struct World {
    w: u16,
    h: u16,
    grid: Vec<u32>,
    pos: Vec<(u16, u16)>,
    hp: Vec<u8>,
    points: Vec<u32>,
    tick: u64,
    moves: Vec<Message>,
}

impl World {
    fn new(players: usize, w: u16, h: u16) -> Self {
        let pid = ProcessId::from_bytes([7; 32]);
        let mut world = Self {
            w,
            h,
            grid: vec![0; usize::from(w) * usize::from(h)],
            pos: Vec::new(),
            hp: Vec::new(),
            points: Vec::new(),
            tick: 0,
            moves: Vec::new(),
        };
        for n in 0..players {
            let cell = world.free_cell(n * 37);
            world.grid[cell] = n as u32 + 1;
            world.pos.push(((cell % usize::from(w)) as u16, (cell / usize::from(w)) as u16));
            world.hp.push(5);
            world.points.push(0);
            let d = DIRS[n % 4];
            world.moves.push(
                Message::builder(pid.clone())
                    .tag("Action", "Move")
                    .tag("Direction", d)
                    .build()
                    .expect("move"),
            );
        }
        world
    }

    fn free_cell(&self, start: usize) -> usize {
        let cells = self.grid.len();
        (0..cells).map(|k| (start + k * 7) % cells).find(|&c| self.grid[c] == 0).unwrap_or(0)
    }

    /// Input system: decode each player's message into a step.
    fn input(&self, steps: &mut Vec<(usize, i32, i32)>) -> u64 {
        steps.clear();
        let mut invalid = 0;
        for (e, m) in self.moves.iter().enumerate() {
            if m.tag("Action") != Some("Move") {
                invalid += 1;
                continue;
            }
            let turn = (self.tick as usize + e) % 4;
            let step = match (m.tag("Direction"), turn) {
                (Some("N"), 0) | (Some("E"), 3) | (Some("S"), 2) | (Some("W"), 1) => (0, -1),
                (Some("N"), 1) | (Some("E"), 0) | (Some("S"), 3) | (Some("W"), 2) => (1, 0),
                (Some("N"), 2) | (Some("E"), 1) | (Some("S"), 0) | (Some("W"), 3) => (0, 1),
                (Some(_), _) => (-1, 0),
                (None, _) => {
                    invalid += 1;
                    continue;
                }
            };
            steps.push((e, step.0, step.1));
        }
        invalid
    }

    /// Movement and combat: a step into another player attacks it.
    fn movement(&mut self, steps: &[(usize, i32, i32)]) -> u64 {
        let mut knockouts = 0;
        for &(e, dx, dy) in steps {
            let (x, y) = self.pos[e];
            let (nx, ny) = (i32::from(x) + dx, i32::from(y) + dy);
            if nx < 0 || ny < 0 || nx >= i32::from(self.w) || ny >= i32::from(self.h) {
                continue;
            }
            let cell = ny as usize * usize::from(self.w) + nx as usize;
            let target = self.grid[cell];
            if target == 0 {
                self.grid[usize::from(y) * usize::from(self.w) + usize::from(x)] = 0;
                self.grid[cell] = e as u32 + 1;
                self.pos[e] = (nx as u16, ny as u16);
                continue;
            }
            let t = target as usize - 1;
            self.points[e] += 1;
            self.hp[t] -= 1;
            if self.hp[t] == 0 {
                knockouts += 1;
                self.points[e] += 5;
                self.hp[t] = 5;
                let (tx, ty) = self.pos[t];
                self.grid[usize::from(ty) * usize::from(self.w) + usize::from(tx)] = 0;
                let free = self.free_cell(t * 37);
                self.grid[free] = t as u32 + 1;
                self.pos[t] = ((free % usize::from(self.w)) as u16, (free / usize::from(self.w)) as u16);
            }
        }
        knockouts
    }

    /// Regeneration: every 3rd tick each damaged entity heals 1.
    fn regeneration(&mut self) {
        if self.tick.is_multiple_of(3) {
            for hp in &mut self.hp {
                if *hp < 5 {
                    *hp += 1;
                }
            }
        }
    }
}

struct EcsHandles {
    process: ProcessMetrics,
    input: Histogram,
    movement: Histogram,
    regen: Histogram,
    moves: ActionMetrics,
    knockouts: ao_health::Counter,
    entities: [ao_health::Gauge; 4],
    archetype: ao_health::Gauge,
}

fn handles(registry: &Registry) -> EcsHandles {
    let ecs = EcsMetrics::register(registry).expect("register");
    let process = ecs.process("arena-rust");
    EcsHandles {
        input: process.system("input"),
        movement: process.system("movement"),
        regen: process.system("regeneration"),
        moves: process.action("Move"),
        knockouts: registry.counter("arena_knockouts", "").expect("custom"),
        entities: ["player", "position", "health", "score"].map(|c| process.entities(c)),
        archetype: process.archetype("health+player+position+score"),
        process,
    }
}

fn ecs_tick(world: &mut World, steps: &mut Vec<(usize, i32, i32)>) {
    world.tick += 1;
    black_box(world.input(steps));
    black_box(world.movement(steps));
    world.regeneration();
}

/// The same tick with every ECS family updated: per-system laps, the tick,
/// message and error counts (counted locally, added once per tick), the
/// custom knockout counter, entity counts per component and archetype.
fn ecs_tick_instrumented(
    world: &mut World,
    steps: &mut Vec<(usize, i32, i32)>,
    m: &EcsHandles,
    sampler: Option<&mut TickSampler>,
) {
    let mut t = match sampler {
        Some(s) => m.process.sampled_tick_timer(s),
        None => m.process.tick_timer(),
    };
    world.tick += 1;
    let invalid = world.input(steps);
    t.system(&m.input);
    let knockouts = world.movement(steps);
    t.system(&m.movement);
    world.regeneration();
    t.system(&m.regen);
    m.moves.messages.inc_by(world.moves.len() as u64);
    m.moves.errors.inc_by(invalid);
    m.knockouts.inc_by(knockouts);
    let n = world.pos.len() as f64;
    for g in &m.entities {
        g.set(n);
    }
    m.archetype.set(n);
    t.finish();
}

/// The instrumentation of one tick alone (same calls, no game work).
fn instrumentation_only(m: &EcsHandles, messages: u64, sampler: Option<&mut TickSampler>) {
    let mut t = match sampler {
        Some(s) => m.process.sampled_tick_timer(s),
        None => m.process.tick_timer(),
    };
    t.system(&m.input);
    t.system(&m.movement);
    t.system(&m.regen);
    m.moves.messages.inc_by(black_box(messages));
    m.moves.errors.inc_by(black_box(0));
    m.knockouts.inc_by(black_box(1));
    for g in &m.entities {
        g.set(black_box(64.0));
    }
    m.archetype.set(black_box(64.0));
    t.finish();
}

fn rust_ecs_tick(c: &mut Criterion) {
    let registry = Registry::new();
    let m = handles(&registry);
    // The arena's own size (64 players, 12 × 12), and a larger world.
    for (players, w, h) in [(64usize, 12u16, 12u16), (1024, 64, 64)] {
        let mut g = c.benchmark_group(format!("rust_ecs_tick_{players}"));
        g.measurement_time(Duration::from_secs(5));
        let mut world = World::new(players, w, h);
        let mut steps = Vec::with_capacity(players);
        g.bench_function("bare", |b| b.iter(|| ecs_tick(&mut world, &mut steps)));
        let mut world = World::new(players, w, h);
        g.bench_function("instrumented", |b| {
            b.iter(|| ecs_tick_instrumented(&mut world, &mut steps, &m, None));
        });
        g.bench_function("instrumentation_only", |b| {
            b.iter(|| instrumentation_only(&m, players as u64, None));
        });
        // Durations sampled on one tick in 16; counts and gauges every tick.
        let mut world = World::new(players, w, h);
        let mut sampler = TickSampler::new(16);
        g.bench_function("instrumented_sampled_1_in_16", |b| {
            b.iter(|| ecs_tick_instrumented(&mut world, &mut steps, &m, Some(&mut sampler)));
        });
        g.bench_function("instrumentation_only_sampled_1_in_16", |b| {
            b.iter(|| instrumentation_only(&m, players as u64, Some(&mut sampler)));
        });
        // A counter increment per message instead of one add per tick.
        let mut world = World::new(players, w, h);
        g.bench_function("instrumented_per_message_count", |b| {
            b.iter(|| {
                ecs_tick_instrumented(&mut world, &mut steps, &m, None);
                for _ in 0..players {
                    m.moves.messages.inc();
                }
            });
        });
        g.finish();
    }
}

criterion_group!(benches, metric_ops, arena_tick, rust_ecs_tick);
criterion_main!(benches);
