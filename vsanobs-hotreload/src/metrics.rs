//! The reload metrics: one `const` table that registration, the alert rules and the dashboard
//! are all generated from.
//!
//! # Example
//!
//! ```
//! use vsanobs_hotreload::metrics::{METRICS, UPDATES_TOTAL};
//!
//! assert_eq!(METRICS.len(), 11);
//! assert_eq!(UPDATES_TOTAL.name, "hot_reload_updates_total");
//! assert_eq!(UPDATES_TOTAL.labels, &["result"]);
//! ```
//!
//! ## Note
//! Every series is pre-bound when the manager registers, so recording an attempt is a few
//! atomic operations and no lookup.

use vsanobs_core::model::{MetricDesc, MetricKind};
use vsanobs_core::{Counter, Family, FloatGauge, Gauge, Histogram, LabelSet, LabelValue, Registry};

/// `hot_reload_total`: successful reloads.
pub const RELOAD_TOTAL: MetricDesc = MetricDesc {
    name: "hot_reload_total",
    kind: MetricKind::Counter,
    help: "Successful configuration reloads.",
    unit: None,
    labels: &[],
};
/// `hot_reload_failed_total`: failed reloads (fail, timeout and rollback).
pub const FAILED_TOTAL: MetricDesc = MetricDesc {
    name: "hot_reload_failed_total",
    kind: MetricKind::Counter,
    help: "Failed configuration reloads (failed, timed out or rolled back).",
    unit: None,
    labels: &[],
};
/// `hot_reload_updates_total{result}`: every attempt by result.
pub const UPDATES_TOTAL: MetricDesc = MetricDesc {
    name: "hot_reload_updates_total",
    kind: MetricKind::Counter,
    help: "Configuration reload attempts by result (success, fail, timeout, rollback).",
    unit: None,
    labels: &["result"],
};
/// `hot_reload_duration_seconds`: end-to-end reload time.
pub const DURATION_SECONDS: MetricDesc = MetricDesc {
    name: "hot_reload_duration_seconds",
    kind: MetricKind::Histogram,
    help: "End-to-end configuration reload time.",
    unit: Some("seconds"),
    labels: &[],
};
/// `hot_reload_config_hash`: SHA-256 of the live config, truncated to 53 bits.
pub const CONFIG_HASH: MetricDesc = MetricDesc {
    name: "hot_reload_config_hash",
    kind: MetricKind::Gauge,
    help: "First 53 bits of the SHA-256 of the live configuration (exact as a float).",
    unit: None,
    labels: &[],
};
/// `hot_reload_last_success_timestamp_seconds`.
pub const LAST_SUCCESS_TIMESTAMP: MetricDesc = MetricDesc {
    name: "hot_reload_last_success_timestamp_seconds",
    kind: MetricKind::Gauge,
    help: "Unix time of the last successful configuration reload.",
    unit: Some("seconds"),
    labels: &[],
};
/// `hot_reload_last_reload_successful`.
pub const LAST_RELOAD_SUCCESSFUL: MetricDesc = MetricDesc {
    name: "hot_reload_last_reload_successful",
    kind: MetricKind::Gauge,
    help: "1 if the last configuration reload attempt succeeded, else 0.",
    unit: None,
    labels: &[],
};
/// `hot_reload_in_progress`.
pub const IN_PROGRESS: MetricDesc = MetricDesc {
    name: "hot_reload_in_progress",
    kind: MetricKind::Gauge,
    help: "1 while a configuration reload runs.",
    unit: None,
    labels: &[],
};
/// `hot_reload_concurrent_updates`.
pub const CONCURRENT_UPDATES: MetricDesc = MetricDesc {
    name: "hot_reload_concurrent_updates",
    kind: MetricKind::Gauge,
    help: "Configuration reload requests running or waiting.",
    unit: None,
    labels: &[],
};
/// `hot_reload_active_workers`.
pub const ACTIVE_WORKERS: MetricDesc = MetricDesc {
    name: "hot_reload_active_workers",
    kind: MetricKind::Gauge,
    help: "Workers alive that belong to configuration generations.",
    unit: None,
    labels: &[],
};
/// `hot_reload_heap_delta_bytes`.
pub const HEAP_DELTA_BYTES: MetricDesc = MetricDesc {
    name: "hot_reload_heap_delta_bytes",
    kind: MetricKind::Gauge,
    help: "Heap in use after minus before the last configuration reload (resident memory when no counting allocator is installed).",
    unit: Some("bytes"),
    labels: &[],
};

