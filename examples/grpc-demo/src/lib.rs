//! A tonic `Echo` service whose requests steer how each call ends: the gRPC status code and
//! message, how many response messages, and a delay before each one. Tests and benches use it
//! to produce every status code, a deadline exceeded, a client cancel mid-stream and each of
//! the four call types on a real server.
//!
//! The protocol is `proto/echo.proto` (package `vsanobs.demo.v1`, service `Echo`). The build
//! script compiles it with `protox` (no `protoc` needed) and generates the client and server
//! with `tonic-prost-build`; [`FILE_DESCRIPTOR_SET`] is the encoded descriptor set, for
//! anything that needs to know the service's methods (reflection, a metrics layer that only
//! records known methods).
//!
//! | method | requests | responses | how it ends |
//! |---|---|---|---|
//! | `Unary` | 1 | 1 | after `delay_ms`, with `code` (trailers-only when not OK) |
//! | `ServerStream` | 1 | `responses`, each after `delay_ms` | `code` in the trailers; trailers-only when `responses` is 0 and `code` is not OK |
//! | `ClientStream` | until the client closes | 1 | the first request whose `code` is not OK ends the call with it; otherwise OK |
//! | `Bidi` | until the client closes | `responses` per request, each after `delay_ms` | a request whose `code` is not OK ends the call after its responses; otherwise OK |
//!
//! A request asking for more than [`MAX_RESPONSES`] responses or a delay above [`MAX_DELAY`]
//! is refused with `InvalidArgument`, so no request can keep a call open without bound.
//!
//! # Example
//!
//! ```
//! use grpc_demo::pb::{EchoRequest, echo_client::EchoClient};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let addr = listener.local_addr()?;
//! let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
//! let server = tokio::spawn(grpc_demo::serve(listener, tower::layer::util::Identity::new(), async {
//!     let _ = stopped.await;
//! }));
//!
//! let mut client = EchoClient::connect(format!("http://{addr}")).await?;
//! let ok = client.unary(EchoRequest { message: "hi".into(), ..Default::default() }).await?;
//! assert_eq!(ok.get_ref().message, "hi");
//! let failed = client
//!     .unary(EchoRequest { code: 5, status_message: "no such thing".into(), ..Default::default() })
//!     .await
//!     .unwrap_err();
//! assert_eq!(failed.code(), tonic::Code::NotFound);
//! assert_eq!(failed.message(), "no such thing");
//!
//! let _ = stop.send(());
//! server.await??;
//! # Ok(())
//! # }
//! ```

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use futures_util::{Stream, StreamExt as _, stream};
use tokio::net::TcpListener;
use tonic::codegen::{Body as HttpBody, Bytes, StdError, http};
use tonic::service::Routes;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use tonic::{Code, Request, Response, Status, Streaming};
use tower::Layer;

use crate::pb::echo_server::{Echo, EchoServer};
use crate::pb::{EchoRequest, EchoResponse};

/// The code `tonic-prost-build` generated from `proto/echo.proto`: the messages
/// ([`EchoRequest`](pb::EchoRequest), [`EchoResponse`](pb::EchoResponse)), the client
/// ([`echo_client::EchoClient`](pb::echo_client::EchoClient)) and the server
/// ([`echo_server::EchoServer`](pb::echo_server::EchoServer), trait
/// [`echo_server::Echo`](pb::echo_server::Echo)).
#[allow(missing_docs, unreachable_pub, clippy::all, clippy::pedantic)]
pub mod pb {
    tonic::include_proto!("vsanobs.demo.v1");
}

/// The encoded `google.protobuf.FileDescriptorSet` of `proto/echo.proto` (the file only; it
/// imports nothing), as protox compiled it for the generated code.
///
/// # Example
///
/// ```
/// use prost::Message as _;
///
/// let set = prost_types::FileDescriptorSet::decode(grpc_demo::FILE_DESCRIPTOR_SET).unwrap();
/// let service = &set.file[0].service[0];
/// assert_eq!(set.file[0].package(), "vsanobs.demo.v1");
/// assert_eq!(service.name(), "Echo");
/// let methods: Vec<_> = service.method.iter().map(|m| m.name()).collect();
/// assert_eq!(methods, ["Unary", "ServerStream", "ClientStream", "Bidi"]);
/// ```
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/echo_descriptor.bin"));

/// The fully qualified service name, the first segment of every method path
/// (`/vsanobs.demo.v1.Echo/Unary`).
pub const SERVICE_NAME: &str = pb::echo_server::SERVICE_NAME;

/// The most response messages one request may ask for (`responses`); above it the call ends
/// with `InvalidArgument`.
pub const MAX_RESPONSES: u32 = 10_000;

