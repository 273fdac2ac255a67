//! Prometheus remote write 1.0 exporter (feature `remote-write`): each batch becomes one
//! snappy-compressed protobuf `WriteRequest`, every sample stamped with the batch's gather
//! time, POSTed with the headers the specification requires.
//!
//! # Example
//!
//! ```
//! use vsanobs_core::export::Batch;
//! use vsanobs_core::export::remote_write::{RemoteWriteExporter, encode_write_request};
//! use vsanobs_core::Registry;
//!
//! let registry = Registry::new();
//! registry.counter("jobs_done", "Jobs finished.")?.inc_by(2);
//! let batch = Batch::new(registry.gather(), 1_700_000_000_000);
//! let request = encode_write_request(&batch, false);
//! // One series `jobs_done_total` with one sample: the protobuf holds its name and value.
//! assert!(request.windows(15).any(|w| w == b"jobs_done_total"));
//!
//! let exporter = RemoteWriteExporter::builder("http://127.0.0.1:9090/api/v1/write").build()?;
//! assert_eq!(exporter.url(), "http://127.0.0.1:9090/api/v1/write");
//! assert!(RemoteWriteExporter::builder("127.0.0.1:9090").build().is_err());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Series
//! Counters become `<name>_total`, info metrics `<name>_info` (value 1), histograms
//! `<name>_bucket{le=...}`, `<name>_sum` and `<name>_count`; labels are sorted by name with
//! `__name__` among them, as the specification requires. Metadata (type, help, unit) is sent
//! with each request unless turned off. Native histograms are sent in their classic form
//! (classic buckets, or `+Inf` only, with `_sum` and `_count`), or, with
//! [`RemoteWriteBuilder::native_histograms`], as native histogram samples.
//!
//! ## Note
//! Requests carry `Content-Encoding: snappy`, `Content-Type: application/x-protobuf` and
//! `X-Prometheus-Remote-Write-Version: 0.1.0`. 5xx and 429 are retried by the pipeline
//! (honouring `Retry-After`), other 4xx drop the batch.

use std::time::Duration;

use prost::Message as _;

use super::http::{ConfigError, LazyClient, check_header, parse_url, send};
use super::{Batch, ExportError, Exporter, SampleBatch, SampleExporter};
use crate::encoding::write_float;
use crate::model::{MetricFamily, MetricKind, Value};

/// The remote write 1.0 protobuf messages (`prometheus/prompb`), as prost structs.
pub mod proto {
    /// `prometheus.WriteRequest`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct WriteRequest {
        /// The series.
        #[prost(message, repeated, tag = "1")]
        pub timeseries: Vec<TimeSeries>,
        /// Family metadata.
        #[prost(message, repeated, tag = "3")]
        pub metadata: Vec<MetricMetadata>,
    }

    /// `prometheus.TimeSeries`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct TimeSeries {
        /// Sorted by name, `__name__` included.
        #[prost(message, repeated, tag = "1")]
        pub labels: Vec<Label>,
        /// Samples in timestamp order.
        #[prost(message, repeated, tag = "2")]
        pub samples: Vec<Sample>,
        /// Native histogram samples (sent instead of the classic series when the exporter
        /// is built with `native_histograms(true)`).
        #[prost(message, repeated, tag = "4")]
        pub histograms: Vec<Histogram>,
    }

    /// `prometheus.Histogram`: a native histogram sample with integer counts (the
    /// `count_int` and `zero_count_int` members of their `oneof`s).
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Histogram {
        /// Observations.
        #[prost(uint64, tag = "1")]
        pub count_int: u64,
        /// Sum of observations.
        #[prost(double, tag = "3")]
        pub sum: f64,
        /// Schema, -4..=8.
        #[prost(sint32, tag = "4")]
        pub schema: i32,
        /// Zero bucket width.
        #[prost(double, tag = "5")]
        pub zero_threshold: f64,
        /// Observations in the zero bucket.
        #[prost(uint64, tag = "6")]
        pub zero_count_int: u64,
        /// Runs of negative buckets.
        #[prost(message, repeated, tag = "8")]
        pub negative_spans: Vec<BucketSpan>,
        /// Negative bucket counts, each as the difference to the previous one.
        #[prost(sint64, repeated, tag = "9")]
        pub negative_deltas: Vec<i64>,
        /// Runs of positive buckets.
        #[prost(message, repeated, tag = "11")]
        pub positive_spans: Vec<BucketSpan>,
        /// Positive bucket counts, each as the difference to the previous one.
        #[prost(sint64, repeated, tag = "12")]
        pub positive_deltas: Vec<i64>,
        /// Milliseconds since the Unix epoch.
        #[prost(int64, tag = "15")]
        pub timestamp: i64,
    }

    /// `prometheus.BucketSpan`: `length` consecutive buckets starting `offset` after the
    /// previous span (the first span's offset is its starting bucket index).
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct BucketSpan {
        /// Gap to the previous span, or the first index.
        #[prost(sint32, tag = "1")]
        pub offset: i32,
        /// Buckets in the span.
        #[prost(uint32, tag = "2")]
        pub length: u32,
    }

    /// `prometheus.Label`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Label {
        /// Label name.
        #[prost(string, tag = "1")]
        pub name: String,
        /// Label value.
        #[prost(string, tag = "2")]
        pub value: String,
    }

    /// `prometheus.Sample`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Sample {
        /// The value.
        #[prost(double, tag = "1")]
        pub value: f64,
        /// Milliseconds since the Unix epoch.
        #[prost(int64, tag = "2")]
        pub timestamp: i64,
    }

    /// `prometheus.MetricMetadata`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct MetricMetadata {
        /// `MetricType`: 0 unknown, 1 counter, 2 gauge, 3 histogram, 6 info.
        #[prost(int32, tag = "1")]
        pub r#type: i32,
        /// The family name.
        #[prost(string, tag = "2")]
        pub metric_family_name: String,
        /// Help text.
        #[prost(string, tag = "4")]
        pub help: String,
        /// Unit.
        #[prost(string, tag = "5")]
        pub unit: String,
    }
}

