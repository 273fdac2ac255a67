//! Process and heap: the cost of `CountingAlloc<System>` against plain `System`,
//! `stats_alloc::StatsAlloc<System>` and `cap::Cap<System>`, and of one process-collector
//! scrape against the tikv `prometheus` process collector and `metrics-process`.
//!
//! Method for the allocators: a binary has one `#[global_allocator]`, so the four are
//! compared as instances in the same binary, through direct `GlobalAlloc` calls on one
//! recorded allocation workload (a working set of 512 blocks that are allocated, freed and
//! grown with `realloc` in a fixed pseudo-random order: 70% of sizes 8..64 bytes, 25%
//! 65..512, 5% up to 8 KiB). Every wrapper runs exactly the same calls; the only difference
//! is the wrapper's bookkeeping, which is what the 10% target is about. The bench binary's own
//! global allocator stays the default.
//!
//! Run: `cargo bench -p vsanobs-benches --bench process`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use vsanobs_core::Collector as _;
use vsanobs_core::alloc::CountingAlloc;

const SLOTS: usize = 512;
const STEPS: usize = 20_000;

#[derive(Clone, Copy)]
enum Op {
    Alloc(usize, usize),
    Free(usize),
    Grow(usize, usize),
}

/// The recorded workload: the same sequence for every allocator.
fn workload() -> Vec<Op> {
    let mut live: Vec<Option<usize>> = vec![None; SLOTS];
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut ops = Vec::with_capacity(STEPS + SLOTS);
    for _ in 0..STEPS {
        let r = next();
        let slot = (r as usize) % SLOTS;
        match live[slot] {
            Some(size) if r & 0x300 == 0 && size < 32 << 10 => {
                ops.push(Op::Grow(slot, size * 2));
                live[slot] = Some(size * 2);
            }
            Some(_) => {
                ops.push(Op::Free(slot));
                live[slot] = None;
            }
            None => {
                let pick = (r >> 32) % 100;
                let size = match pick {
                    0..70 => 8 + (r >> 40) as usize % 57,
                    70..95 => 65 + (r >> 40) as usize % 448,
                    _ => 513 + (r >> 40) as usize % 7680,
                };
                ops.push(Op::Alloc(slot, size));
                live[slot] = Some(size);
            }
        }
    }
    for (slot, l) in live.iter().enumerate() {
        if l.is_some() {
            ops.push(Op::Free(slot));
        }
    }
    ops
}

fn layout(size: usize) -> Layout {
    Layout::from_size_align(size, 8).expect("sizes are at most 64 KiB")
}

/// Replays `ops` on `a`.
fn run<A: GlobalAlloc>(a: &A, ops: &[Op]) {
    let mut blocks: [(*mut u8, usize); SLOTS] = [(std::ptr::null_mut(), 0); SLOTS];
    for op in ops {
        // SAFETY: every block is allocated with `layout(size)` and freed or grown with the
        // same layout exactly once, in the order the workload recorded.
        unsafe {
            match *op {
                Op::Alloc(slot, size) => {
                    let p = a.alloc(layout(size));
                    assert!(!p.is_null());
                    p.write(1);
                    blocks[slot] = (p, size);
                }
                Op::Free(slot) => {
                    let (p, size) = blocks[slot];
                    a.dealloc(black_box(p), layout(size));
                }
                Op::Grow(slot, new) => {
                    let (p, size) = blocks[slot];
                    let q = a.realloc(p, layout(size), new);
                    assert!(!q.is_null());
                    blocks[slot] = (q, new);
                }
            }
        }
    }
}

static COUNTING: CountingAlloc<System> = CountingAlloc::new(System);
static STATS: stats_alloc::StatsAlloc<System> = stats_alloc::StatsAlloc::system();
static CAP: cap::Cap<System> = cap::Cap::new(System, usize::MAX);

