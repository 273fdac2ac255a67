//! [`PoolPipeline`]: drains a [`SamplePool`] into a [`SampleExporter`] (remote write), each
//! sample with its own timestamp, retrying while the receiver is down without taking more
//! from the pool.
//!
//! # Example
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! use std::time::Duration;
//! use vsanobs_core::export::{
//!     ExportError, FamilyMeta, PoolPipeline, SampleBatch, SampleExporter, SeriesTable,
//! };
//! use vsanobs_core::model::MetricKind;
//! use vsanobs_core::pool::{SamplePool, TimestampedSample};
//!
//! /// Keeps `(name, timestamp, value)` of every sample it is given.
//! #[derive(Clone, Default)]
//! struct Keep(Arc<Mutex<Vec<(String, i64, f64)>>>);
//! impl SampleExporter for Keep {
//!     fn name(&self) -> &str { "keep" }
//!     fn export_samples(&mut self, b: &SampleBatch, _t: Duration) -> Result<(), ExportError> {
//!         for s in b.series() {
//!             for &(t, v) in &s.samples {
//!                 self.0.lock().unwrap().push((s.series.name().to_owned(), t, v));
//!             }
//!         }
//!         Ok(())
//!     }
//! }
//!
//! let pool = SamplePool::new("intervals", 1024)?;
//! let series = SeriesTable::new(100);
//! let reads = series.intern(&FamilyMeta::new("reads_total", MetricKind::Counter, "Reads."), &[])?;
//! let kept = Keep::default();
//! let pipeline = PoolPipeline::builder(pool.clone(), series, kept.clone()).build()?;
//! // Timestamps are the producer's: here two five-minute intervals of an hour ago.
//! pool.push(TimestampedSample::new(reads, 10.0, 1_700_000_000_000));
//! pool.push(TimestampedSample::new(reads, 25.0, 1_700_000_300_000));
//! let report = pipeline.shutdown(Duration::from_secs(5));
//! assert!(report.is_complete());
//! assert_eq!(
//!     *kept.0.lock().unwrap(),
//!     [("reads_total".into(), 1_700_000_000_000, 10.0), ("reads_total".into(), 1_700_000_300_000, 25.0)]
//! );
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Behaviour
//! - One worker thread takes up to `max_batch_samples` samples from the pool, resolves their
//!   series in the [`SeriesTable`] and sends them as one [`SampleBatch`] (each series' samples
//!   in timestamp order, as remote write requires). It looks at the pool every
//!   `flush_interval`, or at once when a producer calls [`PoolWaker::wake`].
//! - A retryable failure (connection refused, timeout, 5xx, 429) keeps the batch and sends it
//!   again after a backoff ([`RetryPolicy`]); meanwhile nothing more is taken from the pool.
//!   So while the receiver is down, what waits is one batch in flight plus the pool, and the
//!   only loss is the pool's own drop-oldest eviction, counted in
//!   `vsanobs_pool_dropped_samples_total{pool}` (register a
//!   [`PoolMetrics`](crate::pool::PoolMetrics) for it).
//! - A batch the receiver rejects (4xx other than 429), or that cannot be encoded, is
//!   dropped and counted in `vsanobs_export_dropped_samples_total{exporter,reason}`, as are
//!   samples of a series id the table does not hold (`unknown_series`) and samples replaced
//!   by a later one of the same series and timestamp (`superseded`). Together with the pool's
//!   counter, every sample pushed is either sent once or counted once.
//! - A batch is sent again only after a failed attempt: after a success it is gone. (A
//!   request that times out after the receiver stored it is sent again, as in any
//!   at-least-once protocol; the timeout bounds how likely that is.)
//! - [`PoolPipeline::shutdown`] sends what the pool holds within the time given and counts
//!   the rest (`reason="shutdown"`).
//!
//! ## Note
//! The producer's cost is [`SamplePool::push`] only. The worker allocates the batch it
//! builds; with a remote-write exporter, encoding and compressing it dominate (measured in
//! `benches/benches/pool.rs`, case `pool_to_remote_write`).

