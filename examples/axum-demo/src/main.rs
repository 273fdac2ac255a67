//! A small axum service with the vsanobs route middleware and /metrics on the same listener.
//!
//! ```text
//! cargo run -p axum-demo -- --web.listen-address 127.0.0.1:9103
//! curl localhost:9103/users/42
//! curl -X POST localhost:9103/users
//! curl localhost:9103/api/v1/items/7            # nested router
//! curl -N localhost:9103/stream                  # streaming response
//! curl localhost:9103/fail                       # a route that fails (500)
//! curl -H 'Accept: application/openmetrics-text' localhost:9103/metrics
//! ```
//!
//! `--web.config.file web.yml` (exporter-toolkit format, see `vsanobs_http::web_config`)
//! serves everything over HTTPS when it has `tls_server_config`, and requires basic auth on
//! /metrics when it has `basic_auth_users`. The file is re-read when it changes (checked
//! every 5 s) and on `SIGHUP`: new connections get the new certificate, scrapes the new
//! users; a bad file is logged and counted (`vsanobs_web_config_reloads_total`) and the
//! previous configuration stays in force. A bad file at start exits with status 2.

use std::convert::Infallible;
use std::process::ExitCode;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::routing::{get, post};
use example_cli::{listen_address_and_web_config, wants_help};
use vsanobs_core::Registry;
use vsanobs_core::alloc::{CountingAlloc, HeapCollector};
use vsanobs_core::process::ProcessCollector;
use vsanobs_core::runtime::{TokioCollector, spawn_tracked};
use vsanobs_http::web_config::{LiveWebConfig, TlsListener};
use vsanobs_http::{HttpMetricsLayer, MetricsEndpoint, RouteMetrics};

// Counts heap use for process_heap_* (within a few percent of plain System; docs/benchmarks.md).
#[global_allocator]
static ALLOC: CountingAlloc<std::alloc::System> = CountingAlloc::new(std::alloc::System);

const USAGE: &str = "usage: axum-demo [--web.listen-address HOST:PORT] [--web.config.file PATH]\n\
                     default: --web.listen-address 127.0.0.1:9103\n\
                     --web.config.file: exporter-toolkit web config (HTTPS, basic auth on /metrics),\n\
                     re-read when it changes and on SIGHUP";

async fn user(Path(id): Path<u64>) -> String {
    format!("user {id}\n")
}

async fn item(Path(id): Path<String>) -> (StatusCode, String) {
    if id == "missing" {
        (StatusCode::NOT_FOUND, "no such item\n".to_owned())
    } else {
        (StatusCode::OK, format!("item {id}\n"))
    }
}

async fn stream() -> Body {
    let chunks = futures_util::stream::unfold(0u32, |i| async move {
        if i == 10 {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        Some((Ok::<_, Infallible>(format!("tick {i}\n")), i + 1))
    });
    Body::from_stream(chunks)
}

async fn fail() -> (StatusCode, &'static str) {
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        "this route always fails\n",
    )
}

/// Process, heap, tokio and build-info metrics next to the route matrix.
fn register_runtime_metrics(registry: &Registry) -> Result<(), vsanobs_core::RegistryError> {
    registry.register_collector(ProcessCollector::new())?;
    registry.register_collector(HeapCollector::new())?;
    registry.register_collector(TokioCollector::new())?;
    vsanobs_core::build_info!().register(registry)?;
    // A background task per spawn site shows in tokio_tracked_tasks{site}.
    spawn_tracked("demo_ticker", async {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tick.tick().await;
        }
    });
    Ok(())
}

fn app(
    registry: &Registry,
    web: Option<&LiveWebConfig>,
) -> Result<Router, vsanobs_core::RegistryError> {
    register_runtime_metrics(registry)?;
    let metrics = RouteMetrics::builder()
        .group("/api", "api")
        .body_sizes()
        .register(registry)?;
    let api = Router::new().route("/items/{id}", get(item));
    let app = Router::new()
        .route("/", get(|| async { "axum-demo: see /metrics\n" }))
        .route("/users/{id}", get(user))
        .route(
            "/users",
            post(|| async { (StatusCode::CREATED, "created\n") }),
        )
        .route("/stream", get(stream))
        .route("/fail", get(fail))
        .nest("/api/v1", api)
        .layer(HttpMetricsLayer::from(metrics));
    let mut endpoint = MetricsEndpoint::new(registry.clone());
    if let Some(web) = web {
        web.register(registry)?;
        endpoint = web.apply(endpoint);
    }
    Ok(endpoint.mount(app))
}

/// Re-reads the web config on every `SIGHUP` (on the blocking pool: checking bcrypt hashes
/// takes tens of milliseconds); a refused file is logged and counted by the reload.
fn reload_on_sighup(web: LiveWebConfig) {
    let mut hup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "no SIGHUP handler: the web config reloads on change only");
            return;
        }
    };
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            let web = web.clone();
            let _ = tokio::task::spawn_blocking(move || web.reload()).await;
        }
    });
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt().init();
    if wants_help(std::env::args().skip(1)) {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let (addr, web_file) =
        match listen_address_and_web_config(std::env::args().skip(1), "127.0.0.1:9103") {
            Ok(a) => a,
            Err(e) => {
                eprintln!("axum-demo: {e}");
                eprintln!("{USAGE}");
                return ExitCode::from(2);
            }
        };
    let web = match web_file.as_deref().map(LiveWebConfig::load).transpose() {
        Ok(w) => w,
        Err(e) => {
            eprintln!("axum-demo: {}", vsanobs_core::report::error_chain(&e));
            return ExitCode::from(2);
        }
    };
    let registry = Registry::new();
    let app = match app(&registry, web.as_ref()) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("axum-demo: {e}");
            return ExitCode::FAILURE;
        }
    };
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("axum-demo: cannot listen on {addr}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let https = web.as_ref().is_some_and(LiveWebConfig::serves_tls);
    let _watch = web.as_ref().map(|w| {
        reload_on_sighup(w.clone());
        w.watch(LiveWebConfig::DEFAULT_WATCH_PERIOD)
    });
    tracing::info!(%addr, https, "axum-demo listening; metrics on /metrics");
    let stop = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let served = match web.filter(|_| https) {
        Some(web) => match TlsListener::live(listener, web) {
            Ok(l) => axum::serve(l, app).with_graceful_shutdown(stop).await,
            Err(e) => Err(e),
        },
        None => {
            axum::serve(listener, app)
                .with_graceful_shutdown(stop)
                .await
        }
    };
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("axum-demo: {e}");
            ExitCode::FAILURE
        }
    }
}
