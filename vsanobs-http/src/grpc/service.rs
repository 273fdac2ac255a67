//! The server and client tower layers, their response futures and the wrapped bodies.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use vsanobs_core::{Counter, Registry, RegistryError};

use super::code::{self, Code};
use super::frames::MessageCounter;
use super::methods::GrpcMethods;
use super::metrics::{Call, GrpcMetrics, GrpcMetricsBuilder};

/// A tower layer recording go-grpc-middleware's server metrics (`grpc_server_*`) for the
/// calls a service handles. Put it around a tonic server's routes with
/// `tonic::transport::Server::builder().layer(layer)`.
///
/// ```
/// use http::{Request, Response};
/// use tower::{Layer, Service, ServiceExt};
/// use vsanobs_core::{Format, Registry};
/// use vsanobs_http::grpc::{GrpcMethods, GrpcServerLayer, GrpcType, RequestBody};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let registry = Registry::new();
/// let methods = GrpcMethods::new().method("demo.Echo", "Say", GrpcType::Unary)?;
/// let layer = GrpcServerLayer::new(&registry, methods)?;
/// // A service answering every call with a trailers-only NotFound. It gets the request body
/// // wrapped in the layer's message counter.
/// let svc = layer.layer(tower::service_fn(|_req: Request<RequestBody<String>>| async {
///     let resp = Response::builder()
///         .header("content-type", "application/grpc")
///         .header("grpc-status", "5")
///         .body(String::new())
///         .unwrap();
///     Ok::<_, std::convert::Infallible>(resp)
/// }));
/// let req = Request::post("/demo.Echo/Say").body(String::new()).unwrap();
/// let _resp = svc.oneshot(req).await.unwrap();
///
/// let text = registry.encode_to_string(Format::PrometheusText);
/// assert!(text.contains(concat!(
///     "grpc_server_handled_total{grpc_type=\"unary\",grpc_service=\"demo.Echo\",",
///     "grpc_method=\"Say\",grpc_code=\"NotFound\"} 1\n"
/// )));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Clone, Debug)]
pub struct GrpcServerLayer {
    pub(crate) metrics: Arc<GrpcMetrics>,
}

impl GrpcServerLayer {
    /// Registers the server families for `methods` (Go's default buckets) in `registry`.
    ///
    /// # Errors
    /// [`RegistryError`] when a name is already registered.
    pub fn new(registry: &Registry, methods: GrpcMethods) -> Result<Self, RegistryError> {
        GrpcMetricsBuilder::new(methods).server(registry)
    }

    /// Options (buckets, the OpenTelemetry histogram) before registering.
    pub fn builder(methods: GrpcMethods) -> GrpcMetricsBuilder {
        GrpcMetricsBuilder::new(methods)
    }
}

impl<S> tower::Layer<S> for GrpcServerLayer {
    type Service = GrpcServer<S>;
    fn layer(&self, inner: S) -> GrpcServer<S> {
        GrpcServer {
            inner,
            metrics: self.metrics.clone(),
        }
    }
}

/// The service [`GrpcServerLayer`] produces.
#[derive(Clone, Debug)]
pub struct GrpcServer<S> {
    inner: S,
    metrics: Arc<GrpcMetrics>,
}

impl<S, ReqBody, ResBody> tower::Service<Request<ReqBody>> for GrpcServer<S>
where
    S: tower::Service<Request<RequestBody<ReqBody>>, Response = Response<ResBody>>,
    ReqBody: Body,
    ReqBody::Data: AsRef<[u8]>,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let call = self.metrics.start(req.uri().path(), req.headers());
        let messages = call.request_messages();
        let req = req.map(|inner| RequestBody::new(inner, messages));
        ResponseFuture {
            inner: self.inner.call(req),
            call: Some(call),
        }
    }
}

/// A tower layer recording go-grpc-middleware's client metrics (`grpc_client_*`) for the
/// calls made through a tonic channel:
/// `tower::ServiceBuilder::new().layer(layer).service(channel)`, then hand that to the
/// generated client (`EchoClient::new(svc)`).
///
/// The status is the server's (`grpc-status` in the trailers or a trailers-only head), the
/// HTTP mapping when a proxy answered without one, `Unavailable` when the channel failed,
/// `DeadlineExceeded` when that happened past the request's `grpc-timeout`, and `Canceled`
/// when the caller dropped the call before its response ended.
///
/// ```
/// use http::{Request, Response};
/// use tower::{Layer, ServiceExt};
/// use vsanobs_core::{Format, Registry};
/// use vsanobs_http::grpc::{GrpcClientLayer, GrpcMethods, GrpcType};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let registry = Registry::new();
/// let methods = GrpcMethods::new().method("demo.Echo", "Say", GrpcType::Unary)?;
/// let layer = GrpcClientLayer::new(&registry, methods)?;
/// // In place of a tonic channel: a proxy answering 502 without a gRPC status.
/// let channel = layer.layer(tower::service_fn(|_req: Request<tonic::body::Body>| async {
///     let resp = Response::builder().status(502).body(String::from("bad gateway")).unwrap();
///     Ok::<_, std::convert::Infallible>(resp)
/// }));
/// let req = Request::post("/demo.Echo/Say").body(tonic::body::Body::empty()).unwrap();
/// let _resp = channel.oneshot(req).await.unwrap();
///
/// let text = registry.encode_to_string(Format::PrometheusText);
/// assert!(text.contains(concat!(
///     "grpc_client_handled_total{grpc_type=\"unary\",grpc_service=\"demo.Echo\",",
///     "grpc_method=\"Say\",grpc_code=\"Unavailable\"} 1\n"
/// )));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Clone, Debug)]
pub struct GrpcClientLayer {
    pub(crate) metrics: Arc<GrpcMetrics>,
}

