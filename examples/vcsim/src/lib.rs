//! A vCenter + vSAN simulator speaking the real SOAP protocol: `/sdk` (vim25 sessions,
//! service content, property collector) and `/vsanHealth` (`urn:vsan` performance manager),
//! with a seeded, mutually consistent topology and data set and per-cluster fault injection.
//! It serves plain HTTP ([`Simulator::serve`]) or HTTPS ([`Simulator::serve_tls`], with a
//! certificate generated at start or loaded from PEM files: [`SimTls`]).
//!
//! # Example
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use vcsim::{SimConfig, SimTls, Simulator};
//! let sim = Simulator::new(SimConfig { clusters: 2, hosts_per_cluster: 4, ..SimConfig::default() });
//! let server = sim.clone().serve("127.0.0.1:0".parse()?).await?;
//! assert_eq!(server.url(), format!("http://{}", server.addr()));
//! // HTTPS: a CA and a certificate for 127.0.0.1/localhost; clients trust the CA file.
//! let tls = SimTls::localhost()?;
//! tls.write_ca_pem(std::path::Path::new("vcsim-ca.pem"))?;
//! let secure = sim.serve_tls("127.0.0.1:0".parse()?, &tls).await?;
//! assert!(secure.url().starts_with("https://127.0.0.1:"));
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::fmt::Write as _;
use std::hash::{BuildHasher, Hasher};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use parking_lot::Mutex;
use vsanobs_core::vsan::VsanError;
use vsanobs_core::vsan::catalogue::{self, ENTITY_TYPES, Mapping};
use vsanobs_core::vsan::csv::{format_timestamp, parse_entity_ref};
use vsanobs_core::vsan::protocol::perf::{
    PerfEntityType, PerfGraph, QueryPerfResponseWriter, SupportedEntityTypes,
};
use vsanobs_core::vsan::protocol::versions::{
    VIM_SERVICE_VERSIONS_PATH, VSAN_SERVICE_VERSIONS_PATH,
};
use vsanobs_core::vsan::protocol::{
    Fault as SoapFault, IncomingRequest, Method, SDK_PATH, SESSION_COOKIE, VIM25_NAMESPACE,
    VSAN_HEALTH_PATH, VSAN_NAMESPACE,
};
use vsanobs_core::vsan::soap::{EntityMetricCsv, FaultKind, MetricSeriesCsv};

mod collector;
mod objects;
mod sdk;
mod summary;
mod tls;
mod versions;

pub use collector::{DEFAULT_PAGE_SIZE, MAX_OPEN_RETRIEVALS, PagingFault};
pub use summary::{
    DISK_CAPACITY_BYTES, RESYNC_BYTES_PER_SECOND, ResyncState, SummaryCall, SummaryFault,
};
use tls::TlsListener;
pub use tls::{SimTls, SimTlsError};
pub use versions::{UnknownVcenterVersion, VcenterVersion};

/// Size, data and credentials of a simulated vCenter.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Number of vSAN clusters.
    pub clusters: usize,
    /// Hosts per cluster.
    pub hosts_per_cluster: usize,
    /// Disk groups per host (one cache disk each).
    pub disk_groups_per_host: usize,
    /// Capacity disks per disk group.
    pub capacity_disks_per_group: usize,
    /// VMs per host.
    pub vms_per_host: usize,
    /// Physical NICs per host carrying vSAN traffic.
    pub pnics_per_host: usize,
    /// Sample interval in seconds (vSAN's default is 300).
    pub interval_secs: i64,
    /// Seed of every generated UUID and value.
    pub seed: u64,
    /// User accepted by `Login`.
    pub user: String,
    /// Password accepted by `Login`.
    pub password: String,
    /// Emit one label the catalogue does not know (`latencyP99Read` on host-domclient).
    pub unknown_label: bool,
    /// vSAN ESA clusters, after the `clusters` OSA ones: no disk groups; their hosts'
    /// storage-pool disks serve `vsan-esa-disk-layer` and `vsan-esa-disk-scsifw` instead of
    /// `disk-group`, `cache-disk` and `capacity-disk`. Needs an 8.0 release: see
    /// [`SimConfig::check`].
    pub esa_clusters: usize,
    /// Storage-pool disks per host of an ESA cluster.
    pub esa_disks_per_host: usize,
    /// Clusters without vSAN (`configurationEx.vsanConfigInfo.enabled` false, no UUID),
    /// after the ESA ones; the performance manager answers `NotFound` for them.
    pub no_vsan_clusters: usize,
    /// vSAN clusters whose performance service is off, after those: `VsanPerfQueryPerf`
    /// answers `NotFound`, as vCenter does.
    pub perf_off_clusters: usize,
    /// vSAN clusters the user may list but not query, after those: `VsanPerfQueryPerf`
    /// answers `NoPermission`.
    pub no_permission_clusters: usize,
    /// VMs in the whole vCenter, spread evenly over every host (the first hosts get one
    /// more when it does not divide); None: `vms_per_host` on each host.
    pub vms_total: Option<usize>,
    /// The vCenter release emulated on `/sdk`: `ServiceContent.about`, the service-versions
    /// documents and the `SOAPAction` versions accepted follow it.
    pub vcenter_version: VcenterVersion,
}

/// A [`SimConfig`] that describes no vCenter that exists.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum SimConfigError {
    /// ESA clusters under a release without ESA (7.0U3: ESA came with 8.0).
    #[error("vCenter {version} has no vSAN ESA: {esa_clusters} ESA cluster(s) need 8.0U2 or later")]
    EsaNeedsVersion8 {
        /// The emulated release.
        version: VcenterVersion,
        /// The ESA clusters asked for.
        esa_clusters: usize,
    },
}

