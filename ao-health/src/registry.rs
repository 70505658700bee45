//! The [`Registry`] of metric families, [`Family`] handles, and [`Snapshot`]s.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};

use crate::error::{Error, ErrorKind};
use crate::expo::go_float;
use crate::labels::{Labels, check_label_name, check_metric_name};
use crate::metrics::{Buckets, Counter, Gauge, Histogram, HistogramSnapshot};

/// Label sets a family accepts before new ones go to its overflow series.
pub const DEFAULT_CARDINALITY_LIMIT: usize = 10_000;

/// The label value every label of a family's overflow series carries.
pub const OVERFLOW_LABEL_VALUE: &str = "_overflow";

/// Units recognised as a name suffix (`ao_ecs_tick_duration_seconds` has unit `seconds`).
const UNITS: &[&str] =
    &["seconds", "bytes", "ratio", "meters", "grams", "joules", "volts", "amperes", "celsius"];

/// The type of a metric family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MetricType {
    /// Only goes up; exposed with a `_total` suffix.
    Counter,
    /// Goes up and down.
    Gauge,
    /// Bucketed observations; exposed as `_bucket`, `_sum`, `_count`.
    Histogram,
}

impl MetricType {
    /// The name in `# TYPE` lines.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Counter => "counter",
            Self::Gauge => "gauge",
            Self::Histogram => "histogram",
        }
    }
}

/// What a family is: name, help, unit, type and label names.
#[derive(Debug, Clone, PartialEq)]
pub struct Descriptor {
    name: String,
    help: String,
    unit: Option<&'static str>,
    kind: MetricType,
    label_names: Arc<[String]>,
}

impl Descriptor {
    /// The family name (a counter's without `_total`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The help text.
    pub fn help(&self) -> &str {
        &self.help
    }

    /// The unit, when the name ends in a known one (`_seconds`, `_bytes`, `_ratio`, ...).
    pub fn unit(&self) -> Option<&'static str> {
        self.unit
    }

    /// The type.
    pub fn kind(&self) -> MetricType {
        self.kind
    }

    /// The label names, in the order values are given.
    pub fn label_names(&self) -> &[String] {
        &self.label_names
    }

    /// The names its samples carry in the exposition: `x_total`; `x`; `x_bucket`, `x_sum`, `x_count`.
    pub fn sample_names(&self) -> Vec<String> {
        match self.kind {
            MetricType::Counter => vec![format!("{}_total", self.name)],
            MetricType::Gauge => vec![self.name.clone()],
            MetricType::Histogram => {
                ["_bucket", "_sum", "_count"].iter().map(|s| format!("{}{s}", self.name)).collect()
            }
        }
    }

    /// The names that would clash with this family in either text format.
    fn reserved_names(&self) -> Vec<String> {
        let mut v = self.sample_names();
        v.push(self.name.clone());
        // `_created` is not written, but OpenMetrics reserves it for both.
        if self.kind != MetricType::Gauge {
            v.push(format!("{}_created", self.name));
        }
        v
    }
}

/// A metric type a [`Family`] can hold: [`Counter`], [`Gauge`] or [`Histogram`].
pub trait FamilyMember: Clone + Send + Sync + fmt::Debug + 'static + sealed::Member {}

impl<T: Clone + Send + Sync + fmt::Debug + 'static + sealed::Member> FamilyMember for T {}

mod sealed {
    use super::{MetricType, Value};
    use crate::metrics::{Buckets, Counter, Gauge, Histogram};

    /// How children of a family are made.
    #[derive(Debug, Clone)]
    pub enum Spec {
        Plain,
        Buckets(Buckets),
    }

    pub trait Member {
        const KIND: MetricType;
        fn make(spec: &Spec) -> Self;
        fn value(&self) -> Value;
    }

    impl Member for Counter {
        const KIND: MetricType = MetricType::Counter;
        fn make(_: &Spec) -> Self {
            Counter::new()
        }
        fn value(&self) -> Value {
            Value::Counter(self.get())
        }
    }

