//! [`Registry`]: the set of metric families and [`Collector`]s a scrape or push exports.
//!
//! # Example
//!
//! ```
//! use vsanobs_core::{Format, Gauge, Registry};
//!
//! let registry = Registry::builder()
//!     .prefix("shop")
//!     .const_label("region", "eu-1")
//!     .build()
//!     .unwrap();
//! let queue = Gauge::default();
//! registry.register("queue_depth", "Orders waiting.", queue.clone()).unwrap();
//! queue.set(4);
//!
//! assert_eq!(
//!     registry.encode_to_string(Format::OpenMetrics),
//!     "# TYPE shop_queue_depth gauge\n\
//!      ## HELP shop_queue_depth Orders waiting.\n\
//!      shop_queue_depth{region=\"eu-1\"} 4\n\
//!      ## EOF\n"
//! );
//! // The same name twice is a typed error, not a panic.
//! assert!(registry.register("queue_depth", "Again.", Gauge::default()).is_err());
//! ```
//!
//! ## Note
//! The registry is only touched at registration and scrape time; recording goes through the
//! metric handles and never sees it. A scrape clones the entry list under a read lock and
//! then encodes without holding it, so collectors may themselves use the registry.

use std::collections::HashSet;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, OnceLock};

use parking_lot::RwLock;

use crate::encoding::{Format, StreamEncoder, TextEncoder, Visitor};
use crate::report::panic_message;
pub use crate::sink::FamilySink;

/// Bytes [`Registry::write_to`] gathers before handing them to its writer.
const STREAM_CHUNK: usize = 64 * 1024;
use crate::family::Family;
use crate::labels::{LabelSet, LabelsRef, OwnLabels, is_valid_label_name, is_valid_metric_name};
use crate::metrics::Metric;
use crate::model::{Bucket, Exemplar, MetricDesc, MetricFamily, MetricKind, Number, Sample, Value};

/// Name of the self-metric counting label sets refused past a family's series cap.
pub const SERIES_OVERFLOW_METRIC: &str = "vsanobs_series_overflow";
/// Name of the self-metric reporting whether each collector succeeded on the last scrape.
pub const COLLECTOR_SUCCESS_METRIC: &str = "vsanobs_scrape_collector_success";
/// The registry's own self-metrics.
pub const SELF_METRICS: &[MetricDesc] = &[
    MetricDesc {
        name: "vsanobs_series_overflow_total",
        kind: MetricKind::Counter,
        help: "Label sets refused because their family reached its series cap.",
        unit: None,
        labels: &["family"],
    },
    MetricDesc {
        name: "vsanobs_scrape_collector_success",
        kind: MetricKind::Gauge,
        help: "Whether the collector succeeded on the last scrape (1) or failed (0).",
        unit: None,
        labels: &["collector"],
    },
];

/// The value every label of a family's overflow series carries.
pub const OVERFLOW_LABEL_VALUE: &str = "__overflow__";

/// Why a registration was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// Not `[a-zA-Z_:][a-zA-Z0-9_:]*` (after the prefix was applied).
    #[error("invalid metric name {name:?}: must match [a-zA-Z_:][a-zA-Z0-9_:]*")]
    InvalidMetricName {
        /// The rejected name.
        name: String,
    },
    /// Not `[a-zA-Z_][a-zA-Z0-9_]*`, starts with `__`, is reserved (`le` on histograms) or
    /// repeats a constant label.
    #[error("invalid label name {label:?} on {metric:?}")]
    InvalidLabelName {
        /// The metric it was meant for (empty for registry constant labels).
        metric: String,
        /// The rejected label name.
        label: String,
    },
    /// Help text is required: `promtool check metrics` flags families without it.
    #[error("metric {name:?} needs a non-empty help text")]
    EmptyHelp {
        /// The metric.
        name: String,
    },
    /// A unit was given but the name does not end with `_<unit>`.
    #[error("metric {name:?} has unit {unit:?} but its name does not end with \"_{unit}\"")]
    UnitMismatch {
        /// The metric.
        name: String,
        /// The unit.
        unit: String,
    },
    /// The name, or a series name it would produce, is taken by another family.
    #[error("metric {name:?} collides with the already registered {existing:?}")]
    AlreadyRegistered {
        /// The refused name.
        name: String,
        /// The family that holds it.
        existing: String,
    },
    /// The name belongs to the library's own self-metrics.
    #[error("metric name {name:?} is reserved for vsanobs self-metrics")]
    Reserved {
        /// The refused name.
        name: String,
    },
    /// Nothing is registered under that name.
    #[error("no metric or collector named {name:?} is registered")]
    NotFound {
        /// The name asked for.
        name: String,
    },
    /// A collector with that name is already registered.
    #[error("a collector named {name:?} is already registered")]
    DuplicateCollector {
        /// The collector name.
        name: String,
    },
}

