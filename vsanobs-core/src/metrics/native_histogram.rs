//! [`NativeHistogram`]: a Prometheus native (sparse, exponential) histogram, its builder
//! [`NativeHistogramBuilder`] and [`NativeHistogramError`].
//!
//! # Design
//!
//! Buckets are stored densely: per sign, a pre-sized array of `window` atomic counters (the
//! bucket limit, at least 136) indexed by `bucket index - offset`. The schema and offsets of
//! the arrays form a *layout*, which never changes once published; observations find the
//! current layout with one atomic load, then record with one bucket `fetch_add` and the
//! sum's compare-and-swap, as the classic [`Histogram`](crate::Histogram) does: no map, no
//! lock, no allocation, no extra read-modify-write.
//!
//! A new layout is needed when the first value of a sign arrives (its window is anchored
//! around it), when a value falls outside its sign's window, or when more buckets are
//! populated than the limit. The observer then takes the layout mutex, builds a coarser
//! layout (schema minus one or more, until the old window and the new value fit; each step
//! merges bucket pairs, so the relative error doubles), moves the counts over with an atomic
//! `swap` per slot, publishes it and records its value again. An observation still adding to
//! the old layout after its slot moved keeps its count there, and reads add every layout's
//! counts at the current schema, so nothing is lost and nothing counted twice; client_golang
//! reaches the same with a hot/cold pair of count sets and two more atomic operations per
//! observation, which cost this type half its speed (see `benches/`).
//!
//! The schema only ever goes down, a change of an anchored window always lowers it, and at
//! schema -4 one window covers every finite `f64` (133 buckets per sign): a histogram has
//! at most 16 layouts, each two arrays allocated when it is built. The limit is enforced on
//! each sign's *span* as well as on the populated bucket count client_golang limits, since
//! the span is what the dense arrays must hold; a distribution with a wide gap between
//! clusters is therefore coarsened sooner than client_golang would. Once at schema -4 the
//! populated-bucket limit is no longer enforced (client_golang would widen the zero bucket
//! or reset instead; this type never drops counts).
//!
//! Special values, as the specification and client_golang handle them: values with
//! `|v| <= zero_threshold` go to the zero bucket; NaN counts in the count and the sum (which
//! becomes NaN) but in no bucket; `±Inf` goes one bucket past the one of `±f64::MAX`.
//!
//! Scrapes take the layout mutex (observers take it only to change the layout) and read
//! every layout; the count is the sum of what was read, so it always agrees with the
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
//! Memory: two arrays of `window` counters per layout, 2 x 8 x 160 = 2.5 KiB per layout at
//! the default limit; a histogram has 1 to 4 layouts in practice (16 at most). Benchmarks
//! (`benches/benches/core.rs`, group `f_native_observe`): an observation costs about 1.7
//! times the classic histogram's, less than prometheus-client's and the OpenTelemetry SDK's
//! exponential histogram.

use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

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

/// Layouts a histogram can go through: the initial one, one anchoring each sign, and one per
/// schema step from 8 down to -4 (each change of an anchored window lowers the schema).
const MAX_LAYOUTS: usize = 16;
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
                current: AtomicUsize::new(0),
                layouts: (0..MAX_LAYOUTS)
                    .map(|i| {
                        let l = OnceLock::new();
                        if i == 0 {
                            let _ = l.set(Set::new(schema, UNANCHORED, UNANCHORED, window));
                        }
                        l
                    })
                    .collect(),
                zero_count: AtomicU64::new(0),
                nan_count: AtomicU64::new(0),
                sum: AtomicU64::new(0f64.to_bits()),
                zero_threshold: self.zero_threshold,
                max_buckets: self.max_buckets,
                window,
                layout: Mutex::new(()),
                classic,
                exemplars: self
                    .exemplars
                    .then(|| (0..slots).map(|_| ExemplarSlot::default()).collect()),
                created: clock::unix_seconds(),
            }),
        })
    }
}

/// The bucket arrays of one layout. A layout never changes once published: a coarser one
/// replaces it.
#[derive(Debug)]
struct Set {
    schema: i8,
    /// Bucket index of slot 0, per sign ([`UNANCHORED`] before the first value).
    pos_offset: i32,
    neg_offset: i32,
    pos: Box<[AtomicU64]>,
    neg: Box<[AtomicU64]>,
    /// Non-zero slots of both signs.
    populated: AtomicU32,
}

impl Set {
    fn new(schema: i8, pos_offset: i32, neg_offset: i32, window: u32) -> Self {
        let arr = || (0..window).map(|_| AtomicU64::new(0)).collect();
        Set {
            schema,
            pos_offset,
            neg_offset,
            pos: arr(),
            neg: arr(),
            populated: AtomicU32::new(0),
        }
    }
    fn side(&self, positive: bool) -> (i32, &[AtomicU64]) {
        if positive {
            (self.pos_offset, &self.pos)
        } else {
            (self.neg_offset, &self.neg)
        }
    }
}

#[derive(Debug)]
struct Classic {
    bounds: Box<[f64]>,
    counts: Box<[AtomicU64]>,
}

#[derive(Debug)]
struct NativeCore {
    /// The layout observations go to: an index into `layouts`.
    current: AtomicUsize,
    /// Every layout so far; earlier ones keep what stragglers added after a change.
    layouts: Box<[OnceLock<Set>]>,
    zero_count: AtomicU64,
    nan_count: AtomicU64,
    sum: AtomicU64,
    zero_threshold: f64,
    max_buckets: u32,
    window: u32,
    layout: Mutex<()>,
    classic: Option<Classic>,
    exemplars: Option<Box<[ExemplarSlot]>>,
    created: f64,
}

