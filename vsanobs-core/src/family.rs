//! [`Family`]: one metric per label set, with a series cap and lock-free lookups.
//!
//! # Example
//!
//! ```
//! use vsanobs_core::{Counter, Family, LabelSet, Registry};
//!
//! #[derive(Clone, Debug, PartialEq, Eq, Hash, LabelSet)]
//! struct Req { method: &'static str, status: u16 }
//!
//! let registry = Registry::new();
//! let requests: Family<Req, Counter> = Family::with_cap(100);
//! registry.register("requests", "Requests served.", requests.clone()).unwrap();
//!
//! // Pre-bind once, then every increment is one atomic add.
//! let ok = requests.get_or_create(&Req { method: "GET", status: 200 });
//! ok.inc();
//! // Or look up on each call (lock-free for series that already exist).
//! requests.with(&Req { method: "GET", status: 200 }, |c| c.inc());
//!
//! assert_eq!(
//!     registry.encode_to_string(vsanobs_core::Format::PrometheusText),
//!     "# HELP requests_total Requests served.\n\
//!      ## TYPE requests_total counter\n\
//!      requests_total{method=\"GET\",status=\"200\"} 2\n\
//!      ## HELP vsanobs_series_overflow_total Label sets refused because their family reached its series cap.\n\
//!      ## TYPE vsanobs_series_overflow_total counter\n\
//!      vsanobs_series_overflow_total{family=\"requests\"} 0\n"
//! );
//! ```
//!
//! ## Note
//! Lookups of existing series read an immutable snapshot (one probe of a SwissTable that
//! stores the labels and metric inline): no lock, and no allocation once the thread has made
//! its first lookup (which takes a reader slot). The snapshot is kept alive by an epoch
//! reservation: plain stores into the thread's own slot followed, on Linux, by only a
//! compiler fence (a `SeqCst` fence elsewhere), so a lookup does no atomic
//! read-modify-write; the rare writer that replaces a snapshot runs the full barrier for both
//! with `membarrier` and frees the old snapshot once no reader can hold it (see the `rcu`
//! submodule).
//!
//! Guarantees of the read path:
//! - Bounded memory: the closure of [`Family::with`] runs while the thread is pinned, but a
//!   closure that blocks holds back only the snapshots that were current when its lookup
//!   began (at most two per family), not what other families retire meanwhile. The bytes
//!   waiting are exported by [`ReclaimCollector`] as `vsanobs_family_retired_bytes`.
//! - Signals: recording through a pre-bound handle (`Counter::inc` and friends) is one
//!   atomic operation and async-signal-safe. `Family::with` / `get` on a series that exists,
//!   on a thread that has looked up a series before, is async-signal-safe too (loads,
//!   stores, fences; a pin nested in a handler runs its own barrier). Not async-signal-safe:
//!   a thread's first lookup (allocates its slot, may register `membarrier`), a lookup that
//!   misses (family mutex, allocation), lookups during thread exit, and every writer method.
//! - `fork()`: the child drops the pins of the parent's other threads and frees their slots
//!   (liburcu's approach), and a fork waits until no other thread is inside a family's mutex,
//!   so the child can read, write and reclaim. A thread that forks from inside a metric
//!   constructor is not waited for.
//! - If `membarrier` starts failing after registration, the failure is counted
//!   (`vsanobs_family_membarrier_failures_total`) and lookups switch to `SeqCst` fences for
//!   the rest of the process; snapshots published before the switch are freed once every
//!   thread that had looked up before it has looked up again.
//!
//! The key is hashed through [`LabelSet::hash_values`] (a derived label
//! set feeds each value once into an inline, per-family seeded hasher whose per-value rounds
//! run in parallel) and always compared with `==`, so colliding hashes never merge series.
//! For three `String` labels a lookup plus increment takes about 14 ns on the benchmark
//! machine; see `docs/benchmarks.md`. New label sets take a mutex and land in a side map that is
//! folded into the snapshot once it has missed as often as the snapshot is large (the
//! amortised scheme of Go's `sync.Map`). Past the cap, new label sets share one overflow series
//! whose labels all read [`OVERFLOW_LABEL_VALUE`](crate::OVERFLOW_LABEL_VALUE).

