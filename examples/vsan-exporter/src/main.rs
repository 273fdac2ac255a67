//! `vsan-exporter`: VMware vSAN performance metrics for Prometheus.
//!
//! ```text
//! cargo run -p vsan-exporter                 # built-in simulator
//! VCENTER_URL=https://vc.example.com VCENTER_USER=monitor@vsphere.local \
//!   VCENTER_PASSWORD_FILE=/run/secrets/vc cargo run -p vsan-exporter \
//!   -- --vcenter.ca-file /etc/ssl/vcenter-ca.pem
//! ```
//! TLS verification is on by default: `--vcenter.ca-file` (PEM, e.g. vCenter's VMCA root) adds the
//! CA that signed vCenter's certificate; `--vcenter.insecure` turns verification off, with a
//! warning and `vsan_exporter_insecure_tls 1`. The password comes from `VCENTER_PASSWORD` or
//! `VCENTER_PASSWORD_FILE`, never from the command line. See docs/vsan.md.
//! Flags: `--web.listen-address` (default `:9101`), `--web.config.file` (exporter-toolkit
//! YAML: TLS and basic auth on /metrics, re-read on change and SIGHUP), `--config.file` (JSON, several vCenters),
//! `--state.file`, `--collect.interval` / `--collect.cluster-timeout` (seconds),
//! `--collect.max-concurrency`, `--collect.health-interval` / `--no-collect.health` /
//! `--no-collect.capacity` / `--no-collect.resync`, `--shard` / `--total-shards` (split the clusters among replicas),
//! `--vcenter.insecure`, `--vcenter.ca-file`, `--remote-write.url` (every vSAN interval
//! pushed at its own timestamp, through a sample pool) with `--remote-write.pool-size`,
//! `--remote-write.max-series`, `--remote-write.batch-size`,
//! `--remote-write.bearer-token-file`, `--remote-write.basic-auth.username` and
//! `--remote-write.basic-auth.password-file`, and for the built-in
//! simulator `--sim.clusters`, `--sim.esa-clusters`, `--sim.hosts`, `--sim.disk-groups`,
//! `--sim.interval`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::routing::get;
use example_cli::{Args, init_logging, listen_address, wants_help};
use vcsim::{SimConfig, Simulator};
use vsan_exporter::config::{FileConfig, target_from_env};
use vsan_exporter::engine::{Engine, EngineOptions};
use vsan_exporter::secret::{Credentials, Secret};
use vsanobs_core::Registry;

#[global_allocator]
static GLOBAL: vsanobs_core::alloc::CountingAlloc<std::alloc::System> =
    vsanobs_core::alloc::CountingAlloc::new(std::alloc::System);

/// glibc malloc, tuned before any thread starts.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod malloc {
    /// Allocations from this size up get their own mapping, returned to the system when
    /// freed: a fixed threshold (glibc otherwise raises it to the largest block freed so
    /// far, up to 32 MiB, and vSAN answers and scrape buffers then stay in an arena). At
    /// 64 KiB the /metrics chunks are mapped too.
    const MMAP_THRESHOLD: libc::c_int = 64 * 1024;
    /// One arena for every thread (glibc's default is eight per core): freed memory is
    /// reused by any thread instead of staying in the arena of the thread that freed it
    /// (0.3 MiB less at rest than with two; allocation here is far from contended).
    const ARENA_MAX: libc::c_int = 1;

    pub(crate) fn tune() {
        // SAFETY: mallopt only sets allocator parameters; it is called from main before
        // the runtime starts any thread.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
            libc::mallopt(libc::M_ARENA_MAX, ARENA_MAX);
        }
    }

    /// Returns the free pages of every arena to the system.
    pub(crate) fn release() {
        // SAFETY: malloc_trim takes the arena locks itself and only releases free memory.
        unsafe {
            libc::malloc_trim(0);
        }
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
mod malloc {
    pub(crate) fn tune() {}
    pub(crate) fn release() {}
}

/// Freed bytes after which the allocator is asked to return free pages: a collection or a
/// scrape of a large vCenter frees tens of MiB, a quiet second next to nothing.
const RELEASE_AFTER_FREED: u64 = 4 << 20;

/// After each scrape (`scraped`) and every second, returns free pages to the system when
/// enough was freed since last time.
async fn release_freed_memory(scraped: Arc<tokio::sync::Notify>) {
    let mut last = vsanobs_core::alloc::HeapSnapshot::now().freed_bytes();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = scraped.notified() => {}
        }
        let freed = vsanobs_core::alloc::HeapSnapshot::now().freed_bytes();
        if freed.saturating_sub(last) >= RELEASE_AFTER_FREED {
            last = freed;
            tokio::task::spawn_blocking(malloc::release).await.ok();
        }
    }
}

