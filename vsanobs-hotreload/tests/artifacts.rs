//! The checked-in alert rules, rule tests and dashboard are exactly what the generator makes,
//! and the real promtool accepts the rules (lint fatal) and passes their unit tests.

use std::path::{Path, PathBuf};

use vsanobs_hotreload::artifacts::{self, DashboardConfig, RulesConfig};

fn rules_yaml(c: &RulesConfig) -> String {
    artifacts::alert_rules(c).to_yaml()
}

fn rules_test_yaml(c: &RulesConfig, rules_file: &str) -> String {
    artifacts::rule_tests(c, rules_file).to_yaml()
}

fn docs() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs")
}

fn assert_checked_in(rel: &str, generated: &str) {
    let path = docs().join(rel);
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        on_disk == generated,
        "{} differs from the generator output: run `cargo run -p gen-docs`",
        path.display()
    );
}

#[test]
fn checked_in_artifacts_equal_generator_output() {
    let rules = RulesConfig::default();
    assert_checked_in("rules/hot-reload.rules.yml", &rules_yaml(&rules));
    assert_checked_in(
        "rules/hot-reload.test.yml",
        &rules_test_yaml(&rules, "hot-reload.rules.yml"),
    );
    assert_checked_in(
        "dashboards/hot-reload.json",
        &artifacts::dashboard(&DashboardConfig::default()).to_json(),
    );
}

#[test]
fn promtool_lints_and_tests_the_checked_in_rules() {
    let rules = docs().join("rules/hot-reload.rules.yml");
    let out = vsanobs_testkit::promtool_check_rules(&rules, true).unwrap_or_else(|e| panic!("{e}"));
    assert!(out.contains("SUCCESS: 5 rules found"), "{out}");
    let out = vsanobs_testkit::promtool_test_rules(&docs().join("rules/hot-reload.test.yml"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(out.contains("SUCCESS"), "{out}");
}

/// Other thresholds, windows, selector and prefix give rules and tests that still pass.
#[test]
fn promtool_passes_a_custom_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let c = RulesConfig {
        selector: r#"job=~"app|other""#.into(),
        metric_prefix: "shop".into(),
        failure_ratio: 0.5,
        failure_window: "2m".into(),
        failure_for: "1m".into(),
        slow_seconds: 0.5,
        slow_window: "3m".into(),
        repeated_failures: 3,
        repeated_window: "5m".into(),
        drift_window: "10m".into(),
        disagree_for: "5m".into(),
        ..RulesConfig::default()
    };
    let rules = dir.path().join("r.yml");
    let tests = dir.path().join("t.yml");
    std::fs::write(&rules, rules_yaml(&c)).unwrap();
    std::fs::write(&tests, rules_test_yaml(&c, "r.yml")).unwrap();
    vsanobs_testkit::promtool_check_rules(&rules, true).unwrap_or_else(|e| panic!("{e}"));
    vsanobs_testkit::promtool_test_rules(&tests).unwrap_or_else(|e| panic!("{e}"));
    let text = std::fs::read_to_string(&rules).unwrap();
    assert!(
        text.contains(r#"shop_hot_reload_updates_total{result!="success",job=~"app|other"}[2m]"#)
    );
    for alert in artifacts::ALERTS {
        assert!(text.contains(alert));
    }
}

/// A rules file whose alert does not fire makes the generated tests fail: the tests can fail.
#[test]
fn generated_tests_catch_a_broken_rule() {
    let dir = tempfile::tempdir().unwrap();
    let c = RulesConfig::default();
    let broken = rules_yaml(&c).replace(") > 0.2\n", ") > 0.99\n");
    std::fs::write(dir.path().join("r.yml"), broken).unwrap();
    let tests = dir.path().join("t.yml");
    std::fs::write(&tests, rules_test_yaml(&c, "r.yml")).unwrap();
    let err = vsanobs_testkit::promtool_test_rules(&tests).unwrap_err();
    assert!(err.contains("HotReloadFailureRatioHigh"), "{err}");
}
