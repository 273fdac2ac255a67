//! A real Prometheus server on loopback, configured per test.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::http::encode_query;
use crate::server::{Server, find_binary};
use crate::{Error, get_api_data, poll, temp_dir};

/// What a test's Prometheus scrapes and evaluates.
///
/// Build it with struct update syntax over [`Default`]:
///
/// ```
/// use std::time::Duration;
/// use vsanobs_testkit::PrometheusConfig;
///
/// let config = PrometheusConfig {
///     scrape_targets: vec!["127.0.0.1:9101".to_owned()],
///     extra_args: vec!["--enable-feature=exemplar-storage".to_owned()],
///     ..PrometheusConfig::default()
/// };
/// assert_eq!(config.scrape_interval, Duration::from_secs(1));
/// assert!(config.to_yaml().contains("targets: [\"127.0.0.1:9101\"]"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrometheusConfig {
    /// `host:port` targets scraped on `/metrics` by one job named `vsanobs`.
    pub scrape_targets: Vec<String>,
    /// Raw YAML appended under `scrape_configs:`: list items written from column 0, e.g.
    /// `"- job_name: om\n  metrics_path: /om\n  static_configs:\n    - targets: [\"127.0.0.1:1\"]\n"`.
    /// Use it for per-job paths, params, relabelling or `scrape_protocols`-like options.
    pub scrape_configs: String,
    /// Rule files, loaded with `rule_files:`.
    pub rule_files: Vec<PathBuf>,
    /// Global scrape interval (the scrape timeout is set to the same value). Default 1s.
    pub scrape_interval: Duration,
    /// Global rule evaluation interval. Default 1s.
    pub evaluation_interval: Duration,
    /// Extra command-line flags, e.g. `--web.enable-remote-write-receiver` or
    /// `--enable-feature=exemplar-storage`.
    pub extra_args: Vec<String>,
}

impl Default for PrometheusConfig {
    fn default() -> Self {
        PrometheusConfig {
            scrape_targets: Vec::new(),
            scrape_configs: String::new(),
            rule_files: Vec::new(),
            scrape_interval: Duration::from_secs(1),
            evaluation_interval: Duration::from_secs(1),
            extra_args: Vec::new(),
        }
    }
}

impl PrometheusConfig {
    /// The `prometheus.yml` this configuration produces.
    pub fn to_yaml(&self) -> String {
        let mut yaml = String::new();
        let interval = duration_yaml(self.scrape_interval);
        let _ = writeln!(yaml, "global:");
        let _ = writeln!(yaml, "  scrape_interval: {interval}");
        let _ = writeln!(yaml, "  scrape_timeout: {interval}");
        let _ = writeln!(
            yaml,
            "  evaluation_interval: {}",
            duration_yaml(self.evaluation_interval)
        );
        if !self.rule_files.is_empty() {
            let _ = writeln!(yaml, "rule_files:");
            for file in &self.rule_files {
                let _ = writeln!(yaml, "  - {}", yaml_string(&file.display().to_string()));
            }
        }
        let _ = writeln!(yaml, "scrape_configs:");
        if !self.scrape_targets.is_empty() {
            let targets: Vec<String> = self.scrape_targets.iter().map(|t| yaml_string(t)).collect();
            let _ = writeln!(yaml, "  - job_name: vsanobs");
            let _ = writeln!(yaml, "    static_configs:");
            let _ = writeln!(yaml, "      - targets: [{}]", targets.join(", "));
        }
        for line in self.scrape_configs.lines() {
            let _ = writeln!(yaml, "  {line}");
        }
        yaml
    }
}

fn duration_yaml(d: Duration) -> String {
    format!("{}ms", d.as_millis().max(1))
}

fn yaml_string(s: &str) -> String {
    // JSON strings are valid YAML double-quoted scalars.
    Value::String(s.to_owned()).to_string()
}

/// A running Prometheus on `127.0.0.1:<free port>` with a temporary data directory, killed
/// on drop.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use vsanobs_testkit::{Prometheus, PrometheusConfig};
///
/// let prometheus = Prometheus::start(PrometheusConfig::default()).unwrap();
/// let result = prometheus.query("vector(42)").unwrap();
/// assert_eq!(result[0]["value"][1], "42");
///
/// // Prometheus scrapes itself here: wait until the first scrape is in.
/// let port = prometheus.port();
/// let own = Prometheus::start(PrometheusConfig {
///     scrape_targets: vec![format!("127.0.0.1:{port}")],
///     ..PrometheusConfig::default()
/// })
/// .unwrap();
/// let up = own
///     .wait_for("up", |r| !r.as_array().unwrap().is_empty(), Duration::from_secs(30))
///     .unwrap();
/// assert_eq!(up[0]["value"][1], "1");
/// assert_eq!(own.targets().unwrap()[0]["health"], "up");
/// ```
#[derive(Debug)]
pub struct Prometheus {
    server: Server,
    config: PrometheusConfig,
    // Dropped after `server`, so the process is gone before its directory is removed.
    dir: tempfile::TempDir,
}

