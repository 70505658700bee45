//! Probes over `AoTransport` on ao-local running the arena, and the ECS metrics
//! fed from a real run.
#![allow(clippy::float_cmp, clippy::many_single_char_names)] // exact values and short names read better here

mod common;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use ao_health::{
    AoProbe, AoProbeBuilder, CheckResult, EcsMetrics, ErrorKind, Expect, Format, HealthCheck, ProbeMetrics,
    Prober, Registry, Rejection, Status, Timestamp,
};
use ao_local::{FaultPlan, LocalAo};
use ao_transport::retry::{Clock, ManualClock};
use ao_transport::{
    Address, AoTransport, EvalResult, Message, MessageId, ProcessId, SpawnRequest, TransportError,
    TransportFuture,
};

fn arena() -> (LocalAo, ProcessId) {
    let ao = LocalAo::new();
    let pid = common::spawn_arena(&ao);
    (ao, pid)
}

/// A ping probe on ao-local's virtual clock.
fn ping_on(ao: &LocalAo, pid: &ProcessId) -> AoProbeBuilder {
    AoProbe::builder("arena", Arc::new(ao.clone())).process(pid.clone()).clock(Arc::new(ao.clone()))
}

fn ping(ao: &LocalAo, pid: &ProcessId) -> AoProbe {
    ping_on(ao, pid).build().unwrap()
}

fn wallet(n: u8) -> Address {
    Address::from_bytes([n; 32])
}

#[test]
fn the_arena_answers_ping_and_the_probe_changes_nothing() {
    let (ao, pid) = arena();
    let before = ao.state_hash(&pid).unwrap();
    let messages = ao.process_info(&pid).unwrap().messages;
    let r = ping(&ao, &pid).check();
    assert_eq!(r, CheckResult::healthy().with_latency(Duration::ZERO));
    assert_eq!(ao.state_hash(&pid).unwrap(), before, "a dry run keeps no effect");
    assert_eq!(ao.process_info(&pid).unwrap().messages, messages);
    assert_eq!(ao.stats().dry_runs, 1);
}

#[test]
fn latency_on_the_virtual_clock_degrades_then_fails() {
    let (ao, pid) = arena();
    let probe = ping_on(&ao, &pid)
        .degraded_after(Duration::from_secs(1))
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    for (latency, status, reason) in [
        (2, Status::Degraded, Some("slow: 2s, more than 1s")),
        (6, Status::Unhealthy, Some("reply took 6s, more than the 5s timeout")),
    ] {
        let mut plan = FaultPlan::new(7);
        plan.latency = Some((Duration::from_secs(latency), Duration::from_secs(latency)));
        ao.set_faults(Some(plan));
        let r = probe.check();
        assert_eq!(r.status, status);
        assert_eq!(r.latency, Some(Duration::from_secs(latency)));
        assert_eq!(r.reason.as_deref(), reason);
    }
}

#[test]
fn failures_are_unhealthy_with_reasons() {
    let (ao, pid) = arena();
    let mut plan = FaultPlan::new(1);
    plan.drop_reply = 1.0;
    ao.set_faults(Some(plan));
    let r = ping(&ao, &pid).check();
    assert_eq!(r.status, Status::Unhealthy);
    assert!(r.reason.as_deref().unwrap().starts_with("dry run failed: timed out"), "{r:?}");
    ao.set_faults(None);

    // A process without a Ping handler evaluates the ping without a Pong.
    let silent = ao.spawn_aos("").unwrap();
    let r = ping(&ao, &silent).check();
    assert_eq!(r.reason.as_deref(), Some("no reply with Action = Pong"));

    // A configured message that raises a Lua error.
    let boom = Message::builder(pid.clone()).tag("Action", "Move").tag("Direction", "N").build().unwrap();
    let lua = ao.spawn_aos(r#"Handlers.add("Boom", "Move", function() error("boom") end)"#).unwrap();
    let r = AoProbe::with_message("boom", Arc::new(ao.clone()), boom.clone()).unwrap().check();
    assert_eq!(
        r.status,
        Status::Healthy,
        "the arena answers a Move from a stranger with a reply, not an error"
    );
    let to_lua = Message::builder(lua).tag("Action", "Move").build().unwrap();
    let r = AoProbe::builder("boom", Arc::new(ao.clone()))
        .message(to_lua)
        .expect(Expect::NoError)
        .build()
        .unwrap()
        .check();
    assert!(
        r.reason.as_deref().unwrap().starts_with("process error:")
            && r.reason.as_deref().unwrap().contains("boom"),
        "{r:?}"
    );

    let gone = ProcessId::from_bytes([9; 32]);
    let r = ping(&ao, &gone).check();
    assert!(r.reason.as_deref().unwrap().contains("not found"), "{r:?}");
}

/// A transport whose dry runs never answer, each poll moving a virtual
/// clock on by 10 ms (the time a real transport would spend waiting): the
/// probe's timeout is reached on that clock, with no real waiting.
struct Hung(Arc<ManualClock>);

/// The pending dry run of [`Hung`].
struct Waiting(Arc<ManualClock>);

impl Future for Waiting {
    type Output = Result<EvalResult, TransportError>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.0.advance(Duration::from_millis(10));
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

impl AoTransport for Hung {
    fn spawn(&self, _: SpawnRequest) -> TransportFuture<'_, ProcessId> {
        Box::pin(std::future::pending())
    }
    fn send(&self, _: Message) -> TransportFuture<'_, MessageId> {
        Box::pin(std::future::pending())
    }
    fn result(&self, _: ProcessId, _: MessageId) -> TransportFuture<'_, EvalResult> {
        Box::pin(std::future::pending())
    }
    fn dry_run(&self, _: Message) -> TransportFuture<'_, EvalResult> {
        Box::pin(Waiting(self.0.clone()))
    }
}

