//! vSAN performance counters for Prometheus: the counter catalogue, the parsers for
//! `VsanPerfQueryPerf` responses, and the mapping from vSAN's per-interval CSV samples to
//! typed gauges and `_total` counters in base units. Pure: no I/O.
//!
//! - [`catalogue`]: (entity type, metric label) -> family, type, unit conversion, op label.
//! - [`csv`]: `entityRefId`, `sampleInfo` timestamps (UTC) and value CSV parsers.
//! - [`soap`]: `VsanPerfQueryPerf` answers (streamed or whole) and SOAP faults.
//! - [`protocol`]: the vCenter calls an exporter and a simulator exchange (sessions,
//!   inventory, performance queries, faults), encoded and decoded through the same types.
//! - [`mapping`]: latest complete sample per gauge, deltas for counters, unknown labels.
//! - [`normalise`]: seed-style counter ids to Prometheus names.
//!
//! # Example
//!
//! ```
//! use vsanobs_core::vsan::{mapping::map_entity, soap::parse_query_perf_response};
//!
//! let xml = r#"<Envelope><Body><VsanPerfQueryPerfResponse><returnval>
//!   <entityRefId>cluster-domclient:52f1a6b3-0000-4000-8000-000000000001</entityRefId>
//!   <sampleInfo>2024-01-01 10:00:00</sampleInfo>
//!   <value><metricId><label>latencyAvgWrite</label></metricId><values>2158</values></value>
//! </returnval></VsanPerfQueryPerfResponse></Body></Envelope>"#;
//! let entities = parse_query_perf_response(xml)?;
//! let m = map_entity(&entities[0], None)?;
//! assert_eq!(m.gauges[0].metric.name(), "vsan_cluster_domclient_io_latency_seconds");
//! assert_eq!(m.gauges[0].value, 0.002158); // microseconds on the wire
//! # Ok::<(), vsanobs_core::vsan::VsanError>(())
//! ```
//!
//! ## Note
//! Parsing runs once per collection, off the record path; catalogue lookups allocate nothing.

pub mod catalogue;
pub mod csv;
pub mod mapping;
pub mod normalise;
pub mod protocol;
pub mod soap;
pub(crate) mod xml;

pub use catalogue::{Conversion, Mapping, lookup};
pub use mapping::{DeltaAccumulator, DeltaTotal, MappedEntity, map_entity};
pub use normalise::{NormalisedId, normalise_counter_id};
pub use soap::{EntityMetricCsv, FaultKind, MetricSeriesCsv, parse_query_perf_response};

/// Why a vSAN response or id could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VsanError {
    /// An `entityRefId` that is not `<type>:<uuid>`.
    #[error("invalid entity id {id:?}")]
    EntityRefId {
        /// The id received.
        id: String,
    },
    /// A timestamp that is not `YYYY-MM-DD HH:MM:SS` (or an `xsd:dateTime` where one is expected).
    #[error("invalid timestamp {value:?}")]
    Timestamp {
        /// The text received.
        value: String,
    },
    /// A CSV cell that is not a number.
    #[error("invalid value {value:?} at index {index}")]
    Value {
        /// Position in the CSV.
        index: usize,
        /// The cell.
        value: String,
        /// The parse error.
        #[source]
        source: std::num::ParseFloatError,
    },
    /// A CSV cell that is NaN or infinite.
    #[error("non-finite value {value:?} at index {index}")]
    NonFinite {
        /// Position in the CSV.
        index: usize,
        /// The cell.
        value: String,
    },
    /// Malformed XML.
    #[error("malformed xml")]
    Xml {
        /// The XML reader's error.
        #[source]
        source: quick_xml::Error,
    },
    /// The document ended inside an element.
    #[error("truncated xml")]
    Truncated,
    /// A SOAP fault.
    #[error("soap fault {}: {message}", kind.wire_name())]
    Fault {
        /// The fault type.
        kind: FaultKind,
        /// The fault string.
        message: String,
    },
    /// Well-formed XML of the wrong shape.
    #[error("unexpected response: {reason}")]
    Unexpected {
        /// What was wrong.
        reason: &'static str,
    },
    /// An answer with more items of one kind than a reader accepts (health groups, tests
    /// of a group, object types of a space report).
    #[error("answer too large: more than {limit} {what}")]
    TooLarge {
        /// What there were too many of (`health groups`).
        what: &'static str,
        /// The most accepted.
        limit: usize,
    },
    /// A seed-style counter id that cannot be normalised.
    #[error("invalid counter id {id:?}: {reason}")]
    CounterId {
        /// The id received.
        id: String,
        /// What was wrong.
        reason: &'static str,
    },
}

impl VsanError {
    /// A short stable reason for `fetch_errors_total{reason}`.
    pub fn reason(&self) -> &'static str {
        match self {
            VsanError::Xml { .. } | VsanError::Unexpected { .. } => "malformed",
            VsanError::Truncated => "truncated",
            VsanError::TooLarge { .. } => "too_large",
            VsanError::Fault {
                kind: FaultKind::NotFound,
                ..
            } => "not_found",
            VsanError::Fault {
                kind: FaultKind::NotAuthenticated,
                ..
            } => "not_authenticated",
            VsanError::Fault {
                kind: FaultKind::InvalidLogin,
                ..
            } => "invalid_login",
            VsanError::Fault {
                kind: FaultKind::NoPermission,
                ..
            } => "no_permission",
            VsanError::Fault {
                kind: FaultKind::NotSupported,
                ..
            } => "not_supported",
            VsanError::Fault {
                kind: FaultKind::InvalidArgument,
                ..
            } => "invalid_argument",
            VsanError::Fault {
                kind: FaultKind::UnsupportedVersion,
                ..
            } => "unsupported_version",
            VsanError::Fault { .. } => "fault",
            VsanError::EntityRefId { .. }
            | VsanError::Timestamp { .. }
            | VsanError::Value { .. }
            | VsanError::NonFinite { .. }
            | VsanError::CounterId { .. } => "bad_value",
        }
    }
}
