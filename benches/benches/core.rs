//! Core metric benches: vsanobs-core against its peers (prometheus-client, the tikv
//! `prometheus` crate, metrics-rs with metrics-exporter-prometheus, and the OpenTelemetry SDK),
//! each group measuring every crate in the same run on the same inputs.
//!
//! Groups:
//! - `a_counter_inc`: pre-bound counter increment, beside a raw `AtomicU64::fetch_add`.
//! - `b_labeled_inc`: look up an existing series by three label values, then increment it.
//! - `c_histogram_observe`: one observation on a 14-bucket histogram.
//! - `d_two_threads`: two threads each recording into one shared counter and one shared
//!   histogram; throughput in records per second.
//! - `e_encode_10k`: encoding a counter family of 10,000 series as exposition text, and as
//!   the protobuf format.
//! - `f_native_observe`: one observation on a native (exponential) histogram at schema 3,
//!   beside vsanobs' classic 14-bucket histogram, prometheus-client's native histogram and
//!   the OpenTelemetry SDK's base-2 exponential histogram.
//!
//! Run: `cargo bench -p vsanobs-benches --bench core`. Results are kept in
//! `docs/benchmarks.md` (section "Core metrics").

use std::hint::black_box;
use std::sync::Barrier;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use opentelemetry::KeyValue;
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry_sdk::metrics::{ManualReader, SdkMeterProvider};
use prometheus::Encoder as _;
use prometheus_client::encoding::EncodeLabelSet;

/// Bucket bounds every histogram in these benches uses (the OpenTelemetry HTTP duration
/// buckets, vsanobs' default).
const BOUNDS: [f64; 14] = vsanobs_core::DEFAULT_DURATION_BUCKETS;

/// Observations cycled through by the histogram benches: spread over every bucket, including
/// `+Inf`, in a fixed pseudo-random order.
fn observations() -> Vec<f64> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..1024)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // 0 .. 12.8 seconds, skewed towards small values as latencies are.
            let u = (x >> 11) as f64 / (1u64 << 53) as f64;
            12.8 * u * u * u
        })
        .collect()
}

/// The three label values of the series looked up in group b.
const METHOD: &str = "GET";
const ROUTE: &str = "/api/v1/users/{id}";
const STATUS: &str = "200";

