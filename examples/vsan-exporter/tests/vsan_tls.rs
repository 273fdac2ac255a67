//! The vCenter client and the exporter over real HTTPS against the simulator on 127.0.0.1:
//! trusted through a CA file, rejected (reason `tls`) without it, accepted in the explicit
//! insecure mode (warning logged, `vsan_exporter_insecure_tls 1`), unusable CA files refused
//! when the client is built, and the `vsan-exporter` binary with `--vcenter.ca-file`.

mod vsan_support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use vcsim::{SimConfig, SimServer, SimTls, SimTlsError, Simulator};
use vsan_exporter::client::{ClientError, VcenterClient};
use vsan_exporter::config::Target;
use vsan_exporter::engine::{Engine, EngineError};
use vsan_support::{
    T0, capture_logs, engine_options, engine_with_registry, logged_value, target, value,
};
use vsanobs_core::testutil::{ParsedFamily, parse};
use vsanobs_core::{Format, Registry};

const PASSWORD: &str = "canary-Tls-Pa55-4d1e8b";

fn small() -> SimConfig {
    SimConfig {
        clusters: 2,
        hosts_per_cluster: 2,
        disk_groups_per_host: 1,
        vms_per_host: 1,
        pnics_per_host: 1,
        password: PASSWORD.into(),
        ..SimConfig::default()
    }
}

/// An HTTPS simulator with a generated CA written to `dir/ca.pem`.
async fn https_sim(dir: &Path) -> (SimServer, SimTls, PathBuf) {
    let tls = SimTls::localhost().expect("generate certificate");
    let ca = dir.join("ca.pem");
    tls.write_ca_pem(&ca).expect("write ca");
    let sim = Simulator::new(small());
    sim.freeze_at(T0);
    let server = sim
        .serve_tls("127.0.0.1:0".parse().expect("addr"), &tls)
        .await
        .expect("serve https");
    assert!(server.url().starts_with("https://127.0.0.1:"));
    (server, tls, ca)
}

fn tls_target(url: &str, ca_file: Option<PathBuf>, insecure: bool) -> Target {
    let mut t = target(url, &small().user, PASSWORD);
    t.client.ca_file = ca_file;
    t.client.insecure = insecure;
    t
}

fn exporter_with_registry(t: Target) -> (Engine, Registry) {
    engine_with_registry(t, engine_options())
}

fn families(registry: &Registry) -> Vec<ParsedFamily> {
    parse(&registry.encode_to_string(Format::PrometheusText)).expect("exporter output parses")
}

fn success(fams: &[ParsedFamily], cluster: &str) -> Option<f64> {
    value(
        fams,
        "vsan_exporter_collect_success",
        &[("vcenter", "vc-test"), ("cluster_name", cluster)],
    )
}

fn errors(fams: &[ParsedFamily], cluster: &str, reason: &str) -> f64 {
    value(
        fams,
        "vsan_exporter_fetch_errors_total",
        &[
            ("vcenter", "vc-test"),
            ("cluster_name", cluster),
            ("reason", reason),
        ],
    )
    .unwrap_or(0.0)
}

fn insecure_metric(fams: &[ParsedFamily]) -> Option<f64> {
    value(
        fams,
        "vsan_exporter_insecure_tls",
        &[("vcenter", "vc-test")],
    )
}

