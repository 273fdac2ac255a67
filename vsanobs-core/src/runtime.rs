//! Tokio runtime metrics (feature `tokio`): [`TokioCollector`] exports the runtime's stable
//! metrics and the tasks alive per spawn site, counted by [`spawn_tracked`] and [`track`], so a
//! task leak shows up as one `site` that only grows.
//!
//! # Example
//!
//! ```
//! # #[cfg(feature = "tokio")] {
//! use vsanobs_core::runtime::{TokioCollector, spawn_tracked};
//! use vsanobs_core::{Format, Registry};
//!
//! let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
//! let registry = Registry::new();
//! registry.register_collector(TokioCollector::with_handle(rt.handle().clone())).unwrap();
//!
//! let (tx, rx) = tokio::sync::oneshot::channel::<()>();
//! let _guard = rt.enter();
//! let task = spawn_tracked("doc_example_waiter", async move { let _ = rx.await; });
//!
//! let text = registry.encode_to_string(Format::PrometheusText);
//! assert!(text.contains("tokio_workers 1\n"));
//! assert!(text.contains("tokio_alive_tasks 1\n"));
//! assert!(text.contains("tokio_tracked_tasks{site=\"doc_example_waiter\"} 1\n"));
//!
//! tx.send(()).unwrap();
//! rt.block_on(task).unwrap();
//! let text = registry.encode_to_string(Format::PrometheusText);
//! assert!(text.contains("tokio_tracked_tasks{site=\"doc_example_waiter\"} 0\n"));
//! # }
//! ```
//!
//! Without the `tokio` feature this module holds only the metric table, so generated docs
//! list the same metrics whatever the features.
//!
//! ## Note
//! A scrape reads three counters from the runtime handle. Tracking costs one gauge lookup
//! (lock-free once the site exists) and one atomic increment at spawn, one atomic decrement
//! when the task's future is dropped: when it completes, is aborted, panics, or its runtime
//! shuts down. Sites are `&'static str`, so their number is bounded by the code; past
//! [`TRACKED_SITES_CAP`] sites, new ones share the `site="__overflow__"` series.

use crate::model::{MetricDesc, MetricKind};

/// The families `TokioCollector` (feature `tokio`) exports, in output order.
pub const TOKIO_METRICS: &[MetricDesc] = &[
    MetricDesc {
        name: "tokio_workers",
        kind: MetricKind::Gauge,
        help: "Number of worker threads of the tokio runtime.",
        unit: None,
        labels: &[],
    },
    MetricDesc {
        name: "tokio_alive_tasks",
        kind: MetricKind::Gauge,
        help: "Number of tasks alive in the tokio runtime.",
        unit: None,
        labels: &[],
    },
    MetricDesc {
        name: "tokio_global_queue_depth",
        kind: MetricKind::Gauge,
        help: "Number of tasks waiting in the tokio runtime's global (injection) queue.",
        unit: None,
        labels: &[],
    },
    MetricDesc {
        name: "tokio_tracked_tasks",
        kind: MetricKind::Gauge,
        help: "Tasks alive per spawn site, counted by spawn_tracked.",
        unit: None,
        labels: &["site"],
    },
];

/// How many distinct spawn sites get their own series.
pub const TRACKED_SITES_CAP: usize = 500;

#[cfg(feature = "tokio")]
pub use imp::{TokioCollector, spawn_tracked, spawn_tracked_on, track, tracked_tasks};

#[cfg(feature = "tokio")]
mod imp {
    use super::{TOKIO_METRICS, TRACKED_SITES_CAP};
    use std::future::Future;
    use std::sync::OnceLock;

    use tokio::runtime::Handle;
    use tokio::task::JoinHandle;

    use crate::encoding::Visitor;
    use crate::labels::LabelsRef;
    use crate::model::{Exemplar, MetricDesc, MetricFamily, MetricKind, Number, Sample, Value};
    use crate::registry::{CollectError, Collector, FamilySink};
    use crate::{Family, Gauge, LabelSet};

    #[derive(Clone, Debug, PartialEq, Eq, Hash, LabelSet)]
    struct Site {
        site: &'static str,
    }

