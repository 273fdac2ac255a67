//! Remote write of every vSAN interval (`--remote-write.url`): each per-interval value the
//! engine takes from `VsanPerfQueryPerf` (a gauge's value, a counter's running total) is
//! pushed, at its vSAN sample time, into a [`SamplePool`] that a [`PoolPipeline`] drains
//! into a Prometheus remote-write receiver. A receiver gets every interval even when no
//! scrape happened while it was current; `/metrics` is served as before.
//!
//! # Example
//!
//! ```
//! use vsan_exporter::push::{RemoteWrite, RemoteWriteOptions};
//! use vsanobs_core::Registry;
//!
//! let registry = Registry::new();
//! let opts = RemoteWriteOptions::new("http://127.0.0.1:9/api/v1/write");
//! let rw = RemoteWrite::start(opts, &registry)?;
//! let text = registry.encode_to_string(vsanobs_core::Format::PrometheusText);
//! assert!(text.contains("vsanobs_pool_capacity{pool=\"vsan_intervals\"} 200000\n"));
//! // Nothing was pushed: nothing is lost when it stops.
//! assert!(rw.shutdown(std::time::Duration::from_secs(1)).is_complete());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## What is kept, what is counted
//! While the receiver is down the samples wait in the pool (and one batch in flight);
//! when the pool is full its oldest samples are dropped and counted in
//! `vsanobs_pool_dropped_samples_total{pool="vsan_intervals"}`. A batch the receiver refuses
//! (4xx) is counted in `vsanobs_export_dropped_samples_total{exporter="remote_write"}`.
//! A series past `--remote-write.max-series` never enters the pool and is counted in
//! `vsan_exporter_remote_write_refused_samples_total{reason}`; series not pushed for the
//! engine's `stale_after_secs` (an hour) are let go after each collection, so the bound is
//! on live series. Nothing else is lost.
//!
//! ## Note
//! Each pool slot is 32 bytes, allocated at start: the default 200,000 samples hold 6.4 MB,
//! one collection of about 200,000 series, or 20 minutes of a 10,000-series vCenter
//! collected every minute.

use std::fmt;
use std::time::Duration;

use vsanobs_core::export::remote_write::RemoteWriteExporter;
use vsanobs_core::export::{
    ConfigError as RemoteWriteConfigError, ExporterOutcome, FamilyMeta, PoolPipeline, PoolWaker,
    SeriesError, SeriesTable,
};
use vsanobs_core::model::{MetricDesc, MetricKind};
use vsanobs_core::pool::{PoolError, PoolMetrics, SamplePool, TimestampedSample};
use vsanobs_core::{Counter, Family, LabelSet, LabelValue, Registry, RegistryError};

use crate::secret::Secret;

/// The pool's name (its `pool` label).
pub const POOL_NAME: &str = "vsan_intervals";

/// `vsan_exporter_remote_write_refused_samples_total`.
pub const REFUSED: MetricDesc = MetricDesc {
    name: "vsan_exporter_remote_write_refused_samples_total",
    kind: MetricKind::Counter,
    help: "vSAN interval values not pushed to remote write because their series could not be added to the series table: series_limit (--remote-write.max-series reached) or invalid_series (a name or label remote write cannot carry).",
    unit: None,
    labels: &["reason"],
};

/// Every metric this module adds (besides `vsanobs_pool_*` and `vsanobs_export_*`).
pub const METRICS: &[MetricDesc] = &[REFUSED];

/// Why an interval value was not pushed (the `reason` label).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, LabelValue)]
enum RefusedReason {
    SeriesLimit,
    InvalidSeries,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, LabelSet)]
struct RefusedLabels {
    reason: RefusedReason,
}

/// Remote-write settings (`--remote-write.*`, or `remote_write` in the config file).
#[derive(Clone, Debug)]
pub struct RemoteWriteOptions {
    /// The receiver (`http://prometheus:9090/api/v1/write`, VictoriaMetrics'
    /// `/api/v1/write`).
    pub url: String,
    /// Samples the pool holds while the receiver is slow or down (default 200,000).
    pub pool_size: usize,
    /// Most series pushed (default 1,000,000); values of further series are counted, not
    /// pushed.
    pub max_series: usize,
    /// Most samples per request (default 2,000).
    pub batch_size: usize,
    /// How often the pool is looked at besides after each collection (default 1 s).
    pub flush_interval: Duration,
    /// Timeout of one request (default 30 s).
    pub timeout: Duration,
    /// `Authorization: Bearer`.
    pub bearer_token: Option<Secret>,
    /// HTTP basic authentication: user and password.
    pub basic_auth: Option<(String, Secret)>,
}

impl RemoteWriteOptions {
    /// The defaults for the receiver at `url`.
    pub fn new(url: impl Into<String>) -> RemoteWriteOptions {
        RemoteWriteOptions {
            url: url.into(),
            pool_size: 200_000,
            max_series: 1_000_000,
            batch_size: 2_000,
            flush_interval: Duration::from_secs(1),
            timeout: Duration::from_secs(30),
            bearer_token: None,
            basic_auth: None,
        }
    }
}