use std::fmt;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use super::error::BuildError;
use super::retry::{RetryPolicy, jitter_seed};
use super::sample_batch::SampleBatch;
use super::self_metrics::{DropReason, ExportMetrics, Handles, RequestResult};
use super::series::SeriesTable;
use super::{ExportError, ExporterOutcome};
use crate::pool::{SamplePool, TimestampedSample};
use crate::registry::Registry;
use crate::report::error_chain;

/// A destination for timestamped samples drained from a [`SamplePool`]; the remote-write
/// exporter implements it.
///
/// The pipeline runs it on its own thread, so `export_samples` may block (up to `timeout`).
pub trait SampleExporter: Send + 'static {
    /// A short name (the `exporter` label of the self-metrics).
    fn name(&self) -> &str;

    /// Sends one batch, giving up after `timeout`.
    ///
    /// # Errors
    /// An [`ExportError`]; retryable ones are retried with backoff, others drop the batch.
    fn export_samples(&mut self, batch: &SampleBatch, timeout: Duration)
    -> Result<(), ExportError>;
}

impl fmt::Debug for dyn SampleExporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SampleExporter")
            .field("name", &self.name())
            .finish()
    }
}

#[derive(Default)]
struct State {
    /// Set by a waker: look at the pool now.
    woken: bool,
    /// Stop once the pool is empty or `deadline` passed.
    closing: bool,
    deadline: Option<Instant>,
    /// Samples of the batch in flight.
    in_flight: usize,
    outcome: Option<ExporterOutcome>,
}

struct Shared {
    name: String,
    state: Mutex<State>,
    cond: Condvar,
}

impl Shared {
    fn past_deadline(st: &State) -> bool {
        st.deadline.is_some_and(|d| Instant::now() >= d)
    }
}

/// Wakes a [`PoolPipeline`]'s worker so it drains the pool now rather than at its next
/// `flush_interval`. Cheap to clone; a producer calls it after pushing a burst.
#[derive(Clone)]
pub struct PoolWaker {
    shared: Arc<Shared>,
}

impl fmt::Debug for PoolWaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolWaker")
            .field("exporter", &self.shared.name)
            .finish()
    }
}

impl PoolWaker {
    /// Asks the worker to look at the pool now (it takes a lock; not for a per-sample path).
    pub fn wake(&self) {
        self.shared.state.lock().woken = true;
        self.shared.cond.notify_all();
    }
}

struct Worker {
    shared: Arc<Shared>,
    pool: SamplePool,
    series: SeriesTable,
    handles: Handles,
    max_batch: usize,
    flush_interval: Duration,
    timeout: Duration,
    policy: RetryPolicy,
}

impl Worker {
    /// Waits until the pool has samples (or a wake, or the flush interval); false when the
    /// worker should stop.
    fn wait_for_samples(&self) -> bool {
        let mut st = self.shared.state.lock();
        loop {
            if Shared::past_deadline(&st) {
                return false;
            }
            if !self.pool.is_empty() {
                st.woken = false;
                return true;
            }
            if st.closing {
                return false;
            }
            if st.woken {
                st.woken = false;
                continue;
            }
            let until = Instant::now() + self.flush_interval;
            let until = st.deadline.map_or(until, |d| d.min(until));
            self.shared.cond.wait_until(&mut st, until);
        }
    }

    /// Takes the next batch from the pool, counting what cannot be sent.
    fn next_batch(&self, buf: &mut Vec<TimestampedSample>) -> SampleBatch {
        buf.clear();
        self.pool.drain(buf, self.max_batch);
        let (batch, report) = SampleBatch::resolve(buf, &self.series);
        if report.unknown_series > 0 {
            tracing::warn!(exporter = %self.shared.name, samples = report.unknown_series, "samples of a series id the series table does not hold: dropped");
            self.handles
                .drop(DropReason::UnknownSeries, report.unknown_series);
        }
        self.handles.drop(DropReason::Superseded, report.superseded);
        batch
    }

    fn set_in_flight(&self, n: usize) {
        self.shared.state.lock().in_flight = n;
        self.handles.buffered.set(n as i64);
    }

