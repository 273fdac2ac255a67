//! The `metrics` facade recorder: typed storage, descriptions and units, buckets per name
//! pattern, series caps, sanitising and type conflicts, in both formats.

use metrics::{
    Key, Label, Recorder, Unit, counter, describe_counter, describe_gauge, describe_histogram,
    gauge, histogram, with_local_recorder,
};
use vsanobs_bridge::facade::VsanobsRecorder;
use vsanobs_bridge::problems::{self, Problem};
use vsanobs_core::testutil::{parse, sample_value};
use vsanobs_core::{Format, Registry};

fn setup(name: &str, cap: usize) -> (Registry, VsanobsRecorder) {
    let registry = Registry::new();
    let rec = VsanobsRecorder::builder(name)
        .series_cap(cap)
        .buckets("*_seconds", [0.01, 0.1, 1.0])
        .buckets("payload_*", [100.0, 1000.0])
        .build();
    rec.register(&registry).unwrap();
    (registry, rec)
}

#[test]
fn counters_gauges_and_histograms_keep_their_values_types_help_and_units() {
    let (registry, rec) = setup("facade_values", 100);
    with_local_recorder(&rec, || {
        describe_counter!("jobs_total", "Jobs done.");
        describe_gauge!("queue_depth", "Items waiting.");
        describe_histogram!("job_duration_seconds", Unit::Seconds, "Job latency.");
        describe_histogram!("payload_size_bytes", Unit::Bytes, "Payload sizes.");
        counter!("jobs_total", "queue" => "mail").increment(3);
        counter!("jobs_total", "queue" => "sms").increment(1);
        counter!("jobs_total", "queue" => "mail").increment(4);
        let depth = gauge!("queue_depth");
        depth.set(10.0);
        depth.increment(2.5);
        depth.decrement(0.5);
        for v in [0.005, 0.05, 0.5, 5.0] {
            histogram!("job_duration_seconds", "kind" => "batch").record(v);
        }
        histogram!("payload_size_bytes").record(512.0);
        histogram!("other_latency").record(0.3);
        counter!("mirrored_total").absolute(40);
        counter!("mirrored_total").absolute(42);
        counter!("mirrored_total").absolute(7); // never goes down
    });

    for format in [Format::PrometheusText, Format::OpenMetrics] {
        let text = registry.encode_to_string(format);
        let f = parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(
            sample_value(&f, "jobs_total", &[("queue", "mail")]),
            Some(7.0),
            "{text}"
        );
        assert_eq!(
            sample_value(&f, "jobs_total", &[("queue", "sms")]),
            Some(1.0)
        );
        assert_eq!(sample_value(&f, "queue_depth", &[]), Some(12.0));
        assert_eq!(sample_value(&f, "mirrored_total", &[]), Some(42.0));
        let b = |le: &str| {
            sample_value(
                &f,
                "job_duration_seconds_bucket",
                &[("kind", "batch"), ("le", le)],
            )
        };
        assert_eq!(
            (b("0.01"), b("0.1"), b("1.0"), b("+Inf")),
            (Some(1.0), Some(2.0), Some(3.0), Some(4.0)),
            "{text}"
        );
        assert_eq!(
            sample_value(&f, "job_duration_seconds_count", &[("kind", "batch")]),
            Some(4.0)
        );
        assert_eq!(
            sample_value(&f, "job_duration_seconds_sum", &[("kind", "batch")]),
            Some(5.555)
        );
        assert_eq!(
            sample_value(&f, "payload_size_bytes_bucket", &[("le", "1000.0")]),
            Some(1.0)
        );
        // No pattern: the default (duration) buckets.
        assert_eq!(
            sample_value(&f, "other_latency_bucket", &[("le", "0.5")]),
            Some(1.0),
            "{text}"
        );
        assert!(
            text.contains("# TYPE jobs_total counter\n") || text.contains("# TYPE jobs counter\n")
        );
        assert!(text.contains("# TYPE job_duration_seconds histogram\n"));
        assert!(!text.contains("summary"));
        assert!(text.contains("Jobs done."));
        assert!(text.contains("# HELP queue_depth Items waiting.\n"));
        if format == Format::OpenMetrics {
            assert!(
                text.contains("# UNIT job_duration_seconds seconds\n"),
                "{text}"
            );
            assert!(text.contains("# UNIT payload_size_bytes bytes\n"), "{text}");
        }
    }
    vsanobs_testkit::promtool_check_metrics(&registry.encode_to_string(Format::PrometheusText))
        .expect("promtool accepts the facade's output");
}

