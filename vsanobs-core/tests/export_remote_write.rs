//! The remote-write exporter against real receivers on 127.0.0.1: Prometheus started with
//! `--web.enable-remote-write-receiver` and VictoriaMetrics (`/api/v1/write`). Series come
//! back from their query APIs with the exact labels and values; an outage of 30 s loses
//! nothing with a large enough buffer, and with a small one the dropped count is exactly what
//! is missing from the store, the newest samples being the ones kept.
#![cfg(feature = "remote-write")]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use vsanobs_core::export::remote_write::RemoteWriteExporter;
use vsanobs_core::export::{ExportMetrics, PushPipeline, RetryPolicy};
use vsanobs_core::model::{MetricFamily, MetricKind, Sample};
use vsanobs_core::{
    CollectError, Collector, Counter, Family, FamilySink, FloatGauge, Format, LabelSet, Registry,
};
use vsanobs_testkit::{Prometheus, PrometheusConfig, VictoriaMetrics, vector_samples};

const AWKWARD: &str = "say \"hi\"\\ then\nleave: ü/∑";

#[derive(Clone, Debug, PartialEq, Eq, Hash, LabelSet)]
struct Route {
    route: &'static str,
    note: &'static str,
}

/// A registry with a labelled counter (awkward label value included), a float gauge and a
/// histogram, and the exact series a receiver must return for it.
/// Labels of one series.
type Labels = BTreeMap<String, String>;

fn fixture() -> (Registry, Vec<(Labels, f64)>) {
    let registry = Registry::builder()
        .const_label("site", "lab")
        .build()
        .unwrap();
    let hits = Family::<Route, Counter>::new();
    registry.register("rw_hits", "Hits.", hits.clone()).unwrap();
    hits.get_or_create(&Route {
        route: "/a",
        note: "plain",
    })
    .inc_by(3);
    hits.get_or_create(&Route {
        route: "/b",
        note: AWKWARD,
    })
    .inc_by(12);
    let temp = FloatGauge::default();
    registry
        .register_with_unit("rw_temp_celsius", "Temperature.", "celsius", temp.clone())
        .unwrap();
    temp.set(-3.25);
    let lat = registry
        .histogram("rw_latency_seconds", "Latency.", [0.1, 1.0])
        .unwrap();
    for v in [0.05, 0.5, 0.7, 3.0] {
        lat.observe(v);
    }
    let l = |pairs: &[(&str, &str)]| -> Labels {
        let mut m: Labels = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        m.insert("site".into(), "lab".into());
        m
    };
    let want = vec![
        (
            l(&[
                ("__name__", "rw_hits_total"),
                ("route", "/a"),
                ("note", "plain"),
            ]),
            3.0,
        ),
        (
            l(&[
                ("__name__", "rw_hits_total"),
                ("route", "/b"),
                ("note", AWKWARD),
            ]),
            12.0,
        ),
        (l(&[("__name__", "rw_temp_celsius")]), -3.25),
        (
            l(&[("__name__", "rw_latency_seconds_bucket"), ("le", "0.1")]),
            1.0,
        ),
        (
            l(&[("__name__", "rw_latency_seconds_bucket"), ("le", "1.0")]),
            3.0,
        ),
        (
            l(&[("__name__", "rw_latency_seconds_bucket"), ("le", "+Inf")]),
            4.0,
        ),
        (l(&[("__name__", "rw_latency_seconds_sum")]), 4.25),
        (l(&[("__name__", "rw_latency_seconds_count")]), 4.0),
    ];
    (registry, want)
}

fn push_once(registry: Registry, url: String) {
    let meta = Registry::new();
    let pipeline = PushPipeline::builder(registry)
        .interval(Duration::from_secs(3600))
        .metrics(ExportMetrics::register(&meta).unwrap())
        .exporter(RemoteWriteExporter::builder(url).build().unwrap())
        .build()
        .unwrap();
    let report = pipeline.shutdown(Duration::from_secs(30));
    assert!(report.is_complete(), "{report:?}");
    let text = meta.encode_to_string(Format::PrometheusText);
    assert!(
        text.contains(
            "vsanobs_export_requests_total{exporter=\"remote_write\",result=\"success\"} 1\n"
        ),
        "{text}"
    );
}

fn check(got: Vec<vsanobs_testkit::Sample>, want: &[(Labels, f64)]) {
    let got: BTreeMap<Labels, f64> = got
        .into_iter()
        .map(|s| (s.labels, s.value.parse::<f64>().unwrap()))
        .collect();
    let want: BTreeMap<Labels, f64> = want.iter().cloned().collect();
    assert_eq!(got, want);
}

#[test]
fn remote_write_to_prometheus_exact_series() {
    let prom = Prometheus::start(PrometheusConfig {
        extra_args: vec!["--web.enable-remote-write-receiver".into()],
        ..PrometheusConfig::default()
    })
    .unwrap_or_else(|e| panic!("cannot start Prometheus: {e}"));
    let (registry, want) = fixture();
    push_once(registry, prom.remote_write_url());
    let result = prom
        .wait_for(
            "{__name__=~\"rw_.*\"}",
            |r| r.as_array().is_some_and(|a| a.len() == want.len()),
            Duration::from_secs(30),
        )
        .unwrap();
    check(vector_samples(&result), &want);
}

