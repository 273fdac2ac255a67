//! [`Collector`]: values computed at scrape time, written into the registry's [`FamilySink`].

use super::error::CollectError;
use super::sink::FamilySink;
use crate::model::MetricFamily;

/// Values computed at scrape time (process statistics, a cache's size, an external system).
///
/// Implement [`name`](Self::name) and [`collect_into`](Self::collect_into); the owned form,
/// [`collect`](Self::collect), is provided.
///
/// A collector that returns an error, panics or produces an invalid family does not fail the
/// scrape: its valid families are still served (none of them if it panicked), the failure is
/// logged, and `vsanobs_scrape_collector_success{collector="<name>"}` reads 0.
///
/// A collector runs on every scrape and every gather, on the caller's thread. Series written
/// into the sink with borrowed labels build nothing per series; the registry checks each one
/// as it arrives and the encoder writes it straight into the scrape's buffer.
///
/// # Examples
///
/// ```
/// use vsanobs_core::model::{MetricFamily, MetricKind, Sample};
/// use vsanobs_core::{CollectError, Collector, FamilySink, Format, Registry};
///
/// #[derive(Debug)]
/// struct Uptime;
/// impl Collector for Uptime {
///     fn name(&self) -> &str { "uptime" }
///     fn collect_into(&self, sink: &mut FamilySink<'_>) -> Result<(), CollectError> {
///         // A whole owned family; stream many series with `sink.family` + `sink.gauge`.
///         sink.push(MetricFamily::new("app_uptime_seconds", "Uptime.", MetricKind::Gauge)
///             .with_sample(Sample::gauge(12.5)));
///         Ok(())
///     }
/// }
///
/// let r = Registry::new();
/// r.register_collector(Uptime).unwrap();
/// let text = r.encode_to_string(Format::PrometheusText);
/// assert!(text.contains("app_uptime_seconds 12.5\n"));
/// assert!(text.contains("vsanobs_scrape_collector_success{collector=\"uptime\"} 1\n"));
///
/// // The same values as owned families, for a push exporter or a test.
/// let mut owned = Vec::new();
/// Uptime.collect(&mut owned).unwrap();
/// assert_eq!(owned, [MetricFamily::new("app_uptime_seconds", "Uptime.", MetricKind::Gauge)
///     .with_sample(Sample::gauge(12.5))]);
/// ```
///
/// A collector that mirrors many series streams them with borrowed labels:
///
/// ```
/// use vsanobs_core::model::{MetricKind, Number};
/// use vsanobs_core::{CollectError, Collector, FamilySink, Format, Registry};
///
/// /// The length of some queue, read at scrape time.
/// #[derive(Debug)]
/// struct QueueDepth(Vec<(&'static str, usize)>);
///
/// impl Collector for QueueDepth {
///     fn name(&self) -> &str { "queues" }
///     fn collect_into(&self, sink: &mut FamilySink<'_>) -> Result<(), CollectError> {
///         sink.family("queue_depth", "Items waiting.", None, MetricKind::Gauge);
///         for (queue, len) in &self.0 {
///             sink.gauge(&[&[("queue", *queue)]], Number::Int(*len as i64));
///         }
///         Ok(())
///     }
/// }
///
/// let r = Registry::new();
/// r.register_collector(QueueDepth(vec![("ingest", 3), ("retry", 0)]))?;
/// assert_eq!(
///     r.encode_to_string(Format::PrometheusText),
///     "# HELP queue_depth Items waiting.\n\
///      ## TYPE queue_depth gauge\n\
///      queue_depth{queue=\"ingest\"} 3\n\
///      queue_depth{queue=\"retry\"} 0\n\
///      ## HELP vsanobs_scrape_collector_success Whether the collector succeeded on the last scrape (1) or failed (0).\n\
///      ## TYPE vsanobs_scrape_collector_success gauge\n\
///      vsanobs_scrape_collector_success{collector=\"queues\"} 1\n"
/// );
/// # Ok::<(), vsanobs_core::RegistryError>(())
/// ```
pub trait Collector: Send + Sync + 'static {
    /// A short stable name, used as the `collector` label.
    fn name(&self) -> &str;

    /// Writes the current families into `sink`: what a scrape and a gather call.
    ///
    /// Stream series with borrowed labels ([`FamilySink::family`], then
    /// [`FamilySink::counter`] / [`gauge`](FamilySink::gauge) / [`unknown`](FamilySink::unknown)
    /// for each series), or hand over whole owned families with [`FamilySink::push`]. Every
    /// family and series is checked as it arrives; an invalid one is dropped alone.
    ///
    /// # Errors
    /// Return an error when some values could not be read; what was written before the
    /// error is still exported.
    fn collect_into(&self, sink: &mut FamilySink<'_>) -> Result<(), CollectError>;

    /// Appends the current families to `out` as owned values, for push exporters and tests:
    /// [`collect_into`](Self::collect_into) run against a sink that builds owned families
    /// ([`FamilySink::collect_owned`]). Names carry no registry prefix and no type suffix
    /// (`jobs`, not `app_jobs_total`), as [`Registry::gather`](crate::Registry::gather)
    /// gives them without the prefix.
    ///
    /// Provided; an implementation has no reason to replace it.
    ///
    /// # Errors
    /// The error [`collect_into`](Self::collect_into) returned, or an error saying that
    /// invalid samples or families were dropped (the valid ones are still in `out`).
    fn collect(&self, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        FamilySink::collect_owned(out, |sink| self.collect_into(sink))
    }
}
