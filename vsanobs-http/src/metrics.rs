//! The route matrix: metric definitions, typed labels and the pre-bound series cache that the
//! tower and actix middleware record into.
//!
//! # Example
//!
//! ```
//! use vsanobs_core::{Format, Registry};
//! use vsanobs_http::{Method, RouteMetrics};
//!
//! let registry = Registry::new();
//! let metrics = RouteMetrics::builder().register(&registry)?;
//!
//! // What the middleware does for every request:
//! let tracker = metrics.start(Some("/users/{id}"), Method::Get);
//! tracker.finish(200);
//!
//! let text = registry.encode_to_string(Format::PrometheusText);
//! assert!(text.contains(
//!     "http_server_request_duration_seconds_count{method=\"GET\",route=\"/users/{id}\",status=\"200\"} 1\n"
//! ));
//! assert!(text.contains("http_server_active_requests{method=\"GET\",route=\"/users/{id}\"} 0\n"));
//! # Ok::<(), vsanobs_core::RegistryError>(())
//! ```
//!
//! ## Note
//! Each route template is interned once into a [`RouteMetrics`]-owned entry. Per route and
//! method the entry keeps the in-flight gauge and up to eight `(status, histogram)` slots,
//! filled on first use; after that a request costs two clock reads, an atomic add and
//! subtract on the gauge and one histogram observation, with no lock and no allocation. The
//! clock is the CPU's time-stamp counter where the Linux kernel itself keeps time by it (its
//! clocksource is `tsc`), else `std::time::Instant`; both are monotonic and ignore wall-clock
//! changes.
//! A ninth status on the same route and method falls back to the family's lock-free lookup.

use std::fmt;
use std::sync::{Arc, OnceLock};

use crate::clock::{Clock, Stamp};
use arc_swap::ArcSwap;
use parking_lot::Mutex;
use vsanobs_core::model::{MetricDesc, MetricKind};
use vsanobs_core::{
    DEFAULT_DURATION_BUCKETS, Family, Gauge, Histogram, LabelSet, LabelValue, OVERFLOW_LABEL_VALUE,
    Registry, RegistryError, TraceContext,
};

/// `http_server_request_duration_seconds{method,route,status}`.
pub const REQUEST_DURATION: MetricDesc = MetricDesc {
    name: "http_server_request_duration_seconds",
    kind: MetricKind::Histogram,
    help: "Duration of HTTP server requests, from the request until its response body ended or was dropped.",
    unit: Some("seconds"),
    labels: &["method", "route", "status"],
};

/// `http_server_active_requests{method,route}`.
pub const ACTIVE_REQUESTS: MetricDesc = MetricDesc {
    name: "http_server_active_requests",
    kind: MetricKind::Gauge,
    help: "HTTP server requests in flight (until their response body ended or was dropped).",
    unit: None,
    labels: &["method", "route"],
};

/// `http_server_request_body_size_bytes{method,route,status}` (optional).
pub const REQUEST_BODY_SIZE: MetricDesc = MetricDesc {
    name: "http_server_request_body_size_bytes",
    kind: MetricKind::Histogram,
    help: "Size of HTTP request bodies as announced by the request (Content-Length).",
    unit: Some("bytes"),
    labels: &["method", "route", "status"],
};

/// `http_server_response_body_size_bytes{method,route,status}` (optional).
pub const RESPONSE_BODY_SIZE: MetricDesc = MetricDesc {
    name: "http_server_response_body_size_bytes",
    kind: MetricKind::Histogram,
    help: "Bytes of HTTP response bodies actually sent.",
    unit: Some("bytes"),
    labels: &["method", "route", "status"],
};

/// Every family of the route matrix. With [`RouteMetricsBuilder::group`] the label
/// [`GROUP_LABEL`] is added in front of the labels listed here.
pub const ROUTE_METRICS: &[MetricDesc] = &[
    REQUEST_DURATION,
    ACTIVE_REQUESTS,
    REQUEST_BODY_SIZE,
    RESPONSE_BODY_SIZE,
];

/// Name of the optional router-group label.
pub const GROUP_LABEL: &str = "module";

/// The `route` value of requests that matched no route.
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// The status recorded for a request whose response future was dropped before it produced a
/// response (the client went away first), as nginx logs it.
pub const CLIENT_CLOSED_STATUS: u16 = 499;

/// Default bucket bounds of the body size histograms: 64 B to 64 MiB, factor 4.
pub const DEFAULT_SIZE_BUCKETS: [f64; 11] = [
    64.0, 256.0, 1024.0, 4096.0, 16384.0, 65536.0, 262144.0, 1048576.0, 4194304.0, 16777216.0,
    67108864.0,
];

/// An HTTP request method as a closed label value: the nine standard methods, everything
/// else `_OTHER` (so a client cannot create series by inventing methods).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Method {
    /// `GET`
    Get,
    /// `HEAD`
    Head,
    /// `POST`
    Post,
    /// `PUT`
    Put,
    /// `DELETE`
    Delete,
    /// `CONNECT`
    Connect,
    /// `OPTIONS`
    Options,
    /// `TRACE`
    Trace,
    /// `PATCH`
    Patch,
    /// Any other method.
    Other,
}