#[test]
fn remote_write_to_victoriametrics_exact_series() {
    let vm =
        VictoriaMetrics::start().unwrap_or_else(|e| panic!("cannot start VictoriaMetrics: {e}"));
    let (registry, want) = fixture();
    push_once(registry, vm.remote_write_url());
    let result = vm
        .wait_for(
            "{__name__=~\"rw_.*\"}",
            |r| r.as_array().is_some_and(|a| a.len() == want.len()),
            Duration::from_secs(30),
        )
        .unwrap();
    check(vector_samples(&result), &want);
}

// ---------------------------------------------------------------------------------- outage

/// A counter whose value is the number of times it was collected: batch `n` carries value
/// `n`, so the store shows exactly which batches arrived.
#[derive(Debug, Default, Clone)]
struct Ticks(Arc<AtomicU64>);

impl Collector for Ticks {
    fn name(&self) -> &str {
        "ticks"
    }
    fn collect_into(&self, sink: &mut FamilySink<'_>) -> Result<(), CollectError> {
        let n = self.0.fetch_add(1, Ordering::SeqCst) + 1;
        sink.push(
            MetricFamily::new("outage_ticks", "Batches gathered.", MetricKind::Counter)
                .with_sample(Sample::counter_int(n)),
        );
        Ok(())
    }
}

fn metric(text: &str, line_start: &str) -> u64 {
    text.lines()
        .find(|l| l.starts_with(line_start))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{line_start} not found in\n{text}"))
}

