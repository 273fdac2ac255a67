//! An unreadable or partial `/proc` never fails the scrape: the collector exports what it
//! can and `vsanobs_scrape_collector_success{collector="process"}` reads 0.
#![cfg(target_os = "linux")]

use std::error::Error as _;

use vsanobs_core::Collector;
use vsanobs_core::process::{PROCESS_METRICS, ProcessCollector};
use vsanobs_core::{Format, Gauge, Registry};

fn with_other_metric(c: ProcessCollector) -> (Registry, String) {
    let r = Registry::new();
    let g = Gauge::default();
    r.register("app_ready", "Ready.", g.clone()).unwrap();
    g.set(1);
    r.register_collector(c).unwrap();
    let text = r.encode_to_string(Format::PrometheusText);
    (r, text)
}

#[test]
fn empty_proc_root_exports_only_the_limits_and_reports_failure() {
    let dir = tempfile::tempdir().unwrap();
    let c = ProcessCollector::new().with_proc_root(dir.path());
    let mut out = Vec::new();
    let err = c.collect(&mut out).unwrap_err();
    // The current process's limits come from getrlimit(2), not from /proc.
    let names: Vec<&str> = out.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        ["process_max_fds", "process_virtual_memory_max_bytes"]
    );
    assert!(err.message().contains("self/stat"), "{err}");
    assert!(err.message().contains("self/fd"), "{err}");
    assert!(err.source().is_some());

    let (_, text) = with_other_metric(c);
    assert!(text.contains("app_ready 1\n"), "{text}");
    assert!(!text.contains("process_cpu"), "{text}");
    assert!(text.contains("vsanobs_scrape_collector_success{collector=\"process\"} 0\n"));
}

#[test]
fn another_pid_under_an_empty_root_exports_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let c = ProcessCollector::new()
        .with_proc_root(dir.path())
        .with_pid(std::process::id());
    let mut out = Vec::new();
    let err = c.collect(&mut out).unwrap_err();
    assert!(out.is_empty());
    assert!(err.message().contains("/limits"), "{err}");
    let (_, text) = with_other_metric(c);
    assert!(text.contains("app_ready 1\n"), "{text}");
    assert!(!text.contains("process_"), "{text}");
}

#[test]
fn partial_proc_exports_what_it_can() {
    let dir = tempfile::tempdir().unwrap();
    let pid = std::process::id();
    let me = dir.path().join(pid.to_string());
    std::fs::create_dir(&me).unwrap();
    std::fs::copy("/proc/self/stat", me.join("stat")).unwrap();
    std::fs::copy("/proc/stat", dir.path().join("stat")).unwrap();
    // `limits` is unreadable (a directory), `fd` is missing.
    std::fs::create_dir(me.join("limits")).unwrap();
    let c = ProcessCollector::new()
        .with_proc_root(dir.path())
        .with_pid(pid);
    let mut out = Vec::new();
    let err = c.collect(&mut out).unwrap_err();
    let names: Vec<&str> = out.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "process_cpu_seconds",
            "process_virtual_memory_bytes",
            "process_resident_memory_bytes",
            "process_start_time_seconds",
            "process_threads",
            "process_uptime_seconds"
        ]
    );
    assert!(err.message().contains(&format!("{pid}/fd")), "{err}");
    assert!(err.message().contains(&format!("{pid}/limits")), "{err}");
    assert!(!err.message().contains(&format!("{pid}/stat")), "{err}");

    let (_, text) = with_other_metric(c);
    assert!(text.contains("app_ready 1\n"));
    assert!(text.contains("process_threads "));
    assert!(!text.contains("process_open_fds"));
    assert!(text.contains("vsanobs_scrape_collector_success{collector=\"process\"} 0\n"));
}

#[test]
fn malformed_files_are_errors_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let me = dir.path().join("self");
    std::fs::create_dir_all(me.join("fd")).unwrap();
    std::fs::write(me.join("stat"), "1 (x) S 0 0 garbage").unwrap();
    std::fs::write(dir.path().join("stat"), "no btime here\n").unwrap();
    let c = ProcessCollector::new().with_proc_root(dir.path());
    let mut out = Vec::new();
    let err = c.collect(&mut out).unwrap_err();
    let names: Vec<&str> = out.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "process_open_fds",
            "process_max_fds",
            "process_virtual_memory_max_bytes"
        ]
    );
    assert_eq!(err.source().unwrap().to_string(), "malformed stat", "{err}");
}

#[test]
fn every_metric_comes_from_the_const_table() {
    let c = ProcessCollector::new();
    let mut out = Vec::new();
    c.collect(&mut out).unwrap();
    assert_eq!(out.len(), PROCESS_METRICS.len());
    for (f, d) in out.iter().zip(PROCESS_METRICS) {
        assert_eq!(f.name, d.base_name());
        assert_eq!(f.help, d.help);
        assert_eq!(f.kind, d.kind);
    }
}

#[test]
fn malformed_limits_of_another_pid_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let me = dir.path().join("4242");
    std::fs::create_dir_all(me.join("fd")).unwrap();
    std::fs::write(me.join("limits"), "Max open files  lots\n").unwrap();
    let c = ProcessCollector::new()
        .with_proc_root(dir.path())
        .with_pid(4242);
    let mut out = Vec::new();
    let err = c.collect(&mut out).unwrap_err();
    let names: Vec<&str> = out.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["process_open_fds"]);
    assert!(err.message().contains("4242/limits"), "{err}");
}
