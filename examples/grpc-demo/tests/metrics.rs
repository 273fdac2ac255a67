//! vsanobs's gRPC layers on a real tonic server and a real tonic channel over loopback: the
//! server's and the client's counters and histograms match what each call did.

use std::time::Duration;

use grpc_demo::pb::echo_client::EchoClient;
use grpc_demo::pb::{EchoRequest, EchoResponse};
use tokio::net::TcpListener;
use tonic::Code as TonicCode;
use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::{Channel, Endpoint};
use vsanobs_core::{Format, Registry};
use vsanobs_http::grpc::{Code, GrpcClient, GrpcClientLayer, GrpcMethods, GrpcServerLayer};

const SVC: &str = "vsanobs.demo.v1.Echo";

struct Rig {
    server: Registry,
    client: Registry,
    echo: EchoClient<GrpcClient<Channel>>,
    channel: GrpcClient<Channel>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

async fn rig() -> Rig {
    let methods = GrpcMethods::from_file_descriptor_set(grpc_demo::FILE_DESCRIPTOR_SET).unwrap();
    assert_eq!(methods.len(), 4);
    let server = Registry::new();
    let client = Registry::new();
    let server_layer = GrpcServerLayer::builder(methods.clone())
        .otel_semconv(true)
        .server(&server)
        .unwrap();
    let client_layer = GrpcClientLayer::builder(methods)
        .otel_semconv(true)
        .client(&client)
        .unwrap();

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        grpc_demo::serve(listener, server_layer, async {
            let _ = stopped.await;
        })
        .await
        .expect("the demo server failed");
    });
    let channel = Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .expect("cannot connect to the demo server");
    let channel = tower::ServiceBuilder::new()
        .layer(client_layer)
        .service(channel);
    Rig {
        server,
        client,
        echo: EchoClient::new(channel.clone()),
        channel,
        _stop: stop,
    }
}

fn req(code: u32, responses: u32, delay_ms: u32) -> EchoRequest {
    EchoRequest {
        message: "m".into(),
        code,
        status_message: String::new(),
        responses,
        delay_ms,
    }
}