impl SimConfig {
    /// Checks that the configuration describes a vCenter that can exist. [`Simulator::new`]
    /// builds whatever it is given (tests use odd topologies on purpose); the binaries check
    /// first.
    ///
    /// ```
    /// use vcsim::{SimConfig, SimConfigError, VcenterVersion};
    /// let ok = SimConfig { esa_clusters: 1, ..SimConfig::default() };
    /// assert_eq!(ok.check(), Ok(()));
    /// let old = SimConfig { vcenter_version: VcenterVersion::V7_0U3, ..ok };
    /// assert!(matches!(old.check(), Err(SimConfigError::EsaNeedsVersion8 { esa_clusters: 1, .. })));
    /// ```
    ///
    /// # Errors
    /// [`SimConfigError::EsaNeedsVersion8`] for ESA clusters under 7.0U3.
    pub fn check(&self) -> Result<(), SimConfigError> {
        if self.esa_clusters > 0 && !self.vcenter_version.has_esa() {
            return Err(SimConfigError::EsaNeedsVersion8 {
                version: self.vcenter_version,
                esa_clusters: self.esa_clusters,
            });
        }
        Ok(())
    }
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            clusters: 4,
            hosts_per_cluster: 8,
            disk_groups_per_host: 2,
            capacity_disks_per_group: 2,
            vms_per_host: 2,
            pnics_per_host: 2,
            interval_secs: 300,
            seed: 7,
            user: "administrator@vsphere.local".into(),
            password: "VMware1!".into(),
            unknown_label: true,
            esa_clusters: 0,
            esa_disks_per_host: 4,
            no_vsan_clusters: 0,
            perf_off_clusters: 0,
            no_permission_clusters: 0,
            vms_total: None,
            vcenter_version: VcenterVersion::default(),
        }
    }
}

/// A fault injected into the `VsanPerfQueryPerf` calls of one cluster.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Fault {
    /// Answer normally after this delay.
    Delay(Duration),
    /// Answer with this HTTP status and a plain-text body (500, 503, 429...).
    Status(u16),
    /// Cut the XML in the middle.
    Truncated,
    /// Break a closing tag.
    Malformed,
    /// An HTML error page with status 200.
    Html200,
    /// `NotFound`: the performance service is off.
    NotFound,
    /// The newest bucket's values are empty.
    EmptyValues,
    /// The newest bucket's values are `-1`.
    NegativeValues,
    /// Close the connection in the middle of the body.
    DropConnection,
    /// The session is rejected (`NotAuthenticated`) as if it had expired.
    ExpiredSession,
    /// `InvalidArgument` for queries of this entity type only, as a cluster answers for a
    /// type it does not serve.
    RefuseEntityType(String),
}

/// One simulated host.
#[derive(Clone, Debug)]
pub struct SimHost {
    /// MoRef id (`host-101`).
    pub moref: String,
    /// Name (`esx-01-01.lab.local`).
    pub name: String,
    /// vSAN node UUID.
    pub node_uuid: String,
    /// Disk groups: (cache disk UUID, capacity disk UUIDs); none on an ESA host.
    pub disk_groups: Vec<(String, Vec<String>)>,
    /// vSAN UUIDs of the storage-pool disks of an ESA host (none on an OSA host).
    pub pool_disks: Vec<String>,
    /// VMs: (moref, name, instance UUID).
    pub vms: Vec<(String, String, String)>,
    /// vmnic names.
    pub pnics: Vec<String>,
}

/// What kind of cluster a simulated cluster is, and so what its performance manager answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClusterKind {
    /// vSAN original storage architecture (disk groups).
    Osa,
    /// vSAN Express Storage Architecture (storage pools).
    Esa,
    /// vSAN is off: no UUID in the inventory, `NotFound` from the performance manager.
    NoVsan,
    /// vSAN (OSA) with its performance service off: `NotFound`.
    PerfServiceOff,
    /// vSAN (OSA) the user may not query: `NoPermission`.
    NoPermission,
}

/// One simulated cluster.
#[derive(Clone, Debug)]
pub struct SimCluster {
    /// MoRef id (`domain-c10`).
    pub moref: String,
    /// Name.
    pub name: String,
    /// vSAN cluster UUID (generated for every cluster; not in the inventory of a
    /// [`ClusterKind::NoVsan`] one).
    pub uuid: String,
    /// What it is.
    pub kind: ClusterKind,
    /// Hosts.
    pub hosts: Vec<SimHost>,
}

impl SimCluster {
    /// vSAN is on.
    pub fn vsan_enabled(&self) -> bool {
        self.kind != ClusterKind::NoVsan
    }

    /// Whether `VsanPerfQueryPerf` serves entity type `entity_type` for this cluster: the
    /// disk-group types on OSA only, the `vsan-esa-*` types on ESA only, the rest on both.
    pub fn serves(&self, entity_type: &str) -> bool {
        catalogue::entity_type(entity_type)
            .is_none_or(|et| et.served_by(self.kind == ClusterKind::Esa))
    }
}

/// Counters of what clients did.
#[derive(Debug, Default)]
pub struct SimStats {
    /// Successful logins.
    pub logins: AtomicU64,
    /// Logouts.
    pub logouts: AtomicU64,
    /// `VsanPerfQueryPerf` calls received.
    pub perf_queries: AtomicU64,
    /// Calls rejected as not authenticated.
    pub not_authenticated: AtomicU64,
    /// `VsanQueryVcClusterHealthSummary` calls received.
    pub health_queries: AtomicU64,
    /// `VsanQuerySpaceUsage` calls received.
    pub space_queries: AtomicU64,
    /// `VsanQuerySyncingVsanObjects` calls received.
    pub resync_queries: AtomicU64,
}