/// A Prometheus native histogram: exponential buckets at a schema, a zero bucket, and
/// optionally classic buckets alongside. Observing takes no lock and allocates nothing
/// between layout changes (see the [module docs](self) for the design).
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
                let Some(set) = core.layouts[core.current.load(Ordering::Acquire)].get() else {
                    // Published only after it is set: not reached.
                    std::hint::spin_loop();
                    continue;
                };
                let idx = index_abs(set.schema, a);
                let (offset, counts) = set.side(positive);
                let slot = i64::from(idx) - i64::from(offset);
                if let Some(c) = usize::try_from(slot).ok().and_then(|s| counts.get(s)) {
                    if c.fetch_add(1, Ordering::Relaxed) == 0
                        && set.populated.fetch_add(1, Ordering::Relaxed) >= core.max_buckets
                    {
                        core.relayout(None);
                    }
                    break;
                }
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
        let core = &*self.inner;
        core.layouts[core.current.load(Ordering::Acquire)]
            .get()
            .map_or(NATIVE_SCHEMA_MIN, |s| s.schema)
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
        let cur = core.current.load(Ordering::Acquire);
        let schema = core.layouts[cur]
            .get()
            .map_or(NATIVE_SCHEMA_MIN, |s| s.schema);
        // Every layout's counts at the current schema: earlier layouts hold only what
        // observations still in flight during a change added to them.
        let mut positive: Vec<(i32, u64)> = Vec::new();
        let mut negative: Vec<(i32, u64)> = Vec::new();
        for set in core.layouts[..=cur].iter().filter_map(OnceLock::get) {
            let k = (set.schema - schema) as u32;
            for (positive_side, out) in [(true, &mut positive), (false, &mut negative)] {
                let (off, counts) = set.side(positive_side);
                for (i, c) in counts.iter().enumerate() {
                    let n = c.load(Ordering::Relaxed);
                    if n > 0 {
                        out.push((coarsen(off + i as i32, k), n));
                    }
                }
            }
        }
        drop(g);
        for side in [&mut positive, &mut negative] {
            side.sort_unstable_by_key(|b| b.0);
            side.dedup_by(|b, a| {
                let same = a.0 == b.0;
                if same {
                    a.1 += b.1;
                }
                same
            });
        }
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
                            exemplar: exemplars.get(i).cloned().flatten(),
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
    /// Publishes a coarser or newly anchored layout so that `value` (sign, magnitude) fits
    /// and the populated buckets are within the limit, or returns at once when another
    /// thread already did. Counts move to the new layout; an observation still adding to the
    /// old one after its slot moved stays there and is read from there.
    #[cold]
    fn relayout(&self, value: Option<(bool, f64)>) {
        let _g = self.layout.lock();
        let cur = self.current.load(Ordering::Acquire);
        let Some(old) = self.layouts[cur].get() else {
            return;
        };
        let schema = old.schema;
        let w = i64::from(self.window);
        let in_window = |positive: bool, idx: i32| {
            (0..w).contains(&(i64::from(idx) - i64::from(old.side(positive).0)))
        };
        let fits = value.is_none_or(|(p, a)| in_window(p, index_abs(schema, a)));
        let over =
            old.populated.load(Ordering::Relaxed) > self.max_buckets && schema > NATIVE_SCHEMA_MIN;
        if (fits && !over) || cur + 1 >= MAX_LAYOUTS {
            return;
        }
        // A value outside an anchored window always lowers the schema: the new window holds
        // the old one and the value, so the number of layouts stays bounded.
        let anchored = value.is_some_and(|(p, _)| old.side(p).0 != UNANCHORED);
        let mut k: u32 = u32::from(over || anchored);
        if cur + 2 >= MAX_LAYOUTS {
            // The last layout: schema -4, where one window holds every value.
            k = (schema - NATIVE_SCHEMA_MIN) as u32;
        }
        let (new_schema, pos, neg) = loop {
            let s = (schema - k as i8).max(NATIVE_SCHEMA_MIN);
            let plan = |positive: bool| -> Option<i32> {
                let off = old.side(positive).0;
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
                    None => Some(UNANCHORED),
                    Some((lo, hi)) => {
                        let span = i64::from(hi) - i64::from(lo) + 1;
                        // Centre the occupied range, leaving room on both sides.
                        (span <= w).then(|| lo - ((w - span) / 2) as i32)
                    }
                }
            };
            match (plan(true), plan(false)) {
                (Some(p), Some(n)) => break (s, p, n),
                _ if s == NATIVE_SCHEMA_MIN => return,
                _ => k += 1,
            }
        };
        let k = (schema - new_schema) as u32;
        let new = Set::new(new_schema, pos, neg, self.window);
        for positive in [true, false] {
            let (old_off, old_counts) = old.side(positive);
            let (new_off, new_counts) = new.side(positive);
            if old_off == UNANCHORED {
                continue; // no value of this sign yet
            }
            for (i, c) in old_counts.iter().enumerate() {
                let j = coarsen(old_off + i as i32, k);
                let Some(slot) = usize::try_from(i64::from(j) - i64::from(new_off))
                    .ok()
                    .and_then(|s| new_counts.get(s))
                else {
                    continue; // not reached: the new window covers the old one
                };
                let n = c.swap(0, Ordering::Relaxed);
                if n > 0 && slot.fetch_add(n, Ordering::Relaxed) == 0 {
                    new.populated.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        if self.layouts[cur + 1].set(new).is_ok() {
            self.current.store(cur + 1, Ordering::Release);
        }
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
