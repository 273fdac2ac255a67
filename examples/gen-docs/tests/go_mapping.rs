//! docs/go-metrics-mapping.md lists exactly the metrics the service collectors export.

use std::collections::BTreeSet;

use vsanobs_core::alloc::{HEAP_METRICS, JEMALLOC_METRICS};
use vsanobs_core::build_info::BUILD_INFO_METRIC;
use vsanobs_core::process::PROCESS_METRICS;
use vsanobs_core::runtime::TOKIO_METRICS;

/// The metric names in the second table of the checked-in page.
fn names_listed_in_page() -> BTreeSet<String> {
    let text = std::fs::read_to_string(gen_docs::docs_dir().join("go-metrics-mapping.md")).unwrap();
    let section = text
        .split("## Every service metric of vsanobs")
        .nth(1)
        .expect("the page has the service metric table");
    section
        .lines()
        .filter(|l| l.starts_with("| `"))
        .map(|l| {
            let cell = l.split('|').nth(1).unwrap().trim();
            cell.trim_matches('`')
                .trim_start_matches("<ns>_")
                .to_owned()
        })
        .collect()
}

#[test]
fn go_mapping_page_lists_exactly_the_exported_metrics() {
    let code: BTreeSet<String> = PROCESS_METRICS
        .iter()
        .chain(HEAP_METRICS)
        .chain(JEMALLOC_METRICS)
        .chain(TOKIO_METRICS)
        .chain(std::iter::once(&BUILD_INFO_METRIC))
        .map(|d| d.name.to_owned())
        .collect();
    assert_eq!(names_listed_in_page(), code);
}