#[test]
fn a_hung_transport_times_out_on_the_probes_clock() {
    let clock = Arc::new(ManualClock::new());
    let probe = AoProbe::builder("hung", Arc::new(Hung(clock.clone())))
        .process(ProcessId::from_bytes([1; 32]))
        .timeout(Duration::from_secs(30))
        .clock(clock.clone())
        .build()
        .unwrap();
    let r = probe.check();
    assert_eq!(r.status, Status::Unhealthy);
    assert_eq!(r.reason.as_deref(), Some("no reply within 30s"));
    assert_eq!(r.latency, Some(Duration::from_secs(30)));
    // 30 s passed on the clock: 3000 polls of 10 ms, and no more.
    assert_eq!(clock.now(), Duration::from_secs(30));
}

#[test]
fn bad_probe_settings_are_typed_errors_naming_the_setting() {
    let ao: Arc<dyn AoTransport> = Arc::new(LocalAo::new());
    let pid = ProcessId::from_bytes([1; 32]);
    let base = || AoProbe::builder("arena", ao.clone()).process(pid.clone());
    for (builder, field, why) in [
        (AoProbe::builder("arena", ao.clone()), "target", "no process or message"),
        (AoProbe::builder("arena", ao.clone()).target(""), "target", "is empty"),
        (AoProbe::builder("arena", ao.clone()).target("  "), "target", "is empty"),
        (AoProbe::builder("arena", ao.clone()).target("not-an-id"), "target", "not a process id"),
        (AoProbe::builder("", ao.clone()).process(pid.clone()), "name", "is empty"),
        (base().timeout(Duration::ZERO), "timeout", "more than zero"),
        (base().degraded_after(Duration::ZERO), "degraded_after", "more than zero"),
        (
            base().timeout(Duration::from_secs(1)).degraded_after(Duration::from_secs(1)),
            "degraded_after",
            "not less than",
        ),
        (base().expect(Expect::ReplyAction(String::new())), "expect", "empty"),
    ] {
        let e = builder.build().unwrap_err();
        match e.kind() {
            ErrorKind::InvalidProbe { field: f, reason, .. } => {
                assert_eq!(*f, field, "{e}");
                assert!(reason.contains(why), "{e}");
            }
            other => panic!("{other:?}"),
        }
    }
    // A target given as text that is a process id is accepted.
    let probe = AoProbe::builder("arena", ao).target(format!(" {pid} ")).build().unwrap();
    assert_eq!(probe.timeout(), Duration::from_secs(5));
    assert!(format!("{probe:?}").contains(pid.as_str()));
}

/// A custom check: the messages ao-local still has to deliver.
struct Backlog(LocalAo, usize);

impl HealthCheck for Backlog {
    fn name(&self) -> &'static str {
        "backlog"
    }
    fn check(&self) -> CheckResult {
        let n = self.0.pending();
        if n > self.1 {
            CheckResult::unhealthy(format!("{n} messages queued"))
        } else {
            CheckResult::healthy()
        }
    }
    fn critical(&self) -> bool {
        false
    }
}

