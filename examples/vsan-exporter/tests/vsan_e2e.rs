//! End to end: the simulator (4 clusters x 8 hosts x 2 disk groups), the exporter and a real
//! Prometheus scraping it. Queried values equal the simulator's ground truth after unit
//! conversion, with names resolved from UUIDs, and `promtool check metrics` accepts the output.

mod vsan_support;

use std::time::Duration;

use vcsim::SimConfig;
use vsan_support::{Rig, T0, close, engine_options};
use vsanobs_testkit::{Prometheus, PrometheusConfig, promtool_check_metrics, vector_samples};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_sees_ground_truth_with_resolved_names() {
    let cfg = SimConfig {
        clusters: 4,
        hosts_per_cluster: 8,
        disk_groups_per_host: 2,
        ..SimConfig::default()
    };
    let rig = Rig::start(cfg.clone(), engine_options()).await;
    rig.exporter.collect_once().await;
    let sim = rig.sim.sim().clone();
    let text = rig.scrape().await;
    let check = tokio::task::spawn_blocking(move || promtool_check_metrics(&text))
        .await
        .expect("join");
    check.unwrap_or_else(|e| panic!("promtool check metrics failed on the exporter's output: {e}"));

    let target = rig.metrics_addr.to_string();
    let prom = tokio::task::spawn_blocking(move || {
        Prometheus::start(PrometheusConfig {
            scrape_targets: vec![target],
            scrape_interval: Duration::from_millis(500),
            ..PrometheusConfig::default()
        })
    })
    .await
    .expect("join")
    .unwrap_or_else(|e| {
        panic!("cannot start a real Prometheus (run scripts/test to install it): {e}")
    });
    let prom = std::sync::Arc::new(prom);

    let q = |promql: &'static str, n: usize| {
        let prom = prom.clone();
        async move {
            tokio::task::spawn_blocking(move || {
                prom.wait_for(
                    promql,
                    |r| r.as_array().is_some_and(|a| a.len() == n),
                    Duration::from_secs(60),
                )
                .unwrap_or_else(|e| panic!("{promql}: {e}"))
            })
            .await
            .expect("join")
        }
    };

    // Host latency: µs on the wire, seconds in Prometheus; host names resolved from node UUIDs.
    let r = q("vsan_host_domclient_io_latency_seconds{op=\"read\"}", 32).await;
    for s in vector_samples(&r) {
        let host = sim
            .clusters()
            .iter()
            .flat_map(|c| c.hosts.iter().map(move |h| (c, h)))
            .find(|(_, h)| h.name == s.labels["host_name"])
            .unwrap_or_else(|| panic!("unknown host name {:?}", s.labels));
        assert_eq!(s.labels["host_uuid"], host.1.node_uuid);
        assert_eq!(s.labels["cluster_name"], host.0.name);
        assert_eq!(s.labels["cluster_uuid"], host.0.uuid);
        let want = sim.raw_value("host-domclient", &host.1.node_uuid, "latencyAvgRead", T0) / 1e6;
        let got: f64 = s.value.parse().expect("number");
        assert!(close(got, want), "{:?}: got {got}, want {want}", s.labels);
    }

    // Cluster throughput (bytes/s, not divided by the interval) and names from vSAN UUIDs.
    let r = q(
        "vsan_cluster_domclient_io_bytes_per_second{op=\"write\"}",
        4,
    )
    .await;
    for s in vector_samples(&r) {
        let c = sim
            .cluster(&s.labels["cluster_name"])
            .expect("cluster name resolved");
        assert_eq!(s.labels["cluster_uuid"], c.uuid);
        let want = sim.raw_value("cluster-domclient", &c.uuid, "throughputWrite", T0);
        assert!(close(s.value.parse().expect("number"), want));
    }

    // Counters: the sum of the per-interval counts in the lookback window (900 s = 3 buckets).
    let r = q("vsan_host_domclient_io_operations_total{op=\"write\"}", 32).await;
    for s in vector_samples(&r) {
        let h = sim
            .clusters()
            .iter()
            .flat_map(|c| &c.hosts)
            .find(|h| h.name == s.labels["host_name"])
            .expect("host");
        let want: f64 = sim
            .buckets(T0 - 900, T0)
            .iter()
            .map(|t| sim.raw_value("host-domclient", &h.node_uuid, "writeCount", *t))
            .sum();
        assert_eq!(sim.buckets(T0 - 900, T0).len(), 3);
        assert!(
            close(s.value.parse().expect("number"), want),
            "{:?}",
            s.labels
        );
        // count = iops x interval in the simulator's data.
        let iops = sim.raw_value("host-domclient", &h.node_uuid, "iopsWrite", T0);
        assert_eq!(
            sim.raw_value("host-domclient", &h.node_uuid, "writeCount", T0),
            iops * 300.0
        );
    }

    // Disk groups carry their host's name; ratios are 0-1; VMs and NICs are named.
    let r = q("vsan_disk_group_read_cache_hit_ratio", 64).await;
    for s in vector_samples(&r) {
        assert!(s.labels["host_name"].starts_with("esx-"), "{:?}", s.labels);
        let want = sim.raw_value("disk-group", &s.labels["disk_uuid"], "rcHitRate", T0) / 100.0;
        assert!(close(s.value.parse().expect("number"), want));
    }
    let r = q(
        "vsan_vm_io_latency_seconds{op=\"write\"}",
        4 * 8 * cfg.vms_per_host,
    )
    .await;
    assert!(
        vector_samples(&r)
            .iter()
            .all(|s| s.labels["vm_name"].starts_with("app-"))
    );
    let r = q(
        "vsan_pnic_packet_loss_ratio{direction=\"receive\"}",
        4 * 8 * cfg.pnics_per_host,
    )
    .await;
    for s in vector_samples(&r) {
        let h = sim
            .clusters()
            .iter()
            .flat_map(|c| &c.hosts)
            .find(|h| h.name == s.labels["host_name"])
            .expect("host");
        let id = format!("{}|{}", h.node_uuid, s.labels["vmnic"]);
        let want = sim.raw_value("vsan-pnic-net", &id, "rxPacketsLossRate", T0) / 1000.0;
        assert!(close(s.value.parse().expect("number"), want));
    }
    // The label the catalogue does not know is exported as a raw gauge and counted.
    q("vsan_host_domclient_latency_p99_read", 32).await;
    q("vsan_exporter_unknown_label_series == 8", 4).await;
    q("vsan_exporter_collect_success == 1", 4).await;
    q(&*Box::leak(format!("vsan_exporter_last_sample_timestamp_seconds{{entity_type=\"host-domclient\"}} == {T0}").into_boxed_str()), 4).await;
}
