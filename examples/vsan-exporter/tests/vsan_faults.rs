//! The fault matrix: every injected fault hits only its cluster (`collect_success 0`), raises
//! `vsan_exporter_fetch_errors_total{reason}`, leaves the previous good values served, and
//! the scrape keeps answering; empty and `-1` buckets never become samples; an expired session
//! costs exactly one login with 32 requests in flight; no session is left open; resident
//! memory stays flat over 1,000 consecutive failures.

mod vsan_support;

use std::sync::Arc;
use std::time::Duration;

use vcsim::{Fault, SimConfig, Simulator};
use vsan_exporter::client::VcenterClient;
use vsan_support::{Rig, T0, close, engine_options, rss_bytes, samples, target, value};

const BAD: &str = "vsan-cluster-02";

fn small() -> SimConfig {
    SimConfig {
        clusters: 4,
        hosts_per_cluster: 2,
        disk_groups_per_host: 1,
        vms_per_host: 1,
        pnics_per_host: 1,
        ..SimConfig::default()
    }
}

fn errors(rig: &Rig, cluster: &str, reason: &str) -> f64 {
    value(
        &rig.families(),
        "vsan_exporter_fetch_errors_total",
        &[
            ("vcenter", "vc-test"),
            ("cluster_name", cluster),
            ("reason", reason),
        ],
    )
    .unwrap_or(0.0)
}

fn success(rig: &Rig, cluster: &str) -> Option<f64> {
    value(
        &rig.families(),
        "vsan_exporter_collect_success",
        &[("vcenter", "vc-test"), ("cluster_name", cluster)],
    )
}

fn cluster_iops(rig: &Rig, cluster: &str) -> Option<f64> {
    let fams = rig.families();
    samples(
        &fams,
        "vsan_cluster_domclient_io_operations_per_second",
        &[("cluster_name", cluster), ("op", "read")],
    )
    .next()
    .map(|s| s.value)
}

