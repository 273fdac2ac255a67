//! Push export: the [`Exporter`] trait and the [`PushPipeline`] that gathers a
//! [`Registry`](crate::Registry) on an interval and hands each snapshot ([`Batch`]) to every
//! exporter, with retries, a bounded buffer per exporter and self-metrics.
//!
//! # Example
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! use std::time::Duration;
//! use vsanobs_core::export::{Batch, ExportError, Exporter, PushPipeline};
//! use vsanobs_core::{Format, Registry};
//!
//! /// An exporter that keeps the text of every batch it is given.
//! #[derive(Debug, Default, Clone)]
//! struct Keep(Arc<Mutex<Vec<String>>>);
//! impl Exporter for Keep {
//!     fn name(&self) -> &str { "keep" }
//!     fn export(&mut self, batch: &Batch, _timeout: Duration) -> Result<(), ExportError> {
//!         self.0.lock().unwrap().push(batch.encode_text(Format::PrometheusText));
//!         Ok(())
//!     }
//! }
//!
//! let registry = Registry::new();
//! let jobs = registry.counter("jobs_done", "Jobs finished.")?;
//! jobs.inc_by(3);
//! let seen = Keep::default();
//! let pipeline = PushPipeline::builder(registry)
//!     .interval(Duration::from_secs(3600))
//!     .exporter(seen.clone())
//!     .build()?;
//! // Shutdown gathers once more and flushes within the time given.
//! let report = pipeline.shutdown(Duration::from_secs(5));
//! assert!(report.is_complete());
//! let texts = seen.0.lock().unwrap();
//! assert!(texts[0].contains("jobs_done_total 3\n"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Behaviour
//! - One thread gathers the registry every `interval` (never blocking on an exporter); each
//!   exporter has its own worker thread and its own buffer, so a slow or dead receiver delays
//!   nobody else.
//! - A failed send is retried with exponential backoff and jitter when the error is
//!   retryable (connection errors, timeouts, HTTP 5xx and 429, honouring `Retry-After`);
//!   any other 4xx drops the batch, counts it and logs the receiver's answer.
//!   Delivery is at least once: a batch is sent again only after a failed attempt, so a
//!   request the receiver stored but could not answer (it stopped, or the answer timed
//!   out) is stored twice by receivers that keep duplicates.
//! - While a receiver is down, batches wait in a buffer bounded in samples. When a new
//!   batch does not fit, the oldest batches are dropped (the newest are kept) and counted
//!   in `vsanobs_export_dropped_samples_total{exporter,reason="buffer_full"}`. The batch
//!   being sent is outside the buffer; after a failed attempt it goes back to its front
//!   and is the first to go if the buffer is over its bound.
//! - Exporters that only keep the latest state (Pushgateway) say so with
//!   [`Exporter::keeps_history`]; for them a newer batch replaces the waiting one
//!   (counted with `reason="superseded"`).
//! - [`PushPipeline::shutdown`] gathers one last time, flushes within the given time and
//!   reports, per exporter, what could not be sent.
//!
//! ## Timestamped samples
//! Samples that carry their own timestamps (the vSAN exporter's per-interval values) take
//! another path: producers push them into a [`SamplePool`](crate::pool::SamplePool) with a
//! series id from a [`SeriesTable`], and a [`PoolPipeline`] drains the pool into a
//! [`SampleExporter`] (the remote-write exporter), each sample at its own timestamp; see
//! [`PoolPipeline`] for what is kept and counted while the receiver is down.
//!
//! ## Note
//! Gathering allocates the snapshot (it is shared by all exporters through an `Arc`); none
//! of this touches the record path.

mod batch;
mod error;
#[cfg(any(feature = "push", feature = "remote-write", feature = "otlp"))]
mod http;
#[cfg(feature = "otlp")]
pub mod otlp;
mod pipeline;
mod pool_pipeline;
#[cfg(feature = "push")]
pub mod pushgateway;
#[cfg(feature = "remote-write")]
pub mod remote_write;
mod retry;
mod sample_batch;
mod self_metrics;
mod series;

use std::fmt;
use std::time::Duration;

pub use self::batch::Batch;
pub use self::error::{BuildError, ExportError};
#[cfg(any(feature = "push", feature = "remote-write", feature = "otlp"))]
pub use self::http::ConfigError;
pub use self::pipeline::{ExporterOutcome, PushPipeline, PushPipelineBuilder, ShutdownReport};
pub use self::pool_pipeline::{PoolPipeline, PoolPipelineBuilder, PoolWaker, SampleExporter};
pub use self::retry::RetryPolicy;
pub use self::sample_batch::{ResolveReport, SampleBatch, SeriesSamples};
pub use self::self_metrics::{DropReason, EXPORT_METRICS, ExportMetrics};
pub use self::series::{FamilyMeta, SeriesError, SeriesInfo, SeriesTable};

/// The destination a push exporter sends to; implemented by the Pushgateway, remote-write
/// and OTLP exporters and by anything else a user wants to plug in.
///
/// Each exporter runs on its own thread, so `export` may block (up to `timeout`).
pub trait Exporter: Send + 'static {
    /// A short name, unique in its pipeline (the `exporter` label of the self-metrics).
    fn name(&self) -> &str;

    /// Sends one batch, giving up after `timeout`.
    ///
    /// # Errors
    /// An [`ExportError`]; retryable ones are retried with backoff, others drop the batch.
    fn export(&mut self, batch: &Batch, timeout: Duration) -> Result<(), ExportError>;

    /// Whether every batch matters (true: time series stores) or only the latest
    /// (false: the Pushgateway replaces a group's values on every push).
    fn keeps_history(&self) -> bool {
        true
    }

    /// Called once after the last batch when the pipeline shuts down (for example to
    /// delete a Pushgateway group).
    ///
    /// # Errors
    /// Reported in the [`ShutdownReport`].
    fn shutdown(&mut self, _timeout: Duration) -> Result<(), ExportError> {
        Ok(())
    }
}

impl fmt::Debug for dyn Exporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Exporter")
            .field("name", &self.name())
            .finish()
    }
}
