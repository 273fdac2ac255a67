//! VMware's Python SDK (pyVmomi) against the simulator, in each emulated vCenter version and
//! over HTTPS and HTTP: `SmartConnect` (API version negotiation through
//! `/sdk/vimServiceVersions.xml`), property reads, a paged inventory
//! (`RetrievePropertiesEx` + `ContinueRetrievePropertiesEx`), the unpaged
//! `RetrieveProperties`, `CancelRetrievePropertiesEx`, `InvalidProperty`, the refusal of a
//! `SOAPAction` version newer than the release's, and the vSAN
//! performance manager through a second stub on `/vsanHealth` that shares the session
//! cookie, as VMware's vsanapiutils does (hosts on every cluster, and the storage-pool disks
//! of an ESA cluster from 8.0 on). What pyVmomi reads must equal the simulator's
//! ground truth, and the exporter, run against the same simulator with the same frozen
//! clock, must serve the same values (after the catalogue's unit conversion).
//!
//! The script is `examples/vcsim/conformance/pyvmomi_conformance.py`; a `python3` without
//! pyVmomi fails these tests (`scripts/test` installs it).

mod vsan_support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use vcsim::{ClusterKind, SimConfig, SimServer, SimTls, Simulator};
use vsan_exporter::engine::Engine;
use vsan_support::{T0, close, engine_options, target};
use vsanobs_core::Registry;
use vsanobs_core::testutil::parse;
use vsanobs_core::vsan::catalogue;
use vsanobs_core::vsan::csv::format_timestamp;
use vsanobs_testkit::conformance::{python3_with, run_with_deadline};
use vsanobs_testkit::serde_json::{self, Value};

/// VMs per page asked with `maxObjects`.
const PAGE: usize = 4;
/// The performance window pyVmomi and the exporter both read: the exporter's lookback.
const WINDOW: i64 = 900;
/// Queried on every cluster: hosts (OSA and ESA clusters alike) ...
const HOST: &str = "host-domclient:*";
/// ... and the disks of an ESA storage pool (ESA clusters only).
const ESA_DISK: &str = "vsan-esa-disk-layer:*";

/// Whether the emulated release has vSAN ESA (8.0 and later).
fn has_esa(version: &str) -> bool {
    !version.starts_with("7.")
}

/// The entity type of an entity ref, its id, and the exporter's label for that id.
fn split_entity(entity: &str) -> (&str, &str, &'static str) {
    let (ty, id) = entity
        .split_once(':')
        .unwrap_or_else(|| panic!("entity ref {entity}"));
    let key = match ty {
        "host-domclient" => "host_uuid",
        "vsan-esa-disk-layer" => "disk_uuid",
        other => panic!("unexpected entity type {other}"),
    };
    (ty, id, key)
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../vcsim/conformance/pyvmomi_conformance.py")
}

fn sim_config(version: &str) -> SimConfig {
    SimConfig {
        vcenter_version: version
            .parse()
            .unwrap_or_else(|e| panic!("emulated version: {e}")),
        clusters: 2,
        // vSAN ESA came with vSphere 8.0: a 7.0U3 vCenter has none (and refuses its types).
        esa_clusters: usize::from(has_esa(version)),
        esa_disks_per_host: 2,
        hosts_per_cluster: 3,
        vms_per_host: 3,
        ..SimConfig::default()
    }
}

/// The vim25 version id each emulated vCenter must negotiate with pyVmomi.
fn vim_version_id(version: &str) -> &'static str {
    match version {
        "7.0U3" => "7.0.3.0",
        "8.0U2" => "8.0.2.0",
        "8.0U3" => "8.0.3.0",
        other => panic!("no vim25 version id for {other}"),
    }
}

struct Served {
    server: SimServer,
    ca_file: Option<PathBuf>,
    _dir: tempfile::TempDir,
}

async fn serve(version: &str, https: bool) -> Served {
    let sim = Simulator::new(sim_config(version));
    sim.freeze_at(T0);
    let dir = tempfile::tempdir().expect("temp dir");
    let addr = "127.0.0.1:0".parse().expect("addr");
    if https {
        let tls = SimTls::localhost().expect("certificate");
        let ca = dir.path().join("ca.pem");
        tls.write_ca_pem(&ca).expect("write CA");
        let server = sim.serve_tls(addr, &tls).await.expect("serve https");
        Served {
            server,
            ca_file: Some(ca),
            _dir: dir,
        }
    } else {
        let server = sim.serve(addr).await.expect("serve http");
        Served {
            server,
            ca_file: None,
            _dir: dir,
        }
    }
}