    /// Sleeps `delay`, waking early only for the shutdown deadline.
    fn back_off(&self, delay: Duration) {
        let mut st = self.shared.state.lock();
        let until = Instant::now() + delay;
        let until = st.deadline.map_or(until, |d| d.min(until));
        while Instant::now() < until {
            if self.shared.cond.wait_until(&mut st, until).timed_out() {
                break;
            }
            if Shared::past_deadline(&st) {
                break;
            }
        }
    }

    fn run(&self, mut exporter: Box<dyn SampleExporter>) {
        let mut rng = jitter_seed();
        let mut buf = Vec::with_capacity(self.max_batch.min(1 << 16));
        let mut last_error: Option<String> = None;
        let mut sent_batches = 0u64;
        let mut in_flight: Option<(SampleBatch, u32)> = None;
        // Whether the last attempt failed: an outage is logged once as it starts and once as
        // it ends, not at every retry.
        let mut failing = false;
        loop {
            if in_flight.is_none() {
                if !self.wait_for_samples() {
                    break;
                }
                let batch = self.next_batch(&mut buf);
                if batch.is_empty() {
                    continue;
                }
                self.set_in_flight(batch.sample_count());
                in_flight = Some((batch, 0));
            }
            let Some((batch, attempts)) = in_flight.as_mut() else {
                continue;
            };
            let deadline = self.shared.state.lock().deadline;
            if deadline.is_some_and(|d| Instant::now() >= d) {
                break;
            }
            let timeout = deadline.map_or(self.timeout, |d| {
                self.timeout
                    .min(d.saturating_duration_since(Instant::now()))
            });
            *attempts += 1;
            let n = batch.sample_count();
            match exporter.export_samples(batch, timeout) {
                Ok(()) => {
                    if failing {
                        tracing::info!(exporter = %self.shared.name, waiting = self.pool.len(), "export succeeded again");
                        failing = false;
                    }
                    self.handles.request(RequestResult::Success);
                    self.handles.sent.inc_by(n as u64);
                    sent_batches += 1;
                    in_flight = None;
                    self.set_in_flight(0);
                }
                Err(e) => {
                    self.handles.request(e.request_result());
                    last_error = Some(error_chain(&e));
                    if !e.is_retryable() {
                        tracing::warn!(exporter = %self.shared.name, samples = n, error = %e, "export failed; batch dropped, not retried");
                        self.handles.drop(e.drop_reason(), n);
                        in_flight = None;
                        self.set_in_flight(0);
                        continue;
                    }
                    if self.policy.max_attempts.is_some_and(|m| *attempts >= m) {
                        tracing::warn!(exporter = %self.shared.name, samples = n, attempts = *attempts, error = %e, "export failed; retries exhausted, batch dropped");
                        self.handles.drop(DropReason::RetriesExhausted, n);
                        in_flight = None;
                        self.set_in_flight(0);
                        continue;
                    }
                    self.handles.retries.inc();
                    let delay = self.policy.delay(*attempts, &e, &mut rng);
                    if !failing {
                        tracing::warn!(exporter = %self.shared.name, error = %error_chain(&e), "export failing; retrying with backoff, samples wait in the pool (the oldest are dropped when it is full)");
                        failing = true;
                    }
                    tracing::debug!(exporter = %self.shared.name, error = %e, ?delay, attempt = *attempts, "export failed; will retry");
                    self.back_off(delay);
                }
            }
        }
        // Leaving: the batch in flight and what the pool still holds are not sent; each
        // sample is counted once (the pool is drained so nobody else counts them).
        let mut unsent_samples = in_flight.as_ref().map_or(0, |(b, _)| b.sample_count());
        let mut unsent_batches = u64::from(in_flight.is_some());
        loop {
            buf.clear();
            let n = self.pool.drain(&mut buf, 1 << 16);
            if n == 0 {
                break;
            }
            unsent_samples += n;
            unsent_batches += 1;
        }
        self.set_in_flight(0);
        self.handles.drop(DropReason::Shutdown, unsent_samples);
        if unsent_samples > 0 {
            tracing::warn!(exporter = %self.shared.name, unsent_samples, "shutdown deadline passed; samples not sent");
        }
        self.shared.state.lock().outcome = Some(ExporterOutcome {
            exporter: self.shared.name.clone(),
            sent_batches,
            unsent_batches,
            unsent_samples,
            last_error,
            shutdown_error: None,
            finished: true,
        });
    }
}