/// Why a [`Collector`] could not produce (all of) its values. Keeps the cause.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct CollectError {
    message: String,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl CollectError {
    /// An error with a message.
    pub fn new(message: impl Into<String>) -> Self {
        CollectError {
            message: message.into(),
            source: None,
        }
    }
    /// An error with a message and the underlying cause.
    pub fn with_source(
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        CollectError {
            message: message.into(),
            source: Some(Box::new(source)),
        }
    }
    /// The message, without the cause.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// Values computed at scrape time (process statistics, a cache's size, an external system).
///
/// A collector that returns an error, panics or produces an invalid family does not fail the
/// scrape: its valid families are still served (none of them if it panicked), the failure is
/// logged, and `vsanobs_scrape_collector_success{collector="<name>"}` reads 0.
///
/// # Example
///
/// ```
/// use vsanobs_core::model::{MetricFamily, MetricKind, Sample};
/// use vsanobs_core::{CollectError, Collector, Format, Registry};
///
/// #[derive(Debug)]
/// struct Uptime;
/// impl Collector for Uptime {
///     fn name(&self) -> &str { "uptime" }
///     fn collect(&self, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
///         out.push(MetricFamily::new("app_uptime_seconds", "Uptime.", MetricKind::Gauge)
///             .with_sample(Sample::gauge(12.5)));
///         Ok(())
///     }
/// }
///
/// let r = Registry::new();
/// r.register_collector(Uptime).unwrap();
/// let text = r.encode_to_string(Format::PrometheusText);
/// assert!(text.contains("app_uptime_seconds 12.5\n"));
/// assert!(text.contains("vsanobs_scrape_collector_success{collector=\"uptime\"} 1\n"));
/// ```
pub trait Collector: Send + Sync + 'static {
    /// A short stable name, used as the `collector` label.
    fn name(&self) -> &str;
    /// Appends the current families to `out`.
    ///
    /// # Errors
    /// Return an error when some values could not be read; families already pushed are
    /// still exported.
    fn collect(&self, out: &mut Vec<MetricFamily>) -> Result<(), CollectError>;

    /// Streams the current families into `sink`, series by series with borrowed labels,
    /// instead of building owned families: what a scrape calls. Override it when a
    /// collector exports many series (see [`FamilySink`] for an example), and implement
    /// [`collect`](Self::collect) with [`FamilySink::collect_owned`].
    ///
    /// The default calls [`collect`](Self::collect) and pushes each family.
    ///
    /// # Errors
    /// As for [`collect`](Self::collect): what was written before the error is exported.
    fn collect_into(&self, sink: &mut FamilySink<'_>) -> Result<(), CollectError> {
        let mut fams = Vec::new();
        let result = self.collect(&mut fams);
        for f in fams {
            sink.push(f);
        }
        result
    }
}

#[doc(hidden)]
pub trait DynMetric: Send + Sync {
    fn visit(&self, consts: &[(String, String)], v: &mut dyn Visitor);
    fn label_names(&self) -> &'static [&'static str];
    fn overflowed(&self) -> Option<u64>;
}

struct Single<M>(M);

impl<M: Metric> DynMetric for Single<M> {
    fn visit(&self, consts: &[(String, String)], v: &mut dyn Visitor) {
        self.0.visit(
            LabelsRef {
                consts,
                own: OwnLabels::None,
            },
            v,
        );
    }
    fn label_names(&self) -> &'static [&'static str] {
        &[]
    }
    fn overflowed(&self) -> Option<u64> {
        None
    }
}

