//! Loom models of the snapshot reclamation behind `Family` lookups (`src/family/rcu.rs`):
//! a reader pinned with plain stores and a fence never sees a snapshot that a writer has
//! freed, nested pins protect every read inside them, a slot reused by a new thread protects
//! it, a thread that exits while pinned keeps its slot out of reuse, two families' writers
//! can bump the shared epoch at once, a pinned reader does not hold back snapshots born after it
//! pinned, and once readers are gone everything retired is freed.
//!
//! Run with:
//! `RUSTFLAGS="--cfg loom" cargo test -p vsanobs-core --test loom_family --release`
//! (without `--cfg loom` this file compiles to nothing).
//!
//! The module is compiled here from its source file, against loom's atomics (the `sync`
//! module below stands in for the crate's shim). Under loom the reader's light barrier is a
//! `SeqCst` fence and the writer's heavy barrier another one: the portable fallback, whose
//! fence pairing is what `membarrier` stands in for in production.
#![cfg(loom)]
#![allow(unsafe_code, dead_code, unreachable_pub)]

mod sync {
    pub(crate) use loom::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, Ordering, fence};
}

#[path = "../src/family/rcu.rs"]
mod rcu;

use loom::cell::UnsafeCell;
use loom::sync::Arc;
use loom::sync::atomic::{AtomicPtr, Ordering};
use loom::thread;

/// What a freed snapshot's payload is overwritten with.
const FREED: u64 = u64::MAX;

/// A stand-in snapshot: "freeing" it writes `FREED` into the payload through a loom cell,
/// so a reader whose access is not ordered before the free is reported by loom as a data
/// race, and one that is ordered after it reads `FREED`.
struct Obj {
    value: UnsafeCell<u64>,
}

fn obj(v: u64) -> *mut Obj {
    Box::into_raw(Box::new(Obj {
        value: UnsafeCell::new(v),
    }))
}

/// One published pointer, a writer's retired list and every object ever allocated (kept
/// until the end of the model, so a wrong free is a detected race, not real memory misuse).
struct Cell {
    ptr: AtomicPtr<Obj>,
    /// The current object's birth, and the retired ones with birth and retire epoch.
    birth: loom::sync::Mutex<rcu::Birth>,
    retired: loom::sync::Mutex<Vec<(rcu::Birth, u64, *mut Obj)>>,
    all: loom::sync::Mutex<Vec<*mut Obj>>,
}

// SAFETY: the raw pointers are only dereferenced as the model's protocol allows, and the
// boxes are freed once, in `Drop`, after every thread has been joined.
unsafe impl Send for Cell {}
// SAFETY: as above; all shared state is behind loom atomics, mutexes and cells.
unsafe impl Sync for Cell {}

impl Cell {
    fn new(v: u64) -> Self {
        let first = obj(v);
        Cell {
            ptr: AtomicPtr::new(first),
            birth: loom::sync::Mutex::new(rcu::birth()),
            retired: loom::sync::Mutex::new(Vec::new()),
            all: loom::sync::Mutex::new(vec![first]),
        }
    }

    /// A pinned read of the current object's payload.
    fn read(&self) -> u64 {
        let pin = rcu::pin();
        self.read_with(&pin)
    }

    /// A read under `pin`.
    fn read_with(&self, pin: &rcu::Guard) -> u64 {
        let p = pin.protect(&self.ptr);
        // SAFETY: `p` is never freed before the model ends; a reclaimed object's payload is
        // written by `reclaim`, which loom checks against this read.
        let v = unsafe { (*p).value.with(|v| *v) };
        assert_ne!(v, FREED, "a pinned reader saw a reclaimed snapshot");
        v
    }

    /// The writer: publish a new object, retire the old one, reclaim what is safe.
    fn replace(&self, v: u64) {
        let new = obj(v);
        self.all.lock().unwrap().push(new);
        // The family mutex: one writer per cell at a time.
        let mut retired = self.retired.lock().unwrap();
        let birth = rcu::birth();
        let old = self.ptr.swap(new, Ordering::AcqRel);
        let old_birth = std::mem::replace(&mut *self.birth.lock().unwrap(), birth);
        retired.push((old_birth, rcu::retire_epoch(), old));
        Self::reclaim(&mut retired);
    }

    fn reclaim(retired: &mut Vec<(rcu::Birth, u64, *mut Obj)>) {
        let Some(scan) = rcu::scan() else {
            return;
        };
        retired.retain(|&(birth, at, p)| {
            if !scan.may_free(birth, at) {
                return true;
            }
            // SAFETY: `p` is still allocated (freed only in `Drop`); loom checks that no
            // reader's access races with this write.
            unsafe { (*p).value.with_mut(|v| *v = FREED) };
            false
        });
    }

    fn retired_len(&self) -> usize {
        self.retired.lock().unwrap().len()
    }
}

impl Drop for Cell {
    fn drop(&mut self) {
        for p in self.all.lock().unwrap().drain(..) {
            // SAFETY: every pointer in `all` came from `Box::into_raw` and is freed once.
            drop(unsafe { Box::from_raw(p) });
        }
    }
}

fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut b = loom::model::Builder::new();
    if b.preemption_bound.is_none() {
        b.preemption_bound = Some(3);
    }
    b.check(f);
}

/// One reader against a writer that replaces the snapshot twice, reclaiming each time.
#[test]
fn loom_reader_never_sees_a_freed_snapshot() {
    model(|| {
        let cell = Arc::new(Cell::new(1));
        let c = Arc::clone(&cell);
        let reader = thread::spawn(move || {
            let a = c.read();
            let b = c.read();
            assert!(a <= b, "reads went back in time: {a} then {b}");
        });
        cell.replace(2);
        cell.replace(3);
        reader.join().unwrap();
        // With the reader gone nothing pins: a last reclaim frees everything retired.
        Cell::reclaim(&mut cell.retired.lock().unwrap());
        assert_eq!(cell.retired_len(), 0, "retired snapshots were never freed");
    });
}

