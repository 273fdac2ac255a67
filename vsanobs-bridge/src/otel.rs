//! An OpenTelemetry [`MetricReader`] that serves every instrument of an
//! [`SdkMeterProvider`](opentelemetry_sdk::metrics::SdkMeterProvider) through a vsanobs
//! [`Registry`], collected at scrape time (pull), named and typed by the OpenTelemetry
//! specification's Prometheus compatibility rules.
//!
//! [`PrometheusReader`] wraps the SDK's own `ManualReader` (cumulative temporality): the
//! provider aggregates as usual and each scrape of the registry collects it once.
//!
//! | OpenTelemetry | Prometheus |
//! |---|---|
//! | counter, observable counter (monotonic cumulative sum) | counter, `_total` added unless the name ends with it |
//! | up-down counter, observable up-down counter (non-monotonic sum) | gauge |
//! | gauge, observable gauge | gauge |
//! | histogram (explicit buckets) | histogram (`_bucket`/`_sum`/`_count`) |
//! | exponential histogram, delta temporality | dropped (`unsupported_type`) |
//! | resource attributes | one `target_info` info series (none for an empty resource) |
//! | instrumentation scope | `otel_scope_name`, `otel_scope_version` labels on every series; one `otel_scope_info` info series per scope with attributes |
//!
//! Names: characters outside `[a-zA-Z0-9_:]` become `_` (runs collapse), the unit is
//! converted (`s` → `seconds`, `ms` → `milliseconds`, `By` → `bytes`, `1` → `ratio`,
//! `{packet}` dropped, `m/s` → `meters_per_second`) and appended unless the name already
//! contains it, then the type suffix. Attribute names are sanitised the same way; two
//! attributes that sanitise to one name are joined with `;` in the order of the original
//! keys. Two instruments whose names map to the same Prometheus name with different types:
//! the one whose OpenTelemetry name sorts later is dropped (counted as `type_conflict`); with the same type, their series
//! share one family (the first HELP and UNIT kept). Each family holds at most the reader's
//! series cap ([`DEFAULT_SERIES_CAP`] by default); series past it are dropped and counted as
//! `series_overflow` (which ones follows the SDK's order; the SDK has its own cardinality
//! limit, 2,000 attribute sets per instrument unless a view changes it). Exemplars of sums and histograms carrying a trace id are kept, with
//! their filtered attributes as further exemplar labels when they fit OpenMetrics' 128
//! characters (the trace context alone otherwise); the 0.33 SDK does not record exemplars
//! yet, so none appear today.
//!
//! # Example
//!
//! ```
//! use opentelemetry::KeyValue;
//! use opentelemetry::metrics::MeterProvider as _;
//! use opentelemetry_sdk::Resource;
//! use opentelemetry_sdk::metrics::SdkMeterProvider;
//! use vsanobs_bridge::otel::PrometheusReader;
//! use vsanobs_core::{Format, Registry};
//!
//! let registry = Registry::new();
//! let reader = PrometheusReader::new("otel");
//! reader.register(&registry)?;
//! let provider = SdkMeterProvider::builder()
//!     .with_reader(reader.clone())
//!     .with_resource(Resource::builder_empty().with_attribute(KeyValue::new("service.name", "shop")).build())
//!     .build();
//!
//! let meter = provider.meter("checkout");
//! let orders = meter.u64_counter("orders").with_unit("{order}").build();
//! orders.add(3, &[KeyValue::new("payment.method", "card")]);
//! let latency = meter.f64_histogram("http.server.request.duration").with_unit("s").build();
//! latency.record(0.2, &[]);
//!
//! let text = registry.encode_to_string(Format::PrometheusText);
//! assert!(text.contains("orders_total{otel_scope_name=\"checkout\",payment_method=\"card\"} 3\n"));
//! assert!(text.contains("# TYPE http_server_request_duration_seconds histogram\n"));
//! assert!(text.contains("target_info{service_name=\"shop\"} 1\n"));
//! # Ok::<(), vsanobs_core::RegistryError>(())
//! ```

use std::sync::{Arc, Weak};
use std::time::{Duration, UNIX_EPOCH};