impl GrpcClientLayer {
    /// Registers the client families for `methods` (Go's default buckets) in `registry`.
    ///
    /// # Errors
    /// [`RegistryError`] when a name is already registered.
    pub fn new(registry: &Registry, methods: GrpcMethods) -> Result<Self, RegistryError> {
        GrpcMetricsBuilder::new(methods).client(registry)
    }

    /// Options (buckets, the OpenTelemetry histogram) before registering.
    pub fn builder(methods: GrpcMethods) -> GrpcMetricsBuilder {
        GrpcMetricsBuilder::new(methods)
    }
}

impl<S> tower::Layer<S> for GrpcClientLayer {
    type Service = GrpcClient<S>;
    fn layer(&self, inner: S) -> GrpcClient<S> {
        GrpcClient {
            inner,
            metrics: self.metrics.clone(),
        }
    }
}

/// The service [`GrpcClientLayer`] produces. It takes and passes on tonic's request body
/// type (what `tonic::transport::Channel` serves); counting the messages sent wraps the
/// body once more, one allocation per call.
#[derive(Clone, Debug)]
pub struct GrpcClient<S> {
    inner: S,
    metrics: Arc<GrpcMetrics>,
}

impl<S, ResBody> tower::Service<Request<tonic::body::Body>> for GrpcClient<S>
where
    S: tower::Service<Request<tonic::body::Body>, Response = Response<ResBody>>,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<tonic::body::Body>) -> Self::Future {
        let call = self.metrics.start(req.uri().path(), req.headers());
        let messages = call.request_messages();
        let req = req.map(|inner| tonic::body::Body::new(RequestBody::new(inner, messages)));
        ResponseFuture {
            inner: self.inner.call(req),
            call: Some(call),
        }
    }
}

pin_project! {
    /// The request body the layers pass on: the same frames, with each complete gRPC message
    /// counted (`grpc_server_msg_received_total`, `grpc_client_msg_sent_total`).
    pub struct RequestBody<B> {
        #[pin]
        inner: B,
        frames: MessageCounter,
        messages: Counter,
    }
}

impl<B> RequestBody<B> {
    fn new(inner: B, messages: Counter) -> Self {
        RequestBody {
            inner,
            frames: MessageCounter::default(),
            messages,
        }
    }
}

impl<B> std::fmt::Debug for RequestBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestBody")
            .field("frames", &self.frames)
            .finish_non_exhaustive()
    }
}

impl<B> Body for RequestBody<B>
where
    B: Body,
    B::Data: AsRef<[u8]>,
{
    type Data = B::Data;
    type Error = B::Error;

    #[inline]
    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let polled = this.inner.poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled {
            if let Some(d) = frame.data_ref() {
                let n = this.frames.feed(d.as_ref());
                if n > 0 {
                    this.messages.inc_by(n);
                }
            }
        }
        polled
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

pin_project! {
    /// The response future of [`GrpcServer`] and [`GrpcClient`]. A failure of the inner
    /// service ends the call (`Unknown` on a server, `Unavailable` on a client,
    /// `DeadlineExceeded` past the deadline); dropped before it resolves, the call is
    /// `Canceled` (or `DeadlineExceeded`).
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        call: Option<Call>,
    }
}

impl<F> std::fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("call", &self.call)
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
        match this.inner.poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Ok(resp)) => {
                let mut call = this.call.take();
                if let Some(c) = call.as_mut() {
                    // A trailers-only response, or an HTTP error in front of gRPC: the
                    // head says how the call ended.
                    if let Some(code) = code::from_head(resp.status().as_u16(), resp.headers()) {
                        let code = c.reported(code);
                        c.finish(code);
                        call = None;
                    }
                }
                Poll::Ready(Ok(resp.map(|inner| ResponseBody { inner, call })))
            }
            Poll::Ready(Err(e)) => {
                if let Some(mut c) = this.call.take() {
                    let code = c.failed();
                    c.finish(code);
                }
                Poll::Ready(Err(e))
            }
        }
    }
}

pin_project! {
    /// The response body of [`GrpcServer`] and [`GrpcClient`]: the same frames, with each
    /// complete message counted; the call ends with the `grpc-status` of the trailers, when
    /// the body ends without them (`Unknown`), fails, or is dropped before its end
    /// (`Canceled`, or `DeadlineExceeded` past the deadline).
    pub struct ResponseBody<B> {
        #[pin]
        inner: B,
        call: Option<Call>,
    }
}

impl<B> std::fmt::Debug for ResponseBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseBody")
            .field("call", &self.call)
            .finish_non_exhaustive()
    }
}

impl<B> Body for ResponseBody<B>
where
    B: Body,
    B::Data: AsRef<[u8]>,
{
    type Data = B::Data;
    type Error = B::Error;

    #[inline]
    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let polled = this.inner.poll_frame(cx);
        let Some(call) = this.call.as_mut() else {
            return polled;
        };
        match &polled {
            Poll::Pending => {}
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(d) = frame.data_ref() {
                    let n = call.frames_feed(d.as_ref());
                    call.response_messages(n);
                } else if let Some(t) = frame.trailers_ref() {
                    let code = call.reported(code::from_trailers(t));
                    call.finish(code);
                    *this.call = None;
                }
            }
            Poll::Ready(Some(Err(_))) => {
                let code = call.failed();
                call.finish(code);
                *this.call = None;
            }
            Poll::Ready(None) => {
                call.finish(Code::Unknown);
                *this.call = None;
            }
        }
        polled
    }

    #[inline]
    fn is_end_stream(&self) -> bool {
        let end = self.inner.is_end_stream();
        if end {
            if let Some(c) = &self.call {
                c.mark_end_seen();
            }
        }
        end
    }

    #[inline]
    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
