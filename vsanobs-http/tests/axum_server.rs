//! A real axum server on 127.0.0.1 with the metrics layer, driven by reqwest.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::routing::{get, post};
use vsanobs_core::Registry;
use vsanobs_http::{HttpMetricsLayer, MetricsEndpoint};

use common::{Rng, active, duration_counts, key, scrape_until, send_all};

fn app(registry: &Registry) -> Router {
    let api = Router::new().route(
        "/items/{id}",
        get(|Path(id): Path<String>| async move {
            if id == "missing" {
                (StatusCode::NOT_FOUND, "no such item")
            } else {
                (StatusCode::OK, "item")
            }
        }),
    );
    let app = Router::new()
        .route("/users/{id}", get(|| async { "user" }))
        .route(
            "/users",
            post(|| async { (StatusCode::CREATED, "created") }),
        )
        .route(
            "/fail",
            get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "failed") }),
        )
        .route("/stream", get(stream))
        .route(
            "/panic",
            get(|| async {
                #[allow(clippy::panic)]
                if true {
                    panic!("handler panic (expected by the test)");
                }
                "unreachable"
            }),
        )
        .nest("/api/v1", api)
        .layer(HttpMetricsLayer::new(registry).expect("register"));
    MetricsEndpoint::new(registry.clone()).mount(app)
}

async fn stream(q: axum::extract::RawQuery) -> Body {
    common::chunked_body(5, q.0.as_deref())
}

async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    format!("http://{addr}")
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

