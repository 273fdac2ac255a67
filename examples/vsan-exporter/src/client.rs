//! A vCenter SOAP client for what the exporter needs: `SessionManager.Login` on `/sdk` (the
//! `vmware_soap_session` cookie), the inventory that names clusters, hosts, disks and VMs,
//! and `VsanPerfQueryPerf` on `/vsanHealth`. Requests and answers are the typed calls of
//! `vsanobs_core::vsan::protocol` (feature `vsan`), the same the simulator serves with.
//!
//! API versions: before each login the client reads `/sdk/vimServiceVersions.xml` and
//! `/sdk/vsanServiceVersions.xml` and takes the newest version both ends know, as VMware's
//! SDKs do; every call names it in its `SOAPAction` (a vCenter refuses a version newer than
//! its own). A document that is missing, empty, malformed or lists no known version is
//! logged and replaced by a fallback ([`FALLBACK_VIM25_VERSION`], and an unversioned vSAN
//! `SOAPAction`); [`VcenterClient::api_versions`] tells which was used and why.
//!
//! Inventory paging: `RetrievePropertiesEx` with `maxObjects` ([`InventoryPaging::page_size`]),
//! then `ContinueRetrievePropertiesEx` for each `token`, at most
//! [`InventoryPaging::max_pages`] pages: a retrieval that does not end is cancelled
//! (`CancelRetrievePropertiesEx`) and fails with [`ClientError::TooManyPages`]; a token the
//! server forgot fails with [`ClientError::TokenRejected`]. A page with no object but a token
//! is followed like any other.
//!
//! Session discipline: one login; when a call finds the session expired, exactly one
//! re-login runs and every request in flight waits for it and retries once; keep-alive
//! connections; [`VcenterClient::logout`] on shutdown.
//!
//! TLS (rustls with Mozilla's root certificates from `webpki-roots`, no OpenSSL): verification is
//! on by default; `ca_file` adds the CA certificates of a PEM file (checked when the client is
//! built: a missing or non-PEM file is a [`ClientError::CaFile`]); `insecure` turns
//! verification off and is only honoured when set explicitly, with a warning logged (the
//! exporter also exports it as `vsan_exporter_insecure_tls 1`). A failed handshake, e.g. an
//! untrusted certificate, is a [`ClientError::Tls`] with the reason `tls`.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use vsan_exporter::client::{ClientError, ClientOptions, VcenterClient};
//! use vsan_exporter::secret::{Credentials, Secret};
//! let opts = ClientOptions {
//!     url: "https://vc.example.com".into(),
//!     credentials: Credentials { user: "monitor@vsphere.local".into(), password: Secret::new("pw") },
//!     insecure: false,
//!     ca_file: Some("/nonexistent/vc-ca.pem".into()),
//!     request_timeout: Duration::from_secs(30),
//!     paging: Default::default(),
//! };
//! // The CA file is read when the client is built, before any connection.
//! let err = VcenterClient::new(opts.clone()).unwrap_err();
//! assert!(matches!(err, ClientError::CaFile { .. }));
//! assert_eq!(err.reason(), "tls_config");
//! // Without it, verification uses the built-in roots.
//! let client = VcenterClient::new(ClientOptions { ca_file: None, ..opts }).unwrap();
//! assert_eq!(client.base_url(), "https://vc.example.com");
//! ```

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::RwLock;
use vsanobs_core::report::error_chain;
use vsanobs_core::vsan::VsanError;
use vsanobs_core::vsan::protocol::health::{HealthSummary, HealthSummaryQuery};
use vsanobs_core::vsan::protocol::inventory::{
    CancelRetrieveProperties, ContinueRetrieveProperties, CreateContainerView, DestroyView,
    InventoryObject, PropertySpec, RetrieveProperties, RetrieveResult,
};
use vsanobs_core::vsan::protocol::perf::{PerfQuery, PerfQuerySpec, SupportedEntityTypes};
use vsanobs_core::vsan::protocol::resync::{SyncingObjects, SyncingObjectsQuery, vsan_system_ex};
use vsanobs_core::vsan::protocol::session::{
    CurrentTime, Login, Logout, RetrieveServiceContent, ServiceContent, UserSession,
};
use vsanobs_core::vsan::protocol::space::{SpaceUsage, SpaceUsageQuery};
use vsanobs_core::vsan::protocol::versions::{
    KNOWN_VIM25_VERSIONS, KNOWN_VSAN_VERSIONS, VIM_SERVICE_VERSIONS_PATH,
    VSAN_SERVICE_VERSIONS_PATH, negotiate_document, soap_action,
};
use vsanobs_core::vsan::protocol::{
    Fault, SDK_PATH, SESSION_COOKIE, VIM25_NAMESPACE, VSAN_HEALTH_PATH, VSAN_NAMESPACE,
    VSAN_SOAP_ACTION,
};
use vsanobs_core::vsan::soap::{EntityMetricCsv, FaultKind, parse_query_perf_response};

