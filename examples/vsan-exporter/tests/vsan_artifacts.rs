//! The vSAN alert rules pass `promtool check rules --lint=all` and their generated unit
//! tests (`promtool test rules`), at the shipped time scale and at the scale the live test
//! uses; the unit tests catch each alert that no longer fires; the dashboard is importable
//! JSON whose panels query the exporter's families.

use std::path::{Path, PathBuf};

use vsan_exporter::artifacts::{self, ALERTS, RulesConfig};
use vsanobs_core::artifacts::{Rule, RuleGroup};

fn docs() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs")
}

/// Writes `group` and the unit tests of `c` into a temporary directory; runs promtool's lint
/// and unit tests on them.
fn promtool_rules_and_tests(group: &RuleGroup, c: &RulesConfig) -> Result<(), String> {
    promtool_rules_and_tests_of(group, c, None)
}

/// As [`promtool_rules_and_tests`], with only the unit tests of alert `only` when given.
fn promtool_rules_and_tests_of(
    group: &RuleGroup,
    c: &RulesConfig,
    only: Option<&str>,
) -> Result<(), String> {
    let dir = tempfile::tempdir().expect("tempdir");
    let rules = dir.path().join("r.yml");
    let tests = dir.path().join("t.yml");
    let mut unit_tests = artifacts::rule_tests(c, "r.yml");
    if let Some(alert) = only {
        unit_tests
            .tests
            .retain(|t| t.alert_tests.iter().any(|a| a.alert == alert));
    }
    std::fs::write(&rules, group.to_yaml()).expect("write rules");
    std::fs::write(&tests, unit_tests.to_yaml()).expect("write tests");
    vsanobs_testkit::promtool_check_rules(&rules, true)?;
    vsanobs_testkit::promtool_test_rules(&tests).map(|_| ())
}

