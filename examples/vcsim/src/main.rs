//! `vcsim`: the vCenter/vSAN simulator on its own.
//!
//! ```text
//! cargo run -p vcsim -- --web.listen-address 127.0.0.1:8989 --clusters 4 --hosts 8
//! ```
//! Log in with `administrator@vsphere.local` / `VMware1!` (or `VCSIM_USER` / `VCSIM_PASSWORD`).
//! `--vcenter-version 7.0U3|8.0U2|8.0U3` (default 8.0U3) picks the vCenter release emulated.
//!
//! HTTPS instead of HTTP:
//! - `--tls-self-signed --tls-ca-out /tmp/vcsim-ca.pem`: a CA and a certificate for
//!   `localhost` and `127.0.0.1` are generated at start; the CA certificate (PEM) is written to
//!   the `--tls-ca-out` path for clients to trust (`vsan-exporter --vcenter.ca-file`);
//! - `--tls-cert server.pem --tls-key server-key.pem`: a certificate chain and key from files.

use example_cli::{Args, init_logging, listen_address, wants_help};
use vcsim::{SimConfig, SimTls, Simulator};

const KNOWN: &[&str] = &[
    "web.listen-address",
    "clusters",
    "hosts",
    "disk-groups",
    "vms",
    "vms-total",
    "esa-clusters",
    "esa-disks",
    "no-vsan-clusters",
    "perf-off-clusters",
    "no-permission-clusters",
    "interval",
    "seed",
    "tls-cert",
    "tls-key",
    "tls-ca-out",
    "vcenter-version",
    "fail-hosts",
];
const FLAGS: &[&str] = &["tls-self-signed"];

const USAGE: &str = "\
vcsim: a vCenter/vSAN simulator (SOAP /sdk and /vsanHealth) with consistent performance data.

Usage: vcsim [flags]

  --web.listen-address ADDR  where to listen (default 127.0.0.1:8989)
  --clusters N               clusters (default 4)
  --hosts N                  hosts per cluster (default 8)
  --disk-groups N            disk groups per host (default 2)
  --vms N                    VMs per host (default 2)
  --vms-total N              VMs in the whole vCenter, spread over every host (overrides --vms)
  --esa-clusters N           vSAN ESA clusters added after the OSA ones (default 0)
  --esa-disks N              storage-pool disks per ESA host (default 4)
  --no-vsan-clusters N       clusters without vSAN (default 0)
  --perf-off-clusters N      vSAN clusters whose performance service is off: NotFound (default 0)
  --no-permission-clusters N vSAN clusters the user may not query: NoPermission (default 0)
  --interval SECONDS         performance sample interval (default 300, as vSAN)
  --seed N                   seed of the generated data (default 7)
  --vcenter-version V        vCenter release emulated on /sdk: 7.0U3, 8.0U2 or 8.0U3
                             (default 8.0U3); ServiceContent.about, the service-versions
                             documents and the SOAPAction versions accepted follow it
  --fail-hosts NAME,...      hosts (names or MoRefs) failed from the start: their
                             clusters' health red, capacity lower, no performance data
  --tls-self-signed          serve HTTPS with a CA and certificate generated at start
  --tls-ca-out PATH          write that CA certificate (PEM) to PATH
  --tls-cert PATH --tls-key PATH
                             serve HTTPS with this certificate chain and key
  -h, --help                 this text

Log in with administrator@vsphere.local / VMware1! (or VCSIM_USER / VCSIM_PASSWORD).
";

