//! Exposition formats: Prometheus text 0.0.4, OpenMetrics 1.0 text and the Prometheus
//! protobuf format (delimited `io.prometheus.client.MetricFamily`), plus the `Accept`-header
//! negotiation the HTTP layer uses to choose between them.
//!
//! # Example
//!
//! ```
//! use vsanobs_core::encoding::{negotiate, Format};
//!
//! // What Prometheus 2.x sends:
//! let accept = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;\
//!               version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
//! assert_eq!(negotiate(Some(accept)), Format::OpenMetrics);
//! assert_eq!(negotiate(Some("text/plain")), Format::PrometheusText);
//! assert_eq!(negotiate(None), Format::PrometheusText);
//! ```
//!
//! ## Note
//! Encoding writes straight from the atomics into one `String`: numbers go through `itoa` and
//! `ryu`, labels are escaped in place, and nothing is collected or sorted first.

mod protobuf;
mod text;

pub(crate) use protobuf::ProtobufEncoder;
pub(crate) use text::StreamEncoder;
pub use text::TextEncoder;

use crate::labels::LabelsRef;
use crate::model::{Exemplar, MetricKind, NativeHistogramValue, Number};

/// An exposition format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Format {
    /// Prometheus text format 0.0.4 (`text/plain; version=0.0.4`).
    PrometheusText,
    /// OpenMetrics 1.0 text (`application/openmetrics-text; version=1.0.0`), with exemplars.
    OpenMetrics,
    /// The Prometheus protobuf format: varint-length-delimited `io.prometheus.client.MetricFamily`
    /// messages, the only exposition format that carries native histograms. Binary: write it
    /// with [`Registry::write_to`](crate::Registry::write_to) or
    /// [`Registry::encode_to_vec`](crate::Registry::encode_to_vec); the `String` encoders
    /// write text 0.0.4 instead.
    Protobuf,
}

impl Format {
    /// The `Content-Type` to serve this format with.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::PrometheusText => "text/plain; version=0.0.4; charset=utf-8",
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Format::Protobuf => PROTOBUF_CONTENT_TYPE,
        }
    }
}

/// The `Content-Type` of [`Format::Protobuf`].
pub const PROTOBUF_CONTENT_TYPE: &str =
    "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited";

/// Chooses a format from an HTTP `Accept` header, honouring q-values.
///
/// OpenMetrics is chosen when `application/openmetrics-text` (version 1.0.0, 0.0.1 or none)
/// has the highest q of the acceptable types; protobuf when
/// `application/vnd.google.protobuf` with `proto=io.prometheus.client.MetricFamily` and
/// `encoding=delimited` does (other parameters are ignored; another `proto` or `encoding`,
/// or none, makes the range unacceptable, as in client_golang, whose text and
/// compact-text protobuf encodings are not offered). Everything else, including a missing
/// or unparsable header, `*/*` and unsupported types, gives text 0.0.4. Ties go to the type
/// listed first.
///
/// ```
/// use vsanobs_core::{negotiate, Format};
///
/// // What Prometheus sends with --enable-feature=native-histograms:
/// let accept = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;\
///               encoding=delimited;q=0.7,text/plain;version=0.0.4;q=0.3,*/*;q=0.2";
/// assert_eq!(negotiate(Some(accept)), Format::Protobuf);
/// // An encoding this library does not write: the next acceptable type wins.
/// let text = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;\
///             encoding=text,text/plain;q=0.5";
/// assert_eq!(negotiate(Some(text)), Format::PrometheusText);
/// ```
pub fn negotiate(accept: Option<&str>) -> Format {
    let Some(accept) = accept else {
        return Format::PrometheusText;
    };
    let mut best: Option<(f32, Format)> = None;
    for range in accept.split(',') {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let mut q = 1.0f32;
        let mut version: Option<String> = None;
        let mut proto: Option<String> = None;
        let mut encoding: Option<String> = None;
        for p in parts {
            let Some((k, v)) = p.split_once('=') else {
                continue;
            };
            let v = v.trim().trim_matches('"');
            match k.trim().to_ascii_lowercase().as_str() {
                "q" => {
                    q = v
                        .parse::<f32>()
                        .ok()
                        .filter(|q| (0.0..=1.0).contains(q))
                        .unwrap_or(0.0)
                }
                "version" => version = Some(v.to_owned()),
                "proto" => proto = Some(v.to_owned()),
                "encoding" => encoding = Some(v.to_owned()),
                _ => {}
            }
        }
        if q <= 0.0 {
            continue;
        }
        let fmt = match media.as_str() {
            "application/openmetrics-text" => match version.as_deref() {
                None | Some("1.0.0") | Some("0.0.1") => Format::OpenMetrics,
                Some(_) => continue,
            },
            "text/plain" => match version.as_deref() {
                None | Some("0.0.4") => Format::PrometheusText,
                Some(_) => continue,
            },
            "application/vnd.google.protobuf" => {
                if proto.as_deref() == Some("io.prometheus.client.MetricFamily")
                    && encoding.as_deref() == Some("delimited")
                {
                    Format::Protobuf
                } else {
                    continue;
                }
            }
            "*/*" | "text/*" => Format::PrometheusText,
            _ => continue,
        };
        if best.is_none_or(|(bq, _)| q > bq) {
            best = Some((q, fmt));
        }
    }
    best.map(|(_, f)| f).unwrap_or(Format::PrometheusText)
}

