//! Heap accounting: [`CountingAlloc`], a global-allocator wrapper that counts heap in use,
//! allocations, frees and bytes allocated; [`HeapSnapshot`] deltas around an event; and
//! [`HeapCollector`], which exports the counts as `process_heap_*`.
//!
//! # Example
//!
//! ```
//! use std::alloc::System;
//! use vsanobs_core::alloc::{CountingAlloc, HeapCollector, HeapSnapshot};
//! use vsanobs_core::{Format, Registry};
//!
//! #[global_allocator]
//! static GLOBAL: CountingAlloc<System> = CountingAlloc::new(System);
//!
//! let before = HeapSnapshot::now();
//! let kept: Vec<u8> = Vec::with_capacity(4096);
//! let delta = before.delta_to(&HeapSnapshot::now());
//! assert_eq!(delta.bytes, 4096);
//! assert_eq!(delta.allocations, 1);
//! assert_eq!(delta.frees, 0);
//! drop(kept);
//!
//! let registry = Registry::new();
//! registry.register_collector(HeapCollector::new()).unwrap();
//! let text = registry.encode_to_string(Format::PrometheusText);
//! assert!(text.contains("# TYPE process_heap_inuse_bytes gauge\n"));
//! assert!(text.contains("vsanobs_scrape_collector_success{collector=\"heap\"} 1\n"));
//! ```
//!
//! ## Note
//! Counting costs a few plain loads and stores per allocation, not atomic read-modify-writes:
//! each thread owns one of [`THREAD_SLOTS`] cache-line-sized slots of cumulative counters
//! and updates it with relaxed load + store (it is the only writer). A thread gives its slot
//! back when it exits (through a pthread key destructor); its totals stay in the slot, so the
//! next owner keeps adding to them and the sums stay right. Threads beyond the slot count,
//! threads that are exiting, and platforms without per-thread slots (everything but Linux,
//! Android, macOS and FreeBSD) share one slot updated with relaxed `fetch_add`. Readers sum
//! every slot: a snapshot taken while other threads allocate is a consistent count for each
//! thread, not a single instant across threads. Measured overhead against plain `System`
//! is in `docs/benchmarks.md` ("Process and heap").
//!
//! The counters are process-wide: every `CountingAlloc` instance adds to the same totals, so
//! install one as the `#[global_allocator]` and use the free functions to read them.
//!
//! With the `jemalloc` feature, wrap jemalloc instead (`CountingAlloc<Jemalloc>`) and add
//! `JemallocCollector` for jemalloc's own statistics ([`JEMALLOC_METRICS`]: active, mapped,
//! retained and resident pages, which the counting wrapper cannot see).

use std::alloc::{GlobalAlloc, Layout};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

use crate::model::{MetricDesc, MetricFamily, MetricKind, Number, Sample, Value};
use crate::registry::{CollectError, Collector, FamilySink};

/// How many threads can own a private counter slot at the same time; the others share one.
pub const THREAD_SLOTS: usize = 64;

/// One set of cumulative counters, alone on its cache lines.
#[repr(align(128))]
struct Slot {
    owned: AtomicBool,
    allocations: AtomicU64,
    frees: AtomicU64,
    allocated: AtomicU64,
    freed: AtomicU64,
}

impl Slot {
    const fn new() -> Self {
        Slot {
            owned: AtomicBool::new(false),
            allocations: AtomicU64::new(0),
            frees: AtomicU64::new(0),
            allocated: AtomicU64::new(0),
            freed: AtomicU64::new(0),
        }
    }

    /// Adds to a counter this thread alone writes: a plain load and store.
    #[inline(always)]
    fn bump_owned(c: &AtomicU64, n: u64) {
        c.store(c.load(Relaxed).wrapping_add(n), Relaxed);
    }

    #[inline(always)]
    fn record_alloc(&self, size: u64, owned: bool) {
        if owned {
            Self::bump_owned(&self.allocations, 1);
            Self::bump_owned(&self.allocated, size);
        } else {
            self.allocations.fetch_add(1, Relaxed);
            self.allocated.fetch_add(size, Relaxed);
        }
    }

