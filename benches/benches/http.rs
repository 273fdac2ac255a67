//! Per-request cost of the HTTP middleware, in-process, against its peers in the same run:
//! axum: bare router, vsanobs `HttpMetricsLayer`, axum-prometheus, tower-http `TraceLayer`;
//! actix-web: bare app, vsanobs `HttpMetrics`, actix-web-prom.
//!
//! `http_axum_request` calls the `Router` as built, as a test with `oneshot` does: axum then
//! turns each handler into a route, and applies every layer to it, again for every request.
//! `http_axum_served_request` calls it after `with_state(())`, as `axum::serve` does once
//! at start, so layers are applied once: the per-request cost of a running server.
//!
//! Every variant builds the same request, runs it through the router and reads the whole
//! response body, so the differences are the middleware's own cost.
//!
//! `cargo bench -p vsanobs-benches --bench http`
//!
//! `VSANOBS_HTTP_BENCH_COUNT=<group>/<variant>:<n>` runs `n` requests of one variant and
//! exits, for an instruction count that machine load does not disturb: callgrind counting
//! only the request loop (`--toggle-collect='*counted_requests*'`) at two values of `n`, the
//! difference divided by the difference of `n` (docs/benchmarks.md).
//!
//! `VSANOBS_HTTP_BENCH_AB=<group>:<variant>,<variant>,...` times variants against the first
//! one in interleaved batches (fastest batch, median batch, and the median and quartiles of
//! each round's ratio to the first variant), for time ratios that a loaded machine disturbs
//! less than criterion's consecutive measurements.
//!
//! `VSANOBS_HTTP_BENCH_PRIMITIVES=1` times, in one process, the operations a recorded request
//! cannot avoid (an uncontended atomic read-modify-write, a reference count taken and
//! released, a 64-byte allocation, a TSC clock read, a histogram observation) beside a bare
//! axum request, so that a share of the bare request can be put on each.
//!
//! The same binary also serves one variant over loopback for a load generator, instead of
//! running criterion, when `VSANOBS_HTTP_BENCH_SERVE=<variant>@<host:port>` is set (variants:
//! `axum-bare`, `axum-vsanobs`, `axum-vsanobs-with-routes`, `axum-prometheus`, `axum-trace`, `actix-bare`,
//! `actix-vsanobs`, `actix-web-prom`); docs/benchmarks.md has the wrk commands.

use std::hint::black_box;

use actix_web::{App, HttpResponse, test as atest, web};
use axum::Router;
use axum::body::Body;
use axum::http::Request;
use axum::routing::get;
use criterion::{Criterion, criterion_group};
use tower::ServiceExt;
use vsanobs_core::Registry;

/// The route templates of [`axum_router`], for the layer applied around the whole router.
const AXUM_ROUTES: [&str; 2] = ["/users/{id}", "/health"];

/// vsanobs's layer around the whole router, finding templates itself
/// ([`vsanobs_http::HttpMetricsLayer::with_routes`]): no per-route layer for axum to box.
/// Answers with axum's `Response`, as `axum::serve` requires (the body boxed once more).
fn vsanobs_with_routes(registry: &Registry, router: Router) -> vsanobs_http::AroundRouter {
    vsanobs_http::HttpMetricsLayer::new(registry)
        .expect("register")
        .with_routes(AXUM_ROUTES)
        .expect("routes")
        .around(router)
}

/// One request through `svc`, reading the whole response body: what every axum variant
/// measures.
async fn axum_call<S, B>(svc: &S)
where
    S: tower::Service<Request<Body>, Response = axum::http::Response<B>> + Clone,
    S::Error: std::fmt::Debug,
    B: axum::body::HttpBody<Data = bytes::Bytes>,
    B::Error: std::fmt::Debug,
{
    use http_body_util::BodyExt;
    let req = Request::get("/users/42")
        .body(Body::empty())
        .expect("request");
    let resp = svc.clone().oneshot(req).await.expect("infallible");
    let body = resp.into_body().collect().await.expect("body").to_bytes();
    black_box(body);
}

