//! The OTLP exporter against an in-test HTTP receiver on 127.0.0.1 that decodes every
//! request with the official OTLP protobuf definitions (`opentelemetry-proto`) and checks
//! names, attributes, temporality, monotonicity, histogram bounds and values. A receiver
//! answering 400 gets the batch dropped and counted without a retry; 503 is retried.
#![cfg(feature = "otlp")]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{AggregationTemporality, metric, number_data_point};
use prost::Message as _;
use vsanobs_core::export::otlp::OtlpExporter;
use vsanobs_core::export::{
    Batch, ExportError, ExportMetrics, Exporter, PushPipeline, RetryPolicy,
};
use vsanobs_core::{Counter, Family, Format, Gauge, Histogram, LabelSet, LabelValue, Registry};

#[derive(Debug)]
struct Received {
    path: String,
    content_type: String,
    request: ExportMetricsServiceRequest,
}

/// A one-thread HTTP/1.1 server answering each request with the next status of `script`
/// (then 200), keeping every decoded request.
struct Receiver {
    url: String,
    got: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    fn start(script: Vec<u16>) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let got = Arc::new(Mutex::new(Vec::new()));
        let sink = got.clone();
        std::thread::spawn(move || {
            let mut script = script.into_iter();
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    continue;
                }
                let path = line.split(' ').nth(1).unwrap_or_default().to_owned();
                let (mut len, mut content_type) = (0usize, String::new());
                loop {
                    let mut h = String::new();
                    reader.read_line(&mut h).unwrap();
                    let h = h.trim_end();
                    if h.is_empty() {
                        break;
                    }
                    let (k, v) = h.split_once(':').unwrap();
                    match k.to_ascii_lowercase().as_str() {
                        "content-length" => len = v.trim().parse().unwrap(),
                        "content-type" => content_type = v.trim().to_owned(),
                        _ => {}
                    }
                }
                let mut body = vec![0; len];
                reader.read_exact(&mut body).unwrap();
                let request = ExportMetricsServiceRequest::decode(body.as_slice())
                    .expect("body is an OTLP ExportMetricsServiceRequest");
                sink.lock().unwrap().push(Received {
                    path,
                    content_type,
                    request,
                });
                let status = script.next().unwrap_or(200);
                let answer = if status == 400 {
                    "bad attribute value"
                } else {
                    ""
                };
                let extra = if status == 429 {
                    "Retry-After: 7\r\n"
                } else {
                    ""
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} X\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{answer}",
                    answer.len()
                );
            }
        });
        Receiver { url, got }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, LabelValue)]
enum Method {
    Get,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, LabelSet)]
struct Http {
    method: Method,
    route: &'static str,
    status: u16,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, LabelSet)]
struct Queue {
    queue: &'static str,
}

fn attrs(kvs: &[KeyValue]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = kvs
        .iter()
        .map(|kv| {
            let value = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(any_value::Value::StringValue(s)) => s.clone(),
                other => panic!("unexpected attribute value {other:?}"),
            };
            (kv.key.clone(), value)
        })
        .collect();
    v.sort();
    v
}

fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = p
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    v.sort();
    v
}

