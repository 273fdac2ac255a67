//! The /metrics endpoint: content negotiation, gzip, `name[]` selection, a limit on
//! concurrent scrapes, a timeout, basic auth and its own handler metrics, independent of the
//! web framework (the `tower`, `axum` and `actix` features adapt it).
//!
//! # Example
//!
//! ```
//! use vsanobs_core::Registry;
//! use vsanobs_http::{MetricsEndpoint, ScrapeRequest};
//!
//! // Without `_created` samples, so the body below is exact.
//! let registry = Registry::builder().created_timestamps(false).build()?;
//! registry.counter("jobs_total", "Jobs done.")?.inc();
//! let endpoint = MetricsEndpoint::new(registry);
//!
//! let resp = endpoint.render(&ScrapeRequest {
//!     accept: Some("application/openmetrics-text;version=1.0.0".into()),
//!     query: Some("name[]=jobs_total".into()),
//!     ..ScrapeRequest::default()
//! });
//! assert_eq!(resp.status, 200);
//! assert_eq!(
//!     resp.header("content-type"),
//!     Some("application/openmetrics-text; version=1.0.0; charset=utf-8")
//! );
//! assert_eq!(
//!     String::from_utf8(resp.body).unwrap(),
//!     "# TYPE jobs counter\n# HELP jobs Jobs done.\njobs_total 1\n# EOF\n"
//! );
//! # Ok::<(), vsanobs_core::RegistryError>(())
//! ```
//!
//! ## Note
//! The async adapters stream the answer: encoding runs on tokio's blocking pool and hands
//! over 64 KiB chunks (gzipped as they go when the client allows) through a small bounded
//! channel, so the exposition is never held whole; the most a scrape holds is one
//! collector's output. The status is decided when the first chunk is ready: a scrape whose
//! first chunk is not ready within the [timeout](MetricsEndpoint::timeout) gets 503; one that
//! is already streaming when the timeout passes ends with a body error (the client sees a
//! failed transfer, never a silently cut exposition). A slow collector never stalls the
//! server's worker threads, and a scrape that times out keeps its slot of the concurrency
//! limit until its collectors return, so stuck collectors cannot pile up.
//! [`render`](MetricsEndpoint::render) (synchronous) returns the whole body at once.

use std::fmt;
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

#[cfg(feature = "basic-auth")]
use base64::Engine;
#[cfg(feature = "gzip")]
use flate2::Compression;
#[cfg(feature = "gzip")]
use flate2::write::GzEncoder;
use vsanobs_core::model::{MetricDesc, MetricKind};
use vsanobs_core::{Counter, Family, Gauge, LabelSet, Registry, negotiate};

/// `vsanobs_metric_handler_requests_total{code}`: scrapes served, by HTTP status.
pub const HANDLER_REQUESTS: MetricDesc = MetricDesc {
    name: "vsanobs_metric_handler_requests_total",
    kind: MetricKind::Counter,
    help: "Total number of scrapes by HTTP status code.",
    unit: None,
    labels: &["code"],
};

/// `vsanobs_metric_handler_requests_in_flight`: scrapes being served.
pub const HANDLER_IN_FLIGHT: MetricDesc = MetricDesc {
    name: "vsanobs_metric_handler_requests_in_flight",
    kind: MetricKind::Gauge,
    help: "Current number of scrapes being served.",
    unit: None,
    labels: &[],
};

/// The endpoint's own families.
pub const ENDPOINT_METRICS: &[MetricDesc] = &[HANDLER_REQUESTS, HANDLER_IN_FLIGHT];

