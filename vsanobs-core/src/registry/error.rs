//! [`RegistryError`]: why the registry refused a registration or a lookup.

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
