//! /metrics streams: real axum and actix-web servers on 127.0.0.1 serve a 20 MB exposition
//! in chunks (plain and gzip, both formats) equal to the registry's encoding, the server
//! holds a bounded amount of heap while a slow client reads, a timeout while streaming
//! fails the transfer instead of cutting the exposition, and a client that goes away
//! releases the scrape.

mod common;

use common::serve_endpoint;
use std::io::Read;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use vsanobs_core::alloc::{CountingAlloc, HeapSnapshot};
use vsanobs_core::model::{MetricFamily, MetricKind};
use vsanobs_core::{
    CollectError, Collector, Counter, Family, FamilySink, Format, LabelSet, Registry,
};
use vsanobs_http::MetricsEndpoint;
use vsanobs_testkit::quiet::rerun_alone;

#[global_allocator]
static ALLOC: CountingAlloc<std::alloc::System> = CountingAlloc::new(std::alloc::System);

#[derive(Clone, Debug, PartialEq, Eq, Hash, LabelSet)]
struct Labels {
    volume: String,
    datastore: String,
}

/// A registry whose text is about `series` x 90 bytes.
fn big_registry(series: usize) -> Registry {
    let r = Registry::new();
    let f: Family<Labels, Counter> = Family::with_cap(series + 1);
    for i in 0..series {
        f.get_or_create(&Labels {
            volume: format!("volume-{i:08}-with-a-longer-name"),
            datastore: format!("datastore-{}", i % 97),
        })
        .inc_by(i as u64);
    }
    r.register("volume_ops", "Operations per volume.", f)
        .unwrap();
    r
}

fn serve_actix(endpoint: MetricsEndpoint) -> String {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let server = actix_web::HttpServer::new(move || {
                actix_web::App::new().service(endpoint.clone().into_actix_resource("/metrics"))
            })
            .workers(1)
            .bind(("127.0.0.1", 0))
            .expect("bind actix on 127.0.0.1");
            let addr = server.addrs()[0];
            tx.send(addr).unwrap();
            server.run().await.unwrap();
        });
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("actix server did not start");
    format!("http://{addr}/metrics")
}

