//! Remote write of every vSAN interval into a real Prometheus (remote-write receiver) and a
//! real VictoriaMetrics. Two hours of simulated intervals run in seconds: the simulator's
//! clock is frozen two hours in the past and moved one interval per collection. After each
//! collection the engine's own /metrics output gives, for every series, the value of the
//! interval just collected (a gauge's latest value, a counter's total); the receiver must
//! hold exactly those values at exactly those vSAN timestamps: none missing, none extra,
//! none twice (VictoriaMetrics' `/api/v1/export` returns raw samples, duplicates included;
//! and the exporter's sent-sample counter equals what is stored). With the receiver stopped
//! for half an hour of intervals and restarted on the same port and data, a large pool
//! loses nothing; a small one loses exactly what `vsanobs_pool_dropped_samples_total` says.

mod vsan_support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use vcsim::{SimConfig, Simulator};
use vsan_exporter::engine::EngineOptions;
use vsan_exporter::push::{RemoteWrite, RemoteWriteOptions};
use vsan_exporter::summary::SummaryOptions;
use vsan_support::{close, engine_options, engine_with_registry, target};
use vsanobs_core::testutil::parse;
use vsanobs_core::{Format, Registry};
use vsanobs_testkit::{Prometheus, PrometheusConfig, VictoriaMetrics};

/// The simulator's sample interval (seconds) and how many intervals the test runs (2 h).
const INTERVAL: i64 = 60;
const INTERVALS: i64 = 2 * 3600 / INTERVAL;

/// A series as `name{k="v",...}` with labels sorted and empty values left out.
fn series_key(name: &str, labels: &[(String, String)]) -> String {
    let mut l: Vec<&(String, String)> = labels
        .iter()
        .filter(|(k, v)| k != "__name__" && !v.is_empty())
        .collect();
    l.sort();
    let inner: Vec<String> = l.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{name}{{{}}}", inner.join(","))
}

/// The vSAN performance series of the exporter's output (not its self-metrics).
fn is_vsan_series(name: &str) -> bool {
    name.starts_with("vsan_") && !name.starts_with("vsan_exporter_")
}

const SELECTOR: &str = r#"{__name__=~"vsan_.+",__name__!~"vsan_exporter_.+"}"#;

enum Receiver {
    Prometheus(Prometheus),
    Victoria(VictoriaMetrics),
}

impl Receiver {
    fn prometheus() -> Receiver {
        let p = Prometheus::start(PrometheusConfig {
            extra_args: vec!["--web.enable-remote-write-receiver".to_owned()],
            ..PrometheusConfig::default()
        })
        .unwrap_or_else(|e| {
            panic!("cannot start a real Prometheus (run scripts/test to install it): {e}")
        });
        Receiver::Prometheus(p)
    }

    fn victoria() -> Receiver {
        let v = VictoriaMetrics::start().unwrap_or_else(|e| {
            panic!("cannot start a real VictoriaMetrics (run scripts/test to install it): {e}")
        });
        Receiver::Victoria(v)
    }

    fn url(&self) -> String {
        match self {
            Receiver::Prometheus(p) => p.remote_write_url(),
            Receiver::Victoria(v) => v.remote_write_url(),
        }
    }

    fn stop(&mut self) {
        match self {
            Receiver::Prometheus(p) => p.stop(),
            Receiver::Victoria(v) => v.stop(),
        }
    }

    fn start_again(&mut self) {
        let r = match self {
            Receiver::Prometheus(p) => p.start_again(),
            Receiver::Victoria(v) => v.start_again(),
        };
        r.unwrap_or_else(|e| panic!("receiver did not start again: {e}"));
    }

    fn log_tail(&self) -> String {
        match self {
            Receiver::Prometheus(p) => p.log_tail(),
            Receiver::Victoria(v) => v.log_tail(),
        }
    }

