//! Snapshot reclamation for [`Family`](super::Family): a read pins without any atomic
//! read-modify-write; a writer retires the snapshot it replaced and frees it once no reader
//! can still hold it.
//!
//! Design (epoch-based reclamation with an asymmetric fence):
//! - Every thread owns a [`Slot`] in one process-wide, append-only list. A read *pins* by
//!   storing the global epoch into its slot (a plain store, no lock prefix), runs a *light*
//!   barrier, and only then loads the snapshot pointer. Unpinning stores 0. Pins nest: a pin
//!   that finds its slot already pinned leaves it alone, so only the outermost one stores.
//! - A writer (the family mutex already serialises them) publishes the new snapshot, then
//!   takes a retire epoch `r` with a `fetch_add` on the global epoch. Later, after a *heavy*
//!   barrier, it frees a retired snapshot once every pinned slot shows an epoch above `r`.
//! - Light/heavy: once `membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED)` succeeded
//!   (Linux 4.14+), the light barrier is a compiler fence and the heavy one is
//!   `membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED)`, which runs a full fence on every CPU
//!   currently running a thread of this process. Elsewhere both are `SeqCst` fences.
//!
//! Why a snapshot is never freed under a reader. Take a reader that uses a retired snapshot
//! `S` (retire epoch `r`) and the writer's scan that freed `S`:
//! - If the scan read this reader's slot as 0 (or a value stored before the pin), then the
//!   writer's store of the new pointer, its heavy barrier and that scan, against the reader's
//!   pin store, light barrier and pointer load, form the store-buffering (Dekker) pattern
//!   with a full fence on both sides: the reader's load must then see the new pointer (or a
//!   later one), never `S`. A 0 read with `Acquire` also synchronises with the `Release`
//!   unpin of any earlier read, so those reads happen before the free.
//! - If the scan read a pin epoch `e`, it frees `S` only when `e > r`. The reader loaded the
//!   epoch with `Acquire` and got a value that the writer's `AcqRel` `fetch_add` (or a later
//!   one in its release sequence) wrote, so the writer's pointer store happens before every
//!   pointer load of that pin: again the new pointer or a later one, never `S`.
//!
//! A thread's slot goes back to the list when the thread exits. A read from a thread-local
//! destructor that runs after that borrows a free slot for the length of the read.
//! Readers never wait for writers, and writers never wait for readers: a snapshot that a
//! reader still pins simply stays on the writer's retired list until a later write (or a
//! scrape) finds it free, or until the family is dropped.

#![allow(unsafe_code)]

use std::cell::Cell;
use std::marker::PhantomData;
use std::ptr;

use crate::sync::{AtomicBool, AtomicPtr, AtomicU64, Ordering, fence};

/// One thread's pin: 0 when not reading, else the global epoch seen when the read began.
/// Only the slot's owner stores `pinned`; writers read it. Aligned to its own cache lines
/// so two threads pinning never write to one line.
#[repr(align(128))]
pub(crate) struct Slot {
    pinned: AtomicU64,
    /// Whether readers on this slot may use the light barrier (the process-wide mode,
    /// decided before the first slot was made and never changed).
    asymmetric: bool,
    in_use: AtomicBool,
    /// The next slot of the list; set before this slot is published, never changed after.
    next: AtomicPtr<Slot>,
}

/// The process-wide slot list and epoch.
pub(crate) struct Domain {
    /// Starts at 1, so a pin is never 0.
    epoch: AtomicU64,
    /// Head of the slot list. Slots are leaked: they are never freed, only reused.
    head: AtomicPtr<Slot>,
}

impl Domain {
    #[cfg(not(loom))]
    const fn new() -> Self {
        Domain {
            epoch: AtomicU64::new(1),
            head: AtomicPtr::new(ptr::null_mut()),
        }
    }

    #[cfg(loom)]
    fn new() -> Self {
        Domain {
            epoch: AtomicU64::new(1),
            head: AtomicPtr::new(ptr::null_mut()),
        }
    }

