//! Metric types: [`Counter`], [`FloatCounter`], [`Gauge`], [`FloatGauge`], [`Histogram`],
//! [`NativeHistogram`] and [`Info`]. Each is a cheap handle (an `Arc`) to shared atomic state: clone it to pre-bind.
//!
//! # Example
//!
//! ```
//! use vsanobs_core::{Counter, Histogram};
//!
//! let c = Counter::default();
//! c.inc();
//! c.inc_by(2);
//! assert_eq!(c.get(), 3);
//!
//! let h = Histogram::new([0.1, 0.5, 1.0]);
//! h.observe(0.3);
//! h.observe(7.0);
//! assert_eq!(h.count(), 2);
//! assert_eq!(h.sum(), 7.3);
//! ```
//!
//! ## Note
//! Recording is lock-free and allocation-free: a counter increment is one relaxed
//! `fetch_add`; a histogram observation is a branch-free bucket search (for up to 64 bounds),
//! one bucket `fetch_add` and a compare-and-swap loop on the sum. Exemplar recording takes a `try_lock` on a per-bucket slot and skips the
//! exemplar (never the observation) when the slot is busy.

mod atomic_f64;
mod counter;
mod exemplar;
mod gauge;
mod histogram;
mod info;
mod native_buckets;
mod native_histogram;

pub use self::counter::{Counter, FloatCounter};
pub use self::exemplar::TraceContext;
pub use self::gauge::{FloatGauge, Gauge};
pub use self::histogram::{
    BucketError, DEFAULT_DURATION_BUCKETS, Histogram, exponential_buckets, linear_buckets,
};
pub use self::info::Info;
pub use self::native_buckets::{
    NATIVE_SCHEMA_MAX, NATIVE_SCHEMA_MIN, native_bucket_bounds, native_bucket_index,
};
pub use self::native_histogram::{
    NATIVE_MAX_BUCKETS_LIMIT, NativeHistogram, NativeHistogramBuilder, NativeHistogramError,
};
use crate::encoding::Visitor;
use crate::labels::LabelsRef;
use crate::model::MetricKind;

mod sealed {
    pub trait Sealed {}
}

/// A metric type that a [`Family`](crate::Family) or [`Registry`](crate::Registry) can hold.
///
/// Sealed: implemented by the types of this module only.
pub trait Metric: sealed::Sealed + Clone + Send + Sync + 'static {
    /// The family type this metric is exported as.
    const KIND: MetricKind;
    #[doc(hidden)]
    fn visit(&self, labels: LabelsRef<'_>, v: &mut dyn Visitor);
}
