//! Fixtures for tests of `--web.config.file`: a CA and a server certificate for 127.0.0.1
//! written as PEM files, a web config file serving them with one basic-auth user, the
//! Prometheus scrape config that reaches such an endpoint, and the bounded waits a reload test
//! makes after a `SIGHUP` ([`wait_until_served`], [`wait_for_reloads_counted`]).
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

use std::future::Future;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

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

/// The bcrypt cost [`write_tls_basic_auth_setup`] hashes with: the lowest one
/// `vsanobs_http::web_config` accepts (`MIN_BCRYPT_COST`), so each check stays as cheap as a
/// server allows.
pub const BCRYPT_COST: u32 = 10;

/// Sets up what a server under test needs for `--web.config.file` with TLS and basic auth: the
/// CA and server certificate of [`write_server_pki`] (CA common name `ca_name`) and the
/// `web.yml` of [`write_tls_basic_auth`] with one `user` whose password is `password` (hashed
/// with bcrypt at [`BCRYPT_COST`]), all in `dir`. Returns the path of `web.yml`.
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let web = vsanobs_testkit::web_config::write_tls_basic_auth_setup(
///     dir.path(), "example CA", "prometheus", "secret").unwrap();
/// let yaml = std::fs::read_to_string(&web).unwrap();
/// let hash = yaml.split("prometheus: ").nth(1).unwrap().trim();
/// assert!(hash.starts_with("$2b$10$"), "{yaml}");
/// assert!(bcrypt::verify("secret", hash).unwrap());
/// assert!(!bcrypt::verify("other", hash).unwrap());
/// assert!(dir.path().join("server-key.pem").is_file());
/// ```
///
/// # Errors
/// An [`io::Error`] when a key, certificate or hash cannot be made (kind `Other`, naming the
/// step) or a file cannot be written.
pub fn write_tls_basic_auth_setup(
    dir: &Path,
    ca_name: &str,
    user: &str,
    password: &str,
) -> io::Result<PathBuf> {
    write_server_pki(dir, ca_name)?;
    let hash = bcrypt::hash(password, BCRYPT_COST)
        .map_err(|e| io::Error::other(format!("bcrypt hash of {user}'s password: {e}")))?;
    write_tls_basic_auth(dir, user, &hash)
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

/// An HTTPS client that trusts only the CA certificate in the PEM file `ca` (no built-in
/// roots), opens a fresh connection for every request (so that a test sees a certificate the
/// server reloaded) and gives up on a request after 30 s (feature `https-client`).
///
/// # Panics
/// When `ca` cannot be read or holds no PEM certificate: the test's own fixture is broken.
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// vsanobs_testkit::web_config::write_server_pki(dir.path(), "example CA").unwrap();
/// let client = vsanobs_testkit::web_config::https_client(&dir.path().join("ca.pem"));
/// let req = client.get("https://127.0.0.1:9/metrics").build().unwrap();
/// assert_eq!(req.url().scheme(), "https");
/// ```
#[cfg(feature = "https-client")]
pub fn https_client(ca: &Path) -> reqwest::Client {
    let pem = std::fs::read(ca).unwrap_or_else(|e| panic!("reading the test CA {ca:?}: {e}"));
    let cert = reqwest::Certificate::from_pem(&pem)
        .unwrap_or_else(|e| panic!("the test CA {ca:?} is not a PEM certificate: {e}"));
    reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(cert)
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap_or_else(|e| panic!("building the HTTPS client: {e}"))
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

/// The command that runs the server binary `bin` on `addr` with the web config file `web`:
/// `bin --web.listen-address addr --web.config.file web`, stdin, stdout and stderr null.
///
/// ```
/// let cmd = vsanobs_testkit::web_config::serve_command(
///     "demo", "127.0.0.1:0", std::path::Path::new("/tmp/web.yml"));
/// let args: Vec<_> = cmd.get_args().collect();
/// assert_eq!(args, ["--web.listen-address", "127.0.0.1:0", "--web.config.file", "/tmp/web.yml"]);
/// ```
#[must_use]
pub fn serve_command(bin: &str, addr: &str, web: &Path) -> Command {
    let mut cmd = Command::new(bin);
    cmd.args(["--web.listen-address", addr, "--web.config.file"])
        .arg(web)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    cmd
}

/// Starts [`serve_command`]`(bin, addr, web)`; the server is killed when the handle is
/// dropped.
///
/// # Panics
/// When `bin` cannot be started.
#[must_use]
pub fn start_server(bin: &str, addr: &str, web: &Path) -> crate::KillOnDrop {
    crate::KillOnDrop(
        serve_command(bin, addr, web)
            .spawn()
            .unwrap_or_else(|e| panic!("{bin} must start: {e}")),
    )
}

/// How long a server given a bad web config may take to exit before
/// [`assert_refused_at_start`] kills it and fails.
pub const REFUSAL_DEADLINE: Duration = Duration::from_secs(60);

/// Writes `yaml` into the web config file `web`, runs `server` (a command that reads `web`) and
/// asserts that it stops at start: exit status 2, with `expected` in what it wrote to stderr.
/// `server`'s stdin and stdout are null; its stderr is read here.
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let web = dir.path().join("web.yml");
/// let mut server = std::process::Command::new("sh");
/// server.args(["-c", "echo \"$0: $(cat \"$0\")\" >&2; exit 2"]).arg(&web);
/// vsanobs_testkit::web_config::assert_refused_at_start(&web, "unknown_key: 1\n", "unknown_key", &mut server);
/// ```
///
/// # Panics
/// When `web` cannot be written or `server` cannot start; when it exits with another status or
/// without `expected` on stderr (the message has `yaml` and that stderr); when it is still
/// running after [`REFUSAL_DEADLINE`] (it is killed first).
pub fn assert_refused_at_start(web: &Path, yaml: &str, expected: &str, server: &mut Command) {
    refused_within(REFUSAL_DEADLINE, web, yaml, expected, server);
}

fn refused_within(timeout: Duration, web: &Path, yaml: &str, expected: &str, server: &mut Command) {
    std::fs::write(web, yaml).unwrap_or_else(|e| panic!("write {}: {e}", web.display()));
    let mut child = crate::KillOnDrop(
        server
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{server:?} must start: {e}")),
    );
    let mut pipe = child.0.stderr.take().expect("stderr is piped");
    // Read while the server runs, so a full pipe cannot stall it. The reader may outlive this
    // call: a process the server started can hold the pipe open after the server is gone.
    let (chunks, received) = std::sync::mpsc::channel::<Vec<u8>>();
    std::thread::spawn(move || {
        let mut chunk = [0; 4096];
        while let Ok(n @ 1..) = pipe.read(&mut chunk) {
            if chunks.send(chunk[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let mut text = Vec::new();
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.0.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => match received.recv_timeout(POLL_INTERVAL) {
                Ok(chunk) => text.extend(chunk),
                Err(RecvTimeoutError::Disconnected) => std::thread::sleep(POLL_INTERVAL),
                Err(RecvTimeoutError::Timeout) => {}
            },
            Ok(None) => {
                drop(child);
                text.extend(received.try_iter().flatten());
                panic!(
                    "{yaml}: the server still ran after {timeout:?} (killed): {}",
                    String::from_utf8_lossy(&text)
                );
            }
            Err(e) => panic!("wait for {server:?}: {e}"),
        }
    };
    // What it wrote last, up to the deadline (and at least a second after it exited).
    let end = deadline.max(Instant::now() + Duration::from_secs(1));
    while let Ok(chunk) = received.recv_timeout(end.saturating_duration_since(Instant::now())) {
        text.extend(chunk);
    }
    let stderr = String::from_utf8_lossy(&text);
    assert_eq!(status.code(), Some(2), "{yaml}: {stderr}");
    assert!(stderr.contains(expected), "{yaml}: {stderr}");
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

/// How long the waits below pause between two scrapes.
const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// Scrapes with `scrape` (which answers a status and a body, status 0 with the error when no
/// answer came) until the status is 200, then returns that body: the wait for a server to
/// start, or for a reloaded web config to accept new credentials. `what` says what is awaited.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let mut answers = vec![(200, "ok".to_owned()), (401, String::new()), (0, "refused".into())];
/// let body = vsanobs_testkit::web_config::wait_until_served(
///     "the server did not start",
///     std::time::Duration::from_secs(60),
///     || std::future::ready(answers.pop().unwrap()),
/// )
/// .await;
/// assert_eq!((body.as_str(), answers.len()), ("ok", 0));
/// # });
/// ```
///
/// # Panics
/// When no scrape answers 200 within `timeout`; the message starts with `what` and carries the
/// last answer.
pub async fn wait_until_served<S, F>(what: &str, timeout: Duration, scrape: S) -> String
where
    S: FnMut() -> F,
    F: Future<Output = (u16, String)>,
{
    poll(what, timeout, scrape, |status, _| status == 200).await
}

/// Scrapes with `scrape` until its body has the line
/// `vsanobs_web_config_reloads_total{result="<result>"} <count>` (`result` is `success` or
/// `fail`; the line whole and ended by a newline), then returns that body: the wait for a reload to be counted after a `SIGHUP`.
/// Every scrape must answer 200: `scrape` uses credentials the server accepts before and after
/// the reload (a refused file keeps the previous configuration in force).
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let line = |n: u32| format!("vsanobs_web_config_reloads_total{{result=\"fail\"}} {n}\n");
/// let mut bodies = vec![line(1), line(0)];
/// let body = vsanobs_testkit::web_config::wait_for_reloads_counted(
///     "fail",
///     1,
///     std::time::Duration::from_secs(60),
///     || std::future::ready((200, bodies.pop().unwrap())),
/// )
/// .await;
/// assert_eq!((body, bodies.len()), (line(1), 0));
/// # });
/// ```
///
/// # Panics
/// At once when a scrape answers other than 200 (with its status and body), and when the line
/// does not appear within `timeout` (with the last body).
pub async fn wait_for_reloads_counted<S, F>(
    result: &str,
    count: u64,
    timeout: Duration,
    scrape: S,
) -> String
where
    S: FnMut() -> F,
    F: Future<Output = (u16, String)>,
{
    let line = format!("vsanobs_web_config_reloads_total{{result=\"{result}\"}} {count}");
    let what = format!("the reload was not counted ({line})");
    poll(&what, timeout, scrape, |status, body| {
        assert_eq!(
            status, 200,
            "a scrape was refused while waiting for `{line}`: {body}"
        );
        body.split_inclusive('\n')
            .any(|l| l.strip_suffix('\n') == Some(line.as_str()))
    })
    .await
}

/// Scrapes with `scrape` until `done` holds for an answer and returns its body, pausing
/// [`POLL_INTERVAL`] between scrapes; panics with `what` and the last answer when `timeout`
/// has passed.
async fn poll<S, F>(
    what: &str,
    timeout: Duration,
    mut scrape: S,
    mut done: impl FnMut(u16, &str) -> bool,
) -> String
where
    S: FnMut() -> F,
    F: Future<Output = (u16, String)>,
{
    let deadline = Instant::now() + timeout;
    loop {
        let (status, body) = scrape().await;
        if done(status, &body) {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: not within {timeout:?}; last answer {status}: {body}"
        );
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

#[cfg(test)]
mod tests {
    use std::future::ready;
    use std::time::Duration;

    use super::{refused_within, wait_for_reloads_counted, wait_until_served};

    fn sh(script: &str, web: &std::path::Path) -> std::process::Command {
        let mut cmd = std::process::Command::new("sh");
        cmd.args(["-c", script]).arg(web);
        cmd
    }

    #[test]
    #[should_panic(expected = "bad: 1\n: the server still ran after 0ns (killed)")]
    fn a_server_that_keeps_running_fails_the_refusal_at_its_deadline() {
        let dir = tempfile::tempdir().unwrap();
        let web = dir.path().join("web.yml");
        refused_within(
            Duration::ZERO,
            &web,
            "bad: 1\n",
            "bad",
            &mut sh("exec sleep 60", &web),
        );
    }

    #[test]
    fn a_refusal_needs_exit_status_2_and_the_error_on_stderr() {
        let dir = tempfile::tempdir().unwrap();
        let web = dir.path().join("web.yml");
        for (script, says) in [
            (
                "echo \"bad in $0\" >&2; exit 1",
                "left: Some(1)\n right: Some(2)",
            ),
            ("echo other >&2; exit 2", "bad: 1\n: other\n"),
            ("echo \"bad in $0\"; exit 2", "bad: 1\n: "),
        ] {
            let refused = std::panic::catch_unwind(|| {
                refused_within(
                    Duration::from_secs(60),
                    &web,
                    "bad: 1\n",
                    "bad",
                    &mut sh(script, &web),
                );
            });
            let message = *refused.expect_err(script).downcast::<String>().unwrap();
            assert!(message.ends_with(says), "{script}: {message}");
        }
        refused_within(
            Duration::from_secs(60),
            &web,
            "bad: 1\n",
            "bad: 1",
            &mut sh("cat \"$0\" >&2; exit 2", &web),
        );
    }

    fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    #[should_panic(expected = "the server did not start: not within 0ns; last answer 0: refused")]
    fn a_server_that_never_answers_fails_the_wait() {
        block_on(wait_until_served(
            "the server did not start",
            Duration::ZERO,
            || ready((0, "refused".to_owned())),
        ));
    }

    #[test]
    #[should_panic(expected = "a scrape was refused while waiting for \
                               `vsanobs_web_config_reloads_total{result=\"fail\"} 1`: denied")]
    fn a_refused_scrape_fails_the_reload_wait_at_once() {
        block_on(wait_for_reloads_counted(
            "fail",
            1,
            Duration::from_secs(3600),
            || ready((401, "denied".to_owned())),
        ));
    }

    #[test]
    fn only_the_exact_counter_line_ends_the_reload_wait() {
        let line = "vsanobs_web_config_reloads_total{result=\"fail\"} 1";
        for near in [
            "vsanobs_web_config_reloads_total{result=\"fail\"} 11\n",
            "x_vsanobs_web_config_reloads_total{result=\"fail\"} 1\n",
            "vsanobs_web_config_reloads_total{result=\"success\"} 1\n",
        ] {
            let wait = std::panic::catch_unwind(|| {
                block_on(wait_for_reloads_counted("fail", 1, Duration::ZERO, || {
                    ready((200, near.to_owned()))
                }))
            });
            let message = *wait.expect_err(near).downcast::<String>().unwrap();
            assert!(
                message.starts_with(&format!("the reload was not counted ({line}): not within")),
                "{near}: {message}"
            );
        }
        let body = format!("# TYPE x counter\n{line}\nx 2\n");
        let got = block_on(wait_for_reloads_counted("fail", 1, Duration::ZERO, || {
            ready((200, body.clone()))
        }));
        assert_eq!(got, body);
    }
}
