//! A real actix-web server on 127.0.0.1 with the metrics middleware, driven by reqwest.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use actix_web::{App, HttpResponse, HttpServer, web};
use bytes::Bytes;
use vsanobs_core::Registry;
use vsanobs_http::MetricsEndpoint;
use vsanobs_http::actix::HttpMetrics;

use common::{Rng, active, duration_counts, key, scrape_until, send_all};

async fn item(id: web::Path<String>) -> HttpResponse {
    if id.as_str() == "missing" {
        HttpResponse::NotFound().body("no such item")
    } else {
        HttpResponse::Ok().body("item")
    }
}

async fn stream(req: actix_web::HttpRequest) -> HttpResponse {
    let forever = req.query_string() == "forever=1";
    let chunks = futures_util::stream::unfold(0u32, move |i| async move {
        if !forever && i == 5 {
            return None;
        }
        if i > 0 {
            actix_web::rt::time::sleep(Duration::from_millis(if forever { 20 } else { 1 })).await;
        }
        Some((
            Ok::<_, actix_web::Error>(Bytes::from(format!("chunk {i}\n"))),
            i + 1,
        ))
    });
    HttpResponse::Ok().streaming(chunks)
}

#[allow(clippy::unused_async)]
async fn panics() -> HttpResponse {
    #[allow(clippy::panic)]
    if true {
        panic!("handler panic (expected by the test)");
    }
    HttpResponse::Ok().finish()
}

