//! [`ReloadManagerBuilder`]: the options of a [`ReloadManager`], its initial load and the
//! start of its triggers (file watch, signals). [`ReloadManager::builder`] is defined here
//! too, so that the builder depends on the manager and not the other way round.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use vsanobs_core::Registry;

use crate::config_format::ConfigFormat;
use crate::engine::Engine;
use crate::error::{BoxError, BuildError, ReloadError};
use crate::heap::MemSnapshot;
use crate::manager::ReloadManager;
use crate::metrics::{DEFAULT_DURATION_BUCKETS, ReloadMetrics, ReloadResult, hash53};
use crate::pipeline::{Hook, Parser, Pipeline, Staged, run_bounded};
use crate::reloader::Reloader;
#[cfg(unix)]
use crate::signals::SignalTask;
use crate::trigger::Trigger;
use crate::watch::WatchTask;
use vsanobs_core::hex;

/// Default cap on the config file size: 4 MiB.
pub const DEFAULT_MAX_SIZE: u64 = 4 * 1024 * 1024;
/// Default whole-reload timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Default quiet period after the last file event before a watch-triggered reload.
pub const DEFAULT_DEBOUNCE: Duration = Duration::from_millis(250);
/// Default time the workers of a replaced generation get before they are reported as stale.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(30);

impl<C: Send + Sync + 'static> ReloadManager<C> {
    /// A builder for a manager of the config file at `path`.
    pub fn builder(path: impl AsRef<Path>) -> ReloadManagerBuilder<C> {
        ReloadManagerBuilder {
            path: path.as_ref().to_path_buf(),
            parser: None,
            validate: None,
            post_apply: None,
            max_size: DEFAULT_MAX_SIZE,
            timeout: DEFAULT_TIMEOUT,
            debounce: DEFAULT_DEBOUNCE,
            grace: DEFAULT_GRACE,
            watch: true,
            signals: false,
            registry: None,
            buckets: DEFAULT_DURATION_BUCKETS.to_vec(),
            native: false,
            expected: None,
            #[cfg(feature = "signature")]
            signature: None,
        }
    }
}

/// Builds a [`ReloadManager`]; from [`ReloadManager::builder`].
#[must_use]
pub struct ReloadManagerBuilder<C> {
    path: PathBuf,
    parser: Option<Parser<C>>,
    validate: Option<Hook<C>>,
    post_apply: Option<Hook<C>>,
    max_size: u64,
    timeout: Duration,
    debounce: Duration,
    grace: Duration,
    watch: bool,
    signals: bool,
    registry: Option<Registry>,
    buckets: Vec<f64>,
    native: bool,
    expected: Option<String>,
    #[cfg(feature = "signature")]
    signature: Option<(ed25519_dalek::VerifyingKey, Option<PathBuf>)>,
}

impl<C> fmt::Debug for ReloadManagerBuilder<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReloadManagerBuilder")
            .field("path", &self.path)
            .field("max_size", &self.max_size)
            .field("timeout", &self.timeout)
            .field("debounce", &self.debounce)
            .field("watch", &self.watch)
            .field("signals", &self.signals)
            .finish_non_exhaustive()
    }
}

