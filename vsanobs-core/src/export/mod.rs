//! Push export: the [`Exporter`] trait and the [`PushPipeline`] that gathers a [`Registry`]
//! on an interval and hands each snapshot ([`Batch`]) to every exporter, with retries,
//! a bounded buffer per exporter and self-metrics.
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
//! ## Note
//! Gathering allocates the snapshot (it is shared by all exporters through an `Arc`); none
//! of this touches the record path.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::encoding::{Format, TextEncoder};
use crate::gather::visit_families;
use crate::model::{MetricDesc, MetricFamily, MetricKind, Value};
use crate::report::error_chain;
use crate::{Counter, Family, Gauge, LabelSet, LabelValue, Registry, RegistryError};

#[cfg(any(feature = "push", feature = "remote-write", feature = "otlp"))]
mod http;
#[cfg(feature = "otlp")]
pub mod otlp;
#[cfg(feature = "push")]
pub mod pushgateway;
#[cfg(feature = "remote-write")]
pub mod remote_write;

#[cfg(any(feature = "push", feature = "remote-write", feature = "otlp"))]
pub use http::ConfigError;

const REQUESTS: MetricDesc = MetricDesc {
    name: "vsanobs_export_requests_total",
    kind: MetricKind::Counter,
    help: "Export attempts by exporter and result (success, retry, rejected, failed).",
    unit: None,
    labels: &["exporter", "result"],
};
const RETRIES: MetricDesc = MetricDesc {
    name: "vsanobs_export_retries_total",
    kind: MetricKind::Counter,
    help: "Export attempts that failed with a retryable error and were retried.",
    unit: None,
    labels: &["exporter"],
};
const DROPPED: MetricDesc = MetricDesc {
    name: "vsanobs_export_dropped_samples_total",
    kind: MetricKind::Counter,
    help: "Samples an exporter gave up on, by reason.",
    unit: None,
    labels: &["exporter", "reason"],
};
const SENT: MetricDesc = MetricDesc {
    name: "vsanobs_export_sent_samples_total",
    kind: MetricKind::Counter,
    help: "Samples an exporter delivered.",
    unit: None,
    labels: &["exporter"],
};
const BUFFERED: MetricDesc = MetricDesc {
    name: "vsanobs_export_buffered_samples",
    kind: MetricKind::Gauge,
    help: "Samples waiting in an exporter's buffer.",
    unit: None,
    labels: &["exporter"],
};

/// The metric families the pipeline exports about itself.
pub const EXPORT_METRICS: &[MetricDesc] = &[REQUESTS, RETRIES, DROPPED, SENT, BUFFERED];

// ------------------------------------------------------------------------------------ batch

/// One snapshot of a registry, taken at one instant, as every exporter receives it.
#[derive(Clone, Debug)]
pub struct Batch {
    families: Arc<Vec<MetricFamily>>,
    timestamp_ms: i64,
    samples: usize,
}

impl Batch {
    /// A batch of `families` stamped `timestamp_ms` (milliseconds since the Unix epoch).
    pub fn new(families: Vec<MetricFamily>, timestamp_ms: i64) -> Self {
        let samples = families.iter().map(family_samples).sum();
        Batch {
            families: Arc::new(families),
            timestamp_ms,
            samples,
        }
    }

    /// The families (full names, constant labels included).
    pub fn families(&self) -> &[MetricFamily] {
        &self.families
    }

    /// When the registry was gathered, in milliseconds since the Unix epoch.
    pub fn timestamp_ms(&self) -> i64 {
        self.timestamp_ms
    }

    /// How many samples the batch holds, counted as in the exposition format: one per
    /// counter, gauge, info or untyped series, and `buckets + 2` (`_bucket`s, `_sum`,
    /// `_count`) per histogram. Drop counts use this unit.
    pub fn sample_count(&self) -> usize {
        self.samples
    }

    /// The batch as exposition text (no timestamps), for text-based receivers.
    pub fn encode_text(&self, format: Format) -> String {
        let mut out = String::new();
        let mut enc = TextEncoder::new(&mut out, format);
        visit_families(&self.families, &mut enc);
        enc.finish();
        out
    }
}

fn family_samples(f: &MetricFamily) -> usize {
    f.samples
        .iter()
        .map(|s| match &s.value {
            Value::Histogram { buckets, .. } => buckets.len() + 2,
            _ => 1,
        })
        .sum()
}

