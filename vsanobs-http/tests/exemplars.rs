//! Exemplars from a real tracing + tracing-opentelemetry subscriber: the request's trace id
//! appears in the OpenMetrics exemplar of its bucket, and a real Prometheus with
//! exemplar storage returns it from /api/v1/query_exemplars.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::{Next, from_fn};
use axum::response::Response;
use axum::routing::get;
use opentelemetry::trace::{TraceContextExt, TracerProvider};
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;
use vsanobs_core::{Format, Registry};
use vsanobs_http::{HttpMetricsLayer, MetricsEndpoint};
use vsanobs_testkit::{Prometheus, PrometheusConfig};

fn init_tracing() {
    static INIT: OnceLock<()> = OnceLock::new();
    INIT.get_or_init(|| {
        let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
        let tracer = provider.tracer("vsanobs-http-test");
        let subscriber =
            tracing_subscriber::registry().with(tracing_opentelemetry::layer().with_tracer(tracer));
        tracing::subscriber::set_global_default(subscriber).expect("one global subscriber");
    });
}

/// Opens a span per request (as a tracing middleware would) and reports its trace id.
async fn traced(req: Request, next: Next) -> Response {
    let span = tracing::info_span!("request", path = %req.uri().path());
    let trace_id = span.context().span().span_context().trace_id().to_string();
    let mut resp = next.run(req).instrument(span).await;
    if let Ok(v) = HeaderValue::from_str(&trace_id) {
        resp.headers_mut().insert("x-trace-id", v);
    }
    resp
}

async fn serve(registry: &Registry) -> std::net::SocketAddr {
    let layer = HttpMetricsLayer::new(registry).unwrap();
    assert!(layer.metrics().exemplars_enabled());
    let app: Router = Router::new()
        .route("/users/{id}", get(|| async { "user" }))
        .layer(layer)
        .layer(from_fn(traced));
    let app = MetricsEndpoint::new(registry.clone()).mount(app);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    addr
}

async fn traced_request(c: &reqwest::Client, base: &str) -> String {
    let resp = c.get(format!("{base}/users/7")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let id = resp.headers()["x-trace-id"].to_str().unwrap().to_owned();
    resp.bytes().await.unwrap();
    assert_eq!(id.len(), 32);
    assert_ne!(id, "0".repeat(32), "the span has no trace");
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trace_id_lands_in_the_openmetrics_exemplar() {
    init_tracing();
    let registry = Registry::new();
    let addr = serve(&registry).await;
    let c = reqwest::Client::new();
    let base = format!("http://{addr}");
    let trace_id = traced_request(&c, &base).await;

    let needle = format!("# {{trace_id=\"{trace_id}\",span_id=\"");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let om = registry.encode_to_string(Format::OpenMetrics);
        let line = om.lines().find(|l| {
            l.starts_with("http_server_request_duration_seconds_bucket{") && l.contains(&needle)
        });
        if let Some(line) = line {
            assert!(line.contains("route=\"/users/{id}\""), "{line}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no exemplar with {trace_id} in:\n{om}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Text 0.0.4 has no exemplars.
    assert!(
        !registry
            .encode_to_string(Format::PrometheusText)
            .contains(&trace_id)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_stores_the_exemplar() {
    init_tracing();
    let registry = Registry::new();
    let addr = serve(&registry).await;
    let c = reqwest::Client::new();
    let base = format!("http://{addr}");
    let trace_id = traced_request(&c, &base).await;

    let prom = tokio::task::spawn_blocking(move || {
        let prom = Prometheus::start(PrometheusConfig {
            scrape_targets: vec![addr.to_string()],
            extra_args: vec!["--enable-feature=exemplar-storage".to_owned()],
            ..PrometheusConfig::default()
        })
        .unwrap_or_else(|e| panic!("cannot start prometheus (run scripts/test): {e}"));
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let data = prom
                .query_exemplars("http_server_request_duration_seconds_bucket")
                .unwrap_or_else(|e| panic!("query_exemplars: {e}"));
            let found = data.as_array().into_iter().flatten().any(|series| {
                series["seriesLabels"]["route"] == "/users/{id}"
                    && series["exemplars"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .any(|ex| ex["labels"]["trace_id"].as_str() == Some(trace_id.as_str()))
            });
            if found {
                return prom;
            }
            assert!(
                Instant::now() < deadline,
                "prometheus never returned exemplar {trace_id}; last answer {data}; log:\n{}",
                prom.log_tail()
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    })
    .await
    .unwrap();
    drop(prom);
}