impl Method {
    /// All variants, in index order.
    pub const ALL: [Method; 10] = [
        Method::Get,
        Method::Head,
        Method::Post,
        Method::Put,
        Method::Delete,
        Method::Connect,
        Method::Options,
        Method::Trace,
        Method::Patch,
        Method::Other,
    ];

    /// Maps a method name; matching is exact (methods are case-sensitive).
    ///
    /// ```
    /// use vsanobs_http::Method;
    /// assert_eq!(Method::parse("PATCH"), Method::Patch);
    /// assert_eq!(Method::parse("get"), Method::Other);
    /// assert_eq!(Method::parse("PROPFIND").as_str(), "_OTHER");
    /// ```
    pub fn parse(s: &str) -> Method {
        match s {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "DELETE" => Method::Delete,
            "CONNECT" => Method::Connect,
            "OPTIONS" => Method::Options,
            "TRACE" => Method::Trace,
            "PATCH" => Method::Patch,
            _ => Method::Other,
        }
    }

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
            Method::Connect => "CONNECT",
            Method::Options => "OPTIONS",
            Method::Trace => "TRACE",
            Method::Patch => "PATCH",
            Method::Other => "_OTHER",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl LabelValue for Method {
    fn visit(&self, f: &mut dyn FnMut(&str)) {
        f(self.as_str())
    }
}

#[cfg(feature = "tower")]
#[cfg_attr(docsrs, doc(cfg(feature = "tower")))]
impl From<&http::Method> for Method {
    /// Compares against `http`'s standard methods (a tag compare each) rather than the name:
    /// `http` parses the nine standard names into those, so anything else is `_OTHER`, as
    /// [`Method::parse`] of its name.
    #[inline]
    fn from(m: &http::Method) -> Self {
        use http::Method as H;
        if *m == H::GET {
            Method::Get
        } else if *m == H::POST {
            Method::Post
        } else if *m == H::HEAD {
            Method::Head
        } else if *m == H::PUT {
            Method::Put
        } else if *m == H::DELETE {
            Method::Delete
        } else if *m == H::PATCH {
            Method::Patch
        } else if *m == H::OPTIONS {
            Method::Options
        } else if *m == H::CONNECT {
            Method::Connect
        } else if *m == H::TRACE {
            Method::Trace
        } else {
            Method::Other
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct RequestLabels {
    method: Method,
    route: Arc<str>,
    status: u16,
}
impl LabelSet for RequestLabels {
    const NAMES: &'static [&'static str] = &["method", "route", "status"];
    fn visit_values(&self, f: &mut dyn FnMut(&str)) {
        self.method.visit(f);
        f(&self.route);
        self.status.visit(f);
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct GroupedRequestLabels {
    module: Arc<str>,
    method: Method,
    route: Arc<str>,
    status: u16,
}
impl LabelSet for GroupedRequestLabels {
    const NAMES: &'static [&'static str] = &[GROUP_LABEL, "method", "route", "status"];
    fn visit_values(&self, f: &mut dyn FnMut(&str)) {
        f(&self.module);
        self.method.visit(f);
        f(&self.route);
        self.status.visit(f);
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct ActiveLabels {
    method: Method,
    route: Arc<str>,
}
impl LabelSet for ActiveLabels {
    const NAMES: &'static [&'static str] = &["method", "route"];
    fn visit_values(&self, f: &mut dyn FnMut(&str)) {
        self.method.visit(f);
        f(&self.route);
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct GroupedActiveLabels {
    module: Arc<str>,
    method: Method,
    route: Arc<str>,
}
impl LabelSet for GroupedActiveLabels {
    const NAMES: &'static [&'static str] = &[GROUP_LABEL, "method", "route"];
    fn visit_values(&self, f: &mut dyn FnMut(&str)) {
        f(&self.module);
        self.method.visit(f);
        f(&self.route);
    }
}

/// The registered families, with or without the group label.
enum Families {
    Plain {
        duration: Family<RequestLabels, Histogram>,
        active: Family<ActiveLabels, Gauge>,
        req_size: Option<Family<RequestLabels, Histogram>>,
        resp_size: Option<Family<RequestLabels, Histogram>>,
    },
    Grouped {
        duration: Family<GroupedRequestLabels, Histogram>,
        active: Family<GroupedActiveLabels, Gauge>,
        req_size: Option<Family<GroupedRequestLabels, Histogram>>,
        resp_size: Option<Family<GroupedRequestLabels, Histogram>>,
    },
}

/// The pre-bound handles of one `(route, method, status)`.
struct Series {
    status: u16,
    duration: Histogram,
    req_size: Option<Histogram>,
    resp_size: Option<Histogram>,
}

const STATUS_SLOTS: usize = 8;

#[derive(Default)]
struct MethodSlots {
    active: OnceLock<Gauge>,
    statuses: [OnceLock<Series>; STATUS_SLOTS],
}

/// One interned route template and its pre-bound series.
pub(crate) struct RouteEntry {
    route: Arc<str>,
    module: Arc<str>,
    families: Arc<Families>,
    /// An [excluded](RouteMetricsBuilder::exclude) template: requests record nothing.
    excluded: bool,
    /// The process's request clock, kept here so a request reaches it without another load.
    clock: Clock,
    methods: [MethodSlots; 10],
}

impl fmt::Debug for RouteEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RouteEntry")
            .field("route", &self.route)
            .field("module", &self.module)
            .field("excluded", &self.excluded)
            .finish_non_exhaustive()
    }
}

impl RouteEntry {
    fn new(route: Arc<str>, module: Arc<str>, families: Arc<Families>, excluded: bool) -> Self {
        RouteEntry {
            route,
            module,
            families,
            excluded,
            clock: Clock::get(),
            methods: Default::default(),
        }
    }

    #[cfg_attr(not(feature = "tower"), allow(dead_code))]
    pub(crate) fn route(&self) -> &str {
        &self.route
    }

    /// Whether requests of this route are left out of the matrix.
    #[cfg_attr(not(any(feature = "tower", feature = "actix")), allow(dead_code))]
    #[inline]
    pub(crate) fn is_excluded(&self) -> bool {
        self.excluded
    }

    #[inline]
    fn active(&self, method: Method) -> &Gauge {
        let slot = &self.methods[method.index()].active;
        if let Some(g) = slot.get() {
            return g;
        }
        self.bind_active(method)
    }

    #[cold]
    fn bind_active(&self, method: Method) -> &Gauge {
        self.methods[method.index()]
            .active
            .get_or_init(|| match &*self.families {
                Families::Plain { active, .. } => active.get_or_create(&ActiveLabels {
                    method,
                    route: self.route.clone(),
                }),
                Families::Grouped { active, .. } => active.get_or_create(&GroupedActiveLabels {
                    module: self.module.clone(),
                    method,
                    route: self.route.clone(),
                }),
            })
    }

    #[cold]
    fn resolve(&self, method: Method, status: u16) -> Series {
        fn get<L: LabelSet>(f: &Option<Family<L, Histogram>>, l: &L) -> Option<Histogram> {
            f.as_ref().map(|f| f.get_or_create(l))
        }
        match &*self.families {
            Families::Plain {
                duration,
                req_size,
                resp_size,
                ..
            } => {
                let l = RequestLabels {
                    method,
                    route: self.route.clone(),
                    status,
                };
                Series {
                    status,
                    duration: duration.get_or_create(&l),
                    req_size: get(req_size, &l),
                    resp_size: get(resp_size, &l),
                }
            }
            Families::Grouped {
                duration,
                req_size,
                resp_size,
                ..
            } => {
                let l = GroupedRequestLabels {
                    module: self.module.clone(),
                    method,
                    route: self.route.clone(),
                    status,
                };
                Series {
                    status,
                    duration: duration.get_or_create(&l),
                    req_size: get(req_size, &l),
                    resp_size: get(resp_size, &l),
                }
            }
        }
    }

    /// The series of `(method, status)`, bound to a free slot on first use; a status past
    /// the slots is resolved again each time.
    #[inline]
    fn series(&self, method: Method, status: u16) -> SeriesRef<'_> {
        for slot in &self.methods[method.index()].statuses {
            let s = match slot.get() {
                Some(s) => s,
                None => slot.get_or_init(|| self.resolve(method, status)),
            };
            if s.status == status {
                return SeriesRef::Bound(s);
            }
        }
        SeriesRef::Resolved(self.resolve(method, status))
    }
}

/// A series as [`RouteEntry::series`] finds it: bound in its slot, or resolved for this
/// request only.
enum SeriesRef<'a> {
    Bound(&'a Series),
    Resolved(Series),
}

impl std::ops::Deref for SeriesRef<'_> {
    type Target = Series;
    #[inline]
    fn deref(&self) -> &Series {
        match self {
            SeriesRef::Bound(s) => s,
            SeriesRef::Resolved(s) => s,
        }
    }
}

type RouteMap = std::collections::HashMap<Box<str>, Arc<RouteEntry>, foldhash::fast::RandomState>;

struct Inner {
    families: Arc<Families>,
    routes: ArcSwap<RouteMap>,
    routes_lock: Mutex<()>,
    route_cap: usize,
    unmatched: Arc<RouteEntry>,
    overflow: Arc<RouteEntry>,
    /// Returned for excluded templates once the route cap is reached.
    excluded: Arc<RouteEntry>,
    exclusions: Exclusions,
    groups: Vec<(String, Arc<str>)>,
    default_group: Arc<str>,
    exemplars: bool,
}

/// The route matrix of one service: registered families plus the interned route entries.
/// Cloning shares it; the tower layer and the actix transform are built from one.
#[derive(Clone)]
pub struct RouteMetrics {
    inner: Arc<Inner>,
}

impl fmt::Debug for RouteMetrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RouteMetrics")
            .field("routes", &self.inner.routes.load().len())
            .field("route_cap", &self.inner.route_cap)
            .field("grouped", &!self.inner.groups.is_empty())
            .field("excluded_routes", &self.inner.exclusions.exact)
            .field("excluded_prefixes", &self.inner.exclusions.prefixes)
            .field("exemplars", &self.inner.exemplars)
            .field("clock", &self.inner.unmatched.clock.name())
            .finish()
    }
}

