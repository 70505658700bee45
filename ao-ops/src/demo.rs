//! `ao-ops demo`: the arena game on the embedded ao-local AO.
//!
//! Spawns the arena process, loads its modules by Eval, and plays scripted turns
//! with three player wallets, printing what each message really produced. Any
//! unexpected outcome stops the demo with an error (and a non-zero exit).

use std::io::Write;

use anyhow::{Context, bail, ensure};
use ao_local::LocalAo;
use ao_transport::{Address, EvalResult, Message, ProcessId};

/// A player: a wallet and a name to print.
struct Player {
    name: &'static str,
    wallet: Address,
}

struct Demo<'a, W: Write> {
    ao: LocalAo,
    pid: ProcessId,
    out: &'a mut W,
}

impl<W: Write> Demo<'_, W> {
    /// Sends `action` with `tags` as `who` (the owner when `None`), prints the reply.
    fn send(
        &mut self,
        who: Option<&Player>,
        action: &str,
        tags: &[(&str, &str)],
    ) -> anyhow::Result<EvalResult> {
        self.send_data(who, action, tags, "")
    }

    /// [`send`](Self::send) with `data` as the message's data (its size is printed).
    fn send_data(
        &mut self,
        who: Option<&Player>,
        action: &str,
        tags: &[(&str, &str)],
        data: &str,
    ) -> anyhow::Result<EvalResult> {
        let msg = tags
            .iter()
            .fold(Message::builder(self.pid.clone()).tag("Action", action), |b, (n, v)| b.tag(*n, *v))
            .data(data)
            .build()?;
        let (name, result) = match who {
            Some(p) => (p.name, self.ao.call_as(&p.wallet, msg)?.1),
            None => ("owner", self.ao.call(msg)?.1),
        };
        let mut shown: Vec<String> = tags.iter().map(|(n, v)| format!("{n}={v}")).collect();
        if !data.is_empty() {
            shown.push(format!("({} bytes of data)", data.len()));
        }
        let sent = format!("{action} {}", shown.join(" "));
        writeln!(self.out, "  [{name:>5}] {:<20} -> {}", sent.trim_end(), describe(&result))?;
        Ok(result)
    }
}

/// A one-line account of a result: the reply's action and its interesting tags.
fn describe(result: &EvalResult) -> String {
    if let Some(err) = &result.error {
        return format!("error: {err}");
    }
    let Some(reply) = result.messages.first() else { return "no reply".into() };
    let skip = ["Data-Protocol", "Variant", "Type", "Reference", "X-Reference", "Action"];
    let extra: Vec<String> = reply
        .tags
        .iter()
        .filter(|t| !skip.contains(&t.name()))
        .map(|t| format!("{}={}", t.name(), t.value()))
        .collect();
    format!("{} {}", reply.tag("Action").unwrap_or("(no action)"), extra.join(" ")).trim_end().to_owned()
}

fn reply_action(result: &EvalResult) -> Option<&str> {
    result.messages.first().and_then(|m| m.tag("Action"))
}

