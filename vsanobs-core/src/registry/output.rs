//! What a registry produces: the walk over families, collectors and self-metrics
//! ([`Registry::visit`]), and the text, stream and owned forms built on it.

use std::collections::HashSet;

use super::Registry;
use super::naming::claimed_names;
use super::self_metrics::{
    COLLECTOR_SUCCESS_METRIC, SERIES_OVERFLOW_METRIC, visit_collector_success, visit_overflow,
};
use crate::encoding::{Format, ProtobufEncoder, StreamEncoder, TextEncoder, Visitor};
use crate::gather::Gatherer;
use crate::model::MetricFamily;

/// Bytes [`Registry::write_to`] gathers before handing them to its writer.
const STREAM_CHUNK: usize = 64 * 1024;

impl Registry {
    /// Walks every family, collector and self-metric, calling `v`. Families are visited in
    /// registration order, then collectors' families, then self-metrics.
    pub fn visit(&self, v: &mut dyn Visitor) {
        self.visit_filtered(v, &|_| true)
    }

    /// Like [`visit`](Self::visit), but only families whose full name (without type suffix)
    /// passes `keep`. Collectors whose families are all filtered out are still run.
    pub fn visit_filtered(&self, v: &mut dyn Visitor, keep: &dyn Fn(&str) -> bool) {
        let (entries, collectors) = {
            let s = self.inner.state.read();
            (s.entries.clone(), s.collectors.clone())
        };
        let consts = self.inner.ns.consts();
        let mut overflow: Vec<(String, u64)> = Vec::new();
        let mut taken: HashSet<String> = HashSet::new();
        for e in &entries {
            taken.extend(claimed_names(&e.name, e.kind));
            if let Some(n) = e.metric.overflowed() {
                overflow.push((e.name.clone(), n));
            }
            if !keep(&e.name) {
                continue;
            }
            v.family(&e.name, &e.help, e.unit.as_deref(), e.kind);
            e.metric.visit(consts, v);
        }
        let results = self.run_collectors(&collectors, consts, &mut taken, v, keep);
        if !overflow.is_empty() && keep(SERIES_OVERFLOW_METRIC) {
            visit_overflow(&overflow, consts, v);
        }
        if !results.is_empty() && keep(COLLECTOR_SUCCESS_METRIC) {
            visit_collector_success(&results, consts, v);
        }
    }

    /// Writes everything in `format` to `w`, a chunk at a time: the exposition is never
    /// held whole, only one chunk (64 KiB) or one collector's output, whichever is larger.
    /// Collectors run as the walk reaches them, as for [`encode`](Self::encode).
    ///
    /// ```
    /// use vsanobs_core::{Format, Registry};
    ///
    /// let r = Registry::new();
    /// r.counter("jobs_total", "Jobs done.")?.inc();
    /// let mut out = Vec::new();
    /// r.write_to(Format::OpenMetrics, &mut out)?;
    /// assert_eq!(out, r.encode_to_string(Format::OpenMetrics).as_bytes());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// The first error `w` returned (nothing is written after it; the walk still finishes,
    /// so collectors are never left halfway).
    pub fn write_to(&self, format: Format, w: &mut dyn std::io::Write) -> std::io::Result<()> {
        self.write_filtered_to(format, w, &|_| true)
    }

    /// Like [`write_to`](Self::write_to), only the families whose full name passes `keep`.
    ///
    /// # Errors
    /// The first error `w` returned.
    pub fn write_filtered_to(
        &self,
        format: Format,
        w: &mut dyn std::io::Write,
        keep: &dyn Fn(&str) -> bool,
    ) -> std::io::Result<()> {
        let created = self.inner.created_timestamps;
        if format == Format::Protobuf {
            let mut enc = ProtobufEncoder::new(w, STREAM_CHUNK, created);
            self.visit_filtered(&mut enc, keep);
            return enc.finish();
        }
        let mut enc = StreamEncoder::new(w, format, STREAM_CHUNK, created);
        self.visit_filtered(&mut enc, keep);
        enc.finish()
    }

    /// Encodes everything in `format` into bytes: the only in-memory form of
    /// [`Format::Protobuf`] (the `String` forms write text 0.0.4 for it).
    ///
    /// ```
    /// use vsanobs_core::{Format, Registry};
    ///
    /// let r = Registry::builder().created_timestamps(false).build()?;
    /// r.gauge("up", "Up.")?.set(1);
    /// let bytes = r.encode_to_vec(Format::Protobuf);
    /// // One delimited MetricFamily: length 24, name "up", help "Up.", type GAUGE, one metric.
    /// assert_eq!(bytes[0] as usize, bytes.len() - 1);
    /// assert_eq!(&bytes[1..5], b"\x0a\x02up");
    /// assert_eq!(r.encode_to_vec(Format::OpenMetrics), r.encode_to_string(Format::OpenMetrics).into_bytes());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn encode_to_vec(&self, format: Format) -> Vec<u8> {
        let mut out = Vec::new();
        // Writing into a Vec cannot fail.
        let _ = self.write_to(format, &mut out);
        out
    }

    /// Encodes everything in `format`, appending to `out`. A `String` holds text only:
    /// [`Format::Protobuf`] is written as text 0.0.4 (use [`encode_to_vec`](Self::encode_to_vec)).
    pub fn encode(&self, format: Format, out: &mut String) {
        let mut enc =
            TextEncoder::new(out, format).created_timestamps(self.inner.created_timestamps);
        self.visit(&mut enc);
        enc.finish();
    }

    /// Encodes only the families whose full name passes `keep` (for `name[]` selection).
    pub fn encode_filtered(&self, format: Format, out: &mut String, keep: &dyn Fn(&str) -> bool) {
        let mut enc =
            TextEncoder::new(out, format).created_timestamps(self.inner.created_timestamps);
        self.visit_filtered(&mut enc, keep);
        enc.finish();
    }

    /// Encodes everything in `format` into a new `String`.
    pub fn encode_to_string(&self, format: Format) -> String {
        let mut s = String::new();
        self.encode(format, &mut s);
        s
    }

    /// An owned snapshot of every family (full names, constant labels included), for push
    /// exporters and tests.
    pub fn gather(&self) -> Vec<MetricFamily> {
        let mut g = Gatherer::default();
        self.visit(&mut g);
        g.families
    }
}
