//! Conformance of the aos prelude: handler order and replacement, `once`, pattern
//! forms and results, reply routing, `ao.send` tags, message fields, JSON data,
//! Send between processes, Eval authority, Inbox, print, On-Boot, spawns.

use ao_local::LocalAo;
use ao_transport::{Address, EvalResult, Message, ProcessId};

fn msg(pid: &ProcessId, tags: &[(&str, &str)], data: &str) -> Message {
    tags.iter().fold(Message::builder(pid.clone()), |b, (n, v)| b.tag(*n, *v)).data(data).build().unwrap()
}

fn action(ao: &LocalAo, pid: &ProcessId, action: &str) -> EvalResult {
    ao.call(msg(pid, &[("Action", action)], "")).unwrap().1
}

fn eval(ao: &LocalAo, pid: &ProcessId, code: &str) -> String {
    let r = ao.eval(pid, code).unwrap();
    assert!(r.error.is_none(), "eval {code:?} failed: {:?}", r.error);
    r.output
}

/// Tags sent, data sent, handler expected to fire.
type Case<'a> = (&'a [(&'a str, &'a str)], &'a str, &'a str);

fn wallet(n: u8) -> Address {
    Address::from_bytes([n; 32])
}

#[test]
fn handlers_run_in_list_order_and_add_replaces_in_place() {
    let ao = LocalAo::new();
    let pid = ao
        .spawn_aos(
            r#"
        Seen = {}
        local function rec(tag) return function() table.insert(Seen, tag) end end
        local function go(m) return m.Action == "Go" and "continue" or false end
        Handlers.add("a", go, rec("a"))
        Handlers.add("b", go, rec("b"))
        Handlers.prepend("first", go, rec("first"))
        Handlers.append("c", go, rec("c"))
        Handlers.add("a", go, rec("a2"))
        Handlers.before("c").add("beforeC", go, rec("beforeC"))
        Handlers.after("first").add("afterFirst", go, rec("afterFirst"))
    "#,
        )
        .unwrap();
    action(&ao, &pid, "Go");
    assert_eq!(eval(&ao, &pid, "table.concat(Seen, ',')"), "first,afterFirst,a2,b,beforeC,c");
    // `_default` sits where it was added; evaluate runs it last, and only for unhandled messages.
    let handlers = ao.process_info(&pid).unwrap().handlers;
    assert_eq!(handlers, ["first", "afterFirst", "_eval", "_default", "a", "b", "beforeC", "c"]);
}

#[test]
fn pattern_results_true_stops_false_skips_continue_goes_on() {
    let ao = LocalAo::new();
    let pid = ao
        .spawn_aos(
            r#"
        Seen = {}
        Handlers.add("skip", function() return false end, function() table.insert(Seen, "skip") end)
        Handlers.add("go", function() return "continue" end, function() table.insert(Seen, "go") end)
        Handlers.add("one", function() return 1 end, function() table.insert(Seen, "one") end)
        Handlers.add("stop", function() return true end, function() table.insert(Seen, "stop") end)
        Handlers.add("never", function() return true end, function() table.insert(Seen, "never") end)
    "#,
        )
        .unwrap();
    action(&ao, &pid, "X");
    assert_eq!(eval(&ao, &pid, "table.concat(Seen, ',')"), "go,one,stop");
    // Handled by "stop": nothing reached the default handler's Inbox.
    assert_eq!(eval(&ao, &pid, "#Inbox"), "0");
}

