//! The vSAN alert rules ([`alert_rules`]), their promtool unit tests ([`rule_tests`]) and the
//! vSAN Grafana dashboard ([`dashboard`]), as data rendered by [`vsanobs_core::artifacts`].
//!
//! They are built from the metric tables of what this exporter serves: the counter catalogue
//! (`vsanobs_core::vsan::catalogue`), the exporter's self-metrics
//! ([`crate::engine::self_metrics`]) and the health, capacity and resync families ([`names`]).
//! `cargo run -p gen-docs` writes them to `docs/rules/vsan.rules.yml`,
//! `docs/rules/vsan.test.yml` and `docs/dashboards/vsan.json` with the default
//! [`RulesConfig`] (time scale 1).
//!
//! # Time scale
//! Every duration of the rules (`for:`, range windows, the staleness thresholds and the
//! days-until-full horizon) is divided by [`RulesConfig::time_scale`]. The shipped file is
//! rendered at scale 1; a test that wants the same rules to fire within seconds renders them
//! at, say, scale 60 (15 minutes become 15 seconds). The thresholds that are not times
//! (latency, congestion, capacity ratios) do not change with the scale.
//!
//! # Example
//!
//! ```
//! use vsan_exporter::artifacts::{ALERTS, RulesConfig, alert_rules, dashboard, rule_tests};
//!
//! let rules = alert_rules(&RulesConfig::default()).to_yaml();
//! assert!(rules.contains("- alert: VsanClusterHealthRed\n"));
//! assert!(rules.contains("predict_linear(vsan_cluster_capacity_free_bytes[6h], 604800) < 0"));
//!
//! // The same rules sixty times faster, for a test against the simulator.
//! let fast = RulesConfig { time_scale: 60, ..RulesConfig::default() };
//! let rules = alert_rules(&fast).to_yaml();
//! assert!(rules.contains("predict_linear(vsan_cluster_capacity_free_bytes[6m], 10080) < 0"));
//!
//! // A firing and a quiet case for every alert.
//! let tests = rule_tests(&RulesConfig::default(), "vsan.rules.yml");
//! for alert in ALERTS {
//!     assert!(tests.tests.iter().filter(|t| t.alert_tests[0].alert == alert).count() >= 2);
//! }
//! assert!(dashboard().to_json().contains("\"name\": \"cluster\""));
//! ```
//!
//! ## Note
//! The alerts:
//!
//! | alert | severity | fires when |
//! |---|---|---|
//! | `VsanClusterHealthRed` | critical | the cluster's overall health is red |
//! | `VsanClusterHealthYellow` | warning | the cluster's overall health is yellow |
//! | `VsanClusterLatencyHigh` | warning | VM read or write latency (DOM client) over the threshold |
//! | `VsanClusterCongestionHigh` | warning | DOM client congestion over the threshold |
//! | `VsanClusterCapacityHigh` | warning | used over `capacity_warning_ratio` of the capacity |
//! | `VsanClusterCapacityCritical` | critical | used over `capacity_critical_ratio` |
//! | `VsanClusterCapacityFillingUp` | warning | free space, extrapolated linearly, runs out within `full_in` |
//! | `VsanClusterResyncNotDraining` | warning | bytes left to resync did not go down over `resync_window` |
//! | `VsanExporterCollectionFailing` | warning | the last performance (`source="perf"`) or health (`source="health"`) query failed |
//! | `VsanExporterDataStale` | warning | the newest sample (`source="perf"`) or the health answer (`source="health"`) is older than the threshold |
//! | `VsanExporterInsecureTls` | info | certificate verification is off for a vCenter |

mod dashboard;
mod rule_tests;

pub use dashboard::dashboard;
pub use rule_tests::rule_tests;

use vsanobs_core::artifacts::{AlertRule, RuleGroup};
use vsanobs_core::model::MetricDesc;
use vsanobs_core::vsan::catalogue as cat;

use crate::engine::self_metrics as sm;

