//! One service instrumented through prometheus-client, the `metrics` facade, the
//! OpenTelemetry SDK and vsanobs itself: one registry serves them all; promtool accepts the
//! text; a real Prometheus scrapes it in both formats with no error; every value it stores
//! equals what the instrumenting code recorded.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

use opentelemetry::KeyValue;
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use prometheus_client::metrics::counter::Counter as PcCounter;
use prometheus_client::metrics::exemplar::CounterWithExemplar as PcCounterWithExemplar;
use prometheus_client::metrics::family::Family as PcFamily;
use prometheus_client::metrics::histogram::Histogram as PcHistogram;
use vsanobs_bridge::facade::VsanobsRecorder;
use vsanobs_bridge::otel::PrometheusReader;
use vsanobs_bridge::prometheus_client::PrometheusClientCollector;
use vsanobs_core::{Format, Registry};
use vsanobs_testkit::{Prometheus, PrometheusConfig, promtool_check_metrics, vector_samples};

/// The service: every API records into it; returns the registry and the OTel provider (kept
/// alive while the test runs).
fn service() -> (Registry, SdkMeterProvider, VsanobsRecorder) {
    let registry = Registry::new();
    // vsanobs itself.
    registry
        .counter("own_requests_total", "Requests (vsanobs).")
        .unwrap()
        .inc_by(5);

    // prometheus-client.
    let mut pc = prometheus_client::registry::Registry::default();
    let hits = PcFamily::<Vec<(String, String)>, PcCounter>::default();
    pc.register("pc_hits", "Cache hits (prometheus-client)", hits.clone());
    hits.get_or_create(&vec![("cache".into(), "users".into())])
        .inc_by(3);
    let lat = PcHistogram::new([0.1, 1.0]);
    pc.register(
        "pc_latency_seconds",
        "Latency (prometheus-client)",
        lat.clone(),
    );
    lat.observe(0.2);
    lat.observe(2.0);
    // prometheus-client's usual exemplar: a trace id alone (plus a custom label), no
    // timestamp.
    let traced = PcCounterWithExemplar::<Vec<(String, String)>>::default();
    pc.register(
        "pc_traced",
        "Traced jobs (prometheus-client)",
        traced.clone(),
    );
    traced.inc_by(
        7,
        Some(vec![
            ("trace_id".into(), "4bf92f3577b34da6a3ce929d0e0e4736".into()),
            ("user".into(), "x y".into()),
        ]),
        None,
    );
    PrometheusClientCollector::new("prometheus_client", pc)
        .register(&registry)
        .unwrap();

    // The metrics facade.
    let recorder = VsanobsRecorder::builder("metrics_facade")
        .buckets("*_seconds", [0.01, 0.1])
        .build();
    recorder.register(&registry).unwrap();
    metrics::with_local_recorder(&recorder, || {
        metrics::describe_counter!("facade_jobs_total", "Jobs (metrics facade).");
        metrics::counter!("facade_jobs_total", "queue" => "mail").increment(4);
        metrics::gauge!("facade.workers").set(2.0);
        metrics::histogram!("facade_job_duration_seconds").record(0.05);
    });

    // OpenTelemetry.
    let reader = PrometheusReader::new("opentelemetry");
    reader.register(&registry).unwrap();
    let provider = SdkMeterProvider::builder()
        .with_reader(reader)
        .with_resource(
            Resource::builder_empty()
                .with_attribute(KeyValue::new("service.name", "all-bridges"))
                .build(),
        )
        .build();
    let meter = provider.meter("bridge.test");
    meter
        .u64_counter("otel.orders")
        .build()
        .add(6, &[KeyValue::new("payment.method", "card")]);
    let h = meter
        .f64_histogram("otel.latency")
        .with_unit("s")
        .with_boundaries(vec![0.5])
        .build();
    h.record(0.25, &[]);
    h.record(0.75, &[]);
    (registry, provider, recorder)
}

/// Serves `/om` (OpenMetrics) and `/text` (text 0.0.4) until the process exits.
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
            let format = if req.starts_with(b"GET /om ") {
                Format::OpenMetrics
            } else {
                Format::PrometheusText
            };
            let body = registry.encode_to_string(format);
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                format.content_type(),
                body.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(body.as_bytes());
        }
    });
    port
}