    /// Every slot ever created, newest first.
    fn slots(&self) -> impl Iterator<Item = &'static Slot> {
        let mut p = self.head.load(Ordering::Acquire);
        std::iter::from_fn(move || {
            // SAFETY: every pointer in the list comes from `Box::leak` in `acquire_slot` and
            // is never freed; `Acquire` on `head`/`next` pairs with the `Release` that
            // published the slot, so its fields are initialised.
            let s: &'static Slot = unsafe { p.as_ref() }?;
            p = s.next.load(Ordering::Acquire);
            Some(s)
        })
    }

    /// A slot owned by the caller until it stores `in_use = false`.
    fn acquire_slot(&self) -> &'static Slot {
        for s in self.slots() {
            if !s.in_use.load(Ordering::Relaxed)
                && s.in_use
                    .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
            {
                return s;
            }
        }
        let s: &'static Slot = Box::leak(Box::new(Slot {
            pinned: AtomicU64::new(0),
            asymmetric: asymmetric(),
            in_use: AtomicBool::new(true),
            next: AtomicPtr::new(ptr::null_mut()),
        }));
        let me = ptr::from_ref(s).cast_mut();
        let mut head = self.head.load(Ordering::Relaxed);
        loop {
            s.next.store(head, Ordering::Relaxed);
            match self
                .head
                .compare_exchange_weak(head, me, Ordering::Release, Ordering::Relaxed)
            {
                Ok(_) => return s,
                Err(h) => head = h,
            }
        }
    }
}

#[cfg(not(loom))]
static DOMAIN: Domain = Domain::new();

#[cfg(not(loom))]
#[inline(always)]
fn domain() -> &'static Domain {
    &DOMAIN
}

#[cfg(loom)]
loom::lazy_static! {
    static ref DOMAIN: Domain = Domain::new();
}

#[cfg(loom)]
fn domain() -> &'static Domain {
    &DOMAIN
}

#[cfg(all(target_os = "linux", not(loom)))]
mod membarrier {
    const QUERY: libc::c_long = 0;
    const PRIVATE_EXPEDITED: libc::c_long = 1 << 3;
    const REGISTER_PRIVATE_EXPEDITED: libc::c_long = 1 << 4;

    fn call(cmd: libc::c_long) -> libc::c_long {
        // SAFETY: membarrier(cmd, flags = 0, cpu_id = 0) takes plain integers and touches
        // no memory of this process.
        unsafe {
            libc::syscall(
                libc::SYS_membarrier,
                cmd,
                0 as libc::c_long,
                0 as libc::c_long,
            )
        }
    }

    /// Registers the process for private expedited barriers, once; whether that worked.
    pub(super) fn registered() -> bool {
        static REGISTERED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *REGISTERED.get_or_init(|| {
            let cmds = call(QUERY);
            cmds >= 0 && cmds & PRIVATE_EXPEDITED != 0 && call(REGISTER_PRIVATE_EXPEDITED) == 0
        })
    }

    /// A full barrier on every running thread of the process; false if the call failed.
    pub(super) fn barrier() -> bool {
        call(PRIVATE_EXPEDITED) == 0
    }
}

/// Whether readers may use a compiler fence as their barrier (decided once, before the
/// first slot is handed out, and never changed).
#[inline]
fn asymmetric() -> bool {
    #[cfg(all(target_os = "linux", not(loom)))]
    {
        membarrier::registered()
    }
    #[cfg(not(all(target_os = "linux", not(loom))))]
    {
        false
    }
}

/// The writer's side of the fence pair; false when no barrier could be issued.
fn heavy_barrier() -> bool {
    fence(Ordering::SeqCst);
    #[cfg(all(target_os = "linux", not(loom)))]
    if membarrier::registered() {
        let ok = membarrier::barrier();
        fence(Ordering::SeqCst);
        return ok;
    }
    true
}

/// The reader's side of the fence pair.
#[inline(always)]
fn light_barrier(asymmetric: bool) {
    #[cfg(not(loom))]
    if asymmetric {
        std::sync::atomic::compiler_fence(Ordering::SeqCst);
        return;
    }
    let _ = asymmetric;
    fence(Ordering::SeqCst);
}

/// Per-thread state: no destructor, so access is a plain thread-local load.
struct Local {
    slot: Cell<Option<&'static Slot>>,
    /// Set once the thread's slot was given back (the thread is exiting).
    released: Cell<bool>,
}

