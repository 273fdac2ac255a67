//! Atomics shim: `loom`'s model-checked atomics under `--cfg loom`, `std`'s otherwise.
//!
//! Lock-free code in this crate (the [`SamplePool`](crate::SamplePool) and the snapshot
//! reclamation behind [`Family`](crate::Family) lookups) takes its atomics and its spin-wait
//! hint from here, so the same source runs in production and inside loom models
//! (`RUSTFLAGS="--cfg loom" cargo test -p vsanobs-core --test loom_pool --release`, and
//! `--test loom_family`).
//!
//! ## Note
//! Outside loom everything here is a re-export of `std::sync::atomic` plus a small backoff;
//! there is no cost.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{
    AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering, fence,
};
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{
    AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering, fence,
};

/// Exponential spin, then yield: what a lock-free loop does while another thread finishes
/// its step. Under loom every wait is a yield so the model checker can schedule the thread
/// it waits for.
#[derive(Debug, Default)]
pub(crate) struct Backoff {
    step: u32,
}

impl Backoff {
    const SPIN_LIMIT: u32 = 6;

    /// A fresh backoff.
    pub(crate) fn new() -> Self {
        Backoff { step: 0 }
    }

    /// Waits a little after a lost compare-and-swap (another thread made progress).
    #[inline]
    pub(crate) fn spin(&mut self) {
        #[cfg(loom)]
        loom::thread::yield_now();
        #[cfg(not(loom))]
        {
            for _ in 0..1u32 << self.step.min(Self::SPIN_LIMIT) {
                std::hint::spin_loop();
            }
            if self.step <= Self::SPIN_LIMIT {
                self.step += 1;
            }
        }
    }

    /// Waits for another thread to finish a step it has started (spins, then yields the CPU).
    #[inline]
    pub(crate) fn snooze(&mut self) {
        #[cfg(loom)]
        loom::thread::yield_now();
        #[cfg(not(loom))]
        {
            if self.step <= Self::SPIN_LIMIT {
                for _ in 0..1u32 << self.step {
                    std::hint::spin_loop();
                }
                self.step += 1;
            } else {
                std::thread::yield_now();
            }
        }
    }
}
