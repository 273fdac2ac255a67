//! Per-call cost of gRPC server middleware on a tonic unary call, against its peers in the
//! same run: bare; vsanobs's `GrpcServerLayer` (the service's methods from its descriptor set;
//! `vsanobs-semconv` adds the OpenTelemetry `rpc.server.call.duration` histogram);
//! tower-http's `TraceLayer::new_for_grpc()` (no subscriber: spans are disabled); the
//! OpenTelemetry tower layer (`opentelemetry-instrumentation-tower`, HTTP semantic
//! conventions: it sees a gRPC call as an HTTP POST, recorded into an SDK `MeterProvider` with
//! a `ManualReader`); a layer that does nothing (the floor under every layer). Over loopback
//! `vsanobs+client` also puts `GrpcClientLayer` on the client's channel.
//!
//! Two groups call `vsanobs.demo.v1.Echo/Unary` of `grpc-demo`, with a 2-byte message:
//! - `grpc_unary_in_process`: the layered `EchoServer` called as a tower service with a
//!   prepared request (the gRPC frame built once), its response body read to the trailers.
//!   What tonic's server does per call minus HTTP/2 and the socket: the layer's share of the
//!   work is largest here.
//! - `grpc_unary_loopback`: a tonic server on 127.0.0.1 and a tonic client over one HTTP/2
//!   connection, both on one current-thread runtime: what a call costs end to end, client
//!   included.
//!
//! `cargo bench -p vsanobs-benches --bench grpc -- --warm-up-time 1 --measurement-time 3`
//!
//! `VSANOBS_GRPC_BENCH_COUNT=<group>/<variant>:<n>` runs `n` calls of one variant and exits,
//! for an instruction count that machine load does not disturb (docs/benchmarks.md):
//! `valgrind --tool=callgrind --callgrind-out-file=/dev/null <bench binary>` at two values of
//! `n`, the difference divided by the difference of `n`.

use std::hint::black_box;
use std::net::SocketAddr;

use criterion::{Criterion, criterion_group};
use grpc_demo::pb::EchoRequest;
use grpc_demo::pb::echo_client::EchoClient;
use http_body_util::{BodyExt as _, Full};
use opentelemetry_sdk::metrics::{ManualReader, SdkMeterProvider};
use tokio::runtime::Runtime;
use tonic::codegen::{Bytes, http};
use tonic::transport::Channel;
use tower::util::BoxCloneSyncService;
use tower::{Layer, ServiceExt as _};
use vsanobs_core::Registry;
use vsanobs_http::grpc::{GrpcClient, GrpcClientLayer, GrpcMethods, GrpcServerLayer};

/// The layered service as the in-process group calls it.
type InProcess = BoxCloneSyncService<
    http::Request<tonic::body::Body>,
    http::Response<tonic::body::Body>,
    tonic::codegen::StdError,
>;

/// The server-side variants, in the order they are reported.
const SERVER_VARIANTS: &[&str] = &[
    "bare",
    "identity-layer",
    "vsanobs",
    "vsanobs-semconv",
    "tower-http-trace",
    "otel-tower",
];

/// The loopback group's variants: the server ones, and vsanobs on both ends.
const LOOPBACK_VARIANTS: &[&str] = &[
    "bare",
    "identity-layer",
    "vsanobs",
    "vsanobs-semconv",
    "vsanobs+client",
    "tower-http-trace",
    "otel-tower",
];

fn echo_methods() -> GrpcMethods {
    GrpcMethods::from_file_descriptor_set(grpc_demo::FILE_DESCRIPTOR_SET).expect("descriptor set")
}

/// vsanobs's server layer, on a registry of its own (one server layer per registry) that
/// lives as long as the layer.
fn vsanobs_server_layer(semconv: bool) -> GrpcServerLayer {
    let registry = Registry::new();
    let layer = GrpcServerLayer::builder(echo_methods())
        .otel_semconv(semconv)
        .server(&registry)
        .expect("register");
    RECORDED.with(|r| r.borrow_mut().push(registry));
    layer
}

