//! [`Histogram`]: observations counted in fixed buckets, the bucket layout helpers
//! ([`exponential_buckets`], [`linear_buckets`], [`DEFAULT_DURATION_BUCKETS`]) and
//! [`BucketError`].

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::atomic_f64::atomic_f64_add;
use super::exemplar::{ExemplarSlot, TraceContext};
use super::native_histogram::NativeHistogram;
use super::{Metric, sealed};
use crate::clock;
use crate::encoding::Visitor;
use crate::labels::LabelsRef;
use crate::model::{Bucket, Exemplar, MetricKind};

/// Why a bucket layout was rejected.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum BucketError {
    /// A bound is NaN or infinite (`+Inf` is always added implicitly).
    #[error("bucket bound {0} is not finite")]
    NotFinite(f64),
    /// Bounds must strictly increase.
    #[error("bucket bounds must strictly increase, but {prev} is followed by {next}")]
    NotIncreasing {
        /// The earlier bound.
        prev: f64,
        /// The bound that did not exceed it.
        next: f64,
    },
    /// Parameters of a bucket generator were out of range.
    #[error("invalid bucket parameters: {0}")]
    Parameters(&'static str),
}

/// `count` bounds starting at `start`, each `factor` times the previous.
///
/// # Errors
/// [`BucketError::Parameters`] when `start <= 0`, `factor <= 1` or `count == 0`.
///
/// # Example
/// ```
/// assert_eq!(vsanobs_core::exponential_buckets(1.0, 2.0, 4).unwrap(), [1.0, 2.0, 4.0, 8.0]);
/// ```
pub fn exponential_buckets(start: f64, factor: f64, count: usize) -> Result<Vec<f64>, BucketError> {
    if !(start > 0.0 && start.is_finite()) {
        return Err(BucketError::Parameters("start must be positive and finite"));
    }
    if !(factor > 1.0 && factor.is_finite()) {
        return Err(BucketError::Parameters("factor must be greater than 1"));
    }
    if count == 0 {
        return Err(BucketError::Parameters("count must be at least 1"));
    }
    Ok(std::iter::successors(Some(start), |b| Some(b * factor))
        .take(count)
        .collect())
}

/// `count` bounds starting at `start`, `width` apart.
///
/// # Errors
/// [`BucketError::Parameters`] when `width <= 0` or `count == 0`.
///
/// # Example
/// ```
/// assert_eq!(vsanobs_core::linear_buckets(0.5, 0.5, 3).unwrap(), [0.5, 1.0, 1.5]);
/// ```
pub fn linear_buckets(start: f64, width: f64, count: usize) -> Result<Vec<f64>, BucketError> {
    if !(width > 0.0 && width.is_finite() && start.is_finite()) {
        return Err(BucketError::Parameters("width must be positive and finite"));
    }
    if count == 0 {
        return Err(BucketError::Parameters("count must be at least 1"));
    }
    Ok((0..count).map(|i| start + width * i as f64).collect())
}

/// The OpenTelemetry HTTP semantic-convention duration buckets, in seconds.
pub const DEFAULT_DURATION_BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

#[derive(Debug)]
struct HistogramCore {
    bounds: Box<[f64]>,
    /// Non-cumulative counts; the last slot is the `+Inf` bucket.
    counts: Box<[AtomicU64]>,
    sum: AtomicU64,
    exemplars: Option<Box<[ExemplarSlot]>>,
    /// Unix seconds at creation: the `_created` sample.
    created: f64,
    /// Native buckets kept beside the classic ones ([`Histogram::with_native`]).
    native: Option<NativeHistogram>,
    /// At most [`SMALL`] bounds, none with its sign bit set: positive values take
    /// [`small_index`].
    small: bool,
}

/// A histogram with fixed bucket bounds. Observing takes no lock and allocates nothing.
///
/// The `_count` series is derived from the buckets at scrape time, so it always equals the
/// `+Inf` bucket; `_sum` is updated right after the bucket and may trail it by one
/// observation during a concurrent scrape.
#[derive(Clone, Debug)]
pub struct Histogram {
    inner: Arc<HistogramCore>,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram::new(DEFAULT_DURATION_BUCKETS)
    }
}

