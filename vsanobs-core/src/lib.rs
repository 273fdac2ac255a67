//! # vsanobs-core
//!
//! Typed metric families for Rust services and exporters: counters, gauges, histograms and
//! info metrics keyed by typed label sets, with a series cap per family, scrape-time
//! [`Collector`]s that cannot fail a scrape, and encoders for Prometheus text 0.0.4 and
//! OpenMetrics 1.0 (with exemplars).
//!
//! ## Getting started
//!
//! ```
//! use vsanobs_core::{Counter, Family, Format, Histogram, LabelSet, LabelValue, Registry};
//!
//! #[derive(Clone, Debug, PartialEq, Eq, Hash, LabelValue)]
//! enum Method { Get, Post }
//!
//! #[derive(Clone, Debug, PartialEq, Eq, Hash, LabelSet)]
//! struct Labels { method: Method, route: &'static str }
//!
//! let registry = Registry::new();
//! let requests = Family::<Labels, Counter>::new();
//! registry.register("app_requests", "Requests handled.", requests.clone())?;
//! let latency = Histogram::new([0.1, 0.5]);
//! registry.register_with_unit("app_latency_seconds", "Request latency.", "seconds", latency.clone())?;
//!
//! // Look the series up once, keep the handle: every increment is one atomic add.
//! let get_users = requests.get_or_create(&Labels { method: Method::Get, route: "/users" });
//! get_users.inc();
//! latency.observe(0.2);
//!
//! let text = registry.encode_to_string(Format::PrometheusText);
//! assert!(text.contains("app_requests_total{method=\"get\",route=\"/users\"} 1\n"));
//! assert!(text.contains("app_latency_seconds_bucket{le=\"0.5\"} 1\n"));
//! # Ok::<(), vsanobs_core::RegistryError>(())
//! ```
//!
//! A library takes a `&Registry` from its caller; an application may use [`global()`].
//! Serve [`Registry::encode`] on `/metrics` yourself, or use `vsanobs-http`, which adds
//! content negotiation, compression and route-level HTTP metrics.
//!
//! ## Feature flags
//!
//! | feature | adds | pulls in |
//! |---|---|---|
//! | `test-util` | `testutil`: parse exposition text, compare a registry with expected text | nothing |
//! | `tokio` | `runtime`: tokio runtime metrics and `spawn_tracked` per-site task counts | tokio (`rt`) |
//! | `jemalloc` | jemalloc statistics and `alloc::Jemalloc` to wrap in `CountingAlloc` | jemalloc (C build) |
//! | `push` | `export::pushgateway`: the Pushgateway exporter | reqwest (blocking, no TLS), base64 |
//! | `remote-write` | `export::remote_write`: Prometheus remote write 1.0 | reqwest, prost, snap |
//! | `otlp` | `export::otlp`: OTLP over HTTP/protobuf | reqwest, prost, opentelemetry-proto |
//! | `push-tls` | HTTPS for the push exporters | rustls, webpki roots |
//! | `artifacts` | `artifacts`: dashboards, rule files and rule tests as data, and their renderer; `process::artifacts`: the process, heap and runtime panels | serde_json |
//! | `vsan` | `vsan`: the vSAN counter catalogue, the `VsanPerfQueryPerf` CSV mapping and `vsan::protocol` (the vCenter SOAP calls an exporter and a simulator exchange); no I/O | quick-xml |
//!
//! Always present: the metric model, the [`registry`] (with the [`Collector`] interface),
//! both text encoders, [`process`] and [`alloc`] (process and heap collectors, `CountingAlloc`),
//! [`build_info`](mod@build_info), [`pool`] (the lock-free `SamplePool`), the [`export`]
//! pipeline and its `Exporter` trait, and three small helpers other crates share: [`clock`]
//! (Unix time), [`report`] (error chains, panic messages) and [`hex`]. Features only add
//! items. The default build has no HTTP server, no async runtime, no protobuf and no XML.
//!
//! ## Platforms
//!
//! Everything builds everywhere Rust's `std` does. The process collector reads `/proc` on
//! Linux; elsewhere it exports what the platform offers (see [`process`]) and reports the
//! rest through `vsanobs_scrape_collector_success`.
//!
//! ## MSRV
//!
//! Rust 1.85 (edition 2024).

#![deny(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[allow(unused_extern_crates)]
extern crate self as vsanobs_core;

#[allow(unsafe_code)]
pub mod alloc;
#[cfg(feature = "artifacts")]
#[cfg_attr(docsrs, doc(cfg(feature = "artifacts")))]
pub mod artifacts;
pub mod build_info;
pub mod clock;
pub mod encoding;
pub mod export;
pub mod family;
mod gather;
pub mod hex;
pub mod labels;
pub mod metrics;
pub mod model;
pub mod pool;
pub mod process;
pub mod reclaim;
pub mod registry;
pub mod report;
pub mod runtime;
mod sync;
#[cfg(feature = "test-util")]
pub mod testutil;
#[cfg(feature = "vsan")]
#[cfg_attr(docsrs, doc(cfg(feature = "vsan")))]
pub mod vsan;

pub use encoding::{Format, PROTOBUF_CONTENT_TYPE, negotiate};
pub use family::{DEFAULT_SERIES_CAP, Family};
pub use labels::{LabelSet, LabelValue, OVERFLOW_LABEL_VALUE};
pub use metrics::{
    BucketError, Counter, DEFAULT_DURATION_BUCKETS, FloatCounter, FloatGauge, Gauge, Histogram,
    Info, Metric, NativeHistogram, NativeHistogramBuilder, NativeHistogramError, TraceContext,
    exponential_buckets, linear_buckets, native_bucket_bounds, native_bucket_index,
};
pub use pool::{PoolMetrics, SamplePool};
pub use registry::{
    COLLECTOR_SUCCESS_METRIC, CollectError, Collector, FamilySink, Registry, RegistryBuilder,
    RegistryError, SELF_METRICS, SERIES_OVERFLOW_METRIC, global,
};
pub use vsanobs_derive::{LabelSet, LabelValue};

/// The README's code blocks, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
