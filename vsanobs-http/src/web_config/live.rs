//! [`LiveWebConfig`]: a web configuration that follows its file.
//!
//! # Example
//!
//! ```
//! use vsanobs_core::{Format, Registry};
//! use vsanobs_http::web_config::LiveWebConfig;
//! use vsanobs_http::{MetricsEndpoint, ScrapeRequest, WebConfigError};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let file = dir.path().join("web.yml");
//! let users = |name: &str, password: &str| {
//!     format!("basic_auth_users:\n  {name}: {}\n", bcrypt::hash(password, 10).unwrap())
//! };
//! std::fs::write(&file, users("prom", "old")).unwrap();
//!
//! let registry = Registry::new();
//! let web = LiveWebConfig::load(&file)?;
//! web.register(&registry).unwrap();
//! let endpoint = web.apply(MetricsEndpoint::new(registry.clone()));
//! let scrape = |basic: &str| {
//!     endpoint.render(&ScrapeRequest {
//!         authorization: Some(format!("Basic {basic}")),
//!         ..ScrapeRequest::default()
//!     })
//!     .status
//! };
//! const PROM_OLD: &str = "cHJvbTpvbGQ="; // prom:old
//! const PROM_NEW: &str = "cHJvbTpuZXc="; // prom:new
//! assert_eq!(scrape(PROM_OLD), 200);
//!
//! // Nothing changed: nothing is re-read past the fingerprint.
//! assert!(!web.reload_if_changed()?);
//! // A new password: the old one is refused from the next check on.
//! std::fs::write(&file, users("prom", "new")).unwrap();
//! assert!(web.reload_if_changed()?);
//! assert_eq!((scrape(PROM_NEW), scrape(PROM_OLD)), (200, 401));
//!
//! // A bad file is refused and counted; the previous users stay in force.
//! std::fs::write(&file, "basic_auth_users:\n  prom: not-a-hash\n").unwrap();
//! assert!(matches!(web.reload(), Err(WebConfigError::InvalidHash { .. })));
//! assert_eq!(scrape(PROM_NEW), 200);
//! let text = registry.encode_to_string(Format::PrometheusText);
//! assert!(text.contains("vsanobs_web_config_reloads_total{result=\"fail\"} 1\n"), "{text}");
//! assert!(text.contains("vsanobs_web_config_reloads_total{result=\"success\"} 1\n"), "{text}");
//! assert!(text.contains("vsanobs_web_config_last_reload_successful 0\n"), "{text}");
//! # Ok::<(), WebConfigError>(())
//! ```
//!
//! # Design
//!
//! exporter-toolkit re-reads and re-parses the file for every new TLS connection and every
//! basic-auth check. That costs a file read and a YAML parse per request, and a bad file
//! is only noticed by the client that hits it. Here the file is checked once per change:
//!
//! - [`watch`](LiveWebConfig::watch) polls every period (default
//!   [`DEFAULT_WATCH_PERIOD`](LiveWebConfig::DEFAULT_WATCH_PERIOD), 5 s): it reads the
//!   configuration and the certificate, key and client-CA files it names and hashes them
//!   (SHA-256; a few KiB read, microseconds). Only when the hash differs from the last one
//!   tried is the configuration parsed and checked; a certificate renewed in place is
//!   noticed as well as an edit of the YAML. Content, not modification times, is compared,
//!   so a change within the file system's timestamp granularity is not missed.
//! - [`reload`](LiveWebConfig::reload) re-reads at once, changed or not: the services
//!   call it on `SIGHUP`.
//! - Checking runs every bcrypt hash once (its format and cost): about 50 ms per user at
//!   cost 10. The watch task does it on tokio's blocking pool, never on a worker.
//! - A request pays one atomic load of the current configuration: a new TLS handshake
//!   takes the current certificate ([`TlsListener::live`](super::TlsListener::live); open
//!   connections keep theirs), a basic-auth check the current users. The cache of
//!   successful checks is keyed by the user's hash too, so a changed password or a removed
//!   user is refused from the next request on.
//! - A bad file (unreadable, bad YAML or unknown key, bad certificate or key, malformed
//!   or weak bcrypt hash, unsupported key, or a switch between HTTP and HTTPS, which the
//!   listener cannot make) is logged at `warn` with its [`WebConfigError`], counted once
//!   per distinct content in `vsanobs_web_config_reloads_total{result="fail"}`, and
//!   `vsanobs_web_config_last_reload_successful` drops to 0; the previous configuration
//!   stays in force until a good file replaces it.
//!
//! ## Note
//! Replace the files so that each state the watcher can see is complete: write a renewed
//! certificate and its key under new names, then rename the YAML that names them into
//! place (a rename is atomic). Writing the key and the certificate in place one after the
//! other can be seen half done; that is counted as one failed reload and corrected by the
//! next poll.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use parking_lot::Mutex;
use sha2::{Digest, Sha256};
use vsanobs_core::model::{MetricDesc, MetricKind};
use vsanobs_core::{Counter, Family, Gauge, LabelSet, LabelValue, Registry, RegistryError};

