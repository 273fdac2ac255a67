//! Prometheus exporter-toolkit's web configuration file (`--web.config.file`): a TLS server
//! certificate with optional client-certificate verification, and basic-auth users with
//! bcrypt hashes, loaded into a [`WebConfig`].
//!
//! ```yaml
//! tls_server_config:
//!   cert_file: server.pem          # relative paths are relative to the config file
//!   key_file: server-key.pem
//!   client_auth_type: RequireAndVerifyClientCert   # needs client_ca_file (or client_ca)
//!   client_ca_file: clients-ca.pem
//!   min_version: TLS12
//! basic_auth_users:
//!   prometheus: $2y$10$X0h1gDsPszWURQaxFh.zoubFi6DXncSjhoQNJgRrnGs7EsimhC7zG
//! ```
//!
//! What is honoured: `cert_file`/`cert`, `key_file`/`key` (PEM; PKCS#8, PKCS#1 or SEC1
//! keys), `client_ca_file`/`client_ca`, `client_auth_type` `NoClientCert`,
//! `VerifyClientCertIfGiven` and `RequireAndVerifyClientCert`, `min_version`/`max_version`
//! `TLS12` and `TLS13`, and `basic_auth_users`.
//!
//! Ignored, as documented here: `prefer_server_cipher_suites` (the server's order is always
//! used) and `http_server_config.http2` (the listener offers HTTP/1.1 only, which is what
//! Prometheus scrapes with).
//!
//! Refused with [`WebConfigError::Unsupported`] rather than silently weakened or ignored:
//! a non-empty `cipher_suites`, `curve_preferences` or `client_allowed_sans`,
//! `client_auth_type` `RequestClientCert` and `RequireAnyClientCert` (they accept
//! certificates nobody verified), TLS 1.0/1.1, `http_server_config.headers` and
//! `rate_limit`. Any other key is a YAML error naming it.
//!
//! bcrypt hashes must have a cost of at least [`MIN_BCRYPT_COST`] (10): the cost in the
//! toolkit's own example (`htpasswd -nBC 10`) and Go's `bcrypt.DefaultCost`; `htpasswd -B`
//! defaults to 5, which makes an offline guess 32 times cheaper.
//!
//! A [`WebConfig`] is the file as read once. [`LiveWebConfig`] follows the file: it is
//! re-read when its content (or that of a certificate, key or CA file it names) changed, or
//! on an explicit [`reload`](LiveWebConfig::reload) (the services call it on `SIGHUP`); new
//! TLS connections and basic-auth checks use the new configuration, and a bad file is
//! logged, counted in `vsanobs_web_config_reloads_total{result="fail"}` and leaves the
//! previous configuration in force. See [`live`] for the design and its costs.
//!
//! # Example
//!
//! ```
//! use vsanobs_core::Registry;
//! use vsanobs_http::{MetricsEndpoint, ScrapeRequest, WebConfig, WebConfigError};
//!
//! let hash = bcrypt::hash("s3cret", 10).unwrap();
//! let dir = std::env::temp_dir();
//! let config = WebConfig::from_yaml(&format!("basic_auth_users:\n  prom: {hash}\n"), &dir)?;
//! assert!(config.tls_acceptor().is_none());
//! assert_eq!(config.basic_auth_users().collect::<Vec<_>>(), ["prom"]);
//! let endpoint = config.apply(MetricsEndpoint::new(Registry::new()));
//! assert_eq!(endpoint.render(&ScrapeRequest::default()).status, 401);
//!
//! // Keys outside the format are refused by name; weak hashes are refused.
//! let err = WebConfig::from_yaml("basic_auth_user: {}\n", &dir).unwrap_err();
//! assert!(err.to_string().contains("basic_auth_user"), "{err}");
//! let weak = bcrypt::hash("s3cret", 4).unwrap();
//! let err = WebConfig::from_yaml(&format!("basic_auth_users:\n  prom: {weak}\n"), &dir);
//! assert!(matches!(err, Err(WebConfigError::WeakHash { cost: 4, .. })));
//! # Ok::<(), WebConfigError>(())
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde::Deserialize;

use crate::MetricsEndpoint;

