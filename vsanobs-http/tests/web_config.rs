//! `--web.config.file`: a real Prometheus scrapes an endpoint configured from a web config
//! file over TLS with basic auth; wrong or missing credentials get 401; client certificates
//! are verified when required; every bad input is a typed error.

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use vsanobs_core::Registry;
use vsanobs_http::web_config::TlsListener;
use vsanobs_http::{MetricsEndpoint, WebConfig, WebConfigError};
use vsanobs_testkit::web_config::https_basic_auth_scrape;
use vsanobs_testkit::{Prometheus, PrometheusConfig};

const PASSWORD: &str = "correct horse battery";

/// A cost-10 hash of [`PASSWORD`], computed once (bcrypt is slow by design).
fn hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| bcrypt::hash(PASSWORD, 10).unwrap())
}

/// A CA, a server certificate for 127.0.0.1/localhost signed by it, a second CA for
/// clients and a client certificate signed by that one, as PEM files in a temporary
/// directory.
struct Pki {
    dir: tempfile::TempDir,
    ca_pem: String,
    client_pem: String,
}

fn ca(name: &str) -> (rcgen::Certificate, rcgen::Issuer<'static, rcgen::KeyPair>) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    p.distinguished_name.push(DnType::CommonName, name);
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let key = KeyPair::generate().unwrap();
    let cert = p.self_signed(&key).unwrap();
    (cert, rcgen::Issuer::new(p, key))
}

fn leaf(
    names: &[&str],
    purpose: rcgen::ExtendedKeyUsagePurpose,
    issuer: &rcgen::Issuer<'static, rcgen::KeyPair>,
) -> (String, String) {
    use rcgen::{CertificateParams, DnType, KeyPair, KeyUsagePurpose};
    let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    let mut p = CertificateParams::new(names).unwrap();
    p.distinguished_name
        .push(DnType::CommonName, "vsanobs test");
    p.use_authority_key_identifier_extension = true;
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    p.extended_key_usages = vec![purpose];
    let key = KeyPair::generate().unwrap();
    let cert = p.signed_by(&key, issuer).unwrap();
    (cert.pem(), key.serialize_pem())
}