use opentelemetry::KeyValue;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::metrics::data::{
    AggregatedMetrics, Exemplar as OtelExemplar, MetricData, ResourceMetrics,
};
use opentelemetry_sdk::metrics::reader::MetricReader;
use opentelemetry_sdk::metrics::{InstrumentKind, ManualReader, Pipeline, Temporality};
use vsanobs_core::model::{Bucket, Exemplar, ExemplarLabels, MetricKind, Number, Value};
use vsanobs_core::{
    CollectError, Collector, DEFAULT_SERIES_CAP, FamilySink, Registry, RegistryError,
};

use crate::emit::{Emitter, label_set};
use crate::problems::{self, Problem};
use crate::sanitize;

#[derive(Debug)]
struct Inner {
    name: String,
    reader: ManualReader,
    cap: usize,
    scope_labels: bool,
}

/// A pull [`MetricReader`] that is also a vsanobs [`Collector`]; see the
/// [module docs](self). Give a clone to the `SdkMeterProvider` and register another in the
/// registry: they share one reader.
#[derive(Debug, Clone)]
pub struct PrometheusReader {
    inner: Arc<Inner>,
}

/// Builds a [`PrometheusReader`].
#[derive(Debug, Clone)]
pub struct ReaderBuilder {
    name: String,
    cap: usize,
    scope_labels: bool,
}

impl ReaderBuilder {
    /// The most series one family may have ([`DEFAULT_SERIES_CAP`] by default, at least 1).
    pub fn series_cap(mut self, cap: usize) -> Self {
        self.cap = cap.max(1);
        self
    }

    /// Leaves out the `otel_scope_name`/`otel_scope_version` labels and `otel_scope_info`
    /// (the specification's opt-out).
    pub fn without_scope_labels(mut self) -> Self {
        self.scope_labels = false;
        self
    }

    /// The reader.
    pub fn build(self) -> PrometheusReader {
        PrometheusReader {
            inner: Arc::new(Inner {
                name: self.name,
                reader: ManualReader::builder()
                    .with_temporality(Temporality::Cumulative)
                    .build(),
                cap: self.cap,
                scope_labels: self.scope_labels,
            }),
        }
    }
}

impl PrometheusReader {
    /// A builder for a reader whose collector is called `name`.
    pub fn builder(name: impl Into<String>) -> ReaderBuilder {
        ReaderBuilder {
            name: name.into(),
            cap: DEFAULT_SERIES_CAP,
            scope_labels: true,
        }
    }

    /// A reader with scope labels and the default series cap.
    pub fn new(name: impl Into<String>) -> Self {
        Self::builder(name).build()
    }

    /// Registers this reader's collector (a clone) and the bridge problem counter in
    /// `registry`.
    ///
    /// # Errors
    /// [`RegistryError::DuplicateCollector`] when a collector of this name exists.
    pub fn register(&self, registry: &Registry) -> Result<(), RegistryError> {
        registry.register_collector(self.clone())?;
        problems::register(registry);
        Ok(())
    }
}

impl MetricReader for PrometheusReader {
    fn register_pipeline(&self, pipeline: Weak<Pipeline>) {
        self.inner.reader.register_pipeline(pipeline);
    }
    fn collect(&self, rm: &mut ResourceMetrics) -> OTelSdkResult {
        self.inner.reader.collect(rm)
    }
    fn force_flush(&self) -> OTelSdkResult {
        self.inner.reader.force_flush()
    }
    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.reader.shutdown_with_timeout(timeout)
    }
    fn temporality(&self, kind: InstrumentKind) -> Temporality {
        self.inner.reader.temporality(kind)
    }
}

