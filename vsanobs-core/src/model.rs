//! Owned snapshots of metric families: what [`Collector`](crate::Collector)s produce and what
//! [`Registry::gather`](crate::Registry::gather) returns for push exporters.
//!
//! # Example
//!
//! ```
//! use vsanobs_core::model::{MetricFamily, MetricKind, Sample};
//!
//! let fam = MetricFamily::new("queue_depth", "Items waiting.", MetricKind::Gauge)
//!     .with_sample(Sample::gauge(3.0).with_label("queue", "ingest"));
//! assert_eq!(fam.samples.len(), 1);
//! assert_eq!(fam.samples[0].labels, [("queue".to_string(), "ingest".to_string())]);
//! ```
//!
//! ## Note
//! Snapshots own their strings; they are built at scrape or push time, never on a record path.

use std::sync::Arc;

/// The type of a metric family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MetricKind {
    /// A monotonically increasing count; exported with a `_total` suffix.
    Counter,
    /// A value that goes up and down.
    Gauge,
    /// Observations in cumulative buckets, with `_bucket`, `_sum` and `_count` series.
    Histogram,
    /// Constant labels about the target, exported as `<name>_info{...} 1`.
    Info,
    /// A value of unknown type (`untyped` in text 0.0.4).
    Unknown,
}

impl MetricKind {
    /// The name used on `# TYPE` lines of text 0.0.4.
    pub fn text_name(self) -> &'static str {
        match self {
            MetricKind::Counter => "counter",
            MetricKind::Gauge | MetricKind::Info => "gauge",
            MetricKind::Histogram => "histogram",
            MetricKind::Unknown => "untyped",
        }
    }
    /// The name used on `# TYPE` lines of OpenMetrics 1.0.
    pub fn openmetrics_name(self) -> &'static str {
        match self {
            MetricKind::Counter => "counter",
            MetricKind::Gauge => "gauge",
            MetricKind::Histogram => "histogram",
            MetricKind::Info => "info",
            MetricKind::Unknown => "unknown",
        }
    }
}

/// An exemplar: a reference (usually a trace) attached to one counter increment or
/// histogram observation.
///
/// vsanobs's own metrics record [`ExemplarLabels::Trace`] with a timestamp; exemplars from a
/// bridged library may carry any checked label set ([`ExemplarLabels::Labels`]) and no
/// timestamp.
///
/// # Example
/// ```
/// use vsanobs_core::model::{Exemplar, ExemplarLabels};
///
/// let ex = Exemplar {
///     labels: ExemplarLabels::new([("trace_id", "abc"), ("user", "x y")])?,
///     value: 0.5,
///     timestamp: None,
/// };
/// let pairs: Vec<(String, String)> = ex.labels.pairs().map(|(k, v)| (k.into(), v.into())).collect();
/// assert_eq!(pairs, [("trace_id".to_string(), "abc".to_string()), ("user".into(), "x y".into())]);
/// # Ok::<(), vsanobs_core::model::ExemplarLabelsError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Exemplar {
    /// What the exemplar refers to.
    pub labels: ExemplarLabels,
    /// The observed value (for counters, the increment).
    pub value: f64,
    /// Unix time in seconds when it was recorded, if known.
    pub timestamp: Option<f64>,
}

impl Exemplar {
    /// An exemplar for a W3C trace context (what vsanobs's own metrics record).
    pub fn trace(trace_id: [u8; 16], span_id: [u8; 8], value: f64, timestamp: Option<f64>) -> Self {
        Exemplar {
            labels: ExemplarLabels::Trace { trace_id, span_id },
            value,
            timestamp,
        }
    }
}

/// The most characters the names and values of one exemplar's labels may hold together
/// (OpenMetrics 1.0).
pub const EXEMPLAR_LABELS_MAX_CHARS: usize = 128;

/// The labels of an [`Exemplar`].
#[derive(Clone, Debug, PartialEq)]
pub enum ExemplarLabels {
    /// A W3C trace context, written `trace_id="<32 hex>",span_id="<16 hex>"`. vsanobs's own
    /// metrics record this variant; it holds no heap memory.
    Trace {
        /// W3C trace id (exported as 32 lowercase hex digits).
        trace_id: [u8; 16],
        /// W3C span id (exported as 16 lowercase hex digits).
        span_id: [u8; 8],
    },
    /// Any other label set (for example from a bridged library), in the order given. Built
    /// only by [`ExemplarLabels::new`], which checks it.
    Labels(ExemplarLabelSet),
}

/// A checked exemplar label set (see [`ExemplarLabels::new`]): valid names, none twice, at
/// most [`EXEMPLAR_LABELS_MAX_CHARS`] characters. Reads as a slice of `(name, value)` pairs;
/// cloning it shares the pairs.
#[derive(Clone, Debug, PartialEq)]
pub struct ExemplarLabelSet(Arc<[(Box<str>, Box<str>)]>);