/// Names of the health, capacity and resync families and of the health query's
/// self-metrics, as the exporter serves them (labels `vcenter`, `cluster_name`,
/// `cluster_uuid` for the cluster families; `vcenter`, `cluster_name` for the self-metrics).
pub mod names {
    /// Overall health, a stateset: `status` is green, yellow, red or unknown; one at 1.
    pub const HEALTH_STATUS: &str = crate::summary::metrics::HEALTH_STATUS.name;
    /// Health per group (`group`), a stateset as [`HEALTH_STATUS`].
    pub const HEALTH_GROUP_STATUS: &str = crate::summary::metrics::HEALTH_GROUP_STATUS.name;
    /// Health per test (`group`, `test`), a stateset as [`HEALTH_STATUS`].
    pub const HEALTH_TEST_STATUS: &str = crate::summary::metrics::HEALTH_TEST_STATUS.name;
    /// 1 if the last health query of the cluster succeeded.
    pub const HEALTH_SUCCESS: &str = crate::engine::self_metrics::HEALTH_SUCCESS.name;
    /// Age of the health answer being served.
    pub const HEALTH_AGE: &str = crate::engine::self_metrics::HEALTH_AGE.name;
    /// Duration of the last health query.
    pub const HEALTH_DURATION: &str = crate::engine::self_metrics::HEALTH_DURATION.name;
    /// Capacity of the cluster's vSAN datastore.
    pub const CAPACITY_TOTAL: &str = crate::summary::metrics::CAPACITY_TOTAL.name;
    /// Free space.
    pub const CAPACITY_FREE: &str = crate::summary::metrics::CAPACITY_FREE.name;
    /// Used space.
    pub const CAPACITY_USED: &str = crate::summary::metrics::CAPACITY_USED.name;
    /// Used space by object type (`object_type`).
    pub const CAPACITY_USED_BY_TYPE: &str = crate::summary::metrics::CAPACITY_USED_BY_TYPE.name;
    /// Space saved by deduplication and compression.
    pub const CAPACITY_SAVINGS: &str = crate::summary::metrics::CAPACITY_SAVINGS.name;
    /// Savings ratio (0-1).
    pub const CAPACITY_SAVINGS_RATIO: &str = crate::summary::metrics::CAPACITY_SAVINGS_RATIO.name;
    /// Bytes left to resync.
    pub const RESYNC_BYTES: &str = crate::summary::metrics::RESYNC_BYTES.name;
    /// Objects left to resync.
    pub const RESYNC_OBJECTS: &str = crate::summary::metrics::RESYNC_OBJECTS.name;
    /// Estimated time until the resync is done.
    pub const RESYNC_ETA: &str = crate::summary::metrics::RESYNC_ETA.name;
    /// Bytes left to resync by reason (`reason`).
    pub const RESYNC_BY_REASON: &str = crate::summary::metrics::RESYNC_BY_REASON.name;
}

/// Names of the alerts, in the order of [`alert_rules`].
pub const ALERTS: [&str; 11] = [
    "VsanClusterHealthRed",
    "VsanClusterHealthYellow",
    "VsanClusterLatencyHigh",
    "VsanClusterCongestionHigh",
    "VsanClusterCapacityHigh",
    "VsanClusterCapacityCritical",
    "VsanClusterCapacityFillingUp",
    "VsanClusterResyncNotDraining",
    "VsanExporterCollectionFailing",
    "VsanExporterDataStale",
    "VsanExporterInsecureTls",
];

/// Thresholds, durations and the time scale of the generated rules. Durations are seconds
/// at time scale 1.
#[derive(Clone, Debug, PartialEq)]
pub struct RulesConfig {
    /// Every duration is divided by this (at least 1). Default 1, the shipped rules.
    pub time_scale: u32,
    /// Label matchers added to every selector, e.g. `job="vsan"` (empty: none). Default none.
    pub selector: String,
    /// Rule group name. Default `vsan`.
    pub group: String,
    /// `for:` of `VsanClusterHealthRed`. Default 5 min.
    pub health_red_for: u64,
    /// `for:` of `VsanClusterHealthYellow`. Default 30 min.
    pub health_yellow_for: u64,
    /// Read or write latency threshold, seconds. Default 0.03.
    pub latency_seconds: f64,
    /// `for:` of `VsanClusterLatencyHigh`. Default 15 min.
    pub latency_for: u64,
    /// Congestion threshold (0-255). Default 50.
    pub congestion: f64,
    /// `for:` of `VsanClusterCongestionHigh`. Default 15 min.
    pub congestion_for: u64,
    /// Used fraction of `VsanClusterCapacityHigh`. Default 0.8.
    pub capacity_warning_ratio: f64,
    /// Used fraction of `VsanClusterCapacityCritical`. Default 0.9.
    pub capacity_critical_ratio: f64,
    /// `for:` of both capacity ratio alerts. Default 15 min.
    pub capacity_for: u64,
    /// Window of the free-space trend. Default 6 h.
    pub trend_window: u64,
    /// `VsanClusterCapacityFillingUp` fires when the trend reaches 0 within this. Default 7 days.
    pub full_in: u64,
    /// `for:` of `VsanClusterCapacityFillingUp`. Default 1 h.
    pub full_for: u64,
    /// Window over which the resync backlog must go down. Default 30 min.
    pub resync_window: u64,
    /// `for:` of `VsanClusterResyncNotDraining`. Default 15 min.
    pub resync_for: u64,
    /// `for:` of `VsanExporterCollectionFailing` (performance queries). Default 15 min.
    pub collect_failing_for: u64,
    /// `for:` of `VsanExporterCollectionFailing` (health queries, which run less often).
    /// Default 30 min.
    pub health_failing_for: u64,
    /// Age of the newest sample past which the data is stale. Default 30 min (vSAN samples
    /// are 5 min apart and arrive a few minutes late).
    pub stale_after: u64,
    /// Age of the health answer past which it is stale. Default 30 min (health is queried
    /// every 5 min by default).
    pub health_stale_after: u64,
    /// `for:` of `VsanExporterDataStale`. Default 10 min.
    pub stale_for: u64,
    /// `for:` of `VsanExporterInsecureTls`. Default 5 min.
    pub insecure_for: u64,
}

