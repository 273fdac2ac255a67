//! A real Prometheus scrapes a registry holding every metric kind twice: once negotiating
//! (it asks for OpenMetrics first) and once forced to text 0.0.4. Both scrapes must be
//! healthy, ingest exactly the samples served, and give back exact values and label values.

mod conformance_support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use conformance_support::{ODD_LABEL_VALUES, all_kinds_registry, parse_float, sample_lines};
use vsanobs_core::{Format, Registry, negotiate};
use vsanobs_testkit::serde_json::Value;
use vsanobs_testkit::{Prometheus, PrometheusConfig, http, vector_samples};

const DEADLINE: Duration = Duration::from_secs(60);
/// Series Prometheus adds to every scrape on its own.
const SYNTHETIC: &[&str] = &[
    "up",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling",
    "scrape_series_added",
];

/// One response the test server gave.
#[derive(Clone, Debug)]
struct Served {
    path: String,
    accept: Option<String>,
    content_type: &'static str,
    body: String,
}

/// A minimal HTTP server on 127.0.0.1:0 serving a registry on `/negotiated` (format chosen
/// from the Accept header) and `/text` (always text 0.0.4), recording every response.
struct MetricsServer {
    addr: SocketAddr,
    served: Arc<Mutex<Vec<Served>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl MetricsServer {
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
                        // A failed exchange shows up in Prometheus' `up` and lastError.
                        let _ = handle(conn, &registry, &served);
                    }
                }
            })
        };
        MetricsServer {
            addr,
            served,
            stop,
            thread: Some(thread),
        }
    }

    fn served(&self, path: &str) -> Vec<Served> {
        let served = self.served.lock().unwrap();
        served.iter().filter(|s| s.path == path).cloned().collect()
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.addr);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn handle(
    mut conn: TcpStream,
    registry: &Registry,
    served: &Mutex<Vec<Served>>,
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
    let mut lines = head.split("\r\n");
    let path = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .unwrap_or("")
        .to_owned();
    let accept = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("accept"))
        .map(|(_, v)| v.trim().to_owned());
    let format = match path.as_str() {
        "/negotiated" => negotiate(accept.as_deref()),
        "/text" => Format::PrometheusText,
        _ => {
            conn.write_all(
                b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            )?;
            return Ok(());
        }
    };
    let body = registry.encode_to_string(format);
    let content_type = format.content_type();
    write!(
        conn,
        "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    conn.write_all(body.as_bytes())?;
    served.lock().unwrap().push(Served {
        path,
        accept,
        content_type,
        body,
    });
    Ok(())
}

fn scrape_config(addr: SocketAddr) -> String {
    ["negotiated", "text"]
        .iter()
        .map(|job| {
            format!(
                "- job_name: {job}\n  metrics_path: /{job}\n  static_configs:\n    - targets: [\"{addr}\"]\n"
            )
        })
        .collect()
}

/// Waits for the first completed scrape of `job` and returns the value of `metric{job}`.
fn scraped_value(prometheus: &Prometheus, metric: &str, job: &str) -> String {
    let result = prometheus
        .wait_for(
            &format!("{metric}{{job=\"{job}\"}}"),
            |r| r.as_array().is_some_and(|a| !a.is_empty()),
            DEADLINE,
        )
        .unwrap_or_else(|e| panic!("{e}\n{}", prometheus.log_tail()));
    let samples = vector_samples(&result);
    assert_eq!(samples.len(), 1, "{result}");
    samples[0].value.clone()
}

type SeriesMap = BTreeMap<(String, BTreeSet<(String, String)>), String>;

/// What was served, as (name, labels) -> value.
fn served_series(body: &str) -> SeriesMap {
    sample_lines(body)
        .into_iter()
        .map(|l| ((l.name, l.labels.into_iter().collect()), l.value))
        .collect()
}

/// What Prometheus stored for `job`, without its synthetic series and target labels.
fn stored_series(prometheus: &Prometheus, job: &str) -> SeriesMap {
    let result = prometheus.query(&format!("{{job=\"{job}\"}}")).unwrap();
    vector_samples(&result)
        .into_iter()
        .filter_map(|s| {
            let mut labels = s.labels;
            let name = labels.remove("__name__")?;
            if SYNTHETIC.contains(&name.as_str()) {
                return None;
            }
            labels.remove("job");
            labels.remove("instance");
            Some(((name, labels.into_iter().collect()), s.value))
        })
        .collect()
}

fn same_value(a: &str, b: &str) -> bool {
    match (parse_float(a), parse_float(b)) {
        (Some(x), Some(y)) => x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()),
        _ => false,
    }
}