    impl Member for Gauge {
        const KIND: MetricType = MetricType::Gauge;
        fn make(_: &Spec) -> Self {
            Gauge::new()
        }
        fn value(&self) -> Value {
            Value::Gauge(self.get())
        }
    }

    impl Member for Histogram {
        const KIND: MetricType = MetricType::Histogram;
        fn make(spec: &Spec) -> Self {
            match spec {
                Spec::Buckets(b) => Histogram::new(b),
                Spec::Plain => Histogram::new(&Buckets::default_seconds()),
            }
        }
        fn value(&self) -> Value {
            Value::Histogram(self.snapshot())
        }
    }
}

use sealed::Spec;

#[derive(Debug)]
struct FamilyInner<M> {
    desc: Descriptor,
    spec: Spec,
    limit: usize,
    children: RwLock<BTreeMap<Vec<String>, M>>,
}

/// A family of metrics of one name, one child per set of label values.
///
/// Resolve a child once with [`with`](Family::with) and keep the handle: the
/// lookup takes a read lock, the handle's updates take none.
#[derive(Debug, Clone)]
pub struct Family<M> {
    inner: Arc<FamilyInner<M>>,
}

impl<M: FamilyMember> Family<M> {
    /// The child for these label values (in the order of the family's label
    /// names), created on first use. Past the family's cardinality limit, new
    /// label sets share the overflow series (every label `_overflow`).
    ///
    /// # Panics
    ///
    /// If the number of values differs from the number of label names: that is
    /// a bug in the caller, not bad input. Use [`try_with`](Self::try_with) to get an error instead.
    pub fn with(&self, values: &[&str]) -> M {
        match self.lookup(values) {
            Ok(m) => m,
            Err(e) if matches!(e.kind(), ErrorKind::Cardinality { .. }) => self.overflow(),
            Err(e) => panic!("{e}"),
        }
    }

    /// [`with`](Self::with), with the label count and the cardinality limit reported as errors.
    pub fn try_with(&self, values: &[&str]) -> Result<M, Error> {
        self.lookup(values)
    }

    /// The child for these label values if it exists.
    pub fn get(&self, values: &[&str]) -> Option<M> {
        let key: Vec<String> = values.iter().map(|v| (*v).to_owned()).collect();
        self.inner.children.read().unwrap_or_else(PoisonError::into_inner).get(&key).cloned()
    }

    /// Drops the child for these label values (a process that is gone); returns whether it existed.
    /// Handles to it keep working but are no longer exposed.
    pub fn remove(&self, values: &[&str]) -> bool {
        let key: Vec<String> = values.iter().map(|v| (*v).to_owned()).collect();
        self.inner.children.write().unwrap_or_else(PoisonError::into_inner).remove(&key).is_some()
    }

    /// Children in the family now.
    pub fn len(&self) -> usize {
        self.inner.children.read().unwrap_or_else(PoisonError::into_inner).len()
    }

    /// Whether the family has no children.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// What the family is.
    pub fn descriptor(&self) -> &Descriptor {
        &self.inner.desc
    }

    fn lookup(&self, values: &[&str]) -> Result<M, Error> {
        let desc = &self.inner.desc;
        if values.len() != desc.label_names.len() {
            return Err(Error::new(ErrorKind::LabelCount {
                metric: desc.name.clone(),
                expected: desc.label_names.len(),
                found: values.len(),
            }));
        }
        let key: Vec<String> = values.iter().map(|v| (*v).to_owned()).collect();
        if let Some(m) = self.inner.children.read().unwrap_or_else(PoisonError::into_inner).get(&key) {
            return Ok(m.clone());
        }
        let mut children = self.inner.children.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(m) = children.get(&key) {
            return Ok(m.clone());
        }
        let overflow_key = vec![OVERFLOW_LABEL_VALUE.to_owned(); desc.label_names.len()];
        let used = children.len() - usize::from(children.contains_key(&overflow_key));
        if used >= self.inner.limit {
            return Err(Error::new(ErrorKind::Cardinality {
                metric: desc.name.clone(),
                limit: self.inner.limit,
            }));
        }
        let m = M::make(&self.inner.spec);
        children.insert(key, m.clone());
        Ok(m)
    }

