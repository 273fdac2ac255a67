//! VMware's Go SDK (govmomi 0.24.2, Debian's `golang-github-vmware-govmomi-dev`) against the
//! simulator, in each emulated vCenter version, over HTTP and HTTPS, the way telegraf's vSAN
//! input uses it: Login, a next call that must still be authenticated (a `Secure` cookie
//! over plain HTTP never comes back), `view.Manager.CreateContainerView` +
//! `ContainerView.Retrieve` of clusters (with their `host` list), hosts and more VMs than a
//! `RetrievePropertiesEx` page (`Retrieve` sends the unpaged `RetrieveProperties`), then
//! `VsanPerfGetSupportedEntityTypes` and `VsanPerfQueryPerf` through govmomi's vsan methods
//! over a service client for `/vsanHealth` (namespace `vsan`), and Logout. It also reads
//! both versions files with govmomi's `UseServiceVersion` and makes one call with the
//! version found there.
//!
//! The program is `examples/vcsim/conformance/govmomi-client/main.go`, built in GOPATH mode
//! into the cargo target directory (its Go build cache too, so only the first build
//! compiles govmomi). A machine without `go` or govmomi's sources fails these tests
//! (`scripts/test` installs both).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use vcsim::{SimConfig, SimServer, SimTls, Simulator};
use vsanobs_core::vsan::csv::format_timestamp;
use vsanobs_testkit::conformance::{go_build, run_with_deadline};
use vsanobs_testkit::serde_json::{self, Value};

/// An interval-aligned time in the past (2026-01-01 00:00:00 UTC).
const T0: i64 = 1_767_225_600;
const WINDOW: i64 = 900;

fn client_binary() -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("conformance/govmomi-client");
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("go");
    go_build(&src, &out, "govmomi-client")
        .unwrap_or_else(|e| panic!("cannot build the govmomi client: {e}"))
}

fn sim_config(version: &str) -> SimConfig {
    SimConfig {
        vcenter_version: version
            .parse()
            .unwrap_or_else(|e| panic!("emulated version: {e}")),
        clusters: 2,
        hosts_per_cluster: 3,
        // More VMs than a RetrievePropertiesEx page: the unpaged RetrieveProperties that
        // ContainerView.Retrieve sends must still return them all.
        vms_per_host: vcsim::DEFAULT_PAGE_SIZE / 6 + 5,
        ..SimConfig::default()
    }
}

fn vim_version_id(version: &str) -> &'static str {
    match version {
        "7.0U3" => "7.0.3.0",
        "8.0U2" => "8.0.2.0",
        "8.0U3" => "8.0.3.0",
        other => panic!("no vim25 version id for {other}"),
    }
}

async fn serve(version: &str, https: bool, dir: &Path) -> (SimServer, Option<PathBuf>) {
    let sim = Simulator::new(sim_config(version));
    sim.freeze_at(T0);
    let addr = "127.0.0.1:0".parse().expect("addr");
    if https {
        let tls = SimTls::localhost().expect("certificate");
        let ca = dir.join("ca.pem");
        tls.write_ca_pem(&ca).expect("write CA");
        (
            sim.serve_tls(addr, &tls).await.expect("serve https"),
            Some(ca),
        )
    } else {
        (sim.serve(addr).await.expect("serve http"), None)
    }
}

fn failures(report: &Value) -> Vec<String> {
    report
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(_, v)| v.get("ok") == Some(&Value::Bool(false)))
        .map(|(k, v)| format!("{k}: {}", v["error"].as_str().unwrap_or("?")))
        .collect()
}

