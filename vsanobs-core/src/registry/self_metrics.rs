//! The registry's own self-metrics: refused label sets past a series cap, and whether each
//! collector succeeded on the last scrape.

use crate::encoding::Visitor;
use crate::labels::{LabelsRef, OwnLabels};
use crate::model::{MetricDesc, MetricKind, Number};

/// Name of the self-metric counting label sets refused past a family's series cap.
pub const SERIES_OVERFLOW_METRIC: &str = "vsanobs_series_overflow";
/// Name of the self-metric reporting whether each collector succeeded on the last scrape.
pub const COLLECTOR_SUCCESS_METRIC: &str = "vsanobs_scrape_collector_success";
/// The registry's own self-metrics.
pub const SELF_METRICS: &[MetricDesc] = &[
    MetricDesc {
        name: "vsanobs_series_overflow_total",
        kind: MetricKind::Counter,
        help: "Label sets refused because their family reached its series cap.",
        unit: None,
        labels: &["family"],
    },
    MetricDesc {
        name: "vsanobs_scrape_collector_success",
        kind: MetricKind::Gauge,
        help: "Whether the collector succeeded on the last scrape (1) or failed (0).",
        unit: None,
        labels: &["collector"],
    },
];

/// Writes `vsanobs_series_overflow_total{family}`: refused label sets per family.
pub(super) fn visit_overflow(
    overflow: &[(String, u64)],
    consts: &[(String, String)],
    v: &mut dyn Visitor,
) {
    v.family(
        SERIES_OVERFLOW_METRIC,
        SELF_METRICS[0].help,
        None,
        MetricKind::Counter,
    );
    for (fam, n) in overflow {
        v.counter(
            LabelsRef {
                consts,
                own: OwnLabels::One("family", fam),
            },
            Number::Uint(*n),
            None,
        );
    }
}

/// Writes `vsanobs_scrape_collector_success{collector}`: 1 for each collector that
/// succeeded, 0 for each that failed.
pub(super) fn visit_collector_success(
    results: &[(String, bool)],
    consts: &[(String, String)],
    v: &mut dyn Visitor,
) {
    v.family(
        COLLECTOR_SUCCESS_METRIC,
        SELF_METRICS[1].help,
        None,
        MetricKind::Gauge,
    );
    for (name, ok) in results {
        v.gauge(
            LabelsRef {
                consts,
                own: OwnLabels::One("collector", name),
            },
            Number::Int(i64::from(*ok)),
        );
    }
}