use crate::secret::{Credentials, Secret};

/// How to reach and authenticate to one vCenter.
#[derive(Clone, Debug, PartialEq)]
pub struct ClientOptions {
    /// Base URL (`https://vc.example.com`); `/sdk` and `/vsanHealth` are appended.
    pub url: String,
    /// User and password.
    pub credentials: Credentials,
    /// Skip TLS certificate verification (explicit opt-in only).
    pub insecure: bool,
    /// Extra CA certificate (PEM) to trust.
    pub ca_file: Option<PathBuf>,
    /// Timeout of one HTTP request.
    pub request_timeout: Duration,
    /// How the inventory is paged.
    pub paging: InventoryPaging,
}

/// How the inventory's `RetrievePropertiesEx` is paged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InventoryPaging {
    /// `maxObjects` of each page (at least 1).
    pub page_size: u32,
    /// Pages followed before the retrieval is given up as endless (at least 1).
    pub max_pages: u32,
}

impl Default for InventoryPaging {
    /// 500 objects a page: a vCenter of 5,000 VMs in about 11 requests, and one page of
    /// hosts with their disk mappings (about 2 KiB of XML each) stays near 1 MiB, read into a
    /// tree at once. 1,000 pages: 500,000 objects, ten times vCenter's configuration maximums
    /// (2,500 hosts, 40,000 powered-on VMs), so only a retrieval that never ends reaches it.
    fn default() -> Self {
        InventoryPaging {
            page_size: 500,
            max_pages: 1000,
        }
    }
}

/// The most of a service versions document read (a real one is under 1 KiB).
pub const MAX_VERSIONS_DOCUMENT: usize = 64 * 1024;

/// Bound on each clean-up call after an inventory (`CancelRetrievePropertiesEx`,
/// `DestroyView`): they run after the retrieval's own deadline, so they need their own.
pub const CLEANUP_TIMEOUT: Duration = Duration::from_secs(5);

/// The vim25 version used when `vimServiceVersions.xml` gives none: the oldest release this
/// client supports (vCenter 7.0U3). A vCenter accepts every version up to its own, and each
/// call the client makes exists unchanged in it.
pub const FALLBACK_VIM25_VERSION: &str = "7.0.3.0";

/// One negotiated API version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiVersion {
    /// The version named in `SOAPAction` (None: unversioned, `urn:vsan/`).
    pub version: Option<String>,
    /// `document` when the versions document gave it, else why the fallback was used
    /// (`missing`, `empty`, `malformed`, `namespace_absent`, `no_known_version`).
    pub source: &'static str,
}

/// The API versions negotiated at the last login.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiVersions {
    /// vim25 (`/sdk`).
    pub vim25: ApiVersion,
    /// vSAN management (`/vsanHealth`).
    pub vsan: ApiVersion,
}

/// Which API a call belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Api {
    Vim25,
    Vsan,
}