/// Runs the demo with the given seed, writing its account to `out`.
pub fn run(seed: u64, out: &mut impl Write) -> anyhow::Result<()> {
    let ao = LocalAo::builder().seed(seed).build()?;
    writeln!(out, "ao-ops demo: the arena game on the embedded ao-local AO (seed {seed})")?;
    writeln!(out, "  signer (process owner): {}", ao.signer())?;

    let (pid, loaded) = crate::arena::spawn(&ao)?;
    writeln!(out, "\nspawned arena process {pid}")?;
    writeln!(out, "loaded {} modules by Eval, in dependency order:", loaded.len())?;
    for m in &loaded {
        // Gas is counted in blocks of 1000 Lua instructions.
        let gas = if m.gas == 0 { "< 1000".to_owned() } else { m.gas.to_string() };
        writeln!(out, "  {:<18} {:>5} bytes  gas {gas}", m.name, m.bytes)?;
    }

    let players = [
        Player { name: "alice", wallet: Address::from_bytes([0xa1; 32]) },
        Player { name: "bob", wallet: Address::from_bytes([0xb0; 32]) },
        Player { name: "carol", wallet: Address::from_bytes([0xca; 32]) },
    ];
    let [alice, bob, carol] = &players;
    let mut demo = Demo { ao: ao.clone(), pid: pid.clone(), out };

    writeln!(demo.out, "\nplayers join:")?;
    for p in &players {
        let r = demo.send(Some(p), "Join", &[("Name", p.name)])?;
        ensure!(reply_action(&r) == Some("Joined"), "{} could not join: {}", p.name, describe(&r));
    }
    let r = demo.send(Some(alice), "Join", &[("Name", "alice")])?;
    ensure!(reply_action(&r) == Some("Join-Error"), "joining twice must be refused");

    writeln!(demo.out, "\nturns:")?;
    let state = state_of(&mut demo)?;
    let (ax, ay) = find(&state, "alice")?;
    writeln!(demo.out, "  (alice starts at {ax},{ay})")?;
    for dir in ["E", "S", "W"] {
        let r = demo.send(Some(alice), "Move", &[("Direction", dir)])?;
        ensure!(reply_action(&r) == Some("Moved"), "alice's move {dir} failed: {}", describe(&r));
    }
    let r = demo.send(Some(bob), "Move", &[("Direction", "Up")])?;
    ensure!(reply_action(&r) == Some("Move-Error"), "an invalid direction must be refused");
    let r = demo.send(Some(carol), "Move", &[("Direction", "N")])?;
    ensure!(reply_action(&r) == Some("Moved"), "carol's move failed: {}", describe(&r));

    writeln!(demo.out, "\nbob hunts alice (walking into a player attacks it):")?;
    let mut hit = false;
    for _ in 0..40 {
        let state = state_of_quiet(&mut demo)?;
        let (a, b) = (find(&state, "alice")?, find(&state, "bob")?);
        let dir = if a.0 > b.0 {
            "E"
        } else if a.0 < b.0 {
            "W"
        } else if a.1 > b.1 {
            "S"
        } else {
            "N"
        };
        let r = demo.send(Some(bob), "Move", &[("Direction", dir)])?;
        ensure!(reply_action(&r) == Some("Moved"), "bob's move failed: {}", describe(&r));
        if matches!(r.messages[0].tag("Outcome"), Some("hit" | "knockout")) {
            hit = true;
            break;
        }
    }
    ensure!(hit, "bob never reached alice");

    writeln!(demo.out, "\nticks (owner only):")?;
    let mut healed = 0;
    for _ in 0..3 {
        let r = demo.send(None, "Tick", &[])?;
        ensure!(reply_action(&r) == Some("Ticked"), "tick failed: {}", describe(&r));
        healed += r.messages[0].tag("Healed").and_then(|h| h.parse::<u32>().ok()).unwrap_or(0);
    }
    ensure!(healed == 1, "regeneration should heal alice once in three ticks, healed {healed}");
    let r = demo.send(Some(bob), "Tick", &[])?;
    ensure!(reply_action(&r) == Some("Tick-Error"), "a player's Tick must be refused");

    writeln!(demo.out, "\nstate and health:")?;
    let r = demo.send(None, "Ping", &[])?;
    ensure!(reply_action(&r) == Some("Pong"), "ping failed");
    let before = ao.stats().messages;
    let dry = ao.simulate(Message::builder(pid.clone()).tag("Action", "State").build()?)?;
    ensure!(ao.stats().messages == before, "a dry run must not evaluate a message");
    let state = state_of(&mut demo)?;
    let dry_state: serde_json::Value = serde_json::from_slice(&dry.messages[0].data)?;
    ensure!(dry_state == state, "the dry-run State must equal the real one");
    writeln!(demo.out, "  dry-run State matches the real State, and changed nothing")?;
    writeln!(demo.out, "  tick {} with {} entities:", state["tick"], state["entities"])?;
    for p in state["players"].as_array().into_iter().flatten() {
        writeln!(
            demo.out,
            "    {:<6} at ({},{})  hp {}  points {}",
            p["name"].as_str().unwrap_or("?"),
            p["x"],
            p["y"],
            p["hp"],
            p["points"]
        )?;
    }

    writeln!(demo.out, "\nsecurity (bob tries to Eval Lua that gives him 1000 points):")?;
    let cheat = format!(
        "require('arena.ecs').get(Arena.world, Arena.players['{}'], 'score').points = 1000",
        bob.wallet
    );
    let hash_before = ao.state_hash(&pid)?;
    let r = demo.send_data(Some(bob), "Eval", &[], &cheat)?;
    ensure!(r.error.as_deref().is_some_and(|e| e.contains("unauthorized")), "bob's Eval must be refused");
    ensure!(ao.state_hash(&pid)? == hash_before, "a refused Eval must not change the process state");
    let after_cheat = state_of_quiet(&mut demo)?;
    ensure!(after_cheat["players"] == state["players"], "a refused Eval must not change the players");
    writeln!(
        demo.out,
        "  the process state hash is unchanged; bob's points are still {}",
        points(&after_cheat, "bob")?
    )?;

    writeln!(demo.out, "\nhot reload:")?;
    crate::arena::load(&ao, &pid)?;
    let after = state_of(&mut demo)?;
    ensure!(after["players"] == state["players"], "reloading the code must keep the players");
    writeln!(
        demo.out,
        "  reloaded {} modules; the world kept its {} players",
        crate::arena::MODULES.len(),
        after["players"].as_array().map_or(0, Vec::len)
    )?;

    let info = ao.process_info(&pid)?;
    let stats = ao.stats();
    let hash = ao.state_hash(&pid)?;
    writeln!(demo.out, "\nsummary:")?;
    writeln!(demo.out, "  processes:               {}", ao.processes().len())?;
    writeln!(demo.out, "  messages evaluated:      {} ({} with errors)", stats.messages, stats.errors)?;
    writeln!(
        demo.out,
        "  dry runs:                {} (State previews that changed nothing)",
        stats.dry_runs
    )?;
    writeln!(demo.out, "  handlers:                {}", info.handlers.join(", "))?;
    writeln!(demo.out, "  lua memory:              {} KiB", info.memory_bytes / 1024)?;
    writeln!(demo.out, "  unauthorized Evals:      {}", info.unauthorized_evals)?;
    writeln!(demo.out, "  state hash:              {}", hex(&hash))?;
    if info.unauthorized_evals != 1 {
        bail!("expected exactly one refused Eval, counted {}", info.unauthorized_evals);
    }
    Ok(())
}