    /// Every raw sample stored, as `(series, timestamp ms, value)`, once `delivered` samples
    /// (what the exporter counted as accepted) can be read back, or after 30 s with what
    /// can be read then. Prometheus answers from its head at once; VictoriaMetrics can take
    /// a few seconds, even after a flush, to make new series searchable, more so on a busy
    /// machine.
    fn stored(&self, delivered: usize) -> Vec<(String, i64, f64)> {
        match self {
            Receiver::Prometheus(p) => {
                // An instant query of a range selector returns the raw samples.
                let r = p
                    .query(&format!("{SELECTOR}[3h]"))
                    .unwrap_or_else(|e| panic!("query: {e}"));
                let mut out = Vec::new();
                for s in r.as_array().expect("matrix") {
                    let key = metric_key(&s["metric"]);
                    for v in s["values"].as_array().expect("values") {
                        let t = v[0].as_f64().expect("timestamp");
                        let x: f64 = v[1].as_str().expect("value").parse().expect("number");
                        out.push((key.clone(), (t * 1000.0).round() as i64, x));
                    }
                }
                out
            }
            Receiver::Victoria(v) => {
                let readable = |series: &[serde_json::Value]| {
                    series
                        .iter()
                        .map(|s| s["timestamps"].as_array().map_or(0, Vec::len))
                        .sum::<usize>()
                        >= delivered
                };
                let series = v
                    .wait_for_export(SELECTOR, readable, Duration::from_secs(30))
                    .or_else(|e| {
                        eprintln!("not every delivered sample is readable: {e}");
                        v.export(SELECTOR)
                    })
                    .unwrap_or_else(|e| panic!("export: {e}"));
                let mut out = Vec::new();
                for s in series {
                    let key = metric_key(&s["metric"]);
                    let values = s["values"].as_array().expect("values");
                    let times = s["timestamps"].as_array().expect("timestamps");
                    assert_eq!(values.len(), times.len());
                    for (v, t) in values.iter().zip(times) {
                        out.push((
                            key.clone(),
                            t.as_i64().expect("ms"),
                            v.as_f64().expect("value"),
                        ));
                    }
                }
                out
            }
        }
    }

    /// Whether stored values are compared exactly (Prometheus keeps the f64) or to 1e-9
    /// (VictoriaMetrics stores values as decimal mantissa and exponent).
    fn exact(&self) -> bool {
        matches!(self, Receiver::Prometheus(_))
    }
}

fn metric_key(metric: &serde_json::Value) -> String {
    let obj = metric.as_object().expect("metric labels");
    let name = obj["__name__"].as_str().expect("__name__").to_owned();
    let labels: Vec<(String, String)> = obj
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
        .collect();
    series_key(&name, &labels)
}

/// The value of one sample of the registry's text output.
fn metric(registry: &Registry, name: &str, labels: &[(&str, &str)]) -> f64 {
    let fams = parse(&registry.encode_to_string(Format::PrometheusText)).expect("parses");
    vsanobs_core::testutil::sample_value(&fams, name, labels)
        .unwrap_or_else(|| panic!("{name}{labels:?} not in the exporter's output"))
}

/// The sum of a counter over every label set.
fn metric_sum(registry: &Registry, name: &str) -> f64 {
    let fams = parse(&registry.encode_to_string(Format::PrometheusText)).expect("parses");
    fams.iter()
        .flat_map(|f| &f.samples)
        .filter(|s| s.name == name)
        .map(|s| s.value)
        .sum()
}

/// The test's vCenter: one cluster of two hosts, one disk group each.
fn sim_config() -> SimConfig {
    SimConfig {
        clusters: 1,
        esa_clusters: 0,
        hosts_per_cluster: 2,
        disk_groups_per_host: 1,
        capacity_disks_per_group: 1,
        vms_per_host: 1,
        pnics_per_host: 1,
        interval_secs: INTERVAL,
        ..SimConfig::default()
    }
}

/// Collection options: the first collection takes exactly one interval, like every later
/// one; no health, capacity or resync (they are not interval values).
fn options(step: i64) -> EngineOptions {
    EngineOptions {
        lookback_secs: INTERVAL * step,
        summary: SummaryOptions {
            health: false,
            capacity: false,
            resync: false,
            ..SummaryOptions::default()
        },
        ..engine_options()
    }
}

