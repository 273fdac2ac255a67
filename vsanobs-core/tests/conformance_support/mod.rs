//! Shared by the conformance tests: a registry holding every metric kind vsanobs defines,
//! and a small exposition-line reader that is independent of vsanobs' own parser.

#![allow(dead_code)] // each test binary uses a different part

use vsanobs_core::model::{MetricFamily, MetricKind, Sample};
use vsanobs_core::{
    CollectError, Collector, Counter, Family, FamilySink, FloatCounter, FloatGauge, Gauge,
    Histogram, Info, LabelSet, LabelValue, Registry, TraceContext,
};

/// Label values that must survive encoding, a real scrape and a query unchanged:
/// `(case, value)`.
pub(crate) const ODD_LABEL_VALUES: &[(&str, &str)] = &[
    ("quote", "say \"hi\""),
    ("backslash", "C:\\temp\\new"),
    ("newline", "line one\nline two"),
    ("spaces", "  leading, inner  and trailing  "),
    ("chinese", "中文标签"),
    ("emoji", "deploy 🚀 ok ✅"),
    ("all", "\"\\\n 中文 😀 \\n"),
    ("escape_lookalike", "\\\"\\\""),
];

#[derive(Clone, Debug, PartialEq, Eq, Hash, LabelValue)]
enum Method {
    Get,
    Post,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, LabelSet)]
struct Route {
    method: Method,
    route: &'static str,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, LabelSet)]
struct Odd {
    case: &'static str,
    value: &'static str,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, LabelSet)]
struct Special {
    value: &'static str,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, LabelSet)]
struct Build {
    version: &'static str,
    commit: &'static str,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, LabelSet)]
struct Component {
    component: &'static str,
}

#[derive(Debug)]
struct Pools;

impl Collector for Pools {
    fn name(&self) -> &str {
        "pools"
    }
    fn collect_into(&self, sink: &mut FamilySink<'_>) -> Result<(), CollectError> {
        sink.push(
            MetricFamily::new("conf_pool_size_bytes", "Pool size.", MetricKind::Gauge)
                .with_unit("bytes")
                .with_sample(Sample::gauge_int(4096).with_label("pool", "small"))
                .with_sample(Sample::gauge(1.5e9).with_label("pool", "large")),
        );
        sink.push(
            MetricFamily::new(
                "conf_pool_evictions",
                "Pool evictions.",
                MetricKind::Counter,
            )
            .with_sample(Sample::counter_int(12).with_label("pool", "small"))
            .with_sample(Sample::counter(0.5).with_label("pool", "large")),
        );
        sink.push(
            MetricFamily::new("conf_pool", "Pool configuration.", MetricKind::Info)
                .with_sample(Sample::info().with_label("policy", "lru")),
        );
        Ok(())
    }
}

/// A registry (prefix `conf`, constant label `env="ci"`) holding every metric kind: counter,
/// float counter, gauge, float gauge, histogram (with and without exemplars), info, a
/// labelled family of each, a collector, NaN/+Inf/-Inf gauges, units, escaped HELP text and
/// the [`ODD_LABEL_VALUES`]. Values are fixed, so every scrape serves the same text.
pub(crate) fn all_kinds_registry() -> Registry {
    let r = Registry::builder()
        .const_label("env", "ci")
        .build()
        .expect("constant labels are valid");
    let trace = TraceContext::from_ids(0x0af7651916cd43dd8448eb211c80319c, 0xb7ad6b7169203331);

    let requests = Counter::default();
    r.register("conf_requests", "Requests handled.", requests.clone())
        .unwrap();
    requests.inc_by(7);
    requests.inc_by_with_exemplar(2, &trace);

    let cpu = FloatCounter::default();
    r.register_with_unit("conf_cpu_seconds", "CPU time used.", "seconds", cpu.clone())
        .unwrap();
    cpu.inc_by(0.25);
    cpu.inc_by(1e-5);

    let queue = Gauge::default();
    r.register("conf_queue_depth", "Items waiting.", queue.clone())
        .unwrap();
    queue.set(-3);

    let temperature = FloatGauge::default();
    r.register_with_unit(
        "conf_temperature_celsius",
        "Temperature with a backslash \\ and a newline\nin its help, 中文 too.",
        "celsius",
        temperature.clone(),
    )
    .unwrap();
    temperature.set(21.125);

    let latency = Histogram::with_exemplars([0.005, 0.1, 0.5, 1.0, 2.5]);
    r.register_with_unit(
        "conf_latency_seconds",
        "Request latency.",
        "seconds",
        latency.clone(),
    )
    .unwrap();
    for v in [0.001, 0.05, 0.05, 0.3, 0.7, 3.0] {
        latency.observe(v);
    }
    latency.observe_with_exemplar(0.42, &trace);

    let unobserved = Histogram::new([1.0, 10.0]);
    r.register_with_unit(
        "conf_unobserved_seconds",
        "Never observed.",
        "seconds",
        unobserved,
    )
    .unwrap();

    r.register(
        "conf_build",
        "Build information.",
        Info::new(Build {
            version: "1.2.3",
            commit: "abc123",
        }),
    )
    .unwrap();

    // A labelled family of each kind.
    let routes = [
        Route {
            method: Method::Get,
            route: "/users/{id}",
        },
        Route {
            method: Method::Post,
            route: "/users",
        },
    ];
    let by_route: Family<Route, Counter> = Family::new();
    r.register(
        "conf_route_requests",
        "Requests by route.",
        by_route.clone(),
    )
    .unwrap();
    let bytes: Family<Route, FloatCounter> = Family::new();
    r.register_with_unit(
        "conf_route_sent_bytes",
        "Bytes sent by route.",
        "bytes",
        bytes.clone(),
    )
    .unwrap();
    let in_flight: Family<Route, Gauge> = Family::new();
    r.register(
        "conf_route_in_flight",
        "Requests in flight.",
        in_flight.clone(),
    )
    .unwrap();
    let ratio: Family<Route, FloatGauge> = Family::new();
    r.register("conf_route_error_ratio", "Error ratio.", ratio.clone())
        .unwrap();
    let durations: Family<Route, Histogram> =
        Family::with_constructor(100, || Histogram::new([0.1, 1.0]));
    r.register_with_unit(
        "conf_route_duration_seconds",
        "Duration by route.",
        "seconds",
        durations.clone(),
    )
    .unwrap();
    for (i, route) in routes.iter().enumerate() {
        let n = i as u64 + 1;
        by_route.get_or_create(route).inc_by(10 * n);
        bytes.get_or_create(route).inc_by(1024.5 * n as f64);
        in_flight.get_or_create(route).set(n as i64);
        ratio.get_or_create(route).set(0.125 * n as f64);
        let h = durations.get_or_create(route);
        h.observe(0.05 * n as f64);
        h.observe(2.0);
    }
    let components: Family<Component, Info<()>> = Family::with_constructor(10, || Info::new(()));
    r.register("conf_component", "Components present.", components.clone())
        .unwrap();
    components.get_or_create(&Component { component: "cache" });
    components.get_or_create(&Component { component: "db" });

    // Non-finite gauge values.
    let special: Family<Special, FloatGauge> = Family::new();
    r.register("conf_special", "Non-finite values.", special.clone())
        .unwrap();
    special
        .get_or_create(&Special { value: "nan" })
        .set(f64::NAN);
    special
        .get_or_create(&Special { value: "pos_inf" })
        .set(f64::INFINITY);
    special
        .get_or_create(&Special { value: "neg_inf" })
        .set(f64::NEG_INFINITY);

    // Label values that need escaping or are not ASCII.
    let odd: Family<Odd, Gauge> = Family::new();
    r.register("conf_odd", "Label values that need care.", odd.clone())
        .unwrap();
    for (i, (case, value)) in ODD_LABEL_VALUES.iter().enumerate() {
        odd.get_or_create(&Odd { case, value }).set(i as i64);
    }

    r.register_collector(Pools).unwrap();
    r
}

/// One sample line of exposition text, read without vsanobs' parser.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Line {
    /// Sample name, with suffixes.
    pub(crate) name: String,
    /// Labels, unescaped, sorted by name.
    pub(crate) labels: Vec<(String, String)>,
    /// The value token as written.
    pub(crate) value: String,
}

impl Line {
    /// Name and label set: what must be unique within one exposition.
    pub(crate) fn series_key(&self) -> (String, Vec<(String, String)>) {
        (self.name.clone(), self.labels.clone())
    }

