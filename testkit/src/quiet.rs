//! Runs one test alone in a fresh process of its test binary, for tests that measure
//! process-wide state (heap counters, threads, open descriptors, resident memory).
//!
//! Plain `cargo test` runs the tests of a file as threads of one process, so such a
//! measurement also sees what the other tests, and the harness that reports them, do at the
//! same moment. A test calls [`rerun_alone`] first: in the test process it runs the binary
//! again with `--exact <this test> --test-threads=1 --nocapture`, checks that the child ran
//! the test and passed, and returns `true` (the caller returns); in that child it waits until
//! the harness's other thread is asleep, then returns `false` and the caller measures. The
//! same code runs under `cargo nextest`, which already gives each test its own process.
//!
//! # Example
//!
//! ```no_run
//! #[test]
//! fn keeps_4096_bytes() {
//!     if vsanobs_testkit::quiet::rerun_alone() {
//!         return; // it ran, and passed, in a process of its own
//!     }
//!     // Only this test's thread runs here: a process-wide counter moves by its work alone.
//! }
//! ```
//!
//! ## Note
//! A child costs one start of the test binary (milliseconds) plus a 20 ms check that the
//! harness thread has gone to sleep. The test's name is its thread's name, which libtest
//! sets, so call [`rerun_alone`] from the test function itself (in a `#[tokio::test]`, the
//! body runs on that thread too), not from a thread it spawned.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

/// Set in the child process to the name of the test it runs alone.
pub const CHILD_ENV: &str = "VSANOBS_QUIET_CHILD";

/// How long the child waits for the harness's other threads to fall asleep.
const SETTLE_DEADLINE: Duration = Duration::from_secs(30);
/// How long a thread must stay asleep, not scheduled once, to count as waiting for good.
const SETTLE_WINDOW: Duration = Duration::from_millis(20);

/// Runs the calling test alone in a child process of the same test binary.
///
/// Returns `true` in the test process once the child has run this test and passed (its
/// output is printed, so `--nocapture` shows it); the caller returns. Returns `false` in the
/// child, after every other thread of the process is asleep; the caller goes on with the
/// real work.
///
/// # Panics
/// In the test process: when the child fails (the message holds its status and output),
/// cannot be started, or did not run exactly this one test. In the child: when another thread
/// keeps running for 30 s. Either: when called from a thread that is not a libtest test
/// thread (its name is the test's name).
pub fn rerun_alone() -> bool {
    let name = test_name();
    if std::env::var_os(CHILD_ENV).is_some_and(|v| v == name.as_str()) {
        wait_until_other_threads_sleep();
        return false;
    }
    let exe = current_exe();
    let output = Command::new(&exe)
        .args([
            "--exact",
            &name,
            "--include-ignored",
            "--test-threads=1",
            "--nocapture",
        ])
        .env(CHILD_ENV, &name)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {} for {name}: {e}", exe.display()));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let ran_once = stdout.contains("test result: ok. 1 passed;");
    if !output.status.success() || !ran_once {
        panic!(
            "{name} {} in its own process ({}, {}):\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}",
            if output.status.success() {
                "did not run exactly once"
            } else {
                "failed"
            },
            exe.display(),
            output.status,
        );
    }
    print!("{stdout}");
    eprint!("{stderr}");
    true
}

/// The running test's name: libtest names each test's thread after the test.
fn test_name() -> String {
    match std::thread::current().name() {
        Some(name) if name != "main" => name.to_owned(),
        other => panic!(
            "rerun_alone must be called on a libtest test thread (named after the test), not on {other:?}"
        ),
    }
}

fn current_exe() -> PathBuf {
    std::env::current_exe().unwrap_or_else(|e| panic!("cannot find this test binary: {e}"))
}

/// Blocks until every other thread of this process has been asleep for [`SETTLE_WINDOW`]
/// without being scheduled: in the child, libtest's main thread allocates a little after it
/// starts the test thread (its first blocking receive), then sleeps until the test ends.
#[cfg(target_os = "linux")]
fn wait_until_other_threads_sleep() {
    let start = Instant::now();
    loop {
        let first = other_threads();
        std::thread::sleep(SETTLE_WINDOW);
        let second = other_threads();
        if first == second && first.iter().all(|t| t.state == 'S') {
            return;
        }
        if start.elapsed() > SETTLE_DEADLINE {
            panic!(
                "other threads of this process did not settle within {}s: {second:?}",
                SETTLE_DEADLINE.as_secs()
            );
        }
    }
}

/// Elsewhere there is no `/proc` to watch; the child still has no other test thread.
#[cfg(not(target_os = "linux"))]
fn wait_until_other_threads_sleep() {}

/// A thread's scheduling state from `/proc/self/task/<tid>/status`.
#[cfg(target_os = "linux")]
#[derive(Debug, PartialEq, Eq)]
struct ThreadState {
    tid: String,
    /// `R` running, `S` sleeping, ...
    state: char,
    /// Voluntary plus involuntary context switches: it changes whenever the thread runs.
    switches: u64,
}

/// Every thread of this process except the calling one, by thread id. A thread that exits
/// while it is read is left out (it is not running any more).
#[cfg(target_os = "linux")]
fn other_threads() -> Vec<ThreadState> {
    let own = std::fs::read_link("/proc/thread-self")
        .unwrap_or_else(|e| panic!("read /proc/thread-self: {e}"));
    let own = own.file_name().map(|n| n.to_os_string());
    let tasks = std::fs::read_dir("/proc/self/task")
        .unwrap_or_else(|e| panic!("list /proc/self/task: {e}"));
    let mut threads: Vec<ThreadState> = tasks
        .filter_map(|entry| {
            let entry = entry.ok()?;
            if Some(entry.file_name()) == own {
                return None;
            }
            let status = std::fs::read_to_string(entry.path().join("status")).ok()?;
            let field = |key: &str| {
                status
                    .lines()
                    .find_map(|l| l.strip_prefix(key))
                    .map(str::trim)
            };
            let count = |key: &str| field(key).and_then(|v| v.parse::<u64>().ok());
            Some(ThreadState {
                tid: entry.file_name().to_string_lossy().into_owned(),
                state: field("State:")?.chars().next()?,
                switches: count("voluntary_ctxt_switches:")?
                    + count("nonvoluntary_ctxt_switches:")?,
            })
        })
        .collect();
    threads.sort_by(|a, b| a.tid.cmp(&b.tid));
    threads
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn the_child_runs_alone_with_the_harness_asleep() {
        if rerun_alone() {
            return;
        }
        assert_eq!(
            std::env::var(CHILD_ENV).unwrap(),
            "quiet::tests::the_child_runs_alone_with_the_harness_asleep"
        );
        // The other tests of this binary run in the parent; here only libtest's main
        // thread is left, waiting for this test to finish.
        let others = other_threads();
        assert_eq!(others.len(), 1, "{others:?}");
        assert_eq!(others[0].state, 'S', "{others:?}");
    }

    #[test]
    #[should_panic(expected = "failed in its own process")]
    fn a_failing_child_fails_the_test() {
        if rerun_alone() {
            return;
        }
        // Exit without unwinding, so the child's own harness cannot count this
        // `should_panic` test as passed.
        std::process::exit(3);
    }
}
