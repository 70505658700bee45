//! Exposition: the Prometheus text format (0.0.4) and `OpenMetrics` text (1.0.0).
//!
//! The encoder is written here rather than taken from `prometheus-client`
//! because the registry's handles are its own atomics (prometheus-client's
//! histogram takes a lock per observation) and because both formats are
//! needed from one snapshot. It writes what prometheus-client writes, byte
//! for byte (`tests/exposition.rs` compares them), except where
//! prometheus-client departs from the `OpenMetrics` specification: it writes
//! an infinite gauge as `inf` (here `+Inf`), leaves `# HELP` text unescaped
//! (here `\\`, `\n` and `\"` are escaped), writes bucket bounds as `dtoa`
//! does (`1000000.0`, `1e-5`) where the specification's canonical numbers are
//! Go's `%g` with `.0` added (`1e+06`, `1e-05`), and always writes `_sum` and
//! `_count`, which the specification forbids when the sum is not a counter.
//!
//! `OpenMetrics` histograms here: `_sum` and `_count` (together, or neither),
//! then the buckets in increasing `le` with `+Inf` last, `le` canonical. A
//! histogram whose bounds go below zero, or whose sum is negative or `NaN`
//! (negative observations, or both infinities), has no `_sum` and so no
//! `_count`: the specification makes both counters, and the buckets still
//! carry the count (the `+Inf` bucket). No `_created` is written (it is
//! optional), nor for counters. The Prometheus text format has no such rule
//! and always writes both.

use std::fmt::Write;

use crate::labels::EscapeLabel;
use crate::registry::{Descriptor, MetricType, Registry, SeriesSnapshot, Snapshot, Value};

/// A text exposition format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// The Prometheus text format, version 0.0.4.
    Prometheus,
    /// `OpenMetrics` text, version 1.0.0 (ends with `# EOF`).
    OpenMetrics,
}

impl Format {
    /// The HTTP `Content-Type` of the format.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Prometheus => "text/plain; version=0.0.4; charset=utf-8",
            Self::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }

    /// The format a scraper asks for in its `Accept` header: `OpenMetrics` when
    /// it lists `application/openmetrics-text`, the Prometheus text format otherwise.
    pub fn from_accept(accept: Option<&str>) -> Self {
        match accept {
            Some(a)
                if a.split(',').any(|part| {
                    let media = part.split(';').next().unwrap_or("").trim();
                    media.eq_ignore_ascii_case("application/openmetrics-text")
                }) =>
            {
                Self::OpenMetrics
            }
            _ => Self::Prometheus,
        }
    }
}

impl Registry {
    /// A snapshot of every family, encoded.
    pub fn encode(&self, format: Format) -> String {
        encode(&self.snapshot(), format)
    }
}

/// Encodes a snapshot in `format`.
pub fn encode(snapshot: &Snapshot, format: Format) -> String {
    let mut out = String::with_capacity(256 * snapshot.families.len().max(1));
    for fam in &snapshot.families {
        let d = &fam.descriptor;
        match format {
            Format::Prometheus => prometheus_family(&mut out, d, &fam.series),
            Format::OpenMetrics => openmetrics_family(&mut out, d, &fam.series),
        }
    }
    if format == Format::OpenMetrics {
        out.push_str("# EOF\n");
    }
    out
}

fn prometheus_family(out: &mut String, d: &Descriptor, series: &[SeriesSnapshot]) {
    let exposed =
        if d.kind() == MetricType::Counter { format!("{}_total", d.name()) } else { d.name().to_owned() };
    let _ = writeln!(out, "# HELP {exposed} {}", EscapeHelp { text: d.help(), quotes: false });
    let _ = writeln!(out, "# TYPE {exposed} {}", d.kind().as_str());
    for s in series {
        match &s.value {
            Value::Counter(v) => {
                sample(out, &exposed, "", d.label_names(), &s.label_values, None);
                let _ = writeln!(out, " {v}");
            }
            Value::Gauge(v) => {
                sample(out, &exposed, "", d.label_names(), &s.label_values, None);
                let _ = writeln!(out, " {}", float(*v));
            }
            Value::Histogram(h) => {
                for (i, c) in h.cumulative.iter().enumerate() {
                    let le = h.bounds.get(i).map_or_else(|| "+Inf".to_owned(), |b| go_float(*b));
                    sample(out, d.name(), "_bucket", d.label_names(), &s.label_values, Some(&le));
                    let _ = writeln!(out, " {c}");
                }
                sample(out, d.name(), "_sum", d.label_names(), &s.label_values, None);
                let _ = writeln!(out, " {}", float(h.sum));
                sample(out, d.name(), "_count", d.label_names(), &s.label_values, None);
                let _ = writeln!(out, " {}", h.count());
            }
        }
    }
}