impl Prometheus {
    /// Writes the configuration to a temporary directory, starts `/usr/bin/prometheus` with
    /// it and waits for `/-/ready`.
    ///
    /// # Errors
    /// [`Error::Missing`] when prometheus is not installed; [`Error::Exited`] (with the log)
    /// when it rejects the configuration or flags; [`Error::NotReady`] when it is not ready
    /// within [`crate::READY_DEADLINE`].
    pub fn start(config: PrometheusConfig) -> Result<Self, Error> {
        let binary = find_binary("prometheus")?;
        let dir = temp_dir("vsanobs-prometheus-")?;
        let config_path = dir.path().join("prometheus.yml");
        std::fs::write(&config_path, config.to_yaml()).map_err(|source| Error::Io {
            what: format!("write {}", config_path.display()),
            source,
        })?;
        let extra = config.extra_args.iter().map(OsString::from).collect();
        let server = Server::start(
            "prometheus",
            binary,
            prometheus_args,
            extra,
            dir.path().to_path_buf(),
            "/-/ready",
        )?;
        Ok(Prometheus {
            server,
            config,
            dir,
        })
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.server.port()
    }

    /// Its remote-write receiver URL (needs `--web.enable-remote-write-receiver`).
    pub fn remote_write_url(&self) -> String {
        format!("{}/api/v1/write", self.url())
    }

    /// The configuration it was started with.
    pub fn config(&self) -> &PrometheusConfig {
        &self.config
    }

    /// Its temporary directory (holds `prometheus.yml`, `prometheus.log` and `data/`).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The end of its log (stdout and stderr), for failure messages.
    pub fn log_tail(&self) -> String {
        self.server.log_tail()
    }

    /// Stops it gracefully (SIGTERM, then SIGKILL after 15s): a receiver that is down. Its
    /// port, configuration and data directory are kept.
    pub fn stop(&mut self) {
        self.server.stop();
    }

    /// Starts it again on the same port, configuration and data directory (its WAL is
    /// replayed), after [`stop`](Self::stop) (or stops it first), and waits for readiness.
    ///
    /// # Errors
    /// As [`start`](Self::start); also when another process took the port meanwhile.
    pub fn start_again(&mut self) -> Result<(), Error> {
        self.server.start_again()
    }

    /// Instant query at the current time via `/api/v1/query`; returns `data.result` (an array
    /// of `{"metric": {..}, "value": [ts, "v"]}` for a vector, `[ts, "v"]` for a scalar).
    ///
    /// # Errors
    /// [`Error::Api`] when the query is invalid or the answer is not a success; [`Error::Http`]
    /// on a transport failure.
    pub fn query(&self, promql: &str) -> Result<Value, Error> {
        let url = format!("{}/api/v1/query?query={}", self.url(), encode_query(promql));
        let mut data = get_api_data(&url)?;
        Ok(data["result"].take())
    }

    /// [`wait_for`](Self::wait_for) a non-empty result of `promql` (a series exists), and
    /// returns it.
    ///
    /// # Errors
    /// As [`wait_for`](Self::wait_for): [`Error::Timeout`] after `deadline`.
    pub fn wait_for_series(&self, promql: &str, deadline: Duration) -> Result<Value, Error> {
        self.wait_for(
            promql,
            |r| r.as_array().is_some_and(|a| !a.is_empty()),
            deadline,
        )
    }

    /// Polls [`query`](Self::query) every 200ms until `predicate` accepts the result, and
    /// returns that result.
    ///
    /// # Errors
    /// [`Error::Timeout`] after `deadline`, naming the last result (or query error) and the
    /// health and last scrape error of every target.
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
        .map_err(|e| match e {
            Error::Timeout { what, secs, last } => Error::Timeout {
                what,
                secs,
                last: format!("{last}; targets: [{}]", self.target_summary()),
            },
            other => other,
        })
    }

    /// One line per target: scrape URL, health and last error.
    fn target_summary(&self) -> String {
        match self.targets() {
            Ok(targets) => targets
                .as_array()
                .map(|all| {
                    all.iter()
                        .map(|t| {
                            format!(
                                "{} health={} lastError={}",
                                t["scrapeUrl"], t["health"], t["lastError"]
                            )
                        })
                        .collect::<Vec<_>>()
                        .join("; ")
                })
                .unwrap_or_default(),
            Err(e) => e.to_string(),
        }
    }

    /// Exemplars for `promql` within the last hour (and the next), via
    /// `/api/v1/query_exemplars`; returns `data` (an array of `{"seriesLabels", "exemplars"}`).
    /// Needs `--enable-feature=exemplar-storage` and an OpenMetrics scrape.
    ///
    /// # Errors
    /// As [`query`](Self::query).
    pub fn query_exemplars(&self, promql: &str) -> Result<Value, Error> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let url = format!(
            "{}/api/v1/query_exemplars?query={}&start={}&end={}",
            self.url(),
            encode_query(promql),
            now.saturating_sub(3600),
            now + 3600
        );
        get_api_data(&url)
    }

    /// Active alerts via `/api/v1/alerts`; returns `data.alerts`.
    ///
    /// # Errors
    /// As [`query`](Self::query).
    pub fn alerts(&self) -> Result<Value, Error> {
        let mut data = get_api_data(&format!("{}/api/v1/alerts", self.url()))?;
        Ok(data["alerts"].take())
    }

    /// Loaded rule groups via `/api/v1/rules`; returns `data.groups`.
    ///
    /// # Errors
    /// As [`query`](Self::query).
    pub fn rules(&self) -> Result<Value, Error> {
        let mut data = get_api_data(&format!("{}/api/v1/rules", self.url()))?;
        Ok(data["groups"].take())
    }

    /// Scrape targets via `/api/v1/targets`; returns `data.activeTargets` (each with
    /// `scrapeUrl`, `health`, `lastError`, `labels`, ...).
    ///
    /// # Errors
    /// As [`query`](Self::query).
    pub fn targets(&self) -> Result<Value, Error> {
        let mut data = get_api_data(&format!("{}/api/v1/targets", self.url()))?;
        Ok(data["activeTargets"].take())
    }
}

