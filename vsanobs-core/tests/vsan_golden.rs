//! Golden-file tests: vSAN SOAP responses (shaped like vCenter's) through the parser and the
//! catalogue mapping. Regenerate the `.golden` files with `UPDATE_GOLDEN=1` after an
//! intentional change, and review the diff.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use vsanobs_core::vsan::mapping::{DeltaAccumulator, DeltaTotal, MetricRef, map_entity};
use vsanobs_core::vsan::{VsanError, parse_query_perf_response};

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/vsan")
}

fn render(xml: &str) -> String {
    let mut out = String::new();
    let entities = match parse_query_perf_response(xml) {
        Ok(e) => e,
        Err(e) => {
            let _ = writeln!(out, "error[{}]: {e}", e.reason());
            let mut src = std::error::Error::source(&e);
            while let Some(s) = src {
                let _ = writeln!(out, "  caused by: {s}");
                src = s.source();
            }
            return out;
        }
    };
    let mut acc = DeltaAccumulator::new();
    for csv in &entities {
        let m = match map_entity(csv, None) {
            Ok(m) => m,
            Err(e) => {
                let _ = writeln!(
                    out,
                    "entity {}: error[{}]: {e}",
                    csv.entity_ref_id,
                    e.reason()
                );
                continue;
            }
        };
        let _ = writeln!(
            out,
            "entity type={} uuid={} sub={:?}",
            m.entity_type, m.uuid, m.sub
        );
        for g in &m.gauges {
            let (kind, extra) = match &g.metric {
                MetricRef::Known(k) => ("gauge", format!("{:?}", k.extra)),
                MetricRef::Unknown(_) => ("unknown-gauge", String::new()),
                _ => ("other", String::new()),
            };
            let _ = writeln!(
                out,
                "  {kind} {}{extra} = {} @ {}",
                g.metric.name(),
                g.value,
                g.timestamp
            );
        }
        for d in &m.deltas {
            let key = format!("{}{}{:?}", m.uuid, d.mapping.metric.name, d.mapping.extra);
            let total = acc.add(key, &d.samples);
            let _ = writeln!(
                out,
                "  counter {}{:?} deltas={:?} total={total}",
                d.mapping.metric.name, d.mapping.extra, d.samples
            );
        }
        let _ = writeln!(
            out,
            "  unknown_labels={} incomplete_series={} count_mismatches={} latest={:?}",
            m.unknown_labels, m.incomplete_series, m.count_mismatches, m.latest_timestamp
        );
    }
    out
}

