//! A [`metrics::Recorder`] backed by vsanobs counters, gauges and histograms: `counter!`,
//! `gauge!` and `histogram!` from any crate land in a vsanobs [`Registry`]'s output.
//!
//! - **Typed storage.** A counter is a vsanobs [`Counter`] (one relaxed `fetch_add` per
//!   increment), a gauge a [`FloatGauge`], a histogram a vsanobs [`Histogram`]: a real
//!   Prometheus histogram with buckets, never a summary. Buckets are chosen per name with
//!   [`RecorderBuilder::buckets`] (`*` patterns, first match wins), else
//!   [`RecorderBuilder::default_buckets`] ([`DEFAULT_DURATION_BUCKETS`] unless set).
//! - **Handles are cached per key.** The first `register_*` of a key sanitises its name and
//!   labels and creates the series; later ones are one hash lookup under a read lock. A
//!   handle kept by the caller (`let c = counter!(..)`) records with no lookup at all.
//! - **Series caps.** Each name holds at most [`RecorderBuilder::series_cap`] series
//!   ([`DEFAULT_SERIES_CAP`] by default); further label sets share one overflow series
//!   whose label values are all `__overflow__`, counted as `series_overflow`.
//! - **Descriptions and units.** `describe_*!` text becomes HELP; a unit becomes the
//!   OpenMetrics `# UNIT` when the name ends with it (`_seconds`, `_bytes`...). Names are
//!   never changed by a description, so a series keeps its name whatever the order of
//!   `describe_*!` and the first record.
//! - **Bad input.** Names and label names with dots, spaces or a leading digit are
//!   rewritten by the Prometheus rules ([`sanitize`](crate::sanitize)), empty label values
//!   dropped, and a name used by two types (a counter and a gauge) keeps its first type:
//!   the other type's handle records nothing. Each case is counted once per key in
//!   `vsanobs_bridge_problems_total{bridge="<name>",reason}`; none fails a scrape.
//!
//! # Example
//!
//! ```
//! use vsanobs_bridge::facade::VsanobsRecorder;
//! use vsanobs_core::{Format, Registry};
//!
//! let registry = Registry::new();
//! let recorder = VsanobsRecorder::builder("metrics")
//!     .buckets("*_seconds", [0.01, 0.1, 1.0])
//!     .build();
//! recorder.register(&registry)?;
//!
//! // In an application: `recorder.install()` once; here a scoped recorder.
//! metrics::with_local_recorder(&recorder, || {
//!     metrics::describe_counter!("jobs_total", "Jobs done.");
//!     metrics::counter!("jobs_total", "queue" => "mail").increment(3);
//!     metrics::gauge!("workers.busy").set(2.5);
//!     metrics::histogram!("job_duration_seconds").record(0.05);
//! });
//!
//! let text = registry.encode_to_string(Format::PrometheusText);
//! assert!(text.contains("# HELP jobs_total Jobs done.\n"));
//! assert!(text.contains("jobs_total{queue=\"mail\"} 3\n"));
//! assert!(text.contains("workers_busy 2.5\n"));
//! assert!(text.contains("job_duration_seconds_bucket{le=\"0.1\"} 1\n"));
//! # Ok::<(), vsanobs_core::RegistryError>(())
//! ```

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use metrics::{
    Counter as MCounter, CounterFn, Gauge as MGauge, GaugeFn, Histogram as MHistogram, HistogramFn,
    Key, KeyName, Metadata, Recorder, SharedString, Unit,
};
use parking_lot::{Mutex, RwLock};
use vsanobs_core::model::{Bucket, MetricFamily, MetricKind, Number, Sample, Value};
use vsanobs_core::{
    CollectError, Collector, Counter, DEFAULT_DURATION_BUCKETS, DEFAULT_SERIES_CAP, FamilySink,
    FloatGauge, Histogram, OVERFLOW_LABEL_VALUE, Registry, RegistryError,
};

use crate::emit::label_set;
use crate::problems::{self, Problem};
use crate::sanitize;

/// `metrics::Key` hashes itself as one precomputed `u64`: use it as is.
#[derive(Default)]
struct KeyHasher(u64);
impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

/// A counter handle the facade hands out: a vsanobs [`Counter`].
#[derive(Debug)]
struct CounterHandle {
    counter: Counter,
    /// Serialises `absolute` calls (rare: mirroring an external total).
    absolute: Mutex<()>,
}