// ----------------------------------------------------------------------------------- errors

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Why one export attempt failed. [`is_retryable`](Self::is_retryable) decides between a
/// retry and dropping the batch.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// The receiver refused the batch with a status that must not be retried (4xx other
    /// than 429). The body says why.
    #[error("receiver rejected the batch with status {status}: {body}")]
    Rejected {
        /// HTTP status.
        status: u16,
        /// The response body (truncated to 1 KiB).
        body: String,
    },
    /// The receiver answered 5xx or 429; retried, after `retry_after` when it gave one.
    #[error("receiver answered status {status}: {body}")]
    Unavailable {
        /// HTTP status.
        status: u16,
        /// The receiver's `Retry-After`, when it sent one in seconds.
        retry_after: Option<Duration>,
        /// The response body (truncated to 1 KiB).
        body: String,
    },
    /// Could not connect or the connection broke (retried).
    #[error("connection failed")]
    Connect(#[source] BoxError),
    /// The request timed out (retried).
    #[error("request timed out")]
    Timeout(#[source] BoxError),
    /// The batch could not be encoded (dropped).
    #[error("could not encode the batch: {0}")]
    Encode(String),
    /// Anything else (dropped).
    #[error("export failed")]
    Other(#[source] BoxError),
}

impl ExportError {
    /// Whether the same batch should be sent again later.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            ExportError::Unavailable { .. } | ExportError::Connect(_) | ExportError::Timeout(_)
        )
    }

    /// The delay the receiver asked for, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ExportError::Unavailable { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    fn request_result(&self) -> RequestResult {
        match self {
            e if e.is_retryable() => RequestResult::Retry,
            ExportError::Rejected { .. } => RequestResult::Rejected,
            _ => RequestResult::Failed,
        }
    }

    fn drop_reason(&self) -> DropReason {
        match self {
            ExportError::Rejected { .. } => DropReason::Rejected,
            ExportError::Encode(_) => DropReason::EncodeError,
            _ => DropReason::Failed,
        }
    }
}

/// Why a pipeline could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The interval must be longer than zero.
    #[error("push interval must be greater than zero")]
    ZeroInterval,
    /// A pipeline needs at least one exporter.
    #[error("no exporter configured")]
    NoExporter,
    /// Two exporters have the same name (it is their label value).
    #[error("two exporters are named {0:?}")]
    DuplicateExporter(String),
    /// An exporter name must not be empty.
    #[error("exporter name must not be empty")]
    EmptyExporterName,
    /// The self-metrics could not be registered.
    #[error("could not register the export self-metrics")]
    Registry(#[from] RegistryError),
    /// A thread could not be started.
    #[error("could not start the export thread")]
    Spawn(#[source] std::io::Error),
}

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

// ------------------------------------------------------------------------------- retry

/// Backoff between attempts: exponential from `min_backoff` to `max_backoff`, each delay
/// jittered to a random value in `[delay/2, delay]`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RetryPolicy {
    /// The first delay.
    pub min_backoff: Duration,
    /// The largest delay.
    pub max_backoff: Duration,
    /// Give up on a batch after this many attempts (`None`: retry until it is pushed out of
    /// the buffer by newer batches, as remote write does).
    pub max_attempts: Option<u32>,
    /// The longest `Retry-After` honoured (longer ones are capped).
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    /// Prometheus' remote-write defaults: 30 ms to 5 s, retried until pushed out.
    fn default() -> Self {
        RetryPolicy {
            min_backoff: Duration::from_millis(30),
            max_backoff: Duration::from_secs(5),
            max_attempts: None,
            max_retry_after: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// The delay before attempt `attempt + 1` (`attempt` counts from 1), given the error.
    pub fn delay(&self, attempt: u32, err: &ExportError, rng: &mut u64) -> Duration {
        if let Some(after) = err.retry_after() {
            return after.min(self.max_retry_after);
        }
        let exp = attempt.saturating_sub(1).min(30);
        let base = self
            .min_backoff
            .saturating_mul(1u32 << exp)
            .min(self.max_backoff);
        // xorshift64*: jitter only, not cryptographic.
        *rng ^= *rng >> 12;
        *rng ^= *rng << 25;
        *rng ^= *rng >> 27;
        let r = rng.wrapping_mul(0x2545_F491_4F6C_DD1D);
        let frac = (r >> 11) as f64 / (1u64 << 53) as f64;
        base.mul_f64(0.5 + 0.5 * frac)
    }
}

// ------------------------------------------------------------------------------ metrics

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, LabelValue)]
enum RequestResult {
    Success,
    Retry,
    Rejected,
    Failed,
}

/// Why samples were dropped (the `reason` label).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, LabelValue)]
#[non_exhaustive]
pub enum DropReason {
    /// Pushed out of a full buffer by newer batches.
    BufferFull,
    /// The receiver refused them (4xx other than 429).
    Rejected,
    /// They could not be encoded.
    EncodeError,
    /// A non-retryable error other than a rejection.
    Failed,
    /// The retry limit of the [`RetryPolicy`] was reached.
    RetriesExhausted,
    /// Still unsent when the shutdown deadline passed.
    Shutdown,
    /// Replaced by a newer batch for an exporter that keeps only the latest state.
    Superseded,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, LabelSet)]
struct RequestLabels {
    exporter: String,
    result: RequestResult,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, LabelSet)]