/// Why an endpoint option was rejected.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EndpointError {
    /// The basic-auth password hash is not a bcrypt hash.
    #[cfg(feature = "basic-auth")]
    #[cfg_attr(docsrs, doc(cfg(feature = "basic-auth")))]
    #[error("invalid bcrypt hash for basic-auth user {user:?}")]
    InvalidHash {
        /// The user the hash was given for.
        user: String,
        /// What bcrypt said.
        #[source]
        source: bcrypt::BcryptError,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct CodeLabels {
    code: u16,
}
impl LabelSet for CodeLabels {
    const NAMES: &'static [&'static str] = &["code"];
    fn visit_values(&self, f: &mut dyn FnMut(&str)) {
        vsanobs_core::LabelValue::visit(&self.code, f)
    }
}

/// The parts of an HTTP request the endpoint looks at.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScrapeRequest {
    /// Whether this is a `HEAD` request (headers only). Other methods than GET and HEAD are
    /// the adapters' business (they route only those two).
    pub head: bool,
    /// The `Accept` header.
    pub accept: Option<String>,
    /// The `Accept-Encoding` header.
    pub accept_encoding: Option<String>,
    /// The `Authorization` header.
    pub authorization: Option<String>,
    /// The query string, without `?`.
    pub query: Option<String>,
    /// The `X-Prometheus-Scrape-Timeout-Seconds` header: how long the scraper waits. The
    /// async adapters cap the [timeout](MetricsEndpoint::timeout) at it minus a
    /// [margin](MetricsEndpoint::scrape_timeout_margin); see
    /// [`MetricsEndpoint::effective_timeout`].
    pub scrape_timeout: Option<String>,
}

/// The header in which Prometheus sends its scrape timeout, in seconds.
pub const SCRAPE_TIMEOUT_HEADER: &str = "x-prometheus-scrape-timeout-seconds";

/// What the endpoint subtracts from the scraper's timeout by default: half a second, the
/// default `--timeout-offset` of Prometheus's blackbox and SNMP exporters, so the answer
/// (a 503 at worst) is written before Prometheus gives up on the scrape.
pub const DEFAULT_SCRAPE_TIMEOUT_MARGIN: Duration = Duration::from_millis(500);

/// The largest `X-Prometheus-Scrape-Timeout-Seconds` honoured (one day); larger values are
/// ignored, as no Prometheus waits that long.
pub const MAX_SCRAPE_TIMEOUT_SECONDS: f64 = 86_400.0;

/// Parses an `X-Prometheus-Scrape-Timeout-Seconds` value (`"10"`, `"0.5"`, `" 2.5 "`).
/// `None` for anything that is not a finite number of seconds above 0 and at most
/// [`MAX_SCRAPE_TIMEOUT_SECONDS`]: negative, zero, huge, non-numeric, `NaN` or infinite
/// values are ignored (the configured timeout applies), never a panic.
///
/// ```
/// use std::time::Duration;
/// use vsanobs_http::endpoint::parse_scrape_timeout;
/// assert_eq!(parse_scrape_timeout("10"), Some(Duration::from_secs(10)));
/// assert_eq!(parse_scrape_timeout(" 0.25 "), Some(Duration::from_millis(250)));
/// for bad in ["-1", "0", "1e400", "1e12", "NaN", "inf", "ten", "", "10s"] {
///     assert_eq!(parse_scrape_timeout(bad), None, "{bad}");
/// }
/// ```
pub fn parse_scrape_timeout(value: &str) -> Option<Duration> {
    let secs: f64 = value.trim().parse().ok()?;
    (secs.is_finite() && secs > 0.0 && secs <= MAX_SCRAPE_TIMEOUT_SECONDS)
        .then(|| Duration::from_secs_f64(secs))
}

/// The endpoint's answer, for an adapter to turn into its framework's response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScrapeResponse {
    /// HTTP status.
    pub status: u16,
    /// Response headers (lowercase names).
    pub headers: Vec<(&'static str, String)>,
    /// The body (gzipped when `content-encoding: gzip` is among the headers).
    pub body: Vec<u8>,
}

impl ScrapeResponse {
    /// The first value of header `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn plain(status: u16, msg: &str) -> Self {
        ScrapeResponse {
            status,
            headers: vec![("content-type", "text/plain; charset=utf-8".to_owned())],
            body: msg.as_bytes().to_vec(),
        }
    }
}