fn clean_bounds(bounds: impl IntoIterator<Item = f64>) -> Vec<f64> {
    let mut b: Vec<f64> = bounds.into_iter().filter(|v| v.is_finite()).collect();
    b.sort_by(f64::total_cmp);
    b.dedup();
    b
}

impl Histogram {
    /// A histogram with the given upper bounds. Non-finite bounds are dropped and the rest
    /// sorted and de-duplicated (`+Inf` is implicit); use [`try_new`](Self::try_new) to reject
    /// such input instead.
    pub fn new(bounds: impl IntoIterator<Item = f64>) -> Self {
        Self::build(clean_bounds(bounds), false)
    }

    /// Like [`new`](Self::new), with one exemplar slot per bucket.
    pub fn with_exemplars(bounds: impl IntoIterator<Item = f64>) -> Self {
        Self::build(clean_bounds(bounds), true)
    }

    /// A histogram with exactly these bounds.
    ///
    /// # Errors
    /// [`BucketError`] when a bound is not finite or the bounds do not strictly increase.
    pub fn try_new(bounds: impl IntoIterator<Item = f64>) -> Result<Self, BucketError> {
        let b: Vec<f64> = bounds.into_iter().collect();
        for w in b.windows(2) {
            if w[1] <= w[0] {
                return Err(BucketError::NotIncreasing {
                    prev: w[0],
                    next: w[1],
                });
            }
        }
        if let Some(x) = b.iter().find(|v| !v.is_finite()) {
            return Err(BucketError::NotFinite(*x));
        }
        Ok(Self::build(b, false))
    }

    fn build(bounds: Vec<f64>, exemplars: bool) -> Self {
        let n = bounds.len() + 1;
        Histogram {
            inner: Arc::new(HistogramCore {
                counts: (0..n).map(|_| AtomicU64::new(0)).collect(),
                exemplars: exemplars.then(|| (0..n).map(|_| ExemplarSlot::default()).collect()),
                small: is_small(&bounds),
                bounds: bounds.into_boxed_slice(),
                sum: AtomicU64::new(0f64.to_bits()),
                created: clock::unix_seconds(),
                native: None,
            }),
        }
    }

    /// This histogram's classic buckets plus the native buckets of `native` (a fresh
    /// [`NativeHistogram`], its own classic buckets unused): protobuf scrapes get both, as
    /// client_golang's histograms with native buckets do; text scrapes the classic ones.
    /// This is the one-switch way to move a `Histogram` family to native buckets without
    /// changing its type. Keeps `self`'s bounds and exemplar setting; counts start at zero.
    ///
    /// ```
    /// use vsanobs_core::{Format, Histogram, NativeHistogram, Registry};
    ///
    /// let h = Histogram::new([0.1, 1.0]).with_native(NativeHistogram::new(3)?);
    /// h.observe(0.25);
    /// let r = Registry::new();
    /// r.register("req_seconds", "Request time.", h.clone())?;
    /// assert_eq!(h.native().map(|n| n.count()), Some(1));
    /// assert!(r.encode_to_string(Format::PrometheusText).contains("req_seconds_bucket{le=\"1.0\"} 1\n"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn with_native(self, native: NativeHistogram) -> Self {
        let core = &*self.inner;
        let n = core.counts.len();
        Histogram {
            inner: Arc::new(HistogramCore {
                bounds: core.bounds.clone(),
                small: core.small,
                counts: (0..n).map(|_| AtomicU64::new(0)).collect(),
                sum: AtomicU64::new(0f64.to_bits()),
                exemplars: core
                    .exemplars
                    .as_ref()
                    .map(|_| (0..n).map(|_| ExemplarSlot::default()).collect()),
                created: clock::unix_seconds(),
                native: Some(native),
            }),
        }
    }

    /// The native buckets kept beside the classic ones, if any.
    pub fn native(&self) -> Option<&NativeHistogram> {
        self.inner.native.as_ref()
    }

    /// The bucket `v` falls in: the first bound `>= v`, or the `+Inf` bucket (also for NaN).
    #[inline]
    fn index(&self, v: f64) -> usize {
        let core = &*self.inner;
        // `v > 0.0` is false for NaN, zero and negative values: they take the general path.
        if core.small && v > 0.0 {
            small_index(&core.bounds, v.to_bits())
        } else {
            bucket_index(&core.bounds, v)
        }
    }

    /// Records one observation.
    #[inline]
    pub fn observe(&self, v: f64) {
        let i = self.index(v);
        self.inner.counts[i].fetch_add(1, Ordering::Relaxed);
        atomic_f64_add(&self.inner.sum, v);
        if let Some(n) = &self.inner.native {
            observe_native(n, v);
        }
    }

    /// Records one observation and keeps `ctx` as the exemplar of its bucket (when this
    /// histogram was built with [`with_exemplars`](Self::with_exemplars)).
    pub fn observe_with_exemplar(&self, v: f64, ctx: &TraceContext) {
        let i = self.index(v);
        self.inner.counts[i].fetch_add(1, Ordering::Relaxed);
        atomic_f64_add(&self.inner.sum, v);
        if let Some(n) = &self.inner.native {
            n.observe(v);
        }
        if let Some(ex) = &self.inner.exemplars {
            ex[i].record(ctx, v);
        }
    }

    /// Number of observations.
    pub fn count(&self) -> u64 {
        self.inner
            .counts
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .sum()
    }
    /// Sum of observations.
    pub fn sum(&self) -> f64 {
        f64::from_bits(self.inner.sum.load(Ordering::Relaxed))
    }
    /// Unix time in seconds when this histogram was created (its `_created` sample).
    pub fn created(&self) -> f64 {
        self.inner.created
    }
    /// The upper bounds, without `+Inf`.
    pub fn bounds(&self) -> &[f64] {
        &self.inner.bounds
    }
    /// Cumulative counts per bound, ending with the `+Inf` bucket.
    pub fn cumulative_counts(&self) -> Vec<u64> {
        let mut acc = 0;
        self.inner
            .counts
            .iter()
            .map(|c| {
                acc += c.load(Ordering::Relaxed);
                acc
            })
            .collect()
    }
}

