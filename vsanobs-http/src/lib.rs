//! # vsanobs-http
//!
//! Route-level HTTP metrics for axum and actix-web, and a /metrics endpoint with real content
//! negotiation.
//!
//! The middleware records the route matrix every service wants (requests per second, error
//! ratio and latency percentiles per route):
//!
//! | family | type | labels |
//! |---|---|---|
//! | `http_server_request_duration_seconds` | histogram (OpenTelemetry buckets) | `method`, `route`, `status` |
//! | `http_server_active_requests` | gauge | `method`, `route` |
//! | `http_server_request_body_size_bytes` (optional) | histogram | `method`, `route`, `status` |
//! | `http_server_response_body_size_bytes` (optional) | histogram | `method`, `route`, `status` |
//!
//! `route` is the router's template (`/users/{id}`), never the raw path; requests that match
//! no route are `route="unmatched"`, and methods outside the standard nine are `_OTHER`, so
//! scanners cannot create series. Duration and in-flight end when the response body ends
//! or is dropped, so streaming responses and clients that disconnect are measured. An
//! optional `module` label groups routes by prefix ([`RouteMetricsBuilder::group`]).
//!
//! For tonic, [`grpc`] (feature `grpc`) records go-grpc-middleware's gRPC families
//! (`grpc_server_started_total`, `grpc_server_handled_total{grpc_code}`,
//! `grpc_server_handling_seconds`, `grpc_server_msg_received_total`,
//! `grpc_server_msg_sent_total` with `grpc_type`, `grpc_service`, `grpc_method`, and the same
//! with `grpc_client_`) with a server layer and a client layer; the status comes from the
//! trailers, not from the HTTP status.
//!
//! [`MetricsEndpoint`] serves a [`Registry`](vsanobs_core::Registry) the way client_golang's
//! promhttp does: OpenMetrics 1.0 or text 0.0.4 from `Accept` (q-values honoured), gzip when
//! `Accept-Encoding` allows it, `name[]` selection, a limit on concurrent scrapes and a
//! timeout (503 past either), its own handler metrics, and optional basic auth against a
//! bcrypt hash.
//!
//! [`artifacts`] (feature `artifacts`) holds the route matrix's recording rules and Grafana
//! dashboard, and the service dashboard that joins the HTTP error ratio with the process,
//! heap and runtime panels of `vsanobs-core`, as data rendered to JSON and YAML.
//!
//! ## Getting started (axum)
//!
#![cfg_attr(feature = "axum", doc = "```")]
#![cfg_attr(not(feature = "axum"), doc = "```ignore")]
//! use axum::{Router, routing::get};
//! use vsanobs_core::Registry;
//! use vsanobs_http::{HttpMetricsLayer, MetricsEndpoint};
//!
//! let registry = Registry::new();
//! let app: Router = Router::new()
//!     .route("/users/{id}", get(|| async { "user" }))
//!     .nest("/api", Router::new().route("/items", get(|| async { "items" })))
//!     .layer(HttpMetricsLayer::new(&registry)?);
//! let app = MetricsEndpoint::new(registry).mount(app);
//! // axum::serve(listener, app).await?;
//! # let _ = app;
//! # Ok::<(), vsanobs_core::RegistryError>(())
//! ```
//!
//! For actix-web see [`actix`]: `App::new().wrap(actix::HttpMetrics::new(&registry)?)
//! .service(endpoint.into_actix_resource("/metrics"))`.
//!
//! ## Feature flags
//!
//! | feature | adds | pulls in |
//! |---|---|---|
//! | `gzip` (default) | gzip-compressed scrapes when `Accept-Encoding` allows them | flate2 |
//! | `basic-auth` (default) | [`MetricsEndpoint::basic_auth`]: HTTP basic auth against bcrypt hashes, CPU-bounded | bcrypt, base64, subtle, sha2, getrandom |
//! | `web-config` | [`web_config`]: exporter-toolkit's `--web.config.file` (TLS, client CA, basic-auth users); with `axum` a TLS listener | basic-auth, serde_yaml_ng, rustls/tokio-rustls (ring) |
//! | `artifacts` | [`artifacts`]: recording rules, the route-matrix and service dashboards | serde_json (through `vsanobs-core/artifacts`) |
//! | `tower` | [`HttpMetricsLayer`], [`MetricsService`], async [`MetricsEndpoint::handle`] | tower, http, http-body, tokio (rt, time) |
//! | `axum` | `tower`, plus routes from `MatchedPath` and [`MetricsEndpoint::into_router`] | axum 0.8 |
//! | `actix` | [`actix`]: the `HttpMetrics` transform, [`MetricsEndpoint::into_actix_resource`] | actix-web 4, tokio |
//! | `grpc` | [`grpc`]: go-grpc-middleware's server and client metrics as tower layers for tonic | `tower`, tonic (no default features), prost, prost-types |
//! | `exemplars` | trace/span ids of the current `tracing` span as duration exemplars | tracing-opentelemetry, opentelemetry |
//!
//! Without features the crate holds the framework-independent parts: [`RouteMetrics`] and
//! [`MetricsEndpoint::render`] (uncompressed, without authentication). Neither axum nor
//! actix-web enters the build unless its feature is on. `gzip` and `basic-auth` are on by
//! default because a scraper that asks for gzip and a web config with `basic_auth_users`
//! expect them of a /metrics endpoint; turn them off (`default-features = false`) when a proxy
//! in front does both. `artifacts` is off by default: only build tools and tests render
//! dashboards and rules, so a service's build does not need serde_json for it.
//!
//! ## MSRV
//!
//! Rust 1.85 (edition 2024).

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "actix")]
#[cfg_attr(docsrs, doc(cfg(feature = "actix")))]
pub mod actix;
#[cfg(feature = "artifacts")]
#[cfg_attr(docsrs, doc(cfg(feature = "artifacts")))]
pub mod artifacts;
#[cfg(feature = "basic-auth")]
mod auth;
#[cfg(feature = "axum")]
mod axum_router;
mod clock;
pub mod endpoint;
mod exemplar;
#[cfg(feature = "grpc")]
#[cfg_attr(docsrs, doc(cfg(feature = "grpc")))]
pub mod grpc;
#[cfg(feature = "tower")]
#[cfg_attr(docsrs, doc(cfg(feature = "tower")))]
pub mod layer;
pub mod metrics;
#[cfg(feature = "axum")]
mod route_table;
#[cfg(any(feature = "tower", feature = "actix"))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "tower", feature = "actix"))))]
pub mod stream;
#[cfg(feature = "web-config")]
#[cfg_attr(docsrs, doc(cfg(feature = "web-config")))]
pub mod web_config;

