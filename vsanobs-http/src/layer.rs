//! Tower middleware recording the route matrix, and the /metrics endpoint as a tower
//! `Service` (feature `tower`; `axum` enables it).
//!
//! # Example
//!
//! ```
//! use http::{Request, Response};
//! use tower::{Layer, Service, ServiceExt};
//! use vsanobs_core::{Format, Registry};
//! use vsanobs_http::{HttpMetricsLayer, RouteTemplate};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let registry = Registry::new();
//! let layer = HttpMetricsLayer::new(&registry)?;
//! let svc = layer.layer(tower::service_fn(|_req: Request<String>| async {
//!     Ok::<_, std::convert::Infallible>(Response::new(String::from("hi")))
//! }));
//!
//! // With axum the route comes from `MatchedPath`; a plain tower stack says it this way.
//! let mut req = Request::get("/users/7").body(String::new()).unwrap();
//! req.extensions_mut().insert(RouteTemplate("/users/{id}"));
//! let resp = svc.oneshot(req).await.unwrap();
//! drop(resp); // the request is recorded when its body ends or is dropped
//!
//! let text = registry.encode_to_string(Format::PrometheusText);
//! assert!(text.contains(
//!     "http_server_request_duration_seconds_count{method=\"GET\",route=\"/users/{id}\",status=\"200\"} 1\n"
//! ));
//! # Ok::<(), vsanobs_core::RegistryError>(())
//! # }).unwrap();
//! ```
//!
//! ## Note
//! Under axum there are two ways to apply the layer; both record the same series.
//! - `Router::layer(layer)`: axum inserts `MatchedPath` while routing, so a layer applied to
//!   the routes sees the template without being told the routes. Each route gets its own
//!   `HttpMetrics` whose first request binds the route entry, so later requests skip even the
//!   lookup of the template. axum charges every route layer, whatever it does, a second boxed
//!   service and future per request, and boxes the response body again (in the bench about
//!   880 and 130 instructions, 9 % and 1.4 % of a bare request).
//! - Around the whole router (feature `axum`), with the route templates given to
//!   [`HttpMetricsLayer::with_routes`]: `layer.around(router)`, served with
//!   `axum::serve(listener, app.into_make_service())`. The layer matches each path against the templates
//!   as axum 0.8 routes (a segment trie checked against matchit, axum's matcher, by a property
//!   test), so it finds the template `MatchedPath` would hold. It pays no second service and
//!   future per request, only the body's second box, since `axum::serve` takes nothing but
//!   axum's `Body` (in the bench 9.3 % of a bare request by instruction count, all recording
//!   included; see docs/benchmarks.md). A path that matches none of the templates is
//!   recorded as `unmatched`, so the list must hold every route of the router (nested routes
//!   with their full path, as `MatchedPath` shows them). This is the cheaper way; prefer
//!   `Router::layer` when the route list is not known in one place.
//!
//! A panic in the inner service is recorded as a 500 and then resumed; put
//! `tower_http::catch_panic::CatchPanicLayer` outside to turn it into a 500 response.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use http::{Request, Response};
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use vsanobs_core::{Registry, RegistryError};

use crate::endpoint::{MetricsEndpoint, ScrapeRequest};
use crate::metrics::{Method, RequestTracker, RouteEntry, RouteMetrics};
use crate::stream::{ScrapeBody, ScrapeStream};

/// A request extension naming the route template, for tower stacks without axum's
/// `MatchedPath` (insert it in a routing layer inside the metrics layer, or before it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RouteTemplate(pub &'static str);

/// A tower [`Layer`](tower::Layer) adding route metrics to a service.
#[derive(Clone, Debug)]
pub struct HttpMetricsLayer {
    metrics: RouteMetrics,
    #[cfg(feature = "axum")]
    table: Option<Arc<RouteTable>>,
}

/// A route template that [`HttpMetricsLayer::with_routes`] cannot match paths by, as axum 0.8
/// would refuse it in `Router::route` (or two templates that conflict).
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
#[derive(Debug, thiserror::Error)]
#[error("route template {template:?}: {reason}")]
#[non_exhaustive]
pub struct RouteTableError {
    /// The template as given.
    pub template: String,
    /// Why it was refused.
    pub reason: String,
}

/// The route templates of a router, each bound to its interned route entry.
#[cfg(feature = "axum")]
type RouteTable = crate::route_table::RouteTable<Arc<RouteEntry>>;

