//! docs/metrics.md must equal what the code's metric tables generate.

use gen_docs as docs;

#[test]
fn metrics_md_is_up_to_date() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/metrics.md");
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    let generated = docs::metrics_markdown(&docs::sections());
    assert!(
        on_disk == generated,
        "docs/metrics.md is out of date: run `cargo run -p gen-docs` and commit the result"
    );
}

#[test]
fn every_catalogued_name_is_valid_and_unique() {
    let mut seen = std::collections::HashSet::new();
    for s in docs::sections() {
        for m in s.metrics {
            assert!(
                vsanobs_core::labels::is_valid_metric_name(m.name),
                "{}",
                m.name
            );
            assert!(!m.help.trim().is_empty(), "{} has no help", m.name);
            assert!(seen.insert(m.name), "{} documented twice", m.name);
            if m.kind == vsanobs_core::model::MetricKind::Counter {
                assert!(
                    m.name.ends_with("_total"),
                    "counter {} must end with _total",
                    m.name
                );
            } else {
                assert!(
                    !m.name.ends_with("_total"),
                    "{} is not a counter but ends with _total",
                    m.name
                );
            }
            if let Some(u) = m.unit {
                assert!(
                    m.base_name().ends_with(&format!("_{u}")),
                    "{} does not end with its unit {u}",
                    m.name
                );
            }
            for l in m.labels {
                assert!(
                    vsanobs_core::labels::is_valid_label_name(l),
                    "{}: label {l}",
                    m.name
                );
            }
        }
    }
}

#[test]
fn service_dashboard_uses_the_http_crates_metric_name() {
    // vsanobs-core cannot depend on vsanobs-http, so the service dashboard names the HTTP
    // duration histogram by a constant of its own; it must match the HTTP crate's table.
    assert!(
        vsanobs_http::metrics::ROUTE_METRICS.iter().any(|m| m.name
            == vsanobs_core::process::artifacts::HTTP_REQUEST_DURATION_METRIC
            && m.kind == vsanobs_core::model::MetricKind::Histogram),
        "{} is not a histogram in vsanobs_http::metrics::ROUTE_METRICS",
        vsanobs_core::process::artifacts::HTTP_REQUEST_DURATION_METRIC
    );
}
