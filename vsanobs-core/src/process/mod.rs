//! [`ProcessCollector`]: the `process_*` metrics of Go's client_golang (CPU, memory, file
//! descriptors, start time) plus `process_threads` and `process_uptime_seconds`.
//!
//! # Example
//!
//! ```
//! use vsanobs_core::process::ProcessCollector;
//! use vsanobs_core::{Format, Registry};
//!
//! let registry = Registry::new();
//! registry.register_collector(ProcessCollector::new()).unwrap();
//! let text = registry.encode_to_string(Format::PrometheusText);
//! assert!(text.contains("# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n"));
//! # #[cfg(target_os = "linux")]
//! assert!(text.contains("vsanobs_scrape_collector_success{collector=\"process\"} 1\n"));
//! ```
//!
//! ## Platforms
//!
//! | metric | Linux | other Unix | elsewhere |
//! |---|---|---|---|
//! | `process_cpu_seconds_total` | `/proc/<pid>/stat` | `getrusage` (self only) | no |
//! | `process_open_fds` | `/proc/<pid>/fd` | no | no |
//! | `process_max_fds` | `getrlimit` (self), `/proc/<pid>/limits` (other pid) | `getrlimit` (self only) | no |
//! | `process_virtual_memory_bytes` | `/proc/<pid>/stat` | no | no |
//! | `process_virtual_memory_max_bytes` | `getrlimit` (self), `/proc/<pid>/limits` (other pid) | `getrlimit` (self only) | no |
//! | `process_resident_memory_bytes` | `/proc/<pid>/stat` | no | no |
//! | `process_start_time_seconds` | `/proc/<pid>/stat` + `/proc/stat` | no | no |
//! | `process_threads` | `/proc/<pid>/stat` | no | no |
//! | `process_uptime_seconds` | from the start time | no | no |
//!
//! A value that cannot be read (a missing or unreadable `/proc` entry, a platform without it)
//! is left out, the others are exported, and the collector reports an error naming what was
//! missing, so `vsanobs_scrape_collector_success{collector="process"}` reads 0. On platforms
//! outside Linux that is every scrape, by design: the gauge tells the values are partial.
//!
//! ## Note
//! A Linux scrape of the current process reads `/proc/self/stat`, lists `/proc/self/fd` and
//! makes two `getrlimit` calls; only the boot time (from `/proc/stat`) is cached between
//! scrapes. Clock ticks and the page size come
//! from `sysconf(3)`, not from constants.

#[cfg(feature = "artifacts")]
#[cfg_attr(docsrs, doc(cfg(feature = "artifacts")))]
pub mod artifacts;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::alloc::{counter_value, family};
use crate::model::{MetricDesc, MetricKind, Number, Value};
use crate::registry::{CollectError, Collector, FamilySink};

/// The families [`ProcessCollector`] exports, in output order. Names, types and help text
/// are client_golang's where it has the metric.
pub const PROCESS_METRICS: &[MetricDesc] = &[
    MetricDesc {
        name: "process_cpu_seconds_total",
        kind: MetricKind::Counter,
        help: "Total user and system CPU time spent in seconds.",
        unit: Some("seconds"),
        labels: &[],
    },
    MetricDesc {
        name: "process_open_fds",
        kind: MetricKind::Gauge,
        help: "Number of open file descriptors.",
        unit: None,
        labels: &[],
    },
    MetricDesc {
        name: "process_max_fds",
        kind: MetricKind::Gauge,
        help: "Maximum number of open file descriptors.",
        unit: None,
        labels: &[],
    },
    MetricDesc {
        name: "process_virtual_memory_bytes",
        kind: MetricKind::Gauge,
        help: "Virtual memory size in bytes.",
        unit: Some("bytes"),
        labels: &[],
    },
    MetricDesc {
        name: "process_virtual_memory_max_bytes",
        kind: MetricKind::Gauge,
        help: "Maximum amount of virtual memory available in bytes.",
        unit: Some("bytes"),
        labels: &[],
    },
    MetricDesc {
        name: "process_resident_memory_bytes",
        kind: MetricKind::Gauge,
        help: "Resident memory size in bytes.",
        unit: Some("bytes"),
        labels: &[],
    },
    MetricDesc {
        name: "process_start_time_seconds",
        kind: MetricKind::Gauge,
        help: "Start time of the process since unix epoch in seconds.",
        unit: Some("seconds"),
        labels: &[],
    },
    MetricDesc {
        name: "process_threads",
        kind: MetricKind::Gauge,
        help: "Number of OS threads in the process.",
        unit: None,
        labels: &[],
    },
    MetricDesc {
        name: "process_uptime_seconds",
        kind: MetricKind::Gauge,
        help: "Time since the process started, in seconds.",
        unit: Some("seconds"),
        labels: &[],
    },
];