impl HttpMetricsLayer {
    /// A layer recording the default route matrix into `registry`.
    ///
    /// # Errors
    /// [`RegistryError`] when the metric names are already registered.
    pub fn new(registry: &Registry) -> Result<Self, RegistryError> {
        Ok(Self::from(RouteMetrics::new(registry)?))
    }

    /// The route matrix this layer records into.
    pub fn metrics(&self) -> &RouteMetrics {
        &self.metrics
    }

    /// This layer for use around a whole axum router: it finds each request's route template
    /// by matching the path against `templates` (axum 0.8 syntax: `/users/{id}`,
    /// `/files/{*path}`), with the matcher axum routes with, instead of reading `MatchedPath`.
    /// A path matching none of them is recorded as `unmatched`; `MatchedPath` and
    /// [`RouteTemplate`] are then not read. The templates are interned at once, in the order
    /// given, so they count against [`route_cap`](crate::RouteMetricsBuilder::route_cap) before
    /// any request (under `Router::layer` a template is interned at its first request). See
    /// the [module note](self) for when to use it.
    ///
    /// ```
    /// use axum::{Router, routing::get};
    /// use tower::ServiceExt;
    /// use vsanobs_core::{Format, Registry};
    /// use vsanobs_http::HttpMetricsLayer;
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let registry = Registry::new();
    /// let router: Router = Router::new()
    ///     .route("/users/{id}", get(|| async { "user" }))
    ///     .route("/users/me", get(|| async { "me" }));
    /// let layer = HttpMetricsLayer::new(&registry)?.with_routes(["/users/{id}", "/users/me"])?;
    /// let app = layer.around(router);
    /// // axum::serve(listener, app.into_make_service()).await?;
    /// for path in ["/users/7", "/users/me", "/nope"] {
    ///     let req = http::Request::get(path).body(axum::body::Body::empty()).unwrap();
    ///     let resp = app.clone().oneshot(req).await.unwrap();
    ///     drop(resp); // recorded when the body ends or is dropped
    /// }
    ///
    /// let text = registry.encode_to_string(Format::PrometheusText);
    /// for (route, status) in [("/users/{id}", 200), ("/users/me", 200), ("unmatched", 404)] {
    ///     assert!(text.contains(&format!(
    ///         "http_server_request_duration_seconds_count{{method=\"GET\",route=\"{route}\",status=\"{status}\"}} 1\n"
    ///     )), "{text}");
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    /// [`RouteTableError`] for a template that does not start with `/`, has a malformed
    /// parameter, or conflicts with another (as `Router::route` would panic on). A template
    /// given twice counts once.
    #[cfg(feature = "axum")]
    #[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
    pub fn with_routes<I, T>(mut self, templates: I) -> Result<Self, RouteTableError>
    where
        I: IntoIterator<Item = T>,
        T: AsRef<str>,
    {
        let mut seen = std::collections::HashSet::new();
        let mut routes = Vec::new();
        for t in templates {
            let t = t.as_ref();
            if !t.starts_with('/') {
                return Err(RouteTableError {
                    template: t.to_owned(),
                    reason: "a route path must start with `/`".to_owned(),
                });
            }
            if seen.insert(t.to_owned()) {
                routes.push(t.to_owned());
            }
        }
        let table = RouteTable::new(
            routes
                .iter()
                .map(|t| (t.as_str(), self.metrics.entry(Some(t)))),
        )
        .map_err(|(template, e)| RouteTableError {
            template,
            reason: e.to_string(),
        })?;
        self.table = Some(Arc::new(table));
        Ok(self)
    }
}

impl From<RouteMetrics> for HttpMetricsLayer {
    fn from(metrics: RouteMetrics) -> Self {
        HttpMetricsLayer {
            metrics,
            #[cfg(feature = "axum")]
            table: None,
        }
    }
}

impl<S> tower::Layer<S> for HttpMetricsLayer {
    type Service = HttpMetrics<S>;
    fn layer(&self, inner: S) -> HttpMetrics<S> {
        HttpMetrics {
            inner,
            shared: Arc::new(Shared {
                metrics: self.metrics.clone(),
                bound: OnceLock::new(),
                #[cfg(feature = "axum")]
                table: self.table.clone(),
            }),
        }
    }
}