#[derive(Default)]
struct Session {
    calls: u64,
    /// Views and paged retrievals of `/sdk`.
    sdk: sdk::SdkSession,
}

struct Inner {
    cfg: SimConfig,
    clusters: Vec<SimCluster>,
    sessions: Mutex<HashMap<String, Session>>,
    faults: Mutex<HashMap<String, Fault>>,
    expire_after_calls: Mutex<Option<u64>>,
    stats: SimStats,
    clock_offset: AtomicI64,
    frozen_now: AtomicI64,
    token_seq: AtomicU64,
    issued: Mutex<Vec<String>>,
    random: std::collections::hash_map::RandomState,
    paging_fault: Mutex<Option<PagingFault>>,
    events: Mutex<summary::HostEvents>,
    summary_faults: Mutex<HashMap<(String, SummaryCall), SummaryFault>>,
}

/// The simulator: cheap to clone, shared between the server and the test that drives it.
#[derive(Clone)]
pub struct Simulator {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Simulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulator")
            .field("clusters", &self.inner.clusters.len())
            .field("open_sessions", &self.open_sessions())
            .finish_non_exhaustive()
    }
}

fn mix(seed: u64, parts: &[&str], n: i64) -> u64 {
    // FNV-1a over the parts, then splitmix64: deterministic across runs and platforms.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ seed;
    for p in parts {
        for b in p.bytes().chain([0xff]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    let mut z = h ^ (n as u64);
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn uuid(seed: u64, kind: &str, a: usize, b: usize, c: usize) -> String {
    let (x, y, z) = (a.to_string(), b.to_string(), c.to_string());
    let h1 = mix(seed, &[kind, &x, &y, &z], 1);
    let h2 = mix(seed, &[kind, &x, &y, &z], 2);
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        h1 >> 32,
        (h1 >> 16) & 0xffff,
        h1 & 0xffff,
        h2 >> 48,
        h2 & 0xffff_ffff_ffff
    )
}

impl Simulator {
    /// Builds the topology from the config (deterministic for a given seed): `clusters` OSA
    /// clusters, then the ESA, no-vSAN, performance-service-off and no-permission ones.
    pub fn new(cfg: SimConfig) -> Simulator {
        let s = cfg.seed;
        let kinds: Vec<ClusterKind> = std::iter::repeat_n(ClusterKind::Osa, cfg.clusters)
            .chain(std::iter::repeat_n(ClusterKind::Esa, cfg.esa_clusters))
            .chain(std::iter::repeat_n(
                ClusterKind::NoVsan,
                cfg.no_vsan_clusters,
            ))
            .chain(std::iter::repeat_n(
                ClusterKind::PerfServiceOff,
                cfg.perf_off_clusters,
            ))
            .chain(std::iter::repeat_n(
                ClusterKind::NoPermission,
                cfg.no_permission_clusters,
            ))
            .collect();
        let total_hosts = kinds.len() * cfg.hosts_per_cluster;
        // VMs of the host with global index `g`.
        let vms_of = |g: usize| match cfg.vms_total {
            Some(total) if total_hosts > 0 => {
                total / total_hosts + usize::from(g < total % total_hosts)
            }
            Some(_) => 0,
            None => cfg.vms_per_host,
        };
        let mut clusters = Vec::with_capacity(kinds.len());
        let mut host_seq = 100;
        let mut vm_seq = 1000;
        let mut per_kind: HashMap<&'static str, usize> = HashMap::new();
        for (c, kind) in kinds.iter().copied().enumerate() {
            let mut hosts = Vec::with_capacity(cfg.hosts_per_cluster);
            for h in 0..cfg.hosts_per_cluster {
                host_seq += 1;
                let esa = kind == ClusterKind::Esa;
                let disk_groups = (0..if esa { 0 } else { cfg.disk_groups_per_host })
                    .map(|g| {
                        let cache = uuid(s, "cache", c, h, g);
                        let caps = (0..cfg.capacity_disks_per_group)
                            .map(|k| uuid(s, "cap", c, h, g * 100 + k))
                            .collect();
                        (cache, caps)
                    })
                    .collect();
                let pool_disks = (0..if esa { cfg.esa_disks_per_host } else { 0 })
                    .map(|d| uuid(s, "pool", c, h, d))
                    .collect();
                let vms = (0..vms_of(c * cfg.hosts_per_cluster + h))
                    .map(|v| {
                        vm_seq += 1;
                        (
                            format!("vm-{vm_seq}"),
                            format!("app-{:02}-{:02}-{}", c + 1, h + 1, v + 1),
                            uuid(s, "vm", c, h, v),
                        )
                    })
                    .collect();
                hosts.push(SimHost {
                    moref: format!("host-{host_seq}"),
                    name: format!("esx-{:02}-{:02}.lab.local", c + 1, h + 1),
                    node_uuid: uuid(s, "node", c, h, 0),
                    disk_groups,
                    pool_disks,
                    vms,
                    pnics: (0..cfg.pnics_per_host)
                        .map(|p| format!("vmnic{p}"))
                        .collect(),
                });
            }
            let prefix = match kind {
                ClusterKind::Osa => "vsan-cluster",
                ClusterKind::Esa => "esa-cluster",
                ClusterKind::NoVsan => "plain-cluster",
                ClusterKind::PerfServiceOff => "perf-off-cluster",
                ClusterKind::NoPermission => "restricted-cluster",
            };
            let n = per_kind.entry(prefix).or_default();
            *n += 1;
            clusters.push(SimCluster {
                moref: format!("domain-c{}", 10 + c),
                name: format!("{prefix}-{n:02}"),
                uuid: uuid(s, "cluster", c, 0, 0),
                kind,
                hosts,
            });
        }
        Simulator {
            inner: Arc::new(Inner {
                cfg,
                clusters,
                sessions: Mutex::new(HashMap::new()),
                faults: Mutex::new(HashMap::new()),
                expire_after_calls: Mutex::new(None),
                stats: SimStats::default(),
                clock_offset: AtomicI64::new(0),
                frozen_now: AtomicI64::new(i64::MIN),
                token_seq: AtomicU64::new(0),
                issued: Mutex::new(Vec::new()),
                random: std::collections::hash_map::RandomState::new(),
                paging_fault: Mutex::new(None),
                events: Mutex::default(),
                summary_faults: Mutex::default(),
            }),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &SimConfig {
        &self.inner.cfg
    }

    /// The clusters.
    pub fn clusters(&self) -> &[SimCluster] {
        &self.inner.clusters
    }

    /// Counters of client activity.
    pub fn stats(&self) -> &SimStats {
        &self.inner.stats
    }

    /// Sessions logged in and neither logged out nor expired.
    pub fn open_sessions(&self) -> usize {
        self.inner.sessions.lock().len()
    }

    /// Injects a fault into one cluster's performance queries (by name or MoRef).
    pub fn set_fault(&self, cluster: &str, fault: Fault) {
        if let Some(c) = self.cluster(cluster) {
            self.inner.faults.lock().insert(c.moref.clone(), fault);
        }
    }

    /// Removes a cluster's fault.
    pub fn clear_fault(&self, cluster: &str) {
        if let Some(c) = self.cluster(cluster) {
            self.inner.faults.lock().remove(&c.moref);
        }
    }

    /// Ends every session on the server side, as an idle timeout does.
    pub fn expire_sessions(&self) {
        self.inner.sessions.lock().clear();
    }

    /// Makes `RetrievePropertiesEx` paging misbehave (None: page as vCenter does).
    pub fn set_paging_fault(&self, fault: Option<PagingFault>) {
        *self.inner.paging_fault.lock() = fault;
    }

    /// Paged retrievals, over every session, still waiting for their next page (neither
    /// finished nor cancelled).
    pub fn open_retrievals(&self) -> usize {
        self.inner
            .sessions
            .lock()
            .values()
            .map(|s| s.sdk.retrievals.open())
            .sum()
    }

    /// Container views, over every session, created and not destroyed.
    pub fn open_views(&self) -> usize {
        self.inner
            .sessions
            .lock()
            .values()
            .map(|s| s.sdk.views.len())
            .sum()
    }

    /// Expires each session after it has made `n` calls (None: never).
    pub fn expire_after_calls(&self, n: Option<u64>) {
        *self.inner.expire_after_calls.lock() = n;
    }

    /// Server time (Unix seconds).
    pub fn now(&self) -> i64 {
        let frozen = self.inner.frozen_now.load(Ordering::Relaxed);
        if frozen != i64::MIN {
            return frozen;
        }
        vsanobs_core::clock::unix_millis() / 1000 + self.inner.clock_offset.load(Ordering::Relaxed)
    }

    /// Freezes server time at `t` (tests advance it with [`Self::advance`]).
    pub fn freeze_at(&self, t: i64) {
        self.inner.frozen_now.store(t, Ordering::Relaxed);
    }

    /// Moves server time forward.
    pub fn advance(&self, secs: i64) {
        let frozen = self.inner.frozen_now.load(Ordering::Relaxed);
        if frozen != i64::MIN {
            self.inner
                .frozen_now
                .store(frozen + secs, Ordering::Relaxed);
        } else {
            self.inner.clock_offset.fetch_add(secs, Ordering::Relaxed);
        }
    }

    /// A cluster by name or MoRef.
    pub fn cluster(&self, key: &str) -> Option<&SimCluster> {
        self.inner
            .clusters
            .iter()
            .find(|c| c.name == key || c.moref == key)
    }

    /// The entity UUIDs (as they appear after `<type>:`) of a type in a cluster: those of
    /// its hosts that are not failed ([`Simulator::fail_host`]).
    pub fn entities(&self, cluster: &SimCluster, entity_type: &str) -> Vec<String> {
        let failed: Vec<String> = {
            let ev = self.inner.events.lock();
            cluster
                .hosts
                .iter()
                .filter(|h| ev.failed_host(&h.moref))
                .map(|h| h.moref.clone())
                .collect()
        };
        let hosts = cluster
            .hosts
            .iter()
            .filter(move |h| !failed.contains(&h.moref));
        match entity_type {
            "cluster-domclient" | "cluster-domcompmgr" => vec![cluster.uuid.clone()],
            "host-domclient" | "host-domcompmgr" | "host-domowner" | "vsan-host-net" => {
                hosts.map(|h| h.node_uuid.clone()).collect()
            }
            "vsan-esa-disk-layer" | "vsan-esa-disk-scsifw" => {
                hosts.flat_map(|h| h.pool_disks.iter().cloned()).collect()
            }
            "disk-group" | "cache-disk" => hosts
                .flat_map(|h| h.disk_groups.iter().map(|g| g.0.clone()))
                .collect(),
            "capacity-disk" => hosts
                .flat_map(|h| h.disk_groups.iter().flat_map(|g| g.1.iter().cloned()))
                .collect(),
            "virtual-machine" => hosts
                .flat_map(|h| h.vms.iter().map(|v| v.2.clone()))
                .collect(),
            "vsan-pnic-net" => hosts
                .flat_map(|h| h.pnics.iter().map(move |p| format!("{}|{p}", h.node_uuid)))
                .collect(),
            _ => Vec::new(),
        }
    }

    /// Whether the emulated release knows entity type `id`: the `vsan-esa-*` types came
    /// with vSAN 8.0 (ESA), so a 7.0U3 neither lists nor serves them.
    pub fn release_serves(&self, id: &str) -> bool {
        !(self.inner.cfg.vcenter_version == VcenterVersion::V7_0U3 && id.starts_with("vsan-esa-"))
    }

    /// The metric labels the simulator reports for an entity type.
    pub fn labels(&self, entity_type: &str) -> Vec<&'static str> {
        if let Some((_, _, labels)) = EXTRA_TYPES.iter().find(|(id, _, _)| *id == entity_type) {
            return labels.to_vec();
        }
        let mut l: Vec<&'static str> = catalogue::labels_of(entity_type).map(|m| m.label).collect();
        if self.inner.cfg.unknown_label && entity_type == "host-domclient" {
            l.push("latencyP99Read");
        }
        l
    }

    /// Bucket end timestamps in `(start, end]` that the server has data for.
    pub fn buckets(&self, start: i64, end: i64) -> Vec<i64> {
        let iv = self.inner.cfg.interval_secs.max(1);
        let end = end.min(self.now());
        let first = (start.div_euclid(iv) + 1) * iv;
        (0..)
            .map(|k| first + k * iv)
            .take_while(|t| *t <= end)
            .collect()
    }

    /// Ground truth: the raw value vSAN reports for `label` of `entity` (the part after
    /// `<type>:`) in the bucket ending at `t`. Units are the wire's: IO/s, bytes/s, µs,
    /// percent, permille, counts per interval.
    ///
    /// Consistency: `*Count = iops × interval`, `throughput = iops × IO size`.
    pub fn raw_value(&self, entity_type: &str, entity: &str, label: &str, t: i64) -> f64 {
        let seed = self.inner.cfg.seed;
        let iv = self.inner.cfg.interval_secs.max(1);
        let Some(m) = catalogue::lookup(entity_type, label) else {
            return (mix(seed, &[entity, label], t) % 5000) as f64;
        };
        let op = op_of(m);
        let layer = if m.metric.name.contains("device_io") {
            "dev"
        } else {
            "vsan"
        };
        let iops = |op: &str| 10 + (mix(seed, &[entity, "iops", layer, op], t) % 2000) as i64;
        let name = m.metric.name;
        let v = if name.ends_with("io_operations_total") {
            iops(op) * iv
        } else if name.ends_with("io_operations_per_second") {
            iops(op)
        } else if name.ends_with("io_bytes_per_second") {
            iops(op) * 4096 * (1 + (mix(seed, &[entity, "size", layer, op], t) % 16) as i64)
        } else if name.ends_with("_seconds") {
            100 + (mix(seed, &[entity, label], t) % 9900) as i64
        } else if m.conversion == catalogue::Conversion::PermilleToRatio {
            (mix(seed, &[entity, label], t) % 10) as i64
        } else if name.ends_with("_ratio") {
            (mix(seed, &[entity, label], t) % 101) as i64
        } else if name.ends_with("capacity_bytes") {
            4_000_000_000_000
        } else if name.ends_with("_used_bytes") || name.ends_with("_reserved_bytes") {
            (mix(seed, &[entity, label], t) % 4_000_000_000_000) as i64
        } else if name.ends_with("bytes_per_second") {
            (mix(seed, &[entity, label], t) % 200_000_000) as i64
        } else if name.ends_with("packets_per_second") {
            (mix(seed, &[entity, label], t) % 50_000) as i64
        } else {
            (mix(seed, &[entity, label], t) % 256) as i64
        };
        v as f64
    }

    /// Serves the simulator over HTTP on `addr` (use port 0 for a free port).
    ///
    /// # Errors
    /// Binding the listener.
    pub async fn serve(self, addr: SocketAddr) -> std::io::Result<SimServer> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        Ok(self.spawn_server(listener, addr, "http", None))
    }

    /// Serves the simulator over HTTPS on `addr` with the certificate in `tls` (use port 0
    /// for a free port). TLS handshakes run concurrently, each with a 10 s deadline; a
    /// client that rejects the certificate only ends its own connection.
    ///
    /// # Errors
    /// Binding the listener.
    pub async fn serve_tls(self, addr: SocketAddr, tls: &SimTls) -> std::io::Result<SimServer> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let (listener, accept) = TlsListener::start(
            listener,
            addr,
            tokio_rustls::TlsAcceptor::from(tls.config.clone()),
        );
        Ok(self.spawn_server(listener, addr, "https", Some(accept)))
    }

    /// Serves the router on `listener`; `accept` is the task that owns the socket when it is
    /// not the listener itself (TLS), awaited by [`SimServer::stop`] so the port is free after.
    fn spawn_server<L>(
        self,
        listener: L,
        addr: SocketAddr,
        scheme: &'static str,
        accept: Option<tokio::task::JoinHandle<()>>,
    ) -> SimServer
    where
        L: axum::serve::Listener<Addr = SocketAddr>,
    {
        let app = self.clone().router_with(scheme == "https");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        SimServer {
            addr,
            scheme,
            sim: self,
            stop: Some(tx),
            task: Some(task),
            accept,
        }
    }

    /// The axum router (`/sdk`, `/vsanHealth`, the service-versions documents) as served
    /// over plain HTTP (the session cookie is not `Secure`).
    pub fn router(self) -> axum::Router {
        self.router_with(false)
    }

    /// The router; `secure`: served over HTTPS (the session cookie is `Secure`).
    fn router_with(self, secure: bool) -> axum::Router {
        axum::Router::new()
            .route(SDK_PATH, post(sdk::sdk))
            .route(VSAN_HEALTH_PATH, post(vsan_health))
            .route(VIM_SERVICE_VERSIONS_PATH, get(sdk::vim_versions))
            .route(VSAN_SERVICE_VERSIONS_PATH, get(sdk::vsan_versions))
            .layer(axum::middleware::from_fn_with_state(
                self.clone(),
                sdk::check_soap_action,
            ))
            .layer(axum::Extension(sdk::Transport { secure }))
            .with_state(self)
    }

    fn new_token(&self) -> String {
        let n = self.inner.token_seq.fetch_add(1, Ordering::Relaxed);
        let mut h = self.inner.random.build_hasher();
        h.write_u64(n);
        let a = h.finish();
        h.write_u64(a);
        let token = format!("{a:016x}{:016x}", h.finish());
        let mut issued = self.inner.issued.lock();
        if issued.len() < 100_000 {
            issued.push(token.clone());
        }
        token
    }

    /// Every session token and key issued so far (the first 100,000), for leak tests.
    pub fn issued_tokens(&self) -> Vec<String> {
        self.inner.issued.lock().clone()
    }

    fn session_ok(&self, headers: &HeaderMap) -> bool {
        let Some(token) = session_cookie(headers) else {
            return false;
        };
        let limit = *self.inner.expire_after_calls.lock();
        let mut sessions = self.inner.sessions.lock();
        let Some(s) = sessions.get_mut(&token) else {
            return false;
        };
        s.calls += 1;
        if limit.is_some_and(|l| s.calls > l) {
            sessions.remove(&token);
            return false;
        }
        true
    }
}

fn op_of(m: &Mapping) -> &'static str {
    m.extra
        .iter()
        .find(|(k, _)| *k == "op")
        .map(|(_, v)| *v)
        .unwrap_or("")
}

