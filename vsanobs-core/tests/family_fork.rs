//! `fork()` while another thread is pinned inside `Family::with` and a third keeps taking a
//! family mutex: the child reclaims (the vanished reader's pin is dropped by the fork child
//! handler) and does not deadlock (the fork waits for family writer sections to end).
#![cfg(unix)]
#![allow(unsafe_code)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Barrier, mpsc};
use std::time::{Duration, Instant};

mod reclaim_support;

use reclaim_support::{L, l, self_metric};
use vsanobs_core::{Counter, Family};

/// What the child checks; its exit status is the number of the first failed check.
fn child(a: &Family<L, Counter>, b: &Family<L, Counter>, busy: &Family<L, Counter>) -> i32 {
    // The parent's writer thread was taking this family's mutex all the time; the fork
    // gate kept the fork out of its sections, so the child can write (and reclaim) here.
    busy.clear();
    busy.clear();
    // `a`'s current snapshot is reserved by the parent's parked reader; in the child that
    // thread does not exist, so replacing the snapshot must free it.
    a.clear();
    for round in 0..50 {
        b.clear();
        for i in 0..20 {
            b.get_or_create(&l(round * 100 + i)).inc();
        }
    }
    a.get_or_create(&l(1)).inc();
    a.clear();
    b.clear();
    if self_metric("vsanobs_family_retired_bytes") != 0 {
        return 1;
    }
    if a.with(&l(2), |c| {
        c.inc();
        c.get()
    }) != 1
    {
        return 2;
    }
    0
}

fn wait_with_deadline(pid: libc::pid_t, deadline: Duration) -> Option<i32> {
    let start = Instant::now();
    loop {
        let mut status = 0;
        // SAFETY: `pid` is our child; `status` is a valid out-pointer.
        let rc = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        assert!(rc >= 0, "waitpid failed");
        if rc == pid {
            assert!(
                libc::WIFEXITED(status),
                "child did not exit normally: {status}"
            );
            return Some(libc::WEXITSTATUS(status));
        }
        if start.elapsed() > deadline {
            // SAFETY: `pid` is our child, which has not been reaped.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, &mut status, 0);
            }
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn fork_while_pinned_child_reclaims_and_does_not_deadlock() {
    let a: Family<L, Counter> = Family::new();
    let b: Family<L, Counter> = Family::new();
    let busy: Family<L, Counter> = Family::with_cap(1_000_000);
    a.get_or_create(&l(0));
    let parked = Barrier::new(2);
    let stop = AtomicBool::new(false);
    let (release, wait) = mpsc::channel::<()>();
    std::thread::scope(|s| {
        let (a, parked) = (&a, &parked);
        let reader = s.spawn(move || {
            a.with(&l(0), |c| {
                c.inc();
                parked.wait();
                wait.recv().unwrap_or_else(|e| panic!("{e}"));
            })
        });
        // A writer that is inside a family mutex most of the time.
        let (busy_ref, stop_ref) = (&busy, &stop);
        let writer = s.spawn(move || {
            let mut i = 0;
            while !stop_ref.load(Ordering::Relaxed) {
                busy_ref.get_or_create(&l(i % 5_000)).inc();
                if i % 5_000 == 4_999 {
                    busy_ref.clear();
                }
                i += 1;
            }
        });
        parked.wait();
        let mut outcome = Ok(());
        for attempt in 0..10 {
            // SAFETY: the child only runs Rust code of this test and then `_exit`s; glibc's
            // allocator and this crate's fork handlers make that work in a forked child.
            let pid = unsafe { libc::fork() };
            assert!(pid >= 0, "fork failed");
            if pid == 0 {
                let code = child(a, &b, &busy);
                // SAFETY: ends the child without running the parent's atexit handlers or
                // unwinding into the test harness.
                unsafe { libc::_exit(code) };
            }
            match wait_with_deadline(pid, Duration::from_secs(60)) {
                Some(0) => {}
                Some(code) => outcome = Err(format!("fork {attempt}: child check {code} failed")),
                None => {
                    outcome = Err(format!(
                        "fork {attempt}: child deadlocked (killed after 60 s)"
                    ))
                }
            }
            if outcome.is_err() {
                break;
            }
        }
        stop.store(true, Ordering::Relaxed);
        release.send(()).unwrap_or_else(|e| panic!("{e}"));
        reader.join().unwrap_or_else(|_| panic!("reader panicked"));
        writer.join().unwrap_or_else(|_| panic!("writer panicked"));
        outcome.unwrap_or_else(|e| panic!("{e}"));
    });
}