    fn tracked() -> &'static Family<Site, Gauge> {
        static TRACKED: OnceLock<Family<Site, Gauge>> = OnceLock::new();
        TRACKED.get_or_init(|| Family::with_cap(TRACKED_SITES_CAP))
    }

    /// Counts one alive task of a site; the count goes down when the guard is dropped.
    #[derive(Debug)]
    struct TaskGuard(Gauge);

    impl TaskGuard {
        fn new(site: &'static str) -> Self {
            let g = tracked().get_or_create(&Site { site });
            g.inc();
            TaskGuard(g)
        }
    }

    impl Drop for TaskGuard {
        fn drop(&mut self) {
            self.0.dec();
        }
    }

    /// Wraps `fut` so it counts in `tokio_tracked_tasks{site}` from now until the returned
    /// future is dropped (after completion, on abort, on panic, or unpolled). Use it with any
    /// spawner (`JoinSet::spawn`, `spawn_local`, `Handle::spawn`).
    ///
    /// # Example
    ///
    /// ```
    /// let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// let v = rt.block_on(vsanobs_core::runtime::track("doc_track", async { 7 }));
    /// assert_eq!(v, 7);
    /// assert_eq!(vsanobs_core::runtime::tracked_tasks("doc_track"), 0);
    /// ```
    pub fn track<F: Future>(site: &'static str, fut: F) -> impl Future<Output = F::Output> {
        let guard = TaskGuard::new(site);
        async move {
            let _guard = guard;
            fut.await
        }
    }

    /// Spawns `fut` on the current tokio runtime, counted in `tokio_tracked_tasks{site}` while
    /// it is alive.
    ///
    /// # Panics
    /// Like [`tokio::spawn`], when called outside a tokio runtime (the count is not left raised).
    pub fn spawn_tracked<F>(site: &'static str, fut: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        tokio::spawn(track(site, fut))
    }

    /// Like [`spawn_tracked`], on the runtime of `handle`.
    pub fn spawn_tracked_on<F>(handle: &Handle, site: &'static str, fut: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        handle.spawn(track(site, fut))
    }

    /// Tasks currently alive that were spawned from `site` (0 for an unknown site).
    pub fn tracked_tasks(site: &'static str) -> i64 {
        tracked().get(&Site { site }).map_or(0, |g| g.get())
    }

    /// Exports [`TOKIO_METRICS`]: runtime metrics of one runtime, and tracked tasks of the whole
    /// process. Without a runtime it still exports `tokio_tracked_tasks` and reports an error
    /// (`vsanobs_scrape_collector_success{collector="tokio"}` reads 0).
    #[derive(Debug, Clone, Default)]
    pub struct TokioCollector {
        handle: Option<Handle>,
    }

    impl TokioCollector {
        /// A collector for the runtime it is created in; created outside one, it uses whatever
        /// runtime each scrape runs in.
        pub fn new() -> Self {
            TokioCollector {
                handle: Handle::try_current().ok(),
            }
        }

        /// A collector for the runtime behind `handle`.
        pub fn with_handle(handle: Handle) -> Self {
            TokioCollector {
                handle: Some(handle),
            }
        }
    }

    /// Collects the gauges of the tracked-task family into samples.
    struct GaugeSamples(Vec<Sample>);

    impl Visitor for GaugeSamples {
        fn family(&mut self, _: &str, _: &str, _: Option<&str>, _: MetricKind) {}
        fn counter(&mut self, _: LabelsRef<'_>, _: Number, _: Option<&Exemplar>) {}
        fn gauge(&mut self, labels: LabelsRef<'_>, value: Number) {
            self.0.push(Sample {
                labels: labels.to_pairs(),
                value: Value::Gauge(value),
            });
        }
        fn histogram(
            &mut self,
            _: LabelsRef<'_>,
            _: &[f64],
            _: &[u64],
            _: f64,
            _: Option<&[Option<Exemplar>]>,
        ) {
        }
        fn info(&mut self, _: LabelsRef<'_>) {}
        fn unknown(&mut self, _: LabelsRef<'_>, _: Number) {}
    }

    fn gauge_family(desc: &MetricDesc, v: usize) -> MetricFamily {
        let v = i64::try_from(v).unwrap_or(i64::MAX);
        MetricFamily::new(desc.name, desc.help, desc.kind).with_sample(Sample::gauge_int(v))
    }

    impl Collector for TokioCollector {
        fn name(&self) -> &str {
            "tokio"
        }

        fn collect_into(&self, sink: &mut FamilySink<'_>) -> Result<(), CollectError> {
            let handle = self.handle.clone().or_else(|| Handle::try_current().ok());
            let result = match &handle {
                Some(h) => {
                    let m = h.metrics();
                    sink.push(gauge_family(&TOKIO_METRICS[0], m.num_workers()));
                    sink.push(gauge_family(&TOKIO_METRICS[1], m.num_alive_tasks()));
                    sink.push(gauge_family(&TOKIO_METRICS[2], m.global_queue_depth()));
                    Ok(())
                }
                None => Err(CollectError::new(
                    "no tokio runtime: pass a handle with TokioCollector::with_handle",
                )),
            };
            let mut samples = GaugeSamples(Vec::new());
            tracked().visit_series(&[], &mut samples);
            if !samples.0.is_empty() {
                let d = &TOKIO_METRICS[3];
                let mut fam = MetricFamily::new(d.name, d.help, d.kind);
                fam.samples = samples.0;
                sink.push(fam);
            }
            result
        }
    }
}