/// The longest delay one request may ask for (`delay_ms`); above it the call ends with
/// `InvalidArgument`.
pub const MAX_DELAY: Duration = Duration::from_secs(60);

/// The response stream of the streaming methods.
pub type ResponseStream = Pin<Box<dyn Stream<Item = Result<EchoResponse, Status>> + Send>>;

/// The `Echo` service: stateless, every call is steered by its own requests.
#[derive(Debug, Clone, Copy, Default)]
pub struct EchoService;

/// The service ready to serve, wrapped in the generated [`EchoServer`]. It is a tower
/// `Service<http::Request<tonic::body::Body>>`, so it can be called in-process (benches do) or
/// added to a tonic [`Server`].
pub fn echo_server() -> EchoServer<EchoService> {
    EchoServer::new(EchoService)
}

/// What one request asks for, checked against the bounds.
#[derive(Debug, Clone, Copy)]
struct Plan {
    responses: u32,
    delay: Duration,
}

impl Plan {
    fn of(request: &EchoRequest) -> Result<Self, Status> {
        if request.responses > MAX_RESPONSES {
            return Err(Status::invalid_argument(format!(
                "responses {} is above the limit of {MAX_RESPONSES}",
                request.responses
            )));
        }
        let delay = Duration::from_millis(u64::from(request.delay_ms));
        if delay > MAX_DELAY {
            return Err(Status::invalid_argument(format!(
                "delay_ms {} is above the limit of {} ms",
                request.delay_ms,
                MAX_DELAY.as_millis()
            )));
        }
        Ok(Self {
            responses: request.responses,
            delay,
        })
    }
}

/// The status a request asks to end with, `None` for OK. Codes above 16 become `Unknown`, as
/// the gRPC spec says for codes a peer does not know.
fn requested_status(request: &EchoRequest) -> Option<Status> {
    if request.code == 0 {
        return None;
    }
    let code = i32::try_from(request.code).map_or(Code::Unknown, Code::from);
    Some(Status::new(code, request.status_message.clone()))
}

async fn pause(delay: Duration) {
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
}

/// Where the server-streaming response stream is.
enum Sending {
    Message(u32),
    Status(Status),
    Done,
}

/// Where the bidi response stream is: reading the next request, or answering one.
struct Bidi {
    input: Streaming<EchoRequest>,
    received: u32,
    sent: u32,
    answering: Option<Answering>,
    done: bool,
}

struct Answering {
    request: EchoRequest,
    plan: Plan,
    left: u32,
}

impl Bidi {
    async fn next(mut self) -> Option<(Result<EchoResponse, Status>, Self)> {
        loop {
            if self.done {
                return None;
            }
            if let Some(answering) = &mut self.answering {
                if answering.left > 0 {
                    answering.left -= 1;
                    pause(answering.plan.delay).await;
                    let response = EchoResponse {
                        message: answering.request.message.clone(),
                        index: self.sent,
                        received: self.received,
                    };
                    self.sent += 1;
                    return Some((Ok(response), self));
                }
                let finished = self.answering.take();
                if let Some(status) = finished.and_then(|a| requested_status(&a.request)) {
                    self.done = true;
                    return Some((Err(status), self));
                }
            }
            match self.input.message().await {
                Ok(Some(request)) => {
                    self.received += 1;
                    match Plan::of(&request) {
                        Ok(plan) => {
                            self.answering = Some(Answering {
                                left: plan.responses,
                                request,
                                plan,
                            });
                        }
                        Err(status) => {
                            self.done = true;
                            return Some((Err(status), self));
                        }
                    }
                }
                Ok(None) => return None,
                Err(status) => {
                    self.done = true;
                    return Some((Err(status), self));
                }
            }
        }
    }
}

#[tonic::async_trait]
impl Echo for EchoService {
    async fn unary(&self, request: Request<EchoRequest>) -> Result<Response<EchoResponse>, Status> {
        let request = request.into_inner();
        let plan = Plan::of(&request)?;
        pause(plan.delay).await;
        if let Some(status) = requested_status(&request) {
            return Err(status);
        }
        Ok(Response::new(EchoResponse {
            message: request.message,
            index: 0,
            received: 1,
        }))
    }

    type ServerStreamStream = ResponseStream;

