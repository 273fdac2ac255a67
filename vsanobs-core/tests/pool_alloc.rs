//! A push into the sample pool allocates nothing: checked with a counting global allocator,
//! for pushes into free slots and for pushes into a full pool (drop-oldest).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use vsanobs_core::pool::{SamplePool, TimestampedSample};

struct Counting;

thread_local! {
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: forwards every call to the system allocator unchanged; only counts allocations of
// the current thread (thread-local, so parallel tests do not disturb the count).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocs() -> u64 {
    ALLOCS.with(Cell::get)
}

#[test]
fn pool_push_allocates_nothing() {
    let pool = SamplePool::new("alloc", 1024).unwrap();
    // Prove the counter works: a Vec allocation is seen.
    let before = allocs();
    let v: Vec<u8> = Vec::with_capacity(10);
    assert_eq!(allocs() - before, 1);
    drop(v);

    let before = allocs();
    for i in 0..1024u64 {
        assert!(pool.push(TimestampedSample::new(i, i as f64, 0)).is_none());
    }
    assert_eq!(allocs() - before, 0, "push into free slots allocated");

    let before = allocs();
    for i in 0..100_000u64 {
        assert!(pool.push(TimestampedSample::new(i, i as f64, 0)).is_some());
    }
    assert_eq!(allocs() - before, 0, "push into a full pool allocated");
    assert_eq!(pool.dropped(), 100_000);

    // Draining into a vector with room allocates nothing either.
    let mut out = Vec::with_capacity(1024);
    let before = allocs();
    assert_eq!(pool.drain(&mut out, 1024), 1024);
    assert_eq!(allocs() - before, 0);
}
