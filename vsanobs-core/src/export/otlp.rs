//! OTLP exporter (feature `otlp`): each batch becomes one `ExportMetricsServiceRequest`
//! (the official protobuf types of the `opentelemetry-proto` crate), POSTed as
//! `application/x-protobuf` to `<endpoint>/v1/metrics`.
//!
//! # Example
//!
//! ```
//! use vsanobs_core::export::Batch;
//! use vsanobs_core::export::otlp::{OtlpExporter, to_request};
//! use vsanobs_core::Registry;
//!
//! let registry = Registry::new();
//! registry.counter("jobs_done", "Jobs finished.")?.inc_by(2);
//! let exporter = OtlpExporter::builder("http://127.0.0.1:4318")
//!     .service_name("batch-runner")
//!     .build()?;
//! assert_eq!(exporter.url(), "http://127.0.0.1:4318/v1/metrics");
//!
//! let request = to_request(&Batch::new(registry.gather(), 1_700_000_000_000), &[], 0);
//! let metric = &request.resource_metrics[0].scope_metrics[0].metrics[0];
//! assert_eq!(metric.name, "jobs_done");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Mapping
//! | family | OTLP |
//! |---|---|
//! | counter | `Sum`, monotonic, cumulative temporality, start time = exporter start |
//! | gauge, untyped | `Gauge` |
//! | histogram | `Histogram`, cumulative, explicit bounds, per-bucket counts, sum, count |
//! | native histogram | `ExponentialHistogram`, cumulative: scale = schema, OTLP bucket `i - 1` for Prometheus bucket `i` (OTLP buckets are lower-exclusive at `base^i`), zero bucket and threshold; a family with native series sends only those |
//! | info | `Gauge` named `<name>_info` with value 1 |
//!
//! Counter names lose `_total` (OTLP consumers add it back when they convert to Prometheus);
//! labels become attributes, and the HTTP route families use the semantic-convention names
//! (`http.server.request.duration` with `http.request.method`, `http.route`,
//! `http.response.status_code`), as do the RPC call-duration histograms of vsanobs-http's
//! gRPC layers (`rpc.server.call.duration`, `rpc.client.call.duration` with
//! `rpc.system.name`, `rpc.method`, `rpc.response.status_code`). Integer values are sent as
//! `as_int`, others as `as_double`.
//! Units: `seconds` becomes `s`, `bytes` `By`, `ratio` `1`, others are passed through.
//!
//! ## Note
//! One request per batch; a partial success reported by the receiver is logged.

use std::time::Duration;

use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, Exemplar as OtlpExemplar, ExponentialHistogram,
    ExponentialHistogramDataPoint, Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint,
    ResourceMetrics, ScopeMetrics, Sum, exemplar, exponential_histogram_data_point, metric,
    number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message as _;

use super::http::{ConfigError, LazyClient, check_header, parse_url, send};
use super::{Batch, ExportError, Exporter};
use crate::model::{Exemplar, ExemplarLabels, MetricFamily, MetricKind, Number, Value};

/// Families whose OTLP form follows the HTTP semantic conventions: (Prometheus name,
/// OTLP name, OTLP unit).
const SEMCONV: &[(&str, &str, &str)] = &[
    (
        "http_server_request_duration_seconds",
        "http.server.request.duration",
        "s",
    ),
    (
        "http_server_active_requests",
        "http.server.active_requests",
        "{request}",
    ),
    (
        "http_server_request_body_size_bytes",
        "http.server.request.body.size",
        "By",
    ),
    (
        "http_server_response_body_size_bytes",
        "http.server.response.body.size",
        "By",
    ),
    // vsanobs-http's gRPC layers with `otel_semconv(true)`.
    (
        "rpc_server_call_duration_seconds",
        "rpc.server.call.duration",
        "s",
    ),
    (
        "rpc_client_call_duration_seconds",
        "rpc.client.call.duration",
        "s",
    ),
];

