//! Health, capacity and resync end to end against the simulator: a host failed and
//! recovered with the simulator's clock advanced (health red, then yellow while the resync
//! drains, then green; free capacity falls and recovers; resync bytes rise and drain to 0),
//! health served from the last answer between health intervals, and a failing health,
//! capacity or resync call that costs nothing of the rest.

mod vsan_support;

use std::sync::atomic::Ordering;
use std::time::Duration;

use vcsim::{RESYNC_BYTES_PER_SECOND, SimConfig, Simulator, SummaryCall, SummaryFault};
use vsan_exporter::engine::EngineOptions;
use vsan_exporter::summary::SummaryOptions;
use vsan_support::{Rig, close, engine_options, samples, value};
use vsanobs_core::vsan::soap::FaultKind;

const A: &str = "vsan-cluster-01";
const B: &str = "vsan-cluster-02";

fn config() -> SimConfig {
    SimConfig {
        clusters: 2,
        hosts_per_cluster: 3,
        disk_groups_per_host: 1,
        capacity_disks_per_group: 2,
        vms_per_host: 2,
        pnics_per_host: 1,
        ..SimConfig::default()
    }
}

fn options(health_interval: Duration) -> EngineOptions {
    EngineOptions {
        summary: SummaryOptions {
            health_interval,
            ..SummaryOptions::default()
        },
        ..engine_options()
    }
}

fn cluster_value(rig: &Rig, name: &str, cluster: &str, extra: &[(&str, &str)]) -> Option<f64> {
    let fams = rig.families();
    let uuid = rig
        .sim
        .sim()
        .cluster(cluster)
        .expect("cluster")
        .uuid
        .clone();
    let mut labels = vec![
        ("vcenter", "vc-test"),
        ("cluster_name", cluster),
        ("cluster_uuid", uuid.as_str()),
    ];
    labels.extend_from_slice(extra);
    value(&fams, name, &labels)
}

/// The status at 1 of a state set, checking that exactly one of the four is.
fn status(rig: &Rig, name: &str, cluster: &str, extra: &[(&str, &str)]) -> &'static str {
    let mut on = Vec::new();
    for s in ["green", "yellow", "red", "unknown"] {
        let mut labels = extra.to_vec();
        labels.push(("status", s));
        match cluster_value(rig, name, cluster, &labels) {
            Some(v) => {
                assert!(v == 0.0 || v == 1.0, "{name} {extra:?} {s}: {v}");
                if v == 1.0 {
                    on.push(s);
                }
            }
            None => panic!("{name}{extra:?} status {s} missing:\n{}", rig.text()),
        }
    }
    assert_eq!(on.len(), 1, "{name} {extra:?}: {on:?}");
    on[0]
}

fn self_value(rig: &Rig, name: &str, cluster: &str, extra: &[(&str, &str)]) -> Option<f64> {
    let mut labels = vec![("vcenter", "vc-test"), ("cluster_name", cluster)];
    labels.extend_from_slice(extra);
    value(&rig.families(), name, &labels)
}

fn errors(rig: &Rig, cluster: &str, reason: &str) -> f64 {
    self_value(
        rig,
        "vsan_exporter_fetch_errors_total",
        cluster,
        &[("reason", reason)],
    )
    .unwrap_or(0.0)
}