/// Builds a [`PoolPipeline`].
pub struct PoolPipelineBuilder {
    pool: SamplePool,
    series: SeriesTable,
    exporter: Box<dyn SampleExporter>,
    max_batch: usize,
    flush_interval: Duration,
    timeout: Duration,
    retry: RetryPolicy,
    metrics: Option<ExportMetrics>,
    registry: Option<Registry>,
}

impl fmt::Debug for PoolPipelineBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolPipelineBuilder")
            .field("pool", &self.pool)
            .field("exporter", &self.exporter.name())
            .field("max_batch_samples", &self.max_batch)
            .finish_non_exhaustive()
    }
}

impl PoolPipelineBuilder {
    /// Most samples sent in one request (default 2,000, Prometheus' `max_samples_per_send`).
    pub fn max_batch_samples(mut self, n: usize) -> Self {
        self.max_batch = n;
        self
    }
    /// How often an idle worker looks at the pool (default 1 s).
    pub fn flush_interval(mut self, d: Duration) -> Self {
        self.flush_interval = d;
        self
    }
    /// The longest one attempt may take (default 10 s).
    pub fn timeout(mut self, d: Duration) -> Self {
        self.timeout = d;
        self
    }
    /// The retry policy (default [`RetryPolicy::default`]: retried until sent).
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }
    /// Counts into existing self-metrics (when a registry already has them).
    pub fn metrics(mut self, metrics: ExportMetrics) -> Self {
        self.metrics = Some(metrics);
        self
    }
    /// Registers new self-metrics (`vsanobs_export_*`) in `registry`.
    pub fn register(mut self, registry: &Registry) -> Self {
        self.registry = Some(registry.clone());
        self
    }

    /// Starts the worker thread.
    ///
    /// # Errors
    /// [`BuildError::ZeroInterval`] for a zero flush interval or batch size,
    /// [`BuildError::EmptyExporterName`], [`BuildError::Registry`] when the self-metrics
    /// cannot be registered, [`BuildError::Spawn`].
    pub fn build(self) -> Result<PoolPipeline, BuildError> {
        if self.flush_interval.is_zero() || self.max_batch == 0 {
            return Err(BuildError::ZeroInterval);
        }
        let name = self.exporter.name().to_owned();
        if name.is_empty() {
            return Err(BuildError::EmptyExporterName);
        }
        let metrics = match (self.metrics, &self.registry) {
            (Some(m), _) => m,
            (None, Some(r)) => ExportMetrics::register(r)?,
            (None, None) => ExportMetrics::register(&Registry::new())?,
        };
        let shared = Arc::new(Shared {
            name: name.clone(),
            state: Mutex::new(State::default()),
            cond: Condvar::new(),
        });
        let worker = Worker {
            shared: shared.clone(),
            pool: self.pool.clone(),
            series: self.series,
            handles: metrics.handles(&name),
            max_batch: self.max_batch,
            flush_interval: self.flush_interval,
            timeout: self.timeout,
            policy: self.retry,
        };
        let exporter = self.exporter;
        let thread = std::thread::Builder::new()
            .name(format!("vsanobs-pool-{name}"))
            .spawn(move || worker.run(exporter))
            .map_err(BuildError::Spawn)?;
        Ok(PoolPipeline {
            shared,
            pool: self.pool,
            thread: Some(thread),
        })
    }
}

/// Drains a [`SamplePool`] into a [`SampleExporter`]; see the [module docs](self).
///
/// Dropping it stops the worker without flushing; call [`shutdown`](Self::shutdown) to
/// flush.
pub struct PoolPipeline {
    shared: Arc<Shared>,
    pool: SamplePool,
    thread: Option<JoinHandle<()>>,
}

impl fmt::Debug for PoolPipeline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolPipeline")
            .field("exporter", &self.shared.name)
            .field("pool", &self.pool)
            .finish()
    }
}