impl std::ops::Deref for ExemplarLabelSet {
    type Target = [(Box<str>, Box<str>)];
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

/// Why [`ExemplarLabels::new`] refused a label set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ExemplarLabelsError {
    /// A name is not a valid label name.
    #[error("invalid exemplar label name {0:?}")]
    InvalidName(String),
    /// A name appears twice.
    #[error("duplicate exemplar label name {0:?}")]
    Duplicate(String),
    /// Names and values together are longer than [`EXEMPLAR_LABELS_MAX_CHARS`].
    #[error("exemplar labels hold {0} characters, more than the 128 OpenMetrics allows")]
    TooLong(usize),
}

impl ExemplarLabels {
    /// A checked label set: valid label names, none twice, at most
    /// [`EXEMPLAR_LABELS_MAX_CHARS`] UTF-8 characters of names and values together.
    ///
    /// # Errors
    /// [`ExemplarLabelsError`] names the first rule broken.
    ///
    /// # Example
    /// ```
    /// use vsanobs_core::model::{ExemplarLabels, ExemplarLabelsError};
    ///
    /// assert!(ExemplarLabels::new([("trace_id", "abc")]).is_ok());
    /// assert_eq!(
    ///     ExemplarLabels::new([("a", "1"), ("a", "2")]),
    ///     Err(ExemplarLabelsError::Duplicate("a".into()))
    /// );
    /// assert!(matches!(ExemplarLabels::new([("x", "y".repeat(200))]), Err(ExemplarLabelsError::TooLong(201))));
    /// ```
    pub fn new<K, V>(labels: impl IntoIterator<Item = (K, V)>) -> Result<Self, ExemplarLabelsError>
    where
        K: Into<Box<str>>,
        V: Into<Box<str>>,
    {
        let pairs: Vec<(Box<str>, Box<str>)> = labels
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        let mut chars = 0;
        for (i, (k, v)) in pairs.iter().enumerate() {
            if !crate::labels::is_valid_label_name(k) {
                return Err(ExemplarLabelsError::InvalidName(k.to_string()));
            }
            if pairs[..i].iter().any(|(p, _)| p == k) {
                return Err(ExemplarLabelsError::Duplicate(k.to_string()));
            }
            chars += k.chars().count() + v.chars().count();
        }
        if chars > EXEMPLAR_LABELS_MAX_CHARS {
            return Err(ExemplarLabelsError::TooLong(chars));
        }
        Ok(ExemplarLabels::Labels(ExemplarLabelSet(pairs.into())))
    }

    /// The label pairs in the order they are written; a trace context's ids come as lowercase
    /// hex (which allocates: encoders write [`Trace`](Self::Trace) ids without this).
    pub fn pairs(
        &self,
    ) -> impl Iterator<Item = (std::borrow::Cow<'_, str>, std::borrow::Cow<'_, str>)> {
        use std::borrow::Cow;
        let (trace, labels) = match self {
            ExemplarLabels::Trace { trace_id, span_id } => (
                Some([
                    (
                        Cow::Borrowed("trace_id"),
                        Cow::Owned(crate::hex::encode(trace_id)),
                    ),
                    (
                        Cow::Borrowed("span_id"),
                        Cow::Owned(crate::hex::encode(span_id)),
                    ),
                ]),
                &[][..],
            ),
            ExemplarLabels::Labels(l) => (None, &l[..]),
        };
        trace.into_iter().flatten().chain(
            labels
                .iter()
                .map(|(k, v)| (Cow::Borrowed(&**k), Cow::Borrowed(&**v))),
        )
    }

    /// The value of label `name`, for a trace context its ids as lowercase hex.
    pub fn get(&self, name: &str) -> Option<std::borrow::Cow<'_, str>> {
        self.pairs().find(|(k, _)| k == name).map(|(_, v)| v)
    }
}

/// A numeric value that remembers whether it is an integer, so integers print without a
/// fractional part.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Number {
    /// An unsigned integer.
    Uint(u64),
    /// A signed integer.
    Int(i64),
    /// A float (NaN and ±Inf allowed for gauges).
    Float(f64),
}

impl Number {
    /// The value as f64 (integers above 2^53 lose precision).
    pub fn as_f64(self) -> f64 {
        match self {
            Number::Uint(v) => v as f64,
            Number::Int(v) => v as f64,
            Number::Float(v) => v,
        }
    }
}