#[test]
fn golden_files_match() {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let mut names: Vec<PathBuf> = std::fs::read_dir(golden_dir())
        .expect("golden dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "xml"))
        .collect();
    names.sort();
    assert!(names.len() >= 10, "golden fixtures missing");
    let mut failures = Vec::new();
    for xml_path in names {
        let xml = std::fs::read_to_string(&xml_path).expect("read fixture");
        let got = render(&xml);
        let golden_path = xml_path.with_extension("golden");
        if update {
            std::fs::write(&golden_path, &got).expect("write golden");
            continue;
        }
        let want = std::fs::read_to_string(&golden_path).unwrap_or_default();
        if got != want {
            failures.push(format!(
                "{}:\n--- want\n{want}--- got\n{got}",
                golden_path.display()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "golden mismatch (UPDATE_GOLDEN=1 to regenerate):\n{}",
        failures.join("\n")
    );
}

#[test]
fn fixtures_behave_as_documented() {
    let read = |n: &str| std::fs::read_to_string(golden_dir().join(n)).expect("fixture");
    // Empty and -1 cells never become samples; the latest complete one is served.
    let e = parse_query_perf_response(&read("host_domclient.xml")).expect("parse");
    let m = map_entity(&e[0], None).expect("map");
    let lat = m
        .gauges
        .iter()
        .find(|g| g.metric.name() == "vsan_host_domclient_io_latency_seconds")
        .expect("latency");
    assert_eq!((lat.value, lat.timestamp), (0.000227, 1_704_103_200));
    let ratio = m
        .gauges
        .iter()
        .find(|g| g.metric.name() == "vsan_host_domclient_client_cache_hit_ratio")
        .expect("ratio");
    assert_eq!(ratio.value, 0.68);
    assert_eq!(
        m.unknown_labels, 2,
        "numOio and latencyP99Read are not in the catalogue"
    );
    // A window that starts at the first sample yields only the newer delta.
    let later = map_entity(&e[0], Some(1_704_103_200)).expect("map");
    let reads = later
        .deltas
        .iter()
        .find(|d| d.mapping.label == "readCount")
        .expect("readCount");
    assert_eq!(reads.samples, [(1_704_103_500, 141_000.0)]);
    // The second host has no complete sample for iopsRead or readCount: nothing invented.
    let m2 = map_entity(&e[1], None).expect("map");
    assert!(
        m2.gauges
            .iter()
            .all(|g| g.metric.name() != "vsan_host_domclient_io_operations_per_second")
    );
    assert!(m2.deltas.iter().all(|d| d.samples.is_empty()));
    assert_eq!(m2.incomplete_series, 2);
    // Values without timestamps are ignored, never stamped with a guessed time.
    let e = parse_query_perf_response(&read("count_mismatch.xml")).expect("parse");
    let m = map_entity(&e[0], None).expect("map");
    let w = m
        .gauges
        .iter()
        .find(|g| {
            g.metric.name() == "vsan_cluster_domcompmgr_io_operations_per_second" && g.value > 200.0
        })
        .expect("write");
    assert_eq!((w.value, w.timestamp), (220.0, 1_704_103_800));
    assert_eq!(m.count_mismatches, 4);
    // Faults are typed.
    assert!(matches!(
        parse_query_perf_response(&read("fault_not_found.xml")),
        Err(VsanError::Fault { .. })
    ));
    assert!(matches!(
        parse_query_perf_response(&read("truncated.xml")),
        Err(VsanError::Truncated)
    ));
}

/// The interval-delta rule, once for every user: `DeltaAccumulator` (keyed series, as the
/// golden files above use it) and `DeltaTotal` (one series, as the exporter's compact store
/// uses it) give the same totals for the same samples, one at a time or in batches.
#[test]
fn the_delta_rule_is_one_rule() {
    let e = parse_query_perf_response(
        &std::fs::read_to_string(golden_dir().join("host_domclient.xml")).expect("fixture"),
    )
    .expect("parse");
    let m = map_entity(&e[0], None).expect("map");
    let reads = m
        .deltas
        .iter()
        .find(|d| d.mapping.label == "readCount")
        .expect("readCount");
    // Replays, "no data" (negative, NaN) and an out-of-order interval around the real samples.
    let mut samples = reads.samples.clone();
    samples.extend([
        (1_704_103_200, 5.0),
        (1_704_103_800, -1.0),
        (1_704_103_800, f64::NAN),
    ]);
    samples.push((1_704_104_100, 7.0));
    samples.push((1_704_103_800, 11.0));

    let mut batch = DeltaAccumulator::new();
    let mut one_by_one = DeltaAccumulator::new();
    let mut single = DeltaTotal::new();
    for &(t, v) in &samples {
        one_by_one.add_one("reads", t, v);
        single.add(t, v);
    }
    let total = batch.add("reads", &samples);
    assert_eq!(total, 138_900.0 + 141_000.0 + 7.0);
    assert_eq!(one_by_one.get(&"reads"), Some(total));
    assert_eq!(single.total(), total);
    assert_eq!(batch.series(&"reads"), Some(single));
    assert_eq!(single.newest(), Some(1_704_104_100));
    // Restored from its parts (as a store keeps them), a series goes on by the same rule.
    let mut restored = DeltaTotal::from_parts(single.total(), single.newest());
    assert_eq!(
        restored.add(1_704_104_100, 1.0),
        total,
        "replay after restore"
    );
    assert_eq!(restored.add(1_704_104_400, 1.0), total + 1.0);
}
