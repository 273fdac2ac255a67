//! gRPC server and client metrics for tonic (feature `grpc`): go-grpc-middleware's families
//! and labels, recorded by two tower layers.
//!
//! | family | type | labels |
//! |---|---|---|
//! | `grpc_server_started_total` | counter | `grpc_type`, `grpc_service`, `grpc_method` |
//! | `grpc_server_handled_total` | counter | `grpc_type`, `grpc_service`, `grpc_method`, `grpc_code` |
//! | `grpc_server_handling_seconds` | histogram (Go's `DefBuckets`) | `grpc_type`, `grpc_service`, `grpc_method` |
//! | `grpc_server_msg_received_total` | counter | `grpc_type`, `grpc_service`, `grpc_method` |
//! | `grpc_server_msg_sent_total` | counter | `grpc_type`, `grpc_service`, `grpc_method` |
//! | `grpc_server_active_calls` | gauge (in flight; not in Go) | `grpc_type`, `grpc_service`, `grpc_method` |
//! | `rpc_server_call_duration_seconds` (optional) | histogram; OTLP `rpc.server.call.duration` | `rpc_system_name`, `rpc_method`, `rpc_response_status_code` |
//!
//! and the same with `grpc_client_` / `rpc_client_` from [`GrpcClientLayer`].
//!
//! `grpc_type` is `unary`, `client_stream`, `server_stream` or `bidi_stream`; `grpc_code` is
//! the code as Go spells it (`OK`, `Canceled`, `InvalidArgument`, `DeadlineExceeded`, ...).
//! All seventeen `handled` series of every declared method exist from the start at 0, as
//! go-grpc-middleware's `InitializeMetrics` makes them. The handling-time histogram, opt-in
//! in Go, is always recorded here.
//!
//! # Example
//!
//! ```
//! use vsanobs_core::Registry;
//! use vsanobs_http::grpc::{GrpcClientLayer, GrpcMethods, GrpcServerLayer, GrpcType};
//!
//! let registry = Registry::new();
//! // With tonic-build: GrpcMethods::from_file_descriptor_set(proto::FILE_DESCRIPTOR_SET)?
//! let methods = GrpcMethods::new()
//!     .method("demo.v1.Echo", "Say", GrpcType::Unary)?
//!     .method("demo.v1.Echo", "Chat", GrpcType::BidiStream)?;
//! let server_layer = GrpcServerLayer::new(&registry, methods.clone())?;
//! let client_layer = GrpcClientLayer::builder(methods).otel_semconv(true).client(&registry)?;
//! // tonic::transport::Server::builder().layer(server_layer).add_service(EchoServer::new(svc))
//! // EchoClient::new(tower::ServiceBuilder::new().layer(client_layer).service(channel))
//! # let _ = (server_layer, client_layer);
//! let text = registry.encode_to_string(vsanobs_core::Format::PrometheusText);
//! assert!(text.contains(concat!(
//!     "grpc_server_handled_total{grpc_type=\"bidi_stream\",grpc_service=\"demo.v1.Echo\",",
//!     "grpc_method=\"Chat\",grpc_code=\"Unavailable\"} 0\n"
//! )));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## When a call ends
//! A call starts when the layer is called and ends once: when its response stream ends
//! (the status from the `grpc-status` trailer), when the response head already says how it
//! ended (a trailers-only response, or an HTTP error from a proxy without `grpc-status`,
//! mapped as gRPC's HTTP-to-gRPC table says: 400 `Internal`, 401 `Unauthenticated`, 403
//! `PermissionDenied`, 404 `Unimplemented`, 429/502/503/504 `Unavailable`, others
//! `Unknown`), when the service or the body fails (server `Unknown`, client `Unavailable`),
//! or when the response is dropped before its end: `Canceled`, or `DeadlineExceeded` once
//! the request's `grpc-timeout` has passed (give or take [`DEADLINE_SLACK`] or a tenth of
//! the timeout, whichever is less: the caller's clock started before the request reached the
//! server, so its cancel may arrive a moment before the server's own deadline). A missing,
//! malformed, non-numeric or out-of-range `grpc-status` is `Unknown`. Only `grpc-status` is
//! read from the trailers, so their size does not matter.
//!
//! Go compared: go-grpc-middleware records what the handler returns; a handler whose client
//! went away usually returns `Canceled` (its context's error), one past its deadline
//! `DeadlineExceeded`, which is what this layer records. tonic itself reports a timeout as
//! `Cancelled` to its caller; the layers record `DeadlineExceeded`, as Go would: a
//! `Canceled` status that arrives once the call's deadline has passed is recorded as
//! `DeadlineExceeded`. A Go client stream that the application abandons without reading to
//! the end is never counted as handled; here it is `Canceled` when dropped.
//!
//! ## Unknown methods
//! Only the declared methods ([`GrpcMethods`], from the service's `FileDescriptorSet` or by
//! name) get series. Every other path is recorded as `grpc_type="unknown"`,
//! `grpc_service="unknown"`, `grpc_method="unknown"` (`rpc_method="_OTHER"` in the
//! OpenTelemetry histogram): a client sending random paths adds at most seventeen series.
//! (grpc-go answers unknown methods with `Unimplemented` before any interceptor runs, unless
//! the server has an unknown-service handler, so go-grpc-middleware usually does not count
//! them at all.)
//!
//! ## Messages
//! Messages are counted in the bytes of both bodies, from gRPC's 5-byte length prefixes,
//! wherever the chunks are cut ([`MessageCounter`]); nothing is buffered. A message is
//! counted when its last byte has passed.
//!
//! ## gRPC next to plain HTTP
//! The layers count every request they see as a gRPC call. A server that serves gRPC and
//! HTTP on one port (axum routes plus tonic services) puts [`GrpcServerLayer`] on the tonic
//! routes only (`tonic::service::Routes::into_axum_router().layer(...)`) and
//! [`HttpMetricsLayer`](crate::HttpMetricsLayer) on the HTTP routes.
//!
//! ## Cost
//! Per call: a hash lookup of the path, `Instant::now` twice, two counter increments and a
//! gauge add/subtract, one histogram observe, and a scan of the body bytes for message
//! prefixes (which skips message payloads without reading them). The server path allocates
//! nothing; the client path allocates once per call with a request body, because tonic's
//! channel takes its own boxed body type. With
//! [`otel_semconv`](GrpcMetricsBuilder::otel_semconv) a second histogram observe.
//!
//! ## OpenTelemetry
//! With [`otel_semconv`](GrpcMetricsBuilder::otel_semconv) the layers also record the RPC
//! call duration of OpenTelemetry's semantic conventions 1.42 (the version of the workspace's
//! opentelemetry crates): one histogram per side, attributes `rpc.system.name` (`grpc`),
//! `rpc.method` (`package.Service/Method`) and `rpc.response.status_code` (`OK`,
//! `DEADLINE_EXCEEDED`, ...). Prometheus sees it with underscores; vsanobs-core's OTLP
//! exporter sends it under the semantic-convention names, as it does for the HTTP route
//! matrix. The Go-named families go to OTLP under their own names.

mod code;
mod frames;
mod methods;
mod metrics;
mod service;

pub use code::{Code, parse_grpc_timeout};
pub use frames::MessageCounter;
pub use methods::{GrpcMethods, GrpcMethodsError, GrpcType};
pub use metrics::{
    CLIENT_ACTIVE, CLIENT_CALL_DURATION, CLIENT_HANDLED, CLIENT_HANDLING, CLIENT_MSG_RECEIVED,
    CLIENT_MSG_SENT, CLIENT_STARTED, DEADLINE_SLACK, DEFAULT_HANDLING_BUCKETS, GRPC_CLIENT_METRICS,
    GRPC_SERVER_METRICS, GrpcMetricsBuilder, OTEL_OTHER_METHOD, SERVER_ACTIVE,
    SERVER_CALL_DURATION, SERVER_HANDLED, SERVER_HANDLING, SERVER_MSG_RECEIVED, SERVER_MSG_SENT,
    SERVER_STARTED, UNKNOWN,
};
pub use service::{
    GrpcClient, GrpcClientLayer, GrpcServer, GrpcServerLayer, RequestBody, ResponseBody,
    ResponseFuture,
};
