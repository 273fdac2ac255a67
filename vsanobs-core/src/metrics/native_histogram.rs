//! [`NativeHistogram`]: a Prometheus native (sparse, exponential) histogram, its builder
//! [`NativeHistogramBuilder`] and [`NativeHistogramError`].
//!
//! # Design
//!
//! Buckets are stored densely: per sign, a pre-sized array of `window` atomic counters (the
//! bucket limit, at least 136) indexed by `bucket index - offset`. Recording is a bucket
//! `fetch_add` at a computed position: no map, no lock, no allocation. Two such sets of
//! arrays exist, a *hot* one that observations go to and a zeroed *cold* one, as in
//! client_golang's hot/cold scheme: each observation first takes a ticket from one
//! `fetch_add` on a word whose top bit names the hot set, and marks itself done on that
//! set when finished. Only a change of layout needs the cold set:
//!
//! - the first value of a sign anchors that sign's window around its index;
//! - a value outside the window, or more populated buckets than the limit, makes the
//!   observer take the layout mutex, give the cold set a coarser layout (schema minus one or
//!   more, until the old window and the new value fit; every step merges bucket pairs, so
//!   the relative error doubles), flip the hot bit, wait for the observations still writing
//!   to the old set (they are a few instructions from done and never block), fold the old
//!   counts into the new set and zero the old one; then it records its value again.
//!
//! The schema only ever goes down, and at schema -4 one window covers every finite `f64`
//! (133 buckets per sign), so a histogram changes layout at most 13 times plus once per
//! sign to anchor: in the steady state an observation is three uncontended atomic adds
//! and the sum's compare-and-swap, and nothing is lost across a change since counts move,
//! never restart. The limit is enforced on each sign's *span* as well as on the populated
//! bucket count client_golang limits, since the span is what the dense arrays must hold; a
//! distribution with a wide gap between clusters is therefore coarsened sooner than
//! client_golang would. Once at schema -4 the populated-bucket limit is no longer enforced
//! (client_golang would widen the zero bucket or reset instead; this type never drops
//! counts).
//!
//! Special values, as the specification and client_golang handle them: values with
//! `|v| <= zero_threshold` go to the zero bucket; NaN counts in the count and the sum (which
//! becomes NaN) but in no bucket; `±Inf` goes one bucket past the one of `±f64::MAX`.
//!
//! Scrapes take the layout mutex (never contended by observers in the steady state) and
//! read the hot set; the count is the sum of what was read, so it always agrees with the
//! buckets, while the sum may trail by an observation in progress.
//!
//! # Example
//!
//! ```
//! use vsanobs_core::{NativeHistogram, Registry, Format};
//!
//! let h = NativeHistogram::builder().schema(3).classic_buckets([0.1, 1.0]).build()?;
//! h.observe(0.25);
//! let v = h.read();
//! assert_eq!(v.count, 1);
//! assert_eq!(v.positive, [(-16, 1)]); // 0.25 = 2^-2 = base^-16 at schema 3
//!
//! let r = Registry::new();
//! r.register("req_seconds", "Request time.", h)?;
//! // Text formats show the classic buckets.
//! assert!(r.encode_to_string(Format::PrometheusText).contains("req_seconds_bucket{le=\"1.0\"} 1\n"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Note
//! Memory: two sets of two arrays of `window` counters, 4 x 8 x 160 = 5 KiB per series at
//! the default limit. Benchmarks (`benches/benches/core.rs`, `native_observe`) compare the
//! observation with the classic [`Histogram`](crate::Histogram)'s.

use std::sync::Arc;
use std::sync::atomic::{AtomicI32, AtomicU32, AtomicU64, Ordering};

use parking_lot::Mutex;

use super::atomic_f64::atomic_f64_add;
use super::exemplar::{ExemplarSlot, TraceContext};
use super::histogram::BucketError;
use super::native_buckets::{NATIVE_SCHEMA_MAX, NATIVE_SCHEMA_MIN, coarsen, index_abs};
use super::{Metric, sealed};
use crate::clock;
use crate::encoding::Visitor;
use crate::labels::LabelsRef;
use crate::model::{Bucket, MetricKind, NativeHistogramValue};

