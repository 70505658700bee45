//! `OpenMetrics` histograms against the specification: labelled histograms with
//! tiny and huge bounds, negative bounds, negative observations and a `NaN`
//! sum; checked by the rules of the specification (written out below), by
//! the reference Python parser, and sample for sample against prometheus-client.
#![allow(clippy::float_cmp)] // exact values are expected here

use std::collections::BTreeMap;
use std::io::Write as _;
use std::process::{Command, Stdio};

use ao_health::{Buckets, Format, Registry};
use prometheus_client::encoding::text;
use prometheus_client::metrics::{family, histogram};

/// Bounds whose canonical spelling the specification gives in its examples.
const BOUNDS: [f64; 6] = [1e-5, 0.001, 1.0, 10.0, 1e6, 1e23];
const CANONICAL: [&str; 7] = ["1e-05", "0.001", "1.0", "10.0", "1e+06", "1e+23", "+Inf"];

fn registry() -> Registry {
    let r = Registry::new();
    let lat = r
        .histogram_family(
            "lat_seconds",
            "Latency.",
            &["process", "kind"],
            &Buckets::new(BOUNDS.to_vec()).unwrap(),
        )
        .unwrap();
    lat.with(&["a\"b\\c\nd", "x"]).observe(0.5);
    lat.with(&["c", "y"]).observe(2e6);
    lat.with(&["c", "y"]).observe(0.0);
    // Untouched child: every bucket zero.
    let _ = lat.with(&["idle", "z"]);
    let temp = r
        .histogram_family(
            "temp_celsius",
            "Temperature.",
            &["site"],
            &Buckets::new(vec![-10.0, 0.0, 10.0]).unwrap(),
        )
        .unwrap();
    temp.with(&["s"]).observe(-20.0);
    temp.with(&["t"]).observe(5.0);
    let delta =
        r.histogram_family("delta", "Delta.", &["site"], &Buckets::new(vec![1.0, 2.0]).unwrap()).unwrap();
    delta.with(&["negative"]).observe(-3.0);
    delta.with(&["both_infinities"]).observe(f64::INFINITY);
    delta.with(&["both_infinities"]).observe(f64::NEG_INFINITY);
    delta.with(&["positive"]).observe(1.5);
    r.counter_family("jobs", "Jobs.", &["site"]).unwrap().with(&["s"]).inc_by(3);
    r
}

/// A sample as compared: name, labels, value bits.
type Key = (String, Vec<(String, String)>, u64);

/// One sample line: name, labels, value.
#[derive(Debug, Clone, PartialEq)]
struct Line {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// Parses `name{a="x",b="y"} value` with the specification's escapes.
fn parse_line(line: &str) -> Line {
    let (series, value) = line.rsplit_once(' ').unwrap();
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse().unwrap(),
    };
    let Some((name, rest)) = series.split_once('{') else {
        return Line { name: series.to_owned(), labels: BTreeMap::new(), value };
    };
    let body = rest.strip_suffix('}').unwrap();
    let mut labels = BTreeMap::new();
    let mut chars = body.chars().peekable();
    while chars.peek().is_some() {
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        assert_eq!(chars.next(), Some('"'));
        let mut val = String::new();
        loop {
            match chars.next().unwrap() {
                '"' => break,
                '\\' => match chars.next().unwrap() {
                    'n' => val.push('\n'),
                    c => val.push(c),
                },
                c => val.push(c),
            }
        }
        labels.insert(key, val);
        if chars.peek() == Some(&',') {
            chars.next();
        }
    }
    Line { name: name.to_owned(), labels, value }
}

/// Families: name -> (type, sample lines), in order.
fn families(text: &str) -> Vec<(String, String, Vec<Line>)> {
    assert!(text.ends_with("# EOF\n"), "no # EOF at the end");
    let mut out: Vec<(String, String, Vec<Line>)> = Vec::new();
    for l in text.lines().take_while(|l| *l != "# EOF") {
        if let Some(rest) = l.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            out.push((name.to_owned(), kind.to_owned(), Vec::new()));
        } else if !l.starts_with('#') {
            out.last_mut().unwrap().2.push(parse_line(l));
        }
    }
    out
}

