//! Sharding (`--shard i --total-shards n`): three replicas share twelve simulated vCenters of
//! four clusters each. Every cluster is collected by exactly one replica (and only that one
//! sends `VsanPerfQueryPerf` for it); the union of their outputs is one unsharded exporter's,
//! series for series. The cluster hash is fixed; bad settings are typed errors, and the
//! binary refuses them with exit code 2.

mod vsan_support;

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::sync::atomic::Ordering;

use vcsim::{SimConfig, SimServer, Simulator};
use vsan_exporter::config::{ConfigError, FileConfig, Target, sharding_from_flags};
use vsan_exporter::engine::{Engine, EngineOptions};
use vsan_exporter::shard::{ShardError, Sharding, cluster_hash};
use vsan_support::{
    T0, capture_logs, engine_options, engine_with_registry, samples, target, value,
};
use vsanobs_core::testutil::{ParsedFamily, parse};
use vsanobs_core::{Format, Registry};

const VCENTERS: usize = 12;
const CLUSTERS: usize = 4;
const SHARDS: u32 = 3;

/// Four small OSA clusters, each vCenter with its own data (seed).
fn sim_config(seed: u64) -> SimConfig {
    SimConfig {
        clusters: CLUSTERS,
        hosts_per_cluster: 2,
        disk_groups_per_host: 1,
        vms_per_host: 1,
        seed,
        ..SimConfig::default()
    }
}

/// Twelve simulators with frozen clocks (every replica sees the same buckets) and a target
/// for each, named `vc-00` to `vc-11`.
async fn vcenters() -> (Vec<SimServer>, Vec<Target>) {
    let mut servers = Vec::new();
    let mut targets = Vec::new();
    for i in 0..VCENTERS {
        let cfg = sim_config(100 + i as u64);
        let sim = Simulator::new(cfg.clone());
        sim.freeze_at(T0);
        let server = sim
            .serve("127.0.0.1:0".parse().expect("addr"))
            .await
            .expect("start simulator");
        let mut t = target(&server.url(), &cfg.user, &cfg.password);
        t.name = format!("vc-{i:02}");
        targets.push(t);
        servers.push(server);
    }
    (servers, targets)
}

fn engine(targets: &[Target], sharding: Sharding) -> (Engine, Registry) {
    let registry = Registry::new();
    let engine = Engine::new(
        targets.to_vec(),
        EngineOptions {
            sharding,
            ..engine_options()
        },
    )
    .expect("engine");
    registry
        .register_collector(engine.collector())
        .expect("register");
    (engine, registry)
}

/// `VsanPerfQueryPerf` calls each simulator received so far.
fn perf_queries(servers: &[SimServer]) -> Vec<u64> {
    servers
        .iter()
        .map(|s| s.sim().stats().perf_queries.load(Ordering::Relaxed))
        .collect()
}

/// The family a sample line belongs to.
fn family(line: &str) -> &str {
    line.split(['{', ' ']).next().unwrap_or_default()
}

/// Self-metric families with one series per vCenter: every replica reads every inventory,
/// so each serves the unsharded exporter's series.
const PER_VCENTER: &[&str] = &[
    "vsan_exporter_insecure_tls",
    "vsan_exporter_logins_total",
    "vsan_exporter_unknown_entity_types",
    "vsan_exporter_api_version_info",
    "vsan_exporter_inventory_errors_total",
];

/// Self-metric families that legitimately differ: the collection's wall-clock duration,
/// the per-vCenter counts of clusters by state (other_shard), the shard itself.
const DIFFERING: &[&str] = &[
    "vsan_exporter_collect_duration_seconds",
    "vsan_exporter_health_age_seconds",
    "vsan_exporter_health_duration_seconds",
    "vsan_exporter_clusters",
    "vsan_exporter_shard_ordinal",
    "vsan_exporter_total_shards",
];

/// The sample lines of `text` split into (per cluster, per vCenter), sorted; the families
/// in [`DIFFERING`], the library's own (`vsanobs_`) and `other_shard` states left out.
fn lines(text: &str) -> (Vec<String>, Vec<String>) {
    let mut per_cluster = Vec::new();
    let mut per_vcenter = Vec::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let f = family(line);
        if f.starts_with("vsanobs_")
            || DIFFERING.contains(&f)
            || line.contains("state=\"other_shard\"")
        {
            continue;
        }
        if PER_VCENTER.contains(&f) {
            per_vcenter.push(line.to_owned());
        } else {
            per_cluster.push(line.to_owned());
        }
    }
    per_cluster.sort_unstable();
    per_vcenter.sort_unstable();
    (per_cluster, per_vcenter)
}