    #[inline(always)]
    fn record_free(&self, size: u64, owned: bool) {
        if owned {
            Self::bump_owned(&self.frees, 1);
            Self::bump_owned(&self.freed, size);
        } else {
            self.frees.fetch_add(1, Relaxed);
            self.freed.fetch_add(size, Relaxed);
        }
    }
}

static SLOTS: [Slot; THREAD_SLOTS] = [const { Slot::new() }; THREAD_SLOTS];
static SHARED: Slot = Slot::new();
static INSTALLED: AtomicBool = AtomicBool::new(false);

#[cfg(any(
    target_os = "linux",
    target_os = "android",
    target_os = "macos",
    target_os = "freebsd"
))]
mod per_thread {
    //! Slot ownership: a const thread-local index (no destructor, so reading it never
    //! allocates) plus a pthread key whose destructor hands the slot back at thread exit.

    use std::cell::Cell;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::{INSTALLED, SHARED, SLOTS, Slot};

    const UNCLAIMED: usize = usize::MAX;
    const USE_SHARED: usize = usize::MAX - 1;

    thread_local! {
        static MY_SLOT: Cell<usize> = const { Cell::new(UNCLAIMED) };
    }

    const KEY_UNINIT: usize = 0;
    const KEY_BUSY: usize = 1;
    const KEY_FAILED: usize = 2;
    const KEY_BASE: usize = 3;
    static KEY: AtomicUsize = AtomicUsize::new(KEY_UNINIT);

    /// The slot this thread writes and whether it owns it.
    #[inline(always)]
    pub(super) fn slot() -> (&'static Slot, bool) {
        let idx = MY_SLOT.try_with(Cell::get).unwrap_or(USE_SHARED);
        match SLOTS.get(idx) {
            Some(s) => (s, true),
            None if idx == UNCLAIMED => claim(),
            None => (&SHARED, false),
        }
    }

    #[cold]
    fn claim() -> (&'static Slot, bool) {
        INSTALLED.store(true, Ordering::Relaxed);
        let Some(key) = key() else {
            return (&SHARED, false);
        };
        for (i, s) in SLOTS.iter().enumerate() {
            if s.owned
                .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
                .is_err()
            {
                continue;
            }
            // SAFETY: `key` came from a successful `pthread_key_create`; the value is a
            // small non-null integer, never dereferenced, only handed back to `release`.
            let rc = unsafe { libc::pthread_setspecific(key, (i + 1) as *const libc::c_void) };
            if rc != 0 {
                s.owned.store(false, Ordering::Release);
                break;
            }
            if MY_SLOT.try_with(|c| c.set(i)).is_err() {
                s.owned.store(false, Ordering::Release);
                break;
            }
            return (s, true);
        }
        let _ = MY_SLOT.try_with(|c| c.set(USE_SHARED));
        (&SHARED, false)
    }

    /// The process's pthread key, created on first use; `None` while another thread creates
    /// it (the caller uses the shared slot this once and tries again next time) or if
    /// creation failed.
    fn key() -> Option<libc::pthread_key_t> {
        match KEY.load(Ordering::Acquire) {
            KEY_FAILED => {
                let _ = MY_SLOT.try_with(|c| c.set(USE_SHARED));
                return None;
            }
            KEY_BUSY => return None,
            KEY_UNINIT => {}
            k => return Some((k - KEY_BASE) as libc::pthread_key_t),
        }
        if KEY
            .compare_exchange(KEY_UNINIT, KEY_BUSY, Ordering::Acquire, Ordering::Acquire)
            .is_err()
        {
            return None;
        }
        let mut key: libc::pthread_key_t = 0;
        // SAFETY: `key` is a valid out-pointer; `release` is an `extern "C"` function that
        // never unwinds.
        let rc = unsafe { libc::pthread_key_create(&mut key, Some(release)) };
        if rc != 0 {
            KEY.store(KEY_FAILED, Ordering::Release);
            return None;
        }
        KEY.store(key as usize + KEY_BASE, Ordering::Release);
        Some(key)
    }

