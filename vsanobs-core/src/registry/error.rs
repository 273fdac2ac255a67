//! The registry's errors: [`RegistryError`] (a registration or lookup was refused) and
//! [`CollectError`] (a collector could not produce all of its values).

/// Why a registration was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// Not `[a-zA-Z_:][a-zA-Z0-9_:]*` (after the prefix was applied).
    #[error("invalid metric name {name:?}: must match [a-zA-Z_:][a-zA-Z0-9_:]*")]
    InvalidMetricName {
        /// The rejected name.
        name: String,
    },
    /// Not `[a-zA-Z_][a-zA-Z0-9_]*`, starts with `__`, is reserved (`le` on histograms) or
    /// repeats a constant label.
    #[error("invalid label name {label:?} on {metric:?}")]
    InvalidLabelName {
        /// The metric it was meant for (empty for registry constant labels).
        metric: String,
        /// The rejected label name.
        label: String,
    },
    /// Help text is required: `promtool check metrics` flags families without it.
    #[error("metric {name:?} needs a non-empty help text")]
    EmptyHelp {
        /// The metric.
        name: String,
    },
    /// A unit was given but the name does not end with `_<unit>`.
    #[error("metric {name:?} has unit {unit:?} but its name does not end with \"_{unit}\"")]
    UnitMismatch {
        /// The metric.
        name: String,
        /// The unit.
        unit: String,
    },
    /// The name, or a series name it would produce, is taken by another family.
    #[error("metric {name:?} collides with the already registered {existing:?}")]
    AlreadyRegistered {
        /// The refused name.
        name: String,
        /// The family that holds it.
        existing: String,
    },
    /// The name belongs to the library's own self-metrics.
    #[error("metric name {name:?} is reserved for vsanobs self-metrics")]
    Reserved {
        /// The refused name.
        name: String,
    },
    /// Nothing is registered under that name.
    #[error("no metric or collector named {name:?} is registered")]
    NotFound {
        /// The name asked for.
        name: String,
    },
    /// A collector with that name is already registered.
    #[error("a collector named {name:?} is already registered")]
    DuplicateCollector {
        /// The collector name.
        name: String,
    },
}

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
