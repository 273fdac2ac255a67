//! `axum-demo --web.config.file`: a real Prometheus scrapes the demo over HTTPS with basic
//! auth, a bad web config stops it at start with its typed error, and the demo follows its
//! file on SIGHUP (a bad file keeps the previous configuration, counted).

use std::path::Path;
use std::time::Duration;

use vsanobs_testkit::web_config::{
    assert_refused_at_start, hangup, https_client, prometheus_scraping_over_tls,
    replace_tls_web_config, serve_command, start_server, wait_for_reloads_counted,
    wait_until_served, write_server_pki, write_tls_basic_auth_setup,
};
use vsanobs_testkit::{free_port, vector_samples};

const PASSWORD: &str = "demo scrape secret";
/// The bound of each wait for the demo to start or to act on a SIGHUP.
const WAIT: Duration = Duration::from_secs(60);

/// The demo binary under test.
const DEMO: &str = env!("CARGO_BIN_EXE_axum-demo");

#[test]
fn prometheus_scrapes_the_demo_over_tls_with_basic_auth() {
    let dir = tempfile::tempdir().unwrap();
    let web =
        write_tls_basic_auth_setup(dir.path(), "demo test CA", "prometheus", PASSWORD).unwrap();
    let addr = format!("127.0.0.1:{}", free_port());
    let _demo = start_server(DEMO, &addr, &web);
    let prometheus =
        prometheus_scraping_over_tls("demo", dir.path(), "prometheus", PASSWORD, &addr);
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
        let mut demo = serve_command(DEMO, "127.0.0.1:0", &web);
        assert_refused_at_start(&web, yaml, expected, &mut demo);
    }
}

/// Replaces `web` with TLS and the `basic_auth_users` in `users`.
fn rewrite(web: &Path, users: &str) {
    replace_tls_web_config(web, "", &format!("basic_auth_users:\n{users}")).unwrap();
}

#[test]
fn the_demo_follows_its_web_config_on_sighup() {
    const NEW: &str = "rotated demo secret";
    let dir = tempfile::tempdir().unwrap();
    let web =
        write_tls_basic_auth_setup(dir.path(), "demo test CA", "prometheus", PASSWORD).unwrap();
    let addr = format!("127.0.0.1:{}", free_port());
    let demo = start_server(DEMO, &addr, &web);
    let pid = demo.0.id();
    let hangup = || hangup(pid);
    let client = https_client(&dir.path().join("ca.pem"));
    let scrape = |user: &'static str, password: &'static str| {
        let (client, addr) = (client.clone(), addr.clone());
        async move {
            match client
                .get(format!("https://{addr}/metrics"))
                .basic_auth(user, Some(password))
                .send()
                .await
            {
                Ok(r) => (r.status().as_u16(), r.text().await.unwrap_or_default()),
                Err(e) => (0, e.to_string()),
            }
        }
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        // The SIGHUP handler is installed before the listener serves.
        wait_until_served("the demo did not start", WAIT, || {
            scrape("prometheus", PASSWORD)
        })
        .await;
        rewrite(
            &web,
            &format!("  grafana: {}\n", bcrypt::hash(NEW, 10).unwrap()),
        );
        hangup();
        wait_until_served("SIGHUP did not reload", WAIT, || scrape("grafana", NEW)).await;
        assert_eq!(scrape("prometheus", PASSWORD).await.0, 401);

        // A malformed hash: refused, counted; grafana keeps working.
        rewrite(&web, "  prometheus: $2b$10$x\n");
        hangup();
        let text = wait_for_reloads_counted("fail", 1, WAIT, || scrape("grafana", NEW)).await;
        assert!(
            text.contains("vsanobs_web_config_reloads_total{result=\"success\"} 1\n"),
            "{text}"
        );
        assert_eq!(scrape("prometheus", PASSWORD).await.0, 401);
    });
}