    fn overflow(&self) -> M {
        let key = vec![OVERFLOW_LABEL_VALUE.to_owned(); self.inner.desc.label_names.len()];
        let mut children = self.inner.children.write().unwrap_or_else(PoisonError::into_inner);
        children.entry(key).or_insert_with(|| M::make(&self.inner.spec)).clone()
    }
}

trait Collect: Send + Sync + fmt::Debug {
    fn descriptor(&self) -> &Descriptor;
    fn collect(&self) -> Vec<SeriesSnapshot>;
}

impl<M: FamilyMember> Collect for FamilyInner<M> {
    fn descriptor(&self) -> &Descriptor {
        &self.desc
    }
    fn collect(&self) -> Vec<SeriesSnapshot> {
        let children = self.children.read().unwrap_or_else(PoisonError::into_inner);
        children.iter().map(|(k, m)| SeriesSnapshot { label_values: k.clone(), value: m.value() }).collect()
    }
}

type GaugeFn = Box<dyn Fn() -> Option<f64> + Send + Sync>;

struct FnGauge {
    desc: Descriptor,
    f: GaugeFn,
}

impl fmt::Debug for FnGauge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FnGauge").field("desc", &self.desc).finish_non_exhaustive()
    }
}

impl Collect for FnGauge {
    fn descriptor(&self) -> &Descriptor {
        &self.desc
    }
    fn collect(&self) -> Vec<SeriesSnapshot> {
        (self.f)()
            .map(|v| SeriesSnapshot { label_values: Vec::new(), value: Value::Gauge(v) })
            .into_iter()
            .collect()
    }
}

/// The metric families a host exposes, built-in and custom alike.
///
/// Cheap to clone: clones share the families. Registration validates names
/// and refuses clashes; after that, reading is a snapshot.
///
/// ```
/// use ao_health::{Buckets, Format, Registry};
///
/// let registry = Registry::new();
/// let joins = registry.counter_family("arena_joins", "Players who joined.", &["process"])?;
/// let lag = registry.histogram("arena_input_lag_seconds", "Input lag.", &Buckets::default_seconds())?;
/// let ann = joins.with(&["arena-1"]); // resolve once, keep the handle
/// ann.inc();
/// lag.observe(0.02);
/// let text = registry.encode(Format::Prometheus);
/// assert!(text.contains("arena_joins_total{process=\"arena-1\"} 1\n"));
/// assert!(text.contains("arena_input_lag_seconds_bucket{le=\"0.025\"} 1\n"));
/// # Ok::<(), ao_health::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Registry {
    inner: Arc<RwLock<Vec<Arc<dyn Collect>>>>,
    limit: usize,
}

impl Default for Registry {
    fn default() -> Self {
        Self::new()
    }
}

impl Registry {
    /// An empty registry with the default cardinality limit per family.
    pub fn new() -> Self {
        Self::with_cardinality_limit(DEFAULT_CARDINALITY_LIMIT)
    }

    /// An empty registry whose families accept at most `limit` label sets each.
    pub fn with_cardinality_limit(limit: usize) -> Self {
        Self { inner: Arc::default(), limit: limit.max(1) }
    }

    /// Registers a counter family. `name` is given without `_total`.
    pub fn counter_family(&self, name: &str, help: &str, labels: &[&str]) -> Result<Family<Counter>, Error> {
        self.family(name, help, labels, Spec::Plain)
    }

    /// Registers a counter with no labels.
    pub fn counter(&self, name: &str, help: &str) -> Result<Counter, Error> {
        Ok(self.counter_family(name, help, &[])?.with(&[]))
    }

    /// Registers a gauge family.
    pub fn gauge_family(&self, name: &str, help: &str, labels: &[&str]) -> Result<Family<Gauge>, Error> {
        self.family(name, help, labels, Spec::Plain)
    }

