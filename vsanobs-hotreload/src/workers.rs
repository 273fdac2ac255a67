//! Config generations and the workers that belong to them: a guard per worker, a cancellation
//! signal when the generation is replaced, and a leak report after a grace period.
//!
//! # Example
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use vsanobs_hotreload::{ConfigFormat, ReloadManager};
//!
//! #[derive(serde::Deserialize)]
//! struct Cfg { workers: u32 }
//!
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("app.json");
//! std::fs::write(&path, r#"{"workers": 2}"#)?;
//! let manager = ReloadManager::<Cfg>::builder(&path).format(ConfigFormat::Json).watch(false).build()?;
//!
//! let guard = manager.worker();
//! assert_eq!(guard.generation(), 1);
//! assert!(!guard.is_cancelled());
//!
//! std::fs::write(&path, r#"{"workers": 3}"#)?;
//! manager.reload()?;
//! // The old generation was told to stop; a worker of the new one is not.
//! assert!(guard.wait_cancelled(Duration::from_secs(5)));
//! assert!(!manager.worker().is_cancelled());
//! # Ok(()) }
//! ```
//!
//! ## Note
//! A guard costs one allocation-free atomic increment on creation and one decrement on drop.
//! Checking for cancellation is one atomic load.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use vsanobs_core::Gauge;

/// One config generation: its id, its cancellation flag and its live workers.
pub(crate) struct GenState {
    id: u64,
    cancelled: AtomicBool,
    live: AtomicUsize,
    wait: Mutex<Vec<Waker>>,
    cv: Condvar,
}

impl GenState {
    fn new(id: u64) -> Arc<Self> {
        Arc::new(GenState {
            id,
            cancelled: AtomicBool::new(false),
            live: AtomicUsize::new(0),
            wait: Mutex::new(Vec::new()),
            cv: Condvar::new(),
        })
    }

    fn cancel(&self) {
        self.cancelled.store(true, Ordering::Release);
        let wakers = match self.wait.lock() {
            Ok(mut w) => std::mem::take(&mut *w),
            Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
        };
        self.cv.notify_all();
        for w in wakers {
            w.wake();
        }
    }
}

/// The generation list of one manager.
pub(crate) struct Generations {
    current: parking_lot::Mutex<Arc<GenState>>,
    gauge: Gauge,
    stale: Arc<AtomicU64>,
    grace: Duration,
}

impl fmt::Debug for Generations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Generations")
            .field("current", &self.current.lock().id)
            .field("active_workers", &self.gauge.get())
            .field("stale_workers", &self.stale.load(Ordering::Relaxed))
            .finish()
    }
}

impl Generations {
    pub(crate) fn new(gauge: Gauge, grace: Duration) -> Self {
        Generations {
            current: parking_lot::Mutex::new(GenState::new(1)),
            gauge,
            stale: Arc::new(AtomicU64::new(0)),
            grace,
        }
    }

    pub(crate) fn stale(&self) -> u64 {
        self.stale.load(Ordering::Relaxed)
    }

    pub(crate) fn guard(&self) -> WorkerGuard {
        let generation = self.current.lock().clone();
        generation.live.fetch_add(1, Ordering::AcqRel);
        self.gauge.inc();
        WorkerGuard {
            generation,
            gauge: self.gauge.clone(),
        }
    }

    /// Starts generation `id`, cancels the previous one and, when it still has workers, checks
    /// on them after the grace period.
    pub(crate) fn advance(&self, id: u64) {
        let old = std::mem::replace(&mut *self.current.lock(), GenState::new(id));
        old.cancel();
        if old.live.load(Ordering::Acquire) == 0 {
            return;
        }
        let weak: Weak<GenState> = Arc::downgrade(&old);
        drop(old);
        let stale = Arc::clone(&self.stale);
        let grace = self.grace;
        let spawned = std::thread::Builder::new()
            .name("hot-reload-grace".into())
            .spawn(move || check_after_grace(weak, grace, &stale));
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "cannot start the worker grace-period check");
        }
    }
}