fn openmetrics_family(out: &mut String, d: &Descriptor, series: &[SeriesSnapshot]) {
    let name = d.name();
    let _ = writeln!(out, "# HELP {name} {}", EscapeHelp { text: d.help(), quotes: true });
    let _ = writeln!(out, "# TYPE {name} {}", d.kind().as_str());
    if let Some(unit) = d.unit() {
        let _ = writeln!(out, "# UNIT {name} {unit}");
    }
    for s in series {
        match &s.value {
            Value::Counter(v) => {
                sample(out, name, "_total", d.label_names(), &s.label_values, None);
                let _ = writeln!(out, " {v}");
            }
            Value::Gauge(v) => {
                sample(out, name, "", d.label_names(), &s.label_values, None);
                let _ = writeln!(out, " {}", float(*v));
            }
            Value::Histogram(h) => {
                // `!(x >= 0)` is also true for NaN.
                let counter_sum = h.bounds.first().is_none_or(|b| *b >= 0.0) && h.sum >= 0.0;
                if counter_sum {
                    sample(out, name, "_sum", d.label_names(), &s.label_values, None);
                    let _ = writeln!(out, " {}", float(h.sum));
                    sample(out, name, "_count", d.label_names(), &s.label_values, None);
                    let _ = writeln!(out, " {}", h.count());
                }
                for (i, c) in h.cumulative.iter().enumerate() {
                    let le = h.bounds.get(i).map_or_else(|| "+Inf".to_owned(), |b| canonical_float(*b));
                    sample_le(out, name, "_bucket", d.label_names(), &s.label_values, Some(&le), true);
                    let _ = writeln!(out, " {c}");
                }
            }
        }
    }
}

/// Writes `name{labels}` without the value.
fn sample(out: &mut String, name: &str, suffix: &str, names: &[String], values: &[String], le: Option<&str>) {
    sample_le(out, name, suffix, names, values, le, false);
}

/// Writes `name{labels}`; `le` goes last, or first when `le_first` (as
/// prometheus-client writes `OpenMetrics` buckets; label order carries no meaning).
fn sample_le(
    out: &mut String,
    name: &str,
    suffix: &str,
    names: &[String],
    values: &[String],
    le: Option<&str>,
    le_first: bool,
) {
    out.push_str(name);
    out.push_str(suffix);
    if names.is_empty() && le.is_none() {
        return;
    }
    out.push('{');
    let mut first = true;
    if le_first && let Some(le) = le {
        let _ = write!(out, "le=\"{le}\"");
        first = false;
    }
    let le = if le_first { None } else { le };
    for (n, v) in names.iter().zip(values) {
        if !first {
            out.push(',');
        }
        first = false;
        let _ = write!(out, "{n}=\"{}\"", EscapeLabel(v));
    }
    if let Some(le) = le {
        if !first {
            out.push(',');
        }
        let _ = write!(out, "le=\"{le}\"");
    }
    out.push('}');
}

struct EscapeHelp<'a> {
    text: &'a str,
    quotes: bool,
}

impl std::fmt::Display for EscapeHelp<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut last = 0;
        for (i, b) in self.text.bytes().enumerate() {
            let esc = match b {
                b'\\' => "\\\\",
                b'\n' => "\\n",
                b'"' if self.quotes => "\\\"",
                _ => continue,
            };
            f.write_str(&self.text[last..i])?;
            f.write_str(esc)?;
            last = i + 1;
        }
        f.write_str(&self.text[last..])
    }
}

/// A float as the text formats write values: shortest round-trip digits laid
/// out like the `dtoa` crate prometheus-client uses (`1.0`, `0.005`, `1e-7`,
/// `1e22`), and `+Inf`, `-Inf`, `NaN`.
pub(crate) fn float(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf".into() } else { "-Inf".into() };
    }
    let sci = format!("{:e}", v.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let len = digits.len() as i32;
    // The value is 0.DIGITS × 10^kk.
    let kk = exp + 1;
    let k = kk - len;
    let mut out = String::new();
    if v.is_sign_negative() {
        out.push('-');
    }
    if (0..=21).contains(&kk) && k >= 0 {
        out.push_str(&digits);
        out.extend(std::iter::repeat_n('0', k as usize));
        out.push_str(".0");
    } else if 0 < kk && kk <= 21 {
        out.push_str(&digits[..kk as usize]);
        out.push('.');
        out.push_str(&digits[kk as usize..]);
    } else if -6 < kk && kk <= 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', (-kk) as usize));
        out.push_str(&digits);
    } else {
        out.push_str(&digits[..1]);
        if len > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let _ = write!(out, "e{}", kk - 1);
    }
    out
}