#[test]
fn prober_aggregates_records_metrics_and_availability() {
    let (ao, pid) = arena();
    // The backlog check watches a runtime that queues process-to-process messages.
    let queued = LocalAo::builder().max_cascade(0).build().unwrap();
    let sink = queued.spawn_aos("").unwrap();
    let relay = queued
        .spawn_aos(&format!(
            r#"Handlers.add("Go", "Go", function() Send({{ Target = "{sink}", Action = "Hi" }}) end)"#
        ))
        .unwrap();
    let registry = Registry::new();
    let mut prober = Prober::new(Duration::from_secs(300))
        .check(ping(&ao, &pid))
        .check(Backlog(queued.clone(), 0))
        .metrics(ProbeMetrics::register(&registry).unwrap());
    let t = |s: u64| Timestamp::from_secs(1_000 + s);
    assert_eq!(prober.run(t(0)).status, Status::Healthy);

    // A queued delivery: the non-critical check fails, the aggregate only degrades.
    queued.submit(Message::builder(relay).tag("Action", "Go").build().unwrap()).unwrap();
    let report = prober.run(t(30));
    assert_eq!(report.status, Status::Degraded);
    assert_eq!(report.reasons(), ["backlog: 1 messages queued"]);
    queued.run_pending(10).unwrap();

    // The critical probe fails: unhealthy.
    let mut plan = FaultPlan::new(3);
    plan.transient_error = 1.0;
    ao.set_faults(Some(plan));
    let report = prober.run(t(60));
    assert_eq!(report.status, Status::Unhealthy);
    assert_eq!(report.reasons().len(), 1);
    assert!(report.reasons()[0].starts_with("arena: dry run failed: unavailable"), "{:?}", report.reasons());
    ao.set_faults(None);
    prober.run(t(120));
    assert_eq!(prober.availability("arena", t(120)), Some(0.75));
    // At 350 s the window is (50, 350]: the runs at 60 (down) and 120 (up).
    assert_eq!(prober.availability("arena", t(350)), Some(0.5));

    let text = registry.encode(Format::Prometheus);
    for line in [
        "ao_probe_up{check=\"arena\"} 1.0\n",
        "ao_probe_availability_ratio{check=\"arena\"} 0.75\n",
        "ao_probe_duration_seconds_count{check=\"arena\"} 4\n",
        "ao_health_status 0.0\n",
    ] {
        assert!(text.contains(line), "{line} in\n{text}");
    }
    assert_eq!(prober.last_report().unwrap().status, Status::Healthy);
}

#[test]
fn ecs_metrics_from_a_real_arena_run() {
    let (ao, pid) = arena();
    let registry = Registry::new();
    let ecs = EcsMetrics::register(&registry).unwrap();
    let arena = ecs.process(pid.as_str());
    let act = |from: &Address, tags: &[(&str, &str)]| {
        let mut b = Message::builder(pid.clone());
        for (k, v) in tags {
            b = b.tag(*k, *v);
        }
        let action = tags[0].1;
        let (_, r) = ao.call_as(from, b.build().unwrap()).unwrap();
        arena.action(action).observe(&r);
        r
    };
    for n in 1..=3 {
        act(&wallet(n), &[("Action", "Join"), ("Name", "p")]);
    }
    for dir in ["N", "E", "S"] {
        act(&wallet(1), &[("Action", "Move"), ("Direction", dir)]);
    }
    let owner = ao.signer();
    {
        let mut tick = arena.tick_timer();
        act(&owner, &[("Action", "Tick")]);
        tick.system(&arena.system("regeneration"));
    }
    // A stranger's Eval is refused by the runtime: an evaluation error the process counts.
    let r = act(&wallet(9), &[("Action", "Eval")]);
    assert!(r.error.as_deref().unwrap().starts_with("unauthorized"));

    let info = ao.process_info(&pid).unwrap();
    arena.record_vitals(info.memory_bytes, info.unauthorized_evals);
    let state = ao.simulate(Message::builder(pid.clone()).tag("Action", "State").build().unwrap()).unwrap();
    let json: serde_json::Value = serde_json::from_str(state.messages[0].data_str().unwrap()).unwrap();
    let counts = json["components"].as_object().unwrap();
    arena.set_component_counts(counts.iter().map(|(k, v)| (k.as_str(), v.as_u64().unwrap())));

    assert_eq!(arena.action("Join").messages.get(), 3);
    assert_eq!(arena.action("Move").messages.get(), 3);
    assert_eq!(arena.action("Eval").errors.get(), 1);
    assert_eq!(arena.rejected(Rejection::UnauthorizedEval).get(), 1);
    assert_eq!(arena.lua_memory().get(), info.memory_bytes as f64);
    assert!(info.memory_bytes > 100_000, "the arena's Lua state is real: {}", info.memory_bytes);
    assert_eq!(arena.entities("player").get(), 3.0);
    assert_eq!(arena.tick().snapshot().count(), 1);
    let text = registry.encode(Format::Prometheus);
    assert!(text.contains(&format!(
        "ao_messages_rejected_total{{process=\"{pid}\",reason=\"unauthorized_eval\"}} 1\n"
    )));
    assert!(text.contains("process_resident_memory_bytes "), "{text}");
}