impl PoolPipeline {
    /// Starts building a pipeline from `pool` (its samples' ids resolved in `series`) to
    /// `exporter`: 2,000 samples per request, 1 s flush interval, 10 s timeout,
    /// [`RetryPolicy::default`].
    pub fn builder(
        pool: SamplePool,
        series: SeriesTable,
        exporter: impl SampleExporter,
    ) -> PoolPipelineBuilder {
        PoolPipelineBuilder {
            pool,
            series,
            exporter: Box::new(exporter),
            max_batch: 2_000,
            flush_interval: Duration::from_secs(1),
            timeout: Duration::from_secs(10),
            retry: RetryPolicy::default(),
            metrics: None,
            registry: None,
        }
    }

    /// A handle producers use to have the pool drained now.
    pub fn waker(&self) -> PoolWaker {
        PoolWaker {
            shared: self.shared.clone(),
        }
    }

    /// Samples waiting: in the pool plus the batch in flight.
    pub fn pending_samples(&self) -> usize {
        self.pool.len() + self.shared.state.lock().in_flight
    }

    /// Sends what the pool holds until it is empty or `timeout` passed (retrying as usual),
    /// then stops the worker; what is left is counted (`reason="shutdown"`) and reported.
    pub fn shutdown(mut self, timeout: Duration) -> ExporterOutcome {
        let deadline = Instant::now() + timeout;
        {
            let mut st = self.shared.state.lock();
            st.closing = true;
            st.deadline = Some(deadline);
            self.shared.cond.notify_all();
        }
        let grace = deadline + Duration::from_millis(200);
        let thread = self.thread.take();
        let mut finished = false;
        if let Some(t) = thread {
            while Instant::now() < grace && !t.is_finished() {
                std::thread::sleep(Duration::from_millis(2));
            }
            finished = t.is_finished();
            if finished {
                let _ = t.join();
            }
        }
        let mut st = self.shared.state.lock();
        let outcome = st.outcome.take().unwrap_or_else(|| ExporterOutcome {
            exporter: self.shared.name.clone(),
            sent_batches: 0,
            unsent_batches: 1,
            unsent_samples: st.in_flight + self.pool.len(),
            last_error: None,
            shutdown_error: None,
            finished: false,
        });
        ExporterOutcome {
            finished,
            ..outcome
        }
    }
}

