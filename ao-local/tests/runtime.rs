//! The runtime around the processes: dry-run purity, log replay, fault
//! injection, determinism, and use through the `AoTransport` trait.

use std::sync::Arc;
use std::time::Duration;

use ao_local::{Durability, ErrorKind, FaultPlan, LocalAo};
use ao_transport::retry::{RetryPolicy, SplitMix64, retry};
use ao_transport::{AoTransport, Message, ProcessId, TransportErrorKind};

const COUNTER: &str = r#"
    Count = 0
    Log = {}
    Handlers.add("Inc", "Inc", function(m)
        Count = Count + tonumber(m.By or "1")
        table.insert(Log, m.Timestamp .. ":" .. m.Nonce)
        m.reply({ Action = "Count", Data = tostring(Count) })
    end)
    Handlers.add("Get", "Get", function(m) m.reply({ Action = "Count", Data = tostring(Count) }) end)
    Handlers.add("Roll", "Roll", function(m) Rolled = math.random(1, 1000000); print(Rolled) end)
"#;

fn inc(pid: &ProcessId, by: u32) -> Message {
    Message::builder(pid.clone()).tag("Action", "Inc").tag("By", by.to_string()).build().unwrap()
}

fn get(pid: &ProcessId) -> Message {
    Message::builder(pid.clone()).tag("Action", "Get").build().unwrap()
}

#[test]
fn dry_runs_change_nothing() {
    // Two identical runtimes; one also answers dry runs between every message,
    // including dry runs that would change state and send messages.
    let plain = LocalAo::builder().seed(4).build().unwrap();
    let probed = LocalAo::builder().seed(4).build().unwrap();
    let a = plain.spawn_aos(COUNTER).unwrap();
    let b = probed.spawn_aos(COUNTER).unwrap();
    assert_eq!(a, b);
    for i in 1..=20 {
        let dry = probed.simulate(inc(&b, 1000)).unwrap();
        // Count is 1 + 2 + ... + (i - 1) so far.
        assert_eq!(
            dry.messages[0].data_str().unwrap(),
            ((i - 1) * i / 2 + 1000).to_string(),
            "sees current state"
        );
        probed.simulate(Message::builder(b.clone()).tag("Action", "Roll").build().unwrap()).unwrap();
        let (ida, ra) = plain.call(inc(&a, i)).unwrap();
        let (idb, rb) = probed.call(inc(&b, i)).unwrap();
        assert_eq!((ida, ra), (idb, rb), "message {i}");
    }
    let ra = plain.call(Message::builder(a.clone()).tag("Action", "Roll").build().unwrap()).unwrap();
    let rb = probed.call(Message::builder(b.clone()).tag("Action", "Roll").build().unwrap()).unwrap();
    assert_eq!(ra, rb, "dry runs did not consume randomness");
    assert_eq!(plain.state_hash(&a).unwrap(), probed.state_hash(&b).unwrap());
    assert_eq!(probed.stats().dry_runs, 40);
    assert_eq!(probed.stats().messages, plain.stats().messages);
}