impl CounterFn for CounterHandle {
    #[inline]
    fn increment(&self, value: u64) {
        self.counter.inc_by(value);
    }
    fn absolute(&self, value: u64) {
        let _g = self.absolute.lock();
        let cur = self.counter.get();
        if value > cur {
            self.counter.inc_by(value - cur);
        }
    }
}

#[derive(Debug)]
struct GaugeHandle(FloatGauge);

impl GaugeFn for GaugeHandle {
    #[inline]
    fn increment(&self, value: f64) {
        self.0.add(value);
    }
    #[inline]
    fn decrement(&self, value: f64) {
        self.0.add(-value);
    }
    #[inline]
    fn set(&self, value: f64) {
        self.0.set(value);
    }
}

#[derive(Debug)]
struct HistogramHandle(Histogram);

impl HistogramFn for HistogramHandle {
    #[inline]
    fn record(&self, value: f64) {
        self.0.observe(value);
    }
}

#[derive(Clone, Debug)]
enum Handle {
    Counter(Arc<CounterHandle>),
    Gauge(Arc<GaugeHandle>),
    Histogram(Arc<HistogramHandle>),
}

impl Handle {
    fn kind(&self) -> MetricKind {
        match self {
            Handle::Counter(_) => MetricKind::Counter,
            Handle::Gauge(_) => MetricKind::Gauge,
            Handle::Histogram(_) => MetricKind::Histogram,
        }
    }
}

#[derive(Debug)]
struct Series {
    labels: Vec<(String, String)>,
    handle: Handle,
}

#[derive(Debug)]
struct Fam {
    /// Sanitised name, without `_total` for counters.
    name: String,
    kind: MetricKind,
    series: Vec<Series>,
    /// Label sets already present -> index in `series`.
    by_labels: HashMap<Vec<(String, String)>, usize>,
    /// Whether every series has the same label names (then they are streamed).
    uniform: bool,
}

#[derive(Debug, Default)]
struct State {
    /// Every key registered (within the caps) -> its handle.
    keys: HashMap<Key, Handle, BuildHasherDefault<KeyHasher>>,
    fams: Vec<Fam>,
    /// Sanitised family name -> index in `fams`.
    by_name: HashMap<String, usize>,
    /// Every series name a family occupies -> index in `fams`.
    claimed: HashMap<String, usize>,
    /// Keys refused once already for a type (type conflicts), not counted again.
    refused: HashSet<(Key, u8)>,
}

#[derive(Debug, Clone)]
struct Description {
    unit: Option<Unit>,
    help: SharedString,
}

#[derive(Debug)]
struct Inner {
    name: String,
    cap: usize,
    buckets: Vec<(String, Vec<f64>)>,
    default_buckets: Vec<f64>,
    state: RwLock<State>,
    /// Descriptions by sanitised family name.
    descriptions: RwLock<HashMap<String, Description>>,
}

/// Builds a [`VsanobsRecorder`].
#[derive(Debug, Clone)]
pub struct RecorderBuilder {
    name: String,
    cap: usize,
    buckets: Vec<(String, Vec<f64>)>,
    default_buckets: Vec<f64>,
}

impl RecorderBuilder {
    /// The most series one metric name may have ([`DEFAULT_SERIES_CAP`] by default; at
    /// least 1).
    pub fn series_cap(mut self, cap: usize) -> Self {
        self.cap = cap.max(1);
        self
    }

    /// Histogram buckets for names matching `pattern`: a name (after sanitising) where `*`
    /// stands for any run of characters (`http_*`, `*_seconds`, `db_*_duration_seconds`).
    /// Patterns are tried in the order given; the first match wins.
    ///
    /// ```
    /// use vsanobs_bridge::facade::VsanobsRecorder;
    /// use vsanobs_core::{Format, Registry};
    ///
    /// let rec = VsanobsRecorder::builder("m")
    ///     .buckets("db_*", [0.001, 0.01])
    ///     .default_buckets([1.0])
    ///     .build();
    /// let registry = Registry::new();
    /// rec.register(&registry).unwrap();
    /// metrics::with_local_recorder(&rec, || {
    ///     metrics::histogram!("db_query_seconds").record(0.005);
    ///     metrics::histogram!("render_seconds").record(0.5);
    /// });
    /// let text = registry.encode_to_string(Format::PrometheusText);
    /// assert!(text.contains("db_query_seconds_bucket{le=\"0.01\"} 1\n"));
    /// assert!(text.contains("render_seconds_bucket{le=\"1.0\"} 1\n"));
    /// ```
    pub fn buckets(mut self, pattern: &str, bounds: impl IntoIterator<Item = f64>) -> Self {
        self.buckets
            .push((pattern.to_owned(), bounds.into_iter().collect()));
        self
    }

