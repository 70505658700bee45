//! A quick probe of ao-ecs-snapshot's phases beside the peer (the bench's world and peer),
//! for profiling: `cargo run --release -p ao-ops-benches --example snapshot_probe -- 100000 5`.

use std::sync::Arc;
use std::time::Instant;

use ao_ecs_snapshot::{
    DecodeLimits, EncodeOptions, MemoryStore, Snapshotter, decode, encode_full, full_manifest,
};

#[path = "../shared/snapshot_world.rs"]
mod snapshot_world;
use snapshot_world::{LEVEL, peer_raw, peer_restore, peer_snapshot, schema, world};

/// CPU time of the whole process so far (all threads, finished ones too), in ms.
fn cpu_ms() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<f64> = after.split_whitespace().map(|x| x.parse().unwrap_or(0.0)).collect();
    // Fields 14 and 15 (utime, stime) are at 11 and 12 after the command name; ticks of 10 ms.
    (f.get(11).unwrap_or(&0.0) + f.get(12).unwrap_or(&0.0)) * 10.0
}

static CPU: std::sync::Mutex<f64> = std::sync::Mutex::new(0.0);

fn best<R>(reps: usize, mut f: impl FnMut() -> R) -> f64 {
    let mut best = f64::MAX;
    let c0 = cpu_ms();
    for _ in 0..reps {
        let t = Instant::now();
        let r = f();
        let e = t.elapsed().as_secs_f64() * 1e3;
        drop(r);
        best = best.min(e);
    }
    *CPU.lock().unwrap() = (cpu_ms() - c0) / reps as f64;
    best
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let reps: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(5);
    let only = args.get(3).cloned().unwrap_or_default();
    let w = world(n);
    let sch = schema();
    let opts = EncodeOptions { level: LEVEL, ..EncodeOptions::default() };
    let state = sch.capture(&w).unwrap();
    let (_, full) = encode_full(&state, full_manifest(&state, 1, 0), &opts).unwrap();
    let peer = peer_snapshot(&w);
    let peer_raw_len = peer_raw(&w).len();
    let store = Arc::new(MemoryStore::new());
    Snapshotter::new(schema(), store.clone()).hash_index(false).full(&w, 1, 0).unwrap();
    let run = |name: &str| only.is_empty() || only.split(',').any(|o| name.starts_with(o));
    let line =
        |name: &str, ms: f64| println!("{name:<28} {ms:8.1} ms   cpu/rep {:7.1} ms", *CPU.lock().unwrap());
    if run("capture") {
        line("capture", best(reps, || sch.capture(&w).unwrap()));
    }
    if run("encode") {
        line("encode", best(reps, || encode_full(&state, full_manifest(&state, 1, 0), &opts).unwrap()));
    }
    let (mut ours_full, mut peer_full, mut ours_rec, mut peer_rec) = (0.0, 0.0, 0.0, 0.0);
    if run("full") {
        ours_full = best(reps, || {
            let s = sch.capture(&w).unwrap();
            encode_full(&s, full_manifest(&s, 1, 0), &opts).unwrap().1.len()
        });
        line("full", ours_full);
    }
    if run("peer-full") {
        peer_full = best(reps, || peer_snapshot(&w).len());
        line("peer full", peer_full);
    }
    if run("decode") {
        line("decode", best(reps, || decode(&full, &DecodeLimits::default()).unwrap()));
    }
    if run("restore") {
        let snap = decode(&full, &DecodeLimits::default()).unwrap();
        let ao_ecs_snapshot::Contents::Full(st) = snap.contents else { panic!() };
        line(
            "restore (state -> hecs)",
            best(reps, || {
                let mut r = hecs::World::new();
                sch.restore(&st, &mut r).unwrap();
                r
            }),
        );
    }
    if run("recover") {
        let mut s = Snapshotter::new(schema(), store.clone()).hash_index(false);
        ours_rec = best(reps, || {
            let mut r = hecs::World::new();
            s.recover(&mut r).unwrap();
            r
        });
        line("recover", ours_rec);
    }
    if run("peer-recover") {
        peer_rec = best(reps, || peer_restore(&peer, peer_raw_len));
        line("peer recover", peer_rec);
    }
    if ours_full > 0.0 && peer_full > 0.0 {
        println!("full ratio {:.2}x", ours_full / peer_full);
    }
    if ours_rec > 0.0 && peer_rec > 0.0 {
        println!("recover ratio {:.2}x", ours_rec / peer_rec);
    }
    println!("sizes: ours {} B, peer {} B", full.len(), peer.len());
}
