//! Bridge benches: recording through each vsanobs bridge beside the same operation in the
//! foreign crate with its own exporter, and encoding 10,000 bridged series, in one run.
//!
//! Groups:
//! - `f_bridge_record`: a pre-bound counter increment and a histogram observation through
//!   the `metrics` facade (vsanobs recorder vs metrics-exporter-prometheus) and the
//!   OpenTelemetry SDK (vsanobs `PrometheusReader` vs the SDK's `ManualReader`), plus a
//!   `counter!` lookup with three labels; prometheus-client records into its own types
//!   whichever way it is served, so its row is the same operation alone; vsanobs's own
//!   counter is the baseline.
//! - `g_bridge_encode_10k`: a counter family of 10,000 series recorded through each foreign
//!   API, encoded as text 0.0.4 by vsanobs through the bridge, beside the foreign crate's
//!   own exposition (prometheus-client's encoder, metrics-exporter-prometheus's render, the
//!   OTel SDK's `ManualReader::collect` alone, which has no text exporter any more).
//!
//! Run: `cargo bench -p vsanobs-benches --bench bridges -- --warm-up-time 1 --measurement-time 3`.
//! Results are kept in `docs/benchmarks.md` (section "Bridges").

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use opentelemetry::KeyValue;
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::reader::MetricReader as _;
use opentelemetry_sdk::metrics::{ManualReader, SdkMeterProvider};
use vsanobs_bridge::facade::VsanobsRecorder;
use vsanobs_bridge::otel::PrometheusReader;
use vsanobs_bridge::prometheus_client::PrometheusClientCollector;
use vsanobs_core::{DEFAULT_DURATION_BUCKETS, Format, Registry};

const SERIES: usize = 10_000;

fn mep_recorder() -> metrics_exporter_prometheus::PrometheusRecorder {
    metrics_exporter_prometheus::PrometheusBuilder::new()
        .set_buckets(&DEFAULT_DURATION_BUCKETS)
        .unwrap_or_else(|e| panic!("buckets: {e}"))
        .build_recorder()
}

fn f_bridge_record(c: &mut Criterion) {
    let mut g = c.benchmark_group("f_bridge_record");

    let own = vsanobs_core::Counter::default();
    g.bench_function("vsanobs_counter_inc", |b| b.iter(|| black_box(&own).inc()));

    let pc = prometheus_client::metrics::counter::Counter::<u64>::default();
    g.bench_function("prometheus_client_counter_inc", |b| {
        b.iter(|| black_box(&pc).inc())
    });

    let vs_rec = VsanobsRecorder::builder("bench").build();
    let mep = mep_recorder();
    for (name, rec) in [
        ("metrics_via_vsanobs", &vs_rec as &dyn metrics::Recorder),
        (
            "metrics_via_exporter_prometheus",
            &mep as &dyn metrics::Recorder,
        ),
    ] {
        metrics::with_local_recorder(rec, || {
            let c = metrics::counter!("bench_requests_total");
            g.bench_function(format!("{name}_counter_inc"), |b| {
                b.iter(|| black_box(&c).increment(1))
            });
            let h = metrics::histogram!("bench_duration_seconds");
            let mut v = 0.0f64;
            g.bench_function(format!("{name}_histogram_record"), |b| {
                b.iter(|| {
                    v = if v > 12.0 { 0.0 } else { v + 0.37 };
                    black_box(&h).record(v)
                })
            });
            g.bench_function(format!("{name}_counter_macro_3_labels"), |b| {
                b.iter(|| {
                    metrics::counter!(
                        "bench_labeled_total",
                        "method" => black_box("GET"),
                        "route" => black_box("/api/v1/items"),
                        "status" => black_box("200")
                    )
                    .increment(1)
                })
            });
        });
    }

    let bridged = SdkMeterProvider::builder()
        .with_reader(PrometheusReader::new("bench"))
        .build();
    let alone = SdkMeterProvider::builder()
        .with_reader(ManualReader::builder().build())
        .build();
    let attrs = [
        KeyValue::new("method", "GET"),
        KeyValue::new("route", "/api/v1/items"),
        KeyValue::new("status", "200"),
    ];
    for (name, provider) in [
        ("otel_via_vsanobs_reader", &bridged),
        ("otel_via_manual_reader", &alone),
    ] {
        let meter = provider.meter("bench");
        let c = meter.u64_counter("bench_requests").build();
        g.bench_function(format!("{name}_counter_add_3_attrs"), |b| {
            b.iter(|| c.add(1, black_box(&attrs)))
        });
        let h = meter.f64_histogram("bench_duration").build();
        let mut v = 0.0f64;
        g.bench_function(format!("{name}_histogram_record"), |b| {
            b.iter(|| {
                v = if v > 12.0 { 0.0 } else { v + 0.37 };
                h.record(black_box(v), &[])
            })
        });
    }
    g.finish();
}

fn route(i: usize) -> String {
    format!("/api/v1/items/{i}")
}

