//! The `vsan-exporter` binary itself (built-in simulator, no `VCENTER_URL`): /metrics is
//! served by `vsanobs_http::MetricsEndpoint` (gzip, `name[]` selection, handler metrics) and
//! carries `vsan_exporter_build_info` with the compiler version from `examples/build.rs`.

mod vsan_support;

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

use vsan_support::logged_value;

// Kills the process when the test ends, however it ends.
use vsanobs_testkit::KillOnDrop as Exporter;

/// Starts the exporter on 127.0.0.1:<free port> and reads the bound address from its log.
fn start() -> (Exporter, SocketAddr) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_vsan-exporter"))
        .args([
            "--web.listen-address",
            "127.0.0.1:0",
            "--sim.clusters",
            "1",
            "--sim.hosts",
            "2",
        ])
        .env_remove("VCENTER_URL")
        .env_remove("VCENTER_USER")
        .env_remove("VCENTER_PASSWORD")
        .env_remove("VCENTER_PASSWORD_FILE")
        .env("VSAN_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start vsan-exporter");
    let stdout = child.stdout.take().expect("stdout");
    let exporter = Exporter(child);
    let addr = logged_value(stdout, "serving /metrics", "address=");
    (exporter, addr.parse().expect("a socket address"))
}

async fn get(url: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let client = reqwest::Client::new();
    let mut req = client.get(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    tokio::time::timeout(Duration::from_secs(30), req.send())
        .await
        .expect("scrape answered within 30 s")
        .expect("scrape")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_serves_metrics_endpoint_with_build_info() {
    let (_exporter, addr) = start();
    let url = format!("http://{addr}/metrics");

    // `name[]` selection: only the build-info family, in the negotiated format.
    let resp = get(
        &format!("{url}?name[]=vsan_exporter_build_info"),
        &[("accept", "application/openmetrics-text;version=1.0.0")],
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/openmetrics-text; version=1.0.0; charset=utf-8")
    );
    let text = resp.text().await.expect("body");
    let fams = vsanobs_core::testutil::parse(&text).expect("output parses");
    assert_eq!(fams.len(), 1, "only the selected family: {text}");
    let info = fams[0].samples.first().expect("one build_info sample");
    assert_eq!(info.name, "vsan_exporter_build_info", "{text}");
    assert_eq!(info.label("version"), Some(env!("CARGO_PKG_VERSION")));
    let rustc = info.label("rustc_version").expect("rustc_version label");
    assert!(
        rustc.starts_with("rustc ") && rustc != "unknown",
        "rustc_version filled in by build.rs: {rustc:?}"
    );
    let commit = info.label("git_commit").expect("git_commit label");
    assert!(!commit.is_empty(), "git_commit label present");

    // gzip when the client accepts it.
    let resp = get(&url, &[("accept-encoding", "gzip")]).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()
            .get("content-encoding")
            .and_then(|v| v.to_str().ok()),
        Some("gzip")
    );
    let body = resp.bytes().await.expect("body");
    assert_eq!(&body[..2], &[0x1f, 0x8b], "a gzip stream");

    // The endpoint's own handler metrics count the scrapes above.
    let text = get(&url, &[]).await.text().await.expect("body");
    let fams = vsanobs_core::testutil::parse(&text).expect("output parses");
    let served = vsanobs_core::testutil::sample_value(
        &fams,
        "vsanobs_metric_handler_requests_total",
        &[("code", "200")],
    )
    .expect("handler metrics exported");
    assert!(served >= 2.0, "two earlier scrapes counted: {served}");
}

/// Every `vsanobs_scrape_collector_success{collector}` of the default exporter names what it
/// serves: a vSAN family that is in the same scrape, the unknown labels of a vSAN entity
/// type, the exporter's self-metrics, or a library collector (process, heap); none is an
/// internal share (`vsan_0` ... `vsan_63`), and each reads 1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_collectors_are_named_after_what_they_serve() {
    use vsanobs_core::vsan::catalogue::{ENTITY_TYPES, METRICS};

    let (_exporter, addr) = start();
    let url = format!("http://{addr}/metrics");
    // Wait for the first collection of the built-in simulator's clusters (one OSA, one ESA:
    // between them they serve every catalogue family).
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let text = loop {
        let text = get(&url, &[]).await.text().await.expect("body");
        if text.matches("vsan_exporter_collect_success{").count() >= 2 {
            break text;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no collection within 60 s:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let fams = vsanobs_core::testutil::parse(&text).expect("output parses");
    let families: Vec<&str> = fams.iter().map(|f| f.name.as_str()).collect();
    let success = fams
        .iter()
        .find(|f| f.name == "vsanobs_scrape_collector_success")
        .expect("collector success family");
    let mut vsan_families = 0;
    for s in &success.samples {
        let name = s.label("collector").expect("collector label");
        let internal_share = name
            .strip_prefix("vsan_")
            .is_some_and(|rest| !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit()));
        assert!(
            !internal_share,
            "collector named after an internal share: {name}"
        );
        assert_eq!(s.value, 1.0, "collector {name} failed:\n{text}");
        let is_family = METRICS
            .iter()
            .chain(vsan_exporter::summary::metrics::ALL)
            .any(|d| d.name == name);
        if is_family {
            vsan_families += 1;
            // Nothing resyncs in the simulator unless a host recovered: that family alone
            // has no series yet.
            let may_be_empty = name == vsan_exporter::summary::metrics::RESYNC_BY_REASON.name;
            assert!(
                families.contains(&name) || may_be_empty,
                "collector {name} serves a family this scrape lacks"
            );
            continue;
        }
        let unknown_of_type = ENTITY_TYPES
            .iter()
            .any(|et| name.strip_suffix("_unknown_labels") == Some(et.prefix));
        assert!(
            unknown_of_type
                || [
                    "vsan_exporter",
                    "vsan_unknown_entity_types",
                    "process",
                    "heap",
                    "family_reclaim",
                ]
                .contains(&name),
            "collector {name} names nothing a user can look up"
        );
    }
    assert_eq!(
        vsan_families,
        METRICS.len() + vsan_exporter::summary::metrics::ALL.len(),
        "one collector per vSAN family"
    );
    assert!(
        success
            .samples
            .iter()
            .any(|s| s.label("collector") == Some("vsan_exporter")),
        "the self-metrics collector"
    );
}

/// `--remote-write.url` on the binary with its built-in simulator: a real VictoriaMetrics
/// receives the vSAN series, each sample at a vSAN interval time (a multiple of the
/// simulator's 60 s interval), the first collection's 15 intervals of lookback each at its
/// own time; /metrics keeps serving the same series, and the exporter counts what it sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_remote_writes_every_interval_at_its_vsan_time() {
    let vm = std::sync::Arc::new(
        vsanobs_testkit::VictoriaMetrics::start().unwrap_or_else(|e| {
            panic!("cannot start a real VictoriaMetrics (run scripts/test to install it): {e}")
        }),
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_vsan-exporter"))
        .args([
            "--web.listen-address",
            "127.0.0.1:0",
            "--sim.clusters",
            "1",
            "--sim.esa-clusters",
            "0",
            "--sim.hosts",
            "2",
            "--sim.interval",
            "60",
            "--remote-write.url",
            &vm.remote_write_url(),
            "--remote-write.pool-size",
            "100000",
        ])
        .env_remove("VCENTER_URL")
        .env_remove("VCENTER_USER")
        .env_remove("VCENTER_PASSWORD")
        .env_remove("VCENTER_PASSWORD_FILE")
        .env("VSAN_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start vsan-exporter");
    let stdout = child.stdout.take().expect("stdout");
    let _exporter = Exporter(child);
    let addr: SocketAddr = logged_value(stdout, "serving /metrics", "address=")
        .parse()
        .expect("a socket address");
    let selector = r#"vsan_host_domclient_io_operations_total{op="read"}"#;
    let v = vm.clone();
    let series = tokio::task::spawn_blocking(move || {
        v.wait_for_export(
            selector,
            |s| {
                s.len() == 2
                    && s.iter()
                        .all(|x| x["timestamps"].as_array().is_some_and(|t| t.len() >= 15))
            },
            Duration::from_secs(60),
        )
    })
    .await
    .expect("join")
    .unwrap_or_else(|e| panic!("no remote-written samples: {e}"));
    for s in &series {
        let times: Vec<i64> = s["timestamps"]
            .as_array()
            .expect("timestamps")
            .iter()
            .map(|t| t.as_i64().expect("ms"))
            .collect();
        assert!(times.iter().all(|t| t % 60_000 == 0), "{times:?}");
        assert!(
            times.windows(2).all(|w| w[1] - w[0] == 60_000),
            "every interval once: {times:?}"
        );
        let values: Vec<f64> = s["values"]
            .as_array()
            .expect("values")
            .iter()
            .map(|v| v.as_f64().expect("value"))
            .collect();
        assert!(
            values.windows(2).all(|w| w[1] > w[0]),
            "a running total: {values:?}"
        );
    }
    let text = get(&format!("http://{addr}/metrics"), &[])
        .await
        .text()
        .await
        .expect("body");
    let fams = vsanobs_core::testutil::parse(&text).expect("output parses");
    let sent = vsanobs_core::testutil::sample_value(
        &fams,
        "vsanobs_export_sent_samples_total",
        &[("exporter", "remote_write")],
    )
    .expect("remote-write metrics exported");
    assert!(sent >= 30.0, "{sent}");
    assert!(
        fams.iter()
            .any(|f| f.name == "vsan_host_domclient_io_operations"
                || f.name == "vsan_host_domclient_io_operations_total"),
        "/metrics still serves the vSAN series"
    );
}
