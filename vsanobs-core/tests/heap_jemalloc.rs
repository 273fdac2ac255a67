//! `CountingAlloc<Jemalloc>` as the global allocator: the counting wrapper works around
//! jemalloc, and `JemallocCollector` reports jemalloc's own statistics. The exact heap delta
//! is measured alone in a process of its own ([`rerun_alone`]): even with one test, the
//! harness's main thread allocates a little just after it starts the test.

use vsanobs_core::alloc::{
    CountingAlloc, HeapCollector, HeapSnapshot, JEMALLOC_METRICS, Jemalloc, JemallocCollector,
};
use vsanobs_core::{Format, Registry};
use vsanobs_testkit::quiet::rerun_alone;

#[global_allocator]
static GLOBAL: CountingAlloc<Jemalloc> = CountingAlloc::new(Jemalloc);

fn value(text: &str, name: &str) -> f64 {
    let prefix = format!("{name} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no {name} in:\n{text}"))
        .parse()
        .unwrap()
}

#[test]
fn counting_around_jemalloc_and_jemalloc_stats_see_64_mib() {
    if rerun_alone() {
        return;
    }
    let registry = Registry::new();
    registry.register_collector(HeapCollector::new()).unwrap();
    registry
        .register_collector(JemallocCollector::new())
        .unwrap();
    let before = registry.encode_to_string(Format::PrometheusText);
    let snap = HeapSnapshot::now();
    let block = vec![3u8; 64 << 20];
    assert_eq!(snap.delta_to(&HeapSnapshot::now()).bytes, 64 << 20);
    let during = registry.encode_to_string(Format::PrometheusText);
    for d in JEMALLOC_METRICS {
        assert!(
            during.contains(&format!("# TYPE {} gauge\n", d.name)),
            "{during}"
        );
    }
    let grew = |name: &str| value(&during, name) - value(&before, name);
    assert!(grew("process_heap_inuse_bytes") >= (64 << 20) as f64);
    assert!(grew("jemalloc_allocated_bytes") >= (64 << 20) as f64);
    assert!(value(&during, "jemalloc_resident_bytes") >= (64 << 20) as f64);
    assert!(during.contains("vsanobs_scrape_collector_success{collector=\"jemalloc\"} 1\n"));
    drop(block);
    let after = registry.encode_to_string(Format::PrometheusText);
    assert!(
        value(&after, "jemalloc_allocated_bytes")
            < value(&during, "jemalloc_allocated_bytes") - (60 << 20) as f64
    );
}