/// A running simulator server; stops when dropped or on [`SimServer::stop`].
#[derive(Debug)]
pub struct SimServer {
    addr: SocketAddr,
    scheme: &'static str,
    sim: Simulator,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    accept: Option<tokio::task::JoinHandle<()>>,
}

impl SimServer {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
    /// The vCenter URL (`http://127.0.0.1:port`, or `https://` from [`Simulator::serve_tls`]).
    pub fn url(&self) -> String {
        format!("{}://{}", self.scheme, self.addr)
    }
    /// The simulator behind it.
    pub fn sim(&self) -> &Simulator {
        &self.sim
    }
    /// Stops serving and waits for the server task; the port is closed when this returns.
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
        if let Some(t) = self.accept.take() {
            let _ = t.await;
        }
    }
}

impl Drop for SimServer {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|kv| {
            let (k, v) = kv.trim().split_once('=')?;
            (k == SESSION_COOKIE).then(|| v.trim_matches('"').to_owned())
        })
}

fn xml_response(status: StatusCode, body: String) -> Response {
    let mut r = (status, body).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/xml; charset=utf-8"),
    );
    r
}

fn ok(body: String) -> Response {
    xml_response(StatusCode::OK, body)
}

fn fault(ns: &str, kind: FaultKind, message: &str) -> Response {
    xml_response(
        StatusCode::INTERNAL_SERVER_ERROR,
        SoapFault::new(kind, message).encode(ns),
    )
}