const CPU: usize = 0;
const OPEN_FDS: usize = 1;
const MAX_FDS: usize = 2;
const VSIZE: usize = 3;
const MAX_VSIZE: usize = 4;
const RSS: usize = 5;
const START: usize = 6;
const THREADS: usize = 7;
const UPTIME: usize = 8;
const N: usize = 9;

/// Exports [`PROCESS_METRICS`] for this process (or, on Linux, another one by pid).
///
/// # Example
///
/// A `/proc` that cannot be read does not fail the scrape; the collector reports it:
///
/// ```
/// use vsanobs_core::process::ProcessCollector;
/// use vsanobs_core::{Format, Registry};
///
/// let registry = Registry::new();
/// registry
///     .register_collector(ProcessCollector::new().with_proc_root("/nonexistent"))
///     .unwrap();
/// let text = registry.encode_to_string(Format::PrometheusText);
/// assert!(text.contains("vsanobs_scrape_collector_success{collector=\"process\"} 0\n"));
/// ```
#[derive(Debug, Clone)]
pub struct ProcessCollector {
    proc_root: PathBuf,
    pid: Option<u32>,
    /// The boot time from `<root>/stat`, read once: it does not change while the system
    /// runs, and `/proc/stat` is the largest file a scrape would otherwise read.
    btime: std::sync::OnceLock<u64>,
}

impl Default for ProcessCollector {
    fn default() -> Self {
        Self::new()
    }
}

impl ProcessCollector {
    /// A collector for the current process, reading `/proc` on Linux.
    pub fn new() -> Self {
        ProcessCollector {
            proc_root: PathBuf::from("/proc"),
            pid: None,
            btime: std::sync::OnceLock::new(),
        }
    }

    /// Reads from `root` instead of `/proc` (a container's mount of the host's procfs, or a
    /// test directory). Linux only; ignored elsewhere.
    pub fn with_proc_root(mut self, root: impl Into<PathBuf>) -> Self {
        self.proc_root = root.into();
        self.btime = std::sync::OnceLock::new();
        self
    }

    /// Reports on process `pid` instead of the current one. Linux only: on other platforms
    /// the collector then exports nothing and reports an error.
    pub fn with_pid(mut self, pid: u32) -> Self {
        self.pid = Some(pid);
        self
    }

    fn read_all(&self) -> ([Option<Value>; N], Vec<(String, std::io::Error)>) {
        let mut values: [Option<Value>; N] = Default::default();
        let mut errors = Vec::new();
        #[cfg(target_os = "linux")]
        linux::read(self, &mut values, &mut errors);
        #[cfg(all(unix, not(target_os = "linux")))]
        other_unix::read(self, &mut values, &mut errors);
        #[cfg(not(unix))]
        errors.push((
            "process statistics".to_owned(),
            std::io::Error::new(
                std::io::ErrorKind::Unsupported,
                "not implemented on this platform",
            ),
        ));
        (values, errors)
    }

    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    fn dir(&self) -> PathBuf {
        match self.pid {
            Some(p) => self.proc_root.join(p.to_string()),
            None => self.proc_root.join("self"),
        }
    }

    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    fn root(&self) -> &Path {
        &self.proc_root
    }
}

