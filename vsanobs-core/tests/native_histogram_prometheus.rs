//! A real Prometheus (started with `--enable-feature=native-histograms`, so it asks for the
//! protobuf format) scrapes native histograms, and every other metric kind, over protobuf:
//!
//! - `histogram_count`, `histogram_sum` and `histogram_quantile` over the native series give
//!   back what the test recorded (quantiles within the schema's relative error);
//! - every series of the all-kinds registry is stored with the value text 0.0.4 shows, so the
//!   protobuf encoder agrees with the text one for counters, gauges, info, untyped and classic
//!   histograms, odd label values and non-finite values included;
//! - the same registry passes `promtool check metrics` in text 0.0.4 and the Python
//!   OpenMetrics parser in OpenMetrics, `_created` samples included.

mod conformance_support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use conformance_support::{all_kinds_registry, parse_float, sample_lines};
use vsanobs_core::{
    Counter, Family, Format, Histogram, LabelSet, NativeHistogram, Registry, negotiate,
};
use vsanobs_testkit::{
    Prometheus, PrometheusConfig, promtool_check_metrics, python_openmetrics_check, vector_samples,
};

const DEADLINE: Duration = Duration::from_secs(60);

/// Each answer: the scraper's Accept header and the Content-Type served.
type Served = Arc<Mutex<Vec<(Option<String>, &'static str)>>>;

/// Serves `registry` on `/metrics` in the negotiated format, recording each Content-Type.
struct Server {
    addr: SocketAddr,
    served: Served,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    fn start(registry: Registry) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let served = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (served, stop) = (Arc::clone(&served), Arc::clone(&stop));
            std::thread::spawn(move || {
                for conn in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    if let Ok(conn) = conn {
                        let _ = serve(conn, &registry, &served);
                    }
                }
            })
        };
        Server {
            addr,
            served,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(
    mut conn: TcpStream,
    registry: &Registry,
    served: &Mutex<Vec<(Option<String>, &'static str)>>,
) -> std::io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = conn.read(&mut buf)?;
        if n == 0 || head.len() > 64 * 1024 {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let accept = head
        .split("\r\n")
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("accept"))
        .map(|(_, v)| v.trim().to_owned());
    let format = negotiate(accept.as_deref());
    let body = registry.encode_to_vec(format);
    write!(
        conn,
        "HTTP/1.1 200 OK\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        format.content_type(),
        body.len()
    )?;
    conn.write_all(&body)?;
    served.lock().unwrap().push((accept, format.content_type()));
    Ok(())
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, LabelSet)]
struct Kind {
    kind: &'static str,
}

/// What the test records: latencies from 1 ms growing by 1% (about 1 ms to 21 s), a few
/// zeros, and a labelled native histogram with classic buckets alongside.
struct Recorded {
    latencies: Vec<f64>,
    sizes_a: Vec<f64>,
}

fn native_registry() -> (Registry, Recorded) {
    let r = Registry::new();
    let latency = NativeHistogram::new(3).unwrap();
    r.register("nh_latency_seconds", "Request latency.", latency.clone())
        .unwrap();
    let mut latencies: Vec<f64> = (0..1000).map(|i| 0.001 * 1.01f64.powi(i)).collect();
    latencies.extend([0.0; 5]);
    for v in &latencies {
        latency.observe(*v);
    }
    let sizes: Family<Kind, NativeHistogram> = Family::with_constructor(10, || {
        NativeHistogram::builder()
            .schema(0)
            .classic_buckets([100.0, 1000.0, 10_000.0])
            .build()
            .unwrap()
    });
    r.register("nh_size_bytes", "Payload size.", sizes.clone())
        .unwrap();
    let sizes_a: Vec<f64> = (1..=200).map(|i| f64::from(i * 37)).collect();
    for v in &sizes_a {
        sizes.with(&Kind { kind: "a" }, |h| h.observe(*v));
    }
    sizes.with(&Kind { kind: "b" }, |h| h.observe(-3.0));
    let jobs = Counter::default();
    jobs.inc_by(7);
    r.register("nh_jobs", "Jobs.", jobs).unwrap();
    let classic = Histogram::new([0.1, 1.0]);
    classic.observe(0.5);
    r.register("nh_classic_seconds", "Classic.", classic)
        .unwrap();
    (r, Recorded { latencies, sizes_a })
}

fn query_one(prometheus: &Prometheus, promql: &str) -> f64 {
    let result = prometheus
        .wait_for(
            promql,
            |r| r.as_array().is_some_and(|a| !a.is_empty()),
            DEADLINE,
        )
        .unwrap_or_else(|e| panic!("{promql}: {e}\n{}", prometheus.log_tail()));
    let samples = vector_samples(&result);
    assert_eq!(samples.len(), 1, "{promql}: {result}");
    parse_float(&samples[0].value).unwrap()
}

/// The true `q`-quantile of `values` (the `ceil(q * n)`-th smallest).
fn true_quantile(values: &[f64], q: f64) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let rank = (q * v.len() as f64).ceil() as usize;
    v[rank.max(1) - 1]
}

