//! End to end: a real Prometheus scrapes a service with a ReloadManager, with the generated
//! rules loaded; failed reloads make `HotReloadFailureRatioHigh` fire in `/api/v1/alerts`.
#![cfg(feature = "axum")]

use std::time::{Duration, Instant};

use serde_json::Value;
use vsanobs_core::Registry;
use vsanobs_hotreload::artifacts::{RulesConfig, alert_rules};
use vsanobs_hotreload::{ConfigFormat, ReloadManager};
use vsanobs_testkit::{Prometheus, PrometheusConfig};

fn firing<'a>(alerts: &'a Value, name: &str) -> Vec<&'a Value> {
    alerts
        .as_array()
        .map(|all| {
            all.iter()
                .filter(|a| a["labels"]["alertname"] == name && a["state"] == "firing")
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn failed_reloads_fire_the_failure_ratio_alert_in_prometheus() {
    // The service: config file, manager, /metrics and /-/reload on a free loopback port.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.json");
    std::fs::write(&path, r#"{"port": 1}"#).unwrap();
    let registry = Registry::new();
    let manager = ReloadManager::<serde_json::Value>::builder(&path)
        .format(ConfigFormat::Json)
        .watch(false)
        .register(&registry)
        .build()
        .unwrap();
    let metrics_registry = registry.clone();
    let app: axum::Router = axum::Router::new()
        .route(
            "/metrics",
            axum::routing::get(move || {
                let r = metrics_registry.clone();
                async move { r.encode_to_string(vsanobs_core::Format::PrometheusText) }
            }),
        )
        .merge(vsanobs_hotreload::http::axum_router(manager.handle()));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    rt.spawn(async move { axum::serve(listener, app).await });

    // The generated rules, with windows short enough for a test; the job is testkit's.
    let rules = RulesConfig {
        selector: r#"job="vsanobs""#.into(),
        failure_window: "20s".into(),
        failure_for: "0s".into(),
        ..RulesConfig::default()
    };
    let rules_path = dir.path().join("hot-reload.rules.yml");
    std::fs::write(&rules_path, alert_rules(&rules).to_yaml()).unwrap();

    let prometheus = Prometheus::start(PrometheusConfig {
        scrape_targets: vec![addr.clone()],
        rule_files: vec![rules_path],
        ..PrometheusConfig::default()
    })
    .unwrap_or_else(|e| panic!("{e}"));
    prometheus
        .wait_for(
            r#"hot_reload_updates_total{result="success"}"#,
            |r| r.as_array().is_some_and(|a| !a.is_empty()),
            Duration::from_secs(60),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    let groups = prometheus.rules().unwrap();
    assert_eq!(
        groups[0]["rules"].as_array().map(Vec::len),
        Some(5),
        "{groups}"
    );
    // Healthy so far: nothing fires.
    assert!(firing(&prometheus.alerts().unwrap(), "HotReloadFailureRatioHigh").is_empty());

    // Break the config and keep asking for reloads until the alert fires.
    std::fs::write(&path, r#"{"port": "#).unwrap();
    let url = format!("http://{addr}/-/reload");
    let deadline = Instant::now() + Duration::from_secs(90);
    let alert = loop {
        let r = vsanobs_testkit::http::request("POST", &url, &[], b"").unwrap();
        assert_eq!(r.status, 500, "{}", r.text());
        let alerts = prometheus.alerts().unwrap();
        if let Some(a) = firing(&alerts, "HotReloadFailureRatioHigh").first() {
            break (*a).clone();
        }
        assert!(
            Instant::now() < deadline,
            "HotReloadFailureRatioHigh never fired; alerts: {alerts}; log: {}",
            prometheus.log_tail()
        );
        std::thread::sleep(Duration::from_millis(700));
    };
    assert_eq!(alert["labels"]["job"], "vsanobs");
    assert_eq!(alert["labels"]["instance"], addr.as_str());
    assert_eq!(alert["labels"]["severity"], "warning");
    assert!(
        alert["annotations"]["description"]
            .as_str()
            .is_some_and(|d| d.contains(&addr)),
        "{alert}"
    );
    // The old config kept serving throughout.
    assert_eq!(manager.handle().load()["port"], 1);
}
