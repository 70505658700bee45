//! The arena's game rules, driven on ao-local with real messages.

use ao_local::LocalAo;
use ao_ops::arena;
use ao_transport::{Address, EvalResult, Message, ProcessId};

fn wallet(n: u8) -> Address {
    Address::from_bytes([n; 32])
}

fn send(ao: &LocalAo, pid: &ProcessId, who: &Address, action: &str, tags: &[(&str, &str)]) -> EvalResult {
    let msg = tags
        .iter()
        .fold(Message::builder(pid.clone()).tag("Action", action), |b, (n, v)| b.tag(*n, *v))
        .build()
        .unwrap();
    let (_, r) = ao.call_as(who, msg).unwrap();
    assert!(r.error.is_none(), "{action}: {:?}", r.error);
    r
}

fn reply<'a>(r: &'a EvalResult, tag: &str) -> &'a str {
    r.messages[0].tag(tag).unwrap_or_else(|| panic!("no {tag} in {:?}", r.messages[0].tags))
}

fn state(ao: &LocalAo, pid: &ProcessId) -> serde_json::Value {
    let r = send(ao, pid, &ao.signer(), "State", &[]);
    serde_json::from_slice(&r.messages[0].data).unwrap()
}

fn setup() -> (LocalAo, ProcessId) {
    let ao = LocalAo::builder().seed(1).build().unwrap();
    let (pid, loaded) = arena::spawn(&ao).unwrap();
    assert_eq!(loaded.len(), arena::MODULES.len());
    (ao, pid)
}

/// Two players, the second placed right below the first (at 1,1) by the
/// owner's Eval, so the second's move north is an attack.
fn face_off() -> (LocalAo, ProcessId, Address, Address) {
    let (ao, pid) = setup();
    let (a, b) = (wallet(1), wallet(2));
    send(&ao, &pid, &a, "Join", &[]);
    send(&ao, &pid, &b, "Join", &[]);
    let place = format!(
        "local ecs = require('arena.ecs'); local p = ecs.get(Arena.world, Arena.players['{b}'], 'position'); p.x, p.y = 1, 2"
    );
    assert!(ao.eval(&pid, &place).unwrap().is_ok());
    (ao, pid, a, b)
}

#[test]
fn modules_list_matches_modules_txt() {
    let listed: Vec<(String, String)> = include_str!("../../examples/arena/modules.txt")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let (name, path) = l.split_once(' ').unwrap();
            (name.to_owned(), path.trim().to_owned())
        })
        .collect();
    let embedded: Vec<(String, String)> =
        arena::MODULES.iter().map(|m| (m.name.to_owned(), m.path.to_owned())).collect();
    assert_eq!(listed, embedded);
}

#[test]
fn join_places_players_and_refuses_a_second_join() {
    let (ao, pid) = setup();
    let r = send(&ao, &pid, &wallet(1), "Join", &[("Name", "ann")]);
    assert_eq!(reply(&r, "Action"), "Joined");
    assert_eq!(r.messages[0].target, wallet(1).to_string(), "the reply goes to the player");
    let r = send(&ao, &pid, &wallet(2), "Join", &[("Name", "ben")]);
    assert_eq!(reply(&r, "Action"), "Joined");
    let r = send(&ao, &pid, &wallet(1), "Join", &[]);
    assert_eq!((reply(&r, "Action"), reply(&r, "Error")), ("Join-Error", "already joined"));

    let s = state(&ao, &pid);
    let players = s["players"].as_array().unwrap();
    assert_eq!(players.len(), 2);
    assert_eq!(players[0]["name"], "ann");
    assert_ne!(
        (&players[0]["x"], &players[0]["y"]),
        (&players[1]["x"], &players[1]["y"]),
        "distinct spawn points"
    );
    assert_eq!(s["components"]["position"], 2);
}

#[test]
fn moves_update_positions_and_respect_bounds() {
    let (ao, pid) = setup();
    let me = wallet(1);
    let r = send(&ao, &pid, &me, "Join", &[]);
    let (x, y): (i64, i64) = (reply(&r, "X").parse().unwrap(), reply(&r, "Y").parse().unwrap());
    assert_eq!((x, y), (1, 1), "first spawn point is the corner");
    let r = send(&ao, &pid, &me, "Move", &[("Direction", "N")]);
    assert_eq!((reply(&r, "Outcome"), reply(&r, "Y")), ("blocked", "1"), "north edge");
    let r = send(&ao, &pid, &me, "Move", &[("Direction", "W")]);
    assert_eq!(reply(&r, "Outcome"), "blocked");
    let r = send(&ao, &pid, &me, "Move", &[("Direction", "S")]);
    assert_eq!((reply(&r, "Outcome"), reply(&r, "X"), reply(&r, "Y")), ("moved", "1", "2"));
    let r = send(&ao, &pid, &me, "Move", &[("Direction", "E")]);
    assert_eq!((reply(&r, "X"), reply(&r, "Y")), ("2", "2"));
    let r = send(&ao, &pid, &me, "Move", &[("Direction", "NE")]);
    assert_eq!(reply(&r, "Action"), "Move-Error");
    assert!(reply(&r, "Error").contains("invalid direction NE"));
    let r = send(&ao, &pid, &wallet(9), "Move", &[("Direction", "N")]);
    assert_eq!(reply(&r, "Error"), "not joined");
}

