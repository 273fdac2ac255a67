//! The layer around the whole axum router (`HttpMetricsLayer::with_routes` + `around`) records
//! exactly what the same layer applied with `Router::layer` records, request for request, on
//! two real servers on 127.0.0.1 given the same traffic.

mod common;

use std::convert::Infallible;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::StatusCode;
use axum::routing::{get, post};
use bytes::Bytes;
use vsanobs_core::{Format, Registry};
use vsanobs_http::{HttpMetricsLayer, MetricsEndpoint, RouteMetrics};

use common::{Rng, send_all, serve_endpoint};

/// Every template of [`routes`], as `MatchedPath` shows them.
const TEMPLATES: &[&str] = &[
    "/users/{id}",
    "/users/me",
    "/users",
    "/files/{*path}",
    "/api/v1/items/{id}",
    "/stream",
    "/health",
    "/panic",
];

fn routes() -> Router {
    let api = Router::new().route(
        "/items/{id}",
        get(
            |axum::extract::Path(id): axum::extract::Path<String>| async move {
                if id == "missing" {
                    (StatusCode::NOT_FOUND, "no such item")
                } else {
                    (StatusCode::OK, "item")
                }
            },
        ),
    );
    Router::new()
        .route("/users/{id}", get(|| async { "user" }))
        .route("/users/me", get(|| async { "me, a longer body" }))
        .route(
            "/users",
            post(|body: Bytes| async move { (StatusCode::CREATED, body) }),
        )
        .route("/files/{*path}", get(|| async { "file" }))
        .route("/stream", get(stream))
        .route("/health", get(|| async { "ok" }))
        .route("/panic", get(panics))
        .nest("/api/v1", api)
}

async fn panics() -> &'static str {
    panic!("the handler panics (on purpose)")
}

async fn stream(q: axum::extract::RawQuery) -> Body {
    common::chunked_body(3, q.0.as_deref())
}

fn matrix(registry: &Registry) -> RouteMetrics {
    RouteMetrics::builder()
        .body_sizes()
        .exclude("/health")
        .register(registry)
        .expect("register")
}

/// Serves `app` on 127.0.0.1:<free port>; the base URL.
async fn serve<S>(app: S) -> String
where
    S: tower::Service<
            axum::extract::Request,
            Response = axum::response::Response,
            Error = Infallible,
        > + Clone
        + Send
        + 'static,
    S::Future: Send,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            axum::ServiceExt::<axum::extract::Request>::into_make_service(app),
        )
        .await
        .unwrap();
    });
    format!("http://{addr}")
}

/// The route matrix's samples other than durations' sums and buckets (which differ by timing).
fn comparable(registry: &Registry) -> Vec<String> {
    let text = registry.encode_to_string(Format::PrometheusText);
    let mut lines: Vec<String> = text
        .lines()
        .filter(|l| {
            !l.starts_with('#')
                && !l.starts_with("http_server_request_duration_seconds_sum")
                && !l.starts_with("http_server_request_duration_seconds_bucket")
        })
        .map(str::to_owned)
        .collect();
    lines.sort();
    lines
}

