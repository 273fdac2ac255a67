//! [`Counter`] and [`FloatCounter`]: monotonically increasing totals, with an optional
//! exemplar.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::atomic_f64::atomic_f64_add;
use super::exemplar::{ExemplarSlot, TraceContext};
use super::{Metric, sealed};
use crate::clock;
use crate::encoding::Visitor;
use crate::labels::LabelsRef;
use crate::model::{Exemplar, MetricKind, Number};

#[derive(Debug)]
struct CounterCore {
    value: AtomicU64,
    exemplar: ExemplarSlot,
    /// Unix seconds at creation: the `_created` sample.
    created: f64,
}

impl Default for CounterCore {
    fn default() -> Self {
        CounterCore {
            value: AtomicU64::new(0),
            exemplar: ExemplarSlot::default(),
            created: clock::unix_seconds(),
        }
    }
}

/// A monotonically increasing integer counter.
///
/// Register it without or with the `_total` suffix; it is always exported with one.
#[derive(Clone, Debug, Default)]
pub struct Counter {
    inner: Arc<CounterCore>,
}

impl Counter {
    /// Adds one.
    #[inline]
    pub fn inc(&self) {
        self.inner.value.fetch_add(1, Ordering::Relaxed);
    }
    /// Adds `v`.
    #[inline]
    pub fn inc_by(&self, v: u64) {
        self.inner.value.fetch_add(v, Ordering::Relaxed);
    }
    /// Adds `v` and keeps `ctx` as the counter's exemplar (ignored when `ctx` is all zeros).
    pub fn inc_by_with_exemplar(&self, v: u64, ctx: &TraceContext) {
        self.inc_by(v);
        self.inner.exemplar.record(ctx, v as f64);
    }
    /// The current value.
    pub fn get(&self) -> u64 {
        self.inner.value.load(Ordering::Relaxed)
    }
    /// The latest exemplar, if one was recorded.
    pub fn exemplar(&self) -> Option<Exemplar> {
        self.inner.exemplar.get()
    }
    /// Unix time in seconds when this counter was created: its OpenMetrics `_created` sample
    /// and protobuf `created_timestamp`.
    ///
    /// ```
    /// let before = vsanobs_core::clock::unix_seconds();
    /// let c = vsanobs_core::Counter::default();
    /// assert!(c.created() >= before && c.created() <= vsanobs_core::clock::unix_seconds());
    /// ```
    pub fn created(&self) -> f64 {
        self.inner.created
    }
}

impl sealed::Sealed for Counter {}
impl Metric for Counter {
    const KIND: MetricKind = MetricKind::Counter;
    fn visit(&self, labels: LabelsRef<'_>, v: &mut dyn Visitor) {
        v.created(self.inner.created);
        v.counter(labels, Number::Uint(self.get()), self.exemplar().as_ref());
    }
}

#[derive(Debug)]
struct FloatCounterCore {
    bits: AtomicU64,
    exemplar: ExemplarSlot,
    created: f64,
}

impl Default for FloatCounterCore {
    fn default() -> Self {
        FloatCounterCore {
            bits: AtomicU64::new(0f64.to_bits()),
            exemplar: ExemplarSlot::default(),
            created: clock::unix_seconds(),
        }
    }
}

/// A monotonically increasing float counter (for example CPU seconds).
#[derive(Clone, Debug, Default)]
pub struct FloatCounter {
    inner: Arc<FloatCounterCore>,
}

impl FloatCounter {
    /// Adds `v`. Negative, NaN and infinite increments are ignored: a counter never goes down.
    #[inline]
    pub fn inc_by(&self, v: f64) {
        if v > 0.0 && v.is_finite() {
            atomic_f64_add(&self.inner.bits, v);
        }
    }
    /// Adds `v` and keeps `ctx` as the exemplar.
    pub fn inc_by_with_exemplar(&self, v: f64, ctx: &TraceContext) {
        self.inc_by(v);
        self.inner.exemplar.record(ctx, v);
    }
    /// Raises the counter to `v` if `v` is larger (for mirroring an external monotonic total,
    /// such as CPU time read from the kernel). Returns whether it moved.
    pub fn raise_to(&self, v: f64) -> bool {
        if !v.is_finite() {
            return false;
        }
        let mut cur = self.inner.bits.load(Ordering::Relaxed);
        loop {
            if f64::from_bits(cur) >= v {
                return false;
            }
            match self.inner.bits.compare_exchange_weak(
                cur,
                v.to_bits(),
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(x) => cur = x,
            }
        }
    }
    /// The current value.
    pub fn get(&self) -> f64 {
        f64::from_bits(self.inner.bits.load(Ordering::Relaxed))
    }
    /// Unix time in seconds when this counter was created (its `_created` sample).
    pub fn created(&self) -> f64 {
        self.inner.created
    }
}

impl sealed::Sealed for FloatCounter {}
impl Metric for FloatCounter {
    const KIND: MetricKind = MetricKind::Counter;
    fn visit(&self, labels: LabelsRef<'_>, v: &mut dyn Visitor) {
        v.created(self.inner.created);
        v.counter(
            labels,
            Number::Float(self.get()),
            self.inner.exemplar.get().as_ref(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exemplars_appear_only_once_recorded() {
        let c = Counter::default();
        c.inc();
        assert_eq!(c.exemplar(), None);
        c.inc_by_with_exemplar(2, &TraceContext::default());
        assert_eq!(c.exemplar(), None, "an all-zero context is not an exemplar");
        let ctx = TraceContext::from_ids(1, 2);
        c.inc_by_with_exemplar(3, &ctx);
        let ex = c.exemplar();
        let ex = ex.expect("recorded");
        assert_eq!(
            ex.labels,
            crate::model::ExemplarLabels::Trace {
                trace_id: ctx.trace_id,
                span_id: ctx.span_id
            }
        );
        assert_eq!(ex.value, 3.0);
        assert!(ex.timestamp.is_some_and(|t| t > 0.0));
        assert_eq!(c.get(), 6);
    }
}
