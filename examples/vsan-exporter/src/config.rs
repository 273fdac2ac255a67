//! The exporter's configuration: from the environment (`VCENTER_URL`, `VCENTER_USER`,
//! `VCENTER_PASSWORD` or `VCENTER_PASSWORD_FILE`) or a JSON file listing several vCenters
//! and clusters. Passwords never come from the command line.
//!
//! # Example
//!
//! ```
//! use vsan_exporter::config::FileConfig;
//! let c: FileConfig = serde_json::from_str(r#"{"vcenters":[{"name":"vc1","url":"https://vc1",
//!     "user":"monitor@vsphere.local","password_env":"VC1_PASSWORD","clusters":["prod"]}]}"#).unwrap();
//! assert_eq!(c.vcenters[0].clusters.as_deref(), Some(&["prod".to_string()][..]));
//! assert_eq!(format!("{:?}", c).contains("VC1_PASSWORD"), true);
//! ```

use std::path::PathBuf;
use std::time::Duration;

use crate::client::{ClientOptions, InventoryPaging};
use crate::secret::{Credentials, Secret};
use crate::shard::{ShardError, Sharding};

/// One vCenter in the config file.
#[derive(Clone, Debug, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VcenterConfig {
    /// The `vcenter` label value.
    pub name: String,
    /// Base URL.
    pub url: String,
    /// User name.
    pub user: String,
    /// File holding the password.
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// Environment variable holding the password.
    #[serde(default)]
    pub password_env: Option<String>,
    /// Skip TLS verification (logged, and exported as `vsan_exporter_insecure_tls 1`).
    #[serde(default)]
    pub insecure: bool,
    /// Extra CA certificate (PEM).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Only these clusters (names); all vSAN clusters when absent.
    #[serde(default)]
    pub clusters: Option<Vec<String>>,
    /// `maxObjects` of each inventory page (default 500).
    #[serde(default)]
    pub inventory_page_size: Option<u32>,
}

/// The config file.
#[derive(Clone, Debug, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// vCenters to collect from.
    pub vcenters: Vec<VcenterConfig>,
    /// Seconds between collections (default 60).
    #[serde(default)]
    pub interval_seconds: Option<u64>,
    /// Per-cluster collection timeout in seconds (default 30).
    #[serde(default)]
    pub cluster_timeout_seconds: Option<u64>,
    /// Bound on concurrent vCenter requests (default 16).
    #[serde(default)]
    pub max_concurrent_requests: Option<usize>,
    /// This replica's shard (from 0); overrides `--shard`, and follows reloads.
    #[serde(default)]
    pub shard: Option<u32>,
    /// Number of shards the clusters are split into; overrides `--total-shards`, and
    /// follows reloads.
    #[serde(default)]
    pub total_shards: Option<u32>,
    /// Seconds between vSAN health queries of a cluster (default 300); overrides
    /// `--collect.health-interval`.
    #[serde(default)]
    pub health_interval_seconds: Option<u64>,
    /// Query vSAN health (default true); false is `--no-collect.health`.
    #[serde(default)]
    pub collect_health: Option<bool>,
    /// Query vSAN capacity every collection (default true); false is
    /// `--no-collect.capacity`.
    #[serde(default)]
    pub collect_capacity: Option<bool>,
    /// Query vSAN resync every collection (default true); false is `--no-collect.resync`.
    #[serde(default)]
    pub collect_resync: Option<bool>,
    /// Remote write of every vSAN interval (`--remote-write.*` flags override it); read
    /// once at start.
    #[serde(default)]
    pub remote_write: Option<RemoteWriteConfig>,
}

/// The config file's `remote_write` object: the `--remote-write.*` flags as keys.
///
/// ```
/// use vsan_exporter::config::FileConfig;
/// let c: FileConfig = serde_json::from_str(r#"{"vcenters":[],"remote_write":{
///     "url":"http://prometheus:9090/api/v1/write","pool_size":500000,
///     "basic_auth":{"username":"vsan","password_file":"/run/secrets/rw"}}}"#).unwrap();
/// let rw = c.remote_write.unwrap();
/// assert_eq!((rw.url.as_str(), rw.pool_size), ("http://prometheus:9090/api/v1/write", Some(500_000)));
/// assert_eq!(rw.basic_auth.unwrap().username, "vsan");
/// ```
#[derive(Clone, Debug, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteWriteConfig {
    /// The receiver's URL.
    pub url: String,
    /// `--remote-write.pool-size`.
    #[serde(default)]
    pub pool_size: Option<usize>,
    /// `--remote-write.max-series`.
    #[serde(default)]
    pub max_series: Option<usize>,
    /// `--remote-write.batch-size`.
    #[serde(default)]
    pub batch_size: Option<usize>,
    /// `--remote-write.bearer-token-file`.
    #[serde(default)]
    pub bearer_token_file: Option<PathBuf>,
    /// `--remote-write.basic-auth.username` and `--remote-write.basic-auth.password-file`.
    #[serde(default)]
    pub basic_auth: Option<BasicAuthConfig>,
}