/// A number as the `OpenMetrics` specification's canonical numbers write it
/// (for `le` and `quantile` label values): Go's `%g`, with `.0` added when
/// that has neither a point nor an exponent: `0.0`, `0.001`, `1.0`,
/// `100000.0`, `1e+06`, `1e-05`, `+Inf`.
pub(crate) fn canonical_float(v: f64) -> String {
    let mut s = go_float(v);
    if v.is_finite() && !s.contains(['.', 'e']) {
        s.push_str(".0");
    }
    s
}

/// A histogram bound as Go's `strconv.FormatFloat(v, 'g', -1, 64)` writes it,
/// as `client_golang` and prometheus-client do in the Prometheus text format:
/// `0.005`, `1`, `2.5`, `1e+06`.
pub(crate) fn go_float(v: f64) -> String {
    if !v.is_finite() {
        return float(v);
    }
    if v == 0.0 {
        return if v.is_sign_negative() { "-0".into() } else { "0".into() };
    }
    if v.fract() == 0.0 && v.abs() < 1e6 {
        return (v as i64).to_string();
    }
    if (1e-4..1e6).contains(&v.abs()) {
        return v.to_string();
    }
    let sci = format!("{v:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    format!("{mantissa}e{exp:+03}")
}

#[cfg(test)]
#[allow(clippy::float_cmp)] // exact values are expected here
mod tests {
    use super::*;

    #[test]
    fn floats_like_dtoa() {
        for (v, want) in [
            (0.0, "0.0"),
            (1.0, "1.0"),
            (-2.5, "-2.5"),
            (100.0, "100.0"),
            (0.005, "0.005"),
            (0.000_001, "0.000001"),
            (1e-7, "1e-7"),
            (1.5e-7, "1.5e-7"),
            (1e20, "100000000000000000000.0"),
            (1e21, "1e21"),
            (1e22, "1e22"),
            (123.456, "123.456"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (f64::NAN, "NaN"),
        ] {
            assert_eq!(float(v), want, "{v:?}");
        }
    }

    #[test]
    fn floats_like_go() {
        for (v, want) in [
            (0.0, "0"),
            (1.0, "1"),
            (0.005, "0.005"),
            (2.5, "2.5"),
            (1e6, "1e+06"),
            (1.5e-5, "1.5e-05"),
            (0.0001, "0.0001"),
            (f64::INFINITY, "+Inf"),
        ] {
            assert_eq!(go_float(v), want, "{v:?}");
        }
    }

    /// The examples the specification gives under "Canonical Numbers" and
    /// in its histogram example.
    #[test]
    fn canonical_numbers_as_the_specification_writes_them() {
        for want in [
            "0.0", "0.001", "0.002", "0.01", "0.1", "0.9", "0.95", "0.99", "0.999", "1.0", "1.7", "10.0",
            "1e-10", "1e-09", "1e-05", "0.0001", "100000.0", "1e+06", "1e+10", "1e+23", "1.1e+23",
        ] {
            let v: f64 = want.parse().unwrap();
            assert_eq!(canonical_float(v), want, "{v:?}");
        }
        assert_eq!(canonical_float(f64::INFINITY), "+Inf");
        assert_eq!(canonical_float(-2.0), "-2.0");
        assert_eq!(canonical_float(-0.0), "-0.0");
        assert_eq!(canonical_float(123_456.0), "123456.0");
        assert_eq!(canonical_float(1_234_567.0), "1.234567e+06");
        // 0.0 up to 10.0 in steps of 0.001: at most three decimals, and one at least.
        for i in 0..=10_000u32 {
            let v = f64::from(i) / 1000.0;
            let s = canonical_float(v);
            let (int, frac) = s.split_once('.').unwrap_or_else(|| panic!("{s}"));
            assert!(!frac.is_empty() && frac.len() <= 3, "{s}");
            assert_eq!(format!("{int}.{frac}").parse::<f64>().unwrap(), v);
        }
    }

    #[test]
    fn accept_header_negotiation() {
        for (accept, want) in [
            (None, Format::Prometheus),
            (Some("text/plain"), Format::Prometheus),
            (Some("application/openmetrics-text; version=1.0.0,text/plain;q=0.5"), Format::OpenMetrics),
            (Some("text/plain;q=0.5, Application/OpenMetrics-Text"), Format::OpenMetrics),
            (Some("application/openmetrics-textx"), Format::Prometheus),
        ] {
            assert_eq!(Format::from_accept(accept), want, "{accept:?}");
        }
    }
}
