//! `axum-demo --web.config.file`: a real Prometheus scrapes the demo over HTTPS with basic
//! auth, and a bad web config stops it at start with its typed error.

use std::process::{Command, Stdio};
use std::time::Duration;

use vsanobs_testkit::web_config::{
    https_basic_auth_scrape, write_server_pki, write_tls_basic_auth,
};
use vsanobs_testkit::{Prometheus, PrometheusConfig, free_port, vector_samples};

const PASSWORD: &str = "demo scrape secret";

// Kills the process when the test ends, however it ends.
use vsanobs_testkit::KillOnDrop as Demo;

#[test]
fn prometheus_scrapes_the_demo_over_tls_with_basic_auth() {
    let dir = tempfile::tempdir().unwrap();
    write_server_pki(dir.path(), "demo test CA").unwrap();
    let web = write_tls_basic_auth(
        dir.path(),
        "prometheus",
        &bcrypt::hash(PASSWORD, 10).unwrap(),
    )
    .unwrap();
    let addr = format!("127.0.0.1:{}", free_port());
    let child = Command::new(env!("CARGO_BIN_EXE_axum-demo"))
        .args(["--web.listen-address", &addr, "--web.config.file"])
        .arg(&web)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("axum-demo binary must start");
    let _demo = Demo(child);
    let prometheus = Prometheus::start(PrometheusConfig {
        scrape_configs: https_basic_auth_scrape(
            "demo",
            &dir.path().join("ca.pem"),
            "prometheus",
            PASSWORD,
            &addr,
        ),
        ..PrometheusConfig::default()
    })
    .unwrap();
    // The demo may still be starting when the first scrape runs: wait for a good one.
    prometheus
        .wait_for(
            "up{job=\"demo\"} == 1",
            |r| !r.as_array().unwrap().is_empty(),
            Duration::from_secs(60),
        )
        .unwrap_or_else(|e| panic!("{e}\n{:?}\n{}", prometheus.targets(), prometheus.log_tail()));
    let build = vector_samples(&prometheus.query("build_info{job=\"demo\"}").unwrap());
    assert_eq!(build.len(), 1, "{build:?}");
    assert_eq!(build[0].value, "1", "{build:?}");
}

#[test]
fn a_bad_web_config_stops_the_demo_at_start() {
    let dir = tempfile::tempdir().unwrap();
    write_server_pki(dir.path(), "demo test CA").unwrap();
    let web = dir.path().join("web.yml");
    for (yaml, expected) in [
        (
            "tls_server_config:\n  cert_file: ca.pem\n  key_file: server-key.pem\n",
            "unusable TLS certificate",
        ),
        (
            "basic_auth_users:\n  prometheus: $2b$04$abc\n",
            "invalid bcrypt hash",
        ),
        ("unknown_key: 1\n", "unknown_key"),
    ] {
        std::fs::write(&web, yaml).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_axum-demo"))
            .args(["--web.listen-address", "127.0.0.1:0", "--web.config.file"])
            .arg(&web)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{yaml}: {stderr}");
        assert!(stderr.contains(expected), "{yaml}: {stderr}");
    }
}