    /// Histogram buckets for names no pattern matches ([`DEFAULT_DURATION_BUCKETS`] unless
    /// set).
    pub fn default_buckets(mut self, bounds: impl IntoIterator<Item = f64>) -> Self {
        self.default_buckets = bounds.into_iter().collect();
        self
    }

    /// The recorder.
    pub fn build(self) -> VsanobsRecorder {
        VsanobsRecorder {
            inner: Arc::new(Inner {
                name: self.name,
                cap: self.cap,
                buckets: self.buckets,
                default_buckets: self.default_buckets,
                state: RwLock::new(State::default()),
                descriptions: RwLock::new(HashMap::new()),
            }),
        }
    }
}

/// A [`metrics::Recorder`] whose series a vsanobs [`Registry`] serves; see the
/// [module docs](self). Cloning shares it.
#[derive(Debug, Clone)]
pub struct VsanobsRecorder {
    inner: Arc<Inner>,
}

/// Whether `name` matches `pattern`, where `*` stands for any run of characters.
fn glob(pattern: &str, name: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == name;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !name.starts_with(first) || name.len() < first.len() + last.len() || !name.ends_with(last) {
        return false;
    }
    let mut rest = &name[first.len()..name.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

fn kind_code(kind: MetricKind) -> u8 {
    match kind {
        MetricKind::Counter => 0,
        MetricKind::Gauge => 1,
        _ => 2,
    }
}

/// The names a family of `kind` called `base` occupies.
fn claims(base: &str, kind: MetricKind) -> Vec<String> {
    let suffixes: &[&str] = match kind {
        MetricKind::Counter => &["", "_total", "_created"],
        MetricKind::Histogram => &["", "_bucket", "_sum", "_count", "_created"],
        _ => &[""],
    };
    suffixes.iter().map(|s| format!("{base}{s}")).collect()
}

impl VsanobsRecorder {
    /// A builder for a recorder whose collector is called `name` (the `collector` label of
    /// `vsanobs_scrape_collector_success`, the `bridge` label of problem counts).
    pub fn builder(name: impl Into<String>) -> RecorderBuilder {
        RecorderBuilder {
            name: name.into(),
            cap: DEFAULT_SERIES_CAP,
            buckets: Vec::new(),
            default_buckets: DEFAULT_DURATION_BUCKETS.to_vec(),
        }
    }

    /// A recorder with the default caps and buckets.
    pub fn new(name: impl Into<String>) -> Self {
        Self::builder(name).build()
    }

    /// Registers this recorder's collector (a clone sharing its series) and the bridge
    /// problem counter in `registry`.
    ///
    /// # Errors
    /// [`RegistryError::DuplicateCollector`] when a collector of this name exists.
    pub fn register(&self, registry: &Registry) -> Result<(), RegistryError> {
        registry.register_collector(self.clone())?;
        problems::register(registry);
        Ok(())
    }

    /// Installs a clone as the process-wide `metrics` recorder.
    ///
    /// # Errors
    /// When a global recorder is already installed.
    pub fn install(&self) -> Result<(), metrics::SetRecorderError<VsanobsRecorder>> {
        metrics::set_global_recorder(self.clone())
    }

    /// How many series the recorder holds (overflow series included).
    pub fn series(&self) -> usize {
        self.inner
            .state
            .read()
            .fams
            .iter()
            .map(|f| f.series.len())
            .sum()
    }

    fn bounds(&self, name: &str) -> &[f64] {
        self.inner
            .buckets
            .iter()
            .find(|(p, _)| glob(p, name))
            .map_or(&self.inner.default_buckets, |(_, b)| b)
    }

    /// The sanitised family name of `key` for `kind` (counters without `_total`).
    fn family_name(&self, key: &str, kind: MetricKind) -> String {
        let name = sanitize::metric_name(key);
        if let std::borrow::Cow::Owned(_) = name {
            problems::count(&self.inner.name, Problem::InvalidMetricName);
        }
        match kind {
            MetricKind::Counter => name.strip_suffix("_total").unwrap_or(&name).to_owned(),
            _ => name.into_owned(),
        }
    }

    /// The handle of `key`, created on its first registration.
    fn handle(&self, key: &Key, kind: MetricKind) -> Option<Handle> {
        if let Some(h) = self.inner.state.read().keys.get(key) {
            if h.kind() == kind {
                return Some(h.clone());
            }
        }
        self.create(key, kind)
    }

    fn create(&self, key: &Key, kind: MetricKind) -> Option<Handle> {
        let bridge = self.inner.name.as_str();
        let mut st = self.inner.state.write();
        if let Some(h) = st.keys.get(key) {
            if h.kind() == kind {
                return Some(h.clone());
            }
            let name = key.name().to_owned();
            return self.refuse(&mut st, key, kind, &name);
        }
        if st.refused.contains(&(key.clone(), kind_code(kind))) {
            return None;
        }
        let name = self.family_name(key.name(), kind);
        let fi = match st.by_name.get(&name) {
            Some(&i) if st.fams[i].kind == kind => i,
            Some(_) => return self.refuse(&mut st, key, kind, &name),
            None => {
                let mine = claims(&name, kind);
                if mine.iter().any(|c| st.claimed.contains_key(c)) {
                    return self.refuse(&mut st, key, kind, &name);
                }
                let i = st.fams.len();
                st.fams.push(Fam {
                    name: name.clone(),
                    kind,
                    series: Vec::new(),
                    by_labels: HashMap::new(),
                    uniform: true,
                });
                st.by_name.insert(name.clone(), i);
                for c in mine {
                    st.claimed.insert(c, i);
                }
                i
            }
        };
        let labels = label_set(bridge, key.labels().map(|l| (l.key(), l.value())));
        let fam = &st.fams[fi];
        if let Some(&si) = fam.by_labels.get(&labels) {
            // Another key with the same labels after sanitising: they share the series.
            problems::count(bridge, Problem::DuplicateSeries);
            let h = fam.series[si].handle.clone();
            st.keys.insert(key.clone(), h.clone());
            return Some(h);
        }
        if fam.series.len() >= self.inner.cap {
            problems::count(bridge, Problem::SeriesOverflow);
            let over: Vec<(String, String)> = labels
                .iter()
                .map(|(k, _)| (k.clone(), OVERFLOW_LABEL_VALUE.to_owned()))
                .collect();
            if let Some(&si) = fam.by_labels.get(&over) {
                return Some(fam.series[si].handle.clone());
            }
            // The overflow series itself goes past the cap by one; the key is not kept, so
            // the key table stays bounded.
            return Some(self.add_series(&mut st, fi, over, &name));
        }
        let h = self.add_series(&mut st, fi, labels, &name);
        st.keys.insert(key.clone(), h.clone());
        Some(h)
    }

    /// A key whose name another type holds: counted and logged once, records nothing.
    fn refuse(&self, st: &mut State, key: &Key, kind: MetricKind, name: &str) -> Option<Handle> {
        let id = (key.clone(), kind_code(kind));
        if st.refused.contains(&id) {
            return None;
        }
        problems::count(&self.inner.name, Problem::TypeConflict);
        tracing::warn!(bridge = %self.inner.name, family = name, "a metric name is used with two types; the later type records nothing");
        if st.refused.len() < self.inner.cap {
            st.refused.insert(id);
        }
        None
    }

    fn add_series(
        &self,
        st: &mut State,
        fi: usize,
        labels: Vec<(String, String)>,
        name: &str,
    ) -> Handle {
        let fam = &mut st.fams[fi];
        let handle = match fam.kind {
            MetricKind::Counter => Handle::Counter(Arc::new(CounterHandle {
                counter: Counter::default(),
                absolute: Mutex::new(()),
            })),
            MetricKind::Gauge => Handle::Gauge(Arc::new(GaugeHandle(FloatGauge::default()))),
            _ => Handle::Histogram(Arc::new(HistogramHandle(Histogram::new(
                self.bounds(name).iter().copied(),
            )))),
        };
        if let Some(first) = fam.series.first() {
            if !first
                .labels
                .iter()
                .map(|l| &l.0)
                .eq(labels.iter().map(|l| &l.0))
            {
                fam.uniform = false;
            }
        }
        fam.by_labels.insert(labels.clone(), fam.series.len());
        fam.series.push(Series {
            labels,
            handle: handle.clone(),
        });
        handle
    }

    fn describe(&self, key: &KeyName, kind: MetricKind, unit: Option<Unit>, help: SharedString) {
        let name = match kind {
            MetricKind::Counter => {
                let n = sanitize::metric_name(key.as_str());
                n.strip_suffix("_total").unwrap_or(&n).to_owned()
            }
            _ => sanitize::metric_name(key.as_str()).into_owned(),
        };
        self.inner
            .descriptions
            .write()
            .insert(name, Description { unit, help });
    }
}

impl Recorder for VsanobsRecorder {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.describe(&key, MetricKind::Counter, unit, description);
    }

    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.describe(&key, MetricKind::Gauge, unit, description);
    }

    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.describe(&key, MetricKind::Histogram, unit, description);
    }

    fn register_counter(&self, key: &Key, _metadata: &Metadata<'_>) -> MCounter {
        match self.handle(key, MetricKind::Counter) {
            Some(Handle::Counter(c)) => MCounter::from_arc(c),
            _ => MCounter::noop(),
        }
    }

    fn register_gauge(&self, key: &Key, _metadata: &Metadata<'_>) -> MGauge {
        match self.handle(key, MetricKind::Gauge) {
            Some(Handle::Gauge(g)) => MGauge::from_arc(g),
            _ => MGauge::noop(),
        }
    }

    fn register_histogram(&self, key: &Key, _metadata: &Metadata<'_>) -> MHistogram {
        match self.handle(key, MetricKind::Histogram) {
            Some(Handle::Histogram(h)) => MHistogram::from_arc(h),
            _ => MHistogram::noop(),
        }
    }
}

