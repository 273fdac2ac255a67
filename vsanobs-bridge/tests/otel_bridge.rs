//! The OpenTelemetry reader: every instrument kind served, named and typed by the
//! specification's Prometheus compatibility rules (unit and `_total` suffixes,
//! `target_info`, `otel_scope_*` labels, sanitising, conflicts), under a series cap.

use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use vsanobs_bridge::otel::{PrometheusReader, prometheus_name, prometheus_unit};
use vsanobs_bridge::problems::{self, Problem};
use vsanobs_core::testutil::{parse, sample_value};
use vsanobs_core::{Format, Registry};

fn provider(reader: &PrometheusReader) -> SdkMeterProvider {
    SdkMeterProvider::builder()
        .with_reader(reader.clone())
        .with_resource(
            Resource::builder_empty()
                .with_attributes([
                    KeyValue::new("service.name", "checkout"),
                    KeyValue::new("host.name", "node-1"),
                ])
                .build(),
        )
        .build()
}

/// The specification's translation rules, case by case (metric metadata, sums, gauges,
/// histograms sections of "Prometheus and OpenMetrics Compatibility").
#[test]
fn names_and_units_follow_the_specification() {
    let cases: &[(&str, &str, bool, &str, Option<&str>)] = &[
        // (otel name, unit, monotonic sum, prometheus family base, # UNIT)
        (
            "http.server.request.duration",
            "s",
            false,
            "http_server_request_duration_seconds",
            Some("seconds"),
        ),
        (
            "rpc.duration",
            "ms",
            false,
            "rpc_duration_milliseconds",
            Some("milliseconds"),
        ),
        (
            "system.memory.utilization",
            "1",
            false,
            "system_memory_utilization_ratio",
            Some("ratio"),
        ),
        (
            "http.server.active_requests",
            "{request}",
            false,
            "http_server_active_requests",
            None,
        ),
        ("network.io", "By", true, "network_io_bytes", Some("bytes")),
        (
            "packets",
            "{packet}/s",
            false,
            "packets_per_second",
            Some("per_second"),
        ),
        (
            "speed",
            "m/s",
            false,
            "speed_meters_per_second",
            Some("meters_per_second"),
        ),
        ("requests_total", "", true, "requests", None),
        (
            "latency_milliseconds",
            "ms",
            false,
            "latency_milliseconds",
            Some("milliseconds"),
        ),
        (
            "0invalid.counter.name",
            "",
            true,
            "_0invalid_counter_name",
            None,
        ),
        ("invalid.gauge.name", "", false, "invalid_gauge_name", None),
        ("with space", "", false, "with_space", None),
    ];
    for (name, unit, mono, base, u) in cases {
        let (b, got_unit) = prometheus_name(name, unit, *mono);
        assert_eq!(
            (b.as_str(), got_unit.as_deref()),
            (*base, *u),
            "{name} [{unit}]"
        );
    }
    assert_eq!(prometheus_unit("{packet}"), None);
    assert_eq!(prometheus_unit("KiBy"), Some("kibibytes".into()));
    assert_eq!(prometheus_unit("Cel"), Some("celsius".into()));
}