struct DropLabels {
    exporter: String,
    reason: DropReason,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, LabelSet)]
struct ExporterLabel {
    exporter: String,
}

/// The pipeline's self-metrics ([`EXPORT_METRICS`]), registered once per registry and
/// shareable by several pipelines.
#[derive(Clone, Debug)]
pub struct ExportMetrics {
    requests: Family<RequestLabels, Counter>,
    retries: Family<ExporterLabel, Counter>,
    dropped: Family<DropLabels, Counter>,
    sent: Family<ExporterLabel, Counter>,
    buffered: Family<ExporterLabel, Gauge>,
}

impl ExportMetrics {
    /// Creates the families and registers them in `registry`.
    ///
    /// # Errors
    /// [`RegistryError::AlreadyRegistered`] when they are registered there already (share
    /// the first `ExportMetrics` instead).
    pub fn register(registry: &Registry) -> Result<Self, RegistryError> {
        let m = ExportMetrics {
            requests: Family::new(),
            retries: Family::new(),
            dropped: Family::new(),
            sent: Family::new(),
            buffered: Family::new(),
        };
        registry.register(REQUESTS.name, REQUESTS.help, m.requests.clone())?;
        registry.register(RETRIES.name, RETRIES.help, m.retries.clone())?;
        registry.register(DROPPED.name, DROPPED.help, m.dropped.clone())?;
        registry.register(SENT.name, SENT.help, m.sent.clone())?;
        registry.register(BUFFERED.name, BUFFERED.help, m.buffered.clone())?;
        Ok(m)
    }

    fn handles(&self, exporter: &str) -> Handles {
        let e = || exporter.to_owned();
        let req = |result| {
            self.requests.get_or_create(&RequestLabels {
                exporter: e(),
                result,
            })
        };
        let drop = |reason| {
            self.dropped.get_or_create(&DropLabels {
                exporter: e(),
                reason,
            })
        };
        Handles {
            success: req(RequestResult::Success),
            retry: req(RequestResult::Retry),
            rejected: req(RequestResult::Rejected),
            failed: req(RequestResult::Failed),
            retries: self.retries.get_or_create(&ExporterLabel { exporter: e() }),
            sent: self.sent.get_or_create(&ExporterLabel { exporter: e() }),
            buffered: self
                .buffered
                .get_or_create(&ExporterLabel { exporter: e() }),
            dropped: [
                DropReason::BufferFull,
                DropReason::Rejected,
                DropReason::EncodeError,
                DropReason::Failed,
                DropReason::RetriesExhausted,
                DropReason::Shutdown,
                DropReason::Superseded,
            ]
            .map(|r| (r, drop(r))),
        }
    }
}

/// Pre-bound self-metric handles of one exporter.
#[derive(Debug)]
struct Handles {
    success: Counter,
    retry: Counter,
    rejected: Counter,
    failed: Counter,
    retries: Counter,
    sent: Counter,
    buffered: Gauge,
    dropped: [(DropReason, Counter); 7],
}

impl Handles {
    fn drop(&self, reason: DropReason, samples: usize) {
        if let Some((_, c)) = self.dropped.iter().find(|(r, _)| *r == reason) {
            c.inc_by(samples as u64);
        }
    }
    fn request(&self, r: RequestResult) {
        match r {
            RequestResult::Success => self.success.inc(),
            RequestResult::Retry => self.retry.inc(),
            RequestResult::Rejected => self.rejected.inc(),
            RequestResult::Failed => self.failed.inc(),
        }
    }
}

// ----------------------------------------------------------------------------- pipeline

struct Queued {
    batch: Batch,
    attempts: u32,
}

#[derive(Default)]
struct QueueState {
    queue: VecDeque<Queued>,
    queued_samples: usize,
    /// No more batches will come; finish what is queued by `deadline`.
    closing: bool,
    deadline: Option<Instant>,
    /// Filled by the worker when it exits.
    outcome: Option<ExporterOutcome>,
}

struct Worker {
    name: String,
    state: Mutex<QueueState>,
    cond: Condvar,
    max_buffered_samples: usize,
    keeps_history: bool,
    handles: Handles,
}

impl Worker {
    /// Adds a batch; drops the oldest batches past the bound.
    fn enqueue(&self, batch: Batch) {
        let mut st = self.state.lock();
        if st.closing {
            return;
        }
        if !self.keeps_history {
            while let Some(old) = st.queue.pop_front() {
                st.queued_samples -= old.batch.sample_count();
                self.handles
                    .drop(DropReason::Superseded, old.batch.sample_count());
            }
        }
        st.queued_samples += batch.sample_count();
        st.queue.push_back(Queued { batch, attempts: 0 });
        self.enforce_bound(&mut st);
        self.cond.notify_all();
    }