/// HTTP basic authentication for remote write; the password comes from a file.
#[derive(Clone, Debug, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BasicAuthConfig {
    /// The user.
    pub username: String,
    /// File holding the password.
    pub password_file: PathBuf,
}

impl FileConfig {
    /// `summary` with this file's health, capacity and resync keys applied over it.
    pub fn summary_options(
        &self,
        summary: crate::summary::SummaryOptions,
    ) -> crate::summary::SummaryOptions {
        crate::summary::SummaryOptions {
            health: self.collect_health.unwrap_or(summary.health),
            health_interval: self
                .health_interval_seconds
                .map_or(summary.health_interval, std::time::Duration::from_secs),
            capacity: self.collect_capacity.unwrap_or(summary.capacity),
            resync: self.collect_resync.unwrap_or(summary.resync),
        }
    }
}

/// Why a configuration is unusable. Never contains a password.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A required variable or field is missing.
    #[error("missing {0}")]
    Missing(&'static str),
    /// The password file could not be read.
    #[error("cannot read password file {path:?}")]
    PasswordFile {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The config file could not be read.
    #[error("cannot read config file {path:?}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The config file is not valid.
    #[error("invalid config file {path:?}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
    /// The shard settings are unusable (`shard` not below `total_shards`, or no shards).
    #[error("invalid {from}")]
    Shard {
        /// Where the settings came from (`--shard/--total-shards`, or the config file's keys).
        from: &'static str,
        /// The cause.
        #[source]
        source: ShardError,
    },
}

/// The sharding given by `--shard` and `--total-shards` (defaults 0 and 1: no sharding).
///
/// # Errors
/// [`ConfigError::Shard`] when `total_shards` is 0 or `shard` is not below it.
pub fn sharding_from_flags(shard: u32, total_shards: u32) -> Result<Sharding, ConfigError> {
    Sharding::new(shard, total_shards).map_err(|source| ConfigError::Shard {
        from: "--shard/--total-shards",
        source,
    })
}

/// A resolved vCenter target.
#[derive(Clone, Debug)]
pub struct Target {
    /// The `vcenter` label value.
    pub name: String,
    /// Connection options (credentials inside, printed as `<secret>`).
    pub client: ClientOptions,
    /// Cluster name filter.
    pub clusters: Option<Vec<String>>,
}

fn password(file: Option<&PathBuf>, env: Option<&str>) -> Result<Secret, ConfigError> {
    if let Some(path) = file {
        return Secret::from_file(path).map_err(|source| ConfigError::PasswordFile {
            path: path.clone(),
            source,
        });
    }
    if let Some(var) = env {
        return std::env::var(var)
            .map(Secret::new)
            .map_err(|_| ConfigError::Missing("password environment variable"));
    }
    Err(ConfigError::Missing(
        "password (password_file or password_env)",
    ))
}

impl FileConfig {
    /// Reads and parses a config file.
    ///
    /// # Errors
    /// [`ConfigError::Read`] or [`ConfigError::Parse`].
    pub fn load(path: &std::path::Path) -> Result<FileConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        serde_json::from_str(&text).map_err(|source| ConfigError::Parse {
            path: path.to_owned(),
            source,
        })
    }

    /// The sharding to use: the file's `shard` and `total_shards` where given, each
    /// overriding its flag in `flags`.
    ///
    /// # Errors
    /// [`ConfigError::Shard`] when the result is unusable.
    ///
    /// # Example
    ///
    /// ```
    /// use vsan_exporter::config::{ConfigError, FileConfig};
    /// use vsan_exporter::shard::Sharding;
    /// let c: FileConfig = serde_json::from_str(r#"{"vcenters":[],"shard":2,"total_shards":3}"#).unwrap();
    /// assert_eq!(c.sharding(Sharding::default()).unwrap(), Sharding::new(2, 3).unwrap());
    /// let c: FileConfig = serde_json::from_str(r#"{"vcenters":[],"shard":2}"#).unwrap();
    /// let e = c.sharding(Sharding::default()).unwrap_err();
    /// assert!(matches!(e, ConfigError::Shard { .. }));
    /// assert_eq!(vsanobs_core::report::error_chain(&e),
    ///     "invalid shard/total_shards in the config file: shard 2 is out of range for 1 total shards: shards are numbered 0 to 0");
    /// ```
    pub fn sharding(&self, flags: Sharding) -> Result<Sharding, ConfigError> {
        Sharding::new(
            self.shard.unwrap_or(flags.shard()),
            self.total_shards.unwrap_or(flags.total_shards()),
        )
        .map_err(|source| ConfigError::Shard {
            from: "shard/total_shards in the config file",
            source,
        })
    }

    /// What a reload checks before the new file replaces the old one: its sharding (with
    /// `flags` for the keys it does not set) and its targets (passwords resolvable).
    ///
    /// # Errors
    /// [`ConfigError::Shard`], or a missing or unreadable password.
    pub fn check(&self, flags: Sharding, request_timeout: Duration) -> Result<(), ConfigError> {
        self.sharding(flags)?;
        self.targets(request_timeout).map(|_| ())
    }

    /// Resolves passwords and builds the targets.
    ///
    /// # Errors
    /// A missing or unreadable password.
    pub fn targets(&self, request_timeout: Duration) -> Result<Vec<Target>, ConfigError> {
        self.vcenters
            .iter()
            .map(|v| {
                Ok(Target {
                    name: v.name.clone(),
                    client: ClientOptions {
                        url: v.url.clone(),
                        credentials: Credentials {
                            user: v.user.clone(),
                            password: password(
                                v.password_file.as_ref(),
                                v.password_env.as_deref(),
                            )?,
                        },
                        insecure: v.insecure,
                        ca_file: v.ca_file.clone(),
                        request_timeout,
                        paging: InventoryPaging {
                            page_size: v
                                .inventory_page_size
                                .unwrap_or(InventoryPaging::default().page_size),
                            ..InventoryPaging::default()
                        },
                    },
                    clusters: v.clusters.clone(),
                })
            })
            .collect()
    }
}

