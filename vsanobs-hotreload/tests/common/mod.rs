//! Shared helpers for the integration tests: log capture and metric reads.
#![allow(dead_code, unreachable_pub)]

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use vsanobs_core::Registry;
use vsanobs_core::testutil::{parse, sample_value};

/// A tracing writer that keeps everything written to it.
#[derive(Clone, Default)]
pub struct Logs(Arc<Mutex<Vec<u8>>>);

impl Logs {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Captures the logs of this thread until the guard is dropped.
pub fn capture_logs() -> (Logs, tracing::subscriber::DefaultGuard) {
    let logs = Logs::default();
    let w = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || w.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::DEBUG)
        .finish();
    let guard = tracing::subscriber::set_default(subscriber);
    (logs, guard)
}

/// The value of one sample in the registry's text output.
pub fn metric(registry: &Registry, name: &str, labels: &[(&str, &str)]) -> f64 {
    let text = registry.encode_to_string(vsanobs_core::Format::PrometheusText);
    let fams = parse(&text).expect("registry output parses");
    sample_value(&fams, name, labels)
        .unwrap_or_else(|| panic!("no sample {name} {labels:?} in\n{text}"))
}

pub fn result_count(registry: &Registry, result: &str) -> f64 {
    metric(registry, "hot_reload_updates_total", &[("result", result)])
}

/// Polls `cond` until it holds or `limit` passes (a bound against hangs, not a timing check).
pub fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    cond()
}