    fn enforce_bound(&self, st: &mut QueueState) {
        while st.queued_samples > self.max_buffered_samples {
            let Some(old) = st.queue.pop_front() else {
                break;
            };
            st.queued_samples -= old.batch.sample_count();
            self.handles
                .drop(DropReason::BufferFull, old.batch.sample_count());
            tracing::debug!(exporter = %self.name, samples = old.batch.sample_count(), "export buffer full; oldest batch dropped");
        }
        self.handles.buffered.set(st.queued_samples as i64);
    }

    fn run(&self, mut exporter: Box<dyn Exporter>, policy: RetryPolicy, timeout: Duration) {
        let mut rng = seed();
        let mut last_error: Option<String> = None;
        let mut sent_batches = 0u64;
        loop {
            // Take the oldest batch, or wait for one.
            let mut st = self.state.lock();
            let mut item = loop {
                if let Some(deadline) = st.deadline {
                    if Instant::now() >= deadline {
                        break None;
                    }
                }
                if let Some(q) = st.queue.pop_front() {
                    st.queued_samples -= q.batch.sample_count();
                    self.handles.buffered.set(st.queued_samples as i64);
                    break Some(q);
                }
                if st.closing {
                    break None;
                }
                match st.deadline {
                    Some(d) => {
                        self.cond.wait_until(&mut st, d);
                    }
                    None => self.cond.wait(&mut st),
                }
            };
            let Some(q) = item.as_mut() else {
                break;
            };
            let deadline = st.deadline;
            drop(st);

            let attempt_timeout = match deadline {
                Some(d) => timeout.min(d.saturating_duration_since(Instant::now())),
                None => timeout,
            };
            q.attempts += 1;
            let n = q.batch.sample_count();
            match exporter.export(&q.batch, attempt_timeout) {
                Ok(()) => {
                    self.handles.request(RequestResult::Success);
                    self.handles.sent.inc_by(n as u64);
                    sent_batches += 1;
                }
                Err(e) => {
                    self.handles.request(e.request_result());
                    last_error = Some(error_chain(&e));
                    if !e.is_retryable() {
                        let reason = e.drop_reason();
                        tracing::warn!(exporter = %self.name, samples = n, error = %e, "export failed; batch dropped, not retried");
                        self.handles.drop(reason, n);
                        continue;
                    }
                    if policy.max_attempts.is_some_and(|m| q.attempts >= m) {
                        tracing::warn!(exporter = %self.name, samples = n, attempts = q.attempts, error = %e, "export failed; retries exhausted, batch dropped");
                        self.handles.drop(DropReason::RetriesExhausted, n);
                        continue;
                    }
                    self.handles.retries.inc();
                    let delay = policy.delay(q.attempts, &e, &mut rng);
                    tracing::debug!(exporter = %self.name, error = %e, ?delay, attempt = q.attempts, "export failed; will retry");
                    let mut st = self.state.lock();
                    if let Some(q) = item.take() {
                        st.queued_samples += q.batch.sample_count();
                        st.queue.push_front(q);
                    }
                    self.enforce_bound(&mut st);
                    let until = Instant::now() + delay;
                    let until = st.deadline.map_or(until, |d| d.min(until));
                    // Wake early only to give up at the deadline.
                    while Instant::now() < until {
                        if self.cond.wait_until(&mut st, until).timed_out() {
                            break;
                        }
                        if st.deadline.is_some_and(|d| Instant::now() >= d) {
                            break;
                        }
                    }
                }
            }
        }

        // Leaving: whatever is still queued is not going to be sent.
        let mut st = self.state.lock();
        let mut unsent_samples = 0;
        let mut unsent_batches = 0;
        while let Some(q) = st.queue.pop_front() {
            unsent_samples += q.batch.sample_count();
            unsent_batches += 1;
        }
        st.queued_samples = 0;
        self.handles.buffered.set(0);
        self.handles.drop(DropReason::Shutdown, unsent_samples);
        let remaining = st
            .deadline
            .map(|d| d.saturating_duration_since(Instant::now()));
        drop(st);
        let mut shutdown_error = None;
        if remaining.is_some_and(|r| r > Duration::ZERO) {
            if let Err(e) = exporter.shutdown(remaining.unwrap_or_default().min(timeout)) {
                tracing::warn!(exporter = %self.name, error = %e, "exporter shutdown step failed");
                shutdown_error = Some(error_chain(&e));
            }
        }
        if unsent_samples > 0 {
            tracing::warn!(exporter = %self.name, unsent_samples, unsent_batches, "shutdown deadline passed; samples not sent");
        }
        self.state.lock().outcome = Some(ExporterOutcome {
            exporter: self.name.clone(),
            sent_batches,
            unsent_batches,
            unsent_samples,
            last_error,
            shutdown_error,
            finished: true,
        });
    }
}

fn seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(crate::clock::since_epoch().as_nanos());
    h.finish() | 1
}