    async fn server_stream(
        &self,
        request: Request<EchoRequest>,
    ) -> Result<Response<ResponseStream>, Status> {
        let request = request.into_inner();
        let plan = Plan::of(&request)?;
        let status = requested_status(&request);
        if plan.responses == 0 {
            if let Some(status) = status {
                pause(plan.delay).await;
                return Err(status);
            }
        }
        let start = if plan.responses > 0 {
            Sending::Message(0)
        } else {
            Sending::Done
        };
        let responses = stream::unfold(start, move |state| {
            let message = request.message.clone();
            let status = status.clone();
            async move {
                match state {
                    Sending::Message(index) => {
                        pause(plan.delay).await;
                        let next = if index + 1 < plan.responses {
                            Sending::Message(index + 1)
                        } else {
                            status.map_or(Sending::Done, Sending::Status)
                        };
                        let response = EchoResponse {
                            message,
                            index,
                            received: 1,
                        };
                        Some((Ok(response), next))
                    }
                    Sending::Status(status) => Some((Err(status), Sending::Done)),
                    Sending::Done => None,
                }
            }
        });
        Ok(Response::new(Box::pin(responses)))
    }

    async fn client_stream(
        &self,
        request: Request<Streaming<EchoRequest>>,
    ) -> Result<Response<EchoResponse>, Status> {
        let mut input = request.into_inner();
        let mut received = 0u32;
        let mut last = String::new();
        while let Some(request) = input.message().await? {
            received += 1;
            let plan = Plan::of(&request)?;
            pause(plan.delay).await;
            if let Some(status) = requested_status(&request) {
                return Err(status);
            }
            last = request.message;
        }
        Ok(Response::new(EchoResponse {
            message: last,
            index: 0,
            received,
        }))
    }

    type BidiStream = ResponseStream;

    async fn bidi(
        &self,
        request: Request<Streaming<EchoRequest>>,
    ) -> Result<Response<ResponseStream>, Status> {
        let state = Bidi {
            input: request.into_inner(),
            received: 0,
            sent: 0,
            answering: None,
            done: false,
        };
        Ok(Response::new(stream::unfold(state, Bidi::next).boxed()))
    }
}

/// Serves [`EchoService`] on `listener` until `shutdown` completes, with `layer` around it
/// (`tower::layer::util::Identity` for none), then waits for open calls to finish.
///
/// The layer sees each call as tonic's server passes it on: an `http::Request` with a
/// `tonic::body::Body`, whose response body carries the messages and ends with the trailers.
/// Tonic's own handling of the client's `grpc-timeout` sits outside the layer: when a call's
/// deadline passes before the response headers, the layer's response future is dropped and
/// tonic answers `Cancelled` itself. Accepted connections get `TCP_NODELAY`.
///
/// # Errors
///
/// A [`tonic::transport::Error`] when the server fails (accept errors on single connections
/// are logged by tonic and do not end it).
pub async fn serve<L, ResBody>(
    listener: TcpListener,
    layer: L,
    shutdown: impl Future<Output = ()>,
) -> Result<(), tonic::transport::Error>
where
    L: Layer<Routes> + Clone,
    L::Service: tower::Service<http::Request<tonic::body::Body>, Response = http::Response<ResBody>>
        + Clone
        + Send
        + 'static,
    <L::Service as tower::Service<http::Request<tonic::body::Body>>>::Future: Send,
    <L::Service as tower::Service<http::Request<tonic::body::Body>>>::Error: Into<StdError> + Send,
    ResBody: HttpBody<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<StdError>,
{
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    Server::builder()
        .layer(layer)
        .add_service(echo_server())
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await
}

