//! The process, heap and runtime panels core contributes to the service dashboard query the
//! collectors' metrics, with the registry prefix, and the Go mapping keeps Go's process names.

use vsanobs_core::artifacts::{Dashboard, PanelKind};
use vsanobs_core::process::PROCESS_METRICS;
use vsanobs_core::process::artifacts::{
    GO_MAPPINGS, scrape_panels, service_panels, service_variables,
};

fn dashboard(prefix: &str) -> Dashboard {
    let mut d = Dashboard::new("t", "t")
        .panels(scrape_panels())
        .panels(service_panels(prefix));
    d.variables = service_variables(prefix);
    d
}

#[test]
fn panels_query_the_collectors_metrics() {
    let text = dashboard("").to_json();
    let d: serde_json::Value = serde_json::from_str(&text).unwrap();
    let panels = d["panels"].as_array().unwrap();
    vsanobs_testkit::dashboard::assert_panels_query(
        &text,
        &[
            "up{",
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
    let heatmaps = service_panels("")
        .into_iter()
        .filter(|p| p.kind == PanelKind::Heatmap)
        .count();
    assert_eq!(heatmaps, 1);
}

#[test]
fn a_prefix_applies_to_every_service_metric() {
    let json = dashboard("shop").to_json();
    assert!(json.contains("shop_process_cpu_seconds_total{"));
    assert!(json.contains("shop_tokio_tracked_tasks{"));
    assert!(json.contains("label_values(shop_process_uptime_seconds, job)"));
    assert!(!json.contains("(process_"), "{json}");
}

#[test]
fn go_process_metrics_keep_their_names() {
    // Every Go process metric with the same meaning keeps its name.
    for d in PROCESS_METRICS {
        if let Some(g) = GO_MAPPINGS.iter().find(|g| g.go == d.name) {
            assert_eq!(g.vsanobs, Some(d.name));
        }
    }
}