/// Label renames for the [`SEMCONV`] families.
const SEMCONV_ATTRS: &[(&str, &str)] = &[
    ("method", "http.request.method"),
    ("route", "http.route"),
    ("status", "http.response.status_code"),
    ("rpc_system_name", "rpc.system.name"),
    ("rpc_method", "rpc.method"),
    ("rpc_response_status_code", "rpc.response.status_code"),
];

fn unit_of(fam: &MetricFamily) -> String {
    match fam.unit.as_deref() {
        Some("seconds") => "s".to_owned(),
        Some("bytes") => "By".to_owned(),
        Some("ratio") => "1".to_owned(),
        Some(u) => u.to_owned(),
        None => String::new(),
    }
}

fn kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.to_owned())),
        }),
        ..KeyValue::default()
    }
}

fn number(n: Number) -> number_data_point::Value {
    match n {
        Number::Int(v) => number_data_point::Value::AsInt(v),
        Number::Uint(v) => match i64::try_from(v) {
            Ok(v) => number_data_point::Value::AsInt(v),
            Err(_) => number_data_point::Value::AsDouble(v as f64),
        },
        Number::Float(v) => number_data_point::Value::AsDouble(v),
    }
}

/// An OTLP exemplar. A trace context becomes the ids; another label set becomes the
/// filtered attributes, except `trace_id`/`span_id` labels holding valid hex ids (32 and 16
/// digits), which become the ids. Without a timestamp, the exemplar gets the export time.
fn exemplar_of(e: &Exemplar, export_time_unix_nano: u64) -> OtlpExemplar {
    let (trace_id, span_id, filtered_attributes) = match &e.labels {
        ExemplarLabels::Trace { trace_id, span_id } => {
            (trace_id.to_vec(), span_id.to_vec(), Vec::new())
        }
        ExemplarLabels::Labels(labels) => {
            let find = |name: &str| labels.iter().find(|(k, _)| &**k == name).map(|(_, v)| &**v);
            let trace = find("trace_id").and_then(crate::hex::decode::<16>);
            let span = find("span_id").and_then(crate::hex::decode::<8>);
            let attrs = labels
                .iter()
                .filter(|(k, _)| {
                    !(&**k == "trace_id" && trace.is_some() || &**k == "span_id" && span.is_some())
                })
                .map(|(k, v)| kv(k, v))
                .collect();
            (
                trace.map(|t| t.to_vec()).unwrap_or_default(),
                span.map(|s| s.to_vec()).unwrap_or_default(),
                attrs,
            )
        }
    };
    OtlpExemplar {
        filtered_attributes,
        time_unix_nano: e
            .timestamp
            .map_or(export_time_unix_nano, |t| (t * 1e9) as u64),
        span_id,
        trace_id,
        value: Some(exemplar::Value::AsDouble(e.value)),
    }
}

