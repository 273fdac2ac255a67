//! # vsanobs-testkit
//!
//! Test harness for vsanobs: runs the real components the project promises to work with,
//! on `127.0.0.1` with free ports and temporary data directories, so conformance tests check
//! against the real thing rather than our own parser.
//!
//! | item | runs | ready when |
//! |---|---|---|
//! | [`Prometheus`] | `/usr/bin/prometheus` | `GET /-/ready` is 2xx |
//! | [`Pushgateway`] | `/usr/bin/prometheus-pushgateway` | `GET /-/ready` is 2xx |
//! | [`VictoriaMetrics`] | `/usr/bin/victoria-metrics` | `GET /health` is 2xx |
//! | [`promtool_check_metrics`], [`promtool_check_rules`], [`promtool_test_rules`] | `/usr/bin/promtool` | - |
//! | [`python_openmetrics_check`] | `python3` with the `prometheus_client` package | - |
//! | [`conformance::go_build`], [`conformance::python3_with`] | `go` with Debian's govmomi sources; `python3` with pyVmomi | - |
//!
//! Binaries are looked up on `PATH`, then in `/usr/bin`. Servers are killed when their
//! handle is dropped (also when a test panics). A component
//! that is not installed is an error naming it and saying `run scripts/test to install it`:
//! tests never skip silently. `scripts/test` installs everything with `apt-get` and `pip`.
//!
//! A test that measures process-wide state (heap counters, threads, descriptors, resident
//! memory) calls [`quiet::rerun_alone`] to run alone in a child process of its test binary,
//! so it passes under plain `cargo test`, which runs a file's tests as threads of one
//! process, as well as under `cargo nextest`.
//!
//! # Example
//!
//! ```
//! let text = "# HELP jobs_total Jobs done.\n# TYPE jobs_total counter\njobs_total 3\n";
//! vsanobs_testkit::promtool_check_metrics(text).unwrap();
//! // promtool's linter rejects a counter without the `_total` suffix.
//! let bad = "# HELP jobs Jobs done.\n# TYPE jobs counter\njobs 3\n";
//! let err = vsanobs_testkit::promtool_check_metrics(bad).unwrap_err();
//! assert!(err.contains("counter metrics should have \"_total\" suffix"), "{err}");
//! ```
//!
//! ## Note
//! Starting Prometheus takes about a second; each test that needs one starts its own (nextest
//! runs every test in its own process, so sharing one across tests would not help). Waits are
//! bounded ([`READY_DEADLINE`], the deadline given to [`Prometheus::wait_for`]) so a broken
//! component fails a test instead of hanging it. Servers are also tied to the test process
//! with Linux's parent-death signal, so a test killed by a timeout or Ctrl-C (no `Drop`)
//! leaves no server behind.

mod check;
pub mod cli;
pub mod conformance;
pub mod dashboard;
pub mod http;
pub mod logs;
mod prometheus;
mod pushgateway;
pub mod quiet;
mod server;
mod victoria;
pub mod web_config;

use std::collections::HashSet;
use std::net::TcpListener;
use std::sync::Mutex;
use std::time::Duration;

pub use check::{
    promtool_check_metrics, promtool_check_rules, promtool_test_rules, python_openmetrics_check,
};
pub use prometheus::{Prometheus, PrometheusConfig, Sample, vector_samples};
pub use pushgateway::Pushgateway;
/// The JSON crate the query results are made of, re-exported so tests need no extra
/// dependency to inspect them.
pub use serde_json;
pub use victoria::VictoriaMetrics;

/// How long a server may take to answer its readiness endpoint after it was spawned.
pub const READY_DEADLINE: Duration = Duration::from_secs(60);

