//! The record path allocates nothing once a route's series are bound: checked with a
//! counting global allocator. Its counts are process-wide, so each test measures alone in a
//! process of its own ([`rerun_alone`]).

use std::alloc::System;
use std::convert::Infallible;

use futures_util::FutureExt;
use http::{Request, Response};
use tower::{Layer, Service};
use vsanobs_core::Registry;
use vsanobs_core::alloc::{CountingAlloc, HeapSnapshot};
use vsanobs_http::{HttpMetricsLayer, Method, RouteMetrics, RouteTemplate};
use vsanobs_testkit::quiet::rerun_alone;

#[global_allocator]
static GLOBAL: CountingAlloc<System> = CountingAlloc::new(System);

#[test]
fn tracker_start_finish_does_not_allocate() {
    if rerun_alone() {
        return;
    }
    let r = Registry::new();
    let m = RouteMetrics::builder().body_sizes().register(&r).unwrap();
    for status in [200, 404, 500] {
        m.start(Some("/users/{id}"), Method::Get).finish(status);
    }
    let before = HeapSnapshot::now();
    for i in 0..3_000u32 {
        let status = [200, 404, 500][(i % 3) as usize];
        let mut t = m.start(Some("/users/{id}"), Method::Get);
        t.set_request_size(10);
        t.add_response_bytes(100);
        t.finish(status);
    }
    let d = before.delta_to(&HeapSnapshot::now());
    assert_eq!(d.allocations, 0, "{d:?}");
}

#[test]
fn tower_layer_request_does_not_allocate() {
    if rerun_alone() {
        return;
    }
    let r = Registry::new();
    let layer = HttpMetricsLayer::new(&r).unwrap();
    let mut svc = layer.layer(tower::service_fn(|_req: Request<String>| async {
        Ok::<_, Infallible>(Response::new(String::new()))
    }));
    let make = || {
        let mut req = Request::get("/users/7").body(String::new()).unwrap();
        req.extensions_mut().insert(RouteTemplate("/users/{id}"));
        req
    };
    // Bind the route and series first.
    drop(svc.call(make()).now_or_never());
    let reqs: Vec<_> = (0..1_000).map(|_| make()).collect();
    let mut resps = Vec::with_capacity(reqs.len());
    let before = HeapSnapshot::now();
    for req in reqs {
        let resp = svc.call(req).now_or_never();
        resps.push(resp);
    }
    resps.clear();
    let d = before.delta_to(&HeapSnapshot::now());
    assert_eq!(d.allocations, 0, "{d:?}");
    assert!(
        r.encode_to_string(vsanobs_core::Format::PrometheusText).contains(
            "http_server_request_duration_seconds_count{method=\"GET\",route=\"/users/{id}\",status=\"200\"} 1001\n"
        )
    );
}

/// The layer given the route templates (`with_routes`) finds them without allocating either.
#[test]
fn tower_layer_with_routes_request_does_not_allocate() {
    if rerun_alone() {
        return;
    }
    let r = Registry::new();
    let layer = HttpMetricsLayer::new(&r)
        .unwrap()
        .with_routes(["/users/{id}", "/users/me", "/files/{*path}"])
        .unwrap();
    let mut svc = layer.layer(tower::service_fn(|_req: Request<String>| async {
        Ok::<_, Infallible>(Response::new(String::new()))
    }));
    let paths = ["/users/7", "/users/me", "/files/a/b", "/nope"];
    // Bind the routes and series first.
    for p in paths {
        drop(
            svc.call(Request::get(p).body(String::new()).unwrap())
                .now_or_never(),
        );
    }
    let reqs: Vec<_> = (0..1_000)
        .map(|i| Request::get(paths[i % 4]).body(String::new()).unwrap())
        .collect();
    let mut resps = Vec::with_capacity(reqs.len());
    let before = HeapSnapshot::now();
    for req in reqs {
        resps.push(svc.call(req).now_or_never());
    }
    resps.clear();
    let d = before.delta_to(&HeapSnapshot::now());
    assert_eq!(d.allocations, 0, "{d:?}");
    let text = r.encode_to_string(vsanobs_core::Format::PrometheusText);
    for route in ["/users/{id}", "/users/me", "/files/{*path}", "unmatched"] {
        assert!(
            text.contains(&format!(
                "http_server_request_duration_seconds_count{{method=\"GET\",route=\"{route}\",status=\"200\"}} 251\n"
            )),
            "{route}: {text}"
        );
    }
}