use std::fmt;
use std::hash::{BuildHasher, Hasher as _};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use hashbrown::HashTable;
use indexmap::IndexMap;
use parking_lot::Mutex;

use crate::encoding::Visitor;
use crate::labels::{LabelSet, LabelsRef, OwnLabels};
use crate::metrics::Metric;
use crate::sync::AtomicPtr;

mod fork_gate;
mod rcu;

/// The reclamation counters that [`crate::reclaim`] exports.
pub(crate) use rcu::stats as reclaim_stats;

type Hasher = foldhash::fast::RandomState;

/// Seeds of the lookup hash, drawn per family from foldhash's random source.
#[derive(Clone, Copy)]
struct LookupState {
    acc: u64,
    k0: u64,
    k1: u64,
    k2: u64,
}

impl LookupState {
    fn random() -> Self {
        let rs = Hasher::default();
        LookupState {
            acc: rs.hash_one(0x5eed_u64),
            k0: rs.hash_one(0x5eed_u64 + 1),
            // Odd, so the multiplier half of a round is never all zero bits from the key alone.
            k1: rs.hash_one(0x5eed_u64 + 2) | 1,
            k2: rs.hash_one(0x5eed_u64 + 3),
        }
    }

    #[inline]
    fn hasher(self) -> LookupHasher {
        LookupHasher {
            state: self,
            sponge: 0,
            sponge_bits: 0,
        }
    }
}

/// The hasher snapshot lookups use. Each `write` is hashed on its own with one folded
/// multiply (foldhash's round, the byte length mixed into the multiplier; two independent
/// ones for 17-32 bytes, a chain of them beyond), and the results are combined with a
/// rotate and xor, so the position of each value counts. The rounds of different values do
/// not depend on each other and run in parallel: a derived label set of three short strings
/// waits for one multiply, not three in a row. Integer writes are gathered into a 64-bit
/// sponge and folded in the same way when it fills or at `finish`. Collisions only cost
/// speed: a lookup always compares the labels themselves.
struct LookupHasher {
    state: LookupState,
    sponge: u64,
    sponge_bits: u32,
}

/// An arbitrary odd constant (digits of pi) that keys the sponge rounds apart from byte rounds.
const SPONGE_KEY: u64 = 0x243f_6a88_85a3_08d3;

/// How far the accumulator turns before each value's round is xored in.
const POSITION_ROTATION: u32 = 23;

#[inline(always)]
fn folded_multiply(x: u64, y: u64) -> u64 {
    let full = u128::from(x).wrapping_mul(u128::from(y));
    (full as u64) ^ ((full >> 64) as u64)
}

/// Little-endian word at `b[i..i + 8]` (callers guarantee the range is in bounds).
#[inline(always)]
fn word8(b: &[u8], i: usize) -> u64 {
    b[i..i + 8].try_into().map_or(0, u64::from_le_bytes)
}

/// Little-endian word at `b[i..i + 4]` (callers guarantee the range is in bounds).
#[inline(always)]
fn word4(b: &[u8], i: usize) -> u64 {
    b[i..i + 4]
        .try_into()
        .map_or(0, |w| u64::from(u32::from_le_bytes(w)))
}

impl LookupHasher {
    /// Folds one value's round into the accumulator, after the values before it.
    #[inline(always)]
    fn mix(&mut self, round: u64) {
        self.state.acc = self.state.acc.rotate_left(POSITION_ROTATION) ^ round;
    }

    #[inline(always)]
    fn fold_sponge(&mut self) {
        let k = &self.state;
        let round = folded_multiply(self.sponge ^ k.k0, k.k1 ^ SPONGE_KEY);
        self.mix(round);
    }