#[test]
fn walking_into_a_player_hits_and_regeneration_heals() {
    let (ao, pid, a, b) = face_off();
    let r = send(&ao, &pid, &b, "Move", &[("Direction", "N")]);
    assert_eq!(reply(&r, "Outcome"), "hit");
    let hp = |s: &serde_json::Value, i: usize| s["players"][i]["hp"].as_i64().unwrap();
    assert_eq!(hp(&state(&ao, &pid), 0), 4);
    assert_eq!(state(&ao, &pid)["players"][1]["points"], 1);
    // Ticks are the owner's; the third heals one point.
    let owner = ao.signer();
    let heals: Vec<String> =
        (0..3).map(|_| reply(&send(&ao, &pid, &owner, "Tick", &[]), "Healed").to_owned()).collect();
    assert_eq!(heals, ["0", "0", "1"]);
    assert_eq!(hp(&state(&ao, &pid), 0), 5);
    let r = send(&ao, &pid, &a, "Tick", &[]);
    assert_eq!(reply(&r, "Action"), "Tick-Error");
}

#[test]
fn a_knockout_respawns_the_victim_with_full_health() {
    let (ao, pid, _, b) = face_off();
    let outcomes: Vec<String> = (0..5)
        .map(|_| reply(&send(&ao, &pid, &b, "Move", &[("Direction", "N")]), "Outcome").to_owned())
        .collect();
    assert_eq!(outcomes, ["hit", "hit", "hit", "hit", "knockout"]);
    let s = state(&ao, &pid);
    assert_eq!(s["players"][0]["hp"], 5);
    assert_ne!(
        (&s["players"][0]["x"], &s["players"][0]["y"]),
        (&serde_json::json!(1), &serde_json::json!(1))
    );
    // Five hits (the knockout blow is a hit too) and the knockout bonus.
    assert_eq!(s["players"][1]["points"], 5 + 5);
}

#[test]
fn the_same_messages_give_the_same_state() {
    let run = || {
        let (ao, pid) = setup();
        for n in 1..=4u8 {
            send(&ao, &pid, &wallet(n), "Join", &[]);
            for dir in ["E", "S", "E", "N"] {
                send(&ao, &pid, &wallet(n), "Move", &[("Direction", dir)]);
            }
            send(&ao, &pid, &ao.signer(), "Tick", &[]);
        }
        ao.state_hash(&pid).unwrap()
    };
    assert_eq!(run(), run());
}

#[test]
fn hot_reload_keeps_the_world_and_takes_new_code() {
    let (ao, pid) = setup();
    send(&ao, &pid, &wallet(1), "Join", &[]);
    send(&ao, &pid, &wallet(1), "Move", &[("Direction", "S")]);
    let before = state(&ao, &pid);
    arena::load(&ao, &pid).unwrap();
    assert_eq!(state(&ao, &pid)["players"], before["players"]);
    // New code takes effect: replace the Ping handler by Eval, as a deploy would.
    assert!(
        ao.eval(
            &pid,
            "Handlers.add('Ping', 'Ping', function(m) m.reply({ Action = 'Pong', Data = 'v2' }) end)"
        )
        .unwrap()
        .is_ok()
    );
    let r = send(&ao, &pid, &wallet(1), "Ping", &[]);
    assert_eq!(r.messages[0].data_str(), Some("v2"));
    let handlers = ao.process_info(&pid).unwrap().handlers;
    assert_eq!(handlers.iter().filter(|h| *h == "Ping").count(), 1, "replaced in place: {handlers:?}");
}

#[test]
fn only_the_owner_may_eval_code_into_the_arena() {
    let (ao, pid) = setup();
    let player = wallet(1);
    send(&ao, &pid, &player, "Join", &[]);
    let cheat =
        format!("require('arena.ecs').get(Arena.world, Arena.players['{player}'], 'score').points = 1000");
    let eval = Message::builder(pid.clone()).tag("Action", "Eval").data(cheat.as_str()).build().unwrap();

    let before = ao.state_hash(&pid).unwrap();
    let (_, r) = ao.call_as(&player, eval.clone()).unwrap();
    assert!(r.error.as_deref().is_some_and(|e| e.starts_with("unauthorized")), "{:?}", r.error);
    assert_eq!(ao.state_hash(&pid).unwrap(), before, "a refused Eval changes nothing");
    assert_eq!(state(&ao, &pid)["players"][0]["points"], 0);
    assert_eq!(ao.process_info(&pid).unwrap().unauthorized_evals, 1);

    // The same code from the owner runs: the refusal above was about who sent it.
    let (_, r) = ao.call(eval).unwrap();
    assert!(r.is_ok(), "{:?}", r.error);
    assert_eq!(state(&ao, &pid)["players"][0]["points"], 1000);
}
