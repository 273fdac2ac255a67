//! The Prometheus protobuf exposition format: each family one `io.prometheus.client.MetricFamily`
//! message (client_model's `metrics.proto`), preceded by its length as a varint.
//!
//! Written directly from the [`Visitor`] calls, with no message structs: a nested message is
//! written in place after a one-byte length placeholder, which is widened (one `memmove` of
//! the message) in the rare case the message is 128 bytes or longer. One growing buffer
//! holds the families not yet handed to the writer.

use std::io;

use super::Visitor;
use crate::labels::LabelsRef;
use crate::model::{Exemplar, ExemplarLabels, MetricKind, NativeHistogramValue, Number};

// MetricFamily
const FAMILY_NAME: u32 = 1;
const FAMILY_HELP: u32 = 2;
const FAMILY_TYPE: u32 = 3;
const FAMILY_METRIC: u32 = 4;
const FAMILY_UNIT: u32 = 5;
// MetricType
const TYPE_COUNTER: u64 = 0;
const TYPE_GAUGE: u64 = 1;
const TYPE_UNTYPED: u64 = 3;
const TYPE_HISTOGRAM: u64 = 4;
// Metric
const METRIC_LABEL: u32 = 1;
const METRIC_GAUGE: u32 = 2;
const METRIC_COUNTER: u32 = 3;
const METRIC_UNTYPED: u32 = 5;
const METRIC_HISTOGRAM: u32 = 7;
// Counter
const COUNTER_EXEMPLAR: u32 = 2;
const COUNTER_CREATED: u32 = 3;
// Histogram
const H_SAMPLE_COUNT: u32 = 1;
const H_SAMPLE_SUM: u32 = 2;
const H_BUCKET: u32 = 3;
const H_SCHEMA: u32 = 5;
const H_ZERO_THRESHOLD: u32 = 6;
const H_ZERO_COUNT: u32 = 7;
const H_NEGATIVE_SPAN: u32 = 9;
const H_NEGATIVE_DELTA: u32 = 10;
const H_POSITIVE_SPAN: u32 = 12;
const H_POSITIVE_DELTA: u32 = 13;
const H_CREATED: u32 = 15;
const H_EXEMPLARS: u32 = 16;
// Bucket
const BUCKET_CUMULATIVE: u32 = 1;
const BUCKET_UPPER: u32 = 2;
const BUCKET_EXEMPLAR: u32 = 3;

const VARINT: u32 = 0;
const FIXED64: u32 = 1;
const LEN: u32 = 2;

