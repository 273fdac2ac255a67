//! The file watch: the config file's parent directory is watched (not the file), so editor
//! save-by-rename and Kubernetes ConfigMap `..data` symlink swaps are seen; bursts of events
//! are debounced into one reload.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use notify::{EventKind, RecursiveMode, Watcher as _};

use crate::error::BuildError;
use crate::reloader::Reloader;
use crate::trigger::Trigger;

enum Msg {
    Fs(notify::Result<notify::Event>),
    Stop,
}

/// The watch thread's handle; dropping it stops the thread (which owns the watcher).
pub(crate) struct WatchTask {
    stop: mpsc::Sender<Msg>,
}

impl Drop for WatchTask {
    fn drop(&mut self) {
        let _ = self.stop.send(Msg::Stop);
    }
}

impl std::fmt::Debug for WatchTask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WatchTask")
    }
}

/// How often a deleted directory is looked for again.
const REWATCH_EVERY: Duration = Duration::from_secs(1);

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
    pub(crate) fn start(
        reloader: Reloader,
        path: &Path,
        file_name: OsString,
        debounce: Duration,
    ) -> Result<Self, BuildError> {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let (tx, rx) = mpsc::channel::<Msg>();
        let fs_tx = tx.clone();
        let mut watcher = notify::recommended_watcher(move |ev| {
            let _ = fs_tx.send(Msg::Fs(ev));
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
        let task = Watch {
            watcher,
            rx,
            dir,
            file_name,
            debounce,
        };
        std::thread::Builder::new()
            .name("hot-reload-watch".into())
            .spawn(move || task.run(&reloader))
            .map_err(BuildError::Spawn)?;
        Ok(WatchTask { stop: tx })
    }
}

struct Watch {
    watcher: notify::RecommendedWatcher,
    rx: mpsc::Receiver<Msg>,
    dir: PathBuf,
    file_name: OsString,
    debounce: Duration,
}

enum Wait {
    /// An event that may change the config.
    Relevant,
    /// Another event in the directory (or a watch error).
    Other,
    /// Nothing arrived within the timeout.
    Quiet,
    Stop,
}

impl Watch {
    fn next(&self, timeout: Option<Duration>) -> Wait {
        let msg = match timeout {
            Some(t) => match self.rx.recv_timeout(t) {
                Ok(m) => m,
                Err(mpsc::RecvTimeoutError::Timeout) => return Wait::Quiet,
                Err(mpsc::RecvTimeoutError::Disconnected) => return Wait::Stop,
            },
            None => match self.rx.recv() {
                Ok(m) => m,
                Err(_) => return Wait::Stop,
            },
        };
        match msg {
            Msg::Stop => Wait::Stop,
            Msg::Fs(Ok(ev)) if relevant(&ev, &self.dir, &self.file_name) => Wait::Relevant,
            Msg::Fs(Ok(_)) => Wait::Other,
            Msg::Fs(Err(e)) => {
                tracing::warn!(error = %e, "config directory watch error: {e}");
                Wait::Other
            }
        }
    }

    fn run(mut self, reloader: &Reloader) {
        let mut watching = true;
        loop {
            if watching {
                // Wait for the first relevant event.
                match self.next(None) {
                    Wait::Stop => return,
                    Wait::Quiet | Wait::Other => continue,
                    Wait::Relevant => {}
                }
            } else {
                // The directory is gone: look for it again now and then.
                match self.next(Some(REWATCH_EVERY)) {
                    Wait::Stop => return,
                    Wait::Relevant => {}
                    Wait::Other => continue,
                    Wait::Quiet => {
                        if self
                            .watcher
                            .watch(&self.dir, RecursiveMode::NonRecursive)
                            .is_err()
                        {
                            continue;
                        }
                        watching = true;
                        tracing::info!("watching {} again", self.dir.display());
                    }
                }
            }
            // Then for quiet: every further event restarts the period.
            loop {
                match self.next(Some(self.debounce)) {
                    Wait::Stop => return,
                    Wait::Relevant | Wait::Other => continue,
                    Wait::Quiet => break,
                }
            }
            if watching && !self.dir.is_dir() {
                watching = false;
                let _ = self.watcher.unwatch(&self.dir);
                tracing::warn!(
                    "config directory {} was removed; watching for it to come back",
                    self.dir.display()
                );
            }
            // Errors are counted and logged by the reload itself.
            if reloader.reload(Trigger::Watch).is_none() {
                // The manager is gone.
                return;
            }
        }
    }
}