fn sample(text: &str, name: &str, labels: &str) -> f64 {
    let head = format!("{name}{{{labels}}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&head))
        .unwrap_or_else(|| panic!("no sample {head}in\n{text}"))
        .parse()
        .unwrap()
}

fn labels(kind: &str, method: &str) -> String {
    format!("grpc_type=\"{kind}\",grpc_service=\"{SVC}\",grpc_method=\"{method}\"")
}

/// What one side recorded for one method.
#[derive(Debug, PartialEq)]
struct Seen {
    started: f64,
    handled: Vec<(&'static str, f64)>,
    handling_count: f64,
    received: f64,
    sent: f64,
    active: f64,
}

fn seen(r: &Registry, side: &str, l: &str) -> Seen {
    let t = r.encode_to_string(Format::PrometheusText);
    let m = |n: &str| sample(&t, &format!("grpc_{side}_{n}"), l);
    Seen {
        started: m("started_total"),
        handled: Code::ALL
            .iter()
            .map(|c| {
                (
                    c.as_str(),
                    sample(
                        &t,
                        &format!("grpc_{side}_handled_total"),
                        &format!("{l},grpc_code=\"{}\"", c.as_str()),
                    ),
                )
            })
            .filter(|(_, v)| *v > 0.0)
            .collect(),
        handling_count: m("handling_seconds_count"),
        received: m("msg_received_total"),
        sent: m("msg_sent_total"),
        active: m("active_calls"),
    }
}

/// The server records a call when its response ends, which can be a moment after the client
/// saw the end: wait (bounded) until `want` holds, then read again. (One exposition is not a
/// snapshot: a call that ends while it is written can show in the histogram, written after
/// the handled counters, and not in those counters yet; the second read starts after the
/// call was recorded.)
async fn eventually(r: &Registry, side: &str, l: &str, want: impl Fn(&Seen) -> bool) -> Seen {
    for _ in 0..500 {
        if want(&seen(r, side, l)) {
            return seen(r, side, l);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let s = seen(r, side, l);
    panic!("{side} never reached the expected state: {s:?}");
}

fn one(code: Code) -> Vec<(&'static str, f64)> {
    vec![(code.as_str(), 1.0)]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unary_calls_with_every_status_code_match_call_by_call() {
    let mut rig = rig().await;
    let l = labels("unary", "Unary");
    for code in 0..=16u32 {
        let got = rig.echo.unary(req(code, 0, 0)).await;
        match got {
            Ok(r) => {
                assert_eq!(code, 0);
                assert_eq!(r.into_inner().message, "m");
            }
            Err(s) => assert_eq!(s.code(), TonicCode::from(code as i32)),
        }
        let n = f64::from(code + 1);
        let ok_responses = 1.0;
        let client = seen(&rig.client, "client", &l);
        let server = eventually(&rig.server, "server", &l, |s| s.handling_count == n).await;
        for (side, s) in [("client", &client), ("server", &server)] {
            assert_eq!(s.started, n, "{side} code {code}");
            assert_eq!(s.handling_count, n, "{side} code {code}");
            assert_eq!(s.active, 0.0, "{side} code {code}");
            let expected: Vec<_> = Code::ALL[..=code as usize]
                .iter()
                .map(|c| (c.as_str(), 1.0))
                .collect();
            assert_eq!(s.handled, expected, "{side} code {code}");
        }
        // One request each; only the OK call had a response message (the others are
        // trailers-only).
        assert_eq!(
            (client.sent, client.received),
            (n, ok_responses),
            "code {code}"
        );
        assert_eq!(
            (server.received, server.sent),
            (n, ok_responses),
            "code {code}"
        );
    }
    // The OpenTelemetry histogram on the server.
    let t = rig.server.encode_to_string(Format::PrometheusText);
    assert_eq!(
        sample(
            &t,
            "rpc_server_call_duration_seconds_count",
            &format!(
                "rpc_system_name=\"grpc\",rpc_method=\"{SVC}/Unary\",rpc_response_status_code=\"PERMISSION_DENIED\""
            )
        ),
        1.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_streaming_calls_count_each_message() {
    let mut rig = rig().await;
    let l = labels("server_stream", "ServerStream");
    // Five responses then OK.
    let mut s = rig
        .echo
        .server_stream(req(0, 5, 0))
        .await
        .unwrap()
        .into_inner();
    let mut got = 0;
    while let Some(_m) = s.message().await.unwrap() {
        got += 1;
    }
    assert_eq!(got, 5);
    // Three responses then FailedPrecondition in the trailers.
    let mut s = rig
        .echo
        .server_stream(req(9, 3, 0))
        .await
        .unwrap()
        .into_inner();
    for _ in 0..3 {
        s.message().await.unwrap().unwrap();
    }
    assert_eq!(
        s.message().await.unwrap_err().code(),
        TonicCode::FailedPrecondition
    );
    drop(s);

    let want = |handled| Seen {
        started: 2.0,
        handled,
        handling_count: 2.0,
        received: 0.0,
        sent: 0.0,
        active: 0.0,
    };
    let client = seen(&rig.client, "client", &l);
    let server = eventually(&rig.server, "server", &l, |s| s.handling_count == 2.0).await;
    let handled = vec![("OK", 1.0), ("FailedPrecondition", 1.0)];
    assert_eq!(
        client,
        Seen {
            sent: 2.0,
            received: 8.0,
            ..want(handled.clone())
        }
    );
    assert_eq!(
        server,
        Seen {
            received: 2.0,
            sent: 8.0,
            ..want(handled)
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_streaming_calls_count_each_message() {
    let mut rig = rig().await;
    let l = labels("client_stream", "ClientStream");
    let requests = futures_util::stream::iter((0..4).map(|_| req(0, 0, 0)));
    let resp = rig.echo.client_stream(requests).await.unwrap().into_inner();
    assert_eq!(resp.received, 4);
    // The second of three requests ends the call with Aborted.
    let requests = futures_util::stream::iter([req(0, 0, 0), req(10, 0, 0), req(0, 0, 0)]);
    let status = rig.echo.client_stream(requests).await.unwrap_err();
    assert_eq!(status.code(), TonicCode::Aborted);

    let client = seen(&rig.client, "client", &l);
    let server = eventually(&rig.server, "server", &l, |s| s.handling_count == 2.0).await;
    let handled = vec![("OK", 1.0), ("Aborted", 1.0)];
    assert_eq!(client.handled, handled);
    assert_eq!(server.handled, handled);
    assert_eq!((client.started, server.started), (2.0, 2.0));
    assert_eq!((client.received, server.sent), (1.0, 1.0));
    assert_eq!(server.active, 0.0);
    assert_eq!(client.active, 0.0);
    // Four requests, then two or three (the server may stop reading after the second one,
    // and the client may or may not have written the third by then); each side counts what
    // passed its layer, and the server cannot have read more than the client wrote.
    assert!((6.0..=7.0).contains(&client.sent), "{client:?}");
    assert!(
        server.received >= 6.0 && server.received <= client.sent,
        "{server:?} {client:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bidi_calls_count_each_message_both_ways() {
    let mut rig = rig().await;
    let l = labels("bidi_stream", "Bidi");
    let (tx, rx) = tokio::sync::mpsc::channel::<EchoRequest>(4);
    let mut responses = rig
        .echo
        .bidi(tokio_stream_from(rx))
        .await
        .unwrap()
        .into_inner();
    let mut got: Vec<EchoResponse> = Vec::new();
    for _ in 0..3 {
        tx.send(req(0, 2, 0)).await.unwrap();
        for _ in 0..2 {
            got.push(responses.message().await.unwrap().unwrap());
        }
    }
    // A fourth request: one response, then DataLoss.
    tx.send(req(15, 1, 0)).await.unwrap();
    got.push(responses.message().await.unwrap().unwrap());
    assert_eq!(
        responses.message().await.unwrap_err().code(),
        TonicCode::DataLoss
    );
    assert_eq!(got.len(), 7);
    drop(tx);

    let client = seen(&rig.client, "client", &l);
    let server = eventually(&rig.server, "server", &l, |s| s.handling_count == 1.0).await;
    let want = Seen {
        started: 1.0,
        handled: one(Code::DataLoss),
        handling_count: 1.0,
        received: 0.0,
        sent: 0.0,
        active: 0.0,
    };
    assert_eq!(
        client,
        Seen {
            sent: 4.0,
            received: 7.0,
            ..want
        }
    );
    let want = Seen {
        started: 1.0,
        handled: one(Code::DataLoss),
        handling_count: 1.0,
        received: 4.0,
        sent: 7.0,
        active: 0.0,
    };
    assert_eq!(server, want);
}

/// An mpsc receiver as a request stream.
fn tokio_stream_from(
    mut rx: tokio::sync::mpsc::Receiver<EchoRequest>,
) -> impl futures_util::Stream<Item = EchoRequest> + Send + 'static {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deadline_exceeded_is_recorded_on_both_sides() {
    let mut rig = rig().await;
    let l = labels("unary", "Unary");
    let mut request = tonic::Request::new(req(0, 0, 5_000));
    request.set_timeout(Duration::from_millis(300));
    let status = rig.echo.unary(request).await.unwrap_err();
    // tonic reports its own timeout as Cancelled; the layers record what Go would.
    assert!(
        matches!(
            status.code(),
            TonicCode::Cancelled | TonicCode::DeadlineExceeded
        ),
        "{status:?}"
    );
    let client = seen(&rig.client, "client", &l);
    assert_eq!(client.handled, one(Code::DeadlineExceeded));
    assert_eq!(client.active, 0.0);
    let server = eventually(&rig.server, "server", &l, |s| s.handling_count == 1.0).await;
    assert_eq!(server.handled, one(Code::DeadlineExceeded));
    assert_eq!(
        (server.received, server.sent, server.active),
        (1.0, 0.0, 0.0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_cancel_mid_stream_is_canceled_on_both_sides() {
    let mut rig = rig().await;
    let l = labels("server_stream", "ServerStream");
    // 1000 responses, 20 ms apart: the call is far from its end when the client leaves.
    let mut s = rig
        .echo
        .server_stream(req(0, 1_000, 20))
        .await
        .unwrap()
        .into_inner();
    for _ in 0..2 {
        s.message().await.unwrap().unwrap();
    }
    let client_active = seen(&rig.client, "client", &l).active;
    assert_eq!(client_active, 1.0);
    drop(s);
    let client = seen(&rig.client, "client", &l);
    assert_eq!(client.handled, one(Code::Canceled));
    assert_eq!(client.active, 0.0);
    let server = eventually(&rig.server, "server", &l, |s| s.handling_count == 1.0).await;
    assert_eq!(server.handled, one(Code::Canceled));
    assert_eq!(server.active, 0.0);
    // The client read two messages; its layer may have passed more that had already
    // arrived (a server that falls behind its 20 ms pace writes several at once); the server
    // sent at least what the client's layer saw, and far fewer than 1000.
    assert!(client.received >= 2.0, "{client:?}");
    assert!(
        server.sent >= client.received && server.sent < 1_000.0,
        "{server:?} {client:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_method_is_recorded_under_one_bounded_label() {
    let rig = rig().await;
    let mut grpc = tonic::client::Grpc::new(rig.channel.clone());
    for i in 0..50 {
        grpc.ready().await.unwrap();
        let path = PathAndQuery::try_from(format!("/{SVC}/NoSuchMethod{i}")).unwrap();
        let status = grpc
            .unary::<EchoRequest, EchoResponse, _>(
                tonic::Request::new(req(0, 0, 0)),
                path,
                tonic_prost::ProstCodec::default(),
            )
            .await
            .unwrap_err();
        assert_eq!(status.code(), TonicCode::Unimplemented);
    }
    let u = "grpc_type=\"unknown\",grpc_service=\"unknown\",grpc_method=\"unknown\"";
    let client = seen(&rig.client, "client", u);
    let server = eventually(&rig.server, "server", u, |s| s.handling_count == 50.0).await;
    for s in [&client, &server] {
        assert_eq!(s.started, 50.0);
        assert_eq!(s.handled, vec![("Unimplemented", 50.0)]);
        assert_eq!(s.active, 0.0);
    }
    let t = rig.server.encode_to_string(Format::PrometheusText);
    assert!(!t.contains("NoSuchMethod"));
    assert!(t.contains("rpc_method=\"_OTHER\",rpc_response_status_code=\"UNIMPLEMENTED\""));
    // Declared methods were not touched.
    assert_eq!(
        seen(&rig.server, "server", &labels("unary", "Unary")).started,
        0.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn otlp_carries_the_rpc_semantic_conventions() {
    use opentelemetry_proto::tonic::common::v1::any_value::Value;
    use opentelemetry_proto::tonic::metrics::v1::metric::Data;
    use vsanobs_core::export::Batch;
    use vsanobs_core::export::otlp::to_request;

    let mut rig = rig().await;
    rig.echo.unary(req(0, 0, 0)).await.unwrap();
    rig.echo.unary(req(5, 0, 0)).await.unwrap_err();
    rig.echo.unary(req(5, 0, 0)).await.unwrap_err();
    eventually(&rig.server, "server", &labels("unary", "Unary"), |s| {
        s.handling_count == 3.0
    })
    .await;

    for (registry, name) in [
        (&rig.server, "rpc.server.call.duration"),
        (&rig.client, "rpc.client.call.duration"),
    ] {
        let request = to_request(&Batch::new(registry.gather(), 1_700_000_000_000), &[], 0);
        let metrics = &request.resource_metrics[0].scope_metrics[0].metrics;
        let m = metrics
            .iter()
            .find(|m| m.name == name)
            .unwrap_or_else(|| panic!("no {name}"));
        assert_eq!(m.unit, "s");
        let Some(Data::Histogram(h)) = &m.data else {
            panic!("{m:?}")
        };
        let mut points: Vec<(Vec<(String, String)>, u64)> = h
            .data_points
            .iter()
            .map(|p| {
                let attrs = p
                    .attributes
                    .iter()
                    .map(|kv| {
                        let Some(Value::StringValue(v)) =
                            kv.value.as_ref().and_then(|v| v.value.clone())
                        else {
                            panic!("{kv:?}")
                        };
                        (kv.key.clone(), v)
                    })
                    .collect();
                (attrs, p.count)
            })
            .collect();
        points.sort();
        let point = |code: &str, n| {
            (
                vec![
                    ("rpc.system.name".to_owned(), "grpc".to_owned()),
                    ("rpc.method".to_owned(), format!("{SVC}/Unary")),
                    ("rpc.response.status_code".to_owned(), code.to_owned()),
                ],
                n,
            )
        };
        assert_eq!(points, [point("NOT_FOUND", 2), point("OK", 1)], "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_and_plain_http_on_one_port_each_get_their_own_families() {
    use tonic::service::Routes;
    use tonic::transport::Server;
    use tonic::transport::server::TcpIncoming;
    use vsanobs_http::HttpMetricsLayer;

    let registry = Registry::new();
    let methods = GrpcMethods::from_file_descriptor_set(grpc_demo::FILE_DESCRIPTOR_SET).unwrap();
    // The gRPC layer on the tonic routes, the HTTP layer on the HTTP routes, one router.
    let grpc = Routes::new(grpc_demo::echo_server())
        .into_axum_router()
        .layer(GrpcServerLayer::new(&registry, methods).unwrap());
    let http = axum::Router::new()
        .route("/hello", axum::routing::get(|| async { "hi" }))
        .layer(HttpMetricsLayer::new(&registry).unwrap());
    let app = Routes::from(grpc.merge(http));

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(
        Server::builder()
            .accept_http1(true)
            .add_routes(app)
            .serve_with_incoming_shutdown(TcpIncoming::from(listener), async {
                let _ = stopped.await;
            }),
    );
    let mut echo = EchoClient::connect(format!("http://{addr}")).await.unwrap();
    echo.unary(req(0, 0, 0)).await.unwrap();
    assert_eq!(
        echo.unary(req(3, 0, 0)).await.unwrap_err().code(),
        TonicCode::InvalidArgument
    );
    let hello = reqwest::get(format!("http://{addr}/hello")).await.unwrap();
    assert_eq!(hello.text().await.unwrap(), "hi");

    let l = labels("unary", "Unary");
    let s = eventually(&registry, "server", &l, |s| s.handling_count == 2.0).await;
    assert_eq!(s.handled, vec![("OK", 1.0), ("InvalidArgument", 1.0)]);
    let t = registry.encode_to_string(Format::PrometheusText);
    assert_eq!(
        sample(
            &t,
            "http_server_request_duration_seconds_count",
            "method=\"GET\",route=\"/hello\",status=\"200\""
        ),
        1.0
    );
    // Neither layer saw the other's requests.
    assert!(
        !t.lines().any(
            |l| l.starts_with("http_server_request_duration_seconds_count{")
                && !l.contains("route=\"/hello\"")
        ),
        "{t}"
    );
    assert!(!t.contains("grpc_service=\"unknown\""), "{t}");
    let _ = stop.send(());
    server.await.unwrap().unwrap();
}
