//! reload-demo: a small service whose YAML config file can be edited while it runs.
//!
//! ```text
//! cargo run -p reload-demo -- \
//!     --web.listen-address 127.0.0.1:9102 --config /tmp/reload-demo.yaml
//! ```
//!
//! The config file is created with defaults when it does not exist. Edit it (or `kill -HUP`
//! the process, or `curl -X POST http://127.0.0.1:9102/-/reload`) and the new values go live
//! without a restart; a broken file is rejected and the old values keep serving. Routes:
//! `GET /` (the greeting), `GET /metrics` (text 0.0.4 or OpenMetrics, negotiated),
//! `POST /-/reload`.
//!
//! Each config generation runs `workers` background workers; at a reload the old ones are
//! told to stop (`hot_reload_active_workers` shows them come and go), and with
//! `leak_workers: true` they ignore that, so the stale-worker report shows in the log.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use serde::Deserialize;
use vsanobs_core::Registry;
use vsanobs_hotreload::{ConfigFormat, ConfigHandle, ReloadManager};

const DEFAULT_CONFIG: &str = "\
# reload-demo configuration: edit me while the service runs.
greeting: hello from reload-demo
# background workers per config generation (0..=64)
workers: 2
# how often each worker ticks, in milliseconds (>= 10)
tick_ms: 1000
# true: workers ignore cancellation, to show the stale-worker report
leak_workers: false
";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    greeting: String,
    #[serde(default = "default_workers")]
    workers: u32,
    #[serde(default = "default_tick")]
    tick_ms: u64,
    #[serde(default)]
    leak_workers: bool,
}

fn default_workers() -> u32 {
    2
}
fn default_tick() -> u64 {
    1000
}

fn validate(c: &Config) -> Result<(), String> {
    if c.greeting.trim().is_empty() {
        return Err("greeting must not be empty".into());
    }
    if c.workers > 64 {
        return Err(format!("workers must be at most 64, got {}", c.workers));
    }
    if c.tick_ms < 10 {
        return Err(format!("tick_ms must be at least 10, got {}", c.tick_ms));
    }
    Ok(())
}

struct Args {
    listen: SocketAddr,
    config: PathBuf,
}

fn usage() -> ! {
    eprintln!(
        "usage: reload-demo [--web.listen-address HOST:PORT] [--config FILE]\n\
         defaults: --web.listen-address 127.0.0.1:9102 --config reload-demo.yaml"
    );
    std::process::exit(2)
}

fn args() -> Args {
    let mut out = Args {
        listen: SocketAddr::from(([127, 0, 0, 1], 9102)),
        config: PathBuf::from("reload-demo.yaml"),
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let (key, inline) = match a.split_once('=') {
            Some((k, v)) => (k.to_owned(), Some(v.to_owned())),
            None => (a.clone(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| it.next())
                .unwrap_or_else(|| usage())
        };
        match key.as_str() {
            "--web.listen-address" => {
                let v = value();
                let v = if v.starts_with(':') {
                    format!("0.0.0.0{v}")
                } else {
                    v
                };
                out.listen = v.parse().unwrap_or_else(|e| {
                    eprintln!("bad --web.listen-address {v}: {e}");
                    usage()
                });
            }
            "--config" => out.config = PathBuf::from(value()),
            "-h" | "--help" => usage(),
            other => {
                eprintln!("unknown argument {other}");
                usage()
            }
        }
    }
    out
}

/// Runs the workers of each config generation: starts `workers` threads with a guard each,
/// waits for the generation to be replaced, and starts the next set.
fn supervise(handle: ConfigHandle<Config>) {
    while let Some(supervisor) = handle.worker() {
        let config = handle.load_full();
        for n in 0..config.workers {
            let Some(guard) = handle.worker() else { return };
            let (tick, leak) = (Duration::from_millis(config.tick_ms), config.leak_workers);
            let spawned = std::thread::Builder::new()
                .name(format!("demo-worker-{}-{n}", guard.generation()))
                .spawn(move || {
                    let mut ticks = 0u64;
                    loop {
                        if guard.wait_cancelled(tick) && !leak {
                            tracing::debug!(
                                generation = guard.generation(),
                                ticks,
                                "worker stopping"
                            );
                            return;
                        }
                        ticks += 1;
                    }
                });
            if let Err(e) = spawned {
                tracing::warn!("cannot start worker: {e}");
            }
        }
        // Wake up when this generation is replaced (or the manager goes away).
        while !supervisor.wait_cancelled(Duration::from_secs(1)) {
            if !handle.is_manager_alive() {
                return;
            }
        }
    }
}

fn main() {
    tracing_subscriber::fmt()
        .with_target(false)
        .with_max_level(tracing::Level::INFO)
        .init();
    let args = args();
    if !args.config.exists() {
        if let Err(e) = std::fs::write(&args.config, DEFAULT_CONFIG) {
            eprintln!("cannot create {}: {e}", args.config.display());
            std::process::exit(1);
        }
        tracing::info!("wrote default config to {}", args.config.display());
    }

    let registry = Registry::new();
    if let Err(e) = registry.register_collector(vsanobs_core::process::ProcessCollector::new()) {
        tracing::warn!("process metrics unavailable: {e}");
    }
    let manager = match ReloadManager::<Config>::builder(&args.config)
        .format(ConfigFormat::Yaml)
        .validate(validate)
        .signals(true)
        .grace_period(Duration::from_secs(5))
        .register(&registry)
        .build()
    {
        Ok(m) => m,
        Err(e) => {
            eprintln!("reload-demo: {}", vsanobs_core::report::error_chain(&e));
            std::process::exit(1);
        }
    };
    let handle = manager.handle();
    {
        let handle = handle.clone();
        if let Err(e) = std::thread::Builder::new()
            .name("demo-supervisor".into())
            .spawn(move || supervise(handle))
        {
            eprintln!("reload-demo: cannot start supervisor: {e}");
            std::process::exit(1);
        }
    }

    let greeting = handle.clone();
    let app: Router = Router::new()
        .route(
            "/",
            get(move || {
                let g = greeting.clone();
                async move { format!("{}\n", g.load().greeting) }
            }),
        )
        .merge(vsanobs_hotreload::http::axum_router(handle))
        .route(
            "/metrics",
            get(move |headers: axum::http::HeaderMap| {
                let registry = registry.clone();
                async move {
                    let accept = headers
                        .get(axum::http::header::ACCEPT)
                        .and_then(|v| v.to_str().ok());
                    let format = vsanobs_core::negotiate(accept);
                    let mut body = String::new();
                    registry.encode(format, &mut body);
                    (
                        [(axum::http::header::CONTENT_TYPE, format.content_type())],
                        body,
                    )
                }
            }),
        );

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("reload-demo: cannot start runtime: {e}");
            std::process::exit(1);
        }
    };
    let served = runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.listen).await?;
        tracing::info!(
            "listening on http://{}  (config {})",
            listener.local_addr()?,
            args.config.display()
        );
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
    });
    drop(manager);
    if let Err(e) = served {
        eprintln!("reload-demo: {e}");
        std::process::exit(1);
    }
}