/// One gRPC message frame as it travels on the wire: the uncompressed flag, the 4-byte
/// big-endian length, then the protobuf encoding of `message`. With a `POST` to
/// `/vsanobs.demo.v1.Echo/Unary` and `content-type: application/grpc` it makes a request the
/// service answers in-process, without a client.
///
/// # Example
///
/// ```
/// use grpc_demo::pb::EchoRequest;
///
/// let frame = grpc_demo::grpc_frame(&EchoRequest { message: "hi".into(), ..Default::default() });
/// assert_eq!(frame, [0, 0, 0, 0, 4, 0x0a, 2, b'h', b'i']);
/// ```
pub fn grpc_frame(message: &impl prost::Message) -> Vec<u8> {
    let encoded = message.encode_to_vec();
    let mut frame = Vec::with_capacity(5 + encoded.len());
    frame.push(0);
    // Messages of this service are far below 4 GiB; saturate rather than wrap if not.
    frame.extend_from_slice(
        &u32::try_from(encoded.len())
            .unwrap_or(u32::MAX)
            .to_be_bytes(),
    );
    frame.extend_from_slice(&encoded);
    frame
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pb::echo_client::EchoClient;
    use tonic::transport::Channel;

    async fn start() -> (EchoClient<Channel>, tokio::sync::oneshot::Sender<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(serve(
            listener,
            tower::layer::util::Identity::new(),
            async {
                let _ = stopped.await;
            },
        ));
        let client = EchoClient::connect(format!("http://{addr}")).await.unwrap();
        (client, stop)
    }

    fn req(message: &str, code: u32, responses: u32) -> EchoRequest {
        EchoRequest {
            message: message.into(),
            code,
            status_message: format!("asked for {code}"),
            responses,
            delay_ms: 0,
        }
    }

    #[tokio::test]
    async fn every_code_comes_back_from_a_unary_call() {
        let (mut client, _stop) = start().await;
        for code in 1..=16 {
            let status = client.unary(req("x", code, 0)).await.unwrap_err();
            assert_eq!(status.code(), Code::from(code as i32), "code {code}");
            assert_eq!(status.message(), format!("asked for {code}"));
        }
        let status = client.unary(req("x", 99, 0)).await.unwrap_err();
        assert_eq!(status.code(), Code::Unknown);
    }

    #[tokio::test]
    async fn server_stream_sends_the_asked_responses_then_the_status() {
        let (mut client, _stop) = start().await;
        let mut stream = client
            .server_stream(req("s", 9, 3))
            .await
            .unwrap()
            .into_inner();
        for i in 0..3 {
            let m = stream.message().await.unwrap().unwrap();
            assert_eq!((m.message.as_str(), m.index), ("s", i));
        }
        assert_eq!(
            stream.message().await.unwrap_err().code(),
            Code::FailedPrecondition
        );
        // No responses and a status: refused before the stream starts.
        let status = client.server_stream(req("s", 14, 0)).await.unwrap_err();
        assert_eq!(status.code(), Code::Unavailable);
        let mut empty = client
            .server_stream(req("s", 0, 0))
            .await
            .unwrap()
            .into_inner();
        assert!(empty.message().await.unwrap().is_none());
    }

    #[tokio::test]
    async fn client_stream_ends_at_the_first_failing_request() {
        let (mut client, _stop) = start().await;
        let ok = client
            .client_stream(stream::iter(vec![req("a", 0, 0), req("b", 0, 0)]))
            .await
            .unwrap()
            .into_inner();
        assert_eq!((ok.message.as_str(), ok.received), ("b", 2));
        let status = client
            .client_stream(stream::iter(vec![req("a", 0, 0), req("b", 8, 0)]))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::ResourceExhausted);
    }

    #[tokio::test]
    async fn bidi_answers_each_request_and_ends_with_the_asked_status() {
        let (mut client, _stop) = start().await;
        let mut responses = client
            .bidi(stream::iter(vec![
                req("a", 0, 2),
                req("b", 0, 1),
                req("c", 10, 1),
                req("never read", 0, 5),
            ]))
            .await
            .unwrap()
            .into_inner();
        let mut got = Vec::new();
        let status = loop {
            match responses.message().await {
                Ok(Some(m)) => got.push((m.message, m.index, m.received)),
                Ok(None) => panic!("the call ended OK"),
                Err(status) => break status,
            }
        };
        assert_eq!(status.code(), Code::Aborted);
        let expected = [("a", 0, 1), ("a", 1, 1), ("b", 2, 2), ("c", 3, 3)];
        let expected: Vec<_> = expected
            .iter()
            .map(|&(m, i, r)| (m.to_owned(), i, r))
            .collect();
        assert_eq!(got, expected);
    }

    #[tokio::test]
    async fn requests_beyond_the_bounds_are_refused() {
        let (mut client, _stop) = start().await;
        let status = client
            .unary(EchoRequest {
                delay_ms: u32::MAX,
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument);
        let status = client
            .server_stream(req("x", 0, MAX_RESPONSES + 1))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument);
    }

    #[tokio::test]
    async fn a_deadline_shorter_than_the_delay_ends_the_call() {
        let (mut client, _stop) = start().await;
        let mut request = tonic::Request::new(EchoRequest {
            delay_ms: 5_000,
            ..Default::default()
        });
        request.set_timeout(Duration::from_millis(50));
        let status = client.unary(request).await.unwrap_err();
        // Tonic's server answers its own deadline handling with Cancelled; the client may see
        // DeadlineExceeded first.
        assert!(
            matches!(status.code(), Code::Cancelled | Code::DeadlineExceeded),
            "{status:?}"
        );
    }

    #[test]
    fn grpc_frame_prefixes_the_length() {
        let message = EchoRequest {
            message: "x".repeat(300),
            ..Default::default()
        };
        let frame = grpc_frame(&message);
        assert_eq!(frame[0], 0);
        let len = u32::from_be_bytes(frame[1..5].try_into().unwrap()) as usize;
        assert_eq!(len, frame.len() - 5);
        assert_eq!(
            <EchoRequest as prost::Message>::decode(&frame[5..]).unwrap(),
            message
        );
    }
}