fn state_of<W: Write>(demo: &mut Demo<'_, W>) -> anyhow::Result<serde_json::Value> {
    let r = demo.send(None, "State", &[])?;
    let reply = r.messages.first().context("State sent no reply")?;
    serde_json::from_slice(&reply.data).context("State reply is not JSON")
}

/// State without printing the request (used while steering a player).
fn state_of_quiet<W: Write>(demo: &mut Demo<'_, W>) -> anyhow::Result<serde_json::Value> {
    let msg = Message::builder(demo.pid.clone()).tag("Action", "State").build()?;
    let reply = demo.ao.simulate(msg)?;
    let data = &reply.messages.first().context("State sent no reply")?.data;
    serde_json::from_slice(data).context("State reply is not JSON")
}

/// A player's entry in a State reply.
fn player<'a>(state: &'a serde_json::Value, name: &str) -> anyhow::Result<&'a serde_json::Value> {
    state["players"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["name"] == name))
        .with_context(|| format!("{name} is not in the state"))
}

/// A player's position in a State reply.
fn find(state: &serde_json::Value, name: &str) -> anyhow::Result<(i64, i64)> {
    let p = player(state, name)?;
    Ok((p["x"].as_i64().unwrap_or_default(), p["y"].as_i64().unwrap_or_default()))
}

/// A player's points in a State reply.
fn points(state: &serde_json::Value, name: &str) -> anyhow::Result<i64> {
    player(state, name)?["points"].as_i64().with_context(|| format!("{name} has no points in the state"))
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}