/// Why a vCenter call failed. Messages never contain credentials or session tokens.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// Transport failure (connect, reset, body read).
    #[error("http request failed")]
    Http(#[source] reqwest::Error),
    /// The TLS handshake failed: the certificate is not trusted (unknown CA, wrong name,
    /// expired) or the server does not speak TLS.
    #[error("tls handshake failed")]
    Tls(#[source] reqwest::Error),
    /// A non-SOAP error status.
    #[error("http status {status}")]
    Status {
        /// The status code.
        status: u16,
    },
    /// The response was not a usable SOAP answer, or a SOAP fault.
    #[error("bad response")]
    Soap(#[source] VsanError),
    /// The login response carried no session cookie.
    #[error("login response without session cookie")]
    NoSessionCookie,
    /// The CA file could not be read or parsed.
    #[error("cannot use ca file {path:?}")]
    CaFile {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The call took longer than its deadline.
    #[error("timed out")]
    Timeout,
    /// The inventory retrieval still had a `token` after this many pages (it was cancelled).
    #[error("inventory retrieval did not end within {pages} pages")]
    TooManyPages {
        /// Pages received.
        pages: u32,
    },
    /// `ContinueRetrievePropertiesEx` was refused (`InvalidArgument`): the server no longer
    /// knows the retrieval's token (it expired, or the server restarted).
    #[error("inventory retrieval token rejected after {pages} pages")]
    TokenRejected {
        /// Pages received before.
        pages: u32,
        /// The fault.
        #[source]
        source: VsanError,
    },
}

impl ClientError {
    /// A short stable reason for `vsan_exporter_fetch_errors_total{reason}`.
    pub fn reason(&self) -> &'static str {
        match self {
            ClientError::Http(e) if e.is_timeout() => "timeout",
            ClientError::Http(e) if e.is_connect() => "connect",
            ClientError::Http(_) => "connection",
            ClientError::Tls(_) => "tls",
            ClientError::Status { status: 429 } => "http_429",
            ClientError::Status { status } if *status >= 500 => "http_5xx",
            ClientError::Status { .. } => "http_status",
            ClientError::Soap(e) => e.reason(),
            ClientError::NoSessionCookie => "login",
            ClientError::CaFile { .. } => "tls_config",
            ClientError::Timeout => "timeout",
            ClientError::TooManyPages { .. } => "inventory_too_many_pages",
            ClientError::TokenRejected { .. } => "inventory_token_rejected",
        }
    }

    /// Classifies a transport error: a TLS failure anywhere in its chain is [`ClientError::Tls`].
    fn transport(e: reqwest::Error) -> ClientError {
        if is_tls_error(&e) {
            ClientError::Tls(e)
        } else {
            ClientError::Http(e)
        }
    }

    fn is_not_authenticated(&self) -> bool {
        matches!(
            self,
            ClientError::Soap(VsanError::Fault {
                kind: FaultKind::NotAuthenticated,
                ..
            })
        )
    }
}

/// True when a rustls error is somewhere in `e`'s source chain, also inside (nested)
/// `io::Error`s, whose `source()` skips the error they wrap.
fn is_tls_error(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if err.is::<rustls::Error>() {
            return true;
        }
        cur = match err
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => err.source(),
        };
    }
    false
}

/// Reads the CA certificates of a PEM file, each checked to be a parsable X.509 certificate.
fn load_ca_file(path: &std::path::Path) -> Result<Vec<reqwest::Certificate>, ClientError> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let fail = |source: Box<dyn std::error::Error + Send + Sync>| ClientError::CaFile {
        path: path.to_owned(),
        source,
    };
    let pem = std::fs::read(path).map_err(|e| fail(Box::new(e)))?;
    let ders = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| fail(Box::new(e)))?;
    if ders.is_empty() {
        return Err(fail("no pem certificate in file".into()));
    }
    let mut roots = rustls::RootCertStore::empty();
    let mut certs = Vec::with_capacity(ders.len());
    for der in ders {
        certs.push(reqwest::Certificate::from_der(&der).map_err(|e| fail(Box::new(e)))?);
        roots.add(der).map_err(|e| fail(Box::new(e)))?;
    }
    Ok(certs)
}

/// One cluster in the inventory.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ClusterInv {
    /// MoRef id.
    pub moref: String,
    /// Name.
    pub name: String,
    /// vSAN cluster UUID (None when vSAN is off).
    pub uuid: Option<String>,
    /// The cluster runs vSAN ESA (`configurationEx.vsanConfigInfo.vsanEsaEnabled`).
    pub esa: bool,
    /// Hosts of the cluster.
    pub hosts: Vec<HostInv>,
    /// VMs running on its hosts.
    pub vms: Vec<VmInv>,
}

/// One host.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HostInv {
    /// MoRef id.
    pub moref: String,
    /// Name.
    pub name: String,
    /// vSAN node UUID.
    pub node_uuid: Option<String>,
    /// vSAN disk UUIDs with `true` for cache disks.
    pub disks: Vec<(String, bool)>,
}

/// One VM.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct VmInv {
    /// Name.
    pub name: String,
    /// `config.instanceUuid`.
    pub instance_uuid: String,
}

struct Session {
    generation: u64,
    token: Secret,
}

/// A vCenter SOAP client shared by all collection tasks of one vCenter.
pub struct VcenterClient {
    http: reqwest::Client,
    base: String,
    credentials: Credentials,
    session: RwLock<Option<Session>>,
    generation: AtomicU64,
    login_lock: tokio::sync::Mutex<()>,
    logins: AtomicU64,
    paging: InventoryPaging,
    versions: RwLock<Option<ApiVersions>>,
}

impl std::fmt::Debug for VcenterClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VcenterClient")
            .field("base", &self.base)
            .field("user", &self.credentials.user)
            .field("logins", &self.logins())
            .finish_non_exhaustive()
    }
}