/// Route templates left out of the matrix.
#[derive(Clone, Debug, Default)]
struct Exclusions {
    exact: Vec<String>,
    prefixes: Vec<String>,
}

impl Exclusions {
    fn matches(&self, template: &str) -> bool {
        self.exact.iter().any(|e| e == template)
            || self
                .prefixes
                .iter()
                .any(|p| template.starts_with(p.as_str()))
    }
}

/// Options of a [`RouteMetrics`]; finish with [`register`](Self::register).
#[derive(Clone, Debug)]
pub struct RouteMetricsBuilder {
    duration_buckets: Vec<f64>,
    size_buckets: Option<Vec<f64>>,
    series_cap: usize,
    route_cap: usize,
    exclusions: Exclusions,
    groups: Vec<(String, String)>,
    default_group: String,
    exemplars: bool,
    native: bool,
}

impl Default for RouteMetricsBuilder {
    fn default() -> Self {
        RouteMetricsBuilder {
            duration_buckets: DEFAULT_DURATION_BUCKETS.to_vec(),
            size_buckets: None,
            series_cap: 10_000,
            route_cap: 1_000,
            exclusions: Exclusions::default(),
            groups: Vec::new(),
            default_group: "other".to_owned(),
            exemplars: cfg!(feature = "exemplars"),
            native: false,
        }
    }
}

