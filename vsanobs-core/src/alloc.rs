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
//! threads that are exiting, and platforms without pthread keys (Windows, WASM) share one
//! slot updated with relaxed `fetch_add`.
//!
//! Finding the slot never allocates inside `alloc`: on Linux (glibc and musl, not x32),
//! macOS and FreeBSD the index is a const thread-local without a destructor (a plain load);
//! on targets whose thread-locals are emulated and allocate on first access (Android,
//! OpenHarmony, x32, the other Unixes) it is the pthread key's own value, read with
//! `pthread_getspecific`. That path is tested on Linux with
//! `RUSTFLAGS="--cfg vsanobs_force_pthread_tls"`. A thread's first allocation claims a slot
//! with `pthread_setspecific`, which may allocate; that nested allocation counts into the
//! shared slot. On the pthread-key path, a thread that allocates after its last key
//! destructor round may claim a slot that is never given back (counts stay right; the slot
//! is lost for reuse). Readers sum
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

#[cfg(unix)]
mod per_thread {
    //! Slot ownership: the slot index is found through a const thread-local where the
    //! target has native thread-locals, and through the pthread key itself elsewhere (so
    //! `alloc` never touches an emulated thread-local, whose first access allocates). The
    //! key's destructor hands the slot back at thread exit.

    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::{INSTALLED, SHARED, SLOTS, Slot};

    /// The thread has not tried to claim a slot yet.
    const UNCLAIMED: usize = usize::MAX;
    /// The thread writes the shared slot (no slot was free, it is exiting, or it is claiming).
    const USE_SHARED: usize = usize::MAX - 1;

    const KEY_UNINIT: usize = 0;
    const KEY_BUSY: usize = 1;
    const KEY_FAILED: usize = 2;
    const KEY_BASE: usize = 3;
    static KEY: AtomicUsize = AtomicUsize::new(KEY_UNINIT);

    /// The slot this thread writes and whether it owns it.
    #[inline(always)]
    pub(super) fn slot() -> (&'static Slot, bool) {
        let idx = index::get();
        match SLOTS.get(idx) {
            Some(s) => (s, true),
            None if idx == UNCLAIMED => claim(),
            None => (&SHARED, false),
        }
    }

    #[cold]
    fn claim() -> (&'static Slot, bool) {
        INSTALLED.store(true, Ordering::Relaxed);
        // Allocations made while claiming (`pthread_setspecific` may allocate) count into
        // the shared slot instead of claiming again.
        let Some(claiming) = index::begin_claim() else {
            return (&SHARED, false);
        };
        let key = match key() {
            Ok(key) => key,
            Err(retry) => {
                index::end_claim(claiming, if retry { UNCLAIMED } else { USE_SHARED }, None);
                return (&SHARED, false);
            }
        };
        for (i, s) in SLOTS.iter().enumerate() {
            if s.owned
                .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
                .is_err()
            {
                continue;
            }
            // SAFETY: `key` came from a successful `pthread_key_create`; the value is a
            // small non-null integer, never dereferenced, only read back by `index::get`
            // and handed to `release`.
            let rc = unsafe { libc::pthread_setspecific(key, (i + 1) as *const libc::c_void) };
            if rc != 0 {
                s.owned.store(false, Ordering::Release);
                break;
            }
            index::end_claim(claiming, i, Some(key));
            return (s, true);
        }
        index::end_claim(claiming, USE_SHARED, Some(key));
        (&SHARED, false)
    }

    /// The process's pthread key, created on first use. `Err(true)` while another thread
    /// creates it (the caller uses the shared slot this once and tries again next time),
    /// `Err(false)` if creation failed.
    fn key() -> Result<libc::pthread_key_t, bool> {
        match KEY.load(Ordering::Acquire) {
            KEY_FAILED => return Err(false),
            KEY_BUSY => return Err(true),
            KEY_UNINIT => {}
            k => return Ok((k - KEY_BASE) as libc::pthread_key_t),
        }
        if KEY
            .compare_exchange(KEY_UNINIT, KEY_BUSY, Ordering::Acquire, Ordering::Acquire)
            .is_err()
        {
            return Err(true);
        }
        let mut key: libc::pthread_key_t = 0;
        // SAFETY: `key` is a valid out-pointer; `release` is an `extern "C"` function that
        // never unwinds.
        let rc = unsafe { libc::pthread_key_create(&mut key, Some(release)) };
        if rc != 0 {
            KEY.store(KEY_FAILED, Ordering::Release);
            return Err(false);
        }
        KEY.store(key as usize + KEY_BASE, Ordering::Release);
        Ok(key)
    }

    /// Runs at thread exit: the thread stops writing its slot, then gives it back. Its
    /// totals stay in the slot for the next owner to add to.
    extern "C" fn release(value: *mut libc::c_void) {
        let idx = (value as usize).wrapping_sub(1);
        index::released();
        if let Some(s) = SLOTS.get(idx) {
            s.owned.store(false, Ordering::Release);
        }
    }