impl<L: LabelSet, M: Metric> DynMetric for Family<L, M> {
    fn visit(&self, consts: &[(String, String)], v: &mut dyn Visitor) {
        self.visit_series(consts, v);
    }
    fn label_names(&self) -> &'static [&'static str] {
        L::NAMES
    }
    fn overflowed(&self) -> Option<u64> {
        (!L::NAMES.is_empty()).then(|| Family::overflowed(self))
    }
}

mod sealed {
    pub trait Sealed {}
}

/// Something [`Registry::register`] accepts: a metric or a [`Family`] of them. Sealed.
pub trait Registerable: sealed::Sealed {
    /// The family type.
    const KIND: MetricKind;
    #[doc(hidden)]
    fn into_dyn(self) -> Arc<dyn DynMetric>;
}

impl<M: Metric> sealed::Sealed for M {}
impl<M: Metric> Registerable for M {
    const KIND: MetricKind = M::KIND;
    fn into_dyn(self) -> Arc<dyn DynMetric> {
        Arc::new(Single(self))
    }
}
impl<L: LabelSet, M: Metric> sealed::Sealed for Family<L, M> {}
impl<L: LabelSet, M: Metric> Registerable for Family<L, M> {
    const KIND: MetricKind = M::KIND;
    fn into_dyn(self) -> Arc<dyn DynMetric> {
        Arc::new(self)
    }
}

#[derive(Clone)]
struct Entry {
    name: String,
    help: String,
    unit: Option<String>,
    kind: MetricKind,
    metric: Arc<dyn DynMetric>,
}

#[derive(Clone)]
struct CollectorEntry {
    name: String,
    collector: Arc<dyn Collector>,
}

#[derive(Default)]
struct State {
    entries: Vec<Entry>,
    collectors: Vec<CollectorEntry>,
}

struct Inner {
    prefix: Option<String>,
    consts: Vec<(String, String)>,
    state: RwLock<State>,
}

/// A set of metric families and collectors. Cloning shares it.
#[derive(Clone)]
pub struct Registry {
    inner: Arc<Inner>,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.inner.state.read();
        f.debug_struct("Registry")
            .field("prefix", &self.inner.prefix)
            .field("const_labels", &self.inner.consts)
            .field(
                "families",
                &s.entries.iter().map(|e| &e.name).collect::<Vec<_>>(),
            )
            .field(
                "collectors",
                &s.collectors.iter().map(|c| &c.name).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Default for Registry {
    fn default() -> Self {
        Self::new()
    }
}

/// Builds a [`Registry`] with a name prefix and constant labels.
#[derive(Debug, Default, Clone)]
pub struct RegistryBuilder {
    prefix: Option<String>,
    consts: Vec<(String, String)>,
}

impl RegistryBuilder {
    /// Prefixes every registered family and collector family with `<prefix>_`. Library
    /// self-metrics (`vsanobs_*`) keep their names.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = Some(prefix.into());
        self
    }
    /// Adds a label to every series this registry exports.
    pub fn const_label(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.consts.push((name.into(), value.into()));
        self
    }
    /// Builds the registry.
    ///
    /// # Errors
    /// [`RegistryError::InvalidMetricName`] for a prefix that is not a valid name start,
    /// [`RegistryError::InvalidLabelName`] for an invalid or repeated constant label.
    pub fn build(self) -> Result<Registry, RegistryError> {
        if let Some(p) = &self.prefix {
            if !is_valid_metric_name(p) {
                return Err(RegistryError::InvalidMetricName { name: p.clone() });
            }
        }
        let mut seen = HashSet::new();
        for (k, _) in &self.consts {
            if !is_valid_label_name(k) || !seen.insert(k.as_str()) {
                return Err(RegistryError::InvalidLabelName {
                    metric: String::new(),
                    label: k.clone(),
                });
            }
        }
        Ok(Registry {
            inner: Arc::new(Inner {
                prefix: self.prefix,
                consts: self.consts,
                state: RwLock::new(State::default()),
            }),
        })
    }
}

pub(crate) fn base_name(name: &str, kind: MetricKind) -> &str {
    match kind {
        MetricKind::Counter => name.strip_suffix("_total").unwrap_or(name),
        MetricKind::Info => name.strip_suffix("_info").unwrap_or(name),
        _ => name,
    }
}

/// Every name a family of `kind` called `base` occupies: its family name and series names.
pub(crate) fn claimed_names(base: &str, kind: MetricKind) -> Vec<String> {
    let suffixes: &[&str] = match kind {
        MetricKind::Counter => &["", "_total", "_created"],
        MetricKind::Gauge | MetricKind::Unknown => &[""],
        MetricKind::Histogram => &["", "_bucket", "_sum", "_count", "_created"],
        MetricKind::Info => &["", "_info"],
    };
    suffixes.iter().map(|s| format!("{base}{s}")).collect()
}

/// Names starting with this are the library's self-metrics and never get the registry prefix.
const LIBRARY_NAMESPACE: &str = "vsanobs_";

fn is_reserved(base: &str) -> bool {
    base.starts_with("vsanobs_series_overflow")
        || base.starts_with("vsanobs_scrape_collector_success")
}

impl Registry {
    /// An empty registry without prefix or constant labels.
    pub fn new() -> Self {
        RegistryBuilder::default()
            .build()
            .unwrap_or_else(|_| unreachable!("no prefix, no labels"))
    }

