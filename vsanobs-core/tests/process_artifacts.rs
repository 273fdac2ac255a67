//! The checked-in service dashboard and Go mapping page are exactly what the generators make,
//! and the page lists exactly the metrics the collectors export.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use vsanobs_core::alloc::{HEAP_METRICS, JEMALLOC_METRICS};
use vsanobs_core::build_info::BUILD_INFO_METRIC;
use vsanobs_core::process::PROCESS_METRICS;
use vsanobs_core::process::artifacts::{
    GO_MAPPINGS, ServiceDashboardConfig, go_mapping_markdown, service_dashboard_json,
};
use vsanobs_core::runtime::TOKIO_METRICS;

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
    assert_checked_in(
        "dashboards/service.json",
        &service_dashboard_json(&ServiceDashboardConfig::default()),
    );
    assert_checked_in("go-metrics-mapping.md", &go_mapping_markdown());
}

#[test]
fn dashboard_is_valid_json_with_the_required_panels() {
    let text = std::fs::read_to_string(docs().join("dashboards/service.json")).unwrap();
    let d: serde_json::Value = serde_json::from_str(&text).unwrap();
    let panels = d["panels"].as_array().unwrap();
    let ids: BTreeSet<i64> = panels.iter().map(|p| p["id"].as_i64().unwrap()).collect();
    assert_eq!(ids.len(), panels.len(), "panel ids are unique");
    let exprs: Vec<&str> = panels
        .iter()
        .flat_map(|p| p["targets"].as_array().unwrap())
        .map(|t| t["expr"].as_str().unwrap())
        .collect();
    for needle in [
        "up{",
        "http_server_request_duration_seconds_count{status=~\"5..\"",
        "sum by (site) (tokio_tracked_tasks{",
        "process_heap_inuse_bytes{",
        "process_resident_memory_bytes{",
        "rate(process_cpu_seconds_total{",
        "process_open_fds{",
    ] {
        assert!(
            exprs.iter().any(|e| e.contains(needle)),
            "no panel queries {needle}"
        );
    }
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
    let json = service_dashboard_json(&c);
    assert!(json.contains("shop_process_cpu_seconds_total{"));
    assert!(json.contains("shop_tokio_tracked_tasks{"));
    assert!(!json.contains("(process_"), "{json}");
}

/// The metric names in the second table of the checked-in page.
fn names_listed_in_page() -> BTreeSet<String> {
    let text = std::fs::read_to_string(docs().join("go-metrics-mapping.md")).unwrap();
    let section = text
        .split("## Every service metric of vsanobs")
        .nth(1)
        .expect("the page has the service metric table");
    section
        .lines()
        .filter(|l| l.starts_with("| `"))
        .map(|l| {
            let cell = l.split('|').nth(1).unwrap().trim();
            cell.trim_matches('`')
                .trim_start_matches("<ns>_")
                .to_owned()
        })
        .collect()
}

#[test]
fn go_mapping_page_lists_exactly_the_exported_metrics() {
    let code: BTreeSet<String> = PROCESS_METRICS
        .iter()
        .chain(HEAP_METRICS)
        .chain(JEMALLOC_METRICS)
        .chain(TOKIO_METRICS)
        .chain(std::iter::once(&BUILD_INFO_METRIC))
        .map(|d| d.name.to_owned())
        .collect();
    assert_eq!(names_listed_in_page(), code);
    // Every Go process metric with the same meaning keeps its name.
    for d in PROCESS_METRICS {
        if let Some(g) = GO_MAPPINGS.iter().find(|g| g.go == d.name) {
            assert_eq!(g.vsanobs, Some(d.name));
        }
    }
}
