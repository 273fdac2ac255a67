//! Adding to an `f64` stored as its bits in an `AtomicU64`, for float counters, float gauges
//! and histogram sums.

use std::sync::atomic::{AtomicU64, Ordering};

// `#[inline]`: called from the inlined record paths of other crates, where an out-of-line call
// cost a third of a histogram observation.
#[inline]
pub(super) fn atomic_f64_add(a: &AtomicU64, v: f64) {
    let mut cur = a.load(Ordering::Relaxed);
    loop {
        let new = (f64::from_bits(cur) + v).to_bits();
        match a.compare_exchange_weak(cur, new, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return,
            Err(x) => cur = x,
        }
    }
}