    /// The value as f64 (`NaN`, `+Inf`, `-Inf` included).
    pub(crate) fn value_f64(&self) -> f64 {
        parse_float(&self.value).unwrap_or_else(|| panic!("bad value in {self:?}"))
    }
}

/// Parses a Prometheus/OpenMetrics float token.
pub(crate) fn parse_float(s: &str) -> Option<f64> {
    match s {
        "NaN" => Some(f64::NAN),
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        _ => s.parse().ok(),
    }
}

/// Every sample line of `text` (comments, blank lines and `# EOF` skipped).
///
/// # Panics
/// On a line that is not `name[{labels}] value[ ...]`.
pub(crate) fn sample_lines(text: &str) -> Vec<Line> {
    text.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| parse_line(l).unwrap_or_else(|e| panic!("{e} in line {l:?}")))
        .collect()
}

fn parse_line(line: &str) -> Result<Line, String> {
    let name_end = line.find(['{', ' ']).ok_or_else(|| "no value".to_owned())?;
    let name = line[..name_end].to_owned();
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(after) = rest.strip_prefix('{') {
        let mut chars = after.char_indices().peekable();
        loop {
            let Some(&(i, c)) = chars.peek() else {
                return Err("unterminated label set".to_owned());
            };
            if c == '}' {
                rest = &after[i + 1..];
                break;
            }
            let mut label = String::new();
            for (_, c) in chars.by_ref() {
                if c == '=' {
                    break;
                }
                label.push(c);
            }
            if chars.next().map(|(_, c)| c) != Some('"') {
                return Err(format!("label {label} value is not quoted"));
            }
            let mut value = String::new();
            loop {
                match chars.next() {
                    Some((_, '\\')) => match chars.next() {
                        Some((_, '\\')) => value.push('\\'),
                        Some((_, '"')) => value.push('"'),
                        Some((_, 'n')) => value.push('\n'),
                        other => return Err(format!("bad escape {other:?}")),
                    },
                    Some((_, '"')) => break,
                    Some((_, c)) => value.push(c),
                    None => return Err("unterminated label value".to_owned()),
                }
            }
            labels.push((label, value));
            if let Some(&(_, ',')) = chars.peek() {
                chars.next();
            }
        }
    }
    let value = rest
        .strip_prefix(' ')
        .ok_or_else(|| "no space before the value".to_owned())?
        .split(' ')
        .next()
        .unwrap_or_default()
        .to_owned();
    if parse_float(&value).is_none() {
        return Err(format!("bad value {value:?}"));
    }
    labels.sort();
    Ok(Line {
        name,
        labels,
        value,
    })
}

/// Panics naming every series (name + label set) that appears more than once in `text`.
pub(crate) fn assert_series_unique(text: &str) {
    let mut seen = std::collections::HashMap::new();
    for line in sample_lines(text) {
        *seen.entry(line.series_key()).or_insert(0usize) += 1;
    }
    let repeated: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(repeated.is_empty(), "series repeated: {repeated:#?}");
}