    /// Registers a gauge with no labels.
    pub fn gauge(&self, name: &str, help: &str) -> Result<Gauge, Error> {
        Ok(self.gauge_family(name, help, &[])?.with(&[]))
    }

    /// Registers a gauge read by calling `f` at every snapshot (`None`: no sample).
    pub fn gauge_fn(
        &self,
        name: &str,
        help: &str,
        f: impl Fn() -> Option<f64> + Send + Sync + 'static,
    ) -> Result<(), Error> {
        let desc = Self::describe(name, help, &[], MetricType::Gauge)?;
        self.insert(Arc::new(FnGauge { desc, f: Box::new(f) }))
    }

    /// Registers a histogram family.
    pub fn histogram_family(
        &self,
        name: &str,
        help: &str,
        labels: &[&str],
        buckets: &Buckets,
    ) -> Result<Family<Histogram>, Error> {
        self.family(name, help, labels, Spec::Buckets(buckets.clone()))
    }

    /// Registers a histogram with no labels.
    pub fn histogram(&self, name: &str, help: &str, buckets: &Buckets) -> Result<Histogram, Error> {
        Ok(self.histogram_family(name, help, &[], buckets)?.with(&[]))
    }

    /// The registered families' descriptors, in registration order.
    pub fn descriptors(&self) -> Vec<Descriptor> {
        self.read().iter().map(|c| c.descriptor().clone()).collect()
    }

    /// Every family's current values, in registration order; series sorted by label values.
    pub fn snapshot(&self) -> Snapshot {
        let families = self
            .read()
            .iter()
            .map(|c| FamilySnapshot { descriptor: c.descriptor().clone(), series: c.collect() })
            .collect();
        Snapshot { families }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Vec<Arc<dyn Collect>>> {
        self.inner.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn family<M: FamilyMember>(
        &self,
        name: &str,
        help: &str,
        labels: &[&str],
        spec: Spec,
    ) -> Result<Family<M>, Error> {
        let desc = Self::describe(name, help, labels, M::KIND)?;
        let inner = Arc::new(FamilyInner { desc, spec, limit: self.limit, children: RwLock::default() });
        self.insert(inner.clone())?;
        Ok(Family { inner })
    }

    fn describe(name: &str, help: &str, labels: &[&str], kind: MetricType) -> Result<Descriptor, Error> {
        check_metric_name(name)?;
        let bad_name = |reason: &str| {
            Err(Error::new(ErrorKind::InvalidMetricName { name: name.to_owned(), reason: reason.to_owned() }))
        };
        match kind {
            MetricType::Counter if name.ends_with("_total") => {
                return bad_name("counter names are given without _total; it is added on exposition");
            }
            MetricType::Histogram if ["_bucket", "_sum", "_count"].iter().any(|s| name.ends_with(s)) => {
                return bad_name("histogram names must not end in _bucket, _sum or _count");
            }
            _ => {}
        }
        for (i, l) in labels.iter().enumerate() {
            check_label_name(name, l)?;
            if labels[..i].contains(l) {
                return Err(Error::new(ErrorKind::InvalidLabelName {
                    owner: name.to_owned(),
                    label: (*l).to_owned(),
                    reason: "given twice".into(),
                }));
            }
            if kind == MetricType::Histogram && *l == "le" {
                return Err(Error::new(ErrorKind::InvalidLabelName {
                    owner: name.to_owned(),
                    label: "le".into(),
                    reason: "reserved for histogram buckets".into(),
                }));
            }
        }
        let unit =
            UNITS.iter().copied().find(|u| name.len() > u.len() + 1 && name.ends_with(&format!("_{u}")));
        Ok(Descriptor {
            name: name.to_owned(),
            help: help.to_owned(),
            unit,
            kind,
            label_names: labels.iter().map(|l| (*l).to_owned()).collect(),
        })
    }

    fn insert(&self, c: Arc<dyn Collect>) -> Result<(), Error> {
        let mut all = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        let new = c.descriptor().reserved_names();
        for existing in all.iter() {
            let old = existing.descriptor().reserved_names();
            if new.iter().any(|n| old.contains(n)) {
                return Err(Error::new(ErrorKind::DuplicateMetric {
                    name: c.descriptor().name.clone(),
                    existing: existing.descriptor().name.clone(),
                }));
            }
        }
        all.push(c);
        Ok(())
    }
}

/// One value of a series at snapshot time.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A counter's count.
    Counter(u64),
    /// A gauge's value.
    Gauge(f64),
    /// A histogram's buckets and sum.
    Histogram(HistogramSnapshot),
}

/// One series of a family at snapshot time.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesSnapshot {
    /// Label values, in the order of the family's label names.
    pub label_values: Vec<String>,
    /// The value.
    pub value: Value,
}