/// Other series present in each family of group b, so the lookup is not into a one-entry map.
fn other_label_values() -> Vec<[String; 3]> {
    let methods = ["GET", "POST", "PUT", "DELETE"];
    let statuses = ["200", "404", "500", "503"];
    (0..63)
        .map(|i| {
            [
                methods[i % 4].to_owned(),
                format!("/api/v1/resource{i}/{{id}}"),
                statuses[(i / 4) % 4].to_owned(),
            ]
        })
        .collect()
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, vsanobs_core::LabelSet)]
struct VsLabels {
    method: String,
    route: String,
    status: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
struct PcLabels {
    method: String,
    route: String,
    status: String,
}

fn otel_provider() -> SdkMeterProvider {
    SdkMeterProvider::builder()
        .with_reader(ManualReader::builder().build())
        .build()
}

fn metrics_recorder() -> metrics_exporter_prometheus::PrometheusRecorder {
    metrics_exporter_prometheus::PrometheusBuilder::new()
        .set_buckets(&BOUNDS)
        .unwrap_or_else(|e| panic!("bench bucket layout rejected: {e}"))
        .build_recorder()
}

// ------------------------------------------------------------------------------------------ a

fn a_counter_inc(c: &mut Criterion) {
    let mut g = c.benchmark_group("a_counter_inc");
    g.throughput(Throughput::Elements(1));

    let raw = AtomicU64::new(0);
    g.bench_function("raw_atomic_fetch_add", |b| {
        b.iter(|| black_box(&raw).fetch_add(1, Ordering::Relaxed))
    });

    let registry = vsanobs_core::Registry::new();
    let vs = registry
        .counter("bench_requests", "Requests.")
        .unwrap_or_else(|e| panic!("register: {e}"));
    g.bench_function("vsanobs", |b| b.iter(|| black_box(&vs).inc()));

    let pc = prometheus_client::metrics::counter::Counter::<u64>::default();
    let mut pc_reg = prometheus_client::registry::Registry::default();
    pc_reg.register("bench_requests", "Requests.", pc.clone());
    g.bench_function("prometheus_client", |b| {
        b.iter(|| {
            black_box(&pc).inc();
        })
    });

    let tk = prometheus::IntCounter::new("bench_requests_total", "Requests.")
        .unwrap_or_else(|e| panic!("tikv counter: {e}"));
    g.bench_function("tikv_prometheus", |b| b.iter(|| black_box(&tk).inc()));

    let recorder = metrics_recorder();
    let mc = metrics::with_local_recorder(&recorder, || metrics::counter!("bench_requests_total"));
    g.bench_function("metrics_rs", |b| b.iter(|| black_box(&mc).increment(1)));

    let provider = otel_provider();
    let meter = provider.meter("bench");
    let oc = meter.u64_counter("bench_requests").build();
    g.bench_function("opentelemetry", |b| b.iter(|| black_box(&oc).add(1, &[])));

    g.finish();
    black_box((raw.load(Ordering::Relaxed), vs.get(), pc.get(), tk.get()));
}

// ------------------------------------------------------------------------------------------ b

fn b_labeled_inc(c: &mut Criterion) {
    let mut g = c.benchmark_group("b_labeled_inc");
    g.throughput(Throughput::Elements(1));
    let others = other_label_values();

    // vsanobs: typed label struct, lookup without lock through `Family::with`.
    let vs_fam = vsanobs_core::Family::<VsLabels, vsanobs_core::Counter>::new();
    for [m, r, s] in &others {
        vs_fam.get_or_create(&VsLabels {
            method: m.clone(),
            route: r.clone(),
            status: s.clone(),
        });
    }
    let vs_key = VsLabels {
        method: METHOD.to_owned(),
        route: ROUTE.to_owned(),
        status: STATUS.to_owned(),
    };
    vs_fam.get_or_create(&vs_key);
    g.bench_function("vsanobs_with", |b| {
        b.iter(|| vs_fam.with(black_box(&vs_key), |c| c.inc()))
    });

    // prometheus-client: the same three String labels, `get_or_create` (RwLock read + map).
    let pc_fam = prometheus_client::metrics::family::Family::<
        PcLabels,
        prometheus_client::metrics::counter::Counter,
    >::default();
    for [m, r, s] in &others {
        pc_fam
            .get_or_create(&PcLabels {
                method: m.clone(),
                route: r.clone(),
                status: s.clone(),
            })
            .inc();
    }
    let pc_key = PcLabels {
        method: METHOD.to_owned(),
        route: ROUTE.to_owned(),
        status: STATUS.to_owned(),
    };
    pc_fam.get_or_create(&pc_key).inc();
    g.bench_function("prometheus_client_get_or_create", |b| {
        b.iter(|| {
            pc_fam.get_or_create(black_box(&pc_key)).inc();
        })
    });

    // tikv prometheus: positional label values.
    let tk_vec = prometheus::IntCounterVec::new(
        prometheus::Opts::new("bench_requests_total", "Requests."),
        &["method", "route", "status"],
    )
    .unwrap_or_else(|e| panic!("tikv counter vec: {e}"));
    for [m, r, s] in &others {
        tk_vec.with_label_values(&[m.as_str(), r.as_str(), s.as_str()]);
    }
    let tk_vals = [METHOD.to_owned(), ROUTE.to_owned(), STATUS.to_owned()];
    g.bench_function("tikv_with_label_values", |b| {
        b.iter(|| {
            let v = black_box(&tk_vals);
            tk_vec
                .with_label_values(&[v[0].as_str(), v[1].as_str(), v[2].as_str()])
                .inc()
        })
    });

    // metrics-rs: the `counter!` macro with three labels, through a Prometheus recorder.
    let recorder = metrics_recorder();
    metrics::with_local_recorder(&recorder, || {
        for [m, r, s] in &others {
            metrics::counter!("bench_requests_total", "method" => m.clone(), "route" => r.clone(), "status" => s.clone()).increment(1);
        }
        g.bench_function("metrics_rs_counter_macro", |b| {
            b.iter(|| {
                metrics::counter!(
                    "bench_requests_total",
                    "method" => black_box(METHOD),
                    "route" => black_box(ROUTE),
                    "status" => black_box(STATUS)
                )
                .increment(1)
            })
        });
    });

    // OpenTelemetry SDK: `Counter::add` with three attributes (built once, reused).
    let provider = otel_provider();
    let meter = provider.meter("bench");
    let oc = meter.u64_counter("bench_requests").build();
    for [m, r, s] in &others {
        oc.add(
            1,
            &[
                KeyValue::new("method", m.clone()),
                KeyValue::new("route", r.clone()),
                KeyValue::new("status", s.clone()),
            ],
        );
    }
    let attrs = [
        KeyValue::new("method", METHOD.to_owned()),
        KeyValue::new("route", ROUTE.to_owned()),
        KeyValue::new("status", STATUS.to_owned()),
    ];
    g.bench_function("opentelemetry_add_3_attrs", |b| {
        b.iter(|| oc.add(1, black_box(&attrs)))
    });

    g.finish();
    // Every lookup hit an existing series: none was added while measuring.
    assert_eq!(vs_fam.len(), others.len() + 1);
    assert!(vs_fam.get(&vs_key).is_some());
}

// ------------------------------------------------------------------------------------------ c

/// Runs `observe` over the shared observation sequence `iters` times.
fn observe_loop(values: &[f64], iters: u64, mut observe: impl FnMut(f64)) -> Duration {
    let mask = values.len() - 1;
    let start = Instant::now();
    for i in 0..iters {
        observe(black_box(values[i as usize & mask]));
    }
    start.elapsed()
}

fn c_histogram_observe(c: &mut Criterion) {
    let mut g = c.benchmark_group("c_histogram_observe");
    g.throughput(Throughput::Elements(1));
    let values = observations();
    // The inputs reach every bucket, `+Inf` included, so no bucket search is trivially short.
    let check = vsanobs_core::Histogram::new(BOUNDS);
    values.iter().for_each(|v| check.observe(*v));
    let cum = check.cumulative_counts();
    assert!(
        cum.first().is_some_and(|c| *c > 0) && cum.windows(2).all(|w| w[1] > w[0]),
        "observations leave a bucket empty: {cum:?}"
    );

    let vs = vsanobs_core::Histogram::new(BOUNDS);
    g.bench_function("vsanobs", |b| {
        b.iter_custom(|iters| observe_loop(&values, iters, |v| vs.observe(v)))
    });

    let pc = prometheus_client::metrics::histogram::Histogram::new(BOUNDS);
    g.bench_function("prometheus_client", |b| {
        b.iter_custom(|iters| observe_loop(&values, iters, |v| pc.observe(v)))
    });

    let tk = prometheus::Histogram::with_opts(
        prometheus::HistogramOpts::new("bench_latency_seconds", "Latency.")
            .buckets(BOUNDS.to_vec()),
    )
    .unwrap_or_else(|e| panic!("tikv histogram: {e}"));
    g.bench_function("tikv_prometheus", |b| {
        b.iter_custom(|iters| observe_loop(&values, iters, |v| tk.observe(v)))
    });

    // metrics-rs buffers raw observations until upkeep/render; drain outside the timed part
    // (a scrape pays for it in practice), so memory stays bounded.
    let recorder = metrics_recorder();
    let handle = recorder.handle();
    let mh =
        metrics::with_local_recorder(&recorder, || metrics::histogram!("bench_latency_seconds"));
    g.bench_function("metrics_rs", |b| {
        b.iter_custom(|iters| {
            let t = observe_loop(&values, iters, |v| mh.record(v));
            handle.run_upkeep();
            t
        })
    });

    let provider = otel_provider();
    let meter = provider.meter("bench");
    let oh = meter
        .f64_histogram("bench_latency")
        .with_boundaries(BOUNDS.to_vec())
        .build();
    g.bench_function("opentelemetry", |b| {
        b.iter_custom(|iters| observe_loop(&values, iters, |v| oh.record(v, &[])))
    });

    g.finish();
}

// ------------------------------------------------------------------------------------------ d

/// Two threads, released together, each run `iters` rounds of `record` (one counter
/// increment and one histogram observation); returns the wall time until both finish.
fn two_threads(values: &[f64], iters: u64, record: &(dyn Fn(f64) + Sync)) -> Duration {
    let barrier = Barrier::new(3);
    let mask = values.len() - 1;
    std::thread::scope(|s| {
        for t in 0..2u64 {
            let barrier = &barrier;
            s.spawn(move || {
                barrier.wait();
                for i in 0..iters {
                    record(black_box(values[(i + t * 512) as usize & mask]));
                }
            });
        }
        barrier.wait();
        let start = Instant::now();
        // Leaving the scope joins both threads.
        start
    })
    .elapsed()
}

fn d_two_threads(c: &mut Criterion) {
    let mut g = c.benchmark_group("d_two_threads");
    // Per iteration: 2 threads x (1 counter increment + 1 histogram observation).
    g.throughput(Throughput::Elements(4));
    let values = observations();

    let vs_c = vsanobs_core::Counter::default();
    let vs_h = vsanobs_core::Histogram::new(BOUNDS);
    g.bench_function("vsanobs", |b| {
        b.iter_custom(|iters| {
            two_threads(&values, iters, &|v| {
                vs_c.inc();
                vs_h.observe(v);
            })
        })
    });

    let pc_c = prometheus_client::metrics::counter::Counter::<u64>::default();
    let pc_h = prometheus_client::metrics::histogram::Histogram::new(BOUNDS);
    g.bench_function("prometheus_client", |b| {
        b.iter_custom(|iters| {
            two_threads(&values, iters, &|v| {
                pc_c.inc();
                pc_h.observe(v);
            })
        })
    });

    let tk_c = prometheus::IntCounter::new("bench_requests_total", "Requests.")
        .unwrap_or_else(|e| panic!("tikv counter: {e}"));
    let tk_h = prometheus::Histogram::with_opts(
        prometheus::HistogramOpts::new("bench_latency_seconds", "Latency.")
            .buckets(BOUNDS.to_vec()),
    )
    .unwrap_or_else(|e| panic!("tikv histogram: {e}"));
    g.bench_function("tikv_prometheus", |b| {
        b.iter_custom(|iters| {
            two_threads(&values, iters, &|v| {
                tk_c.inc();
                tk_h.observe(v);
            })
        })
    });

    let recorder = metrics_recorder();
    let handle = recorder.handle();
    let (m_c, m_h) = metrics::with_local_recorder(&recorder, || {
        (
            metrics::counter!("bench_requests_total"),
            metrics::histogram!("bench_latency_seconds"),
        )
    });
    g.bench_function("metrics_rs", |b| {
        b.iter_custom(|iters| {
            let t = two_threads(&values, iters, &|v| {
                m_c.increment(1);
                m_h.record(v);
            });
            handle.run_upkeep();
            t
        })
    });

    let provider = otel_provider();
    let meter = provider.meter("bench");
    let o_c = meter.u64_counter("bench_requests").build();
    let o_h = meter
        .f64_histogram("bench_latency")
        .with_boundaries(BOUNDS.to_vec())
        .build();
    g.bench_function("opentelemetry", |b| {
        b.iter_custom(|iters| {
            two_threads(&values, iters, &|v| {
                o_c.add(1, &[]);
                o_h.record(v, &[]);
            })
        })
    });

    g.finish();
    assert_eq!(vs_c.get(), vs_h.count());
}

// ------------------------------------------------------------------------------------------ e

const SERIES: usize = 10_000;

/// The label values of the 10,000 encoded series and each series' value.
fn encode_inputs() -> Vec<([String; 3], u64)> {
    let methods = ["GET", "POST", "PUT", "DELETE"];
    let statuses = ["200", "201", "404", "500", "503"];
    (0..SERIES)
        .map(|i| {
            (
                [
                    methods[i % 4].to_owned(),
                    format!("/api/v1/items/{i}"),
                    statuses[i % 5].to_owned(),
                ],
                (i as u64).wrapping_mul(2_654_435_761) % 1_000_000,
            )
        })
        .collect()
}

fn e_encode_10k(c: &mut Criterion) {
    let mut g = c.benchmark_group("e_encode_10k");
    g.throughput(Throughput::Elements(SERIES as u64));
    g.sample_size(30);
    let inputs = encode_inputs();
    let help = "Requests handled, by method, route and status.";

    // vsanobs
    let vs_reg = vsanobs_core::Registry::new();
    let vs_fam = vsanobs_core::Family::<VsLabels, vsanobs_core::Counter>::with_cap(SERIES);
    vs_reg
        .register("bench_requests", help, vs_fam.clone())
        .unwrap_or_else(|e| panic!("register: {e}"));
    for ([m, r, s], v) in &inputs {
        vs_fam
            .get_or_create(&VsLabels {
                method: m.clone(),
                route: r.clone(),
                status: s.clone(),
            })
            .inc_by(*v);
    }
    let mut buf = String::new();
    for (name, format) in [
        ("vsanobs_text_0_0_4", vsanobs_core::Format::PrometheusText),
        ("vsanobs_openmetrics", vsanobs_core::Format::OpenMetrics),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| {
                buf.clear();
                vs_reg.encode(format, &mut buf);
                buf.len()
            })
        });
    }
    let mut bytes = Vec::new();
    g.bench_function("vsanobs_protobuf", |b| {
        b.iter(|| {
            bytes.clear();
            vs_reg
                .write_to(vsanobs_core::Format::Protobuf, &mut bytes)
                .unwrap_or_else(|e| panic!("encode: {e}"));
            bytes.len()
        })
    });
    let vs_text = vs_reg.encode_to_string(vsanobs_core::Format::PrometheusText);
    assert_eq!(
        vs_text.matches("bench_requests_total{").count(),
        SERIES,
        "vsanobs output lacks series"
    );

    // prometheus-client
    let mut pc_reg = prometheus_client::registry::Registry::default();
    let pc_fam = prometheus_client::metrics::family::Family::<
        PcLabels,
        prometheus_client::metrics::counter::Counter,
    >::default();
    pc_reg.register("bench_requests", help, pc_fam.clone());
    for ([m, r, s], v) in &inputs {
        pc_fam
            .get_or_create(&PcLabels {
                method: m.clone(),
                route: r.clone(),
                status: s.clone(),
            })
            .inc_by(*v);
    }
    g.bench_function("prometheus_client_encode", |b| {
        b.iter(|| {
            buf.clear();
            prometheus_client::encoding::text::encode(&mut buf, &pc_reg)
                .unwrap_or_else(|e| panic!("encode: {e}"));
            buf.len()
        })
    });
    g.bench_function("prometheus_client_protobuf", |b| {
        b.iter(|| {
            prometheus_client::encoding::prometheus_protobuf::encode_to_vec(&pc_reg)
                .unwrap_or_else(|e| panic!("encode: {e}"))
                .len()
        })
    });

    // tikv prometheus: gather + TextEncoder, as its scrape handler does.
    let tk_reg = prometheus::Registry::new();
    let tk_vec = prometheus::IntCounterVec::new(
        prometheus::Opts::new("bench_requests_total", help),
        &["method", "route", "status"],
    )
    .unwrap_or_else(|e| panic!("tikv counter vec: {e}"));
    tk_reg
        .register(Box::new(tk_vec.clone()))
        .unwrap_or_else(|e| panic!("tikv register: {e}"));
    for ([m, r, s], v) in &inputs {
        tk_vec
            .with_label_values(&[m.as_str(), r.as_str(), s.as_str()])
            .inc_by(*v);
    }
    g.bench_function("tikv_gather_text_encoder", |b| {
        b.iter(|| {
            bytes.clear();
            prometheus::TextEncoder::new()
                .encode(&tk_reg.gather(), &mut bytes)
                .unwrap_or_else(|e| panic!("encode: {e}"));
            bytes.len()
        })
    });

    // metrics-exporter-prometheus
    let recorder = metrics_recorder();
    let handle = recorder.handle();
    metrics::with_local_recorder(&recorder, || {
        metrics::describe_counter!("bench_requests_total", help);
        for ([m, r, s], v) in &inputs {
            metrics::counter!("bench_requests_total", "method" => m.clone(), "route" => r.clone(), "status" => s.clone())
                .increment(*v);
        }
    });
    handle.run_upkeep();
    g.bench_function("metrics_exporter_prometheus_render", |b| {
        b.iter(|| handle.render().len())
    });

    g.finish();
    let rendered = handle.render();
    assert_eq!(
        rendered.matches("bench_requests_total{").count(),
        SERIES,
        "metrics-exporter-prometheus output lacks series"
    );
}

