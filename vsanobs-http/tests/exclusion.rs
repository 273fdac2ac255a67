//! Excluded routes (`RouteMetricsBuilder::exclude`, `exclude_prefix`) on real axum and
//! actix-web servers: their requests, streamed or dropped mid-body, create no series, and
//! the other routes are counted exactly.

mod common;

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::time::Duration;

use actix_web::{HttpResponse, HttpServer, web};
use axum::Router;
use axum::body::Body;
use axum::routing::get;
use bytes::Bytes;
use vsanobs_core::Registry;
use vsanobs_http::{HttpMetricsLayer, MetricsEndpoint, RouteMetrics};

use common::{active, duration_counts, key, scrape_until};

fn metrics(registry: &Registry) -> RouteMetrics {
    RouteMetrics::builder()
        .exclude("/health")
        .exclude("/metrics")
        .exclude_prefix("/internal/")
        .register(registry)
        .unwrap()
}

/// The requests of every test: `(path, times)`.
const PLAN: &[(&str, u64)] = &[
    ("/health", 5),
    ("/healthz", 2),
    ("/metrics", 3),
    ("/internal/debug/1", 3),
    ("/internal/stream", 2),
    ("/users/1", 4),
];

/// What the matrix must hold afterwards: only the routes not excluded.
fn expected() -> BTreeMap<common::Key, u64> {
    BTreeMap::from([
        (key("GET", "/healthz", 200), 2),
        (key("GET", "/users/{id}", 200), 4),
    ])
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

async fn run_plan(c: &reqwest::Client, base: &str) {
    for (path, n) in PLAN {
        for _ in 0..*n {
            let resp = c.get(format!("{base}{path}")).send().await.unwrap();
            assert_eq!(resp.status(), 200, "{path}");
            resp.bytes().await.unwrap();
        }
    }
    // An excluded streaming response dropped mid-body: nothing recorded either.
    let mut resp = c
        .get(format!("{base}/internal/stream?forever=1"))
        .send()
        .await
        .unwrap();
    resp.chunk().await.unwrap();
    drop(resp);
}

/// Scrapes `/metrics` (itself excluded) until the expected counts show, then checks that
/// nothing else is there: no duration series and no in-flight gauge for excluded routes.
async fn check(c: &reqwest::Client, base: &str) {
    let url = format!("{base}/metrics");
    let fams = scrape_until(c, &url, "the expected counts", |f| {
        duration_counts(f) == expected()
    })
    .await;
    let routes: Vec<String> = active(&fams).into_keys().map(|(_, r)| r).collect();
    assert_eq!(routes, ["/healthz", "/users/{id}"], "{:?}", active(&fams));
}

fn streaming(forever: bool) -> impl futures_util::Stream<Item = Result<Bytes, Infallible>> {
    futures_util::stream::unfold(0u32, move |i| async move {
        if !forever && i == 3 {
            return None;
        }
        if i > 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Some((Ok(Bytes::from(format!("chunk {i}\n"))), i + 1))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn axum_excluded_routes_create_no_series() {
    let registry = Registry::new();
    let endpoint = MetricsEndpoint::new(registry.clone());
    let app = Router::new()
        .route("/health", get(|| async { "ok" }))
        .route("/healthz", get(|| async { "ok" }))
        .route("/users/{id}", get(|| async { "user" }))
        .route("/internal/debug/{what}", get(|| async { "debug" }))
        .route(
            "/internal/stream",
            get(|q: axum::extract::RawQuery| async move {
                Body::from_stream(streaming(q.0.as_deref() == Some("forever=1")))
            }),
        )
        .route_service("/metrics", endpoint.into_service())
        .layer(HttpMetricsLayer::from(metrics(&registry)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let c = client();
    run_plan(&c, &base).await;
    check(&c, &base).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actix_excluded_routes_create_no_series() {
    let registry = Registry::new();
    let middleware = vsanobs_http::actix::HttpMetrics::from(metrics(&registry));
    let endpoint = MetricsEndpoint::new(registry.clone());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let server = HttpServer::new(move || {
                actix_web::App::new().service(
                    web::scope("")
                        .wrap(middleware.clone())
                        .service(endpoint.clone().into_actix_resource("/metrics"))
                        .route("/health", web::get().to(|| async { "ok" }))
                        .route("/healthz", web::get().to(|| async { "ok" }))
                        .route("/users/{id}", web::get().to(|| async { "user" }))
                        .route(
                            "/internal/debug/{what}",
                            web::get().to(|| async { "debug" }),
                        )
                        .route(
                            "/internal/stream",
                            web::get().to(|req: actix_web::HttpRequest| async move {
                                let forever = req.query_string() == "forever=1";
                                HttpResponse::Ok().streaming(streaming(forever))
                            }),
                        ),
                )
            })
            .workers(1)
            .bind(("127.0.0.1", 0))
            .expect("bind");
            tx.send(server.addrs()[0]).unwrap();
            server.run().await.unwrap();
        });
    });
    let addr = rx.recv_timeout(Duration::from_secs(30)).expect("server up");
    let base = format!("http://{addr}");
    let c = client();
    run_plan(&c, &base).await;
    check(&c, &base).await;
}