#[test]
fn otlp_request_maps_families() {
    let rx = Receiver::start(Vec::new());
    let registry = Registry::builder()
        .const_label("region", "eu")
        .build()
        .unwrap();
    let jobs = Family::<Queue, Counter>::new();
    registry
        .register("jobs_done", "Jobs finished.", jobs.clone())
        .unwrap();
    jobs.get_or_create(&Queue { queue: "ingest" }).inc_by(7);
    let depth = Gauge::default();
    registry
        .register("queue_depth", "Items waiting.", depth.clone())
        .unwrap();
    depth.set(-4);
    let lat = Histogram::new([0.1, 0.5]);
    registry
        .register_with_unit("work_seconds", "Work time.", "seconds", lat.clone())
        .unwrap();
    for v in [0.05, 0.2, 0.3, 9.0] {
        lat.observe(v);
    }
    let http = Family::<Http, Histogram>::with_constructor(16, || Histogram::new([0.25]));
    registry
        .register(
            "http_server_request_duration_seconds",
            "Request duration.",
            http.clone(),
        )
        .unwrap();
    http.get_or_create(&Http {
        method: Method::Get,
        route: "/users/{id}",
        status: 200,
    })
    .observe(0.1);

    let exporter = OtlpExporter::builder(rx.url.clone())
        .service_name("checkout")
        .resource_attribute("deployment.environment", "test")
        .build()
        .unwrap();
    let meta = Registry::new();
    let pipeline = PushPipeline::builder(registry)
        .interval(Duration::from_secs(3600))
        .metrics(ExportMetrics::register(&meta).unwrap())
        .exporter(exporter)
        .build()
        .unwrap();
    let report = pipeline.shutdown(Duration::from_secs(20));
    assert!(report.is_complete(), "{report:?}");

    let got = rx.got.lock().unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].path, "/v1/metrics");
    assert_eq!(got[0].content_type, "application/x-protobuf");
    let rm = &got[0].request.resource_metrics[0];
    assert_eq!(
        attrs(&rm.resource.as_ref().unwrap().attributes),
        pairs(&[
            ("service.name", "checkout"),
            ("deployment.environment", "test")
        ])
    );
    let sm = &rm.scope_metrics[0];
    assert_eq!(sm.scope.as_ref().unwrap().name, "vsanobs");
    let by_name = |n: &str| {
        sm.metrics
            .iter()
            .find(|m| m.name == n)
            .unwrap_or_else(|| panic!("no metric {n} in {:?}", sm.metrics))
    };

    let m = by_name("jobs_done");
    assert_eq!(m.description, "Jobs finished.");
    let Some(metric::Data::Sum(sum)) = &m.data else {
        panic!("counter must be a Sum: {m:?}")
    };
    assert!(sum.is_monotonic);
    assert_eq!(
        sum.aggregation_temporality,
        AggregationTemporality::Cumulative as i32
    );
    let p = &sum.data_points[0];
    assert_eq!(
        attrs(&p.attributes),
        pairs(&[("region", "eu"), ("queue", "ingest")])
    );
    assert_eq!(p.value, Some(number_data_point::Value::AsInt(7)));
    assert!(p.start_time_unix_nano > 0 && p.start_time_unix_nano <= p.time_unix_nano);

    let m = by_name("queue_depth");
    let Some(metric::Data::Gauge(g)) = &m.data else {
        panic!("gauge must be a Gauge: {m:?}")
    };
    assert_eq!(
        g.data_points[0].value,
        Some(number_data_point::Value::AsInt(-4))
    );
    assert_eq!(
        attrs(&g.data_points[0].attributes),
        pairs(&[("region", "eu")])
    );

    let m = by_name("work_seconds");
    assert_eq!(m.unit, "s");
    let Some(metric::Data::Histogram(h)) = &m.data else {
        panic!("histogram must be a Histogram: {m:?}")
    };
    assert_eq!(
        h.aggregation_temporality,
        AggregationTemporality::Cumulative as i32
    );
    let p = &h.data_points[0];
    assert_eq!(p.explicit_bounds, [0.1, 0.5]);
    assert_eq!(p.bucket_counts, [1, 2, 1], "per-bucket, not cumulative");
    assert_eq!(p.count, 4);
    assert_eq!(p.sum, Some(9.55));

    let m = by_name("http.server.request.duration");
    assert_eq!(m.unit, "s");
    let Some(metric::Data::Histogram(h)) = &m.data else {
        panic!("{m:?}")
    };
    assert_eq!(
        attrs(&h.data_points[0].attributes),
        pairs(&[
            ("region", "eu"),
            ("http.request.method", "get"),
            ("http.route", "/users/{id}"),
            ("http.response.status_code", "200"),
        ])
    );
    assert_eq!(h.data_points[0].bucket_counts, [1, 0]);

    // The pipeline's self-metrics report the success.
    let text = meta.encode_to_string(Format::PrometheusText);
    assert!(
        text.contains("vsanobs_export_requests_total{exporter=\"otlp\",result=\"success\"} 1\n"),
        "{text}"
    );
}

fn line_value(text: &str, start: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(start))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{start} missing in\n{text}"))
}

#[test]
fn otlp_400_is_dropped_counted_not_retried() {
    let rx = Receiver::start(vec![400]);
    let registry = Registry::new();
    registry.gauge("g", "G.").unwrap().set(1);
    registry.counter("c", "C.").unwrap().inc();
    let meta = Registry::new();
    let pipeline = PushPipeline::builder(registry)
        .interval(Duration::from_secs(3600))
        .retry(RetryPolicy {
            min_backoff: Duration::from_millis(10),
            ..RetryPolicy::default()
        })
        .metrics(ExportMetrics::register(&meta).unwrap())
        .exporter(OtlpExporter::builder(rx.url.clone()).build().unwrap())
        .build()
        .unwrap();
    pipeline.push_now();
    // Wait (bounded) for the rejection to be handled before the shutdown push.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while rx.got.lock().unwrap().is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(200));
    let report = pipeline.shutdown(Duration::from_secs(20));
    // Two batches (push_now and the shutdown flush): the first was refused, the second sent.
    assert_eq!(
        rx.got.lock().unwrap().len(),
        2,
        "the refused batch was not sent again"
    );
    let out = &report.exporters[0];
    assert_eq!(out.sent_batches, 1);
    let err = out.last_error.as_deref().unwrap_or_default();
    assert!(
        err.contains("400") && err.contains("bad attribute value"),
        "{err}"
    );
    let text = meta.encode_to_string(Format::PrometheusText);
    assert_eq!(
        line_value(
            &text,
            "vsanobs_export_dropped_samples_total{exporter=\"otlp\",reason=\"rejected\"}"
        ),
        2.0
    );
    assert_eq!(
        line_value(
            &text,
            "vsanobs_export_requests_total{exporter=\"otlp\",result=\"rejected\"}"
        ),
        1.0
    );
    assert_eq!(
        line_value(&text, "vsanobs_export_retries_total{exporter=\"otlp\"}"),
        0.0
    );
}