/// The (vcenter, cluster_name) of every vSAN series (self-metrics left out).
fn vsan_clusters(fams: &[ParsedFamily]) -> BTreeSet<(String, String)> {
    fams.iter()
        .filter(|f| !f.name.starts_with("vsan_exporter_") && f.name.starts_with("vsan_"))
        .flat_map(|f| &f.samples)
        .filter_map(|s| {
            Some((
                s.label("vcenter")?.to_owned(),
                s.label("cluster_name")?.to_owned(),
            ))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_collect_every_cluster_once_and_together_serve_the_unsharded_output() {
    let (servers, targets) = vcenters().await;
    let (whole, whole_registry) = engine(&targets, Sharding::default());
    let replicas: Vec<(Engine, Registry)> = (0..SHARDS)
        .map(|i| engine(&targets, Sharding::new(i, SHARDS).expect("shard")))
        .collect();

    // One engine at a time, so each simulator's query count tells who asked.
    let before = perf_queries(&servers);
    whole.collect_once().await;
    let whole_queries: Vec<u64> = perf_queries(&servers)
        .iter()
        .zip(&before)
        .map(|(a, b)| a - b)
        .collect();
    let mut owned_by: BTreeMap<(String, String), u32> = BTreeMap::new();
    let mut per_shard = [0usize; SHARDS as usize];
    for (v, server) in servers.iter().enumerate() {
        let q = whole_queries[v];
        assert!(
            q > 0 && q % CLUSTERS as u64 == 0,
            "vc-{v:02}: {q} queries for {CLUSTERS} like clusters"
        );
        for c in server.sim().clusters() {
            let vc = format!("vc-{v:02}");
            let shard = (0..SHARDS)
                .find(|i| {
                    Sharding::new(*i, SHARDS)
                        .expect("shard")
                        .owns(&vc, &c.moref)
                })
                .expect("some shard owns every cluster");
            per_shard[shard as usize] += 1;
            owned_by.insert((vc, c.name.clone()), shard);
        }
    }
    assert_eq!(owned_by.len(), VCENTERS * CLUSTERS);
    assert!(
        per_shard.iter().all(|n| *n > 0),
        "every shard gets clusters: {per_shard:?}"
    );

    for (i, (replica, _)) in replicas.iter().enumerate() {
        let before = perf_queries(&servers);
        replica.collect_once().await;
        let after = perf_queries(&servers);
        for (v, server) in servers.iter().enumerate() {
            let vc = format!("vc-{v:02}");
            let mine = server
                .sim()
                .clusters()
                .iter()
                .filter(|c| owned_by[&(vc.clone(), c.name.clone())] == i as u32)
                .count() as u64;
            assert_eq!(
                after[v] - before[v],
                mine * whole_queries[v] / CLUSTERS as u64,
                "shard {i} queries only its {mine} cluster(s) of {vc}"
            );
        }
    }

    let whole_text = whole_registry.encode_to_string(Format::PrometheusText);
    let texts: Vec<String> = replicas
        .iter()
        .map(|(_, r)| r.encode_to_string(Format::PrometheusText))
        .collect();

    // Every cluster: collected by its shard's replica, other_shard in the others.
    let fams: Vec<_> = texts
        .iter()
        .map(|t| parse(t).expect("replica output parses"))
        .collect();
    let whole_fams = parse(&whole_text).expect("output parses");
    for ((vc, cluster), shard) in &owned_by {
        let id = [("vcenter", vc.as_str()), ("cluster_name", cluster.as_str())];
        assert_eq!(
            value(&whole_fams, "vsan_exporter_collect_success", &id),
            Some(1.0),
            "{vc}/{cluster} unsharded"
        );
        for (i, f) in fams.iter().enumerate() {
            let success = value(f, "vsan_exporter_collect_success", &id);
            let states: Vec<&str> = samples(f, "vsan_exporter_cluster_state", &id)
                .filter(|s| s.value == 1.0)
                .filter_map(|s| s.label("state"))
                .collect();
            if i as u32 == *shard {
                assert_eq!(success, Some(1.0), "{vc}/{cluster} on its shard {i}");
                assert_eq!(states, ["collecting"], "{vc}/{cluster} on shard {i}");
            } else {
                assert_eq!(
                    success, None,
                    "{vc}/{cluster} is not collected by shard {i}"
                );
                assert_eq!(states, ["other_shard"], "{vc}/{cluster} on shard {i}");
                assert!(
                    !vsan_clusters(f).contains(&(vc.clone(), cluster.clone())),
                    "{vc}/{cluster}: no vSAN series on shard {i}"
                );
            }
        }
    }

    // Each replica says which shard it is; the unsharded one is 0 of 1.
    for (i, f) in fams.iter().enumerate() {
        assert_eq!(value(f, "vsan_exporter_shard_ordinal", &[]), Some(i as f64));
        assert_eq!(
            value(f, "vsan_exporter_total_shards", &[]),
            Some(f64::from(SHARDS))
        );
    }
    assert_eq!(
        value(&whole_fams, "vsan_exporter_shard_ordinal", &[]),
        Some(0.0)
    );
    assert_eq!(
        value(&whole_fams, "vsan_exporter_total_shards", &[]),
        Some(1.0)
    );

    // Per vCenter, the replicas' cluster counts by state add up to the unsharded ones, and
    // other_shard counts the clusters of the two other shards.
    for v in 0..VCENTERS {
        let vc = format!("vc-{v:02}");
        for state in ["collecting", "no_vsan", "error", "other_shard"] {
            let labels = [("vcenter", vc.as_str()), ("state", state)];
            let sum: f64 = fams
                .iter()
                .map(|f| value(f, "vsan_exporter_clusters", &labels).expect("count"))
                .sum();
            let want = if state == "other_shard" {
                (CLUSTERS * (SHARDS as usize - 1)) as f64
            } else {
                value(&whole_fams, "vsan_exporter_clusters", &labels).expect("count")
            };
            assert_eq!(sum, want, "{vc} {state}");
        }
    }

    // The union of the replicas' series is the unsharded exporter's, series for series
    // (values included): no series missing, none twice.
    let (whole_cluster, whole_vcenter) = lines(&whole_text);
    assert!(
        whole_cluster
            .iter()
            .filter(|l| !l.starts_with("vsan_exporter_"))
            .count()
            > VCENTERS * CLUSTERS * 10,
        "the unsharded exporter collected vSAN series:\n{whole_text}"
    );
    let mut union: Vec<String> = Vec::new();
    for text in &texts {
        let (cluster, vcenter) = lines(text);
        assert_eq!(
            vcenter, whole_vcenter,
            "per-vCenter self-metrics are every replica's"
        );
        union.extend(cluster);
    }
    union.sort_unstable();
    if union != whole_cluster {
        let a: BTreeSet<&String> = union.iter().collect();
        let b: BTreeSet<&String> = whole_cluster.iter().collect();
        let missing: Vec<_> = b.difference(&a).take(5).collect();
        let extra: Vec<_> = a.difference(&b).take(5).collect();
        panic!(
            "union of {} lines vs unsharded {}: missing {missing:?}, extra {extra:?}",
            union.len(),
            whole_cluster.len()
        );
    }
}

#[test]
fn the_cluster_hash_is_fixed_fnv1a_64() {
    // 64-bit FNV-1a of the single separator byte: the published test vector for "\0".
    assert_eq!(cluster_hash("", ""), 0xaf63_bd4c_8601_b7df);
    assert_eq!(cluster_hash("vc1", "domain-c7"), 0x6de5_4243_47c1_dfdc);
    assert_eq!(cluster_hash("vc-00", "domain-c10"), 0xe0b2_8160_d8a3_8d06);
    // The separator keeps the two parts apart.
    assert_ne!(cluster_hash("ab", "c"), cluster_hash("a", "bc"));
    // Shard = hash % total shards.
    let s = Sharding::new(2, 3).expect("shard");
    assert!(s.owns("vc1", "domain-c7"));
    assert!(!Sharding::new(0, 3).expect("shard").owns("vc1", "domain-c7"));
    assert!(Sharding::default().owns("vc1", "domain-c7"));
    // Exactly one shard of n owns a cluster, whatever n.
    for n in 1..=7 {
        for c in 0..50 {
            let moref = format!("domain-c{c}");
            let owners = (0..n)
                .filter(|i| Sharding::new(*i, n).expect("shard").owns("vc", &moref))
                .count();
            assert_eq!(owners, 1, "{moref} with {n} shards");
        }
    }
}

#[test]
fn bad_shard_settings_are_typed_errors() {
    assert_eq!(Sharding::new(0, 0), Err(ShardError::NoShards));
    assert_eq!(
        Sharding::new(3, 3),
        Err(ShardError::OutOfRange {
            shard: 3,
            total_shards: 3
        })
    );
    assert_eq!(
        ShardError::OutOfRange {
            shard: 3,
            total_shards: 3
        }
        .to_string(),
        "shard 3 is out of range for 3 total shards: shards are numbered 0 to 2"
    );
    assert_eq!(
        ShardError::NoShards.to_string(),
        "total shards must be at least 1, got 0"
    );
    let e = sharding_from_flags(5, 2).expect_err("out of range");
    assert!(matches!(
        e,
        ConfigError::Shard {
            source: ShardError::OutOfRange {
                shard: 5,
                total_shards: 2
            },
            ..
        }
    ));
    assert_eq!(
        vsanobs_core::report::error_chain(&e),
        "invalid --shard/--total-shards: shard 5 is out of range for 2 total shards: shards are numbered 0 to 1"
    );
    assert_eq!(
        sharding_from_flags(1, 2).expect("valid"),
        Sharding::new(1, 2).expect("shard")
    );
    // The config file's keys override the flags, each on its own.
    let flags = Sharding::new(1, 2).expect("shard");
    let cfg: FileConfig =
        serde_json::from_str(r#"{"vcenters":[],"total_shards":4}"#).expect("config");
    assert_eq!(
        cfg.sharding(flags).expect("valid"),
        Sharding::new(1, 4).expect("shard")
    );
    let cfg: FileConfig =
        serde_json::from_str(r#"{"vcenters":[],"total_shards":0}"#).expect("config");
    assert!(matches!(
        cfg.sharding(flags),
        Err(ConfigError::Shard {
            source: ShardError::NoShards,
            ..
        })
    ));
    // A negative or misspelt key is refused when parsing.
    assert!(serde_json::from_str::<FileConfig>(r#"{"vcenters":[],"shard":-1}"#).is_err());
    assert!(serde_json::from_str::<FileConfig>(r#"{"vcenters":[],"shards":1}"#).is_err());
}

#[test]
fn the_binary_refuses_a_shard_out_of_range_with_exit_code_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pw = dir.path().join("pw");
    std::fs::write(&pw, "secret\n").expect("write");
    std::fs::write(
        dir.path().join("vsan.json"),
        format!(
            r#"{{"vcenters":[{{"name":"a","url":"https://127.0.0.1:1","user":"u","password_file":{pw:?}}}],"shard":5,"total_shards":2}}"#
        ),
    )
    .expect("write");
    for (args, want) in [
        (
            &["--shard", "3", "--total-shards", "3"][..],
            "invalid --shard/--total-shards: shard 3 is out of range for 3 total shards: shards are numbered 0 to 2",
        ),
        (
            &["--total-shards", "0"][..],
            "invalid --shard/--total-shards: total shards must be at least 1, got 0",
        ),
        (
            &["--shard", "1"][..],
            "shard 1 is out of range for 1 total shards",
        ),
        (
            &["--config.file", "{dir}/vsan.json"][..],
            "invalid shard/total_shards in the config file: shard 5 is out of range for 2 total shards",
        ),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_vsan-exporter"))
            .args(
                args.iter()
                    .map(|a| a.replace("{dir}", &dir.path().to_string_lossy())),
            )
            .args(["--web.listen-address", "127.0.0.1:0"])
            .env_remove("VCENTER_URL")
            .output()
            .expect("run vsan-exporter");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(want), "{args:?}: {stderr}");
    }
}

/// The binary's reload check refuses a file with a bad shard and keeps the previous one.
#[test]
fn a_reload_with_a_bad_shard_keeps_the_previous_config() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("vsan.json");
    let pw = dir.path().join("pw");
    std::fs::write(&pw, "secret\n").expect("write");
    let file = |shard: u32, total: u32| {
        format!(
            r#"{{"vcenters":[{{"name":"a","url":"https://a","user":"u","password_file":{pw:?}}}],"shard":{shard},"total_shards":{total}}}"#
        )
    };
    std::fs::write(&path, file(1, 3)).expect("write");
    let flags = Sharding::default();
    let manager = vsanobs_hotreload::ReloadManager::<FileConfig>::builder(&path)
        .format(vsanobs_hotreload::ConfigFormat::Json)
        .validate(move |c: &FileConfig| c.check(flags, std::time::Duration::from_secs(1)))
        .watch(false)
        .signals(false)
        .register(&Registry::new())
        .build()
        .expect("manager");
    let current = || manager.load().sharding(flags).expect("valid");
    assert_eq!(current(), Sharding::new(1, 3).expect("shard"));
    std::fs::write(&path, file(3, 3)).expect("write");
    let e = manager.reload().expect_err("shard 3 of 3 is refused");
    assert!(
        vsanobs_core::report::error_chain(&e)
            .contains("shard 3 is out of range for 3 total shards"),
        "{}",
        vsanobs_core::report::error_chain(&e)
    );
    assert_eq!(
        current(),
        Sharding::new(1, 3).expect("shard"),
        "the old config keeps serving"
    );
    std::fs::write(&path, file(2, 4)).expect("write");
    manager.reload().expect("valid config reloads");
    assert_eq!(current(), Sharding::new(2, 4).expect("shard"));
}

/// A reloaded shard takes effect at the next collection: the clusters that moved away are no
/// longer queried and their series go; the log says how many clusters the shard collects.
#[tokio::test]
async fn a_changed_shard_moves_clusters_at_the_next_collection() {
    // tracing's callsite interest is process-wide: in plain `cargo test` the other tests'
    // subscribers come and go meanwhile, so the log is captured in a process of its own.
    if vsanobs_testkit::quiet::rerun_alone() {
        return;
    }
    let (logs, _guard) = capture_logs();
    let cfg = SimConfig {
        clusters: 8,
        ..sim_config(7)
    };
    let sim = Simulator::new(cfg.clone());
    sim.freeze_at(T0);
    let server = sim
        .serve("127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("start simulator");
    let t = target(&server.url(), &cfg.user, &cfg.password);
    let owned = |s: Sharding| -> BTreeSet<String> {
        server
            .sim()
            .clusters()
            .iter()
            .filter(|c| s.owns("vc-test", &c.moref))
            .map(|c| c.name.clone())
            .collect()
    };
    let (first, second) = (
        Sharding::new(0, 3).expect("shard"),
        Sharding::new(1, 3).expect("shard"),
    );
    assert!(!owned(first).is_empty() && !owned(second).is_empty());
    let (engine, registry) = engine_with_registry(
        t,
        EngineOptions {
            sharding: first,
            ..engine_options()
        },
    );
    let collected = || -> BTreeSet<String> {
        let fams = parse(&registry.encode_to_string(Format::PrometheusText)).expect("parses");
        vsan_clusters(&fams).into_iter().map(|(_, c)| c).collect()
    };
    engine.collect_once().await;
    assert_eq!(collected(), owned(first));
    let n = owned(first).len();
    assert!(
        logs.text().contains(&format!(
            "shard 0 of 3: {n} of 8 clusters are this shard's ({n} collecting)"
        )),
        "{}",
        logs.text()
    );

    engine.set_sharding(second);
    assert_eq!(engine.sharding(), second);
    let before = server.sim().stats().perf_queries.load(Ordering::Relaxed);
    engine.collect_once().await;
    assert!(server.sim().stats().perf_queries.load(Ordering::Relaxed) > before);
    assert_eq!(collected(), owned(second));
    let fams = parse(&registry.encode_to_string(Format::PrometheusText)).expect("parses");
    for c in owned(first) {
        let id = [("vcenter", "vc-test"), ("cluster_name", c.as_str())];
        assert_eq!(
            value(&fams, "vsan_exporter_collect_success", &id),
            None,
            "{c}"
        );
        assert_eq!(
            value(
                &fams,
                "vsan_exporter_cluster_state",
                &[id[0], id[1], ("state", "other_shard")]
            ),
            Some(1.0),
            "{c}"
        );
    }
    let m = owned(second).len();
    assert!(
        logs.text().contains(&format!(
            "shard 1 of 3: {m} of 8 clusters are this shard's ({m} collecting)"
        )),
        "{}",
        logs.text()
    );
}