fn check_after_grace(weak: Weak<GenState>, grace: Duration, stale: &AtomicU64) {
    let deadline = Instant::now() + grace;
    loop {
        let Some(generation) = weak.upgrade() else {
            return;
        };
        if generation.live.load(Ordering::Acquire) == 0 {
            return;
        }
        let now = Instant::now();
        if now >= deadline {
            let live = generation.live.load(Ordering::Acquire);
            stale.fetch_add(live as u64, Ordering::Relaxed);
            tracing::warn!(
                generation = generation.id,
                workers = live,
                grace_seconds = grace.as_secs_f64(),
                "{live} worker(s) of replaced config generation {} still alive after the grace period",
                generation.id
            );
            return;
        }
        drop(generation);
        std::thread::sleep((deadline - now).min(Duration::from_millis(100)));
    }
}

/// Held by a worker (thread or task) started for one config generation. While it lives, the
/// worker counts in `hot_reload_active_workers`; when the generation is replaced the guard
/// reports cancellation, and a guard still alive a grace period later is logged and counted
/// as stale ([`ReloadManager::stale_workers`](crate::ReloadManager::stale_workers)).
pub struct WorkerGuard {
    generation: Arc<GenState>,
    gauge: Gauge,
}

impl fmt::Debug for WorkerGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkerGuard")
            .field("generation", &self.generation.id)
            .field("cancelled", &self.is_cancelled())
            .finish()
    }
}

impl WorkerGuard {
    /// The generation this worker belongs to (1 for the initial config).
    pub fn generation(&self) -> u64 {
        self.generation.id
    }

    /// True once the generation was replaced: the worker should finish up and drop the guard.
    pub fn is_cancelled(&self) -> bool {
        self.generation.cancelled.load(Ordering::Acquire)
    }

    /// Blocks until the generation is cancelled or `timeout` passes; true when cancelled.
    pub fn wait_cancelled(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut lock = match self.generation.wait.lock() {
            Ok(l) => l,
            Err(p) => p.into_inner(),
        };
        while !self.is_cancelled() {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            lock = match self.generation.cv.wait_timeout(lock, deadline - now) {
                Ok((l, _)) => l,
                Err(p) => p.into_inner().0,
            };
        }
        true
    }

    /// A future that resolves when the generation is cancelled (for async workers).
    pub fn cancelled(&self) -> Cancelled<'_> {
        Cancelled { guard: self }
    }
}

impl Drop for WorkerGuard {
    fn drop(&mut self) {
        self.generation.live.fetch_sub(1, Ordering::AcqRel);
        self.gauge.dec();
    }
}

/// Future returned by [`WorkerGuard::cancelled`].
#[derive(Debug)]
#[must_use = "futures do nothing unless polled"]
pub struct Cancelled<'a> {
    guard: &'a WorkerGuard,
}

impl Future for Cancelled<'_> {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.guard.is_cancelled() {
            return Poll::Ready(());
        }
        let mut wakers = match self.guard.generation.wait.lock() {
            Ok(l) => l,
            Err(p) => p.into_inner(),
        };
        // Re-check under the lock: `cancel` takes the list under the same lock after setting
        // the flag, so a waker pushed here is either woken or sees the flag.
        if self.guard.is_cancelled() {
            return Poll::Ready(());
        }
        if !wakers.iter().any(|w| w.will_wake(cx.waker())) {
            wakers.push(cx.waker().clone());
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guards_count_and_cancel() {
        let gauge = Gauge::default();
        let g = Generations::new(gauge.clone(), Duration::from_millis(50));
        let a = g.guard();
        let b = g.guard();
        assert_eq!(gauge.get(), 2);
        drop(b);
        assert_eq!(gauge.get(), 1);
        g.advance(2);
        assert!(a.is_cancelled());
        assert!(!g.guard().is_cancelled());
        // `a` outlives the grace period: counted as stale.
        let deadline = Instant::now() + Duration::from_secs(20);
        while g.stale() == 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(g.stale(), 1);
        drop(a);
        assert_eq!(gauge.get(), 0);
    }

    #[test]
    fn worker_that_stops_in_time_is_not_stale() {
        let g = Generations::new(Gauge::default(), Duration::from_millis(200));
        let a = g.guard();
        let t = std::thread::spawn(move || {
            assert!(a.wait_cancelled(Duration::from_secs(20)));
        });
        g.advance(2);
        t.join().unwrap();
        std::thread::sleep(Duration::from_millis(400));
        assert_eq!(g.stale(), 0);
    }
}
