use std::io;

use super::{Format, Visitor, escape_help, escape_label_value, write_float, write_number};
use crate::hex;
use crate::labels::LabelsRef;
use crate::model::{Exemplar, ExemplarLabels, MetricKind, NativeHistogramValue, Number};

/// Writes families as Prometheus text 0.0.4 or OpenMetrics 1.0 text into a `String`.
///
/// Usually reached through [`Registry::encode`](crate::Registry::encode); call
/// [`finish`](Self::finish) after the last family to add OpenMetrics' `# EOF`.
#[derive(Debug)]
pub struct TextEncoder<'a> {
    out: &'a mut String,
    format: Format,
    name: String,
    /// Length of `out` at [`Visitor::begin`], while a unit of output is open.
    mark: Option<usize>,
    /// Whether OpenMetrics `_created` samples are written.
    created: bool,
    /// The creation time announced for the next counter or histogram.
    pending_created: Option<f64>,
}

impl<'a> TextEncoder<'a> {
    /// An encoder appending to `out`. [`Format::Protobuf`] is not text: it is written as
    /// text 0.0.4 here (use [`Registry::write_to`](crate::Registry::write_to) or
    /// [`Registry::encode_to_vec`](crate::Registry::encode_to_vec) for protobuf).
    pub fn new(out: &'a mut String, format: Format) -> Self {
        TextEncoder {
            out,
            format: match format {
                Format::OpenMetrics => Format::OpenMetrics,
                _ => Format::PrometheusText,
            },
            name: String::new(),
            mark: None,
            created: true,
            pending_created: None,
        }
    }

    /// Whether OpenMetrics output carries `_created` samples for counters and histograms
    /// (the time each series was created); on by default. Text 0.0.4 never has them.
    ///
    /// ```
    /// use vsanobs_core::encoding::{TextEncoder, Visitor};
    /// use vsanobs_core::{Counter, Format, Registry};
    ///
    /// let r = Registry::new();
    /// r.register("jobs", "Jobs.", Counter::default())?;
    /// let mut with = String::new();
    /// r.visit(&mut TextEncoder::new(&mut with, Format::OpenMetrics));
    /// assert!(with.contains("\njobs_created "));
    /// let mut without = String::new();
    /// r.visit(&mut TextEncoder::new(&mut without, Format::OpenMetrics).created_timestamps(false));
    /// assert!(!without.contains("_created"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn created_timestamps(mut self, on: bool) -> Self {
        self.created = on;
        self
    }

    /// Writes the `_created` sample announced for this series, if any.
    fn created_line(&mut self, labels: &LabelsRef<'_>) {
        if let Some(t) = self.pending_created.take() {
            self.series("_created", labels, None);
            // Millisecond precision, as for exemplar timestamps.
            write_float(self.out, (t * 1000.0).round() / 1000.0);
            self.out.push('\n');
        }
    }

    /// Ends the exposition (`# EOF` for OpenMetrics).
    pub fn finish(self) {
        if self.format == Format::OpenMetrics {
            self.out.push_str("# EOF\n");
        }
    }

    fn series(&mut self, suffix: &str, labels: &LabelsRef<'_>, extra: Option<(&str, f64)>) {
        let out = &mut *self.out;
        out.push_str(&self.name);
        out.push_str(suffix);
        if labels.is_empty() && extra.is_none() {
            out.push(' ');
            return;
        }
        out.push('{');
        let mut first = true;
        labels.for_each(&mut |k, v| {
            if !first {
                out.push(',');
            }
            first = false;
            out.push_str(k);
            out.push_str("=\"");
            escape_label_value(out, v);
            out.push('"');
        });
        if let Some((k, v)) = extra {
            if !first {
                out.push(',');
            }
            out.push_str(k);
            out.push_str("=\"");
            write_float(out, v);
            out.push('"');
        }
        out.push_str("} ");
    }

    fn exemplar(&mut self, ex: Option<&Exemplar>) {
        if self.format != Format::OpenMetrics {
            return;
        }
        let Some(ex) = ex else { return };
        let out = &mut *self.out;
        out.push_str(" # {");
        match &ex.labels {
            ExemplarLabels::Trace { trace_id, span_id } => {
                out.push_str("trace_id=\"");
                hex::encode_into(out, trace_id);
                out.push_str("\",span_id=\"");
                hex::encode_into(out, span_id);
                out.push('"');
            }
            ExemplarLabels::Labels(labels) => {
                for (i, (k, v)) in labels.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(k);
                    out.push_str("=\"");
                    escape_label_value(out, v);
                    out.push('"');
                }
            }
        }
        out.push_str("} ");
        write_float(out, ex.value);
        if let Some(t) = ex.timestamp {
            out.push(' ');
            write_float(out, t);
        }
    }
}

