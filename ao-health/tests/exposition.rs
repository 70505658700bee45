//! The encoder against prometheus-client (the reference Rust client), byte for
//! byte on a fixed corpus and value for value on random input; golden files.
//! After an intended change of output, regenerate the golden files with
//! `UPDATE_GOLDEN=1 cargo test -p ao-health --test exposition` and review the diff.
#![allow(clippy::float_cmp, clippy::many_single_char_names)] // exact values and short names read better here

use std::path::Path;
use std::sync::atomic::AtomicU64;

use ao_health::{Buckets, EcsMetrics, Format, ProbeMetrics, Registry, Value, encode};
use prometheus_client::encoding::{prometheus_text, text};
use prometheus_client::metrics::{counter, family, gauge, histogram};
use prometheus_client::registry::Unit;
use proptest::prelude::*;

type Labels = Vec<(String, String)>;
type PcGauge = gauge::Gauge<f64, AtomicU64>;

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

fn pc_both(reg: &prometheus_client::registry::Registry) -> (String, String) {
    let mut prom = String::new();
    prometheus_text::encode(&mut prom, reg).unwrap();
    let mut om = String::new();
    text::encode(&mut om, reg).unwrap();
    (prom, om)
}

fn make() -> histogram::Histogram {
    histogram::Histogram::new([0.0001, 0.005, 0.01, 1.0, 2.5, 1e6])
}

/// The same metrics in both libraries; prometheus-client adds the final '.' to help.
#[test]
fn byte_for_byte_with_prometheus_client() {
    let ours = Registry::new();
    let mut pc = prometheus_client::registry::Registry::default();

    let c = ours.counter("ao_spawns", "Processes spawned.").unwrap();
    let pc_c: counter::Counter = counter::Counter::default();
    pc.register("ao_spawns", "Processes spawned", pc_c.clone());
    c.inc_by(7);
    pc_c.inc_by(7);

    let fam = ours.counter_family("ao_messages", "Messages evaluated.", &["process", "action"]).unwrap();
    let pc_fam = family::Family::<Labels, counter::Counter>::default();
    pc.register("ao_messages", "Messages evaluated", pc_fam.clone());
    let tricky = "a\"b\\c\nd é";
    fam.with(&[tricky, "Move"]).inc_by(3);
    pc_fam.get_or_create(&labels(&[("process", tricky), ("action", "Move")])).inc_by(3);

    for (i, v) in [2.5, 0.0, -1.0, 1e-7, 1e22, 123_456.789, f64::INFINITY, f64::NAN].into_iter().enumerate() {
        let name = format!("ao_gauge_{i}");
        ours.gauge(&name, "A gauge.").unwrap().set(v);
        let g = PcGauge::default();
        g.set(v);
        pc.register(name, "A gauge", g);
    }

    let bounds = vec![0.0001, 0.005, 0.01, 1.0, 2.5, 1e6];
    let h = ours
        .histogram("ao_tick_duration_seconds", "Tick duration.", &Buckets::new(bounds.clone()).unwrap())
        .unwrap();
    let pc_h = histogram::Histogram::new(bounds.clone());
    pc.register_with_unit("ao_tick_duration", "Tick duration", Unit::Seconds, pc_h.clone());
    let hf = ours
        .histogram_family(
            "ao_system_duration_seconds",
            "System duration.",
            &["system"],
            &Buckets::new(bounds.clone()).unwrap(),
        )
        .unwrap();
    let pc_hf = family::Family::<Labels, histogram::Histogram>::new_with_constructor(make as fn() -> _);
    pc.register_with_unit("ao_system_duration", "System duration", Unit::Seconds, pc_hf.clone());
    for v in [0.00005, 0.003, 0.5, 3.0, 2e6, 0.25] {
        h.observe(v);
        pc_h.observe(v);
        hf.with(&["movement"]).observe(v);
        pc_hf.get_or_create(&labels(&[("system", "movement")])).observe(v);
    }

    let (prom, om) = pc_both(&pc);
    assert_eq!(ours.encode(Format::Prometheus), prom);
    // prometheus-client writes an infinite OpenMetrics value as `inf`, which
    // the specification (and its Python parser) spell `+Inf`; we write `+Inf`.
    assert!(om.contains("ao_gauge_6 inf\n"), "prometheus-client changed; drop this exception");
    // It also writes the bound 1e6 as `1000000.0` where the specification's
    // canonical numbers say `1e+06` (tests/openmetrics.rs checks them).
    assert!(om.contains("le=\"1000000.0\""), "prometheus-client changed; drop this exception");
    let om = om.replace("ao_gauge_6 inf\n", "ao_gauge_6 +Inf\n").replace("le=\"1000000.0\"", "le=\"1e+06\"");
    assert_eq!(ours.encode(Format::OpenMetrics), om);
}