    /// A builder for a registry with prefix and constant labels.
    pub fn builder() -> RegistryBuilder {
        RegistryBuilder::default()
    }

    /// The exported name of `base`: prefixed, except the library's own `vsanobs_*`
    /// self-metrics (pool, exporters, registry), whose names are fixed.
    fn full_name(&self, base: &str) -> String {
        match &self.inner.prefix {
            Some(_) if base.starts_with(LIBRARY_NAMESPACE) => base.to_owned(),
            Some(p) => format!("{p}_{base}"),
            None => base.to_owned(),
        }
    }

    /// Registers `metric` (a metric or a [`Family`]) under `name` with `help`.
    ///
    /// Counters may be named with or without `_total`, info metrics with or without `_info`;
    /// the suffix is added on output.
    ///
    /// # Errors
    /// A [`RegistryError`] when the name or a label name is invalid, help is empty, or the
    /// name (or one of the series names it produces, such as `<name>_count` for a
    /// histogram) is taken. Nothing is registered then.
    pub fn register<R: Registerable>(
        &self,
        name: &str,
        help: &str,
        metric: R,
    ) -> Result<(), RegistryError> {
        self.register_entry(name, help, None, R::KIND, metric.into_dyn())
    }

    /// Like [`register`](Self::register), with a unit (`seconds`, `bytes`, ...) that the name
    /// must end with; OpenMetrics output carries it on a `# UNIT` line.
    ///
    /// # Errors
    /// As [`register`](Self::register), plus [`RegistryError::UnitMismatch`].
    pub fn register_with_unit<R: Registerable>(
        &self,
        name: &str,
        help: &str,
        unit: &str,
        metric: R,
    ) -> Result<(), RegistryError> {
        self.register_entry(name, help, Some(unit), R::KIND, metric.into_dyn())
    }

    pub(crate) fn check_family(
        &self,
        name: &str,
        help: &str,
        unit: Option<&str>,
        kind: MetricKind,
        label_names: &[&str],
    ) -> Result<String, RegistryError> {
        let base = base_name(name, kind);
        if base.is_empty() || !is_valid_metric_name(base) {
            return Err(RegistryError::InvalidMetricName {
                name: name.to_owned(),
            });
        }
        let full = self.full_name(base);
        if !is_valid_metric_name(&full) {
            return Err(RegistryError::InvalidMetricName { name: full });
        }
        if is_reserved(&full) {
            return Err(RegistryError::Reserved { name: full });
        }
        if help.trim().is_empty() {
            return Err(RegistryError::EmptyHelp { name: full });
        }
        if let Some(u) = unit {
            if u.is_empty() || !is_valid_label_name(u) || !full.ends_with(&format!("_{u}")) {
                return Err(RegistryError::UnitMismatch {
                    name: full,
                    unit: u.to_owned(),
                });
            }
        }
        let mut seen: HashSet<&str> = self.inner.consts.iter().map(|(k, _)| k.as_str()).collect();
        for l in label_names {
            let reserved = kind == MetricKind::Histogram && *l == "le";
            if reserved || !is_valid_label_name(l) || !seen.insert(l) {
                return Err(RegistryError::InvalidLabelName {
                    metric: full,
                    label: (*l).to_owned(),
                });
            }
        }
        Ok(full)
    }