thread_local! {
    /// The registries of the vsanobs layers built on this thread, checked after the runs.
    static RECORDED: std::cell::RefCell<Vec<Registry>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Fails unless every vsanobs layer built so far that saw calls counted them as OK unary
/// calls of `Echo/Unary` (so the bench measures the recording path, not the unknown-method
/// one). A layer whose variant a filter left out saw none and is skipped.
fn assert_vsanobs_recorded() {
    const LABELS: &str =
        r#"{grpc_type="unary",grpc_service="vsanobs.demo.v1.Echo",grpc_method="Unary""#;
    fn value(text: &str, prefix: &str) -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(prefix))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0.0)
    }
    RECORDED.with(|r| {
        for registry in r.borrow_mut().drain(..) {
            let text = registry.encode_to_string(vsanobs_core::Format::PrometheusText);
            let started = value(&text, &format!("grpc_server_started_total{LABELS}}} "));
            let ok = value(
                &text,
                &format!("grpc_server_handled_total{LABELS},grpc_code=\"OK\"}} "),
            );
            let unknown = value(
                &text,
                r#"grpc_server_started_total{grpc_type="unknown",grpc_service="unknown",grpc_method="unknown"} "#,
            );
            assert!(
                unknown == 0.0 && (started == 0.0 || ok > 0.0),
                "the vsanobs layer did not record OK unary calls:\n{text}"
            );
        }
    });
}

fn request_message() -> EchoRequest {
    EchoRequest {
        message: "hi".into(),
        ..Default::default()
    }
}

/// The OpenTelemetry layer records into the global meter provider (it has no other way to be
/// given one), so an SDK provider with a `ManualReader` is installed once, before the layer is
/// built; without it the layer would record into the no-op provider.
fn install_otel_meter_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let provider = SdkMeterProvider::builder()
            .with_reader(ManualReader::builder().build())
            .build();
        opentelemetry::global::set_meter_provider(provider);
    });
}

fn otel_layer() -> opentelemetry_instrumentation_tower::http::server::Layer<
    opentelemetry_instrumentation_tower::http::extractors::PathExtractor,
> {
    install_otel_meter_provider();
    // Metrics only (no spans), with the path (`/vsanobs.demo.v1.Echo/Unary`) as `http.route`:
    // the closest this HTTP layer comes to a method label.
    opentelemetry_instrumentation_tower::http::server::LayerBuilder::builder()
        .with_route_extractor(opentelemetry_instrumentation_tower::http::extractors::PathExtractor)
        .with_tracing(false)
        .build()
        .expect("otel layer")
}

/// The Echo service wrapped in the layer of `variant`, boxed so every variant has one type.
fn layered(variant: &str) -> Result<InProcess, String> {
    fn boxed<T, B>(service: T) -> InProcess
    where
        T: tower::Service<http::Request<tonic::body::Body>, Response = http::Response<B>>
            + Clone
            + Send
            + Sync
            + 'static,
        T::Future: Send + 'static,
        T::Error: Into<tonic::codegen::StdError>,
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<tonic::codegen::StdError>,
    {
        BoxCloneSyncService::new(
            service
                .map_response(|r: http::Response<B>| r.map(tonic::body::Body::new))
                .map_err(Into::into),
        )
    }
    let service = grpc_demo::echo_server();
    Ok(match variant {
        "bare" => boxed(service),
        "identity-layer" => boxed(tower::layer::util::Identity::new().layer(service)),
        "vsanobs" => boxed(vsanobs_server_layer(false).layer(service)),
        "vsanobs-semconv" => boxed(vsanobs_server_layer(true).layer(service)),
        "tower-http-trace" => boxed(tower_http::trace::TraceLayer::new_for_grpc().layer(service)),
        "otel-tower" => boxed(otel_layer().layer(service)),
        other => return Err(format!("unknown variant {other}")),
    })
}

/// One prepared unary request: the frame is encoded once and shared.
fn unary_request(frame: &Bytes) -> http::Request<tonic::body::Body> {
    let mut req = http::Request::new(tonic::body::Body::new(Full::new(frame.clone())));
    *req.method_mut() = http::Method::POST;
    *req.uri_mut() = http::Uri::from_static("/vsanobs.demo.v1.Echo/Unary");
    *req.version_mut() = http::Version::HTTP_2;
    let headers = req.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/grpc"),
    );
    headers.insert("te", http::HeaderValue::from_static("trailers"));
    req
}

