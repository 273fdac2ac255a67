//! The `vsan-exporter` binary against govmomi's own vCenter simulator (`simulator.VPX()`,
//! built from Debian's `golang-github-vmware-govmomi-dev`), whose clusters have no vSAN and
//! which serves neither `/vsanHealth` nor `/sdk/vsanServiceVersions.xml`: the exporter logs
//! in, reads the whole inventory (in one page: this simulator ignores `maxObjects` and never
//! pages, so paging itself is shown against `vcsim` by pyVmomi and govmomi's client), reports every cluster as `no_vsan` in
//! `vsan_exporter_cluster_state` and says in its log how many clusters it found and why
//! none is collected; it does not panic, `promtool check metrics` accepts its output, and
//! on SIGTERM it logs out (the simulator's `SessionManager.sessionList` is empty after).
//!
//! The simulator's `main.go` is `examples/vcsim/conformance/govmomi-sim`, built in GOPATH
//! mode into the cargo target directory (with its Go build cache). A machine without `go`
//! or govmomi's sources fails these tests (`scripts/test` installs both).

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use vsanobs_testkit::conformance::go_build;
use vsanobs_testkit::promtool_check_metrics;
use vsanobs_testkit::serde_json::{self, Value};

const USER: &str = "monitor@vsphere.local";
const PASSWORD: &str = "govmomi-Sim-Pa55";
/// Clusters in govmomi's simulated datacenter.
const CLUSTERS: usize = 3;

/// govmomi's simulator, killed when the test ends (its stdin closing ends it too).
struct GovmomiSim {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    url: String,
    ca_file: Option<String>,
    /// The simulator's `TMPDIR`: its datastore directories live here and go with it even
    /// when it has to be killed.
    _tmp: tempfile::TempDir,
}

