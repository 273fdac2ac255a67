//! A [`Collector`] that serves a [`prometheus_client::registry::Registry`] through a vsanobs
//! [`Registry`]: instrumentation written against prometheus-client keeps working unchanged
//! and appears on the same `/metrics`, in both text formats, exemplars kept.
//!
//! At each scrape the collector has prometheus-client encode its registry with its own
//! OpenMetrics encoder, reads that text back into vsanobs families and hands them to the
//! registry, so every sample is the value prometheus-client itself would have served.
//! Counters, gauges, histograms, info and unknown metrics are kept with their type, help
//! and unit. Exemplars are kept as prometheus-client wrote them: any labels (a `trace_id`
//! alone, custom labels), the value, and the timestamp if it has one (none otherwise), so
//! the OpenMetrics output writes them exactly as prometheus-client's own encoder does and
//! the protobuf format carries them too. An exemplar label name that is not a valid label
//! name is rewritten; an exemplar whose labels still break the OpenMetrics rules (a name
//! twice, more than 128 characters of names and values) is dropped, the sample kept.
//!
//! Invalid names and label names are rewritten ([`sanitize`](crate::sanitize)), and
//! everything rewritten or dropped is counted in
//! `vsanobs_bridge_problems_total{bridge="<collector name>",reason}`. A prometheus-client
//! registry that panics while encoding (a custom `Collector` of its own, say) is isolated
//! like any vsanobs collector: its output is dropped for that scrape, the rest is served
//! and `vsanobs_scrape_collector_success{collector="<name>"}` reads 0.
//!
//! # Example
//!
//! ```
//! use prometheus_client::metrics::counter::Counter;
//! use prometheus_client::metrics::family::Family;
//! use vsanobs_bridge::prometheus_client::PrometheusClientCollector;
//! use vsanobs_core::{Format, Registry};
//!
//! // Instrumentation written against prometheus-client...
//! let mut foreign = prometheus_client::registry::Registry::default();
//! let hits = Family::<Vec<(String, String)>, Counter>::default();
//! foreign.register("cache_hits", "Cache hits.", hits.clone());
//! hits.get_or_create(&vec![("cache".into(), "users".into())]).inc_by(3);
//!
//! // ...served by a vsanobs registry beside its own families.
//! let registry = Registry::new();
//! PrometheusClientCollector::new("legacy", foreign).register(&registry)?;
//! let text = registry.encode_to_string(Format::PrometheusText);
//! assert!(text.contains("# TYPE cache_hits_total counter\n"));
//! assert!(text.contains("cache_hits_total{cache=\"users\"} 3\n"));
//! assert!(text.contains("vsanobs_scrape_collector_success{collector=\"legacy\"} 1\n"));
//! # Ok::<(), vsanobs_core::RegistryError>(())
//! ```

use std::sync::Arc;

use parking_lot::RwLock;
use prometheus_client::registry::Registry as ForeignRegistry;
use vsanobs_core::model::{Bucket, Exemplar, ExemplarLabels, MetricKind, Number, Value};
use vsanobs_core::{CollectError, Collector, FamilySink, Registry, RegistryError};

use crate::emit::{Emitter, label_set};
use crate::problems::{self, Problem};
use crate::sanitize;

enum Source {
    Owned(ForeignRegistry),
    Shared(Arc<RwLock<ForeignRegistry>>),
}

/// Serves a prometheus-client registry through a vsanobs [`Registry`]; see the
/// [module docs](self).
pub struct PrometheusClientCollector {
    name: String,
    source: Source,
}

