//! Plays a few arena turns on ao-local with full instrumentation and writes
//! what an operator deploys: the `/metrics` output in both formats, the alert
//! rules as a Prometheus rule file, the Grafana dashboard, and the
//! dashboard's queries as recording rules (so `promtool` can parse them).
//!
//! `cargo run -p ao-health --example export -- <dir>` (CI runs promtool on the files).

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ao_health::{
    AlertMetrics, AoProbe, DashboardOptions, EcsMetrics, Format, ProbeMetrics, Prober, Registry, Timestamp,
    builtin_rules, dashboard, rules_yaml,
};
use ao_local::LocalAo;
use ao_transport::{Address, Message};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "target/ao-health-export".into()));
    std::fs::create_dir_all(&dir)?;

    let registry = Registry::new();
    let ecs = EcsMetrics::register(&registry)?;
    let probes = ProbeMetrics::register(&registry)?;
    AlertMetrics::register(&registry)?;
    let knockouts = registry.counter_family("arena_knockouts", "Players knocked out.", &["process"])?;

    let ao = LocalAo::new();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/arena");
    let pid = ao.spawn_aos("")?;
    for line in std::fs::read_to_string(root.join("modules.txt"))?
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (name, path) = line.split_once(' ').ok_or("bad modules.txt line")?;
        let src = std::fs::read_to_string(root.join(path))?;
        let chunk = if name == "main" {
            src
        } else {
            format!("package.loaded[{name:?}] = (function(...)\n{src}\nend)({name:?})")
        };
        ao.eval(&pid, &chunk)?;
    }
    let arena = ecs.process(pid.as_str());
    let send = |from: &Address, tags: &[(&str, &str)]| -> Result<(), Box<dyn std::error::Error>> {
        let mut b = Message::builder(pid.clone());
        for (k, v) in tags {
            b = b.tag(*k, *v);
        }
        let (_, r) = ao.call_as(from, b.build()?)?;
        arena.action(tags[0].1).observe(&r);
        if r.messages.iter().any(|m| m.tag("Outcome") == Some("knockout")) {
            knockouts.with(&[pid.as_str()]).inc();
        }
        Ok(())
    };
    let players: Vec<Address> = (1..=4u8).map(|n| Address::from_bytes([n; 32])).collect();
    for p in &players {
        send(p, &[("Action", "Join")])?;
    }
    let owner = ao.signer();
    for turn in 0..20 {
        for (i, p) in players.iter().enumerate() {
            send(p, &[("Action", "Move"), ("Direction", ["N", "E", "S", "W"][(turn + i) % 4])])?;
        }
        let mut tick = arena.tick_timer();
        send(&owner, &[("Action", "Tick")])?;
        tick.system(&arena.system("regeneration"));
    }
    send(&players[0], &[("Action", "Eval")])?;
    let info = ao.process_info(&pid)?;
    arena.record_vitals(info.memory_bytes, info.unauthorized_evals);
    arena.set_component_counts(["player", "position", "health", "score"].map(|c| (c, players.len() as u64)));
    arena.archetype("health+player+position+score").set(players.len() as f64);

    let mut prober = Prober::new(Duration::from_secs(3600))
        .check(AoProbe::ping("arena", Arc::new(ao.clone()), pid.clone())?)
        .metrics(probes);
    prober.run(Timestamp::now());

    std::fs::write(dir.join("metrics.prom"), registry.encode(Format::Prometheus))?;
    std::fs::write(dir.join("metrics.om"), registry.encode(Format::OpenMetrics))?;
    std::fs::write(dir.join("rules.yml"), rules_yaml(&[builtin_rules()]))?;
    let board = dashboard(&registry, &DashboardOptions::default());
    std::fs::write(dir.join("dashboard.json"), serde_json::to_string_pretty(&board)?)?;

    // Every panel query as a recording rule, Grafana's variables filled in.
    let mut queries = String::from("groups:\n  - name: dashboard-queries\n    rules:\n");
    for panel in board["panels"].as_array().ok_or("no panels")? {
        for target in panel["targets"].as_array().ok_or("no targets")? {
            let expr = target["expr"].as_str().ok_or("no expr")?;
            let expr = expr.replace("$__rate_interval", "5m").replace("$process", ".*");
            let record =
                format!("dashboard:panel_{}_{}", panel["id"], target["refId"].as_str().unwrap_or("A"));
            writeln!(queries, "      - record: {record}\n        expr: {}", serde_json::to_string(&expr)?)?;
        }
    }
    std::fs::write(dir.join("dashboard-queries.yml"), queries)?;
    println!(
        "wrote metrics.prom, metrics.om, rules.yml, dashboard.json, dashboard-queries.yml to {}",
        dir.display()
    );
    Ok(())
}