/// One histogram bucket: the upper bound and the cumulative count of observations `<=` it.
#[derive(Clone, Debug, PartialEq)]
pub struct Bucket {
    /// Inclusive upper bound (`f64::INFINITY` for the last bucket).
    pub upper_bound: f64,
    /// Observations less than or equal to the bound.
    pub cumulative_count: u64,
    /// The latest exemplar that fell into this bucket.
    pub exemplar: Option<Exemplar>,
}

/// The value of one series.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Value {
    /// A counter's value and its latest exemplar.
    Counter {
        /// Total so far.
        value: Number,
        /// Latest exemplar, if any.
        exemplar: Option<Exemplar>,
    },
    /// A gauge's value.
    Gauge(Number),
    /// A histogram: cumulative buckets, the last one `+Inf`, plus sum and count.
    Histogram {
        /// Cumulative buckets in increasing bound order, ending with `+Inf`.
        buckets: Vec<Bucket>,
        /// Sum of all observations.
        sum: f64,
        /// Number of observations (equals the `+Inf` bucket).
        count: u64,
    },
    /// An info series (value 1).
    Info,
    /// An untyped value.
    Unknown(Number),
    /// A native (exponential) histogram, with its classic buckets if it has them.
    NativeHistogram(Box<NativeHistogramValue>),
}

/// One read of a native histogram: what a [`NativeHistogram`](crate::NativeHistogram)
/// hands to the encoders and what [`Value::NativeHistogram`] holds.
///
/// Buckets are sparse: `(index, count)` pairs in increasing index order, each count for its
/// own bucket (not cumulative); bucket `i` covers `(base^(i-1), base^i]` with
/// `base = 2^(2^-schema)` (see [`native_bucket_bounds`](crate::native_bucket_bounds)).
///
/// # Example
/// ```
/// use vsanobs_core::NativeHistogram;
///
/// let h = NativeHistogram::new(0)?;
/// h.observe(3.0);
/// h.observe(-3.0);
/// h.observe(0.0);
/// let v = h.read();
/// assert_eq!((v.schema, v.count, v.sum, v.zero_count), (0, 3, 0.0, 1));
/// assert_eq!(v.positive, [(2, 1)]); // (2, 4]
/// assert_eq!(v.negative, [(2, 1)]);
/// # Ok::<(), vsanobs_core::NativeHistogramError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct NativeHistogramValue {
    /// The schema the buckets are at (may be below the configured one after the bucket limit
    /// reduced the resolution).
    pub schema: i8,
    /// Values with `|v| <= zero_threshold` are counted in the zero bucket.
    pub zero_threshold: f64,
    /// Observations in the zero bucket.
    pub zero_count: u64,
    /// All observations, NaN included (NaN has no bucket, so `count` can exceed the sum of
    /// the buckets by the number of NaN observations).
    pub count: u64,
    /// Sum of all observations.
    pub sum: f64,
    /// Positive buckets: `(index, count)`, increasing index, no zero counts.
    pub positive: Vec<(i32, u64)>,
    /// Negative buckets: `(index, count)` where bucket `i` covers `[-base^i, -base^(i-1))`.
    pub negative: Vec<(i32, u64)>,
    /// Classic buckets kept alongside (cumulative, ending with `+Inf`); empty when the
    /// histogram has none.
    pub classic: Vec<Bucket>,
    /// Exemplars of a histogram without classic buckets (classic buckets carry their own).
    pub exemplars: Vec<Exemplar>,
}

/// One series: its labels and value.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// Label pairs (names valid, values any UTF-8).
    pub labels: Vec<(String, String)>,
    /// The value.
    pub value: Value,
}

impl Sample {
    /// A gauge sample with no labels.
    pub fn gauge(v: f64) -> Self {
        Sample {
            labels: Vec::new(),
            value: Value::Gauge(Number::Float(v)),
        }
    }
    /// An integer gauge sample with no labels.
    pub fn gauge_int(v: i64) -> Self {
        Sample {
            labels: Vec::new(),
            value: Value::Gauge(Number::Int(v)),
        }
    }
    /// A counter sample with no labels.
    pub fn counter(v: f64) -> Self {
        Sample {
            labels: Vec::new(),
            value: Value::Counter {
                value: Number::Float(v),
                exemplar: None,
            },
        }
    }
    /// An integer counter sample with no labels.
    pub fn counter_int(v: u64) -> Self {
        Sample {
            labels: Vec::new(),
            value: Value::Counter {
                value: Number::Uint(v),
                exemplar: None,
            },
        }
    }
    /// An info sample (its labels carry the information).
    pub fn info() -> Self {
        Sample {
            labels: Vec::new(),
            value: Value::Info,
        }
    }
    /// Adds a label.
    pub fn with_label(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.labels.push((name.into(), value.into()));
        self
    }
}