    #[inline(always)]
    fn absorb(&mut self, x: u64, bits: u32) {
        if self.sponge_bits + bits > 64 {
            self.fold_sponge();
            self.sponge = x;
            self.sponge_bits = bits;
        } else {
            // `bits` < 64 here unless the sponge is empty, where the shift is by 0.
            self.sponge |= x << self.sponge_bits;
            self.sponge_bits += bits;
        }
    }
}

impl std::hash::Hasher for LookupHasher {
    #[inline(always)]
    fn write(&mut self, b: &[u8]) {
        let len = b.len();
        let LookupState { k0, k1, k2, .. } = self.state;
        let m = k1 ^ len as u64;
        let round = if len <= 16 {
            let (lo, hi) = if len >= 8 {
                (word8(b, 0), word8(b, len - 8))
            } else if len >= 4 {
                (word4(b, 0), word4(b, len - 4) << 32)
            } else if len > 0 {
                let w = u64::from(b[0]) | u64::from(b[len / 2]) << 8 | u64::from(b[len - 1]) << 16;
                (w, 0)
            } else {
                (0, 0)
            };
            folded_multiply(k0 ^ lo, m ^ hi)
        } else if len <= 32 {
            folded_multiply(k0 ^ word8(b, 0), m ^ word8(b, 8))
                ^ folded_multiply(k2 ^ word8(b, len - 16), k1 ^ word8(b, len - 8))
        } else {
            let mut s0 = k0;
            let mut i = 0;
            while len - i > 16 {
                s0 = folded_multiply(s0 ^ word8(b, i), m ^ word8(b, i + 8));
                i += 16;
            }
            folded_multiply(s0 ^ word8(b, len - 16), k2 ^ word8(b, len - 8))
        };
        self.mix(round);
    }
    #[inline(always)]
    fn write_u8(&mut self, i: u8) {
        self.absorb(u64::from(i), 8)
    }
    #[inline(always)]
    fn write_u16(&mut self, i: u16) {
        self.absorb(u64::from(i), 16)
    }
    #[inline(always)]
    fn write_u32(&mut self, i: u32) {
        self.absorb(u64::from(i), 32)
    }
    #[inline(always)]
    fn write_u64(&mut self, i: u64) {
        self.absorb(i, 64)
    }
    #[inline(always)]
    fn write_usize(&mut self, i: usize) {
        self.absorb(i as u64, 64)
    }
    #[inline(always)]
    fn finish(&self) -> u64 {
        if self.sponge_bits > 0 {
            let k = &self.state;
            let round = folded_multiply(self.sponge ^ k.k0, k.k1 ^ SPONGE_KEY);
            self.state.acc.rotate_left(POSITION_ROTATION) ^ round
        } else {
            self.state.acc
        }
    }
}

/// The series cap a family gets unless told otherwise.
pub const DEFAULT_SERIES_CAP: usize = 2_000;

/// One series of a snapshot, with its label hash kept so rebuilding never rehashes.
struct Entry<L, M> {
    hash: u64,
    labels: L,
    metric: M,
}

impl<L: Clone, M: Clone> Clone for Entry<L, M> {
    fn clone(&self) -> Self {
        Entry {
            hash: self.hash,
            labels: self.labels.clone(),
            metric: self.metric.clone(),
        }
    }
}

/// The immutable map that lookups read without a lock: the series are stored inline in a
/// SwissTable (one probe reaches the labels), and `order` lists their buckets in creation
/// order for encoding.
struct Snapshot<L, M> {
    table: HashTable<Entry<L, M>>,
    order: Vec<usize>,
    /// Heap bytes this snapshot holds, roughly: its table and order list, and one copy of
    /// every label value (the series' metric handles are shared, not counted).
    bytes: u64,
}

impl<L: LabelSet, M: Metric> Snapshot<L, M> {
    fn empty() -> Self {
        Snapshot {
            table: HashTable::new(),
            order: Vec::new(),
            bytes: std::mem::size_of::<Self>() as u64,
        }
    }

