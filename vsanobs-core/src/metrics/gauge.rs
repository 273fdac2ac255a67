//! [`Gauge`] and [`FloatGauge`]: values that go up and down.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use super::atomic_f64::atomic_f64_add;
use super::{Metric, sealed};
use crate::encoding::Visitor;
use crate::labels::LabelsRef;
use crate::model::{MetricKind, Number};

/// An integer gauge.
#[derive(Clone, Debug, Default)]
pub struct Gauge {
    inner: Arc<AtomicI64>,
}

impl Gauge {
    /// Sets the value.
    #[inline]
    pub fn set(&self, v: i64) {
        self.inner.store(v, Ordering::Relaxed);
    }
    /// Adds one.
    #[inline]
    pub fn inc(&self) {
        self.inner.fetch_add(1, Ordering::Relaxed);
    }
    /// Subtracts one.
    #[inline]
    pub fn dec(&self) {
        self.inner.fetch_sub(1, Ordering::Relaxed);
    }
    /// Adds `v` (may be negative).
    #[inline]
    pub fn add(&self, v: i64) {
        self.inner.fetch_add(v, Ordering::Relaxed);
    }
    /// The current value.
    pub fn get(&self) -> i64 {
        self.inner.load(Ordering::Relaxed)
    }
}

impl sealed::Sealed for Gauge {}
impl Metric for Gauge {
    const KIND: MetricKind = MetricKind::Gauge;
    fn visit(&self, labels: LabelsRef<'_>, v: &mut dyn Visitor) {
        v.gauge(labels, Number::Int(self.get()));
    }
}

/// A float gauge. NaN and ±Inf are stored and exported as the formats spell them.
#[derive(Clone, Debug, Default)]
pub struct FloatGauge {
    inner: Arc<AtomicU64>,
}

impl FloatGauge {
    /// Sets the value.
    #[inline]
    pub fn set(&self, v: f64) {
        self.inner.store(v.to_bits(), Ordering::Relaxed);
    }
    /// Adds `v` (may be negative).
    #[inline]
    pub fn add(&self, v: f64) {
        atomic_f64_add(&self.inner, v);
    }
    /// The current value.
    pub fn get(&self) -> f64 {
        f64::from_bits(self.inner.load(Ordering::Relaxed))
    }
}

impl sealed::Sealed for FloatGauge {}
impl Metric for FloatGauge {
    const KIND: MetricKind = MetricKind::Gauge;
    fn visit(&self, labels: LabelsRef<'_>, v: &mut dyn Visitor) {
        v.gauge(labels, Number::Float(self.get()));
    }
}