use proto::{BucketSpan, Label, MetricMetadata, Sample, TimeSeries, WriteRequest};

/// The `WriteRequest` for a batch, as protobuf bytes (before snappy compression).
/// `metadata` adds one `MetricMetadata` per family. Native histograms go in their classic
/// form; see [`encode_write_request_native`].
pub fn encode_write_request(batch: &Batch, metadata: bool) -> Vec<u8> {
    build_request(batch, metadata, false).encode_to_vec()
}

/// Like [`encode_write_request`], with native histograms sent as `prometheus.Histogram`
/// samples (the receiver must accept them: Prometheus needs
/// `--enable-feature=native-histograms`).
///
/// ```
/// use prost::Message as _;
/// use vsanobs_core::export::Batch;
/// use vsanobs_core::export::remote_write::{encode_write_request_native, proto::WriteRequest};
/// use vsanobs_core::{NativeHistogram, Registry};
///
/// let r = Registry::new();
/// let h = NativeHistogram::new(0)?;
/// h.observe(3.0);
/// r.register("wait_seconds", "Wait.", h)?;
/// let bytes = encode_write_request_native(&Batch::new(r.gather(), 1_000), false);
/// let req = WriteRequest::decode(bytes.as_slice())?;
/// let series = req.timeseries.iter().find(|t| !t.histograms.is_empty()).unwrap();
/// let hist = &series.histograms[0];
/// assert_eq!((hist.count_int, hist.sum, hist.schema, hist.timestamp), (1, 3.0, 0, 1_000));
/// assert_eq!(hist.positive_spans[0].offset, 2); // 3 is in (2, 4], bucket 2 at schema 0
/// assert_eq!(hist.positive_deltas, [1]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn encode_write_request_native(batch: &Batch, metadata: bool) -> Vec<u8> {
    build_request(batch, metadata, true).encode_to_vec()
}