/// Why remote write could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PushError {
    /// The URL or an auth setting is unusable.
    #[error("remote write")]
    Config(#[from] RemoteWriteConfigError),
    /// The pool size is unusable.
    #[error("remote write pool")]
    Pool(#[from] PoolError),
    /// The self-metrics could not be registered.
    #[error("remote write metrics")]
    Registry(#[from] RegistryError),
    /// The worker could not start.
    #[error("remote write worker")]
    Build(#[from] vsanobs_core::export::BuildError),
}

/// Where the engine pushes interval values: the pool, the series table and the waker of
/// the worker that drains it. Cheap to clone.
#[derive(Clone)]
pub struct PushSink {
    pool: SamplePool,
    series: SeriesTable,
    waker: PoolWaker,
    refused: Family<RefusedLabels, Counter>,
}

impl fmt::Debug for PushSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PushSink")
            .field("pool", &self.pool)
            .field("series", &self.series)
            .finish_non_exhaustive()
    }
}

impl PushSink {
    /// The id of a series, or None (counted) when it cannot be added.
    pub(crate) fn series_id(
        &self,
        family: &FamilyMeta,
        labels: &[(&str, &str)],
        samples: usize,
    ) -> Option<u64> {
        match self.series.intern(family, labels) {
            Ok(id) => Some(id),
            Err(e) => {
                let reason = match e {
                    SeriesError::Full { .. } => RefusedReason::SeriesLimit,
                    _ => RefusedReason::InvalidSeries,
                };
                let c = self.refused.get_or_create(&RefusedLabels { reason });
                if c.get() == 0 {
                    tracing::warn!(family = %family.name, error = %e, "vSAN interval values not pushed to remote write (counted in vsan_exporter_remote_write_refused_samples_total)");
                }
                c.inc_by(samples as u64);
                None
            }
        }
    }

    /// Pushes one interval value: `timestamp` in Unix seconds (vSAN's sample time).
    pub(crate) fn push(&self, series: u64, timestamp: i64, value: f64) {
        self.pool.push(TimestampedSample::new(
            series,
            value,
            timestamp.saturating_mul(1000),
        ));
    }

    /// Has the worker drain the pool now (after a collection published).
    pub(crate) fn flush(&self) {
        self.waker.wake();
    }

    /// Lets go of the series not pushed for `secs` seconds (a VM deleted, a disk
    /// replaced), so the table stays under `--remote-write.max-series`; returns how many.
    pub(crate) fn forget_series_unused_for(&self, secs: i64) -> usize {
        let now = vsanobs_core::clock::unix_millis() / 1000;
        self.series.forget_unused_since(now.saturating_sub(secs))
    }

    /// Series in the table.
    pub fn series(&self) -> usize {
        self.series.len()
    }

    /// The pool.
    pub fn pool(&self) -> &SamplePool {
        &self.pool
    }
}

/// A running remote write: the sink the engine pushes into and the worker.
#[derive(Debug)]
pub struct RemoteWrite {
    sink: PushSink,
    pipeline: PoolPipeline,
}

impl RemoteWrite {
    /// Builds the pool (allocated here), the series table and the exporter, starts the
    /// worker, and registers the pool's, the exporter's and this module's metrics in
    /// `registry`.
    ///
    /// # Errors
    /// A [`PushError`] for a bad URL or header, a zero pool size, metrics already
    /// registered, or a thread that cannot start.
    pub fn start(opts: RemoteWriteOptions, registry: &Registry) -> Result<RemoteWrite, PushError> {
        let mut b = RemoteWriteExporter::builder(&opts.url);
        if let Some(t) = &opts.bearer_token {
            b = b.bearer_token(t.expose());
        }
        if let Some((user, password)) = &opts.basic_auth {
            b = b.basic_auth(user, Some(password.expose().to_owned()));
        }
        let exporter = b.build()?;
        let pool = SamplePool::new(POOL_NAME, opts.pool_size)?;
        let series = SeriesTable::new(opts.max_series);
        let pool_metrics = PoolMetrics::new();
        pool_metrics.add(&pool);
        registry.register_collector(pool_metrics)?;
        let refused = Family::<RefusedLabels, Counter>::new();
        for reason in [RefusedReason::SeriesLimit, RefusedReason::InvalidSeries] {
            refused.get_or_create(&RefusedLabels { reason });
        }
        registry.register(REFUSED.name, REFUSED.help, refused.clone())?;
        let pipeline = PoolPipeline::builder(pool.clone(), series.clone(), exporter)
            .max_batch_samples(opts.batch_size)
            .flush_interval(opts.flush_interval)
            .timeout(opts.timeout)
            .register(registry)
            .build()?;
        tracing::info!(url = %opts.url, pool_size = opts.pool_size, max_series = opts.max_series, "remote-writing every vSAN interval");
        Ok(RemoteWrite {
            sink: PushSink {
                pool,
                series,
                waker: pipeline.waker(),
                refused,
            },
            pipeline,
        })
    }

    /// What the engine pushes into ([`Engine::set_push`](crate::engine::Engine::set_push)).
    pub fn sink(&self) -> PushSink {
        self.sink.clone()
    }

    /// Samples waiting (pool and the batch in flight).
    pub fn pending_samples(&self) -> usize {
        self.pipeline.pending_samples()
    }

    /// Sends what is waiting within `timeout`, then stops; what is left is counted.
    pub fn shutdown(self, timeout: Duration) -> ExporterOutcome {
        self.pipeline.shutdown(timeout)
    }
}