/// Capacity, resync and health as exported equal the simulator's ground truth.
fn assert_matches_truth(rig: &Rig, sim: &Simulator, cluster: &str) {
    let c = sim.cluster(cluster).expect("cluster");
    let space = sim.space_usage(c);
    let free = space.free_capacity_b.expect("free");
    let v = |n: &str| cluster_value(rig, n, cluster, &[]);
    assert_eq!(
        v("vsan_cluster_capacity_total_bytes"),
        Some(space.total_capacity_b as f64)
    );
    assert_eq!(v("vsan_cluster_capacity_free_bytes"), Some(free as f64));
    assert_eq!(
        v("vsan_cluster_capacity_used_bytes"),
        Some((space.total_capacity_b - free) as f64)
    );
    let by_type: f64 = samples(
        &rig.families(),
        "vsan_cluster_capacity_used_by_type_bytes",
        &[("cluster_name", cluster)],
    )
    .map(|s| s.value)
    .sum();
    assert!(
        close(by_type, (space.total_capacity_b - free) as f64),
        "{by_type}"
    );
    let resync = sim.resync_state(c);
    assert_eq!(
        v("vsan_cluster_resync_remaining_bytes"),
        Some(resync.bytes as f64)
    );
    assert_eq!(
        v("vsan_cluster_resync_remaining_objects"),
        Some(resync.objects as f64)
    );
    assert_eq!(
        v("vsan_cluster_resync_eta_seconds"),
        Some(resync.eta_seconds as f64)
    );
    let by_reason: f64 = samples(
        &rig.families(),
        "vsan_cluster_resync_remaining_by_reason_bytes",
        &[("cluster_name", cluster)],
    )
    .map(|s| s.value)
    .sum();
    assert_eq!(
        by_reason, resync.bytes as f64,
        "every component has one reason"
    );
    let truth = sim.health_summary(c);
    assert_eq!(
        status(rig, "vsan_cluster_health_status", cluster, &[]),
        truth.overall.as_str()
    );
    for g in &truth.groups {
        assert_eq!(
            status(
                rig,
                "vsan_cluster_health_group_status",
                cluster,
                &[("group", g.short_id())]
            ),
            g.health.as_str(),
            "group {}",
            g.id
        );
        for t in &g.tests {
            assert_eq!(
                status(
                    rig,
                    "vsan_cluster_health_test_status",
                    cluster,
                    &[("group", g.short_id()), ("test", t.short_id())]
                ),
                t.health.as_str()
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_failure_and_recovery_turn_health_capacity_and_resync() {
    let rig = Rig::start(config(), options(Duration::ZERO)).await;
    let sim = rig.sim.sim().clone();
    let mut collections = 0u64;
    let collect = || async {
        rig.exporter.collect_once().await;
    };
    collect().await;
    collections += 1;
    assert_matches_truth(&rig, &sim, A);
    assert_matches_truth(&rig, &sim, B);
    let total_before = cluster_value(&rig, "vsan_cluster_capacity_total_bytes", A, &[]).unwrap();
    let free_before = cluster_value(&rig, "vsan_cluster_capacity_free_bytes", A, &[]).unwrap();
    // 3 hosts x 1 disk group x 2 capacity disks of 4 TB.
    assert_eq!(total_before, 24e12);
    assert_eq!(status(&rig, "vsan_cluster_health_status", A, &[]), "green");
    assert_eq!(
        cluster_value(&rig, "vsan_cluster_resync_remaining_bytes", A, &[]),
        Some(0.0)
    );

    // The first host fails: the one telegraf (and the exporter) asks for the resync summary.
    let host = sim.cluster(A).unwrap().hosts[0].clone();
    assert!(sim.fail_host(&host.name));
    sim.advance(300);
    collect().await;
    collections += 1;
    assert_matches_truth(&rig, &sim, A);
    assert_eq!(status(&rig, "vsan_cluster_health_status", A, &[]), "red");
    assert_eq!(
        status(
            &rig,
            "vsan_cluster_health_test_status",
            A,
            &[("group", "network"), ("test", "hostdisconnected")]
        ),
        "red"
    );
    let total_failed = cluster_value(&rig, "vsan_cluster_capacity_total_bytes", A, &[]).unwrap();
    let free_failed = cluster_value(&rig, "vsan_cluster_capacity_free_bytes", A, &[]).unwrap();
    assert_eq!(total_failed, 16e12, "the failed host's two disks are gone");
    let host_used = sim.host_used_bytes(&host) as f64;
    assert_eq!(free_failed, free_before - (8e12 - host_used));
    assert!(free_failed < free_before);
    // The other cluster is untouched; the failed host's vSAN system does not answer, the
    // next host does.
    assert_eq!(status(&rig, "vsan_cluster_health_status", B, &[]), "green");
    assert_eq!(errors(&rig, A, "resync_fault"), 0.0, "{}", rig.text());
    assert!(
        !sim.entities(sim.cluster(A).unwrap(), "host-domclient")
            .contains(&host.node_uuid),
        "a failed host serves no performance data"
    );
    assert_eq!(
        self_value(&rig, "vsan_exporter_collect_success", A, &[]),
        Some(1.0)
    );

    // Recovery: the host's used bytes resync, draining with the simulator's clock.
    assert!(sim.recover_host(&host.moref));
    sim.advance(300);
    collect().await;
    collections += 1;
    assert_matches_truth(&rig, &sim, A);
    assert_eq!(status(&rig, "vsan_cluster_health_status", A, &[]), "yellow");
    assert_eq!(
        status(
            &rig,
            "vsan_cluster_health_group_status",
            A,
            &[("group", "data")]
        ),
        "yellow"
    );
    assert_eq!(
        cluster_value(&rig, "vsan_cluster_capacity_free_bytes", A, &[]),
        Some(free_before),
        "free capacity recovered"
    );
    let mut left = cluster_value(&rig, "vsan_cluster_resync_remaining_bytes", A, &[]).unwrap();
    assert_eq!(left, host_used - 300.0 * RESYNC_BYTES_PER_SECOND as f64);
    assert!(left > 0.0);
    assert!(
        cluster_value(
            &rig,
            "vsan_cluster_resync_remaining_by_reason_bytes",
            A,
            &[("reason", "stale")]
        )
        .unwrap()
            > 0.0
    );
    assert!(
        cluster_value(
            &rig,
            "vsan_cluster_resync_remaining_by_reason_bytes",
            A,
            &[("reason", "repair")]
        )
        .unwrap()
            > 0.0
    );
    // Mid-resync every family is served, and the full output passes promtool.
    let text = rig.text();
    for d in vsan_exporter::summary::metrics::ALL {
        assert!(
            text.contains(&format!("\n{}{{", d.name)),
            "{} missing:\n{text}",
            d.name
        );
    }
    vsanobs_testkit::promtool_check_metrics(&text).expect("promtool check metrics");
    // Drain: at most 5 TB at 1 GiB/s, in steps of 15 minutes.
    let mut steps = 0;
    while left > 0.0 {
        steps += 1;
        assert!(steps <= 8, "the resync does not drain: {left} bytes left");
        sim.advance(900);
        collect().await;
        collections += 1;
        assert_matches_truth(&rig, &sim, A);
        let now = cluster_value(&rig, "vsan_cluster_resync_remaining_bytes", A, &[]).unwrap();
        assert!(now < left, "{now} >= {left}");
        left = now;
    }
    assert!(
        steps >= 2,
        "the resync took more than one collection to drain"
    );
    assert_eq!(
        cluster_value(&rig, "vsan_cluster_resync_remaining_objects", A, &[]),
        Some(0.0)
    );
    assert_eq!(status(&rig, "vsan_cluster_health_status", A, &[]), "green");
    // With a zero health interval, health is asked every collection.
    let clusters = sim.clusters().len() as u64;
    assert_eq!(
        sim.stats().health_queries.load(Ordering::Relaxed),
        collections * clusters
    );
    assert_eq!(
        self_value(&rig, "vsan_exporter_health_success", A, &[]),
        Some(1.0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_is_served_from_the_last_answer_between_intervals() {
    let rig = Rig::start(config(), options(Duration::from_secs(3600))).await;
    let sim = rig.sim.sim().clone();
    rig.exporter.collect_once().await;
    assert_eq!(status(&rig, "vsan_cluster_health_status", A, &[]), "green");
    let host = sim.cluster(A).unwrap().hosts[1].moref.clone();
    sim.fail_host(&host);
    for _ in 0..3 {
        sim.advance(300);
        rig.exporter.collect_once().await;
    }
    let clusters = sim.clusters().len() as u64;
    // One health query per cluster in the interval; capacity and resync every collection.
    assert_eq!(sim.stats().health_queries.load(Ordering::Relaxed), clusters);
    assert_eq!(
        sim.stats().space_queries.load(Ordering::Relaxed),
        4 * clusters
    );
    assert!(sim.stats().resync_queries.load(Ordering::Relaxed) >= 4 * clusters);
    // Health is the cached answer (green), capacity already shows the failure.
    assert_eq!(status(&rig, "vsan_cluster_health_status", A, &[]), "green");
    assert_eq!(
        cluster_value(&rig, "vsan_cluster_capacity_total_bytes", A, &[]),
        Some(16e12)
    );
    assert_eq!(
        self_value(&rig, "vsan_exporter_health_success", A, &[]),
        Some(1.0)
    );
    let age = self_value(&rig, "vsan_exporter_health_age_seconds", A, &[]).expect("age");
    assert!(age >= 0.0, "{age}");
    let duration =
        self_value(&rig, "vsan_exporter_health_duration_seconds", A, &[]).expect("duration");
    assert!(duration > 0.0, "{duration}");
    // The age grows between scrapes while the same answer is served.
    let mut later = age;
    for _ in 0..1000 {
        later = self_value(&rig, "vsan_exporter_health_age_seconds", A, &[]).expect("age");
        if later > age {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(later > age, "the age stays at {age}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_summary_call_costs_nothing_else() {
    // Health every collection, so each call is asked each time.
    let rig = Rig::start(config(), options(Duration::ZERO)).await;
    let sim = rig.sim.sim().clone();
    rig.exporter.collect_once().await;
    let uuid = sim.cluster(A).unwrap().uuid.clone();
    let matrix = [
        (
            SummaryCall::Health,
            SummaryFault::Soap(FaultKind::NotFound),
            "health_not_found",
        ),
        (
            SummaryCall::Health,
            SummaryFault::Malformed,
            "health_malformed",
        ),
        (
            SummaryCall::Space,
            SummaryFault::Soap(FaultKind::NotSupported),
            "capacity_not_supported",
        ),
        (
            SummaryCall::Space,
            SummaryFault::Malformed,
            "capacity_malformed",
        ),
        (
            SummaryCall::Resync,
            SummaryFault::Soap(FaultKind::NoPermission),
            "resync_no_permission",
        ),
        (
            SummaryCall::Resync,
            SummaryFault::Malformed,
            "resync_malformed",
        ),
    ];
    for (call, fault, reason) in matrix {
        sim.advance(300);
        sim.set_summary_fault(A, call, Some(fault.clone()));
        rig.exporter.collect_once().await;
        sim.set_summary_fault(A, call, None);
        let what = format!("{call:?} {fault:?}");
        assert_eq!(errors(&rig, A, reason), 1.0, "{what}:\n{}", rig.text());
        // The performance data is collected and current.
        assert_eq!(
            self_value(&rig, "vsan_exporter_collect_success", A, &[]),
            Some(1.0),
            "{what}"
        );
        let iops = value(
            &rig.families(),
            "vsan_cluster_domclient_io_operations_per_second",
            &[
                ("vcenter", "vc-test"),
                ("cluster_name", A),
                ("cluster_uuid", uuid.as_str()),
                ("op", "read"),
            ],
        )
        .expect("iops");
        let want = sim.raw_value("cluster-domclient", &uuid, "iopsRead", sim.now());
        assert!(close(iops, want), "{what}: {iops} != {want}");
        // The other two calls' families are there; the failed one's as documented.
        let has = |n: &str| cluster_value(&rig, n, A, &[]).is_some();
        assert_eq!(
            has("vsan_cluster_capacity_total_bytes"),
            call != SummaryCall::Space,
            "{what}"
        );
        assert_eq!(
            has("vsan_cluster_resync_remaining_bytes"),
            call != SummaryCall::Resync,
            "{what}"
        );
        // Health keeps serving the last answer, saying the query failed.
        assert_eq!(
            status(&rig, "vsan_cluster_health_status", A, &[]),
            "green",
            "{what}"
        );
        assert_eq!(
            self_value(&rig, "vsan_exporter_health_success", A, &[]),
            Some(if call == SummaryCall::Health {
                0.0
            } else {
                1.0
            }),
            "{what}"
        );
        // The other cluster saw nothing.
        assert_eq!(errors(&rig, B, reason), 0.0, "{what}");
        assert!(cluster_value(&rig, "vsan_cluster_capacity_total_bytes", B, &[]).is_some());
    }
    // All answer again.
    sim.advance(300);
    rig.exporter.collect_once().await;
    assert_matches_truth(&rig, &sim, A);
    assert_eq!(
        self_value(&rig, "vsan_exporter_health_success", A, &[]),
        Some(1.0)
    );
}
