//! Every process, heap, runtime and build-info metric passes `promtool check metrics` and is
//! returned by a real Prometheus that scrapes a server exposing them.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Duration;

use vsanobs_core::alloc::{CountingAlloc, HEAP_METRICS, HeapCollector};
use vsanobs_core::build_info::BUILD_INFO_METRIC;
use vsanobs_core::process::artifacts::{scrape_panels, service_panels};
use vsanobs_core::process::{PROCESS_METRICS, ProcessCollector};
use vsanobs_core::runtime::{TOKIO_METRICS, TokioCollector, spawn_tracked};
use vsanobs_core::{Format, Registry};
use vsanobs_testkit::{Prometheus, PrometheusConfig, promtool_check_metrics};

#[global_allocator]
static GLOBAL: CountingAlloc<std::alloc::System> = CountingAlloc::new(std::alloc::System);

/// The registry of a service using everything this issue provides.
fn service_registry(rt: &tokio::runtime::Runtime) -> Registry {
    let r = Registry::builder().prefix("app").build().unwrap();
    r.register_collector(ProcessCollector::new()).unwrap();
    r.register_collector(HeapCollector::new()).unwrap();
    r.register_collector(TokioCollector::with_handle(rt.handle().clone()))
        .unwrap();
    vsanobs_core::build_info!().register(&r).unwrap();
    r
}

/// Every series name the registry should export (prefixed, as Prometheus stores them).
fn expected_names() -> BTreeSet<String> {
    PROCESS_METRICS
        .iter()
        .chain(HEAP_METRICS)
        .chain(TOKIO_METRICS)
        .map(|d| format!("app_{}", d.name))
        .chain(std::iter::once(format!("app_{}", BUILD_INFO_METRIC.name)))
        .collect()
}

fn runtime_with_tracked_task() -> tokio::runtime::Runtime {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let _g = rt.enter();
    spawn_tracked("background_refresh", std::future::pending::<()>());
    rt
}

#[test]
fn promtool_check_metrics_passes_on_every_collector() {
    let rt = runtime_with_tracked_task();
    let r = service_registry(&rt);
    let text = r.encode_to_string(Format::PrometheusText);
    for name in expected_names() {
        assert!(
            text.contains(&format!("\n{name}")),
            "{name} missing:\n{text}"
        );
    }
    assert!(!text.contains("collector=\"process\"} 0"), "{text}");
    assert!(!text.contains("collector=\"heap\"} 0"), "{text}");
    assert!(!text.contains("collector=\"tokio\"} 0"), "{text}");
    if let Err(e) = promtool_check_metrics(&text) {
        panic!("promtool check metrics failed: {e}\n{text}");
    }
}

/// Serves the registry on `GET /metrics` until the process exits.
fn serve(registry: Registry) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut req = Vec::new();
            let mut buf = [0u8; 4096];
            while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => req.extend_from_slice(&buf[..n]),
                }
            }
            let body = registry.encode_to_string(Format::PrometheusText);
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                Format::PrometheusText.content_type(),
                body.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(body.as_bytes());
        }
    });
    port
}

#[test]
fn a_real_prometheus_scrape_returns_every_metric() {
    let rt = runtime_with_tracked_task();
    let port = serve(service_registry(&rt));
    let prometheus = Prometheus::start(PrometheusConfig {
        scrape_targets: vec![format!("127.0.0.1:{port}")],
        ..PrometheusConfig::default()
    })
    .unwrap_or_else(|e| panic!("cannot start prometheus: {e}"));
    let want = expected_names();
    let query = r#"{__name__=~"app_.+"}"#;
    let result = prometheus
        .wait_for(
            query,
            |r| {
                let got: BTreeSet<String> = r
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|s| s["metric"]["__name__"].as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default();
                want.is_subset(&got)
            },
            Duration::from_secs(60),
        )
        .unwrap_or_else(|e| panic!("not every metric arrived: {e}"));
    let tracked = result
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["metric"]["__name__"] == "app_tokio_tracked_tasks")
        .unwrap();
    assert_eq!(tracked["metric"]["site"], "background_refresh");
    assert_eq!(tracked["value"][1], "1");
    let up = prometheus.query("up").unwrap();
    assert_eq!(up[0]["value"][1], "1");

    // Every query of the service dashboard panels core contributes is valid PromQL, and
    // those over the metrics of this issue return data. (vsanobs-http's tests check the
    // HTTP panels it adds.)
    let panels = scrape_panels().into_iter().chain(service_panels("app"));
    for expr in panels.flat_map(|p| p.queries).map(|q| q.expr) {
        let q = expr
            .replace("$job", ".*")
            .replace("$instance", ".*")
            .replace("$__rate_interval", "1m")
            .replace("$__range", "5m");
        let result = prometheus
            .query(&q)
            .unwrap_or_else(|e| panic!("dashboard query {q:?} failed: {e}"));
        let expect_data = !q.contains("http_server") && !q.contains("== 0");
        if expect_data && !q.contains("rate(") && !q.contains("delta(") {
            assert!(
                result.as_array().is_some_and(|a| !a.is_empty()),
                "no data for {q:?}"
            );
        }
    }
}