fn rej(ns: &str, kind: FaultKind, message: &str) -> Box<Response> {
    Box::new(fault(ns, kind, message))
}

fn not_authenticated(sim: &Simulator, ns: &str) -> Response {
    sim.inner
        .stats
        .not_authenticated
        .fetch_add(1, Ordering::Relaxed);
    fault(
        ns,
        FaultKind::NotAuthenticated,
        "The session is not authenticated.",
    )
}

fn method_not_found(ns: &str, req: &IncomingRequest) -> Response {
    fault(
        ns,
        FaultKind::MethodNotFound,
        &format!(
            "method {} is not implemented by the simulator",
            req.method_name()
        ),
    )
}

fn parse_request(body: &Bytes) -> Result<IncomingRequest, Box<Response>> {
    let text = std::str::from_utf8(body).map_err(|_| {
        rej(
            VIM25_NAMESPACE,
            FaultKind::InvalidRequest,
            "request is not utf-8",
        )
    })?;
    IncomingRequest::decode(text).map_err(|e| {
        rej(
            VIM25_NAMESPACE,
            FaultKind::InvalidRequest,
            &format!("malformed request: {e}"),
        )
    })
}

async fn vsan_health(State(sim): State<Simulator>, headers: HeaderMap, body: Bytes) -> Response {
    let req = match parse_request(&body) {
        Ok(r) => r,
        Err(resp) => return *resp,
    };
    let ns = VSAN_NAMESPACE;
    if !sim.session_ok(&headers) {
        return not_authenticated(&sim, ns);
    }
    match req.method() {
        Method::VsanPerfQueryPerf => query_perf(&sim, &req).await,
        Method::VsanPerfGetSupportedEntityTypes => ok(supported_entity_types(&sim).encode()),
        Method::VsanQueryVcClusterHealthSummary => summary::health(&sim, &req),
        Method::VsanQuerySpaceUsage => summary::space(&sim, &req),
        Method::VsanQuerySyncingVsanObjects => summary::resync(&sim, &req),
        _ => method_not_found(ns, &req),
    }
}