/// Runs the pyVmomi script against `served` and returns its JSON report.
async fn run_pyvmomi(served: &Served) -> Value {
    let python = python3_with("pyVmomi", "pyvmomi")
        .unwrap_or_else(|e| panic!("pyVmomi conformance cannot run: {e}"));
    let sim = served.server.sim();
    let mut cmd = Command::new(python);
    cmd.arg(script())
        .args([
            "--protocol",
            if served.ca_file.is_some() {
                "https"
            } else {
                "http"
            },
        ])
        .args(["--port", &served.server.addr().port().to_string()])
        .args([
            "--user",
            &sim.config().user,
            "--password",
            &sim.config().password,
        ])
        .args(["--page-size", &PAGE.to_string()])
        .args(["--entity", HOST, "--entity", ESA_DISK])
        .args([
            "--start",
            &(T0 - WINDOW).to_string(),
            "--end",
            &T0.to_string(),
        ]);
    let out = tokio::task::spawn_blocking(move || run_with_deadline(cmd, Duration::from_secs(120)))
        .await
        .expect("join")
        .unwrap_or_else(|e| panic!("pyVmomi script: {e}"));
    assert!(
        out.status.success(),
        "pyVmomi script exited with {}:\n{}",
        out.status,
        out.stderr
    );
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "pyVmomi report is not JSON ({e}):\n{}\n{}",
            out.stdout, out.stderr
        )
    })
}

/// The steps that failed, with the SDK's error, so one run shows everything that is wrong.
fn failures(report: &Value) -> Vec<String> {
    report
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(_, v)| v.get("ok") == Some(&Value::Bool(false)))
        .map(|(k, v)| format!("{k}: {}", v["error"].as_str().unwrap_or("?")))
        .collect()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|s| {
            s.as_str()
                .unwrap_or_else(|| panic!("not a string: {s}"))
                .to_owned()
        })
        .collect()
}

