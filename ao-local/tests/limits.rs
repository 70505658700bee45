//! Limits and sandbox: runaway handlers get an error result within the budget
//! and the process keeps working; nothing outside the sandbox is reachable.

use ao_local::{Limits, LocalAo};
use ao_transport::{Message, ProcessId};

const BUDGET: u64 = 2_000_000;

fn runtime() -> LocalAo {
    LocalAo::builder()
        .limits(Limits { memory_bytes: 16 << 20, instructions_per_message: BUDGET, inbox_max: 100 })
        .build()
        .unwrap()
}

fn act(ao: &LocalAo, pid: &ProcessId, action: &str) -> ao_transport::EvalResult {
    ao.call(Message::builder(pid.clone()).tag("Action", action).build().unwrap()).unwrap().1
}

const RUNAWAYS: &str = r#"
    Count = 0
    Handlers.add("Spin", "Spin", function() while true do end end)
    Handlers.add("PcallSpin", "PcallSpin", function()
        while true do pcall(function() while true do end end) end
    end)
    Handlers.add("CoSpin", "CoSpin", function()
        local co = coroutine.wrap(function() while true do end end)
        co()
    end)
    Handlers.add("CoPcallSpin", "CoPcallSpin", function()
        while true do coroutine.resume(coroutine.create(function() while true do end end)) end
    end)
    Handlers.add("Bomb", "Bomb", function()
        local t = {}
        for i = 1, math.maxinteger do t[i] = string.rep("x", 1024) .. i end
    end)
    Handlers.add("PcallBomb", "PcallBomb", function()
        local ok, err = pcall(function() local s = "x"; while true do s = s .. s end end)
        Caught = tostring(err)
    end)
    Handlers.add("Count", "Count", function() Count = Count + 1; print(Count) end)
"#;

#[test]
fn runaway_handlers_error_within_budget_and_the_process_survives() {
    let ao = runtime();
    let pid = ao.spawn_aos(RUNAWAYS).unwrap();
    let mut expected = 0;
    for action in ["Spin", "PcallSpin", "CoSpin", "CoPcallSpin"] {
        let r = act(&ao, &pid, action);
        let err = r.error.unwrap_or_else(|| panic!("{action} must fail"));
        assert_eq!(err, format!("instruction budget of {BUDGET} exceeded"), "{action}");
        // Stopped close to the budget, not far past it.
        assert!(r.gas_used > BUDGET && r.gas_used <= BUDGET + 10_000, "{action}: gas {}", r.gas_used);
        expected += 1;
        assert_eq!(act(&ao, &pid, "Count").output, expected.to_string(), "works after {action}");
    }
}

#[test]
fn memory_bombs_error_and_the_process_survives() {
    let ao = runtime();
    let pid = ao.spawn_aos(RUNAWAYS).unwrap();
    let r = act(&ao, &pid, "Bomb");
    let err = r.error.expect("bomb must fail");
    assert!(err.starts_with("memory limit of 16777216 bytes exceeded"), "{err}");
    assert_eq!(act(&ao, &pid, "Count").output, "1");
    assert!(ao.process_info(&pid).unwrap().memory_bytes < 16 << 20);

    // A handler may catch its own memory error and carry on, as in Lua.
    let r = act(&ao, &pid, "PcallBomb");
    assert!(r.is_ok(), "{:?}", r.error);
    assert_eq!(ao.eval(&pid, "Caught").unwrap().output, "not enough memory");
    assert_eq!(act(&ao, &pid, "Count").output, "2");
}

#[test]
fn gas_grows_with_work() {
    let ao = runtime();
    let pid = ao.spawn_aos(r#"Handlers.add("Work", "Work", function(m) local s = 0; for i = 1, tonumber(m.N) do s = s + i end end)"#).unwrap();
    let gas = |n: u32| {
        ao.call(Message::builder(pid.clone()).tag("Action", "Work").tag("N", n.to_string()).build().unwrap())
            .unwrap()
            .1
            .gas_used
    };
    let (small, large) = (gas(1_000), gas(100_000));
    assert!(large > 100 * small.max(1_000) / 2, "small {small} large {large}");
    // `s = s + i` in a numeric for is two VM instructions (ADD, FORLOOP).
    assert!(large >= 200_000, "a 100k-iteration loop runs at least 2 instructions per iteration: {large}");
}

#[test]
fn sandbox_hides_io_os_and_native_loading() {
    let ao = runtime();
    let pid = ao.spawn_aos("").unwrap();
    let probes = [
        ("io", "nil"),
        ("debug", "nil"),
        ("os.execute", "nil"),
        ("os.exit", "nil"),
        ("os.remove", "nil"),
        ("os.getenv", "nil"),
        ("package.loadlib", "nil"),
        ("dofile", "nil"),
        ("loadfile", "nil"),
        ("string.dump", "nil"),
        ("#package.searchers", "1"),
    ];
    for (expr, expected) in probes {
        assert_eq!(ao.eval(&pid, &format!("tostring({expr})")).unwrap().output, expected, "{expr}");
    }
    let r = ao.eval(&pid, "require('os.path.that.is.not.there')").unwrap();
    assert!(r.error.unwrap().contains("module 'os.path.that.is.not.there' not found"));
    // Binary chunks are refused even when asked for.
    let r = ao
        .eval(&pid, r#"local f, err = load("\27Lua", "x", "b"); return tostring(f) .. " " .. err"#)
        .unwrap();
    assert!(r.output.starts_with("nil ") && r.output.contains("binary"), "{}", r.output);
}

#[test]
fn os_time_follows_the_virtual_clock() {
    let ao = runtime();
    let pid = ao.spawn_aos("").unwrap();
    let t0: u64 = ao.eval(&pid, "os.time()").unwrap().output.parse().unwrap();
    assert_eq!(t0, ao.now_ms() / 1000);
    ao.advance(std::time::Duration::from_secs(3600));
    let t1: u64 = ao.eval(&pid, "os.time()").unwrap().output.parse().unwrap();
    assert_eq!(t1 - t0, 3600);
    assert_eq!(ao.eval(&pid, "os.date('!%Y-%m-%d', 0)").unwrap().output, "1970-01-01");
}

#[test]
fn math_random_is_deterministic_per_process() {
    let draw = |seed| {
        let ao = LocalAo::builder().seed(seed).build().unwrap();
        let pid = ao.spawn_aos("").unwrap();
        ao.eval(
            &pid,
            "local t = {} for i = 1, 5 do t[i] = math.random(1, 1000) end return table.concat(t, ',')",
        )
        .unwrap()
        .output
    };
    assert_eq!(draw(1), draw(1));
    assert_ne!(draw(1), draw(2));
    let ao = runtime();
    let pid = ao.spawn_aos("").unwrap();
    let r = ao
        .eval(
            &pid,
            "local x = math.random(); local y = math.random(3); return x >= 0 and x < 1, y >= 1 and y <= 3",
        )
        .unwrap();
    assert_eq!(r.output, "true\ttrue");
    assert!(ao.eval(&pid, "math.random(5, 1)").unwrap().error.unwrap().contains("interval is empty"));
}

#[test]
fn oversized_outbox_tags_fail_the_message_with_a_clear_error() {
    let ao = runtime();
    let pid = ao.spawn_aos("").unwrap();
    let target = ao_transport::Address::from_bytes([1; 32]);
    let r =
        ao.eval(&pid, &format!(r#"Send({{ Target = "{target}", Big = string.rep("v", 4000) }})"#)).unwrap();
    let err = r.error.unwrap();
    assert!(err.contains("outbox message 1") && err.contains("3072"), "{err}");
    assert!(r.messages.is_empty());
}
