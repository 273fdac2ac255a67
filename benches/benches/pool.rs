//! Sample pool benches: `vsanobs_core::SamplePool` against crossbeam's `ArrayQueue` (the
//! same bounded MPMC algorithm, with `force_push` for drop-oldest) and `rtrb` (a wait-free
//! single-producer single-consumer ring), measured in the same run on the same samples.
//!
//! Groups:
//! - `a_push_drain_1thread`: push 256 samples, then drain them, in one thread.
//! - `b_push_full`: push into a full ring, evicting the oldest sample (rtrb cannot evict).
//! - `c_spsc_2threads`: one producer thread, one consumer thread, 200,000 samples, lossless
//!   (`try_push` and yield when full).
//! - `d_two_producers`: two producer threads and a draining consumer, 2 x 100,000 samples
//!   into a 4,096-slot ring (drop-oldest when the consumer falls behind).
//! - `e_pool_to_remote_write`: the push path's worker step for one request of 2,000
//!   samples (2,000 series, one interval each, six labels, as a vSAN collection pushes
//!   them): push into the pool, drain, resolve through the `SeriesTable`, encode the
//!   `WriteRequest` (`pool_series_table`); beside it vsanobs' own other way to the same
//!   bytes, a registry of the same 2,000 gauges gathered and encoded by
//!   `encode_write_request` (`registry_snapshot`). No crate outside vsanobs encodes remote
//!   write from a sample queue, so there is no foreign peer; snappy compression, the same
//!   for both, is left out.
//!
//! Run: `cargo bench -p vsanobs-benches --bench pool`. Results are kept in
//! `docs/benchmarks.md` (section "Sample pool").

use std::hint::black_box;
use std::sync::Arc;
use std::sync::Barrier;
use std::thread;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use crossbeam_queue::ArrayQueue;
use vsanobs_core::export::remote_write::{encode_sample_batch, encode_write_request};
use vsanobs_core::export::{Batch, FamilyMeta, SampleBatch, SeriesTable};
use vsanobs_core::model::MetricKind;
use vsanobs_core::pool::{SamplePool, TimestampedSample};

const BATCH: usize = 256;

fn sample(i: u64) -> TimestampedSample {
    TimestampedSample::new(i, i as f64, i as i64)
}

fn push_drain_1thread(c: &mut Criterion) {
    let mut g = c.benchmark_group("a_push_drain_1thread");
    g.throughput(Throughput::Elements(BATCH as u64));
    let pool = SamplePool::new("bench", BATCH).unwrap();
    let mut out = Vec::with_capacity(BATCH);
    g.bench_function("vsanobs_pool", |b| {
        b.iter(|| {
            for i in 0..BATCH as u64 {
                black_box(pool.push(black_box(sample(i))));
            }
            out.clear();
            pool.drain(&mut out, BATCH);
            black_box(&out);
        })
    });
    let q = ArrayQueue::new(BATCH);
    g.bench_function("crossbeam_array_queue", |b| {
        b.iter(|| {
            for i in 0..BATCH as u64 {
                let _ = black_box(q.push(black_box(sample(i))));
            }
            out.clear();
            while let Some(s) = q.pop() {
                out.push(s);
            }
            black_box(&out);
        })
    });
    let (mut tx, mut rx) = rtrb::RingBuffer::new(BATCH);
    g.bench_function("rtrb_spsc", |b| {
        b.iter(|| {
            for i in 0..BATCH as u64 {
                let _ = black_box(tx.push(black_box(sample(i))));
            }
            out.clear();
            while let Ok(s) = rx.pop() {
                out.push(s);
            }
            black_box(&out);
        })
    });
    g.finish();
}

fn push_full(c: &mut Criterion) {
    let mut g = c.benchmark_group("b_push_full");
    g.throughput(Throughput::Elements(1));
    let pool = SamplePool::new("bench", 1024).unwrap();
    for i in 0..1024 {
        pool.push(sample(i));
    }
    let mut i = 0u64;
    g.bench_function("vsanobs_pool", |b| {
        b.iter(|| {
            i += 1;
            black_box(pool.push(black_box(sample(i))))
        })
    });
    let q = ArrayQueue::new(1024);
    for i in 0..1024 {
        let _ = q.push(sample(i));
    }
    g.bench_function("crossbeam_array_queue_force_push", |b| {
        b.iter(|| {
            i += 1;
            black_box(q.force_push(black_box(sample(i))))
        })
    });
    g.finish();
}