impl VcenterClient {
    /// Builds the client (no network traffic yet).
    ///
    /// # Errors
    /// [`ClientError::CaFile`] when the CA file cannot be read, is not PEM or holds no valid
    /// certificate; [`ClientError::Http`] when the TLS stack cannot be set up.
    pub fn new(opts: ClientOptions) -> Result<VcenterClient, ClientError> {
        let mut b = reqwest::Client::builder()
            .use_rustls_tls()
            .timeout(opts.request_timeout)
            .connect_timeout(opts.request_timeout.min(Duration::from_secs(10)))
            // Reused within a collection; an idle connection keeps its read buffer (up to
            // ~400 KiB after a large vSAN answer), so at most 4 stay, for 1 s.
            .pool_idle_timeout(Duration::from_secs(1))
            .pool_max_idle_per_host(4)
            .tcp_keepalive(Duration::from_secs(30))
            .user_agent(concat!("vsanobs-vsan-exporter/", env!("CARGO_PKG_VERSION")));
        if let Some(path) = &opts.ca_file {
            for cert in load_ca_file(path)? {
                b = b.add_root_certificate(cert);
            }
        }
        if opts.insecure {
            tracing::warn!(url = %opts.url, "TLS certificate verification is DISABLED for this vCenter (insecure mode): the connection can be intercepted");
            b = b.danger_accept_invalid_certs(true);
        }
        Ok(VcenterClient {
            http: b.build().map_err(ClientError::Http)?,
            base: opts.url.trim_end_matches('/').to_owned(),
            credentials: opts.credentials,
            session: RwLock::new(None),
            generation: AtomicU64::new(0),
            login_lock: tokio::sync::Mutex::new(()),
            logins: AtomicU64::new(0),
            paging: InventoryPaging {
                page_size: opts.paging.page_size.max(1),
                max_pages: opts.paging.max_pages.max(1),
            },
            versions: RwLock::new(None),
        })
    }

    /// Logins performed so far (the first one included).
    pub fn logins(&self) -> u64 {
        self.logins.load(Ordering::Relaxed)
    }

    /// The base URL.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// The API versions negotiated at the last login (None before the first).
    pub fn api_versions(&self) -> Option<ApiVersions> {
        self.versions.read().clone()
    }

    /// The `SOAPAction` of a call to `api`: its negotiated version (the fallback before any
    /// login).
    fn action(&self, api: Api) -> String {
        let versions = self.versions.read();
        match api {
            Api::Vim25 => soap_action(
                VIM25_NAMESPACE,
                versions
                    .as_ref()
                    .and_then(|v| v.vim25.version.as_deref())
                    .unwrap_or(FALLBACK_VIM25_VERSION),
            ),
            Api::Vsan => match versions.as_ref().and_then(|v| v.vsan.version.as_deref()) {
                Some(v) => soap_action(VSAN_NAMESPACE, v),
                None => VSAN_SOAP_ACTION.to_owned(),
            },
        }
    }

    /// GETs a service-versions document: its status and body.
    async fn versions_document(&self, path: &str) -> Result<(u16, String), ClientError> {
        let resp = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .map_err(ClientError::transport)?;
        let status = resp.status().as_u16();
        // A versions document is a few hundred bytes: read at most MAX_VERSIONS_DOCUMENT of
        // it. A longer one is cut there and reads as malformed.
        let mut resp = resp;
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(ClientError::Http)? {
            let room = MAX_VERSIONS_DOCUMENT - body.len();
            body.extend_from_slice(&chunk[..chunk.len().min(room)]);
            if body.len() >= MAX_VERSIONS_DOCUMENT {
                break;
            }
        }
        Ok((status, String::from_utf8_lossy(&body).into_owned()))
    }

    /// Reads both versions documents and picks the versions to use; a document that gives
    /// none is logged and replaced by the fallback.
    ///
    /// The vSAN fallback is an unversioned `SOAPAction` (`urn:vsan/`): govmomi's vSAN client
    /// (and with it telegraf's vSAN input) sends exactly that to every vCenter.
    async fn negotiate(&self) -> Result<ApiVersions, ClientError> {
        let pick = |path: &str,
                    status: u16,
                    body: &str,
                    namespace: &str,
                    known: &[&str],
                    fallback: Option<&str>| {
            match negotiate_document(status, body, namespace, known) {
                Ok(v) => ApiVersion {
                    version: Some(v),
                    source: "document",
                },
                Err(e) => {
                    tracing::warn!(url = %self.base, document = path, reason = e.reason(), error = %error_chain(&e), fallback = fallback.unwrap_or("unversioned"), "no API version from the service versions document: using the fallback");
                    ApiVersion {
                        version: fallback.map(str::to_owned),
                        source: e.reason(),
                    }
                }
            }
        };
        let (status, body) = self.versions_document(VIM_SERVICE_VERSIONS_PATH).await?;
        let vim25 = pick(
            VIM_SERVICE_VERSIONS_PATH,
            status,
            &body,
            VIM25_NAMESPACE,
            KNOWN_VIM25_VERSIONS,
            Some(FALLBACK_VIM25_VERSION),
        );
        let (status, body) = self.versions_document(VSAN_SERVICE_VERSIONS_PATH).await?;
        let vsan = pick(
            VSAN_SERVICE_VERSIONS_PATH,
            status,
            &body,
            VSAN_NAMESPACE,
            KNOWN_VSAN_VERSIONS,
            None,
        );
        Ok(ApiVersions { vim25, vsan })
    }

