//! The Echo gRPC service with vsanobs's gRPC server metrics (`grpc_server_*`, the service's
//! four methods from its descriptor set) and `/metrics` on one listener (gRPC over HTTP/2,
//! scrapes over HTTP/1.1 or HTTP/2).
//!
//! ```text
//! cargo run -p grpc-demo -- --web.listen-address 127.0.0.1:9105
//! grpcurl -plaintext -import-path examples/grpc-demo/proto -proto echo.proto \
//!     -d '{"message":"hi","code":5}' 127.0.0.1:9105 vsanobs.demo.v1.Echo/Unary
//! # or without grpcurl: one gRPC frame (EchoRequest{message:"hi"}) over HTTP/2
//! printf '\0\0\0\0\4\n\2hi' | curl -s --http2-prior-knowledge -H 'content-type: application/grpc' \
//!     --data-binary @- 127.0.0.1:9105/vsanobs.demo.v1.Echo/Unary -o /dev/null
//! curl -s 127.0.0.1:9105/metrics | grep ^grpc_server_handled_total
//! ```

use std::process::ExitCode;

use example_cli::{only_listen_address, wants_help};
use tonic::service::Routes;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use vsanobs_core::Registry;
use vsanobs_core::process::ProcessCollector;
use vsanobs_http::MetricsEndpoint;
use vsanobs_http::grpc::{GrpcMethods, GrpcServerLayer};

const USAGE: &str = "usage: grpc-demo [--web.listen-address HOST:PORT]\n\
                     default: --web.listen-address 127.0.0.1:9105\n\
                     serves the gRPC service vsanobs.demo.v1.Echo and /metrics on that address";

/// The Echo service behind the gRPC server layer, next to `/metrics` (an axum route outside
/// the layer, so scrapes are not counted as calls; tonic answers other paths `Unimplemented`).
fn routes(registry: &Registry) -> Result<Routes, Box<dyn std::error::Error>> {
    registry.register_collector(ProcessCollector::new())?;
    vsanobs_core::build_info!().register(registry)?;
    let methods = GrpcMethods::from_file_descriptor_set(grpc_demo::FILE_DESCRIPTOR_SET)?;
    let grpc_metrics = GrpcServerLayer::new(registry, methods)?;
    let router = Routes::new(grpc_demo::echo_server())
        .into_axum_router()
        .layer(grpc_metrics)
        .merge(MetricsEndpoint::new(registry.clone()).into_router());
    Ok(Routes::from(router))
}

/// Serves `routes` on `listener` (gRPC over HTTP/2, scrapes over HTTP/1.1 too) until
/// `shutdown` completes.
async fn serve(
    listener: tokio::net::TcpListener,
    routes: Routes,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), tonic::transport::Error> {
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    Server::builder()
        .accept_http1(true)
        .add_routes(routes)
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await
}

#[tokio::main]
async fn main() -> ExitCode {
    example_cli::init_logging();
    if wants_help(std::env::args().skip(1)) {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let addr = match only_listen_address(std::env::args().skip(1), "127.0.0.1:9105") {
        Ok(a) => a,
        Err(e) => {
            eprintln!("grpc-demo: {e}");
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let registry = Registry::new();
    let routes = match routes(&registry) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("grpc-demo: {e}");
            return ExitCode::FAILURE;
        }
    };
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("grpc-demo: cannot listen on {addr}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let addr = listener.local_addr().unwrap_or(addr);
    tracing::info!(%addr, service = grpc_demo::SERVICE_NAME, "grpc-demo listening; metrics on /metrics");
    let served = serve(listener, routes, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await;
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("grpc-demo: {}", vsanobs_core::report::error_chain(&e));
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use grpc_demo::pb::EchoRequest;
    use grpc_demo::pb::echo_client::EchoClient;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    /// `GET /metrics` over HTTP/1.1 on a fresh connection; the whole response.
    async fn scrape(addr: std::net::SocketAddr) -> String {
        let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
        conn.write_all(b"GET /metrics HTTP/1.1\r\nHost: demo\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut response = String::new();
        conn.read_to_string(&mut response).await.unwrap();
        response
    }

    #[tokio::test]
    async fn calls_are_counted_and_scrapes_are_not() {
        let registry = Registry::new();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, routes(&registry).unwrap(), async {
            let _ = stopped.await;
        }));
        let mut client = EchoClient::connect(format!("http://{addr}")).await.unwrap();
        client.unary(EchoRequest::default()).await.unwrap();
        let failed = EchoRequest {
            code: 5,
            ..Default::default()
        };
        assert_eq!(
            client.unary(failed).await.unwrap_err().code(),
            tonic::Code::NotFound
        );
        let _ = scrape(addr).await;
        let response = scrape(addr).await;
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
        let labels = r#"grpc_type="unary",grpc_service="vsanobs.demo.v1.Echo",grpc_method="Unary""#;
        for line in [
            format!("grpc_server_started_total{{{labels}}} 2"),
            format!("grpc_server_handled_total{{{labels},grpc_code=\"OK\"}} 1"),
            format!("grpc_server_handled_total{{{labels},grpc_code=\"NotFound\"}} 1"),
        ] {
            assert!(
                response.lines().any(|l| l == line),
                "no {line} in\n{response}"
            );
        }
        // The scrapes went around the layer: they would be calls of an unknown method.
        assert!(!response.contains(r#"grpc_method="unknown""#), "{response}");
        let _ = stop.send(());
        server.await.unwrap().unwrap();
    }
}