impl<C: Send + Sync + 'static> ReloadManagerBuilder<C> {
    /// Parses the file with a serde format.
    pub fn format(mut self, format: ConfigFormat) -> Self
    where
        C: DeserializeOwned,
    {
        self.parser = Some(Arc::new(move |text: &str| format.parse::<C>(text)));
        self
    }

    /// Parses the file with the format its extension names (`.json`, `.yaml`/`.yml`,
    /// `.toml`); [`build`](Self::build) fails with [`BuildError::NoParser`] when there is none.
    pub fn format_from_extension(mut self) -> Self
    where
        C: DeserializeOwned,
    {
        self.parser = ConfigFormat::from_path(&self.path)
            .map(|format| -> Parser<C> { Arc::new(move |text: &str| format.parse::<C>(text)) });
        self
    }

    /// Parses the file with your own function.
    pub fn parser<E>(mut self, parse: impl Fn(&str) -> Result<C, E> + Send + Sync + 'static) -> Self
    where
        E: Into<BoxError>,
    {
        self.parser = Some(Arc::new(move |text: &str| parse(text).map_err(Into::into)));
        self
    }

    /// A check on the parsed config before it goes live; an error rejects the reload
    /// (`result="fail"`).
    pub fn validate<E>(
        mut self,
        check: impl Fn(&C) -> Result<(), E> + Send + Sync + 'static,
    ) -> Self
    where
        E: Into<BoxError>,
    {
        self.validate = Some(Arc::new(move |c: &C| check(c).map_err(Into::into)));
        self
    }

    /// A check run right after the new config went live (probe a backend, rebind a socket);
    /// an error puts the previous config back (`result="rollback"`).
    pub fn post_apply<E>(
        mut self,
        check: impl Fn(&C) -> Result<(), E> + Send + Sync + 'static,
    ) -> Self
    where
        E: Into<BoxError>,
    {
        self.post_apply = Some(Arc::new(move |c: &C| check(c).map_err(Into::into)));
        self
    }

    /// Largest accepted file, in bytes (default [`DEFAULT_MAX_SIZE`]).
    pub fn max_size(mut self, bytes: u64) -> Self {
        self.max_size = bytes;
        self
    }

    /// Whole-reload timeout (default [`DEFAULT_TIMEOUT`]); past it the old config stays live
    /// (`result="timeout"`).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Watch the file's directory and reload on changes (default on).
    pub fn watch(mut self, on: bool) -> Self {
        self.watch = on;
        self
    }

    /// Quiet period after the last file event before reloading (default [`DEFAULT_DEBOUNCE`]).
    pub fn debounce(mut self, quiet: Duration) -> Self {
        self.debounce = quiet;
        self
    }

    /// Reload on `SIGHUP` and `SIGUSR1` (default off; Unix only, ignored elsewhere).
    pub fn signals(mut self, on: bool) -> Self {
        self.signals = on;
        self
    }

    /// Time workers of a replaced generation get before they are reported as stale
    /// (default [`DEFAULT_GRACE`]).
    pub fn grace_period(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// Exports the reload metrics in `registry`.
    pub fn register(mut self, registry: &Registry) -> Self {
        self.registry = Some(registry.clone());
        self
    }

    /// Bucket bounds of `hot_reload_duration_seconds` (default 0.01 0.1 1 5).
    pub fn duration_buckets(mut self, bounds: impl IntoIterator<Item = f64>) -> Self {
        self.buckets = bounds.into_iter().collect();
        self
    }

    /// Whether `hot_reload_duration_seconds` also keeps native buckets (default off): a
    /// [`NativeHistogram`](vsanobs_core::NativeHistogram) at schema 3 beside the classic
    /// buckets, served to scrapers that ask for the protobuf format.
    pub fn native_histograms(mut self, on: bool) -> Self {
        self.native = on;
        self
    }

    /// Reject any file whose SHA-256 is not this digest (64 hex digits); see also
    /// [`ReloadManager::set_expected_sha256`].
    pub fn expected_sha256(mut self, hex_digest: impl Into<String>) -> Self {
        self.expected = Some(hex_digest.into());
        self
    }

    /// Require an ed25519 signature of the file's bytes, verified with `key`. The signature
    /// is read from `<path>.sig` (64 raw bytes or 128 hex digits) unless
    /// [`signature_path`](Self::signature_path) says otherwise.
    #[cfg(feature = "signature")]
    #[cfg_attr(docsrs, doc(cfg(feature = "signature")))]
    pub fn signature_key(mut self, key: ed25519_dalek::VerifyingKey) -> Self {
        let path = self.signature.take().and_then(|(_, p)| p);
        self.signature = Some((key, path));
        self
    }

    /// Where the signature file is (with [`signature_key`](Self::signature_key)).
    #[cfg(feature = "signature")]
    #[cfg_attr(docsrs, doc(cfg(feature = "signature")))]
    pub fn signature_path(mut self, path: impl AsRef<Path>) -> Self {
        if let Some((_, p)) = &mut self.signature {
            *p = Some(path.as_ref().to_path_buf());
        }
        self
    }

    /// Loads the file, registers the metrics and starts the watcher and signal thread.
    ///
    /// # Errors
    /// [`BuildError`]: the initial load failed (with the [`ReloadError`] as source), no parser
    /// was set, a metric name is taken, or the watcher or signal handler could not start.
    pub fn build(self) -> Result<ReloadManager<C>, BuildError> {
        let parser = self.parser.ok_or_else(|| BuildError::NoParser {
            path: self.path.clone(),
        })?;
        let expected = match &self.expected {
            Some(h) => Some(hex::decode::<32>(h).ok_or(BuildError::BadDigest)?),
            None => None,
        };
        let file_name = self.path.file_name().map(ToOwned::to_owned);
        let Some(file_name) = file_name else {
            return Err(BuildError::BadPath { path: self.path });
        };
        #[cfg(feature = "signature")]
        let signature = self.signature.map(|(key, p)| {
            let p = p.unwrap_or_else(|| {
                let mut s = self.path.clone().into_os_string();
                s.push(".sig");
                PathBuf::from(s)
            });
            (key, p)
        });
        let pipeline = Arc::new(Pipeline {
            path: self.path.clone(),
            parser,
            validate: self.validate,
            post_apply: self.post_apply,
            max_size: self.max_size,
            #[cfg(feature = "signature")]
            signature,
        });
        let metrics = ReloadMetrics::new(&self.buckets, self.native);
        // Initial load: the same stages, counted like any reload.
        let started = Instant::now();
        let mem = MemSnapshot::now();
        let staged = {
            let p = Arc::clone(&pipeline);
            run_bounded(started + self.timeout, self.timeout, move || {
                let staged = p.stage(None, expected)?;
                if let (Staged::Ready { value, .. }, Some(check)) = (&staged, &p.post_apply) {
                    check(value).map_err(|source| ReloadError::Rollback { source })?;
                }
                Ok(staged)
            })
        };
        let (digest, value) = match staged {
            Ok(Staged::Ready { digest, value }) => (digest, value),
            Ok(Staged::Unchanged) => {
                // Not reachable: there is no live digest to compare with yet.
                return Err(BuildError::Initial(ReloadError::Panicked(
                    "initial load reported unchanged bytes".into(),
                )));
            }
            Err(e) => {
                metrics.record(e.result(), started.elapsed().as_secs_f64());
                return Err(BuildError::Initial(e));
            }
        };
        metrics.record(ReloadResult::Success, started.elapsed().as_secs_f64());
        metrics.hash.set(hash53(&digest) as i64);
        metrics.heap_delta.set(mem.delta());
        if let Some(registry) = &self.registry {
            metrics.register(registry).map_err(BuildError::Register)?;
        }
        let engine = Arc::new(Engine::new(
            value,
            digest,
            pipeline,
            self.timeout,
            expected,
            metrics,
            self.grace,
        ));
        tracing::info!(
            trigger = Trigger::Initial.as_str(),
            sha256 = %hex::encode(&digest),
            "config loaded from {}",
            self.path.display()
        );
        let watch = if self.watch {
            Some(WatchTask::start(
                reloader(&engine),
                &self.path,
                file_name,
                self.debounce,
            )?)
        } else {
            None
        };
        #[cfg(unix)]
        let signals = if self.signals {
            Some(SignalTask::start(reloader(&engine))?)
        } else {
            None
        };
        Ok(ReloadManager::new(
            engine,
            watch,
            #[cfg(unix)]
            signals,
        ))
    }
}

/// A [`Reloader`] for the triggers of `engine`; it does not keep the engine alive.
fn reloader<C: Send + Sync + 'static>(engine: &Arc<Engine<C>>) -> Reloader {
    let engine: Weak<Engine<C>> = Arc::downgrade(engine);
    Reloader::new(engine)
}