#[tokio::main]
async fn main() {
    if wants_help(std::env::args().skip(1)) {
        print!("{USAGE}");
        return;
    }
    init_logging();
    if let Err(e) = run().await {
        eprintln!("vcsim: {e}");
        std::process::exit(2);
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse(std::env::args().skip(1), FLAGS, KNOWN)?;
    let d = SimConfig::default();
    let cfg = SimConfig {
        clusters: args.num("clusters", d.clusters)?,
        hosts_per_cluster: args.num("hosts", d.hosts_per_cluster)?,
        disk_groups_per_host: args.num("disk-groups", d.disk_groups_per_host)?,
        vms_per_host: args.num("vms", d.vms_per_host)?,
        vms_total: match args.get("vms-total") {
            Some(_) => Some(args.num("vms-total", 0)?),
            None => None,
        },
        esa_clusters: args.num("esa-clusters", d.esa_clusters)?,
        esa_disks_per_host: args.num("esa-disks", d.esa_disks_per_host)?,
        no_vsan_clusters: args.num("no-vsan-clusters", d.no_vsan_clusters)?,
        perf_off_clusters: args.num("perf-off-clusters", d.perf_off_clusters)?,
        no_permission_clusters: args.num("no-permission-clusters", d.no_permission_clusters)?,
        interval_secs: args.num("interval", d.interval_secs)?,
        seed: args.num("seed", d.seed)?,
        user: std::env::var("VCSIM_USER").unwrap_or(d.user.clone()),
        password: std::env::var("VCSIM_PASSWORD").unwrap_or(d.password.clone()),
        vcenter_version: match args.get("vcenter-version") {
            Some(v) => v.parse()?,
            None => d.vcenter_version,
        },
        ..d
    };
    let addr = listen_address(args.get("web.listen-address").unwrap_or("127.0.0.1:8989"))?;
    let tls = tls_from_args(&args)?;
    cfg.check()?;
    let sim = Simulator::new(cfg.clone());
    for host in args
        .get("fail-hosts")
        .into_iter()
        .flat_map(|l| l.split(','))
        .map(str::trim)
        .filter(|h| !h.is_empty())
    {
        if !sim.fail_host(host) {
            return Err(format!("--fail-hosts: no host {host:?} in the simulated vCenter").into());
        }
        tracing::info!(host, "host failed from the start");
    }
    let server = match &tls {
        Some(tls) => sim.serve_tls(addr, tls).await?,
        None => sim.serve(addr).await?,
    };
    tracing::info!(
        url = %server.url(),
        clusters = cfg.clusters,
        esa_clusters = cfg.esa_clusters,
        no_vsan_clusters = cfg.no_vsan_clusters,
        perf_off_clusters = cfg.perf_off_clusters,
        no_permission_clusters = cfg.no_permission_clusters,
        hosts_per_cluster = cfg.hosts_per_cluster,
        disk_groups_per_host = cfg.disk_groups_per_host,
        vcenter_version = %cfg.vcenter_version,
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

/// The TLS material the flags ask for, with the generated CA written out; `None` for HTTP.
fn tls_from_args(args: &Args) -> Result<Option<SimTls>, Box<dyn std::error::Error>> {
    let ca_out = args.get("tls-ca-out").map(std::path::Path::new);
    let tls = match (args.get("tls-cert"), args.get("tls-key")) {
        (Some(_), _) | (_, Some(_)) if args.flag("tls-self-signed") => {
            return Err("--tls-self-signed excludes --tls-cert/--tls-key".into());
        }
        (Some(cert), Some(key)) => {
            if ca_out.is_some() {
                return Err("--tls-ca-out needs --tls-self-signed (a loaded certificate has no generated CA)".into());
            }
            SimTls::from_pem_files(cert.as_ref(), key.as_ref())?
        }
        (Some(_), None) | (None, Some(_)) => {
            return Err("--tls-cert and --tls-key go together".into());
        }
        (None, None) if args.flag("tls-self-signed") => SimTls::localhost()?,
        (None, None) if ca_out.is_some() => {
            return Err("--tls-ca-out needs --tls-self-signed".into());
        }
        (None, None) => return Ok(None),
    };
    match ca_out {
        Some(path) => {
            tls.write_ca_pem(path)?;
            tracing::info!(path = %path.display(), "CA certificate written (PEM): trust it with --vcenter.ca-file");
        }
        None if tls.ca_pem().is_some() => tracing::warn!(
            "generated CA not written anywhere (pass --tls-ca-out PATH): clients can only connect in insecure mode"
        ),
        None => {}
    }
    Ok(Some(tls))
}
