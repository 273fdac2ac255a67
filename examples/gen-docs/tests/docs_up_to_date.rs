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

/// Every family the vSAN dashboard and alert rules query is one the metric reference
/// documents (so one the exporter serves, named as its tables name it).
#[test]
fn every_family_the_vsan_artifacts_query_is_documented() {
    use vsan_exporter::artifacts;
    let documented: std::collections::HashSet<&str> = docs::sections()
        .into_iter()
        .flat_map(|s| s.metrics)
        .map(|m| m.name)
        .collect();
    let rules = artifacts::alert_rules(&artifacts::RulesConfig::default());
    let exprs = artifacts::dashboard()
        .queries()
        .map(str::to_owned)
        .chain(rules.alerts().map(|a| a.expr.clone()))
        .chain(
            artifacts::dashboard()
                .variables
                .iter()
                .map(|v| v.query.clone()),
        )
        .collect::<Vec<_>>();
    let mut missing = std::collections::BTreeSet::new();
    let mut queried = 0;
    for e in &exprs {
        for (at, _) in e.match_indices("vsan_") {
            if at > 0 && e[..at].ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_') {
                continue;
            }
            let rest = &e[at..];
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            queried += 1;
            if !documented.contains(&rest[..end]) {
                missing.insert(rest[..end].to_owned());
            }
        }
    }
    assert!(queried > 50, "only {queried} family references found");
    assert!(
        missing.is_empty(),
        "the vSAN dashboard or rules query families docs/metrics.md does not document: {missing:?}"
    );
}

/// Every generated rule file passes `promtool check rules --lint=all` (lint fatal), and every
/// generated rule test file passes `promtool test rules`: hot reload's, HTTP's and vSAN's.
#[test]
fn every_generated_rule_file_passes_promtool() {
    let (mut rules, mut tests) = (0, 0);
    for (rel, _) in docs::files() {
        let path = docs::docs_dir().join(rel);
        if rel.ends_with(".rules.yml") {
            vsanobs_testkit::promtool_check_rules(&path, true)
                .unwrap_or_else(|e| panic!("{rel}: {e}"));
            rules += 1;
        } else if rel.ends_with(".test.yml") {
            vsanobs_testkit::promtool_test_rules(&path).unwrap_or_else(|e| panic!("{rel}: {e}"));
            tests += 1;
        }
    }
    assert_eq!(
        (rules, tests),
        (3, 2),
        "rule files and rule test files generated"
    );
}
