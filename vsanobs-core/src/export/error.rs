//! Errors of push export: [`ExportError`] (one attempt failed) and [`BuildError`] (a
//! pipeline could not be built).

use std::time::Duration;

use super::self_metrics::{DropReason, RequestResult};
use crate::registry::RegistryError;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Why one export attempt failed. [`is_retryable`](Self::is_retryable) decides between a
/// retry and dropping the batch.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// The receiver refused the batch with a status that must not be retried (4xx other
    /// than 429). The body says why.
    #[error("receiver rejected the batch with status {status}: {body}")]
    Rejected {
        /// HTTP status.
        status: u16,
        /// The response body (truncated to 1 KiB).
        body: String,
    },
    /// The receiver answered 5xx or 429; retried, after `retry_after` when it gave one.
    #[error("receiver answered status {status}: {body}")]
    Unavailable {
        /// HTTP status.
        status: u16,
        /// The receiver's `Retry-After`, when it sent one in seconds.
        retry_after: Option<Duration>,
        /// The response body (truncated to 1 KiB).
        body: String,
    },
    /// Could not connect or the connection broke (retried).
    #[error("connection failed")]
    Connect(#[source] BoxError),
    /// The request timed out (retried).
    #[error("request timed out")]
    Timeout(#[source] BoxError),
    /// The batch could not be encoded (dropped).
    #[error("could not encode the batch: {0}")]
    Encode(String),
    /// Anything else (dropped).
    #[error("export failed")]
    Other(#[source] BoxError),
}

impl ExportError {
    /// Whether the same batch should be sent again later.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            ExportError::Unavailable { .. } | ExportError::Connect(_) | ExportError::Timeout(_)
        )
    }

    /// The delay the receiver asked for, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ExportError::Unavailable { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// How the attempt is counted in `vsanobs_export_requests_total{result}`.
    pub(super) fn request_result(&self) -> RequestResult {
        match self {
            e if e.is_retryable() => RequestResult::Retry,
            ExportError::Rejected { .. } => RequestResult::Rejected,
            _ => RequestResult::Failed,
        }
    }

    /// Why the batch is dropped when the error is not retried.
    pub(super) fn drop_reason(&self) -> DropReason {
        match self {
            ExportError::Rejected { .. } => DropReason::Rejected,
            ExportError::Encode(_) => DropReason::EncodeError,
            _ => DropReason::Failed,
        }
    }
}

/// Why a pipeline could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The interval must be longer than zero.
    #[error("push interval must be greater than zero")]
    ZeroInterval,
    /// A pipeline needs at least one exporter.
    #[error("no exporter configured")]
    NoExporter,
    /// Two exporters have the same name (it is their label value).
    #[error("two exporters are named {0:?}")]
    DuplicateExporter(String),
    /// An exporter name must not be empty.
    #[error("exporter name must not be empty")]
    EmptyExporterName,
    /// The self-metrics could not be registered.
    #[error("could not register the export self-metrics")]
    Registry(#[from] RegistryError),
    /// A thread could not be started.
    #[error("could not start the export thread")]
    Spawn(#[source] std::io::Error),
}