impl std::fmt::Debug for PrometheusClientCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrometheusClientCollector")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl PrometheusClientCollector {
    /// Serves `registry`, fully built, under the collector name `name` (the `collector`
    /// label of `vsanobs_scrape_collector_success` and the `bridge` label of
    /// `vsanobs_bridge_problems_total`).
    pub fn new(name: impl Into<String>, registry: ForeignRegistry) -> Self {
        PrometheusClientCollector {
            name: name.into(),
            source: Source::Owned(registry),
        }
    }

    /// Serves a registry that the application keeps registering into (take the write lock
    /// to register; a scrape takes the read lock while prometheus-client encodes).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use parking_lot::RwLock;
    /// use prometheus_client::metrics::gauge::Gauge;
    /// use vsanobs_bridge::prometheus_client::PrometheusClientCollector;
    /// use vsanobs_core::{Format, Registry};
    ///
    /// let foreign = Arc::new(RwLock::new(prometheus_client::registry::Registry::default()));
    /// let registry = Registry::new();
    /// PrometheusClientCollector::shared("pc", foreign.clone()).register(&registry)?;
    ///
    /// let depth = Gauge::<i64>::default();
    /// foreign.write().register("queue_depth", "Items waiting.", depth.clone());
    /// depth.set(7);
    /// assert!(registry.encode_to_string(Format::OpenMetrics).contains("queue_depth 7\n"));
    /// # Ok::<(), vsanobs_core::RegistryError>(())
    /// ```
    pub fn shared(name: impl Into<String>, registry: Arc<RwLock<ForeignRegistry>>) -> Self {
        PrometheusClientCollector {
            name: name.into(),
            source: Source::Shared(registry),
        }
    }

    /// Registers this collector and the bridge problem counter in `registry`.
    ///
    /// # Errors
    /// [`RegistryError::DuplicateCollector`] when a collector of this name exists.
    pub fn register(self, registry: &Registry) -> Result<(), RegistryError> {
        registry.register_collector(self)?;
        problems::register(registry);
        Ok(())
    }

    /// prometheus-client's own OpenMetrics text of the registry (what the collector reads).
    fn encode(&self, out: &mut String) -> std::fmt::Result {
        match &self.source {
            Source::Owned(r) => prometheus_client::encoding::text::encode_registry(out, r),
            Source::Shared(r) => prometheus_client::encoding::text::encode_registry(out, &r.read()),
        }
    }
}

impl Collector for PrometheusClientCollector {
    fn name(&self) -> &str {
        &self.name
    }

    fn collect_into(&self, sink: &mut FamilySink<'_>) -> Result<(), CollectError> {
        let mut text = String::new();
        let encoded = self.encode(&mut text);
        let mut em = Emitter::new(&self.name);
        read_text(&text, &mut em);
        em.finish(sink);
        encoded.map_err(|_| {
            CollectError::new("prometheus-client failed to encode its registry; served what it wrote before the failure")
        })
    }
}

/// The family being read.
struct Current {
    /// Index in the emitter, `None` when the family was dropped.
    idx: Option<usize>,
    /// The name as written (to match sample names against).
    raw: String,
    kind: MetricKind,
    /// Histogram series being assembled: labels without `le`, buckets, sum, count.
    hist: Vec<HistSeries>,
}

struct HistSeries {
    labels: Vec<(String, String)>,
    buckets: Vec<Bucket>,
    sum: f64,
    count: Option<u64>,
}

/// Reads prometheus-client's OpenMetrics text into `em`. Unreadable lines are counted and
/// skipped; nothing here fails.
pub(crate) fn read_text(text: &str, em: &mut Emitter<'_>) {
    let mut cur: Option<Current> = None;
    let mut help = String::new();
    let mut unit: Option<String> = None;
    let mut pending: Option<(String, MetricKind)> = None;
    for line in text.lines() {
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# ") {
            let (kw, rest) = rest.split_once(' ').unwrap_or((rest, ""));
            match kw {
                "EOF" => break,
                "HELP" => {
                    close(em, cur.take());
                    pending = None;
                    // Read with the name once the TYPE line gives it: prometheus-client
                    // writes names as registered, spaces included.
                    help = rest.to_owned();
                    unit = None;
                }
                "TYPE" => {
                    close(em, cur.take());
                    // The type is the last word; the name everything before it.
                    let (name, arg) = rest.rsplit_once(' ').unwrap_or((rest, ""));
                    if let Some(h) = help.strip_prefix(name) {
                        help = h.strip_prefix(' ').unwrap_or(h).to_owned();
                    }
                    let kind = match arg.trim() {
                        "counter" => Some(MetricKind::Counter),
                        "gauge" => Some(MetricKind::Gauge),
                        "histogram" => Some(MetricKind::Histogram),
                        "info" => Some(MetricKind::Info),
                        "unknown" | "untyped" => Some(MetricKind::Unknown),
                        _ => None,
                    };
                    match kind {
                        Some(k) => pending = Some((name.to_owned(), k)),
                        None => {
                            problems::count(em.bridge(), Problem::UnsupportedType);
                            cur = Some(Current {
                                idx: None,
                                raw: name.to_owned(),
                                kind: MetricKind::Unknown,
                                hist: Vec::new(),
                            });
                            pending = None;
                        }
                    }
                }
                "UNIT" => {
                    unit = rest.rsplit_once(' ').map(|(_, u)| u.trim().to_owned());
                }
                _ => {}
            }
            continue;
        }
        if let Some((raw, kind)) = pending.take() {
            let name = sanitize::metric_name(&raw);
            if let std::borrow::Cow::Owned(_) = name {
                problems::count(em.bridge(), Problem::InvalidMetricName);
            }
            let idx = em.family(&name, &help, unit.as_deref(), kind);
            cur = Some(Current {
                idx,
                raw,
                kind,
                hist: Vec::new(),
            });
        }
        let Some(c) = cur.as_mut() else {
            problems::count(em.bridge(), Problem::Unreadable);
            continue;
        };
        // The sample name is the family's name as written plus a type suffix.
        let Some(s) = line.strip_prefix(c.raw.as_str()).and_then(parse_sample) else {
            problems::count(em.bridge(), Problem::Unreadable);
            continue;
        };
        let Some(idx) = c.idx else { continue };
        let suffix = s.name;
        sample(em, c, idx, suffix, s);
    }
    close(em, cur);
}