#[cfg(feature = "axum")]
mod listener;
pub mod live;

#[cfg(feature = "axum")]
pub use listener::TlsListener;
pub use live::{LiveWebConfig, ReloadResult, WEB_CONFIG_METRICS};

/// The lowest bcrypt cost accepted in `basic_auth_users`.
pub const MIN_BCRYPT_COST: u32 = 10;

/// Why a web configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WebConfigError {
    /// A file (the configuration, a certificate, a key, a CA) could not be read.
    #[error("cannot read {path:?}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The configuration is not valid YAML of this format (the message names an unknown
    /// key, with its line and column).
    #[error("invalid web config: {0}")]
    Yaml(#[source] serde_yaml_ng::Error),
    /// A key of the format that this implementation does not support.
    #[error("web config key {key} is not supported: {why}")]
    Unsupported {
        /// The key, as a path (`tls_server_config.cipher_suites`).
        key: &'static str,
        /// Why, and what to do instead.
        why: &'static str,
    },
    /// A value the format does not define (`client_auth_type`, `min_version`...).
    #[error("invalid value {value:?} for web config key {key}")]
    InvalidValue {
        /// The key.
        key: &'static str,
        /// The value given.
        value: String,
    },
    /// A required key is missing, or a key is given both inline and as a file.
    #[error("web config: {0}")]
    Inconsistent(&'static str),
    /// A certificate, key or CA (file or inline) is not valid PEM.
    #[error("{what} is not valid PEM")]
    Pem {
        /// Which (`cert_file "/etc/x.pem"`, `inline key`...).
        what: String,
        /// The cause.
        #[source]
        source: rustls::pki_types::pem::Error,
    },
    /// A certificate or CA file holds no certificate.
    #[error("no certificate in {0}")]
    NoCertificate(String),
    /// The key file holds no private key.
    #[error("no private key in {0}")]
    NoKey(String),
    /// The certificate and key do not make a usable TLS server (e.g. the key does not
    /// belong to the certificate).
    #[error("unusable TLS certificate or key")]
    BadCertificate(#[source] rustls::Error),
    /// The client CA could not be used to verify client certificates.
    #[error("unusable client CA")]
    BadClientCa(#[source] rustls::server::VerifierBuilderError),
    /// `client_auth_type` verifies client certificates but no client CA is given.
    #[error("client_auth_type {0} needs client_ca_file or client_ca")]
    ClientCaRequired(String),
    /// A client CA is given but `client_auth_type` does not verify client certificates.
    #[error("client_ca_file is set but client_auth_type {0} does not verify client certificates")]
    ClientCaUnused(String),
    /// A `basic_auth_users` hash is not a bcrypt hash.
    #[error("invalid bcrypt hash for basic-auth user {user:?}")]
    InvalidHash {
        /// The user.
        user: String,
        /// What bcrypt said.
        #[source]
        source: bcrypt::BcryptError,
    },
    /// A `basic_auth_users` hash has a cost below [`MIN_BCRYPT_COST`].
    #[error(
        "bcrypt hash of basic-auth user {user:?} has cost {cost}, below the minimum {min} \
         (hash with e.g. `htpasswd -nBC 10`)"
    )]
    WeakHash {
        /// The user.
        user: String,
        /// The hash's cost.
        cost: u32,
        /// [`MIN_BCRYPT_COST`].
        min: u32,
    },
    /// A reload would turn TLS on or off: the listener was set up for the first
    /// configuration's scheme, so switching needs a restart.
    #[error(
        "a reload cannot turn TLS {}: restart to change the scheme",
        if *.now_tls { "on" } else { "off" }
    )]
    TlsModeChanged {
        /// Whether the new file has `tls_server_config`.
        now_tls: bool,
    },
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    tls_server_config: Option<RawTls>,
    #[serde(default)]
    http_server_config: Option<RawHttp>,
    #[serde(default)]
    basic_auth_users: Option<BTreeMap<String, String>>,
    #[serde(default)]
    rate_limit: Option<serde_yaml_ng::Value>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawTls {
    cert: Option<String>,
    key: Option<String>,
    client_ca: Option<String>,
    cert_file: Option<String>,
    key_file: Option<String>,
    client_auth_type: Option<String>,
    client_ca_file: Option<String>,
    #[serde(default)]
    client_allowed_sans: Vec<String>,
    min_version: Option<String>,
    max_version: Option<String>,
    #[serde(default)]
    cipher_suites: Vec<String>,
    #[allow(dead_code)] // accepted and ignored, see the module docs
    prefer_server_cipher_suites: Option<bool>,
    #[serde(default)]
    curve_preferences: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawHttp {
    #[allow(dead_code)] // accepted and ignored, see the module docs
    http2: Option<bool>,
    headers: Option<BTreeMap<String, String>>,
}

/// A loaded web configuration: the TLS server configuration (if `tls_server_config` is
/// present) and the basic-auth users. See the [module docs](self) for the format.
#[derive(Clone, Default)]
pub struct WebConfig {
    tls: Option<Arc<rustls::ServerConfig>>,
    client_auth: &'static str,
    users: Vec<(String, String)>,
}

impl RawConfig {
    /// The certificate, key and CA files the configuration names, resolved against `base`.
    fn files(&self, base: &Path) -> Vec<PathBuf> {
        let Some(t) = &self.tls_server_config else {
            return Vec::new();
        };
        [&t.cert_file, &t.key_file, &t.client_ca_file]
            .into_iter()
            .flatten()
            .map(|f| base.join(f))
            .collect()
    }
}

/// The files a configuration text names (certificate, key, client CA), resolved against
/// `base`; empty when the text does not parse.
pub(crate) fn referenced_files(text: &str, base: &Path) -> Vec<PathBuf> {
    serde_yaml_ng::from_str::<RawConfig>(text)
        .map(|raw| raw.files(base))
        .unwrap_or_default()
}

impl fmt::Debug for WebConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebConfig")
            .field("tls", &self.tls.is_some())
            .field("client_auth_type", &self.client_auth)
            .field(
                "basic_auth_users",
                &self.basic_auth_users().collect::<Vec<_>>(),
            )
            .finish()
    }
}

