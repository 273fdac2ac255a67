//! A real Prometheus scrapes the `axum-demo` example service: every process, heap, tokio,
//! build-info and HTTP route metric the service registers comes back from the query API, and
//! `promtool check metrics` accepts its /metrics output.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use vsanobs_core::model::MetricKind;
use vsanobs_testkit::{
    Prometheus, PrometheusConfig, free_port, http, promtool_check_metrics, vector_samples,
};

// Kills the process when the test ends, however it ends.
use vsanobs_testkit::KillOnDrop as Demo;

fn start_demo() -> (Demo, String) {
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let child = Command::new(env!("CARGO_BIN_EXE_axum-demo"))
        .args(["--web.listen-address", &addr])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("axum-demo binary must start");
    let demo = Demo(child);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = http::get(&format!("http://{addr}/")) {
            if r.status == 200 {
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "axum-demo did not answer on {addr} within 60 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    (demo, addr)
}

fn expected_names() -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    let counter_or_plain = |m: &vsanobs_core::model::MetricDesc| match m.kind {
        // Prometheus stores histograms as their _count/_sum/_bucket series.
        MetricKind::Histogram => format!("{}_count", m.name),
        _ => m.name.to_owned(),
    };
    for table in [
        vsanobs_core::process::PROCESS_METRICS,
        vsanobs_core::alloc::HEAP_METRICS,
        vsanobs_core::runtime::TOKIO_METRICS,
        vsanobs_http::metrics::ROUTE_METRICS,
        vsanobs_core::SELF_METRICS,
    ] {
        for m in table {
            names.push(counter_or_plain(m));
        }
    }
    names.push("build_info".to_owned());
    names
}

#[test]
fn prometheus_scrapes_every_metric_of_the_demo_service() {
    let (_demo, addr) = start_demo();
    // Traffic over a plain, a nested, a failing and an unmatched route.
    for path in [
        "/users/1",
        "/api/v1/items/7",
        "/api/v1/items/missing",
        "/fail",
        "/no/such/route",
    ] {
        let r = http::get(&format!("http://{addr}{path}")).expect("request to axum-demo");
        assert!(r.status >= 200, "{path}: {}", r.status);
    }
    let text =
        String::from_utf8(http::get(&format!("http://{addr}/metrics")).unwrap().body).unwrap();
    promtool_check_metrics(&text)
        .unwrap_or_else(|e| panic!("promtool check metrics failed: {e}\n{text}"));

    let prom = Prometheus::start(PrometheusConfig {
        scrape_targets: vec![addr.clone()],
        ..PrometheusConfig::default()
    })
    .expect("start a real Prometheus (run scripts/test to install it)");
    prom.wait_for(
        "up{job=\"vsanobs\"} == 1",
        |v| !vector_samples(v).is_empty(),
        Duration::from_secs(60),
    )
    .expect("Prometheus scrapes axum-demo");
    let mut missing = Vec::new();
    for name in expected_names() {
        // histogram body sizes are optional families; the demo enables them.
        let got = prom.wait_for(
            &format!("{{__name__=\"{name}\"}}"),
            |v| !vector_samples(v).is_empty(),
            Duration::from_secs(30),
        );
        if got.is_err() {
            missing.push(name);
        }
    }
    assert!(
        missing.is_empty(),
        "not returned by Prometheus: {missing:?}"
    );

    // Spot-check values that must be exact or plausible.
    let threads = vector_samples(&prom.query("process_threads").unwrap());
    assert!(
        threads[0].value.parse::<f64>().unwrap() >= 2.0,
        "{threads:?}"
    );
    let ticker = vector_samples(
        &prom
            .query("tokio_tracked_tasks{site=\"demo_ticker\"}")
            .unwrap(),
    );
    assert_eq!(ticker.len(), 1);
    assert_eq!(ticker[0].value, "1");
    let unmatched = vector_samples(
        &prom
            .query("http_server_request_duration_seconds_count{route=\"unmatched\",method=\"GET\",status=\"404\"}")
            .unwrap(),
    );
    assert_eq!(unmatched.len(), 1, "{unmatched:?}");
    assert_eq!(unmatched[0].value, "1");
    let build = vector_samples(&prom.query("build_info").unwrap());
    assert_eq!(
        build[0].labels.get("version").map(String::as_str),
        Some(env!("CARGO_PKG_VERSION"))
    );
}