/// The top bit of [`NativeCore::state`]: which set is hot.
const HOT: u64 = 1 << 63;
/// Observations started, the low 63 bits of [`NativeCore::state`].
const STARTED: u64 = HOT - 1;
/// A window offset meaning "no value of this sign yet".
const UNANCHORED: i32 = i32::MIN;
/// Indices of all positive finite values and +Inf at schema -4 span 133 buckets; a window at
/// least this wide can always hold everything at the lowest schema.
const MIN_WINDOW: u32 = 136;
/// The largest bucket limit accepted (memory is proportional to it).
pub const NATIVE_MAX_BUCKETS_LIMIT: u32 = 1 << 16;

/// Why a native histogram could not be built.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum NativeHistogramError {
    /// The schema is outside -4..=8.
    #[error("native histogram schema {0} is outside -4..=8")]
    SchemaOutOfRange(i32),
    /// The zero threshold is negative, NaN or infinite.
    #[error("native histogram zero threshold {0} must be finite and not negative")]
    ZeroThreshold(f64),
    /// The bucket limit is 0 or larger than [`NATIVE_MAX_BUCKETS_LIMIT`].
    #[error("native histogram bucket limit {0} is outside 1..=65536")]
    BucketLimit(u32),
    /// The classic buckets kept alongside are invalid.
    #[error("classic buckets of a native histogram: {0}")]
    Classic(#[source] BucketError),
}

/// Builds a [`NativeHistogram`]. Defaults: schema 3 (growth factor 1.09, at most 4.4%
/// relative error), zero threshold 2^-128 (client_golang's default), at most 160 buckets,
/// no classic buckets, no exemplars.
///
/// # Example
/// ```
/// use vsanobs_core::{NativeHistogram, NativeHistogramError};
///
/// let h = NativeHistogram::builder().schema(5).zero_threshold(1e-9).max_buckets(200).build()?;
/// assert_eq!(h.schema(), 5);
/// assert_eq!(
///     NativeHistogram::builder().schema(9).build().unwrap_err(),
///     NativeHistogramError::SchemaOutOfRange(9)
/// );
/// assert!(matches!(
///     NativeHistogram::builder().zero_threshold(-1.0).build(),
///     Err(NativeHistogramError::ZeroThreshold(_))
/// ));
/// # Ok::<(), NativeHistogramError>(())
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct NativeHistogramBuilder {
    schema: i32,
    zero_threshold: f64,
    max_buckets: u32,
    classic: Option<Vec<f64>>,
    exemplars: bool,
}

impl Default for NativeHistogramBuilder {
    fn default() -> Self {
        NativeHistogramBuilder {
            schema: 3,
            zero_threshold: 2f64.powi(-128),
            max_buckets: 160,
            classic: None,
            exemplars: false,
        }
    }
}

impl NativeHistogramBuilder {
    /// The initial schema, -4..=8: growth factor `2^(2^-schema)` between bucket bounds.
    pub fn schema(mut self, schema: i32) -> Self {
        self.schema = schema;
        self
    }
    /// Values with `|v| <=` this go to the zero bucket (`0.0` keeps only exact zeros there).
    pub fn zero_threshold(mut self, t: f64) -> Self {
        self.zero_threshold = t;
        self
    }
    /// The most populated buckets (positive and negative together) before the resolution is
    /// halved; also the width of each sign's bucket window (at least 136).
    pub fn max_buckets(mut self, n: u32) -> Self {
        self.max_buckets = n;
        self
    }
    /// Also keeps classic buckets with these upper bounds (`+Inf` implicit), exported to
    /// scrapers that read only classic histograms and in the text formats.
    pub fn classic_buckets(mut self, bounds: impl IntoIterator<Item = f64>) -> Self {
        self.classic = Some(bounds.into_iter().collect());
        self
    }
    /// Keeps the latest exemplar per classic bucket (or one for the whole histogram when it
    /// has no classic buckets).
    pub fn exemplars(mut self, on: bool) -> Self {
        self.exemplars = on;
        self
    }