/// Display and Debug of an error and of every source below it.
fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = String::new();
    let mut cur = Some(err);
    while let Some(e) = cur {
        out.push_str(&format!("{e} | {e:?} | "));
        cur = e.source();
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ca_file_trusts_the_simulator_login_query_and_collect_succeed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (server, _tls, ca) = https_sim(dir.path()).await;
    let sim = server.sim().clone();

    let client = VcenterClient::new(tls_target(&server.url(), Some(ca.clone()), false).client)
        .expect("client with ca file");
    client.ensure_session().await.expect("login over https");
    assert_eq!(
        sim.stats()
            .logins
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    let cluster = &sim.clusters()[0];
    let rows = client
        .query_perf(&cluster.moref, "host-domclient", T0 - 300, T0)
        .await
        .expect("VsanPerfQueryPerf over https");
    assert_eq!(rows.len(), cluster.hosts.len(), "one row per host");
    for row in &rows {
        let uuid = row
            .entity_ref_id
            .strip_prefix("host-domclient:")
            .expect("entity ref");
        let iops = row
            .series
            .iter()
            .find(|s| s.label == "iopsRead")
            .expect("iopsRead series");
        let got: f64 = iops.values.parse().expect("one value for one bucket");
        assert_eq!(got, sim.raw_value("host-domclient", uuid, "iopsRead", T0));
    }
    client.logout().await;
    assert_eq!(sim.open_sessions(), 0);

    let (exporter, registry) = exporter_with_registry(tls_target(&server.url(), Some(ca), false));
    exporter.collect_once().await;
    let fams = families(&registry);
    for c in sim.clusters() {
        assert_eq!(success(&fams, &c.name), Some(1.0), "cluster {}", c.name);
    }
    assert!(
        fams.iter()
            .any(|f| f.name == "vsan_host_domclient_io_operations_per_second"),
        "vSAN values collected over https"
    );
    assert_eq!(insecure_metric(&fams), Some(0.0));
    exporter.shutdown().await;
    assert_eq!(sim.open_sessions(), 0, "the exporter logged out");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_ca_verification_fails_with_reason_tls() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (server, _tls, ca) = https_sim(dir.path()).await;
    let sim = server.sim().clone();
    // A session exists, so a leaked token would be visible.
    let good =
        VcenterClient::new(tls_target(&server.url(), Some(ca), false).client).expect("client");
    good.ensure_session().await.expect("login");
    let logins = sim
        .stats()
        .logins
        .load(std::sync::atomic::Ordering::Relaxed);

    // Verification on by default: the simulator's CA is not among the built-in roots.
    let client = VcenterClient::new(tls_target(&server.url(), None, false).client)
        .expect("client without ca file");
    let err = client
        .ensure_session()
        .await
        .expect_err("an untrusted certificate is rejected");
    assert!(matches!(err, ClientError::Tls(_)), "{err:?}");
    assert_eq!(err.reason(), "tls");
    let text = chain(&err);
    assert!(text.contains("tls handshake failed"), "{text}");
    let mut display = String::new();
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(&err);
    while let Some(e) = cur {
        display.push_str(&format!("{e}: "));
        cur = e.source();
    }
    assert!(
        display.contains("invalid peer certificate"),
        "the logged chain names the cause: {display}"
    );
    assert!(
        text.contains("certificate"),
        "the cause names the certificate: {text}"
    );
    assert_eq!(
        sim.stats()
            .logins
            .load(std::sync::atomic::Ordering::Relaxed),
        logins,
        "no login reached the server"
    );

    // The exporter: never reached, so the vCenter-level entry reports the failure.
    let (exporter, registry) = exporter_with_registry(tls_target(&server.url(), None, false));
    exporter.collect_once().await;
    let fams = families(&registry);
    assert_eq!(success(&fams, ""), Some(0.0));
    assert_eq!(errors(&fams, "", "tls"), 1.0);
    exporter.collect_once().await;
    let fams = families(&registry);
    assert_eq!(errors(&fams, "", "tls"), 2.0, "counted every cycle");
    assert_eq!(insecure_metric(&fams), Some(0.0));

    let tokens = sim.issued_tokens();
    assert!(!tokens.is_empty());
    let exported = registry.encode_to_string(Format::PrometheusText);
    for out in [&text, &exported] {
        assert!(!out.contains(PASSWORD), "password leaked into: {out}");
        for t in &tokens {
            assert!(
                !out.contains(t.as_str()),
                "session token leaked into: {out}"
            );
        }
    }
    exporter.shutdown().await;
    good.logout().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clusters_fail_with_reason_tls_when_the_certificate_changes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (server, _tls, ca) = https_sim(dir.path()).await;
    let sim = server.sim().clone();
    let addr = server.addr();
    let url = server.url();
    let (exporter, registry) = exporter_with_registry(tls_target(&url, Some(ca), false));
    exporter.collect_once().await;
    let fams = families(&registry);
    for c in sim.clusters() {
        assert_eq!(success(&fams, &c.name), Some(1.0));
    }

    // Same address, a certificate from another CA (as after an unplanned certificate swap).
    server.stop().await;
    let other = SimTls::localhost().expect("second certificate");
    let server = sim
        .clone()
        .serve_tls(addr, &other)
        .await
        .expect("serve again on the same port");
    sim.advance(300);
    // The first cycle may find the pooled connection closed (`connection`); from then on
    // every handshake is rejected.
    exporter.collect_once().await;
    exporter.collect_once().await;
    let fams = families(&registry);
    for c in sim.clusters() {
        assert_eq!(success(&fams, &c.name), Some(0.0), "cluster {}", c.name);
        assert!(
            errors(&fams, &c.name, "tls") >= 1.0,
            "tls errors counted for {}",
            c.name
        );
        assert!(
            value(
                &fams,
                "vsan_exporter_last_sample_timestamp_seconds",
                &[
                    ("vcenter", "vc-test"),
                    ("cluster_name", &c.name),
                    ("entity_type", "host-domclient"),
                ],
            )
            .is_some_and(|t| t == T0 as f64),
            "previous good values are still served"
        );
    }
    exporter.shutdown().await;
    server.stop().await;
}

#[tokio::test]
async fn insecure_mode_connects_logs_a_warning_and_exports_the_metric() {
    // Current-thread runtime: every task runs on this thread, under this subscriber.
    // tracing's callsite interest is process-wide: in plain `cargo test` the other tests'
    // subscribers come and go meanwhile, so the log is captured in a process of its own.
    if vsanobs_testkit::quiet::rerun_alone() {
        return;
    }
    let (logs, _guard) = capture_logs();

    let dir = tempfile::tempdir().expect("tempdir");
    let (server, _tls, _ca) = https_sim(dir.path()).await;
    let sim = server.sim().clone();
    let (exporter, registry) = exporter_with_registry(tls_target(&server.url(), None, true));
    let log = logs.text();
    assert!(
        log.contains("WARN")
            && log.contains("verification is DISABLED")
            && log.contains(&server.url()),
        "insecure mode is logged as a warning: {log}"
    );
    exporter.collect_once().await;
    let fams = families(&registry);
    for c in sim.clusters() {
        assert_eq!(success(&fams, &c.name), Some(1.0), "cluster {}", c.name);
    }
    assert_eq!(insecure_metric(&fams), Some(1.0));
    exporter.shutdown().await;
    server.stop().await;
    let log = logs.text();
    assert!(log.contains("logged in to vCenter"), "{log}");
    assert!(!log.contains(PASSWORD), "password leaked into logs");
}

fn ca_error(ca: &Path) -> ClientError {
    let t = tls_target("https://127.0.0.1:9", Some(ca.to_owned()), false);
    let err = VcenterClient::new(t.client.clone()).expect_err("unusable ca file");
    match Engine::new(vec![t], engine_options()) {
        Err(EngineError::Client { name, source }) => {
            assert_eq!(name, "vc-test");
            assert_eq!(source.reason(), "tls_config");
        }
        other => panic!("exporter built with an unusable ca file: {other:?}"),
    }
    err
}

#[test]
fn unusable_ca_files_are_typed_errors_at_construction() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("missing.pem");
    let err = ca_error(&missing);
    assert!(matches!(&err, ClientError::CaFile { path, .. } if *path == missing));
    assert_eq!(err.reason(), "tls_config");
    let io = std::error::Error::source(&err)
        .and_then(|s| s.downcast_ref::<std::io::Error>())
        .expect("io error source");
    assert_eq!(io.kind(), std::io::ErrorKind::NotFound);

    let cases: [(&str, &str); 4] = [
        ("text.pem", "this is not a certificate\n"),
        ("empty.pem", ""),
        (
            "key-only.pem",
            "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIBrmYhl6vJ/lJRGtaxh0uhEmsMMj4cOyGrrpyfPSy0y7\n-----END PRIVATE KEY-----\n",
        ),
        (
            "garbage-der.pem",
            "-----BEGIN CERTIFICATE-----\nAAECAwQFBgcICQ==\n-----END CERTIFICATE-----\n",
        ),
    ];
    for (name, content) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, content).expect("write");
        let err = ca_error(&path);
        assert!(
            matches!(&err, ClientError::CaFile { path: p, .. } if *p == path),
            "{name}: {err:?}"
        );
        assert_eq!(err.reason(), "tls_config", "{name}");
        assert!(
            std::error::Error::source(&err).is_some(),
            "{name} keeps its cause"
        );
    }

    // A CA file that is valid PEM is accepted.
    let good = dir.path().join("good.pem");
    SimTls::localhost()
        .expect("generate")
        .write_ca_pem(&good)
        .expect("write");
    VcenterClient::new(tls_target("https://127.0.0.1:9", Some(good), false).client)
        .expect("valid ca file");

    // The simulator's own certificate files fail the same way.
    assert!(matches!(
        SimTls::from_pem_files(&missing, &missing),
        Err(SimTlsError::Io { .. })
    ));
    let text = dir.path().join("text.pem");
    assert!(matches!(
        SimTls::from_pem_files(&text, &text),
        Err(SimTlsError::NoCertificate(_))
    ));
}