/// The target described by `VCENTER_URL`, `VCENTER_USER` and `VCENTER_PASSWORD` or
/// `VCENTER_PASSWORD_FILE`; `Ok(None)` when `VCENTER_URL` is unset.
///
/// # Errors
/// `VCENTER_URL` set but the user or password missing.
pub fn target_from_env(
    insecure: bool,
    ca_file: Option<PathBuf>,
    request_timeout: Duration,
    paging: InventoryPaging,
) -> Result<Option<Target>, ConfigError> {
    let Ok(url) = std::env::var("VCENTER_URL") else {
        return Ok(None);
    };
    let user = std::env::var("VCENTER_USER").map_err(|_| ConfigError::Missing("VCENTER_USER"))?;
    let file = std::env::var_os("VCENTER_PASSWORD_FILE").map(PathBuf::from);
    let password = if file.is_some() {
        password(file.as_ref(), None)?
    } else {
        password(None, Some("VCENTER_PASSWORD"))?
    };
    let name = url
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .split(['/', ':'])
        .next()
        .unwrap_or("vcenter")
        .to_owned();
    Ok(Some(Target {
        name,
        client: ClientOptions {
            url,
            credentials: Credentials { user, password },
            insecure,
            ca_file,
            request_timeout,
            paging,
        },
        clusters: None,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::summary::SummaryOptions;

    #[test]
    fn summary_keys_override_the_flags_and_are_checked() {
        let cfg: FileConfig = serde_json::from_str(
            r#"{"vcenters": [], "health_interval_seconds": 900, "collect_resync": false}"#,
        )
        .expect("parses");
        let flags = SummaryOptions {
            capacity: false,
            ..SummaryOptions::default()
        };
        let got = cfg.summary_options(flags);
        assert_eq!(
            got,
            SummaryOptions {
                health: true,
                health_interval: std::time::Duration::from_secs(900),
                capacity: false,
                resync: false,
            }
        );
        let bad =
            serde_json::from_str::<FileConfig>(r#"{"vcenters": [], "collect_health": "yes"}"#);
        assert!(bad.is_err(), "a non-boolean is refused");
    }
}
