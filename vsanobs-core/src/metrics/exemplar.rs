//! Exemplars: the [`TraceContext`] a recording carries, and the slot a counter or histogram
//! bucket keeps its latest exemplar in.

use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;

use crate::clock;
use crate::model::Exemplar;

/// A trace reference to attach to a recording as an exemplar.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct TraceContext {
    /// W3C trace id.
    pub trace_id: [u8; 16],
    /// W3C span id.
    pub span_id: [u8; 8],
}

impl TraceContext {
    /// Builds a context from the 128-bit trace id and 64-bit span id as OpenTelemetry holds them.
    pub fn from_ids(trace_id: u128, span_id: u64) -> Self {
        TraceContext {
            trace_id: trace_id.to_be_bytes(),
            span_id: span_id.to_be_bytes(),
        }
    }
    /// Whether both ids are non-zero (a zero id means "no trace").
    pub fn is_valid(&self) -> bool {
        self.trace_id != [0; 16] && self.span_id != [0; 8]
    }
}

/// The latest exemplar of one counter or histogram bucket.
#[derive(Debug, Default)]
pub(super) struct ExemplarSlot {
    /// Set once an exemplar was stored, so scrapes of series that never had one (most of
    /// them) skip the lock.
    set: AtomicBool,
    slot: Mutex<Option<Exemplar>>,
}

impl ExemplarSlot {
    /// Keeps `ctx` and `value` unless `ctx` is all zeros or another thread holds the slot.
    pub(super) fn record(&self, ctx: &TraceContext, value: f64) {
        if !ctx.is_valid() {
            return;
        }
        if let Some(mut g) = self.slot.try_lock() {
            // Millisecond precision, as OpenMetrics timestamps are usually written. The
            // trace variant holds no heap memory, so neither this nor the old value's drop
            // allocates or frees.
            let now = (clock::unix_seconds() * 1000.0).round() / 1000.0;
            *g = Some(Exemplar::trace(ctx.trace_id, ctx.span_id, value, Some(now)));
            drop(g);
            if !self.set.load(Ordering::Relaxed) {
                self.set.store(true, Ordering::Release);
            }
        }
    }
    /// The latest exemplar, if one was ever stored.
    pub(super) fn get(&self) -> Option<Exemplar> {
        if !self.set.load(Ordering::Acquire) {
            return None;
        }
        self.slot.lock().clone()
    }
}