/// [`HttpMetrics`] around a whole axum router, answering with axum's own `Response` as
/// `axum::serve` requires: built by [`HttpMetricsLayer::around`].
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
#[derive(Clone, Debug)]
pub struct AroundRouter<S = axum::Router> {
    inner: HttpMetrics<S>,
}

#[cfg(feature = "axum")]
impl HttpMetricsLayer {
    /// `inner` (an axum `Router`, usually) with this layer around it, answering with
    /// `axum::response::Response` so that it can be given to `axum::serve`
    /// (`axum::serve(listener, app.into_make_service())`). Give the router's
    /// templates first with [`with_routes`](Self::with_routes): around the router there is no
    /// `MatchedPath` yet, and without templates every request is `unmatched`.
    pub fn around<S>(&self, inner: S) -> AroundRouter<S> {
        AroundRouter {
            inner: tower::Layer::layer(self, inner),
        }
    }
}

#[cfg(feature = "axum")]
impl<S> AroundRouter<S> {
    /// For `axum::serve(listener, app.into_make_service())`, as `Router::into_make_service`.
    pub fn into_make_service(self) -> axum::routing::IntoMakeService<Self>
    where
        Self: tower::Service<axum::extract::Request>,
    {
        axum::ServiceExt::<axum::extract::Request>::into_make_service(self)
    }
}

#[cfg(feature = "axum")]
impl<S, ReqBody, ResBody> tower::Service<Request<ReqBody>> for AroundRouter<S>
where
    S: tower::Service<Request<ReqBody>, Response = Response<ResBody>>,
    ReqBody: Body,
    ResBody: Body<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<axum::BoxError>,
{
    type Response = axum::response::Response;
    type Error = S::Error;
    type Future = AroundRouterFuture<S::Future>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    #[inline]
    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        AroundRouterFuture {
            tracker: self.inner.start(&req),
            inner: self.inner.inner.call(req),
        }
    }
}

#[cfg(feature = "axum")]
pin_project! {
    /// The response future of [`AroundRouter`].
    pub struct AroundRouterFuture<F> {
        #[pin]
        inner: F,
        tracker: Option<RequestTracker>,
    }
}

#[cfg(feature = "axum")]
impl<F> std::fmt::Debug for AroundRouterFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AroundRouterFuture")
            .field("tracker", &self.tracker)
            .finish_non_exhaustive()
    }
}

#[cfg(feature = "axum")]
impl<F, B, E> Future for AroundRouterFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    type Output = Result<axum::response::Response, E>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        poll_tracked(this.inner, this.tracker, cx).map(|r| {
            r.map(|(resp, tracker)| resp.map(|inner| axum_body(ResponseBody { inner, tracker })))
        })
    }
}

/// `body` as axum's `Body`. When the wrapped body is axum's own (a `Router`'s), its error is
/// already axum's, so it is boxed as it is: `Body::new` would add an error-mapping wrapper
/// whose every frame poll costs more than the tracking itself.
#[cfg(feature = "axum")]
#[inline]
fn axum_body<B>(body: ResponseBody<B>) -> axum::body::Body
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    let mut slot = Some(body);
    let any: &mut dyn std::any::Any = &mut slot;
    if let Some(same) = any.downcast_mut::<Option<ResponseBody<axum::body::Body>>>() {
        if let Some(b) = same.take() {
            return axum::body::Body::new(http_body_util::combinators::UnsyncBoxBody::new(b));
        }
    }
    match slot {
        Some(b) => axum::body::Body::new(b),
        None => axum::body::Body::empty(),
    }
}

/// The service [`HttpMetricsLayer`] produces.
#[derive(Clone)]
pub struct HttpMetrics<S> {
    inner: S,
    /// Everything the layer keeps, behind one `Arc`: axum clones a route's service for every
    /// request, so each shared field would cost an atomic increment and decrement per
    /// request, and the clones share the bound route entry.
    shared: Arc<Shared>,
}

struct Shared {
    metrics: RouteMetrics,
    /// The route entry of the first matched request this service saw: under
    /// `Router::layer` every request of this service has the same template.
    bound: OnceLock<Arc<RouteEntry>>,
    /// Set by [`HttpMetricsLayer::with_routes`]: the templates this layer matches paths by.
    #[cfg(feature = "axum")]
    table: Option<Arc<RouteTable>>,
}