impl RouteMetricsBuilder {
    /// Bucket bounds of the duration histogram, in seconds (default: the OpenTelemetry HTTP
    /// semantic-convention buckets, [`DEFAULT_DURATION_BUCKETS`]).
    pub fn duration_buckets(mut self, bounds: impl IntoIterator<Item = f64>) -> Self {
        self.duration_buckets = bounds.into_iter().collect();
        self
    }

    /// Also export the request and response body size histograms, with
    /// [`DEFAULT_SIZE_BUCKETS`].
    pub fn body_sizes(mut self) -> Self {
        self.size_buckets = Some(DEFAULT_SIZE_BUCKETS.to_vec());
        self
    }

    /// Export the body size histograms with these bucket bounds (bytes).
    pub fn body_size_buckets(mut self, bounds: impl IntoIterator<Item = f64>) -> Self {
        self.size_buckets = Some(bounds.into_iter().collect());
        self
    }

    /// The series cap of each family (default 10,000). Past it new label sets land in the
    /// family's overflow series and `vsanobs_series_overflow_total` counts them.
    pub fn series_cap(mut self, cap: usize) -> Self {
        self.series_cap = cap;
        self
    }

    /// How many distinct route templates are interned (default 1,000). Templates past it are
    /// recorded with `route="__overflow__"`. Templates come from the router, so this only
    /// guards against a router with generated routes.
    pub fn route_cap(mut self, cap: usize) -> Self {
        self.route_cap = cap.max(1);
        self
    }

    /// Leaves requests of the route template `route` (exactly, e.g. `/health` or
    /// `/users/{id}`) out of the matrix: they create no series, and the middleware skips
    /// the clock reads, the in-flight gauge and the body accounting for them, so such a
    /// request costs one lookup of its template (none under axum once the route's service
    /// has seen it) and a branch. Templates are matched, not raw paths: requests that match
    /// no route are always recorded as [`UNMATCHED_ROUTE`].
    ///
    /// ```
    /// use vsanobs_core::{Format, Registry};
    /// use vsanobs_http::{Method, RouteMetrics};
    ///
    /// let registry = Registry::new();
    /// let metrics = RouteMetrics::builder()
    ///     .exclude("/health")
    ///     .exclude_prefix("/internal/")
    ///     .register(&registry)?;
    /// for route in ["/health", "/internal/debug/{what}", "/users/{id}", "/healthz"] {
    ///     metrics.start(Some(route), Method::Get).finish(200);
    /// }
    /// assert!(metrics.is_excluded(Some("/internal/pprof")));
    /// assert!(!metrics.is_excluded(None));
    /// let text = registry.encode_to_string(Format::PrometheusText);
    /// assert!(!text.contains("route=\"/health\"") && !text.contains("/internal/"), "{text}");
    /// assert!(text.contains("route=\"/users/{id}\",status=\"200\"} 1\n"), "{text}");
    /// assert!(text.contains("route=\"/healthz\",status=\"200\"} 1\n"), "{text}");
    /// # Ok::<(), vsanobs_core::RegistryError>(())
    /// ```
    pub fn exclude(mut self, route: impl Into<String>) -> Self {
        self.exclusions.exact.push(route.into());
        self
    }

