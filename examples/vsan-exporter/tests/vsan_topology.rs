//! What a real vCenter mixes: vSAN OSA and ESA clusters, clusters without vSAN, with the
//! performance service off, or that the user may not read. Every collectable cluster is
//! collected with the entity types it serves; every other one is named, with its reason, in
//! `vsan_exporter_cluster_state` and once in the log; a vCenter with nothing to collect says so.

mod vsan_support;

use vcsim::{ClusterKind, SimConfig, Simulator};
use vsan_support::{
    Rig, capture_logs, engine_options, engine_with_registry, samples, serve_router, value,
};
use vsanobs_core::testutil::ParsedFamily;

fn state(rig: &Rig, cluster: &str) -> Vec<String> {
    samples(
        &rig.families(),
        "vsan_exporter_cluster_state",
        &[("vcenter", "vc-test"), ("cluster_name", cluster)],
    )
    .filter(|s| s.value == 1.0)
    .map(|s| s.label("state").unwrap_or_default().to_owned())
    .collect()
}

fn clusters_in(rig: &Rig, state: &str) -> Option<f64> {
    value(
        &rig.families(),
        "vsan_exporter_clusters",
        &[("vcenter", "vc-test"), ("state", state)],
    )
}

/// Two hosts a cluster, one disk group and one VM a host; the tests choose the clusters.
fn two_hosts_a_cluster() -> SimConfig {
    SimConfig {
        hosts_per_cluster: 2,
        disk_groups_per_host: 1,
        vms_per_host: 1,
        ..SimConfig::default()
    }
}

/// A rig on a simulator for `cfg`, and that simulator.
async fn start(cfg: SimConfig) -> (Rig, Simulator) {
    let rig = Rig::start(cfg, engine_options()).await;
    let sim = rig.sim.sim().clone();
    (rig, sim)
}

/// How many entity types the vCenter supports that the catalogue does not map.
fn unknown_entity_types(fams: &[ParsedFamily]) -> Option<f64> {
    value(
        fams,
        "vsan_exporter_unknown_entity_types",
        &[("vcenter", "vc-test")],
    )
}

