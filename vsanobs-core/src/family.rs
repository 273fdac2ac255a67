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
//! Lookups of existing series read an immutable snapshot (an `arc-swap` load and one hash
//! probe): no lock, no allocation. New label sets take a mutex and land in a side map that is
//! folded into the snapshot once it has missed as often as the snapshot is large (the
//! amortised scheme of Go's `sync.Map`). Past the cap, new label sets share one overflow series
//! whose labels all read [`OVERFLOW_LABEL_VALUE`](crate::OVERFLOW_LABEL_VALUE).

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arc_swap::ArcSwap;
use indexmap::IndexMap;
use parking_lot::Mutex;

use crate::encoding::Visitor;
use crate::labels::{LabelSet, LabelsRef, OwnLabels};
use crate::metrics::Metric;

type Map<L, M> = IndexMap<L, M, foldhash::fast::RandomState>;

/// The series cap a family gets unless told otherwise.
pub const DEFAULT_SERIES_CAP: usize = 2_000;

struct Dirty<L, M> {
    map: Map<L, M>,
    misses: usize,
}

struct Inner<L, M> {
    read: ArcSwap<Map<L, M>>,
    dirty: Mutex<Dirty<L, M>>,
    overflow: M,
    overflowed: AtomicU64,
    cap: usize,
    ctor: Box<dyn Fn() -> M + Send + Sync>,
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
        Family {
            inner: Arc::new(Inner {
                read: ArcSwap::from_pointee(Map::default()),
                dirty: Mutex::new(Dirty {
                    map: Map::default(),
                    misses: 0,
                }),
                overflow,
                overflowed: AtomicU64::new(0),
                cap: cap.max(1),
                ctor: Box::new(ctor),
            }),
        }
    }

    /// Runs `f` on the metric for `labels`, creating it if needed (or using the overflow
    /// series past the cap). For an existing series this takes no lock and allocates nothing.
    #[inline]
    pub fn with<R>(&self, labels: &L, f: impl FnOnce(&M) -> R) -> R {
        {
            let read = self.inner.read.load();
            if let Some(m) = read.get(labels) {
                return f(m);
            }
        }
        let m = self.slow_get(labels);
        f(&m)
    }

    /// The metric for `labels` as a handle to keep (pre-binding). Past the cap this is the
    /// shared overflow series.
    pub fn get_or_create(&self, labels: &L) -> M {
        {
            let read = self.inner.read.load();
            if let Some(m) = read.get(labels) {
                return m.clone();
            }
        }
        self.slow_get(labels)
    }

    /// The metric for `labels` if that series exists; never creates one.
    pub fn get(&self, labels: &L) -> Option<M> {
        if let Some(m) = self.inner.read.load().get(labels) {
            return Some(m.clone());
        }
        self.inner.dirty.lock().map.get(labels).cloned()
    }

    #[cold]
    fn slow_get(&self, labels: &L) -> M {
        let inner = &*self.inner;
        let mut d = inner.dirty.lock();
        let read = inner.read.load();
        if let Some(m) = read.get(labels) {
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

    fn promote(inner: &Inner<L, M>, d: &mut Dirty<L, M>) {
        d.misses = 0;
        if d.map.is_empty() {
            return;
        }
        let cur = inner.read.load();
        let mut next: Map<L, M> = Map::with_capacity_and_hasher(
            cur.len() + d.map.len(),
            foldhash::fast::RandomState::default(),
        );
        next.extend(cur.iter().map(|(k, v)| (k.clone(), v.clone())));
        next.extend(d.map.drain(..));
        inner.read.store(Arc::new(next));
    }

    /// Removes the series for `labels`. Returns whether it existed. Handles already bound to
    /// it keep working but are no longer exported.
    pub fn remove(&self, labels: &L) -> bool {
        let mut d = self.inner.dirty.lock();
        if d.map.shift_remove(labels).is_some() {
            return true;
        }
        let cur = self.inner.read.load();
        if !cur.contains_key(labels) {
            return false;
        }
        let mut next = (**cur).clone();
        next.shift_remove(labels);
        self.inner.read.store(Arc::new(next));
        true
    }

    /// Removes every series (the overflow count is kept).
    pub fn clear(&self) {
        let mut d = self.inner.dirty.lock();
        d.map.clear();
        d.misses = 0;
        self.inner.read.store(Arc::new(Map::default()));
    }

    /// Number of series, not counting the overflow series.
    pub fn len(&self) -> usize {
        let d = self.inner.dirty.lock();
        self.inner.read.load().len() + d.map.len()
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
    fn snapshot(&self) -> Arc<Map<L, M>> {
        let mut d = self.inner.dirty.lock();
        Self::promote(&self.inner, &mut d);
        self.inner.read.load_full()
    }

    pub(crate) fn visit_series(&self, consts: &[(String, String)], v: &mut dyn Visitor) {
        let snap = self.snapshot();
        for (l, m) in snap.iter() {
            m.visit(
                LabelsRef {
                    consts,
                    own: OwnLabels::Typed(L::NAMES, l),
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