/// A host's exported `vsan_host_domclient_io_operations_total{op}` and the simulator's
/// ground truth for it: the sum of its per-interval counts over every bucket collected.
fn host_count_and_truth(
    rig: &Rig,
    sim: &Simulator,
    host_name: &str,
    node_uuid: &str,
    op: &str,
    now: i64,
) -> (f64, f64) {
    let fams = rig.families();
    let total = samples(
        &fams,
        "vsan_host_domclient_io_operations_total",
        &[("host_name", host_name), ("op", op)],
    )
    .next()
    .expect("counter")
    .value;
    let label = if op == "read" {
        "readCount"
    } else {
        "writeCount"
    };
    let want: f64 = sim
        .buckets(T0 - 900, now)
        .iter()
        .map(|t| sim.raw_value("host-domclient", node_uuid, label, *t))
        .sum();
    (total, want)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_fault_only_hits_its_cluster() {
    let mut opts = engine_options();
    opts.cluster_timeout = Duration::from_secs(8);
    let rig = Rig::start(small(), opts).await;
    let sim = rig.sim.sim().clone();
    rig.exporter.collect_once().await;
    for c in sim.clusters() {
        assert_eq!(success(&rig, &c.name), Some(1.0), "{}", c.name);
    }
    let bad_uuid = sim.cluster(BAD).expect("cluster").uuid.clone();
    let mut now = T0;
    let matrix = [
        (Fault::Delay(Duration::from_secs(60)), "timeout"),
        (Fault::Status(500), "http_5xx"),
        (Fault::Status(503), "http_5xx"),
        (Fault::Status(429), "http_429"),
        (Fault::Truncated, "truncated"),
        (Fault::Malformed, "malformed"),
        (Fault::Html200, "malformed"),
        (Fault::NotFound, "not_found"),
        (Fault::DropConnection, "connection"),
        (Fault::ExpiredSession, "not_authenticated"),
    ];
    for (fault, reason) in matrix {
        let good_before = cluster_iops(&rig, BAD).expect("value served");
        let errors_before = errors(&rig, BAD, reason);
        sim.advance(300);
        now += 300;
        sim.set_fault(BAD, fault.clone());
        // A scrape while the collection runs must answer.
        let collecting = {
            let e = rig.exporter.clone();
            tokio::spawn(async move { e.collect_once().await })
        };
        let text = rig.scrape().await;
        assert!(text.contains("vsan_exporter_collect_success"), "{fault:?}");
        collecting.await.expect("collection does not panic");
        sim.clear_fault(BAD);

        assert_eq!(success(&rig, BAD), Some(0.0), "{fault:?}");
        for c in sim.clusters().iter().filter(|c| c.name != BAD) {
            assert_eq!(
                success(&rig, &c.name),
                Some(1.0),
                "{fault:?} leaked to {}:\n{}",
                c.name,
                rig.text()
                    .lines()
                    .filter(|l| l.starts_with("vsan_exporter_fetch"))
                    .collect::<Vec<_>>()
                    .join("\n")
            );
            let want = sim.raw_value("cluster-domclient", &c.uuid, "iopsRead", now);
            assert!(
                close(cluster_iops(&rig, &c.name).expect("value"), want),
                "{fault:?}"
            );
        }
        assert!(
            errors(&rig, BAD, reason) > errors_before,
            "{fault:?}: fetch_errors_total{{reason={reason:?}}} did not rise:\n{}",
            rig.text()
        );
        // The previous good value is still served.
        assert_eq!(cluster_iops(&rig, BAD), Some(good_before), "{fault:?}");
        let _ = &bad_uuid;
    }

    // Recovery: the next collection catches up, counters without a gap.
    sim.advance(300);
    now += 300;
    rig.exporter.collect_once().await;
    assert_eq!(success(&rig, BAD), Some(1.0));
    let c = sim.cluster(BAD).expect("cluster").clone();
    let h = &c.hosts[0];
    let (total, want) = host_count_and_truth(&rig, &sim, &h.name, &h.node_uuid, "read", now);
    assert!(
        close(total, want),
        "counter {total} != ground truth {want}: a gap or a duplicate"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_and_negative_buckets_serve_the_latest_complete_sample() {
    let rig = Rig::start(small(), engine_options()).await;
    let sim = rig.sim.sim().clone();
    rig.exporter.collect_once().await;
    let c = sim.cluster(BAD).expect("cluster").clone();
    let mut now = T0;
    for fault in [Fault::EmptyValues, Fault::NegativeValues] {
        sim.advance(300);
        now += 300;
        sim.set_fault(BAD, fault.clone());
        rig.exporter.collect_once().await;
        sim.clear_fault(BAD);
        // Not a failure, but the newest bucket is "no data": the previous one is served.
        assert_eq!(success(&rig, BAD), Some(1.0), "{fault:?}");
        let want = sim.raw_value("cluster-domclient", &c.uuid, "iopsRead", now - 300);
        assert!(
            close(cluster_iops(&rig, BAD).expect("value"), want),
            "{fault:?}"
        );
        let last = value(
            &rig.families(),
            "vsan_exporter_last_sample_timestamp_seconds",
            &[
                ("vcenter", "vc-test"),
                ("cluster_name", BAD),
                ("entity_type", "cluster-domclient"),
            ],
        );
        assert_eq!(
            last,
            Some((now - 300) as f64),
            "{fault:?}: the window must not skip the empty bucket"
        );
        // The bucket is asked for again and counted once it has data.
        rig.exporter.collect_once().await;
        let want = sim.raw_value("cluster-domclient", &c.uuid, "iopsRead", now);
        assert!(
            close(cluster_iops(&rig, BAD).expect("value"), want),
            "{fault:?}"
        );
    }
    let h = &c.hosts[1];
    let (total, want) = host_count_and_truth(&rig, &sim, &h.name, &h.node_uuid, "write", now);
    assert!(close(total, want), "{total} != {want}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_session_means_exactly_one_login_with_32_requests_in_flight() {
    let cfg = small();
    let sim = Simulator::new(cfg.clone());
    sim.freeze_at(T0);
    let server = sim
        .clone()
        .serve("127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("serve");
    let client = Arc::new(
        VcenterClient::new(target(&server.url(), &cfg.user, &cfg.password).client).expect("client"),
    );
    client.ensure_session().await.expect("login");
    assert_eq!(
        sim.stats()
            .logins
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    // Slow answers keep all 32 requests in flight when the session dies.
    for c in sim.clusters() {
        sim.set_fault(&c.name, Fault::Delay(Duration::from_millis(300)));
    }
    sim.expire_sessions();
    let moref = sim.clusters()[0].moref.clone();
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let (client, moref) = (client.clone(), moref.clone());
        tasks.push(tokio::spawn(async move {
            client
                .query_perf(&moref, "host-domclient", T0 - 600, T0)
                .await
        }));
    }
    for t in tasks {
        let r = t
            .await
            .expect("no panic")
            .expect("request succeeds after the shared re-login");
        assert_eq!(r.len(), cfg.hosts_per_cluster);
    }
    assert_eq!(
        sim.stats()
            .logins
            .load(std::sync::atomic::Ordering::Relaxed),
        2,
        "exactly one new login"
    );
    assert_eq!(client.logins(), 2);
    client.logout().await;
    assert_eq!(sim.open_sessions(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_session_left_open_after_the_exporter_stops() {
    let rig = Rig::start(small(), engine_options()).await;
    let sim = rig.sim.sim().clone();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(rig.exporter.clone().run(async {
        let _ = rx.await;
    }));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while rig.exporter.cycles() == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no collection finished"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(sim.open_sessions(), 1);
    let _ = tx.send(());
    run.await.expect("engine stops cleanly");
    assert_eq!(sim.open_sessions(), 0);
    assert_eq!(
        sim.stats()
            .logouts
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resident_memory_stays_flat_over_1000_failures() {
    let rig = Rig::start(small(), engine_options()).await;
    let sim = rig.sim.sim().clone();
    rig.exporter.collect_once().await;
    for c in sim.clusters() {
        sim.set_fault(&c.name, Fault::Status(500));
    }
    let failures = |rig: &Rig| -> f64 {
        samples(
            &rig.families(),
            "vsan_exporter_fetch_errors_total",
            &[("reason", "http_5xx")],
        )
        .map(|s| s.value)
        .sum()
    };
    // Warm up allocator pools and connection state, then measure. Each cycle has new buckets.
    let mut cycles = 0;
    while failures(&rig) < 200.0 {
        sim.advance(300);
        rig.exporter.collect_once().await;
        cycles += 1;
        assert!(cycles < 100, "failures are not counted");
    }
    let before = rss_bytes();
    let start = failures(&rig);
    while failures(&rig) < start + 1000.0 {
        sim.advance(300);
        rig.exporter.collect_once().await;
        let _ = rig.text();
        cycles += 1;
        assert!(cycles < 1000, "failures are not counted");
    }
    let after = rss_bytes();
    let growth = after.saturating_sub(before);
    assert!(
        growth < 4 * 1024 * 1024,
        "resident memory grew by {growth} bytes over 1,000 failures ({before} -> {after})"
    );
    for c in sim.clusters() {
        assert_eq!(success(&rig, &c.name), Some(0.0));
    }
}