fn axum_router() -> Router {
    Router::new()
        .route("/users/{id}", get(|| async { "user" }))
        .route("/health", get(|| async { "ok" }))
}

/// The axum variants (all, or `only` one), built on `registry`. Must run within a tokio
/// runtime: axum-prometheus spawns an upkeep task while building its handle, which then
/// runs within every `block_on`, so it is built only when it is measured.
fn axum_variants(registry: &Registry, only: Option<&str>) -> Vec<(&'static str, Router)> {
    let wanted = |name: &str| only.is_none_or(|o| o == name);
    let mut variants = vec![
        ("bare", axum_router()),
        (
            "vsanobs",
            axum_router().layer(vsanobs_http::HttpMetricsLayer::new(registry).expect("register")),
        ),
        (
            "tower-http-trace",
            axum_router().layer(tower_http::trace::TraceLayer::new_for_http()),
        ),
        // A layer that does nothing: what axum's plumbing for any layer costs (a second
        // boxed, cloned service per request), the floor under every middleware here.
        (
            "identity-layer",
            axum_router().layer(tower::layer::util::Identity::new()),
        ),
        // The requested route excluded from the matrix: what an excluded request costs.
        (
            "vsanobs-excluded",
            axum_router().layer(vsanobs_http::HttpMetricsLayer::from(
                vsanobs_http::RouteMetrics::builder()
                    .exclude("/users/{id}")
                    .register(&Registry::new())
                    .expect("register"),
            )),
        ),
    ];
    if wanted("axum-prometheus") {
        let (prom_layer, _prom_handle) = axum_prometheus::PrometheusMetricLayer::pair();
        variants.push(("axum-prometheus", axum_router().layer(prom_layer)));
    }
    variants.retain(|(name, _)| wanted(name));
    variants
}

fn bench_axum(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let registry = Registry::new();
    // axum-prometheus spawns its upkeep task while building its handle.
    let _enter = rt.enter();
    let variants = axum_variants(&registry, None);
    let served: Vec<(&str, Router)> = variants
        .iter()
        .map(|(name, router)| (*name, router.clone().with_state(())))
        .collect();
    let mut g = c.benchmark_group("http_axum_request");
    for (name, router) in &variants {
        g.bench_function(*name, |b| b.iter(|| rt.block_on(axum_call(router))));
    }
    let with_routes = vsanobs_with_routes(&Registry::new(), axum_router());
    g.bench_function("vsanobs-with-routes", |b| {
        b.iter(|| rt.block_on(axum_call(&with_routes)))
    });
    g.finish();
    let mut g = c.benchmark_group("http_axum_served_request");
    for (name, router) in &served {
        g.bench_function(*name, |b| b.iter(|| rt.block_on(axum_call(router))));
    }
    let with_routes = vsanobs_with_routes(&Registry::new(), axum_router().with_state(()));
    g.bench_function("vsanobs-with-routes", |b| {
        b.iter(|| rt.block_on(axum_call(&with_routes)))
    });
    g.finish();
}

fn bench_actix(c: &mut Criterion) {
    let sys = actix_web::rt::System::new();
    let registry = Registry::new();
    let vsanobs = vsanobs_http::actix::HttpMetrics::new(&registry).expect("register");
    let prom = actix_web_prom::PrometheusMetricsBuilder::new("bench")
        .endpoint("/metrics")
        .build()
        .expect("actix-web-prom");
    macro_rules! app {
        () => {
            App::new()
                .route("/users/{id}", web::get().to(|| async { "user" }))
                .route("/health", web::get().to(HttpResponse::Ok))
        };
    }
    let mut g = c.benchmark_group("http_actix_request");
    macro_rules! run {
        ($name:expr, $app:expr) => {{
            let svc = sys.block_on(atest::init_service($app));
            g.bench_function($name, |b| {
                b.iter(|| {
                    sys.block_on(async {
                        let req = atest::TestRequest::get().uri("/users/42").to_request();
                        let resp = atest::call_service(&svc, req).await;
                        black_box(atest::read_body(resp).await);
                    })
                })
            });
        }};
    }
    run!("bare", app!());
    run!("vsanobs", app!().wrap(vsanobs.clone()));
    run!("actix-web-prom", app!().wrap(prom.clone()));
    g.finish();
}