/// The histogram rules of the `OpenMetrics` 1.0 specification, one metric point at a time.
fn check_histogram(name: &str, lines: &[Line]) {
    let mut points: Vec<(BTreeMap<String, String>, Vec<&Line>)> = Vec::new();
    for l in lines {
        let mut key = l.labels.clone();
        key.remove("le");
        match points.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => v.push(l),
            None => points.push((key, vec![l])),
        }
    }
    for (key, samples) in points {
        let at = format!("{name}{key:?}");
        let buckets: Vec<&&Line> = samples.iter().filter(|l| l.name == format!("{name}_bucket")).collect();
        let sum = samples.iter().find(|l| l.name == format!("{name}_sum"));
        let count = samples.iter().find(|l| l.name == format!("{name}_count"));
        let les: Vec<f64> = buckets.iter().map(|b| b.labels["le"].parse::<f64>().unwrap()).collect();
        assert!(les.windows(2).all(|w| w[0] < w[1]), "{at}: buckets out of order");
        assert_eq!(les.last(), Some(&f64::INFINITY), "{at}: no +Inf bucket");
        assert!(buckets.windows(2).all(|w| w[0].value <= w[1].value), "{at}: bucket values decrease");
        assert!(buckets.iter().all(|b| b.value >= 0.0 && b.value.fract() == 0.0), "{at}: bucket not a count");
        // "If and only if a Sum Value is present ... the +Inf bucket value MUST also appear ... _count."
        assert_eq!(sum.is_some(), count.is_some(), "{at}: _sum without _count or the reverse");
        if let Some(count) = count {
            assert_eq!(count.value, buckets.last().unwrap().value, "{at}: _count is not the +Inf bucket");
        }
        if let Some(sum) = sum {
            // Sum is a counter: not NaN, not negative; and absent with negative buckets.
            assert!(sum.value >= 0.0, "{at}: _sum {} is not a counter", sum.value);
            assert!(les[0] >= 0.0, "{at}: _sum with negative buckets");
        }
        assert_eq!(samples.len(), buckets.len() + 2 * usize::from(sum.is_some()), "{at}: stray samples");
    }
}

#[test]
fn histograms_follow_the_specification() {
    let text = registry().encode(Format::OpenMetrics);
    let fams = families(&text);
    assert_eq!(
        fams.iter().map(|f| f.0.as_str()).collect::<Vec<_>>(),
        ["lat_seconds", "temp_celsius", "delta", "jobs"]
    );
    for (name, kind, lines) in &fams {
        match kind.as_str() {
            "histogram" => check_histogram(name, lines),
            "counter" => assert!(lines.iter().all(|l| l.name == format!("{name}_total")), "{name}"),
            other => panic!("{other}"),
        }
    }
    // `le` canonical, as in the specification's examples, on every labelled point.
    let lat = &fams[0].2;
    for process in ["a\"b\\c\nd", "c", "idle"] {
        let les: Vec<&str> = lat
            .iter()
            .filter(|l| l.name == "lat_seconds_bucket" && l.labels["process"] == process)
            .map(|l| l.labels["le"].as_str())
            .collect();
        assert_eq!(les, CANONICAL, "{process}");
    }
    // Which points keep their sum: the positive ones only.
    let with_sum: Vec<String> = fams
        .iter()
        .flat_map(|f| &f.2)
        .filter(|l| l.name.ends_with("_sum"))
        .map(|l| format!("{}{:?}", l.name, l.labels.values().collect::<Vec<_>>()))
        .collect();
    assert_eq!(
        with_sum,
        [
            "lat_seconds_sum[\"x\", \"a\\\"b\\\\c\\nd\"]",
            "lat_seconds_sum[\"y\", \"c\"]",
            "lat_seconds_sum[\"z\", \"idle\"]",
            "delta_sum[\"positive\"]",
        ]
    );
}

/// The Prometheus text format keeps `_sum` and `_count` everywhere (it has no
/// counter rule for them), with Go's spelling of `le`.
#[test]
fn prometheus_text_keeps_sum_and_count() {
    let text = registry().encode(Format::Prometheus);
    assert!(text.contains("temp_celsius_sum{site=\"s\"} -20.0\n"), "{text}");
    assert!(text.contains("delta_count{site=\"both_infinities\"} 2\n"), "{text}");
    assert!(text.contains("lat_seconds_bucket{process=\"c\",kind=\"y\",le=\"1e+06\"} 1\n"), "{text}");
    assert!(text.contains("lat_seconds_bucket{process=\"c\",kind=\"y\",le=\"1\"} 1\n"), "{text}");
}

