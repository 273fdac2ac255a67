//! `SIGHUP` and `SIGUSR1` trigger a reload (Unix).

use signal_hook::consts::{SIGHUP, SIGUSR1};
use signal_hook::iterator::{Handle, Signals};

use crate::error::BuildError;
use crate::reloader::Reloader;
use crate::trigger::Trigger;

/// The signal thread; dropping it closes the signal iterator and ends the thread.
pub(crate) struct SignalTask {
    handle: Handle,
}

impl std::fmt::Debug for SignalTask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SignalTask")
    }
}

impl SignalTask {
    pub(crate) fn start(reloader: Reloader) -> Result<Self, BuildError> {
        let mut signals = Signals::new([SIGHUP, SIGUSR1]).map_err(BuildError::Signal)?;
        let handle = signals.handle();
        std::thread::Builder::new()
            .name("hot-reload-signal".into())
            .spawn(move || {
                for signal in signals.forever() {
                    if reloader.reload(Trigger::Signal(signal)).is_none() {
                        // The manager is gone.
                        return;
                    }
                }
            })
            .map_err(BuildError::Spawn)?;
        Ok(SignalTask { handle })
    }
}

impl Drop for SignalTask {
    fn drop(&mut self) {
        self.handle.close();
    }
}
