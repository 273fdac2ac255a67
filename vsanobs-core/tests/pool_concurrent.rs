//! Sample pool under real threads: producers race a draining consumer, with and without
//! overflow; every sample is drained or counted as dropped exactly once.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

use vsanobs_core::pool::{PoolMetrics, SamplePool, TimestampedSample};
use vsanobs_core::{Format, Registry};

const PER_PRODUCER: u64 = 50_000;

fn run(capacity: usize, producers: u64) -> (Vec<TimestampedSample>, u64) {
    let pool = SamplePool::new("t", capacity).unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let consumer = {
        let pool = pool.clone();
        let done = done.clone();
        thread::spawn(move || {
            let mut got = Vec::new();
            loop {
                let finished = done.load(Ordering::Acquire);
                if pool.drain(&mut got, 64) == 0 && finished {
                    return got;
                }
            }
        })
    };
    let handles: Vec<_> = (0..producers)
        .map(|p| {
            let pool = pool.clone();
            thread::spawn(move || {
                let mut evicted = 0u64;
                for i in 0..PER_PRODUCER {
                    let id = p << 32 | i;
                    if pool
                        .push(TimestampedSample::new(id, id as f64, i as i64))
                        .is_some()
                    {
                        evicted += 1;
                    }
                }
                evicted
            })
        })
        .collect();
    let evicted: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    done.store(true, Ordering::Release);
    let got = consumer.join().unwrap();
    assert_eq!(evicted, pool.dropped());
    (got, pool.dropped())
}

fn check(got: &[TimestampedSample], dropped: u64, producers: u64) {
    assert_eq!(got.len() as u64 + dropped, producers * PER_PRODUCER);
    let mut last = vec![None::<u64>; producers as usize];
    for s in got {
        assert_eq!(s.value, s.series as f64, "torn sample");
        let p = (s.series >> 32) as usize;
        let i = s.series & 0xffff_ffff;
        assert_eq!(s.timestamp_ms, i as i64, "torn sample");
        if let Some(prev) = last[p] {
            assert!(i > prev, "producer {p} out of order: {i} after {prev}");
        }
        last[p] = Some(i);
    }
}

#[test]
fn pool_two_producers_no_overflow() {
    let (got, dropped) = run(1 << 20, 2);
    assert_eq!(dropped, 0);
    check(&got, dropped, 2);
}

#[test]
fn pool_three_producers_overflowing() {
    let (got, dropped) = run(8, 3);
    check(&got, dropped, 3);
}

#[test]
fn pool_metrics_exported() {
    let registry = Registry::new();
    let metrics = PoolMetrics::new();
    let a = SamplePool::new("a", 2).unwrap();
    let b = SamplePool::new("b", 4).unwrap();
    assert!(metrics.add(&a));
    assert!(metrics.add(&b));
    assert!(!metrics.add(&a.clone()));
    registry.register_collector(metrics).unwrap();
    for i in 0..5 {
        a.push(TimestampedSample::new(i, 0.0, 0));
    }
    b.push(TimestampedSample::new(9, 0.0, 0));
    let text = registry.encode_to_string(Format::PrometheusText);
    for line in [
        "vsanobs_pool_dropped_samples_total{pool=\"a\"} 3\n",
        "vsanobs_pool_dropped_samples_total{pool=\"b\"} 0\n",
        "vsanobs_pool_samples{pool=\"a\"} 2\n",
        "vsanobs_pool_samples{pool=\"b\"} 1\n",
        "vsanobs_pool_capacity{pool=\"b\"} 4\n",
        "vsanobs_scrape_collector_success{collector=\"vsanobs_pool\"} 1\n",
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }
}
