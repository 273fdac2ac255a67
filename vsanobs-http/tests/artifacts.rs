//! The generated recording rules and dashboard: checked in up to date, and every PromQL
//! expression accepted by promtool.

use std::path::PathBuf;

use vsanobs_http::dashboards;

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
    assert_checked_in("rules/http.rules.yml", &dashboards::recording_rules_yaml());
    assert_checked_in("dashboards/http.json", &dashboards::dashboard_json());
}

#[test]
fn recording_rules_pass_promtool() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("http.rules.yml");
    std::fs::write(&path, dashboards::recording_rules_yaml()).unwrap();
    let out = vsanobs_testkit::promtool_check_rules(&path, true).unwrap_or_else(|e| panic!("{e}"));
    assert!(out.contains("SUCCESS"), "{out}");
}

#[test]
fn dashboard_queries_pass_promtool() {
    // Grafana variables replaced by values Prometheus accepts, each query as a rule.
    let mut yaml = String::from("groups:\n  - name: dashboard\n    rules:\n");
    let mut n = 0;
    for (_, targets) in dashboards::dashboard_queries() {
        for (_, expr) in targets {
            let expr = expr
                .replace("$__rate_interval", "5m")
                .replace("$job", ".*")
                .replace("$route", ".*");
            assert!(!expr.contains('$'), "unreplaced variable in {expr}");
            n += 1;
            yaml.push_str(&format!(
                "      - record: dashboard:query_{n}\n        expr: {}\n",
                serde_json::Value::String(expr)
            ));
        }
    }
    assert_eq!(n, 6);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dashboard.rules.yml");
    std::fs::write(&path, &yaml).unwrap();
    vsanobs_testkit::promtool_check_rules(&path, false).unwrap_or_else(|e| panic!("{e}\n{yaml}"));
    // And the dashboard JSON holds exactly those queries.
    let dash: serde_json::Value = serde_json::from_str(&dashboards::dashboard_json()).unwrap();
    let exprs: Vec<&str> = dash["panels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["targets"].as_array().unwrap())
        .map(|t| t["expr"].as_str().unwrap())
        .collect();
    assert_eq!(exprs.len(), n);
}