impl Drop for PoolPipeline {
    fn drop(&mut self) {
        let mut st = self.shared.state.lock();
        st.closing = true;
        st.deadline.get_or_insert_with(Instant::now);
        self.shared.cond.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;
    use crate::encoding::Format;
    use crate::export::FamilyMeta;
    use crate::model::MetricKind;
    use crate::pool::PoolMetrics;

    /// Answers with the planned statuses (None: success, then success when the plan is
    /// empty unless `down`), keeping every sample delivered.
    #[derive(Clone, Default)]
    struct Receiver {
        plan: Arc<Mutex<VecDeque<Option<u16>>>>,
        down: Arc<AtomicBool>,
        got: Arc<Mutex<Vec<(u64, i64, f64)>>>,
        attempts: Arc<Mutex<usize>>,
    }

    impl SampleExporter for Receiver {
        fn name(&self) -> &str {
            "rx"
        }
        fn export_samples(&mut self, b: &SampleBatch, _t: Duration) -> Result<(), ExportError> {
            *self.attempts.lock() += 1;
            let planned = self.plan.lock().pop_front();
            let status = match planned {
                Some(s) => s,
                None if self.down.load(Ordering::SeqCst) => Some(503),
                None => None,
            };
            match status {
                None => {
                    let mut got = self.got.lock();
                    for s in b.series() {
                        let id: u64 = s.series.labels()[0].1.parse().unwrap_or(u64::MAX);
                        for &(t, v) in &s.samples {
                            got.push((id, t, v));
                        }
                    }
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

    /// A table with series `0..n` whose `id` label is their id.
    fn table(n: u64) -> SeriesTable {
        let t = SeriesTable::new(n as usize);
        let fam = FamilyMeta::new("v", MetricKind::Gauge, "V.");
        for i in 0..n {
            assert_eq!(t.intern(&fam, &[("id", &i.to_string())]), Ok(i));
        }
        t
    }

    fn value(reg: &Registry, needle: &str) -> f64 {
        let text = reg.encode_to_string(Format::PrometheusText);
        text.lines()
            .find(|l| l.starts_with(needle))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{needle} not in {text}"))
    }

    fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !f() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    #[test]
    fn pool_export_keeps_samples_in_the_pool_while_down_and_loses_only_evictions() {
        let reg = Registry::new();
        let pool = SamplePool::new("p", 50).unwrap();
        let pm = PoolMetrics::new();
        pm.add(&pool);
        reg.register_collector(pm).unwrap();
        let rx = Receiver::default();
        rx.down.store(true, Ordering::SeqCst);
        let p = PoolPipeline::builder(pool.clone(), table(4), rx.clone())
            .max_batch_samples(10)
            .flush_interval(Duration::from_millis(1))
            .retry(fast())
            .register(&reg)
            .build()
            .unwrap();
        // 200 samples, 4 series, in time order, while the receiver is down: one batch of
        // 10 is held in flight, the pool keeps the newest 50, the rest is evicted.
        let mut pushed = Vec::new();
        for i in 0..200u64 {
            let s = TimestampedSample::new(i % 4, i as f64, 1_000 * i as i64);
            pool.push(s);
            pushed.push((s.series, s.timestamp_ms, s.value));
            if i == 5 {
                wait_until("the first batch in flight", || {
                    p.pending_samples() == 6 && pool.is_empty()
                });
            }
        }
        wait_until("retries", || *rx.attempts.lock() > 3);
        assert_eq!(p.pending_samples(), 56);
        rx.down.store(false, Ordering::SeqCst);
        p.waker().wake();
        wait_until("delivery", || p.pending_samples() == 0);
        let out = p.shutdown(Duration::from_secs(10));
        assert!(out.is_complete(), "{out:?}");
        let mut got = rx.got.lock().clone();
        got.sort_by_key(|g| (g.1, g.0));
        // What arrived is the first 6 and the last 50, each once; the 144 between were
        // evicted and counted.
        let want: Vec<_> = pushed[..6].iter().chain(&pushed[150..]).copied().collect();
        assert_eq!(got, want);
        assert_eq!(pool.dropped(), 144);
        assert_eq!(
            value(&reg, "vsanobs_pool_dropped_samples_total{pool=\"p\"}"),
            144.0
        );
        assert_eq!(
            value(&reg, "vsanobs_export_sent_samples_total{exporter=\"rx\"}"),
            56.0
        );
        assert!(value(&reg, "vsanobs_export_retries_total{exporter=\"rx\"}") >= 3.0);
    }

    #[test]
    fn pool_export_counts_rejected_unknown_and_superseded_samples() {
        let reg = Registry::new();
        let pool = SamplePool::new("p", 100).unwrap();
        let rx = Receiver::default();
        rx.plan.lock().extend([Some(503), Some(400)]);
        let p = PoolPipeline::builder(pool.clone(), table(2), rx.clone())
            .max_batch_samples(100)
            .flush_interval(Duration::from_millis(1))
            .retry(fast())
            .register(&reg)
            .build()
            .unwrap();
        let waker = p.waker();
        // First batch: retried once (503), then rejected (400): 3 samples lost.
        for t in 0..3 {
            pool.push(TimestampedSample::new(0, 1.0, t));
        }
        waker.wake();
        wait_until("the rejection", || {
            *rx.attempts.lock() == 2 && p.pending_samples() == 0
        });
        // Second batch: a series the table does not hold, and one timestamp pushed twice.
        pool.push(TimestampedSample::new(7, 1.0, 10));
        pool.push(TimestampedSample::new(1, 1.0, 10));
        pool.push(TimestampedSample::new(1, 2.0, 10));
        pool.push(TimestampedSample::new(1, 3.0, 5));
        let out = p.shutdown(Duration::from_secs(10));
        assert!(out.is_complete(), "{out:?}");
        assert_eq!(out.sent_batches, 1);
        assert!(out.last_error.as_deref().unwrap_or("").contains("400"));
        assert_eq!(*rx.got.lock(), [(1, 5, 3.0), (1, 10, 2.0)]);
        let dropped = |reason: &str| {
            value(
                &reg,
                &format!(
                    "vsanobs_export_dropped_samples_total{{exporter=\"rx\",reason=\"{reason}\"}}"
                ),
            )
        };
        assert_eq!(dropped("rejected"), 3.0);
        assert_eq!(dropped("unknown_series"), 1.0);
        assert_eq!(dropped("superseded"), 1.0);
        assert_eq!(dropped("shutdown"), 0.0);
    }

    #[test]
    fn pool_export_shutdown_counts_what_is_left_once() {
        let reg = Registry::new();
        let pool = SamplePool::new("p", 100).unwrap();
        let rx = Receiver::default();
        rx.down.store(true, Ordering::SeqCst);
        let p = PoolPipeline::builder(pool.clone(), table(1), rx.clone())
            .max_batch_samples(4)
            .flush_interval(Duration::from_millis(1))
            .retry(fast())
            .register(&reg)
            .build()
            .unwrap();
        for t in 0..10 {
            pool.push(TimestampedSample::new(0, 1.0, t));
        }
        let out = p.shutdown(Duration::from_millis(200));
        assert!(out.finished && !out.is_complete());
        assert_eq!(out.unsent_samples, 10);
        assert!(pool.is_empty());
        assert_eq!(
            value(
                &reg,
                "vsanobs_export_dropped_samples_total{exporter=\"rx\",reason=\"shutdown\"}"
            ),
            10.0
        );
        assert!(rx.got.lock().is_empty());
    }

    /// Two producers push while the receiver fails every third request: every sample is
    /// delivered once or counted as evicted once, none twice.
    #[test]
    fn pool_export_accounts_for_every_sample_of_concurrent_producers() {
        const PER: u64 = 20_000;
        let pool = SamplePool::new("p", 512).unwrap();
        let rx = Receiver::default();
        rx.plan
            .lock()
            .extend((0..100_000).map(|i| (i % 3 == 0).then_some(503)));
        let p = PoolPipeline::builder(pool.clone(), table(2), rx.clone())
            .max_batch_samples(100)
            .flush_interval(Duration::from_millis(1))
            .retry(fast())
            .build()
            .unwrap();
        let threads: Vec<_> = (0..2u64)
            .map(|series| {
                let pool = pool.clone();
                std::thread::spawn(move || {
                    for t in 0..PER {
                        pool.push(TimestampedSample::new(series, t as f64, t as i64));
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let out = p.shutdown(Duration::from_secs(30));
        assert!(out.is_complete(), "{out:?}");
        let got = rx.got.lock().clone();
        let mut unique = got.clone();
        unique.sort_by_key(|g| (g.0, g.1));
        unique.dedup_by_key(|g| (g.0, g.1));
        assert_eq!(unique.len(), got.len(), "a sample delivered twice");
        assert_eq!(got.len() as u64 + pool.dropped(), 2 * PER);
        // Each producer's samples arrive in the order it pushed them.
        for series in 0..2 {
            let times: Vec<i64> = got.iter().filter(|g| g.0 == series).map(|g| g.1).collect();
            assert!(times.windows(2).all(|w| w[0] < w[1]));
        }
    }

    #[test]
    fn pool_export_build_errors_and_send_sync() {
        let pool = SamplePool::new("p", 1).unwrap();
        let b = || PoolPipeline::builder(pool.clone(), table(0), Receiver::default());
        assert!(matches!(
            b().flush_interval(Duration::ZERO).build(),
            Err(BuildError::ZeroInterval)
        ));
        assert!(matches!(
            b().max_batch_samples(0).build(),
            Err(BuildError::ZeroInterval)
        ));
        let reg = Registry::new();
        ExportMetrics::register(&reg).unwrap();
        assert!(matches!(
            b().register(&reg).build(),
            Err(BuildError::Registry(_))
        ));
        fn send_sync<T: Send + Sync>() {}
        send_sync::<PoolPipeline>();
        send_sync::<PoolWaker>();
        send_sync::<SeriesTable>();
        send_sync::<SampleBatch>();
    }
}