/// Every step against the simulator's ground truth.
fn assert_report(report: &Value, sim: &Simulator, version: &str, https: bool) {
    let ctx = format!(
        "emulated {version} over {}",
        if https { "https" } else { "http" }
    );
    let failed = failures(report);
    assert!(
        failed.is_empty(),
        "{ctx}: pyVmomi steps failed:\n{}",
        failed.join("\n")
    );

    // SmartConnect negotiated the emulated vCenter's own version.
    let sc = &report["smart_connect"];
    assert_eq!(sc["version_id"], vim_version_id(version), "{ctx}: {sc}");
    assert_eq!(sc["api_version"], vim_version_id(version), "{ctx}: {sc}");
    assert_eq!(sc["cookie_set"], true, "{ctx}");

    // Property reads: clusters, their hosts, the hosts' vSAN node UUIDs.
    let props = &report["properties"];
    let mut seen: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for c in props["clusters"].as_array().expect("clusters") {
        let hosts = c["hosts"].as_array().expect("hosts");
        seen.insert(
            c["name"].as_str().expect("name").to_owned(),
            hosts
                .iter()
                .map(|h| h["name"].as_str().expect("host name").to_owned())
                .collect(),
        );
    }
    let want: BTreeMap<String, Vec<String>> = sim
        .clusters()
        .iter()
        .map(|c| {
            (
                c.name.clone(),
                c.hosts.iter().map(|h| h.name.clone()).collect(),
            )
        })
        .collect();
    assert_eq!(seen, want, "{ctx}: clusters and their hosts");
    for h in sim.clusters().iter().flat_map(|c| &c.hosts) {
        assert_eq!(
            props["node_uuids"][&h.name], h.node_uuid,
            "{ctx}: config.vsanHostConfig.clusterInfo.nodeUuid of {}",
            h.name
        );
    }

    // The paged inventory is complete, in pages of at most maxObjects.
    let all_vms: BTreeSet<String> = sim
        .clusters()
        .iter()
        .flat_map(|c| &c.hosts)
        .flat_map(|h| h.vms.iter().map(|v| v.1.clone()))
        .collect();
    let paged = &report["paged_inventory"];
    let names: BTreeSet<String> = strings(&paged["vm_names"]).into_iter().collect();
    assert_eq!(names, all_vms, "{ctx}: VMs read page by page");
    assert_eq!(
        strings(&paged["vm_names"]).len(),
        all_vms.len(),
        "{ctx}: no VM twice"
    );
    let sizes: Vec<u64> = paged["page_sizes"]
        .as_array()
        .expect("page sizes")
        .iter()
        .map(|v| v.as_u64().expect("size"))
        .collect();
    assert_eq!(
        sizes.len(),
        all_vms.len().div_ceil(PAGE),
        "{ctx}: pages {sizes:?}"
    );
    assert!(
        sizes.iter().all(|s| *s as usize <= PAGE && *s > 0),
        "{ctx}: pages {sizes:?}"
    );
    let unpaged: BTreeSet<String> = strings(&report["retrieve_properties"]["vm_names"])
        .into_iter()
        .collect();
    assert_eq!(unpaged, all_vms, "{ctx}: VMs read by RetrieveProperties");
    assert_eq!(
        report["cancel_paging"]["continue_fault"], "InvalidArgument",
        "{ctx}: continuing a cancelled token"
    );
    assert_eq!(
        report["invalid_property"]["fault"], "InvalidProperty",
        "{ctx}"
    );

    // A version newer than the emulated release's is refused, with vCenter's words.
    let newer = &report["newer_version"];
    assert_eq!(newer["refused"], true, "{ctx}: {newer}");
    let msg = newer["message"].as_str().unwrap_or("");
    assert!(
        msg.contains("Request version 'urn:vim25/") && msg.contains("are not supported"),
        "{ctx}: {newer}"
    );

    // vSAN: the version came from vsanServiceVersions.xml, and the data is the ground truth.
    let vsan = &report["vsan"];
    assert_eq!(vsan["version_source"], "file", "{ctx}: {vsan:?}");
    // The newest version the server lists, which pyVmomi knows.
    assert_eq!(
        vsan["version_id"], vsan["versions_listed"][0],
        "{ctx}: vSAN version picked from {}",
        vsan["versions_listed"]
    );
    let types = vsan["entity_types"].as_object().expect("entity types");
    for t in ["cluster-domclient", "host-domclient", "virtual-machine"] {
        assert!(
            types.contains_key(t),
            "{ctx}: {t} not among {:?}",
            types.keys()
        );
    }
    assert_eq!(
        types["host-domclient"]["units"]["latencyAvgRead"], "time_ms",
        "{ctx}: unit of host-domclient latencyAvgRead"
    );
    let buckets = sim.buckets(T0 - WINDOW, T0);
    let times: Vec<String> = buckets.iter().map(|t| format_timestamp(*t)).collect();
    // (cluster, entity ref) -> labels read
    let mut read = BTreeMap::<(String, String), BTreeSet<String>>::new();
    for s in vsan["series"].as_array().expect("series") {
        let entity = s["entity"].as_str().expect("entity");
        let (ty, id, _) = split_entity(entity);
        let label = s["label"].as_str().expect("label");
        assert_eq!(strings(&s["times"]), times, "{ctx}: sampleInfo of {entity}");
        let values = s["values"].as_array().expect("values");
        assert_eq!(values.len(), buckets.len(), "{ctx}: {entity} {label}");
        for (t, v) in buckets.iter().zip(values) {
            let want = sim.raw_value(ty, id, label, *t);
            assert_eq!(v.as_f64(), Some(want), "{ctx}: {entity} {label} at {t}");
        }
        let cluster = s["cluster"].as_str().expect("cluster").to_owned();
        read.entry((cluster, entity.to_owned()))
            .or_default()
            .insert(label.to_owned());
    }
    // Every host of every cluster, every ESA disk of the ESA cluster, with every label.
    let mut want = BTreeMap::<(String, String), BTreeSet<String>>::new();
    let faults = vsan["faults"].as_array().expect("faults");
    let mut esa = 0;
    for c in sim.clusters() {
        let mut types = vec!["host-domclient"];
        if c.kind == ClusterKind::Esa {
            types.push("vsan-esa-disk-layer");
            esa += 1;
        }
        for ty in types {
            let labels: BTreeSet<String> = sim.labels(ty).into_iter().map(str::to_owned).collect();
            for id in sim.entities(c, ty) {
                want.insert((c.moref.clone(), format!("{ty}:{id}")), labels.clone());
            }
            let faulted = faults
                .iter()
                .any(|f| f["cluster"] == c.moref.as_str() && f["entity"] == format!("{ty}:*"));
            assert!(!faulted, "{ctx}: {ty} on {} faulted: {faults:?}", c.name);
        }
    }
    assert_eq!(
        esa,
        usize::from(has_esa(version)),
        "{ctx}: ESA clusters in the simulated vCenter"
    );
    assert_eq!(
        read, want,
        "{ctx}: (cluster, entity) -> labels read through pyVmomi"
    );
}