/// The most bounds [`small_index`] takes: four halving steps tell sixteen counts apart,
/// 0 to 15.
const SMALL: usize = 15;

/// Whether `bounds` can take [`small_index`].
fn is_small(bounds: &[f64]) -> bool {
    bounds.len() <= SMALL && bounds.iter().all(|b| b.to_bits() >> 63 == 0)
}

/// The number of `bounds` below the positive value whose bits are `key`, for at most
/// [`SMALL`] bounds none of which has its sign bit set ([`is_small`]). Such floats order as
/// their bit patterns do, and two such patterns differ by less than 2^63, so the sign of
/// their wrapping difference says which is smaller without a comparison. Four steps of a
/// binary search over the bounds padded to sixteen, each an add of a mask: no branch for a
/// value to mispredict when observations spread over the buckets (a scan or a branching
/// search mispredicts about once per observation) and about twenty instructions for the 14
/// default duration bounds.
#[inline]
fn small_index(bounds: &[f64], key: u64) -> usize {
    // Above every positive float's bits, NaN's included; its difference with `key` is
    // non-negative, so padding never counts as below.
    const PAD: u64 = i64::MAX as u64;
    let below = |j: usize| {
        let b = bounds.get(j).map_or(PAD, |b| b.to_bits());
        (b.wrapping_sub(key) as i64 >> 63) as usize
    };
    let mut i = 0;
    i += 8 & below(i + 7);
    i += 4 & below(i + 3);
    i += 2 & below(i + 1);
    i += 1 & below(i);
    i
}

/// The number of `bounds` (sorted, without NaN) below `v`: the index of the bucket `v` falls
/// in, the `+Inf` bucket for NaN. The general path: any number of bounds, any sign.
#[inline]
fn bucket_index(bounds: &[f64], v: f64) -> usize {
    if v.is_nan() {
        return bounds.len();
    }
    bounds.partition_point(|b| *b < v)
}

/// The native half of an observation, kept out of line so that the classic path, all most
/// histograms have, stays small enough to need no saved registers.
#[inline(never)]
fn observe_native(n: &NativeHistogram, v: f64) {
    n.observe(v);
}