/// (query, expected value) for every value the service recorded.
const EXPECTED: &[(&str, &str)] = &[
    ("own_requests_total", "5"),
    (r#"pc_hits_total{cache="users"}"#, "3"),
    ("pc_traced_total", "7"),
    (r#"pc_latency_seconds_bucket{le="0.1"}"#, "0"),
    (r#"pc_latency_seconds_bucket{le="1.0"}"#, "1"),
    (r#"pc_latency_seconds_bucket{le="+Inf"}"#, "2"),
    ("pc_latency_seconds_sum", "2.2"),
    (r#"facade_jobs_total{queue="mail"}"#, "4"),
    ("facade_workers", "2"),
    (r#"facade_job_duration_seconds_bucket{le="0.1"}"#, "1"),
    ("facade_job_duration_seconds_count", "1"),
    (
        r#"otel_orders_total{otel_scope_name="bridge.test",payment_method="card"}"#,
        "6",
    ),
    (r#"otel_latency_seconds_bucket{le="0.5"}"#, "1"),
    ("otel_latency_seconds_count", "2"),
    ("otel_latency_seconds_sum", "1"),
    (r#"target_info{service_name="all-bridges"}"#, "1"),
];

#[test]
fn one_endpoint_serves_all_four_apis_to_a_real_prometheus_in_both_formats() {
    let (registry, _provider, _recorder) = service();
    let text = registry.encode_to_string(Format::PrometheusText);
    if let Err(e) = promtool_check_metrics(&text) {
        panic!("promtool check metrics failed: {e}\n{text}");
    }
    for c in ["prometheus_client", "metrics_facade", "opentelemetry"] {
        assert!(
            text.contains(&format!(
                "vsanobs_scrape_collector_success{{collector=\"{c}\"}} 1\n"
            )),
            "{c}:\n{text}"
        );
    }

    let port = serve(registry);
    let prometheus = Prometheus::start(PrometheusConfig {
        scrape_configs: format!(
            "- job_name: om\n  metrics_path: /om\n  static_configs:\n    - targets: [\"127.0.0.1:{port}\"]\n\
             - job_name: text\n  metrics_path: /text\n  static_configs:\n    - targets: [\"127.0.0.1:{port}\"]\n"
        ),
        extra_args: vec!["--enable-feature=exemplar-storage".to_owned()],
        ..PrometheusConfig::default()
    })
    .unwrap_or_else(|e| panic!("cannot start prometheus: {e}"));

    for job in ["om", "text"] {
        for (query, want) in EXPECTED {
            let q = match query.find('{') {
                Some(i) => format!("{}{{job=\"{job}\",{}", &query[..i], &query[i + 1..]),
                None => format!("{query}{{job=\"{job}\"}}"),
            };
            let got = prometheus
                .wait_for(
                    &q,
                    |r| !vector_samples(r).is_empty(),
                    Duration::from_secs(60),
                )
                .unwrap_or_else(|e| panic!("{q}: {e}"));
            let samples = vector_samples(&got);
            assert_eq!(samples.len(), 1, "{q}: {samples:?}");
            assert_eq!(samples[0].value, *want, "{q}");
        }
    }
    let targets = prometheus.targets().unwrap();
    let targets = targets.as_array().unwrap();
    assert_eq!(targets.len(), 2);
    for t in targets {
        assert_eq!(t["health"], "up", "{t}");
        assert_eq!(t["lastError"], "", "{t}");
    }
    // The OpenMetrics job saw the types the text job cannot carry (info) and units.
    let info = prometheus.query(r#"target_info{job="om"}"#).unwrap();
    assert_eq!(vector_samples(&info).len(), 1);
    // prometheus-client's exemplar (a trace id and a custom label, no timestamp) reaches
    // Prometheus through the OpenMetrics job as written.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let data = prometheus
            .query_exemplars(r#"pc_traced_total{job="om"}"#)
            .unwrap_or_else(|e| panic!("query_exemplars: {e}"));
        let found = data.as_array().into_iter().flatten().any(|series| {
            series["exemplars"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|ex| {
                    ex["labels"]
                        == serde_json::json!({
                            "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
                            "user": "x y"
                        })
                        && ex["value"] == "7"
                })
        });
        if found {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "prometheus never returned the prometheus-client exemplar; last answer {data}; log:\n{}",
            prometheus.log_tail()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}
