//! Owned snapshots and back: [`Gatherer`] is a [`Visitor`] that builds [`MetricFamily`]
//! values (what [`Registry::gather`](crate::Registry::gather) and owned collection return),
//! and [`visit_samples`] / [`visit_families`] replay owned families into any visitor.

use crate::encoding::Visitor;
use crate::labels::{LabelsRef, OwnLabels};
use crate::model::{
    Bucket, Exemplar, MetricFamily, MetricKind, NativeHistogramValue, Number, Sample, Value,
};

/// Replays owned families into a [`Visitor`] (an encoder), without constant labels.
pub(crate) fn visit_families(fams: &[MetricFamily], v: &mut dyn Visitor) {
    for fam in fams {
        v.family(&fam.name, &fam.help, fam.unit.as_deref(), fam.kind);
        visit_samples(fam, &[], v);
    }
}

/// Replays the series of an owned family into a [`Visitor`], with `consts` first.
pub(crate) fn visit_samples(fam: &MetricFamily, consts: &[(String, String)], v: &mut dyn Visitor) {
    for s in &fam.samples {
        let labels = LabelsRef {
            consts,
            own: OwnLabels::Pairs(&s.labels),
        };
        match &s.value {
            Value::Counter { value, exemplar } => v.counter(labels, *value, exemplar.as_ref()),
            Value::Gauge(n) => v.gauge(labels, *n),
            Value::Unknown(n) => v.unknown(labels, *n),
            Value::Info => v.info(labels),
            Value::NativeHistogram(h) => v.native_histogram(labels, h),
            Value::Histogram { buckets, sum, .. } => {
                let bounds: Vec<f64> = buckets
                    .iter()
                    .take(buckets.len().saturating_sub(1))
                    .map(|b| b.upper_bound)
                    .collect();
                let cum: Vec<u64> = buckets.iter().map(|b| b.cumulative_count).collect();
                let ex: Vec<Option<Exemplar>> =
                    buckets.iter().map(|b| b.exemplar.clone()).collect();
                let has_ex = ex.iter().any(Option::is_some);
                v.histogram(labels, &bounds, &cum, *sum, has_ex.then_some(ex.as_slice()));
            }
        }
    }
}

/// A [`Visitor`] that builds owned [`MetricFamily`] snapshots.
#[derive(Debug, Default)]
pub(crate) struct Gatherer {
    pub(crate) families: Vec<MetricFamily>,
    /// `families.len()` at [`Visitor::begin`].
    mark: Option<usize>,
}

impl Gatherer {
    fn push(&mut self, labels: LabelsRef<'_>, value: Value) {
        if let Some(f) = self.families.last_mut() {
            f.samples.push(Sample {
                labels: labels.to_pairs(),
                value,
            });
        }
    }
}

impl Visitor for Gatherer {
    fn family(&mut self, name: &str, help: &str, unit: Option<&str>, kind: MetricKind) {
        let mut f = MetricFamily::new(name, help, kind);
        f.unit = unit.map(str::to_owned);
        self.families.push(f);
    }
    fn counter(&mut self, labels: LabelsRef<'_>, value: Number, exemplar: Option<&Exemplar>) {
        self.push(
            labels,
            Value::Counter {
                value,
                exemplar: exemplar.cloned(),
            },
        );
    }
    fn gauge(&mut self, labels: LabelsRef<'_>, value: Number) {
        self.push(labels, Value::Gauge(value));
    }
    fn histogram(
        &mut self,
        labels: LabelsRef<'_>,
        bounds: &[f64],
        cumulative: &[u64],
        sum: f64,
        exemplars: Option<&[Option<Exemplar>]>,
    ) {
        let buckets = cumulative
            .iter()
            .enumerate()
            .map(|(i, c)| Bucket {
                upper_bound: bounds.get(i).copied().unwrap_or(f64::INFINITY),
                cumulative_count: *c,
                exemplar: exemplars.and_then(|e| e.get(i).cloned().flatten()),
            })
            .collect();
        let count = cumulative.last().copied().unwrap_or(0);
        self.push(
            labels,
            Value::Histogram {
                buckets,
                sum,
                count,
            },
        );
    }
    fn native_histogram(&mut self, labels: LabelsRef<'_>, h: &NativeHistogramValue) {
        self.push(labels, Value::NativeHistogram(Box::new(h.clone())));
    }
    fn info(&mut self, labels: LabelsRef<'_>) {
        self.push(labels, Value::Info);
    }
    fn unknown(&mut self, labels: LabelsRef<'_>, value: Number) {
        self.push(labels, Value::Unknown(value));
    }
    fn begin(&mut self) -> bool {
        self.mark = Some(self.families.len());
        true
    }
    fn commit(&mut self) {
        self.mark = None;
    }
    fn rollback(&mut self) {
        if let Some(m) = self.mark.take() {
            self.families.truncate(m);
        }
    }
}