async fn conformance(version: &str, https: bool) {
    let ctx = format!(
        "govmomi against emulated {version} over {}",
        if https { "https" } else { "http" }
    );
    let binary = tokio::task::spawn_blocking(client_binary)
        .await
        .expect("join");
    let dir = tempfile::tempdir().expect("temp dir");
    let (server, ca) = serve(version, https, dir.path()).await;
    let sim = server.sim().clone();
    let mut cmd = Command::new(binary);
    cmd.args(["-url", &server.url()])
        .args([
            "-user",
            &sim.config().user,
            "-password",
            &sim.config().password,
        ])
        .args(["-entity", "host-domclient:*"])
        .args([
            "-start",
            &(T0 - WINDOW).to_string(),
            "-end",
            &T0.to_string(),
        ])
        .args(["-timeout", "60s"]);
    if let Some(ca) = &ca {
        cmd.arg("-ca-file").arg(ca);
    }
    let out = tokio::task::spawn_blocking(move || run_with_deadline(cmd, Duration::from_secs(90)))
        .await
        .expect("join")
        .unwrap_or_else(|e| panic!("{ctx}: {e}"));
    assert!(
        out.status.success(),
        "{ctx}: exit {}:\n{}",
        out.status,
        out.stderr
    );
    let report: Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("{ctx}: report is not JSON ({e}):\n{}", out.stdout));
    let failed = failures(&report);
    assert!(
        failed.is_empty(),
        "{ctx}: steps failed:\n{}",
        failed.join("\n")
    );

    // Versions files, read the way govmomi reads them, and a call with that version.
    let v = &report["versions"];
    assert_eq!(v["vim"], vim_version_id(version), "{ctx}: {v}");
    assert_eq!(v["vim_namespace"], "urn:vim25", "{ctx}: {v}");
    assert_eq!(v["vsan_namespace"], "urn:vsan", "{ctx}: {v}");
    assert!(
        v["vsan"].as_str().is_some_and(|s| !s.is_empty()),
        "{ctx}: {v}"
    );
    assert_eq!(v["negotiated_call_ok"], true, "{ctx}: {v}");

    assert_eq!(
        report["login"]["api_version"],
        vim_version_id(version),
        "{ctx}"
    );
    assert_eq!(
        report["session_valid"]["user"],
        sim.config().user.as_str(),
        "{ctx}"
    );

    // Inventory: every cluster with its hosts, every host's name.
    let inv = &report["inventory"];
    let mut clusters = BTreeMap::new();
    for c in inv["clusters"].as_array().expect("clusters") {
        let hosts: BTreeSet<String> = c["hosts"]
            .as_array()
            .expect("hosts")
            .iter()
            .map(|h| h.as_str().expect("moref").to_owned())
            .collect();
        clusters.insert(
            c["moref"].as_str().expect("moref").to_owned(),
            (c["name"].clone(), hosts),
        );
    }
    let want: BTreeMap<String, (Value, BTreeSet<String>)> = sim
        .clusters()
        .iter()
        .map(|c| {
            (
                c.moref.clone(),
                (
                    Value::from(c.name.clone()),
                    c.hosts.iter().map(|h| h.moref.clone()).collect(),
                ),
            )
        })
        .collect();
    assert_eq!(clusters, want, "{ctx}: clusters (name, host list)");
    for h in sim.clusters().iter().flat_map(|c| &c.hosts) {
        assert_eq!(
            inv["hosts"][&h.moref],
            h.name.as_str(),
            "{ctx}: host {}",
            h.moref
        );
    }
    let mut vms: Vec<String> = sim
        .clusters()
        .iter()
        .flat_map(|c| &c.hosts)
        .flat_map(|h| h.vms.iter().map(|v| v.1.clone()))
        .collect();
    vms.sort();
    assert!(vms.len() > vcsim::DEFAULT_PAGE_SIZE, "{} VMs", vms.len());
    let got: Vec<&str> = inv["vm_names"]
        .as_array()
        .expect("vm names")
        .iter()
        .map(|v| v.as_str().expect("name"))
        .collect();
    assert_eq!(got, vms, "{ctx}: every VM through ContainerView.Retrieve");

    // vSAN: entity types and the data, equal to the simulator's ground truth.
    let types: BTreeSet<&str> = report["entity_types"]["names"]
        .as_array()
        .expect("names")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for t in [
        "cluster-domclient",
        "host-domclient",
        "virtual-machine",
        "vsan-pnic-net",
    ] {
        assert!(types.contains(t), "{ctx}: {t} not among {types:?}");
    }
    let buckets = sim.buckets(T0 - WINDOW, T0);
    let times: Vec<Value> = buckets
        .iter()
        .map(|t| Value::from(format_timestamp(*t)))
        .collect();
    let mut seen = BTreeSet::new();
    for s in report["query_perf"]["series"].as_array().expect("series") {
        let entity = s["entity"].as_str().expect("entity");
        let uuid = entity
            .strip_prefix("host-domclient:")
            .expect("host-domclient entity");
        let label = s["label"].as_str().expect("label");
        assert_eq!(
            s["times"].as_array().expect("times"),
            &times,
            "{ctx}: {entity}"
        );
        let values = s["values"].as_array().expect("values");
        assert_eq!(values.len(), buckets.len(), "{ctx}: {entity} {label}");
        for (t, v) in buckets.iter().zip(values) {
            let want = sim.raw_value("host-domclient", uuid, label, *t);
            assert_eq!(v.as_f64(), Some(want), "{ctx}: {entity} {label} at {t}");
        }
        seen.insert((uuid.to_owned(), label.to_owned()));
    }
    let want: BTreeSet<(String, String)> = sim
        .clusters()
        .iter()
        .flat_map(|c| &c.hosts)
        .flat_map(|h| {
            sim.labels("host-domclient")
                .into_iter()
                .map(move |l| (h.node_uuid.clone(), l.to_owned()))
        })
        .collect();
    assert_eq!(seen, want, "{ctx}: (host, label) pairs");

    assert_eq!(report["logout"]["ok"], true, "{ctx}");
    assert_eq!(sim.open_sessions(), 0, "{ctx}: sessions left after Logout");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn govmomi_conforms_to_emulated_7_0u3_over_http() {
    conformance("7.0U3", false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn govmomi_conforms_to_emulated_7_0u3_over_https() {
    conformance("7.0U3", true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn govmomi_conforms_to_emulated_8_0u2_over_http() {
    conformance("8.0U2", false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn govmomi_conforms_to_emulated_8_0u2_over_https() {
    conformance("8.0U2", true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn govmomi_conforms_to_emulated_8_0u3_over_http() {
    conformance("8.0U3", false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn govmomi_conforms_to_emulated_8_0u3_over_https() {
    conformance("8.0U3", true).await;
}
