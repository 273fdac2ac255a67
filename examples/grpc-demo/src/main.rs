//! The Echo gRPC service with vsanobs's gRPC server metrics (`grpc_server_*`, the service's
//! four methods from its descriptor set) and `/metrics` on one listener (gRPC over HTTP/2,
//! scrapes over HTTP/1.1 or HTTP/2).
//!
//! ```text
//! cargo run -p grpc-demo -- --web.listen-address 127.0.0.1:9105
//! grpcurl -plaintext -d '{"message":"hi"}' 127.0.0.1:9105 vsanobs.demo.v1.Echo/Unary   # needs reflection or -proto proto/echo.proto
//! curl 127.0.0.1:9105/metrics
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
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    let served = Server::builder()
        .accept_http1(true)
        .add_routes(routes)
        .serve_with_incoming_shutdown(incoming, async {
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
