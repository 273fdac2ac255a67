//! vSAN exporter: the time of one full collection of 16 clusters x 32 hosts (2 disk groups,
//! 2 capacity disks each, 2 VMs and 2 NICs per host) from the in-process simulator over HTTP,
//! and the encoding of the resulting /metrics (vsanobs collector path against
//! `prometheus-client` holding the same series).
//!
//! The collection figure includes the simulator's own work (it runs in the same process and
//! generates every XML response), so it is an upper bound for the exporter's share.
//!
//! Three collection figures: the default (capacity and resync every collection, health
//! every 5 minutes), the performance queries alone, and health every collection too.
//!
//! Run: `cargo bench -p vsanobs-benches --bench vsan`.

use std::hint::black_box;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use vcsim::{SimConfig, Simulator};
use vsan_exporter::client::ClientOptions;
use vsan_exporter::config::Target;
use vsan_exporter::engine::{Engine, EngineOptions};
use vsan_exporter::secret::{Credentials, Secret};
use vsan_exporter::summary::SummaryOptions;
use vsanobs_core::model::{MetricKind, Value};
use vsanobs_core::{Format, Registry};

const T0: i64 = 1_767_225_600;

fn vsan(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let cfg = SimConfig {
        clusters: 16,
        hosts_per_cluster: 32,
        disk_groups_per_host: 2,
        ..SimConfig::default()
    };
    let sim = Simulator::new(cfg.clone());
    sim.freeze_at(T0);
    let server = rt
        .block_on(sim.clone().serve("127.0.0.1:0".parse().expect("addr")))
        .expect("simulator");
    let target = Target {
        name: "bench".into(),
        client: ClientOptions {
            url: server.url(),
            credentials: Credentials {
                user: cfg.user.clone(),
                password: Secret::new(cfg.password.clone()),
            },
            insecure: false,
            ca_file: None,
            request_timeout: Duration::from_secs(60),
            paging: Default::default(),
        },
        clusters: None,
    };
    let opts = EngineOptions {
        cluster_timeout: Duration::from_secs(60),
        max_concurrent_requests: 16,
        per_cluster_concurrency: 4,
        ..EngineOptions::default()
    };
    let exporter = Engine::new(vec![target.clone()], opts.clone()).expect("exporter");
    let registry = Registry::new();
    registry
        .register_collector(exporter.collector())
        .expect("register");
    rt.block_on(exporter.collect_once());
    let text = registry.encode_to_string(Format::PrometheusText);
    assert!(
        text.contains(
            "vsan_exporter_collect_success{vcenter=\"bench\",cluster_name=\"vsan-cluster-16\"} 1"
        ),
        "collection failed"
    );

    let mut g = c.benchmark_group("vsan_collect");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    // The default: capacity and resync every collection, health every 5 minutes of wall
    // time (so about once in the whole measurement).
    g.bench_function("vsanobs_16_clusters_x_32_hosts", |b| {
        b.iter(|| {
            // One new 5-minute bucket per collection, as in steady state.
            sim.advance(300);
            rt.block_on(exporter.collect_once());
        })
    });
    // The performance queries alone (health, capacity and resync off), and all three every
    // collection (health's interval 0): the cost of the summary calls, both bounds.
    for (name, summary) in [
        (
            "vsanobs_16_clusters_x_32_hosts_perf_only",
            SummaryOptions {
                health: false,
                capacity: false,
                resync: false,
                ..SummaryOptions::default()
            },
        ),
        (
            "vsanobs_16_clusters_x_32_hosts_health_every_collection",
            SummaryOptions {
                health_interval: Duration::ZERO,
                ..SummaryOptions::default()
            },
        ),
    ] {
        let other = Engine::new(
            vec![target.clone()],
            EngineOptions {
                summary,
                ..opts.clone()
            },
        )
        .expect("exporter");
        rt.block_on(other.collect_once());
        g.bench_function(name, |b| {
            b.iter(|| {
                sim.advance(300);
                rt.block_on(other.collect_once());
            })
        });
        rt.block_on(other.shutdown());
    }
    g.finish();

    // The same series in prometheus-client, for the /metrics encoding comparison.
    let families = registry.gather();
    let series: usize = families.iter().map(|f| f.samples.len()).sum();
    let mut pc = prometheus_client::registry::Registry::default();
    for f in &families {
        match f.kind {
            MetricKind::Counter => {
                let fam = prometheus_client::metrics::family::Family::<
                    Vec<(String, String)>,
                    prometheus_client::metrics::counter::Counter<f64, AtomicU64>,
                >::default();
                for s in &f.samples {
                    if let Value::Counter { value, .. } = &s.value {
                        fam.get_or_create(&s.labels).inc_by(value.as_f64());
                    }
                }
                pc.register(f.name.trim_end_matches("_total"), f.help.clone(), fam);
            }
            _ => {
                let fam = prometheus_client::metrics::family::Family::<
                    Vec<(String, String)>,
                    prometheus_client::metrics::gauge::Gauge<f64, AtomicU64>,
                >::default();
                for s in &f.samples {
                    if let Value::Gauge(n) = &s.value {
                        fam.get_or_create(&s.labels).set(n.as_f64());
                    }
                }
                pc.register(f.name.clone(), f.help.clone(), fam);
            }
        }
    }
    let mut g = c.benchmark_group(format!("vsan_encode_{series}_series"));
    g.bench_function("vsanobs", |b| {
        let mut out = String::with_capacity(text.len() * 2);
        b.iter(|| {
            out.clear();
            registry.encode(Format::PrometheusText, &mut out);
            black_box(out.len())
        })
    });
    g.bench_function("prometheus_client", |b| {
        let mut out = String::with_capacity(text.len() * 2);
        b.iter(|| {
            out.clear();
            prometheus_client::encoding::text::encode(&mut out, &pc).expect("encode");
            black_box(out.len())
        })
    });
    g.finish();
    rt.block_on(exporter.shutdown());
    drop(server);
}

criterion_group!(benches, vsan);
criterion_main!(benches);