async fn send(c: &reqwest::Client, method: &str, url: &str) -> reqwest::StatusCode {
    let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let resp = c.request(m, url).send().await.unwrap();
    let status = resp.status();
    resp.bytes().await.unwrap();
    status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exact_count_per_method_route_status() {
    let registry = Registry::new();
    let base = serve(app(&registry)).await;
    let c = client();
    let mut want: BTreeMap<common::Key, u64> = BTreeMap::new();
    let mut expect = |m: &str, route: &str, status: u16, n: u64| {
        *want.entry(key(m, route, status)).or_default() += n;
    };
    let plan: &[(&str, &str, u16, &str, u64)] = &[
        ("GET", "/users/{id}", 200, "/users/", 7),
        ("HEAD", "/users/{id}", 200, "/users/", 2),
        ("POST", "/users", 201, "/users", 3),
        ("GET", "/api/v1/items/{id}", 200, "/api/v1/items/", 4),
        ("GET", "/fail", 500, "/fail", 5),
        ("GET", "/stream", 200, "/stream", 2),
        ("DELETE", "/users/{id}", 405, "/users/", 3),
        ("PROPFIND", "/users/{id}", 405, "/users/", 2),
        ("GET", "unmatched", 404, "/nope/", 4),
        ("POST", "unmatched", 404, "/wp-login.php?x=", 1),
    ];
    for (method, route, status, prefix, n) in plan {
        for i in 0..*n {
            let url = if prefix.ends_with('/') || prefix.ends_with('=') {
                format!("{base}{prefix}{i}")
            } else {
                format!("{base}{prefix}")
            };
            let got = send(&c, method, &url).await;
            assert_eq!(got.as_u16(), *status, "{method} {url}");
        }
        let label = if *method == "PROPFIND" {
            "_OTHER"
        } else {
            method
        };
        expect(label, route, *status, *n);
    }
    for _ in 0..2 {
        let got = send(&c, "GET", &format!("{base}/api/v1/items/missing")).await;
        assert_eq!(got.as_u16(), 404);
    }
    expect("GET", "/api/v1/items/{id}", 404, 2);

    let url = format!("{base}/metrics");
    let fams = scrape_until(&c, &url, "exact counts", |f| duration_counts(f) == want).await;
    let act = active(&fams);
    assert!(!act.is_empty());
    assert!(
        act.values().all(|v| *v == 0),
        "in-flight not back to 0: {act:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_disconnect_mid_stream_is_counted() {
    let registry = Registry::new();
    let base = serve(app(&registry)).await;
    let c = client();
    let mut resp = c
        .get(format!("{base}/stream?forever=1"))
        .send()
        .await
        .unwrap();
    let first = resp.chunk().await.unwrap().unwrap();
    assert_eq!(&first[..], b"chunk 0\n");
    // The request is in flight while the body streams.
    let url = format!("{base}/metrics");
    scrape_until(&c, &url, "in-flight 1", |f| {
        active(f).get(&("GET".to_owned(), "/stream".to_owned())) == Some(&1)
    })
    .await;
    drop(resp); // the client goes away mid-stream
    let fams = scrape_until(&c, &url, "disconnect recorded", |f| {
        duration_counts(f).get(&key("GET", "/stream", 200)) == Some(&1)
    })
    .await;
    assert_eq!(
        active(&fams).get(&("GET".to_owned(), "/stream".to_owned())),
        Some(&0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handler_panic_records_500() {
    let registry = Registry::new();
    let base = serve(app(&registry)).await;
    let c = client();
    // The connection dies with the panicking task: the client sees an error.
    assert!(c.get(format!("{base}/panic")).send().await.is_err());
    let url = format!("{base}/metrics");
    let fams = scrape_until(&c, &url, "panic recorded", |f| {
        duration_counts(f).get(&key("GET", "/panic", 500)) == Some(&1)
    })
    .await;
    assert_eq!(
        active(&fams).get(&("GET".to_owned(), "/panic".to_owned())),
        Some(&0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_traffic_keeps_series_bounded() {
    let registry = Registry::new();
    let base = serve(app(&registry)).await;
    let c = client();
    let mut rng = Rng::new(0x5eed);
    let mut reqs = Vec::with_capacity(10_000);
    for _ in 0..10_000 {
        let method = common::METHODS[rng.below(common::METHODS.len() as u64) as usize];
        let path = match rng.below(6) {
            0 => format!("/users/{}", rng.token(6)),
            1 => "/users".to_owned(),
            2 => format!("/api/v1/items/{}", rng.token(4)),
            3 => "/fail".to_owned(),
            _ => format!("/{}/{}?{}", rng.token(8), rng.token(3), rng.token(5)),
        };
        let ua = format!("scanner/{}", rng.token(12));
        reqs.push((method, path, ua));
    }
    let sent = send_all(&c, &base, reqs).await;
    let statuses: BTreeSet<u16> = sent.iter().flatten().copied().collect();
    let answered = sent.iter().flatten().count() as u64;
    assert!(answered >= 9_900, "only {answered} requests answered");

    let url = format!("{base}/metrics");
    let fams = scrape_until(&c, &url, "all requests recorded", |f| {
        duration_counts(f).values().sum::<u64>() >= answered
    })
    .await;
    let counts = duration_counts(&fams);
    let routes: BTreeSet<&str> = [
        "/users/{id}",
        "/users",
        "/api/v1/items/{id}",
        "/fail",
        "/stream",
        "/panic",
        "unmatched",
    ]
    .into();
    for (m, r, _) in counts.keys() {
        assert!(routes.contains(r.as_str()), "raw path leaked as route: {r}");
        assert!(
            [
                "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
                "_OTHER"
            ]
            .contains(&m.as_str()),
            "method {m}"
        );
    }
    // Routes the traffic could reach (4 templates) plus `unmatched`.
    let bound = (4 + 1) * 10 * statuses.len();
    assert!(
        counts.len() <= bound,
        "{} series > bound {bound}: {counts:?}",
        counts.len()
    );
    let recorded = counts.values().sum::<u64>();
    assert!(
        (answered..=10_000).contains(&recorded),
        "{recorded} recorded"
    );
    assert!(active(&fams).values().all(|v| *v == 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_headers_and_bodies_add_no_series() {
    let registry = Registry::new();
    let base = serve(app(&registry)).await;
    let c = client();
    // A 200 KiB header: served (hyper's limit is higher) or refused, never a new series.
    let huge = "x".repeat(200 * 1024);
    if let Ok(resp) = c
        .get(format!("{base}/users/1"))
        .header("x-huge", huge.as_str())
        .send()
        .await
    {
        let _ = resp.bytes().await;
    }
    // A 4 MiB body to a route and to an unmatched path (the server may answer before
    // reading it and close: the client then sees a broken pipe).
    for path in ["/users", "/nope/upload"] {
        if let Ok(resp) = c
            .post(format!("{base}{path}"))
            .body(vec![b'a'; 4 << 20])
            .send()
            .await
        {
            let _ = resp.bytes().await;
        }
    }
    let url = format!("{base}/metrics");
    let fams = scrape_until(&c, &url, "requests recorded", |f| {
        duration_counts(f).values().sum::<u64>() >= 1 && active(f).values().all(|v| *v == 0)
    })
    .await;
    let counts = duration_counts(&fams);
    let routes: BTreeSet<&str> = counts.keys().map(|(_, r, _)| r.as_str()).collect();
    assert!(
        routes.is_subset(&["/users", "unmatched", "/users/{id}"].into()),
        "{counts:?}"
    );
    assert!(counts.len() <= 3, "{counts:?}");
    assert!(active(&fams).values().all(|v| *v == 0));
}
