//! [`ReloadManager`]: loads a config file, keeps the live value in an `ArcSwap`, and reloads
//! it on file changes, signals, HTTP or [`ReloadManager::reload`].

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use arc_swap::Guard;

use crate::engine::Engine;
use crate::error::ReloadError;
use crate::handle::ConfigHandle;
use crate::outcome::ReloadOutcome;
#[cfg(unix)]
use crate::signals::SignalTask;
use crate::trigger::Trigger;
use crate::watch::WatchTask;
use crate::workers::WorkerGuard;
use vsanobs_core::hex;

/// Loads a config file of type `C` and keeps it live; from [`ReloadManager::builder`].
///
/// Dropping the manager stops its file watcher and signal thread; [`ConfigHandle`]s keep
/// serving the last live value.
///
/// # Example
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use vsanobs_core::{Format, Registry};
/// use vsanobs_hotreload::{ConfigFormat, ReloadManager, ReloadResult, ReloadStatus};
///
/// #[derive(serde::Deserialize)]
/// struct Cfg { port: u16 }
///
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("app.json");
/// std::fs::write(&path, r#"{"port": 8080}"#)?;
///
/// let registry = Registry::new();
/// let manager = ReloadManager::<Cfg>::builder(&path)
///     .format(ConfigFormat::Json)
///     .validate(|c: &Cfg| if c.port == 0 { Err("port must not be 0") } else { Ok(()) })
///     .register(&registry)
///     .watch(false)
///     .build()?;
/// let config = manager.handle();
/// assert_eq!(config.load().port, 8080);
///
/// std::fs::write(&path, r#"{"port": 0}"#)?;
/// let err = manager.reload().unwrap_err();
/// assert_eq!(err.result(), ReloadResult::Fail);
/// assert_eq!(config.load().port, 8080); // the old value keeps serving
///
/// std::fs::write(&path, r#"{"port": 9090}"#)?;
/// assert_eq!(manager.reload()?.status, ReloadStatus::Applied);
/// assert_eq!(config.load().port, 9090);
///
/// let text = registry.encode_to_string(Format::PrometheusText);
/// assert!(text.contains("hot_reload_updates_total{result=\"fail\"} 1\n"));
/// assert!(text.contains("hot_reload_total 2\n")); // the initial load counts
/// # Ok(()) }
/// ```
///
/// ## Note
/// Reading the live config is an `arc-swap` load: no lock, no allocation. A reload runs its
/// read/parse/validate stages on a short-lived thread so that a timeout can abandon a stuck
/// parser while the old value keeps serving (an abandoned stage finishes on its own thread and
/// its result is dropped); reloads are rare, so the thread costs nothing that matters.
pub struct ReloadManager<C> {
    engine: Arc<Engine<C>>,
    _watch: Option<WatchTask>,
    #[cfg(unix)]
    _signals: Option<SignalTask>,
}

impl<C> ReloadManager<C> {
    /// A manager of `engine`; the triggers stop when it is dropped.
    pub(crate) fn new(
        engine: Arc<Engine<C>>,
        watch: Option<WatchTask>,
        #[cfg(unix)] signals: Option<SignalTask>,
    ) -> Self {
        ReloadManager {
            engine,
            _watch: watch,
            #[cfg(unix)]
            _signals: signals,
        }
    }
}

impl<C> fmt::Debug for ReloadManager<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never wait for a running reload just to print.
        let live = self.engine.try_live();
        f.debug_struct("ReloadManager")
            .field("path", &self.engine.path())
            .field("generation", &live.map(|(generation, _)| generation))
            .field("sha256", &live.map(|(_, digest)| hex::encode(&digest)))
            .field("watching", &self._watch.is_some())
            .finish()
    }
}

impl<C: Send + Sync + 'static> ReloadManager<C> {
    /// A cheap, cloneable handle to the live config.
    pub fn handle(&self) -> ConfigHandle<C> {
        ConfigHandle::new(Arc::clone(self.engine.cell()), Arc::downgrade(&self.engine))
    }

    /// Reads the live config (an `arc-swap` load).
    pub fn load(&self) -> Guard<Arc<C>> {
        self.engine.cell().load()
    }

    /// Reloads now: read, hash, verify, parse, validate, swap, post-apply check.
    ///
    /// # Errors
    /// A [`ReloadError`] saying why; the previous config stays live. The attempt is counted
    /// under the error's [`result`](ReloadError::result) and logged.
    pub fn reload(&self) -> Result<ReloadOutcome, ReloadError> {
        self.engine.reload(Trigger::Manual)
    }

    /// Registers a worker with the live generation; see [`WorkerGuard`].
    pub fn worker(&self) -> WorkerGuard {
        self.engine.worker()
    }

    /// The live generation (1 for the initial config, +1 per applied reload).
    pub fn generation(&self) -> u64 {
        self.engine.generation()
    }

    /// SHA-256 of the live config's bytes.
    pub fn sha256(&self) -> [u8; 32] {
        self.engine.sha256()
    }

    /// Workers of replaced generations that were still alive after the grace period.
    pub fn stale_workers(&self) -> u64 {
        self.engine.stale_workers()
    }

    /// Sets (or clears) the SHA-256 the next reloads must match.
    pub fn set_expected_sha256(&self, digest: Option<[u8; 32]>) {
        self.engine.set_expected_sha256(digest);
    }

    /// The config file path.
    pub fn path(&self) -> &Path {
        self.engine.path()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn _assert_send_sync() {
        fn is<T: Send + Sync>() {}
        is::<ReloadManager<u32>>();
        is::<ConfigHandle<u32>>();
        is::<WorkerGuard>();
        is::<ReloadError>();
    }
}
