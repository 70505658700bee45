//! Any bytes as message data decoded by the `json` module inside a process:
//! decode either fails cleanly or gives a value whose encoding is stable, and
//! the process keeps answering.
#![no_main]

use std::sync::OnceLock;

use ao_local::LocalAo;
use ao_transport::{Message, ProcessId};
use libfuzzer_sys::fuzz_target;

/// Shared with `ao-local/tests/fuzz_regressions.rs`, which replays crashes.
const PROCESS: &str = include_str!("../local_json_process.lua");

fn runtime() -> &'static (LocalAo, ProcessId) {
    static RT: OnceLock<(LocalAo, ProcessId)> = OnceLock::new();
    RT.get_or_init(|| {
        let ao = LocalAo::new();
        let pid = ao.spawn_aos(PROCESS).expect("spawn");
        (ao, pid)
    })
}

fuzz_target!(|data: &[u8]| {
    let (ao, pid) = runtime();
    let msg = Message::builder(pid.clone()).tag("Action", "Decode").data(data.to_vec()).build().expect("message");
    let (_, result) = ao.call(msg).expect("call");
    assert!(result.error.is_none(), "handler failed: {:?}", result.error);
    assert!(result.output == "ok" || result.output.starts_with("err"), "{}", result.output);
});