/// Builds a [`PushPipeline`].
#[derive(Debug)]
pub struct PushPipelineBuilder {
    registry: Registry,
    interval: Duration,
    timeout: Duration,
    max_buffered_samples: usize,
    retry: RetryPolicy,
    metrics: Option<ExportMetrics>,
    exporters: Vec<Box<dyn Exporter>>,
}

impl PushPipelineBuilder {
    /// How often the registry is gathered and pushed (default 15 s).
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }
    /// The longest one attempt may take (default 10 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
    /// How many samples each exporter may hold while its receiver is down (default
    /// 500,000); see [`Batch::sample_count`] for the unit.
    pub fn max_buffered_samples(mut self, samples: usize) -> Self {
        self.max_buffered_samples = samples;
        self
    }
    /// The retry policy for every exporter.
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }
    /// Uses existing self-metrics (when several pipelines share a registry).
    pub fn metrics(mut self, metrics: ExportMetrics) -> Self {
        self.metrics = Some(metrics);
        self
    }
    /// Adds an exporter.
    pub fn exporter(mut self, exporter: impl Exporter) -> Self {
        self.exporters.push(Box::new(exporter));
        self
    }
    /// Adds a boxed exporter.
    pub fn boxed_exporter(mut self, exporter: Box<dyn Exporter>) -> Self {
        self.exporters.push(exporter);
        self
    }

    /// Starts the gathering thread and one worker thread per exporter.
    ///
    /// # Errors
    /// A [`BuildError`] for a zero interval, no exporter, duplicate or empty exporter
    /// names, self-metrics that cannot be registered, or a thread that cannot start.
    pub fn build(self) -> Result<PushPipeline, BuildError> {
        if self.interval.is_zero() {
            return Err(BuildError::ZeroInterval);
        }
        if self.exporters.is_empty() {
            return Err(BuildError::NoExporter);
        }
        let mut names = std::collections::HashSet::new();
        for e in &self.exporters {
            if e.name().is_empty() {
                return Err(BuildError::EmptyExporterName);
            }
            if !names.insert(e.name().to_owned()) {
                return Err(BuildError::DuplicateExporter(e.name().to_owned()));
            }
        }
        let metrics = match self.metrics {
            Some(m) => m,
            None => ExportMetrics::register(&self.registry)?,
        };
        let mut workers = Vec::new();
        let mut threads = Vec::new();
        for exporter in self.exporters {
            let worker = Arc::new(Worker {
                name: exporter.name().to_owned(),
                state: Mutex::new(QueueState::default()),
                cond: Condvar::new(),
                max_buffered_samples: self.max_buffered_samples,
                keeps_history: exporter.keeps_history(),
                handles: metrics.handles(exporter.name()),
            });
            let w = worker.clone();
            let (policy, timeout) = (self.retry, self.timeout);
            let t = std::thread::Builder::new()
                .name(format!("vsanobs-export-{}", worker.name))
                .spawn(move || w.run(exporter, policy, timeout))
                .map_err(BuildError::Spawn)?;
            workers.push(worker);
            threads.push(t);
        }
        let shared = Arc::new(Shared {
            registry: self.registry,
            workers,
            stop: Mutex::new(false),
            stop_cond: Condvar::new(),
        });
        let s = shared.clone();
        let interval = self.interval;
        let ticker = std::thread::Builder::new()
            .name("vsanobs-push".to_owned())
            .spawn(move || s.tick_loop(interval))
            .map_err(BuildError::Spawn)?;
        Ok(PushPipeline {
            shared,
            ticker: Some(ticker),
            threads,
        })
    }
}

struct Shared {
    registry: Registry,
    workers: Vec<Arc<Worker>>,
    stop: Mutex<bool>,
    stop_cond: Condvar,
}

impl Shared {
    fn push_now(&self) {
        let batch = Batch::new(self.registry.gather(), crate::clock::unix_millis());
        for w in &self.workers {
            w.enqueue(batch.clone());
        }
    }

    fn tick_loop(&self, interval: Duration) {
        let mut next = Instant::now() + interval;
        loop {
            {
                let mut stop = self.stop.lock();
                while !*stop && Instant::now() < next {
                    self.stop_cond.wait_until(&mut stop, next);
                }
                if *stop {
                    return;
                }
            }
            self.push_now();
            next += interval;
            let now = Instant::now();
            if next < now {
                // Gathering took longer than the interval: skip missed ticks.
                next = now + interval;
            }
        }
    }
}

/// Gathers a registry on an interval and feeds every exporter; see the [module docs](self).
///
/// Dropping it stops all threads at once without flushing; call
/// [`shutdown`](Self::shutdown) to flush.
pub struct PushPipeline {
    shared: Arc<Shared>,
    ticker: Option<JoinHandle<()>>,
    threads: Vec<JoinHandle<()>>,
}