fn sample<'b>(em: &mut Emitter<'b>, c: &mut Current, idx: usize, suffix: &str, s: Line<'_>) {
    // The bridge name outlives the emitter borrow: it is the collector's own name.
    let bridge = em.bridge_name();
    let exemplar = s.exemplar.and_then(|e| exemplar(bridge, e));
    let pairs = || s.labels.iter().map(|(k, v)| (k.as_str(), v.as_str()));
    match (c.kind, suffix) {
        (MetricKind::Counter, "_total") => {
            let Some(value) = number(s.value, true) else {
                return problems::count(bridge, Problem::Unreadable);
            };
            em.sample(
                idx,
                label_set(bridge, pairs()),
                Value::Counter { value, exemplar },
            );
        }
        (MetricKind::Counter | MetricKind::Histogram, "_created") => {}
        (MetricKind::Gauge, "") => match number(s.value, false) {
            Some(v) => em.sample(idx, label_set(bridge, pairs()), Value::Gauge(v)),
            None => problems::count(bridge, Problem::Unreadable),
        },
        (MetricKind::Unknown, "") => match number(s.value, false) {
            Some(v) => em.sample(idx, label_set(bridge, pairs()), Value::Unknown(v)),
            None => problems::count(bridge, Problem::Unreadable),
        },
        (MetricKind::Info, "_info") => {
            em.sample(idx, label_set(bridge, pairs()), Value::Info);
        }
        (MetricKind::Histogram, "_bucket" | "_sum" | "_count") => {
            let le = s
                .labels
                .iter()
                .find(|(k, _)| k == "le")
                .map(|(_, v)| v.clone());
            let labels = label_set(
                bridge,
                s.labels
                    .iter()
                    .filter(|(k, _)| k != "le")
                    .map(|(k, v)| (k.as_str(), v.as_str())),
            );
            let pos = c.hist.iter().position(|h| h.labels == labels);
            let h = match pos {
                Some(p) => &mut c.hist[p],
                None => {
                    c.hist.push(HistSeries {
                        labels,
                        buckets: Vec::new(),
                        sum: 0.0,
                        count: None,
                    });
                    let last = c.hist.len() - 1;
                    &mut c.hist[last]
                }
            };
            let v = parse_float(s.value);
            match (suffix, v, le.as_deref().map(parse_float)) {
                ("_bucket", Some(v), Some(Some(le))) => h.buckets.push(Bucket {
                    upper_bound: le,
                    cumulative_count: v as u64,
                    exemplar,
                }),
                ("_sum", Some(v), _) => h.sum = v,
                ("_count", Some(v), _) => h.count = Some(v as u64),
                _ => problems::count(bridge, Problem::Unreadable),
            }
        }
        _ => problems::count(bridge, Problem::Unreadable),
    }
}

/// Ends a family: histogram series assembled so far are added.
fn close(em: &mut Emitter<'_>, cur: Option<Current>) {
    let Some(c) = cur else { return };
    let Some(idx) = c.idx else { return };
    for h in c.hist {
        let ok = h
            .buckets
            .last()
            .is_some_and(|b| b.upper_bound == f64::INFINITY)
            && h.buckets.windows(2).all(|w| {
                w[1].upper_bound > w[0].upper_bound
                    && w[1].cumulative_count >= w[0].cumulative_count
            });
        if !ok {
            problems::count(em.bridge(), Problem::InvalidValue);
            continue;
        }
        let count = h
            .count
            .unwrap_or_else(|| h.buckets.last().map_or(0, |b| b.cumulative_count));
        em.sample(
            idx,
            h.labels,
            Value::Histogram {
                buckets: h.buckets,
                sum: h.sum,
                count,
            },
        );
    }
}

