//! Every generated file under docs/ must equal what the code generates, and the metric
//! tables it is generated from must follow the naming rules.

use gen_docs as docs;

#[test]
fn every_generated_file_is_up_to_date() {
    let files = docs::files();
    assert_eq!(files.len(), 11, "a generated file was added or dropped");
    let stale: Vec<&str> = files
        .iter()
        .filter(|(rel, generated)| {
            std::fs::read_to_string(docs::docs_dir().join(rel)).unwrap_or_default() != *generated
        })
        .map(|(rel, _)| *rel)
        .collect();
    assert!(
        stale.is_empty(),
        "out of date under docs/: {}; run `cargo run -p gen-docs` and commit the result",
        stale.join(", ")
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
