//! [`Engine`]: the live config cell and the reload that replaces it: one attempt at a time,
//! concurrent requests folded into it, every attempt counted and logged.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use parking_lot::Mutex;

use crate::error::ReloadError;
use crate::heap::MemSnapshot;
use crate::metrics::{ReloadMetrics, ReloadResult, hash53};
use crate::outcome::{ReloadOutcome, ReloadStatus};
use crate::pipeline::{Pipeline, Staged, run_bounded};
use crate::reloader::Reload;
use crate::trigger::Trigger;
use crate::workers::{Generations, WorkerGuard};
use vsanobs_core::hex;

struct State {
    live_digest: [u8; 32],
    generation: u64,
    /// The last attempt's failure, handed to requests folded into it.
    last_failure: Option<(ReloadResult, String)>,
}

/// The reload engine of one manager; the manager holds it by `Arc`, handles and triggers by
/// `Weak`.
pub(crate) struct Engine<C> {
    cell: Arc<ArcSwap<C>>,
    pipeline: Arc<Pipeline<C>>,
    timeout: Duration,
    expected: Mutex<Option<[u8; 32]>>,
    metrics: ReloadMetrics,
    state: Mutex<State>,
    requested: AtomicU64,
    served: AtomicU64,
    generations: Generations,
}

struct Pending<'a>(&'a vsanobs_core::Gauge);
impl Drop for Pending<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}

impl<C> Engine<C> {
    /// An engine serving `value` (generation 1, bytes with SHA-256 `digest`), whose workers of
    /// replaced generations get `grace` before they are reported as stale.
    pub(crate) fn new(
        value: C,
        digest: [u8; 32],
        pipeline: Arc<Pipeline<C>>,
        timeout: Duration,
        expected: Option<[u8; 32]>,
        metrics: ReloadMetrics,
        grace: Duration,
    ) -> Self {
        let generations = Generations::new(metrics.workers.clone(), grace);
        Engine {
            cell: Arc::new(ArcSwap::from_pointee(value)),
            pipeline,
            timeout,
            expected: Mutex::new(expected),
            metrics,
            state: Mutex::new(State {
                live_digest: digest,
                generation: 1,
                last_failure: None,
            }),
            requested: AtomicU64::new(0),
            served: AtomicU64::new(0),
            generations,
        }
    }

    /// The live config cell.
    pub(crate) fn cell(&self) -> &Arc<ArcSwap<C>> {
        &self.cell
    }

    /// The config file path.
    pub(crate) fn path(&self) -> &Path {
        &self.pipeline.path
    }

    /// The live generation (waits for a running reload).
    pub(crate) fn generation(&self) -> u64 {
        self.state.lock().generation
    }

    /// SHA-256 of the live config's bytes (waits for a running reload).
    pub(crate) fn sha256(&self) -> [u8; 32] {
        self.state.lock().live_digest
    }

    /// The live generation and SHA-256, or `None` while a reload runs (never waits).
    pub(crate) fn try_live(&self) -> Option<(u64, [u8; 32])> {
        self.state.try_lock().map(|s| (s.generation, s.live_digest))
    }

    /// Registers a worker with the live generation.
    pub(crate) fn worker(&self) -> WorkerGuard {
        self.generations.guard()
    }

    /// Workers of replaced generations still alive after the grace period.
    pub(crate) fn stale_workers(&self) -> u64 {
        self.generations.stale()
    }

    /// Sets (or clears) the SHA-256 the next reloads must match.
    pub(crate) fn set_expected_sha256(&self, digest: Option<[u8; 32]>) {
        *self.expected.lock() = digest;
    }
}