    async fn post(
        &self,
        path: &str,
        api: Api,
        envelope: String,
        token: Option<&Secret>,
    ) -> Result<String, ClientError> {
        let action = self.action(api);
        let mut req = self
            .http
            .post(format!("{}{path}", self.base))
            .header(reqwest::header::CONTENT_TYPE, "text/xml; charset=utf-8")
            .header("SOAPAction", action)
            .body(envelope);
        if let Some(t) = token {
            req = req.header(
                reqwest::header::COOKIE,
                format!("{SESSION_COOKIE}=\"{}\"", t.expose()),
            );
        }
        let resp = req.send().await.map_err(ClientError::transport)?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.map_err(ClientError::Http)?;
        match status {
            200 => Ok(text),
            500 => match Fault::decode(&text) {
                Some(f) => Err(ClientError::Soap(f.into())),
                None => Err(ClientError::Status { status }),
            },
            _ => {
                let _ = headers;
                Err(ClientError::Status { status })
            }
        }
    }

    async fn login_now(&self) -> Result<(), ClientError> {
        let versions = self.negotiate().await?;
        let changed = self.versions.read().as_ref() != Some(&versions);
        if changed {
            tracing::info!(url = %self.base, vim25 = versions.vim25.version.as_deref().unwrap_or("unversioned"), vim25_source = versions.vim25.source, vsan = versions.vsan.version.as_deref().unwrap_or("unversioned"), vsan_source = versions.vsan.source, "API versions negotiated");
        }
        *self.versions.write() = Some(versions);
        let body = Login::new(
            self.credentials.user.as_str(),
            self.credentials.password.expose(),
        )
        .encode();
        let resp = self
            .http
            .post(format!("{}{SDK_PATH}", self.base))
            .header(reqwest::header::CONTENT_TYPE, "text/xml; charset=utf-8")
            .header("SOAPAction", self.action(Api::Vim25))
            .body(body)
            .send()
            .await
            .map_err(ClientError::transport)?;
        let status = resp.status().as_u16();
        let cookie = resp
            .headers()
            .get_all(reqwest::header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|v| {
                let first = v.split(';').next()?.trim();
                let (k, val) = first.split_once('=')?;
                (k == SESSION_COOKIE).then(|| Secret::new(val.trim_matches('"')))
            });
        let text = resp.text().await.map_err(ClientError::Http)?;
        if status != 200 {
            return Err(match Fault::decode(&text) {
                Some(f) => ClientError::Soap(f.into()),
                None => ClientError::Status { status },
            });
        }
        UserSession::decode(&text).map_err(ClientError::Soap)?;
        let token = cookie.ok_or(ClientError::NoSessionCookie)?;
        let generation = self.generation.fetch_add(1, Ordering::AcqRel) + 1;
        *self.session.write() = Some(Session { generation, token });
        self.logins.fetch_add(1, Ordering::Relaxed);
        tracing::info!(url = %self.base, user = %self.credentials.user, "logged in to vCenter");
        Ok(())
    }

    /// Logs in unless a session newer than `seen` exists; concurrent callers share one login.
    async fn relogin(&self, seen: u64) -> Result<(), ClientError> {
        let _guard = self.login_lock.lock().await;
        if self.generation.load(Ordering::Acquire) != seen {
            return Ok(());
        }
        self.login_now().await
    }

    fn current(&self) -> Option<(u64, Secret)> {
        self.session
            .read()
            .as_ref()
            .map(|s| (s.generation, s.token.clone()))
    }

    /// Makes sure a session exists (logs in once if not).
    ///
    /// # Errors
    /// The login's error.
    pub async fn ensure_session(&self) -> Result<(), ClientError> {
        if self.current().is_none() {
            self.relogin(self.generation.load(Ordering::Acquire))
                .await?;
        }
        Ok(())
    }

    /// One authenticated call; on `NotAuthenticated`, one shared re-login and one retry.
    async fn call(&self, path: &str, api: Api, body: &str) -> Result<String, ClientError> {
        for attempt in 0..2 {
            let (generation, token) = match self.current() {
                Some(s) => s,
                None => {
                    self.relogin(self.generation.load(Ordering::Acquire))
                        .await?;
                    self.current().ok_or(ClientError::NoSessionCookie)?
                }
            };
            match self.post(path, api, body.to_owned(), Some(&token)).await {
                Err(e) if attempt == 0 && e.is_not_authenticated() => {
                    tracing::info!(url = %self.base, "vCenter session expired; logging in again");
                    self.relogin(generation).await?;
                }
                other => return other,
            }
        }
        Err(ClientError::Timeout)
    }

