//! Human-readable text for failures that are logged or reported rather than returned: an
//! error with its chain of causes, and the payload of a caught panic.
//!
//! # Example
//!
//! ```
//! use vsanobs_core::report;
//!
//! #[derive(Debug, thiserror::Error)]
//! #[error("push failed")]
//! struct PushFailed(#[source] std::io::Error);
//!
//! let err = PushFailed(std::io::Error::other("connection reset"));
//! assert_eq!(report::error_chain(&err), "push failed: connection reset");
//!
//! let caught = std::panic::catch_unwind(|| panic!("index {} out of range", 7)).unwrap_err();
//! assert_eq!(report::panic_message(&*caught), "index 7 out of range");
//! ```
//!
//! ## Note
//! Both allocate the text they return; they are for error paths, never a record path.

use std::any::Any;
use std::error::Error;

/// `e` followed by each of its [`source`](Error::source)s, joined with `": "`.
///
/// # Example
///
/// ```
/// use vsanobs_core::report::error_chain;
///
/// #[derive(Debug, thiserror::Error)]
/// #[error("remote write failed")]
/// struct SendFailed(#[source] std::io::Error);
///
/// let e = SendFailed(std::io::Error::other("connection refused"));
/// assert_eq!(error_chain(&e), "remote write failed: connection refused");
/// assert_eq!(error_chain(&std::io::Error::other("timed out")), "timed out");
/// ```
pub fn error_chain(e: &dyn Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// The message of a panic payload (what [`std::panic::catch_unwind`] returns as its
/// error): the `&str` or `String` the panic was raised with, or `"non-string panic"` for
/// any other payload.
///
/// # Example
///
/// ```
/// use vsanobs_core::report::panic_message;
///
/// let caught = std::panic::catch_unwind(|| panic!("collector bug")).unwrap_err();
/// assert_eq!(panic_message(&*caught), "collector bug");
///
/// let caught = std::panic::catch_unwind(|| std::panic::panic_any(42)).unwrap_err();
/// assert_eq!(panic_message(&*caught), "non-string panic");
/// ```
pub fn panic_message(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic".to_owned())
}