impl Visitor for TextEncoder<'_> {
    fn family(&mut self, name: &str, help: &str, unit: Option<&str>, kind: MetricKind) {
        self.name.clear();
        self.name.push_str(name);
        let out = &mut *self.out;
        match self.format {
            Format::PrometheusText | Format::Protobuf => {
                let type_name = match kind {
                    MetricKind::Counter => "_total",
                    MetricKind::Info => "_info",
                    _ => "",
                };
                out.push_str("# HELP ");
                out.push_str(name);
                out.push_str(type_name);
                out.push(' ');
                escape_help(out, help, Format::PrometheusText);
                out.push_str("\n# TYPE ");
                out.push_str(name);
                out.push_str(type_name);
                out.push(' ');
                out.push_str(kind.text_name());
                out.push('\n');
            }
            Format::OpenMetrics => {
                out.push_str("# TYPE ");
                out.push_str(name);
                out.push(' ');
                out.push_str(kind.openmetrics_name());
                out.push('\n');
                if let Some(u) = unit {
                    out.push_str("# UNIT ");
                    out.push_str(name);
                    out.push(' ');
                    out.push_str(u);
                    out.push('\n');
                }
                out.push_str("# HELP ");
                out.push_str(name);
                out.push(' ');
                escape_help(out, help, Format::OpenMetrics);
                out.push('\n');
            }
        }
    }

    fn counter(&mut self, labels: LabelsRef<'_>, value: Number, exemplar: Option<&Exemplar>) {
        self.series("_total", &labels, None);
        write_number(self.out, value);
        self.exemplar(exemplar);
        self.out.push('\n');
        self.created_line(&labels);
    }

    fn created(&mut self, unix_seconds: f64) {
        self.pending_created =
            (self.created && self.format == Format::OpenMetrics).then_some(unix_seconds);
    }

    fn gauge(&mut self, labels: LabelsRef<'_>, value: Number) {
        self.pending_created = None;
        self.series("", &labels, None);
        write_number(self.out, value);
        self.out.push('\n');
    }

    fn histogram(
        &mut self,
        labels: LabelsRef<'_>,
        bounds: &[f64],
        cumulative: &[u64],
        sum: f64,
        exemplars: Option<&[Option<Exemplar>]>,
    ) {
        let mut ibuf = itoa::Buffer::new();
        for (i, c) in cumulative.iter().enumerate() {
            let le = bounds.get(i).copied().unwrap_or(f64::INFINITY);
            self.series("_bucket", &labels, Some(("le", le)));
            self.out.push_str(ibuf.format(*c));
            self.exemplar(exemplars.and_then(|e| e.get(i)).and_then(|e| e.as_ref()));
            self.out.push('\n');
        }
        let count = cumulative.last().copied().unwrap_or(0);
        // OpenMetrics treats a histogram's sum as a counter: with negative observations it
        // "MUST NOT" be exposed, and its parsers want `_count` only beside `_sum`, so both
        // are left out there when the sum is negative (the `+Inf` bucket keeps the count).
        if !(self.format == Format::OpenMetrics && sum < 0.0) {
            self.series("_sum", &labels, None);
            write_float(self.out, sum);
            self.out.push('\n');
            self.series("_count", &labels, None);
            self.out.push_str(ibuf.format(count));
            self.out.push('\n');
        }
        self.created_line(&labels);
    }

    fn info(&mut self, labels: LabelsRef<'_>) {
        self.pending_created = None;
        self.series("_info", &labels, None);
        self.out.push_str("1\n");
    }

    fn unknown(&mut self, labels: LabelsRef<'_>, value: Number) {
        self.pending_created = None;
        self.series("", &labels, None);
        write_number(self.out, value);
        self.out.push('\n');
    }

    fn begin(&mut self) -> bool {
        self.mark = Some(self.out.len());
        true
    }

    fn commit(&mut self) {
        self.mark = None;
    }

    fn rollback(&mut self) {
        if let Some(m) = self.mark.take() {
            self.out.truncate(m);
        }
    }
}

