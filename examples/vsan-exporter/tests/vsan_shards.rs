//! `Engine::collectors()` serves exactly the families of `Engine::collector()`, each in one
//! collector only, so the binary can split a scrape's owned samples by family, with every
//! collector named after what it serves.

mod vsan_support;

use std::collections::BTreeMap;

use vcsim::SimConfig;
use vsan_support::{Rig, engine_options};
use vsanobs_core::{Format, Registry};

/// Sample lines (sorted) and `# TYPE` lines (counted) of `text`, without the library's own
/// families (the rig's registry also holds the /metrics handler metrics; the per-collector
/// success metric differs by design); the health answer's age is taken at each scrape, so
/// only its series, not its value, is compared.
fn split(text: &str) -> (Vec<&str>, BTreeMap<&str, usize>) {
    let mut samples = Vec::new();
    let mut types = BTreeMap::new();
    for line in text.lines() {
        if line.starts_with("vsanobs_") || line.starts_with("# TYPE vsanobs_") {
            continue;
        }
        let line = match line.strip_prefix("vsan_exporter_health_age_seconds{") {
            Some(_) => line.rsplit_once(' ').map_or(line, |(series, _)| series),
            None => line,
        };
        if let Some(t) = line.strip_prefix("# TYPE ") {
            *types.entry(t).or_insert(0) += 1;
        } else if !line.starts_with('#') {
            samples.push(line);
        }
    }
    samples.sort_unstable();
    (samples, types)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sharded_collectors_serve_every_family_exactly_once() {
    let cfg = SimConfig {
        clusters: 2,
        hosts_per_cluster: 3,
        ..SimConfig::default()
    };
    let rig = Rig::start(cfg, engine_options()).await;
    rig.exporter.collect_once().await;
    let whole = rig.text();

    let sharded = Registry::new();
    let shards = rig.exporter.collectors();
    let catalogue = vsanobs_core::vsan::catalogue::METRICS;
    let entity_types = vsanobs_core::vsan::catalogue::ENTITY_TYPES;
    // A collector per family (catalogue, health, capacity, resync), per entity type's
    // unknown labels, one for the entity types the catalogue does not know and one for the
    // self-metrics.
    let summary = vsan_exporter::summary::metrics::ALL;
    assert_eq!(
        shards.len(),
        catalogue.len() + summary.len() + entity_types.len() + 2
    );
    let names: Vec<String> = shards
        .iter()
        .map(|c| vsanobs_core::Collector::name(c).to_owned())
        .collect();
    for c in shards {
        sharded
            .register_collector(c)
            .expect("distinct collector names");
    }
    let parts = sharded.encode_to_string(Format::PrometheusText);

    let (whole_samples, whole_types) = split(&whole);
    let (part_samples, part_types) = split(&parts);
    assert!(
        whole_samples.len() > 1000,
        "a real collection: {} series",
        whole_samples.len()
    );
    assert_eq!(whole_samples, part_samples, "same series and values");
    assert_eq!(whole_types, part_types, "same families");
    assert!(
        part_types.values().all(|n| *n == 1),
        "each family in one collector only"
    );
    // Every collector ran and succeeded; more than one carried families.
    for name in &names {
        let line = format!("vsanobs_scrape_collector_success{{collector=\"{name}\"}} 1\n");
        assert!(parts.contains(&line), "missing {line}");
    }
    // Each catalogue family is served by the collector named after it.
    for desc in catalogue {
        assert!(names.iter().any(|n| n == desc.name), "{}", desc.name);
    }
    assert!(
        part_types.contains_key("vsan_host_domclient_latency_p99_read gauge"),
        "the simulator's unknown label is served (by vsan_host_domclient_unknown_labels)"
    );
    assert!(names.iter().any(|n| n == "vsan_unknown_entity_types"));
    assert!(
        part_types.contains_key("vsan_host_domowner_iops_read gauge"),
        "the simulator's unknown entity type is served (by vsan_unknown_entity_types)"
    );
    vsanobs_core::testutil::parse(&parts).expect("sharded output parses");
}
