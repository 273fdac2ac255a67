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

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = push_drain_1thread, push_full, spsc_2threads, two_producers
}
criterion_main!(benches);
