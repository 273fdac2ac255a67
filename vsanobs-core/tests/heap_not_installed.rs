//! Without a `CountingAlloc` as global allocator, the heap collector reports failure
//! instead of exporting zeros, and the scrape still succeeds.

use vsanobs_core::alloc::{HeapCollector, HeapSnapshot, is_installed};
use vsanobs_core::{Format, Gauge, Registry};

#[test]
fn heap_collector_reports_failure_when_not_installed() {
    let _v = vec![0u8; 1024];
    assert!(!is_installed());
    assert_eq!(HeapSnapshot::now().allocations(), 0);
    let registry = Registry::new();
    let g = Gauge::default();
    registry.register("app_up", "Up.", g.clone()).unwrap();
    g.set(1);
    registry.register_collector(HeapCollector::new()).unwrap();
    let text = registry.encode_to_string(Format::PrometheusText);
    assert!(text.contains("app_up 1\n"));
    assert!(!text.contains("process_heap_"), "{text}");
    assert!(text.contains("vsanobs_scrape_collector_success{collector=\"heap\"} 0\n"));
}