fn g_bridge_encode_10k(c: &mut Criterion) {
    let mut g = c.benchmark_group("g_bridge_encode_10k");
    g.throughput(Throughput::Elements(SERIES as u64));
    g.sample_size(20);
    let mut buf = String::new();

    // prometheus-client: bridged vs its own encoder.
    let mut pc_reg = prometheus_client::registry::Registry::default();
    let fam = prometheus_client::metrics::family::Family::<
        Vec<(String, String)>,
        prometheus_client::metrics::counter::Counter,
    >::default();
    pc_reg.register("bench_requests", "Requests.", fam.clone());
    for i in 0..SERIES {
        fam.get_or_create(&vec![("route".to_owned(), route(i))])
            .inc_by(i as u64);
    }
    g.bench_function("prometheus_client_own_encode", |b| {
        b.iter(|| {
            buf.clear();
            prometheus_client::encoding::text::encode(&mut buf, &pc_reg)
                .unwrap_or_else(|e| panic!("encode: {e}"));
            buf.len()
        })
    });
    let vs = Registry::new();
    PrometheusClientCollector::new("pc", pc_reg)
        .register(&vs)
        .unwrap_or_else(|e| panic!("register: {e}"));
    g.bench_function("prometheus_client_via_vsanobs", |b| {
        b.iter(|| {
            buf.clear();
            vs.encode(Format::PrometheusText, &mut buf);
            buf.len()
        })
    });
    assert_eq!(
        vs.encode_to_string(Format::PrometheusText)
            .matches("bench_requests_total{")
            .count(),
        SERIES
    );

    // metrics: through the vsanobs recorder vs metrics-exporter-prometheus.
    let vs_rec = VsanobsRecorder::builder("metrics")
        .series_cap(SERIES)
        .build();
    let vs = Registry::new();
    vs_rec
        .register(&vs)
        .unwrap_or_else(|e| panic!("register: {e}"));
    let mep = mep_recorder();
    let handle = mep.handle();
    for rec in [&vs_rec as &dyn metrics::Recorder, &mep] {
        metrics::with_local_recorder(rec, || {
            for i in 0..SERIES {
                metrics::counter!("bench_requests_total", "route" => route(i)).increment(i as u64);
            }
        });
    }
    handle.run_upkeep();
    g.bench_function("metrics_exporter_prometheus_render", |b| {
        b.iter(|| handle.render().len())
    });
    g.bench_function("metrics_via_vsanobs", |b| {
        b.iter(|| {
            buf.clear();
            vs.encode(Format::PrometheusText, &mut buf);
            buf.len()
        })
    });
    assert_eq!(
        vs.encode_to_string(Format::PrometheusText)
            .matches("bench_requests_total{")
            .count(),
        SERIES
    );

    // OpenTelemetry: through the vsanobs reader (collect + convert + encode) vs the SDK's
    // ManualReader collect alone.
    let reader = PrometheusReader::builder("otel").series_cap(SERIES).build();
    let vs = Registry::new();
    reader
        .register(&vs)
        .unwrap_or_else(|e| panic!("register: {e}"));
    // The SDK keeps 2,000 attribute sets per instrument by default: raise it for 10,000.
    let view = |_: &opentelemetry_sdk::metrics::Instrument| {
        opentelemetry_sdk::metrics::Stream::builder()
            .with_cardinality_limit(2 * SERIES)
            .build()
            .ok()
    };
    let bridged = SdkMeterProvider::builder()
        .with_reader(reader)
        .with_view(view)
        .build();
    let manual = std::sync::Arc::new(ManualReader::builder().build());
    let alone = SdkMeterProvider::builder()
        .with_reader(SharedManual(manual.clone()))
        .with_view(view)
        .build();
    for p in [&bridged, &alone] {
        let c = p.meter("bench").u64_counter("bench_requests").build();
        for i in 0..SERIES {
            c.add(i as u64, &[KeyValue::new("route", route(i))]);
        }
    }
    g.bench_function("otel_manual_reader_collect", |b| {
        b.iter(|| {
            let mut rm = ResourceMetrics::default();
            manual
                .collect(&mut rm)
                .unwrap_or_else(|e| panic!("collect: {e}"));
            rm.scope_metrics().count()
        })
    });
    g.bench_function("otel_via_vsanobs", |b| {
        b.iter(|| {
            buf.clear();
            vs.encode(Format::PrometheusText, &mut buf);
            buf.len()
        })
    });
    assert_eq!(
        vs.encode_to_string(Format::PrometheusText)
            .matches("bench_requests_total{")
            .count(),
        SERIES
    );
    g.finish();
}

/// A `ManualReader` the bench keeps a handle to after giving it to the provider.
#[derive(Debug)]
struct SharedManual(std::sync::Arc<ManualReader>);

impl opentelemetry_sdk::metrics::reader::MetricReader for SharedManual {
    fn register_pipeline(&self, p: std::sync::Weak<opentelemetry_sdk::metrics::Pipeline>) {
        self.0.register_pipeline(p)
    }
    fn collect(&self, rm: &mut ResourceMetrics) -> opentelemetry_sdk::error::OTelSdkResult {
        self.0.collect(rm)
    }
    fn force_flush(&self) -> opentelemetry_sdk::error::OTelSdkResult {
        self.0.force_flush()
    }
    fn shutdown_with_timeout(&self, t: Duration) -> opentelemetry_sdk::error::OTelSdkResult {
        self.0.shutdown_with_timeout(t)
    }
    fn temporality(
        &self,
        kind: opentelemetry_sdk::metrics::InstrumentKind,
    ) -> opentelemetry_sdk::metrics::Temporality {
        self.0.temporality(kind)
    }
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = bridges;
    config = config();
    targets = f_bridge_record, g_bridge_encode_10k
}
criterion_main!(bridges);
