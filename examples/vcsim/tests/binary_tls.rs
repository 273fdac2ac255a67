//! The `vcsim` binary over HTTPS: `--tls-self-signed` writes a CA that a vCenter client
//! trusts, `--tls-cert`/`--tls-key` serve a chain from files, plain HTTP stays the default,
//! and `--tls-cert` without `--tls-key` is refused. The client is the vSAN exporter's.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use vsan_exporter::client::{ClientOptions, VcenterClient};
use vsan_exporter::secret::{Credentials, Secret};
use vsanobs_testkit::logs::logged_value;

const PASSWORD: &str = "canary-Tls-Pa55-4d1e8b";
const USER: &str = "administrator@vsphere.local";

fn vcenter_client(url: &str, ca_file: Option<PathBuf>) -> VcenterClient {
    VcenterClient::new(ClientOptions {
        url: url.to_owned(),
        credentials: Credentials {
            user: USER.to_owned(),
            password: Secret::new(PASSWORD),
        },
        insecure: false,
        ca_file,
        request_timeout: Duration::from_secs(20),
        paging: Default::default(),
    })
    .expect("client")
}

/// Kills the simulator when the test ends, however it ends.
struct Vcsim(Child);

impl Drop for Vcsim {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `vcsim` on 127.0.0.1:<free port> and reads its URL from the log.
fn vcsim(extra: &[&str]) -> (Vcsim, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_vcsim"))
        .args([
            "--web.listen-address",
            "127.0.0.1:0",
            "--clusters",
            "1",
            "--hosts",
            "2",
        ])
        .args(extra)
        .env("VCSIM_PASSWORD", PASSWORD)
        .env("VSAN_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start vcsim");
    let stdout = child.stdout.take().expect("stdout");
    let guard = Vcsim(child);
    let url = logged_value(stdout, "url=", "url=");
    (guard, url)
}

fn write_pem_chain(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("ca params");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_key = KeyPair::generate().expect("ca key");
    let ca_cert = ca.self_signed(&ca_key).expect("ca cert");
    let issuer = Issuer::new(ca, ca_key);
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_owned()]).expect("leaf params");
    let leaf_key = KeyPair::generate().expect("leaf key");
    let leaf_cert = leaf.signed_by(&leaf_key, &issuer).expect("leaf cert");
    let (ca_path, cert_path, key_path) = (
        dir.join("own-ca.pem"),
        dir.join("server.pem"),
        dir.join("server-key.pem"),
    );
    std::fs::write(&ca_path, ca_cert.pem()).expect("write ca");
    std::fs::write(&cert_path, leaf_cert.pem()).expect("write cert");
    std::fs::write(&key_path, leaf_key.serialize_pem()).expect("write key");
    (ca_path, cert_path, key_path)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vcsim_binary_serves_https_with_generated_or_loaded_certificates() {
    let dir = tempfile::tempdir().expect("tempdir");

    // --tls-self-signed: the CA is written where --tls-ca-out says.
    let ca = dir.path().join("vcsim-ca.pem");
    let ca_arg = ca.to_str().expect("utf-8 path");
    let (_sim, url) = vcsim(&["--tls-self-signed", "--tls-ca-out", ca_arg]);
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");
    let client = vcenter_client(&url, Some(ca));
    let inv = client
        .inventory(Duration::from_secs(30))
        .await
        .expect("inventory over https");
    assert_eq!(inv.len(), 1);
    assert_eq!(inv[0].hosts.len(), 2);
    client.ensure_session().await.expect("login");
    client.logout().await;
    let untrusted = vcenter_client(&url, None);
    let err = untrusted.ensure_session().await.expect_err("not trusted");
    assert_eq!(err.reason(), "tls");

    // --tls-cert/--tls-key: a chain and key from files, trusted through their own CA.
    let (own_ca, cert, key) = write_pem_chain(dir.path());
    let (_sim2, url2) = vcsim(&[
        "--tls-cert",
        cert.to_str().expect("utf-8 path"),
        "--tls-key",
        key.to_str().expect("utf-8 path"),
    ]);
    assert!(url2.starts_with("https://"), "{url2}");
    let client = vcenter_client(&url2, Some(own_ca));
    client
        .ensure_session()
        .await
        .expect("login with loaded certificate");
    client.logout().await;

    // Plain HTTP stays the default.
    let (_sim3, url3) = vcsim(&[]);
    assert!(url3.starts_with("http://127.0.0.1:"), "{url3}");
    let status = Command::new(env!("CARGO_BIN_EXE_vcsim"))
        .args(["--tls-cert", cert.to_str().expect("utf-8 path")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("run vcsim");
    assert_eq!(
        status.code(),
        Some(2),
        "--tls-cert without --tls-key is refused"
    );
}