    /// Builds a snapshot from entries in creation order (labels must be distinct).
    fn build(entries: Vec<Entry<L, M>>) -> Self {
        let n = entries.len();
        // Capacity for all `n` up front: the table never grows while it is filled, so the
        // bucket indices recorded in `order` stay valid.
        let mut table = HashTable::with_capacity(n);
        let mut order = Vec::with_capacity(n);
        let mut label_bytes = 0usize;
        for e in entries {
            let hash = e.hash;
            e.labels.visit_values(&mut |v| label_bytes += v.len());
            order.push(table.insert_unique(hash, e, |e| e.hash).bucket_index());
        }
        debug_assert_eq!(table.len(), order.len());
        let bytes = std::mem::size_of::<Self>()
            + table.allocation_size()
            + order.capacity() * std::mem::size_of::<usize>()
            + label_bytes;
        Snapshot {
            table,
            order,
            bytes: bytes as u64,
        }
    }

    #[inline]
    fn get(&self, hash: u64, labels: &L) -> Option<&M> {
        self.table
            .find(hash, |e| e.hash == hash && e.labels == *labels)
            .map(|e| &e.metric)
    }

    fn len(&self) -> usize {
        self.order.len()
    }

    /// The series in creation order.
    fn iter(&self) -> impl Iterator<Item = &Entry<L, M>> + '_ {
        // Every index names an occupied bucket: the table is never modified after `build`.
        self.order.iter().filter_map(|&i| self.table.get_bucket(i))
    }
}

/// A snapshot that `Dirty::current` no longer is, kept until no reader can hold it.
struct Retired<L, M> {
    birth: rcu::Birth,
    retired_at: u64,
    snap: Arc<Snapshot<L, M>>,
}

impl<L, M> Retired<L, M> {
    fn new(birth: rcu::Birth, retired_at: u64, snap: Arc<Snapshot<L, M>>) -> Self {
        rcu::stats::retired(snap.bytes);
        Retired {
            birth,
            retired_at,
            snap,
        }
    }
}

impl<L, M> Drop for Retired<L, M> {
    fn drop(&mut self) {
        rcu::stats::freed(self.snap.bytes);
    }
}

/// What the family mutex guards.
struct Dirty<L, M> {
    /// The snapshot lookups read; `Inner::read` points at it.
    current: Arc<Snapshot<L, M>>,
    /// When `current` was published.
    current_birth: rcu::Birth,
    /// Snapshots replaced by `current`, until no reader can hold them (see the `rcu` module).
    retired: Vec<Retired<L, M>>,
    map: IndexMap<L, M, Hasher>,
    misses: usize,
}

struct Inner<L, M> {
    lookup: LookupState,
    /// `Arc::as_ptr` of `Dirty::current`: read under an `rcu` pin, replaced under the mutex.
    read: AtomicPtr<Snapshot<L, M>>,
    dirty: Mutex<Dirty<L, M>>,
    overflow: M,
    overflowed: AtomicU64,
    cap: usize,
    ctor: Box<dyn Fn() -> M + Send + Sync>,
}

/// The family mutex, held inside the fork gate (fields drop in order: mutex first).
struct Locked<'a, L, M> {
    dirty: parking_lot::MutexGuard<'a, Dirty<L, M>>,
    _gate: fork_gate::Token,
}

impl<L, M> std::ops::Deref for Locked<'_, L, M> {
    type Target = Dirty<L, M>;
    fn deref(&self) -> &Dirty<L, M> {
        &self.dirty
    }
}

impl<L, M> std::ops::DerefMut for Locked<'_, L, M> {
    fn deref_mut(&mut self) -> &mut Dirty<L, M> {
        &mut self.dirty
    }
}

impl<L, M> Inner<L, M> {
    /// Takes the family mutex; a `fork()` waits until it is released.
    fn lock(&self) -> Locked<'_, L, M> {
        let gate = fork_gate::enter();
        Locked {
            dirty: self.dirty.lock(),
            _gate: gate,
        }
    }
}