/// Runs each contender in turn, `rounds` times, and prints the median time of each and the
/// median of its per-round ratios to the first. On a shared, noisy machine the interleaving
/// keeps load changes from landing on one contender only, which criterion's
/// one-after-the-other measurements cannot avoid.
fn paired(label: &str, rounds: usize, contenders: &[(&str, &dyn Fn())]) {
    let mut t: Vec<Vec<f64>> = vec![Vec::with_capacity(rounds); contenders.len()];
    for _ in 0..rounds {
        for (i, (_, f)) in contenders.iter().enumerate() {
            let start = std::time::Instant::now();
            f();
            t[i].push(start.elapsed().as_secs_f64());
        }
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    eprintln!("{label}: {rounds} interleaved rounds");
    for (i, (name, _)) in contenders.iter().enumerate() {
        let ratios: Vec<f64> = t[i].iter().zip(&t[0]).map(|(x, s)| x / s).collect();
        eprintln!(
            "  {name:<24} median {:>9.2} us  median ratio to {} {:.3}",
            median(t[i].clone()) * 1e6,
            contenders[0].0,
            median(ratios)
        );
    }
}

/// `cargo bench` passes `--bench`; `cargo test --benches` does not, and then the paired
/// rounds run only twice.
fn rounds(full: usize) -> usize {
    if std::env::args().any(|a| a == "--bench") {
        full
    } else {
        2
    }
}

fn two_threads<A: GlobalAlloc + Sync>(a: &A, ops: &[Op]) {
    std::thread::scope(|s| {
        s.spawn(|| run(a, ops));
        run(a, ops);
    });
}

fn allocators(c: &mut Criterion) {
    let ops = workload();
    paired(
        "alloc_workload (paired)",
        rounds(400),
        &[
            ("system", &|| run(&System, &ops)),
            ("vsanobs_counting_alloc", &|| run(&COUNTING, &ops)),
            ("stats_alloc", &|| run(&STATS, &ops)),
            ("cap", &|| run(&CAP, &ops)),
        ],
    );
    paired(
        "alloc_workload_2_threads (paired)",
        rounds(200),
        &[
            ("system", &|| two_threads(&System, &ops)),
            ("vsanobs_counting_alloc", &|| two_threads(&COUNTING, &ops)),
            ("stats_alloc", &|| two_threads(&STATS, &ops)),
            ("cap", &|| two_threads(&CAP, &ops)),
        ],
    );
    let mut g = c.benchmark_group("alloc_workload");
    g.throughput(Throughput::Elements(ops.len() as u64));
    g.bench_function("system", |b| b.iter(|| run(&System, &ops)));
    g.bench_function("vsanobs_counting_alloc", |b| {
        b.iter(|| run(&COUNTING, &ops))
    });
    g.bench_function("stats_alloc", |b| b.iter(|| run(&STATS, &ops)));
    g.bench_function("cap", |b| b.iter(|| run(&CAP, &ops)));
    g.finish();

    // Two threads replaying the workload at once: a single shared atomic per counter is
    // contended; per-thread slots are not.
    let mut g = c.benchmark_group("alloc_workload_2_threads");
    g.throughput(Throughput::Elements(2 * ops.len() as u64));
    g.bench_function("system", |b| b.iter(|| two_threads(&System, &ops)));
    g.bench_function("vsanobs_counting_alloc", |b| {
        b.iter(|| two_threads(&COUNTING, &ops))
    });
    g.bench_function("stats_alloc", |b| b.iter(|| two_threads(&STATS, &ops)));
    g.bench_function("cap", |b| b.iter(|| two_threads(&CAP, &ops)));
    g.finish();
    black_box((STATS.stats(), CAP.allocated()));
}

fn process_scrape(c: &mut Criterion) {
    {
        let ours = vsanobs_core::process::ProcessCollector::new();
        let tikv = prometheus::process_collector::ProcessCollector::for_self();
        let mp = metrics_process::Collector::default();
        paired(
            "process_collector_scrape (paired)",
            rounds(2000),
            &[
                ("vsanobs", &|| {
                    let mut out = Vec::with_capacity(9);
                    let r = ours.collect(&mut out);
                    black_box((r.is_ok(), out));
                }),
                ("prometheus_tikv", &|| {
                    black_box(prometheus::core::Collector::collect(&tikv));
                }),
                ("metrics_process", &|| mp.collect()),
            ],
        );
    }
    let mut g = c.benchmark_group("process_collector_scrape");
    let ours = vsanobs_core::process::ProcessCollector::new();
    g.bench_function(BenchmarkId::new("vsanobs", "collect"), |b| {
        b.iter(|| {
            let mut out = Vec::with_capacity(9);
            let r = ours.collect(&mut out);
            black_box((r.is_ok(), out))
        })
    });
    let tikv = prometheus::process_collector::ProcessCollector::for_self();
    g.bench_function(BenchmarkId::new("prometheus_tikv", "collect"), |b| {
        b.iter(|| black_box(prometheus::core::Collector::collect(&tikv)))
    });
    // metrics-process records into the installed `metrics` recorder; none is installed here,
    // so this measures reading the process statistics, as the other two do.
    let mp = metrics_process::Collector::default();
    g.bench_function(BenchmarkId::new("metrics_process", "collect"), |b| {
        b.iter(|| mp.collect())
    });
    g.finish();

    // The whole scrape of a registry holding only the process collector, encoded to text.
    let registry = vsanobs_core::Registry::new();
    if registry
        .register_collector(vsanobs_core::process::ProcessCollector::new())
        .is_ok()
    {
        c.bench_function("process_registry_encode/vsanobs", |b| {
            b.iter(|| black_box(registry.encode_to_string(vsanobs_core::Format::PrometheusText)))
        });
    }
}

criterion_group!(benches, allocators, process_scrape);
criterion_main!(benches);