    /// vCenter's clock (`ServiceInstance.CurrentTime`), as Unix seconds.
    ///
    /// # Errors
    /// Transport, status or SOAP errors.
    pub async fn current_time(&self) -> Result<i64, ClientError> {
        let text = self
            .call(SDK_PATH, Api::Vim25, &CurrentTime.encode())
            .await?;
        CurrentTime::decode_response(&text).map_err(ClientError::Soap)
    }

    /// Clusters (with vSAN UUIDs), their hosts (node UUIDs, disks) and VMs, retrieved within
    /// `deadline` (checked between calls, so it can be overrun by one call, itself bounded by
    /// the request timeout). Whatever the retrieval ends with (an answer, an error or the deadline),
    /// the container view is destroyed and an unfinished retrieval cancelled, each call
    /// bounded by [`CLEANUP_TIMEOUT`], so a slow vCenter does not collect one leftover view
    /// and retrieval per cycle in the session.
    ///
    /// # Errors
    /// Transport, status or SOAP errors; [`ClientError::Timeout`] when `deadline` passed.
    pub async fn inventory(&self, deadline: Duration) -> Result<Vec<ClusterInv>, ClientError> {
        let until = tokio::time::Instant::now() + deadline;
        // The deadline is checked between calls, never in the middle of one (each is bounded
        // by the request timeout): a call cut off after the vCenter acted on it would leave a
        // view or a retrieval open that the client never heard of. The clean-up runs
        // whatever happened, on its own bound.
        let (sc, view) = self.open_view().await?;
        let mut query = RetrieveProperties::over_view(
            &sc.property_collector,
            &view,
            vec![
                PropertySpec::new("ClusterComputeResource", &["name", "configurationEx"]),
                PropertySpec::new("HostSystem", &["name", "parent", "config.vsanHostConfig"]),
                PropertySpec::new(
                    "VirtualMachine",
                    &["name", "config.instanceUuid", "runtime.host"],
                ),
            ],
        );
        query.max_objects = Some(self.paging.page_size);
        // The token of the page being followed: what to cancel when the deadline cuts the
        // retrieval off.
        let open = parking_lot::Mutex::new(None::<String>);
        let objects = self
            .retrieve_all(&sc.property_collector, &query, &open, until)
            .await;
        let cleanup = async {
            let token = open.lock().take();
            if let Some(token) = token {
                let cancel = CancelRetrieveProperties {
                    collector: sc.property_collector.clone(),
                    token,
                };
                self.cleanup_call("cancelling the retrieval", &cancel.encode())
                    .await;
            }
            self.cleanup_call("destroying the view", &DestroyView { view }.encode())
                .await;
        };
        // The clean-up runs outside the deadline (it is bounded on its own), so a retrieval
        // that took all the time still leaves nothing open on the vCenter.
        cleanup.await;
        Ok(build_inventory(objects?))
    }

    /// The service content and a container view over every cluster, host and VM.
    async fn open_view(&self) -> Result<(ServiceContent, String), ClientError> {
        let sc = self
            .post(SDK_PATH, Api::Vim25, RetrieveServiceContent.encode(), None)
            .await?;
        let sc = ServiceContent::decode(&sc).map_err(ClientError::Soap)?;
        let view = CreateContainerView {
            view_manager: sc.view_manager.clone(),
            container: sc.root_folder.clone(),
            types: vec![
                "ClusterComputeResource".into(),
                "HostSystem".into(),
                "VirtualMachine".into(),
            ],
            recursive: true,
        };
        let view_text = self.call(SDK_PATH, Api::Vim25, &view.encode()).await?;
        let view = CreateContainerView::decode_response(&view_text).map_err(ClientError::Soap)?;
        Ok((sc, view))
    }