/// The `WriteRequest` for samples drained from a [`SamplePool`](crate::pool::SamplePool)
/// (a [`SampleBatch`]), as protobuf bytes (before snappy compression): one `TimeSeries` per
/// series with its samples at their own timestamps, in timestamp order. `metadata` adds one
/// `MetricMetadata` per family.
///
/// ```
/// use prost::Message as _;
/// use vsanobs_core::export::remote_write::{encode_sample_batch, proto::WriteRequest};
/// use vsanobs_core::export::{FamilyMeta, SampleBatch, SeriesTable};
/// use vsanobs_core::model::MetricKind;
/// use vsanobs_core::pool::TimestampedSample as S;
///
/// let table = SeriesTable::new(10);
/// let fam = FamilyMeta::new("disk_latency_seconds", MetricKind::Gauge, "Latency.").with_unit("seconds");
/// let id = table.intern(&fam, &[("disk", "a")])?;
/// let (batch, _) = SampleBatch::resolve(&[S::new(id, 0.5, 2_000), S::new(id, 0.25, 1_000)], &table);
/// let req = WriteRequest::decode(encode_sample_batch(&batch, true).as_slice())?;
/// let ts = &req.timeseries[0];
/// let labels: Vec<_> = ts.labels.iter().map(|l| (l.name.as_str(), l.value.as_str())).collect();
/// assert_eq!(labels, [("__name__", "disk_latency_seconds"), ("disk", "a")]);
/// let samples: Vec<_> = ts.samples.iter().map(|s| (s.timestamp, s.value)).collect();
/// assert_eq!(samples, [(1_000, 0.25), (2_000, 0.5)]);
/// assert_eq!((req.metadata[0].r#type, req.metadata[0].unit.as_str()), (2, "seconds"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn encode_sample_batch(batch: &SampleBatch, metadata: bool) -> Vec<u8> {
    let mut out = Vec::new();
    write_sample_batch(batch, metadata, &mut out);
    out
}

/// The protobuf wire format of a `WriteRequest` written straight from the batch's borrowed
/// names and labels (no message structs, no string copies): the push path's encoder.
/// Fields at their proto3 default are left out, as prost leaves them out, except a `-0.0`
/// value, which is kept.
mod wire {
    pub(super) const LEN: u8 = 2;
    pub(super) const I64: u8 = 1;
    pub(super) const VARINT: u8 = 0;

