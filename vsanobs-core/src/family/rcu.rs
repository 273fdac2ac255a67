//! Snapshot reclamation for [`Family`](super::Family): a read pins without any atomic
//! read-modify-write; a writer retires the snapshot it replaced and frees it once no reader
//! can still hold it, and a reader that stays pinned (a blocked closure) holds back only the
//! snapshots that were current while its read began.
//!
//! # Design (interval-based reclamation with an asymmetric fence)
//! - Every thread owns a [`Slot`] in one process-wide, append-only list, and a global epoch
//!   counts snapshot publications. A read *reserves* an epoch interval `[lo, hi]` in its slot:
//!   the outermost pin stores the current epoch as both ends, runs a *light* barrier, and
//!   each pointer it then loads is validated by re-reading the epoch: if the epoch moved
//!   past `hi`, `hi` is raised, the barrier runs again and the pointer is loaded again. So
//!   every snapshot the read uses was born at an epoch `<= hi`. Unpinning clears the pinned
//!   bit of `lo` (one store). A nested pin leaves `lo` alone and puts `hi` back when it ends,
//!   so a long outer read does not widen its interval by the short reads nested in it.
//! - A writer (the family mutex already serialises the writers of one family) reads the
//!   epoch as the new snapshot's *birth* epoch `b`, publishes it, and takes the *retire*
//!   epoch `r` of the snapshot it replaced with a `fetch_add`. After a *heavy* barrier it
//!   frees a retired snapshot once every pinned slot has `lo > r` (the read began after the
//!   retirement) or `hi < b` (the read uses only snapshots older than this one).
//! - Light/heavy: once `membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED)` succeeded
//!   (Linux 4.14+), the light barrier is a compiler fence and the heavy one is
//!   `membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED)`, which runs a full fence on every CPU
//!   currently running a thread of this process. Elsewhere both are `SeqCst` fences (the
//!   *fenced* mode).
//!
//! Why a snapshot `S` (birth `b`, retire `r`) is never freed under a reader:
//! - If the scan read the slot as not pinned (or pinned by an earlier read), then the
//!   writer's store of the replacing pointer, its heavy barrier and that scan, against the
//!   reader's pin store, light barrier and pointer load, form the store-buffering (Dekker)
//!   pattern with a full fence on both sides: the reader loads the replacement or a later
//!   pointer, never `S`. An `Acquire` read of a later store of the slot also synchronises
//!   with the `Release` unpin of every earlier read.
//! - If the scan read `lo > r`: the reader read that epoch (`Acquire`) from the writer's
//!   `AcqRel` `fetch_add` of `r` or a later one, so the store of the replacing pointer
//!   happens before every pointer load of the read.
//! - If the scan read `hi < b`: a read that accepted `S` stored a `hi` (then ran the light
//!   barrier) before loading `S`, and read an epoch equal to it after the load; that epoch
//!   read happens after the writer's birth read of `b` (through the pointer's
//!   `Release`/`Acquire`), so the accepted `hi >= b`. By the Dekker pattern again the scan
//!   sees that store or a later one of the same slot: a larger `hi` of the same read, the
//!   nested-pin restore after the nested read ended, or a later read.
//!
//! # Bounded memory
//! A reader blocked inside a pin holds back only snapshots alive in its interval: at most
//! two per family (the one retired at and the one born at each end), whatever other
//! families' writers do meanwhile. `vsanobs_family_retired_bytes` shows what waits.
//!
//! # Membarrier failure
//! If `membarrier` fails after registration succeeded (a seccomp filter installed later),
//! the failure is counted (`vsanobs_family_membarrier_failures_total`), that scan frees
//! nothing, and the process switches to the fenced mode for good. A reader checks the mode
//! again after each pointer load, so a read that loaded a snapshot published after the
//! switch took a full fence. Reads whose light barrier ran before the switch cannot be
//! seen reliably by any scan; so until every slot has pinned again after the switch,
//! snapshots published before it are kept (a fixed set: memory stays bounded).
//!
//! # Fork
//! A `pthread_atfork` child handler (registered with the first slot) marks every slot but
//! the forking thread's as unpinned and free, since their threads do not exist in the child,
//! and resets a `membarrier` registration that another thread had in progress. The family
//! mutexes are covered by [`fork_gate`](super::fork_gate).
//!
//! # Signals
//! A pin and a read on a thread whose slot exists do only loads, stores and fences, and a
//! nested pin always runs the light barrier, so a read interrupted by a signal handler that
//! reads again is safe. What is *not* async-signal-safe: a thread's first read (it creates
//! a slot with the allocator, and may register `membarrier`) and reads during thread exit
//! (they borrow a slot).
//!
//! A thread's slot goes back to the list when the thread exits. A read from a thread-local
//! destructor that runs after that borrows a free slot for the length of the read.
//! Readers never wait for writers, and writers never wait for readers.