use super::{WebConfig, WebConfigError, referenced_files};
use crate::MetricsEndpoint;
use crate::endpoint::LiveUsers;

/// `vsanobs_web_config_reloads_total{result}`: reloads of the web configuration file.
pub const RELOADS: MetricDesc = MetricDesc {
    name: "vsanobs_web_config_reloads_total",
    kind: MetricKind::Counter,
    help: "Reloads of the web configuration file (--web.config.file) by result (success, fail).",
    unit: None,
    labels: &["result"],
};

/// `vsanobs_web_config_last_reload_successful`: whether the last reload succeeded.
pub const LAST_RELOAD_SUCCESSFUL: MetricDesc = MetricDesc {
    name: "vsanobs_web_config_last_reload_successful",
    kind: MetricKind::Gauge,
    help: "1 if the last reload of the web configuration file succeeded (or none was tried), 0 if the previous configuration stays in force.",
    unit: None,
    labels: &[],
};

/// The families [`LiveWebConfig::register`] adds.
pub const WEB_CONFIG_METRICS: &[MetricDesc] = &[RELOADS, LAST_RELOAD_SUCCESSFUL];

/// The `result` label of `vsanobs_web_config_reloads_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ReloadResult {
    /// The new configuration is in force.
    Success,
    /// The file was refused; the previous configuration stays in force.
    Fail,
}

impl ReloadResult {
    /// Every value, in the order exported (each at 0 from the start).
    pub const ALL: [ReloadResult; 2] = [ReloadResult::Success, ReloadResult::Fail];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            ReloadResult::Success => "success",
            ReloadResult::Fail => "fail",
        }
    }
}

impl LabelValue for ReloadResult {
    fn visit(&self, f: &mut dyn FnMut(&str)) {
        f(self.as_str())
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct ResultLabels {
    result: ReloadResult,
}

impl LabelSet for ResultLabels {
    const NAMES: &'static [&'static str] = &["result"];
    fn visit_values(&self, f: &mut dyn FnMut(&str)) {
        self.result.visit(f)
    }
}

/// A web configuration that follows its file: see the [module docs](self). Cloning shares
/// it.
#[derive(Clone)]
pub struct LiveWebConfig {
    shared: Arc<Shared>,
}

struct Shared {
    path: PathBuf,
    current: ArcSwap<WebConfig>,
    /// The current users, shared with the endpoints this configuration was applied to.
    users: LiveUsers,
    /// Fingerprint of the files last tried (loaded or refused); the lock also runs one
    /// reload at a time.
    tried: Mutex<[u8; 32]>,
    results: Family<ResultLabels, Counter>,
    last_ok: Gauge,
}

impl std::fmt::Debug for LiveWebConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveWebConfig")
            .field("path", &self.shared.path)
            .field("current", &self.shared.current.load())
            .finish()
    }
}

impl LiveWebConfig {
    /// The poll period the services use with [`watch`](Self::watch).
    pub const DEFAULT_WATCH_PERIOD: Duration = Duration::from_secs(5);

    /// Reads and checks the file at `path` (as [`WebConfig::load`]).
    ///
    /// # Errors
    /// Every [`WebConfigError`] of [`WebConfig::load`]: at start a bad file is an error, as
    /// there is no previous configuration to keep.
    pub fn load(path: impl AsRef<Path>) -> Result<LiveWebConfig, WebConfigError> {
        let path = path.as_ref().to_owned();
        let seen = fingerprint(&path);
        let config = WebConfig::load(&path)?;
        let results = Family::with_cap(ReloadResult::ALL.len());
        for result in ReloadResult::ALL {
            results.get_or_create(&ResultLabels { result });
        }
        let last_ok = Gauge::default();
        last_ok.set(1);
        Ok(LiveWebConfig {
            shared: Arc::new(Shared {
                users: Arc::new(ArcSwap::from_pointee(config.users.clone())),
                current: ArcSwap::from_pointee(config),
                path,
                tried: Mutex::new(seen),
                results,
                last_ok,
            }),
        })
    }

