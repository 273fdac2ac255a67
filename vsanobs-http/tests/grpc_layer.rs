//! The gRPC layers against hand-built services and bodies: every way a call can end, every
//! bad input (missing or malformed `grpc-status`, HTTP errors in front of gRPC, huge
//! trailers), and random method paths.

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{FutureExt, stream};
use http::{HeaderMap, HeaderValue, Request, Response};
use http_body::{Body, Frame};
use http_body_util::{BodyExt, Full, StreamBody};
use tower::{Layer, Service, ServiceExt};
use vsanobs_core::{Format, Registry, RegistryError};
use vsanobs_http::grpc::{GrpcClientLayer, GrpcMethods, GrpcServerLayer, GrpcType, MessageCounter};

const SVC: &str = "demo.v1.Echo";

fn methods() -> GrpcMethods {
    GrpcMethods::new()
        .method(SVC, "Say", GrpcType::Unary)
        .unwrap()
        .method(SVC, "Chat", GrpcType::BidiStream)
        .unwrap()
}

/// gRPC length-prefixed messages of the given payload lengths.
fn messages(lens: &[usize]) -> Vec<u8> {
    let mut v = Vec::new();
    for &l in lens {
        v.push(0);
        v.extend_from_slice(&(l as u32).to_be_bytes());
        v.extend(std::iter::repeat_n(7u8, l));
    }
    v
}

type Frames = Vec<Result<Frame<Bytes>, std::io::Error>>;
type TestBody = StreamBody<stream::Iter<std::vec::IntoIter<Result<Frame<Bytes>, std::io::Error>>>>;

fn body(frames: Frames) -> TestBody {
    StreamBody::new(stream::iter(frames))
}

/// `bytes` cut into chunks of `size`, then `trailers` if any.
fn chunked(bytes: &[u8], size: usize, trailers: Option<HeaderMap>) -> Frames {
    let mut f: Frames = bytes
        .chunks(size)
        .map(|c| Ok(Frame::data(Bytes::copy_from_slice(c))))
        .collect();
    if let Some(t) = trailers {
        f.push(Ok(Frame::trailers(t)));
    }
    f
}

fn status_trailers(v: &[u8]) -> HeaderMap {
    let mut t = HeaderMap::new();
    t.insert("grpc-status", HeaderValue::from_bytes(v).unwrap());
    t
}

fn grpc_response(frames: Frames) -> Response<TestBody> {
    Response::builder()
        .header("content-type", "application/grpc")
        .body(body(frames))
        .unwrap()
}

fn request<B>(path: &str, b: B) -> Request<B> {
    Request::post(path)
        .header("content-type", "application/grpc")
        .body(b)
        .unwrap()
}