    /// Leaves every route template that starts with `prefix` out of the matrix, as
    /// [`exclude`](Self::exclude) does for one template. The match is on the template's
    /// text: `/internal` also matches `/internals`; end the prefix with `/` to match only
    /// below it.
    pub fn exclude_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.exclusions.prefixes.push(prefix.into());
        self
    }

    /// Adds the `module` label: routes whose template starts with `prefix` get
    /// `module="<name>"` (the longest matching prefix wins), the rest the
    /// [default group](Self::default_group). Grouping is decided once per route template.
    pub fn group(mut self, prefix: impl Into<String>, name: impl Into<String>) -> Self {
        self.groups.push((prefix.into(), name.into()));
        self
    }

    /// The `module` value of routes no [`group`](Self::group) prefix matches, including
    /// unmatched requests (default `other`).
    pub fn default_group(mut self, name: impl Into<String>) -> Self {
        self.default_group = name.into();
        self
    }

    /// Whether the duration histogram keeps one exemplar per bucket (default: on when the
    /// `exemplars` feature is enabled). The middleware fills them from the current span; a
    /// request that carries a sampled trace keeps its context in one 24-byte allocation until
    /// it is recorded (the tracker itself stays small for the requests without one).
    pub fn exemplars(mut self, on: bool) -> Self {
        self.exemplars = on;
        self
    }

    /// Whether the duration histogram also keeps native buckets (default off): a
    /// [`NativeHistogram`](vsanobs_core::NativeHistogram) at schema 3 (at most 4.4% relative
    /// error, 160 buckets) beside the classic buckets, served to scrapers that ask for the
    /// protobuf format; text scrapes keep showing the classic buckets.
    ///
    /// ```
    /// use vsanobs_core::Registry;
    /// use vsanobs_http::{Method, RouteMetrics};
    ///
    /// let registry = Registry::new();
    /// let m = RouteMetrics::builder().native_histograms(true).register(&registry)?;
    /// let mut t = m.start(Some("/users/{id}"), Method::Get);
    /// t.set_status(200);
    /// drop(t);
    /// let fams = registry.gather();
    /// let d = fams.iter().find(|f| f.name == "http_server_request_duration_seconds").unwrap();
    /// assert!(matches!(d.samples[0].value, vsanobs_core::model::Value::NativeHistogram(_)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn native_histograms(mut self, on: bool) -> Self {
        self.native = on;
        self
    }

    /// Registers the families in `registry`.
    ///
    /// # Errors
    /// [`RegistryError`] when one of the names is already registered (or invalid under the
    /// registry's prefix).
    pub fn register(self, registry: &Registry) -> Result<RouteMetrics, RegistryError> {
        let cap = self.series_cap;
        let buckets = self.duration_buckets.clone();
        let exemplars = self.exemplars;
        let native = self.native;
        let dur_ctor = move || {
            let h = if exemplars {
                Histogram::with_exemplars(buckets.iter().copied())
            } else {
                Histogram::new(buckets.iter().copied())
            };
            if native {
                h.with_native(vsanobs_core::NativeHistogram::default())
            } else {
                h
            }
        };
        let size_ctor = |b: &Vec<f64>| {
            let b = b.clone();
            move || Histogram::new(b.iter().copied())
        };
        fn reg<R: vsanobs_core::registry::Registerable>(
            registry: &Registry,
            d: &MetricDesc,
            m: R,
        ) -> Result<(), RegistryError> {
            match d.unit {
                Some(u) => registry.register_with_unit(d.name, d.help, u, m),
                None => registry.register(d.name, d.help, m),
            }
        }
        let families = if self.groups.is_empty() {
            let duration = Family::with_constructor(cap, dur_ctor);
            let active = Family::with_cap(cap);
            let req_size = self
                .size_buckets
                .as_ref()
                .map(|b| Family::with_constructor(cap, size_ctor(b)));
            let resp_size = self
                .size_buckets
                .as_ref()
                .map(|b| Family::with_constructor(cap, size_ctor(b)));
            Families::Plain {
                duration,
                active,
                req_size,
                resp_size,
            }
        } else {
            let duration = Family::with_constructor(cap, dur_ctor);
            let active = Family::with_cap(cap);
            let req_size = self
                .size_buckets
                .as_ref()
                .map(|b| Family::with_constructor(cap, size_ctor(b)));
            let resp_size = self
                .size_buckets
                .as_ref()
                .map(|b| Family::with_constructor(cap, size_ctor(b)));
            Families::Grouped {
                duration,
                active,
                req_size,
                resp_size,
            }
        };
        // Register all or nothing.
        let mut done: Vec<&'static str> = Vec::new();
        let result = (|| {
            macro_rules! register_all {
                ($duration:expr, $active:expr, $req:expr, $resp:expr) => {{
                    reg(registry, &REQUEST_DURATION, $duration.clone())?;
                    done.push(REQUEST_DURATION.name);
                    reg(registry, &ACTIVE_REQUESTS, $active.clone())?;
                    done.push(ACTIVE_REQUESTS.name);
                    if let Some(f) = $req {
                        reg(registry, &REQUEST_BODY_SIZE, f.clone())?;
                        done.push(REQUEST_BODY_SIZE.name);
                    }
                    if let Some(f) = $resp {
                        reg(registry, &RESPONSE_BODY_SIZE, f.clone())?;
                        done.push(RESPONSE_BODY_SIZE.name);
                    }
                }};
            }
            match &families {
                Families::Plain {
                    duration,
                    active,
                    req_size,
                    resp_size,
                } => register_all!(duration, active, req_size, resp_size),
                Families::Grouped {
                    duration,
                    active,
                    req_size,
                    resp_size,
                } => register_all!(duration, active, req_size, resp_size),
            }
            Ok::<(), RegistryError>(())
        })();
        if let Err(e) = result {
            for name in done {
                let _ = registry.unregister(name);
            }
            return Err(e);
        }
        let families = Arc::new(families);
        let default_group: Arc<str> = Arc::from(self.default_group.as_str());
        let mut groups: Vec<(String, Arc<str>)> = self
            .groups
            .into_iter()
            .map(|(p, n)| (p, Arc::from(n.as_str())))
            .collect();
        // Longest prefix first.
        groups.sort_by_key(|g| std::cmp::Reverse(g.0.len()));
        let unmatched = Arc::new(RouteEntry::new(
            Arc::from(UNMATCHED_ROUTE),
            default_group.clone(),
            families.clone(),
            false,
        ));
        let overflow = Arc::new(RouteEntry::new(
            Arc::from(OVERFLOW_LABEL_VALUE),
            default_group.clone(),
            families.clone(),
            false,
        ));
        let excluded = Arc::new(RouteEntry::new(
            Arc::from("excluded"),
            default_group.clone(),
            families.clone(),
            true,
        ));
        Ok(RouteMetrics {
            inner: Arc::new(Inner {
                families,
                routes: ArcSwap::from_pointee(RouteMap::default()),
                routes_lock: Mutex::new(()),
                route_cap: self.route_cap,
                unmatched,
                overflow,
                excluded,
                exclusions: self.exclusions,
                groups,
                default_group,
                exemplars: self.exemplars,
            }),
        })
    }
}