    /// Builds the histogram.
    ///
    /// # Errors
    /// [`NativeHistogramError`] for a schema outside -4..=8, a negative or non-finite zero
    /// threshold, a bucket limit of 0 or above 65536, or classic bounds that are not finite
    /// and strictly increasing.
    pub fn build(self) -> Result<NativeHistogram, NativeHistogramError> {
        let schema = i8::try_from(self.schema)
            .ok()
            .filter(|s| (NATIVE_SCHEMA_MIN..=NATIVE_SCHEMA_MAX).contains(s))
            .ok_or(NativeHistogramError::SchemaOutOfRange(self.schema))?;
        if !(self.zero_threshold >= 0.0 && self.zero_threshold.is_finite()) {
            return Err(NativeHistogramError::ZeroThreshold(self.zero_threshold));
        }
        if self.max_buckets == 0 || self.max_buckets > NATIVE_MAX_BUCKETS_LIMIT {
            return Err(NativeHistogramError::BucketLimit(self.max_buckets));
        }
        let classic = match self.classic {
            None => None,
            Some(b) => {
                for w in b.windows(2) {
                    if w[1] <= w[0] {
                        return Err(NativeHistogramError::Classic(BucketError::NotIncreasing {
                            prev: w[0],
                            next: w[1],
                        }));
                    }
                }
                if let Some(x) = b.iter().find(|v| !v.is_finite()) {
                    return Err(NativeHistogramError::Classic(BucketError::NotFinite(*x)));
                }
                let n = b.len() + 1;
                Some(Classic {
                    bounds: b.into_boxed_slice(),
                    counts: (0..n).map(|_| AtomicU64::new(0)).collect(),
                })
            }
        };
        let window = self.max_buckets.max(MIN_WINDOW);
        let slots = match &classic {
            Some(c) => c.counts.len(),
            None => 1,
        };
        Ok(NativeHistogram {
            inner: Arc::new(NativeCore {
                state: AtomicU64::new(0),
                sets: [Set::new(schema, window), Set::new(schema, window)],
                zero_count: AtomicU64::new(0),
                nan_count: AtomicU64::new(0),
                sum: AtomicU64::new(0f64.to_bits()),
                zero_threshold: self.zero_threshold,
                max_buckets: self.max_buckets,
                window,
                layout: Mutex::new(LayoutState { started_at_swap: 0 }),
                classic,
                exemplars: self
                    .exemplars
                    .then(|| (0..slots).map(|_| ExemplarSlot::default()).collect()),
                created: clock::unix_seconds(),
            }),
        })
    }
}

/// One set of bucket arrays with its layout.
#[derive(Debug)]
struct Set {
    schema: AtomicI32,
    /// Bucket index of slot 0, per sign ([`UNANCHORED`] before the first value).
    pos_offset: AtomicI32,
    neg_offset: AtomicI32,
    pos: Box<[AtomicU64]>,
    neg: Box<[AtomicU64]>,
    /// Non-zero slots of both signs.
    populated: AtomicU32,
    /// Observations finished on this set since it last became hot.
    done: AtomicU64,
}

impl Set {
    fn new(schema: i8, window: u32) -> Self {
        let arr = || (0..window).map(|_| AtomicU64::new(0)).collect();
        Set {
            schema: AtomicI32::new(i32::from(schema)),
            pos_offset: AtomicI32::new(UNANCHORED),
            neg_offset: AtomicI32::new(UNANCHORED),
            pos: arr(),
            neg: arr(),
            populated: AtomicU32::new(0),
            done: AtomicU64::new(0),
        }
    }
    fn side(&self, positive: bool) -> (&AtomicI32, &[AtomicU64]) {
        if positive {
            (&self.pos_offset, &self.pos)
        } else {
            (&self.neg_offset, &self.neg)
        }
    }
}

#[derive(Debug)]
struct Classic {
    bounds: Box<[f64]>,
    counts: Box<[AtomicU64]>,
}

#[derive(Debug)]
struct LayoutState {
    /// The started-observations count when the current hot set became hot.
    started_at_swap: u64,
}

#[derive(Debug)]
struct NativeCore {
    state: AtomicU64,
    sets: [Set; 2],
    zero_count: AtomicU64,
    nan_count: AtomicU64,
    sum: AtomicU64,
    zero_threshold: f64,
    max_buckets: u32,
    window: u32,
    layout: Mutex<LayoutState>,
    classic: Option<Classic>,
    exemplars: Option<Box<[ExemplarSlot]>>,
    created: f64,
}