impl sealed::Sealed for Histogram {}
impl Metric for Histogram {
    const KIND: MetricKind = MetricKind::Histogram;
    fn visit(&self, labels: LabelsRef<'_>, v: &mut dyn Visitor) {
        let core = &*self.inner;
        let mut stack = [0u64; 32];
        let mut heap = Vec::new();
        let cum: &mut [u64] = if core.counts.len() <= stack.len() {
            &mut stack[..core.counts.len()]
        } else {
            heap.resize(core.counts.len(), 0);
            &mut heap
        };
        let mut acc = 0;
        for (slot, c) in cum.iter_mut().zip(core.counts.iter()) {
            acc += c.load(Ordering::Relaxed);
            *slot = acc;
        }
        let sum = self.sum();
        v.created(core.created);
        if let Some(n) = &core.native {
            let mut value = n.read();
            let exs: Vec<Option<Exemplar>> = match &core.exemplars {
                Some(ex) => ex.iter().map(ExemplarSlot::get).collect(),
                None => Vec::new(),
            };
            value.classic = cum
                .iter()
                .enumerate()
                .map(|(i, c)| Bucket {
                    upper_bound: core.bounds.get(i).copied().unwrap_or(f64::INFINITY),
                    cumulative_count: *c,
                    exemplar: exs.get(i).cloned().flatten(),
                })
                .collect();
            value.exemplars.clear();
            v.native_histogram(labels, &value);
            return;
        }
        match &core.exemplars {
            Some(ex) => {
                let exs: Vec<Option<Exemplar>> = ex.iter().map(ExemplarSlot::get).collect();
                v.histogram(labels, &core.bounds, cum, sum, Some(&exs));
            }
            None => v.histogram(labels, &core.bounds, cum, sum, None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both searches against the definition (the count of bounds below `v`) for every length
    /// up to 40, positive and signed bounds, values on, between and outside the bounds, the
    /// smallest subnormal, infinities and NaN, through `Histogram::index` as observations go.
    #[test]
    fn bucket_index_counts_the_bounds_below_the_value() {
        for len in 0..40usize {
            for (offset, step) in [
                (0.005, 0.5),
                (-3.0, 0.5),
                (0.0, 1e-3),
                (f64::MIN_POSITIVE, 2.0),
            ] {
                let bounds: Vec<f64> = (0..len).map(|i| offset + (i as f64) * step).collect();
                let h = Histogram::try_new(bounds.clone()).unwrap();
                assert_eq!(h.inner.small, len <= SMALL && (offset >= 0.0 || len == 0));
                let mut values = vec![
                    f64::NEG_INFINITY,
                    f64::INFINITY,
                    f64::NAN,
                    -0.0,
                    0.0,
                    f64::from_bits(1),
                    f64::MAX,
                ];
                for b in &bounds {
                    values.extend([*b, b - step / 2.0, b + step / 2.0]);
                    // The floats whose bit patterns are next to the bound's.
                    values.extend(
                        [b.to_bits().checked_sub(1), b.to_bits().checked_add(1)]
                            .into_iter()
                            .flatten()
                            .map(f64::from_bits),
                    );
                }
                for v in values {
                    let want = if v.is_nan() {
                        len
                    } else {
                        bounds.iter().filter(|b| **b < v).count()
                    };
                    assert_eq!(h.index(v), want, "bounds {bounds:?}, v {v}");
                }
            }
        }
    }

    /// The bucket index agrees with the definition (first bound `>= v`, else `+Inf`) for
    /// short non-negative layouts (the mask search), signed and long ones (the general path).
    #[test]
    fn bucket_index_matches_definition() {
        let reference = |b: &[f64], v: f64| {
            if v.is_nan() {
                return b.len();
            }
            b.iter().position(|x| v <= *x).unwrap_or(b.len())
        };
        let long: Vec<f64> = (0..100).map(|i| f64::from(i) * 0.5).collect();
        for bounds in [
            vec![],
            vec![1.0],
            DEFAULT_DURATION_BUCKETS.to_vec(),
            vec![-1.0, 0.0, 1.0],
            long,
        ] {
            let h = Histogram::new(bounds.clone());
            let mut probes = vec![f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -0.0, 0.0, 1e300];
            for b in &bounds {
                probes.extend([*b, b - 1e-9, b + 1e-9]);
            }
            for v in probes {
                assert_eq!(
                    h.index(v),
                    reference(&bounds, v),
                    "bounds {bounds:?}, v {v}"
                );
            }
        }
    }
}
