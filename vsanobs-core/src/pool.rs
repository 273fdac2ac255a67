//! [`SamplePool`]: a bounded, lock-free, multi-producer multi-consumer ring of fixed-size
//! [`TimestampedSample`]s that drops the oldest sample when full.
//!
//! # Example
//!
//! ```
//! use vsanobs_core::pool::{PoolMetrics, SamplePool, TimestampedSample};
//! use vsanobs_core::{Format, Registry};
//!
//! let pool = SamplePool::new("ingest", 2)?;
//! assert_eq!(pool.push(TimestampedSample::new(1, 0.5, 1_000)), None);
//! assert_eq!(pool.push(TimestampedSample::new(2, 1.5, 2_000)), None);
//! // Full: the oldest sample is evicted, handed back and counted.
//! assert_eq!(
//!     pool.push(TimestampedSample::new(3, 2.5, 3_000)),
//!     Some(TimestampedSample::new(1, 0.5, 1_000))
//! );
//!
//! let mut batch = Vec::new();
//! assert_eq!(pool.drain(&mut batch, 10), 2);
//! assert_eq!(
//!     batch,
//!     [TimestampedSample::new(2, 1.5, 2_000), TimestampedSample::new(3, 2.5, 3_000)]
//! );
//!
//! let registry = Registry::new();
//! let metrics = PoolMetrics::new();
//! metrics.add(&pool);
//! registry.register_collector(metrics)?;
//! let text = registry.encode_to_string(Format::PrometheusText);
//! assert!(text.contains("vsanobs_pool_dropped_samples_total{pool=\"ingest\"} 1\n"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Where it is used
//! [`export::PoolPipeline`](crate::export::PoolPipeline) drains a pool into remote write at
//! the samples' own timestamps (the vSAN exporter's `--remote-write.url` pushes every vSAN
//! interval through one); a [`SeriesTable`](crate::export::SeriesTable) says what each
//! `series` id stands for.
//!
//! ## Design
//! The ring is the bounded queue of Dmitry Vyukov as crossbeam's `ArrayQueue` implements it:
//! `head` and `tail` are `{lap, index}` words on their own cache lines, and every slot carries
//! a stamp telling whether it holds the value of the current lap (readable) or is free for the
//! next one (writable). A producer claims a slot with one compare-and-swap on `tail`, writes
//! it, then publishes it with a release store of the stamp; a consumer claims with a CAS on
//! `head`. When the ring is full a producer evicts the oldest sample by moving `head` itself
//! (the same CAS a consumer would do), so producers and consumers never both own a slot.
//!
//! Because a [`TimestampedSample`] is three 64-bit words, the slot payload is stored in three
//! relaxed atomics instead of an `UnsafeCell`: the stamps order the accesses, and the module
//! contains no `unsafe` at all. The cost is nil on x86-64 and AArch64 (relaxed loads and stores
//! are plain moves), and loom can check the protocol including the payload.
//!
//! ## Guarantees
//! - [`push`](SamplePool::push) never allocates and never takes a lock. It completes in a
//!   bounded number of its own steps unless another thread was pre-empted between claiming a
//!   slot and publishing it; it then spins and yields (as `ArrayQueue` does) until that thread
//!   runs again. It never waits for a consumer.
//! - When full, the oldest sample is dropped (returned from `push` and counted in
//!   `vsanobs_pool_dropped_samples_total{pool}`); the newest `capacity` samples are kept.
//! - Every pushed sample is either drained exactly once or counted as dropped exactly once.
//! - Samples of one producer are drained in the order it pushed them.
//!
//! ## Checking
//! The protocol is model-checked with loom (every interleaving of push, pop, drain and
//! eviction within a preemption bound of 3, payloads checked for tearing):
//! `RUSTFLAGS="--cfg loom" cargo test -p vsanobs-core --test loom_pool --release`.
//! There is no `unsafe` code to run under miri (`#![forbid(unsafe_code)]`).
//!
//! ## Note
//! Measured by `cargo bench -p vsanobs-benches --bench pool` on the 2-core CI machine under
//! load (medians; full table and peers in `docs/benchmarks.md`, section "Sample pool"):
//!
//! | case | `SamplePool` | crossbeam `ArrayQueue` |
//! |---|---|---|
//! | push 256 + drain 256, one thread | 4.1 µs | 7.9 µs |
//! | push into a full ring (drop-oldest) | 15 ns | 36 ns (`force_push`) |
//! | 2 producers + 1 draining consumer | 36 M samples/s | 26 M samples/s |
//!
//! The counting-allocator test `tests/pool_alloc.rs` checks that a push allocates nothing.