#[derive(Clone, Copy, PartialEq)]
enum ClientAuth {
    None,
    IfGiven,
    Require,
}

fn read(path: &Path) -> Result<Vec<u8>, WebConfigError> {
    std::fs::read(path).map_err(|source| WebConfigError::Read {
        path: path.to_owned(),
        source,
    })
}

/// PEM from an inline value or a file (relative to `base`), with a description for errors.
fn pem_source(
    inline: Option<String>,
    file: Option<String>,
    base: &Path,
    name: &'static str,
) -> Result<Option<(Vec<u8>, String)>, WebConfigError> {
    match (inline, file) {
        (Some(_), Some(_)) => Err(WebConfigError::Inconsistent(match name {
            "cert" => "cert and cert_file are both set",
            "key" => "key and key_file are both set",
            _ => "client_ca and client_ca_file are both set",
        })),
        (Some(pem), None) => Ok(Some((pem.into_bytes(), format!("inline {name}")))),
        (None, Some(f)) => {
            let path = base.join(f);
            let bytes = read(&path)?;
            Ok(Some((bytes, format!("{name}_file {}", path.display()))))
        }
        (None, None) => Ok(None),
    }
}

fn certificates(pem: &[u8], what: &str) -> Result<Vec<CertificateDer<'static>>, WebConfigError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| WebConfigError::Pem {
            what: what.to_owned(),
            source,
        })?;
    if certs.is_empty() {
        return Err(WebConfigError::NoCertificate(what.to_owned()));
    }
    Ok(certs)
}

fn tls_version(key: &'static str, v: Option<&str>, default: u8) -> Result<u8, WebConfigError> {
    match v {
        None => Ok(default),
        Some("TLS12") => Ok(12),
        Some("TLS13") => Ok(13),
        Some("TLS10" | "TLS11") => Err(WebConfigError::Unsupported {
            key,
            why: "TLS 1.0 and 1.1 are not offered; use TLS12 or TLS13",
        }),
        Some(other) => Err(WebConfigError::InvalidValue {
            key,
            value: other.to_owned(),
        }),
    }
}