/// Basic-auth users (name, bcrypt hash) that a [`web_config::LiveWebConfig`] replaces
/// on reload; the endpoints it was applied to read them on every check.
///
/// [`web_config::LiveWebConfig`]: crate::web_config::LiveWebConfig
#[cfg(feature = "basic-auth")]
pub(crate) type LiveUsers = Arc<arc_swap::ArcSwap<Vec<(String, String)>>>;

#[cfg(feature = "basic-auth")]
#[derive(Clone)]
pub(crate) struct BasicAuth {
    /// (user, bcrypt hash), in the order given.
    pub(crate) users: Vec<(String, String)>,
    /// Users that follow a reloaded web config, checked before `users`.
    pub(crate) live: Option<LiveUsers>,
    pub(crate) checker: Arc<crate::auth::PasswordChecker>,
}

#[cfg(feature = "basic-auth")]
impl BasicAuth {
    fn new(checker: Arc<crate::auth::PasswordChecker>) -> Self {
        BasicAuth {
            users: Vec::new(),
            live: None,
            checker,
        }
    }

    /// The users in force now: the live ones, then those given to `basic_auth`. Without
    /// users of both kinds this copies nothing (a reference, or one `Arc` clone).
    fn current(&self) -> CurrentUsers<'_> {
        match &self.live {
            None => CurrentUsers::Fixed(&self.users),
            Some(live) if self.users.is_empty() => CurrentUsers::Live(live.load_full()),
            Some(live) => {
                let live = live.load();
                let mut all = Vec::with_capacity(live.len() + self.users.len());
                all.extend(live.iter().cloned());
                all.extend(self.users.iter().cloned());
                CurrentUsers::Merged(all)
            }
        }
    }
}

/// The users of one check (see [`BasicAuth::current`]).
#[cfg(feature = "basic-auth")]
enum CurrentUsers<'a> {
    Fixed(&'a [(String, String)]),
    Live(Arc<Vec<(String, String)>>),
    Merged(Vec<(String, String)>),
}

#[cfg(feature = "basic-auth")]
impl std::ops::Deref for CurrentUsers<'_> {
    type Target = [(String, String)];
    fn deref(&self) -> &Self::Target {
        match self {
            CurrentUsers::Fixed(u) => u,
            CurrentUsers::Live(u) => u,
            CurrentUsers::Merged(u) => u,
        }
    }
}

pub(crate) struct Inner {
    registry: Registry,
    max_in_flight: usize,
    pub(crate) timeout: Option<Duration>,
    timeout_margin: Duration,
    compression: bool,
    #[cfg(feature = "basic-auth")]
    auth: Option<BasicAuth>,
    in_flight: AtomicUsize,
    requests: Family<CodeLabels, Counter>,
    in_flight_gauge: Gauge,
}

/// A /metrics handler for a [`Registry`]. Cloning shares it (and its limits).
///
/// Defaults: at most 10 concurrent scrapes, a 30 s timeout (async adapters), gzip when the
/// client accepts it (feature `gzip`), no authentication.
#[derive(Clone)]
pub struct MetricsEndpoint {
    pub(crate) inner: Arc<Inner>,
}

impl fmt::Debug for MetricsEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("MetricsEndpoint");
        d.field("max_concurrent_scrapes", &self.inner.max_in_flight)
            .field("timeout", &self.inner.timeout)
            .field("scrape_timeout_margin", &self.inner.timeout_margin)
            .field("compression", &self.inner.compression);
        #[cfg(feature = "basic-auth")]
        d.field(
            "max_concurrent_password_checks",
            &self.inner.auth.as_ref().map(|a| a.checker.max()),
        );
        #[cfg(feature = "basic-auth")]
        d.field("basic_auth_users", &self.basic_auth_users());
        d.finish()
    }
}