criterion_group!(benches, bench_axum, bench_actix);

/// Serves one variant on one thread until killed (for wrk).
fn serve(spec: &str) -> Result<(), String> {
    let (variant, addr) = spec
        .split_once('@')
        .ok_or("expected <variant>@<host:port>")?;
    let addr: std::net::SocketAddr = addr.parse().map_err(|e| format!("{addr}: {e}"))?;
    let registry = Registry::new();
    if let Some(kind) = variant.strip_prefix("axum-") {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        let _enter = rt.enter();
        let router = match kind {
            "bare" => axum_router(),
            "vsanobs" => axum_router()
                .layer(vsanobs_http::HttpMetricsLayer::new(&registry).map_err(|e| e.to_string())?),
            "vsanobs-with-routes" => {
                let app = vsanobs_with_routes(&registry, axum_router());
                return rt.block_on(async move {
                    let listener = tokio::net::TcpListener::bind(addr)
                        .await
                        .map_err(|e| e.to_string())?;
                    axum::serve(listener, app.into_make_service())
                        .await
                        .map_err(|e| e.to_string())
                });
            }
            "prometheus" => axum_router().layer(axum_prometheus::PrometheusMetricLayer::pair().0),
            "trace" => axum_router().layer(tower_http::trace::TraceLayer::new_for_http()),
            other => return Err(format!("unknown axum variant {other}")),
        };
        return rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| e.to_string())?;
            axum::serve(listener, router)
                .await
                .map_err(|e| e.to_string())
        });
    }
    let vsanobs = vsanobs_http::actix::HttpMetrics::new(&registry).map_err(|e| e.to_string())?;
    let prom = actix_web_prom::PrometheusMetricsBuilder::new("bench")
        .endpoint("/metrics")
        .build()
        .map_err(|e| e.to_string())?;
    let variant = variant.to_owned();
    if !["actix-bare", "actix-vsanobs", "actix-web-prom"].contains(&variant.as_str()) {
        return Err(format!("unknown variant {variant}"));
    }
    actix_web::rt::System::new()
        .block_on(async move {
            actix_web::HttpServer::new(move || {
                let app = App::new()
                    .route("/users/{id}", web::get().to(|| async { "user" }))
                    .route("/health", web::get().to(HttpResponse::Ok));
                // One app type for all variants: the middleware is conditional.
                app.wrap(actix_web::middleware::Condition::new(
                    variant == "actix-vsanobs",
                    vsanobs.clone(),
                ))
                .wrap(actix_web::middleware::Condition::new(
                    variant == "actix-web-prom",
                    prom.clone(),
                ))
            })
            .workers(1)
            .bind(addr)?
            .run()
            .await
        })
        .map_err(|e| e.to_string())
}

/// One request of an actix variant (`bare`, `vsanobs`, `actix-web-prom`) as the criterion
/// bench sends it, run to the end of its body on `sys`: what the counting and interleaved
/// modes repeat.
fn actix_request(
    sys: &std::rc::Rc<actix_web::rt::SystemRunner>,
    variant: &str,
    registry: &Registry,
) -> Result<impl FnMut() + 'static, String> {
    if !["bare", "vsanobs", "actix-web-prom"].contains(&variant) {
        return Err(format!("unknown actix variant {variant}"));
    }
    let vsanobs = vsanobs_http::actix::HttpMetrics::new(registry).map_err(|e| e.to_string())?;
    let prom = actix_web_prom::PrometheusMetricsBuilder::new("bench")
        .endpoint("/metrics")
        .build()
        .map_err(|e| e.to_string())?;
    let app = App::new()
        .route("/users/{id}", web::get().to(|| async { "user" }))
        .route("/health", web::get().to(HttpResponse::Ok))
        .wrap(actix_web::middleware::Condition::new(
            variant == "vsanobs",
            vsanobs,
        ))
        .wrap(actix_web::middleware::Condition::new(
            variant == "actix-web-prom",
            prom,
        ));
    let svc = sys.block_on(atest::init_service(app));
    let sys = sys.clone();
    Ok(move || {
        sys.block_on(async {
            let req = atest::TestRequest::get().uri("/users/42").to_request();
            let resp = atest::call_service(&svc, req).await;
            black_box(atest::read_body(resp).await);
        })
    })
}