/// The value of the sample `name{labels}` in the text exposition, `None` when absent.
fn sample(text: &str, name: &str, labels: &str) -> Option<f64> {
    let head = format!("{name}{{{labels}}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&head))
        .map(|v| v.parse().unwrap())
}

fn labels(kind: &str, method: &str) -> String {
    format!("grpc_type=\"{kind}\",grpc_service=\"{SVC}\",grpc_method=\"{method}\"")
}

fn handled(text: &str, side: &str, l: &str, code: &str) -> f64 {
    sample(
        text,
        &format!("grpc_{side}_handled_total"),
        &format!("{l},grpc_code=\"{code}\""),
    )
    .unwrap_or_else(|| panic!("no handled series {l} {code}:\n{text}"))
}

fn text(r: &Registry) -> String {
    r.encode_to_string(Format::PrometheusText)
}

/// One call through a server layer around a service that reads the whole request and
/// answers `resp`; the response body is read to its end.
async fn server_call(
    layer: &GrpcServerLayer,
    req: Request<TestBody>,
    resp: Response<TestBody>,
) -> Result<http_body_util::Collected<Bytes>, std::io::Error> {
    let mut cell = Some(resp);
    let svc = layer.layer(tower::service_fn(move |req: Request<_>| {
        let resp = cell.take().expect("one call");
        async move {
            let _ = BodyExt::collect(req.into_body()).await;
            Ok::<_, Infallible>(resp)
        }
    }));
    let resp = svc.oneshot(req).await.unwrap();
    resp.into_body().collect().await
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap()
}

#[test]
fn every_status_code_in_the_trailers_and_every_message_is_counted() {
    rt().block_on(async {
        let r = Registry::new();
        let layer = GrpcServerLayer::new(&r, methods()).unwrap();
        for code in 0..=16u32 {
            // 3 request messages cut into 2-byte chunks, 5 response messages in 3-byte ones.
            let req = request(
                "/demo.v1.Echo/Chat",
                body(chunked(&messages(&[0, 4, 9]), 2, None)),
            );
            let resp = grpc_response(chunked(
                &messages(&[1, 0, 5, 6, 70]),
                3,
                Some(status_trailers(code.to_string().as_bytes())),
            ));
            server_call(&layer, req, resp).await.unwrap();
        }
        let t = text(&r);
        let l = labels("bidi_stream", "Chat");
        for code in vsanobs_http::grpc::Code::ALL {
            assert_eq!(handled(&t, "server", &l, code.as_str()), 1.0, "{code:?}");
        }
        assert_eq!(sample(&t, "grpc_server_started_total", &l), Some(17.0));
        assert_eq!(sample(&t, "grpc_server_msg_received_total", &l), Some(51.0));
        assert_eq!(sample(&t, "grpc_server_msg_sent_total", &l), Some(85.0));
        assert_eq!(
            sample(&t, "grpc_server_handling_seconds_count", &l),
            Some(17.0)
        );
        assert_eq!(sample(&t, "grpc_server_active_calls", &l), Some(0.0));
        // The other declared method exists at zero, every code of it.
        let say = labels("unary", "Say");
        assert_eq!(handled(&t, "server", &say, "Unauthenticated"), 0.0);
        assert_eq!(sample(&t, "grpc_server_started_total", &say), Some(0.0));
    });
}

#[test]
fn missing_malformed_and_out_of_range_statuses_are_unknown() {
    rt().block_on(async {
        let r = Registry::new();
        let layer = GrpcServerLayer::new(&r, methods()).unwrap();
        let bad: &[&[u8]] = &[
            b"",
            b"OK",
            b"abc",
            b"-1",
            b"+0",
            b"17",
            b"255",
            b"99999999999999999999",
            b"1.5",
            b" 0",
        ];
        for v in bad {
            let resp = grpc_response(chunked(&messages(&[3]), 8, Some(status_trailers(v))));
            server_call(&layer, request("/demo.v1.Echo/Say", body(vec![])), resp)
                .await
                .unwrap();
        }
        // Trailers without grpc-status.
        let mut t = HeaderMap::new();
        t.insert(
            "grpc-message",
            HeaderValue::from_static("where is my status"),
        );
        server_call(
            &layer,
            request("/demo.v1.Echo/Say", body(vec![])),
            grpc_response(chunked(&messages(&[1]), 8, Some(t))),
        )
        .await
        .unwrap();
        // A body that ends without trailers.
        server_call(
            &layer,
            request("/demo.v1.Echo/Say", body(vec![])),
            grpc_response(chunked(&messages(&[1]), 8, None)),
        )
        .await
        .unwrap();
        // A trailers-only head with a malformed status.
        let mut resp = grpc_response(vec![]);
        resp.headers_mut()
            .insert("grpc-status", HeaderValue::from_static("not-a-number"));
        server_call(&layer, request("/demo.v1.Echo/Say", body(vec![])), resp)
            .await
            .unwrap();

        let t = text(&r);
        let l = labels("unary", "Say");
        assert_eq!(handled(&t, "server", &l, "Unknown"), (bad.len() + 3) as f64);
        assert_eq!(handled(&t, "server", &l, "OK"), 0.0);
        assert_eq!(sample(&t, "grpc_server_active_calls", &l), Some(0.0));
        // Only the seventeen known code strings ever appear.
        let codes: std::collections::BTreeSet<_> = t
            .lines()
            .filter_map(|l| l.split("grpc_code=\"").nth(1))
            .map(|rest| rest.split('"').next().unwrap().to_owned())
            .collect();
        assert!(codes.len() <= 17, "{codes:?}");
    });
}

#[test]
fn trailers_larger_than_any_limit_only_give_their_status() {
    rt().block_on(async {
        let r = Registry::new();
        let layer = GrpcServerLayer::new(&r, methods()).unwrap();
        let mut t = status_trailers(b"3");
        let big = "x".repeat(4 << 20);
        for i in 0..4 {
            t.insert(
                http::HeaderName::from_bytes(format!("x-big-{i}").as_bytes()).unwrap(),
                HeaderValue::from_str(&big).unwrap(),
            );
        }
        t.insert("grpc-message", HeaderValue::from_str(&big).unwrap());
        let resp = grpc_response(chunked(&messages(&[2]), 1, Some(t)));
        server_call(&layer, request("/demo.v1.Echo/Say", body(vec![])), resp)
            .await
            .unwrap();
        let t = text(&r);
        assert_eq!(
            handled(&t, "server", &labels("unary", "Say"), "InvalidArgument"),
            1.0
        );
        assert!(!t.contains("xxxx"));
    });
}

#[test]
fn http_errors_in_front_of_grpc_map_as_the_spec_says() {
    rt().block_on(async {
        let r = Registry::new();
        let client = GrpcClientLayer::new(&r, methods()).unwrap();
        let server = GrpcServerLayer::new(&r, methods()).unwrap();
        let cases = [
            (400, "Internal"),
            (401, "Unauthenticated"),
            (403, "PermissionDenied"),
            (404, "Unimplemented"),
            (429, "Unavailable"),
            (502, "Unavailable"),
            (503, "Unavailable"),
            (504, "Unavailable"),
            (500, "Unknown"),
            (418, "Unknown"),
        ];
        for (status, _) in cases {
            let html = || Full::new(Bytes::from_static(b"<html>Bad Gateway</html>"));
            let svc = client.layer(tower::service_fn(
                move |_req: Request<tonic::body::Body>| async move {
                    Ok::<_, Infallible>(Response::builder().status(status).body(html()).unwrap())
                },
            ));
            let resp = svc
                .oneshot(request("/demo.v1.Echo/Say", tonic::body::Body::empty()))
                .await
                .unwrap();
            resp.into_body().collect().await.unwrap();

            let mut resp = Response::new(body(chunked(b"<html>nope</html>", 4, None)));
            *resp.status_mut() = http::StatusCode::from_u16(status).unwrap();
            server_call(&server, request("/demo.v1.Echo/Say", body(vec![])), resp)
                .await
                .unwrap();
        }
        let t = text(&r);
        let l = labels("unary", "Say");
        for side in ["client", "server"] {
            for code in [
                "Internal",
                "Unauthenticated",
                "PermissionDenied",
                "Unimplemented",
            ] {
                assert_eq!(handled(&t, side, &l, code), 1.0, "{side} {code}");
            }
            assert_eq!(handled(&t, side, &l, "Unavailable"), 4.0, "{side}");
            assert_eq!(handled(&t, side, &l, "Unknown"), 2.0, "{side}");
            // An HTML body holds no gRPC message that counts.
            assert_eq!(
                sample(&t, &format!("grpc_{side}_active_calls"), &l),
                Some(0.0)
            );
        }
        assert_eq!(sample(&t, "grpc_client_msg_received_total", &l), Some(0.0));
    });
}

#[test]
fn a_status_in_the_head_wins_over_the_http_status() {
    rt().block_on(async {
        let r = Registry::new();
        let layer = GrpcServerLayer::new(&r, methods()).unwrap();
        let mut resp = grpc_response(vec![]);
        *resp.status_mut() = http::StatusCode::SERVICE_UNAVAILABLE;
        resp.headers_mut()
            .insert("grpc-status", HeaderValue::from_static("8"));
        server_call(&layer, request("/demo.v1.Echo/Say", body(vec![])), resp)
            .await
            .unwrap();
        let t = text(&r);
        assert_eq!(
            handled(&t, "server", &labels("unary", "Say"), "ResourceExhausted"),
            1.0
        );
    });
}

#[test]
fn a_body_dropped_mid_stream_is_canceled_or_past_its_deadline() {
    rt().block_on(async {
        let r = Registry::new();
        let layer = GrpcServerLayer::new(&r, methods()).unwrap();
        for timeout in [None, Some("1m")] {
            let frames = chunked(&messages(&[4, 4, 4]), 9, Some(status_trailers(b"0")));
            let mut cell = Some(grpc_response(frames));
            let svc = layer.layer(tower::service_fn(move |_req: Request<_>| {
                let resp = cell.take().unwrap();
                async move { Ok::<_, Infallible>(resp) }
            }));
            let mut req = request("/demo.v1.Echo/Chat", body(vec![]));
            if let Some(t) = timeout {
                req.headers_mut()
                    .insert("grpc-timeout", HeaderValue::from_static(t));
            }
            let mut resp = svc.oneshot(req).await.unwrap().into_body();
            // The first message only, then the caller goes away.
            let first = resp.frame().await.unwrap().unwrap();
            assert_eq!(first.data_ref().unwrap().len(), 9);
            if timeout.is_some() {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            drop(resp);
        }
        let t = text(&r);
        let l = labels("bidi_stream", "Chat");
        assert_eq!(handled(&t, "server", &l, "Canceled"), 1.0);
        assert_eq!(handled(&t, "server", &l, "DeadlineExceeded"), 1.0);
        assert_eq!(handled(&t, "server", &l, "OK"), 0.0);
        // 9 bytes per data frame: the first frame completed one message each time.
        assert_eq!(sample(&t, "grpc_server_msg_sent_total", &l), Some(2.0));
        assert_eq!(sample(&t, "grpc_server_active_calls", &l), Some(0.0));
    });
}

#[test]
fn a_response_future_dropped_before_the_head_is_canceled() {
    let r = Registry::new();
    let layer = GrpcServerLayer::new(&r, methods()).unwrap();
    let mut svc = layer.layer(tower::service_fn(|_req: Request<_>| {
        futures_util::future::pending::<Result<Response<TestBody>, Infallible>>()
    }));
    let fut = svc.call(request("/demo.v1.Echo/Say", body(vec![])));
    let t = text(&r);
    assert_eq!(
        sample(&t, "grpc_server_active_calls", &labels("unary", "Say")),
        Some(1.0)
    );
    drop(fut);
    let t = text(&r);
    assert_eq!(
        handled(&t, "server", &labels("unary", "Say"), "Canceled"),
        1.0
    );
    assert_eq!(
        sample(&t, "grpc_server_active_calls", &labels("unary", "Say")),
        Some(0.0)
    );
}

#[test]
fn failures_of_the_service_or_the_body() {
    rt().block_on(async {
        let r = Registry::new();
        let server = GrpcServerLayer::new(&r, methods()).unwrap();
        let client = GrpcClientLayer::new(&r, methods()).unwrap();
        // The inner service fails.
        let svc = server.layer(tower::service_fn(|_req: Request<_>| async {
            Err::<Response<TestBody>, _>(std::io::Error::other("boom"))
        }));
        assert!(
            svc.oneshot(request("/demo.v1.Echo/Say", body(vec![])))
                .await
                .is_err()
        );
        let svc = client.layer(tower::service_fn(
            |_req: Request<tonic::body::Body>| async {
                Err::<Response<TestBody>, _>(std::io::Error::other("connection refused"))
            },
        ));
        assert!(
            svc.clone()
                .oneshot(request("/demo.v1.Echo/Say", tonic::body::Body::empty()))
                .await
                .is_err()
        );
        // Past its grpc-timeout the same failure is a deadline.
        let mut req = request("/demo.v1.Echo/Say", tonic::body::Body::empty());
        req.headers_mut()
            .insert("grpc-timeout", HeaderValue::from_static("1u"));
        std::thread::sleep(Duration::from_millis(1));
        let slow = client.layer(tower::service_fn(
            |_req: Request<tonic::body::Body>| async {
                tokio::time::sleep(Duration::from_millis(2)).await;
                Err::<Response<TestBody>, _>(std::io::Error::other("timeout"))
            },
        ));
        assert!(slow.oneshot(req).await.is_err());
        // The response body fails mid-stream.
        let frames: Frames = vec![
            Ok(Frame::data(Bytes::from(messages(&[2])))),
            Err(std::io::Error::other("reset")),
        ];
        let mut cell = Some(grpc_response(frames));
        let svc = client.layer(tower::service_fn(
            move |_req: Request<tonic::body::Body>| {
                let resp = cell.take().unwrap();
                async move { Ok::<_, Infallible>(resp) }
            },
        ));
        let resp = svc
            .oneshot(request("/demo.v1.Echo/Chat", tonic::body::Body::empty()))
            .await
            .unwrap();
        assert!(resp.into_body().collect().await.is_err());

        let t = text(&r);
        let say = labels("unary", "Say");
        assert_eq!(handled(&t, "server", &say, "Unknown"), 1.0);
        assert_eq!(handled(&t, "client", &say, "Unavailable"), 1.0);
        assert_eq!(handled(&t, "client", &say, "DeadlineExceeded"), 1.0);
        let chat = labels("bidi_stream", "Chat");
        assert_eq!(handled(&t, "client", &chat, "Unavailable"), 1.0);
        assert_eq!(
            sample(&t, "grpc_client_msg_received_total", &chat),
            Some(1.0)
        );
        for side in ["client", "server"] {
            for l in [&say, &chat] {
                assert_eq!(
                    sample(&t, &format!("grpc_{side}_active_calls"), l),
                    Some(0.0)
                );
            }
        }
    });
}

#[test]
fn a_body_that_says_it_ended_and_is_never_polled_is_not_a_cancel() {
    rt().block_on(async {
        let r = Registry::new();
        let layer = GrpcServerLayer::new(&r, methods()).unwrap();
        let svc = layer.layer(tower::service_fn(|_req: Request<_>| async {
            Ok::<_, Infallible>(Response::new(http_body_util::Empty::<Bytes>::new()))
        }));
        let resp = svc
            .oneshot(request("/demo.v1.Echo/Say", body(vec![])))
            .await
            .unwrap();
        // What hyper does with an empty body: ask, then drop without polling.
        assert!(resp.body().is_end_stream());
        drop(resp);
        let t = text(&r);
        assert_eq!(
            handled(&t, "server", &labels("unary", "Say"), "Unknown"),
            1.0
        );
        assert_eq!(
            handled(&t, "server", &labels("unary", "Say"), "Canceled"),
            0.0
        );
    });
}

#[test]
fn client_counts_sent_messages_through_tonics_body() {
    rt().block_on(async {
        let r = Registry::new();
        let client = GrpcClientLayer::new(&r, methods()).unwrap();
        let svc = client.layer(tower::service_fn(
            |req: Request<tonic::body::Body>| async move {
                // The channel reads the request as it sends it.
                let sent = req.into_body().collect().await.unwrap().to_bytes();
                let mut c = MessageCounter::default();
                assert_eq!(c.feed(&sent), 4);
                Ok::<_, Infallible>(grpc_response(chunked(
                    &messages(&[1, 2]),
                    1,
                    Some(status_trailers(b"0")),
                )))
            },
        ));
        let parts = chunked(&messages(&[5, 0, 300, 1]), 7, None);
        let req = request("/demo.v1.Echo/Chat", tonic::body::Body::new(body(parts)));
        let resp = svc.oneshot(req).await.unwrap();
        resp.into_body().collect().await.unwrap();
        let t = text(&r);
        let l = labels("bidi_stream", "Chat");
        assert_eq!(sample(&t, "grpc_client_msg_sent_total", &l), Some(4.0));
        assert_eq!(sample(&t, "grpc_client_msg_received_total", &l), Some(2.0));
        assert_eq!(handled(&t, "client", &l, "OK"), 1.0);
        assert_eq!(
            sample(&t, "grpc_client_handling_seconds_count", &l),
            Some(1.0)
        );
    });
}

#[test]
fn ten_thousand_random_method_paths_keep_the_series_bounded() {
    rt().block_on(async {
        let r = Registry::new();
        let layer = GrpcServerLayer::builder(methods())
            .otel_semconv(true)
            .server(&r)
            .unwrap();
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for i in 0..10_000u32 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let path = match i % 4 {
                0 => format!("/demo.v1.Echo/M{x:x}"),
                1 => format!("/svc{x}/Say"),
                2 => format!("/{x:x}"),
                _ => format!("/a/b/c/{x}?q={i}"),
            };
            let code = (x % 17).to_string();
            let resp = grpc_response(chunked(
                &messages(&[1]),
                4,
                Some(status_trailers(code.as_bytes())),
            ));
            server_call(&layer, request(&path, body(vec![])), resp)
                .await
                .unwrap();
        }
        let t = text(&r);
        let u = "grpc_type=\"unknown\",grpc_service=\"unknown\",grpc_method=\"unknown\"";
        assert_eq!(sample(&t, "grpc_server_started_total", u), Some(10_000.0));
        let handled_lines = t
            .lines()
            .filter(|l| l.starts_with("grpc_server_handled_total{"))
            .count();
        // 17 codes of the two declared methods and of `unknown`.
        assert_eq!(handled_lines, 3 * 17);
        let started_lines = t
            .lines()
            .filter(|l| l.starts_with("grpc_server_started_total{"))
            .count();
        assert_eq!(started_lines, 3);
        let semconv_series = t
            .lines()
            .filter(|l| l.starts_with("rpc_server_call_duration_seconds_count{"))
            .count();
        assert!(semconv_series <= 17, "{semconv_series}");
        assert!(t.contains("rpc_method=\"_OTHER\""));
        assert!(
            !t.contains("M1") && !t.contains("svc1"),
            "a raw path leaked into a label"
        );
        for l in t
            .lines()
            .filter(|l| l.starts_with("vsanobs_series_overflow_total{family=\"grpc"))
        {
            assert!(l.ends_with(" 0"), "{l}");
        }
    });
}

#[test]
fn the_opentelemetry_histogram_has_the_semconv_labels() {
    rt().block_on(async {
        let r = Registry::new();
        let layer = GrpcServerLayer::builder(methods())
            .otel_semconv(true)
            .handling_buckets([0.5, 1.0])
            .server(&r)
            .unwrap();
        let resp = grpc_response(chunked(&messages(&[1]), 4, Some(status_trailers(b"4"))));
        server_call(&layer, request("/demo.v1.Echo/Say", body(vec![])), resp).await.unwrap();
        let t = text(&r);
        assert_eq!(
            sample(
                &t,
                "rpc_server_call_duration_seconds_count",
                "rpc_system_name=\"grpc\",rpc_method=\"demo.v1.Echo/Say\",rpc_response_status_code=\"DEADLINE_EXCEEDED\""
            ),
            Some(1.0)
        );
        assert!(t.contains("grpc_server_handling_seconds_bucket{grpc_type=\"unary\",grpc_service=\"demo.v1.Echo\",grpc_method=\"Say\",le=\"0.5\"} 1\n"));
    });
}

#[test]
fn registering_twice_fails_and_leaves_nothing_half_registered() {
    let r = Registry::new();
    r.counter("grpc_server_msg_sent_total", "taken").unwrap();
    let err = GrpcServerLayer::new(&r, methods()).unwrap_err();
    assert!(
        matches!(err, RegistryError::AlreadyRegistered { .. }),
        "{err:?}"
    );
    let t = text(&r);
    assert!(!t.contains("grpc_server_started_total"), "{t}");
    // The client side registers beside it.
    GrpcClientLayer::new(&r, methods()).unwrap();
}

#[test]
fn a_pending_inner_future_is_polled_through() {
    let r = Registry::new();
    let layer = GrpcServerLayer::new(&r, methods()).unwrap();
    let mut svc = layer.layer(tower::service_fn(|_req: Request<_>| async {
        Ok::<_, Infallible>(grpc_response(vec![Ok(Frame::trailers(status_trailers(
            b"0",
        )))]))
    }));
    let resp = svc
        .call(request("/demo.v1.Echo/Say", body(vec![])))
        .now_or_never()
        .unwrap()
        .unwrap();
    let collected = resp.into_body().collect().now_or_never().unwrap().unwrap();
    assert_eq!(collected.trailers().unwrap()["grpc-status"], "0");
    assert_eq!(
        handled(&text(&r), "server", &labels("unary", "Say"), "OK"),
        1.0
    );
}

#[test]
fn a_cancelled_status_past_the_deadline_is_a_deadline_exceeded() {
    rt().block_on(async {
        let r = Registry::new();
        let client = GrpcClientLayer::new(&r, methods()).unwrap();
        for timeout in ["1m", "1H"] {
            // What a tonic server answers when its own timer fires: trailers-only Cancelled.
            let svc = client.layer(tower::service_fn(
                |_req: Request<tonic::body::Body>| async {
                    tokio::time::sleep(Duration::from_millis(3)).await;
                    let mut resp = grpc_response(vec![]);
                    resp.headers_mut()
                        .insert("grpc-status", HeaderValue::from_static("1"));
                    Ok::<_, Infallible>(resp)
                },
            ));
            let mut req = request("/demo.v1.Echo/Say", tonic::body::Body::empty());
            req.headers_mut()
                .insert("grpc-timeout", HeaderValue::from_static(timeout));
            svc.oneshot(req).await.unwrap();
        }
        let t = text(&r);
        let l = labels("unary", "Say");
        // Past its 1 ms deadline: DeadlineExceeded; within its hour: what the server said.
        assert_eq!(handled(&t, "client", &l, "DeadlineExceeded"), 1.0);
        assert_eq!(handled(&t, "client", &l, "Canceled"), 1.0);
    });
}

#[test]
fn grpc_families_pass_promtool() {
    rt().block_on(async {
        let r = Registry::new();
        let server = GrpcServerLayer::builder(methods())
            .otel_semconv(true)
            .server(&r)
            .unwrap();
        let client = GrpcClientLayer::builder(methods())
            .otel_semconv(true)
            .client(&r)
            .unwrap();
        for path in ["/demo.v1.Echo/Say", "/nope/Nope"] {
            let resp = grpc_response(chunked(&messages(&[1]), 4, Some(status_trailers(b"7"))));
            server_call(&server, request(path, body(vec![])), resp)
                .await
                .unwrap();
            let svc = client.layer(tower::service_fn(
                |_req: Request<tonic::body::Body>| async {
                    Ok::<_, Infallible>(grpc_response(chunked(
                        &messages(&[1]),
                        4,
                        Some(status_trailers(b"0")),
                    )))
                },
            ));
            let resp = svc
                .oneshot(request(path, tonic::body::Body::empty()))
                .await
                .unwrap();
            resp.into_body().collect().await.unwrap();
        }
        let t = text(&r);
        vsanobs_testkit::promtool_check_metrics(&t).unwrap_or_else(|err| panic!("{err}\n{t}"));
    });
}