    fn register_entry(
        &self,
        name: &str,
        help: &str,
        unit: Option<&str>,
        kind: MetricKind,
        metric: Arc<dyn DynMetric>,
    ) -> Result<(), RegistryError> {
        let full = self.check_family(name, help, unit, kind, metric.label_names())?;
        let mut state = self.inner.state.write();
        let mine = claimed_names(&full, kind);
        for e in &state.entries {
            let theirs = claimed_names(&e.name, e.kind);
            if mine.iter().any(|m| theirs.contains(m)) {
                return Err(RegistryError::AlreadyRegistered {
                    name: full,
                    existing: e.name.clone(),
                });
            }
        }
        state.entries.push(Entry {
            name: full,
            help: help.to_owned(),
            unit: unit.map(str::to_owned),
            kind,
            metric,
        });
        Ok(())
    }

    /// Removes the family registered as `name` (as given to [`register`](Self::register),
    /// with or without its type suffix). Handles keep working but are no longer exported.
    ///
    /// # Errors
    /// [`RegistryError::NotFound`] when no such family exists.
    pub fn unregister(&self, name: &str) -> Result<(), RegistryError> {
        let mut state = self.inner.state.write();
        let pos = state.entries.iter().position(|e| {
            let base = base_name(name, e.kind);
            e.name == self.full_name(base) || e.name == base
        });
        match pos {
            Some(i) => {
                state.entries.remove(i);
                Ok(())
            }
            None => Err(RegistryError::NotFound {
                name: name.to_owned(),
            }),
        }
    }

    /// Adds a collector, called on every scrape and gather.
    ///
    /// # Errors
    /// [`RegistryError::DuplicateCollector`] when a collector of that name exists.
    pub fn register_collector(&self, collector: impl Collector) -> Result<(), RegistryError> {
        self.register_collector_arc(Arc::new(collector))
    }

    /// Like [`register_collector`](Self::register_collector), for a shared collector.
    ///
    /// # Errors
    /// [`RegistryError::DuplicateCollector`] when a collector of that name exists.
    pub fn register_collector_arc(
        &self,
        collector: Arc<dyn Collector>,
    ) -> Result<(), RegistryError> {
        let name = collector.name().to_owned();
        let mut state = self.inner.state.write();
        if state.collectors.iter().any(|c| c.name == name) {
            return Err(RegistryError::DuplicateCollector { name });
        }
        state.collectors.push(CollectorEntry { name, collector });
        Ok(())
    }

    /// Removes the collector called `name`.
    ///
    /// # Errors
    /// [`RegistryError::NotFound`] when there is none.
    pub fn unregister_collector(&self, name: &str) -> Result<(), RegistryError> {
        let mut state = self.inner.state.write();
        let before = state.collectors.len();
        state.collectors.retain(|c| c.name != name);
        if state.collectors.len() == before {
            return Err(RegistryError::NotFound {
                name: name.to_owned(),
            });
        }
        Ok(())
    }

    /// Convenience: creates, registers and returns a [`Counter`](crate::Counter).
    ///
    /// # Errors
    /// As [`register`](Self::register).
    pub fn counter(&self, name: &str, help: &str) -> Result<crate::Counter, RegistryError> {
        let c = crate::Counter::default();
        self.register(name, help, c.clone())?;
        Ok(c)
    }

    /// Convenience: creates, registers and returns a [`Gauge`](crate::Gauge).
    ///
    /// # Errors
    /// As [`register`](Self::register).
    pub fn gauge(&self, name: &str, help: &str) -> Result<crate::Gauge, RegistryError> {
        let g = crate::Gauge::default();
        self.register(name, help, g.clone())?;
        Ok(g)
    }

