//! ao-env: loading and checking layered config with provenance beside a plain
//! `toml` parse of the same text (no provenance, no schema), the pure drift
//! core, and the cost of hashing every Eval in Lua beside the blake3 crate.
//!
//! `cargo bench -p ao-ops-benches --bench env`

use std::fmt::Write as _;
use std::hint::black_box;

use ao_env::{Desired, Observation, Project, Release, Releases, SourceFile, State, drift};
use ao_local::LocalAo;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const MODULE: &str = "TQV426e5pgvLy8-tVGhLM4mviQ7HQroOMbC5mN3OHVk";
const SCHED: &str = "dCYq2BAm6lfcTUy-FryJc92xaKsji6B5GkyC1BMdKCE";
const PROCESSES: usize = 200;

/// A game of 200 processes with ten config values each, and an overlay that
/// changes a third of them.
fn generated() -> (String, String) {
    let mut base = format!("game = \"big\"\n[defaults]\nmodule = \"{MODULE}\"\nscheduler = \"{SCHED}\"\n");
    let mut overlay = String::from("[environment]\nwallet = \"env:W\"\n");
    for p in 0..PROCESSES {
        let _ = write!(
            base,
            "\n[processes.p{p}]\ntarget = \"t\"\nhandlers = [\"A\", \"B\"]\nshards = 2\ncron = {{ interval = \"1-minute\", action = \"Tick\" }}\n[processes.p{p}.config]\n"
        );
        for c in 0..10 {
            let _ = writeln!(base, "k{c} = \"value {p} {c}\"");
        }
        if p % 3 == 0 {
            let _ = write!(overlay, "\n[processes.p{p}]\nshards = 4\n[processes.p{p}.config]\nk1 = {p}\n");
        }
    }
    (base, overlay)
}

fn project(base: &str, overlay: &str) -> Project {
    Project::from_sources(
        SourceFile::new("base.toml", base, 0),
        vec![("prod-like".into(), SourceFile::new("o.toml", overlay, 1))],
        None,
        ".".as_ref(),
    )
}

fn config(c: &mut Criterion) {
    let (base, overlay) = generated();
    let mut g = c.benchmark_group("env_config");
    g.throughput(Throughput::Bytes((base.len() + overlay.len()) as u64));
    g.bench_function("ao-env load + merge + schema + checks (200 processes)", |b| {
        b.iter(|| {
            black_box(project(black_box(&base), black_box(&overlay)).environment("prod-like").unwrap())
        });
    });
    g.bench_function("peer: toml::from_str into toml::Table, both files", |b| {
        b.iter(|| {
            let a: toml::Table = toml::from_str(black_box(&base)).unwrap();
            let o: toml::Table = toml::from_str(black_box(&overlay)).unwrap();
            black_box((a, o))
        });
    });
    g.finish();
}

fn drift_core(c: &mut Criterion) {
    let (base, overlay) = generated();
    let env = project(&base, &overlay).environment("prod-like").unwrap();
    let mut releases = Releases::default();
    releases.0.insert("t".into(), Release::of_code("t", b"code"));
    let desired = Desired::new(&env, &releases).unwrap();
    // Nothing provisioned yet: every instance is a difference with three actions.
    let state = State::new("prod-like");
    let observed: std::collections::BTreeMap<_, Observation> = std::collections::BTreeMap::default();
    c.bench_function("drift core: 534 instances, nothing provisioned", |b| {
        b.iter(|| black_box(drift(black_box(&desired), &state, &observed)));
    });
}

fn eval_hash(c: &mut Criterion) {
    let bundle =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../ao-bundle/tests/golden/arena.lua"))
            .unwrap();
    let ao = LocalAo::new();
    let pid = ao.spawn_aos(ao_env::INFO_LUA).unwrap();
    // Keep the bundle text in the process, so each Eval below is tiny.
    ao.eval(&pid, &format!("S = {}", lua_string(&bundle))).unwrap();
    let mut g = c.benchmark_group("eval_hash");
    g.throughput(Throughput::Bytes(bundle.len() as u64));
    g.bench_function("BLAKE3 of the arena bundle in Lua (info.lua, on ao-local)", |b| {
        b.iter(|| black_box(ao.simulate(eval_msg(&pid, "return AoEnv.blake3_hex(S)")).unwrap()));
    });
    g.bench_function("floor: the same dry-run Eval returning #S (no hash)", |b| {
        b.iter(|| black_box(ao.simulate(eval_msg(&pid, "return #S")).unwrap()));
    });
    g.bench_function("peer: blake3 crate, same bytes", |b| {
        b.iter(|| black_box(blake3::hash(black_box(bundle.as_bytes()))));
    });
    g.finish();
}

fn eval_msg(pid: &ao_transport::ProcessId, src: &str) -> ao_transport::Message {
    ao_transport::Message::builder(pid.clone()).tag("Action", "Eval").data(src).build().unwrap()
}

fn lua_string(s: &str) -> String {
    let mut level = 0;
    while s.contains(&format!("]{}]", "=".repeat(level))) {
        level += 1;
    }
    let eq = "=".repeat(level);
    format!("[{eq}[\n{s}]{eq}]")
}

criterion_group!(benches, config, drift_core, eval_hash);
criterion_main!(benches);