#[test]
fn a_handle_is_created_once_per_key_and_shared() {
    let (registry, rec) = setup("facade_cache", 100);
    let key = Key::from_parts("hits_total", vec![Label::new("route", "/a")]);
    let meta = metrics::Metadata::new("t", metrics::Level::INFO, None);
    let a = rec.register_counter(&key, &meta);
    let b = rec.register_counter(&key, &meta);
    a.increment(2);
    b.increment(3);
    assert_eq!(rec.series(), 1);
    let f = parse(&registry.encode_to_string(Format::PrometheusText)).unwrap();
    assert_eq!(
        sample_value(&f, "hits_total", &[("route", "/a")]),
        Some(5.0)
    );
}

#[test]
fn series_past_the_cap_share_one_overflow_series_and_are_counted() {
    let (registry, rec) = setup("facade_cap", 3);
    with_local_recorder(&rec, || {
        for i in 0..10 {
            counter!("per_user_total", "user" => format!("u{i}")).increment(1);
        }
    });
    let text = registry.encode_to_string(Format::PrometheusText);
    let f = parse(&text).unwrap();
    for i in 0..3 {
        assert_eq!(
            sample_value(&f, "per_user_total", &[("user", &format!("u{i}"))]),
            Some(1.0)
        );
    }
    assert_eq!(
        sample_value(&f, "per_user_total", &[("user", "__overflow__")]),
        Some(7.0),
        "{text}"
    );
    assert_eq!(rec.series(), 4);
    assert_eq!(problems::get("facade_cap", Problem::SeriesOverflow), 7);
}

#[test]
fn bad_names_labels_and_type_conflicts_are_sanitised_counted_and_never_fail_a_scrape() {
    let (registry, rec) = setup("facade_bad", 100);
    with_local_recorder(&rec, || {
        counter!("http.server requests", "http.method" => "GET", "empty" => "").increment(2);
        gauge!("0lead").set(1.0);
        counter!("shared_name").increment(5);
        gauge!("shared_name").set(99.0); // a gauge under a counter's name: records nothing
        gauge!("shared_name_total").set(98.0); // collides with the counter's series name
        counter!("sanitised", "a.b" => "1").increment(1);
        counter!("sanitised", "a_b" => "1").increment(1); // same series after sanitising
    });
    for format in [Format::PrometheusText, Format::OpenMetrics] {
        let text = registry.encode_to_string(format);
        let f = parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(
            sample_value(&f, "http_server_requests_total", &[("http_method", "GET")]),
            Some(2.0),
            "{text}"
        );
        assert_eq!(sample_value(&f, "_0lead", &[]), Some(1.0));
        assert_eq!(sample_value(&f, "shared_name_total", &[]), Some(5.0));
        assert_eq!(sample_value(&f, "shared_name", &[]), None);
        assert_eq!(
            sample_value(&f, "sanitised_total", &[("a_b", "1")]),
            Some(2.0)
        );
        assert_eq!(
            sample_value(
                &f,
                "vsanobs_scrape_collector_success",
                &[("collector", "facade_bad")]
            ),
            Some(1.0)
        );
    }
    vsanobs_testkit::promtool_check_metrics(&registry.encode_to_string(Format::PrometheusText))
        .expect("promtool accepts the sanitised output");
    assert_eq!(problems::get("facade_bad", Problem::InvalidMetricName), 2);
    assert_eq!(problems::get("facade_bad", Problem::InvalidLabelName), 2);
    assert_eq!(problems::get("facade_bad", Problem::EmptyLabelValue), 1);
    assert_eq!(problems::get("facade_bad", Problem::TypeConflict), 2);
    assert_eq!(problems::get("facade_bad", Problem::DuplicateSeries), 1);
}

#[test]
fn different_label_names_under_one_name_are_served() {
    let (registry, rec) = setup("facade_mixed", 100);
    with_local_recorder(&rec, || {
        counter!("mixed_total", "a" => "1").increment(1);
        counter!("mixed_total", "b" => "2").increment(2);
    });
    let f = parse(&registry.encode_to_string(Format::OpenMetrics)).unwrap();
    assert_eq!(sample_value(&f, "mixed_total", &[("a", "1")]), Some(1.0));
    assert_eq!(sample_value(&f, "mixed_total", &[("b", "2")]), Some(2.0));
    assert_eq!(
        sample_value(
            &f,
            "vsanobs_scrape_collector_success",
            &[("collector", "facade_mixed")]
        ),
        Some(1.0)
    );
}