/// Whether `family` has a series for `cluster`.
fn has_series(fams: &[ParsedFamily], family: &str, cluster: &str) -> bool {
    samples(fams, family, &[("cluster_name", cluster)])
        .next()
        .is_some()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_osa_and_esa_clusters_are_all_collected_with_their_own_types() {
    let (rig, sim) = start(SimConfig {
        clusters: 2,
        esa_clusters: 2,
        esa_disks_per_host: 3,
        ..two_hosts_a_cluster()
    })
    .await;
    rig.exporter.collect_once().await;
    rig.exporter.collect_once().await;
    let fams = rig.families();
    assert_eq!(sim.clusters().len(), 4);
    for c in sim.clusters() {
        let id = [("vcenter", "vc-test"), ("cluster_name", c.name.as_str())];
        assert_eq!(
            value(&fams, "vsan_exporter_collect_success", &id),
            Some(1.0),
            "{}:\n{}",
            c.name,
            rig.text()
        );
        assert_eq!(state(&rig, &c.name), ["collecting"], "{}", c.name);
        let esa = c.kind == ClusterKind::Esa;
        let cluster = [("cluster_name", c.name.as_str())];
        // ESA disks: their own families, one series per storage-pool disk and op.
        let esa_disks = samples(
            &fams,
            "vsan_esa_disk_device_io_operations_per_second",
            &cluster,
        )
        .filter(|s| s.label("op") == Some("read"))
        .count();
        let layer = samples(&fams, "vsan_esa_disk_layer_io_latency_seconds", &cluster).count();
        let dg = samples(&fams, "vsan_disk_group_io_operations_per_second", &cluster).count();
        let cache = samples(
            &fams,
            "vsan_cache_disk_device_io_operations_per_second",
            &cluster,
        )
        .count();
        if esa {
            assert_eq!(esa_disks, 2 * 3, "{}", c.name);
            assert_eq!(layer, 2 * 3 * 2, "{}: read and write", c.name);
            assert_eq!(
                dg + cache,
                0,
                "{}: an ESA cluster has no disk groups",
                c.name
            );
            // Each value is the simulator's, converted (µs -> s) and labelled by disk UUID.
            let disk = &c.hosts[1].pool_disks[2];
            let got = samples(
                &fams,
                "vsan_esa_disk_layer_io_latency_seconds",
                &[("disk_uuid", disk.as_str()), ("op", "write")],
            )
            .next()
            .expect("ESA disk series")
            .value;
            let want = sim.raw_value(
                "vsan-esa-disk-layer",
                disk,
                "avgLatWriteCapacity",
                vsan_support::T0,
            ) / 1e6;
            assert!((got - want).abs() < 1e-12, "{got} != {want}");
        } else {
            assert_eq!(
                esa_disks + layer,
                0,
                "{}: an OSA cluster has no ESA disks",
                c.name
            );
            assert!(dg > 0 && cache > 0, "{}", c.name);
        }
        // Types the cluster does not serve were never asked for.
        assert_eq!(
            value(
                &fams,
                "vsan_exporter_fetch_errors_total",
                &[
                    ("vcenter", "vc-test"),
                    ("cluster_name", c.name.as_str()),
                    ("reason", "invalid_argument")
                ]
            ),
            None,
            "{}",
            c.name
        );
    }
    assert_eq!(clusters_in(&rig, "collecting"), Some(4.0));
    vsanobs_testkit::promtool_check_metrics(&rig.text()).expect("promtool check metrics");
    // The simulated vCenter also supports `host-domowner`, which the catalogue does not map.
    assert_eq!(unknown_entity_types(&fams), Some(1.0));
}

#[tokio::test]
async fn clusters_that_cannot_be_collected_say_why_once() {
    // Current-thread runtime: every task runs on this thread, under this subscriber.
    // tracing's callsite interest is process-wide: in plain `cargo test` the other tests'
    // subscribers come and go meanwhile, so the log is captured in a process of its own.
    if vsanobs_testkit::quiet::rerun_alone() {
        return;
    }
    let (logs, _guard) = capture_logs();

    let (rig, sim) = start(SimConfig {
        clusters: 1,
        no_vsan_clusters: 1,
        perf_off_clusters: 1,
        no_permission_clusters: 1,
        ..two_hosts_a_cluster()
    })
    .await;
    for _ in 0..3 {
        rig.exporter.collect_once().await;
        sim.advance(300);
    }
    let expect = [
        ("vsan-cluster-01", "collecting"),
        ("plain-cluster-01", "no_vsan"),
        ("perf-off-cluster-01", "perf_service_off"),
        ("restricted-cluster-01", "no_permission"),
    ];
    let log = logs.text();
    for (cluster, want) in expect {
        assert_eq!(state(&rig, cluster), [want], "{cluster}:\n{}", rig.text());
        let lines: Vec<&str> = log
            .lines()
            .filter(|l| {
                l.contains(&format!("cluster={cluster} "))
                    && l.contains(&format!("state=\"{want}\""))
            })
            .collect();
        assert_eq!(
            lines.len(),
            1,
            "{cluster}: one log line per state change:\n{log}"
        );
        assert_eq!(clusters_in(&rig, want), Some(1.0), "{want}");
    }
    assert_eq!(clusters_in(&rig, "error"), Some(0.0));
    let fams = rig.families();
    let success = |c: &str| {
        value(
            &fams,
            "vsan_exporter_collect_success",
            &[("vcenter", "vc-test"), ("cluster_name", c)],
        )
    };
    assert_eq!(success("vsan-cluster-01"), Some(1.0));
    assert_eq!(
        success("plain-cluster-01"),
        None,
        "nothing to collect, nothing failed"
    );
    assert_eq!(success("perf-off-cluster-01"), Some(0.0));
    assert_eq!(success("restricted-cluster-01"), Some(0.0));
    let errors = |c: &str, reason: &str| {
        value(
            &fams,
            "vsan_exporter_fetch_errors_total",
            &[
                ("vcenter", "vc-test"),
                ("cluster_name", c),
                ("reason", reason),
            ],
        )
    };
    // The failed probe repeats every cycle; its warning does not: the first one comes before
    // the state is known, later ones are debug (counted in fetch_errors_total below).
    for cluster in ["perf-off-cluster-01", "restricted-cluster-01"] {
        let warnings = log
            .lines()
            .filter(|l| {
                l.contains(" WARN ")
                    && l.contains(&format!("cluster={cluster} "))
                    && l.contains("vSAN query failed")
            })
            .count();
        assert_eq!(warnings, 1, "{cluster}: warned once over 3 cycles:\n{log}");
    }
    // One probe a cycle, not one failed query per entity type.
    assert_eq!(errors("perf-off-cluster-01", "not_found"), Some(3.0));
    assert_eq!(errors("restricted-cluster-01", "no_permission"), Some(3.0));
    // The summary: found, collected, and why not.
    assert!(
        log.contains("4 clusters found, 1 collected; not collected: 1 no_vsan, 1 perf_service_off, 1 no_permission"),
        "{log}"
    );
    // Each of these clusters has a reason, and the vSAN performance families only the
    // collected one; health, capacity and resync also the one whose performance service is
    // off (they do not depend on it), not those without vSAN or permission.
    let text = rig.text();
    vsanobs_testkit::promtool_check_metrics(&text).expect("promtool check metrics");
    let summary = vsan_exporter::summary::metrics::ALL;
    for line in text
        .lines()
        .filter(|l| l.starts_with("vsan_") && !l.starts_with("vsan_exporter"))
    {
        let of_summary = summary
            .iter()
            .any(|d| line.split(['{', ' ']).next() == Some(d.name));
        assert!(
            line.contains("cluster_name=\"vsan-cluster-01\"")
                || (of_summary && line.contains("cluster_name=\"perf-off-cluster-01\"")),
            "{line}"
        );
    }
    assert!(
        text.contains("vsan_cluster_capacity_total_bytes{vcenter=\"vc-test\",cluster_name=\"perf-off-cluster-01\""),
        "{text}"
    );
    assert_eq!(
        errors("restricted-cluster-01", "health_no_permission"),
        Some(1.0)
    );
}

#[tokio::test]
async fn a_vcenter_with_nothing_to_collect_says_so() {
    // tracing's callsite interest is process-wide: in plain `cargo test` the other tests'
    // subscribers come and go meanwhile, so the log is captured in a process of its own.
    if vsanobs_testkit::quiet::rerun_alone() {
        return;
    }
    let (logs, _guard) = capture_logs();

    let (rig, _sim) = start(SimConfig {
        clusters: 0,
        no_vsan_clusters: 3,
        hosts_per_cluster: 2,
        ..SimConfig::default()
    })
    .await;
    rig.exporter.collect_once().await;
    rig.exporter.collect_once().await;
    assert_eq!(clusters_in(&rig, "collecting"), Some(0.0));
    assert_eq!(clusters_in(&rig, "no_vsan"), Some(3.0));
    let log = logs.text();
    let summary: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("nothing to collect from this vCenter"))
        .collect();
    assert_eq!(summary.len(), 1, "{log}");
    assert!(
        summary[0].contains("WARN")
            && summary[0].contains("3 clusters found, 0 collected; not collected: 3 no_vsan"),
        "{log}"
    );
    let text = rig.text();
    assert!(!text.contains("vsan_exporter_collect_success"));
    // Nothing was asked of /vsanHealth, so nothing failed there.
    assert!(
        !text.contains("vsan_exporter_inventory_errors_total"),
        "{text}"
    );
    assert!(!text.contains("vsan_exporter_fetch_errors_total"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_entity_type_fails_one_cycle_then_is_skipped_until_the_next_inventory() {
    let (rig, sim) = start(SimConfig {
        clusters: 2,
        ..two_hosts_a_cluster()
    })
    .await;
    const BAD: &str = "vsan-cluster-02";
    sim.set_fault(BAD, vcsim::Fault::RefuseEntityType("vsan-host-net".into()));
    let id = [("vcenter", "vc-test"), ("cluster_name", BAD)];
    let refused = |rig: &Rig| {
        value(
            &rig.families(),
            "vsan_exporter_fetch_errors_total",
            &[id[0], id[1], ("reason", "invalid_argument")],
        )
    };
    let success = |rig: &Rig| value(&rig.families(), "vsan_exporter_collect_success", &id);
    rig.exporter.collect_once().await;
    assert_eq!(refused(&rig), Some(1.0));
    assert_eq!(success(&rig), Some(0.0), "the cycle that met the refusal");
    assert_eq!(state(&rig, BAD), ["collecting"], "the other types answered");
    for _ in 0..3 {
        sim.advance(300);
        rig.exporter.collect_once().await;
        assert_eq!(success(&rig), Some(1.0), "{}", rig.text());
        assert_eq!(refused(&rig), Some(1.0), "not asked again");
    }
    // Its other types are collected, the refused one is not; the other cluster has it.
    let fams = rig.families();
    assert!(has_series(
        &fams,
        "vsan_host_domclient_io_operations_per_second",
        BAD
    ));
    assert!(!has_series(&fams, "vsan_host_net_bytes_per_second", BAD));
    assert!(has_series(
        &fams,
        "vsan_host_net_bytes_per_second",
        "vsan-cluster-01"
    ));
    // A new inventory asks again.
    rig.exporter.refresh_inventory();
    sim.advance(300);
    rig.exporter.collect_once().await;
    assert_eq!(refused(&rig), Some(2.0));
    sim.clear_fault(BAD);
    rig.exporter.refresh_inventory();
    sim.advance(300);
    rig.exporter.collect_once().await;
    assert_eq!(success(&rig), Some(1.0));
    assert!(has_series(
        &rig.families(),
        "vsan_host_net_bytes_per_second",
        BAD
    ));
}

/// A front for the rig's simulator whose performance manager supports only `types`; every
/// other call goes to the simulator. Returns an engine against it, its registry, and the
/// front's stop sender (the front serves until it is dropped).
async fn front_supporting(
    rig: &Rig,
    types: &'static [&'static str],
) -> (
    vsan_exporter::engine::Engine,
    vsanobs_core::Registry,
    tokio::sync::oneshot::Sender<()>,
) {
    use axum::body::Bytes;
    use axum::http::HeaderMap;
    use axum::routing::post;
    use vsanobs_core::vsan::protocol::perf::{PerfEntityType, SupportedEntityTypes};

    let upstream = rig.sim.url();
    let health = move |headers: HeaderMap, body: Bytes| {
        let upstream = upstream.clone();
        async move {
            if std::str::from_utf8(&body)
                .is_ok_and(|b| b.contains("VsanPerfGetSupportedEntityTypes"))
            {
                let only = SupportedEntityTypes {
                    types: types
                        .iter()
                        .map(|t| PerfEntityType {
                            name: (*t).into(),
                            ..PerfEntityType::default()
                        })
                        .collect(),
                };
                return (axum::http::StatusCode::OK, only.encode());
            }
            vsan_support::forward_vsan_health(&upstream, &headers, body).await
        }
    };
    let app = axum::Router::new()
        .route("/vsanHealth", post(health))
        .fallback_service(rig.sim.sim().clone().router());
    // The front serves until the returned sender is dropped, at the end of the test.
    let (front, stop) = serve_router(app).await;
    let sim = rig.sim.sim();
    let t = vsan_support::target(
        &format!("http://{front}"),
        &sim.config().user,
        &sim.config().password,
    );
    let (engine, registry) = engine_with_registry(t, engine_options());
    (engine, registry, stop)
}

fn two_clusters() -> SimConfig {
    SimConfig {
        clusters: 2,
        hosts_per_cluster: 1,
        disk_groups_per_host: 1,
        ..SimConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vcenter_supporting_no_entity_type_leaves_its_clusters_in_error() {
    let rig = Rig::start(two_clusters(), engine_options()).await;
    let (engine, registry, _front) = front_supporting(&rig, &[]).await;
    engine.collect_once().await;
    engine.collect_once().await;
    let text = registry.encode_to_string(vsanobs_core::Format::PrometheusText);
    let fams = vsanobs_core::testutil::parse(&text).expect("parses");
    for c in rig.sim.sim().clusters() {
        let id = [("vcenter", "vc-test"), ("cluster_name", c.name.as_str())];
        assert_eq!(
            value(&fams, "vsan_exporter_collect_success", &id),
            Some(0.0),
            "{text}"
        );
        assert_eq!(
            value(
                &fams,
                "vsan_exporter_cluster_state",
                &[id[0], id[1], ("state", "error")]
            ),
            Some(1.0)
        );
        assert_eq!(
            value(
                &fams,
                "vsan_exporter_fetch_errors_total",
                &[id[0], id[1], ("reason", "no_supported_entity_type")]
            ),
            Some(2.0)
        );
    }
    assert_eq!(
        value(
            &fams,
            "vsan_exporter_unknown_entity_types",
            &[("vcenter", "vc-test")]
        ),
        Some(0.0)
    );
    assert!(
        !fams
            .iter()
            .any(|f| f.name.starts_with("vsan_cluster_domclient")
                || f.name.starts_with("vsan_host_domowner")),
        "nothing was queried:\n{text}"
    );
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vcenter_supporting_only_unknown_types_is_collected_raw() {
    let rig = Rig::start(two_clusters(), engine_options()).await;
    let (engine, registry, _front) = front_supporting(&rig, &["host-domowner"]).await;
    engine.collect_once().await;
    engine.collect_once().await;
    let text = registry.encode_to_string(vsanobs_core::Format::PrometheusText);
    let fams = vsanobs_core::testutil::parse(&text).expect("parses");
    for c in rig.sim.sim().clusters() {
        let id = [("vcenter", "vc-test"), ("cluster_name", c.name.as_str())];
        assert_eq!(
            value(&fams, "vsan_exporter_collect_success", &id),
            Some(1.0),
            "{text}"
        );
        assert_eq!(state_in(&fams, &c.name), ["collecting"]);
        assert_eq!(
            samples(
                &fams,
                "vsan_host_domowner_iops_read",
                &[("cluster_name", c.name.as_str())]
            )
            .count(),
            c.hosts.len()
        );
    }
    assert_eq!(
        value(
            &fams,
            "vsan_exporter_unknown_entity_types",
            &[("vcenter", "vc-test")]
        ),
        Some(1.0)
    );
    assert!(
        !fams
            .iter()
            .any(|f| f.name.starts_with("vsan_cluster_domclient")),
        "no catalogue type was queried:\n{text}"
    );
    engine.shutdown().await;
}

fn state_in(fams: &[vsanobs_core::testutil::ParsedFamily], cluster: &str) -> Vec<String> {
    samples(
        fams,
        "vsan_exporter_cluster_state",
        &[("vcenter", "vc-test"), ("cluster_name", cluster)],
    )
    .filter(|s| s.value == 1.0)
    .map(|s| s.label("state").unwrap_or_default().to_owned())
    .collect()
}