/// One sample line.
struct Line<'a> {
    /// The type suffix (`_total`, `_bucket`, ... or empty).
    name: &'a str,
    labels: Vec<(String, String)>,
    value: &'a str,
    exemplar: Option<RawExemplar<'a>>,
}

struct RawExemplar<'a> {
    labels: Vec<(String, String)>,
    value: &'a str,
    timestamp: Option<&'a str>,
}

fn parse_float(s: &str) -> Option<f64> {
    match s {
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        _ => s.parse().ok(),
    }
}

/// A value token as a number, integers kept as integers.
fn number(s: &str, unsigned: bool) -> Option<Number> {
    if !s.contains(['.', 'e', 'E', 'I', 'N']) {
        if unsigned {
            if let Ok(v) = s.parse::<u64>() {
                return Some(Number::Uint(v));
            }
        } else if let Ok(v) = s.parse::<i64>() {
            return Some(Number::Int(v));
        }
    }
    parse_float(s).map(Number::Float)
}

/// A `{k="v",...}` label set at the start of `s`; returns the labels and the rest.
fn labels(s: &str) -> Option<(Vec<(String, String)>, &str)> {
    let Some(mut rest) = s.strip_prefix('{') else {
        return Some((Vec::new(), s));
    };
    let mut out = Vec::new();
    loop {
        rest = rest.trim_start_matches([' ', ',']);
        if let Some(r) = rest.strip_prefix('}') {
            return Some((out, r));
        }
        let (k, r) = rest.split_once('=')?;
        let r = r.strip_prefix('"')?;
        let mut value = String::new();
        let mut chars = r.char_indices();
        let end = loop {
            match chars.next()? {
                (i, '"') => break i,
                (_, '\\') => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    c @ ('\\' | '"') => value.push(c),
                    c => {
                        value.push('\\');
                        value.push(c);
                    }
                },
                (_, c) => value.push(c),
            }
        };
        out.push((k.trim().to_owned(), value));
        rest = &r[end + 1..];
    }
}

/// A sample line after the family name: type suffix, labels, value, exemplar.
fn parse_sample(line: &str) -> Option<Line<'_>> {
    let name_end = line.find(['{', ' '])?;
    let (name, rest) = line.split_at(name_end);
    let (labels_, rest) = labels(rest)?;
    let rest = rest.trim_start();
    let (sample, ex) = match rest.split_once(" # ") {
        Some((a, b)) => (a, Some(b)),
        None => (rest, None),
    };
    let mut it = sample.split_whitespace();
    let value = it.next()?;
    let exemplar = match ex {
        Some(e) => {
            let (el, r) = labels(e.trim_start())?;
            let mut parts = r.split_whitespace();
            Some(RawExemplar {
                labels: el,
                value: parts.next()?,
                timestamp: parts.next(),
            })
        }
        None => None,
    };
    Some(Line {
        name,
        labels: labels_,
        value,
        exemplar,
    })
}

/// A vsanobs exemplar with the labels, value and timestamp (or none) prometheus-client
/// wrote. Invalid label names are rewritten (counted); an exemplar whose labels still break
/// the rules (a name twice, more than 128 characters) or whose numbers cannot be read is
/// dropped (counted), the sample kept.
fn exemplar(bridge: &str, e: RawExemplar<'_>) -> Option<Exemplar> {
    let labels = e.labels.into_iter().map(|(k, v)| {
        let name = match sanitize::label_name(&k) {
            std::borrow::Cow::Borrowed(_) => k,
            std::borrow::Cow::Owned(n) => {
                problems::count(bridge, Problem::InvalidLabelName);
                n
            }
        };
        (name, v)
    });
    let labels = ExemplarLabels::new(labels).ok();
    let value = parse_float(e.value);
    let timestamp = match e.timestamp {
        Some(t) => parse_float(t).map(Some),
        None => Some(None),
    };
    match (labels, value, timestamp) {
        (Some(labels), Some(value), Some(timestamp)) => Some(Exemplar {
            labels,
            value,
            timestamp,
        }),
        _ => {
            problems::count(bridge, Problem::ExemplarDropped);
            None
        }
    }
}