/// Releases one concurrency slot when dropped.
pub(crate) struct Permit(Arc<Inner>);
impl Drop for Permit {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
        self.0.in_flight_gauge.dec();
    }
}

impl MetricsEndpoint {
    /// An endpoint serving `registry`. Its handler metrics
    /// ([`ENDPOINT_METRICS`]) are registered in the same registry; if they already are (a
    /// second endpoint on one registry), this endpoint keeps its own unregistered copies and
    /// a warning is logged.
    pub fn new(registry: Registry) -> Self {
        let requests: Family<CodeLabels, Counter> = Family::with_cap(64);
        let in_flight_gauge = Gauge::default();
        // Export the usual codes from the start so rate() sees the first failure.
        for code in [200, 503] {
            requests.get_or_create(&CodeLabels { code });
        }
        let r1 = registry.register(
            HANDLER_REQUESTS.name,
            HANDLER_REQUESTS.help,
            requests.clone(),
        );
        let r2 = registry.register(
            HANDLER_IN_FLIGHT.name,
            HANDLER_IN_FLIGHT.help,
            in_flight_gauge.clone(),
        );
        if let Err(e) = r1.and(r2) {
            tracing::warn!(error = %e, "metrics endpoint: handler metrics not registered");
        }
        MetricsEndpoint {
            inner: Arc::new(Inner {
                registry,
                max_in_flight: 10,
                timeout: Some(Duration::from_secs(30)),
                timeout_margin: DEFAULT_SCRAPE_TIMEOUT_MARGIN,
                compression: cfg!(feature = "gzip"),
                #[cfg(feature = "basic-auth")]
                auth: None,
                in_flight: AtomicUsize::new(0),
                requests,
                in_flight_gauge,
            }),
        }
    }

    fn edit(mut self, f: impl FnOnce(&mut Inner)) -> Self {
        match Arc::get_mut(&mut self.inner) {
            Some(inner) => f(inner),
            None => {
                let cur = &*self.inner;
                let mut inner = Inner {
                    registry: cur.registry.clone(),
                    max_in_flight: cur.max_in_flight,
                    timeout: cur.timeout,
                    timeout_margin: cur.timeout_margin,
                    compression: cur.compression,
                    #[cfg(feature = "basic-auth")]
                    auth: cur.auth.clone(),
                    in_flight: AtomicUsize::new(0),
                    requests: cur.requests.clone(),
                    in_flight_gauge: cur.in_flight_gauge.clone(),
                };
                f(&mut inner);
                self.inner = Arc::new(inner);
            }
        }
        self
    }

    /// At most `n` scrapes are served at once (at least 1); the next gets 503.
    pub fn max_concurrent_scrapes(self, n: usize) -> Self {
        self.edit(|i| i.max_in_flight = n.max(1))
    }

    /// Scrapes taking longer than `d` get 503 (async adapters only). `None` disables it.
    /// A scraper that sends its own timeout lowers it per scrape (see
    /// [`effective_timeout`](Self::effective_timeout)).
    pub fn timeout(self, d: Option<Duration>) -> Self {
        self.edit(|i| i.timeout = d)
    }

    /// What is subtracted from the scraper's `X-Prometheus-Scrape-Timeout-Seconds` (default
    /// [`DEFAULT_SCRAPE_TIMEOUT_MARGIN`], 0.5 s).
    pub fn scrape_timeout_margin(self, margin: Duration) -> Self {
        self.edit(|i| i.timeout_margin = margin)
    }