/// The exposition without the endpoint's own, changing, handler metrics.
fn stable(text: &str) -> String {
    text.lines()
        .filter(|l| !l.contains("vsanobs_metric_handler"))
        .map(|l| format!("{l}\n"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_scrapes_stream_in_chunks_and_equal_the_encoding() {
    let registry = big_registry(220_000);
    let endpoint = MetricsEndpoint::new(registry.clone());
    let urls = [
        ("axum", serve_endpoint(endpoint.clone()).await),
        ("actix", serve_actix(endpoint)),
    ];
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .no_gzip()
        .build()
        .unwrap();
    for (server, url) in &urls {
        for (accept, format) in [
            ("text/plain", Format::PrometheusText),
            (
                "application/openmetrics-text;version=1.0.0",
                Format::OpenMetrics,
            ),
        ] {
            for gzip in [false, true] {
                let resp = client
                    .get(url)
                    .header("accept", accept)
                    .header("accept-encoding", if gzip { "gzip" } else { "identity" })
                    .send()
                    .await
                    .unwrap();
                assert_eq!(resp.status(), 200, "{server}");
                assert!(
                    resp.headers().get("content-length").is_none(),
                    "{server}: a streamed body has no length"
                );
                assert_eq!(
                    resp.headers().get("content-encoding").is_some(),
                    gzip,
                    "{server}"
                );
                let mut chunks = 0;
                let mut body = Vec::new();
                let mut stream = resp.bytes_stream();
                while let Some(c) = stream.next().await {
                    body.extend_from_slice(&c.unwrap());
                    chunks += 1;
                }
                let text = if gzip {
                    let mut s = String::new();
                    flate2::read::GzDecoder::new(&body[..])
                        .read_to_string(&mut s)
                        .unwrap();
                    s
                } else {
                    String::from_utf8(body).unwrap()
                };
                assert!(text.len() > 20_000_000, "{server}: {}", text.len());
                assert!(
                    chunks > 10,
                    "{server} {format:?} gzip={gzip}: {chunks} chunks"
                );
                let expected = registry.encode_to_string(format);
                assert_eq!(
                    stable(&text),
                    stable(&expected),
                    "{server} {format:?} gzip={gzip}"
                );
                if format == Format::OpenMetrics {
                    assert!(text.ends_with("# EOF\n"));
                }
            }
        }
    }
}

/// Waits until the heap in use stops moving (the encoder is blocked on a full pipe).
async fn settled_heap() -> u64 {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = HeapSnapshot::now().inuse_bytes();
    let mut steady = 0;
    while steady < 10 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let now = HeapSnapshot::now().inuse_bytes();
        if now.abs_diff(last) < 64 * 1024 {
            steady += 1;
        } else {
            steady = 0;
        }
        last = now;
    }
    last
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_reader_costs_a_bounded_amount_of_heap() {
    // The heap count is process-wide and the other tests here build registries of up to
    // 250,000 series: measure in a process of its own.
    if rerun_alone() {
        return;
    }
    assert!(vsanobs_core::alloc::is_installed());
    let registry = big_registry(250_000);
    let text_len = registry.encode_to_string(Format::PrometheusText).len();
    assert!(text_len > 22_000_000, "{text_len}");
    let url = serve_endpoint(MetricsEndpoint::new(registry)).await;
    let addr = url
        .trim_start_matches("http://")
        .trim_end_matches("/metrics")
        .to_owned();

    let before = settled_heap().await;
    let mut conn = tokio::net::TcpStream::connect(&addr).await.unwrap();
    conn.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nAccept-Encoding: identity\r\n\r\n")
        .await
        .unwrap();
    // Read the headers and a little of the body, then stop reading.
    let mut got = vec![0u8; 256 * 1024];
    let mut n = 0;
    while n < got.len() {
        let r = conn.read(&mut got[n..]).await.unwrap();
        assert!(r > 0, "connection closed early");
        n += r;
    }
    let head = String::from_utf8_lossy(&got[..512]).to_string();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.contains("transfer-encoding: chunked"), "{head}");
    let during = settled_heap().await;
    let held = during.saturating_sub(before);
    eprintln!("heap held by a stalled scrape: {held} bytes (text {text_len} bytes)");
    // The whole text would be 22+ MB; the scrape holds chunks in flight only.
    assert!(
        held < 4 * 1024 * 1024,
        "a stalled scrape holds {held} bytes of heap (text is {text_len} bytes)"
    );

    drop(conn);
}

/// Sleeps on every scrape, after the family above has filled several chunks.
#[derive(Debug)]
struct Sleepy(Duration);

impl Collector for Sleepy {
    fn name(&self) -> &str {
        "sleepy"
    }
    fn collect_into(&self, sink: &mut FamilySink<'_>) -> Result<(), CollectError> {
        std::thread::sleep(self.0);
        sink.push(MetricFamily::new("late_value", "Late.", MetricKind::Gauge));
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timeout_while_streaming_fails_the_transfer() {
    let registry = big_registry(20_000);
    registry
        .register_collector(Sleepy(Duration::from_secs(6)))
        .unwrap();
    let endpoint = MetricsEndpoint::new(registry).timeout(Some(Duration::from_millis(1500)));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    for url in [
        serve_endpoint(endpoint.clone()).await,
        serve_actix(endpoint),
    ] {
        let resp = client.get(&url).send().await.unwrap();
        match resp.status().as_u16() {
            // The usual case: the family's chunks went out, then the collector blocked past
            // the deadline: the transfer fails, the client never sees a cut exposition as
            // complete.
            200 => {
                let body = resp.bytes().await;
                assert!(
                    body.is_err(),
                    "{url}: a timed-out stream must not end cleanly"
                );
            }
            // A machine so loaded that not even the first chunk was ready in time.
            503 => {}
            other => panic!("{url}: unexpected status {other}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_goes_away_releases_the_scrape() {
    let registry = big_registry(250_000);
    let endpoint = MetricsEndpoint::new(registry.clone()).max_concurrent_scrapes(1);
    let url = serve_endpoint(endpoint).await;
    let addr = url
        .trim_start_matches("http://")
        .trim_end_matches("/metrics")
        .to_owned();
    let mut conn = tokio::net::TcpStream::connect(&addr).await.unwrap();
    conn.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = vec![0u8; 4096];
    let n = conn.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    drop(conn);
    // The encoder notices the closed connection, stops writing, finishes its walk and
    // frees the only scrape slot: a new scrape is served (not 503) once it has.
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let resp = client.get(&url).send().await.unwrap();
        if resp.status() == 200 {
            let text = resp.text().await.unwrap();
            assert!(text.contains("vsanobs_metric_handler_requests_in_flight 1\n"));
            break;
        }
        assert_eq!(resp.status(), 503);
        assert!(
            Instant::now() < deadline,
            "the abandoned scrape never released its slot"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