/// Every family the crate exports, in registration order.
pub const METRICS: &[MetricDesc] = &[
    RELOAD_TOTAL,
    FAILED_TOTAL,
    UPDATES_TOTAL,
    DURATION_SECONDS,
    CONFIG_HASH,
    LAST_SUCCESS_TIMESTAMP,
    LAST_RELOAD_SUCCESSFUL,
    IN_PROGRESS,
    CONCURRENT_UPDATES,
    ACTIVE_WORKERS,
    HEAP_DELTA_BYTES,
];

/// Default bucket bounds of `hot_reload_duration_seconds`.
pub const DEFAULT_DURATION_BUCKETS: [f64; 4] = [0.01, 0.1, 1.0, 5.0];

/// The `result` of one reload attempt: the `result` label of `hot_reload_updates_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, LabelValue)]
#[non_exhaustive]
pub enum ReloadResult {
    /// The new config is live.
    Success,
    /// Reading, verifying, parsing or validating failed; the old config stays live.
    Fail,
    /// The reload exceeded its timeout; the old config stays live.
    Timeout,
    /// The post-apply check failed and the previous config was put back.
    Rollback,
}

impl ReloadResult {
    /// All values, in the order they are exported.
    pub const ALL: [ReloadResult; 4] = [
        ReloadResult::Success,
        ReloadResult::Fail,
        ReloadResult::Timeout,
        ReloadResult::Rollback,
    ];

    /// The label value (`success`, `fail`, `timeout`, `rollback`).
    pub fn as_str(self) -> &'static str {
        match self {
            ReloadResult::Success => "success",
            ReloadResult::Fail => "fail",
            ReloadResult::Timeout => "timeout",
            ReloadResult::Rollback => "rollback",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, LabelSet)]
struct ResultLabels {
    result: ReloadResult,
}

/// Truncates a SHA-256 digest to its first 53 bits, so the value is exact as an f64.
///
/// # Example
///
/// ```
/// let h = vsanobs_hotreload::metrics::hash53(&[0xff; 32]);
/// assert_eq!(h, (1 << 53) - 1);
/// assert_eq!(h as f64 as u64, h);
/// ```
pub fn hash53(digest: &[u8; 32]) -> u64 {
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first) >> 11
}

/// The pre-bound series of one manager.
#[derive(Clone, Debug)]
pub(crate) struct ReloadMetrics {
    pub(crate) total: Counter,
    pub(crate) failed: Counter,
    pub(crate) by_result: [Counter; 4],
    pub(crate) duration: Histogram,
    pub(crate) hash: Gauge,
    pub(crate) last_success: FloatGauge,
    pub(crate) last_ok: Gauge,
    pub(crate) in_progress: Gauge,
    pub(crate) concurrent: Gauge,
    pub(crate) workers: Gauge,
    pub(crate) heap_delta: Gauge,
    updates: Family<ResultLabels, Counter>,
}

impl ReloadMetrics {
    pub(crate) fn new(buckets: &[f64], native: bool) -> Self {
        let duration = Histogram::new(buckets.iter().copied());
        let duration = if native {
            duration.with_native(vsanobs_core::NativeHistogram::default())
        } else {
            duration
        };
        let updates: Family<ResultLabels, Counter> = Family::with_cap(ReloadResult::ALL.len());
        let by_result =
            ReloadResult::ALL.map(|result| updates.get_or_create(&ResultLabels { result }));
        ReloadMetrics {
            total: Counter::default(),
            failed: Counter::default(),
            by_result,
            duration,
            hash: Gauge::default(),
            last_success: FloatGauge::default(),
            last_ok: Gauge::default(),
            in_progress: Gauge::default(),
            concurrent: Gauge::default(),
            workers: Gauge::default(),
            heap_delta: Gauge::default(),
            updates,
        }
    }