/// A Prometheus native histogram: exponential buckets at a schema, a zero bucket, and
/// optionally classic buckets alongside. Observing takes no lock and allocates nothing once
/// the layout has settled (see the [module docs](self) for the design).
///
/// Exported as a `histogram` family. The protobuf exposition format carries the native
/// buckets (and the classic ones, if any); the text formats, which cannot, show the classic
/// buckets, or, without classic buckets, only `le="+Inf"` with `_count` and `_sum`.
#[derive(Clone, Debug)]
pub struct NativeHistogram {
    inner: Arc<NativeCore>,
}

impl Default for NativeHistogram {
    /// Schema 3, zero threshold 2^-128, at most 160 buckets, no classic buckets.
    fn default() -> Self {
        NativeHistogramBuilder::default()
            .build()
            .unwrap_or_else(|_| unreachable!("the default configuration is valid"))
    }
}

impl NativeHistogram {
    /// A builder with the defaults (schema 3, zero threshold 2^-128, 160 buckets).
    pub fn builder() -> NativeHistogramBuilder {
        NativeHistogramBuilder::default()
    }

    /// A histogram at `schema` with the other defaults.
    ///
    /// # Errors
    /// [`NativeHistogramError::SchemaOutOfRange`] outside -4..=8.
    pub fn new(schema: i32) -> Result<Self, NativeHistogramError> {
        Self::builder().schema(schema).build()
    }

    /// Records one observation (NaN and ±Inf as described in the [module docs](self)).
    #[inline]
    pub fn observe(&self, v: f64) {
        self.record(v);
        self.record_classic(v);
    }

    /// Records one observation and keeps `ctx` as an exemplar (when built with
    /// [`exemplars`](NativeHistogramBuilder::exemplars)).
    pub fn observe_with_exemplar(&self, v: f64, ctx: &TraceContext) {
        self.record(v);
        let slot = self.record_classic(v);
        if let Some(ex) = &self.inner.exemplars {
            ex[slot.min(ex.len() - 1)].record(ctx, v);
        }
    }

    /// The classic bucket `v` went to (0 without classic buckets).
    #[inline]
    fn record_classic(&self, v: f64) -> usize {
        let Some(c) = &self.inner.classic else {
            return 0;
        };
        let i = if v.is_nan() {
            c.bounds.len()
        } else {
            c.bounds.partition_point(|b| *b < v)
        };
        c.counts[i].fetch_add(1, Ordering::Relaxed);
        i
    }

    #[inline]
    fn record(&self, v: f64) {
        let core = &*self.inner;
        let a = v.abs();
        if v.is_nan() {
            core.nan_count.fetch_add(1, Ordering::Relaxed);
        } else if a <= core.zero_threshold {
            core.zero_count.fetch_add(1, Ordering::Relaxed);
        } else {
            let positive = v > 0.0;
            // At most a few rounds: a layout change makes room for `v` before returning.
            loop {
                let ticket = core.state.fetch_add(1, Ordering::Acquire);
                let set = &core.sets[usize::from(ticket & HOT != 0)];
                let schema = set.schema.load(Ordering::Relaxed) as i8;
                let idx = index_abs(schema, a);
                let (offset, counts) = set.side(positive);
                let slot = i64::from(idx) - i64::from(offset.load(Ordering::Relaxed));
                if let Some(c) = usize::try_from(slot).ok().and_then(|s| counts.get(s)) {
                    let full = c.fetch_add(1, Ordering::Relaxed) == 0
                        && set.populated.fetch_add(1, Ordering::Relaxed) >= core.max_buckets;
                    set.done.fetch_add(1, Ordering::Release);
                    if full {
                        core.relayout(None);
                    }
                    break;
                }
                set.done.fetch_add(1, Ordering::Release);
                core.relayout(Some((positive, a)));
            }
        }
        atomic_f64_add(&core.sum, v);
    }