/// One unit word, spelled out as Prometheus names it.
fn unit_word(u: &str, per: bool) -> String {
    let w = match (u, per) {
        ("s", false) => "seconds",
        ("s", true) => "second",
        ("ms", _) => "milliseconds",
        ("us", _) => "microseconds",
        ("ns", _) => "nanoseconds",
        ("min", false) => "minutes",
        ("min", true) | ("m", true) => "minute",
        ("h", false) => "hours",
        ("h", true) => "hour",
        ("d", false) => "days",
        ("d", true) => "day",
        ("w", true) => "week",
        ("mo", true) => "month",
        ("y", true) => "year",
        ("By", _) => "bytes",
        ("KiBy", _) => "kibibytes",
        ("MiBy", _) => "mebibytes",
        ("GiBy", _) => "gibibytes",
        ("TiBy", _) => "tibibytes",
        ("KBy", _) => "kilobytes",
        ("MBy", _) => "megabytes",
        ("GBy", _) => "gigabytes",
        ("TBy", _) => "terabytes",
        ("m", false) => "meters",
        ("V", _) => "volts",
        ("A", _) => "amperes",
        ("J", _) => "joules",
        ("W", _) => "watts",
        ("g", _) => "grams",
        ("Cel", _) => "celsius",
        ("Hz", _) => "hertz",
        ("%", _) => "percent",
        (other, _) => return sanitize::label_name(other).trim_matches('_').to_owned(),
    };
    w.to_owned()
}

/// The Prometheus unit of an OpenTelemetry (UCUM) unit: `{...}` annotations dropped, `1` as
/// `ratio`, abbreviations spelled out, `a/b` as `a_per_b`; `None` when nothing is left.
///
/// ```
/// use vsanobs_bridge::otel::prometheus_unit;
///
/// assert_eq!(prometheus_unit("ms").as_deref(), Some("milliseconds"));
/// assert_eq!(prometheus_unit("1").as_deref(), Some("ratio"));
/// assert_eq!(prometheus_unit("By/s").as_deref(), Some("bytes_per_second"));
/// assert_eq!(prometheus_unit("{request}"), None);
/// ```
pub fn prometheus_unit(unit: &str) -> Option<String> {
    let mut clean = String::with_capacity(unit.len());
    let mut depth = 0usize;
    for c in unit.chars() {
        match c {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            c if depth == 0 => clean.push(c),
            _ => {}
        }
    }
    let clean = clean.trim();
    if clean.is_empty() {
        return None;
    }
    if clean == "1" {
        return Some("ratio".to_owned());
    }
    let out = match clean.split_once('/') {
        Some((a, b)) => {
            let (a, b) = (a.trim(), b.trim());
            match (a.is_empty(), b.is_empty()) {
                (true, true) => return None,
                (true, false) => format!("per_{}", unit_word(b, true)),
                (false, true) => unit_word(a, false),
                (false, false) => format!("{}_per_{}", unit_word(a, false), unit_word(b, true)),
            }
        }
        None => unit_word(clean, false),
    };
    (!out.is_empty()).then_some(out)
}

/// The Prometheus family name (without `_total`; `counter` says whether the instrument
/// becomes a counter) and the `# UNIT` of an instrument.
///
/// ```
/// use vsanobs_bridge::otel::prometheus_name;
///
/// let (name, unit) = prometheus_name("http.server.request.duration", "s", false);
/// assert_eq!((name.as_str(), unit.as_deref()), ("http_server_request_duration_seconds", Some("seconds")));
/// // The unit is not added twice; a counter's `_total` is added on output.
/// let (name, _) = prometheus_name("io_bytes_total", "By", true);
/// assert_eq!(name, "io_bytes");
/// ```
pub fn prometheus_name(name: &str, unit: &str, counter: bool) -> (String, Option<String>) {
    let mut base = sanitize::metric_name(name).into_owned();
    if counter {
        if let Some(b) = base.strip_suffix("_total") {
            base = b.to_owned();
        }
    }
    let unit = prometheus_unit(unit);
    if let Some(u) = &unit {
        if !base
            .split('_')
            .collect::<Vec<_>>()
            .windows(u.split('_').count())
            .any(|w| w.join("_") == *u)
        {
            base = format!("{base}_{u}");
        }
    }
    // A unit the name already holds elsewhere than at its end is not a `# UNIT` the
    // registry can check; it stays in the name only.
    let unit = unit.filter(|u| base.ends_with(&format!("_{u}")));
    (base, unit)
}

