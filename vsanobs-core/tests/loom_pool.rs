//! Loom models of the sample pool: concurrent push, drain and overflow (drop-oldest).
//!
//! Run with:
//! `RUSTFLAGS="--cfg loom" cargo test -p vsanobs-core --test loom_pool --release`
//! (without `--cfg loom` this file compiles to nothing).
#![cfg(loom)]

use loom::thread;
use vsanobs_core::pool::{SamplePool, TimestampedSample};

/// A sample whose three words are derived from one number, so a torn read is detected.
fn s(i: u64) -> TimestampedSample {
    TimestampedSample::new(i, i as f64 * 0.5, -(i as i64))
}

fn check_whole(x: &TimestampedSample) {
    assert_eq!(x.value, x.series as f64 * 0.5, "torn sample {x:?}");
    assert_eq!(x.timestamp_ms, -(x.series as i64), "torn sample {x:?}");
}

fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut b = loom::model::Builder::new();
    if b.preemption_bound.is_none() {
        b.preemption_bound = Some(3);
    }
    b.check(f);
}

/// Two producers and one consumer on a ring that never fills: everything pushed is drained
/// exactly once, whole, and per-producer order is kept.
#[test]
fn loom_push_drain_two_producers() {
    model(|| {
        let pool = SamplePool::new("p", 4).unwrap();
        let producers: Vec<_> = [10u64, 20]
            .into_iter()
            .map(|base| {
                let p = pool.clone();
                thread::spawn(move || {
                    assert_eq!(p.push(s(base)), None);
                    assert_eq!(p.push(s(base + 1)), None);
                })
            })
            .collect();
        let mut got = Vec::new();
        pool.drain(&mut got, 4);
        for p in producers {
            p.join().unwrap();
        }
        pool.drain(&mut got, 4);
        assert_eq!(got.len(), 4);
        got.iter().for_each(check_whole);
        for base in [10u64, 20] {
            let mine: Vec<u64> = got
                .iter()
                .map(|x| x.series)
                .filter(|x| x / 10 == base / 10)
                .collect();
            assert_eq!(mine, [base, base + 1]);
        }
        assert_eq!(pool.dropped(), 0);
    });
}

/// Two producers overflow a full 1-slot ring at once: both evict, each evicted sample is
/// handed back exactly once, and the survivor is one of the two new samples.
#[test]
fn loom_overflow_two_producers() {
    model(|| {
        let pool = SamplePool::new("p", 1).unwrap();
        assert_eq!(pool.push(s(1)), None);
        let p1 = pool.clone();
        let t1 = thread::spawn(move || p1.push(s(2)).map(|x| x.series));
        let p2 = pool.clone();
        let t2 = thread::spawn(move || p2.push(s(3)).map(|x| x.series));
        let e1 = t1.join().unwrap();
        let e2 = t2.join().unwrap();
        assert_eq!(pool.dropped(), 2);
        assert_eq!(pool.len(), 1);
        let kept = pool.pop().unwrap();
        check_whole(&kept);
        assert!(kept.series == 2 || kept.series == 3);
        let mut all = vec![kept.series, e1.unwrap(), e2.unwrap()];
        all.sort_unstable();
        assert_eq!(all, [1, 2, 3], "each sample kept or evicted exactly once");
    });
}

/// A producer evicts from a full 1-slot ring while a consumer pops the same slot: exactly
/// one of them gets the old sample, and nothing is lost or duplicated.
#[test]
fn loom_overflow_races_consumer() {
    model(|| {
        let pool = SamplePool::new("p", 1).unwrap();
        assert_eq!(pool.push(s(1)), None);
        let p = pool.clone();
        let producer = thread::spawn(move || p.push(s(2)).map(|x| x.series));
        let popped = pool.pop();
        let evicted = producer.join().unwrap();
        assert_eq!(pool.dropped(), u64::from(evicted.is_some()));
        let rest = pool.pop();
        assert_eq!(pool.pop(), None);
        let mut all: Vec<u64> = popped
            .iter()
            .chain(rest.iter())
            .inspect(|x| check_whole(x))
            .map(|x| x.series)
            .chain(evicted)
            .collect();
        all.sort_unstable();
        assert_eq!(all, [1, 2], "each sample drained or dropped exactly once");
        // The newest sample survives: it was either popped after 1, or is still there.
        assert!(rest.map(|x| x.series) == Some(2) || popped.map(|x| x.series) == Some(2));
    });
}

/// One producer overruns a 2-slot ring while a consumer pops: what is kept is the newest,
/// drained in push order, and the dropped count accounts for the rest.
#[test]
fn loom_overflow_keeps_newest_in_order() {
    model(|| {
        let pool = SamplePool::new("p", 2).unwrap();
        let p = pool.clone();
        let producer = thread::spawn(move || {
            let mut evicted = Vec::new();
            for i in 1..=4 {
                if let Some(x) = p.push(s(i)) {
                    evicted.push(x.series);
                }
            }
            evicted
        });
        let first = pool.pop();
        let evicted = producer.join().unwrap();
        let mut rest = Vec::new();
        pool.drain(&mut rest, 4);
        rest.iter().for_each(check_whole);
        let kept: Vec<u64> = rest.iter().map(|x| x.series).collect();
        // After the producer finished, the newest sample is always still there.
        assert_eq!(kept.last(), Some(&4));
        assert!(kept.windows(2).all(|w| w[0] < w[1]), "order {kept:?}");
        let mut all: Vec<u64> = first
            .iter()
            .map(|x| x.series)
            .chain(kept)
            .chain(evicted.iter().copied())
            .collect();
        all.sort_unstable();
        assert_eq!(all, [1, 2, 3, 4]);
        assert_eq!(pool.dropped(), evicted.len() as u64);
    });
}

/// `try_push` from two producers into a 1-slot ring with a consumer: a refused sample is
/// handed back, an accepted one is drained exactly once, nothing is evicted.
#[test]
fn loom_try_push_with_consumer() {
    model(|| {
        let pool = SamplePool::new("p", 1).unwrap();
        let handles: Vec<_> = [1u64, 2]
            .into_iter()
            .map(|i| {
                let p = pool.clone();
                thread::spawn(move || p.try_push(s(i)).err().map(|x| x.series))
            })
            .collect();
        let mut got: Vec<TimestampedSample> = pool.pop().into_iter().collect();
        let refused: Vec<u64> = handles
            .into_iter()
            .filter_map(|h| h.join().unwrap())
            .collect();
        while let Some(x) = pool.pop() {
            got.push(x);
        }
        got.iter().for_each(check_whole);
        assert_eq!(pool.dropped(), 0);
        let mut all: Vec<u64> = got.iter().map(|x| x.series).chain(refused).collect();
        all.sort_unstable();
        assert_eq!(all, [1, 2]);
    });
}
