//! ao-ecs-snapshot on hecs worlds of 100k and 1M entities (position, velocity, health,
//! name): full snapshot, recovery (decode + verify + restore into hecs), 1 % deltas, sizes.
//! Beside it in the same run, the peer — hecs' own column serialization + bincode + zstd,
//! no integrity — and the limits: raw zstd and blake3 over the same bytes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ao_ecs_snapshot::{
    ChangeLog, Changes, DecodeLimits, EncodeOptions, MemoryStore, Snapshotter, decode, encode_full,
    from_hecs, full_manifest,
};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

#[path = "../shared/snapshot_world.rs"]
mod snapshot_world;
use snapshot_world::{Health, LEVEL, peer_raw, peer_restore, peer_snapshot, schema, world};

// ---- Benches.

fn changed_one_percent(w: &mut hecs::World, log: &mut ChangeLog, tick: u64) {
    let ids: Vec<hecs::Entity> = w.iter().map(|e| e.entity()).step_by(100).collect();
    for e in ids {
        w.get::<&mut Health>(e).unwrap().0 += 1;
        log.modified::<Health>(from_hecs(e), tick);
    }
}

fn bench(c: &mut Criterion) {
    for &n in &[100_000usize, 1_000_000] {
        let label = if n == 100_000 { "100k" } else { "1M" };
        let mut w = world(n);
        let sch = schema();
        let opts = EncodeOptions { level: LEVEL, ..EncodeOptions::default() };
        let state = sch.capture(&w).unwrap();
        let (_, full) = encode_full(&state, full_manifest(&state, 1, 0), &opts).unwrap();
        let peer = peer_snapshot(&w);
        let peer_raw_len = peer_raw(&w).len();

        let mut g = c.benchmark_group(format!("snapshot/{label}"));
        g.sample_size(10).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(8));
        g.throughput(Throughput::Elements(n as u64));

        g.bench_function("full: capture + encode + compress + hash", |b| {
            b.iter(|| {
                let s = sch.capture(&w).unwrap();
                encode_full(&s, full_manifest(&s, 1, 0), &opts).unwrap().1.len()
            });
        });
        g.bench_function("peer full: hecs column serialize + bincode + zstd", |b| {
            b.iter(|| peer_snapshot(&w).len());
        });

        let store = Arc::new(MemoryStore::new());
        Snapshotter::new(schema(), store.clone()).hash_index(false).full(&w, 1, 0).unwrap();
        g.bench_function("recovery: read + verify + decode + restore into hecs", |b| {
            let mut s = Snapshotter::new(schema(), store.clone()).hash_index(false);
            b.iter(|| {
                let mut restored = hecs::World::new();
                s.recover(&mut restored).unwrap();
                restored.len()
            });
        });
        g.bench_function("decode + verify only", |b| {
            b.iter(|| decode(&full, &DecodeLimits::default()).unwrap().chunks.len());
        });
        g.bench_function("peer recovery: zstd + bincode + hecs column deserialize", |b| {
            b.iter(|| peer_restore(&peer, peer_raw_len).len());
        });

        // 1 % deltas: each iteration changes 1 % of the healths (not timed), then writes a delta.
        let mut snap = Snapshotter::new(schema(), MemoryStore::new()).hash_index(false);
        snap.full(&w, 1, 0).unwrap();
        let mut log = ChangeLog::new();
        let mut tick = 1;
        let mut delta_bytes = 0;
        g.bench_function("delta 1% (change log)", |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    tick += 1;
                    changed_one_percent(&mut w, &mut log, tick);
                    let t = Instant::now();
                    delta_bytes = snap.delta(&w, Changes::Log(&log), tick, 0).unwrap().bytes;
                    total += t.elapsed();
                    log.forget_until(tick);
                }
                total
            });
        });
        let mut hsnap = Snapshotter::new(schema(), MemoryStore::new());
        hsnap.full(&w, tick, 0).unwrap();
        g.bench_function("delta 1% (hashing, no log)", |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    tick += 1;
                    changed_one_percent(&mut w, &mut log, tick);
                    let t = Instant::now();
                    hsnap.delta(&w, Changes::Hashing, tick, 0).unwrap();
                    total += t.elapsed();
                }
                total
            });
        });

        // The limits, on the peer's raw bytes (the same information, uncompressed).
        let raw = peer_raw(&w);
        g.throughput(Throughput::Bytes(raw.len() as u64));
        g.bench_function("limit: zstd compress raw bytes", |b| {
            b.iter(|| zstd::bulk::compress(&raw, LEVEL).unwrap().len());
        });
        g.bench_function("limit: zstd decompress", |b| {
            b.iter(|| zstd::bulk::decompress(&peer, raw.len()).unwrap().len());
        });
        g.bench_function("limit: blake3 raw bytes", |b| b.iter(|| blake3::hash(&raw)));
        g.finish();

        // The ratios, from ours and the peer timed alternately on the same world (best of 7
        // each, so other work on the machine weighs on both alike).
        let mut rsnap = Snapshotter::new(schema(), store.clone()).hash_index(false);
        let (mut of, mut pf, mut or, mut pr, mut od) = (f64::MAX, f64::MAX, f64::MAX, f64::MAX, f64::MAX);
        let ms = |since: Instant| since.elapsed().as_secs_f64() * 1e3;
        // A new base, so the deltas below hold only their own 1 % (the hashing bench above
        // changed the world through the same log).
        tick += 1;
        snap.full(&w, tick, 0).unwrap();
        log.forget_until(tick);
        for _ in 0..7 {
            let start = Instant::now();
            let st = sch.capture(&w).unwrap();
            drop(encode_full(&st, full_manifest(&st, 1, 0), &opts).unwrap());
            drop(st);
            of = of.min(ms(start));
            let start = Instant::now();
            drop(peer_snapshot(&w));
            pf = pf.min(ms(start));
            let start = Instant::now();
            let mut restored = hecs::World::new();
            rsnap.recover(&mut restored).unwrap();
            drop(restored);
            or = or.min(ms(start));
            let start = Instant::now();
            drop(peer_restore(&peer, peer_raw_len));
            pr = pr.min(ms(start));
        }
        // Deltas in their own loop: right after a recovery they would also wait for the
        // recovered state being freed in the background.
        for _ in 0..7 {
            tick += 1;
            changed_one_percent(&mut w, &mut log, tick);
            let start = Instant::now();
            drop(snap.delta(&w, Changes::Log(&log), tick, 0).unwrap());
            od = od.min(ms(start));
            log.forget_until(tick);
        }
        println!(
            "ratios/{label}: full {of:.1} ms vs peer {pf:.1} ms = {:.2}x; recovery {or:.1} ms vs peer {pr:.1} ms = {:.2}x; 1% delta {od:.2} ms = {:.2}% of full",
            of / pf,
            or / pr,
            od * 100.0 / of
        );

        let raw_ours: u64 =
            decode(&full, &DecodeLimits::default()).unwrap().chunks.iter().map(|c| c.raw_len).sum();
        println!(
            "sizes/{label}: ours {} B compressed ({} B raw chunks), peer {} B compressed ({} B raw), 1% delta {} B ({:.2}% of full)",
            full.len(),
            raw_ours,
            peer.len(),
            raw.len(),
            delta_bytes,
            delta_bytes as f64 * 100.0 / full.len() as f64
        );
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