fn interval_u32(sim: &Simulator) -> u32 {
    u32::try_from(sim.inner.cfg.interval_secs).unwrap_or(u32::MAX)
}

/// Entity types the simulator serves that the catalogue does not know (as a vCenter serves
/// many more than any exporter maps), with their metric labels.
const EXTRA_TYPES: &[(&str, &str, &[&str])] = &[(
    "host-domowner",
    "IO of the DOM owners of one host.",
    &["iopsRead", "iopsWrite", "latencyAvgRead", "latencyAvgWrite"],
)];

/// `VsanPerfGetSupportedEntityTypes`: the call takes no cluster (vim.cluster.VsanPerformanceManager
/// `GetSupportedEntityTypes(self)`), so the answer is the vCenter's whole list, OSA and ESA types
/// together; which of them a cluster serves depends on its architecture
/// (`configurationEx.vsanConfigInfo.vsanEsaEnabled`).
fn supported_entity_types(sim: &Simulator) -> SupportedEntityTypes {
    let release_serves = |id: &str| sim.release_serves(id);
    let graph = |label: &str, unit: &str| PerfGraph {
        id: label.to_owned(),
        unit: unit.to_owned(),
        label: label.to_owned(),
        interval: interval_u32(sim),
    };
    let mut types: Vec<PerfEntityType> = ENTITY_TYPES
        .iter()
        .filter(|et| release_serves(et.id))
        .map(|et| PerfEntityType {
            name: et.id.to_owned(),
            description: et.description.to_owned(),
            graphs: sim
                .labels(et.id)
                .into_iter()
                .map(|label| {
                    let unit = match catalogue::lookup(et.id, label)
                        .map(|m| (m.conversion, m.metric.name))
                    {
                        Some((catalogue::Conversion::MicrosToSeconds, _)) => "time_ms",
                        Some((catalogue::Conversion::PercentToRatio, _)) => "percentage",
                        Some((catalogue::Conversion::PermilleToRatio, _)) => "permille",
                        Some((_, n)) if n.ends_with("bytes_per_second") => "rate_bytes",
                        Some((_, n)) if n.ends_with("_bytes") => "size_bytes",
                        _ => "number",
                    };
                    graph(label, unit)
                })
                .collect(),
        })
        .collect();
    if sim.inner.cfg.unknown_label {
        types.extend(
            EXTRA_TYPES
                .iter()
                .map(|(id, description, labels)| PerfEntityType {
                    name: (*id).to_owned(),
                    description: (*description).to_owned(),
                    graphs: labels.iter().map(|l| graph(l, "number")).collect(),
                }),
        );
    }
    SupportedEntityTypes { types }
}

