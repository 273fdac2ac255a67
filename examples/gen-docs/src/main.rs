//! Writes the generated documentation (docs/metrics.md, alert rules, dashboards) from the
//! crates' own metric definitions. Run from anywhere: `cargo run -p gen-docs`.

use gen_docs as docs;
use std::path::{Path, PathBuf};

fn docs_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs")
}

fn write(rel: &str, content: &str) -> std::io::Result<()> {
    let path = docs_dir().join(rel);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&path, content)?;
    println!("wrote {}", path.display());
    Ok(())
}

fn main() -> std::io::Result<()> {
    write("metrics.md", &docs::metrics_markdown(&docs::sections()))?;
    // vsanobs-hotreload: alert rules, their promtool unit tests and the dashboard.
    {
        use vsanobs_hotreload::artifacts::{self, DashboardConfig, RulesConfig};
        let rules = RulesConfig::default();
        write("rules/hot-reload.rules.yml", &artifacts::rules_yaml(&rules))?;
        let tests = artifacts::rules_test_yaml(&rules, "hot-reload.rules.yml");
        write("rules/hot-reload.test.yml", &tests)?;
        let dashboard = artifacts::dashboard_json(&DashboardConfig::default());
        write("dashboards/hot-reload.json", &dashboard)?;
    }
    // vsanobs-http: recording rules and the route-matrix dashboard.
    write(
        "rules/http.rules.yml",
        &vsanobs_http::dashboards::recording_rules_yaml(),
    )?;
    write(
        "dashboards/http.json",
        &vsanobs_http::dashboards::dashboard_json(),
    )?;
    // vsanobs-core process, heap and runtime: the service dashboard and the Go mapping page.
    {
        use vsanobs_core::process::artifacts::{self, ServiceDashboardConfig};
        let dashboard = artifacts::service_dashboard_json(&ServiceDashboardConfig::default());
        write("dashboards/service.json", &dashboard)?;
        write("go-metrics-mapping.md", &artifacts::go_mapping_markdown())?;
    }
    Ok(())
}
