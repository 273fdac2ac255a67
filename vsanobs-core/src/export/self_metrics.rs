//! The pipeline's self-metrics ([`EXPORT_METRICS`]): requests by result, retries, dropped
//! and sent samples, and samples waiting in each exporter's buffer.

use crate::family::Family;
use crate::metrics::{Counter, Gauge};
use crate::model::{MetricDesc, MetricKind};
use crate::registry::{Registry, RegistryError};
use crate::{LabelSet, LabelValue};

const REQUESTS: MetricDesc = MetricDesc {
    name: "vsanobs_export_requests_total",
    kind: MetricKind::Counter,
    help: "Export attempts by exporter and result (success, retry, rejected, failed).",
    unit: None,
    labels: &["exporter", "result"],
};
const RETRIES: MetricDesc = MetricDesc {
    name: "vsanobs_export_retries_total",
    kind: MetricKind::Counter,
    help: "Export attempts that failed with a retryable error and were retried.",
    unit: None,
    labels: &["exporter"],
};
const DROPPED: MetricDesc = MetricDesc {
    name: "vsanobs_export_dropped_samples_total",
    kind: MetricKind::Counter,
    help: "Samples an exporter gave up on, by reason.",
    unit: None,
    labels: &["exporter", "reason"],
};
const SENT: MetricDesc = MetricDesc {
    name: "vsanobs_export_sent_samples_total",
    kind: MetricKind::Counter,
    help: "Samples an exporter delivered.",
    unit: None,
    labels: &["exporter"],
};
const BUFFERED: MetricDesc = MetricDesc {
    name: "vsanobs_export_buffered_samples",
    kind: MetricKind::Gauge,
    help: "Samples waiting in an exporter's buffer.",
    unit: None,
    labels: &["exporter"],
};

/// The metric families the pipeline exports about itself.
pub const EXPORT_METRICS: &[MetricDesc] = &[REQUESTS, RETRIES, DROPPED, SENT, BUFFERED];

/// How one export attempt ended (the `result` label).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, LabelValue)]
pub(super) enum RequestResult {
    Success,
    Retry,
    Rejected,
    Failed,
}

/// Why samples were dropped (the `reason` label).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, LabelValue)]
#[non_exhaustive]
pub enum DropReason {
    /// Pushed out of a full buffer by newer batches.
    BufferFull,
    /// The receiver refused them (4xx other than 429).
    Rejected,
    /// They could not be encoded.
    EncodeError,
    /// A non-retryable error other than a rejection.
    Failed,
    /// The retry limit of the [`RetryPolicy`](super::RetryPolicy) was reached.
    RetriesExhausted,
    /// Still unsent when the shutdown deadline passed.
    Shutdown,
    /// Replaced by a newer batch for an exporter that keeps only the latest state, or (from
    /// a [`SamplePool`](crate::pool::SamplePool)) by a later sample of the same series and
    /// timestamp.
    Superseded,
    /// Drained from a [`SamplePool`](crate::pool::SamplePool) with a series id its
    /// [`SeriesTable`](super::SeriesTable) does not hold.
    UnknownSeries,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, LabelSet)]
struct RequestLabels {
    exporter: String,
    result: RequestResult,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, LabelSet)]
struct DropLabels {
    exporter: String,
    reason: DropReason,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, LabelSet)]
struct ExporterLabel {
    exporter: String,
}

/// The pipeline's self-metrics ([`EXPORT_METRICS`]), registered once per registry and
/// shareable by several pipelines.
#[derive(Clone, Debug)]
pub struct ExportMetrics {
    requests: Family<RequestLabels, Counter>,
    retries: Family<ExporterLabel, Counter>,
    dropped: Family<DropLabels, Counter>,
    sent: Family<ExporterLabel, Counter>,
    buffered: Family<ExporterLabel, Gauge>,
}

impl ExportMetrics {
    /// Creates the families and registers them in `registry`.
    ///
    /// # Errors
    /// [`RegistryError::AlreadyRegistered`] when they are registered there already (share
    /// the first `ExportMetrics` instead).
    pub fn register(registry: &Registry) -> Result<Self, RegistryError> {
        let m = ExportMetrics {
            requests: Family::new(),
            retries: Family::new(),
            dropped: Family::new(),
            sent: Family::new(),
            buffered: Family::new(),
        };
        registry.register(REQUESTS.name, REQUESTS.help, m.requests.clone())?;
        registry.register(RETRIES.name, RETRIES.help, m.retries.clone())?;
        registry.register(DROPPED.name, DROPPED.help, m.dropped.clone())?;
        registry.register(SENT.name, SENT.help, m.sent.clone())?;
        registry.register(BUFFERED.name, BUFFERED.help, m.buffered.clone())?;
        Ok(m)
    }

    /// Pre-binds every series of one exporter.
    pub(super) fn handles(&self, exporter: &str) -> Handles {
        let e = || exporter.to_owned();
        let req = |result| {
            self.requests.get_or_create(&RequestLabels {
                exporter: e(),
                result,
            })
        };
        let drop = |reason| {
            self.dropped.get_or_create(&DropLabels {
                exporter: e(),
                reason,
            })
        };
        Handles {
            success: req(RequestResult::Success),
            retry: req(RequestResult::Retry),
            rejected: req(RequestResult::Rejected),
            failed: req(RequestResult::Failed),
            retries: self.retries.get_or_create(&ExporterLabel { exporter: e() }),
            sent: self.sent.get_or_create(&ExporterLabel { exporter: e() }),
            buffered: self
                .buffered
                .get_or_create(&ExporterLabel { exporter: e() }),
            dropped: [
                DropReason::BufferFull,
                DropReason::Rejected,
                DropReason::EncodeError,
                DropReason::Failed,
                DropReason::RetriesExhausted,
                DropReason::Shutdown,
                DropReason::Superseded,
                DropReason::UnknownSeries,
            ]
            .map(|r| (r, drop(r))),
        }
    }
}

/// Pre-bound self-metric handles of one exporter.
#[derive(Debug)]
pub(super) struct Handles {
    success: Counter,
    retry: Counter,
    rejected: Counter,
    failed: Counter,
    /// `vsanobs_export_retries_total{exporter}`.
    pub(super) retries: Counter,
    /// `vsanobs_export_sent_samples_total{exporter}`.
    pub(super) sent: Counter,
    /// `vsanobs_export_buffered_samples{exporter}`.
    pub(super) buffered: Gauge,
    dropped: [(DropReason, Counter); 8],
}

impl Handles {
    /// Counts `samples` dropped for `reason`.
    pub(super) fn drop(&self, reason: DropReason, samples: usize) {
        if let Some((_, c)) = self.dropped.iter().find(|(r, _)| *r == reason) {
            c.inc_by(samples as u64);
        }
    }
    /// Counts one attempt that ended with `r`.
    pub(super) fn request(&self, r: RequestResult) {
        match r {
            RequestResult::Success => self.success.inc(),
            RequestResult::Retry => self.retry.inc(),
            RequestResult::Rejected => self.rejected.inc(),
            RequestResult::Failed => self.failed.inc(),
        }
    }
}