// The slot payload lives in atomics, so this module needs no `unsafe` at all; keep it so.
#![forbid(unsafe_code)]

use std::fmt;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::clock;
use crate::model::{MetricDesc, MetricFamily, MetricKind, Number, Sample, Value};
use crate::registry::{CollectError, Collector, FamilySink};
use crate::sync::{AtomicU64, AtomicUsize, Backoff, Ordering, fence};

/// The metric families [`PoolMetrics`] exports.
pub const POOL_METRICS: &[MetricDesc] = &[
    MetricDesc {
        name: "vsanobs_pool_dropped_samples_total",
        kind: MetricKind::Counter,
        help: "Samples evicted from a full sample pool (the oldest sample is dropped).",
        unit: None,
        labels: &["pool"],
    },
    MetricDesc {
        name: "vsanobs_pool_samples",
        kind: MetricKind::Gauge,
        help: "Samples waiting in a sample pool.",
        unit: None,
        labels: &["pool"],
    },
    MetricDesc {
        name: "vsanobs_pool_capacity",
        kind: MetricKind::Gauge,
        help: "Capacity of a sample pool in samples.",
        unit: None,
        labels: &["pool"],
    },
];

/// One raw sample: a series key chosen by the producer, a value and a timestamp.
///
/// `Copy`, 24 bytes, no heap: what a hot loop can afford to record. (Not to be confused with
/// [`model::Sample`](crate::model::Sample), one labelled series of an owned family snapshot.)
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct TimestampedSample {
    /// The series this value belongs to (an id the producer maps to a name and labels).
    pub series: u64,
    /// The value.
    pub value: f64,
    /// Milliseconds since the Unix epoch.
    pub timestamp_ms: i64,
}

impl TimestampedSample {
    /// A sample with an explicit timestamp (milliseconds since the Unix epoch).
    pub const fn new(series: u64, value: f64, timestamp_ms: i64) -> Self {
        TimestampedSample {
            series,
            value,
            timestamp_ms,
        }
    }

    /// A sample stamped with the current wall-clock time.
    pub fn now(series: u64, value: f64) -> Self {
        TimestampedSample::new(series, value, clock::unix_millis())
    }
}

/// Why a pool could not be created.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PoolError {
    /// A pool must hold at least one sample.
    #[error("pool capacity must be at least 1")]
    ZeroCapacity,
    /// The capacity does not fit the `{lap, index}` encoding (more than `usize::MAX / 4`).
    #[error("pool capacity {capacity} is too large")]
    CapacityTooLarge {
        /// The requested capacity.
        capacity: usize,
    },
    /// The name is used as the `pool` label value and must not be empty.
    #[error("pool name must not be empty")]
    EmptyName,
}

#[repr(align(128))]
#[derive(Debug)]
struct Padded<T>(T);

#[derive(Debug)]
struct Slot {
    /// `tail + 1` once written in lap `tail`, `head + one_lap` once read.
    stamp: AtomicUsize,
    series: AtomicU64,
    value: AtomicU64,
    timestamp: AtomicU64,
}

