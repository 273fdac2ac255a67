//! [`Reloader`]: how the triggers (file watch, signals, `POST /-/reload`) ask for a reload.
//!
//! A trigger holds a `Reloader`, never the manager: the reload engine implements [`Reload`],
//! the manager hands each trigger a `Reloader` that points at it, and the dependency goes one
//! way (manager → trigger → `Reloader`). A `Reloader` holds a `Weak`, so a trigger never keeps
//! the manager alive.

use std::fmt;
use std::sync::Weak;

use crate::error::ReloadError;
use crate::outcome::ReloadOutcome;
use crate::trigger::Trigger;

/// Something that runs a reload: the manager's engine, whatever its config type.
pub(crate) trait Reload: Send + Sync {
    /// Runs (or joins) a reload started by `trigger`.
    fn reload(&self, trigger: Trigger) -> Result<ReloadOutcome, ReloadError>;
}

/// A weak, cloneable, type-erased way to ask the manager for a reload.
#[derive(Clone)]
pub(crate) struct Reloader {
    target: Weak<dyn Reload>,
}

impl Reloader {
    pub(crate) fn new(target: Weak<dyn Reload>) -> Self {
        Reloader { target }
    }

    /// Reloads, or `None` when the manager is gone (the trigger should stop).
    pub(crate) fn reload(&self, trigger: Trigger) -> Option<Result<ReloadOutcome, ReloadError>> {
        let target = self.target.upgrade()?;
        Some(target.reload(trigger))
    }
}

impl fmt::Debug for Reloader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reloader")
            .field("manager_alive", &(self.target.strong_count() > 0))
            .finish()
    }
}
