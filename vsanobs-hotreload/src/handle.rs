//! [`ConfigHandle`] and [`CachedConfig`]: read views of the live config that do not keep the
//! manager alive.
//!
//! ## Note
//! [`ConfigHandle::load`] is an `arc-swap` load: no lock, no allocation.
//! [`CachedConfig::load`] is one atomic load and a pointer compare while the config is
//! unchanged.

use std::fmt;
use std::sync::{Arc, Weak};

use arc_swap::{ArcSwap, Guard};

use crate::engine::Engine;
use crate::error::ReloadError;
use crate::outcome::ReloadOutcome;
#[cfg(any(feature = "axum", feature = "actix"))]
use crate::reloader::Reloader;
use crate::trigger::Trigger;
use crate::workers::WorkerGuard;

/// A cheap, cloneable handle to the live config of a [`ReloadManager`](crate::ReloadManager).
///
/// It holds the config cell and a `Weak` reference to the manager: it never keeps the
/// manager (its watcher, its signal thread) alive, and once the manager is gone it keeps
/// serving the last live value while [`reload`](Self::reload) returns
/// [`ReloadError::Closed`].
pub struct ConfigHandle<C> {
    cell: Arc<ArcSwap<C>>,
    manager: Weak<Engine<C>>,
}

impl<C> Clone for ConfigHandle<C> {
    fn clone(&self) -> Self {
        ConfigHandle {
            cell: Arc::clone(&self.cell),
            manager: Weak::clone(&self.manager),
        }
    }
}

impl<C> fmt::Debug for ConfigHandle<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConfigHandle")
            .field("manager_alive", &(self.manager.strong_count() > 0))
            .finish()
    }
}

impl<C> ConfigHandle<C> {
    /// A handle to the live value in `cell`, reloading through `manager`.
    pub(crate) fn new(cell: Arc<ArcSwap<C>>, manager: Weak<Engine<C>>) -> Self {
        ConfigHandle { cell, manager }
    }
}

impl<C: Send + Sync + 'static> ConfigHandle<C> {
    /// Reads the live config: lock-free, allocation-free. Keep the guard short-lived; use
    /// [`load_full`](Self::load_full) to hold the value longer.
    #[inline]
    pub fn load(&self) -> Guard<Arc<C>> {
        self.cell.load()
    }

    /// The live config as an owned `Arc` (one reference-count increment).
    pub fn load_full(&self) -> Arc<C> {
        self.cell.load_full()
    }

    /// A per-thread (or per-task) cache of the live config whose [`load`](CachedConfig::load)
    /// is one atomic load and a pointer compare while the config is unchanged: the cheapest
    /// way to read the config on a hot path.
    pub fn cached(&self) -> CachedConfig<C> {
        CachedConfig {
            cache: arc_swap::Cache::new(Arc::clone(&self.cell)),
        }
    }

    /// Reloads through the manager.
    ///
    /// # Errors
    /// [`ReloadError::Closed`] when the manager was dropped, otherwise as
    /// [`ReloadManager::reload`](crate::ReloadManager::reload).
    pub fn reload(&self) -> Result<ReloadOutcome, ReloadError> {
        let engine = self.manager.upgrade().ok_or(ReloadError::Closed)?;
        engine.reload(Trigger::Manual)
    }

    /// A [`Reloader`] for a trigger that reloads through this handle's manager.
    #[cfg(any(feature = "axum", feature = "actix"))]
    pub(crate) fn reloader(&self) -> Reloader {
        Reloader::new(self.manager.clone())
    }

    /// Registers a worker with the live generation, or `None` when the manager is gone.
    pub fn worker(&self) -> Option<WorkerGuard> {
        self.manager.upgrade().map(|m| m.worker())
    }

    /// True while the manager exists.
    pub fn is_manager_alive(&self) -> bool {
        self.manager.strong_count() > 0
    }
}

/// A cached view of the live config, from [`ConfigHandle::cached`]. Keep one per thread or
/// task; it holds the last value it saw (so an idle cache keeps a replaced config alive until
/// its next [`load`](Self::load)).
///
/// # Example
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use vsanobs_hotreload::{ConfigFormat, ReloadManager};
///
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("limit.json");
/// std::fs::write(&path, "10")?;
/// let manager = ReloadManager::<u32>::builder(&path).format(ConfigFormat::Json).watch(false).build()?;
/// let mut limit = manager.handle().cached();
/// assert_eq!(**limit.load(), 10);
/// std::fs::write(&path, "20")?;
/// manager.reload()?;
/// assert_eq!(**limit.load(), 20);
/// # Ok(()) }
/// ```
pub struct CachedConfig<C> {
    cache: arc_swap::Cache<Arc<ArcSwap<C>>, Arc<C>>,
}

impl<C> Clone for CachedConfig<C> {
    fn clone(&self) -> Self {
        CachedConfig {
            cache: self.cache.clone(),
        }
    }
}

impl<C> fmt::Debug for CachedConfig<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CachedConfig")
    }
}

impl<C> CachedConfig<C> {
    /// The live config: one atomic load and a compare when unchanged, a reference-count
    /// update after a reload.
    #[inline]
    pub fn load(&mut self) -> &Arc<C> {
        self.cache.load()
    }
}
