//! `vcsim`: the vCenter/vSAN simulator on its own.
//!
//! ```text
//! cargo run -p vsanobs-examples --bin vcsim -- --web.listen-address 127.0.0.1:8989 --clusters 4 --hosts 8
//! ```
//! Log in with `administrator@vsphere.local` / `VMware1!` (or `VCSIM_USER` / `VCSIM_PASSWORD`).

use vsanobs_examples::vsan::cli::{Args, init_logging, listen_address};
use vsanobs_examples::vsan::sim::{SimConfig, Simulator};

const KNOWN: &[&str] = &[
    "web.listen-address",
    "clusters",
    "hosts",
    "disk-groups",
    "vms",
    "interval",
    "seed",
];

#[tokio::main]
async fn main() {
    init_logging();
    if let Err(e) = run().await {
        eprintln!("vcsim: {e}");
        std::process::exit(2);
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse(std::env::args().skip(1), &[], KNOWN)?;
    let d = SimConfig::default();
    let cfg = SimConfig {
        clusters: args.num("clusters", d.clusters)?,
        hosts_per_cluster: args.num("hosts", d.hosts_per_cluster)?,
        disk_groups_per_host: args.num("disk-groups", d.disk_groups_per_host)?,
        vms_per_host: args.num("vms", d.vms_per_host)?,
        interval_secs: args.num("interval", d.interval_secs)?,
        seed: args.num("seed", d.seed)?,
        user: std::env::var("VCSIM_USER").unwrap_or(d.user.clone()),
        password: std::env::var("VCSIM_PASSWORD").unwrap_or(d.password.clone()),
        ..d
    };
    let addr = listen_address(args.get("web.listen-address").unwrap_or("127.0.0.1:8989"))?;
    let server = Simulator::new(cfg.clone()).serve(addr).await?;
    tracing::info!(
        url = %server.url(),
        clusters = cfg.clusters,
        hosts_per_cluster = cfg.hosts_per_cluster,
        disk_groups_per_host = cfg.disk_groups_per_host,
        "vCenter/vSAN simulator listening (SOAP on /sdk and /vsanHealth)"
    );
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r?,
        _ = term.recv() => {}
    }
    server.stop().await;
    Ok(())
}