fn attr_value(kv: &KeyValue) -> String {
    kv.value.as_str().into_owned()
}

fn exemplar<T: Num>(e: &OtelExemplar<T>) -> Option<Exemplar> {
    let (trace_id, span_id) = (*e.trace_id(), *e.span_id());
    if trace_id == [0; 16] {
        return None;
    }
    let timestamp = e.time().duration_since(UNIX_EPOCH).ok()?.as_secs_f64();
    let attrs: Vec<(String, String)> = e
        .filtered_attributes()
        .map(|kv| (kv.key.as_str().to_owned(), attr_value(kv)))
        .collect();
    Some(exemplar_from(
        trace_id,
        span_id,
        &attrs,
        e.value.float(),
        timestamp,
    ))
}

/// An exemplar from an OpenTelemetry one's parts: the trace context alone, or with the
/// filtered attributes as further labels (names sanitised) after `trace_id` and `span_id`.
/// Attributes that would break the exemplar rules (more than 128 characters in all, a name
/// twice after sanitising) are left out and the trace context kept.
fn exemplar_from(
    trace_id: [u8; 16],
    span_id: [u8; 8],
    attrs: &[(String, String)],
    value: f64,
    timestamp: f64,
) -> Exemplar {
    let trace = Exemplar::trace(trace_id, span_id, value, Some(timestamp));
    if attrs.is_empty() {
        return trace;
    }
    let ids = [
        ("trace_id".to_owned(), vsanobs_core::hex::encode(&trace_id)),
        ("span_id".to_owned(), vsanobs_core::hex::encode(&span_id)),
    ];
    let labels = ids.into_iter().chain(
        attrs
            .iter()
            .map(|(k, v)| (sanitize::label_name(k).into_owned(), v.clone())),
    );
    match ExemplarLabels::new(labels) {
        Ok(labels) => Exemplar { labels, ..trace },
        Err(_) => trace,
    }
}

trait Num: Copy {
    fn number(self) -> Number;
    fn float(self) -> f64;
}
impl Num for u64 {
    fn number(self) -> Number {
        Number::Uint(self)
    }
    fn float(self) -> f64 {
        self as f64
    }
}
impl Num for i64 {
    fn number(self) -> Number {
        Number::Int(self)
    }
    fn float(self) -> f64 {
        self as f64
    }
}
impl Num for f64 {
    fn number(self) -> Number {
        Number::Float(self)
    }
    fn float(self) -> f64 {
        self
    }
}

struct Ctx<'a, 'e> {
    em: &'a mut Emitter<'e>,
    scope: &'a [(String, String)],
    cap: usize,
}