    pub(super) fn varint_len(v: u64) -> usize {
        (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
    }

    pub(super) fn varint(out: &mut Vec<u8>, mut v: u64) {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }

    pub(super) fn key(out: &mut Vec<u8>, field: u8, wire_type: u8) {
        out.push((field << 3) | wire_type);
    }

    /// Size of a length-delimited field of `len` bytes, key included.
    pub(super) fn len_field(len: usize) -> usize {
        1 + varint_len(len as u64) + len
    }

    /// Size of a string field (0 when empty: left out).
    pub(super) fn str_field(s: &str) -> usize {
        if s.is_empty() { 0 } else { len_field(s.len()) }
    }

    pub(super) fn string(out: &mut Vec<u8>, field: u8, s: &str) {
        if !s.is_empty() {
            key(out, field, LEN);
            varint(out, s.len() as u64);
            out.extend_from_slice(s.as_bytes());
        }
    }

    pub(super) fn label_len(name: &str, value: &str) -> usize {
        str_field(name) + str_field(value)
    }

    pub(super) fn sample_len(timestamp: i64, value: f64) -> usize {
        (if value.to_bits() != 0 { 9 } else { 0 })
            + if timestamp != 0 {
                1 + varint_len(timestamp as u64)
            } else {
                0
            }
    }
}

fn write_sample_batch(batch: &SampleBatch, metadata: bool, out: &mut Vec<u8>) {
    use wire::{
        I64, LEN, VARINT, key, label_len, len_field, sample_len, str_field, string, varint,
    };
    out.reserve(batch.sample_count() * 12 + batch.series().len() * 160);
    for s in batch.series() {
        let info = &s.series;
        let labels_len: usize = len_field(label_len("__name__", info.name()))
            + info
                .labels()
                .iter()
                .map(|(k, v)| len_field(label_len(k, v)))
                .sum::<usize>();
        let samples_len: usize = s
            .samples
            .iter()
            .map(|&(t, v)| len_field(sample_len(t, v)))
            .sum();
        key(out, 1, LEN);
        varint(out, (labels_len + samples_len) as u64);
        // Labels in name order, `__name__` where it sorts (the table keeps the rest sorted).
        let at = info
            .labels()
            .partition_point(|(k, _)| k.as_str() < "__name__");
        let (before, after) = info.labels().split_at(at);
        let name = [("__name__", info.name())];
        let all = before
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .chain(name)
            .chain(after.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        for (k, v) in all {
            key(out, 1, LEN);
            varint(out, label_len(k, v) as u64);
            string(out, 1, k);
            string(out, 2, v);
        }
        for &(t, v) in &s.samples {
            key(out, 2, LEN);
            varint(out, sample_len(t, v) as u64);
            if v.to_bits() != 0 {
                key(out, 1, I64);
                out.extend_from_slice(&v.to_le_bytes());
            }
            if t != 0 {
                key(out, 2, VARINT);
                varint(out, t as u64);
            }
        }
    }
    if metadata {
        let mut families = std::collections::HashSet::new();
        for s in batch.series() {
            let fam = s.series.family();
            if !families.insert(fam.name.as_str()) {
                continue;
            }
            let ty = metadata_type(fam.kind);
            let unit = fam.unit.as_deref().unwrap_or_default();
            let ty_len = if ty != 0 {
                1 + wire::varint_len(ty as u64)
            } else {
                0
            };
            let len = ty_len + str_field(&fam.name) + str_field(&fam.help) + str_field(unit);
            key(out, 3, LEN);
            varint(out, len as u64);
            if ty != 0 {
                key(out, 1, VARINT);
                varint(out, ty as u64);
            }
            string(out, 2, &fam.name);
            string(out, 4, &fam.help);
            string(out, 5, unit);
        }
    }
}

/// The same request as prost message structs (what [`encode_sample_batch`] writes by hand).
#[cfg(test)]
fn sample_request(batch: &SampleBatch, metadata: bool) -> WriteRequest {
    let mut req = WriteRequest {
        timeseries: Vec::with_capacity(batch.series().len()),
        metadata: Vec::new(),
    };
    let mut families = std::collections::HashSet::new();
    for s in batch.series() {
        let info = &s.series;
        // The table keeps the labels sorted; `__name__` goes where it sorts (after any
        // label starting with an upper-case letter).
        let mut labels = Vec::with_capacity(info.labels().len() + 1);
        labels.extend(info.labels().iter().map(|(k, v)| Label {
            name: k.clone(),
            value: v.clone(),
        }));
        let at = labels.partition_point(|l| l.name.as_str() < "__name__");
        labels.insert(
            at,
            Label {
                name: "__name__".to_owned(),
                value: info.name().to_owned(),
            },
        );
        req.timeseries.push(TimeSeries {
            labels,
            samples: s
                .samples
                .iter()
                .map(|&(timestamp, value)| Sample { value, timestamp })
                .collect(),
            histograms: Vec::new(),
        });
        let fam = info.family();
        if metadata && families.insert(fam.name.as_str()) {
            req.metadata.push(MetricMetadata {
                r#type: metadata_type(fam.kind),
                metric_family_name: fam.name.clone(),
                help: fam.help.clone(),
                unit: fam.unit.clone().unwrap_or_default(),
            });
        }
    }
    req
}

fn metadata_type(kind: MetricKind) -> i32 {
    match kind {
        MetricKind::Counter => 1,
        MetricKind::Gauge => 2,
        MetricKind::Histogram => 3,
        MetricKind::Info => 6,
        MetricKind::Unknown => 0,
    }
}

/// Spans (a new one at every gap) and count deltas of one side of a native histogram.
fn spans_and_deltas(b: &[(i32, u64)]) -> (Vec<BucketSpan>, Vec<i64>) {
    let mut spans: Vec<BucketSpan> = Vec::new();
    let mut prev: Option<i32> = None;
    for (i, _) in b {
        match prev {
            Some(p) if *i == p + 1 => {
                if let Some(last) = spans.last_mut() {
                    last.length += 1;
                }
            }
            _ => spans.push(BucketSpan {
                offset: prev.map_or(*i, |p| i - p - 1),
                length: 1,
            }),
        }
        prev = Some(*i);
    }
    let mut last = 0i64;
    let deltas = b
        .iter()
        .map(|(_, c)| {
            let c = *c as i64;
            let d = c - last;
            last = c;
            d
        })
        .collect();
    (spans, deltas)
}

fn build_request(batch: &Batch, metadata: bool, native: bool) -> WriteRequest {
    let ts = batch.timestamp_ms();
    let mut req = WriteRequest {
        timeseries: Vec::with_capacity(batch.sample_count()),
        metadata: Vec::new(),
    };
    for fam in batch.families() {
        if metadata {
            req.metadata.push(family_metadata(fam));
        }
        for s in &fam.samples {
            let mut push = |suffix: &str, extra: Option<(&str, String)>, value: f64| {
                let mut labels: Vec<Label> = s
                    .labels
                    .iter()
                    .map(|(k, v)| Label {
                        name: k.clone(),
                        value: v.clone(),
                    })
                    .collect();
                labels.push(Label {
                    name: "__name__".to_owned(),
                    value: format!("{}{suffix}", fam.name),
                });
                if let Some((k, v)) = extra {
                    labels.push(Label {
                        name: k.to_owned(),
                        value: v,
                    });
                }
                labels.sort_by(|a, b| a.name.cmp(&b.name));
                req.timeseries.push(TimeSeries {
                    labels,
                    samples: vec![Sample {
                        value,
                        timestamp: ts,
                    }],
                    histograms: Vec::new(),
                });
            };
            if let (true, Value::NativeHistogram(h)) = (native, &s.value) {
                let mut labels: Vec<Label> = s
                    .labels
                    .iter()
                    .map(|(k, v)| Label {
                        name: k.clone(),
                        value: v.clone(),
                    })
                    .collect();
                labels.push(Label {
                    name: "__name__".to_owned(),
                    value: fam.name.clone(),
                });
                labels.sort_by(|a, b| a.name.cmp(&b.name));
                let (negative_spans, negative_deltas) = spans_and_deltas(&h.negative);
                let (positive_spans, positive_deltas) = spans_and_deltas(&h.positive);
                req.timeseries.push(TimeSeries {
                    labels,
                    samples: Vec::new(),
                    histograms: vec![proto::Histogram {
                        count_int: h.count,
                        sum: h.sum,
                        schema: i32::from(h.schema),
                        zero_threshold: h.zero_threshold,
                        zero_count_int: h.zero_count,
                        negative_spans,
                        negative_deltas,
                        positive_spans,
                        positive_deltas,
                        timestamp: ts,
                    }],
                });
                continue;
            }
            match &s.value {
                Value::Counter { value, .. } => push("_total", None, value.as_f64()),
                Value::Gauge(n) | Value::Unknown(n) => push("", None, n.as_f64()),
                Value::Info => push("_info", None, 1.0),
                Value::Histogram {
                    buckets,
                    sum,
                    count,
                } => {
                    for b in buckets {
                        let mut le = String::new();
                        write_float(&mut le, b.upper_bound);
                        push("_bucket", Some(("le", le)), b.cumulative_count as f64);
                    }
                    push("_sum", None, *sum);
                    push("_count", None, *count as f64);
                }
                // Sent in its classic form (its classic buckets, or `+Inf` only), as the text
                // formats show it.
                Value::NativeHistogram(h) => {
                    if h.classic.is_empty() {
                        push("_bucket", Some(("le", "+Inf".to_owned())), h.count as f64);
                    }
                    for b in &h.classic {
                        let mut le = String::new();
                        write_float(&mut le, b.upper_bound);
                        push("_bucket", Some(("le", le)), b.cumulative_count as f64);
                    }
                    push("_sum", None, h.sum);
                    push("_count", None, h.count as f64);
                }
            }
        }
    }
    req
}

fn family_metadata(fam: &MetricFamily) -> MetricMetadata {
    let (ty, name) = match fam.kind {
        MetricKind::Counter => (1, format!("{}_total", fam.name)),
        MetricKind::Gauge => (2, fam.name.clone()),
        MetricKind::Histogram => (3, fam.name.clone()),
        MetricKind::Info => (6, format!("{}_info", fam.name)),
        MetricKind::Unknown => (0, fam.name.clone()),
    };
    MetricMetadata {
        r#type: ty,
        metric_family_name: name,
        help: fam.help.clone(),
        unit: fam.unit.clone().unwrap_or_default(),
    }
}

/// Builds a [`RemoteWriteExporter`].
#[derive(Clone, Debug)]
pub struct RemoteWriteBuilder {
    url: String,
    name: String,
    auth: Option<(String, Option<String>)>,
    bearer: Option<String>,
    headers: Vec<(String, String)>,
    metadata: bool,
    native: bool,
}

impl RemoteWriteBuilder {
    /// Whether native histograms are sent as native histogram samples (default false: in
    /// their classic form, `_bucket`/`_sum`/`_count`, which every receiver takes). Prometheus
    /// accepts native samples only with `--enable-feature=native-histograms`.
    pub fn native_histograms(mut self, yes: bool) -> Self {
        self.native = yes;
        self
    }
    /// The exporter's name in the self-metrics (default `remote_write`).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }
    /// HTTP basic authentication.
    pub fn basic_auth(mut self, user: impl Into<String>, password: Option<String>) -> Self {
        self.auth = Some((user.into(), password));
        self
    }
    /// `Authorization: Bearer <token>`.
    pub fn bearer_token(mut self, token: impl Into<String>) -> Self {
        self.bearer = Some(token.into());
        self
    }
    /// An extra header (for example `X-Scope-OrgID` for Mimir or Cortex).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
    /// Whether to send family metadata with every request (default true).
    pub fn send_metadata(mut self, yes: bool) -> Self {
        self.metadata = yes;
        self
    }
    /// Checks the configuration and builds the exporter.
    ///
    /// # Errors
    /// [`ConfigError`] for a bad URL, an invalid header or an empty name.
    pub fn build(self) -> Result<RemoteWriteExporter, ConfigError> {
        let url = parse_url(&self.url)?;
        if self.name.is_empty() {
            return Err(ConfigError::EmptyName);
        }
        for (k, v) in &self.headers {
            check_header(k, v)?;
        }
        if let Some(t) = &self.bearer {
            check_header("authorization", &format!("Bearer {t}"))?;
        }
        Ok(RemoteWriteExporter {
            url: url.to_string(),
            name: self.name,
            auth: self.auth,
            bearer: self.bearer,
            headers: self.headers,
            metadata: self.metadata,
            native: self.native,
            client: LazyClient::default(),
            encoder: snap::raw::Encoder::new(),
            scratch: Vec::new(),
        })
    }
}

/// Sends batches with Prometheus remote write 1.0; see the [module docs](self).
pub struct RemoteWriteExporter {
    url: String,
    name: String,
    auth: Option<(String, Option<String>)>,
    bearer: Option<String>,
    headers: Vec<(String, String)>,
    metadata: bool,
    native: bool,
    client: LazyClient,
    encoder: snap::raw::Encoder,
    /// The encoded request of the push path, reused between requests.
    scratch: Vec<u8>,
}

impl std::fmt::Debug for RemoteWriteExporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteWriteExporter")
            .field("name", &self.name)
            .field("url", &self.url)
            .field("metadata", &self.metadata)
            .field("native_histograms", &self.native)
            .finish_non_exhaustive()
    }
}