    /// The timeout the async adapters apply to `req`: the configured
    /// [timeout](Self::timeout), capped at the scraper's
    /// `X-Prometheus-Scrape-Timeout-Seconds` minus the
    /// [margin](Self::scrape_timeout_margin) (half the scraper's timeout when it is not
    /// above the margin), so the endpoint answers (503 at worst) before the scraper gives
    /// up and records a timeout of its own. A header that
    /// [does not parse](parse_scrape_timeout) is ignored. The header never raises the
    /// configured timeout; with no configured timeout it sets one.
    ///
    /// ```
    /// use std::time::Duration;
    /// use vsanobs_core::Registry;
    /// use vsanobs_http::{MetricsEndpoint, ScrapeRequest};
    ///
    /// let endpoint = MetricsEndpoint::new(Registry::new()).timeout(Some(Duration::from_secs(30)));
    /// let with = |h: &str| ScrapeRequest { scrape_timeout: Some(h.into()), ..ScrapeRequest::default() };
    /// let secs = |r: &ScrapeRequest| endpoint.effective_timeout(r).unwrap().as_secs_f64();
    /// assert_eq!(secs(&with("10")), 9.5);
    /// assert_eq!(secs(&with("60")), 30.0);
    /// assert_eq!(secs(&with("0.4")), 0.2);
    /// assert_eq!(secs(&with("-5")), 30.0);
    /// assert_eq!(secs(&with("NaN")), 30.0);
    /// assert_eq!(secs(&ScrapeRequest::default()), 30.0);
    /// ```
    pub fn effective_timeout(&self, req: &ScrapeRequest) -> Option<Duration> {
        let inner = &*self.inner;
        let Some(scraper) = req.scrape_timeout.as_deref().and_then(parse_scrape_timeout) else {
            return inner.timeout;
        };
        let capped = if scraper > inner.timeout_margin {
            scraper - inner.timeout_margin
        } else {
            scraper / 2
        };
        Some(inner.timeout.map_or(capped, |t| t.min(capped)))
    }

    /// Never gzip the response, whatever the client accepts. Without the `gzip` feature
    /// responses are never compressed anyway.
    pub fn disable_compression(self) -> Self {
        self.edit(|i| i.compression = false)
    }

    /// Requires HTTP basic auth, adding `user` with the password whose bcrypt hash is
    /// `bcrypt_hash` (as `htpasswd -B` or `bcrypt::hash` produce it) to the accepted users;
    /// call it once per user (a user given twice keeps the first hash). Wrong or missing
    /// credentials get 401 with `WWW-Authenticate`.
    ///
    /// CPU per attempt is bounded: user names are compared in constant time, an unknown user
    /// runs bcrypt like a wrong password, at most
    /// [`max_concurrent_password_checks`](Self::max_concurrent_password_checks) bcrypt
    /// verifications run at once (default 1: a flood of wrong passwords occupies one core;
    /// the other attempts wait), and a successful check is remembered for 5 minutes under a
    /// keyed SHA-256 digest of user, password and hash (never the password), so a scraper
    /// with the right credentials does not pay bcrypt on every scrape. Failures are not
    /// remembered.
    ///
    /// # Errors
    /// [`EndpointError::InvalidHash`] when `bcrypt_hash` is not a bcrypt hash.
    ///
    /// # Example
    ///
    /// ```
    /// use vsanobs_core::Registry;
    /// use vsanobs_http::{MetricsEndpoint, ScrapeRequest};
    ///
    /// let endpoint = MetricsEndpoint::new(Registry::new())
    ///     .basic_auth("prometheus", bcrypt::hash("s3cret", 4).unwrap())?
    ///     .basic_auth("grafana", bcrypt::hash("other", 4).unwrap())?;
    /// let scrape = |authorization: Option<&str>| {
    ///     endpoint.render(&ScrapeRequest {
    ///         authorization: authorization.map(str::to_owned),
    ///         ..ScrapeRequest::default()
    ///     })
    /// };
    /// // "prometheus:s3cret" and "grafana:s3cret" in base64.
    /// assert_eq!(scrape(Some("Basic cHJvbWV0aGV1czpzM2NyZXQ=")).status, 200);
    /// assert_eq!(scrape(Some("Basic Z3JhZmFuYTpzM2NyZXQ=")).status, 401);
    /// let missing = scrape(None);
    /// assert_eq!(missing.status, 401);
    /// assert!(missing.header("www-authenticate").unwrap().starts_with("Basic"));
    /// # Ok::<(), vsanobs_http::EndpointError>(())
    /// ```
    #[cfg(feature = "basic-auth")]
    #[cfg_attr(docsrs, doc(cfg(feature = "basic-auth")))]
    pub fn basic_auth(
        self,
        user: impl Into<String>,
        bcrypt_hash: impl Into<String>,
    ) -> Result<Self, EndpointError> {
        let user = user.into();
        let hash = bcrypt_hash.into();
        // Verifying any password checks the hash's format.
        if let Err(source) = bcrypt::verify("", &hash) {
            return Err(EndpointError::InvalidHash { user, source });
        }
        Ok(self.edit(|i| {
            let auth = i.auth.get_or_insert_with(|| {
                BasicAuth::new(Arc::new(crate::auth::PasswordChecker::new(
                    crate::auth::DEFAULT_MAX_CHECKS,
                )))
            });
            if !auth.users.iter().any(|(u, _)| *u == user) {
                auth.users.push((user, hash));
            }
        }))
    }