impl RouteMetrics {
    /// A builder with the defaults of DESIGN.md: duration histogram with the OpenTelemetry
    /// buckets, in-flight gauge, no body sizes, no group label.
    pub fn builder() -> RouteMetricsBuilder {
        RouteMetricsBuilder::default()
    }

    /// Registers the default route matrix in `registry`.
    ///
    /// # Errors
    /// See [`RouteMetricsBuilder::register`].
    pub fn new(registry: &Registry) -> Result<Self, RegistryError> {
        Self::builder().register(registry)
    }

    /// Whether the duration histogram carries exemplars.
    pub fn exemplars_enabled(&self) -> bool {
        self.inner.exemplars
    }

    /// Whether request body sizes are recorded ([`RouteMetricsBuilder::body_sizes`]): the
    /// layers look for a request's size only then.
    #[inline]
    pub(crate) fn records_request_sizes(&self) -> bool {
        match &*self.inner.families {
            Families::Plain { req_size, .. } => req_size.is_some(),
            Families::Grouped { req_size, .. } => req_size.is_some(),
        }
    }

    /// The interned entry of a route template; `None` is the unmatched entry.
    #[inline]
    pub(crate) fn entry(&self, template: Option<&str>) -> Arc<RouteEntry> {
        let Some(t) = template else {
            return self.inner.unmatched.clone();
        };
        if let Some(e) = self.inner.routes.load().get(t) {
            return e.clone();
        }
        self.intern(t)
    }

    #[cold]
    fn intern(&self, t: &str) -> Arc<RouteEntry> {
        let inner = &*self.inner;
        let _g = inner.routes_lock.lock();
        let cur = inner.routes.load_full();
        if let Some(e) = cur.get(t) {
            return e.clone();
        }
        let excluded = inner.exclusions.matches(t);
        if cur.len() >= inner.route_cap {
            return if excluded {
                inner.excluded.clone()
            } else {
                inner.overflow.clone()
            };
        }
        let module = inner
            .groups
            .iter()
            .find(|(p, _)| t.starts_with(p.as_str()))
            .map(|(_, n)| n.clone())
            .unwrap_or_else(|| inner.default_group.clone());
        let e = Arc::new(RouteEntry::new(
            Arc::from(t),
            module,
            inner.families.clone(),
            excluded,
        ));
        let mut next = (*cur).clone();
        next.insert(Box::from(t), e.clone());
        inner.routes.store(Arc::new(next));
        e
    }

