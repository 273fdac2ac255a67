//! [`ReclaimCollector`]: the self-metrics of snapshot reclamation behind every
//! [`Family`](crate::Family) of the process ([`RECLAIM_METRICS`]).
//!
//! # Example
//!
//! ```
//! use vsanobs_core::reclaim::ReclaimCollector;
//! use vsanobs_core::{Format, Registry};
//!
//! let registry = Registry::new();
//! registry.register_collector(ReclaimCollector::new()).unwrap();
//! let text = registry.encode_to_string(Format::PrometheusText);
//! assert!(text.contains("# TYPE vsanobs_family_retired_bytes gauge\n"));
//! assert!(text.contains("# TYPE vsanobs_family_membarrier_failures_total counter\n"));
//! ```
//!
//! ## Note
//! The values are process-wide counters kept by the families themselves; collecting reads
//! three atomics.

use crate::model::{MetricDesc, MetricFamily, MetricKind, Number, Sample, Value};
use crate::registry::{CollectError, Collector, FamilySink};

use crate::family::reclaim_stats as stats;

/// The families [`ReclaimCollector`] exports.
pub const RECLAIM_METRICS: &[MetricDesc] = &[
    MetricDesc {
        name: "vsanobs_family_retired_bytes",
        kind: MetricKind::Gauge,
        help: "Approximate heap bytes of replaced family snapshots not freed yet because a reader may still use them.",
        unit: Some("bytes"),
        labels: &[],
    },
    MetricDesc {
        name: "vsanobs_family_retired_snapshots",
        kind: MetricKind::Gauge,
        help: "Replaced family snapshots not freed yet because a reader may still use them.",
        unit: None,
        labels: &[],
    },
    MetricDesc {
        name: "vsanobs_family_membarrier_failures_total",
        kind: MetricKind::Counter,
        help: "membarrier calls that failed after registration; after the first, family reads use full fences.",
        unit: None,
        labels: &[],
    },
];

/// Exports [`RECLAIM_METRICS`] for all families of the process. Register one per registry.
#[derive(Debug, Default, Clone, Copy)]
pub struct ReclaimCollector {
    _private: (),
}

impl ReclaimCollector {
    /// A collector of the process-wide reclamation counters.
    pub fn new() -> Self {
        ReclaimCollector { _private: () }
    }
}

impl Collector for ReclaimCollector {
    fn name(&self) -> &str {
        "family_reclaim"
    }

    fn collect_into(&self, sink: &mut FamilySink<'_>) -> Result<(), CollectError> {
        let gauge = |v: u64| Value::Gauge(Number::Int(i64::try_from(v).unwrap_or(i64::MAX)));
        let values = [
            gauge(stats::retired_bytes()),
            gauge(stats::retired_snapshots()),
            Value::Counter {
                value: Number::Uint(stats::membarrier_failures()),
                exemplar: None,
            },
        ];
        for (desc, value) in RECLAIM_METRICS.iter().zip(values) {
            let mut f = MetricFamily::new(desc.base_name(), desc.help, desc.kind);
            if let Some(u) = desc.unit {
                f = f.with_unit(u);
            }
            sink.push(f.with_sample(Sample {
                labels: Vec::new(),
                value,
            }));
        }
        Ok(())
    }
}
