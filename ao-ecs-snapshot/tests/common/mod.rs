//! Shared fixtures: a schema and a varied world.
#![allow(dead_code, unreachable_pub)]

use ao_ecs_snapshot::{MemoryWorld, Schema, State};

pub type Pos = [f32; 3];

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Name(pub String);

pub fn schema() -> Schema<MemoryWorld> {
    Schema::builder()
        .component::<Pos>("position", 1)
        .component::<u32>("health", 1)
        .component::<Name>("name", 1)
        .build()
        .unwrap()
}

/// A xorshift generator: varied, reproducible values.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

pub fn world(n: u32) -> MemoryWorld {
    let mut w = MemoryWorld::new();
    let mut r = Rng(0x9e37_79b9_7f4a_7c15);
    for _ in 0..n {
        let e = w.spawn();
        w.insert::<Pos>(e, [r.next() as f32, r.next() as f32, r.next() as f32]);
        w.insert::<u32>(e, (r.next() % 1000) as u32);
        w.insert(e, Name(format!("npc-{:x}", r.next())));
    }
    w
}

/// Changes a few entities at `tick`.
pub fn churn(w: &mut MemoryWorld, tick: u64) {
    w.set_tick(tick);
    let es = w.entities();
    for (k, e) in es.iter().enumerate().skip(tick as usize % 7).step_by(11) {
        w.insert::<u32>(*e, (tick * 1000 + k as u64) as u32);
    }
    if let Some(e) = es.get(tick as usize % es.len().max(1)) {
        w.despawn(*e);
    }
    let e = w.spawn();
    w.insert::<u32>(e, tick as u32);
}

pub fn captured(w: &MemoryWorld) -> State {
    schema().capture(w).unwrap()
}

/// Replaces hex ids (12 or 64 digits) so golden text survives a change of zstd output.
pub fn normalize_ids(text: &str) -> String {
    let mut out = String::new();
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        if run.len() == 12 || run.len() == 64 {
            out.push_str("<id>");
        } else {
            out.push_str(run);
        }
        run.clear();
    };
    for c in text.chars() {
        if c.is_ascii_hexdigit() && !c.is_ascii_uppercase() {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    out
}