/// Runs: 3 s up, 30 s down (a counter rising all along), restart on the same port and data
/// directory, drain, stop. Returns the values stored for the counter, the number of batches
/// gathered, and the self-metrics text.
fn outage(buffer_batches: usize) -> (Vec<u64>, u64, String, u64) {
    let mut vm =
        VictoriaMetrics::start().unwrap_or_else(|e| panic!("cannot start VictoriaMetrics: {e}"));
    let registry = Registry::new();
    let ticks = Ticks::default();
    registry.register_collector(ticks.clone()).unwrap();
    // Each batch: the counter and `vsanobs_scrape_collector_success{collector="ticks"}`.
    let per_batch = 2;
    let meta = Registry::new();
    let pipeline = PushPipeline::builder(registry)
        .interval(Duration::from_millis(250))
        .timeout(Duration::from_secs(5))
        .max_buffered_samples(buffer_batches * per_batch)
        .retry(RetryPolicy {
            min_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(1),
            ..RetryPolicy::default()
        })
        .metrics(ExportMetrics::register(&meta).unwrap())
        .exporter(
            RemoteWriteExporter::builder(vm.remote_write_url())
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    std::thread::sleep(Duration::from_secs(3));
    vm.stop();
    let down_from = ticks.0.load(Ordering::SeqCst);
    std::thread::sleep(Duration::from_secs(30));
    let down_to = ticks.0.load(Ordering::SeqCst);
    assert!(
        down_to - down_from >= 60,
        "the counter kept rising during the outage"
    );
    vm.start_again().unwrap();
    // Wait until the backlog is delivered (bounded), then run a little longer.
    let deadline = Instant::now() + Duration::from_secs(60);
    while pipeline.buffered_samples()[0].1 > per_batch && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs(2));
    let report = pipeline.shutdown(Duration::from_secs(30));
    assert!(report.is_complete(), "{report:?}");
    let gathered = ticks.0.load(Ordering::SeqCst);
    let text = meta.encode_to_string(Format::PrometheusText);
    let sent_batches = metric(
        &text,
        "vsanobs_export_sent_samples_total{exporter=\"remote_write\"}",
    ) / 2;
    // Wait (bounded) until everything reported sent is visible to queries.
    let count = |s: &[_]| -> u64 {
        s.first()
            .and_then(|x: &vsanobs_testkit::serde_json::Value| {
                x["values"].as_array().map(|v| v.len() as u64)
            })
            .unwrap_or(0)
    };
    let series = vm
        .wait_for_export(
            "outage_ticks_total",
            |s| count(s) >= sent_batches,
            Duration::from_secs(30),
        )
        .unwrap();
    assert_eq!(series.len(), 1);
    let mut values: Vec<u64> = series[0]["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap() as u64)
        .collect();
    values.sort_unstable();
    let succ = vm.export("vsanobs_scrape_collector_success").unwrap();
    assert_eq!(
        succ[0]["values"].as_array().unwrap().len(),
        values.len(),
        "both series of a batch are stored or dropped together"
    );
    (values, gathered, text, down_from)
}

#[test]
fn remote_write_outage_large_buffer_loses_nothing() {
    let (values, gathered, text, down_from) = outage(10_000);
    let mut stored = values.clone();
    stored.dedup();
    assert_eq!(
        stored,
        (1..=gathered).collect::<Vec<_>>(),
        "every batch is stored"
    );
    // Delivery is at least once: a request cut off by the receiver's stop may have been
    // stored before the connection broke; the exporter got no answer and sends it again. Only
    // that request, the last one before the stop, may be stored twice.
    let twice: Vec<u64> = values
        .windows(2)
        .filter(|w| w[0] == w[1])
        .map(|w| w[0])
        .collect();
    assert!(
        twice.len() <= 1 && twice.iter().all(|&v| v <= down_from && v + 2 >= down_from),
        "stored twice: {twice:?} (the receiver stopped after batch {down_from})"
    );
    let dropped =
        "vsanobs_export_dropped_samples_total{exporter=\"remote_write\",reason=\"buffer_full\"}";
    assert_eq!(metric(&text, dropped), 0);
    assert!(
        metric(
            &text,
            "vsanobs_export_retries_total{exporter=\"remote_write\"}"
        ) > 0
    );
    let sent = metric(
        &text,
        "vsanobs_export_sent_samples_total{exporter=\"remote_write\"}",
    );
    assert_eq!(sent, 2 * gathered);
}

#[test]
fn remote_write_outage_small_buffer_drops_oldest_exactly() {
    const BUFFER_BATCHES: usize = 20;
    let (values, gathered, text, _) = outage(BUFFER_BATCHES);
    let missing: Vec<u64> = (1..=gathered)
        .filter(|v| values.binary_search(v).is_err())
        .collect();
    let dropped = metric(
        &text,
        "vsanobs_export_dropped_samples_total{exporter=\"remote_write\",reason=\"buffer_full\"}",
    );
    assert!(
        !missing.is_empty(),
        "a 30 s outage must overflow a {BUFFER_BATCHES}-batch buffer"
    );
    assert_eq!(
        dropped,
        2 * missing.len() as u64,
        "dropped count equals what is missing"
    );
    // What is missing is one contiguous run: the oldest batches of the outage. Everything
    // after it (the newest batches, which fitted the buffer) was delivered.
    let (first, last) = (missing[0], missing[missing.len() - 1]);
    assert_eq!(
        last - first + 1,
        missing.len() as u64,
        "missing {missing:?}"
    );
    assert!(
        values.contains(&(first - 1)),
        "samples before the outage were delivered"
    );
    let kept_after = values.iter().filter(|v| **v > last).count() as u64;
    assert_eq!(
        kept_after,
        gathered - last,
        "every batch newer than the drops is stored"
    );
    // The buffer kept (about) its capacity of outage batches: the ones right before recovery.
    let sent = metric(
        &text,
        "vsanobs_export_sent_samples_total{exporter=\"remote_write\"}",
    );
    assert_eq!(sent, 2 * values.len() as u64);
    assert_eq!(sent + dropped, 2 * gathered);
}

/// With `native_histograms(true)`, a native histogram reaches Prometheus (native histograms
/// enabled) as one native series: `histogram_count`, `histogram_sum` and a quantile within
/// the schema's relative error come back, and no classic `_bucket` series exists.
#[test]
fn remote_write_native_histograms_to_prometheus() {
    let prom = Prometheus::start(PrometheusConfig {
        extra_args: vec![
            "--web.enable-remote-write-receiver".into(),
            "--enable-feature=native-histograms".into(),
        ],
        ..PrometheusConfig::default()
    })
    .unwrap_or_else(|e| panic!("cannot start Prometheus: {e}"));
    let registry = Registry::new();
    let h = vsanobs_core::NativeHistogram::new(3).unwrap();
    let values: Vec<f64> = (1..=400).map(|i| f64::from(i) * 0.01).collect();
    for v in &values {
        h.observe(*v);
    }
    h.observe(-1.5);
    h.observe(0.0);
    registry
        .register("rw_native_seconds", "Native.", h)
        .unwrap();
    let meta = Registry::new();
    let pipeline = PushPipeline::builder(registry)
        .interval(Duration::from_secs(3600))
        .metrics(ExportMetrics::register(&meta).unwrap())
        .exporter(
            RemoteWriteExporter::builder(prom.remote_write_url())
                .native_histograms(true)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let report = pipeline.shutdown(Duration::from_secs(30));
    assert!(report.is_complete(), "{report:?}");
    let one = |q: &str| -> f64 {
        let r = prom
            .wait_for(
                q,
                |r| r.as_array().is_some_and(|a| a.len() == 1),
                Duration::from_secs(30),
            )
            .unwrap_or_else(|e| panic!("{q}: {e}\n{}", prom.log_tail()));
        vector_samples(&r)[0].value.parse().unwrap()
    };
    assert_eq!(one("histogram_count(rw_native_seconds)"), 402.0);
    let sum: f64 = values.iter().sum::<f64>() - 1.5;
    assert!((one("histogram_sum(rw_native_seconds)") - sum).abs() < 1e-9);
    let median = one("histogram_quantile(0.5, rw_native_seconds)");
    assert!(
        (median / 1.99 - 1.0).abs() <= 2f64.powf(0.125) - 1.0,
        "{median}"
    );
    let classic = prom.query("rw_native_seconds_bucket").unwrap();
    assert!(vector_samples(&classic).is_empty(), "{classic}");
}