/// Notifies when dropped: a response body that has been sent (or abandoned).
struct NotifyOnDrop(Arc<tokio::sync::Notify>);

impl Drop for NotifyOnDrop {
    fn drop(&mut self) {
        self.0.notify_one();
    }
}

/// Wraps a response body so `scraped` is notified once it is done: the streamed /metrics
/// body ends after the last collector's output was encoded and sent, when its buffers
/// have just been freed.
fn notify_when_sent(
    res: axum::response::Response,
    scraped: Arc<tokio::sync::Notify>,
) -> axum::response::Response {
    use futures_util::StreamExt as _;
    let (parts, body) = res.into_parts();
    let guard = NotifyOnDrop(scraped);
    let body = body.into_data_stream().map(move |chunk| {
        let _ = &guard;
        chunk
    });
    axum::response::Response::from_parts(parts, axum::body::Body::from_stream(body))
}

/// The exporter's build-info family (`vsan_exporter_build_info`).
const BUILD_INFO_NAME: &str = "vsan_exporter_build_info";

const FLAGS: &[&str] = &[
    "vcenter.insecure",
    "no-collect.health",
    "no-collect.capacity",
    "no-collect.resync",
];
const KNOWN: &[&str] = &[
    "web.listen-address",
    "web.config.file",
    "config.file",
    "state.file",
    "collect.interval",
    "collect.cluster-timeout",
    "collect.max-concurrency",
    "collect.lookback",
    "collect.max-raw-series",
    "collect.health-interval",
    "shard",
    "total-shards",
    "vcenter.ca-file",
    "vcenter.page-size",
    "remote-write.url",
    "remote-write.pool-size",
    "remote-write.max-series",
    "remote-write.batch-size",
    "remote-write.bearer-token-file",
    "remote-write.basic-auth.username",
    "remote-write.basic-auth.password-file",
    "sim.clusters",
    "sim.esa-clusters",
    "sim.hosts",
    "sim.disk-groups",
    "sim.interval",
];

const USAGE: &str = "\
vsan-exporter: VMware vSAN performance metrics for Prometheus.

Usage: vsan-exporter [flags]