struct Spec {
    entity_type: String,
    ids: Option<Vec<String>>,
    start: i64,
    end: i64,
    labels: Vec<String>,
}

fn parse_specs(
    sim: &Simulator,
    req: &IncomingRequest,
) -> Result<(Option<String>, Vec<Spec>), Box<Response>> {
    let ns = VSAN_NAMESPACE;
    let invalid = |msg: &str| rej(ns, FaultKind::InvalidArgument, msg);
    let query = req.perf_query().map_err(|e| match e {
        VsanError::Unexpected { reason } => invalid(&format!("Invalid Argument. {reason}.")),
        e => invalid(&format!("Invalid Argument. {e}.")),
    })?;
    let mut specs = Vec::new();
    let mut wildcards = 0;
    for s in &query.specs {
        let id = s.entity_ref_id.as_str();
        let e = parse_entity_ref(id)
            .map_err(|_| invalid(&format!("Invalid Argument. entityRefId {id} is malformed.")))?;
        if (catalogue::entity_type(e.entity_type).is_none()
            && !EXTRA_TYPES.iter().any(|(id, _, _)| *id == e.entity_type))
            || !sim.release_serves(e.entity_type)
        {
            return Err(invalid(&format!(
                "Invalid Argument. Unsupported entity type {}.",
                e.entity_type
            )));
        }
        let rest = &id[e.entity_type.len() + 1..];
        let ids = if rest == "*" {
            wildcards += 1;
            None
        } else {
            let list: Vec<String> = rest.split(',').map(str::to_owned).collect();
            if list.len() > 1 {
                wildcards += 1;
            }
            Some(list)
        };
        let start = s
            .start
            .ok_or_else(|| invalid("Invalid Argument. startTime must be set."))?;
        let end = s
            .end
            .ok_or_else(|| invalid("Invalid Argument. endTime must be set."))?;
        if end < start || end - start > 86_400 {
            return Err(invalid(
                "Invalid Argument. The time range must be under 24 hours.",
            ));
        }
        specs.push(Spec {
            entity_type: e.entity_type.to_owned(),
            ids,
            start,
            end,
            labels: s.labels.clone(),
        });
    }
    if specs.is_empty() {
        return Err(invalid("Invalid Argument. querySpecs must not be empty."));
    }
    if wildcards > 1 || (wildcards == 1 && specs.len() > 1) {
        return Err(invalid(
            "Invalid Argument. Only one wildcard query allowed in query specs.",
        ));
    }
    if specs.len() > 100 {
        return Err(invalid(
            "Invalid Argument. At most 100 query specs are allowed.",
        ));
    }
    Ok((query.cluster, specs))
}