impl<C: Send + Sync + 'static> Engine<C> {
    /// Runs a reload, or folds this request into one that read the file after it was made.
    pub(crate) fn reload(&self, trigger: Trigger) -> Result<ReloadOutcome, ReloadError> {
        let called = Instant::now();
        self.metrics.concurrent.inc();
        let _pending = Pending(&self.metrics.concurrent);
        let my_seq = self.requested.fetch_add(1, Ordering::AcqRel) + 1;
        let mut state = self.state.lock();
        if self.served.load(Ordering::Acquire) >= my_seq {
            if let Some((result, reason)) = &state.last_failure {
                return Err(ReloadError::Concurrent {
                    result: *result,
                    reason: reason.clone(),
                });
            }
            return Ok(ReloadOutcome {
                status: ReloadStatus::Coalesced,
                generation: state.generation,
                sha256: state.live_digest,
                duration: called.elapsed(),
            });
        }
        // Every request issued up to now is answered by this attempt, which reads the file
        // after all of them: the last written config wins.
        let covers = self.requested.load(Ordering::Acquire);
        self.metrics.in_progress.set(1);
        let mem = MemSnapshot::now();
        let started = Instant::now();
        let result = self.attempt(&mut state, started);
        let elapsed = started.elapsed();
        self.served.store(covers, Ordering::Release);
        self.metrics.in_progress.set(0);
        match result {
            Ok(Some(())) => {
                state.last_failure = None;
                self.metrics.heap_delta.set(mem.delta());
                self.metrics
                    .record(ReloadResult::Success, elapsed.as_secs_f64());
                tracing::info!(
                    trigger = trigger.as_str(),
                    generation = state.generation,
                    sha256 = %hex::encode(&state.live_digest),
                    duration_seconds = elapsed.as_secs_f64(),
                    "config reloaded from {}",
                    self.pipeline.path.display()
                );
                Ok(ReloadOutcome {
                    status: ReloadStatus::Applied,
                    generation: state.generation,
                    sha256: state.live_digest,
                    duration: called.elapsed(),
                })
            }
            Ok(None) => {
                state.last_failure = None;
                tracing::debug!(
                    trigger = trigger.as_str(),
                    "config file unchanged; nothing to reload"
                );
                Ok(ReloadOutcome {
                    status: ReloadStatus::Unchanged,
                    generation: state.generation,
                    sha256: state.live_digest,
                    duration: called.elapsed(),
                })
            }
            Err(err) => {
                self.metrics.heap_delta.set(mem.delta());
                let result = err.result();
                self.metrics.record(result, elapsed.as_secs_f64());
                let reason = err.chain();
                state.last_failure = Some((result, reason.clone()));
                tracing::warn!(
                    trigger = trigger.as_str(),
                    result = result.as_str(),
                    generation = state.generation,
                    "config reload failed, previous config kept: {reason}"
                );
                Err(err)
            }
        }
    }

    /// One attempt under the state lock: `Ok(Some(()))` applied, `Ok(None)` unchanged.
    fn attempt(&self, state: &mut State, started: Instant) -> Result<Option<()>, ReloadError> {
        let deadline = started + self.timeout;
        let pipeline = Arc::clone(&self.pipeline);
        let live = Some(state.live_digest);
        let expected = *self.expected.lock();
        let staged = run_bounded(deadline, self.timeout, move || {
            pipeline.stage(live, expected)
        })?;
        let (digest, value) = match staged {
            Staged::Unchanged => return Ok(None),
            Staged::Ready { digest, value } => (digest, Arc::new(value)),
        };
        let previous = self.cell.swap(Arc::clone(&value));
        if let Some(check) = self.pipeline.post_apply.clone() {
            let checked = run_bounded(deadline, self.timeout, move || {
                check(&value).map_err(|source| ReloadError::Rollback { source })
            });
            if let Err(e) = checked {
                self.cell.store(previous);
                return Err(match e {
                    ReloadError::Panicked(msg) => ReloadError::Rollback {
                        source: format!("post-apply check panicked: {msg}").into(),
                    },
                    other => other,
                });
            }
        }
        state.live_digest = digest;
        state.generation += 1;
        self.metrics.hash.set(hash53(&digest) as i64);
        self.generations.advance(state.generation);
        Ok(Some(()))
    }
}

impl<C: Send + Sync + 'static> Reload for Engine<C> {
    fn reload(&self, trigger: Trigger) -> Result<ReloadOutcome, ReloadError> {
        Engine::reload(self, trigger)
    }
}