impl Collector for ProcessCollector {
    fn name(&self) -> &str {
        "process"
    }

    fn collect_into(&self, sink: &mut FamilySink<'_>) -> Result<(), CollectError> {
        let (values, errors) = self.read_all();
        for (desc, v) in PROCESS_METRICS.iter().zip(values) {
            if let Some(v) = v {
                sink.push(family(desc, v));
            }
        }
        let mut errors = errors.into_iter();
        let Some((first_what, first)) = errors.next() else {
            return Ok(());
        };
        let mut msg = format!("could not read {first_what}");
        for (what, _) in errors {
            let _ = write!(msg, ", {what}");
        }
        Err(CollectError::with_source(msg, first))
    }
}

fn gauge_f(v: f64) -> Option<Value> {
    Some(Value::Gauge(Number::Float(v)))
}

fn gauge_u(v: u64) -> Option<Value> {
    Some(Value::Gauge(Number::Int(
        i64::try_from(v).unwrap_or(i64::MAX),
    )))
}

/// System constants from `sysconf(3)`.
#[cfg(unix)]
#[allow(unsafe_code)]
pub mod sys {
    /// Clock ticks per second (`sysconf(_SC_CLK_TCK)`, the `USER_HZ` that `/proc` times are
    /// counted in); `None` if the system does not say.
    pub fn clock_ticks_per_second() -> Option<u64> {
        // SAFETY: sysconf only reads a system constant; any name is allowed.
        let v = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        u64::try_from(v).ok().filter(|v| *v > 0)
    }

    /// The memory page size in bytes (`sysconf(_SC_PAGESIZE)`); `None` if unknown.
    pub fn page_size() -> Option<u64> {
        // SAFETY: as above.
        let v = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        u64::try_from(v).ok().filter(|v| *v > 0)
    }

    /// The soft limit of `resource` (a `libc::RLIMIT_*`); `u64::MAX` when unlimited.
    pub(crate) fn soft_limit(resource: i32) -> std::io::Result<u64> {
        let mut r = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: `r` is a valid, writable rlimit; `resource` is one of the RLIMIT_* values.
        #[allow(clippy::useless_conversion)]
        let rc = unsafe { libc::getrlimit(resource as _, &mut r) };
        if rc != 0 {
            return Err(std::io::Error::last_os_error());
        }
        #[allow(clippy::unnecessary_cast)] // rlim_t is u64 on Linux, not everywhere
        let soft = r.rlim_cur as u64;
        Ok(if r.rlim_cur == libc::RLIM_INFINITY {
            u64::MAX
        } else {
            soft
        })
    }

    /// User plus system CPU seconds of the calling process (`getrusage(RUSAGE_SELF)`).
    #[cfg_attr(target_os = "linux", allow(dead_code))]
    pub(crate) fn cpu_seconds() -> std::io::Result<f64> {
        // SAFETY: an all-zero rusage is a valid value of this plain C struct.
        let mut u: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: `u` is a valid, writable rusage.
        let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
        if rc != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
        Ok(tv(u.ru_utime) + tv(u.ru_stime))
    }
}

#[cfg(target_os = "linux")]
mod linux {
    use std::io::{Error, ErrorKind};

    use super::*;

    fn invalid(what: &str) -> Error {
        Error::new(ErrorKind::InvalidData, format!("malformed {what}"))
    }

    /// The fields of `/proc/<pid>/stat` this collector uses.
    #[derive(Debug, PartialEq)]
    pub(super) struct Stat {
        pub(super) utime: u64,
        pub(super) stime: u64,
        pub(super) threads: u64,
        pub(super) starttime: u64,
        pub(super) vsize: u64,
        pub(super) rss_pages: i64,
    }