/// Runs `n` requests of one variant (`http_axum_request/<v>`, `http_axum_served_request/<v>`
/// or `http_actix_request/<v>`), the same request the criterion benches time.
fn count(spec: &str) -> Result<(), String> {
    let (name, n) = spec
        .rsplit_once(':')
        .ok_or("expected <group>/<variant>:<n>")?;
    let n: u64 = n.parse().map_err(|e| format!("{n}: {e}"))?;
    let (group, variant) = name.split_once('/').ok_or("expected <group>/<variant>")?;
    if group == "http_actix_request" {
        let sys = std::rc::Rc::new(actix_web::rt::System::new());
        let mut request = actix_request(&sys, variant, &Registry::new())?;
        counted_requests(n, &mut request);
        return Ok(());
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(|e| e.to_string())?;
    let registry = Registry::new();
    let _enter = rt.enter();
    let prepare = |router: Router| match group {
        "http_axum_request" => Ok(router),
        "http_axum_served_request" => Ok(router.with_state(())),
        other => Err(format!("unknown group {other}")),
    };
    if variant == "vsanobs-with-routes" {
        let svc = vsanobs_with_routes(&registry, prepare(axum_router())?);
        counted_requests(n, || rt.block_on(axum_call(&svc)));
        return Ok(());
    }
    let (_, router) = axum_variants(&registry, Some(variant))
        .into_iter()
        .find(|(v, _)| *v == variant)
        .ok_or_else(|| format!("unknown axum variant {variant}"))?;
    let router = prepare(router)?;
    counted_requests(n, || rt.block_on(axum_call(&router)));
    Ok(())
}

/// Times variants of one group against each other, interleaved: each round runs a batch of
/// `BATCH` requests of every variant in turn, starting with a different variant each round,
/// and each variant's figures are its fastest batch, its median batch, and the median and
/// quartiles of its per-round ratio to the first variant. On a machine shared with other
/// work, a burst of load then hits every variant of a round alike, the fastest batch is the
/// one least disturbed, and the per-round ratio cancels load that changes over the run.
/// `VSANOBS_HTTP_BENCH_AB=<group>:<variant>,<variant>,...` (same groups and variants as the
/// counting mode).
fn interleaved(spec: &str) -> Result<(), String> {
    const ROUNDS: usize = 300;
    const BATCH: u32 = 200;
    let (group, names) = spec
        .split_once(':')
        .ok_or("expected <group>:<variant>,...")?;
    let names: Vec<&str> = names.split(',').collect();
    let mut runs: Vec<Box<dyn FnMut()>> = Vec::new();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(|e| e.to_string())?;
    let sys = actix_web::rt::System::new();
    let sys = std::rc::Rc::new(sys);
    let rt = std::rc::Rc::new(rt);
    for name in &names {
        let registry = Registry::new();
        if group == "http_actix_request" {
            runs.push(Box::new(actix_request(&sys, name, &registry)?));
            continue;
        }
        let prepare = |router: Router| match group {
            "http_axum_request" => Ok(router),
            "http_axum_served_request" => Ok(router.with_state(())),
            other => Err(format!("unknown group {other}")),
        };
        let rt2 = rt.clone();
        if *name == "vsanobs-with-routes" {
            let svc = vsanobs_with_routes(&registry, prepare(axum_router())?);
            runs.push(Box::new(move || rt2.block_on(axum_call(&svc))));
            continue;
        }
        if *name == "axum-prometheus" {
            return Err(
                "axum-prometheus needs a runtime entered for good; not in this mode".into(),
            );
        }
        let (_, router) = axum_variants(&registry, Some(name))
            .into_iter()
            .find(|(v, _)| v == name)
            .ok_or_else(|| format!("unknown axum variant {name}"))?;
        let router = prepare(router)?;
        runs.push(Box::new(move || rt2.block_on(axum_call(&router))));
    }
    let n = runs.len();
    let mut times: Vec<Vec<f64>> = vec![Vec::with_capacity(ROUNDS); n];
    for round in 0..ROUNDS + 10 {
        // Each round starts with a different variant, so that none always follows the same one.
        for k in 0..n {
            let i = (round + k) % n;
            let t = std::time::Instant::now();
            for _ in 0..BATCH {
                (runs[i])();
            }
            // The first rounds warm up.
            if round >= 10 {
                times[i].push(t.elapsed().as_secs_f64() * 1e9 / f64::from(BATCH));
            }
        }
    }
    let base = times[0].clone();
    for (name, t) in names.iter().zip(&times) {
        let stats = interleaved_stats(&base, t);
        println!(
            "{group}/{name}: fastest batch {:.0} ns/request ({:+.1} %), median batch {:.0} ns ({:+.1} %), \
             paired rounds {:+.1} % (quartiles {:+.1} to {:+.1} %)",
            stats.fastest,
            stats.fastest_added * 100.0,
            stats.median,
            stats.median_added * 100.0,
            stats.paired[1] * 100.0,
            stats.paired[0] * 100.0,
            stats.paired[2] * 100.0,
        );
    }
    Ok(())
}

/// One variant's batches against the first variant's, from [`interleaved`].
#[derive(Debug, PartialEq)]
struct InterleavedStats {
    /// Fastest batch, ns per request.
    fastest: f64,
    /// Added share of the fastest batch over the base's fastest batch.
    fastest_added: f64,
    /// Median batch, ns per request.
    median: f64,
    /// Added share of the median batch over the base's median batch.
    median_added: f64,
    /// Lower quartile, median and upper quartile, over the rounds, of the round's batch over
    /// the base's batch of the same round, minus one. Pairing by round cancels load that
    /// comes and goes over the run, which independent quantiles do not.
    paired: [f64; 3],
}

fn interleaved_stats(base: &[f64], variant: &[f64]) -> InterleavedStats {
    fn sorted(v: impl IntoIterator<Item = f64>) -> Vec<f64> {
        let mut v: Vec<f64> = v.into_iter().collect();
        v.sort_by(f64::total_cmp);
        v
    }
    let (b, t) = (
        sorted(base.iter().copied()),
        sorted(variant.iter().copied()),
    );
    let ratios = sorted(variant.iter().zip(base).map(|(v, b)| v / b - 1.0));
    let at = |v: &[f64], q: usize| v[(v.len() - 1) * q / 4];
    InterleavedStats {
        fastest: t[0],
        fastest_added: t[0] / b[0] - 1.0,
        median: at(&t, 2),
        median_added: at(&t, 2) / at(&b, 2) - 1.0,
        paired: [at(&ratios, 1), at(&ratios, 2), at(&ratios, 3)],
    }
}

/// Fastest of 30 batches of `n` calls of `f`, in ns per call.
fn fastest_ns(n: u32, mut f: impl FnMut()) -> f64 {
    (0..30)
        .map(|_| {
            let t = std::time::Instant::now();
            for _ in 0..n {
                f();
            }
            t.elapsed().as_secs_f64() * 1e9 / f64::from(n)
        })
        .fold(f64::INFINITY, f64::min)
}

/// The costs of the operations a recorded request cannot avoid, beside a bare axum request
/// (served, as `axum::serve` runs it), each the fastest of 30 batches.
fn primitives() -> Result<(), String> {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(|e| e.to_string())?;
    let router = axum_router().with_state(());
    let bare = fastest_ns(2_000, || rt.block_on(axum_call(&router)));
    let counter = AtomicU64::new(0);
    let rmw = fastest_ns(200_000, || {
        black_box(&counter).fetch_add(1, Ordering::Relaxed);
    });
    let shared = Arc::new(0u64);
    let arc = fastest_ns(200_000, || drop(black_box(black_box(&shared).clone())));
    let alloc = fastest_ns(200_000, || drop(black_box(Box::new([0u8; 64]))));
    let clock = quanta::Clock::new();
    let read = fastest_ns(200_000, || {
        black_box(clock.raw());
    });
    let histogram = vsanobs_core::Histogram::new(vsanobs_core::DEFAULT_DURATION_BUCKETS);
    let mut v = 0.0001_f64;
    let observe = fastest_ns(200_000, || {
        v = if v > 12.0 { 0.0001 } else { v * 1.7 };
        histogram.observe(black_box(v));
    });
    let share = |ns: f64| ns / bare * 100.0;
    println!("bare axum request (served): {bare:.0} ns");
    for (what, ns) in [
        ("uncontended atomic read-modify-write", rmw),
        ("Arc clone and drop (two read-modify-writes)", arc),
        ("64-byte Box allocated and freed", alloc),
        ("TSC clock read (quanta raw)", read),
        (
            "vsanobs histogram observe, 14 bounds (two read-modify-writes)",
            observe,
        ),
    ] {
        println!(
            "{what}: {ns:.1} ns ({:.2} % of the bare request)",
            share(ns)
        );
    }
    let floor = 8.0 * rmw + 2.0 * read;
    println!(
        "eight read-modify-writes and two clock reads, timed alone: {floor:.0} ns ({:.1} % of the bare request)",
        share(floor)
    );
    Ok(())
}

/// Runs `request` `n` times. Not inlined, so that callgrind can count this function alone
/// (`--toggle-collect='*counted_requests*'`), leaving out building the variant (and the
/// clock's one-off calibration, whose instruction count depends on how slowly it runs).
#[inline(never)]
fn counted_requests(n: u64, mut request: impl FnMut()) {
    for _ in 0..n {
        request();
    }
}

fn main() {
    if let Ok(spec) = std::env::var("VSANOBS_HTTP_BENCH_COUNT") {
        if let Err(e) = count(&spec) {
            eprintln!("http bench count: {e}");
            std::process::exit(1);
        }
        return;
    }
    if let Ok(spec) = std::env::var("VSANOBS_HTTP_BENCH_AB") {
        if let Err(e) = interleaved(&spec) {
            eprintln!("http bench interleaved: {e}");
            std::process::exit(1);
        }
        return;
    }
    if std::env::var_os("VSANOBS_HTTP_BENCH_PRIMITIVES").is_some() {
        if let Err(e) = primitives() {
            eprintln!("http bench primitives: {e}");
            std::process::exit(1);
        }
        return;
    }
    if let Ok(spec) = std::env::var("VSANOBS_HTTP_BENCH_SERVE") {
        if let Err(e) = serve(&spec) {
            eprintln!("http bench server: {e}");
            std::process::exit(1);
        }
        return;
    }
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--test") || !args.iter().any(|a| a == "--bench") {
        // Criterion's test mode (`cargo bench -- --test`, or run by `cargo test` and nextest
        // without `--bench`, as CI does): also check the statistics the interleaved mode
        // reports, on batches whose answer is known.
        check_interleaved_stats();
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}

/// [`interleaved_stats`] on made-up batches: a variant exactly twice the base in every round,
/// then one whose rounds are out of step with its fastest batch.
fn check_interleaved_stats() {
    let base = [100.0, 120.0, 110.0, 130.0, 105.0];
    let twice: Vec<f64> = base.iter().map(|b| b * 2.0).collect();
    let stats = interleaved_stats(&base, &twice);
    assert_eq!(stats.fastest, 200.0);
    assert_eq!(stats.median, 220.0);
    assert_eq!(stats.fastest_added, 1.0);
    assert_eq!(stats.median_added, 1.0);
    assert_eq!(stats.paired, [1.0, 1.0, 1.0]);
    // Round by round: +10 %, -50 %, +0 %, +20 %, +100 %.
    let variant = [110.0, 60.0, 110.0, 156.0, 210.0];
    let stats = interleaved_stats(&base, &variant);
    assert_eq!(stats.fastest, 60.0);
    assert!((stats.fastest_added - (60.0 / 100.0 - 1.0)).abs() < 1e-12);
    let expect = [0.0, 0.1, 0.2];
    for (got, want) in stats.paired.iter().zip(expect) {
        assert!(
            (got - want).abs() < 1e-12,
            "{:?} != {expect:?}",
            stats.paired
        );
    }
}
