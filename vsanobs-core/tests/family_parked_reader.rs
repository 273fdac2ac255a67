//! A reader that blocks inside `Family::with` does not hold back other families' garbage:
//! one thread parks inside `a.with(..)` while an unrelated family `b` is cleared and
//! refilled 500 times. Before reads reserved an epoch interval, the heap grew by ~15 MB
//! here (every snapshot `b` retired stayed until the closure returned); now it stays where
//! it is without the parked reader, and `vsanobs_family_retired_bytes` stays small.

use std::sync::mpsc;
use std::sync::{Barrier, Mutex};

use vsanobs_core::alloc::{CountingAlloc, HeapSnapshot};
use vsanobs_core::reclaim::ReclaimCollector;
use vsanobs_core::{Counter, Family, Format, Registry};

mod reclaim_support;

use reclaim_support::{RouteLabels as L, route as l};

#[global_allocator]
static GLOBAL: CountingAlloc<std::alloc::System> = CountingAlloc::new(std::alloc::System);

/// The heap totals and the retired gauge are process-wide: the tests run one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

const ROUNDS: usize = 500;
const SERIES: usize = 40;

/// `clear`, then refill: each new series publishes a snapshot, so a round retires ~40
/// snapshots of up to 40 series.
fn churn(b: &Family<L, Counter>, labels: &[L]) {
    for _ in 0..ROUNDS {
        b.clear();
        for x in labels {
            b.get_or_create(x).inc();
        }
    }
}

fn heap_growth(f: impl FnOnce()) -> i64 {
    let before = HeapSnapshot::now();
    f();
    before.delta_to(&HeapSnapshot::now()).bytes
}

fn retired_bytes() -> u64 {
    let reg = Registry::new();
    reg.register_collector(ReclaimCollector::new())
        .unwrap_or_else(|e| panic!("{e}"));
    let text = reg.encode_to_string(Format::PrometheusText);
    let line = text
        .lines()
        .find(|l| l.starts_with("vsanobs_family_retired_bytes "))
        .unwrap_or_else(|| panic!("no vsanobs_family_retired_bytes in:\n{text}"));
    line["vsanobs_family_retired_bytes ".len()..]
        .parse()
        .unwrap_or_else(|e| panic!("{e}: {line}"))
}

/// Heap growth and retired bytes allowed while the reader is parked: a few snapshots of
/// `b`, not 500 rounds of them.
const BOUND: i64 = 256 * 1024;

#[test]
fn parked_reader_does_not_hold_back_other_families() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let labels: Vec<L> = (0..SERIES).map(l).collect();
    let a: Family<L, Counter> = Family::new();
    let b: Family<L, Counter> = Family::new();
    a.get_or_create(&l(0));
    // Warm-up: first-use state (reader slots, retired lists' capacity).
    churn(&b, &labels);
    let quiet = heap_growth(|| churn(&b, &labels));

    let parked = Barrier::new(2);
    let (release, wait) = mpsc::channel::<()>();
    let (parked_growth, parked_retired) = std::thread::scope(|s| {
        let (a, parked) = (&a, &parked);
        let reader = s.spawn(move || {
            a.with(&l(0), |c| {
                c.inc();
                parked.wait();
                // Blocks inside the closure, pinned, until the writer is done.
                wait.recv().unwrap_or_else(|e| panic!("{e}"));
            })
        });
        parked.wait();
        let growth = heap_growth(|| churn(&b, &labels));
        let retired = retired_bytes();
        release.send(()).unwrap_or_else(|e| panic!("{e}"));
        reader.join().unwrap_or_else(|_| panic!("reader panicked"));
        (growth, retired)
    });
    println!(
        "heap growth over {ROUNDS} clear+refill rounds of {SERIES} series: \
         {quiet} bytes without a parked reader, {parked_growth} bytes with one \
         (retired bytes while parked: {parked_retired})"
    );
    assert!(
        parked_growth < BOUND,
        "heap grew by {parked_growth} bytes while a reader was parked in another family"
    );
    assert!(
        (parked_retired as i64) < BOUND,
        "{parked_retired} retired bytes while a reader was parked in another family"
    );
    // With the reader gone, the next write frees what it held.
    b.clear();
    a.clear();
    assert_eq!(retired_bytes(), 0);
}

/// The parked closure itself keeps reading `b` (nested pins) while `b` churns: a nested read
/// gives its part of the reservation back when it ends, so garbage stays bounded too.
#[test]
fn parked_reader_that_reads_other_families_stays_bounded() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let labels: Vec<L> = (0..SERIES).map(l).collect();
    let a: Family<L, Counter> = Family::new();
    let b: Family<L, Counter> = Family::new();
    a.get_or_create(&l(0));
    churn(&b, &labels);

    let parked = Barrier::new(2);
    let stop = std::sync::atomic::AtomicBool::new(false);
    let mut peak = 0u64;
    let growth = std::thread::scope(|s| {
        let (a, b, parked, stop) = (&a, &b, &parked, &stop);
        let reader = s.spawn(move || {
            a.with(&l(0), |c| {
                c.inc();
                parked.wait();
                let mut n = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    n += b.with(&l(n as usize % SERIES), |c| c.get()).min(1);
                }
                n
            })
        });
        parked.wait();
        let growth = heap_growth(|| {
            for _ in 0..10 {
                for _ in 0..ROUNDS / 10 {
                    b.clear();
                    for x in &labels {
                        b.get_or_create(x).inc();
                    }
                }
                peak = peak.max(retired_bytes());
            }
        });
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        reader.join().unwrap_or_else(|_| panic!("reader panicked"));
        growth
    });
    println!(
        "nested reads in a parked closure: heap growth {growth} bytes, peak retired {peak} bytes"
    );
    assert!(growth < BOUND, "heap grew by {growth} bytes");
    assert!((peak as i64) < BOUND, "{peak} retired bytes");
}