fn tls_config(
    raw: RawTls,
    base: &Path,
) -> Result<(Arc<rustls::ServerConfig>, &'static str), WebConfigError> {
    let unsupported = |key, why| Err(WebConfigError::Unsupported { key, why });
    if !raw.cipher_suites.is_empty() {
        return unsupported(
            "tls_server_config.cipher_suites",
            "the TLS library's suites (AEAD with forward secrecy only) are always used",
        );
    }
    if !raw.curve_preferences.is_empty() {
        return unsupported(
            "tls_server_config.curve_preferences",
            "the TLS library's key-exchange groups are always used",
        );
    }
    if !raw.client_allowed_sans.is_empty() {
        return unsupported(
            "tls_server_config.client_allowed_sans",
            "restrict clients with a dedicated client CA instead",
        );
    }
    let auth_name = raw.client_auth_type.as_deref().unwrap_or("NoClientCert");
    let (auth, auth_name) = match auth_name {
        "NoClientCert" => (ClientAuth::None, "NoClientCert"),
        "VerifyClientCertIfGiven" => (ClientAuth::IfGiven, "VerifyClientCertIfGiven"),
        "RequireAndVerifyClientCert" => (ClientAuth::Require, "RequireAndVerifyClientCert"),
        "RequestClientCert" | "RequireAnyClientCert" => {
            return unsupported(
                "tls_server_config.client_auth_type",
                "RequestClientCert and RequireAnyClientCert accept unverified certificates; \
                 use RequireAndVerifyClientCert with client_ca_file",
            );
        }
        other => {
            return Err(WebConfigError::InvalidValue {
                key: "tls_server_config.client_auth_type",
                value: other.to_owned(),
            });
        }
    };
    let min = tls_version(
        "tls_server_config.min_version",
        raw.min_version.as_deref(),
        12,
    )?;
    let max = tls_version(
        "tls_server_config.max_version",
        raw.max_version.as_deref(),
        13,
    )?;
    if min > max {
        return Err(WebConfigError::Inconsistent(
            "tls_server_config.min_version is above max_version",
        ));
    }
    let versions: Vec<&'static rustls::SupportedProtocolVersion> =
        [(12, &rustls::version::TLS12), (13, &rustls::version::TLS13)]
            .into_iter()
            .filter(|(v, _)| (min..=max).contains(v))
            .map(|(_, p)| p)
            .collect();

    let (cert_pem, cert_what) = pem_source(raw.cert, raw.cert_file, base, "cert")?.ok_or(
        WebConfigError::Inconsistent("tls_server_config needs cert_file (or cert)"),
    )?;
    let (key_pem, key_what) = pem_source(raw.key, raw.key_file, base, "key")?.ok_or(
        WebConfigError::Inconsistent("tls_server_config needs key_file (or key)"),
    )?;
    let chain = certificates(&cert_pem, &cert_what)?;
    let key = match PrivateKeyDer::from_pem_slice(&key_pem) {
        Ok(k) => k,
        Err(rustls::pki_types::pem::Error::NoItemsFound) => {
            return Err(WebConfigError::NoKey(key_what));
        }
        Err(source) => {
            return Err(WebConfigError::Pem {
                what: key_what,
                source,
            });
        }
    };
    let ca = pem_source(raw.client_ca, raw.client_ca_file, base, "client_ca")?;

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(WebConfigError::BadCertificate)?;
    let builder = match (auth, ca) {
        (ClientAuth::None, None) => builder.with_no_client_auth(),
        (ClientAuth::None, Some(_)) => {
            return Err(WebConfigError::ClientCaUnused(auth_name.to_owned()));
        }
        (_, None) => return Err(WebConfigError::ClientCaRequired(auth_name.to_owned())),
        (_, Some((pem, what))) => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in certificates(&pem, &what)? {
                roots.add(cert).map_err(WebConfigError::BadCertificate)?;
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            );
            let verifier = if auth == ClientAuth::IfGiven {
                verifier.allow_unauthenticated()
            } else {
                verifier
            };
            builder
                .with_client_cert_verifier(verifier.build().map_err(WebConfigError::BadClientCa)?)
        }
    };
    let mut config = builder
        .with_single_cert(chain, key)
        .map_err(WebConfigError::BadCertificate)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok((Arc::new(config), auth_name))
}