fn prometheus_args(port: u16, dir: &Path) -> Vec<OsString> {
    let mut listen = OsString::from("--web.listen-address=127.0.0.1:");
    listen.push(port.to_string());
    let mut config = OsString::from("--config.file=");
    config.push(dir.join("prometheus.yml"));
    let mut data = OsString::from("--storage.tsdb.path=");
    data.push(dir.join("data"));
    vec![listen, config, data]
}

/// One sample of an instant-vector query result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    /// All labels, including `__name__` when the result keeps it.
    pub labels: BTreeMap<String, String>,
    /// The value exactly as Prometheus rendered it (`"1.5"`, `"NaN"`, `"+Inf"`).
    pub value: String,
}

/// Flattens an instant-vector result from [`Prometheus::query`] (or
/// [`crate::VictoriaMetrics::query`]) into [`Sample`]s; anything else gives an empty list.
///
/// ```
/// let result = serde_json::json!([
///     {"metric": {"__name__": "up", "job": "a"}, "value": [1700000000.0, "1"]}
/// ]);
/// let samples = vsanobs_testkit::vector_samples(&result);
/// assert_eq!(samples[0].labels["job"], "a");
/// assert_eq!(samples[0].value, "1");
/// ```
pub fn vector_samples(result: &Value) -> Vec<Sample> {
    let Some(items) = result.as_array() else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|item| {
            let labels = item["metric"]
                .as_object()?
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect();
            let value = item["value"][1].as_str()?.to_owned();
            Some(Sample { labels, value })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_has_targets_rules_and_raw_configs() {
        let config = PrometheusConfig {
            scrape_targets: vec!["127.0.0.1:1".into(), "127.0.0.1:2".into()],
            scrape_configs:
                "- job_name: raw\n  static_configs:\n    - targets: [\"127.0.0.1:3\"]\n".into(),
            rule_files: vec![PathBuf::from("/tmp/a \"b\".yml")],
            scrape_interval: Duration::from_millis(500),
            ..PrometheusConfig::default()
        };
        let yaml = config.to_yaml();
        assert_eq!(
            yaml,
            "global:\n  scrape_interval: 500ms\n  scrape_timeout: 500ms\n  evaluation_interval: 1000ms\n\
             rule_files:\n  - \"/tmp/a \\\"b\\\".yml\"\n\
             scrape_configs:\n  - job_name: vsanobs\n    static_configs:\n      - targets: [\"127.0.0.1:1\", \"127.0.0.1:2\"]\n\
             \x20 - job_name: raw\n    static_configs:\n      - targets: [\"127.0.0.1:3\"]\n"
        );
    }

    #[test]
    fn dropping_the_handle_kills_the_server_and_removes_its_directory() {
        let prometheus = Prometheus::start(PrometheusConfig::default()).unwrap();
        let (url, dir) = (prometheus.url(), prometheus.dir().to_path_buf());
        assert!(
            crate::http::get(&format!("{url}/-/ready"))
                .unwrap()
                .is_success()
        );
        assert!(dir.join("prometheus.yml").is_file());
        drop(prometheus);
        assert!(crate::http::get(&format!("{url}/-/ready")).is_err());
        assert!(!dir.exists());
    }

    #[test]
    fn a_bad_query_is_an_api_error() {
        let prometheus = Prometheus::start(PrometheusConfig::default()).unwrap();
        let err = prometheus.query("sum(").unwrap_err();
        assert!(matches!(err, Error::Api { .. }), "{err}");
        assert!(err.to_string().contains("parse error"), "{err}");
        let err = prometheus
            .wait_for("vector(1)", |_| false, Duration::from_millis(300))
            .unwrap_err();
        assert!(err.to_string().contains("timed out"), "{err}");
    }

    #[test]
    fn vector_samples_ignores_non_vectors() {
        assert!(vector_samples(&serde_json::json!([1.0, "2"])).is_empty());
        assert!(vector_samples(&Value::Null).is_empty());
    }
}