fn histogram_value(h: &Histogram) -> Value {
    let counts = h.cumulative_counts();
    let buckets = h
        .bounds()
        .iter()
        .copied()
        .chain([f64::INFINITY])
        .zip(counts.iter().copied())
        .map(|(upper_bound, cumulative_count)| Bucket {
            upper_bound,
            cumulative_count,
            exemplar: None,
        })
        .collect();
    Value::Histogram {
        buckets,
        sum: h.sum(),
        count: counts.last().copied().unwrap_or(0),
    }
}

impl Collector for VsanobsRecorder {
    fn name(&self) -> &str {
        &self.inner.name
    }

    fn collect_into(&self, sink: &mut FamilySink<'_>) -> Result<(), CollectError> {
        let descriptions = self.inner.descriptions.read().clone();
        let st = self.inner.state.read();
        let mut pairs: Vec<(&str, &str)> = Vec::new();
        for fam in &st.fams {
            if fam.series.is_empty() {
                continue;
            }
            let desc = descriptions.get(&fam.name);
            let help = desc
                .map(|d| d.help.as_ref())
                .filter(|h| !h.trim().is_empty())
                .unwrap_or(fam.name.as_str());
            let unit = desc
                .and_then(|d| d.unit)
                .map(|u| u.as_str())
                .filter(|u| *u != "count" && fam.name.ends_with(&format!("_{u}")));
            if fam.uniform && fam.kind != MetricKind::Histogram {
                sink.family(&fam.name, help, unit, fam.kind);
                for s in &fam.series {
                    pairs.clear();
                    pairs.extend(s.labels.iter().map(|(k, v)| (k.as_str(), v.as_str())));
                    match &s.handle {
                        Handle::Counter(c) => {
                            sink.counter(&[&pairs], Number::Uint(c.counter.get()))
                        }
                        Handle::Gauge(g) => sink.gauge(&[&pairs], Number::Float(g.0.get())),
                        Handle::Histogram(_) => {}
                    }
                }
                continue;
            }
            let mut out = MetricFamily::new(fam.name.as_str(), help, fam.kind);
            out.unit = unit.map(str::to_owned);
            for s in &fam.series {
                let value = match &s.handle {
                    Handle::Counter(c) => Value::Counter {
                        value: Number::Uint(c.counter.get()),
                        exemplar: None,
                    },
                    Handle::Gauge(g) => Value::Gauge(Number::Float(g.0.get())),
                    Handle::Histogram(h) => histogram_value(&h.0),
                };
                out.push(Sample {
                    labels: s.labels.clone(),
                    value,
                });
            }
            sink.push(out);
        }
        Ok(())
    }
}