async fn query_perf(sim: &Simulator, req: &IncomingRequest) -> Response {
    sim.inner.stats.perf_queries.fetch_add(1, Ordering::Relaxed);
    let ns = VSAN_NAMESPACE;
    let (cluster, specs) = match parse_specs(sim, req) {
        Ok(s) => s,
        Err(r) => return *r,
    };
    let cluster = match cluster.as_deref().and_then(|c| sim.cluster(c)) {
        Some(c) => c.clone(),
        None => {
            return fault(
                ns,
                FaultKind::NotFound,
                "The object or item referred to could not be found.",
            );
        }
    };
    match cluster.kind {
        // vCenter answers NotFound when no host of the cluster serves performance data
        // (the service is off), which is also the case when vSAN is off.
        ClusterKind::NoVsan | ClusterKind::PerfServiceOff => {
            return fault(
                ns,
                FaultKind::NotFound,
                "The object or item referred to could not be found.",
            );
        }
        ClusterKind::NoPermission => {
            return fault(
                ns,
                FaultKind::NoPermission,
                "Permission to perform this operation was denied.",
            );
        }
        ClusterKind::Osa | ClusterKind::Esa => {}
    }
    // A type of the other architecture: the query's specs are invalid for this cluster.
    // vSAN documents NotSupported for "this host is not the stats master" and
    // InvalidArgument for specs it cannot serve (an unknown type, two wildcards), so the
    // latter is what a spec naming a type the cluster lacks gets.
    if let Some(spec) = specs.iter().find(|s| !cluster.serves(&s.entity_type)) {
        return fault(
            ns,
            FaultKind::InvalidArgument,
            &format!(
                "Invalid Argument. Entity type {} is not supported by cluster {}.",
                spec.entity_type, cluster.name
            ),
        );
    }
    let fault_now = sim.inner.faults.lock().get(&cluster.moref).cloned();
    match &fault_now {
        Some(Fault::Delay(d)) => tokio::time::sleep(*d).await,
        Some(Fault::Status(code)) => {
            let status = StatusCode::from_u16(*code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let mut r = (status, "upstream error\n").into_response();
            if *code == 429 {
                r.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            return r;
        }
        Some(Fault::Html200) => {
            let mut r = (StatusCode::OK, "<!DOCTYPE html>\n<html><head><title>Service Unavailable</title></head><body><h1>503 Service Unavailable</h1></body></html>\n").into_response();
            r.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
            return r;
        }
        Some(Fault::NotFound) => {
            return fault(
                ns,
                FaultKind::NotFound,
                "The object or item referred to could not be found.",
            );
        }
        Some(Fault::ExpiredSession) => return not_authenticated(sim, ns),
        Some(Fault::RefuseEntityType(id)) if specs.iter().any(|s| s.entity_type == *id) => {
            return fault(
                ns,
                FaultKind::InvalidArgument,
                &format!("Invalid Argument. Entity type {id} is not supported by this cluster."),
            );
        }
        _ => {}
    }
    let mut answer = QueryPerfResponseWriter::new();
    let mut entity = EntityMetricCsv::default();
    for spec in &specs {
        let all = sim.entities(&cluster, &spec.entity_type);
        let chosen: Vec<&String> = match &spec.ids {
            None => all.iter().collect(),
            Some(ids) => all.iter().filter(|e| ids.iter().any(|i| i == *e)).collect(),
        };
        let buckets = sim.buckets(spec.start, spec.end);
        let sample_info: Vec<String> = buckets.iter().map(|t| format_timestamp(*t)).collect();
        entity.sample_info = sample_info.join(",");
        let labels: Vec<&str> = sim
            .labels(&spec.entity_type)
            .into_iter()
            .filter(|l| spec.labels.is_empty() || spec.labels.iter().any(|x| x == l))
            .collect();
        for e in chosen {
            entity.entity_ref_id = format!("{}:{e}", spec.entity_type);
            entity.series.clear();
            for label in &labels {
                let mut values = String::new();
                for (i, t) in buckets.iter().enumerate() {
                    if i > 0 {
                        values.push(',');
                    }
                    let last = i + 1 == buckets.len();
                    match &fault_now {
                        Some(Fault::EmptyValues) if last => {}
                        Some(Fault::NegativeValues) if last => values.push_str("-1"),
                        _ => {
                            let v = sim.raw_value(&spec.entity_type, e, label, *t);
                            let _ = write!(values, "{v}");
                        }
                    }
                }
                entity.series.push(MetricSeriesCsv {
                    label: (*label).to_owned(),
                    interval: Some(interval_u32(sim)),
                    values,
                });
            }
            answer.push(&entity);
        }
    }
    let body = answer.finish();
    match &fault_now {
        Some(Fault::Truncated) => {
            let mut cut = body.len() / 2;
            while !body.is_char_boundary(cut) {
                cut -= 1;
            }
            xml_response(StatusCode::OK, body[..cut].to_owned())
        }
        Some(Fault::Malformed) => xml_response(
            StatusCode::OK,
            body.replacen("</returnval>", "</returnvalue>", 1).replacen(
                "<soapenv:Body>",
                "<soapenv:Body><broken>",
                1,
            ),
        ),
        Some(Fault::DropConnection) => {
            let half = Bytes::from(body.into_bytes());
            let first = half.slice(..half.len() / 2);
            let stream = futures_util::stream::iter(vec![
                Ok::<Bytes, std::io::Error>(first),
                Err(std::io::Error::new(
                    std::io::ErrorKind::ConnectionReset,
                    "connection dropped by fault injection",
                )),
            ]);
            let mut r = Response::new(Body::from_stream(stream));
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/xml; charset=utf-8"),
            );
            r
        }
        _ => xml_response(StatusCode::OK, body),
    }
}