/// The exporter, against the same simulator, serves what pyVmomi read.
async fn assert_exporter_agrees(report: &Value, served: &Served, version: &str, ctx: &str) {
    let sim = served.server.sim();
    let mut t = target(
        &served.server.url(),
        &sim.config().user,
        &sim.config().password,
    );
    t.client.ca_file = served.ca_file.clone();
    let engine = Engine::new(vec![t], engine_options()).expect("exporter");
    let registry = Registry::new();
    registry
        .register_collector(engine.collector())
        .expect("register");
    engine.collect_once().await;
    let text = registry.encode_to_string(vsanobs_core::Format::PrometheusText);
    let fams = parse(&text).expect("exporter output parses");
    for c in sim.clusters() {
        let success: Vec<f64> = vsan_support::samples(
            &fams,
            "vsan_exporter_collect_success",
            &[("cluster_name", &c.name)],
        )
        .map(|s| s.value)
        .collect();
        assert_eq!(
            success,
            [1.0],
            "{ctx}: exporter collect_success of {}:\n{text}",
            c.name
        );
    }
    let mut compared = BTreeSet::new();
    for s in report["vsan"]["series"].as_array().expect("series") {
        let entity = s["entity"].as_str().expect("entity");
        let (ty, id, key) = split_entity(entity);
        let label = s["label"].as_str().expect("label");
        let Some(m) = catalogue::lookup(ty, label) else {
            continue; // not in the catalogue: exported raw, compared by the e2e tests
        };
        let values: Vec<f64> = s["values"]
            .as_array()
            .expect("values")
            .iter()
            .map(|v| v.as_f64().expect("number"))
            .collect();
        let want = if m.is_delta() {
            m.convert(values.iter().sum())
        } else {
            m.convert(*values.last().expect("a bucket"))
        };
        let mut labels: Vec<(&str, &str)> = vec![(key, id)];
        labels.extend(m.extra.iter().copied());
        let got: Vec<f64> = vsan_support::samples(&fams, m.metric.name, &labels)
            .map(|s| s.value)
            .collect();
        assert_eq!(
            got.len(),
            1,
            "{ctx}: {} {labels:?} in the exporter's output",
            m.metric.name
        );
        assert!(
            close(got[0], want),
            "{ctx}: {} {labels:?}: exporter {}, pyVmomi {want} (raw {values:?})",
            m.metric.name,
            got[0]
        );
        compared.insert((ty.to_owned(), label.to_owned()));
    }
    let mut must = vec![
        ("host-domclient", "iopsRead"),
        ("host-domclient", "latencyAvgRead"),
        ("host-domclient", "readCount"),
    ];
    if has_esa(version) {
        must.push(("vsan-esa-disk-layer", "iopsReadCapacity"));
    }
    for (ty, l) in must {
        assert!(
            compared.contains(&(ty.to_owned(), l.to_owned())),
            "{ctx}: {ty} {l} not compared ({compared:?})"
        );
    }
    engine.shutdown().await;
    assert_eq!(sim.open_sessions(), 0, "{ctx}: the exporter logged out");
}