    /// Runs at thread exit: the thread stops writing its slot, then gives it back. Its
    /// totals stay in the slot for the next owner to add to.
    extern "C" fn release(value: *mut libc::c_void) {
        let idx = (value as usize).wrapping_sub(1);
        let _ = MY_SLOT.try_with(|c| c.set(USE_SHARED));
        if let Some(s) = SLOTS.get(idx) {
            s.owned.store(false, Ordering::Release);
        }
    }
}

#[cfg(not(any(
    target_os = "linux",
    target_os = "android",
    target_os = "macos",
    target_os = "freebsd"
)))]
mod per_thread {
    //! Platforms without per-thread slots: every thread shares one slot.
    use super::{INSTALLED, SHARED, Slot};
    use std::sync::atomic::Ordering;

    #[inline(always)]
    pub(super) fn slot() -> (&'static Slot, bool) {
        if !INSTALLED.load(Ordering::Relaxed) {
            INSTALLED.store(true, Ordering::Relaxed);
        }
        (&SHARED, false)
    }
}

/// A [`GlobalAlloc`] that forwards to `A` (usually [`std::alloc::System`] or jemalloc) and
/// counts what it serves into the process-wide totals read by [`HeapSnapshot::now`] and
/// [`HeapCollector`].
///
/// A successful `realloc` counts as one free of the old size and one allocation of the new
/// size; failed allocations are not counted.
///
/// # Example
///
/// ```
/// use std::alloc::System;
/// use vsanobs_core::alloc::{CountingAlloc, is_installed};
///
/// #[global_allocator]
/// static GLOBAL: CountingAlloc<System> = CountingAlloc::new(System);
///
/// let v = vec![1u8; 10];
/// assert!(is_installed());
/// # drop(v);
/// ```
#[derive(Debug, Default, Clone, Copy)]
pub struct CountingAlloc<A> {
    inner: A,
}

impl<A: GlobalAlloc> CountingAlloc<A> {
    /// Wraps `inner`.
    pub const fn new(inner: A) -> Self {
        CountingAlloc { inner }
    }

    /// The wrapped allocator.
    pub const fn inner(&self) -> &A {
        &self.inner
    }
}

#[allow(unsafe_code)]
// SAFETY: every method forwards to `inner` with the caller's arguments unchanged and only
// adds counting, which neither allocates nor unwinds; the layout contract is `inner`'s.
unsafe impl<A: GlobalAlloc> GlobalAlloc for CountingAlloc<A> {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged; the caller upholds `GlobalAlloc::alloc`'s contract.
        let p = unsafe { self.inner.alloc(layout) };
        if !p.is_null() {
            let (s, owned) = per_thread::slot();
            s.record_alloc(layout.size() as u64, owned);
        }
        p
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged; the caller upholds `GlobalAlloc::alloc_zeroed`'s contract.
        let p = unsafe { self.inner.alloc_zeroed(layout) };
        if !p.is_null() {
            let (s, owned) = per_thread::slot();
            s.record_alloc(layout.size() as u64, owned);
        }
        p
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged; the caller upholds `GlobalAlloc::dealloc`'s contract.
        unsafe { self.inner.dealloc(ptr, layout) };
        let (s, owned) = per_thread::slot();
        s.record_free(layout.size() as u64, owned);
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded unchanged; the caller upholds `GlobalAlloc::realloc`'s contract.
        let p = unsafe { self.inner.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            let (s, owned) = per_thread::slot();
            s.record_free(layout.size() as u64, owned);
            s.record_alloc(new_size as u64, owned);
        }
        p
    }
}

/// Whether a [`CountingAlloc`] has served an allocation in this process, that is, whether
/// the heap counters mean anything. When it is `false`, fall back to resident memory.
pub fn is_installed() -> bool {
    INSTALLED.load(Relaxed)
}