/// The cost field of a bcrypt hash (`$2y$10$...`).
fn bcrypt_cost(hash: &str) -> Option<u32> {
    let mut parts = hash.split('$');
    parts.next()?;
    parts.next()?;
    parts.next()?.parse().ok()
}

impl WebConfig {
    /// Reads and checks the file at `path`; relative file names in it are relative to its
    /// directory.
    ///
    /// # Errors
    /// Every [`WebConfigError`]: an unreadable file, invalid YAML or an unknown key, a bad
    /// certificate or key, a client CA missing when `client_auth_type` requires one, a
    /// malformed or weak bcrypt hash, an unsupported key.
    pub fn load(path: &Path) -> Result<WebConfig, WebConfigError> {
        let text = read(path)?;
        let text = String::from_utf8(text).map_err(|e| WebConfigError::Read {
            path: path.to_owned(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        WebConfig::from_yaml(&text, base)
    }

    /// Parses and checks a configuration; relative file names are relative to `base`.
    ///
    /// # Errors
    /// As [`WebConfig::load`].
    pub fn from_yaml(text: &str, base: &Path) -> Result<WebConfig, WebConfigError> {
        // An empty file is a valid configuration (plain HTTP, no authentication).
        let raw: RawConfig = if text.trim().is_empty() {
            RawConfig::default()
        } else {
            serde_yaml_ng::from_str(text).map_err(WebConfigError::Yaml)?
        };
        if raw.rate_limit.is_some() {
            return Err(WebConfigError::Unsupported {
                key: "rate_limit",
                why: "use max_concurrent_scrapes; the endpoint bounds concurrent scrapes",
            });
        }
        if let Some(http) = raw.http_server_config {
            if http.headers.is_some_and(|h| !h.is_empty()) {
                return Err(WebConfigError::Unsupported {
                    key: "http_server_config.headers",
                    why: "set response headers in a proxy in front",
                });
            }
        }
        let mut users = Vec::new();
        for (user, hash) in raw.basic_auth_users.unwrap_or_default() {
            if let Err(source) = bcrypt::verify("", &hash) {
                return Err(WebConfigError::InvalidHash { user, source });
            }
            let cost = bcrypt_cost(&hash).unwrap_or(0);
            if cost < MIN_BCRYPT_COST {
                return Err(WebConfigError::WeakHash {
                    user,
                    cost,
                    min: MIN_BCRYPT_COST,
                });
            }
            users.push((user, hash));
        }
        let (tls, client_auth) = match raw.tls_server_config {
            Some(t) => {
                let (c, a) = tls_config(t, base)?;
                (Some(c), a)
            }
            None => (None, "NoClientCert"),
        };
        Ok(WebConfig {
            tls,
            client_auth,
            users,
        })
    }

    /// The rustls server configuration when `tls_server_config` is present.
    pub fn tls_server_config(&self) -> Option<Arc<rustls::ServerConfig>> {
        self.tls.clone()
    }

    /// A TLS acceptor for the listener when `tls_server_config` is present; `None` means
    /// plain HTTP.
    pub fn tls_acceptor(&self) -> Option<tokio_rustls::TlsAcceptor> {
        self.tls.clone().map(tokio_rustls::TlsAcceptor::from)
    }

    /// The basic-auth user names (sorted).
    pub fn basic_auth_users(&self) -> impl Iterator<Item = &str> {
        self.users.iter().map(|(u, _)| u.as_str())
    }

    /// `endpoint` with the basic-auth users of this configuration (unchanged when there
    /// are none). See [`MetricsEndpoint::basic_auth`] for the CPU bound on attempts.
    pub fn apply(&self, endpoint: MetricsEndpoint) -> MetricsEndpoint {
        let mut endpoint = endpoint;
        for (user, hash) in &self.users {
            // Checked at load: the hashes are valid bcrypt.
            endpoint = match endpoint.clone().basic_auth(user.clone(), hash.clone()) {
                Ok(e) => e,
                Err(e) => {
                    tracing::error!(error = %e, "web config: basic-auth user not applied");
                    endpoint
                }
            };
        }
        endpoint
    }
}