    /// A best-effort clean-up call, bounded by [`CLEANUP_TIMEOUT`]; a failure is logged.
    async fn cleanup_call(&self, what: &str, body: &str) {
        match tokio::time::timeout(CLEANUP_TIMEOUT, self.call(SDK_PATH, Api::Vim25, body)).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                tracing::debug!(url = %self.base, error = %error_chain(&e), "{what} failed");
            }
            Err(_) => tracing::debug!(url = %self.base, "{what} timed out"),
        }
    }

    /// Every page of a `RetrievePropertiesEx`: follows `token`s with
    /// `ContinueRetrievePropertiesEx`, at most `max_pages` pages.
    /// `open` holds the token being followed (the caller cancels it when the retrieval is
    /// cut off or gives up).
    async fn retrieve_all(
        &self,
        collector: &str,
        query: &RetrieveProperties,
        open: &parking_lot::Mutex<Option<String>>,
        until: tokio::time::Instant,
    ) -> Result<Vec<InventoryObject>, ClientError> {
        let text = self.call(SDK_PATH, Api::Vim25, &query.encode()).await?;
        let mut page = RetrieveResult::decode(&text).map_err(ClientError::Soap)?;
        let mut objects = std::mem::take(&mut page.objects);
        let mut pages: u32 = 1;
        while let Some(token) = page.token.take() {
            *open.lock() = Some(token.clone());
            if pages >= self.paging.max_pages {
                // Left in `open`: the caller cancels it.
                return Err(ClientError::TooManyPages { pages });
            }
            if tokio::time::Instant::now() >= until {
                // Likewise.
                return Err(ClientError::Timeout);
            }
            let next = ContinueRetrieveProperties {
                collector: collector.to_owned(),
                token,
            };
            let text = match self.call(SDK_PATH, Api::Vim25, &next.encode()).await {
                Ok(t) => t,
                Err(ClientError::Soap(
                    source @ VsanError::Fault {
                        kind: FaultKind::InvalidArgument,
                        ..
                    },
                )) => {
                    // The vCenter no longer knows the token: nothing to cancel.
                    *open.lock() = None;
                    return Err(ClientError::TokenRejected { pages, source });
                }
                Err(e) => return Err(e),
            };
            page = RetrieveResult::decode(&text).map_err(ClientError::Soap)?;
            // The token was consumed; the page names the next one, if any.
            *open.lock() = None;
            objects.append(&mut page.objects);
            pages += 1;
        }
        tracing::debug!(url = %self.base, pages, objects = objects.len(), "inventory retrieved");
        Ok(objects)
    }

    /// `VsanPerfGetSupportedEntityTypes`: the ids of the entity types the vCenter's
    /// performance manager serves (for every cluster: the call takes none).
    ///
    /// # Errors
    /// Transport, status, SOAP faults or a malformed response.
    pub async fn supported_entity_types(&self) -> Result<Vec<String>, ClientError> {
        let text = self
            .call(
                VSAN_HEALTH_PATH,
                Api::Vsan,
                &SupportedEntityTypes::encode_request(),
            )
            .await?;
        let types = SupportedEntityTypes::decode(&text).map_err(ClientError::Soap)?;
        Ok(types.types.into_iter().map(|t| t.name).collect())
    }

    /// `VsanPerfQueryPerf` with one wildcard spec for `entity_type` over `(start, end]`.
    ///
    /// # Errors
    /// Transport, status, SOAP faults (`NotFound` when the performance service is off) or a
    /// malformed response.
    pub async fn query_perf(
        &self,
        cluster_moref: &str,
        entity_type: &str,
        start: i64,
        end: i64,
    ) -> Result<Vec<EntityMetricCsv>, ClientError> {
        self.query_perf_with(
            cluster_moref,
            entity_type,
            start,
            end,
            parse_query_perf_response,
        )
        .await
    }

    /// [`query_perf`](Self::query_perf) with the answer's body handed to `parse` (the
    /// exporter parses it as it stages it, without building the entity list first).
    ///
    /// # Errors
    /// As [`query_perf`](Self::query_perf); `parse` errors are [`ClientError::Soap`].
    pub async fn query_perf_with<T>(
        &self,
        cluster_moref: &str,
        entity_type: &str,
        start: i64,
        end: i64,
        parse: impl FnOnce(&str) -> Result<T, VsanError>,
    ) -> Result<T, ClientError> {
        let query = PerfQuery {
            cluster: Some(cluster_moref.to_owned()),
            specs: vec![PerfQuerySpec::wildcard(entity_type, start, end)],
        };
        let text = self
            .call(VSAN_HEALTH_PATH, Api::Vsan, &query.encode())
            .await?;
        parse(&text).map_err(ClientError::Soap)
    }

    /// `VsanQueryVcClusterHealthSummary` of a cluster: its overall health and its groups'
    /// and tests' states, from the vCenter's cache (`fetchFromCache`).
    ///
    /// # Errors
    /// Transport, status, SOAP faults or a malformed (or oversized) response.
    pub async fn health_summary(&self, cluster_moref: &str) -> Result<HealthSummary, ClientError> {
        let text = self
            .call(
                VSAN_HEALTH_PATH,
                Api::Vsan,
                &HealthSummaryQuery::cached(cluster_moref).encode(),
            )
            .await?;
        HealthSummary::decode(&text).map_err(ClientError::Soap)
    }

    /// `VsanQuerySpaceUsage` of a cluster.
    ///
    /// # Errors
    /// Transport, status, SOAP faults or a malformed (or oversized) response.
    pub async fn space_usage(&self, cluster_moref: &str) -> Result<SpaceUsage, ClientError> {
        let query = SpaceUsageQuery {
            cluster: cluster_moref.to_owned(),
        };
        let text = self
            .call(VSAN_HEALTH_PATH, Api::Vsan, &query.encode())
            .await?;
        SpaceUsage::decode(&text).map_err(ClientError::Soap)
    }

    /// `VsanQuerySyncingVsanObjects` of the cluster of host `host_moref` (`host-<n>`), asked
    /// of that host's `VsanSystemEx` with the summary and the first `limit` objects.
    ///
    /// # Errors
    /// Transport, status, SOAP faults (the host's own, when it is not responding), a
    /// malformed response, or a host MoRef not of the form `host-<n>`
    /// ([`VsanError::Unexpected`]).
    pub async fn syncing_objects(
        &self,
        host_moref: &str,
        limit: usize,
    ) -> Result<SyncingObjects, ClientError> {
        let system =
            vsan_system_ex(host_moref).ok_or(ClientError::Soap(VsanError::Unexpected {
                reason: "host MoRef is not host-<n>",
            }))?;
        let query = SyncingObjectsQuery::summary(&system, i64::try_from(limit).unwrap_or(i64::MAX));
        let text = self
            .call(VSAN_HEALTH_PATH, Api::Vsan, &query.encode())
            .await?;
        SyncingObjects::decode(&text, limit).map_err(ClientError::Soap)
    }

    /// Ends the session (best effort; nothing happens when there is none).
    pub async fn logout(&self) {
        let Some((_, token)) = self.current() else {
            return;
        };
        let res = self
            .post(SDK_PATH, Api::Vim25, Logout.encode(), Some(&token))
            .await;
        *self.session.write() = None;
        match res {
            Ok(_) => tracing::info!(url = %self.base, "logged out of vCenter"),
            Err(e) => tracing::warn!(url = %self.base, error = %e, "logout failed"),
        }
    }
}