    /// At most `n` bcrypt verifications of basic-auth passwords run at once (at least 1;
    /// default 1); further attempts wait for a free slot on their blocking-pool thread,
    /// holding their scrape slot, so the [scrape limit](Self::max_concurrent_scrapes) bounds
    /// how many wait. Resets the cache of successful checks.
    #[cfg(feature = "basic-auth")]
    #[cfg_attr(docsrs, doc(cfg(feature = "basic-auth")))]
    pub fn max_concurrent_password_checks(self, n: usize) -> Self {
        self.edit(|i| {
            let checker = Arc::new(crate::auth::PasswordChecker::new(n));
            match &mut i.auth {
                Some(a) => a.checker = checker,
                None => i.auth = Some(BasicAuth::new(checker)),
            }
        })
    }

    /// Checks basic auth against `users` as they are at each request (a live web config
    /// replaces them on reload), before the users given to [`basic_auth`](Self::basic_auth).
    #[cfg(feature = "web-config")]
    pub(crate) fn follow_basic_auth_users(self, users: LiveUsers) -> Self {
        self.edit(|i| {
            let auth = i.auth.get_or_insert_with(|| {
                BasicAuth::new(Arc::new(crate::auth::PasswordChecker::new(
                    crate::auth::DEFAULT_MAX_CHECKS,
                )))
            });
            auth.live = Some(users);
        })
    }

    /// The basic-auth user names in force now, in the order checked: those of a
    /// [live web config](crate::web_config::LiveWebConfig::apply) first, then those given to
    /// [`basic_auth`](Self::basic_auth) (empty: no authentication).
    #[cfg(feature = "basic-auth")]
    #[cfg_attr(docsrs, doc(cfg(feature = "basic-auth")))]
    pub fn basic_auth_users(&self) -> Vec<String> {
        self.inner
            .auth
            .as_ref()
            .map(|a| a.current().iter().map(|(u, _)| u.clone()).collect())
            .unwrap_or_default()
    }

    /// The registry served.
    pub fn registry(&self) -> &Registry {
        &self.inner.registry
    }