/// Runs the reference parser (Debian's python3-prometheus-client, which
/// `.ci/run` installs before the tests) and returns its samples, or `None`
/// when it is not installed and `AO_HEALTH_REQUIRE_PYTHON` (set by `.ci/run`) is not set.
fn python_samples(text: &str) -> Option<Vec<Line>> {
    const SCRIPT: &str = r#"
import json, math, sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse
for fam in parse(sys.stdin.read()):
    for s in fam.samples:
        v = s.value
        v = "+Inf" if v == math.inf else "-Inf" if v == -math.inf else "NaN" if v != v else repr(float(v))
        print(json.dumps([fam.type, s.name, s.labels, v]))
"#;
    let available = Command::new("/usr/bin/python3")
        .args(["-c", "import prometheus_client"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !available {
        assert!(
            std::env::var_os("AO_HEALTH_REQUIRE_PYTHON").is_none(),
            "AO_HEALTH_REQUIRE_PYTHON is set and /usr/bin/python3 cannot import prometheus_client (see .ci/run)"
        );
        eprintln!("skipped: /usr/bin/python3 with prometheus_client is not installed");
        return None;
    }
    let mut child = Command::new("/usr/bin/python3")
        .args(["-c", SCRIPT])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the reference parser refused it:\n{}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = String::from_utf8(out.stdout).unwrap();
    Some(
        lines
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                let labels = v[2]
                    .as_object()
                    .unwrap()
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
                    .collect();
                let value = match v[3].as_str().unwrap() {
                    "+Inf" => f64::INFINITY,
                    "-Inf" => f64::NEG_INFINITY,
                    x => x.parse().unwrap(),
                };
                Line { name: v[1].as_str().unwrap().to_owned(), labels, value }
            })
            .collect(),
    )
}

#[test]
fn the_reference_parser_accepts_and_reads_the_same_samples() {
    let text = registry().encode(Format::OpenMetrics);
    let Some(theirs) = python_samples(&text) else { return };
    let ours: Vec<Line> = families(&text).into_iter().flat_map(|f| f.2).collect();
    assert_eq!(theirs, ours);
}

/// prometheus-client on the same labelled histogram (non-negative, where it
/// writes what the specification allows): the same samples, `le` compared as numbers.
#[test]
fn same_samples_as_prometheus_client() {
    let ours = Registry::new();
    let fam = ours
        .histogram_family(
            "lat_seconds",
            "Latency.",
            &["process", "kind"],
            &Buckets::new(BOUNDS.to_vec()).unwrap(),
        )
        .unwrap();
    let mut pc = prometheus_client::registry::Registry::default();
    let make = || histogram::Histogram::new(BOUNDS);
    let pc_fam = family::Family::<Vec<(String, String)>, histogram::Histogram, _>::new_with_constructor(make);
    pc.register("lat_seconds", "Latency", pc_fam.clone());
    for (process, kind, v) in [("a\"b", "x", 0.5), ("c", "y", 2e6), ("c", "y", 0.0), ("a\"b", "x", 1e30)] {
        fam.with(&[process, kind]).observe(v);
        let labels = vec![("process".to_owned(), process.to_owned()), ("kind".to_owned(), kind.to_owned())];
        pc_fam.get_or_create(&labels).observe(v);
    }
    let mut theirs = String::new();
    text::encode(&mut theirs, &pc).unwrap();
    let norm = |text: &str| {
        let mut v: Vec<Key> = families(text)
            .into_iter()
            .flat_map(|f| f.2)
            .map(|mut l| {
                if let Some(le) = l.labels.get_mut("le") {
                    *le = le.parse::<f64>().unwrap().to_bits().to_string();
                }
                (l.name, l.labels.into_iter().collect(), l.value.to_bits())
            })
            .collect();
        v.sort();
        v
    };
    assert_eq!(norm(&ours.encode(Format::OpenMetrics)), norm(&theirs));
    // ... and where the spelling differs, ours is the specification's.
    assert!(
        theirs.contains("le=\"1000000.0\""),
        "prometheus-client changed; revisit the exception in expo.rs"
    );
    assert!(ours.encode(Format::OpenMetrics).contains("le=\"1e+06\""));
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(128))]

    /// Random bounds (negative ones too) and random observations (NaN and
    /// infinities too), in labelled families: every point follows the
    /// specification's histogram rules, and every `le` reads back as its bound.
    #[test]
    fn random_histograms_follow_the_specification(
        mut bounds in proptest::collection::vec(-1e9f64..1e9, 1..8),
        observations in proptest::collection::vec((0usize..3, proptest::num::f64::ANY), 0..40),
    ) {
        bounds.sort_by(f64::total_cmp);
        bounds.dedup();
        let r = Registry::new();
        let fam = r.histogram_family("h", "H.", &["k"], &Buckets::new(bounds.clone()).unwrap()).unwrap();
        for (child, v) in observations {
            fam.with(&[["a", "b\"", "c\n"][child]]).observe(v);
        }
        let text = r.encode(Format::OpenMetrics);
        for (name, kind, lines) in families(&text) {
            proptest::prop_assert_eq!(kind, "histogram");
            check_histogram(&name, &lines);
            let les: Vec<f64> =
                lines.iter().filter_map(|l| l.labels.get("le")).map(|le| le.parse::<f64>().unwrap()).collect();
            for chunk in les.chunks(bounds.len() + 1) {
                proptest::prop_assert_eq!(&chunk[..bounds.len()], &bounds[..]);
            }
        }
    }
}
