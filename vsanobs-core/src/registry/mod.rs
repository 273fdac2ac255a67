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

mod collect;
mod collector;
mod error;
mod global;
mod naming;
mod output;
mod registerable;
mod self_metrics;
mod sink;

use std::fmt;
use std::sync::Arc;

use parking_lot::RwLock;

pub use self::collector::Collector;
pub use self::error::{CollectError, RegistryError};
pub use self::global::global;
use self::naming::{Namespace, base_name, claimed_names};
#[doc(hidden)]
pub use self::registerable::DynMetric;
pub use self::registerable::Registerable;
pub use self::self_metrics::{COLLECTOR_SUCCESS_METRIC, SELF_METRICS, SERIES_OVERFLOW_METRIC};
pub use self::sink::FamilySink;
pub use crate::labels::OVERFLOW_LABEL_VALUE;
use crate::metrics::{Counter, Gauge, Histogram};
use crate::model::MetricKind;

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
    ns: Namespace,
    state: RwLock<State>,
    created_timestamps: bool,
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
            .field("prefix", &self.inner.ns.prefix())
            .field("const_labels", &self.inner.ns.consts())
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

/// Builds a [`Registry`] with a name prefix, constant labels and output options.
#[derive(Debug, Clone)]
pub struct RegistryBuilder {
    prefix: Option<String>,
    consts: Vec<(String, String)>,
    created_timestamps: bool,
}

impl Default for RegistryBuilder {
    fn default() -> Self {
        RegistryBuilder {
            prefix: None,
            consts: Vec::new(),
            created_timestamps: true,
        }
    }
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
    /// Whether counters and histograms carry the time their series was created: OpenMetrics
    /// `_created` samples and the protobuf format's `created_timestamp`. On by default (the
    /// OpenMetrics specification expects them, and they let Prometheus tell a counter reset
    /// from a restart); text 0.0.4 never has them.
    ///
    /// ```
    /// use vsanobs_core::{Format, Registry};
    ///
    /// let r = Registry::builder().created_timestamps(false).build()?;
    /// r.counter("jobs", "Jobs.")?.inc();
    /// assert_eq!(
    ///     r.encode_to_string(Format::OpenMetrics),
    ///     "# TYPE jobs counter\n# HELP jobs Jobs.\njobs_total 1\n# EOF\n"
    /// );
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn created_timestamps(mut self, on: bool) -> Self {
        self.created_timestamps = on;
        self
    }
    /// Builds the registry.
    ///
    /// # Errors
    /// [`RegistryError::InvalidMetricName`] for a prefix that is not a valid name start,
    /// [`RegistryError::InvalidLabelName`] for an invalid or repeated constant label.
    pub fn build(self) -> Result<Registry, RegistryError> {
        Ok(Registry {
            inner: Arc::new(Inner {
                ns: Namespace::new(self.prefix, self.consts)?,
                state: RwLock::new(State::default()),
                created_timestamps: self.created_timestamps,
            }),
        })
    }
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

    /// Registers `metric` (a metric or a [`Family`](crate::Family)) under `name` with `help`.
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

    fn register_entry(
        &self,
        name: &str,
        help: &str,
        unit: Option<&str>,
        kind: MetricKind,
        metric: Arc<dyn DynMetric>,
    ) -> Result<(), RegistryError> {
        let full = self
            .inner
            .ns
            .check_family(name, help, unit, kind, metric.label_names())?;
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
            e.name == self.inner.ns.full_name(base) || e.name == base
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

    /// Convenience: creates, registers and returns a [`Counter`].
    ///
    /// # Errors
    /// As [`register`](Self::register).
    pub fn counter(&self, name: &str, help: &str) -> Result<Counter, RegistryError> {
        let c = Counter::default();
        self.register(name, help, c.clone())?;
        Ok(c)
    }

    /// Convenience: creates, registers and returns a [`Gauge`].
    ///
    /// # Errors
    /// As [`register`](Self::register).
    pub fn gauge(&self, name: &str, help: &str) -> Result<Gauge, RegistryError> {
        let g = Gauge::default();
        self.register(name, help, g.clone())?;
        Ok(g)
    }

    /// Convenience: creates, registers and returns a [`Histogram`].
    ///
    /// # Errors
    /// As [`register`](Self::register).
    pub fn histogram(
        &self,
        name: &str,
        help: &str,
        bounds: impl IntoIterator<Item = f64>,
    ) -> Result<Histogram, RegistryError> {
        let h = Histogram::new(bounds);
        self.register(name, help, h.clone())?;
        Ok(h)
    }
}
