//! Messages per second through ao-local with a trivial handler, beside the
//! floor: the same handler called directly through mlua with no AO around it.
//!
//! `cargo bench -p ao-ops-benches --bench ao_local`

use std::hint::black_box;
use std::time::{Duration, Instant};

use ao_local::LocalAo;
use ao_transport::{AoTransport, Message};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const TRIVIAL: &str = r#"
    Count = 0
    Handlers.add("Inc", "Inc", function() Count = Count + 1 end)
"#;

/// Fresh runtime per sample so history and results do not pile up across samples.
fn fresh() -> (LocalAo, ao_transport::ProcessId, Message) {
    let ao = LocalAo::new();
    let pid = ao.spawn_aos(TRIVIAL).expect("spawn");
    let msg = Message::builder(pid.clone()).tag("Action", "Inc").build().expect("message");
    (ao, pid, msg)
}

fn messages(c: &mut Criterion) {
    let mut group = c.benchmark_group("trivial_handler");
    group.throughput(Throughput::Elements(1));
    group.measurement_time(Duration::from_secs(4));

    group.bench_function("ao_local_submit", |b| {
        b.iter_custom(|iters| {
            let (ao, _, msg) = fresh();
            let start = Instant::now();
            for _ in 0..iters {
                black_box(ao.submit(msg.clone()).expect("submit"));
            }
            start.elapsed()
        });
    });

    group.bench_function("ao_local_send_and_result_via_transport", |b| {
        b.iter_custom(|iters| {
            let (ao, _, msg) = fresh();
            let transport: &dyn AoTransport = &ao;
            let start = Instant::now();
            for _ in 0..iters {
                black_box(pollster::block_on(transport.send_and_wait(msg.clone())).expect("send"));
            }
            start.elapsed()
        });
    });

    // The floor: the handler body as a plain Lua function, called from Rust.
    group.bench_function("mlua_direct_call_floor", |b| {
        let lua = mlua::Lua::new();
        let f: mlua::Function =
            lua.load("Count = 0; return function(msg) Count = Count + 1 end").eval().expect("lua");
        b.iter(|| {
            let msg = lua.create_table().expect("table");
            msg.raw_set("Action", "Inc").expect("set");
            f.call::<()>(msg).expect("call");
        });
    });
    group.finish();
}

criterion_group!(benches, messages);
criterion_main!(benches);
