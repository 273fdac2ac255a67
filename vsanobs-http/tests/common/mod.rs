//! Helpers shared by the integration tests: scrape and read the route matrix back.

#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use vsanobs_core::testutil::{ParsedFamily, parse};

/// `(method, route, status)`.
pub type Key = (String, String, String);

/// Fetches `url` (a /metrics URL) as text 0.0.4 and parses it.
pub async fn scrape(client: &reqwest::Client, url: &str) -> Vec<ParsedFamily> {
    let text = client
        .get(url)
        .send()
        .await
        .expect("scrape request")
        .text()
        .await
        .expect("scrape body");
    parse(&text).unwrap_or_else(|e| panic!("unparsable exposition: {e}\n{text}"))
}

fn label<'a>(labels: &'a [(String, String)], name: &str) -> &'a str {
    labels
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or("")
}

/// Every `http_server_request_duration_seconds_count` series by `(method, route, status)`.
pub fn duration_counts(families: &[ParsedFamily]) -> BTreeMap<Key, u64> {
    let mut out = BTreeMap::new();
    for f in families {
        for s in &f.samples {
            if s.name == "http_server_request_duration_seconds_count" {
                let key = (
                    label(&s.labels, "method").to_owned(),
                    label(&s.labels, "route").to_owned(),
                    label(&s.labels, "status").to_owned(),
                );
                out.insert(key, s.value as u64);
            }
        }
    }
    out
}

/// Every `http_server_active_requests` series by `(method, route)`.
pub fn active(families: &[ParsedFamily]) -> BTreeMap<(String, String), i64> {
    let mut out = BTreeMap::new();
    for f in families {
        for s in &f.samples {
            if s.name == "http_server_active_requests" {
                out.insert(
                    (
                        label(&s.labels, "method").to_owned(),
                        label(&s.labels, "route").to_owned(),
                    ),
                    s.value as i64,
                );
            }
        }
    }
    out
}

/// Scrapes until `pred` holds (deadline only guards against hangs), returning the last
/// scrape.
pub async fn scrape_until(
    client: &reqwest::Client,
    url: &str,
    what: &str,
    mut pred: impl FnMut(&[ParsedFamily]) -> bool,
) -> Vec<ParsedFamily> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let fams = scrape(client, url).await;
        if pred(&fams) {
            return fams;
        }
        if Instant::now() > deadline {
            panic!(
                "timed out waiting for {what}; last counts {:?}, active {:?}",
                duration_counts(&fams),
                active(&fams)
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub fn key(method: &str, route: &str, status: u16) -> Key {
    (method.to_owned(), route.to_owned(), status.to_string())
}

/// A small deterministic generator (xorshift), so the random-traffic test is reproducible.
pub struct Rng(u64);
impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    pub fn token(&mut self, len: usize) -> String {
        const A: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789-._~%";
        (0..len)
            .map(|_| A[self.below(A.len() as u64) as usize] as char)
            .collect()
    }
}

/// Methods a scanner might send, standard and not.
pub const METHODS: &[&str] = &[
    "GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE", "PROPFIND", "BREW",
    "MKCOL", "X-SCAN",
];

/// Serves `endpoint` at `/metrics` in a real axum server on 127.0.0.1:<free port>; returns
/// the URL.
pub async fn serve_endpoint(endpoint: vsanobs_http::MetricsEndpoint) -> String {
    let app: axum::Router = endpoint.into_router();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local address");
    tokio::spawn(async move {
        axum::serve(listener, app).await.expect("axum server");
    });
    format!("http://{addr}/metrics")
}

/// Sends `(method, path, user agent)` requests to `base`, 16 at a time; the status of each
/// answered request (`None` when it failed), bodies read to the end.
pub async fn send_all(
    c: &reqwest::Client,
    base: &str,
    reqs: Vec<(&'static str, String, String)>,
) -> Vec<Option<u16>> {
    use futures_util::StreamExt;
    futures_util::stream::iter(reqs)
        .map(|(method, path, ua)| {
            let c = c.clone();
            let url = format!("{base}{path}");
            async move {
                let m = reqwest::Method::from_bytes(method.as_bytes()).expect("valid method");
                match c.request(m, &url).header("user-agent", ua).send().await {
                    Ok(r) => {
                        let s = r.status().as_u16();
                        let _ = r.bytes().await;
                        Some(s)
                    }
                    Err(_) => None,
                }
            }
        })
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await
}

/// A streamed body for the `/stream` routes: `count` chunks (`chunk 0\n`, `chunk 1\n`, ...)
/// 1 ms apart, or, when the request's query is `forever=1`, one every 20 ms without end.
pub fn chunked_body(count: u32, query: Option<&str>) -> axum::body::Body {
    let forever = query == Some("forever=1");
    let chunks = futures_util::stream::unfold(0u32, move |i| async move {
        if !forever && i == count {
            return None;
        }
        if i > 0 {
            tokio::time::sleep(Duration::from_millis(if forever { 20 } else { 1 })).await;
        }
        Some((
            Ok::<_, std::convert::Infallible>(bytes::Bytes::from(format!("chunk {i}\n"))),
            i + 1,
        ))
    });
    axum::body::Body::from_stream(chunks)
}
