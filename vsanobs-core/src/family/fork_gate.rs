//! Keeps `fork()` out of [`Family`](super::Family) writer sections, so a fork child never
//! finds a family mutex held by a thread that does not exist in it.
//!
//! Taking a family mutex first enters the gate: a shared count of threads inside writer
//! sections. A `pthread_atfork` prepare handler (registered with the first entry) closes
//! the gate and waits until no other thread is inside; the parent and child handlers open it
//! again. A thread that forks from inside a writer section (a metric constructor that forks)
//! is not waited for, and its section goes on in both processes.
//!
//! ## Note
//! The cost is two uncontended atomic read-modify-writes and a thread-local access per lock
//! of a family mutex: creating a series, a `get` miss, `remove`, `clear`, `len` and scrapes.
//! Lookups of existing series never enter it. A fork waits for writer sections in other
//! threads to end; one blocked inside a metric constructor blocks the fork.

#![allow(unsafe_code)]

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Set by the prepare handler while a fork is pending.
static FORKING: AtomicBool = AtomicBool::new(false);
/// Threads inside writer sections (each counted once, however deeply it nests them).
static ACTIVE: AtomicUsize = AtomicUsize::new(0);

std::thread_local! {
    /// How deeply this thread nests writer sections.
    static DEPTH: Cell<usize> = const { Cell::new(0) };
}

/// Inside the gate while it lives.
pub(super) struct Token {
    /// Whether this entry was the thread's outermost (and so counted in `ACTIVE`).
    counted: bool,
    /// Whether `DEPTH` was raised (the thread-local was still reachable).
    tracked: bool,
}

/// Enters the gate, waiting while a fork is pending (unless this thread is already inside).
pub(super) fn enter() -> Token {
    #[cfg(unix)]
    register();
    let depth = DEPTH.try_with(|d| {
        let v = d.get();
        d.set(v + 1);
        v
    });
    let tracked = depth.is_ok();
    if depth == Ok(0) {
        loop {
            // `SeqCst` on both sides: either the prepare handler sees this count, or this
            // thread sees its flag.
            ACTIVE.fetch_add(1, Ordering::SeqCst);
            if !FORKING.load(Ordering::SeqCst) {
                break;
            }
            ACTIVE.fetch_sub(1, Ordering::SeqCst);
            while FORKING.load(Ordering::Relaxed) {
                std::thread::yield_now();
            }
        }
    } else if !tracked {
        // During thread exit: cannot tell whether this nests, so count without waiting.
        ACTIVE.fetch_add(1, Ordering::SeqCst);
    }
    Token {
        counted: depth == Ok(0) || !tracked,
        tracked,
    }
}

impl Drop for Token {
    fn drop(&mut self) {
        if self.tracked {
            let _ = DEPTH.try_with(|d| d.set(d.get().saturating_sub(1)));
        }
        if self.counted {
            ACTIVE.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// Whether the calling thread is inside a writer section (counted in `ACTIVE`).
fn inside() -> usize {
    usize::from(DEPTH.try_with(Cell::get).unwrap_or(0) > 0)
}

#[cfg(unix)]
fn register() {
    static REGISTERED: AtomicBool = AtomicBool::new(false);
    if REGISTERED.load(Ordering::Relaxed) || REGISTERED.swap(true, Ordering::AcqRel) {
        return;
    }
    // SAFETY: the three handlers are `extern "C"` functions that never unwind; `prepare`
    // runs before the fork in the forking thread, and `parent` and `child` after it do only
    // atomic stores and a `const` thread-local read, which are async-signal-safe.
    let rc = unsafe { libc::pthread_atfork(Some(prepare), Some(parent), Some(child)) };
    if rc != 0 {
        tracing::warn!(
            rc,
            "pthread_atfork failed; a fork child may find a family mutex held"
        );
    }
}

#[cfg(unix)]
extern "C" fn prepare() {
    FORKING.store(true, Ordering::SeqCst);
    let mine = inside();
    while ACTIVE.load(Ordering::SeqCst) > mine {
        std::thread::yield_now();
    }
}

#[cfg(unix)]
extern "C" fn parent() {
    FORKING.store(false, Ordering::SeqCst);
}

#[cfg(unix)]
extern "C" fn child() {
    // Only the forking thread exists here.
    ACTIVE.store(inside(), Ordering::SeqCst);
    FORKING.store(false, Ordering::SeqCst);
}
