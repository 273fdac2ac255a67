//! A restart in the middle of a collection resumes from the state file: the counters of the
//! first process (as last served) plus those of the second equal the simulator's ground truth,
//! so no interval is counted twice and none is skipped.

mod vsan_support;

use std::time::Duration;

use vcsim::{Fault, SimConfig};
use vsan_exporter::engine::Engine;
use vsan_exporter::state::StateFile;
use vsan_support::{Rig, T0, close, engine_options, samples};

const SLOW: &str = "vsan-cluster-01";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_mid_collection_has_no_duplicates_and_no_gap() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("vsan-state.json");
    let mut opts = engine_options();
    opts.state_file = Some(state.clone());
    let cfg = SimConfig {
        clusters: 3,
        hosts_per_cluster: 2,
        disk_groups_per_host: 1,
        ..SimConfig::default()
    };
    let rig = Rig::start(cfg.clone(), opts.clone()).await;
    let sim = rig.sim.sim().clone();

    // First process: one full collection, then a second one killed while cluster 1 is slow.
    rig.exporter.collect_once().await;
    assert!(StateFile::load(&state).expect("state").clusters.len() == 3);
    sim.advance(600);
    sim.set_fault(SLOW, Fault::Delay(Duration::from_secs(30)));
    let collecting = {
        let e = rig.exporter.clone();
        tokio::spawn(async move { e.collect_once().await })
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let done = sim.clusters().iter().filter(|c| c.name != SLOW).all(|c| {
            let key = format!("vc-test/{}", c.uuid);
            StateFile::load(&state)
                .ok()
                .and_then(|s| s.get(&key, "host-domclient"))
                == Some(T0 + 600)
        });
        if done {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "other clusters did not finish"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    collecting.abort(); // the process dies mid-collection
    let _ = collecting.await;
    let first = rig.families();
    drop(rig.exporter.clone());
    sim.clear_fault(SLOW);

    // Second process: same state file, later in time.
    sim.advance(300);
    let end = T0 + 900;
    let second = Engine::new(
        vec![vsan_support::target(
            &rig.sim.url(),
            &cfg.user,
            &cfg.password,
        )],
        opts,
    )
    .expect("exporter");
    let registry = vsanobs_core::Registry::new();
    registry
        .register_collector(second.collector())
        .expect("register");
    second.collect_once().await;
    let after = vsanobs_core::testutil::parse(
        &registry.encode_to_string(vsanobs_core::Format::PrometheusText),
    )
    .expect("parse");

    let mut checked = 0;
    for c in sim.clusters() {
        for h in &c.hosts {
            for (label, op) in [("readCount", "read"), ("writeCount", "write")] {
                let get = |fams: &[vsanobs_core::testutil::ParsedFamily]| {
                    samples(
                        fams,
                        "vsan_host_domclient_io_operations_total",
                        &[("host_name", &h.name), ("op", op)],
                    )
                    .next()
                    .map_or(0.0, |s| s.value)
                };
                let total = get(&first) + get(&after);
                let want: f64 = sim
                    .buckets(T0 - 900, end)
                    .iter()
                    .map(|t| sim.raw_value("host-domclient", &h.node_uuid, label, *t))
                    .sum();
                assert!(
                    close(total, want),
                    "{} {op}: first {} + second {} != truth {want}",
                    h.name,
                    get(&first),
                    get(&after)
                );
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 12);
    let s = StateFile::load(&state).expect("state");
    for c in sim.clusters() {
        assert_eq!(
            s.get(&format!("vc-test/{}", c.uuid), "host-domclient"),
            Some(end)
        );
    }
}