    /// Registers [`WEB_CONFIG_METRICS`] in `registry`.
    ///
    /// # Errors
    /// [`RegistryError`] when a name is already registered (nothing is left registered).
    pub fn register(&self, registry: &Registry) -> Result<(), RegistryError> {
        registry.register(RELOADS.name, RELOADS.help, self.shared.results.clone())?;
        if let Err(e) = registry.register(
            LAST_RELOAD_SUCCESSFUL.name,
            LAST_RELOAD_SUCCESSFUL.help,
            self.shared.last_ok.clone(),
        ) {
            let _ = registry.unregister(RELOADS.name);
            return Err(e);
        }
        Ok(())
    }

    /// The file followed.
    pub fn path(&self) -> &Path {
        &self.shared.path
    }

    /// The configuration in force.
    pub fn current(&self) -> Arc<WebConfig> {
        self.shared.current.load_full()
    }

    /// Whether the configuration serves HTTPS (fixed at load: a reload cannot change it).
    pub fn serves_tls(&self) -> bool {
        self.shared.current.load().tls.is_some()
    }

    /// A rustls server configuration for listeners other than
    /// [`TlsListener::live`](super::TlsListener::live) (actix-web's `bind_rustls_0_23`,
    /// hyper with tokio-rustls), or `None` without `tls_server_config`. Its certificate
    /// resolver takes the current configuration's certificate and key at every handshake, so
    /// a reloaded certificate applies to new connections; the client CA,
    /// `client_auth_type` and TLS versions stay those loaded at start (restart to change
    /// them; `TlsListener::live` follows them too).
    ///
    /// ```
    /// use vsanobs_http::web_config::LiveWebConfig;
    /// let dir = tempfile::tempdir().unwrap();
    /// std::fs::write(dir.path().join("web.yml"), "basic_auth_users: {}\n").unwrap();
    /// let web = LiveWebConfig::load(dir.path().join("web.yml")).unwrap();
    /// assert!(web.rustls_server_config().is_none());
    /// ```
    pub fn rustls_server_config(&self) -> Option<rustls::ServerConfig> {
        let current = self.current();
        let mut config = (**current.tls.as_ref()?).clone();
        config.cert_resolver = Arc::new(CurrentCertificate {
            config: self.clone(),
        });
        Some(config)
    }

    /// `endpoint` checking basic auth against this configuration's users as they are at
    /// each request (none: no authentication), before any given to
    /// [`MetricsEndpoint::basic_auth`].
    pub fn apply(&self, endpoint: MetricsEndpoint) -> MetricsEndpoint {
        endpoint.follow_basic_auth_users(self.shared.users.clone())
    }

    /// Re-reads the file now, changed or not, and puts it in force.
    ///
    /// # Errors
    /// The file's [`WebConfigError`] (also logged and counted); the previous configuration
    /// stays in force. [`WebConfigError::TlsModeChanged`] when the file would switch
    /// between HTTP and HTTPS.
    pub fn reload(&self) -> Result<(), WebConfigError> {
        let mut tried = self.shared.tried.lock();
        *tried = fingerprint(&self.shared.path);
        self.shared.apply_file()
    }

    /// Re-reads the file if its content, or that of a file it names, changed since the
    /// last load or reload attempt; `Ok(false)` when nothing changed. A refused file is
    /// reported (and counted) once, not at every call until it changes.
    ///
    /// # Errors
    /// As [`reload`](Self::reload).
    pub fn reload_if_changed(&self) -> Result<bool, WebConfigError> {
        let mut tried = self.shared.tried.lock();
        let now = fingerprint(&self.shared.path);
        if now == *tried {
            return Ok(false);
        }
        *tried = now;
        self.shared.apply_file().map(|()| true)
    }