#[test]
fn promtool_lints_and_tests_the_checked_in_rules() {
    let rules = docs().join("rules/vsan.rules.yml");
    let out = vsanobs_testkit::promtool_check_rules(&rules, true).unwrap_or_else(|e| panic!("{e}"));
    assert!(out.contains("SUCCESS: 13 rules found"), "{out}");
    let out = vsanobs_testkit::promtool_test_rules(&docs().join("rules/vsan.test.yml"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(out.contains("SUCCESS"), "{out}");
    // The checked-in files are the generator's (gen-docs' test checks every generated file;
    // this names the vSAN ones when they differ).
    let c = RulesConfig::default();
    let on_disk = std::fs::read_to_string(&rules).unwrap_or_default();
    assert!(
        on_disk == artifacts::alert_rules(&c).to_yaml(),
        "docs/rules/vsan.rules.yml is stale: run `cargo run -p gen-docs`"
    );
}

/// A firing and a quiet case for every alert, and for every `source` of the alerts that
/// have several rules.
#[test]
fn every_rule_has_a_firing_and_a_quiet_case() {
    let c = RulesConfig::default();
    let group = artifacts::alert_rules(&c);
    let tests = artifacts::rule_tests(&c, "vsan.rules.yml");
    let names: Vec<&str> = group.alerts().map(|a| a.name.as_str()).collect();
    for alert in ALERTS {
        assert!(names.contains(&alert), "{alert} has no rule");
    }
    for rule in group.alerts() {
        let source = rule.label_value("source");
        let checks = tests
            .tests
            .iter()
            .flat_map(|t| &t.alert_tests)
            .filter(|a| a.alert == rule.name);
        let firing = checks
            .clone()
            .filter(|a| {
                a.expected.iter().any(|e| {
                    e.labels
                        .iter()
                        .find(|(k, _)| k == "source")
                        .map(|(_, v)| v.as_str())
                        == source
                })
            })
            .count();
        let quiet = checks.filter(|a| a.expected.is_empty()).count();
        assert!(firing >= 1, "{} ({source:?}) has no firing case", rule.name);
        assert!(quiet >= 1, "{} has no quiet case", rule.name);
    }
}

/// The rules the live test loads (time scale 60) and other thresholds still pass their own
/// unit tests.
#[test]
fn promtool_passes_scaled_and_custom_configurations() {
    for c in [
        RulesConfig {
            time_scale: 60,
            ..RulesConfig::default()
        },
        RulesConfig {
            time_scale: 7,
            selector: r#"job="vsan""#.into(),
            latency_seconds: 0.005,
            congestion: 20.0,
            capacity_warning_ratio: 0.7,
            capacity_critical_ratio: 0.85,
            resync_window: 3600,
            full_in: 3 * 86_400,
            ..RulesConfig::default()
        },
    ] {
        let group = artifacts::alert_rules(&c);
        promtool_rules_and_tests(&group, &c)
            .unwrap_or_else(|e| panic!("time scale {}: {e}", c.time_scale));
        if !c.selector.is_empty() {
            for rule in group.alerts() {
                for (at, _) in rule.expr.match_indices("vsan_") {
                    let rest = &rule.expr[at..];
                    let selector = rest
                        .find(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '_'))
                        .map(|end| &rest[end..])
                        .unwrap_or_default();
                    assert!(
                        selector.starts_with('{')
                            && selector[..selector.find('}').unwrap_or(0)].contains(&c.selector),
                        "{}: a selector without {}: {}",
                        rule.name,
                        c.selector,
                        rule.expr
                    );
                }
            }
        }
    }
}

/// Each alert's firing case fails when its rule can no longer fire: the unit tests can fail.
#[test]
fn the_unit_tests_catch_every_alert_that_stops_firing() {
    let c = RulesConfig::default();
    let group = artifacts::alert_rules(&c);
    for i in 0..group.rules.len() {
        let mut broken = group.clone();
        let Rule::Alert(rule) = &mut broken.rules[i] else {
            panic!("rule {i} is not an alert");
        };
        rule.expr = format!("({})\nand on () vector(0) > 1", rule.expr);
        let name = rule.name.clone();
        let err = promtool_rules_and_tests_of(&broken, &c, Some(&name))
            .err()
            .unwrap_or_else(|| panic!("the unit tests pass with {name} (rule {i}) unable to fire"));
        assert!(err.contains(&name), "{name}: {err}");
    }
}

#[test]
fn the_dashboard_imports_and_queries_every_part() {
    let json = artifacts::dashboard().to_json();
    let v: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    assert!(v.get("__inputs").is_none(), "imports without inputs");
    let vars: Vec<&str> = v["templating"]["list"]
        .as_array()
        .expect("templating")
        .iter()
        .map(|t| t["name"].as_str().expect("name"))
        .collect();
    assert_eq!(vars, ["datasource", "vcenter", "cluster", "host", "vm"]);
    vsanobs_testkit::dashboard::assert_panels_query(
        &json,
        &[
            "vsan_cluster_health_status",
            "vsan_cluster_health_group_status",
            "vsan_cluster_health_test_status",
            "vsan_cluster_capacity_used_bytes",
            "predict_linear(vsan_cluster_capacity_free_bytes",
            "vsan_cluster_capacity_used_by_type_bytes",
            "vsan_cluster_capacity_savings_ratio",
            "vsan_cluster_domclient_io_operations_per_second",
            "vsan_cluster_domclient_io_bytes_per_second",
            "vsan_cluster_domclient_io_latency_seconds",
            "vsan_cluster_domclient_congestion",
            "vsan_cluster_domclient_outstanding_io",
            "vsan_cluster_resync_remaining_bytes",
            "vsan_cluster_resync_remaining_objects",
            "vsan_cluster_resync_eta_seconds",
            "vsan_cluster_resync_remaining_by_reason_bytes",
            "vsan_host_domclient_io_latency_seconds{vcenter=~\"$vcenter\",cluster_name=~\"$cluster\",host_name=~\"$host\"}",
            "vsan_disk_group_io_latency_seconds",
            "vsan_capacity_disk_device_latency_seconds",
            "vsan_esa_disk_layer_io_latency_seconds",
            "vsan_vm_io_latency_seconds",
            "vsan_exporter_collect_success",
            "vsan_exporter_collect_duration_seconds",
            "vsan_exporter_fetch_errors_total",
            "vsan_exporter_clusters",
            "vsan_exporter_cluster_state",
            "vsan_exporter_health_age_seconds",
            "vsan_exporter_health_success",
            "vsan_exporter_health_duration_seconds",
            "vsan_exporter_insecure_tls",
            "vsan_exporter_last_sample_timestamp_seconds",
        ],
    );
}