/// The vSAN series of the engine's output: `(series, value)`.
fn vsan_samples(registry: &Registry) -> Vec<(String, f64)> {
    parse(&registry.encode_to_string(Format::PrometheusText))
        .expect("exporter output parses")
        .iter()
        .flat_map(|f| &f.samples)
        .filter(|s| is_vsan_series(&s.name))
        .map(|s| (series_key(&s.name, &s.labels), s.value))
        .collect()
}

struct Run {
    /// The simulator, for its ground truth.
    sim: Simulator,
    /// The time of the first collection (Unix seconds).
    start: i64,
    /// `(series, timestamp ms)` -> the value the engine computed for that interval.
    expected: BTreeMap<(String, i64), f64>,
    registry: Registry,
    samples_per_interval: usize,
}

/// Wait (bounded) until the exporter has nothing waiting.
async fn drained(rw: &RemoteWrite) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while rw.pending_samples() > 0 {
        assert!(
            Instant::now() < deadline,
            "remote write did not drain: {} samples waiting",
            rw.pending_samples()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Two hours of intervals, collected `step` at a time (one by one unless the exporter
/// missed some), remote-written into `rx` through a pool of `pool_size`; the receiver is
/// down from collection `down.0` to `down.1` when given. The engine's output is recorded at
/// each collection: the values of the interval just collected.
async fn run(rx: &mut Receiver, pool_size: usize, down: Option<(i64, i64)>, step: i64) -> Run {
    let now = vsanobs_core::clock::unix_millis() / 1000;
    // Every timestamp in the past: receivers may refuse samples from the future.
    let start = (now - 2 * 3600 - 300).div_euclid(INTERVAL) * INTERVAL;
    let cfg = sim_config();
    let sim = Simulator::new(cfg.clone());
    sim.freeze_at(start);
    let server = sim
        .clone()
        .serve("127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("start simulator");
    let opts = options(step);
    let (engine, registry) =
        engine_with_registry(target(&server.url(), &cfg.user, &cfg.password), opts);
    let rw = RemoteWrite::start(
        RemoteWriteOptions {
            pool_size,
            flush_interval: Duration::from_millis(20),
            timeout: Duration::from_secs(20),
            ..RemoteWriteOptions::new(rx.url())
        },
        &registry,
    )
    .expect("remote write starts");
    engine.set_push(rw.sink());

    let mut expected = BTreeMap::new();
    let mut samples_per_interval = 0;
    for k in 0..=INTERVALS / step {
        if down.is_some_and(|(from, _)| from == k) {
            // Down between collections, after everything so far was delivered.
            drained(&rw).await;
            tokio::task::block_in_place(|| rx.stop());
        }
        if down.is_some_and(|(_, to)| to == k) {
            tokio::task::block_in_place(|| rx.start_again());
        }
        engine.collect_once().await;
        let t = sim.now();
        let mut n = 0;
        for (series, value) in vsan_samples(&registry) {
            let key = (series, t * 1000);
            assert!(
                expected.insert(key.clone(), value).is_none(),
                "{key:?} twice"
            );
            n += 1;
        }
        assert!(n > 0, "the collection at {t} published nothing");
        if down.is_none_or(|(from, to)| k < from || k >= to) {
            // While the receiver is up, each interval is delivered before the next is
            // collected, so the pool never overflows outside the outage.
            drained(&rw).await;
        }
        if k == 0 {
            samples_per_interval = n;
        } else {
            assert_eq!(n, samples_per_interval, "every interval has every series");
        }
        sim.advance(INTERVAL * step);
    }
    drained(&rw).await;
    let out = tokio::task::block_in_place(|| rw.shutdown(Duration::from_secs(10)));
    assert!(out.is_complete(), "{out:?}");
    server.stop().await;
    Run {
        sim,
        start,
        expected,
        registry,
        samples_per_interval,
    }
}

/// What `rx` stored, read once it holds as many samples as the run's exporter delivered.
fn read_back(rx: &Receiver, run: &Run) -> Vec<(String, i64, f64)> {
    let delivered = sent(&run.registry) as usize;
    tokio::task::block_in_place(|| rx.stored(delivered))
}

/// Compares what `rx` stored with what the engine computed: every stored sample is an
/// expected one with its value, none twice; returns the expected samples not stored.
fn compare(rx: &Receiver, run: &Run) -> Vec<(String, i64)> {
    let stored = read_back(rx, run);
    let mut seen: BTreeMap<(String, i64), f64> = BTreeMap::new();
    for (series, t, v) in stored {
        let key = (series, t);
        let Some(&want) = run.expected.get(&key) else {
            panic!(
                "{key:?} = {v} stored but never collected; log: {}",
                rx.log_tail()
            );
        };
        if rx.exact() {
            assert_eq!(
                v.to_bits(),
                want.to_bits(),
                "{key:?}: stored {v}, computed {want}"
            );
        } else {
            assert!(close(v, want), "{key:?}: stored {v}, computed {want}");
        }
        assert!(
            seen.insert(key.clone(), v).is_none(),
            "{key:?} stored twice"
        );
    }
    run.expected
        .keys()
        .filter(|k| !seen.contains_key(*k))
        .cloned()
        .collect()
}

fn pool_dropped(r: &Registry) -> f64 {
    metric(
        r,
        "vsanobs_pool_dropped_samples_total",
        &[("pool", "vsan_intervals")],
    )
}

fn sent(r: &Registry) -> f64 {
    metric(
        r,
        "vsanobs_export_sent_samples_total",
        &[("exporter", "remote_write")],
    )
}

/// Two hours, the receiver down for the third half hour, a pool large enough: every
/// interval stored once at its vSAN timestamp.
async fn every_interval_once(mut rx: Receiver) {
    let run = run(
        &mut rx,
        1_000_000,
        Some((INTERVALS / 2, INTERVALS * 3 / 4)),
        1,
    )
    .await;
    let missing = compare(&rx, &run);
    eprintln!(
        "{} series x {} intervals = {} samples collected; {} missing",
        run.samples_per_interval,
        INTERVALS + 1,
        run.expected.len(),
        missing.len()
    );
    assert!(
        missing.is_empty(),
        "{} missing, first {:?}",
        missing.len(),
        missing.first()
    );
    assert_eq!(
        run.expected.len(),
        (INTERVALS as usize + 1) * run.samples_per_interval
    );
    assert_eq!(
        sent(&run.registry),
        run.expected.len() as f64,
        "sent once each"
    );
    assert_eq!(pool_dropped(&run.registry), 0.0);
    assert_eq!(
        metric_sum(&run.registry, "vsanobs_export_dropped_samples_total"),
        0.0
    );
    assert!(
        metric(
            &run.registry,
            "vsanobs_export_retries_total",
            &[("exporter", "remote_write")]
        ) > 0.0,
        "the receiver was down: requests were retried"
    );
}

/// The receiver down for half an hour of intervals with a pool of 5 intervals: what is
/// missing is exactly what the pool dropped.
async fn dropped_equals_missing(mut rx: Receiver) {
    // One interval's sample count (the layout's, the same in every run).
    let per_interval = run_probe().await;
    let pool = per_interval * 5;
    let run = run(&mut rx, pool, Some((INTERVALS / 2, INTERVALS / 2 + 30)), 1).await;
    assert_eq!(run.samples_per_interval, per_interval);
    let missing = compare(&rx, &run);
    let dropped = pool_dropped(&run.registry);
    eprintln!(
        "pool of {pool} samples: {} collected, {dropped} dropped by the pool, {} missing",
        run.expected.len(),
        missing.len()
    );
    assert!(dropped > 0.0, "30 intervals do not fit a pool of 5");
    assert_eq!(missing.len() as f64, dropped, "missing = dropped");
    assert_eq!(
        metric_sum(&run.registry, "vsanobs_export_dropped_samples_total"),
        0.0
    );
    assert_eq!(
        sent(&run.registry),
        (run.expected.len() - missing.len()) as f64
    );
    // The newest samples are kept: everything missing is from the outage.
    let (from, to) = (
        run.expected.keys().map(|k| k.1).min().unwrap_or(0) + INTERVALS / 2 * INTERVAL * 1000,
        run.expected.keys().map(|k| k.1).min().unwrap_or(0)
            + (INTERVALS / 2 + 30) * INTERVAL * 1000,
    );
    assert!(
        missing.iter().all(|(_, t)| *t >= from && *t < to),
        "{missing:?}"
    );
}

/// Samples one collection of the test's simulator publishes.
async fn run_probe() -> usize {
    let cfg = sim_config();
    let sim = Simulator::new(cfg.clone());
    sim.freeze_at(vsan_support::T0);
    let server = sim
        .serve("127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("sim");
    let (engine, registry) =
        engine_with_registry(target(&server.url(), &cfg.user, &cfg.password), options(1));
    engine.collect_once().await;
    let n = vsan_samples(&registry).len();
    server.stop().await;
    n
}

/// Collections five intervals apart (an exporter that missed some): every interval of every
/// series still arrives at its own time, gauges with each interval's value and counters with
/// their running total after each interval, checked against the simulator's ground truth.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn victoria_metrics_gets_each_interval_when_a_collection_spans_five() {
    const STEP: i64 = 5;
    let mut rx = Receiver::victoria();
    let run = run(&mut rx, 1_000_000, None, STEP).await;
    let stored = read_back(&rx, &run);
    let first = (run.start - (STEP - 1) * INTERVAL) * 1000;
    let last = (run.start + INTERVALS / STEP * STEP * INTERVAL) * 1000;
    let intervals = ((last - first) / (INTERVAL * 1000) + 1) as usize;
    let mut by_series: BTreeMap<String, BTreeMap<i64, f64>> = BTreeMap::new();
    for (series, t, v) in &stored {
        let prev = by_series.entry(series.clone()).or_default().insert(*t, *v);
        assert!(prev.is_none(), "{series} at {t} stored twice");
    }
    assert_eq!(by_series.len(), run.samples_per_interval);
    for (series, samples) in &by_series {
        let times: Vec<i64> = samples.keys().copied().collect();
        let want: Vec<i64> = (0..intervals as i64)
            .map(|i| first + i * INTERVAL * 1000)
            .collect();
        assert_eq!(times, want, "{series}: every interval at its vSAN time");
    }
    // At each collection the newest interval equals the engine's own output.
    for ((series, t), want) in &run.expected {
        let got = by_series[series][t];
        assert!(
            close(got, *want),
            "{series} at {t}: stored {got}, computed {want}"
        );
    }
    assert_eq!(sent(&run.registry), stored.len() as f64);
    // Between collections: the simulator's raw values, converted, and the running total.
    let latency = vsanobs_core::vsan::lookup("host-domclient", "latencyAvgRead").expect("row");
    let cluster = &run.sim.clusters()[0];
    for h in &cluster.hosts {
        let labels = |name: &str| {
            series_key(
                name,
                &[
                    ("vcenter", "vc-test"),
                    ("cluster_name", cluster.name.as_str()),
                    ("cluster_uuid", cluster.uuid.as_str()),
                    ("host_name", h.name.as_str()),
                    ("host_uuid", h.node_uuid.as_str()),
                    ("op", "read"),
                ]
                .map(|(k, v)| (k.to_owned(), v.to_owned())),
            )
        };
        let gauge = &by_series[&labels("vsan_host_domclient_io_latency_seconds")];
        let counter = &by_series[&labels("vsan_host_domclient_io_operations_total")];
        let mut total = 0.0;
        for (&t, &got) in gauge {
            let raw = run
                .sim
                .raw_value("host-domclient", &h.node_uuid, "latencyAvgRead", t / 1000);
            assert!(
                close(got, latency.convert(raw)),
                "{} latency at {t}",
                h.name
            );
            total += run
                .sim
                .raw_value("host-domclient", &h.node_uuid, "readCount", t / 1000);
            assert!(close(counter[&t], total), "{} reads at {t}", h.name);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_stores_every_vsan_interval_once_through_an_outage() {
    every_interval_once(Receiver::prometheus()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn victoria_metrics_stores_every_vsan_interval_once_through_an_outage() {
    every_interval_once(Receiver::victoria()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_misses_exactly_what_a_small_pool_dropped() {
    dropped_equals_missing(Receiver::prometheus()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn victoria_metrics_misses_exactly_what_a_small_pool_dropped() {
    dropped_equals_missing(Receiver::victoria()).await;
}