impl Pki {
    fn new() -> Pki {
        let dir = tempfile::tempdir().unwrap();
        let (ca_cert, ca_issuer) = ca("vsanobs test CA");
        let (server_pem, server_key) = leaf(
            &["127.0.0.1", "localhost"],
            rcgen::ExtendedKeyUsagePurpose::ServerAuth,
            &ca_issuer,
        );
        let (client_ca_cert, client_issuer) = ca("vsanobs clients CA");
        let (client_pem, client_key) = leaf(
            &["prometheus"],
            rcgen::ExtendedKeyUsagePurpose::ClientAuth,
            &client_issuer,
        );
        // A key that belongs to no certificate here.
        let other_key = rcgen::KeyPair::generate().unwrap().serialize_pem();
        let files = [
            ("ca.pem", ca_cert.pem()),
            ("server.pem", server_pem),
            ("server-key.pem", server_key),
            ("clients-ca.pem", client_ca_cert.pem()),
            ("client.pem", client_pem.clone()),
            ("client-key.pem", client_key.clone()),
            ("other-key.pem", other_key),
            ("garbage.pem", "this is not a certificate\n".to_owned()),
        ];
        for (name, pem) in files {
            std::fs::write(dir.path().join(name), pem).unwrap();
        }
        Pki {
            dir,
            ca_pem: ca_cert.pem(),
            client_pem: client_pem + &client_key,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes `yaml` as `web.yml` and loads it.
    fn load(&self, yaml: &str) -> Result<WebConfig, WebConfigError> {
        let path = self.path("web.yml");
        std::fs::write(&path, yaml).unwrap();
        WebConfig::load(&path)
    }
}

/// Serves `registry` with the endpoint and listener `config` describes on 127.0.0.1:<free
/// port>, on its own runtime (kept alive by the returned value).
struct Served {
    rt: tokio::runtime::Runtime,
    port: u16,
}

fn serve(config: &WebConfig, registry: Registry) -> Served {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let app = config.apply(MetricsEndpoint::new(registry)).into_router();
    let acceptor = config.tls_acceptor().expect("tls_server_config");
    let port = rt.block_on(async move {
        let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = tcp.local_addr().unwrap().port();
        let listener = TlsListener::new(tcp, acceptor).unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        port
    });
    Served { rt, port }
}

fn registry_with_known_metric() -> Registry {
    let registry = Registry::new();
    registry
        .counter("webcfg_jobs_total", "Jobs done.")
        .unwrap()
        .inc_by(42);
    registry
}

fn tls_auth_yaml() -> String {
    format!(
        "tls_server_config:\n  cert_file: server.pem\n  key_file: server-key.pem\n\
         http_server_config:\n  http2: false\n\
         basic_auth_users:\n  prometheus: {}\n",
        hash()
    )
}

fn client(pki: &Pki, identity: bool) -> reqwest::Client {
    let ca = reqwest::Certificate::from_pem(pki.ca_pem.as_bytes()).unwrap();
    let mut b = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(ca)
        .timeout(Duration::from_secs(30));
    if identity {
        b = b.identity(reqwest::Identity::from_pem(pki.client_pem.as_bytes()).unwrap());
    }
    b.build().unwrap()
}

#[test]
fn prometheus_scrapes_over_tls_with_basic_auth() {
    let pki = Pki::new();
    let config = pki.load(&tls_auth_yaml()).unwrap();
    assert_eq!(
        config.basic_auth_users().collect::<Vec<_>>(),
        ["prometheus"]
    );
    let shown = format!("{config:?}");
    assert!(
        shown.contains("prometheus") && !shown.contains(hash()),
        "{shown}"
    );
    let served = serve(&config, registry_with_known_metric());
    let scrape = https_basic_auth_scrape(
        "tls",
        &pki.path("ca.pem"),
        "prometheus",
        PASSWORD,
        &format!("127.0.0.1:{}", served.port),
    );
    let prometheus = Prometheus::start(PrometheusConfig {
        scrape_configs: scrape,
        ..PrometheusConfig::default()
    })
    .unwrap();
    // The first scrape may exceed the 1 s scrape timeout while an unoptimised bcrypt checks
    // the password (cost 10) on a loaded machine: wait for a good one.
    prometheus
        .wait_for(
            "up{job=\"tls\"} == 1",
            |r| !r.as_array().unwrap().is_empty(),
            Duration::from_secs(60),
        )
        .unwrap_or_else(|e| {
            panic!(
                "{e}\ntargets: {:?}\n{}",
                prometheus.targets(),
                prometheus.log_tail()
            )
        });
    let jobs = prometheus
        .wait_for_series("webcfg_jobs_total{job=\"tls\"}", Duration::from_secs(60))
        .unwrap();
    assert_eq!(jobs[0]["value"][1], "42");
    drop(served.rt);
}

#[test]
fn wrong_and_missing_credentials_get_401() {
    let pki = Pki::new();
    let config = pki.load(&tls_auth_yaml()).unwrap();
    let served = serve(&config, registry_with_known_metric());
    let url = format!("https://127.0.0.1:{}/metrics", served.port);
    let client = client(&pki, false);
    served.rt.block_on(async {
        let get = |user: Option<(&str, &str)>| {
            let mut req = client.get(&url);
            if let Some((u, p)) = user {
                req = req.basic_auth(u, Some(p));
            }
            req.send()
        };
        for (what, creds) in [
            ("missing", None),
            ("wrong password", Some(("prometheus", "wrong"))),
            ("unknown user", Some(("nobody", PASSWORD))),
            ("empty password", Some(("prometheus", ""))),
        ] {
            let resp = get(creds).await.unwrap();
            assert_eq!(resp.status(), 401, "{what}");
            let challenge = resp.headers()["www-authenticate"].to_str().unwrap();
            assert!(challenge.starts_with("Basic realm="), "{what}: {challenge}");
        }
        // Not basic auth at all.
        let resp = client.get(&url).bearer_auth("token").send().await.unwrap();
        assert_eq!(resp.status(), 401);
        for _ in 0..2 {
            let resp = get(Some(("prometheus", PASSWORD))).await.unwrap();
            assert_eq!(resp.status(), 200);
            let body = resp.text().await.unwrap();
            assert!(body.contains("webcfg_jobs_total 42"), "{body}");
        }
    });
}

#[test]
fn client_certificates_are_verified_when_required() {
    let pki = Pki::new();
    let config = pki
        .load(
            "tls_server_config:\n  cert_file: server.pem\n  key_file: server-key.pem\n  \
             client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: clients-ca.pem\n  \
             min_version: TLS13\n",
        )
        .unwrap();
    let served = serve(&config, registry_with_known_metric());
    let url = format!("https://127.0.0.1:{}/metrics", served.port);
    served.rt.block_on(async {
        let without = client(&pki, false).get(&url).send().await;
        assert!(without.is_err(), "served without a client certificate");
        let with = client(&pki, true).get(&url).send().await.unwrap();
        assert_eq!(with.status(), 200);
        assert!(with.text().await.unwrap().contains("webcfg_jobs_total 42"));
    });
}

fn tls_yaml(extra: &str) -> String {
    format!("tls_server_config:\n  cert_file: server.pem\n  key_file: server-key.pem\n{extra}")
}

#[test]
fn an_unreadable_file_is_a_read_error() {
    let pki = Pki::new();
    let missing = pki.path("absent.yml");
    let err = WebConfig::load(&missing).unwrap_err();
    assert!(
        matches!(&err, WebConfigError::Read { path, .. } if *path == missing),
        "{err:?}"
    );
    let err = pki
        .load("tls_server_config:\n  cert_file: absent.pem\n  key_file: server-key.pem\n")
        .unwrap_err();
    assert!(
        matches!(&err, WebConfigError::Read { path, .. } if path.ends_with("absent.pem")),
        "{err:?}"
    );
}

#[test]
fn an_unknown_key_is_named() {
    let pki = Pki::new();
    for (yaml, key) in [
        ("basic_auth_user:\n  a: b\n", "basic_auth_user"),
        (&tls_yaml("  cert_fil: x\n") as &str, "cert_fil"),
        ("http_server_config:\n  http3: true\n", "http3"),
    ] {
        let err = pki.load(yaml).unwrap_err();
        assert!(matches!(err, WebConfigError::Yaml(_)), "{err:?}");
        assert!(err.to_string().contains(key), "{err}");
    }
    let err = pki.load("tls_server_config: [1, 2\n").unwrap_err();
    assert!(matches!(err, WebConfigError::Yaml(_)), "{err:?}");
}

#[test]
fn a_bad_certificate_or_key_is_refused() {
    let pki = Pki::new();
    let err = pki
        .load("tls_server_config:\n  cert_file: garbage.pem\n  key_file: server-key.pem\n")
        .unwrap_err();
    assert!(
        matches!(err, WebConfigError::NoCertificate(ref w) if w.contains("garbage.pem")),
        "{err:?}"
    );
    let err = pki
        .load("tls_server_config:\n  cert_file: server.pem\n  key_file: garbage.pem\n")
        .unwrap_err();
    assert!(matches!(err, WebConfigError::NoKey(_)), "{err:?}");
    let err = pki
        .load("tls_server_config:\n  cert_file: server.pem\n  key_file: other-key.pem\n")
        .unwrap_err();
    assert!(matches!(err, WebConfigError::BadCertificate(_)), "{err:?}");
    let err = pki
        .load("tls_server_config:\n  cert_file: server.pem\n")
        .unwrap_err();
    assert!(matches!(err, WebConfigError::Inconsistent(_)), "{err:?}");
    let inline = std::fs::read_to_string(pki.path("server.pem")).unwrap();
    let yaml = format!(
        "tls_server_config:\n  cert_file: server.pem\n  key_file: server-key.pem\n  cert: |\n{}",
        inline
            .lines()
            .map(|l| format!("    {l}\n"))
            .collect::<String>()
    );
    let err = pki.load(&yaml).unwrap_err();
    assert!(matches!(err, WebConfigError::Inconsistent(_)), "{err:?}");
}

#[test]
fn inline_pem_is_accepted() {
    let pki = Pki::new();
    let indent = |name: &str| {
        std::fs::read_to_string(pki.path(name))
            .unwrap()
            .lines()
            .map(|l| format!("    {l}\n"))
            .collect::<String>()
    };
    let yaml = format!(
        "tls_server_config:\n  cert: |\n{}  key: |\n{}",
        indent("server.pem"),
        indent("server-key.pem")
    );
    let config = pki.load(&yaml).unwrap();
    assert!(config.tls_acceptor().is_some());
}

#[test]
fn client_ca_missing_or_unused_is_refused() {
    let pki = Pki::new();
    for auth in ["RequireAndVerifyClientCert", "VerifyClientCertIfGiven"] {
        let err = pki
            .load(&tls_yaml(&format!("  client_auth_type: {auth}\n")))
            .unwrap_err();
        assert!(
            matches!(&err, WebConfigError::ClientCaRequired(a) if a == auth),
            "{err:?}"
        );
    }
    let err = pki
        .load(&tls_yaml("  client_ca_file: clients-ca.pem\n"))
        .unwrap_err();
    assert!(matches!(err, WebConfigError::ClientCaUnused(_)), "{err:?}");
    let err = pki
        .load(&tls_yaml(
            "  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: garbage.pem\n",
        ))
        .unwrap_err();
    assert!(matches!(err, WebConfigError::NoCertificate(_)), "{err:?}");
    let config = pki
        .load(&tls_yaml(
            "  client_auth_type: VerifyClientCertIfGiven\n  client_ca_file: clients-ca.pem\n",
        ))
        .unwrap();
    assert!(format!("{config:?}").contains("VerifyClientCertIfGiven"));
}

#[test]
fn malformed_and_weak_bcrypt_hashes_are_refused() {
    let pki = Pki::new();
    let err = pki
        .load("basic_auth_users:\n  prom: not-a-hash\n")
        .unwrap_err();
    assert!(
        matches!(&err, WebConfigError::InvalidHash { user, .. } if user == "prom"),
        "{err:?}"
    );
    // A well-formed hash cut short.
    let cut = &hash()[..40];
    let err = pki
        .load(&format!("basic_auth_users:\n  prom: '{cut}'\n"))
        .unwrap_err();
    assert!(matches!(err, WebConfigError::InvalidHash { .. }), "{err:?}");
    let weak = bcrypt::hash(PASSWORD, 9).unwrap();
    let err = pki
        .load(&format!(
            "basic_auth_users:\n  ok: {}\n  weak: {weak}\n",
            hash()
        ))
        .unwrap_err();
    assert!(
        matches!(&err, WebConfigError::WeakHash { user, cost: 9, min: 10 } if user == "weak"),
        "{err:?}"
    );
    assert!(err.to_string().contains("htpasswd -nBC 10"), "{err}");
}

#[test]
fn unsupported_and_invalid_values_are_refused() {
    let pki = Pki::new();
    for (extra, key) in [
        (
            "  cipher_suites: [TLS_AES_128_GCM_SHA256]\n",
            "tls_server_config.cipher_suites",
        ),
        (
            "  curve_preferences: [X25519]\n",
            "tls_server_config.curve_preferences",
        ),
        (
            "  client_allowed_sans: [prometheus]\n",
            "tls_server_config.client_allowed_sans",
        ),
        (
            "  client_auth_type: RequireAnyClientCert\n",
            "tls_server_config.client_auth_type",
        ),
        ("  min_version: TLS11\n", "tls_server_config.min_version"),
    ] {
        let err = pki.load(&tls_yaml(extra)).unwrap_err();
        assert!(
            matches!(&err, WebConfigError::Unsupported { key: k, .. } if *k == key),
            "{extra}: {err:?}"
        );
    }
    for (yaml, key) in [
        (
            "http_server_config:\n  headers:\n    X-Frame-Options: deny\n",
            "http_server_config.headers",
        ),
        ("rate_limit:\n  interval: 1s\n  burst: 10\n", "rate_limit"),
    ] {
        let err = pki.load(yaml).unwrap_err();
        assert!(
            matches!(&err, WebConfigError::Unsupported { key: k, .. } if *k == key),
            "{err:?}"
        );
    }
    for (extra, key) in [
        (
            "  client_auth_type: Sometimes\n",
            "tls_server_config.client_auth_type",
        ),
        ("  max_version: SSL3\n", "tls_server_config.max_version"),
    ] {
        let err = pki.load(&tls_yaml(extra)).unwrap_err();
        assert!(
            matches!(&err, WebConfigError::InvalidValue { key: k, .. } if *k == key),
            "{err:?}"
        );
    }
    let err = pki
        .load(&tls_yaml("  min_version: TLS13\n  max_version: TLS12\n"))
        .unwrap_err();
    assert!(matches!(err, WebConfigError::Inconsistent(_)), "{err:?}");
}

#[test]
fn an_empty_file_means_plain_http_without_auth() {
    let pki = Pki::new();
    let config = pki.load("").unwrap();
    assert!(config.tls_acceptor().is_none());
    assert_eq!(config.basic_auth_users().count(), 0);
    let endpoint = config.apply(MetricsEndpoint::new(registry_with_known_metric()));
    let resp = endpoint.render(&vsanobs_http::ScrapeRequest::default());
    assert_eq!(resp.status, 200);
}