    /// Starts tracking one request: raises the in-flight gauge of `(route, method)`. The
    /// returned [`RequestTracker`] records the duration when it is
    /// [finished](RequestTracker::finish) or dropped. `route` is the router's template, `None`
    /// when no route matched. For an [excluded](RouteMetricsBuilder::exclude) route the
    /// tracker records nothing.
    pub fn start(&self, route: Option<&str>, method: Method) -> RequestTracker {
        RequestTracker::new(self.entry(route), method, self.inner.exemplars)
    }

    /// Whether requests of the route template `route` are left out of the matrix
    /// ([`RouteMetricsBuilder::exclude`], [`exclude_prefix`](RouteMetricsBuilder::exclude_prefix));
    /// `None` (no route matched) never is.
    pub fn is_excluded(&self, route: Option<&str>) -> bool {
        route.is_some_and(|r| self.inner.exclusions.matches(r))
    }
}

/// One request in flight. Dropping it records the request with the status set so far
/// ([`CLIENT_CLOSED_STATUS`] if none was set).
pub struct RequestTracker {
    entry: Arc<RouteEntry>,
    start: Stamp,
    /// The request body's size; [`NO_SIZE`] when unknown.
    request_size: u64,
    response_bytes: u64,
    /// Boxed so that the tracker, which every response future and body carries and moves,
    /// stays small when exemplars are off (the usual case): 48 bytes instead of 72.
    trace: Option<Box<TraceContext>>,
    status: u16,
    method: Method,
    done: bool,
}

/// [`RequestTracker::request_size`] when the size is unknown.
const NO_SIZE: u64 = u64::MAX;

impl fmt::Debug for RequestTracker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestTracker")
            .field("route", &self.entry.route)
            .field("method", &self.method)
            .field("status", &self.status)
            .field(
                "elapsed_seconds",
                &self.entry.clock.seconds_since(self.start),
            )
            .finish()
    }
}

impl RequestTracker {
    #[inline]
    pub(crate) fn new(entry: Arc<RouteEntry>, method: Method, exemplars: bool) -> Self {
        let excluded = entry.excluded;
        let start = if excluded {
            Stamp::UNREAD
        } else {
            entry.active(method).inc();
            entry.clock.now()
        };
        RequestTracker {
            trace: if exemplars && !excluded {
                crate::exemplar::current_trace().map(Box::new)
            } else {
                None
            },
            entry,
            method,
            status: CLIENT_CLOSED_STATUS,
            start,
            request_size: NO_SIZE,
            response_bytes: 0,
            // An excluded route's tracker is born done: it records nothing.
            done: excluded,
        }
    }

    /// Sets the status the request will be recorded with.
    #[inline]
    pub fn set_status(&mut self, status: u16) {
        self.status = status;
    }

    /// Sets the request body size (recorded when body sizes are enabled).
    #[inline]
    pub fn set_request_size(&mut self, bytes: u64) {
        self.request_size = bytes.min(NO_SIZE - 1);
    }

    /// Adds sent response body bytes.
    #[inline]
    pub fn add_response_bytes(&mut self, bytes: u64) {
        self.response_bytes = self.response_bytes.saturating_add(bytes);
    }

    /// Sets the exemplar trace context (overrides the one taken from the current span).
    pub fn set_trace(&mut self, ctx: TraceContext) {
        self.trace = Some(Box::new(ctx));
    }

    /// The route label this request is recorded under.
    pub fn route(&self) -> &str {
        &self.entry.route
    }

    /// Records the request with `status` now.
    pub fn finish(mut self, status: u16) {
        self.status = status;
        self.record();
    }

    #[inline]
    fn record(&mut self) {
        if self.done {
            return;
        }
        self.done = true;
        let entry = &*self.entry;
        let secs = entry.clock.seconds_since(self.start);
        entry.active(self.method).dec();
        let s = entry.series(self.method, self.status);
        match &self.trace {
            Some(ctx) => s.duration.observe_with_exemplar(secs, ctx),
            None => s.duration.observe(secs),
        }
        if let Some(h) = &s.req_size {
            if self.request_size != NO_SIZE {
                h.observe(self.request_size as f64);
            }
        }
        if let Some(h) = &s.resp_size {
            h.observe(self.response_bytes as f64);
        }
    }
}