    /// Number of observations (NaN included).
    pub fn count(&self) -> u64 {
        self.read().count
    }
    /// Sum of observations.
    pub fn sum(&self) -> f64 {
        f64::from_bits(self.inner.sum.load(Ordering::Relaxed))
    }
    /// The current schema (the configured one, or lower once the bucket limit reduced it).
    pub fn schema(&self) -> i8 {
        let _g = self.inner.layout.lock();
        let st = self.inner.state.load(Ordering::Acquire);
        self.inner.sets[usize::from(st & HOT != 0)]
            .schema
            .load(Ordering::Relaxed) as i8
    }
    /// The zero threshold.
    pub fn zero_threshold(&self) -> f64 {
        self.inner.zero_threshold
    }
    /// Unix time in seconds when this histogram was created (its `_created` sample).
    pub fn created(&self) -> f64 {
        self.inner.created
    }

    /// Reads the buckets, count and sum. Takes the layout mutex (observers do not) and
    /// allocates the result.
    pub fn read(&self) -> NativeHistogramValue {
        let core = &*self.inner;
        let g = core.layout.lock();
        let st = core.state.load(Ordering::Acquire);
        let set = &core.sets[usize::from(st & HOT != 0)];
        let read_side = |positive: bool| -> Vec<(i32, u64)> {
            let (offset, counts) = set.side(positive);
            let off = offset.load(Ordering::Relaxed);
            counts
                .iter()
                .enumerate()
                .filter_map(|(i, c)| {
                    let n = c.load(Ordering::Relaxed);
                    (n > 0).then(|| (off + i as i32, n))
                })
                .collect()
        };
        let positive = read_side(true);
        let negative = read_side(false);
        let schema = set.schema.load(Ordering::Relaxed) as i8;
        drop(g);
        let zero_count = core.zero_count.load(Ordering::Relaxed);
        let count = zero_count
            + core.nan_count.load(Ordering::Relaxed)
            + positive.iter().chain(&negative).map(|b| b.1).sum::<u64>();
        let exemplars: Vec<_> = core
            .exemplars
            .iter()
            .flat_map(|e| e.iter().map(ExemplarSlot::get))
            .collect();
        let classic = match &core.classic {
            None => Vec::new(),
            Some(c) => {
                let mut acc = 0;
                c.counts
                    .iter()
                    .enumerate()
                    .map(|(i, n)| {
                        acc += n.load(Ordering::Relaxed);
                        Bucket {
                            upper_bound: c.bounds.get(i).copied().unwrap_or(f64::INFINITY),
                            cumulative_count: acc,
                            exemplar: exemplars.get(i).copied().flatten(),
                        }
                    })
                    .collect()
            }
        };
        NativeHistogramValue {
            schema,
            zero_threshold: core.zero_threshold,
            zero_count,
            count,
            sum: self.sum(),
            positive,
            negative,
            exemplars: if core.classic.is_none() {
                exemplars.into_iter().flatten().collect()
            } else {
                Vec::new()
            },
            classic,
        }
    }
}

