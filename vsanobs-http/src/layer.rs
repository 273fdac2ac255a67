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
//! Under axum, add the layer with `Router::layer` (not around the whole router from outside):
//! axum inserts `MatchedPath` while routing, so only a layer applied to the routes sees it.
//! Each route then gets its own `HttpMetrics` whose first request binds the route entry, so
//! later requests skip even the lookup of the template. A panic in the inner service is
//! recorded as a 500 and then resumed; put `tower_http::catch_panic::CatchPanicLayer` outside
//! to turn it into a 500 response.

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
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
}

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
}

impl From<RouteMetrics> for HttpMetricsLayer {
    fn from(metrics: RouteMetrics) -> Self {
        HttpMetricsLayer { metrics }
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
            }),
        }
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

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let entry = self.entry_for(template(&req));
        if entry.is_excluded() {
            // Left out of the matrix: no clock, no gauge, no body accounting.
            return ResponseFuture {
                inner: self.inner.call(req),
                tracker: None,
            };
        }
        let mut tracker = RequestTracker::new(
            entry,
            Method::from(req.method()),
            self.shared.metrics.exemplars_enabled(),
        );
        if let Some(n) = req.body().size_hint().exact() {
            tracker.set_request_size(n);
        }
        ResponseFuture {
            inner: self.inner.call(req),
            tracker: Some(tracker),
        }
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

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let inner = this.inner;
        let polled = catch_unwind(AssertUnwindSafe(|| inner.poll(cx)));
        match polled {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(Ok(resp))) => {
                let mut tracker = this.tracker.take();
                if let Some(t) = tracker.as_mut() {
                    t.set_status(resp.status().as_u16());
                }
                Poll::Ready(Ok(resp.map(|body| ResponseBody {
                    inner: body,
                    tracker,
                })))
            }
            Ok(Poll::Ready(Err(e))) => {
                if let Some(t) = this.tracker.take() {
                    t.finish(500);
                }
                Poll::Ready(Err(e))
            }
            Err(panic) => {
                if let Some(t) = this.tracker.take() {
                    t.finish(500);
                }
                resume_unwind(panic)
            }
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
