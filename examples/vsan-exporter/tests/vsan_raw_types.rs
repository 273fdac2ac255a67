//! Entity types a vCenter supports that the catalogue does not know (the simulator's
//! `host-domowner`) are queried like the others and exported raw: every label a gauge
//! `vsan_<type>_<label>` holding the latest complete sample, unconverted, labelled with the
//! cluster and the entity's id (and its host when the id is a host the inventory knows),
//! counted per cluster and type, and capped per cluster.

mod vsan_support;

use vcsim::{SimCluster, SimConfig, Simulator};
use vsan_exporter::engine::EngineOptions;
use vsan_support::{Rig, T0, engine_options, samples, value};
use vsanobs_core::model::MetricKind;
use vsanobs_core::testutil::ParsedFamily;
use vsanobs_core::vsan::mapping::unknown_name;

const RAW: &str = "host-domowner";

fn config() -> SimConfig {
    SimConfig {
        clusters: 1,
        esa_clusters: 1,
        hosts_per_cluster: 2,
        disk_groups_per_host: 1,
        esa_disks_per_host: 1,
        vms_per_host: 1,
        ..SimConfig::default()
    }
}

/// Every raw series of `c` the exporter serves equals the simulator's value at `t`, with
/// exactly the labels of its host; returns how many there are.
fn check_raw_series(fams: &[ParsedFamily], sim: &Simulator, c: &SimCluster, t: i64) -> usize {
    let mut n = 0;
    for label in sim.labels(RAW) {
        let name = unknown_name(RAW, label);
        assert!(name.starts_with("vsan_host_domowner_"), "{name}");
        let fam = fams
            .iter()
            .find(|f| f.name == name)
            .unwrap_or_else(|| panic!("family {name} missing"));
        assert_eq!(fam.kind, Some(MetricKind::Gauge), "{name}");
        assert!(
            fam.help
                .as_deref()
                .is_some_and(|h| h.contains("not in the catalogue")),
            "{name}: {:?}",
            fam.help
        );
        for h in &c.hosts {
            let labels = [
                ("vcenter", "vc-test"),
                ("cluster_name", c.name.as_str()),
                ("cluster_uuid", c.uuid.as_str()),
                ("entity_id", h.node_uuid.as_str()),
                ("host_name", h.name.as_str()),
                ("host_uuid", h.node_uuid.as_str()),
            ];
            // Raw: no unit conversion (latencyAvgRead stays in µs).
            let want = sim.raw_value(RAW, &h.node_uuid, label, t);
            assert_eq!(
                value(fams, &name, &labels),
                Some(want),
                "{name} of {} in {}",
                h.name,
                c.name
            );
            n += 1;
        }
        assert_eq!(
            samples(fams, &name, &[("cluster_name", c.name.as_str())]).count(),
            c.hosts.len(),
            "{name}: one series per host of {}",
            c.name
        );
    }
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_supported_type_is_exported_raw_with_the_simulators_values() {
    let rig = Rig::start(config(), engine_options()).await;
    let sim = rig.sim.sim().clone();
    rig.exporter.collect_once().await;
    for t in [T0, T0 + 300] {
        let fams = rig.families();
        assert_eq!(
            value(
                &fams,
                "vsan_exporter_unknown_entity_types",
                &[("vcenter", "vc-test")]
            ),
            Some(1.0)
        );
        for c in sim.clusters() {
            let id = [("vcenter", "vc-test"), ("cluster_name", c.name.as_str())];
            assert_eq!(
                value(&fams, "vsan_exporter_collect_success", &id),
                Some(1.0),
                "{}:\n{}",
                c.name,
                rig.text()
            );
            // OSA and ESA clusters alike: the type is asked of both.
            let n = check_raw_series(&fams, &sim, c, t);
            assert_eq!(n, c.hosts.len() * sim.labels(RAW).len());
            let held = [id[0], id[1], ("entity_type", RAW)];
            assert_eq!(
                value(&fams, "vsan_exporter_unknown_entity_type_series", &held),
                Some(n as f64)
            );
            assert_eq!(
                value(&fams, "vsan_exporter_last_sample_timestamp_seconds", &held),
                Some(t as f64),
                "the type has its own high-water mark"
            );
            assert_eq!(
                value(
                    &fams,
                    "vsan_exporter_unknown_entity_type_series_dropped_total",
                    &held
                ),
                None,
                "nothing left out under the default cap"
            );
        }
        vsanobs_testkit::promtool_check_metrics(&rig.text()).expect("promtool check metrics");
        // The next bucket: the gauges move to its values.
        sim.advance(300);
        rig.exporter.collect_once().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_series_are_capped_per_cluster() {
    const CAP: usize = 5;
    let opts = EngineOptions {
        max_raw_series_per_cluster: CAP,
        ..engine_options()
    };
    let rig = Rig::start(config(), opts).await;
    let sim = rig.sim.sim().clone();
    let per_cluster = 2 * sim.labels(RAW).len();
    assert!(per_cluster > CAP, "the simulator serves more than the cap");
    for cycle in 1..=2u64 {
        rig.exporter.collect_once().await;
        let fams = rig.families();
        let raw_families: Vec<&ParsedFamily> = fams
            .iter()
            .filter(|f| f.name.starts_with("vsan_host_domowner_"))
            .collect();
        assert!(!raw_families.is_empty());
        for c in sim.clusters() {
            let id = [("vcenter", "vc-test"), ("cluster_name", c.name.as_str())];
            let held = [id[0], id[1], ("entity_type", RAW)];
            let mut exported = 0;
            for f in &raw_families {
                for s in f
                    .samples
                    .iter()
                    .filter(|s| s.label("cluster_name") == Some(c.name.as_str()))
                {
                    let entity = s.label("entity_id").expect("entity_id");
                    let label = sim
                        .labels(RAW)
                        .into_iter()
                        .find(|l| unknown_name(RAW, l) == f.name)
                        .expect("a label of the type");
                    assert_eq!(s.value, sim.raw_value(RAW, entity, label, sim.now()));
                    exported += 1;
                }
            }
            assert_eq!(exported, CAP, "{}:\n{}", c.name, rig.text());
            assert_eq!(
                value(&fams, "vsan_exporter_unknown_entity_type_series", &held),
                Some(CAP as f64)
            );
            // Each collection counts the series it had to leave out.
            assert_eq!(
                value(
                    &fams,
                    "vsan_exporter_unknown_entity_type_series_dropped_total",
                    &held
                ),
                Some(((per_cluster - CAP) as u64 * cycle) as f64),
                "{}",
                c.name
            );
            // The cap bounds the raw series only: the catalogue families are complete.
            assert_eq!(
                value(&fams, "vsan_exporter_collect_success", &id),
                Some(1.0)
            );
            assert_eq!(
                samples(
                    &fams,
                    "vsan_host_domclient_io_latency_seconds",
                    &[("cluster_name", c.name.as_str()), ("op", "read")]
                )
                .count(),
                c.hosts.len()
            );
        }
        vsanobs_testkit::promtool_check_metrics(&rig.text()).expect("promtool check metrics");
        sim.advance(300);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_unknown_type_is_skipped_until_the_next_inventory() {
    let cfg = SimConfig {
        clusters: 2,
        hosts_per_cluster: 2,
        disk_groups_per_host: 1,
        vms_per_host: 1,
        ..SimConfig::default()
    };
    let rig = Rig::start(cfg, engine_options()).await;
    let sim = rig.sim.sim().clone();
    const BAD: &str = "vsan-cluster-02";
    sim.set_fault(BAD, vcsim::Fault::RefuseEntityType(RAW.into()));
    let refused = |rig: &Rig| {
        value(
            &rig.families(),
            "vsan_exporter_fetch_errors_total",
            &[
                ("vcenter", "vc-test"),
                ("cluster_name", BAD),
                ("reason", "invalid_argument"),
            ],
        )
    };
    let raw_in = |rig: &Rig, cluster: &str| {
        samples(
            &rig.families(),
            "vsan_host_domowner_iops_read",
            &[("cluster_name", cluster)],
        )
        .count()
    };
    rig.exporter.collect_once().await;
    assert_eq!(refused(&rig), Some(1.0));
    for _ in 0..2 {
        sim.advance(300);
        rig.exporter.collect_once().await;
        assert_eq!(refused(&rig), Some(1.0), "not asked again");
        assert_eq!(
            value(
                &rig.families(),
                "vsan_exporter_collect_success",
                &[("vcenter", "vc-test"), ("cluster_name", BAD)]
            ),
            Some(1.0)
        );
    }
    assert_eq!(raw_in(&rig, BAD), 0);
    assert_eq!(raw_in(&rig, "vsan-cluster-01"), 2);
    // A new inventory asks again, and the type answers now.
    sim.clear_fault(BAD);
    rig.exporter.refresh_inventory();
    sim.advance(300);
    rig.exporter.collect_once().await;
    assert_eq!(refused(&rig), Some(1.0));
    assert_eq!(raw_in(&rig, BAD), 2);
}

/// A front for the rig's simulator whose performance manager also supports `aliases`:
/// types the catalogue does not know, each answered with the simulator's `host-domowner`
/// data under its own id, and `iopsRead` renamed `rename_iops_read_to`. Returns an engine
/// against it and its registry.
async fn front_with_aliases(
    rig: &Rig,
    aliases: &'static [&'static str],
    rename_iops_read_to: &'static str,
) -> (vsan_exporter::engine::Engine, vsanobs_core::Registry) {
    use axum::body::Bytes;
    use axum::http::HeaderMap;
    use axum::routing::post;
    use vsanobs_core::vsan::catalogue::ENTITY_TYPES;
    use vsanobs_core::vsan::protocol::perf::{PerfEntityType, SupportedEntityTypes};

    let upstream = rig.sim.url();
    let health = move |headers: HeaderMap, body: Bytes| {
        let upstream = upstream.clone();
        async move {
            let mut body = String::from_utf8(body.to_vec()).expect("utf-8 request");
            if body.contains("VsanPerfGetSupportedEntityTypes") {
                let ids = ENTITY_TYPES.iter().map(|et| et.id);
                let all = SupportedEntityTypes {
                    types: ids
                        .chain([RAW])
                        .chain(aliases.iter().copied())
                        .map(|t| PerfEntityType {
                            name: t.into(),
                            ..PerfEntityType::default()
                        })
                        .collect(),
                };
                return (axum::http::StatusCode::OK, all.encode());
            }
            let alias = aliases
                .iter()
                .find(|a| body.contains(&format!(">{a}:*<")))
                .copied();
            if let Some(a) = alias {
                body = body.replace(&format!(">{a}:*<"), &format!(">{RAW}:*<"));
            }
            let (status, mut text) =
                vsan_support::forward_vsan_health(&upstream, &headers, body).await;
            if let Some(a) = alias {
                text = text
                    .replace(&format!(">{RAW}:"), &format!(">{a}:"))
                    .replace(
                        "<label>iopsRead</label>",
                        &format!("<label>{rename_iops_read_to}</label>"),
                    );
            }
            (status, text)
        }
    };
    let app = axum::Router::new()
        .route("/vsanHealth", post(health))
        .fallback_service(rig.sim.sim().clone().router());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let sim = rig.sim.sim();
    let t = vsan_support::target(&url, &sim.config().user, &sim.config().password);
    let engine = vsan_exporter::engine::Engine::new(vec![t], engine_options()).expect("engine");
    let registry = vsanobs_core::Registry::new();
    registry
        .register_collector(engine.collector())
        .expect("register");
    (engine, registry)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_names_other_families_have_are_not_served_twice() {
    let cfg = SimConfig {
        clusters: 2,
        hosts_per_cluster: 2,
        disk_groups_per_host: 1,
        vms_per_host: 1,
        ..SimConfig::default()
    };
    let rig = Rig::start(cfg, engine_options()).await;
    // `host_domclient` sanitises to the catalogue type `host-domclient`'s prefix, and its
    // renamed label to the simulator's unknown label of `host-domclient`
    // (`vsan_host_domclient_latency_p99_read`); `exporter` to the self-metrics' prefix;
    // `host_domowner` to the same names as `host-domowner`.
    let aliases = &["host_domclient", "exporter", "host_domowner"];
    let (engine, registry) = front_with_aliases(&rig, aliases, "latencyP99Read").await;
    engine.collect_once().await;
    let text = registry.encode_to_string(vsanobs_core::Format::PrometheusText);
    vsanobs_testkit::promtool_check_metrics(&text).expect("promtool check metrics");
    let fams = vsanobs_core::testutil::parse(&text).expect("parses");
    let sim = rig.sim.sim();
    assert_eq!(
        value(
            &fams,
            "vsan_exporter_unknown_entity_types",
            &[("vcenter", "vc-test")]
        ),
        Some(4.0)
    );
    for c in sim.clusters() {
        let cluster = [("cluster_name", c.name.as_str())];
        // The unknown label of the catalogue type keeps its family: host labels, no
        // entity_id, the catalogue type's values.
        let p99: Vec<_> =
            samples(&fams, "vsan_host_domclient_latency_p99_read", &cluster).collect();
        assert_eq!(p99.len(), c.hosts.len(), "{text}");
        for s in p99 {
            assert_eq!(s.label("entity_id"), None);
            let host = s.label("host_uuid").expect("host_uuid");
            assert_eq!(
                s.value,
                sim.raw_value("host-domclient", host, "latencyP99Read", T0)
            );
        }
        // The alias's other labels have names of their own: served raw.
        assert_eq!(
            samples(&fams, "vsan_host_domclient_iops_write", &cluster)
                .filter(|s| s.label("entity_id").is_some())
                .count(),
            c.hosts.len()
        );
        // Two types naming the same families: served once, from the first by id.
        assert_eq!(
            samples(&fams, "vsan_host_domowner_iops_write", &cluster).count(),
            c.hosts.len()
        );
        assert_eq!(
            value(
                &fams,
                "vsan_exporter_collect_success",
                &[("vcenter", "vc-test"), cluster[0]]
            ),
            Some(1.0)
        );
    }
    // Nothing raw poses as a self-metric.
    for f in &fams {
        assert!(
            !(f.name.starts_with("vsan_exporter_iops")
                || f.name.starts_with("vsan_exporter_latency")),
            "{}",
            f.name
        );
    }
    engine.shutdown().await;
}