/// Kills the exporter when the test ends, however it ends.
struct ExporterProcess(Child);

impl Drop for ExporterProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `vsan-exporter` against `url` the documented way (environment, password file,
/// `--vcenter.ca-file`) and reads its /metrics address from the log.
fn vsan_exporter(url: &str, password_file: &Path, ca: &Path) -> (ExporterProcess, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_vsan-exporter"))
        .args([
            "--web.listen-address",
            "127.0.0.1:0",
            "--vcenter.ca-file",
            ca.to_str().expect("utf-8 path"),
        ])
        .env("VCENTER_URL", url)
        .env("VCENTER_USER", small().user)
        .env("VCENTER_PASSWORD_FILE", password_file)
        .env_remove("VCENTER_PASSWORD")
        .env("VSAN_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start vsan-exporter");
    let stdout = child.stdout.take().expect("stdout");
    let guard = ExporterProcess(child);
    let addr = logged_value(stdout, "serving /metrics", "address=");
    (guard, addr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vsan_exporter_binary_collects_from_an_https_vcenter_with_a_ca_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tls = SimTls::localhost().expect("generate certificate");
    let ca = dir.path().join("vcsim-ca.pem");
    tls.write_ca_pem(&ca).expect("write ca");
    let sim = Simulator::new(SimConfig {
        clusters: 1,
        hosts_per_cluster: 2,
        password: PASSWORD.into(),
        ..SimConfig::default()
    });
    let server = sim
        .serve_tls("127.0.0.1:0".parse().expect("addr"), &tls)
        .await
        .expect("serve https");
    let url = server.url();
    let password_file = dir.path().join("vc-password");
    std::fs::write(&password_file, format!("{PASSWORD}\n")).expect("write password file");
    let (_exporter, addr) = vsan_exporter(&url, &password_file, &ca);

    let metrics = format!("http://{addr}/metrics");
    let labels = [
        ("vcenter", "127.0.0.1"),
        ("cluster_name", "vsan-cluster-01"),
    ];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let text = loop {
        let text = tokio::time::timeout(Duration::from_secs(10), reqwest::get(&metrics))
            .await
            .expect("scrape answered within 10 s")
            .expect("scrape")
            .text()
            .await
            .expect("body");
        let fams = parse(&text).expect("output parses");
        if value(&fams, "vsan_exporter_collect_success", &labels) == Some(1.0) {
            break text;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no successful collection over https within 60 s:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let fams = parse(&text).expect("output parses");
    assert_eq!(
        value(
            &fams,
            "vsan_exporter_insecure_tls",
            &[("vcenter", "127.0.0.1")]
        ),
        Some(0.0)
    );
    assert!(
        fams.iter()
            .any(|f| f.name == "vsan_host_domclient_io_operations_per_second")
    );
    assert!(!text.contains(PASSWORD));
}
