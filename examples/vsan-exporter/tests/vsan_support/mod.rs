//! Shared rig for the vSAN end-to-end tests: a simulator server, an exporter engine against
//! it, and its /metrics on 127.0.0.1:<free port>.

#![allow(dead_code, unreachable_pub)]

use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use vcsim::{SimConfig, SimServer, Simulator};
use vsan_exporter::client::ClientOptions;
use vsan_exporter::config::Target;
use vsan_exporter::engine::{Engine, EngineOptions};
use vsan_exporter::secret::{Credentials, Secret};
use vsanobs_core::testutil::{ParsedFamily, parse};
use vsanobs_core::{Format, Registry};

/// An interval-aligned time in the past, so every bucket up to it exists.
pub const T0: i64 = 1_767_225_600; // 2026-01-01 00:00:00 UTC

pub struct Rig {
    pub sim: SimServer,
    pub exporter: Engine,
    pub registry: Registry,
    pub metrics_addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

pub fn target(url: &str, user: &str, password: &str) -> Target {
    Target {
        name: "vc-test".into(),
        client: ClientOptions {
            url: url.to_owned(),
            credentials: Credentials {
                user: user.to_owned(),
                password: Secret::new(password),
            },
            insecure: false,
            ca_file: None,
            request_timeout: Duration::from_secs(20),
            paging: Default::default(),
        },
        clusters: None,
    }
}

pub fn engine_options() -> EngineOptions {
    EngineOptions {
        interval: Duration::from_secs(3600),
        cluster_timeout: Duration::from_secs(20),
        max_concurrent_requests: 16,
        per_cluster_concurrency: 4,
        lookback_secs: 900,
        state_file: None,
        stale_after_secs: 86_400,
        max_raw_series_per_cluster: vsan_exporter::engine::DEFAULT_MAX_RAW_SERIES_PER_CLUSTER,
        sharding: Default::default(),
        summary: Default::default(),
    }
}

/// An engine for the one target `t` and a registry its collector is registered with.
pub fn engine_with_registry(t: Target, opts: EngineOptions) -> (Engine, Registry) {
    let engine = Engine::new(vec![t], opts).expect("exporter");
    let registry = Registry::new();
    registry
        .register_collector(engine.collector())
        .expect("register");
    (engine, registry)
}

pub async fn serve_registry(registry: Registry) -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
    serve_router(vsanobs_http::MetricsEndpoint::new(registry).mount(axum::Router::new())).await
}

/// Serves `app` on 127.0.0.1:<free port> until the returned sender sends or is dropped.
pub async fn serve_router(app: axum::Router) -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await;
    });
    (addr, tx)
}

impl Rig {
    pub async fn start(cfg: SimConfig, opts: EngineOptions) -> Rig {
        let sim = Simulator::new(cfg.clone());
        sim.freeze_at(T0);
        let server = sim
            .serve("127.0.0.1:0".parse().expect("addr"))
            .await
            .expect("start simulator");
        Self::with_server(server, opts, &cfg.user, &cfg.password).await
    }

    pub async fn with_server(
        sim: SimServer,
        opts: EngineOptions,
        user: &str,
        password: &str,
    ) -> Rig {
        let (exporter, registry) = engine_with_registry(target(&sim.url(), user, password), opts);
        let (metrics_addr, stop) = serve_registry(registry.clone()).await;
        Rig {
            sim,
            exporter,
            registry,
            metrics_addr,
            stop: Some(stop),
        }
    }

    pub fn text(&self) -> String {
        self.registry.encode_to_string(Format::PrometheusText)
    }

    pub fn families(&self) -> Vec<ParsedFamily> {
        parse(&self.text()).expect("exporter output parses")
    }

    /// GET /metrics over HTTP with a deadline (the scrape must answer even while collecting).
    pub async fn scrape(&self) -> String {
        let url = format!("http://{}/metrics", self.metrics_addr);
        let resp = tokio::time::timeout(Duration::from_secs(10), reqwest::get(&url))
            .await
            .expect("scrape answered within its deadline")
            .expect("scrape");
        assert!(resp.status().is_success());
        resp.text().await.expect("body")
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

/// The value of a sample with exactly these labels.
pub fn value(fams: &[ParsedFamily], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    vsanobs_core::testutil::sample_value(fams, name, labels)
}

/// All samples of `name` whose labels include `subset`.
pub fn samples<'a>(
    fams: &'a [ParsedFamily],
    name: &'a str,
    subset: &'a [(&'a str, &'a str)],
) -> impl Iterator<Item = &'a vsanobs_core::testutil::ParsedSample> + 'a {
    fams.iter()
        .flat_map(|f| &f.samples)
        .filter(move |s| s.name == name && subset.iter().all(|(k, v)| s.label(k) == Some(v)))
}

pub fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1e-12)
}

/// Resident set size in bytes, from /proc/self/statm.
pub fn rss_bytes() -> u64 {
    let s = std::fs::read_to_string("/proc/self/statm").expect("statm");
    let pages: u64 = s
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .expect("rss pages");
    pages * 4096
}

/// Log output captured for assertions (give a clone to `tracing_subscriber`'s `with_writer`).
#[derive(Clone, Default)]
pub struct LogBuf(Arc<Mutex<Vec<u8>>>);

impl Write for LogBuf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .map_err(|_| std::io::Error::other("poisoned"))?
            .extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl LogBuf {
    /// Everything written so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("log buffer")).into_owned()
    }
}

/// Captures INFO and above, without colours, logged on this thread while the guard lives.
/// Use it in a current-thread runtime, so that every task logs under it.
pub fn capture_logs() -> (LogBuf, tracing::subscriber::DefaultGuard) {
    let logs = LogBuf::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    (logs, tracing::subscriber::set_default(subscriber))
}

#[allow(unused_imports)]
pub use vsanobs_testkit::logs::logged_value;

/// Sends a `/vsanHealth` request on to `upstream` (a simulator's base URL) with the caller's
/// headers (the session cookie, `SOAPAction`), for test fronts that answer some calls
/// themselves: the upstream's status and body.
pub async fn forward_vsan_health(
    upstream: &str,
    headers: &axum::http::HeaderMap,
    body: impl Into<reqwest::Body>,
) -> (axum::http::StatusCode, String) {
    let mut req = reqwest::Client::new()
        .post(format!("{upstream}/vsanHealth"))
        .body(body);
    for (k, v) in headers {
        if k != "host" && k != "content-length" {
            req = req.header(k, v);
        }
    }
    let resp = req.send().await.expect("upstream");
    let status = axum::http::StatusCode::from_u16(resp.status().as_u16()).expect("status");
    (status, resp.text().await.expect("body"))
}