    /// Targets with native thread-locals: the index is a const thread-local without a
    /// destructor, so reading it is a plain load that never allocates.
    #[cfg(all(
        any(target_os = "linux", target_os = "macos", target_os = "freebsd"),
        not(target_env = "ohos"),
        not(target_abi = "x32"),
        not(vsanobs_force_pthread_tls)
    ))]
    mod index {
        use std::cell::Cell;

        use super::{UNCLAIMED, USE_SHARED};

        std::thread_local! {
            static MY_SLOT: Cell<usize> = const { Cell::new(UNCLAIMED) };
        }

        #[inline(always)]
        pub(super) fn get() -> usize {
            MY_SLOT.try_with(Cell::get).unwrap_or(USE_SHARED)
        }

        /// Marks the thread as claiming (so it writes the shared slot meanwhile).
        pub(super) fn begin_claim() -> Option<usize> {
            MY_SLOT.try_with(|c| c.set(USE_SHARED)).ok().map(|()| 0)
        }

        /// Records the claim's outcome: a slot index, `USE_SHARED` or `UNCLAIMED` (retry).
        pub(super) fn end_claim(_token: usize, outcome: usize, _key: Option<libc::pthread_key_t>) {
            let _ = MY_SLOT.try_with(|c| c.set(outcome));
        }

        /// The key's destructor ran: later allocations of this thread use the shared slot.
        pub(super) fn released() {
            let _ = MY_SLOT.try_with(|c| c.set(USE_SHARED));
        }
    }

    /// Targets without native thread-locals (Android, OpenHarmony, x32, the other Unixes;
    /// or forced with `--cfg vsanobs_force_pthread_tls`): the index is the pthread key's own
    /// value, read with `pthread_getspecific`, which does not allocate. Re-entry while
    /// claiming is detected by thread id in a small fixed table.
    #[cfg(not(all(
        any(target_os = "linux", target_os = "macos", target_os = "freebsd"),
        not(target_env = "ohos"),
        not(target_abi = "x32"),
        not(vsanobs_force_pthread_tls)
    )))]
    mod index {
        use std::sync::atomic::{AtomicUsize, Ordering};

        use super::{KEY, KEY_BASE, KEY_FAILED, UNCLAIMED, USE_SHARED};

        /// Threads inside `claim` (their `pthread_self`), 0 for a free entry.
        static CLAIMING: [AtomicUsize; 8] = [const { AtomicUsize::new(0) }; 8];

        #[inline(always)]
        pub(super) fn get() -> usize {
            let k = KEY.load(Ordering::Acquire);
            if k < KEY_BASE {
                return if k == KEY_FAILED {
                    USE_SHARED
                } else {
                    UNCLAIMED
                };
            }
            // SAFETY: `k - KEY_BASE` is a key `pthread_key_create` returned and that is
            // never deleted; `pthread_getspecific` only reads the calling thread's value.
            let v = unsafe { libc::pthread_getspecific((k - KEY_BASE) as libc::pthread_key_t) };
            match v as usize {
                0 => UNCLAIMED,
                n => n - 1,
            }
        }

        fn me() -> usize {
            // SAFETY: `pthread_self` has no preconditions and does not allocate.
            let t = unsafe { libc::pthread_self() };
            #[allow(clippy::useless_conversion, clippy::unnecessary_cast)]
            let t = t as usize;
            t
        }

        fn claiming(me: usize) -> bool {
            CLAIMING.iter().any(|c| c.load(Ordering::Relaxed) == me)
        }

        /// Enters the claiming table; `None` if this thread is claiming already or the table
        /// is full (the caller then writes the shared slot).
        pub(super) fn begin_claim() -> Option<usize> {
            let me = me();
            if claiming(me) {
                return None;
            }
            CLAIMING.iter().position(|c| {
                c.compare_exchange(0, me, Ordering::Relaxed, Ordering::Relaxed)
                    .is_ok()
            })
        }

        /// Records the claim's outcome and leaves the claiming table. A slot index was
        /// stored in the key already; `USE_SHARED` is stored as the key value `usize::MAX`
        /// (read back as `USE_SHARED`); on `UNCLAIMED` the key stays unset for a retry.
        pub(super) fn end_claim(entry: usize, outcome: usize, key: Option<libc::pthread_key_t>) {
            if let (USE_SHARED, Some(key)) = (outcome, key) {
                // SAFETY: as in `claim`: a live key and an integer value never dereferenced;
                // `release` ignores it (no slot has that index). If the call fails the thread
                // simply tries to claim again on a later allocation.
                let _ =
                    unsafe { libc::pthread_setspecific(key, usize::MAX as *const libc::c_void) };
            }
            CLAIMING[entry].store(0, Ordering::Relaxed);
        }

        /// Nothing to do: the key's value is already cleared when its destructor runs. (A
        /// thread that allocates after the last destructor round may claim a slot that is
        /// then never given back; its counts stay right.)
        pub(super) fn released() {}
    }
}

#[cfg(not(unix))]
mod per_thread {
    //! Platforms without pthread keys: every thread shares one slot.
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
// adds counting, which never unwinds; the layout contract is `inner`'s. Counting finds the
// thread's slot without allocating on every target: a const, destructor-free thread-local
// where the target has native thread-locals, `pthread_getspecific` where it has not (see
// `per_thread`), one shared slot elsewhere. Only a thread's first allocation claims a slot,
// and `pthread_setspecific` may then allocate; that nested call sees the thread marked as
// claiming and counts into the shared slot, so counting recurses at most once.
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