impl Slot {
    #[inline]
    fn write(&self, s: TimestampedSample) {
        self.series.store(s.series, Ordering::Relaxed);
        self.value.store(s.value.to_bits(), Ordering::Relaxed);
        self.timestamp
            .store(s.timestamp_ms as u64, Ordering::Relaxed);
    }
    #[inline]
    fn read(&self) -> TimestampedSample {
        TimestampedSample {
            series: self.series.load(Ordering::Relaxed),
            value: f64::from_bits(self.value.load(Ordering::Relaxed)),
            timestamp_ms: self.timestamp.load(Ordering::Relaxed) as i64,
        }
    }
}

struct Inner {
    head: Padded<AtomicUsize>,
    tail: Padded<AtomicUsize>,
    dropped: Padded<AtomicU64>,
    slots: Box<[Slot]>,
    cap: usize,
    one_lap: usize,
    name: String,
}

/// A bounded lock-free ring of [`TimestampedSample`]s; see the [module docs](self). Cloning
/// shares it.
#[derive(Clone)]
pub struct SamplePool {
    inner: Arc<Inner>,
}

impl fmt::Debug for SamplePool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SamplePool")
            .field("name", &self.inner.name)
            .field("capacity", &self.inner.cap)
            .field("len", &self.len())
            .field("dropped", &self.dropped())
            .finish()
    }
}

impl SamplePool {
    /// A pool called `name` (its `pool` label) holding up to `capacity` samples. The ring is
    /// allocated here, once.
    ///
    /// # Errors
    /// [`PoolError::ZeroCapacity`], [`PoolError::CapacityTooLarge`], [`PoolError::EmptyName`].
    pub fn new(name: impl Into<String>, capacity: usize) -> Result<Self, PoolError> {
        let name = name.into();
        if name.is_empty() {
            return Err(PoolError::EmptyName);
        }
        if capacity == 0 {
            return Err(PoolError::ZeroCapacity);
        }
        let one_lap = capacity
            .checked_add(1)
            .and_then(usize::checked_next_power_of_two)
            .filter(|l| *l <= usize::MAX / 4)
            .ok_or(PoolError::CapacityTooLarge { capacity })?;
        let slots = (0..capacity)
            .map(|i| Slot {
                stamp: AtomicUsize::new(i),
                series: AtomicU64::new(0),
                value: AtomicU64::new(0),
                timestamp: AtomicU64::new(0),
            })
            .collect();
        Ok(SamplePool {
            inner: Arc::new(Inner {
                head: Padded(AtomicUsize::new(0)),
                tail: Padded(AtomicUsize::new(0)),
                dropped: Padded(AtomicU64::new(0)),
                slots,
                cap: capacity,
                one_lap,
                name,
            }),
        })
    }

    /// The pool's name (its `pool` label value).
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// How many samples it holds at most.
    pub fn capacity(&self) -> usize {
        self.inner.cap
    }

    /// Samples evicted so far because the pool was full.
    pub fn dropped(&self) -> u64 {
        self.inner.dropped.0.load(Ordering::Relaxed)
    }

    /// Adds a sample. Never blocks on a consumer, never allocates. When the pool is full the
    /// oldest sample is evicted, counted, and returned.
    #[inline]
    pub fn push(&self, sample: TimestampedSample) -> Option<TimestampedSample> {
        match self.push_inner(sample, true) {
            Ok(evicted) => evicted,
            // Unreachable with `evict = true`; report the sample as not kept.
            Err(s) => Some(s),
        }
    }

    /// Adds a sample only if there is room; a full pool hands it back (nothing is evicted
    /// or counted). For producers that prefer back-pressure to losing old samples.
    ///
    /// # Errors
    /// The sample itself when the pool is full.
    #[inline]
    pub fn try_push(&self, sample: TimestampedSample) -> Result<(), TimestampedSample> {
        self.push_inner(sample, false).map(drop)
    }

