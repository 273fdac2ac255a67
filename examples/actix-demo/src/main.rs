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
//!
//! `--web.config.file web.yml` (exporter-toolkit format, see `vsanobs_http::web_config`)
//! serves everything over HTTPS when it has `tls_server_config`, and requires basic auth on
//! /metrics when it has `basic_auth_users`; a bad file at start exits with status 2. The
//! file is re-read when it changes (checked every 5 s) and on `SIGHUP`: new connections get
//! the new certificate and key, scrapes the new users; a bad file is logged and counted
//! (`vsanobs_web_config_reloads_total`) and the previous configuration stays in force.
//! The client CA, `client_auth_type` and TLS versions are those read at start.

use std::process::ExitCode;
use std::time::Duration;

use actix_web::{App, HttpResponse, HttpServer, web};
use example_cli::{listen_address_and_web_config, wants_help};
use vsanobs_core::Registry;
use vsanobs_http::actix::HttpMetrics;
use vsanobs_http::web_config::LiveWebConfig;
use vsanobs_http::{MetricsEndpoint, RouteMetrics};

const USAGE: &str = "usage: actix-demo [--web.listen-address HOST:PORT] [--web.config.file PATH]\n\
                     default: --web.listen-address 127.0.0.1:9104\n\
                     --web.config.file: exporter-toolkit web config (HTTPS, basic auth on /metrics),\n\
                     re-read when it changes and on SIGHUP";

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

/// Re-reads the web config on every `SIGHUP` (on the blocking pool: checking bcrypt hashes
/// takes tens of milliseconds); a refused file is logged and counted by the reload.
fn reload_on_sighup(web: LiveWebConfig) {
    let mut hup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "no SIGHUP handler: the web config reloads on change only");
            return;
        }
    };
    actix_web::rt::spawn(async move {
        while hup.recv().await.is_some() {
            let web = web.clone();
            let _ = actix_web::rt::task::spawn_blocking(move || web.reload()).await;
        }
    });
}

fn main() -> ExitCode {
    tracing_subscriber::fmt().init();
    if wants_help(std::env::args().skip(1)) {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let (addr, web_file) =
        match listen_address_and_web_config(std::env::args().skip(1), "127.0.0.1:9104") {
            Ok(a) => a,
            Err(e) => {
                eprintln!("actix-demo: {e}");
                eprintln!("{USAGE}");
                return ExitCode::from(2);
            }
        };
    let web = match web_file.as_deref().map(LiveWebConfig::load).transpose() {
        Ok(w) => w,
        Err(e) => {
            eprintln!("actix-demo: {}", vsanobs_core::report::error_chain(&e));
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
    let mut endpoint = MetricsEndpoint::new(registry.clone());
    if let Some(web) = &web {
        if let Err(e) = web.register(&registry) {
            eprintln!("actix-demo: {e}");
            return ExitCode::FAILURE;
        }
        endpoint = web.apply(endpoint);
    }
    let tls = web.as_ref().and_then(LiveWebConfig::rustls_server_config);
    let https = tls.is_some();
    let served = actix_web::rt::System::new().block_on(async move {
        // Within the system's runtime: the watcher and the SIGHUP task run on it.
        let _watch = web.as_ref().map(|w| {
            reload_on_sighup(w.clone());
            w.watch(LiveWebConfig::DEFAULT_WATCH_PERIOD)
        });
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
        });
        let server = match tls {
            Some(config) => server.bind_rustls_0_23(addr, config)?,
            None => server.bind(addr)?,
        };
        tracing::info!(%addr, https, "actix-demo listening; metrics on /metrics");
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
