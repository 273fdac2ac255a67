//! `vsan-exporter --web.config.file`: a real Prometheus scrapes the exporter over HTTPS with
//! basic auth; a request without credentials gets 401; a bad web config stops the exporter
//! at start with its error; on SIGHUP the file is re-read (new credentials accepted, old
//! refused) and a bad file keeps the previous one in force, counted.

mod vsan_support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use vsan_support::logged_value;
use vsanobs_testkit::web_config::{
    assert_refused_at_start, hangup, https_client, prometheus_scraping_over_tls,
    replace_tls_web_config, wait_for_reloads_counted, wait_until_served, write_server_pki,
    write_tls_basic_auth_setup,
};

const PASSWORD: &str = "vsan scrape secret";

// Kills the process when the test ends, however it ends.
use vsanobs_testkit::KillOnDrop as Exporter;

fn exporter(web_config: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vsan-exporter"));
    cmd.args([
        "--web.listen-address",
        "127.0.0.1:0",
        "--sim.clusters",
        "1",
        "--sim.hosts",
        "2",
        "--web.config.file",
    ])
    .arg(web_config)
    .env_remove("VCENTER_URL")
    .env_remove("VCENTER_USER")
    .env_remove("VCENTER_PASSWORD")
    .env_remove("VCENTER_PASSWORD_FILE")
    .env("VSAN_LOG", "info");
    cmd
}

/// Starts the exporter with `web_config`; returns it and the address it logs it serves on.
fn start(web_config: &Path) -> (Exporter, String) {
    let mut child = exporter(web_config)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start vsan-exporter");
    let stdout = child.stdout.take().expect("stdout");
    let exporter = Exporter(child);
    (
        exporter,
        logged_value(stdout, "serving /metrics", "address="),
    )
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn prometheus_scrapes_the_exporter_over_tls_with_basic_auth() {
    let dir = tempfile::tempdir().unwrap();
    let web =
        write_tls_basic_auth_setup(dir.path(), "exporter test CA", "prometheus", PASSWORD).unwrap();
    let (_exporter, addr) = start(&web);

    // Without credentials: 401 with a challenge, over TLS.
    runtime().block_on(async {
        let client = https_client(&dir.path().join("ca.pem"));
        let resp = client
            .get(format!("https://{addr}/metrics"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 401);
        assert!(resp.headers().contains_key("www-authenticate"));
        // Plain HTTP on the TLS port is not served.
        let plain = client.get(format!("http://{addr}/metrics")).send().await;
        assert!(plain.map(|r| r.status() != 200).unwrap_or(true));
    });

    let prometheus =
        prometheus_scraping_over_tls("vsan", dir.path(), "prometheus", PASSWORD, &addr);
    let info = prometheus
        .wait_for_series(
            "vsan_exporter_build_info{job=\"vsan\"}",
            Duration::from_secs(60),
        )
        .unwrap();
    assert_eq!(info[0]["value"][1], "1");
}

#[test]
fn a_bad_web_config_stops_the_exporter_at_start() {
    let dir = tempfile::tempdir().unwrap();
    write_server_pki(dir.path(), "exporter test CA").unwrap();
    let weak = bcrypt::hash(PASSWORD, 4).unwrap();
    for (yaml, expected) in [
        (
            format!("basic_auth_users:\n  prometheus: {weak}\n"),
            "cost 4",
        ),
        (
            "basic_auth_users:\n  prometheus: plain\n".to_owned(),
            "invalid bcrypt hash",
        ),
        (
            "tls_server_config:\n  cert_file: server.pem\n  key_file: ca.pem\n".to_owned(),
            "no private key",
        ),
        (
            "tls_config:\n  cert_file: server.pem\n".to_owned(),
            "tls_config",
        ),
    ] {
        let web = dir.path().join("web.yml");
        assert_refused_at_start(&web, &yaml, expected, &mut exporter(&web));
    }
}

#[test]
fn sighup_reloads_the_web_config_and_a_bad_file_keeps_the_last() {
    const NEW: &str = "rotated scrape secret";
    let dir = tempfile::tempdir().unwrap();
    let web =
        write_tls_basic_auth_setup(dir.path(), "exporter test CA", "prometheus", PASSWORD).unwrap();
    let (exporter, addr) = start(&web);
    let pid = exporter.0.id();
    runtime().block_on(async {
        let client = https_client(&dir.path().join("ca.pem"));
        let scrape = |password: &'static str| {
            let client = client.clone();
            let addr = addr.clone();
            async move {
                let resp = client
                    .get(format!("https://{addr}/metrics"))
                    .basic_auth("prometheus", Some(password))
                    .send()
                    .await
                    .unwrap();
                (resp.status().as_u16(), resp.text().await.unwrap())
            }
        };
        assert_eq!(scrape(PASSWORD).await.0, 200);
        assert_eq!(scrape(NEW).await.0, 401);

        replace_tls_web_config(
            &web,
            "",
            &format!(
                "basic_auth_users:\n  prometheus: {}\n",
                bcrypt::hash(NEW, 10).unwrap()
            ),
        )
        .unwrap();
        hangup(pid);
        let wait = Duration::from_secs(30);
        wait_until_served("SIGHUP did not reload", wait, || scrape(NEW)).await;
        assert_eq!(scrape(PASSWORD).await.0, 401);

        // A weak hash: refused, counted, and the rotated password still works.
        let weak = bcrypt::hash(PASSWORD, 4).unwrap();
        replace_tls_web_config(
            &web,
            "",
            &format!("basic_auth_users:\n  prometheus: {weak}\n"),
        )
        .unwrap();
        hangup(pid);
        let text = wait_for_reloads_counted("fail", 1, wait, || scrape(NEW)).await;
        assert!(
            text.contains("vsanobs_web_config_last_reload_successful 0\n"),
            "{text}"
        );
        assert_eq!(scrape(PASSWORD).await.0, 401);
    });
}
