use super::{Format, Visitor, escape_help, escape_label_value, write_float, write_number};
use crate::labels::LabelsRef;
use crate::model::{Exemplar, MetricKind, Number};

/// Writes families as Prometheus text 0.0.4 or OpenMetrics 1.0 text into a `String`.
///
/// Usually reached through [`Registry::encode`](crate::Registry::encode); call
/// [`finish`](Self::finish) after the last family to add OpenMetrics' `# EOF`.
#[derive(Debug)]
pub struct TextEncoder<'a> {
    out: &'a mut String,
    format: Format,
    name: String,
}

impl<'a> TextEncoder<'a> {
    /// An encoder appending to `out`.
    pub fn new(out: &'a mut String, format: Format) -> Self {
        TextEncoder {
            out,
            format,
            name: String::new(),
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
        out.push_str(" # {trace_id=\"");
        push_hex(out, &ex.trace_id);
        out.push_str("\",span_id=\"");
        push_hex(out, &ex.span_id);
        out.push_str("\"} ");
        write_float(out, ex.value);
        out.push(' ');
        // Millisecond precision, as OpenMetrics timestamps are usually written.
        write_float(out, (ex.timestamp * 1000.0).round() / 1000.0);
    }
}

fn push_hex(out: &mut String, bytes: &[u8]) {
    for b in bytes {
        out.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
        out.push(char::from(b"0123456789abcdef"[usize::from(b & 15)]));
    }
}

impl Visitor for TextEncoder<'_> {
    fn family(&mut self, name: &str, help: &str, unit: Option<&str>, kind: MetricKind) {
        self.name.clear();
        self.name.push_str(name);
        let out = &mut *self.out;
        match self.format {
            Format::PrometheusText => {
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
    }

    fn gauge(&mut self, labels: LabelsRef<'_>, value: Number) {
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
        self.series("_sum", &labels, None);
        write_float(self.out, sum);
        self.out.push('\n');
        self.series("_count", &labels, None);
        self.out.push_str(ibuf.format(count));
        self.out.push('\n');
    }

    fn info(&mut self, labels: LabelsRef<'_>) {
        self.series("_info", &labels, None);
        self.out.push_str("1\n");
    }

    fn unknown(&mut self, labels: LabelsRef<'_>, value: Number) {
        self.series("", &labels, None);
        write_number(self.out, value);
        self.out.push('\n');
    }
}