    /// Parses `/proc/<pid>/stat`. The command name (field 2) may contain spaces and
    /// parentheses, so fields are counted from the last `)`.
    pub(super) fn parse_stat(text: &str) -> Option<Stat> {
        let rest = &text[text.rfind(')')? + 1..];
        let f: Vec<&str> = rest.split_ascii_whitespace().collect();
        // f[0] is field 3 (state): field n is f[n - 3].
        let field = |n: usize| f.get(n - 3).copied();
        Some(Stat {
            utime: field(14)?.parse().ok()?,
            stime: field(15)?.parse().ok()?,
            threads: field(20)?.parse().ok()?,
            starttime: field(22)?.parse().ok()?,
            vsize: field(23)?.parse().ok()?,
            rss_pages: field(24)?.parse().ok()?,
        })
    }

    /// The boot time (`btime`) from `/proc/stat`.
    pub(super) fn parse_btime(text: &str) -> Option<u64> {
        text.lines()
            .find_map(|l| l.strip_prefix("btime "))
            .and_then(|v| v.trim().parse().ok())
    }

    /// The soft limit of the `/proc/<pid>/limits` row called `name`; `u64::MAX` for
    /// `unlimited` (as client_golang reports it).
    pub(super) fn parse_limit(text: &str, name: &str) -> Option<u64> {
        let line = text.lines().find(|l| l.starts_with(name))?;
        let soft = line[name.len()..].split_ascii_whitespace().next()?;
        if soft == "unlimited" {
            Some(u64::MAX)
        } else {
            soft.parse().ok()
        }
    }

    pub(super) fn read(
        c: &ProcessCollector,
        values: &mut [Option<Value>; N],
        errors: &mut Vec<(String, Error)>,
    ) {
        let dir = c.dir();
        let mut fail = |path: &Path, e: Error| errors.push((path.display().to_string(), e));

        let stat_path = dir.join("stat");
        let stat = std::fs::read_to_string(&stat_path)
            .and_then(|t| parse_stat(&t).ok_or_else(|| invalid("stat")));
        match stat {
            Ok(s) => {
                values[THREADS] = gauge_u(s.threads);
                values[VSIZE] = gauge_u(s.vsize);
                match sys::page_size() {
                    Some(p) => {
                        values[RSS] = gauge_u(u64::try_from(s.rss_pages).unwrap_or(0) * p);
                    }
                    None => fail(&stat_path, invalid("sysconf(_SC_PAGESIZE)")),
                }
                match sys::clock_ticks_per_second() {
                    Some(hz) => {
                        let hz = hz as f64;
                        let cpu = (s.utime + s.stime) as f64 / hz;
                        values[CPU] = Some(counter_value(Number::Float(cpu)));
                        let btime_path = c.root().join("stat");
                        let btime = match c.btime.get() {
                            Some(b) => Ok(*b),
                            None => std::fs::read_to_string(&btime_path)
                                .and_then(|t| parse_btime(&t).ok_or_else(|| invalid("/proc/stat")))
                                .inspect(|b| {
                                    let _ = c.btime.set(*b);
                                }),
                        };
                        match btime {
                            Ok(b) => {
                                let start = b as f64 + s.starttime as f64 / hz;
                                values[START] = gauge_f(start);
                                values[UPTIME] =
                                    gauge_f((crate::clock::unix_seconds() - start).max(0.0));
                            }
                            Err(e) => fail(&btime_path, e),
                        }
                    }
                    None => fail(&stat_path, invalid("sysconf(_SC_CLK_TCK)")),
                }
            }
            Err(e) => fail(&stat_path, e),
        }

        let fd_path = dir.join("fd");
        match std::fs::read_dir(&fd_path) {
            Ok(entries) => {
                let n = entries.filter(|e| e.is_ok()).count() as u64;
                values[OPEN_FDS] = gauge_u(n);
            }
            Err(e) => fail(&fd_path, e),
        }

        if c.pid.is_none() {
            // The current process: the same soft limits /proc/self/limits renders, from one
            // system call each instead of formatting and parsing a 1.4 KB table.
            match sys::soft_limit(libc::RLIMIT_NOFILE as i32) {
                Ok(v) => values[MAX_FDS] = gauge_f(v as f64),
                Err(e) => errors.push(("getrlimit(RLIMIT_NOFILE)".to_owned(), e)),
            }
            match sys::soft_limit(libc::RLIMIT_AS as i32) {
                Ok(v) => values[MAX_VSIZE] = gauge_f(v as f64),
                Err(e) => errors.push(("getrlimit(RLIMIT_AS)".to_owned(), e)),
            }
            return;
        }
        let limits_path = dir.join("limits");
        let mut fail = |path: &Path, e: Error| errors.push((path.display().to_string(), e));
        match std::fs::read_to_string(&limits_path) {
            Ok(t) => {
                match parse_limit(&t, "Max open files") {
                    Some(v) => values[MAX_FDS] = gauge_f(v as f64),
                    None => fail(&limits_path, invalid("Max open files")),
                }
                match parse_limit(&t, "Max address space") {
                    Some(v) => values[MAX_VSIZE] = gauge_f(v as f64),
                    None => fail(&limits_path, invalid("Max address space")),
                }
            }
            Err(e) => fail(&limits_path, e),
        }
    }
}