// ------------------------------------------------------------------------------------------ f

fn f_native_observe(c: &mut Criterion) {
    let mut g = c.benchmark_group("f_native_observe");
    g.throughput(Throughput::Elements(1));
    let values = observations();

    let classic = vsanobs_core::Histogram::new(BOUNDS);
    g.bench_function("vsanobs_classic", |b| {
        b.iter_custom(|iters| observe_loop(&values, iters, |v| classic.observe(v)))
    });

    let native = vsanobs_core::NativeHistogram::new(3).unwrap_or_else(|e| panic!("native: {e}"));
    // The first values anchor the bucket windows: settle them before timing.
    values.iter().for_each(|v| native.observe(*v));
    let settled = native.schema();
    g.bench_function("vsanobs_native", |b| {
        b.iter_custom(|iters| observe_loop(&values, iters, |v| native.observe(v)))
    });
    assert_eq!(native.schema(), settled, "the layout changed while timed");

    let pc = prometheus_client::metrics::histogram::Histogram::new_native(
        prometheus_client::metrics::histogram::NativeHistogramConfig::with_schema(3)
            .max_buckets(160),
    );
    values.iter().for_each(|v| pc.observe(*v));
    g.bench_function("prometheus_client_native", |b| {
        b.iter_custom(|iters| observe_loop(&values, iters, |v| pc.observe(v)))
    });

    let provider = SdkMeterProvider::builder()
        .with_reader(ManualReader::builder().build())
        .with_view(|i: &opentelemetry_sdk::metrics::Instrument| {
            (i.name() == "bench_exponential").then(|| {
                opentelemetry_sdk::metrics::Stream::builder()
                    .with_aggregation(
                        opentelemetry_sdk::metrics::Aggregation::Base2ExponentialHistogram {
                            max_size: 160,
                            max_scale: 20,
                            record_min_max: true,
                        },
                    )
                    .build()
                    .unwrap_or_else(|e| panic!("view: {e}"))
            })
        })
        .build();
    let oh = provider
        .meter("bench")
        .f64_histogram("bench_exponential")
        .build();
    values.iter().for_each(|v| oh.record(*v, &[]));
    g.bench_function("opentelemetry_exponential", |b| {
        b.iter_custom(|iters| observe_loop(&values, iters, |v| oh.record(v, &[])))
    });

    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = core;
    config = config();
    targets = a_counter_inc, b_labeled_inc, c_histogram_observe, d_two_threads, e_encode_10k, f_native_observe
}
criterion_main!(core);