/// A metric per label set `L`. Cloning shares the family.
pub struct Family<L: LabelSet, M: Metric> {
    inner: Arc<Inner<L, M>>,
}

impl<L: LabelSet, M: Metric> Clone for Family<L, M> {
    fn clone(&self) -> Self {
        Family {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<L: LabelSet + fmt::Debug, M: Metric> fmt::Debug for Family<L, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Family")
            .field("labels", &L::NAMES)
            .field("series", &self.len())
            .field("cap", &self.inner.cap)
            .field("overflowed", &self.overflowed())
            .finish()
    }
}

impl<L: LabelSet, M: Metric + Default> Default for Family<L, M> {
    fn default() -> Self {
        Self::new()
    }
}

impl<L: LabelSet, M: Metric + Default> Family<L, M> {
    /// A family with the [default cap](DEFAULT_SERIES_CAP).
    pub fn new() -> Self {
        Self::with_cap(DEFAULT_SERIES_CAP)
    }
    /// A family holding at most `cap` series (at least 1) plus the overflow series.
    pub fn with_cap(cap: usize) -> Self {
        Self::with_constructor(cap, M::default)
    }
}

impl<L: LabelSet, M: Metric> Family<L, M> {
    /// A family whose metrics are built by `ctor` (for example histograms with custom
    /// buckets): `Family::with_constructor(500, || Histogram::new([0.1, 1.0]))`.
    pub fn with_constructor(cap: usize, ctor: impl Fn() -> M + Send + Sync + 'static) -> Self {
        let overflow = ctor();
        let current = Arc::new(Snapshot::empty());
        Family {
            inner: Arc::new(Inner {
                read: AtomicPtr::new(Arc::as_ptr(&current).cast_mut()),
                dirty: Mutex::new(Dirty {
                    current,
                    current_birth: rcu::birth(),
                    retired: Vec::new(),
                    map: IndexMap::with_hasher(Hasher::default()),
                    misses: 0,
                }),
                lookup: LookupState::random(),
                overflow,
                overflowed: AtomicU64::new(0),
                cap: cap.max(1),
                ctor: Box::new(ctor),
            }),
        }
    }

    #[inline]
    fn hash(&self, labels: &L) -> u64 {
        Self::hash_with(&self.inner, labels)
    }

    #[inline]
    fn hash_with(inner: &Inner<L, M>, labels: &L) -> u64 {
        let mut h = inner.lookup.hasher();
        labels.hash_values(&mut h);
        h.finish()
    }

    /// Runs `read` on the snapshot lookups see, pinned so it stays alive meanwhile.
    #[allow(unsafe_code)]
    #[inline(always)]
    fn read<R>(&self, read: impl FnOnce(&Snapshot<L, M>) -> R) -> R {
        let pin = rcu::pin();
        let p = pin.protect(&self.inner.read);
        // SAFETY: `p` is `Arc::as_ptr` of a snapshot that was `Dirty::current` when it was
        // stored (with its `rcu::birth` taken before the store). A replaced snapshot moves
        // to `Dirty::retired` with its retire epoch and is dropped only once an `rcu::scan`
        // says no reservation can cover it; `protect` reserved it for as long as `pin`
        // lives, and `read` runs before `pin` drops (see `rcu`). Snapshots are never
        // mutated after `build`.
        read(unsafe { &*p })
    }

    /// Runs `f` on the metric for `labels`, creating it if needed (or using the overflow
    /// series past the cap). For an existing series this takes no lock and allocates nothing.
    #[inline]
    pub fn with<R>(&self, labels: &L, f: impl FnOnce(&M) -> R) -> R {
        let hash = self.hash(labels);
        let mut f = Some(f);
        let found = self.read(|snap| match snap.get(hash, labels) {
            Some(m) => f.take().map(|f| f(m)),
            None => None,
        });
        if let Some(r) = found {
            return r;
        }
        let m = self.slow_get(labels, hash);
        match f {
            Some(f) => f(&m),
            // `f` is only taken when the snapshot had the series, and then we returned.
            None => unreachable!("Family::with ran its closure and then looked further"),
        }
    }