/// The OTLP request for a batch. `resource` are the resource attributes; `start_unix_nano`
/// is the start time of the cumulative sums and histograms.
pub fn to_request(
    batch: &Batch,
    resource: &[(String, String)],
    start_unix_nano: u64,
) -> ExportMetricsServiceRequest {
    let time = u64::try_from(batch.timestamp_ms())
        .unwrap_or(0)
        .saturating_mul(1_000_000);
    let metrics = batch
        .families()
        .iter()
        .map(|f| to_metric(f, start_unix_nano, time))
        .collect();
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: resource.iter().map(|(k, v)| kv(k, v)).collect(),
                dropped_attributes_count: 0,
                entity_refs: Vec::new(),
            }),
            scope_metrics: vec![ScopeMetrics {
                scope: Some(InstrumentationScope {
                    name: "vsanobs".to_owned(),
                    version: env!("CARGO_PKG_VERSION").to_owned(),
                    attributes: Vec::new(),
                    dropped_attributes_count: 0,
                }),
                metrics,
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

fn to_metric(fam: &MetricFamily, start: u64, time: u64) -> Metric {
    let semconv = SEMCONV.iter().find(|(p, _, _)| *p == fam.name);
    let attrs = |labels: &[(String, String)]| -> Vec<KeyValue> {
        labels
            .iter()
            .map(|(k, v)| {
                let key = semconv
                    .and_then(|_| SEMCONV_ATTRS.iter().find(|(from, _)| from == k))
                    .map_or(k.as_str(), |(_, to)| to);
                kv(key, v)
            })
            .collect()
    };
    let point = |labels: &[(String, String)],
                 value: number_data_point::Value,
                 ex: Option<&Exemplar>,
                 start| {
        NumberDataPoint {
            attributes: attrs(labels),
            start_time_unix_nano: start,
            time_unix_nano: time,
            exemplars: ex.map(|e| exemplar_of(e, time)).into_iter().collect(),
            flags: 0,
            value: Some(value),
        }
    };
    let cumulative = AggregationTemporality::Cumulative as i32;
    let data = match fam.kind {
        MetricKind::Counter => metric::Data::Sum(Sum {
            data_points: fam
                .samples
                .iter()
                .filter_map(|s| match &s.value {
                    Value::Counter { value, exemplar } => {
                        Some(point(&s.labels, number(*value), exemplar.as_ref(), start))
                    }
                    _ => None,
                })
                .collect(),
            aggregation_temporality: cumulative,
            is_monotonic: true,
        }),
        MetricKind::Histogram
            if fam
                .samples
                .iter()
                .any(|s| matches!(s.value, Value::NativeHistogram(_))) =>
        {
            metric::Data::ExponentialHistogram(ExponentialHistogram {
                data_points: fam
                    .samples
                    .iter()
                    .filter_map(|s| match &s.value {
                        Value::NativeHistogram(h) => Some(ExponentialHistogramDataPoint {
                            attributes: attrs(&s.labels),
                            start_time_unix_nano: start,
                            time_unix_nano: time,
                            count: h.count,
                            sum: Some(h.sum),
                            scale: i32::from(h.schema),
                            zero_count: h.zero_count,
                            positive: exponential_buckets(&h.positive),
                            negative: exponential_buckets(&h.negative),
                            flags: 0,
                            exemplars: h
                                .exemplars
                                .iter()
                                .chain(h.classic.iter().filter_map(|b| b.exemplar.as_ref()))
                                .map(|e| exemplar_of(e, time))
                                .collect(),
                            min: None,
                            max: None,
                            zero_threshold: h.zero_threshold,
                        }),
                        _ => None,
                    })
                    .collect(),
                aggregation_temporality: cumulative,
            })
        }
        MetricKind::Histogram => metric::Data::Histogram(Histogram {
            data_points: fam
                .samples
                .iter()
                .filter_map(|s| match &s.value {
                    Value::Histogram {
                        buckets,
                        sum,
                        count,
                    } => {
                        let mut prev = 0;
                        let bucket_counts = buckets
                            .iter()
                            .map(|b| {
                                let c = b.cumulative_count.saturating_sub(prev);
                                prev = b.cumulative_count;
                                c
                            })
                            .collect();
                        Some(HistogramDataPoint {
                            attributes: attrs(&s.labels),
                            start_time_unix_nano: start,
                            time_unix_nano: time,
                            count: *count,
                            sum: Some(*sum),
                            bucket_counts,
                            explicit_bounds: buckets
                                .iter()
                                .map(|b| b.upper_bound)
                                .filter(|b| b.is_finite())
                                .collect(),
                            exemplars: buckets
                                .iter()
                                .filter_map(|b| b.exemplar.as_ref().map(|e| exemplar_of(e, time)))
                                .collect(),
                            flags: 0,
                            min: None,
                            max: None,
                        })
                    }
                    _ => None,
                })
                .collect(),
            aggregation_temporality: cumulative,
        }),
        _ => metric::Data::Gauge(Gauge {
            data_points: fam
                .samples
                .iter()
                .filter_map(|s| match &s.value {
                    Value::Gauge(n) | Value::Unknown(n) => {
                        Some(point(&s.labels, number(*n), None, 0))
                    }
                    Value::Info => Some(point(
                        &s.labels,
                        number_data_point::Value::AsInt(1),
                        None,
                        0,
                    )),
                    _ => None,
                })
                .collect(),
        }),
    };
    let (name, unit) = match (semconv, fam.kind) {
        (Some((_, name, unit)), _) => ((*name).to_owned(), (*unit).to_owned()),
        (None, MetricKind::Info) => (format!("{}_info", fam.name), String::new()),
        (None, _) => (fam.name.clone(), unit_of(fam)),
    };
    Metric {
        name,
        description: fam.help.clone(),
        unit,
        metadata: Vec::new(),
        data: Some(data),
    }
}

/// Sparse Prometheus buckets `(index, count)` as OTLP's dense run from an offset. Prometheus
/// bucket `i` covers `(base^(i-1), base^i]`, OTLP bucket `i` covers `(base^i, base^(i+1)]`:
/// the OTLP index is one less.
fn exponential_buckets(b: &[(i32, u64)]) -> Option<exponential_histogram_data_point::Buckets> {
    let (first, last) = (b.first()?.0, b.last()?.0);
    let mut bucket_counts = vec![0; (i64::from(last) - i64::from(first) + 1) as usize];
    for (i, c) in b {
        bucket_counts[(i - first) as usize] = *c;
    }
    Some(exponential_histogram_data_point::Buckets {
        offset: first - 1,
        bucket_counts,
    })
}

/// Builds an [`OtlpExporter`].
#[derive(Clone, Debug)]
pub struct OtlpBuilder {
    endpoint: String,
    name: String,
    resource: Vec<(String, String)>,
    headers: Vec<(String, String)>,
}

impl OtlpBuilder {
    /// The exporter's name in the self-metrics (default `otlp`).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }
    /// Sets the `service.name` resource attribute (default `unknown_service`).
    pub fn service_name(self, name: impl Into<String>) -> Self {
        self.resource_attribute("service.name", name)
    }
    /// Adds (or replaces) a resource attribute.
    pub fn resource_attribute(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        let key = key.into();
        self.resource.retain(|(k, _)| *k != key);
        self.resource.push((key, value.into()));
        self
    }
    /// An extra request header (for example an API key).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
    /// Checks the configuration and builds the exporter.
    ///
    /// # Errors
    /// [`ConfigError`] for a bad URL, an empty resource attribute key, an invalid header or
    /// an empty name.
    pub fn build(self) -> Result<OtlpExporter, ConfigError> {
        let mut url = parse_url(&self.endpoint)?;
        if url.path().is_empty() || url.path() == "/" {
            url.set_path("/v1/metrics");
        }
        if self.name.is_empty() {
            return Err(ConfigError::EmptyName);
        }
        if let Some((k, _)) = self.resource.iter().find(|(k, _)| k.is_empty()) {
            return Err(ConfigError::InvalidLabelName(k.clone()));
        }
        for (k, v) in &self.headers {
            check_header(k, v)?;
        }
        // Millisecond resolution, like batch timestamps, so start <= time always holds.
        let start = u64::try_from(crate::clock::unix_millis())
            .unwrap_or(0)
            .saturating_mul(1_000_000);
        Ok(OtlpExporter {
            url: url.to_string(),
            name: self.name,
            resource: self.resource,
            headers: self.headers,
            start_unix_nano: start,
            client: LazyClient::default(),
        })
    }
}

/// Sends batches as OTLP/HTTP protobuf; see the [module docs](self).
#[derive(Debug)]
pub struct OtlpExporter {
    url: String,
    name: String,
    resource: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    start_unix_nano: u64,
    client: LazyClient,
}

impl OtlpExporter {
    /// Starts a builder for the collector at `endpoint`: a base URL such as
    /// `http://collector:4318` (`/v1/metrics` is appended), or the full metrics URL when it
    /// has a path.
    pub fn builder(endpoint: impl Into<String>) -> OtlpBuilder {
        OtlpBuilder {
            endpoint: endpoint.into(),
            name: "otlp".to_owned(),
            resource: vec![("service.name".to_owned(), "unknown_service".to_owned())],
            headers: Vec::new(),
        }
    }

    /// The URL requests go to.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Exporter for OtlpExporter {
    fn name(&self) -> &str {
        &self.name
    }

    fn export(&mut self, batch: &Batch, timeout: Duration) -> Result<(), ExportError> {
        let body = to_request(batch, &self.resource, self.start_unix_nano).encode_to_vec();
        let (url, headers) = (self.url.clone(), self.headers.clone());
        let mut req = self
            .client
            .get()?
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/x-protobuf")
            .body(body);
        for (k, v) in headers {
            req = req.header(k, v);
        }
        let resp = send(req, timeout)?;
        if let Ok(bytes) = resp.bytes() {
            if let Ok(answer) = ExportMetricsServiceResponse::decode(bytes.as_ref()) {
                if let Some(p) = answer
                    .partial_success
                    .filter(|p| p.rejected_data_points > 0)
                {
                    tracing::warn!(exporter = %self.name, rejected = p.rejected_data_points, message = %p.error_message, "otlp receiver rejected some data points");
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(e: &OtlpExemplar) -> Vec<(String, String)> {
        e.filtered_attributes
            .iter()
            .map(|kv| {
                let v = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                    Some(any_value::Value::StringValue(s)) => s.clone(),
                    other => panic!("{other:?}"),
                };
                (kv.key.clone(), v)
            })
            .collect()
    }

    #[test]
    fn exemplar_labels_become_ids_or_filtered_attributes() {
        let trace = Exemplar::trace([1; 16], [2; 8], 0.5, Some(1.5));
        let o = exemplar_of(&trace, 7);
        assert_eq!((o.trace_id, o.span_id), (vec![1; 16], vec![2; 8]));
        assert!(o.filtered_attributes.is_empty());
        assert_eq!(o.time_unix_nano, 1_500_000_000);

        // Valid hex ids are used as the ids; the rest are filtered attributes; no timestamp
        // means the export time.
        let labels = ExemplarLabels::new([
            ("trace_id", "0af7651916cd43dd8448eb211c80319c"),
            ("span_id", "b7ad6b7169203331"),
            ("user", "x y"),
        ])
        .unwrap();
        let o = exemplar_of(
            &Exemplar {
                labels,
                value: 2.0,
                timestamp: None,
            },
            7,
        );
        assert_eq!(
            o.trace_id,
            crate::hex::decode::<16>("0af7651916cd43dd8448eb211c80319c").unwrap()
        );
        assert_eq!(
            o.span_id,
            crate::hex::decode::<8>("b7ad6b7169203331").unwrap()
        );
        assert_eq!(attrs(&o), [("user".to_owned(), "x y".to_owned())]);
        assert_eq!(o.time_unix_nano, 7);

        // A trace id that is not 32 hex digits stays an attribute; no ids.
        let labels = ExemplarLabels::new([("trace_id", "abc")]).unwrap();
        let o = exemplar_of(
            &Exemplar {
                labels,
                value: 2.0,
                timestamp: Some(2.0),
            },
            7,
        );
        assert!(o.trace_id.is_empty() && o.span_id.is_empty());
        assert_eq!(attrs(&o), [("trace_id".to_owned(), "abc".to_owned())]);
        assert_eq!(o.time_unix_nano, 2_000_000_000);
    }
}
