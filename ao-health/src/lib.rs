//! ao-health (crate docs written below).

mod error;
mod expo;
mod labels;
mod metrics;
mod registry;
mod time;

pub use error::{Error, ErrorKind};
pub use expo::{Format, encode};
pub use labels::{Labels, MatchOp, Matcher, matches_all};
pub use metrics::{Buckets, Counter, Gauge, Histogram, HistogramSnapshot, HistogramTimer};
pub use registry::{
    DEFAULT_CARDINALITY_LIMIT, Descriptor, Family, FamilyMember, FamilySnapshot, MetricType, OVERFLOW_LABEL_VALUE,
    Registry, Sample, SeriesSnapshot, Snapshot, Value,
};
pub use time::Timestamp;
