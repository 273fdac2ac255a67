//! Snapshots a `Family` replaces are freed, not leaked: thousands of removals and
//! re-creations (each one publishes a new snapshot of every series) leave the heap where it
//! was, both with no reader around and with other threads looking series up all the while.

use std::sync::atomic::{AtomicBool, Ordering};

use vsanobs_core::alloc::{CountingAlloc, HeapSnapshot};
use vsanobs_core::{Counter, Family};

mod reclaim_support;

use reclaim_support::{RouteLabels as L, route as l};

#[global_allocator]
static GLOBAL: CountingAlloc<std::alloc::System> = CountingAlloc::new(std::alloc::System);

const SERIES: usize = 200;
const CYCLES: usize = 2_000;

/// Each cycle removes a series and creates it again, then looks everything up until the
/// side map is promoted: at least two new snapshots of ~200 series per cycle. Leaking them
/// would grow the heap by tens of megabytes.
fn churn(fam: &Family<L, Counter>, labels: &[L]) {
    for c in 0..CYCLES {
        let victim = &labels[c % SERIES];
        assert!(fam.remove(victim));
        fam.get_or_create(victim).inc();
        for x in labels.iter().take(3) {
            fam.with(x, |m| m.inc());
        }
    }
}

fn heap_growth(f: impl FnOnce()) -> i64 {
    let before = HeapSnapshot::now();
    f();
    before.delta_to(&HeapSnapshot::now()).bytes
}

#[test]
fn replaced_snapshots_are_freed() {
    assert!(vsanobs_core::alloc::is_installed());
    let labels: Vec<L> = (0..SERIES).map(l).collect();
    let fam: Family<L, Counter> = Family::with_cap(10_000);
    for x in &labels {
        fam.get_or_create(x);
    }
    // Warm up: first-use state (reader slots, the retired list's capacity).
    churn(&fam, &labels);

    let quiet = heap_growth(|| churn(&fam, &labels));
    assert!(
        quiet < 256 * 1024,
        "heap grew by {quiet} bytes over {CYCLES} snapshot replacements with no concurrent reader"
    );

    let stop = AtomicBool::new(false);
    let busy = heap_growth(|| {
        std::thread::scope(|s| {
            for _ in 0..2 {
                let (fam, labels, stop) = (&fam, &labels, &stop);
                s.spawn(move || {
                    let mut i = 0;
                    while !stop.load(Ordering::Relaxed) {
                        fam.with(&labels[SERIES - 1 - i % 50], |m| m.inc());
                        i += 1;
                    }
                });
            }
            churn(&fam, &labels);
            stop.store(true, Ordering::Relaxed);
        });
        // A scrape-time snapshot also reclaims what the last writes had to leave.
        let reg = vsanobs_core::Registry::new();
        reg.register("r", "R.", fam.clone())
            .unwrap_or_else(|e| panic!("{e}"));
        let _ = reg.encode_to_string(vsanobs_core::Format::PrometheusText);
        reg.unregister("r").unwrap_or_else(|e| panic!("{e}"));
    });
    assert!(
        busy < 1024 * 1024,
        "heap grew by {busy} bytes over {CYCLES} snapshot replacements under concurrent lookups"
    );
    assert_eq!(fam.len(), SERIES);
}