#[test]
fn real_prometheus_scrapes_both_formats_exactly() {
    let registry = all_kinds_registry();
    let server = MetricsServer::start(registry);
    let prometheus = Prometheus::start(PrometheusConfig {
        scrape_configs: scrape_config(server.addr),
        extra_args: vec!["--enable-feature=exemplar-storage".to_owned()],
        ..PrometheusConfig::default()
    })
    .unwrap();

    for (job, expected_type) in [
        ("negotiated", Format::OpenMetrics.content_type()),
        ("text", Format::PrometheusText.content_type()),
    ] {
        let up = scraped_value(&prometheus, "up", job);
        let samples_scraped = scraped_value(&prometheus, "scrape_samples_scraped", job);
        let targets = prometheus.targets().unwrap();
        assert_eq!(up, "1", "job {job} is not up: {targets}");

        let served = server.served(&format!("/{job}"));
        assert!(!served.is_empty(), "nothing served to job {job}");
        let body = &served[0].body;
        // Every scrape of a job got the same text, so any of them is "the text served".
        for s in &served {
            assert_eq!(
                s.content_type, expected_type,
                "job {job} (Accept: {:?})",
                s.accept
            );
            assert_eq!(
                &s.body, body,
                "job {job}: the registry changed between scrapes"
            );
        }
        println!(
            "job {job}: Accept {:?} -> Content-Type {:?}",
            served[0].accept, served[0].content_type
        );
        if job == "negotiated" {
            let accept = served[0].accept.as_deref().unwrap_or_default();
            assert!(
                accept.starts_with("application/openmetrics-text"),
                "Prometheus asked for {accept:?}"
            );
        }

        let sample_count = sample_lines(body).len();
        assert_eq!(
            samples_scraped,
            sample_count.to_string(),
            "job {job}: scrape_samples_scraped differs from the samples served"
        );
        println!("job {job}: {sample_count} samples served and scraped");

        // Every served series is stored with exactly the served value, and nothing else is.
        let expected = served_series(body);
        let stored = stored_series(&prometheus, job);
        let expected_keys: BTreeSet<_> = expected.keys().collect();
        let stored_keys: BTreeSet<_> = stored.keys().collect();
        assert_eq!(
            expected_keys.difference(&stored_keys).collect::<Vec<_>>(),
            Vec::<&&(String, BTreeSet<(String, String)>)>::new(),
            "job {job}: served but not stored"
        );
        assert_eq!(
            stored_keys.difference(&expected_keys).collect::<Vec<_>>(),
            Vec::<&&(String, BTreeSet<(String, String)>)>::new(),
            "job {job}: stored but not served"
        );
        for (key, value) in &expected {
            assert!(
                same_value(value, &stored[key]),
                "job {job}: {key:?} served {value}, Prometheus returned {}",
                stored[key]
            );
        }

        // Non-finite values come back as such.
        let special = prometheus
            .query(&format!("conf_special{{job=\"{job}\"}}"))
            .unwrap();
        let special: BTreeMap<_, _> = vector_samples(&special)
            .into_iter()
            .map(|s| (s.labels["value"].clone(), s.value))
            .collect();
        assert_eq!(special["nan"], "NaN");
        assert_eq!(special["pos_inf"], "+Inf");
        assert_eq!(special["neg_inf"], "-Inf");

        // Label values come back byte for byte as the Rust strings they started as.
        let odd = prometheus
            .query(&format!("conf_odd{{job=\"{job}\"}}"))
            .unwrap();
        let odd = vector_samples(&odd);
        assert_eq!(odd.len(), ODD_LABEL_VALUES.len(), "job {job}");
        for (i, (case, value)) in ODD_LABEL_VALUES.iter().enumerate() {
            let sample = odd
                .iter()
                .find(|s| s.labels["case"] == *case)
                .unwrap_or_else(|| panic!("job {job}: case {case} missing"));
            assert_eq!(sample.labels["value"], *value, "job {job}: case {case}");
            assert_eq!(sample.value, i.to_string());
        }

        // HELP text with a backslash, a newline and non-ASCII survives too.
        let metadata = http::get(&format!(
            "{}/api/v1/targets/metadata?match_target={}&metric=conf_temperature_celsius",
            prometheus.url(),
            http::encode_query(&format!("{{job=\"{job}\"}}"))
        ))
        .unwrap();
        let metadata: Value = vsanobs_testkit::serde_json::from_slice(&metadata.body).unwrap();
        assert_eq!(
            metadata["data"][0]["help"],
            "Temperature with a backslash \\ and a newline\nin its help, 中文 too.",
            "job {job}: {metadata}"
        );
    }

    // Exemplars travel with the negotiated OpenMetrics scrape only.
    let trace_id = "0af7651916cd43dd8448eb211c80319c";
    for (query, job, expected) in [
        ("conf_requests_total", "negotiated", true),
        ("conf_latency_seconds_bucket", "negotiated", true),
        ("conf_requests_total", "text", false),
    ] {
        let exemplars = prometheus
            .query_exemplars(&format!("{query}{{job=\"{job}\"}}"))
            .unwrap();
        let found = exemplars.as_array().is_some_and(|series| {
            series.iter().any(|s| {
                s["exemplars"].as_array().is_some_and(|e| {
                    e.iter().any(|e| {
                        e["labels"]["trace_id"] == trace_id
                            && e["labels"]["span_id"] == "b7ad6b7169203331"
                    })
                })
            })
        });
        assert_eq!(
            found, expected,
            "exemplars of {query} in job {job}: {exemplars}"
        );
    }
}