impl<S> std::fmt::Debug for HttpMetrics<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpMetrics")
            .field("metrics", &self.shared.metrics)
            .field("bound", &self.shared.bound.get())
            .finish_non_exhaustive()
    }
}

impl<S> HttpMetrics<S> {
    /// The route entry of `req`: from the route table when the layer has one, else from the
    /// template the router left in the request's extensions.
    #[inline]
    fn resolve<B>(&self, req: &Request<B>) -> Arc<RouteEntry> {
        #[cfg(feature = "axum")]
        if let Some(table) = &self.shared.table {
            return match table.at(req.uri().path()) {
                Some(e) => e.clone(),
                None => self.shared.metrics.entry(None),
            };
        }
        self.entry_for(template(req))
    }

    #[inline]
    fn entry_for(&self, template: Option<&str>) -> Arc<RouteEntry> {
        let shared = &*self.shared;
        let Some(t) = template else {
            return shared.metrics.entry(None);
        };
        if let Some(e) = shared.bound.get() {
            if e.route() == t {
                return e.clone();
            }
            return shared.metrics.entry(Some(t));
        }
        let e = shared.metrics.entry(Some(t));
        let _ = shared.bound.set(e.clone());
        e
    }
}

#[inline]
fn template<B>(req: &Request<B>) -> Option<&str> {
    #[cfg(feature = "axum")]
    if let Some(p) = req.extensions().get::<axum::extract::MatchedPath>() {
        return Some(p.as_str());
    }
    req.extensions().get::<RouteTemplate>().map(|t| t.0)
}

impl<S, ReqBody, ResBody> tower::Service<Request<ReqBody>> for HttpMetrics<S>
where
    S: tower::Service<Request<ReqBody>, Response = Response<ResBody>>,
    ReqBody: Body,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    #[inline]
    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        ResponseFuture {
            tracker: self.start(&req),
            inner: self.inner.call(req),
        }
    }
}

impl<S> HttpMetrics<S> {
    /// The tracker of `req`, `None` when its route is excluded. The caller builds its
    /// future from this and the inner call in one expression, so that the inner future is
    /// written where it stays instead of being moved through temporaries.
    #[inline]
    fn start<B: Body>(&self, req: &Request<B>) -> Option<RequestTracker> {
        let entry = self.resolve(req);
        if entry.is_excluded() {
            // Left out of the matrix: no clock, no gauge, no body accounting.
            return None;
        }
        let mut tracker = RequestTracker::new(
            entry,
            Method::from(req.method()),
            self.shared.metrics.exemplars_enabled(),
        );
        if self.shared.metrics.records_request_sizes() {
            if let Some(n) = req.body().size_hint().exact() {
                tracker.set_request_size(n);
            }
        }
        Some(tracker)
    }
}

pin_project! {
    /// The response future of [`HttpMetrics`]. Dropped before it resolves (the client went
    /// away), it records the request with status 499.
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        tracker: Option<RequestTracker>,
    }
}

impl<F> std::fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("tracker", &self.tracker)
            .finish_non_exhaustive()
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<ResponseBody<B>>, E>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        poll_tracked(this.inner, this.tracker, cx)
            .map(|r| r.map(|(resp, tracker)| resp.map(|inner| ResponseBody { inner, tracker })))
    }
}

/// A response and the tracker its body will carry.
type Tracked<B> = (Response<B>, Option<RequestTracker>);

/// Polls the inner response future: a response hands the tracker (its status set) on to the
/// body; an error or a panic records the request as a 500 (the panic goes on unwinding).
#[inline]
fn poll_tracked<F, B, E>(
    inner: Pin<&mut F>,
    tracker: &mut Option<RequestTracker>,
    cx: &mut Context<'_>,
) -> Poll<Result<Tracked<B>, E>>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    // A guard rather than `catch_unwind`: the inner poll stays inlinable and its response is
    // not passed through memory, and a panic still finds the tracker on its way out.
    let mut armed = OnUnwind(Some(tracker));
    let polled = inner.poll(cx);
    let tracker = armed.0.take();
    match polled {
        Poll::Pending => Poll::Pending,
        Poll::Ready(Ok(resp)) => {
            let mut tracker = tracker.and_then(Option::take);
            if let Some(t) = tracker.as_mut() {
                t.set_status(resp.status().as_u16());
            }
            Poll::Ready(Ok((resp, tracker)))
        }
        Poll::Ready(Err(e)) => {
            if let Some(t) = tracker.and_then(Option::take) {
                t.finish(500);
            }
            Poll::Ready(Err(e))
        }
    }
}