const MIN: u64 = 60;
const HOUR: u64 = 3600;
const DAY: u64 = 86_400;

impl Default for RulesConfig {
    fn default() -> Self {
        RulesConfig {
            time_scale: 1,
            selector: String::new(),
            group: "vsan".to_owned(),
            health_red_for: 5 * MIN,
            health_yellow_for: 30 * MIN,
            latency_seconds: 0.03,
            latency_for: 15 * MIN,
            congestion: 50.0,
            congestion_for: 15 * MIN,
            capacity_warning_ratio: 0.8,
            capacity_critical_ratio: 0.9,
            capacity_for: 15 * MIN,
            trend_window: 6 * HOUR,
            full_in: 7 * DAY,
            full_for: HOUR,
            resync_window: 30 * MIN,
            resync_for: 15 * MIN,
            collect_failing_for: 15 * MIN,
            health_failing_for: 30 * MIN,
            stale_after: 30 * MIN,
            health_stale_after: 30 * MIN,
            stale_for: 10 * MIN,
            insecure_for: 5 * MIN,
        }
    }
}

impl RulesConfig {
    fn scale(&self) -> u64 {
        u64::from(self.time_scale.max(1))
    }

    /// `secs` at this scale, in milliseconds.
    fn scaled_ms(&self, secs: u64) -> u64 {
        secs * 1000 / self.scale()
    }

    /// `secs` at this scale as a Prometheus duration (`15m`, `1h30m`, `7s500ms`).
    fn dur(&self, secs: u64) -> String {
        duration(self.scaled_ms(secs))
    }

    /// `secs` at this scale as a number of seconds (`604800`, `10080`, `0.5`).
    fn secs(&self, secs: u64) -> String {
        fmt_num(self.scaled_ms(secs) as f64 / 1000.0)
    }

    /// `name{extra,selector}`.
    fn sel(&self, name: &str, extra: &str) -> String {
        let parts: Vec<&str> = [extra, self.selector.as_str()]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect();
        if parts.is_empty() {
            name.to_owned()
        } else {
            format!("{name}{{{}}}", parts.join(","))
        }
    }
}

/// Milliseconds as a Prometheus duration: `0s`, `1h30m`, `7s500ms`.
fn duration(ms: u64) -> String {
    if ms == 0 {
        return "0s".to_owned();
    }
    let mut out = String::new();
    let mut rest = ms;
    for (unit, size) in [
        ("d", DAY * 1000),
        ("h", HOUR * 1000),
        ("m", MIN * 1000),
        ("s", 1000),
        ("ms", 1),
    ] {
        if rest >= size {
            out.push_str(&format!("{}{unit}", rest / size));
            rest %= size;
        }
    }
    out
}

fn fmt_num(v: f64) -> String {
    let mut s = format!("{v}");
    if s.contains('e') {
        s = format!("{v:.6}");
    }
    s
}

fn pct(ratio: f64) -> String {
    fmt_num((ratio * 100.0 * 1e6).round() / 1e6)
}

fn name(d: &MetricDesc) -> &'static str {
    d.name
}

const CLUSTER: &str = "{{ $labels.cluster_name }} (vCenter {{ $labels.vcenter }})";