/// Starts the server on its own thread (actix runs its own runtime) and returns the base URL.
fn serve(registry: &Registry) -> String {
    let metrics = HttpMetrics::new(registry).expect("register");
    let endpoint = MetricsEndpoint::new(registry.clone());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let server = HttpServer::new(move || {
                App::new()
                    .service(endpoint.clone().into_actix_resource("/metrics"))
                    .service(
                        web::scope("")
                            .wrap(metrics.clone())
                            .route("/users/{id}", web::get().to(|| async { "user" }))
                            .route("/users/{id}", web::head().to(HttpResponse::Ok))
                            .route(
                                "/users",
                                web::post()
                                    .to(|| async { HttpResponse::Created().body("created") }),
                            )
                            .route(
                                "/fail",
                                web::get().to(|| async {
                                    HttpResponse::InternalServerError().body("failed")
                                }),
                            )
                            .route("/stream", web::get().to(stream))
                            .route("/panic", web::get().to(panics))
                            .service(
                                web::scope("/api/v1").route("/items/{id}", web::get().to(item)),
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
    format!("http://{addr}")
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

async fn send(c: &reqwest::Client, method: &str, url: &str) -> u16 {
    let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let resp = c.request(m, url).send().await.unwrap();
    let status = resp.status().as_u16();
    resp.bytes().await.unwrap();
    status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exact_count_per_method_route_status() {
    let registry = Registry::new();
    let base = serve(&registry);
    let c = client();
    let mut want: BTreeMap<common::Key, u64> = BTreeMap::new();
    let plan: &[(&str, &str, u16, &str, u64)] = &[
        ("GET", "/users/{id}", 200, "/users/", 7),
        ("HEAD", "/users/{id}", 200, "/users/", 2),
        ("POST", "/users", 201, "/users", 3),
        ("GET", "/api/v1/items/{id}", 200, "/api/v1/items/", 4),
        ("GET", "/fail", 500, "/fail", 5),
        ("GET", "/stream", 200, "/stream", 2),
        // actix answers a known path with an unrouted method with 404; the template matched.
        ("DELETE", "/users/{id}", 404, "/users/", 3),
        ("GET", "unmatched", 404, "/nope/", 4),
        ("PROPFIND", "unmatched", 404, "/wp-admin/", 2),
    ];
    for (method, route, status, prefix, n) in plan {
        for i in 0..*n {
            let url = if prefix.ends_with('/') {
                format!("{base}{prefix}{i}")
            } else {
                format!("{base}{prefix}")
            };
            assert_eq!(send(&c, method, &url).await, *status, "{method} {url}");
        }
        let label = if *method == "PROPFIND" {
            "_OTHER"
        } else {
            method
        };
        *want.entry(key(label, route, *status)).or_default() += n;
    }
    for _ in 0..2 {
        assert_eq!(
            send(&c, "GET", &format!("{base}/api/v1/items/missing")).await,
            404
        );
    }
    *want
        .entry(key("GET", "/api/v1/items/{id}", 404))
        .or_default() += 2;

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
    let base = serve(&registry);
    let c = client();
    let mut resp = c
        .get(format!("{base}/stream?forever=1"))
        .send()
        .await
        .unwrap();
    let first = resp.chunk().await.unwrap().unwrap();
    assert_eq!(&first[..], b"chunk 0\n");
    let url = format!("{base}/metrics");
    scrape_until(&c, &url, "in-flight 1", |f| {
        active(f).get(&("GET".to_owned(), "/stream".to_owned())) == Some(&1)
    })
    .await;
    drop(resp);
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
    let base = serve(&registry);
    let c = client();
    // actix drops the connection of a panicking handler: the client sees an error.
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
    // The worker survived the panic.
    assert_eq!(send(&c, "GET", &format!("{base}/users/1")).await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_traffic_keeps_series_bounded() {
    let registry = Registry::new();
    let base = serve(&registry);
    let c = client();
    let mut rng = Rng::new(0xac71);
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
        reqs.push((method, path, format!("scanner/{}", rng.token(12))));
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
        "unmatched",
    ]
    .into();
    for (_, r, _) in counts.keys() {
        assert!(routes.contains(r.as_str()), "raw path leaked as route: {r}");
    }
    let bound = (4 + 1) * 10 * statuses.len();
    assert!(counts.len() <= bound, "{} series > {bound}", counts.len());
    let recorded = counts.values().sum::<u64>();
    assert!(
        (answered..=10_000).contains(&recorded),
        "{recorded} recorded"
    );
    assert!(active(&fams).values().all(|v| *v == 0));
}

/// A collector that blocks every scrape until opened (60 s at most).
#[derive(Clone, Default)]
struct Gate(std::sync::Arc<std::sync::atomic::AtomicBool>);

impl vsanobs_core::Collector for Gate {
    fn name(&self) -> &str {
        "gate"
    }
    fn collect_into(
        &self,
        _sink: &mut vsanobs_core::FamilySink<'_>,
    ) -> Result<(), vsanobs_core::CollectError> {
        for _ in 0..6000 {
            if self.0.load(std::sync::atomic::Ordering::Acquire) {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scrapers_timeout_header_caps_the_timeout() {
    let registry = Registry::new();
    let gate = Gate::default();
    registry.register_collector(gate.clone()).unwrap();
    // 30 s configured, longer than the client waits: only the header can make the
    // endpoint answer first.
    let endpoint = MetricsEndpoint::new(registry).timeout(Some(Duration::from_secs(30)));
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let server = HttpServer::new(move || {
                App::new().service(endpoint.clone().into_actix_resource("/metrics"))
            })
            .workers(1)
            .bind(("127.0.0.1", 0))
            .expect("bind");
            tx.send(server.addrs()[0]).unwrap();
            server.run().await.unwrap();
        });
    });
    let addr = rx.recv_timeout(Duration::from_secs(30)).expect("server up");
    let c = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let resp = c
        .get(format!("http://{addr}/metrics"))
        .header("X-Prometheus-Scrape-Timeout-Seconds", "1")
        .send()
        .await
        .expect("an answer before the client gives up");
    assert_eq!(resp.status(), 503);
    // A bad value is ignored, without a panic: the configured timeout applies.
    gate.0.store(true, std::sync::atomic::Ordering::Release);
    let resp = c
        .get(format!("http://{addr}/metrics"))
        .header("X-Prometheus-Scrape-Timeout-Seconds", "-inf")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remembered_routes_stay_exact_past_the_cache_bound() {
    use vsanobs_http::actix::{PATTERN_CACHE_MAX_PATH, PATTERN_CACHE_PATHS};
    let registry = Registry::new();
    let base = serve(&registry);
    let c = client();
    // More distinct paths than the middleware remembers, each twice (a miss, then a hit
    // unless the memory was just cleared), plus paths too long to remember.
    let distinct = 2 * PATTERN_CACHE_PATHS + 10;
    let long = "9".repeat(PATTERN_CACHE_MAX_PATH + 1);
    for round in 0..2 {
        for i in 0..distinct {
            assert_eq!(send(&c, "GET", &format!("{base}/users/{i}")).await, 200);
        }
        assert_eq!(send(&c, "GET", &format!("{base}/users/{long}")).await, 200);
        assert_eq!(send(&c, "GET", &format!("{base}/nope/{round}")).await, 404);
    }
    let want = 2 * (distinct as u64 + 1);
    let url = format!("{base}/metrics");
    let fams = scrape_until(&c, &url, "every request", |f| {
        duration_counts(f).get(&key("GET", "/users/{id}", 200)) == Some(&want)
    })
    .await;
    assert_eq!(
        duration_counts(&fams).get(&key("GET", "unmatched", 404)),
        Some(&2)
    );
}
