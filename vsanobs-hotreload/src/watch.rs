//! The file watch: the config file's parent directory is watched (not the file), so editor
//! save-by-rename and Kubernetes ConfigMap `..data` symlink swaps are seen; bursts of events
//! are debounced into one reload.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Weak;
use std::sync::mpsc;
use std::time::Duration;

use notify::{EventKind, RecursiveMode, Watcher as _};

use crate::error::BuildError;
use crate::manager::{Inner, Trigger};

/// Keeps the watcher alive; dropping it ends the debounce thread.
pub(crate) struct WatchTask {
    _watcher: notify::RecommendedWatcher,
}

impl std::fmt::Debug for WatchTask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WatchTask")
    }
}

/// True when an event in the directory may change what the config path resolves to.
fn relevant(event: &notify::Event, dir: &Path, file_name: &OsString) -> bool {
    if matches!(event.kind, EventKind::Access(_)) {
        return false;
    }
    event.paths.iter().any(|p| {
        if p == dir {
            // The directory itself was removed or moved.
            return true;
        }
        match p.file_name() {
            Some(name) => {
                name == file_name.as_os_str()
                    // Kubernetes: `..data` is renamed onto the new timestamped directory.
                    || name == "..data"
            }
            None => false,
        }
    })
}

impl WatchTask {
    pub(crate) fn start<C: Send + Sync + 'static>(
        inner: Weak<Inner<C>>,
        path: &Path,
        file_name: OsString,
        debounce: Duration,
    ) -> Result<Self, BuildError> {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let (tx, rx) = mpsc::channel::<notify::Result<notify::Event>>();
        let mut watcher = notify::recommended_watcher(move |ev| {
            let _ = tx.send(ev);
        })
        .map_err(|source| BuildError::Watch {
            path: dir.clone(),
            source,
        })?;
        watcher
            .watch(&dir, RecursiveMode::NonRecursive)
            .map_err(|source| BuildError::Watch {
                path: dir.clone(),
                source,
            })?;
        std::thread::Builder::new()
            .name("hot-reload-watch".into())
            .spawn(move || debounce_loop(&rx, &inner, &dir, &file_name, debounce))
            .map_err(BuildError::Spawn)?;
        Ok(WatchTask { _watcher: watcher })
    }
}

fn debounce_loop<C: Send + Sync + 'static>(
    rx: &mpsc::Receiver<notify::Result<notify::Event>>,
    inner: &Weak<Inner<C>>,
    dir: &Path,
    file_name: &OsString,
    debounce: Duration,
) {
    loop {
        // Wait for the first relevant event.
        match rx.recv() {
            Ok(Ok(ev)) if relevant(&ev, dir, file_name) => {}
            Ok(Ok(_)) => continue,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "config directory watch error: {e}");
                continue;
            }
            Err(_) => return,
        }
        // Then for quiet: every further event restarts the period.
        loop {
            match rx.recv_timeout(debounce) {
                Ok(Ok(_)) => continue,
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "config directory watch error: {e}");
                    continue;
                }
                Err(mpsc::RecvTimeoutError::Timeout) => break,
                Err(mpsc::RecvTimeoutError::Disconnected) => return,
            }
        }
        let Some(manager) = inner.upgrade() else {
            return;
        };
        // Errors are counted and logged by the reload itself.
        let _ = manager.reload(Trigger::Watch);
    }
}
