//! # vsanobs-hotreload
//!
//! Instrumented, atomic configuration reload. A [`ReloadManager`] loads your config type from
//! a YAML, TOML or JSON file (or with your own parser), keeps the live value behind an
//! `arc-swap` so every read is lock-free, and reloads it when the file changes (the parent
//! directory is watched, so Kubernetes ConfigMap swaps and editor save-by-rename are seen),
//! on `SIGHUP`/`SIGUSR1`, on `POST /-/reload` (features `axum`, `actix`) or when you call
//! [`ReloadManager::reload`].
//!
//! Each reload runs: read (size cap, UTF-8 only) → SHA-256 → optional integrity check
//! (expected digest, ed25519 signature file) → parse → your validation hook → atomic swap →
//! optional post-apply check → rollback if that check fails. A failure of any kind leaves the
//! previous value serving, is counted in `hot_reload_updates_total{result}` and logged with
//! the reason. The alert rules and Grafana dashboard that go with the metrics are generated
//! from the same metric table ([`artifacts`]).
//!
//! ## Getting started
//!
//! ```
//! # #[cfg(feature = "yaml")]
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use vsanobs_core::Registry;
//! use vsanobs_hotreload::{ConfigFormat, ReloadManager};
//!
//! #[derive(serde::Deserialize)]
//! struct Config { greeting: String }
//!
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("app.yaml");
//! std::fs::write(&path, "greeting: hello\n")?;
//!
//! let registry = Registry::new();
//! let manager = ReloadManager::<Config>::builder(&path)
//!     .format(ConfigFormat::Yaml)
//!     .register(&registry)
//!     .build()?; // watches the directory by default
//! let config = manager.handle(); // cheap to clone, hand it to every task
//! assert_eq!(config.load().greeting, "hello");
//!
//! std::fs::write(&path, "greeting: bonjour\n")?;
//! manager.reload()?; // or wait for the watcher
//! assert_eq!(config.load().greeting, "bonjour");
//! # Ok(()) }
//! # #[cfg(not(feature = "yaml"))]
//! # fn main() {}
//! ```
//!
//! The `reload-demo` example of the workspace is a service built this way.
//!
//! ## Feature flags
//!
//! | feature | adds | pulls in |
//! |---|---|---|
//! | `yaml` (default) | [`ConfigFormat::Yaml`] | `serde_yaml_ng` |
//! | `toml` (default) | [`ConfigFormat::Toml`] | `toml` (parser only) |
//! | `signature` | `ReloadManagerBuilder::signature_key`: ed25519 signature file check | `ed25519-dalek` |
//! | `axum` | `http::axum_router`: `POST /-/reload` | `axum`, `tokio` (`rt`) |
//! | `actix` | `http::actix_service`: `POST /-/reload` | `actix-web` |
//!
//! JSON (`serde_json`), the file watch (`notify`) and signals (`signal-hook`, Unix) are
//! always available.
//!
//! ## Metrics
//!
//! The families of [`metrics::METRICS`]; every `result` value is exported at 0 from the
//! start, and the initial load counts as a successful reload.
//!
//! ## MSRV
//!
//! Rust 1.85 (edition 2024).

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod artifacts;
mod builder;
mod config_format;
mod engine;
mod error;
mod handle;
mod heap;
#[cfg(any(feature = "axum", feature = "actix"))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "axum", feature = "actix"))))]
pub mod http;
mod manager;
pub mod metrics;
mod outcome;
mod pipeline;
mod reloader;
#[cfg(unix)]
mod signals;
#[cfg(feature = "signature")]
mod signature;
mod trigger;
mod watch;
pub mod workers;

pub use builder::{
    DEFAULT_DEBOUNCE, DEFAULT_GRACE, DEFAULT_MAX_SIZE, DEFAULT_TIMEOUT, ReloadManagerBuilder,
};
pub use config_format::ConfigFormat;
pub use error::{BoxError, BuildError, ReloadError};
pub use handle::{CachedConfig, ConfigHandle};
pub use manager::ReloadManager;
pub use metrics::ReloadResult;
pub use outcome::{ReloadOutcome, ReloadStatus};
pub use trigger::Trigger;
pub use workers::{Cancelled, WorkerGuard};
