//! The router and the process module, on ao-local with the arena game: trust of
//! forwarded senders, buffering, authority, shadows, and state export/import
//! byte-exact with the Rust codec.

mod support;

use std::collections::BTreeMap;

use ao_deploy::{Key, StateValue, bucket, decode, encode};
use ao_local::LocalAo;
use ao_transport::Message;
use proptest::prelude::*;
use support::{World, ask, game_state, info, player, router_status};

fn msg(to: &ao_transport::ProcessId, tags: &[(&str, &str)]) -> Message {
    tags.iter().fold(Message::builder(to.clone()), |b, (n, v)| b.tag(*n, *v)).build().unwrap()
}

#[test]
fn the_game_sees_the_original_sender_behind_the_router() {
    let w = World::new(LocalAo::new());
    let ann = player(1);
    let (_, r) = w.ao.call_as(&ann, msg(&w.router, &[("Action", "Join"), ("Name", "ann")])).unwrap();
    assert!(r.error.is_none());
    let state: serde_json::Value = serde_json::from_str(&game_state(&w.ao, &w.blue)).unwrap();
    assert_eq!(
        state["players"][0]["wallet"],
        ann.to_string(),
        "the player is keyed by its wallet, not the router"
    );
    assert_eq!(state["players"][0]["name"], "ann");

    // The game's reply to a forwarded message goes to the player, not to the router:
    // what the game does with ann's Move as the router forwards it.
    let from_router = ao_transport::Address::new(w.router.as_str()).unwrap();
    let forwarded = msg(
        &w.blue,
        &[("Action", "Move"), ("Direction", "E"), ("Forwarded-From", ann.as_ref()), ("Forward-Seq", "99")],
    );
    let r = w.ao.simulate_as(&from_router, forwarded).unwrap();
    let reply = r.messages.iter().find(|m| m.tag("Action") == Some("Moved")).expect("moved");
    assert_eq!(reply.target, ann.to_string());

    // Authorization behind the router: the owner may tick through it, a player may not.
    let before = w.ao.stats().messages;
    w.ao.submit(msg(&w.router, &[("Action", "Tick")])).unwrap();
    w.ao.submit_as(&ann, msg(&w.router, &[("Action", "Tick")])).unwrap();
    assert_eq!(w.ao.stats().messages - before, 4, "two messages, each through the router");
    let state: serde_json::Value = serde_json::from_str(&game_state(&w.ao, &w.blue)).unwrap();
    assert_eq!(state["tick"], 1, "only the owner's tick counted");

    // A forged Forwarded-From sent straight to the game is ignored: the game
    // sees the real sender, who has not joined.
    let mallory = player(9);
    let (_, r) =
        w.ao.call_as(
            &mallory,
            msg(&w.blue, &[("Action", "Move"), ("Direction", "N"), ("Forwarded-From", ann.as_ref())]),
        )
        .unwrap();
    let reply = r.messages.iter().find(|m| m.tag("Action") == Some("Move-Error")).expect("move refused");
    assert_eq!(reply.target, mallory.to_string());
    assert_eq!(reply.tag("Error"), Some("not joined"));

    // And a forged one sent through the router is replaced by the real sender.
    w.ao.submit_as(&mallory, msg(&w.router, &[("Action", "Join"), ("Forwarded-From", ann.as_ref())]))
        .unwrap();
    let state: serde_json::Value = serde_json::from_str(&game_state(&w.ao, &w.blue)).unwrap();
    assert_eq!(state["players"].as_array().unwrap().len(), 2);
    assert_eq!(state["players"][1]["wallet"], mallory.to_string());
    let ledger = &info(&w.ao, &w.blue)["ledger"];
    assert_eq!((ledger["count"].as_u64(), ledger["dup"].as_u64()), (Some(4), Some(0)));
}

