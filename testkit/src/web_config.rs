//! Fixtures for tests of `--web.config.file`: a CA and a server certificate for 127.0.0.1
//! written as PEM files, a web config file serving them with one basic-auth user, and the
//! Prometheus scrape config that reaches such an endpoint.
//!
//! # Example
//!
//! ```
//! let dir = tempfile::tempdir().unwrap();
//! vsanobs_testkit::web_config::write_server_pki(dir.path(), "example CA").unwrap();
//! let web = vsanobs_testkit::web_config::write_tls_basic_auth(dir.path(), "prometheus", "$2b$10$x")
//!     .unwrap();
//! let yaml = std::fs::read_to_string(web).unwrap();
//! assert!(yaml.contains("cert_file: server.pem"), "{yaml}");
//! assert!(yaml.contains("prometheus: $2b$10$x"), "{yaml}");
//! let pem = std::fs::read_to_string(dir.path().join("ca.pem")).unwrap();
//! assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{pem}");
//! ```

use std::io;
use std::path::{Path, PathBuf};

/// Writes a CA (`ca.pem`, common name `ca_name`) and a server certificate for `127.0.0.1`
/// signed by it (`server.pem`, key in `server-key.pem`) into `dir`.
///
/// # Errors
/// An [`io::Error`] when a key or certificate cannot be generated (kind `Other`, naming the
/// step) or a file cannot be written.
pub fn write_server_pki(dir: &Path, ca_name: &str) -> io::Result<()> {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
        KeyPair, KeyUsagePurpose,
    };
    let gen_err =
        |step: &'static str| move |e: rcgen::Error| io::Error::other(format!("{step}: {e}"));
    let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(gen_err("CA parameters"))?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.distinguished_name.push(DnType::CommonName, ca_name);
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_key = KeyPair::generate().map_err(gen_err("CA key"))?;
    let ca_cert = ca.self_signed(&ca_key).map_err(gen_err("CA certificate"))?;
    let issuer = Issuer::new(ca, ca_key);
    let mut leaf = CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .map_err(gen_err("server parameters"))?;
    leaf.use_authority_key_identifier_extension = true;
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let key = KeyPair::generate().map_err(gen_err("server key"))?;
    let cert = leaf
        .signed_by(&key, &issuer)
        .map_err(gen_err("server certificate"))?;
    std::fs::write(dir.join("ca.pem"), ca_cert.pem())?;
    std::fs::write(dir.join("server.pem"), cert.pem())?;
    std::fs::write(dir.join("server-key.pem"), key.serialize_pem())
}

/// Writes `web.yml` into `dir`: TLS with the files of [`write_server_pki`] and one basic-auth
/// `user` with the bcrypt `hash`. Returns its path.
///
/// # Errors
/// An [`io::Error`] when the file cannot be written.
pub fn write_tls_basic_auth(dir: &Path, user: &str, hash: &str) -> io::Result<PathBuf> {
    let web = dir.join("web.yml");
    std::fs::write(
        &web,
        format!(
            "tls_server_config:\n  cert_file: server.pem\n  key_file: server-key.pem\n\
             basic_auth_users:\n  {user}: {hash}\n"
        ),
    )?;
    Ok(web)
}

/// A Prometheus `scrape_configs` list with one job `job` scraping `target` (`host:port`)
/// over HTTPS, trusting the CA in `ca_file`, as `user` with `password`.
///
/// ```
/// let s = vsanobs_testkit::web_config::https_basic_auth_scrape(
///     "demo", std::path::Path::new("/tmp/ca.pem"), "prometheus", "pw", "127.0.0.1:9");
/// assert!(s.contains("ca_file: /tmp/ca.pem") && s.contains("targets: [\"127.0.0.1:9\"]"), "{s}");
/// ```
#[must_use]
pub fn https_basic_auth_scrape(
    job: &str,
    ca_file: &Path,
    user: &str,
    password: &str,
    target: &str,
) -> String {
    format!(
        "- job_name: {job}\n  scheme: https\n  tls_config:\n    ca_file: {}\n  \
         basic_auth:\n    username: {user}\n    password: {password}\n  \
         static_configs:\n    - targets: [\"{target}\"]\n",
        ca_file.display()
    )
}

/// Starts a real Prometheus scraping `target` over HTTPS with basic auth under `job`, trusting
/// `dir/ca.pem` (as [`write_server_pki`] writes it), and waits up to 60 s for a good scrape
/// (`up == 1`). The target may still be starting, and the first scrape may exceed
/// Prometheus's 1 s scrape timeout while an unoptimised bcrypt checks the password.
///
/// # Panics
/// When Prometheus cannot start, or no scrape succeeds within 60 s (the message carries the
/// targets and the end of Prometheus's log).
#[must_use]
pub fn prometheus_scraping_over_tls(
    job: &str,
    dir: &Path,
    user: &str,
    password: &str,
    target: &str,
) -> crate::prometheus::Prometheus {
    let prometheus = crate::prometheus::Prometheus::start(crate::prometheus::PrometheusConfig {
        scrape_configs: https_basic_auth_scrape(job, &dir.join("ca.pem"), user, password, target),
        ..crate::prometheus::PrometheusConfig::default()
    })
    .unwrap_or_else(|e| panic!("Prometheus must start: {e}"));
    prometheus
        .wait_for(
            &format!("up{{job=\"{job}\"}} == 1"),
            |r| r.as_array().is_some_and(|a| !a.is_empty()),
            std::time::Duration::from_secs(60),
        )
        .unwrap_or_else(|e| {
            panic!(
                "no good scrape of {target}: {e}\n{:?}\n{}",
                prometheus.targets(),
                prometheus.log_tail()
            )
        });
    prometheus
}

/// Replaces the web config file `web` atomically (written beside it, then renamed over it, so a
/// reader never sees half a file): TLS with `{pki}server.pem` and `{pki}server-key.pem`
/// (`pki` is a path prefix relative to the file, `""` for the files of [`write_server_pki`]
/// written next to it, `"b/"` for a second set in `b/`), followed by the YAML in `rest`.
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let web = dir.path().join("web.yml");
/// vsanobs_testkit::web_config::replace_tls_web_config(&web, "b/", "basic_auth_users:\n  u: h\n")
///     .unwrap();
/// assert_eq!(
///     std::fs::read_to_string(&web).unwrap(),
///     "tls_server_config:\n  cert_file: b/server.pem\n  key_file: b/server-key.pem\n\
///      basic_auth_users:\n  u: h\n"
/// );
/// assert!(!web.with_extension("new").exists());
/// ```
///
/// # Errors
/// An [`io::Error`] when the file cannot be written or renamed.
pub fn replace_tls_web_config(web: &Path, pki: &str, rest: &str) -> io::Result<()> {
    let aside = web.with_extension("new");
    std::fs::write(
        &aside,
        format!(
            "tls_server_config:\n  cert_file: {pki}server.pem\n  key_file: {pki}server-key.pem\n{rest}"
        ),
    )?;
    std::fs::rename(aside, web)
}

/// Sends `SIGHUP` to process `pid`, the signal a server re-reads its web config on.
///
/// # Panics
/// When the signal cannot be sent (no such process, or not permitted).
pub fn hangup(pid: u32) {
    let pid = libc::pid_t::try_from(pid).expect("a process id fits in pid_t");
    // SAFETY: kill(2) takes plain integers and touches no memory of this process.
    let rc = unsafe { libc::kill(pid, libc::SIGHUP) };
    assert_eq!(
        rc,
        0,
        "SIGHUP to {pid}: {}",
        std::io::Error::last_os_error()
    );
}