#[test]
fn dry_runs_can_ask_as_another_wallet() {
    let ao = LocalAo::new();
    let pid =
        ao.spawn_aos(r#"Handlers.add("Who", "Who", function(m) m.reply({ Data = m.From }) end)"#).unwrap();
    let player = ao_transport::Address::from_bytes([4; 32]);
    let who = Message::builder(pid.clone()).tag("Action", "Who").build().unwrap();
    let r = ao.simulate_as(&player, who.clone()).unwrap();
    assert_eq!(
        (r.messages[0].target.as_str(), r.messages[0].data_str()),
        (player.as_str(), Some(player.as_str()))
    );
    assert_eq!(ao.simulate(who).unwrap().messages[0].data_str(), Some(ao.signer().as_str()));
}

#[test]
fn same_seed_same_ids_results_and_state() {
    let run = |seed| {
        let ao = LocalAo::builder().seed(seed).build().unwrap();
        let pid = ao.spawn_aos(COUNTER).unwrap();
        let ids: Vec<_> = (1..5).map(|i| ao.call(inc(&pid, i)).unwrap()).collect();
        let hash = ao.state_hash(&pid).unwrap();
        (pid, ids, hash)
    };
    assert_eq!(run(11), run(11));
    assert_ne!(run(11).0, run(12).0);
}

#[test]
fn state_hash_tracks_data_changes() {
    let ao = LocalAo::new();
    let pid = ao.spawn_aos(COUNTER).unwrap();
    let h0 = ao.state_hash(&pid).unwrap();
    assert_eq!(h0, ao.state_hash(&pid).unwrap());
    ao.call(inc(&pid, 1)).unwrap();
    assert_ne!(h0, ao.state_hash(&pid).unwrap());
}

#[test]
fn reopening_the_log_replays_to_the_same_state() {
    let dir = tempfile::tempdir().unwrap();
    let (pid, hash, results, clock) = {
        let ao = LocalAo::builder().log_dir(dir.path()).build().unwrap();
        let pid = ao.spawn_aos(COUNTER).unwrap();
        let mut results = Vec::new();
        for i in 1..=10 {
            ao.advance(Duration::from_secs(5));
            results.push(ao.call(inc(&pid, i)).unwrap());
        }
        ao.call(Message::builder(pid.clone()).tag("Action", "Roll").data(vec![0xff, 0x00]).build().unwrap())
            .unwrap();
        let hash = ao.state_hash(&pid).unwrap();
        (pid, hash, results, ao.now_ms())
    };
    let ao = LocalAo::builder().log_dir(dir.path()).build().unwrap();
    assert_eq!(ao.state_hash(&pid).unwrap(), hash);
    let report = ao.replay_report();
    assert_eq!((report.processes, report.messages), (1, 11));
    assert!(report.torn_tails.is_empty());
    for (id, result) in &results {
        assert_eq!(&ao.result_of(&pid, id).unwrap(), result, "results survive a reopen");
    }
    assert_eq!(ao.now_ms(), clock);
    let boot = ao.result_of(&pid, &pid.clone().into()).unwrap();
    assert!(boot.is_ok(), "the spawn's own result survives a reopen too");
    // And it goes on from there: ids continue, nothing collides.
    let (id, r) = ao.call(get(&pid)).unwrap();
    assert!(!results.iter().any(|(old, _)| *old == id));
    assert_eq!(r.messages[0].data_str(), Some("55"));
}

#[test]
fn a_torn_last_record_is_cut_and_reported() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let pid = {
        let ao = LocalAo::builder().log_dir(dir.path()).durability(Durability::Buffered).build().unwrap();
        let pid = ao.spawn_aos(COUNTER).unwrap();
        ao.call(inc(&pid, 2)).unwrap();
        pid
    };
    let log = dir.path().join("processes").join(format!("{pid}.log"));
    std::fs::OpenOptions::new()
        .append(true)
        .open(&log)
        .unwrap()
        .write_all(b"0123456789abcdef {\"kind\":\"mess")
        .unwrap();
    let ao = LocalAo::builder().log_dir(dir.path()).build().unwrap();
    assert_eq!(ao.replay_report().torn_tails, vec![(log.clone(), 30)]);
    assert_eq!(ao.call(get(&pid)).unwrap().1.messages[0].data_str(), Some("2"));
    ao.call(inc(&pid, 1)).unwrap();
    drop(ao);
    // The tail was cut, so the new record follows the last good one.
    let ao = LocalAo::builder().log_dir(dir.path()).build().unwrap();
    assert!(ao.replay_report().torn_tails.is_empty());
    assert_eq!(ao.call(get(&pid)).unwrap().1.messages[0].data_str(), Some("3"));
}