/// Waits (bounded) until both registries hold the same comparable samples.
async fn until_equal(a: &Registry, b: &Registry, what: &str) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (x, y) = (comparable(a), comparable(b));
        if x == y {
            return x;
        }
        if Instant::now() > deadline {
            panic!("{what}: Router::layer recorded\n{x:#?}\naround the router\n{y:#?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn around_the_router_records_what_router_layer_records() {
    let (per_route, around) = (Registry::new(), Registry::new());
    let layered = routes().layer(HttpMetricsLayer::from(matrix(&per_route)));
    let outer = HttpMetricsLayer::from(matrix(&around))
        .with_routes(TEMPLATES)
        .expect("templates")
        .around(routes());
    let (base_a, base_b) = (serve(layered).await, serve(outer).await);

    // The same traffic to both: every route, static against parameter, catch-all, nested,
    // 404s, 405s, odd methods and paths, an excluded route.
    let mut rng = Rng::new(16);
    let mut reqs: Vec<(&'static str, String, String)> = Vec::new();
    let fixed: &[(&str, &str)] = &[
        ("GET", "/users/me"),
        ("GET", "/users/"),
        ("GET", "/users"),
        ("POST", "/users"),
        ("DELETE", "/users/7"),
        ("PROPFIND", "/users/7"),
        ("HEAD", "/users/7"),
        ("GET", "/files/a/b/c.txt"),
        ("GET", "/files/"),
        ("GET", "/files"),
        ("GET", "/api/v1/items/3"),
        ("GET", "/api/v1/items/missing"),
        ("GET", "/api/v1/items"),
        ("GET", "/stream"),
        ("GET", "/health"),
        ("GET", "//users/7"),
        ("GET", "/users/7/"),
        ("GET", "/USERS/7"),
        ("GET", "/nope"),
        ("BREW", "/"),
    ];
    for _ in 0..3 {
        for (m, p) in fixed {
            reqs.push((m, (*p).to_owned(), "t".to_owned()));
        }
    }
    for _ in 0..150 {
        let p = match rng.below(5) {
            0 => format!("/users/{}", rng.token(6)),
            1 => format!("/files/{}/{}", rng.token(3), rng.token(4)),
            2 => format!("/api/v1/items/{}", rng.token(5)),
            3 => format!("/{}", rng.token(8)),
            _ => format!("/users/{}/{}", rng.token(2), rng.token(2)),
        };
        let m = ["GET", "POST", "HEAD", "PUT"][rng.below(4) as usize];
        reqs.push((m, p, "t".to_owned()));
    }
    let c = client();
    let a = send_all(&c, &base_a, reqs.clone()).await;
    let b = send_all(&c, &base_b, reqs.clone()).await;
    assert_eq!(a.len(), reqs.len());
    assert!(a.iter().all(Option::is_some), "a request failed: {a:?}");
    let mut sa = a.clone();
    let mut sb = b.clone();
    sa.sort();
    sb.sort();
    assert_eq!(sa, sb, "the two servers answered differently");
    // A handler that panics: the connection dies with it, and both record a 500.
    for base in [&base_a, &base_b] {
        assert!(c.get(format!("{base}/panic")).send().await.is_err());
    }

    let lines = until_equal(&per_route, &around, "same traffic").await;
    let has = |needle: &str| lines.iter().any(|l| l.contains(needle));
    assert!(has("route=\"/users/me\",status=\"200\""), "{lines:#?}");
    assert!(has("route=\"/users/{id}\",status=\"405\""), "{lines:#?}");
    assert!(has("route=\"/files/{*path}\",status=\"200\""), "{lines:#?}");
    assert!(
        has("route=\"/api/v1/items/{id}\",status=\"404\""),
        "{lines:#?}"
    );
    assert!(has("route=\"unmatched\",status=\"404\""), "{lines:#?}");
    assert!(
        lines.iter().any(|l| l
            == "http_server_request_duration_seconds_count{method=\"GET\",route=\"/panic\",status=\"500\"} 1"),
        "{lines:#?}"
    );
    assert!(has("http_server_request_body_size_bytes_sum"), "{lines:#?}");
    assert!(!has("/health"), "excluded route recorded: {lines:#?}");
    assert!(
        lines
            .iter()
            .filter(|l| l.starts_with("http_server_active_requests"))
            .all(|l| l.ends_with(" 0")),
        "{lines:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_dropped_mid_body_is_recorded_around_the_router() {
    let registry = Registry::new();
    let app = HttpMetricsLayer::from(matrix(&registry))
        .with_routes(TEMPLATES)
        .expect("templates")
        .around(routes());
    let base = serve(app).await;
    let metrics = serve_endpoint(MetricsEndpoint::new(registry.clone())).await;
    let c = client();
    let mut resp = c
        .get(format!("{base}/stream?forever=1"))
        .send()
        .await
        .unwrap();
    assert_eq!(&resp.chunk().await.unwrap().unwrap()[..], b"chunk 0\n");
    let key = ("GET".to_owned(), "/stream".to_owned());
    common::scrape_until(&c, &metrics, "in flight", |f| {
        common::active(f).get(&key) == Some(&1)
    })
    .await;
    drop(resp);
    let fams = common::scrape_until(&c, &metrics, "recorded", |f| {
        common::duration_counts(f).get(&common::key("GET", "/stream", 200)) == Some(&1)
    })
    .await;
    assert_eq!(common::active(&fams).get(&key), Some(&0));
}

#[test]
fn bad_templates_are_refused_with_the_template_named() {
    for (bad, why) in [
        ("users/{id}", "start with `/`"),
        ("/users/{id", ""),
        ("/files/{*path}/more", ""),
        ("/a/{}", ""),
    ] {
        let err = HttpMetricsLayer::new(&Registry::new())
            .unwrap()
            .with_routes(["/ok", bad])
            .expect_err(bad);
        assert_eq!(err.template, bad);
        assert!(err.to_string().contains(why), "{bad}: {err}");
    }
    // Two templates that conflict, as `Router::route` would refuse them.
    let err = HttpMetricsLayer::new(&Registry::new())
        .unwrap()
        .with_routes(["/users/{id}", "/users/{name}"])
        .expect_err("conflict");
    assert_eq!(err.template, "/users/{name}");
    // The same template twice counts once.
    assert!(
        HttpMetricsLayer::new(&Registry::new())
            .unwrap()
            .with_routes(["/a/{id}", "/a/{id}"])
            .is_ok()
    );
}
