//! What a signal handler may record: a pre-bound handle's `inc` is one atomic add, and
//! `Family::with` on a series that exists, on a thread that has read before, only pins
//! (plain stores and fences) and reads. A second thread interrupts the recording thread
//! with signals at arbitrary points, including inside its own `Family::with` (a nested pin
//! taken in the handler), while a writer replaces the family's snapshot; every increment
//! is counted exactly once.
#![cfg(unix)]
#![allow(unsafe_code)]

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use vsanobs_core::{Counter, Family, LabelSet};

#[derive(Clone, Debug, PartialEq, Eq, Hash, LabelSet)]
struct L {
    k: &'static str,
}

const KEY: L = L { k: "hot" };

static HANDLE: OnceLock<Counter> = OnceLock::new();
static FAMILY: OnceLock<Family<L, Counter>> = OnceLock::new();
static HANDLED: AtomicU64 = AtomicU64::new(0);

extern "C" fn on_signal(_: libc::c_int) {
    // `OnceLock::get` is one atomic load; both were set before the handler was installed.
    if let (Some(h), Some(f)) = (HANDLE.get(), FAMILY.get()) {
        h.inc();
        f.with(&KEY, |c| c.inc());
        HANDLED.fetch_add(1, Ordering::Relaxed);
    }
}

#[test]
fn handler_records_through_handles_and_existing_series() {
    let fam: Family<L, Counter> = Family::new();
    let handle = fam.get_or_create(&KEY);
    let _ = FAMILY.set(fam.clone());
    let _ = HANDLE.set(Counter::default());
    // The recording thread's first read (which creates its reader slot) happens here, not
    // in the handler.
    fam.with(&KEY, |c| c.inc());
    let mut direct = 1u64;

    // SAFETY: `on_signal` is an `extern "C"` handler that only touches atomics and the
    // family read path; the `sigaction` struct is zeroed, then filled in.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
        sa.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut sa.sa_mask);
        assert_eq!(libc::sigaction(libc::SIGUSR1, &sa, std::ptr::null_mut()), 0);
    }
    // SAFETY: `pthread_self` has no preconditions.
    let me = unsafe { libc::pthread_self() };
    let stop = AtomicBool::new(false);
    let sent = std::thread::scope(|s| {
        let stop = &stop;
        let fam_w = &fam;
        // Replaces the snapshot all the while (other series come and go).
        s.spawn(move || {
            let mut i = 0u32;
            while !stop.load(Ordering::Relaxed) {
                let other = L {
                    k: ["a", "b", "c", "d"][(i % 4) as usize],
                };
                fam_w.get_or_create(&other).inc();
                fam_w.remove(&other);
                i = i.wrapping_add(1);
            }
        });
        let signaller = s.spawn(move || {
            let mut sent = 0u64;
            while !stop.load(Ordering::Relaxed) {
                // SAFETY: `me` is the test thread, alive until `stop` is set and this
                // thread is joined.
                assert_eq!(unsafe { libc::pthread_kill(me, libc::SIGUSR1) }, 0);
                sent += 1;
                std::thread::yield_now();
            }
            sent
        });
        for _ in 0..200_000 {
            fam.with(&KEY, |c| c.inc());
            direct += 1;
        }
        stop.store(true, Ordering::Relaxed);
        signaller
            .join()
            .unwrap_or_else(|_| panic!("signaller panicked"))
    });
    // SAFETY: restores the default disposition.
    unsafe { libc::signal(libc::SIGUSR1, libc::SIG_DFL) };
    let handled = HANDLED.load(Ordering::Relaxed);
    println!("{sent} signals sent, {handled} handled during 200,000 reads");
    assert!(handled > 0, "no signal was handled");
    assert_eq!(HANDLE.get().map(Counter::get), Some(handled));
    assert_eq!(handle.get(), direct + handled);
}