With VCENTER_URL unset, it collects from a built-in vCenter/vSAN simulator and says so.
Environment: VCENTER_URL, VCENTER_USER, VCENTER_PASSWORD or VCENTER_PASSWORD_FILE
(passwords are never read from the command line).

  --web.listen-address ADDR      where /metrics is served (default :9101)
  --web.config.file PATH         exporter-toolkit web config (YAML): HTTPS certificate,
                                 client CA, basic-auth users with bcrypt hashes; re-read
                                 when it changes and on SIGHUP (a bad file keeps the last)
  --config.file PATH             JSON file with several vCenters and clusters (hot-reloaded)
  --state.file PATH              last sample time per cluster, so a restart resumes
  --collect.interval SECONDS     time between collections (default 60; 15 with the simulator)
  --collect.cluster-timeout SECONDS
                                 per-cluster collection timeout (default 30)
  --collect.max-concurrency N    vSAN requests in flight over all clusters (default 16)
  --collect.lookback SECONDS     how far back the first collection reaches (default 900)
  --collect.max-raw-series N     most series per cluster from entity types the catalogue
                                 does not know, exported raw (default 10000)
  --collect.health-interval SECONDS
                                 time between vSAN health queries of a cluster, the last
                                 answer served in between (default 300; config file:
                                 health_interval_seconds)
  --no-collect.health            no vSAN health queries (config file: collect_health false)
  --no-collect.capacity          no vSAN capacity queries (collect_capacity false)
  --no-collect.resync            no vSAN resync queries (collect_resync false)
  --shard I                      this replica's shard, from 0 (default 0; config file: shard)
  --total-shards N               replicas sharing the vCenters: each collects the clusters
                                 whose stable hash falls in its shard (default 1; config
                                 file: total_shards)
  --vcenter.ca-file PATH         PEM CA certificate that signed vCenter's certificate
  --vcenter.page-size N          inventory objects per RetrievePropertiesEx page (default 500;
                                 config file: inventory_page_size per vCenter)
  --vcenter.insecure             do not verify vCenter's certificate (warned, and exported
                                 as vsan_exporter_insecure_tls 1)
  --remote-write.url URL         also push every vSAN interval value (gauges, counter
                                 totals), each at its vSAN sample time, to this Prometheus
                                 remote-write receiver (e.g. http://prometheus:9090/api/v1/write,
                                 VictoriaMetrics' /api/v1/write); /metrics is served as
                                 before (config file: remote_write.url)
  --remote-write.pool-size N     samples held while the receiver is down; the oldest are
                                 dropped past it and counted in
                                 vsanobs_pool_dropped_samples_total (default 200000,
                                 32 bytes each, allocated at start)
  --remote-write.max-series N    most series pushed; values of more are counted in
                                 vsan_exporter_remote_write_refused_samples_total
                                 (default 1000000)
  --remote-write.batch-size N    most samples per request (default 2000)
  --remote-write.bearer-token-file PATH
                                 send Authorization: Bearer with the token in this file
  --remote-write.basic-auth.username USER
  --remote-write.basic-auth.password-file PATH
                                 HTTP basic authentication for remote write
  --sim.clusters N               built-in simulator: vSAN OSA clusters (default 4)
  --sim.esa-clusters N           built-in simulator: vSAN ESA clusters besides (default 1)
  --sim.hosts N                  built-in simulator: hosts per cluster (default 8)
  --sim.disk-groups N            built-in simulator: disk groups per host (default 2)
  --sim.interval SECONDS         built-in simulator: sample interval (default 60)
  -h, --help                     this text
";

fn main() {
    if wants_help(std::env::args().skip(1)) {
        print!("{USAGE}");
        return;
    }
    malloc::tune();
    init_logging();
    let result = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(Box::<dyn std::error::Error>::from)
        .and_then(|rt| rt.block_on(run()));
    if let Err(e) = result {
        eprintln!("vsan-exporter: {}", vsanobs_core::report::error_chain(&*e));
        std::process::exit(2);
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse(std::env::args().skip(1), FLAGS, KNOWN)?;
    let listen = listen_address(args.get("web.listen-address").unwrap_or(":9101"))?;
    // Checked before anything starts: a bad web config stops the exporter with its error.
    // Later it is re-read when it changes and on SIGHUP; a bad file then keeps the previous
    // one in force.
    let web = args
        .get("web.config.file")
        .map(vsanobs_http::LiveWebConfig::load)
        .transpose()?;
    let request_timeout = Duration::from_secs(args.num("collect.cluster-timeout", 30u64)?);
    let mut opts = EngineOptions {
        interval: Duration::from_secs(args.num("collect.interval", 60u64)?),
        cluster_timeout: request_timeout,
        max_concurrent_requests: args.num("collect.max-concurrency", 16usize)?,
        lookback_secs: args.num("collect.lookback", 900i64)?,
        max_raw_series_per_cluster: args.num(
            "collect.max-raw-series",
            vsan_exporter::engine::DEFAULT_MAX_RAW_SERIES_PER_CLUSTER,
        )?,
        state_file: args.get("state.file").map(PathBuf::from),
        summary: vsan_exporter::summary::SummaryOptions {
            health: !args.flag("no-collect.health"),
            health_interval: Duration::from_secs(args.num(
                "collect.health-interval",
                vsan_exporter::summary::DEFAULT_HEALTH_INTERVAL.as_secs(),
            )?),
            capacity: !args.flag("no-collect.capacity"),
            resync: !args.flag("no-collect.resync"),
        },
        ..EngineOptions::default()
    };
    let flag_sharding = vsan_exporter::config::sharding_from_flags(
        args.num("shard", 0u32)?,
        args.num("total-shards", 1u32)?,
    )?;
    opts.sharding = flag_sharding;
    let paging = vsan_exporter::client::InventoryPaging {
        page_size: args.num(
            "vcenter.page-size",
            vsan_exporter::client::InventoryPaging::default().page_size,
        )?,
        ..Default::default()
    };
    let mut simulator = None;
    let registry = Registry::new();
    let mut reload = None;
    let mut remote_write_file = None;
    let targets = if let Some(path) = args.get("config.file") {
        let cfg = FileConfig::load(std::path::Path::new(path))?;
        remote_write_file = cfg.remote_write.clone();
        let timeout = opts.cluster_timeout;
        // The vCenter list hot-reloads (file watch or SIGHUP); the
        // collection options are read once at start.
        let manager = vsanobs_hotreload::ReloadManager::<FileConfig>::builder(path)
            .format(vsanobs_hotreload::ConfigFormat::Json)
            .watch(true)
            .signals(true)
            .validate(move |c: &FileConfig| c.check(flag_sharding, timeout))
            .register(&registry)
            .build()?;
        reload = Some(manager);
        if let Some(s) = cfg.interval_seconds {
            opts.interval = Duration::from_secs(s);
        }
        if let Some(s) = cfg.cluster_timeout_seconds {
            opts.cluster_timeout = Duration::from_secs(s);
        }
        if let Some(n) = cfg.max_concurrent_requests {
            opts.max_concurrent_requests = n;
        }
        opts.summary = cfg.summary_options(opts.summary.clone());
        opts.sharding = cfg.sharding(flag_sharding)?;
        cfg.targets(opts.cluster_timeout)?
    } else if let Some(t) = target_from_env(
        args.flag("vcenter.insecure"),
        args.get("vcenter.ca-file").map(PathBuf::from),
        request_timeout,
        paging,
    )? {
        vec![t]
    } else {
        let d = SimConfig::default();
        let cfg = SimConfig {
            clusters: args.num("sim.clusters", d.clusters)?,
            esa_clusters: args.num("sim.esa-clusters", 1)?,
            hosts_per_cluster: args.num("sim.hosts", d.hosts_per_cluster)?,
            disk_groups_per_host: args.num("sim.disk-groups", d.disk_groups_per_host)?,
            interval_secs: args.num("sim.interval", 60i64)?,
            ..d
        };
        let server = Simulator::new(cfg.clone())
            .serve("127.0.0.1:0".parse()?)
            .await?;
        tracing::warn!(
            url = %server.url(),
            clusters = cfg.clusters,
            hosts_per_cluster = cfg.hosts_per_cluster,
            "VCENTER_URL is not set: collecting from the built-in vCenter/vSAN simulator"
        );
        let target = vsan_exporter::config::Target {
            name: "vcsim".into(),
            client: vsan_exporter::client::ClientOptions {
                url: server.url(),
                credentials: Credentials {
                    user: cfg.user.clone(),
                    password: Secret::new(cfg.password.clone()),
                },
                insecure: false,
                ca_file: None,
                request_timeout,
                paging,
            },
            clusters: None,
        };
        if args.get("collect.interval").is_none() {
            opts.interval = Duration::from_secs(15);
        }
        simulator = Some(server);
        vec![target]
    };

    // `vsan_exporter_build_info{version, rustc_version, git_commit, profile} 1`; the last two
    // come from examples/build.rs.
    registry.register(
        BUILD_INFO_NAME,
        vsanobs_core::build_info::BUILD_INFO_METRIC.help,
        vsanobs_core::Info::new(vsanobs_core::build_info!()),
    )?;
    registry.register_collector(vsanobs_core::process::ProcessCollector::new())?;
    registry.register_collector(vsanobs_core::alloc::HeapCollector::new())?;
    registry.register_collector(vsanobs_core::reclaim::ReclaimCollector::new())?;
    let exporter = Engine::new(targets, opts)?;
    let remote_write = match remote_write_options(&args, remote_write_file.as_ref())? {
        Some(o) => {
            let rw = vsan_exporter::push::RemoteWrite::start(o, &registry)?;
            exporter.set_push(rw.sink());
            Some(rw)
        }
        None => None,
    };
    // One collector per vSAN family (named after it), per entity type for unknown labels
    // and one for the self-metrics (see `Engine::collectors`): the streaming /metrics path
    // holds one collector's encoded text at a time, at most the largest family's (about
    // 2.1 MiB at 16 clusters x 32 hosts) instead of all ~100,000 series at once.
    for c in exporter.collectors() {
        registry.register_collector(c)?;
    }

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    if let Some(manager) = reload {
        let exporter = exporter.clone();
        let timeout = request_timeout;
        let mut rx = stop_rx.clone();
        tokio::spawn(async move {
            let mut seen = manager.generation();
            loop {
                tokio::select! {
                    _ = rx.wait_for(|v| *v) => break,
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
                let generation = manager.generation();
                if generation == seen {
                    continue;
                }
                seen = generation;
                let cfg = manager.load();
                match cfg
                    .sharding(flag_sharding)
                    .and_then(|s| Ok((s, cfg.targets(timeout)?)))
                {
                    Ok((sharding, t)) => match exporter.set_targets(t).await {
                        Ok(()) => exporter.set_sharding(sharding),
                        Err(e) => tracing::warn!(error = %e, "reloaded config not applied"),
                    },
                    Err(e) => tracing::warn!(error = %e, "reloaded config not applied"),
                }
            }
        });
    }
    let scraped = Arc::new(tokio::sync::Notify::new());
    let release = tokio::spawn(release_freed_memory(scraped.clone()));
    let engine = {
        let mut rx = stop_rx.clone();
        tokio::spawn(exporter.clone().run(async move {
            let _ = rx.wait_for(|v| *v).await;
        }))
    };
    // /metrics through the shared endpoint: content negotiation, gzip, `name[]` selection,
    // a bound on concurrent scrapes with a timeout, and its handler metrics.
    let app = axum::Router::new().route(
        "/",
        get(|| async { "vsan-exporter: metrics at /metrics\n" }),
    );
    let mut endpoint = vsanobs_http::MetricsEndpoint::new(registry.clone());
    if let Some(web) = &web {
        web.register(&registry)?;
        endpoint = web.apply(endpoint);
    }
    let app = endpoint.mount(app).layer(axum::middleware::map_response(
        move |res: axum::response::Response| {
            let scraped = scraped.clone();
            async move { notify_when_sent(res, scraped) }
        },
    ));
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let https = web
        .as_ref()
        .is_some_and(vsanobs_http::LiveWebConfig::serves_tls);
    let _web_watch = web.as_ref().map(|w| {
        reload_web_config_on_sighup(w.clone());
        w.watch(vsanobs_http::LiveWebConfig::DEFAULT_WATCH_PERIOD)
    });
    tracing::info!(
        address = %listener.local_addr()?,
        https,
        basic_auth = web
            .as_ref()
            .is_some_and(|w| w.current().basic_auth_users().count() > 0),
        "serving /metrics"
    );
    let mut rx = stop_rx.clone();
    let stopped = async move {
        let _ = rx.wait_for(|v| *v).await;
    };
    let server = match web.filter(|_| https) {
        Some(web) => {
            let listener = vsanobs_http::web_config::TlsListener::live(listener, web)?;
            tokio::spawn(async move {
                axum::serve(listener, app)
                    .with_graceful_shutdown(stopped)
                    .await
            })
        }
        None => tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(stopped)
                .await
        }),
    };
    shutdown_signal().await;
    tracing::info!("shutting down: logging out of vCenter");
    let _ = stop_tx.send(true);
    let _ = engine.await;
    if let Some(rw) = remote_write {
        // What the last collections pushed is sent within 10 s; the rest is counted.
        let out = tokio::task::spawn_blocking(move || rw.shutdown(Duration::from_secs(10))).await;
        if let Ok(out) = out
            && !out.is_complete()
        {
            tracing::warn!(
                unsent_samples = out.unsent_samples,
                "remote write: samples not sent at shutdown"
            );
        }
    }
    let _ = server.await;
    release.abort();
    if let Some(s) = simulator {
        s.stop().await;
    }
    Ok(())
}

/// The remote-write settings: the `--remote-write.*` flags over the config file's
/// `remote_write` object; None without a URL in either.
fn remote_write_options(
    args: &Args,
    file: Option<&vsan_exporter::config::RemoteWriteConfig>,
) -> Result<Option<vsan_exporter::push::RemoteWriteOptions>, Box<dyn std::error::Error>> {
    let Some(url) = args
        .get("remote-write.url")
        .map(str::to_owned)
        .or_else(|| file.map(|f| f.url.clone()))
    else {
        return Ok(None);
    };
    let mut o = vsan_exporter::push::RemoteWriteOptions::new(url);
    if let Some(f) = file {
        o.pool_size = f.pool_size.unwrap_or(o.pool_size);
        o.max_series = f.max_series.unwrap_or(o.max_series);
        o.batch_size = f.batch_size.unwrap_or(o.batch_size);
    }
    o.pool_size = args.num("remote-write.pool-size", o.pool_size)?;
    o.max_series = args.num("remote-write.max-series", o.max_series)?;
    o.batch_size = args.num("remote-write.batch-size", o.batch_size)?;
    let read = |path: &std::path::Path| {
        Secret::from_file(path).map_err(|e| {
            format!(
                "cannot read remote-write secret file {}: {e}",
                path.display()
            )
        })
    };
    let token_file = args
        .get("remote-write.bearer-token-file")
        .map(PathBuf::from)
        .or_else(|| file.and_then(|f| f.bearer_token_file.clone()));
    if let Some(p) = token_file {
        o.bearer_token = Some(read(&p)?);
    }
    let user = args.get("remote-write.basic-auth.username");
    let password_file = args.get("remote-write.basic-auth.password-file");
    match (user, password_file) {
        (Some(u), Some(p)) => o.basic_auth = Some((u.to_owned(), read(std::path::Path::new(p))?)),
        (None, None) => {
            if let Some(b) = file.and_then(|f| f.basic_auth.as_ref()) {
                o.basic_auth = Some((b.username.clone(), read(&b.password_file)?));
            }
        }
        _ => {
            return Err("--remote-write.basic-auth.username and --remote-write.basic-auth.password-file go together".into());
        }
    }
    Ok(Some(o))
}

/// Re-reads the web config on every `SIGHUP` (beside the config file's own reload), on the
/// blocking pool; a refused file is logged and counted by the reload.
fn reload_web_config_on_sighup(web: vsanobs_http::LiveWebConfig) {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hup = match signal(SignalKind::hangup()) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "no SIGHUP handler: the web config reloads on change only");
            return;
        }
    };
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            let web = web.clone();
            let _ = tokio::task::spawn_blocking(move || web.reload()).await;
        }
    });
}

async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
}