#[test]
fn held_messages_are_forwarded_in_order_once() {
    let w = World::new(LocalAo::new());
    let r = w.ao.call(msg(&w.router, &[("Action", "Deploy-Hold")])).unwrap().1;
    assert_eq!(r.messages[0].tag("Last-Seq"), Some("0"));
    for i in 0..5 {
        w.ao.submit_as(&player(i), msg(&w.router, &[("Action", "Join")])).unwrap();
    }
    let status = router_status(&w.ao, &w.router);
    assert_eq!((status["mode"].as_str(), status["buffered"].as_u64()), (Some("hold"), Some(5)));
    assert_eq!(game_state(&w.ao, &w.blue).matches("wallet").count(), 0, "nothing reached the game");

    // Only the deployer may route; a player's attempt is refused and changes nothing.
    let (_, r) =
        w.ao.call_as(&player(1), msg(&w.router, &[("Action", "Deploy-Route"), ("Active", w.blue.as_str())]))
            .unwrap();
    assert_eq!(r.messages[0].tag("Action"), Some("Deploy-Refused"));
    assert_eq!(router_status(&w.ao, &w.router)["mode"], "hold");

    let (_, r) =
        w.ao.call(msg(&w.router, &[("Action", "Deploy-Route"), ("Active", w.blue.as_str())])).unwrap();
    assert_eq!(
        r.messages.iter().find(|m| m.tag("Action") == Some("Deploy-Routed")).unwrap().tag("Flushed"),
        Some("5")
    );
    let state: serde_json::Value = serde_json::from_str(&game_state(&w.ao, &w.blue)).unwrap();
    let wallets: Vec<String> = state["players"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["wallet"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(wallets, (0..5).map(|i| player(i).to_string()).collect::<Vec<_>>(), "arrival order kept");
    // Routing again (a retried switch) forwards nothing twice.
    let (_, r) =
        w.ao.call(msg(&w.router, &[("Action", "Deploy-Route"), ("Active", w.blue.as_str())])).unwrap();
    assert_eq!(
        r.messages.iter().find(|m| m.tag("Action") == Some("Deploy-Routed")).unwrap().tag("Flushed"),
        Some("0")
    );
    assert_eq!(info(&w.ao, &w.blue)["ledger"]["count"], 5);
}

#[test]
fn shadows_get_a_sticky_share_and_send_nothing() {
    let w = World::new(LocalAo::new());
    let (canary, _) = support::install(&w.ao, &w.v1, false);
    // The canary trusts the router too.
    w.ao.eval(&canary, &ao_deploy::configure(w.v1.reference(), Some(&w.router), &support::globals()))
        .unwrap();
    let (_, r) =
        w.ao.call(msg(
            &w.router,
            &[
                ("Action", "Deploy-Route"),
                ("Active", w.blue.as_str()),
                ("Shadow", canary.as_str()),
                ("Weight", "50"),
            ],
        ))
        .unwrap();
    assert!(r.messages.iter().any(|m| m.tag("Action") == Some("Deploy-Routed")));
    let players: Vec<_> = (0..40).map(player).collect();
    for p in &players {
        w.ao.submit_as(p, msg(&w.router, &[("Action", "Join")])).unwrap();
    }
    let expected = players.iter().filter(|p| bucket(p.as_ref()) < 50).count() as u64;
    assert!(expected > 5 && expected < 35, "{expected}");
    let stats = &info(&w.ao, &canary)["stats"];
    assert_eq!(stats["shadow"].as_u64(), Some(expected));
    assert_eq!(stats["suppressed"].as_u64(), Some(expected), "every Joined reply held back");
    let blue: serde_json::Value = serde_json::from_str(&game_state(&w.ao, &w.blue)).unwrap();
    assert_eq!(blue["players"].as_array().unwrap().len(), 40, "the stable process serves everyone");
    let shadow: serde_json::Value = serde_json::from_str(&game_state(&w.ao, &canary)).unwrap();
    assert_eq!(shadow["players"].as_array().unwrap().len() as u64, expected);
    assert_eq!(router_status(&w.ao, &w.router)["stats"]["mirrored"].as_u64(), Some(expected));
}

#[test]
fn export_refuses_what_cannot_move_and_names_where() {
    let w = World::new(LocalAo::new());
    let cases = [
        ("Arena.f = function() end", "cannot export a function at Arena.f"),
        ("Arena.loop = Arena", "the table at Arena.loop is also at Arena (shared tables cannot be exported)"),
        ("Arena.m = setmetatable({}, {})", "cannot export a table with a metatable at Arena.m"),
        ("Arena.k = { [{}] = 1 }", "cannot export a table used as a key at Arena.k"),
    ];
    for (lua, expected) in cases {
        let r = w.ao.eval(&w.blue, &format!("Saved = Arena.f; {lua}")).unwrap();
        assert!(r.error.is_none());
        let (_, r) =
            w.ao.call(msg(
                &w.blue,
                &[("Action", "Export-State"), ("Export-Id", lua), ("Chunk-Size", "64"), ("Chunk", "1")],
            ))
            .unwrap();
        let err = r
            .messages
            .iter()
            .find(|m| m.tag("Action") == Some("State-Error"))
            .expect(lua)
            .tag("Error")
            .unwrap()
            .to_owned();
        assert_eq!(err, expected);
        w.ao.eval(&w.blue, "Arena.f = nil; Arena.loop = nil; Arena.m = nil; Arena.k = nil").unwrap();
    }
    // Only the owner may export.
    let (_, r) =
        w.ao.call_as(
            &player(3),
            msg(
                &w.blue,
                &[("Action", "Export-State"), ("Export-Id", "x"), ("Chunk-Size", "64"), ("Chunk", "1")],
            ),
        )
        .unwrap();
    assert!(r.messages[0].tag("Error").unwrap().contains("only the owner"));
}

fn values() -> impl Strategy<Value = StateValue> {
    let leaf = prop_oneof![
        any::<bool>().prop_map(StateValue::Bool),
        any::<i64>().prop_map(StateValue::Int),
        any::<f64>().prop_filter("no NaN", |f| !f.is_nan()).prop_map(StateValue::float),
        proptest::collection::vec(any::<u8>(), 0..12).prop_map(StateValue::Str),
    ];
    let key = prop_oneof![
        any::<bool>().prop_map(Key::Bool),
        (-50i64..50).prop_map(Key::Int),
        (-50i64..50).prop_map(|i| Key::Float((i as f64 + 0.25).to_bits())),
        "[a-z\\x00-\\x7f]{0,6}".prop_map(|s| Key::Str(s.into_bytes())),
    ];
    leaf.prop_recursive(4, 40, 6, move |inner| {
        proptest::collection::btree_map(key.clone(), inner, 0..6).prop_map(StateValue::Table)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Rust encodes, the process imports (in small chunks) and exports: the
    /// same bytes come back, so BLAKE3 checks between the two sides hold.
    #[test]
    fn lua_and_rust_agree_byte_for_byte(arena in values()) {
        let w = World::new(LocalAo::new());
        let blob = StateValue::Table(BTreeMap::from([
            (Key::str("globals"), StateValue::Table(BTreeMap::from([(Key::str("Arena"), arena)]))),
            (Key::str("ledger"), StateValue::Table(BTreeMap::from([(Key::str("last"), StateValue::Int(7)), (Key::str("count"), StateValue::Int(7)), (Key::str("dup"), StateValue::Int(0))]))),
        ]));
        let bytes = encode(&blob);
        let chunks: Vec<&[u8]> = bytes.chunks(37).collect();
        for (i, c) in chunks.iter().enumerate() {
            let (i, n) = ((i + 1).to_string(), chunks.len().to_string());
            let m = Message::builder(w.blue.clone()).tag("Action", "Import-State").tag("Import-Id", "p").tag("Chunk", i).tag("Chunks", n).data(c.to_vec()).build().unwrap();
            let (_, r) = w.ao.call(m).unwrap();
            prop_assert!(r.messages.iter().all(|m| m.tag("Action") != Some("State-Error")), "{:?}", r.messages);
        }
        let mut out = Vec::new();
        let mut chunk = 1;
        loop {
            let m = Message::builder(w.blue.clone()).tag("Action", "Export-State").tag("Export-Id", "e").tag("Chunk-Size", "29").tag("Chunk", chunk.to_string()).build().unwrap();
            let (_, r) = w.ao.call(m).unwrap();
            let reply = r.messages.iter().find(|m| m.tag("Action") == Some("State-Chunk")).expect("chunk");
            out.extend_from_slice(&reply.data);
            if reply.tag("Chunks") == Some(chunk.to_string().as_str()) { break; }
            chunk += 1;
        }
        prop_assert_eq!(&out, &bytes);
        prop_assert_eq!(decode(&out).unwrap(), blob);
        prop_assert_eq!(info(&w.ao, &w.blue)["ledger"]["last"].as_u64(), Some(7));
    }
}

#[test]
fn a_played_arena_exports_what_rust_decodes_and_re_encodes_identically() {
    let w = World::new(LocalAo::new());
    let mut players = support::Players::new(12, 5);
    players.send(&w.ao, &w.router, 300);
    let (_, r) =
        w.ao.call(msg(
            &w.blue,
            &[("Action", "Export-State"), ("Export-Id", "a"), ("Chunk-Size", "1000000"), ("Chunk", "1")],
        ))
        .unwrap();
    let data = r.messages.iter().find(|m| m.tag("Action") == Some("State-Chunk")).unwrap().data.clone();
    let v = decode(&data).unwrap();
    assert_eq!(encode(&v), data);
    let arena = v.get("globals").and_then(|g| g.get("Arena")).unwrap();
    assert_eq!(arena.get("joined").and_then(StateValue::as_int), Some(12));
    assert_eq!(v.get("ledger").and_then(|l| l.get("count")).and_then(StateValue::as_int), Some(300));
    let _ = ask(&w.ao, &w.blue, "Ping");
}

#[test]
fn a_full_router_buffer_refuses_to_the_sender_and_loses_nothing() {
    let w = World::new(LocalAo::new());
    let r = w.ao.eval(&w.router, "DeployRouter.MaxBuffer = 3").unwrap();
    assert!(r.error.is_none(), "{:?}", r.error);
    w.ao.call(msg(&w.router, &[("Action", "Deploy-Hold")])).unwrap();
    let mut refused = Vec::new();
    for i in 0..5 {
        let (id, r) = w.ao.call_as(&player(i), msg(&w.router, &[("Action", "Join")])).unwrap();
        if let Some(busy) = r.messages.iter().find(|m| m.tag("Action") == Some("Deploy-Router-Busy")) {
            assert_eq!(busy.target, player(i).to_string(), "the refusal goes to the sender");
            assert_eq!(busy.tag("Refused-Id"), Some(id.as_str()), "and names the message");
            refused.push(i);
        }
    }
    assert_eq!(refused, vec![3, 4], "the first three are buffered, the rest refused");
    let status = router_status(&w.ao, &w.router);
    assert_eq!((status["buffered"].as_u64(), status["stats"]["rejected"].as_u64()), (Some(3), Some(2)));

    let (_, r) =
        w.ao.call(msg(&w.router, &[("Action", "Deploy-Route"), ("Active", w.blue.as_str())])).unwrap();
    let routed = r.messages.iter().find(|m| m.tag("Action") == Some("Deploy-Routed")).unwrap();
    assert_eq!((routed.tag("Flushed"), routed.tag("Rejected")), (Some("3"), Some("2")));
    // The refused senders send again once the switch is done: everyone is served once.
    for i in refused {
        w.ao.submit_as(&player(i), msg(&w.router, &[("Action", "Join")])).unwrap();
    }
    let state: serde_json::Value = serde_json::from_str(&game_state(&w.ao, &w.blue)).unwrap();
    assert_eq!(state["players"].as_array().unwrap().len(), 5);
    let ledger = &info(&w.ao, &w.blue)["ledger"];
    assert_eq!((ledger["count"].as_u64(), ledger["dup"].as_u64()), (Some(5), Some(0)));
}

#[test]
fn router_boot_sets_the_buffer_limit() {
    let ao = LocalAo::new();
    let blue = ao.spawn_aos("").unwrap();
    let router = ao.spawn_aos(&ao_deploy::router_boot_limited(&blue, &ao.signer(), 7)).unwrap();
    assert_eq!(router_status(&ao, &router)["max_buffer"].as_u64(), Some(7));
    let router = ao.spawn_aos(&ao_deploy::router_boot(&blue, &ao.signer())).unwrap();
    assert_eq!(router_status(&ao, &router)["max_buffer"].as_u64(), Some(ao_deploy::ROUTER_MAX_BUFFER as u64));
}

#[test]
fn forged_forwarding_tags_are_gone_from_every_view_of_the_message() {
    let w = World::new(LocalAo::new());
    // A game handler that reports every tag it can see, by each view aos gives.
    let seen = r"
        Handlers.add('Tags', 'Tags', function(msg)
          local names = {}
          for _, t in ipairs(msg.TagArray) do names[#names + 1] = 'array:' .. t.name end
          for k in pairs(msg.Tags) do names[#names + 1] = 'map:' .. k end
          if msg['Forwarded-From'] then names[#names + 1] = 'field:Forwarded-From' end
          table.sort(names)
          msg.reply({ Action = 'Tags', Data = table.concat(names, ' ') })
        end)";
    assert!(w.ao.eval(&w.blue, seen).unwrap().error.is_none());
    let ann = player(1);
    let forged = [("Action", "Tags"), ("Forwarded-From", ann.as_ref()), ("Forward-Seq", "7")];
    let check = |r: ao_transport::EvalResult, how: &str| {
        let reply = r.messages.iter().find(|m| m.tag("Action") == Some("Tags")).expect(how);
        let names = reply.data_str().unwrap();
        assert!(!names.contains("Forward"), "{how}: the game saw {names}");
        assert!(names.contains("array:Action") && names.contains("map:Action"), "{how}: {names}");
    };
    let (_, r) = w.ao.call_as(&player(9), msg(&w.blue, &forged)).unwrap();
    check(r, "sent straight to the game");
    // Through the router the real forwarding tags are consumed, not shown either.
    let from_router = ao_transport::Address::new(w.router.as_str()).unwrap();
    check(w.ao.simulate_as(&from_router, msg(&w.blue, &forged)).unwrap(), "from the router");
}

#[test]
fn a_switch_that_fails_halfway_through_the_flush_keeps_the_buffer() {
    let w = World::new(LocalAo::new());
    w.ao.call(msg(&w.router, &[("Action", "Deploy-Hold")])).unwrap();
    for i in 0..5 {
        w.ao.submit_as(&player(i), msg(&w.router, &[("Action", "Join")])).unwrap();
    }
    // The third forward fails (as a flush over the process's limits would): the
    // handler errs and, as in aos, nothing it sent leaves.
    let fail = "SavedSend = ao.send; local n = 0
        ao.send = function(m) n = n + 1; if n == 3 then error('boom') end; return SavedSend(m) end";
    assert!(w.ao.eval(&w.router, fail).unwrap().error.is_none());
    let (_, r) =
        w.ao.call(msg(&w.router, &[("Action", "Deploy-Route"), ("Active", w.blue.as_str())])).unwrap();
    assert!(r.error.is_some(), "the switch failed");
    assert_eq!(game_state(&w.ao, &w.blue).matches("wallet").count(), 0, "nothing reached the game");
    let status = router_status(&w.ao, &w.router);
    assert_eq!((status["mode"].as_str(), status["buffered"].as_u64()), (Some("hold"), Some(5)), "{status}");
    assert_eq!(status["forwarded"].as_u64(), Some(0));
    // The deployer switches again: every message once, in order.
    assert!(w.ao.eval(&w.router, "ao.send = SavedSend").unwrap().error.is_none());
    let (_, r) =
        w.ao.call(msg(&w.router, &[("Action", "Deploy-Route"), ("Active", w.blue.as_str())])).unwrap();
    let routed = r.messages.iter().find(|m| m.tag("Action") == Some("Deploy-Routed")).unwrap();
    assert_eq!(routed.tag("Flushed"), Some("5"));
    let ledger = &info(&w.ao, &w.blue)["ledger"];
    assert_eq!(
        (ledger["count"].as_u64(), ledger["dup"].as_u64(), ledger["last"].as_u64()),
        (Some(5), Some(0), Some(5))
    );
}

#[test]
fn an_export_names_the_ledger_of_the_state_it_carries_not_a_later_one() {
    let w = World::new(LocalAo::new());
    let mut players = support::Players::new(4, 9);
    players.send(&w.ao, &w.router, 20);
    let chunk = |n: &str| {
        let (_, r) =
            w.ao.call(msg(
                &w.blue,
                &[("Action", "Export-State"), ("Export-Id", "l"), ("Chunk-Size", "64"), ("Chunk", n)],
            ))
            .unwrap();
        let m = r.messages.into_iter().find(|m| m.tag("Action") == Some("State-Chunk")).unwrap();
        (m.tag("Chunks").unwrap().to_owned(), m.tag("Ledger-Last").unwrap().to_owned())
    };
    let (chunks, first) = chunk("1");
    assert_ne!(chunks, "1", "a state of several chunks");
    assert_eq!(first, "20");
    // Handled between chunks: not in the exported state, so not in its ledger.
    players.send(&w.ao, &w.router, 3);
    assert_eq!(info(&w.ao, &w.blue)["ledger"]["last"].as_u64(), Some(23));
    let (_, last) = chunk(&chunks);
    assert_eq!(last, "20", "the last chunk reports the ledger as of the exported state");
}