/// Receives families and series as the registry walks them. The text encoders implement it,
/// and so does [`Registry::gather`](crate::Registry::gather); implement it for a custom
/// format.
pub trait Visitor {
    /// Starts a family. `name` is the full name without type suffix (`http_requests`, not
    /// `http_requests_total`).
    fn family(&mut self, name: &str, help: &str, unit: Option<&str>, kind: MetricKind);
    /// A counter series.
    fn counter(&mut self, labels: LabelsRef<'_>, value: Number, exemplar: Option<&Exemplar>);
    /// A gauge series.
    fn gauge(&mut self, labels: LabelsRef<'_>, value: Number);
    /// A histogram series: `cumulative[i]` counts observations `<= bounds[i]`; the last entry
    /// (one past `bounds`) is the `+Inf` bucket.
    fn histogram(
        &mut self,
        labels: LabelsRef<'_>,
        bounds: &[f64],
        cumulative: &[u64],
        sum: f64,
        exemplars: Option<&[Option<Exemplar>]>,
    );
    /// A native histogram series.
    ///
    /// The default shows it as a classic histogram, for formats that cannot carry native
    /// buckets: its classic buckets when it has them, otherwise a single `+Inf` bucket
    /// holding the count, with the sum (the text formats' documented fallback).
    fn native_histogram(&mut self, labels: LabelsRef<'_>, h: &NativeHistogramValue) {
        if h.classic.is_empty() {
            let ex = h.exemplars.last().cloned();
            let exs = [ex];
            self.histogram(
                labels,
                &[],
                &[h.count],
                h.sum,
                exs[0].is_some().then_some(&exs[..]),
            );
            return;
        }
        let bounds: Vec<f64> = h.classic[..h.classic.len() - 1]
            .iter()
            .map(|b| b.upper_bound)
            .collect();
        let cum: Vec<u64> = h.classic.iter().map(|b| b.cumulative_count).collect();
        let exs: Vec<Option<Exemplar>> = h.classic.iter().map(|b| b.exemplar.clone()).collect();
        let has_ex = exs.iter().any(Option::is_some);
        self.histogram(labels, &bounds, &cum, h.sum, has_ex.then_some(&exs[..]));
    }
    /// Announces the creation time (Unix seconds) of the series passed by the *next*
    /// [`counter`](Self::counter), [`histogram`](Self::histogram) or
    /// [`native_histogram`](Self::native_histogram) call: OpenMetrics' `_created` sample and
    /// the protobuf format's `created_timestamp`. The default ignores it.
    fn created(&mut self, _unix_seconds: f64) {}
    /// An info series.
    fn info(&mut self, labels: LabelsRef<'_>);
    /// An untyped series.
    fn unknown(&mut self, labels: LabelsRef<'_>, value: Number);

    /// Starts a unit of output that [`rollback`](Self::rollback) may discard (the registry
    /// opens one around each [`Collector`](crate::Collector), so a collector that panics
    /// halfway leaves nothing behind). Returns whether this visitor supports it; the default
    /// does not, and the registry then buffers each collector's output as owned families
    /// before replaying it.
    fn begin(&mut self) -> bool {
        false
    }

    /// Keeps the output since [`begin`](Self::begin).
    fn commit(&mut self) {}

    /// Discards the output since [`begin`](Self::begin).
    fn rollback(&mut self) {}
}

/// Appends `v` with label-value escaping (`\` → `\\`, `"` → `\"`, newline → `\n`).
pub fn escape_label_value(out: &mut String, v: &str) {
    escape(out, v, true)
}

/// Appends HELP text with the escaping `format` requires (text 0.0.4 leaves `"` alone).
pub fn escape_help(out: &mut String, v: &str, format: Format) {
    escape(out, v, format == Format::OpenMetrics)
}

fn escape(out: &mut String, v: &str, quotes: bool) {
    let bytes = v.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let rep = match b {
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'"' if quotes => "\\\"",
            _ => continue,
        };
        out.push_str(&v[start..i]);
        out.push_str(rep);
        start = i + 1;
    }
    out.push_str(&v[start..]);
}

/// Appends a float the way both formats accept it: shortest round-trip digits, `NaN`,
/// `+Inf`, `-Inf`.
pub fn write_float(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v == f64::INFINITY {
        out.push_str("+Inf");
    } else if v == f64::NEG_INFINITY {
        out.push_str("-Inf");
    } else {
        let mut b = ryu::Buffer::new();
        out.push_str(b.format_finite(v));
    }
}

pub(crate) fn write_number(out: &mut String, n: Number) {
    match n {
        Number::Uint(v) => out.push_str(itoa::Buffer::new().format(v)),
        Number::Int(v) => out.push_str(itoa::Buffer::new().format(v)),
        Number::Float(v) => write_float(out, v),
    }
}