impl fmt::Debug for PushPipeline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PushPipeline")
            .field(
                "exporters",
                &self
                    .shared
                    .workers
                    .iter()
                    .map(|w| &w.name)
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// What one exporter achieved by the end of a [`PushPipeline::shutdown`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExporterOutcome {
    /// The exporter's name.
    pub exporter: String,
    /// Batches delivered over the pipeline's life.
    pub sent_batches: u64,
    /// Batches still unsent at the deadline (dropped, counted with `reason="shutdown"`).
    pub unsent_batches: u64,
    /// Samples in those batches.
    pub unsent_samples: usize,
    /// The last export error seen, with its causes.
    pub last_error: Option<String>,
    /// The error of the exporter's own shutdown step, if it failed.
    pub shutdown_error: Option<String>,
    /// Whether the worker finished within the deadline (false: it was still inside a
    /// request and was left to end on its own).
    pub finished: bool,
}

/// The result of [`PushPipeline::shutdown`], one entry per exporter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Per exporter, in the order they were added.
    pub exporters: Vec<ExporterOutcome>,
}

impl ShutdownReport {
    /// Whether every exporter finished in time and sent everything.
    pub fn is_complete(&self) -> bool {
        self.exporters
            .iter()
            .all(|e| e.finished && e.unsent_batches == 0 && e.shutdown_error.is_none())
    }
}

impl PushPipeline {
    /// Starts building a pipeline for `registry` (15 s interval, 10 s timeout, 500,000
    /// buffered samples per exporter, [`RetryPolicy::default`]).
    pub fn builder(registry: Registry) -> PushPipelineBuilder {
        PushPipelineBuilder {
            registry,
            interval: Duration::from_secs(15),
            timeout: Duration::from_secs(10),
            max_buffered_samples: 500_000,
            retry: RetryPolicy::default(),
            metrics: None,
            exporters: Vec::new(),
        }
    }

    /// Gathers the registry now and queues the batch for every exporter (does not wait for
    /// it to be sent).
    pub fn push_now(&self) {
        self.shared.push_now();
    }

    /// Samples waiting in each exporter's buffer, by exporter name.
    pub fn buffered_samples(&self) -> Vec<(String, usize)> {
        self.shared
            .workers
            .iter()
            .map(|w| (w.name.clone(), w.state.lock().queued_samples))
            .collect()
    }

    /// Stops gathering, gathers one last time, and gives the exporters until `timeout` to
    /// send what they hold (retrying as usual). Returns what each exporter could not send.
    pub fn shutdown(mut self, timeout: Duration) -> ShutdownReport {
        let deadline = Instant::now() + timeout;
        self.stop_ticker();
        self.shared.push_now();
        for w in &self.shared.workers {
            let mut st = w.state.lock();
            st.closing = true;
            st.deadline = Some(deadline);
            w.cond.notify_all();
        }
        let threads = std::mem::take(&mut self.threads);
        // Wait for the workers until the deadline (plus a little for them to notice it).
        let grace = deadline + Duration::from_millis(200);
        while Instant::now() < grace && !threads.iter().all(JoinHandle::is_finished) {
            std::thread::sleep(Duration::from_millis(5));
        }
        let mut exporters = Vec::new();
        for (w, t) in self.shared.workers.iter().zip(threads) {
            let finished = t.is_finished();
            if finished {
                let _ = t.join();
            }
            let mut st = w.state.lock();
            let outcome = st.outcome.take().unwrap_or_else(|| ExporterOutcome {
                exporter: w.name.clone(),
                sent_batches: 0,
                unsent_batches: st.queue.len() as u64 + 1,
                unsent_samples: st.queued_samples,
                last_error: None,
                shutdown_error: None,
                finished: false,
            });
            exporters.push(ExporterOutcome {
                finished,
                ..outcome
            });
        }
        ShutdownReport { exporters }
    }

    fn stop_ticker(&mut self) {
        *self.shared.stop.lock() = true;
        self.shared.stop_cond.notify_all();
        if let Some(t) = self.ticker.take() {
            let _ = t.join();
        }
    }
}