/// The process-wide heap totals at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HeapSnapshot {
    allocations: u64,
    frees: u64,
    allocated_bytes: u64,
    freed_bytes: u64,
}

impl HeapSnapshot {
    /// Reads the totals now (all zero when no [`CountingAlloc`] is installed).
    pub fn now() -> Self {
        let mut s = HeapSnapshot::default();
        for slot in SLOTS.iter().chain(std::iter::once(&SHARED)) {
            s.allocations = s.allocations.wrapping_add(slot.allocations.load(Relaxed));
            s.frees = s.frees.wrapping_add(slot.frees.load(Relaxed));
            s.allocated_bytes = s.allocated_bytes.wrapping_add(slot.allocated.load(Relaxed));
            s.freed_bytes = s.freed_bytes.wrapping_add(slot.freed.load(Relaxed));
        }
        s
    }

    /// Bytes allocated and not yet freed.
    pub fn inuse_bytes(&self) -> u64 {
        self.allocated_bytes.saturating_sub(self.freed_bytes)
    }

    /// Allocations served so far (including the new block of each `realloc`).
    pub fn allocations(&self) -> u64 {
        self.allocations
    }

    /// Frees so far (including the old block of each `realloc`).
    pub fn frees(&self) -> u64 {
        self.frees
    }

    /// Bytes allocated so far, freed or not.
    pub fn allocated_bytes(&self) -> u64 {
        self.allocated_bytes
    }

    /// Bytes freed so far.
    pub fn freed_bytes(&self) -> u64 {
        self.freed_bytes
    }

    /// What changed from `self` to `later`: heap in use (may be negative), allocations and
    /// frees.
    pub fn delta_to(&self, later: &HeapSnapshot) -> HeapDelta {
        let inuse = |s: &HeapSnapshot| s.allocated_bytes.wrapping_sub(s.freed_bytes) as i64;
        HeapDelta {
            bytes: inuse(later).wrapping_sub(inuse(self)),
            allocations: later.allocations.wrapping_sub(self.allocations) as i64,
            frees: later.frees.wrapping_sub(self.frees) as i64,
        }
    }
}

/// The difference between two [`HeapSnapshot`]s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HeapDelta {
    /// Change in heap bytes in use (negative when the heap shrank).
    pub bytes: i64,
    /// Allocations made in between.
    pub allocations: i64,
    /// Frees made in between.
    pub frees: i64,
}

/// The families [`HeapCollector`] exports.
pub const HEAP_METRICS: &[MetricDesc] = &[
    MetricDesc {
        name: "process_heap_inuse_bytes",
        kind: MetricKind::Gauge,
        help: "Heap bytes allocated through the counting allocator and not yet freed.",
        unit: Some("bytes"),
        labels: &[],
    },
    MetricDesc {
        name: "process_heap_allocations_total",
        kind: MetricKind::Counter,
        help: "Total number of heap allocations served by the counting allocator.",
        unit: None,
        labels: &[],
    },
    MetricDesc {
        name: "process_heap_frees_total",
        kind: MetricKind::Counter,
        help: "Total number of heap frees seen by the counting allocator.",
        unit: None,
        labels: &[],
    },
    MetricDesc {
        name: "process_heap_allocated_bytes_total",
        kind: MetricKind::Counter,
        help: "Total heap bytes allocated through the counting allocator, even if freed.",
        unit: Some("bytes"),
        labels: &[],
    },
];

pub(crate) fn family(desc: &MetricDesc, value: Value) -> MetricFamily {
    let mut f = MetricFamily::new(desc.base_name(), desc.help, desc.kind);
    if let Some(u) = desc.unit {
        f = f.with_unit(u);
    }
    f.with_sample(Sample {
        labels: Vec::new(),
        value,
    })
}

pub(crate) fn counter_value(v: Number) -> Value {
    Value::Counter {
        value: v,
        exemplar: None,
    }
}

