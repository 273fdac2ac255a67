//! The generated recording rules and dashboards: checked in up to date, and every PromQL
//! expression accepted by promtool.

use std::path::PathBuf;

use vsanobs_core::artifacts::Dashboard;
use vsanobs_http::artifacts::{
    ServiceDashboardConfig, recording_rules, route_dashboard, service_dashboard,
};

fn docs() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs")
}

fn assert_checked_in(rel: &str, generated: &str) {
    let path = docs().join(rel);
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        on_disk == generated,
        "{} is stale or missing: run `cargo run -p gen-docs`",
        path.display()
    );
}

#[test]
fn checked_in_artifacts_match_the_generators() {
    assert_checked_in("rules/http.rules.yml", &recording_rules().to_yaml());
    assert_checked_in("dashboards/http.json", &route_dashboard().to_json());
    assert_checked_in(
        "dashboards/service.json",
        &service_dashboard(&ServiceDashboardConfig::default()).to_json(),
    );
}

#[test]
fn recording_rules_pass_promtool() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("http.rules.yml");
    std::fs::write(&path, recording_rules().to_yaml()).unwrap();
    let out = vsanobs_testkit::promtool_check_rules(&path, true).unwrap_or_else(|e| panic!("{e}"));
    assert!(out.contains("SUCCESS"), "{out}");
}

/// Every query of `dashboard`, Grafana variables replaced by values Prometheus accepts, each
/// as a recording rule that promtool must accept; returns how many there were.
fn queries_pass_promtool(dashboard: &Dashboard) -> usize {
    let mut yaml = String::from("groups:\n  - name: dashboard\n    rules:\n");
    let mut n = 0;
    for expr in dashboard.queries() {
        let expr = expr
            .replace("$__rate_interval", "5m")
            .replace("$__range", "1h")
            .replace("$job", ".*")
            .replace("$instance", ".*")
            .replace("$route", ".*");
        assert!(!expr.contains('$'), "unreplaced variable in {expr}");
        n += 1;
        yaml.push_str(&format!(
            "      - record: dashboard:query_{n}\n        expr: {}\n",
            serde_json::Value::String(expr)
        ));
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dashboard.rules.yml");
    std::fs::write(&path, &yaml).unwrap();
    vsanobs_testkit::promtool_check_rules(&path, false).unwrap_or_else(|e| panic!("{e}\n{yaml}"));
    // And the dashboard JSON holds exactly those queries.
    let json: serde_json::Value = serde_json::from_str(&dashboard.to_json()).unwrap();
    let exprs: Vec<&str> = json["panels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["targets"].as_array().unwrap())
        .map(|t| t["expr"].as_str().unwrap())
        .collect();
    assert_eq!(exprs, dashboard.queries().collect::<Vec<_>>());
    n
}

#[test]
fn dashboard_queries_pass_promtool() {
    assert_eq!(queries_pass_promtool(&route_dashboard()), 6);
}

#[test]
fn service_dashboard_queries_pass_promtool() {
    let d = service_dashboard(&ServiceDashboardConfig::default());
    assert_eq!(queries_pass_promtool(&d), 18);
}

#[test]
fn service_dashboard_is_valid_json_with_the_required_panels() {
    let text = std::fs::read_to_string(docs().join("dashboards/service.json")).unwrap();
    let d: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert!(d.get("__inputs").is_none());
    let panels = d["panels"].as_array().unwrap();
    vsanobs_testkit::dashboard::assert_panels_query(
        &text,
        &[
            "up{",
            "http_server_request_duration_seconds_count{status=~\"5..\"",
            "sum by (site) (tokio_tracked_tasks{",
            "process_heap_inuse_bytes{",
            "process_resident_memory_bytes{",
            "rate(process_cpu_seconds_total{",
            "process_open_fds{",
        ],
    );
    let heatmap = panels.iter().find(|p| p["type"] == "heatmap").unwrap();
    assert!(
        heatmap["targets"][0]["expr"]
            .as_str()
            .unwrap()
            .contains("tokio_tracked_tasks")
    );
}

#[test]
fn a_prefix_applies_to_every_service_metric() {
    let c = ServiceDashboardConfig {
        metric_prefix: "shop".into(),
        ..ServiceDashboardConfig::default()
    };
    let json = service_dashboard(&c).to_json();
    assert!(json.contains("shop_process_cpu_seconds_total{"));
    assert!(json.contains("shop_tokio_tracked_tasks{"));
    assert!(json.contains("shop_http_server_request_duration_seconds_count{"));
    assert!(!json.contains("(process_"), "{json}");
    assert!(!json.contains("(http_server"), "{json}");
}