/// Encodes into a bounded buffer and hands it to an [`io::Write`] whenever it passes
/// `chunk` bytes outside an open unit of output, so the whole exposition is never held: the
/// buffer peaks at one chunk or one collector's output, whichever is larger.
pub(crate) struct StreamEncoder<'w> {
    buf: String,
    name: String,
    format: Format,
    created: bool,
    pending_created: Option<f64>,
    w: &'w mut dyn io::Write,
    chunk: usize,
    mark: Option<usize>,
    error: Option<io::Error>,
}

impl<'w> StreamEncoder<'w> {
    pub(crate) fn new(
        w: &'w mut dyn io::Write,
        format: Format,
        chunk: usize,
        created: bool,
    ) -> Self {
        StreamEncoder {
            buf: String::with_capacity(chunk.min(1 << 20) + 1024),
            name: String::new(),
            format: match format {
                Format::OpenMetrics => Format::OpenMetrics,
                _ => Format::PrometheusText,
            },
            created,
            pending_created: None,
            w,
            chunk,
            mark: None,
            error: None,
        }
    }

    /// Runs one [`TextEncoder`] call against the buffer, then flushes if it is full.
    fn text(&mut self, f: impl FnOnce(&mut TextEncoder<'_>)) {
        let mut enc = TextEncoder {
            out: &mut self.buf,
            format: self.format,
            name: std::mem::take(&mut self.name),
            mark: None,
            created: self.created,
            pending_created: self.pending_created.take(),
        };
        f(&mut enc);
        self.name = std::mem::take(&mut enc.name);
        self.pending_created = enc.pending_created;
        if self.mark.is_none() && self.buf.len() >= self.chunk {
            self.flush();
        }
    }

    fn flush(&mut self) {
        if self.error.is_none()
            && !self.buf.is_empty()
            && let Err(e) = self.w.write_all(self.buf.as_bytes())
        {
            self.error = Some(e);
        }
        self.buf.clear();
    }

    /// Writes what is left (and `# EOF` for OpenMetrics) and flushes the writer.
    ///
    /// # Errors
    /// The first error the writer returned; nothing was written after it.
    pub(crate) fn finish(mut self) -> io::Result<()> {
        if self.format == Format::OpenMetrics {
            self.buf.push_str("# EOF\n");
        }
        self.flush();
        match self.error.take() {
            Some(e) => Err(e),
            None => self.w.flush(),
        }
    }
}

impl Visitor for StreamEncoder<'_> {
    fn family(&mut self, name: &str, help: &str, unit: Option<&str>, kind: MetricKind) {
        self.text(|e| e.family(name, help, unit, kind));
    }
    fn counter(&mut self, labels: LabelsRef<'_>, value: Number, exemplar: Option<&Exemplar>) {
        self.text(|e| e.counter(labels, value, exemplar));
    }
    fn gauge(&mut self, labels: LabelsRef<'_>, value: Number) {
        self.text(|e| e.gauge(labels, value));
    }
    fn histogram(
        &mut self,
        labels: LabelsRef<'_>,
        bounds: &[f64],
        cumulative: &[u64],
        sum: f64,
        exemplars: Option<&[Option<Exemplar>]>,
    ) {
        self.text(|e| e.histogram(labels, bounds, cumulative, sum, exemplars));
    }
    fn native_histogram(&mut self, labels: LabelsRef<'_>, h: &NativeHistogramValue) {
        self.text(|e| e.native_histogram(labels, h));
    }
    fn created(&mut self, unix_seconds: f64) {
        self.text(|e| e.created(unix_seconds));
    }
    fn info(&mut self, labels: LabelsRef<'_>) {
        self.text(|e| e.info(labels));
    }
    fn unknown(&mut self, labels: LabelsRef<'_>, value: Number) {
        self.text(|e| e.unknown(labels, value));
    }
    fn begin(&mut self) -> bool {
        self.mark = Some(self.buf.len());
        true
    }
    fn commit(&mut self) {
        self.mark = None;
        if self.buf.len() >= self.chunk {
            self.flush();
        }
    }
    fn rollback(&mut self) {
        if let Some(m) = self.mark.take() {
            self.buf.truncate(m);
        }
    }
}