/// One in-process call: the response body read to its end, trailers included.
async fn call_in_process(service: &InProcess, frame: &Bytes) {
    let resp = service
        .clone()
        .oneshot(unary_request(frame))
        .await
        .expect("in-process call");
    let collected = resp.into_body().collect().await.expect("body");
    let trailers = collected.trailers().expect("trailers");
    assert_eq!(
        trailers.get("grpc-status").map(http::HeaderValue::as_bytes),
        Some(&b"0"[..])
    );
    black_box(collected);
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn frame() -> Bytes {
    Bytes::from(grpc_demo::grpc_frame(&request_message()))
}

fn bench_in_process(c: &mut Criterion) {
    let rt = runtime();
    let _enter = rt.enter();
    let frame = frame();
    let mut g = c.benchmark_group("grpc_unary_in_process");
    for &variant in SERVER_VARIANTS {
        let service = layered(variant).expect("variant");
        g.bench_function(variant, |b| {
            b.iter(|| rt.block_on(call_in_process(&service, &frame)))
        });
    }
    g.finish();
    assert_vsanobs_recorded();
}

/// The loopback client: plain, or with vsanobs's client layer on its channel.
enum LoopbackClient {
    Plain(EchoClient<Channel>),
    Layered(EchoClient<GrpcClient<Channel>>),
}

impl LoopbackClient {
    async fn call(&mut self) {
        let resp = match self {
            Self::Plain(c) => c.unary(request_message()).await,
            Self::Layered(c) => c.unary(request_message()).await,
        };
        black_box(resp.expect("unary call"));
    }
}

/// A tonic server on 127.0.0.1 (free port) serving the Echo service behind `variant`'s layer,
/// on `rt`, and a client connected to it. The server stops when the runtime is dropped.
fn loopback(rt: &Runtime, variant: &str) -> Result<LoopbackClient, String> {
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .map_err(|e| format!("bind: {e}"))?;
    let addr: SocketAddr = listener.local_addr().map_err(|e| e.to_string())?;
    let never = std::future::pending::<()>();
    let identity = tower::layer::util::Identity::new;
    match variant {
        "bare" => rt.spawn(grpc_demo::serve(listener, identity(), never)),
        "identity-layer" => rt.spawn(grpc_demo::serve(
            listener,
            tower::layer::util::Stack::new(identity(), identity()),
            never,
        )),
        "vsanobs" | "vsanobs+client" => rt.spawn(grpc_demo::serve(
            listener,
            vsanobs_server_layer(false),
            never,
        )),
        "vsanobs-semconv" => rt.spawn(grpc_demo::serve(
            listener,
            vsanobs_server_layer(true),
            never,
        )),
        "tower-http-trace" => rt.spawn(grpc_demo::serve(
            listener,
            tower_http::trace::TraceLayer::new_for_grpc(),
            never,
        )),
        "otel-tower" => rt.spawn(grpc_demo::serve(listener, otel_layer(), never)),
        other => return Err(format!("unknown variant {other}")),
    };
    let channel = rt.block_on(async {
        tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
            .map_err(|e| e.to_string())?
            .tcp_nodelay(true)
            .connect()
            .await
            .map_err(|e| format!("connect: {e}"))
    })?;
    Ok(if variant == "vsanobs+client" {
        let layer =
            GrpcClientLayer::new(&Registry::new(), echo_methods()).map_err(|e| e.to_string())?;
        LoopbackClient::Layered(EchoClient::new(layer.layer(channel)))
    } else {
        LoopbackClient::Plain(EchoClient::new(channel))
    })
}

fn bench_loopback(c: &mut Criterion) {
    let rt = runtime();
    let mut g = c.benchmark_group("grpc_unary_loopback");
    for &variant in LOOPBACK_VARIANTS {
        let mut client = loopback(&rt, variant).expect("loopback server");
        g.bench_function(variant, |b| b.iter(|| rt.block_on(client.call())));
    }
    g.finish();
    assert_vsanobs_recorded();
}

criterion_group!(benches, bench_in_process, bench_loopback);

/// Runs `n` calls of one variant (`grpc_unary_in_process/<v>` or
/// `grpc_unary_loopback/<v>`), the same call the criterion benches time.
fn count(spec: &str) -> Result<(), String> {
    let (name, n) = spec
        .rsplit_once(':')
        .ok_or("expected <group>/<variant>:<n>")?;
    let n: u64 = n.parse().map_err(|e| format!("{n}: {e}"))?;
    let (group, variant) = name.split_once('/').ok_or("expected <group>/<variant>")?;
    let rt = runtime();
    match group {
        "grpc_unary_in_process" => {
            let _enter = rt.enter();
            let service = layered(variant)?;
            let frame = frame();
            for _ in 0..n {
                rt.block_on(call_in_process(&service, &frame));
            }
        }
        "grpc_unary_loopback" => {
            let mut client = loopback(&rt, variant)?;
            for _ in 0..n {
                rt.block_on(client.call());
            }
        }
        other => return Err(format!("unknown group {other}")),
    }
    assert_vsanobs_recorded();
    Ok(())
}

fn main() {
    if let Ok(spec) = std::env::var("VSANOBS_GRPC_BENCH_COUNT") {
        if let Err(e) = count(&spec) {
            eprintln!("grpc bench count: {e}");
            std::process::exit(1);
        }
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