    /// Registers every family of [`METRICS`] in `registry`.
    pub(crate) fn register(&self, registry: &Registry) -> Result<(), vsanobs_core::RegistryError> {
        for desc in METRICS {
            let (name, help) = (desc.name, desc.help);
            let r = match desc.name {
                n if n == RELOAD_TOTAL.name => registry.register(name, help, self.total.clone()),
                n if n == FAILED_TOTAL.name => registry.register(name, help, self.failed.clone()),
                n if n == UPDATES_TOTAL.name => registry.register(name, help, self.updates.clone()),
                n if n == DURATION_SECONDS.name => {
                    register_unit(registry, desc, self.duration.clone())
                }
                n if n == CONFIG_HASH.name => registry.register(name, help, self.hash.clone()),
                n if n == LAST_SUCCESS_TIMESTAMP.name => {
                    register_unit(registry, desc, self.last_success.clone())
                }
                n if n == LAST_RELOAD_SUCCESSFUL.name => {
                    registry.register(name, help, self.last_ok.clone())
                }
                n if n == IN_PROGRESS.name => {
                    registry.register(name, help, self.in_progress.clone())
                }
                n if n == CONCURRENT_UPDATES.name => {
                    registry.register(name, help, self.concurrent.clone())
                }
                n if n == ACTIVE_WORKERS.name => {
                    registry.register(name, help, self.workers.clone())
                }
                n if n == HEAP_DELTA_BYTES.name => {
                    register_unit(registry, desc, self.heap_delta.clone())
                }
                _ => Ok(()),
            };
            r?;
        }
        Ok(())
    }

    pub(crate) fn record(&self, result: ReloadResult, seconds: f64) {
        let idx = ReloadResult::ALL
            .iter()
            .position(|r| *r == result)
            .unwrap_or(1);
        self.by_result[idx].inc();
        self.duration.observe(seconds);
        if result == ReloadResult::Success {
            self.total.inc();
            self.last_ok.set(1);
            self.last_success.set(vsanobs_core::clock::unix_seconds());
        } else {
            self.failed.inc();
            self.last_ok.set(0);
        }
    }
}

fn register_unit<M: vsanobs_core::Metric>(
    registry: &Registry,
    desc: &MetricDesc,
    metric: M,
) -> Result<(), vsanobs_core::RegistryError> {
    match desc.unit {
        Some(unit) => registry.register_with_unit(desc.name, desc.help, unit, metric),
        None => registry.register(desc.name, desc.help, metric),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names_are_unique_and_registered() {
        let registry = Registry::new();
        let m = ReloadMetrics::new(&DEFAULT_DURATION_BUCKETS, false);
        m.register(&registry).unwrap();
        let text = registry.encode_to_string(vsanobs_core::Format::PrometheusText);
        for desc in METRICS {
            assert!(
                text.contains(&format!("# TYPE {} ", desc.name))
                    || text.contains(&format!("# TYPE {} ", desc.base_name())),
                "{}",
                desc.name
            );
        }
        for r in ReloadResult::ALL {
            assert!(text.contains(&format!(
                "hot_reload_updates_total{{result=\"{}\"}} 0\n",
                r.as_str()
            )));
        }
    }

    #[test]
    fn native_switch_adds_native_buckets_and_keeps_the_classic_text() {
        let registry = Registry::new();
        let m = ReloadMetrics::new(&DEFAULT_DURATION_BUCKETS, true);
        m.register(&registry).unwrap();
        m.duration.observe(0.2);
        let fams = registry.gather();
        let d = fams
            .iter()
            .find(|f| f.name == "hot_reload_duration_seconds")
            .unwrap();
        let vsanobs_core::model::Value::NativeHistogram(h) = &d.samples[0].value else {
            panic!("not native: {d:?}");
        };
        assert_eq!((h.count, h.schema, h.positive.len()), (1, 3, 1));
        assert_eq!(h.classic.len(), DEFAULT_DURATION_BUCKETS.len() + 1);
        let text = registry.encode_to_string(vsanobs_core::Format::PrometheusText);
        assert!(
            text.contains("hot_reload_duration_seconds_bucket{le=\"+Inf\"} 1\n"),
            "{text}"
        );
    }

    #[test]
    fn hash53_is_exact_in_f64() {
        let mut d = [0u8; 32];
        d[0] = 0xab;
        d[6] = 0x01;
        let h = hash53(&d);
        assert!(h < 1 << 53);
        assert_eq!(h as f64 as u64, h);
        assert_eq!(h >> 45, 0xab);
    }
}