/// Exports the [`CountingAlloc`] totals as [`HEAP_METRICS`]. When no counting allocator is
/// installed it exports nothing and reports an error, so
/// `vsanobs_scrape_collector_success{collector="heap"}` reads 0.
#[derive(Debug, Default, Clone, Copy)]
pub struct HeapCollector {
    _private: (),
}

impl HeapCollector {
    /// A collector reading the process-wide totals.
    pub fn new() -> Self {
        HeapCollector { _private: () }
    }
}

impl Collector for HeapCollector {
    fn name(&self) -> &str {
        "heap"
    }

    fn collect_into(&self, sink: &mut FamilySink<'_>) -> Result<(), CollectError> {
        if !is_installed() {
            return Err(CollectError::new(
                "no CountingAlloc is the global allocator; heap metrics unavailable",
            ));
        }
        let s = HeapSnapshot::now();
        let inuse = i64::try_from(s.inuse_bytes()).unwrap_or(i64::MAX);
        let values = [
            Value::Gauge(Number::Int(inuse)),
            counter_value(Number::Uint(s.allocations())),
            counter_value(Number::Uint(s.frees())),
            counter_value(Number::Uint(s.allocated_bytes())),
        ];
        for (desc, v) in HEAP_METRICS.iter().zip(values) {
            sink.push(family(desc, v));
        }
        Ok(())
    }
}

/// jemalloc, to wrap: `CountingAlloc<Jemalloc>` (feature `jemalloc`).
#[cfg(feature = "jemalloc")]
pub use tikv_jemallocator::Jemalloc;

/// The families [`JemallocCollector`] exports (feature `jemalloc`).
pub const JEMALLOC_METRICS: &[MetricDesc] = &[
    MetricDesc {
        name: "jemalloc_allocated_bytes",
        kind: MetricKind::Gauge,
        help: "Bytes allocated by the application through jemalloc (stats.allocated).",
        unit: Some("bytes"),
        labels: &[],
    },
    MetricDesc {
        name: "jemalloc_active_bytes",
        kind: MetricKind::Gauge,
        help: "Bytes in active jemalloc pages (stats.active).",
        unit: Some("bytes"),
        labels: &[],
    },
    MetricDesc {
        name: "jemalloc_metadata_bytes",
        kind: MetricKind::Gauge,
        help: "Bytes jemalloc uses for its own metadata (stats.metadata).",
        unit: Some("bytes"),
        labels: &[],
    },
    MetricDesc {
        name: "jemalloc_resident_bytes",
        kind: MetricKind::Gauge,
        help: "Bytes in physically resident jemalloc pages (stats.resident).",
        unit: Some("bytes"),
        labels: &[],
    },
    MetricDesc {
        name: "jemalloc_mapped_bytes",
        kind: MetricKind::Gauge,
        help: "Bytes in extents mapped by jemalloc (stats.mapped).",
        unit: Some("bytes"),
        labels: &[],
    },
    MetricDesc {
        name: "jemalloc_retained_bytes",
        kind: MetricKind::Gauge,
        help: "Bytes jemalloc retains as virtual memory without returning them to the OS (stats.retained).",
        unit: Some("bytes"),
        labels: &[],
    },
];

/// Exports jemalloc's statistics as [`JEMALLOC_METRICS`] (feature `jemalloc`). They mean
/// something when jemalloc is the global allocator (for example `CountingAlloc<Jemalloc>`).
/// A statistic that cannot be read is left out and reported as an error.
#[cfg(feature = "jemalloc")]
#[derive(Debug, Default, Clone, Copy)]
pub struct JemallocCollector {
    _private: (),
}

#[cfg(feature = "jemalloc")]
impl JemallocCollector {
    /// A collector of the process's jemalloc statistics.
    pub fn new() -> Self {
        JemallocCollector { _private: () }
    }
}

#[cfg(feature = "jemalloc")]
impl Collector for JemallocCollector {
    fn name(&self) -> &str {
        "jemalloc"
    }