/// Runs `iters` rounds of: spawn `producers` threads pushing `per` samples each, drain in the
/// calling thread until all were seen (or evicted), return the total elapsed time.
fn threaded<P, C>(iters: u64, producers: usize, per: u64, push: P, mut drain: C) -> Duration
where
    P: Fn(u64) + Send + Sync + 'static,
    C: FnMut() -> usize,
{
    let push = Arc::new(push);
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let start = Arc::new(Barrier::new(producers + 1));
        let handles: Vec<_> = (0..producers)
            .map(|p| {
                let push = push.clone();
                let start = start.clone();
                thread::spawn(move || {
                    start.wait();
                    let base = (p as u64) << 32;
                    for i in 0..per {
                        push(base | i);
                    }
                })
            })
            .collect();
        start.wait();
        let t = Instant::now();
        let mut seen = 0usize;
        loop {
            let finished = handles.iter().all(thread::JoinHandle::is_finished);
            let n = drain();
            seen += n;
            if n == 0 {
                if finished {
                    break;
                }
                // Two cores, three threads: give the producers the CPU instead of spinning.
                thread::yield_now();
            }
        }
        total += t.elapsed();
        for h in handles {
            let _ = h.join();
        }
        black_box(seen);
    }
    total
}

fn spsc_2threads(c: &mut Criterion) {
    const N: u64 = 200_000;
    const CAP: usize = 4096;
    let mut g = c.benchmark_group("c_spsc_2threads");
    g.throughput(Throughput::Elements(N));
    g.sample_size(10);
    g.bench_function("vsanobs_pool", |b| {
        b.iter_custom(|iters| {
            let pool = SamplePool::new("bench", CAP).unwrap();
            let p2 = pool.clone();
            let mut out = Vec::with_capacity(CAP);
            threaded(
                iters,
                1,
                N,
                move |i| {
                    // Lossless: wait for room instead of evicting, as the peers do.
                    let mut s = sample(i);
                    while let Err(back) = p2.try_push(s) {
                        s = back;
                        thread::yield_now();
                    }
                },
                move || {
                    out.clear();
                    pool.drain(&mut out, CAP)
                },
            )
        })
    });
    g.bench_function("crossbeam_array_queue", |b| {
        b.iter_custom(|iters| {
            let q = Arc::new(ArrayQueue::new(CAP));
            let q2 = q.clone();
            let mut out = Vec::with_capacity(CAP);
            threaded(
                iters,
                1,
                N,
                move |i| {
                    let mut s = sample(i);
                    while let Err(back) = q2.push(s) {
                        s = back;
                        thread::yield_now();
                    }
                },
                move || {
                    out.clear();
                    while out.len() < CAP {
                        match q.pop() {
                            Some(s) => out.push(s),
                            None => break,
                        }
                    }
                    out.len()
                },
            )
        })
    });
    g.bench_function("rtrb_spsc", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let (mut tx, mut rx) = rtrb::RingBuffer::new(CAP);
                let start = Arc::new(Barrier::new(2));
                let s2 = start.clone();
                let h = thread::spawn(move || {
                    s2.wait();
                    for i in 0..N {
                        let mut s = sample(i);
                        while let Err(rtrb::PushError::Full(back)) = tx.push(s) {
                            s = back;
                            thread::yield_now();
                        }
                    }
                });
                start.wait();
                let t = Instant::now();
                let mut seen = 0;
                while seen < N {
                    match rx.pop() {
                        Ok(s) => {
                            black_box(s);
                            seen += 1;
                        }
                        Err(_) => thread::yield_now(),
                    }
                }
                total += t.elapsed();
                let _ = h.join();
            }
            total
        })
    });
    g.finish();
}