impl RemoteWriteExporter {
    /// Starts a builder for the receiver at `url` (for example
    /// `http://prometheus:9090/api/v1/write` or VictoriaMetrics' `/api/v1/write`).
    pub fn builder(url: impl Into<String>) -> RemoteWriteBuilder {
        RemoteWriteBuilder {
            url: url.into(),
            name: "remote_write".to_owned(),
            auth: None,
            bearer: None,
            headers: Vec::new(),
            metadata: true,
            native: false,
        }
    }

    /// The receiver URL.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Exporter for RemoteWriteExporter {
    fn name(&self) -> &str {
        &self.name
    }

    fn export(&mut self, batch: &Batch, timeout: Duration) -> Result<(), ExportError> {
        let raw = build_request(batch, self.metadata, self.native).encode_to_vec();
        self.post(&raw, timeout)
    }
}

/// Sends the samples of a [`SamplePool`](crate::pool::SamplePool) at their own timestamps,
/// through a [`PoolPipeline`](super::PoolPipeline).
impl SampleExporter for RemoteWriteExporter {
    fn name(&self) -> &str {
        &self.name
    }

    fn export_samples(
        &mut self,
        batch: &SampleBatch,
        timeout: Duration,
    ) -> Result<(), ExportError> {
        let mut raw = std::mem::take(&mut self.scratch);
        raw.clear();
        write_sample_batch(batch, self.metadata, &mut raw);
        let res = self.post(&raw, timeout);
        self.scratch = raw;
        res
    }
}

