//! [`Trigger`]: what started a reload.

/// What started a reload (shown in log lines).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Trigger {
    /// The load at build time.
    Initial,
    /// [`ReloadManager::reload`](crate::ReloadManager::reload) or
    /// [`ConfigHandle::reload`](crate::ConfigHandle::reload).
    Manual,
    /// A file event in the watched directory.
    Watch,
    /// A signal (`SIGHUP` or `SIGUSR1`), with its number.
    Signal(i32),
    /// The `POST /-/reload` route.
    Http,
}

impl Trigger {
    /// The `trigger` field of log lines.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Trigger::Initial => "initial",
            Trigger::Manual => "manual",
            Trigger::Watch => "watch",
            Trigger::Signal(_) => "signal",
            Trigger::Http => "http",
        }
    }
}
