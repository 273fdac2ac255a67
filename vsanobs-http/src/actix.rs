//! actix-web 4 integration (feature `actix`): the [`HttpMetrics`] middleware and the
//! /metrics endpoint as an actix resource.
//!
//! # Example
//!
//! ```
//! use actix_web::{App, test, web};
//! use vsanobs_core::{Format, Registry};
//! use vsanobs_http::MetricsEndpoint;
//! use vsanobs_http::actix::HttpMetrics;
//!
//! # actix_web::rt::System::new().block_on(async {
//! let registry = Registry::new();
//! let app = test::init_service(
//!     App::new()
//!         .wrap(HttpMetrics::new(&registry).unwrap())
//!         .route("/users/{id}", web::get().to(|| async { "user" })),
//! )
//! .await;
//! let resp = test::call_service(&app, test::TestRequest::get().uri("/users/7").to_request()).await;
//! assert_eq!(test::read_body(resp).await, "user");
//!
//! let text = registry.encode_to_string(Format::PrometheusText);
//! assert!(text.contains(
//!     "http_server_request_duration_seconds_count{method=\"GET\",route=\"/users/{id}\",status=\"200\"} 1\n"
//! ));
//! # });
//! ```
//!
//! ## Note
//! The middleware runs before actix-web's routing, and actix-web hands out the template of the
//! route a path matches only by matching it again (`match_pattern`, about 7,500 instructions
//! for `/users/{id}`, and an owned `String`). Each worker's middleware therefore remembers
//! the route entry of the last [`PATTERN_CACHE_PATHS`] paths it saw (paths up to
//! [`PATTERN_CACHE_MAX_PATH`] bytes; the memory is forgotten whole when full, so a flood of
//! distinct paths costs what the match costs, never more memory): a repeated path costs one
//! hash lookup. The pattern depends only on the path, as the routes are fixed once the app
//! is built. Everything after it (the route entry, the series) is pre-bound as in the tower
//! layer. A handler panic is recorded as a 500 and then resumed; actix drops that connection.

use std::cell::RefCell;
use std::collections::HashMap;
use std::future::{Future, Ready, ready};
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll};

use actix_web::body::{BodySize, MessageBody};
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use bytes::Bytes;
use pin_project_lite::pin_project;
use vsanobs_core::{Registry, RegistryError};

use crate::endpoint::{MetricsEndpoint, ScrapeRequest};
use crate::metrics::{Method, RequestTracker, RouteEntry, RouteMetrics};

/// How many paths each worker's middleware remembers the route of (see the [module
/// docs](self)); past it the memory is cleared and filled again.
pub const PATTERN_CACHE_PATHS: usize = 512;

/// Longest path, in bytes, whose route is remembered; longer paths are matched every time.
pub const PATTERN_CACHE_MAX_PATH: usize = 256;
use crate::stream::ScrapeBody;

/// The actix-web middleware factory: `App::new().wrap(HttpMetrics::new(&registry)?)`.
#[derive(Clone, Debug)]
pub struct HttpMetrics {
    metrics: RouteMetrics,
}

impl HttpMetrics {
    /// Middleware recording the default route matrix into `registry`.
    ///
    /// # Errors
    /// [`RegistryError`] when the metric names are already registered.
    pub fn new(registry: &Registry) -> Result<Self, RegistryError> {
        Ok(Self::from(RouteMetrics::new(registry)?))
    }

    /// The route matrix this middleware records into.
    pub fn metrics(&self) -> &RouteMetrics {
        &self.metrics
    }
}

impl From<RouteMetrics> for HttpMetrics {
    fn from(metrics: RouteMetrics) -> Self {
        HttpMetrics { metrics }
    }
}

impl<S, B> Transform<S, ServiceRequest> for HttpMetrics
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    type Response = ServiceResponse<ResponseBody<B>>;
    type Error = actix_web::Error;
    type Transform = HttpMetricsMiddleware<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(HttpMetricsMiddleware {
            service: Rc::new(service),
            metrics: self.metrics.clone(),
            routes: RefCell::new(HashMap::default()),
        }))
    }
}

/// The middleware service [`HttpMetrics`] builds around the app.
pub struct HttpMetricsMiddleware<S> {
    service: Rc<S>,
    metrics: RouteMetrics,
    /// Path -> route entry of recently seen paths (one worker's: actix services are not
    /// shared between threads).
    routes: RefCell<HashMap<Box<str>, Arc<RouteEntry>, foldhash::fast::RandomState>>,
}

impl<S> HttpMetricsMiddleware<S> {
    /// The route entry of `req`'s path: remembered, or matched and remembered.
    fn entry(&self, req: &ServiceRequest) -> Arc<RouteEntry> {
        let path = req.path();
        if let Some(e) = self.routes.borrow().get(path) {
            return e.clone();
        }
        let entry = self.metrics.entry(req.match_pattern().as_deref());
        if path.len() <= PATTERN_CACHE_MAX_PATH {
            let mut routes = self.routes.borrow_mut();
            if routes.len() >= PATTERN_CACHE_PATHS {
                routes.clear();
            }
            routes.insert(Box::from(path), entry.clone());
        }
        entry
    }
}

impl<S> std::fmt::Debug for HttpMetricsMiddleware<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpMetricsMiddleware")
            .field("metrics", &self.metrics)
            .finish_non_exhaustive()
    }
}