impl Ctx<'_, '_> {
    fn labels<'k>(&self, attrs: impl Iterator<Item = &'k KeyValue>) -> Vec<(String, String)> {
        let owned: Vec<(String, String)> = attrs
            .map(|kv| (kv.key.as_str().to_owned(), attr_value(kv)))
            .chain(self.scope.iter().cloned())
            .collect();
        label_set(
            self.em.bridge(),
            owned.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        )
    }

    fn metric<T: Num>(&mut self, name: &str, help: &str, unit: &str, data: &MetricData<T>) {
        let bridge = self.em.bridge().to_owned();
        match data {
            MetricData::Gauge(g) => {
                let (n, u) = prometheus_name(name, unit, false);
                let Some(i) = self.em.family(&n, help, u.as_deref(), MetricKind::Gauge) else {
                    return;
                };
                for (k, p) in g.data_points().enumerate() {
                    if k >= self.cap {
                        problems::count(&bridge, Problem::SeriesOverflow);
                        continue;
                    }
                    let l = self.labels(p.attributes());
                    self.em.sample(i, l, Value::Gauge(p.value().number()));
                }
            }
            MetricData::Sum(s) => {
                if s.temporality() != Temporality::Cumulative {
                    problems::count(&bridge, Problem::UnsupportedType);
                    return;
                }
                let mono = s.is_monotonic();
                let kind = if mono {
                    MetricKind::Counter
                } else {
                    MetricKind::Gauge
                };
                let (n, u) = prometheus_name(name, unit, mono);
                let Some(i) = self.em.family(&n, help, u.as_deref(), kind) else {
                    return;
                };
                for (k, p) in s.data_points().enumerate() {
                    if k >= self.cap {
                        problems::count(&bridge, Problem::SeriesOverflow);
                        continue;
                    }
                    let l = self.labels(p.attributes());
                    let v = p.value().number();
                    let value = if mono {
                        let ex = p.exemplars().filter_map(exemplar).max_by(|a, b| {
                            a.timestamp
                                .unwrap_or(0.0)
                                .total_cmp(&b.timestamp.unwrap_or(0.0))
                        });
                        let v = match v {
                            Number::Int(x) if x >= 0 => Number::Uint(x as u64),
                            other => other,
                        };
                        Value::Counter {
                            value: v,
                            exemplar: ex,
                        }
                    } else {
                        Value::Gauge(v)
                    };
                    self.em.sample(i, l, value);
                }
            }
            MetricData::Histogram(h) => {
                if h.temporality() != Temporality::Cumulative {
                    problems::count(&bridge, Problem::UnsupportedType);
                    return;
                }
                let (n, u) = prometheus_name(name, unit, false);
                let Some(i) = self
                    .em
                    .family(&n, help, u.as_deref(), MetricKind::Histogram)
                else {
                    return;
                };
                for (k, p) in h.data_points().enumerate() {
                    if k >= self.cap {
                        problems::count(&bridge, Problem::SeriesOverflow);
                        continue;
                    }
                    let bounds: Vec<f64> = p.bounds().collect();
                    let exs: Vec<Exemplar> = p.exemplars().filter_map(exemplar).collect();
                    let mut acc = 0u64;
                    let mut buckets = Vec::with_capacity(bounds.len() + 1);
                    for (j, c) in p.bucket_counts().enumerate() {
                        acc += c;
                        let upper = bounds.get(j).copied().unwrap_or(f64::INFINITY);
                        let lower = if j == 0 {
                            f64::NEG_INFINITY
                        } else {
                            bounds[j - 1]
                        };
                        // The largest exemplar that falls in this bucket.
                        let ex = exs
                            .iter()
                            .filter(|e| e.value > lower && e.value <= upper)
                            .max_by(|a, b| a.value.total_cmp(&b.value))
                            .cloned();
                        buckets.push(Bucket {
                            upper_bound: upper,
                            cumulative_count: acc,
                            exemplar: ex,
                        });
                    }
                    if buckets
                        .last()
                        .is_none_or(|b| b.upper_bound != f64::INFINITY)
                    {
                        problems::count(&bridge, Problem::InvalidValue);
                        continue;
                    }
                    let l = self.labels(p.attributes());
                    self.em.sample(
                        i,
                        l,
                        Value::Histogram {
                            buckets,
                            sum: p.sum().float(),
                            count: p.count(),
                        },
                    );
                }
            }
            MetricData::ExponentialHistogram(_) => {
                problems::count(&bridge, Problem::UnsupportedType);
            }
        }
    }
}

impl Collector for PrometheusReader {
    fn name(&self) -> &str {
        &self.inner.name
    }