pub use endpoint::{EndpointError, MetricsEndpoint, ScrapeRequest, ScrapeResponse};
pub use exemplar::current_trace;
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub use layer::{AroundRouter, AroundRouterFuture, RouteTableError};
#[cfg(feature = "tower")]
#[cfg_attr(docsrs, doc(cfg(feature = "tower")))]
pub use layer::{
    HttpMetrics, HttpMetricsLayer, MetricsService, ResponseBody, ResponseFuture, RouteTemplate,
};
pub use metrics::{Method, RequestTracker, RouteMetrics, RouteMetricsBuilder};
#[cfg(any(feature = "tower", feature = "actix"))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "tower", feature = "actix"))))]
pub use stream::{ScrapeBody, ScrapeStream};
#[cfg(feature = "web-config")]
#[cfg_attr(docsrs, doc(cfg(feature = "web-config")))]
pub use web_config::{LiveWebConfig, WebConfig, WebConfigError};

#[cfg(test)]
mod assertions {
    fn send_sync<T: Send + Sync>() {}
    #[test]
    fn public_types_are_send_and_sync() {
        send_sync::<super::RouteMetrics>();
        send_sync::<super::MetricsEndpoint>();
        send_sync::<super::RequestTracker>();
        #[cfg(feature = "tower")]
        {
            send_sync::<super::HttpMetricsLayer>();
            send_sync::<super::HttpMetrics<()>>();
        }
        #[cfg(feature = "grpc")]
        {
            send_sync::<super::grpc::GrpcServerLayer>();
            send_sync::<super::grpc::GrpcClientLayer>();
            send_sync::<super::grpc::GrpcServer<()>>();
            send_sync::<super::grpc::GrpcClient<()>>();
            send_sync::<super::grpc::ResponseBody<String>>();
            send_sync::<super::grpc::RequestBody<String>>();
        }
    }
}
