//! The world and the peer shared by the snapshot bench and the `snapshot_probe` example:
//! hecs worlds of four components (position and velocity `[f32; 3]`, health `u32`, a name of
//! 8–24 bytes) from a fixed seed, and the peer — hecs' own column serialization through
//! bincode 2 (serde) and zstd, no integrity. `AO_THREADS` sets ao-ecs-snapshot's worker
//! threads (0 or unset: one per core).
#![allow(dead_code)] // each includer uses a part

use std::cell::RefCell;

use ao_ecs_snapshot::Schema;
use hecs::serialize::column::{
    DeserializeContext, SerializeContext, deserialize_column, try_serialize, try_serialize_id,
};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub(crate) struct Position(pub(crate) [f32; 3]);
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub(crate) struct Velocity(pub(crate) [f32; 3]);
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub(crate) struct Health(pub(crate) u32);
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Name(pub(crate) String);

pub(crate) fn schema() -> Schema<hecs::World> {
    Schema::builder()
        .component::<Position>("position", 1)
        .component::<Velocity>("velocity", 1)
        .component::<Health>("health", 1)
        .component::<Name>("name", 1)
        .threads(std::env::var("AO_THREADS").ok().and_then(|t| t.parse().ok()).unwrap_or(0))
        .build()
        .unwrap()
}

pub(crate) struct Rng(pub(crate) u64);
impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub(crate) fn f(&mut self) -> f32 {
        (self.next() % 100_000) as f32 / 10.0
    }
}

pub(crate) fn world(n: usize) -> hecs::World {
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
pub(crate) enum Id {
    Position,
    Velocity,
    Health,
    Name,
}

pub(crate) struct Ctx;
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
pub(crate) struct DeCtx(Vec<Id>);
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

pub(crate) struct PeerWorld<'a>(&'a hecs::World);
impl Serialize for PeerWorld<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        hecs::serialize::column::serialize(self.0, &mut Ctx, s)
    }
}

pub(crate) struct PeerSeed<'a>(&'a RefCell<DeCtx>);
impl<'de> serde::de::DeserializeSeed<'de> for PeerSeed<'_> {
    type Value = hecs::World;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<hecs::World, D::Error> {
        hecs::serialize::column::deserialize(&mut *self.0.borrow_mut(), d)
    }
}

pub(crate) const LEVEL: i32 = 1;

pub(crate) fn peer_raw(w: &hecs::World) -> Vec<u8> {
    bincode::serde::encode_to_vec(PeerWorld(w), bincode::config::standard()).unwrap()
}

pub(crate) fn peer_snapshot(w: &hecs::World) -> Vec<u8> {
    zstd::bulk::compress(&peer_raw(w), LEVEL).unwrap()
}

pub(crate) fn peer_restore(bytes: &[u8], raw_len: usize) -> hecs::World {
    let raw = zstd::bulk::decompress(bytes, raw_len).unwrap();
    let ctx = RefCell::new(DeCtx::default());
    bincode::serde::seed_decode_from_slice(PeerSeed(&ctx), &raw, bincode::config::standard()).unwrap().0
}