#[test]
fn pattern_forms_function_table_and_action_string() {
    let ao = LocalAo::new();
    let pid = ao
        .spawn_aos(
            r#"
        Hits = {}
        local function hit(name) return function() Hits[#Hits + 1] = name end end
        Handlers.add("by-string", "Ping", hit("string"))
        Handlers.add("by-table", { Action = "Move", Dir = "^[NSEW]$" }, hit("table"))
        Handlers.add("by-any", { Action = "Any", Who = "_" }, hit("any"))
        Handlers.add("by-fn", function(m) return m.Data == "magic" end, hit("fn"))
        Handlers.add("by-util", Handlers.utils.hasMatchingTag("Action", "Util"), hit("util"))
        Handlers.add("by-data", Handlers.utils.hasMatchingData("exact"), hit("data"))
        Handlers.add("Shorthand", hit("shorthand"))
    "#,
        )
        .unwrap();
    let cases: &[Case] = &[
        (&[("Action", "Ping")], "", "string"),
        (&[("Action", "Move"), ("Dir", "N")], "", "table"),
        (&[("Action", "Move"), ("Dir", "NE")], "", ""),
        (&[("Action", "Any"), ("Who", "x")], "", "any"),
        (&[("Action", "Any")], "", ""),
        (&[("Action", "Other")], "magic", "fn"),
        (&[("Action", "Util")], "", "util"),
        (&[("Action", "Zzz")], "exact", "data"),
        (&[("Action", "Shorthand")], "", "shorthand"),
    ];
    for (tags, data, expect) in cases {
        eval(&ao, &pid, "Hits = {}");
        ao.call(msg(&pid, tags, data)).unwrap();
        assert_eq!(eval(&ao, &pid, "table.concat(Hits, ',')"), *expect, "tags {tags:?} data {data:?}");
    }
}

#[test]
fn once_runs_a_single_time_and_removes_itself() {
    let ao = LocalAo::new();
    let pid = ao
        .spawn_aos(
            r#"
        N = 0
        Handlers.once("welcome", { Action = "Hello" }, function() N = N + 1 end)
        Handlers.once({ Action = "Anon" }, function() N = N + 10 end)
        Handlers.add("limited", { Action = "Twice" }, function() N = N + 100 end, 2)
    "#,
        )
        .unwrap();
    for a in ["Hello", "Hello", "Anon", "Anon", "Twice", "Twice", "Twice"] {
        action(&ao, &pid, a);
    }
    assert_eq!(eval(&ao, &pid, "N"), "211");
    let handlers = ao.process_info(&pid).unwrap().handlers;
    assert!(
        !handlers.iter().any(|h| h == "welcome" || h == "limited" || h.starts_with("_once_")),
        "{handlers:?}"
    );
    // The second Hello and the third Twice found no handler: they are in the Inbox.
    assert_eq!(eval(&ao, &pid, "#Inbox"), "3");
}

#[test]
fn reply_goes_to_reply_to_else_sender_with_x_reference() {
    let ao = LocalAo::new();
    let pid = ao
        .spawn_aos(
            r#"Handlers.add("Echo", "Echo", function(m) m.reply({ Action = "Echoed", Data = m.Data }) end)"#,
        )
        .unwrap();
    let from = wallet(9);
    let (_, r) = ao.call_as(&from, msg(&pid, &[("Action", "Echo"), ("Reference", "41")], "hi")).unwrap();
    let out = &r.messages[0];
    assert_eq!(out.target, from.to_string());
    assert_eq!(out.tag("X-Reference"), Some("41"));
    assert_eq!(out.data_str(), Some("hi"));

    let elsewhere = wallet(3).to_string();
    let (_, r) = ao
        .call_as(&from, msg(&pid, &[("Action", "Echo"), ("Reply-To", &elsewhere), ("Reference", "7")], ""))
        .unwrap();
    assert_eq!(r.messages[0].target, elsewhere);
    assert_eq!(r.messages[0].tag("X-Reference"), Some("7"));
}

#[test]
fn ao_send_adds_protocol_tags_and_references() {
    let ao = LocalAo::new();
    let pid = ao.spawn_aos("").unwrap();
    let target = wallet(5).to_string();
    let r = ao
        .eval(&pid, &format!(r#"Send({{ Target = "{target}", Action = "A", Data = "1" }}); ao.send({{ Target = "{target}", Tags = {{ Action = "B" }} }})"#))
        .unwrap();
    assert!(r.error.is_none(), "{:?}", r.error);
    assert_eq!(r.messages.len(), 2);
    for (i, m) in r.messages.iter().enumerate() {
        assert_eq!(m.target, target);
        assert_eq!(m.tag("Data-Protocol"), Some("ao"));
        assert_eq!(m.tag("Variant"), Some("ao.TN.1"));
        assert_eq!(m.tag("Type"), Some("Message"));
        assert_eq!(m.tag("Reference"), Some((i + 1).to_string().as_str()));
    }
    assert_eq!(r.messages[0].tag("Action"), Some("A"));
    assert_eq!(r.messages[1].tag("Action"), Some("B"));
}

#[test]
fn message_fields_tags_map_and_list_and_json_data() {
    let ao = LocalAo::new();
    let pid = ao
        .spawn_aos(
            r#"
        Handlers.add("Inspect", "Inspect", function(m)
            print(m.Action, m.Tags.Color, m.TagArray[2].name, m.Color, type(m.Timestamp), m["Block-Height"] > 0,
                  m.From == m.Owner, m.Id ~= nil, m.Nonce)
        end)
        Handlers.add("Json", "Json", function(m) print(m.Data.hp + 1, m.Data.name) end)
    "#,
        )
        .unwrap();
    let r = ao.call(msg(&pid, &[("Action", "Inspect"), ("Color", "red")], "")).unwrap().1;
    assert_eq!(r.output, "Inspect\tred\tColor\tred\tnumber\ttrue\ttrue\ttrue\t1");
    let r = ao
        .call(msg(
            &pid,
            &[("Action", "Json"), ("Content-Type", "application/json")],
            r#"{"hp":41,"name":"orc"}"#,
        ))
        .unwrap()
        .1;
    assert_eq!(r.output, "42\torc");
}

#[test]
fn send_between_two_processes_delivers_and_replies() {
    let ao = LocalAo::new();
    let bank = ao
        .spawn_aos(
            r#"
        Balance = 100
        Handlers.add("Withdraw", "Withdraw", function(m)
            local n = tonumber(m.Amount)
            Balance = Balance - n
            m.reply({ Action = "Withdrawn", Amount = tostring(n) })
        end)
    "#,
        )
        .unwrap();
    let player = ao
        .spawn_aos(&format!(
            r#"
        Cash = 0
        Handlers.add("Go", "Go", function() Send({{ Target = "{bank}", Action = "Withdraw", Amount = "30" }}) end)
        Handlers.add("Withdrawn", "Withdrawn", function(m) Cash = Cash + tonumber(m.Amount); LastFrom = m.From end)
    "#
        ))
        .unwrap();
    action(&ao, &player, "Go");
    assert_eq!(ao.pending(), 0, "the cascade ran to completion");
    assert_eq!(eval(&ao, &bank, "Balance"), "70");
    assert_eq!(eval(&ao, &player, "Cash"), "30");
    assert_eq!(eval(&ao, &player, "LastFrom"), bank.to_string());
    assert_eq!(ao.stats().undelivered, 0);
}

#[test]
fn eval_only_from_the_owner_and_refusals_are_counted() {
    let ao = LocalAo::new();
    let pid = ao.spawn_aos("Secret = 1").unwrap();
    assert_eq!(eval(&ao, &pid, "Secret + 1"), "2");

    let attacker = wallet(66);
    let (_, r) = ao.call_as(&attacker, msg(&pid, &[("Action", "Eval")], "Secret = 999")).unwrap();
    let err = r.error.expect("non-owner Eval must fail");
    assert!(err.contains("unauthorized") && err.contains(&attacker.to_string()), "{err}");
    assert_eq!(eval(&ao, &pid, "Secret"), "1");

    // A process is not the owner either.
    let other = ao.spawn_aos(&format!(r#"Handlers.add("Hack", "Hack", function() Send({{ Target = "{pid}", Action = "Eval", Data = "Secret = 5" }}) end)"#)).unwrap();
    action(&ao, &other, "Hack");
    assert_eq!(eval(&ao, &pid, "Secret"), "1");
    assert_eq!(ao.process_info(&pid).unwrap().unauthorized_evals, 2);
}

#[test]
fn eval_reports_syntax_and_runtime_errors_and_prints_values() {
    let ao = LocalAo::new();
    let pid = ao.spawn_aos("").unwrap();
    assert!(ao.eval(&pid, "x = = 1").unwrap().error.unwrap().contains("unexpected symbol"));
    assert!(ao.eval(&pid, "error('boom')").unwrap().error.unwrap().contains("boom"));
    assert_eq!(eval(&ao, &pid, "1 + 1, 'two'"), "2\ttwo");
    assert_eq!(eval(&ao, &pid, "{ a = 1 }"), r#"{"a":1}"#);
}

#[test]
fn print_is_captured_and_errors_drop_the_outbox() {
    let ao = LocalAo::new();
    let pid = ao
        .spawn_aos(&format!(
            r#"
        Handlers.add("Fail", "Fail", function() print("before"); Send({{ Target = "{t}", Data = "x" }}); error("bad move") end)
        Handlers.add("Talk", "Talk", function() print("a", 1, true); print("b") end)
    "#,
            t = wallet(1)
        ))
        .unwrap();
    let r = action(&ao, &pid, "Talk");
    assert_eq!(r.output, "a\t1\ttrue\nb");
    assert!(r.is_ok());
    let r = action(&ao, &pid, "Fail");
    assert!(r.error.as_deref().unwrap().contains("bad move"));
    assert!(r.messages.is_empty(), "aos drops the outbox of a failed message");
    assert_eq!(r.output, "before");
}

#[test]
fn inbox_keeps_unhandled_messages_and_is_bounded() {
    let ao = LocalAo::builder()
        .limits(ao_local::Limits { inbox_max: 3, ..ao_local::Limits::default() })
        .build()
        .unwrap();
    let pid = ao.spawn_aos("").unwrap();
    for i in 0..5 {
        ao.call(msg(&pid, &[("Action", "Note")], &i.to_string())).unwrap();
    }
    assert_eq!(eval(&ao, &pid, "#Inbox"), "3");
    assert_eq!(eval(&ao, &pid, "Inbox[1].Data .. Inbox[3].Data"), "24");
}

#[test]
fn on_boot_runs_spawn_data_and_reports_its_result() {
    let ao = LocalAo::new();
    let pid = ao.spawn_aos("Booted = true; print('hello from boot')").unwrap();
    assert_eq!(eval(&ao, &pid, "Booted"), "true");
    let boot = ao.result_of(&pid, &pid.clone().into()).unwrap();
    assert_eq!(boot.output, "hello from boot");

    let broken = ao.spawn_aos("this is not lua").unwrap();
    let boot = ao.result_of(&broken, &broken.clone().into()).unwrap();
    assert!(boot.error.is_some(), "a failing boot is reported, the process still exists");
    assert_eq!(eval(&ao, &broken, "1"), "1");
}

#[test]
fn process_identity_globals() {
    let ao = LocalAo::new();
    let pid = ao.spawn_aos("").unwrap();
    assert_eq!(eval(&ao, &pid, "ao.id"), pid.to_string());
    assert_eq!(eval(&ao, &pid, "Owner"), ao.signer().to_string());
    assert_eq!(eval(&ao, &pid, "ao.env.Process.Tags['On-Boot']"), "Data");
}

#[test]
fn spawn_from_a_process_creates_a_child_and_notifies_the_parent() {
    let ao = LocalAo::new();
    let parent = ao
        .spawn_aos(
            r#"
        Handlers.add("Make", "Make", function()
            Spawn(ao._module, { Data = "Handlers.add('Q', 'Q', function() print('child of ' .. Owner) end)", ["On-Boot"] = "Data" })
        end)
        Handlers.add("Spawned", "Spawned", function(m) ChildId = m.Process end)
    "#,
        )
        .unwrap();
    action(&ao, &parent, "Make");
    let child: ProcessId = eval(&ao, &parent, "ChildId").parse().unwrap();
    assert_eq!(action(&ao, &child, "Q").output, format!("child of {parent}"));
    assert_eq!(ao.process_info(&child).unwrap().owner, parent.to_string());
    // The child's owner is its parent, so the signer may not Eval it.
    assert!(ao.eval(&child, "1").unwrap().error.unwrap().contains("unauthorized"));
    assert_eq!(ao.processes().len(), 2);
}

#[test]
fn runtime_modules_are_requirable_by_aos_names() {
    let ao = LocalAo::new();
    let pid = ao.spawn_aos("").unwrap();
    let out = eval(
        &ao,
        &pid,
        r#"local json = require('json'); local u = require('.utils');
           local ok = type(require('.base64')) == 'table' and type(require('.bint')) == 'function'
           return json.encode({ b = 2, a = { 1, 2 } }), u.matchesSpec({ Action = "X" }, "X"), ok"#,
    );
    assert_eq!(out, r#"{"a":[1,2],"b":2}	true	true"#);
}