impl RemoteWriteExporter {
    /// Compresses and POSTs one encoded `WriteRequest`.
    fn post(&mut self, raw: &[u8], timeout: Duration) -> Result<(), ExportError> {
        let body = self
            .encoder
            .compress_vec(raw)
            .map_err(|e| ExportError::Encode(e.to_string()))?;
        let (url, auth, bearer, headers) = (
            self.url.clone(),
            self.auth.clone(),
            self.bearer.clone(),
            self.headers.clone(),
        );
        let mut req = self
            .client
            .get()?
            .post(url)
            .header(reqwest::header::CONTENT_ENCODING, "snappy")
            .header(reqwest::header::CONTENT_TYPE, "application/x-protobuf")
            .header("X-Prometheus-Remote-Write-Version", "0.1.0")
            .body(body);
        if let Some((u, p)) = auth {
            req = req.basic_auth(u, p);
        }
        if let Some(t) = bearer {
            req = req.bearer_auth(t);
        }
        for (k, v) in headers {
            req = req.header(k, v);
        }
        send(req, timeout).map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Registry;

    #[test]
    fn remote_write_sample_batches_encode_as_prost_does() {
        use crate::export::{FamilyMeta, SeriesTable};
        use crate::pool::TimestampedSample as S;
        let table = SeriesTable::new(10);
        let c = FamilyMeta::new("reads_total", MetricKind::Counter, "Reads.");
        let g = FamilyMeta::new("lat_seconds", MetricKind::Gauge, "").with_unit("seconds");
        let u = FamilyMeta::new("odd", MetricKind::Unknown, "");
        let a = table
            .intern(&c, &[("disk", "a"), ("Zone", "Ü\"x")])
            .unwrap();
        let b = table.intern(&g, &[("host", &"h".repeat(300))]).unwrap();
        let z = table.intern(&u, &[]).unwrap();
        let samples = [
            S::new(a, 1.5, 1_700_000_000_000),
            S::new(b, 0.0, 0),
            S::new(a, f64::NAN, -5),
            S::new(z, f64::INFINITY, i64::MAX),
            S::new(b, 2e-300, 1),
        ];
        let (batch, _) = SampleBatch::resolve(&samples, &table);
        for metadata in [false, true] {
            let ours = encode_sample_batch(&batch, metadata);
            let prost = sample_request(&batch, metadata).encode_to_vec();
            assert_eq!(ours, prost, "metadata {metadata}");
        }
        let decoded = WriteRequest::decode(encode_sample_batch(&batch, true).as_slice()).unwrap();
        let names: Vec<&str> = decoded.timeseries[0]
            .labels
            .iter()
            .map(|l| l.name.as_str())
            .collect();
        assert_eq!(names, ["Zone", "__name__", "disk"]);
        // -0.0 keeps its sign (prost would leave the field out and decode +0.0).
        let (batch, _) = SampleBatch::resolve(&[S::new(z, -0.0, 7)], &table);
        let decoded = WriteRequest::decode(encode_sample_batch(&batch, false).as_slice()).unwrap();
        assert!(decoded.timeseries[0].samples[0].value.is_sign_negative());
    }

    #[test]
    fn remote_write_series_are_sorted_and_suffixed() {
        let reg = Registry::builder()
            .const_label("zone", "a")
            .build()
            .unwrap();
        reg.counter("c", "C.").unwrap().inc_by(5);
        let h = reg.histogram("h_seconds", "H.", [0.5]).unwrap();
        h.observe(0.25);
        h.observe(2.0);
        let batch = Batch::new(reg.gather(), 42);
        let bytes = encode_write_request(&batch, true);
        let req = WriteRequest::decode(bytes.as_slice()).unwrap();
        type Row = (Vec<(String, String)>, f64, i64);
        let series: Vec<Row> = req
            .timeseries
            .iter()
            .map(|t| {
                (
                    t.labels
                        .iter()
                        .map(|l| (l.name.clone(), l.value.clone()))
                        .collect(),
                    t.samples[0].value,
                    t.samples[0].timestamp,
                )
            })
            .collect();
        let l = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        assert_eq!(
            series[0],
            (l(&[("__name__", "c_total"), ("zone", "a")]), 5.0, 42)
        );
        assert_eq!(
            series[1],
            (
                l(&[
                    ("__name__", "h_seconds_bucket"),
                    ("le", "0.5"),
                    ("zone", "a")
                ]),
                1.0,
                42
            )
        );
        assert_eq!(
            series[2],
            (
                l(&[
                    ("__name__", "h_seconds_bucket"),
                    ("le", "+Inf"),
                    ("zone", "a")
                ]),
                2.0,
                42
            )
        );
        assert_eq!(
            series[3],
            (l(&[("__name__", "h_seconds_sum"), ("zone", "a")]), 2.25, 42)
        );
        assert_eq!(
            series[4],
            (
                l(&[("__name__", "h_seconds_count"), ("zone", "a")]),
                2.0,
                42
            )
        );
        assert_eq!(series.len(), batch.sample_count());
        assert_eq!(req.metadata[0].metric_family_name, "c_total");
        assert_eq!(req.metadata[0].r#type, 1);
        assert_eq!(req.metadata[1].r#type, 3);
    }
}