impl Drop for RequestTracker {
    fn drop(&mut self) {
        self.record();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vsanobs_core::Format;

    /// Every response future and body carries a tracker and moves it a few times per request,
    /// so its size is part of the layer's cost.
    #[test]
    fn a_tracker_fits_in_48_bytes() {
        assert!(
            std::mem::size_of::<RequestTracker>() <= 48,
            "{}",
            std::mem::size_of::<RequestTracker>()
        );
        assert_eq!(
            std::mem::size_of::<Option<RequestTracker>>(),
            std::mem::size_of::<RequestTracker>()
        );
    }

    #[test]
    fn statuses_beyond_the_slots_still_count() {
        let r = Registry::new();
        let m = RouteMetrics::new(&r).unwrap();
        for status in 200..220u16 {
            m.start(Some("/a"), Method::Get).finish(status);
            m.start(Some("/a"), Method::Get).finish(status);
        }
        let text = r.encode_to_string(Format::PrometheusText);
        for status in 200..220u16 {
            let line = format!(
                "http_server_request_duration_seconds_count{{method=\"GET\",route=\"/a\",status=\"{status}\"}} 2\n"
            );
            assert!(text.contains(&line), "missing {line} in {text}");
        }
    }

    #[cfg(feature = "tower")]
    #[test]
    fn http_methods_map_as_their_names_parse() {
        for name in [
            "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
            "QUERY", "PROPFIND", "get", "BREW",
        ] {
            let m = http::Method::from_bytes(name.as_bytes()).unwrap();
            assert_eq!(Method::from(&m), Method::parse(name), "{name}");
        }
    }

    #[test]
    fn dropped_tracker_records_client_closed() {
        let r = Registry::new();
        let m = RouteMetrics::new(&r).unwrap();
        let t = m.start(None, Method::parse("BREW"));
        drop(t);
        let text = r.encode_to_string(Format::PrometheusText);
        assert!(text.contains(
            "http_server_request_duration_seconds_count{method=\"_OTHER\",route=\"unmatched\",status=\"499\"} 1\n"
        ));
        assert!(
            text.contains("http_server_active_requests{method=\"_OTHER\",route=\"unmatched\"} 0\n")
        );
    }

    #[test]
    fn groups_pick_the_longest_prefix_and_sizes_are_recorded() {
        let r = Registry::new();
        let m = RouteMetrics::builder()
            .group("/api", "api")
            .group("/api/admin", "admin")
            .body_sizes()
            .register(&r)
            .unwrap();
        let mut t = m.start(Some("/api/admin/users"), Method::Post);
        t.set_request_size(100);
        t.add_response_bytes(300);
        t.finish(201);
        m.start(Some("/api/items"), Method::Get).finish(200);
        m.start(Some("/health"), Method::Get).finish(200);
        let text = r.encode_to_string(Format::PrometheusText);
        assert!(text.contains("http_server_request_duration_seconds_count{module=\"admin\",method=\"POST\",route=\"/api/admin/users\",status=\"201\"} 1\n"), "{text}");
        assert!(text.contains("http_server_request_duration_seconds_count{module=\"api\",method=\"GET\",route=\"/api/items\",status=\"200\"} 1\n"));
        assert!(text.contains("http_server_request_duration_seconds_count{module=\"other\",method=\"GET\",route=\"/health\",status=\"200\"} 1\n"));
        assert!(text.contains("http_server_request_body_size_bytes_sum{module=\"admin\",method=\"POST\",route=\"/api/admin/users\",status=\"201\"} 100"), "{text}");
        assert!(text.contains("http_server_response_body_size_bytes_sum{module=\"admin\",method=\"POST\",route=\"/api/admin/users\",status=\"201\"} 300"), "{text}");
    }

    #[test]
    fn route_cap_sends_new_templates_to_overflow() {
        let r = Registry::new();
        let m = RouteMetrics::builder().route_cap(2).register(&r).unwrap();
        for route in ["/a", "/b", "/c", "/d"] {
            m.start(Some(route), Method::Get).finish(200);
        }
        let text = r.encode_to_string(Format::PrometheusText);
        assert!(
            text.contains("route=\"__overflow__\",status=\"200\"} 2\n"),
            "{text}"
        );
    }

    #[test]
    fn excluded_routes_stay_out_past_the_route_cap() {
        let r = Registry::new();
        let m = RouteMetrics::builder()
            .route_cap(1)
            .exclude("/health")
            .exclude_prefix("/internal")
            .register(&r)
            .unwrap();
        for route in ["/a", "/b", "/health", "/internal/x"] {
            let mut t = m.start(Some(route), Method::Get);
            t.set_request_size(10);
            t.finish(200);
        }
        // A dropped tracker of an excluded route records no 499 either.
        drop(m.start(Some("/health"), Method::Post));
        assert!(m.is_excluded(Some("/internals")));
        assert!(!m.is_excluded(Some("/healthz")));
        let text = r.encode_to_string(Format::PrometheusText);
        assert!(text.contains("route=\"/a\",status=\"200\"} 1\n"), "{text}");
        // /b overflows; the excluded routes do not.
        assert!(
            text.contains("route=\"__overflow__\",status=\"200\"} 1\n"),
            "{text}"
        );
        assert!(
            !text.contains("health") && !text.contains("internal"),
            "{text}"
        );
        assert!(!text.contains("excluded"), "{text}");
    }

    #[test]
    fn registering_twice_fails_without_leaving_half_a_matrix() {
        let r = Registry::new();
        r.register(
            "http_server_active_requests",
            "taken",
            vsanobs_core::Gauge::default(),
        )
        .unwrap();
        assert!(RouteMetrics::new(&r).is_err());
        // The duration family registered before the failure was rolled back.
        assert!(
            !r.encode_to_string(Format::PrometheusText)
                .contains("http_server_request_duration_seconds")
        );
    }
}
