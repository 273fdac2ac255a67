//! `Family` under concurrent lookups, creation and removal: lock-free lookups of existing
//! series race snapshot replacements (promotions, removals) from other threads, and every
//! increment is counted exactly once.

use std::cell::RefCell;
use std::sync::Barrier;

use vsanobs_core::{Counter, Family, LabelSet};

#[derive(Clone, Debug, PartialEq, Eq, Hash, LabelSet)]
struct Req {
    method: String,
    route: String,
    status: String,
}

fn req(route: &str, i: usize) -> Req {
    Req {
        method: ["GET", "POST", "PUT"][i % 3].to_owned(),
        route: route.to_owned(),
        status: (200 + i % 5).to_string(),
    }
}

/// Series that are never removed.
const STABLE: usize = 64;
const LOOKUP_THREADS: usize = 3;
const ROUNDS: usize = 300;

#[test]
fn lookups_race_creation_and_removal_and_every_increment_counts() {
    let fam: Family<Req, Counter> = Family::with_cap(100_000);
    let stable: Vec<Req> = (0..STABLE)
        .map(|i| req(&format!("/stable/{i}"), i))
        .collect();
    let start = Barrier::new(LOOKUP_THREADS + 2);
    std::thread::scope(|s| {
        // Lookup threads: `with` on stable series (first use creates them, concurrently).
        for t in 0..LOOKUP_THREADS {
            let (fam, stable, start) = (&fam, &stable, &start);
            s.spawn(move || {
                start.wait();
                for round in 0..ROUNDS {
                    for (i, labels) in stable.iter().enumerate() {
                        if (i + t + round) % 2 == 0 {
                            fam.with(labels, |c| c.inc());
                        } else {
                            fam.get_or_create(labels).inc();
                        }
                    }
                }
            });
        }
        // Churn thread: creates series of its own, counts into them, checks and removes
        // them, which replaces the snapshot the lookup threads are reading.
        {
            let (fam, start) = (&fam, &start);
            s.spawn(move || {
                start.wait();
                for round in 0..ROUNDS {
                    let mine: Vec<Req> =
                        (0..8).map(|i| req(&format!("/churn/{round}"), i)).collect();
                    for (k, labels) in mine.iter().enumerate() {
                        for _ in 0..=k {
                            fam.with(labels, |c| c.inc());
                        }
                    }
                    for (k, labels) in mine.iter().enumerate() {
                        assert_eq!(fam.get(labels).map(|c| c.get()), Some(k as u64 + 1));
                        assert!(fam.remove(labels), "{labels:?} was not there to remove");
                        assert!(fam.get(labels).is_none());
                    }
                }
            });
        }
        // Observer thread: stable series only ever grow while everything above runs.
        {
            let (fam, stable, start) = (&fam, &stable, &start);
            s.spawn(move || {
                start.wait();
                let mut last = vec![0u64; STABLE];
                for _ in 0..ROUNDS {
                    for (i, labels) in stable.iter().enumerate() {
                        let v = fam.get(labels).map_or(0, |c| c.get());
                        assert!(v >= last[i], "series {i} went back from {} to {v}", last[i]);
                        last[i] = v;
                    }
                }
            });
        }
    });
    assert_eq!(fam.len(), STABLE, "only the stable series remain");
    for labels in &stable {
        assert_eq!(
            fam.get(labels).map(|c| c.get()),
            Some((LOOKUP_THREADS * ROUNDS) as u64),
            "{labels:?}"
        );
    }
    assert_eq!(fam.overflowed(), 0);
}

/// Many short-lived threads (their reader slots are given back and reused) and a lookup
/// from a thread-local destructor that runs after the thread's own slot was given back:
/// each increment still lands exactly once.
#[test]
fn short_lived_threads_and_lookups_during_thread_exit_count_exactly() {
    struct AtExit(Option<(Family<Req, Counter>, Req)>);
    impl Drop for AtExit {
        fn drop(&mut self) {
            if let Some((fam, labels)) = self.0.take() {
                fam.with(&labels, |c| c.inc());
            }
        }
    }
    thread_local! {
        static AT_EXIT: RefCell<AtExit> = const { RefCell::new(AtExit(None)) };
    }

    let fam: Family<Req, Counter> = Family::with_cap(1_000);
    let labels = req("/exit", 0);
    const THREADS: usize = 40;
    for batch in 0..THREADS / 4 {
        // `join` (not a scope) so the threads' thread-local destructors have run too.
        let handles: Vec<_> = (0..4)
            .map(|t| {
                let (fam, labels) = (fam.clone(), labels.clone());
                std::thread::spawn(move || {
                    // Registered before the family's own thread-locals are first touched, so
                    // its destructor runs after theirs.
                    AT_EXIT.with(|a| a.borrow_mut().0 = Some((fam.clone(), labels.clone())));
                    fam.with(&labels, |c| c.inc());
                    // A removal and re-creation from time to time replaces the snapshot.
                    if (batch + t) % 5 == 0 {
                        let other = req("/exit-other", batch * 4 + t);
                        fam.get_or_create(&other).inc();
                        assert!(fam.remove(&other));
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap_or_else(|_| panic!("a thread panicked"));
        }
    }
    assert_eq!(
        fam.get(&labels).map(|c| c.get()),
        Some(2 * THREADS as u64),
        "one increment from each thread's body and one from its exit"
    );
    assert_eq!(fam.len(), 1);
}