    pub(crate) fn try_acquire(&self) -> Option<Permit> {
        let inner = &self.inner;
        let prev = inner.in_flight.fetch_add(1, Ordering::AcqRel);
        if prev >= inner.max_in_flight {
            inner.in_flight.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        inner.in_flight_gauge.inc();
        Some(Permit(inner.clone()))
    }

    fn count(&self, resp: ScrapeResponse) -> ScrapeResponse {
        self.count_status(resp.status);
        resp
    }

    /// Counts one scrape answered with `code`.
    pub(crate) fn count_status(&self, code: u16) {
        self.inner.requests.with(&CodeLabels { code }, |c| c.inc());
    }

    /// Serves one scrape synchronously (no timeout: use the async adapters for that).
    pub fn render(&self, req: &ScrapeRequest) -> ScrapeResponse {
        let Some(permit) = self.try_acquire() else {
            return self.count(too_many());
        };
        let resp = self.inner.serve(req);
        drop(permit);
        self.count(resp)
    }

    /// Serves one scrape and returns the whole answer: encoding runs on tokio's blocking
    /// pool, bounded by the [timeout](Self::timeout) and the
    /// [concurrency limit](Self::max_concurrent_scrapes). The adapters use
    /// [`handle_stream`](Self::handle_stream) instead, which never holds the whole body.
    /// Must be called within a tokio runtime (axum and actix-web run on one).
    #[cfg(any(feature = "tower", feature = "actix"))]
    #[cfg_attr(docsrs, doc(cfg(any(feature = "tower", feature = "actix"))))]
    pub async fn handle(&self, req: ScrapeRequest) -> ScrapeResponse {
        let s = self.start_stream(req).await;
        let mut body = s.body;
        let mut data = Vec::new();
        while let Some(chunk) = body.next_chunk().await {
            match chunk {
                Ok(c) => data.extend_from_slice(&c),
                Err(_) => {
                    return self.count(ScrapeResponse::plain(
                        503,
                        "Exceeded configured timeout while gathering metrics.\n",
                    ));
                }
            }
        }
        self.count(ScrapeResponse {
            status: s.status,
            headers: s.headers,
            body: data,
        })
    }
}

pub(crate) fn too_many() -> ScrapeResponse {
    ScrapeResponse::plain(
        503,
        "Limit of concurrent scrapes reached, try again later.\n",
    )
}

impl Inner {
    #[cfg(not(feature = "basic-auth"))]
    fn authorized(&self, _header: Option<&str>) -> bool {
        true
    }

    #[cfg(feature = "basic-auth")]
    fn authorized(&self, header: Option<&str>) -> bool {
        let Some(auth) = self.auth.as_ref() else {
            return true;
        };
        let users = auth.current();
        if users.is_empty() {
            return true;
        }
        let Some(h) = header else {
            return false;
        };
        let Some((scheme, b64)) = h.trim().split_once(' ') else {
            return false;
        };
        if !scheme.eq_ignore_ascii_case("basic") {
            return false;
        }
        let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(b64.trim()) else {
            return false;
        };
        let Ok(text) = std::str::from_utf8(&raw) else {
            return false;
        };
        let Some((user, pass)) = text.split_once(':') else {
            return false;
        };
        auth.checker.check(&users, user, pass)
    }

    /// Authorisation, negotiation and headers of a scrape: the 401 answer, or how to write
    /// the body.
    pub(crate) fn prepare(&self, req: &ScrapeRequest) -> Result<Prepared, ScrapeResponse> {
        if !self.authorized(req.authorization.as_deref()) {
            let mut r = ScrapeResponse::plain(401, "Unauthorized\n");
            r.headers.push((
                "www-authenticate",
                "Basic realm=\"metrics\", charset=\"UTF-8\"".to_owned(),
            ));
            return Err(r);
        }
        let format = negotiate(req.accept.as_deref());
        let names = req.query.as_deref().map(selected_names).unwrap_or_default();
        let mut headers = vec![("content-type", format.content_type().to_owned())];
        if self.compression {
            headers.push(("vary", "Accept-Encoding".to_owned()));
        }
        let gzip = self.compression && gzip_accepted(req.accept_encoding.as_deref());
        if gzip {
            headers.push(("content-encoding", "gzip".to_owned()));
        }
        Ok(Prepared {
            format,
            names,
            #[cfg(feature = "gzip")]
            gzip,
            headers,
        })
    }