    /// Spawns a task calling [`reload_if_changed`](Self::reload_if_changed) every `period`
    /// (at least 100 ms) on tokio's blocking pool; errors are logged and counted there. The
    /// task holds no strong reference between polls: it ends once every clone of this
    /// configuration is dropped (or when the handle is aborted). Must be called within a
    /// tokio runtime.
    pub fn watch(&self, period: Duration) -> tokio::task::JoinHandle<()> {
        let weak = Arc::downgrade(&self.shared);
        let period = period.max(Duration::from_millis(100));
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(shared) = weak.upgrade() else {
                    break;
                };
                let live = LiveWebConfig { shared };
                // Errors are logged and counted by the reload itself.
                let _ = tokio::task::spawn_blocking(move || live.reload_if_changed()).await;
            }
        })
    }
}

/// Resolves the server certificate from the configuration in force at each handshake.
#[derive(Debug)]
struct CurrentCertificate {
    config: LiveWebConfig,
}

impl rustls::server::ResolvesServerCert for CurrentCertificate {
    fn resolve(
        &self,
        hello: rustls::server::ClientHello<'_>,
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        let current = self.config.shared.current.load();
        current.tls.as_ref()?.cert_resolver.resolve(hello)
    }
}

impl Shared {
    fn count(&self, result: ReloadResult) {
        self.results.with(&ResultLabels { result }, |c| c.inc());
        self.last_ok.set(i64::from(result == ReloadResult::Success));
    }

    /// Loads the file and puts it in force, or reports why not. Called with `tried` held.
    fn apply_file(&self) -> Result<(), WebConfigError> {
        let loaded = WebConfig::load(&self.path).and_then(|new| {
            let was_tls = self.current.load().tls.is_some();
            if new.tls.is_some() != was_tls {
                return Err(WebConfigError::TlsModeChanged {
                    now_tls: new.tls.is_some(),
                });
            }
            Ok(new)
        });
        match loaded {
            Ok(new) => {
                tracing::info!(
                    path = %self.path.display(),
                    https = new.tls.is_some(),
                    basic_auth_users = new.users.len(),
                    "web config reloaded"
                );
                self.users.store(Arc::new(new.users.clone()));
                self.current.store(Arc::new(new));
                self.count(ReloadResult::Success);
                Ok(())
            }
            Err(e) => {
                tracing::warn!(
                    path = %self.path.display(),
                    error = %vsanobs_core::report::error_chain(&e),
                    "web config reload refused; the previous configuration stays in force"
                );
                self.count(ReloadResult::Fail);
                Err(e)
            }
        }
    }
}

/// SHA-256 over the configuration file and the files it names (each read whole, or the
/// kind of error reading it): equal fingerprints mean nothing a load reads has changed.
fn fingerprint(path: &Path) -> [u8; 32] {
    fn feed(h: &mut Sha256, path: &Path, read: &io::Result<Vec<u8>>) {
        let name = path.as_os_str().as_encoded_bytes();
        h.update((name.len() as u64).to_le_bytes());
        h.update(name);
        match read {
            Ok(bytes) => {
                h.update([1]);
                h.update((bytes.len() as u64).to_le_bytes());
                h.update(bytes);
            }
            Err(e) => {
                h.update([0]);
                h.update(format!("{:?}", e.kind()).as_bytes());
            }
        }
    }
    let mut h = Sha256::new();
    let text = std::fs::read(path);
    feed(&mut h, path, &text);
    if let Some(text) = text
        .as_deref()
        .ok()
        .and_then(|t| std::str::from_utf8(t).ok())
    {
        let base = path.parent().unwrap_or(Path::new("."));
        for file in referenced_files(text, base) {
            let read = std::fs::read(&file);
            feed(&mut h, &file, &read);
        }
    }
    h.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_follows_named_files_and_missing_ones() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("web.yml");
        let missing = fingerprint(&file);
        std::fs::write(
            &file,
            "tls_server_config:\n  cert_file: c.pem\n  key_file: k.pem\n",
        )
        .unwrap();
        let no_cert = fingerprint(&file);
        assert_ne!(missing, no_cert);
        assert_eq!(no_cert, fingerprint(&file));
        std::fs::write(dir.path().join("c.pem"), "x").unwrap();
        let with_cert = fingerprint(&file);
        assert_ne!(no_cert, with_cert);
        std::fs::write(dir.path().join("c.pem"), "y").unwrap();
        assert_ne!(with_cert, fingerprint(&file));
    }
}
