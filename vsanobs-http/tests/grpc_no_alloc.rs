//! The gRPC server layer's record path allocates nothing once a method's series exist (the
//! client layer allocates once per call: tonic's channel takes its own boxed body). Checked
//! with a counting global allocator; its counts are process-wide, so each test measures
//! alone in a process of its own ([`rerun_alone`]).

use std::alloc::System;
use std::convert::Infallible;

use bytes::Bytes;
use futures_util::{FutureExt, stream};
use http::{HeaderMap, HeaderValue, Request, Response};
use http_body::Frame;
use http_body_util::{BodyExt, Full, StreamBody};
use tower::{Layer, Service};
use vsanobs_core::alloc::{CountingAlloc, HeapSnapshot};
use vsanobs_core::{Format, Registry};
use vsanobs_http::grpc::{GrpcClientLayer, GrpcMethods, GrpcServerLayer, GrpcType};
use vsanobs_testkit::quiet::rerun_alone;

#[global_allocator]
static GLOBAL: CountingAlloc<System> = CountingAlloc::new(System);

type Frames = std::vec::IntoIter<Result<Frame<Bytes>, Infallible>>;
type TestBody = StreamBody<stream::Iter<Frames>>;

/// Two messages then `grpc-status: 0` in the trailers, built before the measurement.
fn response() -> Response<TestBody> {
    let mut trailers = HeaderMap::new();
    trailers.insert("grpc-status", HeaderValue::from_static("0"));
    let frames = vec![
        Ok(Frame::data(Bytes::from_static(&[
            0, 0, 0, 0, 2, 8, 1, 0, 0, 0,
        ]))),
        Ok(Frame::data(Bytes::from_static(&[0, 1, 0]))),
        Ok(Frame::trailers(trailers)),
    ];
    Response::new(StreamBody::new(stream::iter(frames)))
}

fn request<B>(body: B) -> Request<B> {
    Request::post("/demo.Echo/Say").body(body).unwrap()
}

fn methods() -> GrpcMethods {
    GrpcMethods::new()
        .method("demo.Echo", "Say", GrpcType::Unary)
        .unwrap()
}

/// Reads a body to its end without buffering it.
fn drain<B: http_body::Body + Unpin>(mut body: B) {
    while let Some(Some(frame)) = body.frame().now_or_never() {
        assert!(frame.is_ok());
    }
}

#[test]
fn grpc_server_call_does_not_allocate() {
    if rerun_alone() {
        return;
    }
    const CALLS: usize = 1_000;
    let r = Registry::new();
    let layer = GrpcServerLayer::builder(methods())
        .otel_semconv(true)
        .server(&r)
        .unwrap();
    let mut responses: Vec<_> = (0..=CALLS).map(|_| response()).collect();
    let mut svc = layer.layer(tower::service_fn(move |req: Request<_>| {
        // The handler reads the request, as tonic does.
        drain(req.into_body());
        let resp = responses.pop().expect("a response per call");
        async move { Ok::<_, Infallible>(resp) }
    }));
    let req_body = || Full::new(Bytes::from_static(&[0, 0, 0, 0, 1, 7]));
    // The first call binds the OpenTelemetry histogram of its code.
    let resp = svc
        .call(request(req_body()))
        .now_or_never()
        .unwrap()
        .unwrap();
    drain(resp.into_body());
    let reqs: Vec<_> = (0..CALLS).map(|_| request(req_body())).collect();

    let before = HeapSnapshot::now();
    for req in reqs {
        let resp = svc.call(req).now_or_never().unwrap().unwrap();
        drain(resp.into_body());
    }
    let d = before.delta_to(&HeapSnapshot::now());
    assert_eq!(d.allocations, 0, "{d:?}");

    let t = r.encode_to_string(Format::PrometheusText);
    let l = "grpc_type=\"unary\",grpc_service=\"demo.Echo\",grpc_method=\"Say\"";
    assert!(
        t.contains(&format!(
            "grpc_server_handled_total{{{l},grpc_code=\"OK\"}} 1001\n"
        )),
        "{t}"
    );
    assert!(
        t.contains(&format!("grpc_server_msg_received_total{{{l}}} 1001\n")),
        "{t}"
    );
    assert!(
        t.contains(&format!("grpc_server_msg_sent_total{{{l}}} 2002\n")),
        "{t}"
    );
}

#[test]
fn grpc_client_call_allocates_only_tonics_body_box() {
    if rerun_alone() {
        return;
    }
    const CALLS: usize = 1_000;
    let r = Registry::new();
    let layer = GrpcClientLayer::new(&r, methods()).unwrap();
    let mut responses: Vec<_> = (0..=CALLS).map(|_| response()).collect();
    let mut svc = layer.layer(tower::service_fn(move |req: Request<tonic::body::Body>| {
        // The channel sends the request.
        drain(req.into_body());
        let resp = responses.pop().expect("a response per call");
        async move { Ok::<_, Infallible>(resp) }
    }));
    let resp = svc
        .call(request(tonic::body::Body::empty()))
        .now_or_never()
        .unwrap()
        .unwrap();
    drain(resp.into_body());
    let body = || tonic::body::Body::new(Full::new(Bytes::from_static(&[0, 0, 0, 0, 1, 7])));
    let reqs: Vec<_> = (0..CALLS).map(|_| request(body())).collect();

    let before = HeapSnapshot::now();
    for req in reqs {
        let resp = svc.call(req).now_or_never().unwrap().unwrap();
        drain(resp.into_body());
    }
    let d = before.delta_to(&HeapSnapshot::now());
    eprintln!(
        "client layer: {} allocations in {CALLS} calls",
        d.allocations
    );
    assert_eq!(d.allocations, CALLS as i64, "{d:?}");

    let t = r.encode_to_string(Format::PrometheusText);
    let l = "grpc_type=\"unary\",grpc_service=\"demo.Echo\",grpc_method=\"Say\"";
    assert!(
        t.contains(&format!(
            "grpc_client_handled_total{{{l},grpc_code=\"OK\"}} 1001\n"
        )),
        "{t}"
    );
    assert!(
        t.contains(&format!("grpc_client_msg_sent_total{{{l}}} 1000\n")),
        "{t}"
    );
    assert!(
        t.contains(&format!("grpc_client_msg_received_total{{{l}}} 2002\n")),
        "{t}"
    );
}
