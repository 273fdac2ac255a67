//! `LiveWebConfig`: a reloaded web config file applies to real HTTPS clients (new
//! certificate for new connections, new basic-auth users), a bad file keeps the previous
//! configuration and is counted, the watcher notices changes by itself, and a real Prometheus
//! keeps scraping across a reload.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use vsanobs_core::{Format, Registry};
use vsanobs_http::web_config::{LiveWebConfig, TlsListener};
use vsanobs_http::{MetricsEndpoint, WebConfigError};
use vsanobs_testkit::web_config::{https_basic_auth_scrape, https_client, write_server_pki};
use vsanobs_testkit::{Prometheus, PrometheusConfig, vector_samples};

const OLD: &str = "old scrape secret";
const NEW: &str = "new scrape secret";

/// Cost-10 hashes of [`OLD`] and [`NEW`], computed once (bcrypt is slow by design).
fn hash(password: &str) -> &'static str {
    static HASHES: OnceLock<(String, String)> = OnceLock::new();
    let (old, new) = HASHES.get_or_init(|| {
        (
            bcrypt::hash(OLD, 10).unwrap(),
            bcrypt::hash(NEW, 10).unwrap(),
        )
    });
    if password == OLD { old } else { new }
}

/// Two independent CAs, each with a server certificate for 127.0.0.1, in `a/` and `b/`.
struct TwoPki {
    dir: tempfile::TempDir,
}

