//! [`CollectError`]: why a [`Collector`](super::Collector) could not produce all of its values.

/// Why a [`Collector`](super::Collector) could not produce (all of) its values. Keeps the cause.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct CollectError {
    message: String,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl CollectError {
    /// An error with a message.
    pub fn new(message: impl Into<String>) -> Self {
        CollectError {
            message: message.into(),
            source: None,
        }
    }
    /// An error with a message and the underlying cause.
    pub fn with_source(
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        CollectError {
            message: message.into(),
            source: Some(Box::new(source)),
        }
    }
    /// The message, without the cause.
    pub fn message(&self) -> &str {
        &self.message
    }
}