/// A metric family: name, help, optional unit, type and its series.
#[derive(Clone, Debug, PartialEq)]
pub struct MetricFamily {
    /// Name without type suffix (`http_requests`, not `http_requests_total`; `build`, not
    /// `build_info`). A counter or info name given with its suffix is accepted and stripped.
    pub name: String,
    /// Help text (any UTF-8; escaped on output).
    pub help: String,
    /// Unit (`seconds`, `bytes`, ...); when set, the name must end with `_<unit>`.
    pub unit: Option<String>,
    /// The type.
    pub kind: MetricKind,
    /// The series.
    pub samples: Vec<Sample>,
}

impl MetricFamily {
    /// A family with no samples yet.
    pub fn new(name: impl Into<String>, help: impl Into<String>, kind: MetricKind) -> Self {
        MetricFamily {
            name: name.into(),
            help: help.into(),
            unit: None,
            kind,
            samples: Vec::new(),
        }
    }
    /// Sets the unit.
    pub fn with_unit(mut self, unit: impl Into<String>) -> Self {
        self.unit = Some(unit.into());
        self
    }
    /// Adds a sample.
    pub fn with_sample(mut self, s: Sample) -> Self {
        self.samples.push(s);
        self
    }
    /// Adds a sample in place.
    pub fn push(&mut self, s: Sample) {
        self.samples.push(s);
    }
}

/// The static description of a metric family a crate defines. Crates keep their families in
/// `const` tables of these, register from them, and generate docs, alert rules and
/// dashboards from the same tables, so the three cannot drift apart.
///
/// # Example
///
/// ```
/// use vsanobs_core::model::{MetricDesc, MetricKind};
///
/// const REQUESTS: MetricDesc = MetricDesc {
///     name: "app_requests_total",
///     kind: MetricKind::Counter,
///     help: "Requests handled.",
///     unit: None,
///     labels: &["route"],
/// };
/// assert_eq!(REQUESTS.base_name(), "app_requests");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MetricDesc {
    /// The name as users query it (`hot_reload_total`, `http_server_request_duration_seconds`).
    pub name: &'static str,
    /// The type.
    pub kind: MetricKind,
    /// The help text.
    pub help: &'static str,
    /// The unit, when the name carries one.
    pub unit: Option<&'static str>,
    /// The label names, in order (constant labels not included).
    pub labels: &'static [&'static str],
}

impl MetricDesc {
    /// The family name without the `_total` (counters) or `_info` (info) suffix.
    pub fn base_name(&self) -> &'static str {
        match self.kind {
            MetricKind::Counter => self.name.strip_suffix("_total").unwrap_or(self.name),
            MetricKind::Info => self.name.strip_suffix("_info").unwrap_or(self.name),
            _ => self.name,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exemplar_labels_are_checked() {
        assert_eq!(
            ExemplarLabels::new([("1x", "v")]),
            Err(ExemplarLabelsError::InvalidName("1x".into()))
        );
        assert_eq!(
            ExemplarLabels::new([("__reserved", "v")]),
            Err(ExemplarLabelsError::InvalidName("__reserved".into()))
        );
        assert_eq!(
            ExemplarLabels::new([("a.b", "v")]),
            Err(ExemplarLabelsError::InvalidName("a.b".into()))
        );
        assert_eq!(
            ExemplarLabels::new([("a", "1"), ("b", "2"), ("a", "3")]),
            Err(ExemplarLabelsError::Duplicate("a".into()))
        );
        // The limit counts characters, not bytes: 127 four-byte characters and a name of
        // one fit, one more does not.
        let wide = "\u{1F600}".repeat(127);
        let ok = ExemplarLabels::new([("u", wide.as_str())]).unwrap();
        assert_eq!(ok.get("u").as_deref(), Some(wide.as_str()));
        assert_eq!(
            ExemplarLabels::new([("uu", wide.as_str())]),
            Err(ExemplarLabelsError::TooLong(129))
        );
        assert_eq!(
            ExemplarLabels::new(std::iter::empty::<(&str, &str)>()).map(|l| l.pairs().count()),
            Ok(0)
        );
    }

    #[test]
    fn a_trace_context_reads_as_hex_labels() {
        let ex = Exemplar::trace([0xab; 16], [0x01; 8], 1.0, None);
        let pairs: Vec<(String, String)> = ex
            .labels
            .pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        assert_eq!(
            pairs,
            [
                ("trace_id".to_owned(), "ab".repeat(16)),
                ("span_id".to_owned(), "01".repeat(8))
            ]
        );
        assert_eq!(
            ex.labels.get("span_id").as_deref(),
            Some("0101010101010101")
        );
        assert_eq!(ex.labels.get("user"), None);
    }
}