#![allow(unsafe_code)]

use std::cell::Cell;
use std::marker::PhantomData;
use std::ptr;

use crate::sync::{AtomicBool, AtomicPtr, AtomicU64, Ordering, fence};

/// Bit 0 of [`Slot::lo`]: set while the slot's thread reads.
const PINNED: u64 = 1;

/// One thread's reservation. Only the slot's owner stores `lo` and `hi`; writers read them.
/// Aligned to its own cache lines so two threads pinning never write to one line.
#[repr(align(128))]
pub(crate) struct Slot {
    /// `epoch << 1 | PINNED` while reading, where `epoch` is the global epoch read when the
    /// outermost pin began; after the read, the same epoch without the bit.
    lo: AtomicU64,
    /// An epoch no smaller than the birth epoch of any snapshot the current read uses.
    hi: AtomicU64,
    in_use: AtomicBool,
    /// The next slot of the list; set before this slot is published, never changed after.
    next: AtomicPtr<Slot>,
}

/// The process-wide slot list and epoch.
pub(crate) struct Domain {
    /// Starts at 1; only grows.
    epoch: AtomicU64,
    /// Head of the slot list. Slots are leaked: they are never freed, only reused.
    head: AtomicPtr<Slot>,
    /// The epoch at which the process switched from the asymmetric to the fenced mode after a
    /// `membarrier` failure; 0 if it never did.
    switched_at: AtomicU64,
}

impl Domain {
    #[cfg(not(loom))]
    const fn new() -> Self {
        Domain {
            epoch: AtomicU64::new(1),
            head: AtomicPtr::new(ptr::null_mut()),
            switched_at: AtomicU64::new(0),
        }
    }

