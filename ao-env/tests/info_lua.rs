//! `lua/info.lua` on ao-local: its BLAKE3 matches the blake3 crate (so the
//! hash a process reports is the one in ao-bundle's manifest), and its
//! handlers answer and guard as documented.

use std::fmt::Write as _;

use ao_env::{INFO_LUA, InstanceKey, Observation, observe_process};
use ao_local::LocalAo;
use ao_transport::{Address, Message, ProcessId};
use proptest::prelude::*;

fn hash_in_lua(ao: &LocalAo, pid: &ProcessId, data: &[u8]) -> String {
    let hex = data.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    });
    let src = format!(
        "return AoEnv.blake3_hex((string.gsub('{hex}', '..', function(h) return string.char(tonumber(h, 16)) end)))"
    );
    let r = ao.eval(pid, &src).unwrap();
    assert!(r.error.is_none(), "{:?}", r.error);
    r.output
}

#[test]
fn blake3_across_chunk_and_tree_boundaries() {
    let ao = LocalAo::new();
    let pid = ao.spawn_aos(INFO_LUA).unwrap();
    // 1024-byte chunks; 2, 3, 4, 5 and 9 chunks exercise every merge shape of the tree.
    for n in [0usize, 1, 63, 64, 65, 1023, 1024, 1025, 2048, 2049, 3072, 4096, 4097, 5000, 9000] {
        let data: Vec<u8> = (0..n).map(|i| (i * 7 % 251) as u8).collect();
        assert_eq!(hash_in_lua(&ao, &pid, &data), blake3::hash(&data).to_hex().to_string(), "len {n}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn blake3_in_lua_is_blake3(data in proptest::collection::vec(any::<u8>(), 0..3000)) {
        let ao = LocalAo::new();
        let pid = ao.spawn_aos(INFO_LUA).unwrap();
        prop_assert_eq!(hash_in_lua(&ao, &pid, &data), blake3::hash(&data).to_hex().to_string());
    }
}

fn info(ao: &LocalAo, pid: &ProcessId) -> ao_env::Observed {
    match observe_process(ao, &InstanceKey::new("p", 0), pid).unwrap() {
        Observation::Running(o) => o,
        other => panic!("{other:?}"),
    }
}

#[test]
fn every_eval_is_recorded_even_a_failing_one() {
    let ao = LocalAo::new();
    let pid = ao.spawn_aos(INFO_LUA).unwrap();
    let fresh = info(&ao, &pid);
    assert_eq!((fresh.code_hash.as_deref(), fresh.eval_count), (None, 0));
    assert!(
        fresh.handlers.contains(&"ao-env.info".to_owned()) && fresh.handlers.contains(&"_eval".to_owned())
    );
    ao.eval(&pid, "X = 1").unwrap();
    let r = ao.eval(&pid, "error('boom')").unwrap();
    assert!(r.error.unwrap().contains("boom"), "the error still reaches the sender");
    let seen = info(&ao, &pid);
    assert_eq!(seen.eval_count, 2);
    assert_eq!(seen.code_hash.unwrap(), blake3::hash(b"error('boom')").to_hex().to_string());
    assert_eq!((seen.evals[0].ok, seen.evals[1].ok), (true, false));
    assert_eq!(seen.evals[0].bytes, 5);
    // The history is bounded; the count is not.
    for i in 0..20 {
        ao.eval(&pid, &format!("Y = {i}")).unwrap();
    }
    let seen = info(&ao, &pid);
    assert_eq!((seen.evals.len(), seen.eval_count), (16, 22));
    // Info is a dry run: asking changed nothing.
    let before = ao.state_hash(&pid).unwrap();
    info(&ao, &pid);
    assert_eq!(ao.state_hash(&pid).unwrap(), before);
}

#[test]
fn only_the_owner_configures_removes_and_retires() {
    let ao = LocalAo::new();
    let pid = ao
        .spawn_aos(&format!(
            "{INFO_LUA}\nHandlers.add('Game', 'Game', function(m) m.reply({{ Data = 'ok' }}) end)"
        ))
        .unwrap();
    let msg = |action: &str, data: &str| {
        Message::builder(pid.clone()).tag("Action", action).data(data).build().unwrap()
    };
    let stranger = Address::from_bytes([5; 32]);
    for (action, data) in
        [("AoEnv-Configure", "{\"a\":1}"), ("AoEnv-Remove-Handlers", "[\"Game\"]"), ("AoEnv-Retire", "")]
    {
        let (_, r) = ao.call_as(&stranger, msg(action, data)).unwrap();
        assert!(r.error.unwrap().contains("only the owner"), "{action}");
    }
    let seen = info(&ao, &pid);
    assert!(seen.config.is_empty() && seen.handlers.contains(&"Game".to_owned()) && !seen.retired);

    ao.call(msg("AoEnv-Configure", "{\"a\":1,\"nested\":{\"b\":[1,2]}}")).unwrap();
    assert_eq!(info(&ao, &pid).config["nested"]["b"][1], 2);
    // System handlers cannot be removed; others can.
    ao.call(msg("AoEnv-Remove-Handlers", "[\"Game\", \"_eval\", \"ao-env.info\"]")).unwrap();
    let seen = info(&ao, &pid);
    assert!(!seen.handlers.contains(&"Game".to_owned()));
    assert!(seen.handlers.contains(&"_eval".to_owned()) && seen.handlers.contains(&"ao-env.info".to_owned()));
    assert_eq!(seen.eval_count, 0, "none of this was an Eval");

    ao.call(msg("AoEnv-Retire", "")).unwrap();
    let (_, r) = ao.call(msg("Game", "")).unwrap();
    assert_eq!(r.messages[0].tag("Action"), Some("Retired"));
    assert!(info(&ao, &pid).retired);
}