impl NativeCore {
    /// Changes the layout so that `value` (sign, magnitude) fits and the populated buckets
    /// are within the limit, or returns at once when another thread already did.
    #[cold]
    fn relayout(&self, value: Option<(bool, f64)>) {
        let mut g = self.layout.lock();
        let st = self.state.load(Ordering::Acquire);
        let hot_i = usize::from(st & HOT != 0);
        let (hot, cold) = (&self.sets[hot_i], &self.sets[1 - hot_i]);
        let schema = hot.schema.load(Ordering::Relaxed) as i8;
        let w = i64::from(self.window);
        let in_window = |positive: bool, idx: i32| {
            let off = hot.side(positive).0.load(Ordering::Relaxed);
            (0..w).contains(&(i64::from(idx) - i64::from(off)))
        };
        let fits = value.is_none_or(|(p, a)| in_window(p, index_abs(schema, a)));
        let over =
            hot.populated.load(Ordering::Relaxed) > self.max_buckets && schema > NATIVE_SCHEMA_MIN;
        if fits && !over {
            return;
        }
        // The coarsest change needed: every slot of each anchored window, plus the value.
        let mut k: u32 = u32::from(over);
        let (new_schema, pos, neg) = loop {
            let s = (schema - k as i8).max(NATIVE_SCHEMA_MIN);
            let plan = |positive: bool| -> Option<Option<i32>> {
                let off = hot.side(positive).0.load(Ordering::Relaxed);
                // Slots past the indices finite values and ±Inf can have never hold a count.
                let (min, max) = (index_abs(s, f64::from_bits(1)), index_abs(s, f64::INFINITY));
                let mut range: Option<(i32, i32)> = (off != UNANCHORED).then(|| {
                    (
                        coarsen(off, k).max(min),
                        coarsen(off + self.window as i32 - 1, k).min(max),
                    )
                });
                if let Some((p, a)) = value
                    && p == positive
                {
                    let i = index_abs(s, a);
                    range = Some(range.map_or((i, i), |(lo, hi)| (lo.min(i), hi.max(i))));
                }
                match range {
                    None => Some(None),
                    Some((lo, hi)) => {
                        let span = i64::from(hi) - i64::from(lo) + 1;
                        // Centre the occupied range, leaving room on both sides.
                        (span <= w).then(|| Some(lo - ((w - span) / 2) as i32))
                    }
                }
            };
            match (plan(true), plan(false)) {
                (Some(p), Some(n)) => break (s, p, n),
                _ if s == NATIVE_SCHEMA_MIN => {
                    unreachable!("a window of at least {MIN_WINDOW} holds every index at schema -4")
                }
                _ => k += 1,
            }
        };
        let k = (schema - new_schema) as u32;
        cold.schema.store(i32::from(new_schema), Ordering::Relaxed);
        cold.pos_offset
            .store(pos.unwrap_or(UNANCHORED), Ordering::Relaxed);
        cold.neg_offset
            .store(neg.unwrap_or(UNANCHORED), Ordering::Relaxed);
        cold.populated.store(0, Ordering::Relaxed);
        cold.done.store(0, Ordering::Relaxed);
        // Flip: new observations go to the re-laid-out set from here on.
        let before = self.state.fetch_add(HOT, Ordering::AcqRel);
        let on_old = (before & STARTED) - g.started_at_swap;
        g.started_at_swap = before & STARTED;
        let mut spins = 0u32;
        while hot.done.load(Ordering::Acquire) != on_old {
            spins += 1;
            if spins < 64 {
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
        // Fold the old counts into the new set; the old one is quiet now.
        for positive in [true, false] {
            let (old_off, old) = hot.side(positive);
            let (new_off, new) = cold.side(positive);
            let (old_off, new_off) = (
                old_off.load(Ordering::Relaxed),
                new_off.load(Ordering::Relaxed),
            );
            for (i, c) in old.iter().enumerate() {
                let n = c.swap(0, Ordering::Relaxed);
                if n == 0 {
                    continue;
                }
                let j = coarsen(old_off + i as i32, k);
                let slot = usize::try_from(i64::from(j) - i64::from(new_off))
                    .ok()
                    .and_then(|s| new.get(s));
                match slot {
                    Some(slot) => {
                        if slot.fetch_add(n, Ordering::Relaxed) == 0 {
                            cold.populated.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    None => unreachable!("the new window covers the old one"),
                }
            }
            hot.side(positive).0.store(UNANCHORED, Ordering::Relaxed);
        }
        hot.populated.store(0, Ordering::Relaxed);
    }
}

impl sealed::Sealed for NativeHistogram {}
impl Metric for NativeHistogram {
    const KIND: MetricKind = MetricKind::Histogram;
    fn visit(&self, labels: LabelsRef<'_>, v: &mut dyn Visitor) {
        v.created(self.inner.created);
        v.native_histogram(labels, &self.read());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `2^e` exactly, subnormals included (`powi` is not exact there).
    fn pow2(e: i32) -> f64 {
        if e >= -1022 {
            f64::from_bits(((e + 1023) as u64) << 52)
        } else {
            f64::from_bits(1 << (e + 1074))
        }
    }
    use crate::native_bucket_index;

    #[test]
    fn special_values_follow_the_spec() {
        let h = NativeHistogram::builder()
            .schema(2)
            .zero_threshold(0.5)
            .build()
            .unwrap();
        for v in [
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            0.5,
            -0.5,
            0.0,
            -0.0,
            0.6,
            f64::MAX,
        ] {
            h.observe(v);
        }
        let r = h.read();
        assert_eq!(r.count, 9);
        assert!(r.sum.is_nan());
        assert_eq!(r.zero_count, 4, "±0.5 and ±0 are within the threshold");
        let inf = native_bucket_index(r.schema, f64::INFINITY).unwrap();
        let max = native_bucket_index(r.schema, f64::MAX).unwrap();
        assert_eq!(inf, max + 1);
        assert_eq!(r.positive.iter().map(|b| b.1).sum::<u64>(), 3);
        assert!(r.positive.contains(&(inf, 1)) && r.positive.contains(&(max, 1)));
        assert_eq!(r.negative, [(inf, 1)]);
        assert!(
            h.schema() < 2,
            "+Inf and 0.6 do not fit one window at schema 2"
        );
    }

    #[test]
    fn the_limit_halves_the_resolution_and_keeps_every_count() {
        let h = NativeHistogram::builder()
            .schema(8)
            .max_buckets(20)
            .build()
            .unwrap();
        let mut n = 0;
        for i in 0..2000 {
            let v = 1.0 + f64::from(i) * 0.01;
            h.observe(v);
            h.observe(-v / 1000.0);
            n += 2;
        }
        let r = h.read();
        assert_eq!(r.count, n);
        assert!(r.schema < 8, "schema {}", r.schema);
        assert!(r.positive.len() + r.negative.len() <= 20 + 1, "{r:?}");
        // Every value is still in the bucket of its own index at the reduced schema.
        assert_eq!(r.positive[0].0, native_bucket_index(r.schema, 1.0).unwrap());
        assert_eq!(
            r.positive.last().unwrap().0,
            native_bucket_index(r.schema, 1.0 + 1999.0 * 0.01).unwrap()
        );
    }

    #[test]
    fn a_wide_range_reduces_down_to_schema_minus_four() {
        let h = NativeHistogram::builder()
            .schema(8)
            .zero_threshold(0.0)
            .build()
            .unwrap();
        for e in -1074..=1023 {
            h.observe(pow2(e));
        }
        h.observe(f64::INFINITY);
        let r = h.read();
        assert_eq!(r.schema, -4);
        assert_eq!(r.count, 2099);
        assert_eq!(
            r.positive.first().unwrap().0,
            native_bucket_index(-4, f64::from_bits(1)).unwrap()
        );
        assert_eq!(r.positive.last().unwrap(), &(65, 1));
    }

    #[test]
    fn concurrent_observers_lose_nothing_across_relayouts() {
        let h = NativeHistogram::builder()
            .schema(8)
            .max_buckets(1)
            .build()
            .unwrap();
        std::thread::scope(|s| {
            for t in 0..4 {
                let h = h.clone();
                s.spawn(move || {
                    for i in 0..20_000u32 {
                        let v = f64::from(i % 1000 + 1) * 10f64.powi(t - 2);
                        h.observe(if i % 2 == 0 { v } else { -v });
                    }
                });
            }
            for _ in 0..50 {
                let r = h.read();
                let buckets: u64 = r.positive.iter().chain(&r.negative).map(|b| b.1).sum();
                assert_eq!(r.count, buckets + r.zero_count);
            }
        });
        let r = h.read();
        assert_eq!(r.count, 80_000);
        assert_eq!(r.positive.iter().map(|b| b.1).sum::<u64>(), 40_000);
        assert_eq!(r.negative.iter().map(|b| b.1).sum::<u64>(), 40_000);
    }

    #[test]
    fn construction_errors_are_typed() {
        assert_eq!(
            NativeHistogram::new(-5).unwrap_err(),
            NativeHistogramError::SchemaOutOfRange(-5)
        );
        assert_eq!(
            NativeHistogram::new(300).unwrap_err(),
            NativeHistogramError::SchemaOutOfRange(300)
        );
        assert!(matches!(
            NativeHistogram::builder().zero_threshold(f64::NAN).build(),
            Err(NativeHistogramError::ZeroThreshold(_))
        ));
        assert_eq!(
            NativeHistogram::builder()
                .max_buckets(0)
                .build()
                .unwrap_err(),
            NativeHistogramError::BucketLimit(0)
        );
        assert!(matches!(
            NativeHistogram::builder()
                .classic_buckets([1.0, 1.0])
                .build(),
            Err(NativeHistogramError::Classic(
                BucketError::NotIncreasing { .. }
            ))
        ));
    }
}
