//! `actix-demo --web.config.file`: a real Prometheus scrapes the demo over HTTPS with basic
//! auth, wrong credentials get 401, a bad web config stops it at start (exit 2) with its
//! typed error, and the demo follows its file on SIGHUP (new certificate and users; a bad
//! file keeps the previous configuration, counted).

use std::path::Path;
use std::time::Duration;

use vsanobs_testkit::web_config::{
    assert_refused_at_start, hangup, https_client, prometheus_scraping_over_tls,
    replace_tls_web_config, serve_command, start_server, wait_for_reloads_counted,
    wait_until_served, write_server_pki, write_tls_basic_auth_setup,
};
use vsanobs_testkit::{free_port, vector_samples};

const PASSWORD: &str = "actix scrape secret";
/// The bound of each wait for the demo to start or to act on a SIGHUP.
const WAIT: Duration = Duration::from_secs(60);

/// The demo binary under test.
const DEMO: &str = env!("CARGO_BIN_EXE_actix-demo");

/// `GET /metrics` as `user:password`: the status and body, or 0 and the error.
async fn scrape(ca: &Path, addr: &str, user: &str, password: &str) -> (u16, String) {
    match https_client(ca)
        .get(format!("https://{addr}/metrics"))
        .basic_auth(user, Some(password))
        .send()
        .await
    {
        Ok(r) => (r.status().as_u16(), r.text().await.unwrap_or_default()),
        Err(e) => (0, format!("{e:?}")),
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn prometheus_scrapes_the_demo_over_tls_with_basic_auth() {
    let dir = tempfile::tempdir().unwrap();
    let web = write_tls_basic_auth_setup(dir.path(), "actix demo test CA", "prometheus", PASSWORD)
        .unwrap();
    let addr = format!("127.0.0.1:{}", free_port());
    let _demo = start_server(DEMO, &addr, &web);
    let prometheus =
        prometheus_scraping_over_tls("demo", dir.path(), "prometheus", PASSWORD, &addr);
    // A scrape counts itself once answered: the next one shows it.
    let counted = prometheus
        .wait_for(
            "vsanobs_metric_handler_requests_total{job=\"demo\",code=\"200\"} > 0",
            |r| !r.as_array().unwrap().is_empty(),
            Duration::from_secs(60),
        )
        .unwrap_or_else(|e| panic!("{e}\n{:?}", prometheus.targets()));
    assert_eq!(vector_samples(&counted).len(), 1, "{counted:?}");
    // Wrong or missing credentials: 401 with a challenge; plain HTTP is not served.
    let ca = dir.path().join("ca.pem");
    runtime().block_on(async {
        assert_eq!(scrape(&ca, &addr, "prometheus", "wrong").await.0, 401);
        let resp = https_client(&ca)
            .get(format!("https://{addr}/metrics"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 401);
        assert!(resp.headers().contains_key("www-authenticate"));
        let plain = reqwest::get(format!("http://{addr}/metrics")).await;
        assert!(plain.map(|r| r.status() != 200).unwrap_or(true));
    });
}

#[test]
fn a_bad_web_config_stops_the_demo_at_start() {
    let dir = tempfile::tempdir().unwrap();
    write_server_pki(dir.path(), "actix demo test CA").unwrap();
    let web = dir.path().join("web.yml");
    let weak = bcrypt::hash(PASSWORD, 4).unwrap();
    for (yaml, expected) in [
        (
            "tls_server_config:\n  cert_file: ca.pem\n  key_file: server-key.pem\n".to_owned(),
            "unusable TLS certificate",
        ),
        (
            "basic_auth_users:\n  prometheus: $2b$04$abc\n".to_owned(),
            "invalid bcrypt hash",
        ),
        (
            format!("basic_auth_users:\n  prometheus: {weak}\n"),
            "cost 4",
        ),
        ("unknown_key: 1\n".to_owned(), "unknown_key"),
        (
            "tls_server_config:\n  cert_file: server.pem\n  key_file: missing.pem\n".to_owned(),
            "cannot read",
        ),
    ] {
        let mut demo = serve_command(DEMO, "127.0.0.1:0", &web);
        assert_refused_at_start(&web, &yaml, expected, &mut demo);
    }
}

#[test]
fn the_demo_follows_its_web_config_on_sighup() {
    const NEW: &str = "rotated actix secret";
    let dir = tempfile::tempdir().unwrap();
    for sub in ["a", "b"] {
        std::fs::create_dir(dir.path().join(sub)).unwrap();
        write_server_pki(&dir.path().join(sub), &format!("actix demo CA {sub}")).unwrap();
    }
    let web = dir.path().join("web.yml");
    let write = |pki: &str, users: &str| {
        replace_tls_web_config(
            &web,
            &format!("{pki}/"),
            &format!("basic_auth_users:\n{users}"),
        )
        .unwrap();
    };
    write(
        "a",
        &format!("  prometheus: {}\n", bcrypt::hash(PASSWORD, 10).unwrap()),
    );
    let addr = format!("127.0.0.1:{}", free_port());
    let demo = start_server(DEMO, &addr, &web);
    let pid = demo.0.id();
    let hangup = || hangup(pid);
    let (ca_a, ca_b) = (dir.path().join("a/ca.pem"), dir.path().join("b/ca.pem"));
    runtime().block_on(async {
        // The SIGHUP handler is installed before the server listens.
        wait_until_served("the demo did not start", WAIT, || {
            scrape(&ca_a, &addr, "prometheus", PASSWORD)
        })
        .await;
        // CA b's certificate and a new user.
        write(
            "b",
            &format!("  grafana: {}\n", bcrypt::hash(NEW, 10).unwrap()),
        );
        hangup();
        wait_until_served("SIGHUP did not reload", WAIT, || {
            scrape(&ca_b, &addr, "grafana", NEW)
        })
        .await;
        assert_eq!(scrape(&ca_b, &addr, "prometheus", PASSWORD).await.0, 401);
        let (status, err) = scrape(&ca_a, &addr, "grafana", NEW).await;
        assert_eq!(status, 0, "CA a is still trusted: {err}");

        // A malformed hash: refused, counted; the previous users and certificate stay.
        write("b", "  prometheus: $2b$10$x\n");
        hangup();
        let text =
            wait_for_reloads_counted("fail", 1, WAIT, || scrape(&ca_b, &addr, "grafana", NEW))
                .await;
        assert!(
            text.contains("vsanobs_web_config_reloads_total{result=\"success\"} 1\n"),
            "{text}"
        );
    });
}
