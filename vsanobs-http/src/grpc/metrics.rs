//! The gRPC families of one side (server or client), the pre-bound series of each known
//! method, and the per-call record.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use vsanobs_core::model::{MetricDesc, MetricKind};
use vsanobs_core::{Counter, Family, Gauge, Histogram, LabelSet, Registry, RegistryError};

use super::code::{Code, GRPC_TIMEOUT, parse_grpc_timeout};
use super::frames::MessageCounter;
use super::methods::GrpcMethods;

/// Go's `prometheus.DefBuckets`, the buckets go-grpc-middleware's handling-time histograms
/// use by default.
pub const DEFAULT_HANDLING_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// A call cut short within this much (or a tenth of its timeout, if less) of its
/// `grpc-timeout` counts as `DeadlineExceeded` rather than `Canceled`.
pub const DEADLINE_SLACK: Duration = Duration::from_millis(10);

/// The `grpc_service` and `grpc_method` value of calls to methods that are not declared,
/// and the `grpc_type` value of those calls (their streaming is not known).
pub const UNKNOWN: &str = "unknown";

/// The `rpc.method` value OpenTelemetry's semantic conventions give calls to undeclared
/// methods.
pub const OTEL_OTHER_METHOD: &str = "_OTHER";

const CALL_LABELS: &[&str] = &["grpc_type", "grpc_service", "grpc_method"];
const HANDLED_LABELS: &[&str] = &["grpc_type", "grpc_service", "grpc_method", "grpc_code"];
const SEMCONV_LABELS: &[&str] = &["rpc_system_name", "rpc_method", "rpc_response_status_code"];