fn alert(
    name: &str,
    expr: String,
    for_: String,
    labels: &[(&str, &str)],
    summary: &str,
    description: String,
) -> AlertRule {
    let mut rule = AlertRule::new(name, expr).for_(for_);
    for (k, v) in labels {
        rule = rule.label(*k, *v);
    }
    rule.annotation("summary", summary)
        .annotation("description", description)
}

/// The alert rules (`docs/rules/vsan.rules.yml` for the default config): 13 rules for the
/// 11 [`ALERTS`] (`VsanExporterCollectionFailing` and `VsanExporterDataStale` have one per
/// `source`), in the group [`RulesConfig::group`].
pub fn alert_rules(c: &RulesConfig) -> RuleGroup {
    let latency = name(&cat::CLUSTER_DOMCLIENT_LATENCY);
    let congestion = name(&cat::CLUSTER_DOMCLIENT_CONGESTION);
    let used = c.sel(names::CAPACITY_USED, "");
    let total = c.sel(names::CAPACITY_TOTAL, "");
    let free = c.sel(names::CAPACITY_FREE, "");
    let resync = c.sel(names::RESYNC_BYTES, "");
    RuleGroup::new(c.group.clone())
        .alert(alert(
            ALERTS[0],
            format!("{} == 1", c.sel(names::HEALTH_STATUS, r#"status="red""#)),
            c.dur(c.health_red_for),
            &[("severity", "critical")],
            "vSAN cluster health is red.",
            format!(
                "The vSAN health of cluster {CLUSTER} is red: the health groups at red (vsan_cluster_health_group_status) say what failed."
            ),
        ))
        .alert(alert(
            ALERTS[1],
            format!("{} == 1", c.sel(names::HEALTH_STATUS, r#"status="yellow""#)),
            c.dur(c.health_yellow_for),
            &[("severity", "warning")],
            "vSAN cluster health is yellow.",
            format!(
                "The vSAN health of cluster {CLUSTER} has been yellow for {}: the health groups at yellow (vsan_cluster_health_group_status) say why.",
                c.dur(c.health_yellow_for)
            ),
        ))
        .alert(alert(
            ALERTS[2],
            format!(
                "{} > {}",
                c.sel(latency, r#"op=~"read|write""#),
                fmt_num(c.latency_seconds)
            ),
            c.dur(c.latency_for),
            &[("severity", "warning")],
            "vSAN VM IO latency is high.",
            format!(
                "The average {{{{ $labels.op }}}} latency of VM IO in cluster {CLUSTER} has been over {} ms for {}.",
                fmt_num(c.latency_seconds * 1000.0),
                c.dur(c.latency_for)
            ),
        ))
        .alert(alert(
            ALERTS[3],
            format!("{} > {}", c.sel(congestion, ""), fmt_num(c.congestion)),
            c.dur(c.congestion_for),
            &[("severity", "warning")],
            "vSAN congestion is high.",
            format!(
                "The DOM client congestion of cluster {CLUSTER} has been over {} (of 255) for {}: vSAN is slowing IO down.",
                fmt_num(c.congestion),
                c.dur(c.congestion_for)
            ),
        ))
        .alert(alert(
            ALERTS[4],
            format!(
                "{used} / {total} > {}",
                fmt_num(c.capacity_warning_ratio)
            ),
            c.dur(c.capacity_for),
            &[("severity", "warning")],
            "vSAN datastore is filling up.",
            format!(
                "More than {}% of the vSAN capacity of cluster {CLUSTER} is used.",
                pct(c.capacity_warning_ratio)
            ),
        ))
        .alert(alert(
            ALERTS[5],
            format!(
                "{used} / {total} > {}",
                fmt_num(c.capacity_critical_ratio)
            ),
            c.dur(c.capacity_for),
            &[("severity", "critical")],
            "vSAN datastore is almost full.",
            format!(
                "More than {}% of the vSAN capacity of cluster {CLUSTER} is used: vSAN may not be able to rebuild after a failure.",
                pct(c.capacity_critical_ratio)
            ),
        ))
        .alert(alert(
            ALERTS[6],
            format!(
                "predict_linear({free}[{}], {}) < 0",
                c.dur(c.trend_window),
                c.secs(c.full_in)
            ),
            c.dur(c.full_for),
            &[("severity", "warning")],
            "vSAN datastore will be full soon.",
            format!(
                "At the rate of the last {}, the vSAN capacity of cluster {CLUSTER} runs out within {}.",
                c.dur(c.trend_window),
                c.dur(c.full_in)
            ),
        ))
        .alert(alert(
            ALERTS[7],
            format!(
                "{resync} > 0\nand\ndelta({resync}[{}]) >= 0",
                c.dur(c.resync_window)
            ),
            c.dur(c.resync_for),
            &[("severity", "warning")],
            "vSAN resync is not making progress.",
            format!(
                "The bytes left to resync in cluster {CLUSTER} have not gone down over the last {}.",
                c.dur(c.resync_window)
            ),
        ))
        .alert(alert(
            ALERTS[8],
            format!("{} == 0", c.sel(name(&sm::COLLECT_SUCCESS), "")),
            c.dur(c.collect_failing_for),
            &[("severity", "warning"), ("source", "perf")],
            "vSAN performance collection is failing.",
            format!(
                "The exporter's performance queries for cluster {CLUSTER} have failed for {}: see vsan_exporter_fetch_errors_total and the exporter's log.",
                c.dur(c.collect_failing_for)
            ),
        ))
        .alert(alert(
            ALERTS[8],
            format!("{} == 0", c.sel(names::HEALTH_SUCCESS, "")),
            c.dur(c.health_failing_for),
            &[("severity", "warning"), ("source", "health")],
            "vSAN health collection is failing.",
            format!(
                "The exporter's health queries for cluster {CLUSTER} have failed for {}; the last answer is still served.",
                c.dur(c.health_failing_for)
            ),
        ))
        .alert(alert(
            ALERTS[9],
            format!(
                "time() - max without (entity_type) ({}) > {}",
                c.sel(name(&sm::LAST_SAMPLE), ""),
                c.secs(c.stale_after)
            ),
            c.dur(c.stale_for),
            &[("severity", "warning"), ("source", "perf")],
            "vSAN performance data is stale.",
            format!(
                "The newest performance sample of cluster {CLUSTER} is older than {}.",
                c.dur(c.stale_after)
            ),
        ))
        .alert(alert(
            ALERTS[9],
            format!(
                "{} > {}",
                c.sel(names::HEALTH_AGE, ""),
                c.secs(c.health_stale_after)
            ),
            c.dur(c.stale_for),
            &[("severity", "warning"), ("source", "health")],
            "vSAN health data is stale.",
            format!(
                "The health answer served for cluster {CLUSTER} is older than {}.",
                c.dur(c.health_stale_after)
            ),
        ))
        .alert(alert(
            ALERTS[10],
            format!("{} == 1", c.sel(name(&sm::INSECURE_TLS), "")),
            c.dur(c.insecure_for),
            &[("severity", "info")],
            "The exporter does not verify a vCenter's certificate.",
            "TLS certificate verification is off for vCenter {{ $labels.vcenter }}: give the exporter the vCenter's CA instead of the insecure setting.".to_owned(),
        ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_render_as_prometheus_durations() {
        assert_eq!(duration(0), "0s");
        assert_eq!(duration(300_000), "5m");
        assert_eq!(duration(5_400_000), "1h30m");
        assert_eq!(duration(604_800_000), "7d");
        assert_eq!(duration(8_571), "8s571ms");
        let fast = RulesConfig {
            time_scale: 60,
            ..RulesConfig::default()
        };
        assert_eq!(fast.dur(15 * MIN), "15s");
        assert_eq!(fast.dur(6 * HOUR), "6m");
        assert_eq!(fast.secs(7 * DAY), "10080");
        // Scale 0 is read as 1, never a division by zero.
        let zero = RulesConfig {
            time_scale: 0,
            ..RulesConfig::default()
        };
        assert_eq!(zero.dur(HOUR), "1h");
    }

    #[test]
    fn every_alert_has_severity_summary_and_description() {
        let group = alert_rules(&RulesConfig::default());
        assert_eq!(group.rules.len(), 13);
        for a in group.alerts() {
            assert!(ALERTS.contains(&a.name.as_str()), "{}", a.name);
            assert!(
                matches!(
                    a.label_value("severity"),
                    Some("critical" | "warning" | "info")
                ),
                "{}",
                a.name
            );
            assert!(a.annotation_value("summary").is_some(), "{}", a.name);
            let d = a.annotation_value("description").unwrap_or_default();
            assert!(d.contains("{{ $labels.vcenter }}"), "{}: {d}", a.name);
            assert!(!a.for_.is_empty(), "{}", a.name);
        }
    }
}
