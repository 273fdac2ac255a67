//! The /metrics endpoint serves the protobuf format (delimited MetricFamily messages) to a
//! scraper that asks for it, gzipped when allowed, and falls back to text for a protobuf
//! request it cannot serve.

mod common;

use std::collections::BTreeMap;
use std::io::Read;
use std::time::Duration;

use common::serve_endpoint;
use vsanobs_core::{Format, NativeHistogram, Registry};
use vsanobs_http::MetricsEndpoint;

/// What Prometheus 2.42 sends with `--enable-feature=native-histograms`.
const PROMETHEUS_ACCEPT: &str = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited,application/openmetrics-text;version=1.0.0;q=0.8,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

fn varint(b: &[u8]) -> (u64, usize) {
    let mut v = 0u64;
    for (i, byte) in b.iter().enumerate().take(10) {
        v |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return (v, i + 1);
        }
    }
    panic!("bad varint");
}

/// Splits a delimited stream into its messages, keyed by the family name (field 1); panics
/// unless the lengths add up to the whole body.
fn families(body: &[u8]) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut rest = body;
    while !rest.is_empty() {
        let (len, n) = varint(rest);
        let msg = &rest[n..n + len as usize];
        assert_eq!(msg[0], 0x0a, "field 1 (name) first");
        let (name_len, m) = varint(&msg[1..]);
        let name = std::str::from_utf8(&msg[1 + m..1 + m + name_len as usize]).unwrap();
        out.insert(name.to_owned(), msg.to_vec());
        rest = &rest[n + len as usize..];
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protobuf_is_negotiated_and_gzipped() {
    let registry = Registry::new();
    registry
        .counter("jobs_total", "Jobs done.")
        .unwrap()
        .inc_by(3);
    let latency = NativeHistogram::new(3).unwrap();
    for v in [0.002, 0.02, 0.2, 2.0] {
        latency.observe(v);
    }
    registry
        .register("latency_seconds", "Latency.", latency)
        .unwrap();
    let url = serve_endpoint(MetricsEndpoint::new(registry.clone())).await;
    let c = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let expected = families(&registry.encode_to_vec(Format::Protobuf));

    for gzip in [false, true] {
        let resp = c
            .get(&url)
            .header("accept", PROMETHEUS_ACCEPT)
            .header("accept-encoding", if gzip { "gzip" } else { "identity" })
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(
            resp.headers()["content-type"],
            "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited"
        );
        assert_eq!(
            resp.headers().get("content-encoding").is_some(),
            gzip,
            "gzip {gzip}"
        );
        let raw = resp.bytes().await.unwrap();
        let body = if gzip {
            let mut b = Vec::new();
            flate2::read::GzDecoder::new(&raw[..])
                .read_to_end(&mut b)
                .unwrap();
            b
        } else {
            raw.to_vec()
        };
        let got = families(&body);
        for name in ["jobs_total", "latency_seconds"] {
            assert_eq!(got.get(name), expected.get(name), "family {name}");
        }
    }

    // A protobuf request with an encoding this library does not write gets text.
    let resp = c
        .get(&url)
        .header(
            "accept",
            "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=text",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let text = resp.text().await.unwrap();
    assert!(
        text.contains("latency_seconds_bucket{le=\"+Inf\"} 4\n"),
        "{text}"
    );
}