impl Local {
    const fn new() -> Self {
        Local {
            slot: Cell::new(None),
            released: Cell::new(false),
        }
    }
}

/// Gives the thread's slot back to the list when the thread exits.
struct Owner(Cell<Option<&'static Slot>>);

impl Drop for Owner {
    fn drop(&mut self) {
        let Some(slot) = self.0.take() else { return };
        let _ = LOCAL.try_with(|l| {
            l.slot.set(None);
            l.released.set(true);
        });
        // A slot still pinned by a read in progress is kept out of reuse for good.
        if slot.pinned.load(Ordering::Relaxed) == 0 {
            slot.in_use.store(false, Ordering::Release);
        }
    }
}

#[cfg(not(loom))]
std::thread_local! {
    static LOCAL: Local = const { Local::new() };
    static OWNER: Owner = const { Owner(Cell::new(None)) };
}

#[cfg(loom)]
loom::thread_local! {
    static LOCAL: Local = Local::new();
    static OWNER: Owner = Owner(Cell::new(None));
}

/// Starts a pinned read on `slot`, unless it is pinned already (a nested read, whose outer
/// pin protects everything the inner one loads); returns whether it pinned.
#[inline(always)]
fn enter(slot: &Slot) -> bool {
    // Only this thread stores to `slot`, so this sees its own last store.
    if slot.pinned.load(Ordering::Relaxed) != 0 {
        return false;
    }
    let e = domain().epoch.load(Ordering::Acquire);
    slot.pinned.store(e, Ordering::Release);
    light_barrier(slot.asymmetric);
    true
}

/// A pinned read: while it lives, no snapshot that was reachable after it began is freed.
/// Not `Send`: it belongs to the thread that pinned.
#[must_use]
pub(crate) struct Guard {
    slot: &'static Slot,
    /// Whether this guard's pin is the outermost one on `slot` (and so unpins it).
    outer: bool,
    /// Whether `slot` was borrowed for this read only (and is given back on drop).
    borrowed: bool,
    _not_send: PhantomData<*const ()>,
}

/// Pins the calling thread.
#[inline]
pub(crate) fn pin() -> Guard {
    match LOCAL.with(|l| l.slot.get()) {
        Some(slot) => Guard {
            slot,
            outer: enter(slot),
            borrowed: false,
            _not_send: PhantomData,
        },
        None => pin_slow(),
    }
}

#[cold]
#[inline(never)]
fn pin_slow() -> Guard {
    let released = LOCAL.try_with(|l| l.released.get()).unwrap_or(true);
    if !released {
        let slot = domain().acquire_slot();
        if OWNER.try_with(|o| o.0.set(Some(slot))).is_ok() {
            if LOCAL.try_with(|l| l.slot.set(Some(slot))).is_ok() {
                return pin();
            }
            // `OWNER` gives the slot back when the thread exits.
        } else {
            // The thread is exiting: no owner would give a slot back.
            slot.in_use.store(false, Ordering::Release);
            let _ = LOCAL.try_with(|l| l.released.set(true));
        }
    }
    let slot = domain().acquire_slot();
    Guard {
        slot,
        outer: enter(slot),
        borrowed: true,
        _not_send: PhantomData,
    }
}

impl Drop for Guard {
    #[inline]
    fn drop(&mut self) {
        if self.outer {
            self.slot.pinned.store(0, Ordering::Release);
        }
        if self.borrowed {
            self.slot.in_use.store(false, Ordering::Release);
        }
    }
}

/// The epoch a snapshot is retired at. Call it after the pointer to that snapshot was
/// replaced, never before.
pub(crate) fn retire_epoch() -> u64 {
    domain().epoch.fetch_add(1, Ordering::AcqRel)
}

/// After a heavy barrier, the lowest epoch any reader is pinned at (`u64::MAX` when none
/// is): a snapshot retired at an epoch below it can be freed. `None` if no barrier could be
/// issued, in which case nothing may be freed.
pub(crate) fn oldest_pin() -> Option<u64> {
    if !heavy_barrier() {
        return None;
    }
    Some(
        domain()
            .slots()
            .map(|s| s.pinned.load(Ordering::Acquire))
            .filter(|&e| e != 0)
            .min()
            .unwrap_or(u64::MAX),
    )
}