impl Drop for PushPipeline {
    fn drop(&mut self) {
        self.stop_ticker();
        let now = Instant::now();
        for w in &self.shared.workers {
            let mut st = w.state.lock();
            st.closing = true;
            st.deadline.get_or_insert(now);
            w.cond.notify_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[derive(Clone, Default)]
    struct Script {
        /// Errors to return, in order; `None` means success.
        plan: Arc<Mutex<VecDeque<Option<u16>>>>,
        seen: Arc<Mutex<Vec<(i64, usize)>>>,
        calls: Arc<AtomicUsize>,
    }

    struct Scripted(&'static str, Script, bool);
    impl Exporter for Scripted {
        fn name(&self) -> &str {
            self.0
        }
        fn keeps_history(&self) -> bool {
            self.2
        }
        fn export(&mut self, batch: &Batch, _t: Duration) -> Result<(), ExportError> {
            self.1.calls.fetch_add(1, Ordering::SeqCst);
            match self.1.plan.lock().pop_front().flatten() {
                None => {
                    self.1
                        .seen
                        .lock()
                        .push((batch.timestamp_ms(), batch.sample_count()));
                    Ok(())
                }
                Some(s) if s == 429 || s >= 500 => Err(ExportError::Unavailable {
                    status: s,
                    retry_after: None,
                    body: String::new(),
                }),
                Some(s) => Err(ExportError::Rejected {
                    status: s,
                    body: "bad".into(),
                }),
            }
        }
    }

    fn fast() -> RetryPolicy {
        RetryPolicy {
            min_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(4),
            ..RetryPolicy::default()
        }
    }

    fn value(reg: &Registry, needle: &str) -> Option<f64> {
        let text = reg.encode_to_string(Format::PrometheusText);
        text.lines()
            .find(|l| l.starts_with(needle))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
    }

    #[test]
    fn export_retries_then_succeeds_and_400_is_dropped() {
        let reg = Registry::new();
        reg.gauge("g", "A gauge.").unwrap().set(1);
        let script = Script::default();
        script
            .plan
            .lock()
            .extend([Some(503), Some(429), None, Some(400)]);
        let p = PushPipeline::builder(reg.clone())
            .interval(Duration::from_secs(3600))
            .retry(fast())
            .exporter(Scripted("s", script.clone(), true))
            .build()
            .unwrap();
        p.push_now();
        let report = p.shutdown(Duration::from_secs(10));
        assert_eq!(script.calls.load(Ordering::SeqCst), 4);
        assert_eq!(script.seen.lock().len(), 1);
        let out = &report.exporters[0];
        assert!(out.finished);
        assert_eq!(out.sent_batches, 1);
        assert!(out.last_error.as_deref().unwrap_or("").contains("400"));
        let n = script.seen.lock()[0].1 as f64;
        assert_eq!(
            value(
                &reg,
                "vsanobs_export_requests_total{exporter=\"s\",result=\"retry\"}"
            ),
            Some(2.0)
        );
        assert_eq!(
            value(
                &reg,
                "vsanobs_export_requests_total{exporter=\"s\",result=\"rejected\"}"
            ),
            Some(1.0)
        );
        assert_eq!(
            value(&reg, "vsanobs_export_retries_total{exporter=\"s\"}"),
            Some(2.0)
        );
        assert_eq!(
            value(&reg, "vsanobs_export_sent_samples_total{exporter=\"s\"}"),
            Some(n)
        );
        assert!(
            value(
                &reg,
                "vsanobs_export_dropped_samples_total{exporter=\"s\",reason=\"rejected\"}"
            )
            .is_some_and(|v| v > 0.0)
        );
    }

    #[test]
    fn export_superseded_for_latest_state_exporters() {
        let reg = Registry::new();
        reg.gauge("g", "A gauge.").unwrap();
        let script = Script::default();
        // Fail forever (until shutdown) so batches pile up.
        script
            .plan
            .lock()
            .extend(std::iter::repeat_n(Some(503), 10_000));
        let p = PushPipeline::builder(reg.clone())
            .interval(Duration::from_secs(3600))
            .retry(fast())
            .exporter(Scripted("pgw", script.clone(), false))
            .build()
            .unwrap();
        for _ in 0..5 {
            p.push_now();
        }
        assert!(p.buffered_samples()[0].1 <= 2 * p_samples(&reg));
        let report = p.shutdown(Duration::from_millis(100));
        assert_eq!(report.exporters[0].sent_batches, 0);
        assert!(!report.is_complete());
    }

    #[test]
    fn export_shutdown_reports_unsent_samples() {
        let reg = Registry::new();
        reg.gauge("g", "A gauge.").unwrap().set(1);
        reg.counter("c", "A counter.").unwrap().inc();
        let script = Script::default();
        script
            .plan
            .lock()
            .extend(std::iter::repeat_n(Some(503), 100_000));
        let meta = Registry::new();
        let p = PushPipeline::builder(reg.clone())
            .interval(Duration::from_secs(3600))
            .retry(fast())
            .metrics(ExportMetrics::register(&meta).unwrap())
            .exporter(Scripted("down", script.clone(), true))
            .build()
            .unwrap();
        p.push_now();
        p.push_now();
        let report = p.shutdown(Duration::from_millis(300));
        let out = &report.exporters[0];
        assert!(!report.is_complete());
        assert!(out.finished);
        assert_eq!(out.sent_batches, 0);
        // Two pushes plus the shutdown flush, two samples each, none delivered.
        assert_eq!(out.unsent_batches, 3);
        assert_eq!(out.unsent_samples, 6);
        assert!(out.last_error.as_deref().unwrap_or("").contains("503"));
        assert_eq!(
            value(
                &meta,
                "vsanobs_export_dropped_samples_total{exporter=\"down\",reason=\"shutdown\"}"
            ),
            Some(6.0)
        );
    }

    /// An exporter that blocks until released.
    struct Stuck(Arc<(Mutex<bool>, Condvar)>, Arc<AtomicUsize>);
    impl Exporter for Stuck {
        fn name(&self) -> &str {
            "stuck"
        }
        fn export(&mut self, _b: &Batch, _t: Duration) -> Result<(), ExportError> {
            self.1.fetch_add(1, Ordering::SeqCst);
            let (lock, cond) = &*self.0;
            let mut released = lock.lock();
            while !*released {
                cond.wait(&mut released);
            }
            Ok(())
        }
    }

    #[test]
    fn export_slow_exporter_does_not_delay_others() {
        let reg = Registry::new();
        reg.gauge("g", "A gauge.").unwrap();
        let gate = Arc::new((Mutex::new(false), Condvar::new()));
        let stuck_calls = Arc::new(AtomicUsize::new(0));
        let fast_one = Script::default();
        let p = PushPipeline::builder(reg)
            .interval(Duration::from_secs(3600))
            .exporter(Stuck(gate.clone(), stuck_calls.clone()))
            .exporter(Scripted("fast", fast_one.clone(), true))
            .build()
            .unwrap();
        for _ in 0..3 {
            p.push_now();
        }
        // The fast exporter delivers all three batches while the stuck one still sits in
        // its first call (bounded wait, no timing asserted).
        let deadline = Instant::now() + Duration::from_secs(30);
        while (fast_one.seen.lock().len() < 3 || stuck_calls.load(Ordering::SeqCst) == 0)
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(fast_one.seen.lock().len(), 3);
        assert_eq!(stuck_calls.load(Ordering::SeqCst), 1);
        // The stuck exporter has the other two waiting in its own buffer.
        let buffered = p.buffered_samples();
        assert_eq!(buffered[0].0, "stuck");
        assert!(buffered[0].1 > 0);
        assert_eq!(buffered[1], ("fast".to_owned(), 0));
        *gate.0.lock() = true;
        gate.1.notify_all();
        let report = p.shutdown(Duration::from_secs(20));
        assert!(report.is_complete(), "{report:?}");
        assert_eq!(report.exporters[0].sent_batches, 4);
    }

    #[test]
    fn export_types_are_send_sync() {
        fn send_sync<T: Send + Sync>() {}
        fn send<T: Send>() {}
        send_sync::<PushPipeline>();
        send_sync::<Batch>();
        send_sync::<ExportMetrics>();
        send_sync::<ExportError>();
        send_sync::<ShutdownReport>();
        send::<PushPipelineBuilder>();
    }

    fn p_samples(reg: &Registry) -> usize {
        Batch::new(reg.gather(), 0).sample_count()
    }

    #[test]
    fn export_build_errors() {
        let reg = Registry::new();
        assert!(matches!(
            PushPipeline::builder(reg.clone()).build(),
            Err(BuildError::NoExporter)
        ));
        assert!(matches!(
            PushPipeline::builder(reg.clone())
                .interval(Duration::ZERO)
                .exporter(Scripted("a", Script::default(), true))
                .build(),
            Err(BuildError::ZeroInterval)
        ));
        assert!(matches!(
            PushPipeline::builder(reg.clone())
                .exporter(Scripted("a", Script::default(), true))
                .exporter(Scripted("a", Script::default(), true))
                .build(),
            Err(BuildError::DuplicateExporter(_))
        ));
        assert!(matches!(
            PushPipeline::builder(reg)
                .exporter(Scripted("", Script::default(), true))
                .build(),
            Err(BuildError::EmptyExporterName)
        ));
    }

    #[test]
    fn export_backoff_grows_with_jitter_and_honours_retry_after() {
        let p = RetryPolicy {
            min_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
            ..RetryPolicy::default()
        };
        let e = ExportError::Unavailable {
            status: 503,
            retry_after: None,
            body: String::new(),
        };
        let mut rng = 42;
        for attempt in 1..10 {
            let base =
                Duration::from_millis(100 * (1 << (attempt - 1))).min(Duration::from_secs(1));
            let d = p.delay(attempt, &e, &mut rng);
            assert!(
                d >= base / 2 && d <= base,
                "attempt {attempt}: {d:?} vs {base:?}"
            );
        }
        let e = ExportError::Unavailable {
            status: 429,
            retry_after: Some(Duration::from_secs(7)),
            body: String::new(),
        };
        assert_eq!(p.delay(1, &e, &mut rng), Duration::from_secs(7));
        let e = ExportError::Unavailable {
            status: 429,
            retry_after: Some(Duration::from_secs(7000)),
            body: String::new(),
        };
        assert_eq!(p.delay(1, &e, &mut rng), p.max_retry_after);
    }
}
