//! What a bridge rewrote or dropped: `vsanobs_bridge_problems_total{bridge,reason}`.
//!
//! One process-wide counter family shared by every bridge; each bridge registers it in the
//! registry it serves (registering it twice is not an error) and counts under its own
//! `bridge` label (the bridge's collector name).
//!
//! The prometheus-client and OpenTelemetry bridges read foreign data at each scrape, so they
//! count a problem once per scrape it is seen in (its rate is what matters); the `metrics`
//! facade counts once per key, when the key is first registered. A registry writes its
//! registered families before it runs collectors, so a scrape shows the counts up to the
//! scrape before it.
//!
//! # Example
//!
//! ```
//! use vsanobs_bridge::problems::{self, Problem};
//! use vsanobs_core::{Format, Registry};
//!
//! let r = Registry::new();
//! problems::register(&r);
//! problems::count("doc_bridge", Problem::InvalidMetricName);
//! assert_eq!(problems::get("doc_bridge", Problem::InvalidMetricName), 1);
//! let text = r.encode_to_string(Format::PrometheusText);
//! assert!(text.contains(
//!     "vsanobs_bridge_problems_total{bridge=\"doc_bridge\",reason=\"invalid_metric_name\"} 1\n"
//! ));
//! ```

use std::sync::{Arc, OnceLock};

use vsanobs_core::model::{MetricDesc, MetricKind};
use vsanobs_core::{Counter, Family, LabelSet, Registry, RegistryError};

/// The exported name of the problem counter.
pub const PROBLEMS_METRIC: &str = "vsanobs_bridge_problems_total";

/// The problem counter's description, for docs and dashboards.
pub const PROBLEMS_DESC: MetricDesc = MetricDesc {
    name: PROBLEMS_METRIC,
    kind: MetricKind::Counter,
    help: "Foreign names, labels, values or families a bridge rewrote or dropped, by reason.",
    unit: None,
    labels: &["bridge", "reason"],
};

/// Every family this module exports (for generated docs).
pub const PROBLEMS_METRICS: &[MetricDesc] = &[PROBLEMS_DESC];

/// Why a bridge rewrote or dropped something.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Problem {
    /// A metric name with characters Prometheus does not allow (dots, spaces, a leading
    /// digit...): rewritten.
    InvalidMetricName,
    /// A label name with characters Prometheus does not allow: rewritten.
    InvalidLabelName,
    /// A label with an empty value (the same as no label in Prometheus): dropped from the series.
    EmptyLabelValue,
    /// Two labels of one series that sanitise to the same name: merged (values joined by `;`).
    LabelCollision,
    /// A family whose name another family of a different type already uses in the same
    /// scrape: the later family dropped.
    TypeConflict,
    /// Two series of one family with the same labels after sanitising: the later one dropped.
    DuplicateSeries,
    /// A type vsanobs cannot serve (summary, exponential histogram, delta temporality...):
    /// dropped.
    UnsupportedType,
    /// A value the type does not allow (a negative or NaN counter): series dropped.
    InvalidValue,
    /// A series past the family's series cap: folded into the overflow series.
    SeriesOverflow,
    /// A family without help text: the name is used as help.
    EmptyHelp,
    /// An exemplar that breaks the OpenMetrics rules (a label name twice after sanitising,
    /// more than 128 characters of label names and values, an unreadable value or
    /// timestamp): dropped; the sample is kept.
    ExemplarDropped,
    /// A line of foreign exposition text that could not be read: dropped.
    Unreadable,
}

impl Problem {
    /// The `reason` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Problem::InvalidMetricName => "invalid_metric_name",
            Problem::InvalidLabelName => "invalid_label_name",
            Problem::EmptyLabelValue => "empty_label_value",
            Problem::LabelCollision => "label_collision",
            Problem::TypeConflict => "type_conflict",
            Problem::DuplicateSeries => "duplicate_series",
            Problem::UnsupportedType => "unsupported_type",
            Problem::InvalidValue => "invalid_value",
            Problem::SeriesOverflow => "series_overflow",
            Problem::EmptyHelp => "empty_help",
            Problem::ExemplarDropped => "exemplar_dropped",
            Problem::Unreadable => "unreadable",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, LabelSet)]
struct ProblemLabels {
    bridge: Arc<str>,
    reason: &'static str,
}

fn family() -> &'static Family<ProblemLabels, Counter> {
    static FAMILY: OnceLock<Family<ProblemLabels, Counter>> = OnceLock::new();
    FAMILY.get_or_init(Family::new)
}

/// Registers the problem counter in `registry`; a registry that has it already keeps it.
pub fn register(registry: &Registry) {
    match registry.register(PROBLEMS_METRIC, PROBLEMS_DESC.help, family().clone()) {
        Ok(()) | Err(RegistryError::AlreadyRegistered { .. }) => {}
        Err(e) => tracing::warn!(error = %e, "could not register the bridge problem counter"),
    }
}

/// Counts one `problem` of `bridge`.
pub fn count(bridge: &str, problem: Problem) {
    add(bridge, problem, 1);
}

/// Counts `n` problems of `bridge`.
pub fn add(bridge: &str, problem: Problem, n: u64) {
    if n == 0 {
        return;
    }
    family()
        .get_or_create(&ProblemLabels {
            bridge: Arc::from(bridge),
            reason: problem.as_str(),
        })
        .inc_by(n);
}

/// How many `problem`s `bridge` counted so far.
pub fn get(bridge: &str, problem: Problem) -> u64 {
    family()
        .get(&ProblemLabels {
            bridge: Arc::from(bridge),
            reason: problem.as_str(),
        })
        .map_or(0, |c| c.get())
}