/// prometheus-client keeps a family's children in a hash map, so compare a
/// family of many children line by line, sorted.
#[test]
fn many_children_same_lines() {
    let ours = Registry::new();
    let mut pc = prometheus_client::registry::Registry::default();
    let fam = ours.gauge_family("ao_ecs_entities", "Entities.", &["process", "component"]).unwrap();
    let pc_fam = family::Family::<Labels, PcGauge>::default();
    pc.register("ao_ecs_entities", "Entities", pc_fam.clone());
    for (i, comp) in ["position", "health", "player", "score"].iter().enumerate() {
        for p in ["arena-1", "arena-2"] {
            fam.with(&[p, comp]).set(i as f64);
            pc_fam.get_or_create(&labels(&[("process", p), ("component", comp)])).set(i as f64);
        }
    }
    let sorted = |s: &str| {
        let mut v: Vec<&str> = s.lines().collect();
        v.sort_unstable();
        v.join("\n")
    };
    let (prom, om) = pc_both(&pc);
    assert_eq!(sorted(&ours.encode(Format::Prometheus)), sorted(&prom));
    assert_eq!(sorted(&ours.encode(Format::OpenMetrics)), sorted(&om));
}

/// The last token of each sample line, parsed, as bit patterns (NaN kept).
fn values(text: &str) -> Vec<(String, u64)> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            let (series, v) = l.rsplit_once(' ').unwrap();
            let v = match v {
                "+Inf" => f64::INFINITY,
                "-Inf" => f64::NEG_INFINITY,
                other => other.parse::<f64>().unwrap(),
            };
            (series.to_owned(), if v.is_nan() { u64::MAX } else { v.to_bits() })
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Any label value and any gauge value: the same series, escaped alike,
    /// and the same value read back (the digits may differ in rare cases,
    /// since dtoa's Grisu2 is not always shortest).
    #[test]
    fn same_series_and_values_as_prometheus_client(
        value in "\\PC{0,12}|[\"\\\\\n]{1,4}",
        bits in any::<u64>(),
        count in any::<u32>(),
    ) {
        let v = f64::from_bits(bits);
        let ours = Registry::new();
        let mut pc = prometheus_client::registry::Registry::default();
        ours.gauge_family("g", "G.", &["k"]).unwrap().with(&[&value]).set(v);
        let g = family::Family::<Labels, PcGauge>::default();
        pc.register("g", "G", g.clone());
        g.get_or_create(&labels(&[("k", &value)])).set(v);
        ours.counter_family("c", "C.", &["k"]).unwrap().with(&[&value]).inc_by(u64::from(count));
        let c = family::Family::<Labels, counter::Counter>::default();
        pc.register("c", "C", c.clone());
        c.get_or_create(&labels(&[("k", &value)])).inc_by(u64::from(count));
        let (prom, om) = pc_both(&pc);
        prop_assert_eq!(values(&ours.encode(Format::Prometheus)), values(&prom));
        prop_assert_eq!(values(&ours.encode(Format::OpenMetrics)), values(&om));
    }
}

fn check_golden(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden").join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(expected == actual, "{} differs from the output; see UPDATE_GOLDEN in this file", path.display());
}

/// Every built-in ECS and probe family with fixed values, in both formats.
#[test]
fn golden_builtin_families() {
    let registry = Registry::new();
    let ecs = EcsMetrics::register(&registry).unwrap();
    let probes = ProbeMetrics::register(&registry).unwrap();
    let _ = probes;
    let p = ecs.process("arena-1");
    p.set_component_counts([("position", 3), ("health", 3), ("player", 3), ("score", 3)]);
    p.archetype("health+player+position+score").set(3.0);
    for v in [0.0002, 0.0004, 0.003] {
        p.system("movement").observe(v);
        p.tick().observe(v * 2.0);
    }
    p.record_vitals(262_144, 1);
    let moves = p.action("Move");
    moves.messages.inc_by(12);
    moves.errors.inc();
    p.rejected(ao_health::Rejection::Unauthorized).inc();
    let mut snap = registry.snapshot();
    // Resident memory is whatever the test binary uses: pin it.
    let rss =
        snap.families.iter_mut().find(|f| f.descriptor.name() == "process_resident_memory_bytes").unwrap();
    rss.series[0].value = Value::Gauge(1_048_576.0);
    check_golden("builtin.prom", &encode(&snap, Format::Prometheus));
    check_golden("builtin.om", &encode(&snap, Format::OpenMetrics));
}
