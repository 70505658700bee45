//! A quick probe of ao-ecs-snapshot's phases beside the peer (the bench's world and peer),
//! for profiling: `cargo run --release -p ao-ops-benches --example snapshot_probe -- 100000 5`.

use std::cell::RefCell;
use std::sync::Arc;
use std::time::Instant;

use ao_ecs_snapshot::{
    DecodeLimits, EncodeOptions, MemoryStore, Schema, Snapshotter, decode, encode_full, full_manifest,
};
use hecs::serialize::column::{
    DeserializeContext, SerializeContext, deserialize_column, try_serialize, try_serialize_id,
};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
struct Position([f32; 3]);
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
struct Velocity([f32; 3]);
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
struct Health(u32);
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Name(String);

fn schema() -> Schema<hecs::World> {
    Schema::builder()
        .component::<Position>("position", 1)
        .component::<Velocity>("velocity", 1)
        .component::<Health>("health", 1)
        .component::<Name>("name", 1)
        .threads(std::env::var("AO_THREADS").ok().and_then(|t| t.parse().ok()).unwrap_or(0))
        .build()
        .unwrap()
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn f(&mut self) -> f32 {
        (self.next() % 100_000) as f32 / 10.0
    }
}

fn world(n: usize) -> hecs::World {
    const LETTERS: &[u8] = b"abcdefghijklmnopqrstuvwxyz";
    let mut w = hecs::World::new();
    let mut r = Rng(0x9e37_79b9_7f4a_7c15);
    w.spawn_batch((0..n).map(|_| {
        let len = 8 + (r.next() % 17) as usize;
        let name: String = (0..len).map(|_| LETTERS[(r.next() % 26) as usize] as char).collect();
        (
            Position([r.f(), r.f(), r.f()]),
            Velocity([r.f() - 5000.0, 0.0, r.f() - 5000.0]),
            Health((r.next() % 1000) as u32),
            Name(name),
        )
    }))
    .for_each(drop);
    w
}

// ---- The peer: hecs column serialization through bincode 2 (serde) and zstd.

#[derive(Serialize, Deserialize)]
enum Id {
    Position,
    Velocity,
    Health,
    Name,
}

struct Ctx;
impl SerializeContext for Ctx {
    fn component_count(&self, a: &hecs::Archetype) -> usize {
        [a.has::<Position>(), a.has::<Velocity>(), a.has::<Health>(), a.has::<Name>()]
            .iter()
            .filter(|x| **x)
            .count()
    }
    fn serialize_component_ids<S: serde::ser::SerializeTuple>(
        &mut self,
        a: &hecs::Archetype,
        mut out: S,
    ) -> Result<S::Ok, S::Error> {
        try_serialize_id::<Position, _, _>(a, &Id::Position, &mut out)?;
        try_serialize_id::<Velocity, _, _>(a, &Id::Velocity, &mut out)?;
        try_serialize_id::<Health, _, _>(a, &Id::Health, &mut out)?;
        try_serialize_id::<Name, _, _>(a, &Id::Name, &mut out)?;
        out.end()
    }
    fn serialize_components<S: serde::ser::SerializeTuple>(
        &mut self,
        a: &hecs::Archetype,
        mut out: S,
    ) -> Result<S::Ok, S::Error> {
        try_serialize::<Position, _>(a, &mut out)?;
        try_serialize::<Velocity, _>(a, &mut out)?;
        try_serialize::<Health, _>(a, &mut out)?;
        try_serialize::<Name, _>(a, &mut out)?;
        out.end()
    }
}

#[derive(Default)]
struct DeCtx(Vec<Id>);
impl DeserializeContext for DeCtx {
    fn deserialize_component_ids<'de, A: serde::de::SeqAccess<'de>>(
        &mut self,
        mut seq: A,
    ) -> Result<hecs::ColumnBatchType, A::Error> {
        self.0.clear();
        let mut ty = hecs::ColumnBatchType::new();
        while let Some(id) = seq.next_element::<Id>()? {
            match id {
                Id::Position => ty.add::<Position>(),
                Id::Velocity => ty.add::<Velocity>(),
                Id::Health => ty.add::<Health>(),
                Id::Name => ty.add::<Name>(),
            };
            self.0.push(id);
        }
        Ok(ty)
    }
    fn deserialize_components<'de, A: serde::de::SeqAccess<'de>>(
        &mut self,
        n: u32,
        mut seq: A,
        batch: &mut hecs::ColumnBatchBuilder,
    ) -> Result<(), A::Error> {
        for id in &self.0 {
            match id {
                Id::Position => deserialize_column::<Position, _>(n, &mut seq, batch)?,
                Id::Velocity => deserialize_column::<Velocity, _>(n, &mut seq, batch)?,
                Id::Health => deserialize_column::<Health, _>(n, &mut seq, batch)?,
                Id::Name => deserialize_column::<Name, _>(n, &mut seq, batch)?,
            }
        }
        Ok(())
    }
}

struct PeerWorld<'a>(&'a hecs::World);
impl Serialize for PeerWorld<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        hecs::serialize::column::serialize(self.0, &mut Ctx, s)
    }
}

struct PeerSeed<'a>(&'a RefCell<DeCtx>);
impl<'de> serde::de::DeserializeSeed<'de> for PeerSeed<'_> {
    type Value = hecs::World;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<hecs::World, D::Error> {
        hecs::serialize::column::deserialize(&mut *self.0.borrow_mut(), d)
    }
}

const LEVEL: i32 = 1;

fn peer_raw(w: &hecs::World) -> Vec<u8> {
    bincode::serde::encode_to_vec(PeerWorld(w), bincode::config::standard()).unwrap()
}

fn peer_snapshot(w: &hecs::World) -> Vec<u8> {
    zstd::bulk::compress(&peer_raw(w), LEVEL).unwrap()
}

fn peer_restore(bytes: &[u8], raw_len: usize) -> hecs::World {
    let raw = zstd::bulk::decompress(bytes, raw_len).unwrap();
    let ctx = RefCell::new(DeCtx::default());
    bincode::serde::seed_decode_from_slice(PeerSeed(&ctx), &raw, bincode::config::standard()).unwrap().0
}

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