#[cfg(all(unix, not(target_os = "linux")))]
mod other_unix {
    use super::*;

    pub(super) fn read(
        c: &ProcessCollector,
        values: &mut [Option<Value>; N],
        errors: &mut Vec<(String, std::io::Error)>,
    ) {
        if c.pid.is_some() {
            errors.push((
                "another process".to_owned(),
                std::io::Error::new(
                    std::io::ErrorKind::Unsupported,
                    "only the current process can be read on this platform",
                ),
            ));
            return;
        }
        match sys::cpu_seconds() {
            Ok(v) => values[CPU] = Some(counter_value(Number::Float(v))),
            Err(e) => errors.push(("getrusage".to_owned(), e)),
        }
        match sys::soft_limit(libc::RLIMIT_NOFILE as i32) {
            Ok(v) => values[MAX_FDS] = gauge_f(v as f64),
            Err(e) => errors.push(("getrlimit(RLIMIT_NOFILE)".to_owned(), e)),
        }
        match sys::soft_limit(libc::RLIMIT_AS as i32) {
            Ok(v) => values[MAX_VSIZE] = gauge_f(v as f64),
            Err(e) => errors.push(("getrlimit(RLIMIT_AS)".to_owned(), e)),
        }
        errors.push((
            "open fds, memory, threads and start time".to_owned(),
            std::io::Error::new(
                std::io::ErrorKind::Unsupported,
                "not available on this platform",
            ),
        ));
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::linux::*;

    #[test]
    fn stat_with_spaces_and_parens_in_comm() {
        let text = "4242 (my (odd) prog) S 1 4242 4242 0 -1 4194560 1000 0 0 0 \
                    250 75 0 0 20 0 7 0 123456 987654321 2048 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";
        let s = parse_stat(text).unwrap();
        assert_eq!(
            s,
            Stat {
                utime: 250,
                stime: 75,
                threads: 7,
                starttime: 123456,
                vsize: 987654321,
                rss_pages: 2048
            }
        );
        assert_eq!(parse_stat("12 (x) S 1 2 3"), None);
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn limits_soft_values_and_unlimited() {
        let text = "Limit                     Soft Limit           Hard Limit           Units     \n\
                    Max cpu time              unlimited            unlimited            seconds   \n\
                    Max open files            1024                 524288               files     \n\
                    Max address space         unlimited            unlimited            bytes     \n";
        assert_eq!(parse_limit(text, "Max open files"), Some(1024));
        assert_eq!(parse_limit(text, "Max address space"), Some(u64::MAX));
        assert_eq!(parse_limit(text, "Max locked memory"), None);
    }

    #[test]
    fn btime() {
        assert_eq!(
            parse_btime("cpu  1 2 3\nbtime 1700000000\nprocesses 5\n"),
            Some(1_700_000_000)
        );
        assert_eq!(parse_btime("cpu 1 2 3\n"), None);
    }
}