    #[inline]
    fn push_inner(
        &self,
        sample: TimestampedSample,
        evict: bool,
    ) -> Result<Option<TimestampedSample>, TimestampedSample> {
        let inner = &*self.inner;
        let mut backoff = Backoff::new();
        let mut tail = inner.tail.0.load(Ordering::Relaxed);
        loop {
            let index = tail & (inner.one_lap - 1);
            let lap = tail & !(inner.one_lap - 1);
            let new_tail = if index + 1 < inner.cap {
                tail + 1
            } else {
                lap.wrapping_add(inner.one_lap)
            };
            let Some(slot) = inner.slots.get(index) else {
                // Unreachable: `index < cap` by construction of the `{lap, index}` words.
                return Err(sample);
            };
            let stamp = slot.stamp.load(Ordering::Acquire);
            if tail == stamp {
                // The slot is free for this lap: claim it by moving the tail.
                match inner.tail.0.compare_exchange_weak(
                    tail,
                    new_tail,
                    Ordering::SeqCst,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {
                        slot.write(sample);
                        slot.stamp.store(tail + 1, Ordering::Release);
                        return Ok(None);
                    }
                    Err(t) => {
                        tail = t;
                        backoff.spin();
                    }
                }
            } else if stamp.wrapping_add(inner.one_lap) == tail + 1 {
                // The slot still holds the previous lap's value: the ring may be full.
                fence(Ordering::SeqCst);
                if !evict {
                    let head = inner.head.0.load(Ordering::Relaxed);
                    if head.wrapping_add(inner.one_lap) == tail {
                        return Err(sample);
                    }
                    backoff.spin();
                    tail = inner.tail.0.load(Ordering::Relaxed);
                    continue;
                }
                let head = tail.wrapping_sub(inner.one_lap);
                let new_head = new_tail.wrapping_sub(inner.one_lap);
                // Evict the oldest sample by moving the head past it, exactly as a consumer
                // would. Winning this CAS gives us the slot: no consumer can claim it, and
                // other producers see the old stamp and fail the same CAS.
                if inner
                    .head
                    .0
                    .compare_exchange_weak(head, new_head, Ordering::SeqCst, Ordering::Relaxed)
                    .is_ok()
                {
                    inner.tail.0.store(new_tail, Ordering::SeqCst);
                    let old = slot.read();
                    slot.write(sample);
                    slot.stamp.store(tail + 1, Ordering::Release);
                    inner.dropped.0.fetch_add(1, Ordering::Relaxed);
                    return Ok(Some(old));
                }
                backoff.spin();
                tail = inner.tail.0.load(Ordering::Relaxed);
            } else {
                // Another thread claimed this slot and has not published it yet.
                backoff.snooze();
                tail = inner.tail.0.load(Ordering::Relaxed);
            }
        }
    }

    /// Removes the oldest sample, if any.
    #[inline]
    pub fn pop(&self) -> Option<TimestampedSample> {
        let inner = &*self.inner;
        let mut backoff = Backoff::new();
        let mut head = inner.head.0.load(Ordering::Relaxed);
        loop {
            let index = head & (inner.one_lap - 1);
            let lap = head & !(inner.one_lap - 1);
            let slot = inner.slots.get(index)?;
            let stamp = slot.stamp.load(Ordering::Acquire);
            if head + 1 == stamp {
                let new_head = if index + 1 < inner.cap {
                    head + 1
                } else {
                    lap.wrapping_add(inner.one_lap)
                };
                match inner.head.0.compare_exchange_weak(
                    head,
                    new_head,
                    Ordering::SeqCst,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {
                        let s = slot.read();
                        slot.stamp
                            .store(head.wrapping_add(inner.one_lap), Ordering::Release);
                        return Some(s);
                    }
                    Err(h) => {
                        head = h;
                        backoff.spin();
                    }
                }
            } else if stamp == head {
                fence(Ordering::SeqCst);
                let tail = inner.tail.0.load(Ordering::Relaxed);
                if tail == head {
                    return None;
                }
                backoff.spin();
                head = inner.head.0.load(Ordering::Relaxed);
            } else {
                backoff.snooze();
                head = inner.head.0.load(Ordering::Relaxed);
            }
        }
    }