    /// The metric for `labels` as a handle to keep (pre-binding). Past the cap this is the
    /// shared overflow series.
    pub fn get_or_create(&self, labels: &L) -> M {
        let hash = self.hash(labels);
        if let Some(m) = self.read(|snap| snap.get(hash, labels).cloned()) {
            return m;
        }
        self.slow_get(labels, hash)
    }

    /// The metric for `labels` if that series exists; never creates one.
    pub fn get(&self, labels: &L) -> Option<M> {
        let hash = self.hash(labels);
        if let Some(m) = self.read(|snap| snap.get(hash, labels).cloned()) {
            return Some(m);
        }
        // Under the lock, look at the current snapshot again: a promotion may have moved the
        // series out of the side map since the lock-free read.
        let d = self.inner.lock();
        if let Some(m) = d.current.get(hash, labels) {
            return Some(m.clone());
        }
        d.map.get(labels).cloned()
    }

    #[cold]
    fn slow_get(&self, labels: &L, hash: u64) -> M {
        let inner = &*self.inner;
        let mut d = inner.lock();
        let read = Arc::clone(&d.current);
        if let Some(m) = read.get(hash, labels) {
            return m.clone();
        }
        let m = if let Some(m) = d.map.get(labels) {
            m.clone()
        } else if read.len() + d.map.len() >= inner.cap {
            inner.overflowed.fetch_add(1, Ordering::Relaxed);
            return inner.overflow.clone();
        } else {
            let m = (inner.ctor)();
            d.map.insert(labels.clone(), m.clone());
            m
        };
        d.misses += 1;
        if d.misses >= read.len() + d.map.len() {
            drop(read);
            Self::promote(inner, &mut d);
        }
        m
    }

    /// Makes `snap` the snapshot lookups read and retires the one it replaces, then frees
    /// the retired snapshots no reader can hold any more (caller holds the `dirty` lock).
    fn publish(inner: &Inner<L, M>, d: &mut Dirty<L, M>, snap: Snapshot<L, M>) {
        let new = Arc::new(snap);
        let birth = rcu::birth();
        inner
            .read
            .store(Arc::as_ptr(&new).cast_mut(), Ordering::Release);
        let old = std::mem::replace(&mut d.current, new);
        let old_birth = std::mem::replace(&mut d.current_birth, birth);
        d.retired
            .push(Retired::new(old_birth, rcu::retire_epoch(), old));
        Self::reclaim(d);
    }

    /// Drops the retired snapshots that no pinned reader can still reference.
    fn reclaim(d: &mut Dirty<L, M>) {
        if d.retired.is_empty() {
            return;
        }
        if let Some(scan) = rcu::scan() {
            d.retired.retain(|r| !scan.may_free(r.birth, r.retired_at));
        }
    }

    /// Folds the side map into a new snapshot (caller holds the `dirty` lock).
    fn promote(inner: &Inner<L, M>, d: &mut Dirty<L, M>) {
        d.misses = 0;
        if d.map.is_empty() {
            return;
        }
        let cur = Arc::clone(&d.current);
        let fresh: Vec<Entry<L, M>> = d
            .map
            .drain(..)
            .map(|(labels, metric)| Entry {
                hash: Self::hash_with(inner, &labels),
                labels,
                metric,
            })
            .collect();
        let mut all = Vec::with_capacity(cur.len() + fresh.len());
        all.extend(cur.iter().cloned());
        all.extend(fresh);
        Self::publish(inner, d, Snapshot::build(all));
    }

    /// Removes the series for `labels`. Returns whether it existed. Handles already bound to
    /// it keep working but are no longer exported.
    pub fn remove(&self, labels: &L) -> bool {
        let mut d = self.inner.lock();
        if d.map.shift_remove(labels).is_some() {
            return true;
        }
        let hash = self.hash(labels);
        let cur = Arc::clone(&d.current);
        if cur.get(hash, labels).is_none() {
            return false;
        }
        let kept: Vec<Entry<L, M>> = cur
            .iter()
            .filter(|e| !(e.hash == hash && e.labels == *labels))
            .cloned()
            .collect();
        Self::publish(&self.inner, &mut d, Snapshot::build(kept));
        true
    }

