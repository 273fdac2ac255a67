//! HTTPS for the simulator: a certificate generated at start (a private CA and a server
//! certificate for `localhost` and `127.0.0.1` signed by it) or loaded from PEM files, and the
//! listener that runs TLS handshakes for [`Simulator::serve_tls`](super::Simulator::serve_tls).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// How long one TLS handshake may take before the connection is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// TLS material for [`Simulator::serve_tls`](super::Simulator::serve_tls): the server
/// certificate chain and key, and (for a generated certificate) the CA a client must trust.
///
/// # Example
///
/// ```
/// use vcsim::SimTls;
/// let tls = SimTls::generate(&["localhost", "127.0.0.1"]).unwrap();
/// let ca = tls.ca_pem().unwrap();
/// assert!(ca.starts_with("-----BEGIN CERTIFICATE-----"));
/// assert!(!format!("{tls:?}").contains("PRIVATE KEY"));
/// ```
#[derive(Clone)]
pub struct SimTls {
    pub(super) config: Arc<rustls::ServerConfig>,
    ca_pem: Option<String>,
}

impl std::fmt::Debug for SimTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimTls")
            .field("generated_ca", &self.ca_pem.is_some())
            .finish_non_exhaustive()
    }
}

/// Why TLS material could not be made, read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SimTlsError {
    /// Generating a key or certificate failed.
    #[error("cannot generate certificate")]
    Generate(#[source] rcgen::Error),
    /// A certificate or key file could not be read or written.
    #[error("cannot access {path:?}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A file is not valid PEM.
    #[error("{path:?} is not valid pem")]
    Pem {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: rustls::pki_types::pem::Error,
    },
    /// The certificate file holds no certificate.
    #[error("no certificate in {0:?}")]
    NoCertificate(PathBuf),
    /// The key file holds no private key.
    #[error("no private key in {0:?}")]
    NoKey(PathBuf),
    /// The certificate and key do not make a usable server configuration.
    #[error("unusable certificate or key")]
    Config(#[source] rustls::Error),
    /// [`SimTls::write_ca_pem`] on material that was loaded, not generated.
    #[error("no generated ca to write")]
    NoCa,
}

fn server_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<Arc<rustls::ServerConfig>, SimTlsError> {
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(SimTlsError::Config)?
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .map_err(SimTlsError::Config)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

impl SimTls {
    /// Generates a CA and a server certificate for `names` (DNS names or IP addresses)
    /// signed by it. Clients trust the server through [`SimTls::ca_pem`].
    ///
    /// # Errors
    /// [`SimTlsError::Generate`] for a name that is neither a DNS name nor an IP address.
    pub fn generate(names: &[&str]) -> Result<SimTls, SimTlsError> {
        use rcgen::{
            BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
            KeyPair, KeyUsagePurpose,
        };
        let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(SimTlsError::Generate)?;
        ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        ca.distinguished_name
            .push(DnType::CommonName, "vcsim test CA");
        ca.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_key = KeyPair::generate().map_err(SimTlsError::Generate)?;
        let ca_cert = ca.self_signed(&ca_key).map_err(SimTlsError::Generate)?;
        let issuer = Issuer::new(ca, ca_key);

        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let mut leaf = CertificateParams::new(names).map_err(SimTlsError::Generate)?;
        leaf.distinguished_name.push(DnType::CommonName, "vcsim");
        leaf.use_authority_key_identifier_extension = true;
        leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let leaf_key = KeyPair::generate().map_err(SimTlsError::Generate)?;
        let leaf_cert = leaf
            .signed_by(&leaf_key, &issuer)
            .map_err(SimTlsError::Generate)?;

        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
        let chain = vec![leaf_cert.der().clone(), ca_cert.der().clone()];
        Ok(SimTls {
            config: server_config(chain, key)?,
            ca_pem: Some(ca_cert.pem()),
        })
    }

    /// [`SimTls::generate`] for `localhost` and `127.0.0.1`.
    ///
    /// # Errors
    /// As [`SimTls::generate`].
    pub fn localhost() -> Result<SimTls, SimTlsError> {
        SimTls::generate(&["localhost", "127.0.0.1"])
    }

    /// Loads a PEM certificate chain (server certificate first) and a PEM private key
    /// (PKCS#8, PKCS#1 or SEC1).
    ///
    /// # Errors
    /// Unreadable files, invalid PEM, a file without certificate or key, or a key that does
    /// not suit the certificate.
    pub fn from_pem_files(cert: &Path, key: &Path) -> Result<SimTls, SimTlsError> {
        let read = |p: &Path| {
            std::fs::read(p).map_err(|source| SimTlsError::Io {
                path: p.to_owned(),
                source,
            })
        };
        let pem_err = |p: &Path| {
            let path = p.to_owned();
            move |source| SimTlsError::Pem { path, source }
        };
        let cert_pem = read(cert)?;
        let chain = CertificateDer::pem_slice_iter(&cert_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(pem_err(cert))?;
        if chain.is_empty() {
            return Err(SimTlsError::NoCertificate(cert.to_owned()));
        }
        let key_pem = read(key)?;
        let key_der = match PrivateKeyDer::from_pem_slice(&key_pem) {
            Ok(k) => k,
            Err(rustls::pki_types::pem::Error::NoItemsFound) => {
                return Err(SimTlsError::NoKey(key.to_owned()));
            }
            Err(e) => return Err(pem_err(key)(e)),
        };
        Ok(SimTls {
            config: server_config(chain, key_der)?,
            ca_pem: None,
        })
    }

    /// The generated CA certificate (PEM) a client must trust; `None` for loaded material.
    pub fn ca_pem(&self) -> Option<&str> {
        self.ca_pem.as_deref()
    }

    /// Writes the generated CA certificate (PEM) to `path`, for a client's CA file.
    ///
    /// # Errors
    /// [`SimTlsError::NoCa`] for loaded material, [`SimTlsError::Io`] when writing fails.
    pub fn write_ca_pem(&self, path: &Path) -> Result<(), SimTlsError> {
        let pem = self.ca_pem.as_deref().ok_or(SimTlsError::NoCa)?;
        std::fs::write(path, pem).map_err(|source| SimTlsError::Io {
            path: path.to_owned(),
            source,
        })
    }
}

type TlsConn = (
    tokio_rustls::server::TlsStream<tokio::net::TcpStream>,
    SocketAddr,
);

/// An [`axum::serve::Listener`] yielding connections whose TLS handshake completed. A task
/// accepts TCP connections and runs each handshake in its own task, so a slow or failing
/// client never holds up the others; it stops (closing the socket) when the listener is
/// dropped.
pub(super) struct TlsListener {
    rx: tokio::sync::mpsc::Receiver<TlsConn>,
    local: SocketAddr,
}

impl TlsListener {
    /// Starts the accept task; its handle finishes once the listener is dropped and the
    /// socket is closed.
    pub(super) fn start(
        tcp: tokio::net::TcpListener,
        local: SocketAddr,
        acceptor: tokio_rustls::TlsAcceptor,
    ) -> (TlsListener, tokio::task::JoinHandle<()>) {
        let (tx, rx) = tokio::sync::mpsc::channel::<TlsConn>(64);
        let task = tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    _ = tx.closed() => break,
                    a = tcp.accept() => a,
                };
                let (stream, peer) = match accepted {
                    Ok(c) => c,
                    Err(e) => {
                        // EMFILE and the like: back off instead of spinning.
                        tracing::debug!(error = %e, "simulator accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let acceptor = acceptor.clone();
                let tx = tx.clone();
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            let _ = tx.send((tls, peer)).await;
                        }
                        Ok(Err(e)) => {
                            tracing::debug!(%peer, error = %e, "simulator TLS handshake failed");
                        }
                        Err(_) => tracing::debug!(%peer, "simulator TLS handshake timed out"),
                    }
                });
            }
        });
        (TlsListener { rx, local }, task)
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.rx.recv().await {
            Some(conn) => conn,
            // The accept task only ends once this listener is gone; never reached.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        Ok(self.local)
    }
}
