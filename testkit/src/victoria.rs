//! A real single-node VictoriaMetrics on loopback, as a remote-write receiver.

use std::ffi::OsString;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::http::encode_query;
use crate::server::{Server, find_binary};
use crate::{Error, get_api_data, http, poll, temp_dir};

/// A running `victoria-metrics` on `127.0.0.1:<free port>` with a temporary storage
/// directory, killed on drop.
///
/// It runs with `-search.latencyOffset=0s` and `-search.disableCache`; [`query`](Self::query)
/// and [`export`](Self::export) flush first. Even so, a new series can take a moment (about
/// half a second here) to become searchable, so assert through [`wait_for`](Self::wait_for)
/// or [`wait_for_export`](Self::wait_for_export). [`stop`](Self::stop) and
/// [`start_again`](Self::start_again) keep the port and the storage, so an outage test sees
/// what was written before and after.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use vsanobs_testkit::{VictoriaMetrics, http};
///
/// let mut vm = VictoriaMetrics::start().unwrap();
/// let import = format!("{}/api/v1/import/prometheus", vm.url());
/// assert!(http::request("POST", &import, &[], b"jobs_total{site=\"a\"} 7\n").unwrap().is_success());
///
/// vm.stop();
/// vm.start_again().unwrap();
/// let series = vm
///     .wait_for_export("jobs_total", |s| !s.is_empty(), Duration::from_secs(30))
///     .unwrap();
/// assert_eq!(series[0]["metric"]["site"], "a");
/// assert_eq!(series[0]["values"][0], 7.0);
/// ```
#[derive(Debug)]
pub struct VictoriaMetrics {
    server: Server,
    dir: tempfile::TempDir,
}

impl VictoriaMetrics {
    /// Starts `/usr/bin/victoria-metrics` and waits for `/health`.
    ///
    /// # Errors
    /// [`Error::Missing`] when it is not installed; [`Error::Exited`] or [`Error::NotReady`]
    /// (with its log) when it does not come up.
    pub fn start() -> Result<Self, Error> {
        Self::start_with_args(&[])
    }

    /// As [`start`](Self::start), with extra flags (e.g. `-maxInsertRequestSize=...`).
    ///
    /// # Errors
    /// As [`start`](Self::start).
    pub fn start_with_args(args: &[&str]) -> Result<Self, Error> {
        let binary = find_binary("victoria-metrics")?;
        let dir = temp_dir("vsanobs-victoria-metrics-")?;
        let server = Server::start(
            "victoria-metrics",
            binary,
            victoria_args,
            args.iter().map(OsString::from).collect(),
            dir.path().to_path_buf(),
            "/health",
        )?;
        Ok(VictoriaMetrics { server, dir })
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// The port it listens on (unchanged by a restart).
    pub fn port(&self) -> u16 {
        self.server.port()
    }

    /// Its Prometheus remote-write endpoint, `<url>/api/v1/write`.
    pub fn remote_write_url(&self) -> String {
        format!("{}/api/v1/write", self.url())
    }

    /// Its temporary directory (storage under `data/`, and the log).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The end of its log, for failure messages.
    pub fn log_tail(&self) -> String {
        self.server.log_tail()
    }

    /// `true` while the process runs.
    pub fn is_running(&mut self) -> bool {
        self.server.is_running()
    }

    /// Makes everything ingested so far visible to queries (`/internal/force_flush`).
    ///
    /// # Errors
    /// [`Error::Http`] on a transport failure, [`Error::Api`] on a non-2xx status.
    pub fn force_flush(&self) -> Result<(), Error> {
        let url = format!("{}/internal/force_flush", self.url());
        let response = http::get(&url)?;
        if !response.is_success() {
            return Err(Error::Api {
                url,
                reason: format!("status {}: {}", response.status, response.text()),
            });
        }
        Ok(())
    }

    /// Flushes, then runs an instant query via its Prometheus-compatible `/api/v1/query`;
    /// returns `data.result` (see [`crate::vector_samples`]).
    ///
    /// # Errors
    /// [`Error::Api`] for an invalid query; [`Error::Http`] on a transport failure.
    pub fn query(&self, promql: &str) -> Result<Value, Error> {
        self.force_flush()?;
        let url = format!("{}/api/v1/query?query={}", self.url(), encode_query(promql));
        let mut data = get_api_data(&url)?;
        Ok(data["result"].take())
    }

    /// Flushes, then returns every raw sample of the series matching `selector` via
    /// `/api/v1/export`: one `{"metric": {..}, "values": [..], "timestamps": [..]}` per
    /// series (timestamps in milliseconds).
    ///
    /// # Errors
    /// [`Error::Api`] on a non-2xx status or a line that is not JSON; [`Error::Http`] on a
    /// transport failure.
    pub fn export(&self, selector: &str) -> Result<Vec<Value>, Error> {
        self.force_flush()?;
        let url = format!(
            "{}/api/v1/export?match[]={}",
            self.url(),
            encode_query(selector)
        );
        let response = http::get(&url)?;
        if !response.is_success() {
            return Err(Error::Api {
                url,
                reason: format!("status {}: {}", response.status, response.text()),
            });
        }
        response
            .text()
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|line| {
                serde_json::from_str(line).map_err(|e| Error::Api {
                    url: url.clone(),
                    reason: format!("export line is not JSON ({e}): {line}"),
                })
            })
            .collect()
    }

    /// Polls [`query`](Self::query) every 200ms until `predicate` accepts the result, and
    /// returns that result.
    ///
    /// # Errors
    /// [`Error::Timeout`] after `deadline`, naming the last result or error.
    pub fn wait_for(
        &self,
        promql: &str,
        predicate: impl FnMut(&Value) -> bool,
        deadline: Duration,
    ) -> Result<Value, Error> {
        poll(
            &format!("`{promql}` on {}", self.url()),
            || self.query(promql),
            predicate,
            deadline,
        )
    }

    /// Polls [`export`](Self::export) every 200ms until `predicate` accepts the series, and
    /// returns them.
    ///
    /// # Errors
    /// [`Error::Timeout`] after `deadline`, naming the last result or error.
    pub fn wait_for_export(
        &self,
        selector: &str,
        mut predicate: impl FnMut(&[Value]) -> bool,
        deadline: Duration,
    ) -> Result<Vec<Value>, Error> {
        poll(
            &format!("export of `{selector}` on {}", self.url()),
            || self.export(selector),
            |series: &Vec<Value>| predicate(series),
            deadline,
        )
    }

    /// Stops it gracefully (SIGTERM, then SIGKILL after 15s), so buffered data reaches
    /// storage. Its port and storage are kept.
    pub fn stop(&mut self) {
        self.server.stop();
    }

    /// Starts it again on the same port and storage, after [`stop`](Self::stop) (or stops it
    /// first if it still runs), and waits for readiness.
    ///
    /// # Errors
    /// As [`start`](Self::start); also when another process took the port meanwhile.
    pub fn start_again(&mut self) -> Result<(), Error> {
        self.server.start_again()
    }
}

fn victoria_args(port: u16, dir: &Path) -> Vec<OsString> {
    let mut listen = OsString::from("-httpListenAddr=127.0.0.1:");
    listen.push(port.to_string());
    let mut storage = OsString::from("-storageDataPath=");
    storage.push(dir.join("data"));
    vec![
        listen,
        storage,
        OsString::from("-retentionPeriod=100y"),
        OsString::from("-search.latencyOffset=0s"),
        OsString::from("-search.disableCache"),
    ]
}