    /// Removes every series (the overflow count is kept).
    pub fn clear(&self) {
        let mut d = self.inner.lock();
        d.map.clear();
        d.misses = 0;
        Self::publish(&self.inner, &mut d, Snapshot::empty());
    }

    /// Number of series, not counting the overflow series.
    pub fn len(&self) -> usize {
        let d = self.inner.lock();
        d.current.len() + d.map.len()
    }

    /// Whether the family holds no series.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The series cap.
    pub fn cap(&self) -> usize {
        self.inner.cap
    }

    /// How many records were routed to the overflow series because the cap was reached.
    pub fn overflowed(&self) -> u64 {
        self.inner.overflowed.load(Ordering::Relaxed)
    }

    /// A consistent snapshot of all series, in creation order.
    fn snapshot(&self) -> Arc<Snapshot<L, M>> {
        let mut d = self.inner.lock();
        Self::promote(&self.inner, &mut d);
        // Scrapes also free what earlier writes had to leave retired.
        Self::reclaim(&mut d);
        Arc::clone(&d.current)
    }

    pub(crate) fn visit_series(&self, consts: &[(String, String)], v: &mut dyn Visitor) {
        let snap = self.snapshot();
        for e in snap.iter() {
            e.metric.visit(
                LabelsRef {
                    consts,
                    own: OwnLabels::Typed(L::NAMES, &e.labels),
                },
                v,
            );
        }
        if self.overflowed() > 0 {
            self.inner.overflow.visit(
                LabelsRef {
                    consts,
                    own: OwnLabels::Overflow(L::NAMES),
                },
                v,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Counter, Format, Registry};

    #[derive(Clone, Debug, PartialEq, Eq, Hash, crate::LabelSet)]
    struct L {
        k: String,
    }

    fn l(i: usize) -> L {
        L { k: format!("s{i}") }
    }

    /// Series order in the output is creation order, across snapshot promotions and
    /// removals, and every series is found by `with`, `get` and `get_or_create`.
    #[test]
    fn lookups_and_creation_order_survive_promotions_and_removals() {
        let fam: Family<L, Counter> = Family::with_cap(1_000);
        for i in 0..300 {
            fam.get_or_create(&l(i)).inc_by(i as u64);
        }
        // Repeated lookups promote the side map into the snapshot.
        for _ in 0..3 {
            for i in 0..300 {
                assert_eq!(fam.with(&l(i), |c| c.get()), i as u64);
            }
        }
        assert!(fam.remove(&l(7)));
        assert!(!fam.remove(&l(7)));
        assert!(fam.get(&l(7)).is_none());
        assert_eq!(fam.len(), 299);
        fam.get_or_create(&l(7)).inc();
        assert_eq!(fam.get(&l(7)).map(|c| c.get()), Some(1));

        let reg = Registry::new();
        reg.register("t", "T.", fam.clone())
            .unwrap_or_else(|e| panic!("{e}"));
        let text = reg.encode_to_string(Format::PrometheusText);
        let keys: Vec<&str> = text
            .lines()
            .filter_map(|line| line.strip_prefix("t_total{k=\""))
            .filter_map(|rest| rest.split('"').next())
            .collect();
        let expected: Vec<String> = (0..300)
            .filter(|i| *i != 7)
            .chain([7])
            .map(|i| format!("s{i}"))
            .collect();
        assert_eq!(keys, expected);
    }

    #[test]
    fn clear_empties_both_maps() {
        let fam: Family<L, Counter> = Family::with_cap(10);
        fam.get_or_create(&l(1));
        let _ = fam.snapshot();
        fam.get_or_create(&l(2));
        assert_eq!(fam.len(), 2);
        fam.clear();
        assert!(fam.is_empty());
        assert!(fam.get(&l(1)).is_none());
        assert!(fam.get(&l(2)).is_none());
        assert_eq!(fam.snapshot().len(), 0);
    }

    #[test]
    fn concurrent_creation_and_lookup_agree() {
        let fam: Family<L, Counter> = Family::with_cap(10_000);
        std::thread::scope(|s| {
            for t in 0..4 {
                let fam = &fam;
                s.spawn(move || {
                    for round in 0..3 {
                        for i in 0..500 {
                            fam.with(&l((i * 7 + t + round) % 500), |c| c.inc());
                        }
                    }
                });
            }
        });
        assert_eq!(fam.len(), 500);
        let total: u64 = (0..500)
            .filter_map(|i| fam.get(&l(i)))
            .map(|c| c.get())
            .sum();
        assert_eq!(total, 4 * 3 * 500);
    }

    #[derive(Clone, Debug, PartialEq, Eq, Hash, crate::LabelSet)]
    struct Three {
        a: String,
        b: String,
        c: String,
    }

    fn three(a: &str, b: &str, c: &str) -> Three {
        Three {
            a: a.into(),
            b: b.into(),
            c: c.into(),
        }
    }

    /// The derived lookup hash separates label sets whose concatenated values are equal
    /// (each value's length is mixed in), and equal sets hash equally.
    #[test]
    fn derived_lookup_hash_keeps_value_boundaries() {
        let fam: Family<Three, Counter> = Family::new();
        let sets = [
            three("ab", "c", ""),
            three("a", "bc", ""),
            three("", "abc", ""),
            three("abc", "", ""),
            three("", "", "abc"),
            three("a", "", "bc"),
            three("/api/v1/users/{id}", "GET", "200"),
            three("/api/v1/users/{id}G", "ET", "200"),
            three("/api/v1/users/{id", "}GET", "200"),
        ];
        let hashes: Vec<u64> = sets.iter().map(|s| fam.hash(s)).collect();
        for (i, h) in hashes.iter().enumerate() {
            for (j, g) in hashes.iter().enumerate().skip(i + 1) {
                assert_ne!(h, g, "{:?} and {:?} hash alike", sets[i], sets[j]);
            }
        }
        assert_eq!(fam.hash(&three("ab", "c", "")), hashes[0]);
        // Many random-ish sets: no 64-bit collision among 20,000 distinct label sets.
        let mut seen = std::collections::HashSet::new();
        for i in 0..20_000 {
            let s = three(
                &format!("m{}", i % 7),
                &format!("/r/{i}"),
                &format!("{}", i % 13),
            );
            assert!(seen.insert(fam.hash(&s)), "collision at {s:?}");
        }
    }

    /// A label set whose lookup hash is constant: every series collides, and the family
    /// still keeps them apart because lookups compare the labels themselves.
    #[derive(Clone, Debug, PartialEq, Eq, Hash)]
    struct Colliding(String);

    impl LabelSet for Colliding {
        const NAMES: &'static [&'static str] = &["k"];
        fn visit_values(&self, f: &mut dyn FnMut(&str)) {
            f(&self.0)
        }
        fn hash_values<H: std::hash::Hasher>(&self, _state: &mut H) {}
    }

    #[test]
    fn colliding_hashes_never_merge_series() {
        let fam: Family<Colliding, Counter> = Family::with_cap(1_000);
        for round in 0..3 {
            for i in 0..100u64 {
                fam.with(&Colliding(format!("s{i}")), |c| c.inc_by(i + 1));
            }
            assert_eq!(fam.len(), 100, "round {round}");
        }
        for i in 0..100u64 {
            let c = fam.get(&Colliding(format!("s{i}")));
            assert_eq!(c.map(|c| c.get()), Some(3 * (i + 1)));
        }
        assert!(fam.remove(&Colliding("s5".into())));
        assert!(fam.get(&Colliding("s5".into())).is_none());
        assert_eq!(fam.with(&Colliding("s6".into()), |c| c.get()), 21);
    }
}