    #[cfg(loom)]
    fn new() -> Self {
        Domain {
            epoch: AtomicU64::new(1),
            head: AtomicPtr::new(ptr::null_mut()),
            switched_at: AtomicU64::new(0),
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
        // Decide the barrier mode before any slot is handed out.
        mode::init();
        for s in self.slots() {
            if !s.in_use.load(Ordering::Relaxed)
                && s.in_use
                    .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
            {
                return s;
            }
        }
        #[cfg(all(unix, not(loom)))]
        fork::register();
        let e = self.epoch.load(Ordering::Acquire);
        let s: &'static Slot = Box::leak(Box::new(Slot {
            lo: AtomicU64::new(e << 1),
            hi: AtomicU64::new(e),
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

/// Counters for the self-metrics (plain `std` atomics: statistics, not synchronisation).
pub(crate) mod stats {
    use std::sync::atomic::{AtomicU64, Ordering};

    static RETIRED_BYTES: AtomicU64 = AtomicU64::new(0);
    static RETIRED_SNAPSHOTS: AtomicU64 = AtomicU64::new(0);
    static MEMBARRIER_FAILURES: AtomicU64 = AtomicU64::new(0);

    /// A snapshot of `bytes` was retired.
    pub(crate) fn retired(bytes: u64) {
        RETIRED_BYTES.fetch_add(bytes, Ordering::Relaxed);
        RETIRED_SNAPSHOTS.fetch_add(1, Ordering::Relaxed);
    }

    /// A retired snapshot of `bytes` was dropped from its retired list.
    pub(crate) fn freed(bytes: u64) {
        RETIRED_BYTES.fetch_sub(bytes, Ordering::Relaxed);
        RETIRED_SNAPSHOTS.fetch_sub(1, Ordering::Relaxed);
    }

    #[cfg_attr(not(all(target_os = "linux", not(loom))), allow(dead_code))]
    pub(crate) fn membarrier_failed() {
        MEMBARRIER_FAILURES.fetch_add(1, Ordering::Relaxed);
    }

    /// Bytes of retired snapshots not freed yet, in every family of the process.
    pub(crate) fn retired_bytes() -> u64 {
        RETIRED_BYTES.load(Ordering::Relaxed)
    }

    /// Retired snapshots not freed yet.
    pub(crate) fn retired_snapshots() -> u64 {
        RETIRED_SNAPSHOTS.load(Ordering::Relaxed)
    }

    /// `membarrier` calls that failed after registration.
    pub(crate) fn membarrier_failures() -> u64 {
        MEMBARRIER_FAILURES.load(Ordering::Relaxed)
    }
}

/// The barrier mode: asymmetric (compiler fence for readers, `membarrier` for writers) or
/// fenced (`SeqCst` fences on both sides).
#[cfg(all(target_os = "linux", not(loom)))]
mod mode {
    use std::sync::atomic::{AtomicU8, Ordering};

    const UNKNOWN: u8 = 0;
    const REGISTERING: u8 = 1;
    const ASYMMETRIC: u8 = 2;
    const FENCED: u8 = 3;

    /// Alone on its cache lines: written at most twice per process, read by every pin.
    #[repr(align(128))]
    struct Padded(AtomicU8);

    static STATE: Padded = Padded(AtomicU8::new(UNKNOWN));

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

    /// Registers for private expedited barriers, once; other callers wait (two system calls)
    /// so that no slot exists before the mode is known.
    #[cold]
    pub(super) fn init() {
        loop {
            match STATE.0.compare_exchange(
                UNKNOWN,
                REGISTERING,
                Ordering::Acquire,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    let cmds = call(QUERY);
                    let ok = cmds >= 0
                        && cmds & PRIVATE_EXPEDITED != 0
                        && call(REGISTER_PRIVATE_EXPEDITED) == 0;
                    STATE
                        .0
                        .store(if ok { ASYMMETRIC } else { FENCED }, Ordering::Release);
                    return;
                }
                Err(REGISTERING) => std::thread::yield_now(),
                Err(_) => return,
            }
        }
    }

    /// Whether readers may use a compiler fence as their barrier right now.
    #[inline(always)]
    pub(super) fn asymmetric() -> bool {
        STATE.0.load(Ordering::Relaxed) == ASYMMETRIC
    }

    /// The same, ordered after the caller's preceding `Acquire` loads.
    #[inline(always)]
    pub(super) fn still_asymmetric() -> bool {
        STATE.0.load(Ordering::Acquire) == ASYMMETRIC
    }

    /// Whether the process is in the fenced mode for good (read before publishing).
    pub(super) fn fenced() -> bool {
        init();
        STATE.0.load(Ordering::Acquire) == FENCED
    }

    /// The writer's barrier: `membarrier` in the asymmetric mode. False if it failed, in
    /// which case the process is switched to the fenced mode.
    pub(super) fn heavy() -> bool {
        init();
        if STATE.0.load(Ordering::Acquire) != ASYMMETRIC {
            return true;
        }
        if call(PRIVATE_EXPEDITED) == 0 {
            return true;
        }
        super::stats::membarrier_failed();
        let d = super::domain();
        // Switch first, then advance the epoch: a reader whose epoch read returns the
        // advanced value reads the switch in its next mode check.
        STATE.0.store(FENCED, Ordering::Release);
        let at = d.epoch.fetch_add(1, Ordering::AcqRel);
        let _ = d
            .switched_at
            .compare_exchange(0, at, Ordering::AcqRel, Ordering::Acquire);
        false
    }

    /// In a fork child: a registration another thread had begun will never finish.
    pub(super) fn after_fork_child() {
        let _ =
            STATE
                .0
                .compare_exchange(REGISTERING, UNKNOWN, Ordering::Relaxed, Ordering::Relaxed);
    }
}

/// Without `membarrier` (or under loom) the mode is always fenced.
#[cfg(not(all(target_os = "linux", not(loom))))]
mod mode {
    pub(super) fn init() {}
    #[inline(always)]
    pub(super) fn asymmetric() -> bool {
        false
    }
    #[inline(always)]
    pub(super) fn still_asymmetric() -> bool {
        false
    }
    pub(super) fn fenced() -> bool {
        true
    }
    pub(super) fn heavy() -> bool {
        true
    }
}

/// The writer's side of the fence pair; false when no barrier could be issued.
fn heavy_barrier() -> bool {
    fence(Ordering::SeqCst);
    let ok = mode::heavy();
    fence(Ordering::SeqCst);
    ok
}

/// The reader's side of the fence pair; returns whether it was only a compiler fence.
#[inline(always)]
fn light_barrier() -> bool {
    #[cfg(not(loom))]
    if mode::asymmetric() {
        std::sync::atomic::compiler_fence(Ordering::SeqCst);
        return true;
    }
    fence(Ordering::SeqCst);
    false
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
        if slot.lo.load(Ordering::Relaxed) & PINNED == 0 {
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

/// A pinned read: while it lives, no snapshot that it loaded through
/// [`protect`](Guard::protect) is freed. Not `Send`: it belongs to the thread that pinned.
#[must_use]
pub(crate) struct Guard {
    slot: &'static Slot,
    /// For a nested pin, the `hi` to put back on drop; 0 for the outermost pin.
    restore_hi: u64,
    /// Whether this guard's last barrier was only a compiler fence.
    light: Cell<bool>,
    /// Whether `slot` was borrowed for this read only (and is given back on drop).
    borrowed: bool,
    _not_send: PhantomData<*const ()>,
}

/// Starts a read on `slot`: the outermost pin reserves `[epoch, epoch]`; a nested one keeps
/// the reservation and remembers `hi`. Both end with the light barrier (a nested pin too:
/// it may run in a signal handler that interrupted the outer pin before its barrier).
#[inline(always)]
fn enter(slot: &'static Slot, borrowed: bool) -> Guard {
    // Only this thread stores to `slot`, so this sees its own last store.
    let lo = slot.lo.load(Ordering::Relaxed);
    let restore_hi = if lo & PINNED != 0 {
        slot.hi.load(Ordering::Relaxed)
    } else {
        let e = domain().epoch.load(Ordering::Acquire);
        slot.hi.store(e, Ordering::Release);
        slot.lo.store(e << 1 | PINNED, Ordering::Release);
        0
    };
    Guard {
        slot,
        restore_hi,
        light: Cell::new(light_barrier()),
        borrowed,
        _not_send: PhantomData,
    }
}

/// Pins the calling thread.
#[inline]
pub(crate) fn pin() -> Guard {
    // `try_with`: reachable from other thread-locals' destructors during thread exit.
    match LOCAL.try_with(|l| l.slot.get()) {
        Ok(Some(slot)) => enter(slot, false),
        _ => pin_slow(),
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
                return enter(slot, false);
            }
            // `OWNER` gives the slot back when the thread exits.
        } else {
            // The thread is exiting: no owner would give a slot back.
            slot.in_use.store(false, Ordering::Release);
            let _ = LOCAL.try_with(|l| l.released.set(true));
        }
    }
    enter(domain().acquire_slot(), true)
}

impl Guard {
    /// Loads `src` for this read: the returned pointer stays valid while the guard lives,
    /// provided what it points to is retired through [`birth`], [`retire_epoch`] and
    /// [`Scan::may_free`].
    #[inline(always)]
    pub(crate) fn protect<T>(&self, src: &crate::sync::AtomicPtr<T>) -> *mut T {
        let slot = self.slot;
        loop {
            let p = src.load(Ordering::Acquire);
            let e = domain().epoch.load(Ordering::Acquire);
            if e == slot.hi.load(Ordering::Relaxed) {
                // A compiler fence protects only while the writers still use `membarrier`;
                // checked after the load, so a snapshot published after a switch to the
                // fenced mode is seen here with the switch.
                if !self.light.get() || mode::still_asymmetric() {
                    return p;
                }
            } else {
                slot.hi.store(e, Ordering::Release);
            }
            self.light.set(light_barrier());
        }
    }
}

impl Drop for Guard {
    #[inline]
    fn drop(&mut self) {
        if self.restore_hi == 0 {
            let lo = self.slot.lo.load(Ordering::Relaxed);
            self.slot.lo.store(lo & !PINNED, Ordering::Release);
        } else if self.slot.hi.load(Ordering::Relaxed) != self.restore_hi {
            // Pointers loaded by this nested read do not outlive it.
            self.slot.hi.store(self.restore_hi, Ordering::Release);
        }
        if self.borrowed {
            self.slot.in_use.store(false, Ordering::Release);
        }
    }
}

/// When a snapshot became readable: take it just before publishing the snapshot.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Birth {
    epoch: u64,
    /// Published after the process was in the fenced mode for good.
    fenced: bool,
}

/// The birth of a snapshot about to be published. Call it before storing its pointer.
pub(crate) fn birth() -> Birth {
    let fenced = mode::fenced();
    Birth {
        epoch: domain().epoch.load(Ordering::Acquire),
        fenced,
    }
}

/// The epoch a snapshot is retired at. Call it after the pointer to that snapshot was
/// replaced, never before.
pub(crate) fn retire_epoch() -> u64 {
    domain().epoch.fetch_add(1, Ordering::AcqRel)
}

/// The readers' reservations, read after a heavy barrier.
pub(crate) struct Scan {
    /// `(lo, hi)` of every pinned slot.
    pins: Vec<(u64, u64)>,
    /// Some slot may still be in a read whose barrier ran before a switch to the fenced mode.
    unsure: bool,
}

impl Scan {
    /// Whether a snapshot born at `birth` and retired at `retired_at` can be freed.
    pub(crate) fn may_free(&self, birth: Birth, retired_at: u64) -> bool {
        if self.unsure && !birth.fenced {
            return false;
        }
        self.pins
            .iter()
            .all(|&(lo, hi)| lo > retired_at || hi < birth.epoch)
    }
}

/// After a heavy barrier, the readers' reservations; `None` if no barrier could be issued,
/// in which case nothing may be freed.
pub(crate) fn scan() -> Option<Scan> {
    if !heavy_barrier() {
        return None;
    }
    let d = domain();
    let switched_at = d.switched_at.load(Ordering::Acquire);
    let mut scan = Scan {
        pins: Vec::new(),
        unsure: false,
    };
    for s in d.slots() {
        let mut lo = s.lo.load(Ordering::Acquire);
        if switched_at != 0 && lo >> 1 <= switched_at {
            // A free slot has no read in progress: mark it as past the switch (owning it
            // for a moment), so an idle slot nobody uses does not keep the scan unsure.
            if s.in_use
                .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                lo = d.epoch.load(Ordering::Acquire) << 1;
                s.lo.store(lo, Ordering::Release);
                s.in_use.store(false, Ordering::Release);
            }
            if lo >> 1 <= switched_at {
                scan.unsure = true;
            }
        }
        if lo & PINNED != 0 {
            scan.pins.push((lo >> 1, s.hi.load(Ordering::Acquire)));
        }
    }
    Some(scan)
}

