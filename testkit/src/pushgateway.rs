//! A real Prometheus Pushgateway on loopback.

use std::ffi::OsString;
use std::path::Path;

use crate::server::{Server, find_binary};
use crate::{Error, http, temp_dir};

/// A running `prometheus-pushgateway` on `127.0.0.1:<free port>`, killed on drop.
///
/// It persists pushed groups to a file in its temporary directory (written every second and
/// at a graceful [`stop`](Self::stop)), so [`start_again`](Self::start_again) comes back on
/// the same port with what had been pushed.
///
/// # Example
///
/// ```
/// use vsanobs_testkit::{Pushgateway, http};
///
/// let mut gateway = Pushgateway::start().unwrap();
/// let url = format!("{}/metrics/job/batch", gateway.url());
/// let pushed = http::request("PUT", &url, &[], b"# TYPE done gauge\ndone 1\n").unwrap();
/// assert!(pushed.is_success(), "{}", pushed.text());
/// assert!(gateway.metrics_text().unwrap().contains("done{instance=\"\",job=\"batch\"} 1"));
///
/// let port = gateway.port();
/// gateway.stop();
/// assert!(http::get(&gateway.url()).is_err());
/// gateway.start_again().unwrap();
/// assert_eq!(gateway.port(), port);
/// assert!(gateway.metrics_text().unwrap().contains("done{instance=\"\",job=\"batch\"} 1"));
/// ```
#[derive(Debug)]
pub struct Pushgateway {
    server: Server,
    dir: tempfile::TempDir,
}

impl Pushgateway {
    /// Starts `/usr/bin/prometheus-pushgateway` and waits for `/-/ready`.
    ///
    /// # Errors
    /// [`Error::Missing`] when it is not installed; [`Error::Exited`] or [`Error::NotReady`]
    /// (with its log) when it does not come up.
    pub fn start() -> Result<Self, Error> {
        Self::start_with_args(&[])
    }

    /// As [`start`](Self::start), with extra command-line flags (e.g. `--web.enable-admin-api`).
    ///
    /// # Errors
    /// As [`start`](Self::start).
    pub fn start_with_args(args: &[&str]) -> Result<Self, Error> {
        let binary = find_binary("prometheus-pushgateway")?;
        let dir = temp_dir("vsanobs-pushgateway-")?;
        let server = Server::start(
            "prometheus-pushgateway",
            binary,
            pushgateway_args,
            args.iter().map(OsString::from).collect(),
            dir.path().to_path_buf(),
            "/-/ready",
        )?;
        Ok(Pushgateway { server, dir })
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// The port it listens on (unchanged by a restart).
    pub fn port(&self) -> u16 {
        self.server.port()
    }

    /// Its temporary directory (persistence file and log).
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

    /// Everything it exposes, as `GET /metrics` text.
    ///
    /// # Errors
    /// [`Error::Http`] on a transport failure, [`Error::Api`] on a non-2xx status.
    pub fn metrics_text(&self) -> Result<String, Error> {
        let url = format!("{}/metrics", self.url());
        let response = http::get(&url)?;
        if !response.is_success() {
            return Err(Error::Api {
                url,
                reason: format!("status {}: {}", response.status, response.text()),
            });
        }
        Ok(response.text())
    }

    /// Stops it gracefully (SIGTERM, then SIGKILL after 15s). Its port and directory are kept.
    pub fn stop(&mut self) {
        self.server.stop();
    }

    /// Starts it again on the same port and directory, after [`stop`](Self::stop) (or stops
    /// it first if it still runs), and waits for readiness.
    ///
    /// # Errors
    /// As [`start`](Self::start); also when another process took the port meanwhile.
    pub fn start_again(&mut self) -> Result<(), Error> {
        self.server.start_again()
    }
}

fn pushgateway_args(port: u16, dir: &Path) -> Vec<OsString> {
    let mut listen = OsString::from("--web.listen-address=127.0.0.1:");
    listen.push(port.to_string());
    let mut persistence = OsString::from("--persistence.file=");
    persistence.push(dir.join("pushgateway.db"));
    vec![
        listen,
        persistence,
        OsString::from("--persistence.interval=1s"),
    ]
}
