//! `CountingAlloc<System>` as the global allocator of this test binary: snapshot deltas and
//! `process_heap_*` against allocations of known size.
//!
//! The totals are process-wide, so each test measures alone in a process of its own
//! ([`rerun_alone`]): no other test, and no harness thread, allocates meanwhile.

use std::alloc::System;

use vsanobs_core::alloc::{CountingAlloc, HeapCollector, HeapSnapshot, is_installed};
use vsanobs_core::{Format, Registry};
use vsanobs_testkit::quiet::rerun_alone;

#[global_allocator]
static GLOBAL: CountingAlloc<System> = CountingAlloc::new(System);

fn heap_inuse(registry: &Registry) -> f64 {
    let text = registry.encode_to_string(Format::PrometheusText);
    let line = text
        .lines()
        .find(|l| l.starts_with("process_heap_inuse_bytes "))
        .unwrap_or_else(|| panic!("no process_heap_inuse_bytes in:\n{text}"));
    line["process_heap_inuse_bytes ".len()..].parse().unwrap()
}

#[test]
fn delta_around_region_that_keeps_n_bytes_reports_n() {
    if rerun_alone() {
        return;
    }
    for n in [1usize, 100, 4096, 1 << 20, 3 * 1024 * 1024 + 7] {
        let before = HeapSnapshot::now();
        // Temporary allocations inside the region are freed again and must cancel out.
        let scratch: Vec<String> = (0..50).map(|i| format!("temporary {i}")).collect();
        drop(scratch);
        let kept: Vec<u8> = Vec::with_capacity(n);
        let after = HeapSnapshot::now();
        let d = before.delta_to(&after);
        assert_eq!(d.bytes, n as i64, "kept {n} bytes");
        assert_eq!(d.allocations - d.frees, 1, "one live block");
        assert!(d.allocations >= 51);
        drop(kept);
        let d = after.delta_to(&HeapSnapshot::now());
        assert_eq!(d.bytes, -(n as i64));
        assert_eq!(d.frees, 1);
    }
}

#[test]
fn realloc_moves_inuse_by_the_size_difference() {
    if rerun_alone() {
        return;
    }
    let mut v: Vec<u8> = Vec::with_capacity(1000);
    let before = HeapSnapshot::now();
    v.reserve_exact(9000); // len 0: grows to exactly 9000
    let d = before.delta_to(&HeapSnapshot::now());
    assert_eq!(d.bytes, 8000);
    assert_eq!((d.allocations, d.frees), (1, 1));
    drop(v);
}

#[test]
fn holding_64_mib_raises_process_heap_inuse_bytes_and_dropping_brings_it_back() {
    if rerun_alone() {
        return;
    }
    assert!(is_installed());
    let registry = Registry::new();
    registry.register_collector(HeapCollector::new()).unwrap();
    let base = heap_inuse(&registry);
    let block = vec![7u8; 64 << 20];
    let held = heap_inuse(&registry);
    assert!(
        held - base >= (64 << 20) as f64,
        "inuse grew by {} bytes",
        held - base
    );
    drop(block);
    let back = heap_inuse(&registry);
    // Back to where it was, up to the scrape's own transient buffers.
    assert!(
        (back - base).abs() < (64 << 10) as f64,
        "inuse after drop {back}, before {base}"
    );
    let text = registry.encode_to_string(Format::PrometheusText);
    for name in [
        "process_heap_allocations_total ",
        "process_heap_frees_total ",
        "process_heap_allocated_bytes_total ",
    ] {
        assert!(text.contains(name), "{name} missing:\n{text}");
    }
    assert!(text.contains("vsanobs_scrape_collector_success{collector=\"heap\"} 1\n"));
}

#[test]
fn counts_from_many_threads_add_up() {
    if rerun_alone() {
        return;
    }
    let before = HeapSnapshot::now();
    let handles: Vec<_> = (0..8)
        .map(|_| {
            std::thread::spawn(|| {
                let v: Vec<Box<u64>> = (0..10_000).map(Box::new).collect();
                v.len()
            })
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), 10_000);
    }
    let d = before.delta_to(&HeapSnapshot::now());
    assert!(d.allocations >= 80_000, "{d:?}");
    // Everything the threads allocated was freed (thread stacks are not heap).
    assert!(d.bytes.abs() < 64 << 10, "{d:?}");
}
