//! [`Batch`]: one snapshot of a registry as every exporter receives it.

use std::sync::Arc;

use crate::encoding::{Format, TextEncoder};
use crate::gather::visit_families;
use crate::model::{MetricFamily, Value};

/// One snapshot of a registry, taken at one instant, as every exporter receives it.
#[derive(Clone, Debug)]
pub struct Batch {
    families: Arc<Vec<MetricFamily>>,
    timestamp_ms: i64,
    samples: usize,
}

impl Batch {
    /// A batch of `families` stamped `timestamp_ms` (milliseconds since the Unix epoch).
    pub fn new(families: Vec<MetricFamily>, timestamp_ms: i64) -> Self {
        let samples = families.iter().map(family_samples).sum();
        Batch {
            families: Arc::new(families),
            timestamp_ms,
            samples,
        }
    }

    /// The families (full names, constant labels included).
    pub fn families(&self) -> &[MetricFamily] {
        &self.families
    }

    /// When the registry was gathered, in milliseconds since the Unix epoch.
    pub fn timestamp_ms(&self) -> i64 {
        self.timestamp_ms
    }

    /// How many samples the batch holds, counted as in the exposition format: one per
    /// counter, gauge, info or untyped series, and `buckets + 2` (`_bucket`s, `_sum`,
    /// `_count`) per histogram. Drop counts use this unit.
    pub fn sample_count(&self) -> usize {
        self.samples
    }

    /// The batch as exposition text (no timestamps), for text-based receivers.
    pub fn encode_text(&self, format: Format) -> String {
        let mut out = String::new();
        let mut enc = TextEncoder::new(&mut out, format);
        visit_families(&self.families, &mut enc);
        enc.finish();
        out
    }
}

fn family_samples(f: &MetricFamily) -> usize {
    f.samples
        .iter()
        .map(|s| match &s.value {
            Value::Histogram { buckets, .. } => buckets.len() + 2,
            Value::NativeHistogram(h) => h.classic.len().max(1) + 2,
            _ => 1,
        })
        .sum()
}