    /// Convenience: creates, registers and returns a [`Histogram`](crate::Histogram).
    ///
    /// # Errors
    /// As [`register`](Self::register).
    pub fn histogram(
        &self,
        name: &str,
        help: &str,
        bounds: impl IntoIterator<Item = f64>,
    ) -> Result<crate::Histogram, RegistryError> {
        let h = crate::Histogram::new(bounds);
        self.register(name, help, h.clone())?;
        Ok(h)
    }

    /// Walks every family, collector and self-metric, calling `v`. Families are visited in
    /// registration order, then collectors' families, then self-metrics.
    pub fn visit(&self, v: &mut dyn Visitor) {
        self.visit_filtered(v, &|_| true)
    }

    /// Like [`visit`](Self::visit), but only families whose full name (without type suffix)
    /// passes `keep`. Collectors whose families are all filtered out are still run.
    pub fn visit_filtered(&self, v: &mut dyn Visitor, keep: &dyn Fn(&str) -> bool) {
        let (entries, collectors) = {
            let s = self.inner.state.read();
            (s.entries.clone(), s.collectors.clone())
        };
        let consts = &self.inner.consts;
        let mut overflow: Vec<(String, u64)> = Vec::new();
        let mut taken: HashSet<String> = HashSet::new();
        for e in &entries {
            taken.extend(claimed_names(&e.name, e.kind));
            if let Some(n) = e.metric.overflowed() {
                overflow.push((e.name.clone(), n));
            }
            if !keep(&e.name) {
                continue;
            }
            v.family(&e.name, &e.help, e.unit.as_deref(), e.kind);
            e.metric.visit(consts, v);
        }
        let mut results: Vec<(String, bool)> = Vec::with_capacity(collectors.len());
        for c in &collectors {
            let ok = self.run_collector(c, consts, &mut taken, v, keep);
            results.push((c.name.clone(), ok));
        }
        if !overflow.is_empty() && keep(SERIES_OVERFLOW_METRIC) {
            v.family(
                SERIES_OVERFLOW_METRIC,
                SELF_METRICS[0].help,
                None,
                MetricKind::Counter,
            );
            for (fam, n) in &overflow {
                v.counter(
                    LabelsRef {
                        consts,
                        own: OwnLabels::One("family", fam),
                    },
                    Number::Uint(*n),
                    None,
                );
            }
        }
        if !results.is_empty() && keep(COLLECTOR_SUCCESS_METRIC) {
            v.family(
                COLLECTOR_SUCCESS_METRIC,
                SELF_METRICS[1].help,
                None,
                MetricKind::Gauge,
            );
            for (name, ok) in &results {
                v.gauge(
                    LabelsRef {
                        consts,
                        own: OwnLabels::One("collector", name),
                    },
                    Number::Int(i64::from(*ok)),
                );
            }
        }
    }

    fn run_collector(
        &self,
        c: &CollectorEntry,
        consts: &[(String, String)],
        taken: &mut HashSet<String>,
        v: &mut dyn Visitor,
        keep: &dyn Fn(&str) -> bool,
    ) -> bool {
        if v.begin() {
            return self.run_into(c, consts, taken, v, keep);
        }
        // A visitor that cannot discard output gets the collector's families only once the
        // collector has returned.
        let mut g = Gatherer::default();
        g.begin();
        let ok = self.run_into(c, &[], taken, &mut g, keep);
        for fam in &g.families {
            v.family(&fam.name, &fam.help, fam.unit.as_deref(), fam.kind);
            visit_samples(fam, consts, v);
        }
        ok
    }

    /// Runs one collector into `v`, inside a unit of output `v` has begun: kept on return
    /// (error or not), discarded on panic.
    fn run_into(
        &self,
        c: &CollectorEntry,
        consts: &[(String, String)],
        taken: &mut HashSet<String>,
        v: &mut dyn Visitor,
        keep: &dyn Fn(&str) -> bool,
    ) -> bool {
        let mut sink = FamilySink::new(self, consts, keep, taken, v, &c.name);
        let result = catch_unwind(AssertUnwindSafe(|| c.collector.collect_into(&mut sink)));
        let (valid, claimed) = sink.finish();
        match result {
            Ok(Ok(())) => {
                v.commit();
                valid
            }
            Ok(Err(e)) => {
                v.commit();
                tracing::warn!(collector = %c.name, error = %e, source = ?std::error::Error::source(&e), "collector failed; serving what it produced");
                false
            }
            Err(panic) => {
                v.rollback();
                for n in &claimed {
                    taken.remove(n);
                }
                let msg = panic_message(&*panic);
                tracing::error!(collector = %c.name, panic = %msg, "collector panicked; its output is dropped");
                false
            }
        }
    }