#[test]
fn prometheus_reads_native_histograms_over_protobuf() {
    let (registry, recorded) = native_registry();
    let server = Server::start(registry.clone());
    let prometheus = Prometheus::start(PrometheusConfig {
        scrape_targets: vec![server.addr.to_string()],
        extra_args: vec!["--enable-feature=native-histograms".to_owned()],
        ..PrometheusConfig::default()
    })
    .unwrap();

    let n = recorded.latencies.len() as f64;
    assert_eq!(
        query_one(&prometheus, "histogram_count(nh_latency_seconds)"),
        n
    );
    let sum: f64 = recorded.latencies.iter().sum();
    let got = query_one(&prometheus, "histogram_sum(nh_latency_seconds)");
    assert!((got - sum).abs() <= sum * 1e-12, "sum {got} != {sum}");

    // At schema 3 a bucket spans a factor of 2^(1/8): an estimate inside the true value's
    // bucket is within that relative error.
    let max_error = 2f64.powf(0.125) - 1.0;
    for q in [0.1, 0.5, 0.9, 0.99] {
        let want = true_quantile(&recorded.latencies, q);
        let got = query_one(
            &prometheus,
            &format!("histogram_quantile({q}, nh_latency_seconds)"),
        );
        let err = (got / want - 1.0).abs();
        println!("q {q}: recorded {want}, Prometheus {got}, relative error {err:.4}");
        assert!(err <= max_error, "q {q}: {got} vs {want} (error {err})");
    }

    // The labelled native histogram with classic buckets alongside.
    assert_eq!(
        query_one(&prometheus, "histogram_count(nh_size_bytes{kind=\"a\"})"),
        recorded.sizes_a.len() as f64
    );
    assert_eq!(
        query_one(&prometheus, "histogram_sum(nh_size_bytes{kind=\"b\"})"),
        -3.0
    );
    let median = query_one(
        &prometheus,
        "histogram_quantile(0.5, nh_size_bytes{kind=\"a\"})",
    );
    let want = true_quantile(&recorded.sizes_a, 0.5);
    assert!(
        (median / want - 1.0).abs() <= 1.0,
        "schema 0 (factor 2): {median} vs {want}"
    );
    // Counters and classic histograms come over protobuf as well.
    assert_eq!(query_one(&prometheus, "nh_jobs_total"), 7.0);
    assert_eq!(
        query_one(&prometheus, "nh_classic_seconds_bucket{le=\"1.0\"}"),
        1.0
    );
    assert_eq!(query_one(&prometheus, "up"), 1.0);

    let served = server.served.lock().unwrap().clone();
    assert!(!served.is_empty());
    for (accept, content_type) in &served {
        assert_eq!(
            *content_type,
            Format::Protobuf.content_type(),
            "Accept: {accept:?}"
        );
    }
    println!("Prometheus asked for {:?}", served[0].0);

    // The same registry in the text formats: native-only histograms fall back to +Inf.
    let text = registry.encode_to_string(Format::PrometheusText);
    promtool_check_metrics(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert!(
        text.contains("nh_latency_seconds_bucket{le=\"+Inf\"} 1005\nnh_latency_seconds_sum "),
        "{text}"
    );
    assert!(
        text.contains("nh_size_bytes_bucket{kind=\"a\",le=\"1000.0\"} 27\n"),
        "{text}"
    );
    let om = registry.encode_to_string(Format::OpenMetrics);
    python_openmetrics_check(&om).unwrap_or_else(|e| panic!("{e}\n{om}"));
    for name in [
        "nh_latency_seconds_created ",
        "nh_size_bytes_created{kind=\"a\"} ",
        "nh_jobs_created ",
        "nh_classic_seconds_created ",
    ] {
        assert!(om.contains(name), "{name} missing:\n{om}");
    }
}

#[test]
fn protobuf_scrape_stores_what_text_shows() {
    let registry = all_kinds_registry();
    let server = Server::start(registry.clone());
    let prometheus = Prometheus::start(PrometheusConfig {
        scrape_targets: vec![server.addr.to_string()],
        extra_args: vec!["--enable-feature=native-histograms".to_owned()],
        ..PrometheusConfig::default()
    })
    .unwrap();
    assert_eq!(query_one(&prometheus, "up"), 1.0);
    let served = server.served.lock().unwrap().clone();
    assert!(
        served
            .iter()
            .all(|(_, ct)| *ct == Format::Protobuf.content_type()),
        "{served:?}"
    );

    // Text 0.0.4 of the same registry: what every series must be stored as.
    let text = registry.encode_to_string(Format::PrometheusText);
    let expected: BTreeMap<(String, BTreeSet<(String, String)>), String> = sample_lines(&text)
        .into_iter()
        .map(|l| ((l.name, l.labels.into_iter().collect()), l.value))
        .collect();
    let result = prometheus.query("{job=\"vsanobs\"}").unwrap();
    let synthetic = [
        "up",
        "scrape_duration_seconds",
        "scrape_samples_scraped",
        "scrape_samples_post_metric_relabeling",
        "scrape_series_added",
    ];
    let stored: BTreeMap<_, _> = vector_samples(&result)
        .into_iter()
        .filter_map(|s| {
            let mut labels = s.labels;
            let name = labels.remove("__name__")?;
            if synthetic.contains(&name.as_str()) {
                return None;
            }
            labels.remove("job");
            labels.remove("instance");
            Some(((name, labels.into_iter().collect::<BTreeSet<_>>()), s.value))
        })
        .collect();
    let expected_keys: BTreeSet<_> = expected.keys().collect();
    let stored_keys: BTreeSet<_> = stored.keys().collect();
    assert_eq!(
        expected_keys.difference(&stored_keys).collect::<Vec<_>>(),
        Vec::<&&(String, BTreeSet<(String, String)>)>::new(),
        "served in text but not stored from protobuf"
    );
    assert_eq!(
        stored_keys.difference(&expected_keys).collect::<Vec<_>>(),
        Vec::<&&(String, BTreeSet<(String, String)>)>::new(),
        "stored from protobuf but not in text"
    );
    for (key, value) in &expected {
        let (a, b) = (
            parse_float(value).unwrap(),
            parse_float(&stored[key]).unwrap(),
        );
        assert!(
            a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()),
            "{key:?}: text {value}, stored {}",
            stored[key]
        );
    }
    println!("{} series stored as text shows them", expected.len());
}