/// Clusters with their hosts and VMs, from the objects of one `RetrievePropertiesEx`.
fn build_inventory(objects: Vec<InventoryObject>) -> Vec<ClusterInv> {
    let mut clusters: Vec<ClusterInv> = Vec::new();
    let mut hosts: Vec<(String, HostInv)> = Vec::new();
    let mut vms: Vec<(String, VmInv)> = Vec::new();
    for o in objects {
        match o {
            InventoryObject::Cluster(c) => clusters.push(ClusterInv {
                name: c.name.unwrap_or_else(|| c.moref.clone()),
                esa: c.vsan.as_ref().is_some_and(|v| v.enabled && v.esa),
                // A UUID left over in the config of a cluster whose vSAN is off names nothing.
                uuid: c.vsan.filter(|v| v.enabled).and_then(|v| v.uuid),
                moref: c.moref,
                ..ClusterInv::default()
            }),
            InventoryObject::Host(h) => {
                let mut node_uuid = None;
                let mut disks = Vec::new();
                if let Some(v) = h.vsan {
                    node_uuid = v.node_uuid;
                    for dm in v.disk_mappings {
                        if let Some(u) = dm.cache.vsan_uuid {
                            disks.push((u, true));
                        }
                        disks.extend(
                            dm.capacity
                                .into_iter()
                                .filter_map(|d| Some((d.vsan_uuid?, false))),
                        );
                    }
                }
                hosts.push((
                    h.parent.unwrap_or_default(),
                    HostInv {
                        name: h.name.unwrap_or_else(|| h.moref.clone()),
                        moref: h.moref,
                        node_uuid,
                        disks,
                    },
                ));
            }
            InventoryObject::Vm(v) => {
                if let Some(instance_uuid) = v.instance_uuid {
                    vms.push((
                        v.host.unwrap_or_default(),
                        VmInv {
                            name: v.name.unwrap_or_else(|| v.moref.clone()),
                            instance_uuid,
                        },
                    ));
                }
            }
            _ => {}
        }
    }
    let mut host_cluster: HashMap<String, usize> = HashMap::new();
    for (parent, h) in hosts {
        if let Some(i) = clusters.iter().position(|c| c.moref == parent) {
            host_cluster.insert(h.moref.clone(), i);
            clusters[i].hosts.push(h);
        }
    }
    for (host, vm) in vms {
        if let Some(&i) = host_cluster.get(&host) {
            clusters[i].vms.push(vm);
        }
    }
    clusters
}