fn two_producers(c: &mut Criterion) {
    const N: u64 = 100_000;
    const CAP: usize = 4096;
    let mut g = c.benchmark_group("d_two_producers");
    g.throughput(Throughput::Elements(2 * N));
    g.sample_size(10);
    g.bench_function("vsanobs_pool", |b| {
        b.iter_custom(|iters| {
            let pool = SamplePool::new("bench", CAP).unwrap();
            let p2 = pool.clone();
            let mut out = Vec::with_capacity(CAP);
            threaded(
                iters,
                2,
                N,
                move |i| {
                    black_box(p2.push(sample(i)));
                },
                move || {
                    out.clear();
                    pool.drain(&mut out, CAP)
                },
            )
        })
    });
    g.bench_function("crossbeam_array_queue_force_push", |b| {
        b.iter_custom(|iters| {
            let q = Arc::new(ArrayQueue::new(CAP));
            let q2 = q.clone();
            let mut out = Vec::with_capacity(CAP);
            threaded(
                iters,
                2,
                N,
                move |i| {
                    black_box(q2.force_push(sample(i)));
                },
                move || {
                    out.clear();
                    while out.len() < CAP {
                        match q.pop() {
                            Some(s) => out.push(s),
                            None => break,
                        }
                    }
                    out.len()
                },
            )
        })
    });
    g.finish();
}

fn pool_to_remote_write(c: &mut Criterion) {
    const SERIES: usize = 2_000;
    let mut g = c.benchmark_group("e_pool_to_remote_write");
    g.throughput(Throughput::Elements(SERIES as u64));
    let labels = |i: usize| {
        [
            ("vcenter", "vc-prod-01".to_owned()),
            ("cluster_name", format!("cluster-{:02}", i / 400)),
            (
                "cluster_uuid",
                format!("52c0ffee-0000-4000-8000-{:012}", i / 400),
            ),
            ("host_name", format!("esx-{:03}.example.com", i / 20)),
            (
                "host_uuid",
                format!("5f3c0000-0000-4000-8000-{:012}", i / 20),
            ),
            ("disk_uuid", format!("52a1{:028}", i)),
        ]
    };
    let fam = FamilyMeta::new(
        "vsan_disk_io_latency_seconds",
        MetricKind::Gauge,
        "Disk IO latency.",
    )
    .with_unit("seconds");
    let table = SeriesTable::new(SERIES);
    let ids: Vec<u64> = (0..SERIES)
        .map(|i| {
            let l = labels(i);
            let pairs: Vec<(&str, &str)> = l.iter().map(|(k, v)| (*k, v.as_str())).collect();
            table.intern(&fam, &pairs).unwrap()
        })
        .collect();
    let pool = SamplePool::new("bench", SERIES).unwrap();
    let mut buf = Vec::with_capacity(SERIES);
    g.bench_function("pool_series_table", |b| {
        b.iter(|| {
            for (i, id) in ids.iter().enumerate() {
                pool.push(TimestampedSample::new(
                    *id,
                    i as f64 * 1e-4,
                    1_700_000_000_000,
                ));
            }
            buf.clear();
            pool.drain(&mut buf, SERIES);
            let (batch, _) = SampleBatch::resolve(&buf, &table);
            black_box(encode_sample_batch(&batch, true))
        })
    });
    #[derive(Clone, PartialEq, Eq, Hash, vsanobs_core::LabelSet)]
    struct Disk {
        vcenter: String,
        cluster_name: String,
        cluster_uuid: String,
        host_name: String,
        host_uuid: String,
        disk_uuid: String,
    }
    let registry = vsanobs_core::Registry::new();
    let family = vsanobs_core::Family::<Disk, vsanobs_core::FloatGauge>::with_cap(SERIES);
    registry
        .register(
            "vsan_disk_io_latency_seconds",
            "Disk IO latency.",
            family.clone(),
        )
        .unwrap();
    for i in 0..SERIES {
        let [a, b, c, d, e, f] = labels(i).map(|(_, v)| v);
        let disk = Disk {
            vcenter: a,
            cluster_name: b,
            cluster_uuid: c,
            host_name: d,
            host_uuid: e,
            disk_uuid: f,
        };
        family.get_or_create(&disk).set(i as f64 * 1e-4);
    }
    g.bench_function("registry_snapshot", |b| {
        b.iter(|| {
            let batch = Batch::new(registry.gather(), 1_700_000_000_000);
            black_box(encode_write_request(&batch, true))
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = push_drain_1thread, push_full, spsc_2threads, two_producers, pool_to_remote_write
}
criterion_main!(benches);