#[test]
fn a_corrupt_record_in_the_middle_is_an_error_naming_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let pid = {
        let ao = LocalAo::builder().log_dir(dir.path()).build().unwrap();
        let pid = ao.spawn_aos(COUNTER).unwrap();
        for i in 0..3 {
            ao.call(inc(&pid, i)).unwrap();
        }
        pid
    };
    let log = dir.path().join("processes").join(format!("{pid}.log"));
    let mut bytes = std::fs::read(&log).unwrap();
    let second_line = bytes.iter().position(|&b| b == b'\n').unwrap() + 1;
    bytes[second_line + 30] ^= 0x01;
    std::fs::write(&log, &bytes).unwrap();
    let err = LocalAo::builder().log_dir(dir.path()).build().unwrap_err();
    match err.kind() {
        ErrorKind::CorruptLog { path, line, offset, reason } => {
            assert_eq!((path, *line, *offset), (&log, 2, second_line));
            assert_eq!(reason, "checksum mismatch");
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(err.to_string().contains(":2 (byte "), "{err}");
}

#[test]
fn same_fault_seed_gives_the_same_run() {
    let plan = FaultPlan {
        latency: Some((Duration::from_millis(5), Duration::from_millis(50))),
        drop_reply: 0.15,
        transient_error: 0.15,
        crash: 0.1,
        ..FaultPlan::new(99)
    };
    let run = || {
        let ao = LocalAo::builder().faults(plan.clone()).build().unwrap();
        let pid = loop {
            if let Ok(pid) = ao.spawn_aos(COUNTER) {
                break pid;
            }
        };
        let outcomes: Vec<String> = (0..60)
            .map(|i| match ao.submit(inc(&pid, i)) {
                Ok(id) => format!("ok {id}"),
                Err(e) => format!("err {}", e.transport_kind()),
            })
            .collect();
        ao.set_faults(None);
        let count = ao.call(get(&pid)).unwrap().1.messages[0].data_str().unwrap().to_owned();
        (outcomes, count, ao.fault_stats(), ao.now_ms())
    };
    let first = run();
    assert_eq!(first, run());
    let stats = first.2;
    assert!(stats.crashes > 0 && stats.dropped_replies > 0 && stats.transient_errors > 0, "{stats:?}");
    assert!(first.0.iter().any(|o| o.starts_with("err timed out")));
    assert!(first.0.iter().any(|o| o.starts_with("err unavailable")));
}

#[test]
fn a_crash_restarts_from_history_with_state_intact() {
    let ao = LocalAo::new();
    let pid = ao.spawn_aos(COUNTER).unwrap();
    for i in 1..=4 {
        ao.call(inc(&pid, i)).unwrap();
    }
    let before = ao.state_hash(&pid).unwrap();
    ao.crash(&pid).unwrap();
    assert_eq!(ao.state_hash(&pid).unwrap(), before);
    assert_eq!(ao.call(get(&pid)).unwrap().1.messages[0].data_str(), Some("10"));
}

#[test]
fn dropped_replies_still_took_effect() {
    let ao = LocalAo::builder().faults(FaultPlan { drop_reply: 1.0, ..FaultPlan::new(1) }).build().unwrap();
    ao.set_faults(None);
    let pid = ao.spawn_aos(COUNTER).unwrap();
    ao.set_faults(Some(FaultPlan { drop_reply: 1.0, ..FaultPlan::new(1) }));
    let err = ao.submit(inc(&pid, 5)).unwrap_err();
    assert_eq!(err.transport_kind(), TransportErrorKind::Timeout);
    ao.set_faults(None);
    assert_eq!(ao.call(get(&pid)).unwrap().1.messages[0].data_str(), Some("5"));
}

#[test]
fn retry_over_the_transport_gets_through_transient_faults() {
    let ao =
        LocalAo::builder().faults(FaultPlan { transient_error: 0.5, ..FaultPlan::new(3) }).build().unwrap();
    ao.set_faults(None);
    let pid = ao.spawn_aos(COUNTER).unwrap();
    ao.set_faults(Some(FaultPlan { transient_error: 0.5, ..FaultPlan::new(3) }));
    let transport: Arc<dyn AoTransport> = Arc::new(ao.clone());
    let mut rng = SplitMix64::new(8);
    let policy = RetryPolicy { max_attempts: 20, ..RetryPolicy::default() };
    let start = ao.now_ms();
    let id = pollster::block_on(retry(&policy, &ao, &mut rng, |_| transport.send(inc(&pid, 1)))).unwrap();
    ao.set_faults(None);
    let result = pollster::block_on(transport.result(pid.clone(), id)).unwrap();
    assert_eq!(result.messages[0].data_str(), Some("1"));
    assert!(ao.fault_stats().transient_errors > 0, "the fault plan struck at least once with this seed");
    assert!(ao.now_ms() > start, "backoff waited on the virtual clock");
}

#[test]
fn transport_errors_are_classified() {
    let ao = LocalAo::new();
    let transport: &dyn AoTransport = &ao;
    let missing = ProcessId::from_bytes([1; 32]);
    let err = pollster::block_on(transport.send(get(&missing))).unwrap_err();
    assert_eq!(err.kind(), TransportErrorKind::NotFound);
    assert!(!err.is_retryable());
    let pid = ao.spawn_aos(COUNTER).unwrap();
    let err = pollster::block_on(transport.result(pid, missing.into())).unwrap_err();
    assert_eq!(err.kind(), TransportErrorKind::NotFound);
}

#[test]
fn cascades_stop_at_the_limit_and_resume() {
    let ao = LocalAo::builder().max_cascade(10).build().unwrap();
    // Two processes that ping-pong forever.
    let a = ao.spawn_aos(r#"Hits = 0; Handlers.add("Ball", "Ball", function(m) Hits = Hits + 1; Send({ Target = m.Peer or m.From, Action = "Ball" }) end)"#).unwrap();
    let b = ao.spawn_aos(r#"Hits = 0; Handlers.add("Ball", "Ball", function(m) Hits = Hits + 1; Send({ Target = m.From, Action = "Ball" }) end)"#).unwrap();
    ao.submit(Message::builder(a.clone()).tag("Action", "Ball").tag("Peer", b.as_str()).build().unwrap())
        .unwrap();
    assert_eq!(ao.pending(), 1, "the storm was cut after 10 deliveries");
    assert_eq!(ao.run_pending(5).unwrap(), 5);
    // Read through dry runs: a real Eval would itself drain the queue.
    let hits = |pid: &ProcessId| {
        let eval = Message::builder(pid.clone()).tag("Action", "Eval").data("Hits").build().unwrap();
        ao.simulate(eval).unwrap().output.parse::<u32>().unwrap()
    };
    assert_eq!(hits(&a) + hits(&b), 16);
}

#[test]
fn a_lost_meta_file_never_reuses_a_process_id() {
    // A host crash between a spawn's log and meta.json leaves the counter behind.
    let dir = tempfile::tempdir().unwrap();
    let first = {
        let ao = LocalAo::builder().log_dir(dir.path()).build().unwrap();
        let pid = ao.spawn_aos(COUNTER).unwrap();
        ao.call(inc(&pid, 3)).unwrap();
        pid
    };
    std::fs::remove_file(dir.path().join("meta.json")).unwrap();
    let ao = LocalAo::builder().log_dir(dir.path()).build().unwrap();
    let second = ao.spawn_aos(COUNTER).unwrap();
    assert_ne!(first, second);
    assert_eq!(ao.call(get(&first)).unwrap().1.messages[0].data_str(), Some("3"));
    drop(ao);
    let ao = LocalAo::builder().log_dir(dir.path()).build().unwrap();
    assert_eq!(ao.replay_report().processes, 2, "both logs are intact");
}

#[test]
fn process_info_works_right_after_a_budget_blowout() {
    let ao = LocalAo::builder()
        .limits(ao_local::Limits { instructions_per_message: 100_000, ..ao_local::Limits::default() })
        .build()
        .unwrap();
    let pid = ao
        .spawn_aos(
            r#"setmetatable(_G, { __index = function(t, k) return rawget(t, k) end })
            Handlers.add("Spin", "Spin", function() while true do end end)"#,
        )
        .unwrap();
    let r = ao.call(Message::builder(pid.clone()).tag("Action", "Spin").build().unwrap()).unwrap().1;
    assert!(r.error.unwrap().contains("instruction budget"));
    assert!(ao.process_info(&pid).unwrap().handlers.contains(&"Spin".to_owned()));
}