macro_rules! desc {
    ($(#[$m:meta])* $id:ident, $name:literal, $kind:ident, $help:literal, $unit:expr, $labels:expr) => {
        $(#[$m])*
        pub const $id: MetricDesc = MetricDesc {
            name: $name,
            kind: MetricKind::$kind,
            help: $help,
            unit: $unit,
            labels: $labels,
        };
    };
}

desc!(/// `grpc_server_started_total{grpc_type,grpc_service,grpc_method}`.
    SERVER_STARTED, "grpc_server_started_total", Counter,
    "Total number of RPCs started on the server.", None, CALL_LABELS);
desc!(/// `grpc_server_handled_total{grpc_type,grpc_service,grpc_method,grpc_code}`.
    SERVER_HANDLED, "grpc_server_handled_total", Counter,
    "Total number of RPCs completed on the server, regardless of success or failure.", None, HANDLED_LABELS);
desc!(/// `grpc_server_handling_seconds{grpc_type,grpc_service,grpc_method}`.
    SERVER_HANDLING, "grpc_server_handling_seconds", Histogram,
    "Histogram of response latency (seconds) of gRPC that had been application-level handled by the server.", Some("seconds"), CALL_LABELS);
desc!(/// `grpc_server_msg_received_total{grpc_type,grpc_service,grpc_method}`.
    SERVER_MSG_RECEIVED, "grpc_server_msg_received_total", Counter,
    "Total number of RPC stream messages received on the server.", None, CALL_LABELS);
desc!(/// `grpc_server_msg_sent_total{grpc_type,grpc_service,grpc_method}`.
    SERVER_MSG_SENT, "grpc_server_msg_sent_total", Counter,
    "Total number of gRPC stream messages sent by the server.", None, CALL_LABELS);
desc!(/// `grpc_server_active_calls{grpc_type,grpc_service,grpc_method}` (vsanobs's own; Go has no in-flight gauge).
    SERVER_ACTIVE, "grpc_server_active_calls", Gauge,
    "gRPC calls in flight on the server (until their response stream ended, failed or was dropped).", None, CALL_LABELS);
desc!(/// `rpc_server_call_duration_seconds{rpc_system_name,rpc_method,rpc_response_status_code}` (optional; OTLP: `rpc.server.call.duration`).
    SERVER_CALL_DURATION, "rpc_server_call_duration_seconds", Histogram,
    "Measures the duration of inbound remote procedure calls.", Some("seconds"), SEMCONV_LABELS);

desc!(/// `grpc_client_started_total{grpc_type,grpc_service,grpc_method}`.
    CLIENT_STARTED, "grpc_client_started_total", Counter,
    "Total number of RPCs started on the client.", None, CALL_LABELS);
desc!(/// `grpc_client_handled_total{grpc_type,grpc_service,grpc_method,grpc_code}`.
    CLIENT_HANDLED, "grpc_client_handled_total", Counter,
    "Total number of RPCs completed by the client, regardless of success or failure.", None, HANDLED_LABELS);
desc!(/// `grpc_client_handling_seconds{grpc_type,grpc_service,grpc_method}`.
    CLIENT_HANDLING, "grpc_client_handling_seconds", Histogram,
    "Histogram of response latency (seconds) of the gRPC until it is finished by the application.", Some("seconds"), CALL_LABELS);
desc!(/// `grpc_client_msg_received_total{grpc_type,grpc_service,grpc_method}`.
    CLIENT_MSG_RECEIVED, "grpc_client_msg_received_total", Counter,
    "Total number of RPC stream messages received by the client.", None, CALL_LABELS);
desc!(/// `grpc_client_msg_sent_total{grpc_type,grpc_service,grpc_method}`.
    CLIENT_MSG_SENT, "grpc_client_msg_sent_total", Counter,
    "Total number of gRPC stream messages sent by the client.", None, CALL_LABELS);
desc!(/// `grpc_client_active_calls{grpc_type,grpc_service,grpc_method}` (vsanobs's own; Go has no in-flight gauge).
    CLIENT_ACTIVE, "grpc_client_active_calls", Gauge,
    "gRPC calls in flight on the client (until their response stream ended, failed or was dropped).", None, CALL_LABELS);
desc!(/// `rpc_client_call_duration_seconds{rpc_system_name,rpc_method,rpc_response_status_code}` (optional; OTLP: `rpc.client.call.duration`).
    CLIENT_CALL_DURATION, "rpc_client_call_duration_seconds", Histogram,
    "Measures the duration of outbound remote procedure calls.", Some("seconds"), SEMCONV_LABELS);

/// Every gRPC server family (the last one only with
/// [`otel_semconv`](GrpcMetricsBuilder::otel_semconv)).
pub const GRPC_SERVER_METRICS: &[MetricDesc] = &[
    SERVER_STARTED,
    SERVER_HANDLED,
    SERVER_HANDLING,
    SERVER_MSG_RECEIVED,
    SERVER_MSG_SENT,
    SERVER_ACTIVE,
    SERVER_CALL_DURATION,
];

/// Every gRPC client family (the last one only with
/// [`otel_semconv`](GrpcMetricsBuilder::otel_semconv)).
pub const GRPC_CLIENT_METRICS: &[MetricDesc] = &[
    CLIENT_STARTED,
    CLIENT_HANDLED,
    CLIENT_HANDLING,
    CLIENT_MSG_RECEIVED,
    CLIENT_MSG_SENT,
    CLIENT_ACTIVE,
    CLIENT_CALL_DURATION,
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Side {
    Server,
    Client,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct CallLabels {
    kind: &'static str,
    service: Arc<str>,
    method: Arc<str>,
}
impl LabelSet for CallLabels {
    const NAMES: &'static [&'static str] = CALL_LABELS;
    fn visit_values(&self, f: &mut dyn FnMut(&str)) {
        f(self.kind);
        f(&self.service);
        f(&self.method);
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct HandledLabels {
    call: CallLabels,
    code: &'static str,
}
impl LabelSet for HandledLabels {
    const NAMES: &'static [&'static str] = HANDLED_LABELS;
    fn visit_values(&self, f: &mut dyn FnMut(&str)) {
        self.call.visit_values(f);
        f(self.code);
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct SemconvLabels {
    method: Arc<str>,
    code: &'static str,
}
impl LabelSet for SemconvLabels {
    const NAMES: &'static [&'static str] = SEMCONV_LABELS;
    fn visit_values(&self, f: &mut dyn FnMut(&str)) {
        f("grpc");
        f(&self.method);
        f(self.code);
    }
}

struct Families {
    started: Family<CallLabels, Counter>,
    handled: Family<HandledLabels, Counter>,
    handling: Family<CallLabels, Histogram>,
    received: Family<CallLabels, Counter>,
    sent: Family<CallLabels, Counter>,
    active: Family<CallLabels, Gauge>,
    semconv: Option<Family<SemconvLabels, Histogram>>,
}

/// The pre-bound series of one method.
pub(crate) struct MethodEntry {
    started: Counter,
    handled: [Counter; 17],
    handling: Histogram,
    received: Counter,
    sent: Counter,
    active: Gauge,
    /// `rpc.method` and the family, when the semantic-convention histogram is on; one
    /// histogram per code, bound on first use.
    semconv: Option<(Family<SemconvLabels, Histogram>, Arc<str>)>,
    semconv_by_code: [OnceLock<Histogram>; 17],
}

impl MethodEntry {
    fn new(f: &Families, kind: &'static str, service: &str, method: &str, otel: &str) -> Self {
        let call = CallLabels {
            kind,
            service: Arc::from(service),
            method: Arc::from(method),
        };
        let handled = Code::ALL.map(|c| {
            f.handled.get_or_create(&HandledLabels {
                call: call.clone(),
                code: c.as_str(),
            })
        });
        MethodEntry {
            started: f.started.get_or_create(&call),
            handled,
            handling: f.handling.get_or_create(&call),
            received: f.received.get_or_create(&call),
            sent: f.sent.get_or_create(&call),
            active: f.active.get_or_create(&call),
            semconv: f.semconv.clone().map(|fam| (fam, Arc::from(otel))),
            semconv_by_code: Default::default(),
        }
    }
}

/// Options of the gRPC metrics of one side; finish with [`server`](Self::server) or
/// [`client`](Self::client).
///
/// ```
/// use vsanobs_core::{Format, Registry};
/// use vsanobs_http::grpc::{GrpcMethods, GrpcServerLayer, GrpcType};
///
/// let registry = Registry::new();
/// let methods = GrpcMethods::new().method("demo.Echo", "Say", GrpcType::Unary)?;
/// let _layer = GrpcServerLayer::builder(methods)
///     .handling_buckets([0.001, 0.01, 0.1, 1.0])
///     .otel_semconv(true)
///     .server(&registry)?;
/// let text = registry.encode_to_string(Format::PrometheusText);
/// assert!(text.contains("grpc_server_handling_seconds_bucket{grpc_type=\"unary\",grpc_service=\"demo.Echo\",grpc_method=\"Say\",le=\"0.001\"} 0\n"));
/// // The OpenTelemetry histogram gets a series once a call ends with a code.
/// assert!(text.contains("# TYPE rpc_server_call_duration_seconds histogram"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct GrpcMetricsBuilder {
    methods: GrpcMethods,
    buckets: Vec<f64>,
    otel_semconv: bool,
}

impl GrpcMetricsBuilder {
    /// Options with the known `methods`, Go's default buckets and no semantic-convention
    /// histogram.
    pub fn new(methods: GrpcMethods) -> Self {
        GrpcMetricsBuilder {
            methods,
            buckets: DEFAULT_HANDLING_BUCKETS.to_vec(),
            otel_semconv: false,
        }
    }

    /// Bucket bounds of the handling-time histogram (and of the semantic-convention one).
    pub fn handling_buckets(mut self, bounds: impl IntoIterator<Item = f64>) -> Self {
        self.buckets = bounds.into_iter().collect();
        self
    }

    /// Also records OpenTelemetry's RPC call-duration histogram,
    /// `rpc_server_call_duration_seconds` / `rpc_client_call_duration_seconds` with
    /// `rpc_system_name="grpc"`, `rpc_method` (`package.Service/Method`, `_OTHER` for
    /// undeclared methods) and `rpc_response_status_code` (`OK`, `DEADLINE_EXCEEDED`, ...).
    /// The OTLP exporter sends it as `rpc.server.call.duration` / `rpc.client.call.duration`
    /// with the dotted attribute names. Off by default: it costs a second histogram observe
    /// per call.
    pub fn otel_semconv(mut self, on: bool) -> Self {
        self.otel_semconv = on;
        self
    }

    /// Registers the server families and returns the server layer.
    ///
    /// # Errors
    /// [`RegistryError`] when a name is already registered; nothing stays registered then.
    pub fn server(self, registry: &Registry) -> Result<super::GrpcServerLayer, RegistryError> {
        Ok(super::GrpcServerLayer {
            metrics: GrpcMetrics::register(self, registry, Side::Server)?,
        })
    }

    /// Registers the client families and returns the client layer.
    ///
    /// # Errors
    /// [`RegistryError`] when a name is already registered; nothing stays registered then.
    pub fn client(self, registry: &Registry) -> Result<super::GrpcClientLayer, RegistryError> {
        Ok(super::GrpcClientLayer {
            metrics: GrpcMetrics::register(self, registry, Side::Client)?,
        })
    }
}

type PathMap = HashMap<Box<str>, Arc<MethodEntry>, foldhash::fast::RandomState>;

/// The registered families of one side and the series of every declared method.
pub(crate) struct GrpcMetrics {
    side: Side,
    by_path: PathMap,
    families: Families,
    unknown: OnceLock<Arc<MethodEntry>>,
}

impl std::fmt::Debug for GrpcMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrpcMetrics")
            .field("side", &self.side)
            .field("methods", &self.by_path.len())
            .finish_non_exhaustive()
    }
}

impl GrpcMetrics {
    fn register(
        b: GrpcMetricsBuilder,
        registry: &Registry,
        side: Side,
    ) -> Result<Arc<Self>, RegistryError> {
        // 17 handled series per method, the unknown method included.
        let cap = (b.methods.len() + 1) * Code::ALL.len() + 16;
        let buckets = b.buckets;
        let hist = {
            let buckets = buckets.clone();
            move || Histogram::new(buckets.iter().copied())
        };
        let families = Families {
            started: Family::with_cap(cap),
            handled: Family::with_cap(cap),
            handling: Family::with_constructor(cap, hist.clone()),
            received: Family::with_cap(cap),
            sent: Family::with_cap(cap),
            active: Family::with_cap(cap),
            semconv: b.otel_semconv.then(|| Family::with_constructor(cap, hist)),
        };
        let descs = match side {
            Side::Server => GRPC_SERVER_METRICS,
            Side::Client => GRPC_CLIENT_METRICS,
        };
        let mut done: Vec<&'static str> = Vec::new();
        let result = (|| {
            fn reg<R: vsanobs_core::registry::Registerable>(
                registry: &Registry,
                d: &MetricDesc,
                m: R,
                done: &mut Vec<&'static str>,
            ) -> Result<(), RegistryError> {
                match d.unit {
                    Some(u) => registry.register_with_unit(d.name, d.help, u, m)?,
                    None => registry.register(d.name, d.help, m)?,
                }
                done.push(d.name);
                Ok(())
            }
            reg(registry, &descs[0], families.started.clone(), &mut done)?;
            reg(registry, &descs[1], families.handled.clone(), &mut done)?;
            reg(registry, &descs[2], families.handling.clone(), &mut done)?;
            reg(registry, &descs[3], families.received.clone(), &mut done)?;
            reg(registry, &descs[4], families.sent.clone(), &mut done)?;
            reg(registry, &descs[5], families.active.clone(), &mut done)?;
            if let Some(f) = &families.semconv {
                reg(registry, &descs[6], f.clone(), &mut done)?;
            }
            Ok::<(), RegistryError>(())
        })();
        if let Err(e) = result {
            for name in done {
                let _ = registry.unregister(name);
            }
            return Err(e);
        }
        let mut by_path = PathMap::default();
        for ((service, method), kind) in &b.methods.methods {
            let otel = format!("{service}/{method}");
            let entry = MethodEntry::new(&families, kind.as_str(), service, method, &otel);
            by_path.insert(format!("/{otel}").into_boxed_str(), Arc::new(entry));
        }
        Ok(Arc::new(GrpcMetrics {
            side,
            by_path,
            families,
            unknown: OnceLock::new(),
        }))
    }

    /// The entry of a request path `/package.Service/Method`; undeclared paths share one.
    #[inline]
    pub(crate) fn entry(&self, path: &str) -> &Arc<MethodEntry> {
        match self.by_path.get(path) {
            Some(e) => e,
            None => self.unknown.get_or_init(|| {
                Arc::new(MethodEntry::new(
                    &self.families,
                    UNKNOWN,
                    UNKNOWN,
                    UNKNOWN,
                    OTEL_OTHER_METHOD,
                ))
            }),
        }
    }

    /// Starts recording a call to `path` with the request's headers (for its deadline).
    #[inline]
    pub(crate) fn start(&self, path: &str, headers: &http::HeaderMap) -> Call {
        let entry = self.entry(path).clone();
        let deadline = headers
            .get(&GRPC_TIMEOUT)
            .and_then(|v| parse_grpc_timeout(v.as_bytes()));
        entry.started.inc();
        entry.active.inc();
        Call {
            entry,
            side: self.side,
            start: Instant::now(),
            deadline,
            end_seen: AtomicBool::new(false),
            frames: MessageCounter::default(),
            done: false,
        }
    }
}

/// One call in flight. Recorded once: when its response ends, fails, or when it is dropped
/// (then `Canceled`, or `DeadlineExceeded` past the request's `grpc-timeout`).
pub(crate) struct Call {
    entry: Arc<MethodEntry>,
    side: Side,
    start: Instant,
    deadline: Option<Duration>,
    /// The response body said it had ended (hyper may then drop it without polling).
    end_seen: AtomicBool,
    /// Messages of the response's direction.
    frames: MessageCounter,
    done: bool,
}

impl std::fmt::Debug for Call {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Call")
            .field("side", &self.side)
            .field("deadline", &self.deadline)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl Call {
    /// The counter of messages flowing in the request's direction.
    pub(crate) fn request_messages(&self) -> Counter {
        match self.side {
            Side::Server => self.entry.received.clone(),
            Side::Client => self.entry.sent.clone(),
        }
    }

    /// Counts `n` messages of the response's direction.
    #[inline]
    pub(crate) fn response_messages(&self, n: u64) {
        if n > 0 {
            match self.side {
                Side::Server => self.entry.sent.inc_by(n),
                Side::Client => self.entry.received.inc_by(n),
            }
        }
    }

    /// Feeds response bytes; returns the messages they completed.
    #[inline]
    pub(crate) fn frames_feed(&mut self, bytes: &[u8]) -> u64 {
        self.frames.feed(bytes)
    }

    #[inline]
    pub(crate) fn mark_end_seen(&self) {
        self.end_seen.store(true, Ordering::Relaxed);
    }

    /// Whether the deadline has passed, give or take [`DEADLINE_SLACK`]: the caller's clock
    /// started before this layer saw the request (by the time the request took to arrive),
    /// so its cancel can reach a server just before the server's own deadline passes.
    fn past_deadline(&self) -> bool {
        self.deadline.is_some_and(|d| {
            let slack = (d / 10).min(DEADLINE_SLACK);
            self.start.elapsed() + slack >= d
        })
    }

    /// The code of a call cut short: the caller went away, or its deadline passed.
    pub(crate) fn cut_short(&self) -> Code {
        if self.past_deadline() {
            Code::DeadlineExceeded
        } else {
            Code::Canceled
        }
    }

    /// The code a peer reported, as recorded: `Canceled` reported once the deadline has
    /// passed is `DeadlineExceeded` (a tonic server answers its own expired deadline with
    /// `Cancelled`; the caller's deadline is what ended the call).
    #[inline]
    pub(crate) fn reported(&self, code: Code) -> Code {
        if code == Code::Canceled && self.past_deadline() {
            Code::DeadlineExceeded
        } else {
            code
        }
    }

    /// The code of a call whose service or body failed: on a client a transport failure
    /// (`Unavailable`), on a server `Unknown`; past the deadline `DeadlineExceeded`.
    pub(crate) fn failed(&self) -> Code {
        if self.past_deadline() {
            Code::DeadlineExceeded
        } else {
            match self.side {
                Side::Server => Code::Unknown,
                Side::Client => Code::Unavailable,
            }
        }
    }

    /// Records the call with `code`; later calls do nothing.
    pub(crate) fn finish(&mut self, code: Code) {
        if self.done {
            return;
        }
        self.done = true;
        let e = &*self.entry;
        let secs = self.start.elapsed().as_secs_f64();
        e.handled[code.index()].inc();
        e.handling.observe(secs);
        e.active.dec();
        if let Some((fam, method)) = &e.semconv {
            e.semconv_by_code[code.index()]
                .get_or_init(|| {
                    fam.get_or_create(&SemconvLabels {
                        method: method.clone(),
                        code: code.as_otel_str(),
                    })
                })
                .observe(secs);
        }
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let code = if std::thread::panicking() {
            Code::Unknown
        } else if self.end_seen.load(Ordering::Relaxed) {
            // Ended without a status.
            Code::Unknown
        } else {
            self.cut_short()
        };
        self.finish(code);
    }
}