    fn collect_into(&self, sink: &mut FamilySink<'_>) -> Result<(), CollectError> {
        use tikv_jemalloc_ctl::{epoch, stats};
        // jemalloc caches its statistics; advancing the epoch refreshes them.
        if let Err(e) = epoch::advance() {
            return Err(CollectError::with_source(
                "could not refresh jemalloc statistics",
                e,
            ));
        }
        let reads: [fn() -> tikv_jemalloc_ctl::Result<usize>; 6] = [
            stats::allocated::read,
            stats::active::read,
            stats::metadata::read,
            stats::resident::read,
            stats::mapped::read,
            stats::retained::read,
        ];
        let mut first_error = None;
        for (desc, read) in JEMALLOC_METRICS.iter().zip(reads) {
            match read() {
                Ok(v) => {
                    let v = i64::try_from(v).unwrap_or(i64::MAX);
                    sink.push(family(desc, Value::Gauge(Number::Int(v))));
                }
                Err(e) => {
                    first_error.get_or_insert((desc.name, e));
                }
            }
        }
        match first_error {
            None => Ok(()),
            Some((name, e)) => Err(CollectError::with_source(
                format!("could not read jemalloc statistic for {name}"),
                e,
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Tests that read the process-wide totals run one at a time.
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

    #[test]
    fn delta_is_signed() {
        let a = HeapSnapshot {
            allocations: 10,
            frees: 2,
            allocated_bytes: 1000,
            freed_bytes: 100,
        };
        let b = HeapSnapshot {
            allocations: 11,
            frees: 5,
            allocated_bytes: 1010,
            freed_bytes: 400,
        };
        assert_eq!(
            a.delta_to(&b),
            HeapDelta {
                bytes: -290,
                allocations: 1,
                frees: 3
            }
        );
        assert_eq!(b.delta_to(&a).bytes, 290);
        assert_eq!(a.inuse_bytes(), 900);
    }

    #[test]
    fn instance_counts_when_called_directly() {
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let a = CountingAlloc::new(std::alloc::System);
        let layout = Layout::from_size_align(1 << 20, 8).unwrap();
        let before = HeapSnapshot::now();
        // SAFETY: non-zero size layout; the block is freed with the same layout.
        let p = unsafe { a.alloc(layout) };
        assert!(!p.is_null());
        let mid = HeapSnapshot::now();
        // SAFETY: `p` came from `a.alloc(layout)`.
        unsafe { a.dealloc(p, layout) };
        let after = HeapSnapshot::now();
        assert!(is_installed());
        // Other test threads may allocate through the system allocator, not through `a`,
        // so only our own calls move the totals.
        assert_eq!(before.delta_to(&mid).bytes, 1 << 20);
        assert_eq!(before.delta_to(&mid).allocations, 1);
        assert_eq!(mid.delta_to(&after).bytes, -(1 << 20));
        assert_eq!(mid.delta_to(&after).frees, 1);
    }

    #[test]
    fn threads_reuse_slots_without_losing_counts() {
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let a = std::sync::Arc::new(CountingAlloc::new(std::alloc::System));
        let layout = Layout::from_size_align(24, 8).unwrap();
        let before = HeapSnapshot::now();
        let per_thread = 1000u64;
        let threads = (THREAD_SLOTS * 2) as u64;
        // Short-lived threads, more than there are slots: slots are released and reused.
        for _ in 0..4 {
            let hs: Vec<_> = (0..threads / 4)
                .map(|_| {
                    let a = a.clone();
                    std::thread::spawn(move || {
                        for _ in 0..per_thread {
                            // SAFETY: non-zero layout, freed right away with the same layout.
                            unsafe {
                                let p = a.alloc(layout);
                                assert!(!p.is_null());
                                a.dealloc(p, layout);
                            }
                        }
                    })
                })
                .collect();
            for h in hs {
                h.join().unwrap();
            }
        }
        let d = before.delta_to(&HeapSnapshot::now());
        assert_eq!(d.allocations, (threads * per_thread) as i64);
        assert_eq!(d.frees, (threads * per_thread) as i64);
        assert_eq!(d.bytes, 0);
    }
}