/// What went wrong starting or talking to a component.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A binary or package is not installed.
    #[error("{what} not found (looked in {looked}): run scripts/test to install it")]
    Missing {
        /// What is missing, e.g. "binary `prometheus`".
        what: String,
        /// Where it was looked for.
        looked: String,
    },
    /// The process could not be spawned.
    #[error("cannot start {name} ({binary})")]
    Spawn {
        /// Component name.
        name: String,
        /// Path of the binary.
        binary: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The process exited before it became ready.
    #[error("{name} exited before it was ready ({status}); its log:\n{log}")]
    Exited {
        /// Component name.
        name: String,
        /// Exit status.
        status: String,
        /// The end of its log.
        log: String,
    },
    /// The readiness endpoint did not answer 2xx in time.
    #[error("{name} not ready at {url} within {secs}s; its log:\n{log}")]
    NotReady {
        /// Component name.
        name: String,
        /// The readiness URL polled.
        url: String,
        /// The deadline in seconds.
        secs: u64,
        /// The end of its log.
        log: String,
    },
    /// A local I/O operation (temp dir, config file) failed.
    #[error("cannot {what}")]
    Io {
        /// What was being done.
        what: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// An HTTP exchange failed at the transport or protocol level.
    #[error("http {method} {url}: {reason}")]
    Http {
        /// Request method.
        method: String,
        /// Request URL.
        url: String,
        /// What failed.
        reason: String,
    },
    /// The component answered, but not with what the API promises.
    #[error("{url}: {reason}")]
    Api {
        /// Request URL.
        url: String,
        /// Status and body, or what was wrong with the body.
        reason: String,
    },
    /// A bounded wait ran out.
    #[error("timed out after {secs}s waiting for {what}; last seen: {last}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// The deadline in seconds.
        secs: u64,
        /// The last result or error seen, for diagnosis.
        last: String,
    },
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
///
/// The port is found by binding port 0 and releasing it; the same process never gets the
/// same port twice, so two servers started by one test cannot collide. Another process may
/// still take it in between, which the server starters handle by retrying with a new port.
///
/// # Panics
/// When no loopback port can be bound at all (the machine has no usable network stack).
///
/// # Example
/// ```
/// let (a, b) = (vsanobs_testkit::free_port(), vsanobs_testkit::free_port());
/// assert_ne!(a, b);
/// std::net::TcpListener::bind(("127.0.0.1", a)).unwrap();
/// ```
pub fn free_port() -> u16 {
    static HANDED_OUT: Mutex<Option<HashSet<u16>>> = Mutex::new(None);
    let mut handed_out = HANDED_OUT
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let handed_out = handed_out.get_or_insert_with(HashSet::new);
    // Hold the earlier listeners so a repeated port from the kernel forces a different one.
    let mut held = Vec::new();
    loop {
        let listener = match TcpListener::bind(("127.0.0.1", 0)) {
            Ok(l) => l,
            Err(e) => panic!("cannot bind a port on 127.0.0.1: {e}"),
        };
        let port = match listener.local_addr() {
            Ok(a) => a.port(),
            Err(e) => panic!("cannot read the bound port on 127.0.0.1: {e}"),
        };
        if handed_out.insert(port) {
            return port;
        }
        held.push(listener);
    }
}

fn temp_dir(prefix: &str) -> Result<tempfile::TempDir, Error> {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .map_err(|source| Error::Io {
            what: "create a temporary directory".to_owned(),
            source,
        })
}

/// GETs `url` and parses a Prometheus-style `{"status":"success","data":...}` body,
/// returning `data`.
fn get_api_data(url: &str) -> Result<serde_json::Value, Error> {
    let response = http::get(url)?;
    let api = |reason: String| Error::Api {
        url: url.to_owned(),
        reason,
    };
    let mut json: serde_json::Value = serde_json::from_slice(&response.body).map_err(|e| {
        api(format!(
            "status {}, body is not JSON ({e}): {}",
            response.status,
            response.text()
        ))
    })?;
    if !response.is_success() || json["status"] != "success" {
        return Err(api(format!(
            "status {}: {}",
            response.status,
            response.text()
        )));
    }
    Ok(json["data"].take())
}

/// Calls `fetch` every 200ms until `predicate` accepts its result or `deadline` passes.
fn poll<T: std::fmt::Debug>(
    what: &str,
    mut fetch: impl FnMut() -> Result<T, Error>,
    mut predicate: impl FnMut(&T) -> bool,
    deadline: Duration,
) -> Result<T, Error> {
    let start = std::time::Instant::now();
    loop {
        let last = match fetch() {
            Ok(value) if predicate(&value) => return Ok(value),
            Ok(value) => format!("{value:?}"),
            Err(e) => e.to_string(),
        };
        if start.elapsed() >= deadline {
            return Err(Error::Timeout {
                what: what.to_owned(),
                secs: deadline.as_secs(),
                last,
            });
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A child process that is killed (and reaped) when this handle is dropped, also when the
/// test panics: `let _guard = KillOnDrop(child);`.
#[derive(Debug)]
pub struct KillOnDrop(pub std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