/// One family at snapshot time.
#[derive(Debug, Clone, PartialEq)]
pub struct FamilySnapshot {
    /// What the family is.
    pub descriptor: Descriptor,
    /// Its series, sorted by label values.
    pub series: Vec<SeriesSnapshot>,
}

/// Every family of a [`Registry`] at one moment: what the encoders, the alert
/// evaluator and the trend store read.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Snapshot {
    /// Families in registration order.
    pub families: Vec<FamilySnapshot>,
}

impl Snapshot {
    /// The snapshot as flat samples, named as in the Prometheus text format
    /// (`x_total`, `x_bucket{le="0.5"}`, `x_sum`, `x_count`), so alert rules
    /// written against scraped names apply unchanged.
    pub fn samples(&self) -> Vec<Sample> {
        let mut out = Vec::new();
        for fam in &self.families {
            let d = &fam.descriptor;
            for s in &fam.series {
                let labels: Labels =
                    d.label_names.iter().cloned().zip(s.label_values.iter().cloned()).collect();
                match &s.value {
                    Value::Counter(v) => {
                        out.push(Sample::new(format!("{}_total", d.name), labels, *v as f64));
                    }
                    Value::Gauge(v) => out.push(Sample::new(d.name.clone(), labels, *v)),
                    Value::Histogram(h) => {
                        for (i, c) in h.cumulative.iter().enumerate() {
                            let le = h.bounds.get(i).map_or_else(|| "+Inf".to_owned(), |b| go_float(*b));
                            out.push(Sample::new(
                                format!("{}_bucket", d.name),
                                labels.clone().with("le", le),
                                *c as f64,
                            ));
                        }
                        out.push(Sample::new(format!("{}_sum", d.name), labels.clone(), h.sum));
                        out.push(Sample::new(format!("{}_count", d.name), labels, h.count() as f64));
                    }
                }
            }
        }
        out
    }
}

/// A named, labelled value: the input of the alert evaluator and the trend store.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The sample name (`ao_messages_total`).
    pub name: String,
    /// Its labels (without `__name__`).
    pub labels: Labels,
    /// The value.
    pub value: f64,
}

impl Sample {
    /// A sample.
    pub fn new(name: impl Into<String>, labels: Labels, value: f64) -> Self {
        Self { name: name.into(), labels, value }
    }

    /// `name{labels}`: the key the trend store files it under.
    pub fn key(&self) -> String {
        if self.labels.is_empty() { self.name.clone() } else { format!("{}{}", self.name, self.labels) }
    }
}

#[cfg(test)]
#[allow(clippy::float_cmp)] // exact values are expected here
mod tests {
    use super::*;