impl TwoPki {
    fn new() -> TwoPki {
        let dir = tempfile::tempdir().unwrap();
        for sub in ["a", "b"] {
            std::fs::create_dir(dir.path().join(sub)).unwrap();
            write_server_pki(&dir.path().join(sub), &format!("reload test CA {sub}")).unwrap();
        }
        TwoPki { dir }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn file(&self) -> PathBuf {
        self.path("web.yml")
    }

    /// Replaces web.yml atomically (write aside, rename) with TLS from `pki` and `users`.
    fn write(&self, pki: &str, users: &[(&str, &str)]) {
        let mut yaml = format!(
            "tls_server_config:\n  cert_file: {pki}/server.pem\n  key_file: {pki}/server-key.pem\n"
        );
        if !users.is_empty() {
            yaml.push_str("basic_auth_users:\n");
            for (user, hash) in users {
                yaml.push_str(&format!("  {user}: {hash}\n"));
            }
        }
        self.write_raw(&yaml);
    }

    fn write_raw(&self, yaml: &str) {
        let aside = self.path("web.yml.new");
        std::fs::write(&aside, yaml).unwrap();
        std::fs::rename(aside, self.file()).unwrap();
    }
}

/// Serves `endpoint` over TLS from `web` on a free port; returns the address.
async fn serve(web: &LiveWebConfig, endpoint: MetricsEndpoint) -> String {
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = tcp.local_addr().unwrap().to_string();
    let listener = TlsListener::live(tcp, web.clone()).unwrap();
    let app = endpoint.mount(axum::Router::new());
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

/// The status of `GET /metrics` as `user:password`, or the error's text.
async fn scrape(ca: &Path, addr: &str, user: &str, password: &str) -> Result<u16, String> {
    https_client(ca)
        .get(format!("https://{addr}/metrics"))
        .basic_auth(user, Some(password))
        .send()
        .await
        .map(|r| r.status().as_u16())
        .map_err(|e| format!("{e:?}"))
}

fn value(registry: &Registry, series: &str) -> String {
    let text = registry.encode_to_string(Format::PrometheusText);
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ').map(str::to_owned))
        .unwrap_or_else(|| panic!("no {series} in\n{text}"))
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn a_reload_applies_the_new_certificate_and_users_to_new_connections() {
    let pki = TwoPki::new();
    pki.write("a", &[("prometheus", hash(OLD))]);
    let registry = Registry::new();
    let web = LiveWebConfig::load(pki.file()).unwrap();
    web.register(&registry).unwrap();
    runtime().block_on(async {
        let addr = serve(&web, web.apply(MetricsEndpoint::new(registry.clone()))).await;
        let (ca_a, ca_b) = (pki.path("a/ca.pem"), pki.path("b/ca.pem"));
        assert_eq!(scrape(&ca_a, &addr, "prometheus", OLD).await, Ok(200));
        assert_eq!(scrape(&ca_a, &addr, "prometheus", NEW).await, Ok(401));
        assert!(scrape(&ca_b, &addr, "prometheus", OLD).await.is_err());

        // Certificate of CA b, a new password and a second user.
        pki.write("b", &[("prometheus", hash(NEW)), ("grafana", hash(OLD))]);
        let w = web.clone();
        tokio::task::spawn_blocking(move || w.reload())
            .await
            .unwrap()
            .unwrap();
        let refused = scrape(&ca_a, &addr, "prometheus", NEW).await;
        assert!(refused.is_err(), "CA a still trusted: {refused:?}");
        assert_eq!(scrape(&ca_b, &addr, "prometheus", NEW).await, Ok(200));
        assert_eq!(scrape(&ca_b, &addr, "prometheus", OLD).await, Ok(401));
        assert_eq!(scrape(&ca_b, &addr, "grafana", OLD).await, Ok(200));
        assert_eq!(scrape(&ca_b, &addr, "nobody", OLD).await, Ok(401));
    });
    assert_eq!(
        value(
            &registry,
            "vsanobs_web_config_reloads_total{result=\"success\"}"
        ),
        "1"
    );
    assert_eq!(
        value(
            &registry,
            "vsanobs_web_config_reloads_total{result=\"fail\"}"
        ),
        "0"
    );
    assert_eq!(
        value(&registry, "vsanobs_web_config_last_reload_successful"),
        "1"
    );
}

/// Whether an error is the one a bad file must give.
type IsExpected = fn(&WebConfigError) -> bool;

#[test]
fn a_bad_file_keeps_the_previous_config_and_is_counted() {
    let pki = TwoPki::new();
    pki.write("a", &[("prometheus", hash(OLD))]);
    let registry = Registry::new();
    let web = LiveWebConfig::load(pki.file()).unwrap();
    web.register(&registry).unwrap();
    let weak = bcrypt::hash(OLD, 4).unwrap();
    let tls = "tls_server_config:\n  cert_file: a/server.pem\n  key_file: a/server-key.pem\n";
    let bad: Vec<(String, IsExpected)> = vec![
        (
            // The CA's certificate with the server's key: they do not belong together.
            "tls_server_config:\n  cert_file: a/ca.pem\n  key_file: a/server-key.pem\n".into(),
            |e| matches!(e, WebConfigError::BadCertificate(_)),
        ),
        (
            "tls_server_config:\n  cert_file: a/missing.pem\n  key_file: a/server-key.pem\n".into(),
            |e| matches!(e, WebConfigError::Read { .. }),
        ),
        (
            format!("{tls}basic_auth_users:\n  prometheus: {weak}\n"),
            |e| matches!(e, WebConfigError::WeakHash { cost: 4, .. }),
        ),
        (
            format!("{tls}basic_auth_users:\n  prometheus: $2b$10$short\n"),
            |e| matches!(e, WebConfigError::InvalidHash { .. }),
        ),
        (format!("{tls}unknown_key: 1\n"), |e| {
            matches!(e, WebConfigError::Yaml(_)) && e.to_string().contains("unknown_key")
        }),
        (
            // Plain HTTP: the listener is HTTPS, a restart is needed.
            format!("basic_auth_users:\n  prometheus: {}\n", hash(NEW)),
            |e| matches!(e, WebConfigError::TlsModeChanged { now_tls: false }),
        ),
    ];
    runtime().block_on(async {
        let addr = serve(&web, web.apply(MetricsEndpoint::new(registry.clone()))).await;
        let ca = pki.path("a/ca.pem");
        for (n, (yaml, expected)) in bad.iter().enumerate() {
            pki.write_raw(yaml);
            let w = web.clone();
            let err = tokio::task::spawn_blocking(move || w.reload_if_changed())
                .await
                .unwrap()
                .unwrap_err();
            assert!(expected(&err), "{yaml}: {err:?}");
            assert_eq!(
                value(
                    &registry,
                    "vsanobs_web_config_reloads_total{result=\"fail\"}"
                ),
                (n + 1).to_string(),
                "{yaml}"
            );
            assert_eq!(
                value(&registry, "vsanobs_web_config_last_reload_successful"),
                "0"
            );
            // The previous certificate and credentials stay in force.
            assert_eq!(
                scrape(&ca, &addr, "prometheus", OLD).await,
                Ok(200),
                "{yaml}"
            );
            assert_eq!(
                scrape(&ca, &addr, "prometheus", NEW).await,
                Ok(401),
                "{yaml}"
            );
        }
        // An unchanged bad file is not tried again: counted once.
        assert!(!web.reload_if_changed().unwrap());
        // A good file puts the new users in force.
        pki.write("a", &[("prometheus", hash(NEW))]);
        let w = web.clone();
        tokio::task::spawn_blocking(move || w.reload_if_changed())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(scrape(&ca, &addr, "prometheus", NEW).await, Ok(200));
        assert_eq!(scrape(&ca, &addr, "prometheus", OLD).await, Ok(401));
    });
    assert_eq!(
        value(
            &registry,
            "vsanobs_web_config_reloads_total{result=\"fail\"}"
        ),
        bad.len().to_string()
    );
    assert_eq!(
        value(
            &registry,
            "vsanobs_web_config_reloads_total{result=\"success\"}"
        ),
        "1"
    );
    assert_eq!(
        value(&registry, "vsanobs_web_config_last_reload_successful"),
        "1"
    );
}

#[test]
fn the_watcher_applies_a_changed_file_by_itself() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("web.yml");
    std::fs::write(&file, format!("basic_auth_users:\n  prom: {}\n", hash(OLD))).unwrap();
    let registry = Registry::new();
    let web = LiveWebConfig::load(&file).unwrap();
    web.register(&registry).unwrap();
    let endpoint = web.apply(MetricsEndpoint::new(registry.clone()));
    assert_eq!(endpoint.basic_auth_users(), ["prom"]);
    runtime().block_on(async {
        let watch = web.watch(Duration::from_millis(100));
        let aside = dir.path().join("web.yml.new");
        std::fs::write(
            &aside,
            format!("basic_auth_users:\n  grafana: {}\n", hash(NEW)),
        )
        .unwrap();
        std::fs::rename(&aside, &file).unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while endpoint.basic_auth_users() != ["grafana"] {
            assert!(Instant::now() < deadline, "the watcher did not reload");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // A bad file is counted once, however many polls see it.
        std::fs::write(&aside, "basic_auth_users: [\n").unwrap();
        std::fs::rename(&aside, &file).unwrap();
        let fails = "vsanobs_web_config_reloads_total{result=\"fail\"}";
        while value(&registry, fails) != "1" {
            assert!(
                Instant::now() < deadline,
                "the watcher did not try the bad file"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(value(&registry, fails), "1");
        assert_eq!(endpoint.basic_auth_users(), ["grafana"]);
        // The watcher ends once the configuration is dropped.
        drop(endpoint);
        drop(web);
        tokio::time::timeout(Duration::from_secs(30), watch)
            .await
            .expect("the watcher outlived its configuration")
            .unwrap();
    });
}

#[test]
fn prometheus_keeps_scraping_across_a_reload() {
    let pki = TwoPki::new();
    pki.write("a", &[("prometheus", hash(OLD))]);
    // Prometheus trusts both CAs, so the rotated certificate is accepted too.
    let bundle = pki.path("bundle.pem");
    let cas = [pki.path("a/ca.pem"), pki.path("b/ca.pem")]
        .map(|p| std::fs::read_to_string(p).unwrap())
        .concat();
    std::fs::write(&bundle, cas).unwrap();
    let registry = Registry::new();
    let web = LiveWebConfig::load(pki.file()).unwrap();
    web.register(&registry).unwrap();
    let rt = runtime();
    let addr = rt.block_on(serve(
        &web,
        web.apply(MetricsEndpoint::new(registry.clone())),
    ));
    let prometheus = Prometheus::start(PrometheusConfig {
        scrape_configs: https_basic_auth_scrape("web", &bundle, "prometheus", OLD, &addr),
        ..PrometheusConfig::default()
    })
    .unwrap();
    let up = |p: &Prometheus| {
        p.wait_for(
            "up{job=\"web\"} == 1",
            |r| !r.as_array().unwrap().is_empty(),
            Duration::from_secs(60),
        )
        .unwrap_or_else(|e| panic!("{e}\n{:?}\n{}", p.targets(), p.log_tail()));
    };
    up(&prometheus);
    // Failed scrapes so far (the first may exceed the 1 s scrape timeout while an
    // unoptimised bcrypt checks the password): none may be added across the reload.
    let failed = |p: &Prometheus| {
        let v = vector_samples(
            &p.query("count_over_time(up{job=\"web\"}[1h]) - sum_over_time(up{job=\"web\"}[1h])")
                .unwrap(),
        );
        assert_eq!(v.len(), 1, "{v:?}");
        v[0].value.clone()
    };
    let before = failed(&prometheus);
    // The certificate of CA b, and a second user; Prometheus's own password is unchanged.
    pki.write("b", &[("prometheus", hash(OLD)), ("grafana", hash(NEW))]);
    web.reload().unwrap();
    // A scrape after the reload: it reports the successful reload, and up stays 1.
    prometheus
        .wait_for(
            "vsanobs_web_config_reloads_total{job=\"web\",result=\"success\"} == 1",
            |r| !r.as_array().unwrap().is_empty(),
            Duration::from_secs(60),
        )
        .unwrap_or_else(|e| panic!("{e}\n{:?}", prometheus.targets()));
    up(&prometheus);
    assert_eq!(
        failed(&prometheus),
        before,
        "a scrape failed across the reload: {:?}",
        prometheus.targets()
    );
    // New connections get CA b's certificate.
    let ca_b = pki.path("b/ca.pem");
    assert_eq!(rt.block_on(scrape(&ca_b, &addr, "grafana", NEW)), Ok(200));
}
