//! [`SampleBatch`]: samples drained from a [`SamplePool`](crate::pool::SamplePool), resolved
//! through a [`SeriesTable`] and grouped by series, each series' samples in timestamp order,
//! as a [`SampleExporter`](super::SampleExporter) receives them.

use std::collections::HashMap;
use std::sync::Arc;

use super::series::{SeriesInfo, SeriesTable};
use crate::pool::TimestampedSample;

/// The samples of one series, oldest first, no timestamp twice.
#[derive(Clone, Debug)]
pub struct SeriesSamples {
    /// The series.
    pub series: Arc<SeriesInfo>,
    /// `(milliseconds since the Unix epoch, value)`, in timestamp order.
    pub samples: Vec<(i64, f64)>,
}

/// Samples grouped by series, ready to send; see [`SampleBatch::resolve`].
#[derive(Clone, Debug, Default)]
pub struct SampleBatch {
    series: Vec<SeriesSamples>,
    samples: usize,
}

/// What [`SampleBatch::resolve`] left out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ResolveReport {
    /// Samples whose series id the table does not hold.
    pub unknown_series: usize,
    /// Samples replaced by a later-pushed sample of the same series and timestamp.
    pub superseded: usize,
}

impl SampleBatch {
    /// Groups `samples` (as drained, oldest first) by series: each series' samples sorted
    /// by timestamp (stable); of two with one timestamp the later-pushed one is kept.
    /// Series appear in the order of their first sample.
    ///
    /// ```
    /// use vsanobs_core::export::{FamilyMeta, SampleBatch, SeriesTable};
    /// use vsanobs_core::model::MetricKind;
    /// use vsanobs_core::pool::TimestampedSample as S;
    ///
    /// let table = SeriesTable::new(10);
    /// let fam = FamilyMeta::new("temp", MetricKind::Gauge, "T.");
    /// let a = table.intern(&fam, &[("room", "a")])?;
    /// let (batch, report) = SampleBatch::resolve(
    ///     &[S::new(a, 2.0, 2_000), S::new(a, 1.0, 1_000), S::new(a, 3.0, 2_000), S::new(99, 0.0, 0)],
    ///     &table,
    /// );
    /// assert_eq!(batch.series()[0].samples, [(1_000, 1.0), (2_000, 3.0)]);
    /// assert_eq!((batch.sample_count(), report.superseded, report.unknown_series), (2, 1, 1));
    /// # Ok::<(), vsanobs_core::export::SeriesError>(())
    /// ```
    pub fn resolve(
        samples: &[TimestampedSample],
        table: &SeriesTable,
    ) -> (SampleBatch, ResolveReport) {
        let mut report = ResolveReport::default();
        let mut index: HashMap<u64, usize> = HashMap::new();
        let mut series: Vec<SeriesSamples> = Vec::new();
        for s in samples {
            let i = match index.get(&s.series) {
                Some(&i) => i,
                None => {
                    let Some(info) = table.get(s.series) else {
                        report.unknown_series += 1;
                        continue;
                    };
                    index.insert(s.series, series.len());
                    series.push(SeriesSamples {
                        series: info,
                        samples: Vec::new(),
                    });
                    series.len() - 1
                }
            };
            series[i].samples.push((s.timestamp_ms, s.value));
        }
        let mut count = 0;
        for s in &mut series {
            s.samples.sort_by_key(|(t, _)| *t);
            let before = s.samples.len();
            // Keep the last of each run of equal timestamps (the later-pushed value).
            let mut kept: Vec<(i64, f64)> = Vec::with_capacity(before);
            for &(t, v) in &s.samples {
                match kept.last_mut() {
                    Some(last) if last.0 == t => last.1 = v,
                    _ => kept.push((t, v)),
                }
            }
            report.superseded += before - kept.len();
            count += kept.len();
            s.samples = kept;
        }
        (
            SampleBatch {
                series,
                samples: count,
            },
            report,
        )
    }

    /// The series with their samples.
    pub fn series(&self) -> &[SeriesSamples] {
        &self.series
    }

    /// Samples in the batch.
    pub fn sample_count(&self) -> usize {
        self.samples
    }

    /// Whether the batch holds no sample.
    pub fn is_empty(&self) -> bool {
        self.samples == 0
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::export::FamilyMeta;
    use crate::model::MetricKind;

    proptest! {
        /// Every drained sample is in the batch or counted once; each series is in
        /// timestamp order with no timestamp twice, holding the last value pushed for it.
        #[test]
        fn resolve_keeps_or_counts_every_sample(
            raw in proptest::collection::vec((0u64..6, -3i64..8, -10.0f64..10.0), 0..200)
        ) {
            let table = SeriesTable::new(10);
            let fam = FamilyMeta::new("v", MetricKind::Gauge, "V.");
            for i in 0..4u64 {
                prop_assert_eq!(table.intern(&fam, &[("i", &i.to_string())]), Ok(i));
            }
            let samples: Vec<TimestampedSample> =
                raw.iter().map(|&(s, t, v)| TimestampedSample::new(s, v, t)).collect();
            let (batch, report) = SampleBatch::resolve(&samples, &table);
            prop_assert_eq!(
                batch.sample_count() + report.superseded + report.unknown_series,
                samples.len()
            );
            prop_assert_eq!(report.unknown_series, samples.iter().filter(|s| s.series >= 4).count());
            for s in batch.series() {
                let id: u64 = s.series.labels()[0].1.parse().unwrap();
                prop_assert!(s.samples.windows(2).all(|w| w[0].0 < w[1].0));
                for &(t, v) in &s.samples {
                    let last = samples.iter().rev().find(|x| x.series == id && x.timestamp_ms == t);
                    prop_assert_eq!(last.map(|x| x.value.to_bits()), Some(v.to_bits()));
                }
            }
        }
    }
}
