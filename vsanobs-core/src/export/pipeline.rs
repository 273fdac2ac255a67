//! [`PushPipeline`]: gathers a registry on an interval and feeds every exporter through its
//! own bounded buffer and worker thread, retrying and counting as the
//! [module docs](crate::export) describe.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use super::Exporter;
use super::batch::Batch;
use super::error::BuildError;
use super::retry::{RetryPolicy, jitter_seed};
use super::self_metrics::{DropReason, ExportMetrics, Handles, RequestResult};
use crate::clock;
use crate::registry::Registry;
use crate::report::error_chain;

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
        let mut rng = jitter_seed();
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
        let batch = Batch::new(self.registry.gather(), clock::unix_millis());
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

/// Gathers a registry on an interval and feeds every exporter; see the [module docs](crate::export).
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

impl ExporterOutcome {
    /// Whether the exporter finished in time and sent everything.
    pub fn is_complete(&self) -> bool {
        self.finished && self.unsent_batches == 0 && self.shutdown_error.is_none()
    }
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
        self.exporters.iter().all(ExporterOutcome::is_complete)
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
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::encoding::Format;
    use crate::export::ExportError;

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
}
