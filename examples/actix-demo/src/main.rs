//! A small actix-web service with the vsanobs route middleware and /metrics on the same
//! listener.
//!
//! ```text
//! cargo run -p actix-demo -- --web.listen-address 127.0.0.1:9104
//! curl localhost:9104/users/42
//! curl -X POST localhost:9104/users
//! curl localhost:9104/api/v1/items/7            # nested scope
//! curl -N localhost:9104/stream                  # streaming response
//! curl localhost:9104/fail                       # a route that fails (500)
//! curl -H 'Accept: application/openmetrics-text' localhost:9104/metrics
//! ```

use std::process::ExitCode;
use std::time::Duration;

use actix_web::{App, HttpResponse, HttpServer, web};
use example_cli::{only_listen_address, wants_help};
use vsanobs_core::Registry;
use vsanobs_http::actix::HttpMetrics;
use vsanobs_http::{MetricsEndpoint, RouteMetrics};

const USAGE: &str = "usage: actix-demo [--web.listen-address HOST:PORT]\n\
                     default: --web.listen-address 127.0.0.1:9104";

async fn user(id: web::Path<u64>) -> String {
    format!("user {id}\n")
}

async fn item(id: web::Path<String>) -> HttpResponse {
    if id.as_str() == "missing" {
        HttpResponse::NotFound().body("no such item\n")
    } else {
        HttpResponse::Ok().body(format!("item {id}\n"))
    }
}

async fn stream() -> HttpResponse {
    let chunks = futures_util::stream::unfold(0u32, |i| async move {
        if i == 10 {
            return None;
        }
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
        Some((
            Ok::<_, actix_web::Error>(web::Bytes::from(format!("tick {i}\n"))),
            i + 1,
        ))
    });
    HttpResponse::Ok()
        .content_type("text/plain")
        .streaming(chunks)
}

async fn fail() -> HttpResponse {
    HttpResponse::InternalServerError().body("this route always fails\n")
}

fn main() -> ExitCode {
    tracing_subscriber::fmt().init();
    if wants_help(std::env::args().skip(1)) {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let addr = match only_listen_address(std::env::args().skip(1), "127.0.0.1:9104") {
        Ok(a) => a,
        Err(e) => {
            eprintln!("actix-demo: {e}");
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let registry = Registry::new();
    let metrics = match RouteMetrics::builder()
        .group("/api", "api")
        .body_sizes()
        .register(&registry)
    {
        Ok(m) => HttpMetrics::from(m),
        Err(e) => {
            eprintln!("actix-demo: {e}");
            return ExitCode::FAILURE;
        }
    };
    let endpoint = MetricsEndpoint::new(registry);
    let served = actix_web::rt::System::new().block_on(async move {
        let server = HttpServer::new(move || {
            App::new()
                // Registered outside the wrapped scope: scrapes stay out of the route matrix.
                .service(endpoint.clone().into_actix_resource("/metrics"))
                .service(
                    web::scope("")
                        .wrap(metrics.clone())
                        .route(
                            "/",
                            web::get().to(|| async { "actix-demo: see /metrics\n" }),
                        )
                        .route("/users/{id}", web::get().to(user))
                        .route(
                            "/users",
                            web::post().to(|| async { HttpResponse::Created().body("created\n") }),
                        )
                        .route("/stream", web::get().to(stream))
                        .route("/fail", web::get().to(fail))
                        .service(web::scope("/api/v1").route("/items/{id}", web::get().to(item))),
                )
        })
        .bind(addr)?;
        tracing::info!(%addr, "actix-demo listening; metrics on /metrics");
        server.run().await
    });
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("actix-demo: cannot serve on {addr}: {e}");
            ExitCode::FAILURE
        }
    }
}