/// A nested pin (the outer one stays) protects reads of two cells, one of which is
/// replaced meanwhile; the inner guard's drop must not end the protection.
#[test]
fn loom_nested_pins_protect_every_read() {
    model(|| {
        let x = Arc::new(Cell::new(10));
        let y = Arc::new(Cell::new(20));
        let (rx, ry) = (Arc::clone(&x), Arc::clone(&y));
        let reader = thread::spawn(move || {
            let outer = rcu::pin();
            let a = rx.read_with(&outer);
            {
                let inner = rcu::pin();
                let _ = ry.read_with(&inner);
            }
            // Still pinned by `outer`.
            let b = rx.read_with(&outer);
            assert!(a <= b);
        });
        x.replace(11);
        reader.join().unwrap();
        assert_eq!(y.read(), 20);
    });
}

/// Two readers on their own slots and a writer: neither reader sees a freed snapshot.
#[test]
fn loom_two_readers_one_writer() {
    model(|| {
        let cell = Arc::new(Cell::new(1));
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let c = Arc::clone(&cell);
                thread::spawn(move || {
                    c.read();
                })
            })
            .collect();
        cell.replace(2);
        for r in readers {
            r.join().unwrap();
        }
        Cell::reclaim(&mut cell.retired.lock().unwrap());
        assert_eq!(cell.retired_len(), 0);
    });
}

/// Slot reuse: a reader exits (its slot goes back to the list) while a second reader,
/// started meanwhile, may take that slot over; a writer replaces the snapshot under both.
#[test]
fn loom_reused_slot_protects_its_new_owner() {
    model(|| {
        let cell = Arc::new(Cell::new(1));
        let c1 = Arc::clone(&cell);
        let first = thread::spawn(move || {
            c1.read();
        });
        let c2 = Arc::clone(&cell);
        let second = thread::spawn(move || {
            c2.read();
        });
        cell.replace(2);
        first.join().unwrap();
        second.join().unwrap();
        let third = {
            let c3 = Arc::clone(&cell);
            // Starts after both exited: reuses one of their slots.
            thread::spawn(move || {
                c3.read();
            })
        };
        cell.replace(3);
        third.join().unwrap();
        Cell::reclaim(&mut cell.retired.lock().unwrap());
        assert_eq!(cell.retired_len(), 0);
    });
}

/// A thread exits while still pinned (its guard was leaked): its slot is kept out of reuse,
/// so a thread started meanwhile reads on a slot of its own; the writer keeps what the exited
/// pin may reference and frees the rest.
#[test]
fn loom_thread_exits_while_pinned() {
    model(|| {
        let cell = Arc::new(Cell::new(1));
        let c1 = Arc::clone(&cell);
        let leaver = thread::spawn(move || {
            let pin = rcu::pin();
            let _ = c1.read_with(&pin);
            std::mem::forget(pin);
        });
        let c2 = Arc::clone(&cell);
        let reader = thread::spawn(move || {
            c2.read();
        });
        cell.replace(2);
        leaver.join().unwrap();
        reader.join().unwrap();
        cell.replace(3);
        // Only what the leaked pin's interval covers may stay: the first two objects.
        assert!(cell.retired_len() <= 2, "{} kept", cell.retired_len());
    });
}

/// Two families' writers bump the shared epoch at once while one reader reads both.
#[test]
fn loom_two_families_writers_at_once() {
    model(|| {
        let x = Arc::new(Cell::new(10));
        let y = Arc::new(Cell::new(20));
        let (rx, ry) = (Arc::clone(&x), Arc::clone(&y));
        let reader = thread::spawn(move || {
            let pin = rcu::pin();
            let a = rx.read_with(&pin);
            let b = ry.read_with(&pin);
            assert!(a >= 10 && b >= 20);
        });
        let wy = Arc::clone(&y);
        let writer = thread::spawn(move || wy.replace(21));
        x.replace(11);
        writer.join().unwrap();
        reader.join().unwrap();
        Cell::reclaim(&mut x.retired.lock().unwrap());
        Cell::reclaim(&mut y.retired.lock().unwrap());
        assert_eq!(x.retired_len() + y.retired_len(), 0);
    });
}

/// A reader that stays pinned on one family does not hold back another family's snapshots
/// born after it pinned: after three replacements, at most the two alive when it pinned
/// are kept.
#[test]
fn loom_pinned_reader_holds_back_only_what_was_alive() {
    use loom::sync::atomic::AtomicBool;
    model(|| {
        let x = Arc::new(Cell::new(10));
        let y = Arc::new(Cell::new(20));
        let pinned = Arc::new(AtomicBool::new(false));
        let done = Arc::new(AtomicBool::new(false));
        let (rx, p, d) = (Arc::clone(&x), Arc::clone(&pinned), Arc::clone(&done));
        let reader = thread::spawn(move || {
            let pin = rcu::pin();
            let _ = rx.read_with(&pin);
            p.store(true, Ordering::Release);
            while !d.load(Ordering::Acquire) {
                thread::yield_now();
            }
            let _ = rx.read_with(&pin);
        });
        while !pinned.load(Ordering::Acquire) {
            thread::yield_now();
        }
        for v in 21..24 {
            y.replace(v);
        }
        assert!(y.retired_len() <= 2, "{} kept", y.retired_len());
        done.store(true, Ordering::Release);
        reader.join().unwrap();
    });
}