    /// Moves up to `max` of the oldest samples into `out` (appending, oldest first) and
    /// returns how many it moved. Several consumers may drain at once; each sample goes to
    /// exactly one of them.
    pub fn drain(&self, out: &mut Vec<TimestampedSample>, max: usize) -> usize {
        let want = max.min(self.len());
        out.reserve(want);
        let mut n = 0;
        while n < max {
            match self.pop() {
                Some(s) => {
                    out.push(s);
                    n += 1;
                }
                None => break,
            }
        }
        n
    }

    /// Samples currently waiting (a snapshot; producers and consumers may change it at once).
    pub fn len(&self) -> usize {
        let inner = &*self.inner;
        loop {
            let tail = inner.tail.0.load(Ordering::SeqCst);
            let head = inner.head.0.load(Ordering::SeqCst);
            if inner.tail.0.load(Ordering::SeqCst) == tail {
                let hix = head & (inner.one_lap - 1);
                let tix = tail & (inner.one_lap - 1);
                return if hix < tix {
                    tix - hix
                } else if hix > tix {
                    inner.cap - hix + tix
                } else if tail == head {
                    0
                } else {
                    inner.cap
                };
            }
            #[cfg(loom)]
            loom::thread::yield_now();
        }
    }

    /// Whether no sample is waiting (a snapshot).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A [`Collector`] exporting the self-metrics of any number of pools
/// ([`POOL_METRICS`]): dropped samples, samples waiting, capacity, each by `pool`.
///
/// One `PoolMetrics` per registry; [`add`](Self::add) pools to it at any time.
#[derive(Clone, Debug, Default)]
pub struct PoolMetrics {
    pools: Arc<Mutex<Vec<SamplePool>>>,
}

impl PoolMetrics {
    /// A collector with no pools yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a pool (a shared handle). A pool whose name is already present is not added
    /// twice; returns whether it was added.
    pub fn add(&self, pool: &SamplePool) -> bool {
        let mut pools = self.pools.lock();
        if pools.iter().any(|p| p.name() == pool.name()) {
            return false;
        }
        pools.push(pool.clone());
        true
    }
}

impl Collector for PoolMetrics {
    fn name(&self) -> &str {
        "vsanobs_pool"
    }