    /// Writes the body `p` describes to `w` (gzipped if so negotiated).
    pub(crate) fn write_body(&self, p: &Prepared, w: &mut dyn Write) -> std::io::Result<()> {
        let keep = |n: &str| {
            p.names.is_empty()
                || p.names.iter().any(|s| {
                    s == n
                        || s.strip_prefix(n)
                            .is_some_and(|rest| rest == "_total" || rest == "_info")
                })
        };
        #[cfg(feature = "gzip")]
        if p.gzip {
            let mut gz = GzEncoder::new(w, Compression::fast());
            self.registry.write_filtered_to(p.format, &mut gz, &keep)?;
            return gz.finish()?.flush();
        }
        self.registry.write_filtered_to(p.format, w, &keep)
    }

    fn serve(&self, req: &ScrapeRequest) -> ScrapeResponse {
        let p = match self.prepare(req) {
            Ok(p) => p,
            Err(r) => return r,
        };
        let mut body = Vec::with_capacity(16 * 1024);
        if let Err(e) = self.write_body(&p, &mut body) {
            // Writing into a Vec cannot fail; gzip could only fail on its writer.
            tracing::error!(error = %e, "metrics endpoint: encoding failed");
            return ScrapeResponse::plain(500, "Gathering metrics failed.\n");
        }
        ScrapeResponse {
            status: 200,
            headers: p.headers,
            body: if req.head { Vec::new() } else { body },
        }
    }
}

/// How to write one scrape's body.
pub(crate) struct Prepared {
    format: vsanobs_core::Format,
    names: Vec<String>,
    #[cfg(feature = "gzip")]
    gzip: bool,
    pub(crate) headers: Vec<(&'static str, String)>,
}

/// Whether an `Accept-Encoding` header allows gzip (q-values honoured; `*` counts unless
/// gzip is listed explicitly).
pub fn gzip_accepted(header: Option<&str>) -> bool {
    let Some(h) = header else {
        return false;
    };
    let mut gzip: Option<f32> = None;
    let mut star: Option<f32> = None;
    for part in h.split(',') {
        let mut it = part.split(';');
        let coding = it.next().unwrap_or("").trim();
        let mut q = 1.0f32;
        for p in it {
            if let Some((k, v)) = p.split_once('=') {
                if k.trim().eq_ignore_ascii_case("q") {
                    q = v
                        .trim()
                        .parse::<f32>()
                        .ok()
                        .filter(|q| (0.0..=1.0).contains(q))
                        .unwrap_or(0.0);
                }
            }
        }
        if coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip") {
            gzip = Some(gzip.map_or(q, |g| g.max(q)));
        } else if coding == "*" {
            star = Some(q);
        }
    }
    match (gzip, star) {
        (Some(q), _) => q > 0.0,
        (None, Some(q)) => q > 0.0,
        (None, None) => false,
    }
}

/// The `name[]` values of a query string, percent-decoded.
fn selected_names(query: &str) -> Vec<String> {
    query
        .split('&')
        .filter_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            (percent_decode(k) == "name[]").then(|| percent_decode(v))
        })
        .filter(|v| !v.is_empty())
        .collect()
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = |c: u8| (c as char).to_digit(16);
                match (hex(b[i + 1]), hex(b[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 3;
                        continue;
                    }
                    _ => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_encoding_table() {
        for (h, want) in [
            (None, false),
            (Some(""), false),
            (Some("gzip"), true),
            (Some("GZIP"), true),
            (Some("deflate, gzip;q=0.5"), true),
            (Some("gzip;q=0"), false),
            (Some("*"), true),
            (Some("*;q=0"), false),
            (Some("gzip;q=0, *"), false),
            (Some("identity"), false),
            (Some("br, zstd"), false),
            (Some("gzip;q=bogus"), false),
        ] {
            assert_eq!(gzip_accepted(h), want, "{h:?}");
        }
    }

    #[test]
    fn names_are_decoded() {
        assert_eq!(
            selected_names("name%5B%5D=a_total&x=1&name[]=b%3Ac&name[]="),
            ["a_total", "b:c"]
        );
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
        assert_eq!(percent_decode("a%2"), "a%2");
    }
}