#[test]
fn otlp_503_is_retried() {
    let rx = Receiver::start(vec![503, 503]);
    let registry = Registry::new();
    registry.gauge("g", "G.").unwrap().set(5);
    let meta = Registry::new();
    let pipeline = PushPipeline::builder(registry)
        .interval(Duration::from_secs(3600))
        .retry(RetryPolicy {
            min_backoff: Duration::from_millis(10),
            ..RetryPolicy::default()
        })
        .metrics(ExportMetrics::register(&meta).unwrap())
        .exporter(OtlpExporter::builder(rx.url.clone()).build().unwrap())
        .build()
        .unwrap();
    let report = pipeline.shutdown(Duration::from_secs(20));
    assert!(report.is_complete(), "{report:?}");
    let got = rx.got.lock().unwrap();
    assert_eq!(got.len(), 3, "two 503s, then delivered");
    assert_eq!(
        got[0].request, got[2].request,
        "the same batch is sent again"
    );
    let text = meta.encode_to_string(Format::PrometheusText);
    assert_eq!(
        line_value(&text, "vsanobs_export_retries_total{exporter=\"otlp\"}"),
        2.0
    );
}

#[test]
fn otlp_bad_config_is_a_typed_error() {
    assert!(OtlpExporter::builder("localhost:4318").build().is_err());
    assert!(OtlpExporter::builder("http://").build().is_err());
    assert!(
        OtlpExporter::builder("http://h:4318")
            .name("")
            .build()
            .is_err()
    );
    let e = OtlpExporter::builder("http://h:4318/custom/path")
        .build()
        .unwrap();
    assert_eq!(e.url(), "http://h:4318/custom/path");
}

#[test]
fn otlp_429_carries_retry_after() {
    let rx = Receiver::start(vec![429, 500]);
    let registry = Registry::new();
    registry.gauge("g", "G.").unwrap().set(1);
    let batch = Batch::new(registry.gather(), 1_700_000_000_000);
    let mut e = OtlpExporter::builder(rx.url.clone()).build().unwrap();
    let err = e.export(&batch, Duration::from_secs(10)).unwrap_err();
    assert!(err.is_retryable(), "{err:?}");
    assert_eq!(err.retry_after(), Some(Duration::from_secs(7)));
    let err = e.export(&batch, Duration::from_secs(10)).unwrap_err();
    assert!(matches!(
        err,
        ExportError::Unavailable {
            status: 500,
            retry_after: None,
            ..
        }
    ));
    assert!(e.export(&batch, Duration::from_secs(10)).is_ok());
    // Nothing listens on a closed port: a connection error, retryable.
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let mut e = OtlpExporter::builder(url).build().unwrap();
    let err = e.export(&batch, Duration::from_secs(10)).unwrap_err();
    assert!(
        err.is_retryable() && matches!(err, ExportError::Connect(_)),
        "{err:?}"
    );
}

/// A native histogram becomes an OTLP exponential histogram: scale = schema, OTLP indices
/// one below Prometheus', so each bucket keeps its bounds; count, sum and zero bucket as read.
#[test]
fn native_histograms_become_exponential_histograms() {
    let r = Registry::builder()
        .created_timestamps(false)
        .build()
        .unwrap();
    let h = vsanobs_core::NativeHistogram::new(0).unwrap();
    for v in [0.0, 1.0, 1.5, 3.0, 3.5, 100.0, -2.0] {
        h.observe(v);
    }
    r.register("nh_seconds", "Native.", h).unwrap();
    let req = vsanobs_core::export::otlp::to_request(&Batch::new(r.gather(), 1_000), &[], 0);
    let metric = &req.resource_metrics[0].scope_metrics[0].metrics[0];
    let Some(metric::Data::ExponentialHistogram(e)) = &metric.data else {
        panic!("not an exponential histogram: {metric:?}");
    };
    assert_eq!(
        e.aggregation_temporality,
        AggregationTemporality::Cumulative as i32
    );
    let p = &e.data_points[0];
    assert_eq!(
        (p.count, p.sum, p.scale, p.zero_count),
        (7, Some(107.0), 0, 1)
    );
    // Prometheus buckets at schema 0: 1 -> 0 (0.5, 1], 1.5 -> 1 (1, 2], 3 and 3.5 -> 2 (2, 4],
    // 100 -> 7 (64, 128]; OTLP bucket i covers (2^i, 2^(i+1)], so the offset is -1.
    let pos = p.positive.as_ref().unwrap();
    assert_eq!(pos.offset, -1);
    assert_eq!(pos.bucket_counts, [1, 1, 2, 0, 0, 0, 0, 1]);
    let neg = p.negative.as_ref().unwrap();
    assert_eq!((neg.offset, neg.bucket_counts.as_slice()), (0, &[1u64][..]));
    assert_eq!(p.zero_threshold, 2f64.powi(-128));
}