    #[test]
    fn registration_refuses_bad_names_and_clashes() {
        let r = Registry::new();
        r.counter_family("ao_messages", "m", &["process"]).unwrap();
        let clash = r.gauge("ao_messages_total", "g").unwrap_err();
        assert!(
            matches!(clash.kind(), ErrorKind::DuplicateMetric { existing, .. } if existing == "ao_messages")
        );
        assert!(matches!(r.counter("x_total", "").unwrap_err().kind(), ErrorKind::InvalidMetricName { .. }));
        assert!(matches!(
            r.histogram("h_sum", "", &Buckets::default_seconds()).unwrap_err().kind(),
            ErrorKind::InvalidMetricName { .. }
        ));
        let le = r.histogram_family("h", "", &["le"], &Buckets::default_seconds()).unwrap_err();
        assert!(matches!(le.kind(), ErrorKind::InvalidLabelName { label, .. } if label == "le"));
        let twice = r.gauge_family("g", "", &["a", "a"]).unwrap_err();
        assert!(twice.to_string().contains("given twice"), "{twice}");
        // A histogram `x` reserves `x_count`, so a later gauge `x_count` clashes.
        r.histogram("lat_seconds", "", &Buckets::default_seconds()).unwrap();
        assert!(r.gauge("lat_seconds_count", "").is_err());
        // ... and `x_created`, which an OpenMetrics parser counts as the histogram's.
        assert!(r.gauge("lat_seconds_created", "").is_err());
        assert_eq!(r.descriptors().len(), 2);
    }

    #[test]
    fn units_come_from_the_name() {
        let r = Registry::new();
        let h = r.histogram_family("tick_seconds", "", &[], &Buckets::default_seconds()).unwrap();
        assert_eq!(h.descriptor().unit(), Some("seconds"));
        let g = r.gauge_family("seconds", "", &[]).unwrap();
        assert_eq!(g.descriptor().unit(), None);
        let m = r.gauge_family("lua_memory_bytes", "", &[]).unwrap();
        assert_eq!(m.descriptor().unit(), Some("bytes"));
    }

    #[test]
    fn children_are_shared_and_counted() {
        let r = Registry::with_cardinality_limit(2);
        let f = r.counter_family("c", "", &["k"]).unwrap();
        f.with(&["a"]).inc();
        f.with(&["a"]).inc();
        assert_eq!(f.get(&["a"]).unwrap().get(), 2);
        f.with(&["b"]).inc();
        // Past the limit: typed error, or the shared overflow series.
        assert!(matches!(f.try_with(&["c"]).unwrap_err().kind(), ErrorKind::Cardinality { limit: 2, .. }));
        f.with(&["c"]).inc();
        f.with(&["d"]).inc();
        assert_eq!(f.get(&[OVERFLOW_LABEL_VALUE]).unwrap().get(), 2);
        assert_eq!(f.len(), 3);
        assert!(matches!(
            f.try_with(&[]).unwrap_err().kind(),
            ErrorKind::LabelCount { expected: 1, found: 0, .. }
        ));
        assert!(f.remove(&["a"]));
        assert!(!f.remove(&["a"]));
        // With "a" gone there is room again.
        f.try_with(&["e"]).unwrap();
    }

    #[test]
    #[should_panic(expected = "expected 1 label values, found 2")]
    fn with_panics_on_a_wrong_label_count() {
        let r = Registry::new();
        r.counter_family("c", "", &["k"]).unwrap().with(&["a", "b"]);
    }

    #[test]
    fn samples_use_exposition_names() {
        let r = Registry::new();
        r.counter_family("m", "", &["p"]).unwrap().with(&["x"]).inc_by(3);
        r.gauge_fn("rss_bytes", "", || Some(42.0)).unwrap();
        r.gauge_fn("absent", "", || None).unwrap();
        let h = r.histogram("h", "", &Buckets::new(vec![0.5]).unwrap()).unwrap();
        h.observe(0.25);
        h.observe(2.0);
        let got: Vec<(String, f64)> = r.snapshot().samples().iter().map(|s| (s.key(), s.value)).collect();
        let want = [
            ("m_total{p=\"x\"}", 3.0),
            ("rss_bytes", 42.0),
            ("h_bucket{le=\"0.5\"}", 1.0),
            ("h_bucket{le=\"+Inf\"}", 2.0),
            ("h_sum", 2.25),
            ("h_count", 2.0),
        ];
        let want: Vec<(String, f64)> = want.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect();
        assert_eq!(got, want);
    }
}