    fn collect_into(&self, sink: &mut FamilySink<'_>) -> Result<(), CollectError> {
        let mut rm = ResourceMetrics::default();
        self.inner
            .reader
            .collect(&mut rm)
            .map_err(|e| CollectError::new(format!("OpenTelemetry reader: {e}")))?;
        let mut em = Emitter::new(&self.inner.name);
        let resource = rm.resource();
        if !resource.is_empty() {
            let attrs: Vec<(String, String)> = resource
                .iter()
                .map(|(k, v)| (k.as_str().to_owned(), v.as_str().into_owned()))
                .collect();
            let labels = label_set(
                &self.inner.name,
                attrs.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            );
            if let Some(i) = em.family("target", "Target metadata", None, MetricKind::Info) {
                em.sample(i, labels, Value::Info);
            }
        }
        // Scope labels of each scope, and every metric in a fixed order (by name, then
        // scope): the SDK's order varies between collections, and which of two conflicting
        // instruments is kept must not.
        let scopes: Vec<_> = rm.scope_metrics().collect();
        let labels: Vec<Vec<(String, String)>> = scopes
            .iter()
            .map(|sm| {
                let scope = sm.scope();
                let mut l = Vec::new();
                if self.inner.scope_labels {
                    l.push(("otel_scope_name".to_owned(), scope.name().to_owned()));
                    if let Some(v) = scope.version().filter(|v| !v.is_empty()) {
                        l.push(("otel_scope_version".to_owned(), v.to_owned()));
                    }
                }
                l
            })
            .collect();
        // `otel_scope_info` for each scope with attributes: its name, version and attributes.
        if self.inner.scope_labels {
            for (sm, l) in scopes.iter().zip(&labels) {
                let attrs: Vec<(String, String)> = sm
                    .scope()
                    .attributes()
                    .map(|kv| (kv.key.as_str().to_owned(), attr_value(kv)))
                    .collect();
                if attrs.is_empty() {
                    continue;
                }
                let all = label_set(
                    &self.inner.name,
                    l.iter()
                        .chain(&attrs)
                        .map(|(k, v)| (k.as_str(), v.as_str())),
                );
                if let Some(i) = em.family(
                    "otel_scope",
                    "Instrumentation scope metadata",
                    None,
                    MetricKind::Info,
                ) {
                    em.sample(i, all, Value::Info);
                }
            }
        }
        let mut metrics: Vec<(usize, &opentelemetry_sdk::metrics::data::Metric)> = scopes
            .iter()
            .enumerate()
            .flat_map(|(i, sm)| sm.metrics().map(move |m| (i, m)))
            .collect();
        metrics.sort_by(|a, b| {
            (
                a.1.name(),
                scopes[a.0].scope().name(),
                scopes[a.0].scope().version(),
            )
                .cmp(&(
                    b.1.name(),
                    scopes[b.0].scope().name(),
                    scopes[b.0].scope().version(),
                ))
        });
        for (si, m) in metrics {
            let mut ctx = Ctx {
                em: &mut em,
                scope: &labels[si],
                cap: self.inner.cap,
            };
            match m.data() {
                AggregatedMetrics::F64(d) => ctx.metric(m.name(), m.description(), m.unit(), d),
                AggregatedMetrics::U64(d) => ctx.metric(m.name(), m.description(), m.unit(), d),
                AggregatedMetrics::I64(d) => ctx.metric(m.name(), m.description(), m.unit(), d),
            }
        }
        em.finish(sink);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(e: &Exemplar) -> Vec<(String, String)> {
        e.labels
            .pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }

    #[test]
    fn filtered_attributes_become_exemplar_labels_when_they_fit() {
        let (t, s) = ([0x0a; 16], [0x0b; 8]);
        let alone = exemplar_from(t, s, &[], 2.0, 1.5);
        assert_eq!(
            alone.labels,
            ExemplarLabels::Trace {
                trace_id: t,
                span_id: s
            }
        );
        assert_eq!((alone.value, alone.timestamp), (2.0, Some(1.5)));

        let attrs = [("user.id".to_owned(), "42".to_owned())];
        let with = exemplar_from(t, s, &attrs, 2.0, 1.5);
        assert_eq!(
            pairs(&with),
            [
                ("trace_id".to_owned(), "0a".repeat(16)),
                ("span_id".to_owned(), "0b".repeat(8)),
                ("user_id".to_owned(), "42".to_owned()),
            ]
        );
        assert_eq!((with.value, with.timestamp), (2.0, Some(1.5)));

        // Too long in all (the trace ids take 63 characters), or an attribute that sanitises
        // to an id's name: the trace context alone.
        let long = [("note".to_owned(), "x".repeat(80))];
        assert_eq!(exemplar_from(t, s, &long, 2.0, 1.5), alone);
        let clash = [
            ("trace.id".to_owned(), "x".to_owned()),
            ("trace_id".to_owned(), "y".to_owned()),
        ];
        assert_eq!(exemplar_from(t, s, &clash, 2.0, 1.5), alone);
    }
}