/// Records the request it holds as a 500 when dropped still holding it: only when the inner
/// poll unwinds past it, since [`poll_tracked`] takes the tracker back before it is dropped.
struct OnUnwind<'a>(Option<&'a mut Option<RequestTracker>>);

impl Drop for OnUnwind<'_> {
    fn drop(&mut self) {
        if let Some(t) = self.0.take().and_then(Option::take) {
            t.finish(500);
        }
    }
}

pin_project! {
    /// The response body of [`HttpMetrics`]: passes frames through, counts data bytes, and
    /// records the request when the body ends or is dropped.
    pub struct ResponseBody<B> {
        #[pin]
        inner: B,
        tracker: Option<RequestTracker>,
    }
}

impl<B> std::fmt::Debug for ResponseBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseBody")
            .field("tracker", &self.tracker)
            .finish_non_exhaustive()
    }
}

impl<B: Body> Body for ResponseBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    #[inline]
    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        match this.inner.poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let (Some(t), Some(d)) = (this.tracker.as_mut(), frame.data_ref()) {
                    t.add_response_bytes(d.remaining() as u64);
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(None) => {
                // Finished: record now rather than when hyper drops the body.
                this.tracker.take();
                Poll::Ready(None)
            }
            other => other,
        }
    }

    #[inline]
    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    #[inline]
    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The /metrics endpoint as a tower `Service` (any path: route it where you want it).
/// GET and HEAD are served; other methods get 405.
#[derive(Clone, Debug)]
pub struct MetricsService {
    endpoint: MetricsEndpoint,
}

impl MetricsEndpoint {
    /// This endpoint as a tower [`Service`](tower::Service) for hyper or any tower stack.
    pub fn into_service(self) -> MetricsService {
        MetricsService { endpoint: self }
    }
}

/// Builds the [`ScrapeRequest`] of an `http` request.
pub fn scrape_request<B>(req: &Request<B>) -> ScrapeRequest {
    let h = |name: http::HeaderName| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    ScrapeRequest {
        head: req.method() == http::Method::HEAD,
        accept: h(http::header::ACCEPT),
        accept_encoding: h(http::header::ACCEPT_ENCODING),
        authorization: h(http::header::AUTHORIZATION),
        query: req.uri().query().map(str::to_owned),
        scrape_timeout: h(http::HeaderName::from_static(
            crate::endpoint::SCRAPE_TIMEOUT_HEADER,
        )),
    }
}

/// Turns a [`ScrapeStream`] into an `http` response whose body streams.
pub fn into_http_response(r: ScrapeStream) -> Response<ScrapeBody> {
    let mut builder = Response::builder().status(r.status);
    for (k, v) in &r.headers {
        builder = builder.header(*k, v.as_str());
    }
    builder.body(r.body).unwrap_or_else(|_| {
        let mut resp = Response::new(ScrapeBody::full(Vec::new()));
        *resp.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
        resp
    })
}

impl<B: Send + 'static> tower::Service<Request<B>> for MetricsService {
    type Response = Response<ScrapeBody>;
    type Error = std::convert::Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let endpoint = self.endpoint.clone();
        let allowed = req.method() == http::Method::GET || req.method() == http::Method::HEAD;
        let sreq = scrape_request(&req);
        Box::pin(async move {
            if !allowed {
                return Ok(into_http_response(ScrapeStream {
                    status: 405,
                    headers: vec![
                        ("allow", "GET, HEAD".to_owned()),
                        ("content-type", "text/plain; charset=utf-8".to_owned()),
                    ],
                    body: ScrapeBody::full(b"Method Not Allowed\n".to_vec()),
                }));
            }
            Ok(into_http_response(endpoint.handle_stream(sreq).await))
        })
    }
}

impl Body for ScrapeBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        self.get_mut()
            .poll_chunk(cx)
            .map(|c| c.map(|r| r.map(Frame::data)))
    }

    fn is_end_stream(&self) -> bool {
        self.is_end()
    }

    fn size_hint(&self) -> SizeHint {
        self.exact_len()
            .map_or_else(SizeHint::default, SizeHint::with_exact)
    }
}
