//! Conformance of both text formats with the reference checkers: `promtool check metrics`
//! for Prometheus text 0.0.4, the Python `prometheus_client` OpenMetrics parser for
//! OpenMetrics 1.0, and a uniqueness check of every series, which neither of them does.

mod conformance_support;

use conformance_support::{
    ODD_LABEL_VALUES, all_kinds_registry, assert_series_unique, sample_lines,
};
use vsanobs_core::Format;

#[test]
fn promtool_check_metrics_accepts_text_0_0_4_of_every_kind() {
    let text = all_kinds_registry().encode_to_string(Format::PrometheusText);
    if let Err(e) = vsanobs_testkit::promtool_check_metrics(&text) {
        panic!("{e}\n--- text served ---\n{text}");
    }
    // The registry really holds every kind (so the check above covered them).
    for type_line in [
        "# TYPE conf_requests_total counter",
        "# TYPE conf_cpu_seconds_total counter",
        "# TYPE conf_queue_depth gauge",
        "# TYPE conf_temperature_celsius gauge",
        "# TYPE conf_latency_seconds histogram",
        "# TYPE conf_build_info gauge",
        "# TYPE conf_route_duration_seconds histogram",
        "# TYPE conf_component_info gauge",
        "# TYPE conf_pool_size_bytes gauge",
        "# TYPE conf_pool_evictions_total counter",
        "# TYPE vsanobs_series_overflow_total counter",
        "# TYPE vsanobs_scrape_collector_success gauge",
    ] {
        assert!(text.contains(type_line), "missing {type_line:?} in\n{text}");
    }
    for value in ["NaN", "+Inf", "-Inf"] {
        assert!(
            text.contains(&format!(
                "{{env=\"ci\",value=\"{}\"}} {value}\n",
                value_label(value)
            )),
            "missing {value} gauge in\n{text}"
        );
    }
}

fn value_label(value: &str) -> &'static str {
    match value {
        "NaN" => "nan",
        "+Inf" => "pos_inf",
        _ => "neg_inf",
    }
}

#[test]
fn promtool_check_metrics_rejects_what_it_should() {
    // The check is only worth something if promtool fails on bad input through the same call.
    let bad = "# HELP conf_x Counter without its suffix.\n# TYPE conf_x counter\nconf_x 1\n";
    let err = vsanobs_testkit::promtool_check_metrics(bad).unwrap_err();
    assert!(err.contains("_total"), "{err}");
}

#[test]
fn openmetrics_output_passes_the_reference_parser() {
    let text = all_kinds_registry().encode_to_string(Format::OpenMetrics);
    if let Err(e) = vsanobs_testkit::python_openmetrics_check(&text) {
        panic!("{e}\n--- text served ---\n{text}");
    }
    assert!(text.ends_with("# EOF\n"));
    // Exemplars, units and info are OpenMetrics-only features: make sure they were checked.
    assert!(text.contains(
        "# {trace_id=\"0af7651916cd43dd8448eb211c80319c\",span_id=\"b7ad6b7169203331\"}"
    ));
    assert!(text.contains("# UNIT conf_latency_seconds seconds\n"));
    assert!(text.contains("# TYPE conf_build info\n"));
}

#[test]
fn every_series_is_unique_in_both_formats() {
    let registry = all_kinds_registry();
    for format in [Format::PrometheusText, Format::OpenMetrics] {
        let text = registry.encode_to_string(format);
        assert_series_unique(&text);
        // Sanity: the reader saw every series (one odd-label series per case, three
        // non-finite gauges, 7 latency buckets).
        let lines = sample_lines(&text);
        let count = |name: &str| lines.iter().filter(|l| l.name == name).count();
        assert_eq!(count("conf_odd"), ODD_LABEL_VALUES.len(), "{format:?}");
        assert_eq!(count("conf_special"), 3, "{format:?}");
        assert_eq!(count("conf_latency_seconds_bucket"), 6, "{format:?}");
    }
}

#[test]
fn the_uniqueness_check_catches_a_repeat() {
    let text = all_kinds_registry().encode_to_string(Format::PrometheusText);
    let first = sample_lines(&text)
        .into_iter()
        .position(|l| l.name == "conf_odd")
        .unwrap();
    // Repeat one series with its labels in a different order: still the same series.
    let line = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .nth(first)
        .unwrap()
        .to_owned();
    let reordered = line
        .replacen("env=\"ci\",", "", 1)
        .replacen('}', ",env=\"ci\"}", 1);
    assert_ne!(reordered, line);
    let doubled = format!("{text}{reordered}\n");
    let caught = std::panic::catch_unwind(|| assert_series_unique(&doubled));
    assert!(caught.is_err(), "a repeated series went unnoticed");
    // promtool itself does not notice it, which is why the check exists.
    vsanobs_testkit::promtool_check_metrics(&doubled).unwrap_or_else(|e| panic!("{e}"));
}
