//! Why a reload or a manager build failed.
//!
//! # Example
//!
//! ```
//! use vsanobs_hotreload::{ReloadError, ReloadResult};
//!
//! let err = ReloadError::TooLarge { path: "app.yaml".into(), size: 10, limit: 4 };
//! assert_eq!(err.to_string(), "config file app.yaml is 10 bytes, over the 4 byte limit");
//! assert_eq!(err.result(), ReloadResult::Fail);
//! ```

use std::error::Error as StdError;
use std::path::PathBuf;
use std::time::Duration;

use crate::metrics::ReloadResult;

/// A boxed error from user code (parser, validation hook, post-apply check).
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// Why one reload attempt did not apply a new config. The previous config stays live in
/// every case.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReloadError {
    /// The file could not be opened or read (missing, unreadable, directory deleted).
    #[error("cannot read config file {path}")]
    Read {
        /// The config path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is larger than the configured cap.
    #[error("config file {path} is {size} bytes, over the {limit} byte limit")]
    TooLarge {
        /// The config path.
        path: PathBuf,
        /// Bytes seen (at least `limit + 1`).
        size: u64,
        /// The cap.
        limit: u64,
    },
    /// The file is not UTF-8.
    #[error("config file {path} is not valid utf-8")]
    NotUtf8 {
        /// The config path.
        path: PathBuf,
        /// Where decoding failed.
        #[source]
        source: std::str::Utf8Error,
    },
    /// The SHA-256 of the bytes is not the expected digest.
    #[error("config digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        /// The expected digest (hex).
        expected: String,
        /// The digest of the file (hex).
        actual: String,
    },
    /// The signature file is missing, malformed or does not verify.
    #[error("config signature rejected: {reason}")]
    Signature {
        /// What was wrong.
        reason: &'static str,
        /// The underlying error, if any.
        #[source]
        source: Option<BoxError>,
    },
    /// The parser rejected the text.
    #[error("cannot parse config")]
    Parse {
        /// The parser's error.
        #[source]
        source: BoxError,
    },
    /// The validation hook rejected the parsed config.
    #[error("config rejected by validation")]
    Validation {
        /// The hook's error.
        #[source]
        source: BoxError,
    },
    /// The post-apply check failed; the previous config was put back.
    #[error("post-apply check failed; rolled back to the previous config")]
    Rollback {
        /// The check's error.
        #[source]
        source: BoxError,
    },
    /// The reload took longer than its timeout; the previous config stays live.
    #[error("reload timed out after {0:?}; previous config kept")]
    Timeout(Duration),
    /// User code (parser or a hook) panicked; the previous config stays live.
    #[error("reload hook panicked: {0}")]
    Panicked(String),
    /// The reload worker thread could not be started.
    #[error("cannot start reload worker")]
    Spawn(#[source] std::io::Error),
    /// The manager was dropped.
    #[error("reload manager is gone")]
    Closed,
    /// This request was folded into a concurrent reload that read the file after the
    /// request was made, and that reload failed (it was counted and logged once, there).
    #[error("concurrent reload failed: {reason}")]
    Concurrent {
        /// The failed reload's result.
        result: ReloadResult,
        /// Its error chain.
        reason: String,
    },
}

impl ReloadError {
    /// The `result` label this failure is counted under.
    pub fn result(&self) -> ReloadResult {
        match self {
            ReloadError::Timeout(_) => ReloadResult::Timeout,
            ReloadError::Rollback { .. } => ReloadResult::Rollback,
            ReloadError::Concurrent { result, .. } => *result,
            _ => ReloadResult::Fail,
        }
    }

    /// The message followed by every `source()` in the chain, joined with `: `.
    ///
    /// # Example
    ///
    /// ```
    /// use vsanobs_hotreload::ReloadError;
    /// let err = ReloadError::Validation { source: "port must not be 0".into() };
    /// assert_eq!(err.chain(), "config rejected by validation: port must not be 0");
    /// ```
    pub fn chain(&self) -> String {
        vsanobs_core::report::error_chain(self)
    }
}

/// Why a [`ReloadManager`](crate::ReloadManager) could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The initial load failed.
    #[error("initial config load failed")]
    Initial(#[source] ReloadError),
    /// Registering the metrics failed (a name is taken, for example by another manager).
    #[error("cannot register reload metrics")]
    Register(#[source] vsanobs_core::RegistryError),
    /// The file watcher could not be set up.
    #[error("cannot watch {path}")]
    Watch {
        /// The watched directory.
        path: PathBuf,
        /// The watcher's error.
        #[source]
        source: notify::Error,
    },
    /// The signal handler could not be installed.
    #[error("cannot install signal handler")]
    Signal(#[source] std::io::Error),
    /// No parser: no format was given and the file extension names none that is enabled.
    #[error("no parser for {path}: set a format or a parser")]
    NoParser {
        /// The config path.
        path: PathBuf,
    },
    /// The config path has no parent directory to watch.
    #[error("config path {path} has no file name")]
    BadPath {
        /// The config path.
        path: PathBuf,
    },
    /// A background thread could not be started.
    #[error("cannot start background thread")]
    Spawn(#[source] std::io::Error),
    /// The expected digest is not 64 hex digits.
    #[error("expected digest is not 64 hex digits")]
    BadDigest,
}