/// The fork child handler: only the forking thread exists in the child.
#[cfg(all(unix, not(loom)))]
mod fork {
    use std::sync::atomic::{AtomicBool, Ordering};

    /// Registers the child handler once (with the first slot).
    pub(super) fn register() {
        // Not a `Once`: a fork while another thread registers must not block the child.
        static REGISTERED: AtomicBool = AtomicBool::new(false);
        if REGISTERED.swap(true, Ordering::Relaxed) {
            return;
        }
        // SAFETY: `child` is an `extern "C"` function that never unwinds and does only
        // atomic loads and stores and a read of a `const` thread-local, all of which are
        // async-signal-safe, as a fork child handler must be.
        let rc = unsafe { libc::pthread_atfork(None, None, Some(child)) };
        if rc != 0 {
            tracing::warn!(
                rc,
                "pthread_atfork failed; a fork child may keep the parent's readers' pins"
            );
        }
    }

    extern "C" fn child() {
        let mine = super::LOCAL
            .try_with(|l| l.slot.get())
            .ok()
            .flatten()
            .map(std::ptr::from_ref);
        let d = super::domain();
        for s in d.slots() {
            if Some(std::ptr::from_ref(s)) == mine {
                continue;
            }
            // The thread that owned it does not exist here: drop its pin and free the slot.
            let lo = s.lo.load(Ordering::Relaxed);
            s.lo.store(lo & !super::PINNED, Ordering::Release);
            s.in_use.store(false, Ordering::Release);
        }
        #[cfg(target_os = "linux")]
        super::mode::after_fork_child();
    }
}
