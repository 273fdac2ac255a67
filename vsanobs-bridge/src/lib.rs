//! # vsanobs-bridge
//!
//! Metrics recorded through other Rust instrumentation libraries, served by a vsanobs
//! [`Registry`](vsanobs_core::Registry) beside its own families, on one `/metrics`:
//!
//! | feature | module | serves |
//! |---|---|---|
//! | `prometheus-client` | [`prometheus_client`](crate::prometheus_client) | a `prometheus_client::registry::Registry` (0.25), as a [`Collector`](vsanobs_core::Collector) |
//! | `metrics` | [`facade`](crate::facade) | the `metrics` facade (0.24): a `metrics::Recorder` backed by vsanobs counters, gauges and histograms |
//! | `opentelemetry` | [`otel`](crate::otel) | an OpenTelemetry `SdkMeterProvider` (0.33), through a `MetricReader` collected at scrape time |
//!
//! Every feature is off by default; with none on, the crate is empty apart from the
//! [`problems`] counter and the name rules in [`sanitize`].
//!
//! Foreign names and labels that break Prometheus rules are rewritten (see [`sanitize`])
//! or dropped, never failing a scrape, and each case is counted in
//! `vsanobs_bridge_problems_total{bridge,reason}` ([`problems`]). A bridge runs as a
//! collector: a foreign library that panics or errors while being read is isolated like any
//! collector (`vsanobs_scrape_collector_success{collector="<bridge>"} 0`, the rest served).

#![deny(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(any(
    feature = "prometheus-client",
    feature = "metrics",
    feature = "opentelemetry"
))]
#[cfg_attr(
    not(any(feature = "prometheus-client", feature = "opentelemetry")),
    allow(dead_code)
)]
mod emit;
#[cfg(feature = "metrics")]
#[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
pub mod facade;
#[cfg(feature = "opentelemetry")]
#[cfg_attr(docsrs, doc(cfg(feature = "opentelemetry")))]
pub mod otel;
pub mod problems;
#[cfg(feature = "prometheus-client")]
#[cfg_attr(docsrs, doc(cfg(feature = "prometheus-client")))]
pub mod prometheus_client;
pub mod sanitize;

pub use problems::{PROBLEMS_METRIC, Problem};