    /// Writes everything in `format` to `w`, a chunk at a time: the exposition is never
    /// held whole, only one chunk (64 KiB) or one collector's output, whichever is larger.
    /// Collectors run as the walk reaches them, as for [`encode`](Self::encode).
    ///
    /// ```
    /// use vsanobs_core::{Format, Registry};
    ///
    /// let r = Registry::new();
    /// r.counter("jobs_total", "Jobs done.")?.inc();
    /// let mut out = Vec::new();
    /// r.write_to(Format::OpenMetrics, &mut out)?;
    /// assert_eq!(out, r.encode_to_string(Format::OpenMetrics).as_bytes());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// The first error `w` returned (nothing is written after it; the walk still finishes,
    /// so collectors are never left halfway).
    pub fn write_to(&self, format: Format, w: &mut dyn std::io::Write) -> std::io::Result<()> {
        self.write_filtered_to(format, w, &|_| true)
    }

    /// Like [`write_to`](Self::write_to), only the families whose full name passes `keep`.
    ///
    /// # Errors
    /// The first error `w` returned.
    pub fn write_filtered_to(
        &self,
        format: Format,
        w: &mut dyn std::io::Write,
        keep: &dyn Fn(&str) -> bool,
    ) -> std::io::Result<()> {
        let mut enc = StreamEncoder::new(w, format, STREAM_CHUNK);
        self.visit_filtered(&mut enc, keep);
        enc.finish()
    }

    /// Encodes everything in `format`, appending to `out`.
    pub fn encode(&self, format: Format, out: &mut String) {
        let mut enc = TextEncoder::new(out, format);
        self.visit(&mut enc);
        enc.finish();
    }

    /// Encodes only the families whose full name passes `keep` (for `name[]` selection).
    pub fn encode_filtered(&self, format: Format, out: &mut String, keep: &dyn Fn(&str) -> bool) {
        let mut enc = TextEncoder::new(out, format);
        self.visit_filtered(&mut enc, keep);
        enc.finish();
    }

    /// Encodes everything in `format` into a new `String`.
    pub fn encode_to_string(&self, format: Format) -> String {
        let mut s = String::new();
        self.encode(format, &mut s);
        s
    }