#[inline]
fn varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push(v as u8 | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

#[inline]
fn key(buf: &mut Vec<u8>, field: u32, wire: u32) {
    varint(buf, u64::from(field << 3 | wire));
}

#[inline]
fn double(buf: &mut Vec<u8>, field: u32, v: f64) {
    key(buf, field, FIXED64);
    buf.extend_from_slice(&v.to_le_bytes());
}

#[inline]
fn uint(buf: &mut Vec<u8>, field: u32, v: u64) {
    key(buf, field, VARINT);
    varint(buf, v);
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn string(buf: &mut Vec<u8>, field: u32, s: &str) {
    key(buf, field, LEN);
    varint(buf, s.len() as u64);
    buf.extend_from_slice(s.as_bytes());
}

/// Writes the body `f` produces with its length in front. The length is assumed to fit one
/// byte and moved up when it does not.
#[inline]
fn length_prefixed(buf: &mut Vec<u8>, f: impl FnOnce(&mut Vec<u8>)) {
    let at = buf.len();
    buf.push(0);
    f(buf);
    let len = buf.len() - at - 1;
    if len < 0x80 {
        buf[at] = len as u8;
    } else {
        let mut tmp = Vec::with_capacity(10);
        varint(&mut tmp, len as u64);
        buf.splice(at..=at, tmp);
    }
}

#[inline]
fn nested(buf: &mut Vec<u8>, field: u32, f: impl FnOnce(&mut Vec<u8>)) {
    key(buf, field, LEN);
    length_prefixed(buf, f);
}

fn label_pair(buf: &mut Vec<u8>, name: &str, value: &str) {
    nested(buf, METRIC_LABEL, |b| {
        string(b, 1, name);
        string(b, 2, value);
    });
}

/// A `google.protobuf.Timestamp` from Unix seconds.
fn timestamp(buf: &mut Vec<u8>, field: u32, unix_seconds: f64) {
    let secs = unix_seconds.floor();
    let nanos = ((unix_seconds - secs) * 1e9).round().min(999_999_999.0);
    nested(buf, field, |b| {
        if secs != 0.0 {
            uint(b, 1, secs as i64 as u64);
        }
        if nanos > 0.0 {
            uint(b, 2, nanos as u64);
        }
    });
}

fn exemplar(buf: &mut Vec<u8>, field: u32, ex: &Exemplar) {
    nested(buf, field, |b| {
        match &ex.labels {
            ExemplarLabels::Trace { trace_id, span_id } => {
                let mut hex = String::with_capacity(32);
                crate::hex::encode_into(&mut hex, trace_id);
                label_pair(b, "trace_id", &hex);
                hex.clear();
                crate::hex::encode_into(&mut hex, span_id);
                label_pair(b, "span_id", &hex);
            }
            ExemplarLabels::Labels(labels) => {
                for (k, v) in labels.iter() {
                    label_pair(b, k, v);
                }
            }
        }
        double(b, 2, ex.value);
        if let Some(t) = ex.timestamp {
            timestamp(b, 3, t);
        }
    });
}

/// Spans and deltas of one side of a native histogram: a new span starts at every gap.
fn spans_and_deltas(buf: &mut Vec<u8>, span_field: u32, delta_field: u32, b: &[(i32, u64)]) {
    let mut i = 0;
    let mut prev_end: Option<i32> = None;
    while i < b.len() {
        let start = b[i].0;
        let mut j = i + 1;
        while j < b.len() && b[j].0 == b[j - 1].0 + 1 {
            j += 1;
        }
        let offset = match prev_end {
            None => start,
            Some(end) => start - end - 1,
        };
        nested(buf, span_field, |s| {
            key(s, 1, VARINT);
            varint(s, zigzag(i64::from(offset)) & 0xffff_ffff);
            uint(s, 2, (j - i) as u64);
        });
        prev_end = Some(b[j - 1].0);
        i = j;
    }
    if b.is_empty() {
        return;
    }
    nested(buf, delta_field, |d| {
        let mut prev = 0i64;
        for (_, c) in b {
            let c = *c as i64;
            varint(d, zigzag(c - prev));
            prev = c;
        }
    });
}

/// Encodes families as delimited `MetricFamily` messages into an [`io::Write`], handing it
/// the buffered bytes whenever they pass `chunk` outside an open unit of output.
pub(crate) struct ProtobufEncoder<'w> {
    w: &'w mut dyn io::Write,
    out: Vec<u8>,
    /// Where the open family's length placeholder is in `out`.
    family_at: Option<usize>,
    /// Whether the open family has a metric yet (empty families are dropped).
    family_has_metric: bool,
    kind: MetricKind,
    created: bool,
    pending_created: Option<f64>,
    mark: Option<usize>,
    chunk: usize,
    error: Option<io::Error>,
}

impl<'w> ProtobufEncoder<'w> {
    pub(crate) fn new(w: &'w mut dyn io::Write, chunk: usize, created: bool) -> Self {
        ProtobufEncoder {
            w,
            out: Vec::with_capacity(chunk.min(1 << 20) + 1024),
            family_at: None,
            family_has_metric: false,
            kind: MetricKind::Unknown,
            created,
            pending_created: None,
            mark: None,
            chunk,
            error: None,
        }
    }

    /// Closes the open family: fixes its length, or drops it if it has no metric.
    fn close_family(&mut self) {
        let Some(at) = self.family_at.take() else {
            return;
        };
        if !self.family_has_metric {
            self.out.truncate(at);
            return;
        }
        let len = self.out.len() - at - 1;
        if len < 0x80 {
            self.out[at] = len as u8;
        } else {
            let mut tmp = Vec::with_capacity(10);
            varint(&mut tmp, len as u64);
            self.out.splice(at..=at, tmp);
        }
        if self.mark.is_none() && self.out.len() >= self.chunk {
            self.flush();
        }
    }

    fn flush(&mut self) {
        if self.error.is_none()
            && !self.out.is_empty()
            && let Err(e) = self.w.write_all(&self.out)
        {
            self.error = Some(e);
        }
        self.out.clear();
    }

    /// Writes what is left and flushes the writer.
    ///
    /// # Errors
    /// The first error the writer returned; nothing was written after it.
    pub(crate) fn finish(mut self) -> io::Result<()> {
        self.close_family();
        self.flush();
        match self.error.take() {
            Some(e) => Err(e),
            None => self.w.flush(),
        }
    }

    /// Writes one `Metric` with `labels`, its value written by `f`.
    fn metric(&mut self, labels: &LabelsRef<'_>, f: impl FnOnce(&mut Vec<u8>)) {
        if self.family_at.is_none() {
            return;
        }
        self.family_has_metric = true;
        nested(&mut self.out, FAMILY_METRIC, |m| {
            labels.for_each(&mut |k, v| label_pair(m, k, v));
            f(m);
        });
    }

    fn take_created(&mut self) -> Option<f64> {
        self.pending_created.take().filter(|_| self.created)
    }
}

impl Visitor for ProtobufEncoder<'_> {
    fn family(&mut self, name: &str, help: &str, unit: Option<&str>, kind: MetricKind) {
        self.close_family();
        self.kind = kind;
        self.family_at = Some(self.out.len());
        self.family_has_metric = false;
        let out = &mut self.out;
        out.push(0);
        let suffix = match kind {
            MetricKind::Counter => "_total",
            MetricKind::Info => "_info",
            _ => "",
        };
        key(out, FAMILY_NAME, LEN);
        varint(out, (name.len() + suffix.len()) as u64);
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(suffix.as_bytes());
        string(out, FAMILY_HELP, help);
        let t = match kind {
            MetricKind::Counter => TYPE_COUNTER,
            MetricKind::Gauge | MetricKind::Info => TYPE_GAUGE,
            MetricKind::Histogram => TYPE_HISTOGRAM,
            _ => TYPE_UNTYPED,
        };
        uint(out, FAMILY_TYPE, t);
        if let Some(u) = unit {
            string(out, FAMILY_UNIT, u);
        }
    }

    fn counter(&mut self, labels: LabelsRef<'_>, value: Number, ex: Option<&Exemplar>) {
        let created = self.take_created();
        self.metric(&labels, |m| {
            nested(m, METRIC_COUNTER, |c| {
                double(c, 1, value.as_f64());
                if let Some(ex) = ex {
                    exemplar(c, COUNTER_EXEMPLAR, ex);
                }
                if let Some(t) = created {
                    timestamp(c, COUNTER_CREATED, t);
                }
            });
        });
    }

    fn gauge(&mut self, labels: LabelsRef<'_>, value: Number) {
        self.pending_created = None;
        self.metric(&labels, |m| {
            nested(m, METRIC_GAUGE, |g| double(g, 1, value.as_f64()));
        });
    }

    fn histogram(
        &mut self,
        labels: LabelsRef<'_>,
        bounds: &[f64],
        cumulative: &[u64],
        sum: f64,
        exemplars: Option<&[Option<Exemplar>]>,
    ) {
        let created = self.take_created();
        self.metric(&labels, |m| {
            nested(m, METRIC_HISTOGRAM, |h| {
                uint(h, H_SAMPLE_COUNT, cumulative.last().copied().unwrap_or(0));
                double(h, H_SAMPLE_SUM, sum);
                for (i, c) in cumulative.iter().enumerate() {
                    let ex = exemplars.and_then(|e| e.get(i)).and_then(Option::as_ref);
                    // The +Inf bucket is implied by the count; it is written only to carry
                    // its exemplar.
                    let upper = match bounds.get(i) {
                        Some(b) => *b,
                        None if ex.is_some() => f64::INFINITY,
                        None => continue,
                    };
                    nested(h, H_BUCKET, |b| {
                        uint(b, BUCKET_CUMULATIVE, *c);
                        double(b, BUCKET_UPPER, upper);
                        if let Some(ex) = ex {
                            exemplar(b, BUCKET_EXEMPLAR, ex);
                        }
                    });
                }
                if let Some(t) = created {
                    timestamp(h, H_CREATED, t);
                }
            });
        });
    }

    fn native_histogram(&mut self, labels: LabelsRef<'_>, nh: &NativeHistogramValue) {
        let created = self.take_created();
        self.metric(&labels, |m| {
            nested(m, METRIC_HISTOGRAM, |h| {
                uint(h, H_SAMPLE_COUNT, nh.count);
                double(h, H_SAMPLE_SUM, nh.sum);
                for b in &nh.classic {
                    if b.upper_bound == f64::INFINITY && b.exemplar.is_none() {
                        continue;
                    }
                    nested(h, H_BUCKET, |bb| {
                        uint(bb, BUCKET_CUMULATIVE, b.cumulative_count);
                        double(bb, BUCKET_UPPER, b.upper_bound);
                        if let Some(ex) = &b.exemplar {
                            exemplar(bb, BUCKET_EXEMPLAR, ex);
                        }
                    });
                }
                key(h, H_SCHEMA, VARINT);
                varint(h, zigzag(i64::from(nh.schema)));
                double(h, H_ZERO_THRESHOLD, nh.zero_threshold);
                uint(h, H_ZERO_COUNT, nh.zero_count);
                spans_and_deltas(h, H_NEGATIVE_SPAN, H_NEGATIVE_DELTA, &nh.negative);
                spans_and_deltas(h, H_POSITIVE_SPAN, H_POSITIVE_DELTA, &nh.positive);
                if nh.positive.is_empty() && nh.negative.is_empty() {
                    // The "no-op span" that marks a histogram without buckets yet as native.
                    nested(h, H_POSITIVE_SPAN, |s| {
                        uint(s, 1, 0);
                        uint(s, 2, 0);
                    });
                }
                if let Some(t) = created {
                    timestamp(h, H_CREATED, t);
                }
                for ex in &nh.exemplars {
                    exemplar(h, H_EXEMPLARS, ex);
                }
            });
        });
    }

    fn created(&mut self, unix_seconds: f64) {
        self.pending_created = Some(unix_seconds);
    }

    fn info(&mut self, labels: LabelsRef<'_>) {
        self.pending_created = None;
        self.metric(&labels, |m| {
            nested(m, METRIC_GAUGE, |g| double(g, 1, 1.0));
        });
    }

    fn unknown(&mut self, labels: LabelsRef<'_>, value: Number) {
        self.pending_created = None;
        self.metric(&labels, |m| {
            nested(m, METRIC_UNTYPED, |u| double(u, 1, value.as_f64()));
        });
    }

    fn begin(&mut self) -> bool {
        self.close_family();
        self.mark = Some(self.out.len());
        true
    }

    fn commit(&mut self) {
        self.close_family();
        self.mark = None;
        if self.out.len() >= self.chunk {
            self.flush();
        }
    }

    fn rollback(&mut self) {
        if let Some(m) = self.mark.take() {
            self.out.truncate(m);
            self.family_at = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_and_zigzag() {
        let mut b = Vec::new();
        varint(&mut b, 300);
        assert_eq!(b, [0xac, 0x02]);
        assert_eq!(zigzag(0), 0);
        assert_eq!(zigzag(-1), 1);
        assert_eq!(zigzag(1), 2);
        assert_eq!(zigzag(-2), 3);
    }

    #[test]
    fn long_nested_messages_get_a_wider_length() {
        let mut b = vec![9];
        nested(&mut b, 1, |x| x.extend(std::iter::repeat_n(7u8, 300)));
        assert_eq!(&b[..4], &[9, 0x0a, 0xac, 0x02]);
        assert_eq!(b.len(), 4 + 300);
    }

    #[test]
    fn spans_start_at_gaps() {
        let mut b = Vec::new();
        spans_and_deltas(&mut b, 12, 13, &[(-2, 1), (-1, 3), (3, 2)]);
        // span {offset -2 (zigzag 3), length 2}, span {offset 3, length 1}, deltas 1, 2, -1.
        assert_eq!(
            b,
            [
                0x62, 4, 0x08, 3, 0x10, 2, //
                0x62, 4, 0x08, 6, 0x10, 1, //
                0x6a, 3, 2, 4, 1
            ]
        );
    }
}