    fn collect_into(&self, sink: &mut FamilySink<'_>) -> Result<(), CollectError> {
        let pools = self.pools.lock().clone();
        if pools.is_empty() {
            return Ok(());
        }
        let [dropped, waiting, capacity] = POOL_METRICS else {
            return Err(CollectError::new("pool metric table changed"));
        };
        let mut d = MetricFamily::new(dropped.base_name(), dropped.help, dropped.kind);
        let mut w = MetricFamily::new(waiting.name, waiting.help, waiting.kind);
        let mut c = MetricFamily::new(capacity.name, capacity.help, capacity.kind);
        for p in &pools {
            d.push(Sample::counter_int(p.dropped()).with_label("pool", p.name()));
            w.push(
                Sample::gauge_int(i64::try_from(p.len()).unwrap_or(i64::MAX))
                    .with_label("pool", p.name()),
            );
            c.push(Sample {
                labels: vec![("pool".to_owned(), p.name().to_owned())],
                value: Value::Gauge(Number::Int(i64::try_from(p.capacity()).unwrap_or(i64::MAX))),
            });
        }
        for fam in [d, w, c] {
            sink.push(fam);
        }
        Ok(())
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn pool_rejects_bad_config() {
        assert_eq!(
            SamplePool::new("p", 0).unwrap_err(),
            PoolError::ZeroCapacity
        );
        assert_eq!(SamplePool::new("", 4).unwrap_err(), PoolError::EmptyName);
        assert!(matches!(
            SamplePool::new("p", usize::MAX),
            Err(PoolError::CapacityTooLarge { .. })
        ));
    }

    #[test]
    fn pool_fifo_and_len() {
        let p = SamplePool::new("p", 3).unwrap();
        assert!(p.is_empty());
        for i in 0..3 {
            assert_eq!(p.push(TimestampedSample::new(i, i as f64, i as i64)), None);
        }
        assert_eq!(p.len(), 3);
        assert_eq!(p.pop(), Some(TimestampedSample::new(0, 0.0, 0)));
        assert_eq!(p.len(), 2);
        assert_eq!(p.push(TimestampedSample::new(3, 3.0, 3)), None);
        let mut v = Vec::new();
        assert_eq!(p.drain(&mut v, 2), 2);
        assert_eq!(v.iter().map(|s| s.series).collect::<Vec<_>>(), [1, 2]);
        assert_eq!(p.drain(&mut v, 10), 1);
        assert_eq!(v.last().map(|s| s.series), Some(3));
        assert_eq!(p.pop(), None);
        assert_eq!(p.dropped(), 0);
    }

    #[test]
    fn pool_overflow_keeps_newest_over_many_laps() {
        for cap in [1, 2, 3, 4, 7, 8] {
            let p = SamplePool::new("p", cap).unwrap();
            let n = (cap * 5 + 3) as u64;
            let mut evicted = Vec::new();
            for i in 0..n {
                if let Some(old) = p.push(TimestampedSample::new(i, -(i as f64), i as i64)) {
                    evicted.push(old.series);
                }
            }
            assert_eq!(p.dropped(), n - cap as u64, "cap {cap}");
            assert_eq!(evicted, (0..n - cap as u64).collect::<Vec<_>>());
            assert_eq!(p.len(), cap);
            let mut v = Vec::new();
            p.drain(&mut v, usize::MAX);
            let want: Vec<TimestampedSample> = (n - cap as u64..n)
                .map(|i| TimestampedSample::new(i, -(i as f64), i as i64))
                .collect();
            assert_eq!(v, want, "cap {cap}");
        }
    }

    #[test]
    fn pool_try_push_refuses_when_full() {
        let p = SamplePool::new("p", 2).unwrap();
        assert_eq!(p.try_push(TimestampedSample::new(1, 1.0, 1)), Ok(()));
        assert_eq!(p.try_push(TimestampedSample::new(2, 2.0, 2)), Ok(()));
        assert_eq!(
            p.try_push(TimestampedSample::new(3, 3.0, 3)),
            Err(TimestampedSample::new(3, 3.0, 3))
        );
        assert_eq!(p.dropped(), 0);
        assert_eq!(p.pop().map(|s| s.series), Some(1));
        assert_eq!(p.try_push(TimestampedSample::new(3, 3.0, 3)), Ok(()));
        let mut v = Vec::new();
        p.drain(&mut v, 10);
        assert_eq!(v.iter().map(|s| s.series).collect::<Vec<_>>(), [2, 3]);
    }

    #[test]
    fn pool_preserves_payload_bits() {
        let p = SamplePool::new("p", 4).unwrap();
        for v in [f64::NAN, f64::INFINITY, -0.0, f64::MIN_POSITIVE] {
            p.push(TimestampedSample::new(u64::MAX, v, i64::MIN));
            let got = p.pop().unwrap();
            assert_eq!(got.value.to_bits(), v.to_bits());
            assert_eq!(got.series, u64::MAX);
            assert_eq!(got.timestamp_ms, i64::MIN);
        }
    }

    #[test]
    fn pool_is_send_sync() {
        fn check<T: Send + Sync + Clone + 'static>() {}
        check::<SamplePool>();
        check::<PoolMetrics>();
    }
}