    /// An owned snapshot of every family (full names, constant labels included), for push
    /// exporters and tests.
    pub fn gather(&self) -> Vec<MetricFamily> {
        let mut g = Gatherer::default();
        self.visit(&mut g);
        g.families
    }
}

pub(crate) fn validate_samples(fam: &MetricFamily) -> Result<(), &'static str> {
    let mut seen = HashSet::new();
    for s in &fam.samples {
        let mut names = HashSet::new();
        for (k, _) in &s.labels {
            if !is_valid_label_name(k) || !names.insert(k.as_str()) {
                return Err("invalid or repeated label name");
            }
        }
        if !seen.insert(&s.labels) {
            return Err("two series with the same labels");
        }
        let kind_ok = matches!(
            (&s.value, fam.kind),
            (Value::Counter { .. }, MetricKind::Counter)
                | (Value::Gauge(_), MetricKind::Gauge)
                | (Value::Histogram { .. }, MetricKind::Histogram)
                | (Value::Info, MetricKind::Info)
                | (Value::Unknown(_), MetricKind::Unknown)
        );
        if !kind_ok {
            return Err("sample value does not match the family type");
        }
        match &s.value {
            Value::Counter { value, .. } => {
                let v = value.as_f64();
                if v.is_nan() || v < 0.0 {
                    return Err("counter value is negative or NaN");
                }
            }
            Value::Histogram { buckets, .. } => {
                if buckets
                    .last()
                    .is_none_or(|b| b.upper_bound != f64::INFINITY)
                {
                    return Err("histogram does not end with a +Inf bucket");
                }
                for w in buckets.windows(2) {
                    if w[1].upper_bound <= w[0].upper_bound
                        || w[1].cumulative_count < w[0].cumulative_count
                    {
                        return Err("histogram buckets are not increasing");
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Replays the series of an owned family into a [`Visitor`], with `consts` first.
pub(crate) fn visit_samples(fam: &MetricFamily, consts: &[(String, String)], v: &mut dyn Visitor) {
    for s in &fam.samples {
        let labels = LabelsRef {
            consts,
            own: OwnLabels::Pairs(&s.labels),
        };
        match &s.value {
            Value::Counter { value, exemplar } => v.counter(labels, *value, exemplar.as_ref()),
            Value::Gauge(n) => v.gauge(labels, *n),
            Value::Unknown(n) => v.unknown(labels, *n),
            Value::Info => v.info(labels),
            Value::Histogram { buckets, sum, .. } => {
                let bounds: Vec<f64> = buckets
                    .iter()
                    .take(buckets.len().saturating_sub(1))
                    .map(|b| b.upper_bound)
                    .collect();
                let cum: Vec<u64> = buckets.iter().map(|b| b.cumulative_count).collect();
                let ex: Vec<Option<Exemplar>> = buckets.iter().map(|b| b.exemplar).collect();
                let has_ex = ex.iter().any(Option::is_some);
                v.histogram(labels, &bounds, &cum, *sum, has_ex.then_some(ex.as_slice()));
            }
        }
    }
}

/// A [`Visitor`] that builds owned [`MetricFamily`] snapshots.
#[derive(Debug, Default)]
pub(crate) struct Gatherer {
    pub(crate) families: Vec<MetricFamily>,
    /// `families.len()` at [`Visitor::begin`].
    mark: Option<usize>,
}

impl Gatherer {
    fn push(&mut self, labels: LabelsRef<'_>, value: Value) {
        if let Some(f) = self.families.last_mut() {
            f.samples.push(Sample {
                labels: labels.to_pairs(),
                value,
            });
        }
    }
}

impl Visitor for Gatherer {
    fn family(&mut self, name: &str, help: &str, unit: Option<&str>, kind: MetricKind) {
        let mut f = MetricFamily::new(name, help, kind);
        f.unit = unit.map(str::to_owned);
        self.families.push(f);
    }
    fn counter(&mut self, labels: LabelsRef<'_>, value: Number, exemplar: Option<&Exemplar>) {
        self.push(
            labels,
            Value::Counter {
                value,
                exemplar: exemplar.copied(),
            },
        );
    }
    fn gauge(&mut self, labels: LabelsRef<'_>, value: Number) {
        self.push(labels, Value::Gauge(value));
    }
    fn histogram(
        &mut self,
        labels: LabelsRef<'_>,
        bounds: &[f64],
        cumulative: &[u64],
        sum: f64,
        exemplars: Option<&[Option<Exemplar>]>,
    ) {
        let buckets = cumulative
            .iter()
            .enumerate()
            .map(|(i, c)| Bucket {
                upper_bound: bounds.get(i).copied().unwrap_or(f64::INFINITY),
                cumulative_count: *c,
                exemplar: exemplars.and_then(|e| e.get(i).copied().flatten()),
            })
            .collect();
        let count = cumulative.last().copied().unwrap_or(0);
        self.push(
            labels,
            Value::Histogram {
                buckets,
                sum,
                count,
            },
        );
    }
    fn info(&mut self, labels: LabelsRef<'_>) {
        self.push(labels, Value::Info);
    }
    fn unknown(&mut self, labels: LabelsRef<'_>, value: Number) {
        self.push(labels, Value::Unknown(value));
    }
    fn begin(&mut self) -> bool {
        self.mark = Some(self.families.len());
        true
    }
    fn commit(&mut self) {
        self.mark = None;
    }
    fn rollback(&mut self) {
        if let Some(m) = self.mark.take() {
            self.families.truncate(m);
        }
    }
}

/// The optional process-wide registry. Libraries should take a `&Registry` instead; this is
/// for applications that want one without passing it around.
pub fn global() -> &'static Registry {
    static GLOBAL: OnceLock<Registry> = OnceLock::new();
    GLOBAL.get_or_init(Registry::new)
}