/// What pyVmomi decoded of the health, capacity and resync calls equals the simulator's
/// ground truth for every cluster.
fn assert_summary(report: &Value, sim: &Simulator, ctx: &str) {
    let step = &report["vsan_summary"];
    assert_eq!(step["faults"], serde_json::json!([]), "{ctx}: {step:?}");
    for c in sim.clusters() {
        let got = &step["clusters"][c.moref.as_str()];
        let health = sim.health_summary(c);
        assert_eq!(
            got["health"]["overall"],
            health.overall.as_str(),
            "{ctx}: {}",
            c.name
        );
        let groups = got["health"]["groups"].as_array().expect("groups");
        assert_eq!(groups.len(), health.groups.len(), "{ctx}: {}", c.name);
        for (g, want) in groups.iter().zip(&health.groups) {
            assert_eq!(g["id"], want.id.as_str(), "{ctx}");
            assert_eq!(g["name"], want.name.as_str(), "{ctx}");
            assert_eq!(g["health"], want.health.as_str(), "{ctx}: {}", want.id);
            let tests = g["tests"].as_array().expect("tests");
            assert_eq!(tests.len(), want.tests.len(), "{ctx}: {}", want.id);
            for (t, w) in tests.iter().zip(&want.tests) {
                assert_eq!(t["id"], w.id.as_str(), "{ctx}");
                assert_eq!(t["health"], w.health.as_str(), "{ctx}: {}", w.id);
            }
        }
        let space = sim.space_usage(c);
        assert_eq!(
            got["space"]["total"], space.total_capacity_b,
            "{ctx}: {}",
            c.name
        );
        assert_eq!(
            got["space"]["free"],
            space.free_capacity_b.expect("free"),
            "{ctx}"
        );
        for o in &space.by_object_type {
            let t = o.obj_type.as_deref().expect("typed");
            assert_eq!(
                got["space"]["by_type"][t],
                o.used_b.expect("used"),
                "{ctx}: {t}"
            );
        }
        let eff = space.efficient_capacity.as_ref();
        assert_eq!(
            got["space"]["logical_used"].as_i64(),
            eff.and_then(|e| e.logical_capacity_used),
            "{ctx}: {}",
            c.name
        );
        let resync = sim.resync_state(c);
        assert_eq!(got["resync"]["bytes"], resync.bytes, "{ctx}: {}", c.name);
        assert_eq!(
            got["resync"]["objects"], resync.objects,
            "{ctx}: {}",
            c.name
        );
        assert_eq!(
            got["resync"]["eta"], resync.eta_seconds,
            "{ctx}: {}",
            c.name
        );
        let components = got["resync"]["components"].as_array().expect("components");
        let sum: i64 = components
            .iter()
            .map(|x| x["bytes"].as_i64().expect("bytes"))
            .sum();
        assert_eq!(sum, resync.bytes, "{ctx}: components add up to the total");
        for x in components {
            let reasons = x["reasons"].as_array().expect("reasons");
            assert!(
                reasons
                    .iter()
                    .all(|r| ["repair", "stale"].contains(&r.as_str().unwrap_or(""))),
                "{ctx}: {x:?}"
            );
            assert!(
                c.hosts.iter().any(|h| x["host"] == h.node_uuid.as_str()),
                "{ctx}: {x:?}"
            );
        }
    }
    // The host failed and recovered before the run: its cluster resyncs, health yellow.
    let first = &sim.clusters()[0];
    assert!(sim.resync_state(first).bytes > 0, "{ctx}");
    assert_eq!(
        step["clusters"][first.moref.as_str()]["health"]["overall"],
        "yellow",
        "{ctx}"
    );
}

async fn conformance(version: &str, https: bool) {
    let served = serve(version, https).await;
    // A host of the first cluster failed and came back: its data resyncs.
    let sim = served.server.sim();
    let host = sim.clusters()[0].hosts[1].moref.clone();
    assert!(sim.fail_host(&host) && sim.recover_host(&host));
    let report = run_pyvmomi(&served).await;
    let ctx = format!(
        "emulated {version} over {}",
        if https { "https" } else { "http" }
    );
    assert_eq!(
        served.server.sim().open_sessions(),
        0,
        "{ctx}: pyVmomi's Disconnect logged out"
    );
    assert_report(&report, served.server.sim(), version, https);
    assert_summary(&report, served.server.sim(), &ctx);
    assert_exporter_agrees(&report, &served, version, &ctx).await;
    served.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pyvmomi_conforms_to_emulated_7_0u3_over_https() {
    conformance("7.0U3", true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pyvmomi_conforms_to_emulated_8_0u2_over_https() {
    conformance("8.0U2", true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pyvmomi_conforms_to_emulated_8_0u3_over_https() {
    conformance("8.0U3", true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pyvmomi_conforms_to_emulated_8_0u3_over_http() {
    conformance("8.0U3", false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pyvmomi_conforms_to_emulated_7_0u3_over_http() {
    conformance("7.0U3", false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pyvmomi_conforms_to_emulated_8_0u2_over_http() {
    conformance("8.0U2", false).await;
}