#[test]
fn every_instrument_kind_appears_named_and_typed_by_the_specification() {
    let registry = Registry::new();
    let own = registry.counter("own_total", "vsanobs's own.").unwrap();
    own.inc();
    let reader = PrometheusReader::new("otel_kinds");
    reader.register(&registry).unwrap();
    let provider = provider(&reader);
    let meter = provider.meter_with_scope(
        InstrumentationScope::builder("checkout.lib")
            .with_version("1.2.0")
            .with_attributes([KeyValue::new("lib.kind", "http")])
            .build(),
    );
    let attrs = [
        KeyValue::new("http.request.method", "GET"),
        KeyValue::new("ok", true),
    ];

    let c = meter
        .u64_counter("http.server.requests")
        .with_unit("{request}")
        .with_description("Requests.")
        .build();
    c.add(5, &attrs);
    c.add(2, &attrs);
    let fc = meter.f64_counter("network.io").with_unit("By").build();
    fc.add(1.5, &[]);
    let ud = meter
        .i64_up_down_counter("queue.length")
        .with_unit("{item}")
        .build();
    ud.add(10, &[]);
    ud.add(-4, &[]);
    let g = meter.f64_gauge("cpu.temperature").with_unit("Cel").build();
    g.record(71.5, &[KeyValue::new("core", 3)]);
    let h = meter
        .f64_histogram("http.server.request.duration")
        .with_unit("s")
        .with_boundaries(vec![0.1, 1.0])
        .build();
    for v in [0.05, 0.5, 0.7, 3.0] {
        h.record(v, &attrs);
    }
    let _oc = meter
        .u64_observable_counter("process.runs")
        .with_callback(|o| o.observe(9, &[]))
        .build();
    let _og = meter
        .i64_observable_gauge("pool.size")
        .with_callback(|o| o.observe(-2, &[]))
        .build();
    let _oud = meter
        .f64_observable_up_down_counter("balance")
        .with_unit("{EUR}")
        .with_callback(|o| o.observe(12.25, &[]))
        .build();
    // Two attributes that sanitise to one name: values joined in the order of the original keys.
    c.add(
        1,
        &[
            KeyValue::new("a_b", "second"),
            KeyValue::new("a.b", "first"),
        ],
    );

    for format in [Format::PrometheusText, Format::OpenMetrics] {
        let text = registry.encode_to_string(format);
        let f = parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        let scope = [
            ("otel_scope_name", "checkout.lib"),
            ("otel_scope_version", "1.2.0"),
        ];
        let with = |extra: &[(&'static str, &'static str)]| -> Vec<(&'static str, &'static str)> {
            scope.iter().chain(extra).copied().collect()
        };
        let m = [("http_request_method", "GET"), ("ok", "true")];
        assert_eq!(
            sample_value(&f, "http_server_requests_total", &with(&m)),
            Some(7.0),
            "{text}"
        );
        assert_eq!(
            sample_value(
                &f,
                "http_server_requests_total",
                &with(&[("a_b", "first;second")])
            ),
            Some(1.0),
            "{text}"
        );
        assert_eq!(
            sample_value(&f, "network_io_bytes_total", &with(&[])),
            Some(1.5)
        );
        assert_eq!(sample_value(&f, "queue_length", &with(&[])), Some(6.0));
        assert_eq!(
            sample_value(&f, "cpu_temperature_celsius", &with(&[("core", "3")])),
            Some(71.5)
        );
        let hb = |le: &'static str| {
            let mut l = with(&m);
            l.push(("le", le));
            sample_value(&f, "http_server_request_duration_seconds_bucket", &l)
        };
        assert_eq!(
            (hb("0.1"), hb("1.0"), hb("+Inf")),
            (Some(1.0), Some(3.0), Some(4.0)),
            "{text}"
        );
        assert_eq!(
            sample_value(&f, "http_server_request_duration_seconds_count", &with(&m)),
            Some(4.0)
        );
        assert_eq!(
            sample_value(&f, "http_server_request_duration_seconds_sum", &with(&m)),
            Some(4.25)
        );
        assert_eq!(
            sample_value(&f, "process_runs_total", &with(&[])),
            Some(9.0)
        );
        assert_eq!(sample_value(&f, "pool_size", &with(&[])), Some(-2.0));
        assert_eq!(sample_value(&f, "balance", &with(&[])), Some(12.25));
        assert_eq!(
            sample_value(
                &f,
                "target_info",
                &[("host_name", "node-1"), ("service_name", "checkout")]
            ),
            Some(1.0),
            "{text}"
        );
        assert_eq!(sample_value(&f, "own_total", &[]), Some(1.0));
        assert_eq!(
            sample_value(&f, "otel_scope_info", &with(&[("lib_kind", "http")])),
            Some(1.0),
            "{text}"
        );
        for (fam, ty) in [
            ("http_server_requests", "counter"),
            ("queue_length", "gauge"),
            ("cpu_temperature_celsius", "gauge"),
            ("http_server_request_duration_seconds", "histogram"),
            ("process_runs", "counter"),
            ("pool_size", "gauge"),
            ("balance", "gauge"),
        ] {
            let line = match (format, ty) {
                (Format::PrometheusText, "counter") => format!("# TYPE {fam}_total counter\n"),
                _ => format!("# TYPE {fam} {ty}\n"),
            };
            assert!(text.contains(&line), "{line:?} missing:\n{text}");
        }
        if format == Format::OpenMetrics {
            assert!(text.contains("# TYPE target info\n"), "{text}");
            assert!(text.contains("# UNIT http_server_request_duration_seconds seconds\n"));
            assert!(
                text.contains("# HELP http_server_requests Requests.\n"),
                "{text}"
            );
        }
    }
    vsanobs_testkit::promtool_check_metrics(&registry.encode_to_string(Format::PrometheusText))
        .expect("promtool accepts the OTel output");
}

#[test]
fn conflicting_types_are_dropped_whole_and_counted_scope_labels_can_be_left_out() {
    let registry = Registry::new();
    let reader = PrometheusReader::builder("otel_conflict")
        .without_scope_labels()
        .series_cap(2)
        .build();
    reader.register(&registry).unwrap();
    let provider = SdkMeterProvider::builder()
        .with_reader(reader.clone())
        .build();
    let a = provider.meter("a");
    let b = provider.meter("b");
    a.u64_counter("jobs").build().add(1, &[]);
    b.f64_gauge("jobs_total").build().record(5.0, &[]); // claims the counter's series name
    let per_user = a.u64_counter("logins").build();
    for u in ["u1", "u2", "u3"] {
        per_user.add(1, &[KeyValue::new("user", u)]);
    }
    let text = registry.encode_to_string(Format::PrometheusText);
    let f = parse(&text).unwrap();
    assert_eq!(sample_value(&f, "jobs_total", &[]), Some(1.0), "{text}");
    assert!(!text.contains("# TYPE jobs_total gauge"), "{text}");
    assert!(!text.contains("otel_scope_name"), "{text}");
    assert_eq!(
        vsanobs_core::testutil::count_samples(&f, "logins_total"),
        2,
        "{text}"
    );
    assert_eq!(problems::get("otel_conflict", Problem::TypeConflict), 1);
    assert_eq!(problems::get("otel_conflict", Problem::SeriesOverflow), 1);
    assert_eq!(
        sample_value(
            &f,
            "vsanobs_scrape_collector_success",
            &[("collector", "otel_conflict")]
        ),
        Some(1.0)
    );
}

#[test]
fn a_shut_down_provider_fails_only_its_collector() {
    let registry = Registry::new();
    let own = registry.gauge("own", "Own gauge.").unwrap();
    own.set(3);
    let reader = PrometheusReader::new("otel_shutdown");
    reader.register(&registry).unwrap();
    let provider = SdkMeterProvider::builder()
        .with_reader(reader.clone())
        .build();
    provider.meter("m").u64_counter("x").build().add(1, &[]);
    provider.shutdown().unwrap();
    let f = parse(&registry.encode_to_string(Format::PrometheusText)).unwrap();
    assert_eq!(sample_value(&f, "own", &[]), Some(3.0));
    assert_eq!(
        sample_value(
            &f,
            "vsanobs_scrape_collector_success",
            &[("collector", "otel_shutdown")]
        ),
        Some(0.0)
    );
}