impl<S, B> Service<ServiceRequest> for HttpMetricsMiddleware<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    type Response = ServiceResponse<ResponseBody<B>>;
    type Error = actix_web::Error;
    type Future = ResponseFuture<S::Future>;

    actix_web::dev::forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let entry = self.entry(&req);
        if entry.is_excluded() {
            // Left out of the matrix: no clock, no gauge, no body accounting.
            return ResponseFuture {
                inner: self.service.call(req),
                tracker: None,
            };
        }
        let mut tracker = RequestTracker::new(
            entry,
            Method::parse(req.method().as_str()),
            self.metrics.exemplars_enabled(),
        );
        // The announced size; a request with neither Content-Length nor a chunked body has
        // none (0), and a chunked body of unknown size is not recorded.
        if self.metrics.records_request_sizes() {
            let headers = req.headers();
            let size = match headers.get(header::CONTENT_LENGTH) {
                Some(v) => v.to_str().ok().and_then(|v| v.parse::<u64>().ok()),
                None => (!headers.contains_key(header::TRANSFER_ENCODING)).then_some(0),
            };
            if let Some(n) = size {
                tracker.set_request_size(n);
            }
        }
        ResponseFuture {
            inner: self.service.call(req),
            tracker: Some(tracker),
        }
    }
}

pin_project! {
    /// The response future of [`HttpMetricsMiddleware`]. Dropped before it resolves, it
    /// records the request with status 499.
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

impl<F, B> Future for ResponseFuture<F>
where
    F: Future<Output = Result<ServiceResponse<B>, actix_web::Error>>,
    B: MessageBody,
{
    type Output = Result<ServiceResponse<ResponseBody<B>>, actix_web::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let inner = this.inner;
        match catch_unwind(AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(Ok(resp))) => {
                let mut tracker = this.tracker.take();
                if let Some(t) = tracker.as_mut() {
                    t.set_status(resp.status().as_u16());
                }
                Poll::Ready(Ok(resp.map_body(|_, body| ResponseBody {
                    inner: body,
                    tracker,
                })))
            }
            Ok(Poll::Ready(Err(e))) => {
                if let Some(t) = this.tracker.take() {
                    t.finish(e.as_response_error().status_code().as_u16());
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
    /// The response body of [`HttpMetricsMiddleware`]: passes chunks through, counts bytes,
    /// and records the request when the body ends or is dropped.
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

impl<B: MessageBody> MessageBody for ResponseBody<B> {
    type Error = B::Error;

    #[inline]
    fn size(&self) -> BodySize {
        self.inner.size()
    }

    #[inline]
    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        let this = self.project();
        match this.inner.poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                if let Some(t) = this.tracker.as_mut() {
                    t.add_response_bytes(chunk.len() as u64);
                }
                Poll::Ready(Some(Ok(chunk)))
            }
            Poll::Ready(None) => {
                this.tracker.take();
                Poll::Ready(None)
            }
            other => other,
        }
    }

    /// A complete in-memory body is handed over as bytes (actix's fast path); the request is
    /// recorded at that point, as the whole body is then produced.
    fn try_into_bytes(self) -> Result<Bytes, Self> {
        let ResponseBody { inner, mut tracker } = self;
        match inner.try_into_bytes() {
            Ok(bytes) => {
                if let Some(mut t) = tracker.take() {
                    t.add_response_bytes(bytes.len() as u64);
                }
                Ok(bytes)
            }
            Err(inner) => Err(ResponseBody { inner, tracker }),
        }
    }
}

/// Builds the [`ScrapeRequest`] of an actix request.
pub fn scrape_request(req: &HttpRequest) -> ScrapeRequest {
    let h = |name: header::HeaderName| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let q = req.query_string();
    ScrapeRequest {
        head: req.method() == actix_web::http::Method::HEAD,
        accept: h(header::ACCEPT),
        accept_encoding: h(header::ACCEPT_ENCODING),
        authorization: h(header::AUTHORIZATION),
        query: (!q.is_empty()).then(|| q.to_owned()),
        scrape_timeout: h(header::HeaderName::from_static(
            crate::endpoint::SCRAPE_TIMEOUT_HEADER,
        )),
    }
}

async fn metrics_handler(
    req: HttpRequest,
    endpoint: web::Data<MetricsEndpoint>,
) -> HttpResponse<ScrapeBody> {
    endpoint.handle_actix(&req).await
}

impl MetricsEndpoint {
    /// Serves one scrape for an actix request; the body streams.
    pub async fn handle_actix(&self, req: &HttpRequest) -> HttpResponse<ScrapeBody> {
        let r = self.handle_stream(scrape_request(req)).await;
        let status = actix_web::http::StatusCode::from_u16(r.status)
            .unwrap_or(actix_web::http::StatusCode::INTERNAL_SERVER_ERROR);
        let mut builder = HttpResponse::build(status);
        for (k, v) in r.headers {
            builder.insert_header((k, v));
        }
        builder.message_body(r.body).unwrap_or_else(|e| {
            tracing::error!(error = %e, "metrics endpoint: cannot build the actix response");
            HttpResponse::with_body(
                actix_web::http::StatusCode::INTERNAL_SERVER_ERROR,
                ScrapeBody::full(Vec::new()),
            )
        })
    }

    /// An actix resource serving this endpoint on `GET`/`HEAD <path>`:
    /// `App::new().service(endpoint.into_actix_resource("/metrics"))`.
    pub fn into_actix_resource(self, path: &str) -> actix_web::Resource {
        web::resource(path)
            .app_data(web::Data::new(self))
            .route(web::get().to(metrics_handler))
            .route(web::head().to(metrics_handler))
    }
}

/// A streamed scrape body: actix sends it chunked (or with a length when it is one buffer).
impl MessageBody for ScrapeBody {
    type Error = std::io::Error;

    fn size(&self) -> BodySize {
        self.exact_len().map_or(BodySize::Stream, BodySize::Sized)
    }

    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        self.get_mut().poll_chunk(cx)
    }
}