impl GovmomiSim {
    fn start(tls: bool) -> GovmomiSim {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../vcsim/conformance/govmomi-sim");
        let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("go");
        let binary = go_build(&src, &out, "govmomi-sim")
            .unwrap_or_else(|e| panic!("cannot build govmomi's simulator: {e}"));
        let tmp = tempfile::tempdir().expect("temp dir for govmomi's simulator");
        let mut cmd = Command::new(binary);
        cmd.env("TMPDIR", tmp.path())
            .args(["-listen", "127.0.0.1:0", "-clusters", &CLUSTERS.to_string()])
            .args([
                "-hosts",
                "4",
                "-vms",
                "40",
                "-user",
                USER,
                "-password",
                PASSWORD,
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if tls {
            cmd.arg("-tls");
        }
        let mut child = cmd.spawn().expect("start govmomi's simulator");
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut sim = GovmomiSim {
            child,
            stdin,
            lines,
            url: String::new(),
            ca_file: None,
            _tmp: tmp,
        };
        let hello = sim.next_json();
        let url = hello["url"].as_str().expect("url").to_owned();
        sim.url = url.trim_end_matches("/sdk").to_owned();
        sim.ca_file = hello["ca_file"].as_str().map(str::to_owned);
        sim
    }

    fn next_json(&self) -> Value {
        let line = self
            .lines
            .recv_timeout(Duration::from_secs(60))
            .expect("govmomi's simulator answered within 60 s");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
    }

    /// Sessions the simulator holds (read through SessionManager.sessionList).
    fn sessions(&mut self) -> u64 {
        let stdin = self.stdin.as_mut().expect("stdin");
        stdin.write_all(b"sessions\n").expect("ask for sessions");
        stdin.flush().expect("flush");
        let answer = self.next_json();
        answer["sessions"]
            .as_u64()
            .unwrap_or_else(|| panic!("session count: {answer}"))
    }
}

impl Drop for GovmomiSim {
    fn drop(&mut self) {
        // Closing stdin ends the simulator, which then removes its model's files; it is
        // killed only if it has not exited within 5 s.
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The exporter binary, with its log (stdout and stderr) collected line by line.
struct Exporter {
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
}

impl Exporter {
    fn start(url: &str, ca_file: Option<&str>) -> Exporter {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_vsan-exporter"));
        cmd.args([
            "--web.listen-address",
            "127.0.0.1:0",
            "--collect.interval",
            "2",
            // Pages of 5: govmomi 0.24's simulator ignores `maxObjects` and answers the whole
            // inventory in one page without a token; the exporter must take it whole.
            "--vcenter.page-size",
            "5",
        ])
        .env("VCENTER_URL", url)
        .env("VCENTER_USER", USER)
        .env("VCENTER_PASSWORD", PASSWORD)
        .env_remove("VCENTER_PASSWORD_FILE")
        .env("VSAN_LOG", "debug")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        if let Some(ca) = ca_file {
            cmd.arg("--vcenter.ca-file").arg(ca);
        }
        let mut child = cmd.spawn().expect("start vsan-exporter");
        let log = Arc::new(Mutex::new(Vec::new()));
        for pipe in [
            child
                .stdout
                .take()
                .map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
            child
                .stderr
                .take()
                .map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let log = log.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    log.lock().expect("log").push(line);
                }
            });
        }
        Exporter { child, log }
    }

    fn log_text(&self) -> String {
        self.log.lock().expect("log").join("\n")
    }

    /// Waits (at most 60 s) for a log line containing every one of `parts`.
    fn wait_for_log(&self, parts: &[&str]) -> String {
        let start = Instant::now();
        loop {
            if let Some(line) = self
                .log
                .lock()
                .expect("log")
                .iter()
                .find(|l| parts.iter().all(|p| l.contains(p)))
            {
                return line.clone();
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "no log line with {parts:?} within 60 s; log:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// SIGTERM, then the exit status (killed after 30 s).
    fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = libc::pid_t::try_from(self.child.id()).expect("pid");
        // SAFETY: signals our own child process.
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            if start.elapsed() > Duration::from_secs(30) {
                let _ = self.child.kill();
                panic!(
                    "exporter still running 30 s after SIGTERM; log:\n{}",
                    self.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn scrape(addr: &str) -> String {
    let resp = vsanobs_testkit::http::get(&format!("http://{addr}/metrics")).expect("scrape");
    assert!(resp.is_success(), "scrape status {}", resp.status);
    resp.text()
}

fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let fams = vsanobs_core::testutil::parse(text).expect("exporter output parses");
    vsanobs_core::testutil::sample_value(&fams, name, labels)
}

fn exporter_against_govmomi(tls: bool) {
    let mut sim = GovmomiSim::start(tls);
    assert_eq!(sim.sessions(), 0, "no session before the exporter starts");
    let mut exporter = Exporter::start(&sim.url, sim.ca_file.as_deref());
    let line = exporter.wait_for_log(&["serving /metrics"]);
    let addr = line
        .split("address=")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .expect("address in the log")
        .to_owned();

    // One page holding everything, though 5 objects a page were asked for.
    let retrieved = exporter.wait_for_log(&["inventory retrieved"]);
    let field = |name: &str| -> usize {
        retrieved
            .split_whitespace()
            .find_map(|w| w.strip_prefix(&format!("{name}=")))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{name}= in {retrieved}"))
    };
    assert_eq!(field("pages"), 1, "{retrieved}");
    assert!(field("objects") > 5 + CLUSTERS, "{retrieved}");

    // The start summary: how many clusters, how many collected, and why not.
    let summary = exporter.wait_for_log(&["clusters found"]);
    assert!(
        summary.contains(&format!("{CLUSTERS} clusters found, 0 collected")),
        "start summary: {summary}"
    );
    assert!(
        summary.contains("no_vsan"),
        "the reason is in the summary: {summary}"
    );
    let log = exporter.log_text();
    assert!(
        log.contains("vSAN is not enabled"),
        "a cluster without vSAN is logged with its reason:\n{log}"
    );

    // Metrics: every cluster by name, in state no_vsan; promtool accepts the output.
    let names: Vec<String> = (0..CLUSTERS).map(|i| format!("DC0_C{i}")).collect();
    let start = Instant::now();
    let text = loop {
        let text = scrape(&addr);
        if names.iter().all(|n| {
            sample(
                &text,
                "vsan_exporter_cluster_state",
                &[
                    ("vcenter", "127.0.0.1"),
                    ("cluster_name", n),
                    ("state", "no_vsan"),
                ],
            ) == Some(1.0)
        }) || start.elapsed() > Duration::from_secs(60)
        {
            break text;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    for n in &names {
        let states: Vec<(String, f64)> = vsanobs_core::testutil::parse(&text)
            .expect("parses")
            .iter()
            .flat_map(|f| &f.samples)
            .filter(|s| {
                s.name == "vsan_exporter_cluster_state" && s.label("cluster_name") == Some(n)
            })
            .map(|s| (s.label("state").unwrap_or("").to_owned(), s.value))
            .collect();
        assert!(
            states.contains(&("no_vsan".to_owned(), 1.0)),
            "{n}: cluster_state {states:?}\n{text}"
        );
        assert!(
            states.iter().all(|(s, v)| s == "no_vsan" || *v == 0.0),
            "{n}: one state only: {states:?}"
        );
    }
    let clusters_in = |state: &str| {
        vsanobs_core::testutil::parse(&text)
            .expect("parses")
            .iter()
            .flat_map(|f| &f.samples)
            .filter(|s| s.name == "vsan_exporter_clusters" && s.label("state") == Some(state))
            .map(|s| s.value)
            .sum::<f64>()
    };
    assert_eq!(clusters_in("no_vsan"), CLUSTERS as f64, "{text}");
    assert_eq!(clusters_in("collecting"), 0.0, "{text}");
    let data: Vec<String> = vsanobs_core::testutil::parse(&text)
        .expect("parses")
        .iter()
        .flat_map(|f| &f.samples)
        .filter(|s| s.name.starts_with("vsan_") && !s.name.starts_with("vsan_exporter_"))
        .map(|s| s.name.clone())
        .collect();
    assert!(
        data.is_empty(),
        "no vSAN data from a vCenter without vSAN: {data:?}"
    );
    promtool_check_metrics(&text)
        .unwrap_or_else(|e| panic!("promtool check metrics on the exporter's output: {e}"));

    // One session while running; none after SIGTERM (the exporter logs out on exit).
    assert_eq!(sim.sessions(), 1, "the exporter holds one session");
    let status = exporter.terminate();
    let log = exporter.log_text();
    assert!(status.success(), "exporter exit {status}; log:\n{log}");
    assert!(!log.contains("panicked"), "no panic:\n{log}");
    assert_eq!(
        sim.sessions(),
        0,
        "the exporter logged out on exit; log:\n{log}"
    );
}

#[test]
fn exporter_reports_govmomi_simulator_clusters_as_no_vsan_over_http() {
    exporter_against_govmomi(false);
}

#[test]
fn exporter_reports_govmomi_simulator_clusters_as_no_vsan_over_https() {
    exporter_against_govmomi(true);
}
