//! The vSAN exporter's collection engine: background collection per cluster with a bound on
//! concurrent vCenter requests and a timeout per cluster, results kept per cluster and
//! served by a [`Collector`] (a scrape never waits on vCenter), counters accumulated from
//! per-interval deltas, and the last sample time per cluster persisted in the state file.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use vsanobs_core::model::{MetricDesc, MetricKind, Number};
use vsanobs_core::report::error_chain;
use vsanobs_core::vsan::VsanError;
use vsanobs_core::vsan::catalogue::{self, ENTITY_TYPES};
use vsanobs_core::vsan::mapping::map_entity;
use vsanobs_core::vsan::soap::for_each_entity;
use vsanobs_core::{CollectError, Collector, FamilySink};

use crate::store::{
    ColumnMetric, EntityKey, NONE, Names, RAW_LABELS, RAW_TYPE_HELP, Staged, Strings, TableType,
    Tables,
};
use vsanobs_core::export::FamilyMeta;
use vsanobs_core::vsan::csv::{parse_sample_info, parse_values, valid_after};
use vsanobs_core::vsan::mapping::{DeltaTotal, MetricRef, unknown_name};
use vsanobs_core::vsan::soap::EntityMetricCsv;

use crate::push::PushSink;

use crate::client::{ClientError, ClusterInv, VcenterClient};
use crate::config::Target;
use crate::shard::Sharding;
use crate::state::StateFile;
use crate::summary::{self, SummaryData, SummaryOptions};

/// Exporter self-metrics.
pub mod self_metrics {
    use vsanobs_core::model::{MetricDesc, MetricKind};

    /// `vsan_exporter_collect_success`.
    pub const COLLECT_SUCCESS: MetricDesc = MetricDesc {
        name: "vsan_exporter_collect_success",
        kind: MetricKind::Gauge,
        help: "1 if the last collection of the cluster succeeded completely, else 0.",
        unit: None,
        labels: &["vcenter", "cluster_name"],
    };
    /// `vsan_exporter_collect_duration_seconds`.
    pub const COLLECT_DURATION: MetricDesc = MetricDesc {
        name: "vsan_exporter_collect_duration_seconds",
        kind: MetricKind::Gauge,
        help: "Duration of the last collection of the cluster.",
        unit: Some("seconds"),
        labels: &["vcenter", "cluster_name"],
    };
    /// `vsan_exporter_fetch_errors_total`.
    pub const FETCH_ERRORS: MetricDesc = MetricDesc {
        name: "vsan_exporter_fetch_errors_total",
        kind: MetricKind::Counter,
        help: "Failed vCenter requests, by reason; failed health, capacity and resync queries as health_<reason>, capacity_<reason>, resync_<reason>.",
        unit: None,
        labels: &["vcenter", "cluster_name", "reason"],
    };
    /// `vsan_exporter_last_sample_timestamp_seconds`.
    pub const LAST_SAMPLE: MetricDesc = MetricDesc {
        name: "vsan_exporter_last_sample_timestamp_seconds",
        kind: MetricKind::Gauge,
        help: "Unix time of the newest vSAN sample accounted for, per entity type.",
        unit: Some("seconds"),
        labels: &["vcenter", "cluster_name", "entity_type"],
    };
    /// `vsan_exporter_unknown_label_series`.
    pub const UNKNOWN_LABELS: MetricDesc = MetricDesc {
        name: "vsan_exporter_unknown_label_series",
        kind: MetricKind::Gauge,
        help: "Series exported from metric labels the catalogue does not know (as sanitised raw gauges).",
        unit: None,
        labels: &["vcenter", "cluster_name"],
    };
    /// `vsan_exporter_insecure_tls`.
    pub const INSECURE_TLS: MetricDesc = MetricDesc {
        name: "vsan_exporter_insecure_tls",
        kind: MetricKind::Gauge,
        help: "1 if TLS certificate verification is disabled for the vCenter.",
        unit: None,
        labels: &["vcenter"],
    };
    /// `vsan_exporter_logins_total`.
    pub const LOGINS: MetricDesc = MetricDesc {
        name: "vsan_exporter_logins_total",
        kind: MetricKind::Counter,
        help: "SOAP logins performed (the first one and every re-login after a session expired).",
        unit: None,
        labels: &["vcenter"],
    };
    /// `vsan_exporter_cluster_state`.
    pub const CLUSTER_STATE: MetricDesc = MetricDesc {
        name: "vsan_exporter_cluster_state",
        kind: MetricKind::Gauge,
        help: "1 for the state of each cluster in the vCenter's inventory: collecting, no_vsan (vSAN is off), perf_service_off (the vSAN performance service answers NotFound), no_permission (NoPermission), excluded (not in the configured cluster list), other_shard (another replica's shard collects it: --shard, --total-shards) or error (every query failed otherwise, or the vCenter could not be reached or its inventory read).",
        unit: None,
        labels: &["vcenter", "cluster_name", "state"],
    };
    /// `vsan_exporter_clusters`.
    pub const CLUSTERS: MetricDesc = MetricDesc {
        name: "vsan_exporter_clusters",
        kind: MetricKind::Gauge,
        help: "Clusters in the vCenter's inventory, by state (every state, 0 included; collecting 0 means nothing of this vCenter is collected).",
        unit: None,
        labels: &["vcenter", "state"],
    };
    /// `vsan_exporter_unknown_entity_types`.
    pub const UNKNOWN_ENTITY_TYPES: MetricDesc = MetricDesc {
        name: "vsan_exporter_unknown_entity_types",
        kind: MetricKind::Gauge,
        help: "Entity types the vCenter's performance manager supports (VsanPerfGetSupportedEntityTypes) that the catalogue does not know; they are queried and exported raw, a gauge per type and label (vsan_host_domowner_iops_read).",
        unit: None,
        labels: &["vcenter"],
    };
    /// `vsan_exporter_unknown_entity_type_series`.
    pub const UNKNOWN_ENTITY_TYPE_SERIES: MetricDesc = MetricDesc {
        name: "vsan_exporter_unknown_entity_type_series",
        kind: MetricKind::Gauge,
        help: "Series exported raw from an entity type the catalogue does not know (vsan_host_domowner_iops_read), per cluster and type.",
        unit: None,
        labels: &["vcenter", "cluster_name", "entity_type"],
    };
    /// `vsan_exporter_unknown_entity_type_series_dropped_total`.
    pub const UNKNOWN_ENTITY_TYPE_DROPPED: MetricDesc = MetricDesc {
        name: "vsan_exporter_unknown_entity_type_series_dropped_total",
        kind: MetricKind::Counter,
        help: "New series of entity types the catalogue does not know left out because the cluster held the most such series allowed (--collect.max-raw-series), counted at each collection.",
        unit: None,
        labels: &["vcenter", "cluster_name", "entity_type"],
    };
    /// `vsan_exporter_inventory_errors_total`.
    pub const INVENTORY_ERRORS: MetricDesc = MetricDesc {
        name: "vsan_exporter_inventory_errors_total",
        kind: MetricKind::Counter,
        help: "Failed inventory refreshes (the inventory or the supported entity types), by reason; the previous inventory stays in use.",
        unit: None,
        labels: &["vcenter", "reason"],
    };
    /// `vsan_exporter_api_version_info`.
    pub const API_VERSION: MetricDesc = MetricDesc {
        name: "vsan_exporter_api_version_info",
        kind: MetricKind::Gauge,
        help: "1 for the API version each vCenter call names in its SOAPAction, per API (vim25, vsan), negotiated at the last login; source is document, or why the fallback was used (missing, empty, malformed, namespace_absent, no_known_version).",
        unit: None,
        labels: &["vcenter", "api", "version", "source"],
    };
    /// `vsan_exporter_shard_ordinal`.
    pub const SHARD: MetricDesc = MetricDesc {
        name: "vsan_exporter_shard_ordinal",
        kind: MetricKind::Gauge,
        help: "This replica's shard (--shard, from 0): it collects the clusters whose hash falls in it; 0 when not sharded.",
        unit: None,
        labels: &[],
    };
    /// `vsan_exporter_total_shards`.
    pub const TOTAL_SHARDS: MetricDesc = MetricDesc {
        name: "vsan_exporter_total_shards",
        kind: MetricKind::Gauge,
        help: "Number of shards the clusters of every configured vCenter are split into (--total-shards); 1 when not sharded.",
        unit: None,
        labels: &[],
    };
    /// `vsan_exporter_health_success`.
    pub const HEALTH_SUCCESS: MetricDesc = MetricDesc {
        name: "vsan_exporter_health_success",
        kind: MetricKind::Gauge,
        help: "1 if the last vSAN health query of the cluster (VsanQueryVcClusterHealthSummary, every --collect.health-interval) succeeded, else 0; the last answer is served meanwhile.",
        unit: None,
        labels: &["vcenter", "cluster_name"],
    };
    /// `vsan_exporter_health_age_seconds`.
    pub const HEALTH_AGE: MetricDesc = MetricDesc {
        name: "vsan_exporter_health_age_seconds",
        kind: MetricKind::Gauge,
        help: "Age of the vSAN health answer being served for the cluster (absent until one answered).",
        unit: Some("seconds"),
        labels: &["vcenter", "cluster_name"],
    };
    /// `vsan_exporter_health_duration_seconds`.
    pub const HEALTH_DURATION: MetricDesc = MetricDesc {
        name: "vsan_exporter_health_duration_seconds",
        kind: MetricKind::Gauge,
        help: "Duration of the last vSAN health query of the cluster.",
        unit: Some("seconds"),
        labels: &["vcenter", "cluster_name"],
    };
    /// Every self-metric, for generated docs.
    pub const ALL: &[MetricDesc] = &[
        COLLECT_SUCCESS,
        COLLECT_DURATION,
        FETCH_ERRORS,
        LAST_SAMPLE,
        UNKNOWN_LABELS,
        INSECURE_TLS,
        LOGINS,
        CLUSTER_STATE,
        CLUSTERS,
        UNKNOWN_ENTITY_TYPES,
        UNKNOWN_ENTITY_TYPE_SERIES,
        UNKNOWN_ENTITY_TYPE_DROPPED,
        INVENTORY_ERRORS,
        API_VERSION,
        SHARD,
        TOTAL_SHARDS,
        HEALTH_SUCCESS,
        HEALTH_AGE,
        HEALTH_DURATION,
    ];
}

/// What the engine does with a cluster of a vCenter's inventory, and if it does not collect
/// it, why: the `state` label of `vsan_exporter_cluster_state`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum ClusterState {
    /// Queried every cycle; at least one entity type answered last time.
    Collecting,
    /// vSAN is off on the cluster: nothing to query.
    NoVsan,
    /// The vSAN performance service answered `NotFound` (it is off, or no host serves it).
    PerfServiceOff,
    /// The performance manager answered `NoPermission`: the user may not read the cluster.
    NoPermission,
    /// Not in the vCenter's configured cluster list.
    Excluded,
    /// Another shard's cluster (`--shard`, `--total-shards`): another replica collects it,
    /// this one never queries it. Decided before every other state, so across the replicas
    /// each cluster has its real state in exactly one of them.
    OtherShard,
    /// Every query of the last cycle failed for another reason, or the vCenter could not be
    /// reached or its inventory read (see `vsan_exporter_fetch_errors_total`).
    Error,
}

impl ClusterState {
    /// Every state, in label order.
    pub const ALL: [ClusterState; 7] = [
        ClusterState::Collecting,
        ClusterState::NoVsan,
        ClusterState::PerfServiceOff,
        ClusterState::NoPermission,
        ClusterState::Excluded,
        ClusterState::OtherShard,
        ClusterState::Error,
    ];

    /// The `state` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            ClusterState::Collecting => "collecting",
            ClusterState::NoVsan => "no_vsan",
            ClusterState::PerfServiceOff => "perf_service_off",
            ClusterState::NoPermission => "no_permission",
            ClusterState::Excluded => "excluded",
            ClusterState::OtherShard => "other_shard",
            ClusterState::Error => "error",
        }
    }

    /// Why a cluster in this state is (not) collected, for the log.
    pub fn reason(self) -> &'static str {
        match self {
            ClusterState::Collecting => "collecting its vSAN performance data",
            ClusterState::NoVsan => "vSAN is not enabled on the cluster: nothing to collect",
            ClusterState::PerfServiceOff => {
                "the vSAN performance service answers NotFound: is it enabled on the cluster?"
            }
            ClusterState::NoPermission => {
                "the user may not query the cluster's vSAN performance (NoPermission)"
            }
            ClusterState::Excluded => "not in the configured cluster list",
            ClusterState::OtherShard => "another shard's: another replica collects it",
            ClusterState::Error => {
                "every vSAN query failed, or the vCenter could not be reached (see vsan_exporter_fetch_errors_total)"
            }
        }
    }
}

/// Engine options.
#[derive(Clone, Debug)]
pub struct EngineOptions {
    /// Time between collections.
    pub interval: Duration,
    /// Deadline of one cluster's collection.
    pub cluster_timeout: Duration,
    /// Bound on concurrent vCenter requests (all vCenters together).
    pub max_concurrent_requests: usize,
    /// Concurrent entity-type requests per cluster (1 for a cluster that was slow).
    pub per_cluster_concurrency: usize,
    /// How far back the first query of a cluster reaches, in seconds.
    pub lookback_secs: i64,
    /// Where the last sample times are persisted.
    pub state_file: Option<PathBuf>,
    /// Gauge series whose newest sample is older than this (seconds) are dropped.
    pub stale_after_secs: i64,
    /// Most series a cluster exports from entity types the catalogue does not know (all
    /// such types together); new series beyond it are left out and counted.
    pub max_raw_series_per_cluster: usize,
    /// Which clusters this replica collects (all by default); [`Engine::set_sharding`]
    /// changes it at run time.
    pub sharding: Sharding,
    /// Health, capacity and resync queries (all on; health every 5 min).
    pub summary: SummaryOptions,
}

/// Default of [`EngineOptions::max_raw_series_per_cluster`].
pub const DEFAULT_MAX_RAW_SERIES_PER_CLUSTER: usize = 10_000;

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            interval: Duration::from_secs(60),
            cluster_timeout: Duration::from_secs(30),
            max_concurrent_requests: 16,
            per_cluster_concurrency: 4,
            lookback_secs: 900,
            state_file: None,
            stale_after_secs: 3600,
            max_raw_series_per_cluster: DEFAULT_MAX_RAW_SERIES_PER_CLUSTER,
            sharding: Sharding::default(),
            summary: SummaryOptions::default(),
        }
    }
}

#[derive(Default)]
struct ClusterData {
    vcenter: String,
    name: String,
    key: String,
    success: Option<bool>,
    duration: f64,
    slow: bool,
    errors: BTreeMap<&'static str, u64>,
    last_sample: BTreeMap<String, i64>,
    tables: Tables,
    unknown_series: BTreeMap<&'static str, usize>,
    /// What is done with the cluster (None until the first inventory that lists it).
    state: Option<ClusterState>,
    /// Entity types the cluster refused (`InvalidArgument`) since the inventory of
    /// generation `inventory_gen`: not queried again until the next inventory.
    refused: BTreeSet<String>,
    inventory_gen: u64,
    /// New series of entity types the catalogue does not know left out for the cap, by type.
    raw_dropped: BTreeMap<Arc<str>, u64>,
    /// Health, capacity and resync.
    summary: SummaryData,
}

impl ClusterData {
    /// Moves the cluster to `state`, logging the change once.
    fn set_state(&mut self, state: ClusterState) {
        if self.state == Some(state) {
            return;
        }
        let (vcenter, cluster) = (&self.vcenter, &self.name);
        match state {
            ClusterState::OtherShard => {
                tracing::debug!(vcenter = %vcenter, cluster = %cluster, state = state.as_str(), "cluster {}", state.reason());
            }
            ClusterState::Collecting | ClusterState::NoVsan | ClusterState::Excluded => {
                tracing::info!(vcenter = %vcenter, cluster = %cluster, state = state.as_str(), "cluster {}", state.reason());
            }
            _ => {
                tracing::warn!(vcenter = %vcenter, cluster = %cluster, state = state.as_str(), "cluster not collected: {}", state.reason());
            }
        }
        self.state = Some(state);
    }
}

/// One cluster: its published data, its interned label values and a lock that serialises
/// its collections.
struct ClusterSlot {
    data: Mutex<ClusterData>,
    /// Locked after `data` when both are needed.
    strings: Mutex<Strings>,
    collecting: tokio::sync::Mutex<()>,
}

/// How long a vCenter's inventory (clusters, hosts, disks, VMs and their names) is reused
/// before it is fetched again. An answer naming an entity the inventory does not know makes
/// the next collection fetch it anyway, so a new host or VM is named one collection later.
/// The answer is megabytes of XML for a large vCenter, read into an element tree; telegraf's
/// vSphere input rediscovers objects every 300 s as well.
const INVENTORY_REFRESH: Duration = Duration::from_secs(300);

/// An inventory and when it was fetched.
type CachedInventory = Option<(Instant, Arc<[ClusterInv]>)>;

/// The entity types a vCenter's performance manager supports.
#[derive(Debug)]
struct Supported {
    /// Per catalogue type (index into [`ENTITY_TYPES`]): supported.
    known: Vec<bool>,
    /// Supported types the catalogue does not know: queried too, exported raw.
    unknown: Vec<Arc<str>>,
}

/// Supported types the catalogue does not know that are queried at most (in id order): each
/// costs one request per cluster and cycle. vSAN 9 advertises about 69 types in all.
const MAX_UNKNOWN_ENTITY_TYPES: usize = 128;

impl Supported {
    fn from_ids(ids: &[String]) -> Supported {
        Supported {
            known: ENTITY_TYPES
                .iter()
                .map(|et| ids.iter().any(|i| i == et.id))
                .collect(),
            unknown: ids
                .iter()
                .filter(|i| catalogue::entity_type(i).is_none() && Self::plausible(i))
                .map(|i| Arc::from(i.as_str()))
                .collect::<BTreeSet<Arc<str>>>()
                .into_iter()
                .take(MAX_UNKNOWN_ENTITY_TYPES)
                .collect(),
        }
    }

    /// An id that can stand before `:*` in an `entityRefId` (`host-domowner`): 1-64 ASCII
    /// letters, digits, `-` or `_`. Anything else the vCenter lists is not queried.
    fn plausible(id: &str) -> bool {
        (1..=64).contains(&id.len())
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    }

    /// Every catalogue type: what is assumed until the vCenter answered once.
    fn catalogue() -> Supported {
        Supported {
            known: vec![true; ENTITY_TYPES.len()],
            unknown: Vec::new(),
        }
    }
}

struct TargetRt {
    spec: Target,
    client: Arc<VcenterClient>,
    inventory: Mutex<CachedInventory>,
    /// Set when an answer named an entity the cached inventory does not know.
    stale: AtomicBool,
    /// The supported entity types, fetched with the inventory.
    supported: Mutex<Option<Arc<Supported>>>,
    /// Bumped by every inventory fetched.
    inventory_gen: AtomicU64,
    /// Failed inventory refreshes by reason.
    inventory_errors: Mutex<BTreeMap<&'static str, u64>>,
    /// The last summary logged (logged again only when it changes).
    summary: Mutex<String>,
}

impl TargetRt {
    fn new(spec: Target) -> Result<Arc<TargetRt>, EngineError> {
        let client =
            VcenterClient::new(spec.client.clone()).map_err(|source| EngineError::Client {
                name: spec.name.clone(),
                source,
            })?;
        Ok(Arc::new(TargetRt::with_client(spec, Arc::new(client))))
    }

    fn with_client(spec: Target, client: Arc<VcenterClient>) -> TargetRt {
        TargetRt {
            spec,
            client,
            inventory: Mutex::new(None),
            stale: AtomicBool::new(false),
            supported: Mutex::new(None),
            inventory_gen: AtomicU64::new(0),
            inventory_errors: Mutex::default(),
            summary: Mutex::default(),
        }
    }
}

struct Shared {
    opts: EngineOptions,
    targets: parking_lot::RwLock<Vec<Arc<TargetRt>>>,
    clusters: Mutex<BTreeMap<String, Arc<ClusterSlot>>>,
    state: Mutex<StateFile>,
    semaphore: tokio::sync::Semaphore,
    cycles: AtomicU64,
    /// This replica's shard (starts as `opts.sharding`).
    sharding: parking_lot::RwLock<Sharding>,
    /// The last shard summary logged (logged again only when it changes).
    shard_summary: Mutex<String>,
    /// Where every interval value goes for remote write (`--remote-write.url`).
    push: parking_lot::RwLock<Option<PushSink>>,
}

/// The engine: create it, [`Engine::spawn`] the loop, register [`Engine::collector`].
#[derive(Clone)]
pub struct Engine {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("targets", &self.shared.targets.read().len())
            .field("cycles", &self.cycles())
            .finish_non_exhaustive()
    }
}

/// Why the engine could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// A vCenter client could not be built.
    #[error("vcenter {name}: cannot create client")]
    Client {
        /// The vCenter label.
        name: String,
        /// The cause.
        #[source]
        source: ClientError,
    },
}

impl Engine {
    /// Builds the engine and loads the state file (a corrupt one is logged and ignored).
    ///
    /// # Errors
    /// A client that cannot be built (CA file, TLS).
    pub fn new(targets: Vec<Target>, opts: EngineOptions) -> Result<Engine, EngineError> {
        let state = match &opts.state_file {
            Some(p) => StateFile::load(p).unwrap_or_else(|e| {
                tracing::warn!(path = %p.display(), error = %e, "ignoring unreadable state file");
                StateFile::default()
            }),
            None => StateFile::default(),
        };
        let targets = targets
            .into_iter()
            .map(TargetRt::new)
            .collect::<Result<Vec<_>, EngineError>>()?;
        let permits = opts.max_concurrent_requests.max(1);
        if opts.sharding.total_shards() > 1 {
            tracing::info!(
                shard = opts.sharding.shard(),
                total_shards = opts.sharding.total_shards(),
                "sharded: collecting only the clusters of shard {} of {} (the count is logged once the inventories are read)",
                opts.sharding.shard(),
                opts.sharding.total_shards()
            );
        }
        Ok(Engine {
            shared: Arc::new(Shared {
                sharding: parking_lot::RwLock::new(opts.sharding),
                shard_summary: Mutex::default(),
                opts,
                targets: parking_lot::RwLock::new(targets),
                clusters: Mutex::new(BTreeMap::new()),
                state: Mutex::new(state),
                semaphore: tokio::sync::Semaphore::new(permits),
                cycles: AtomicU64::new(0),
                push: parking_lot::RwLock::new(None),
            }),
        })
    }

    /// Replaces the vCenters and clusters to collect (a reloaded config file). A vCenter whose
    /// URL, credentials and TLS settings did not change keeps its client and session; removed
    /// vCenters are logged out and their series dropped.
    ///
    /// # Errors
    /// A new client that cannot be built; the previous targets then stay in place.
    pub async fn set_targets(&self, targets: Vec<Target>) -> Result<(), EngineError> {
        let old = self.shared.targets.read().clone();
        let mut next = Vec::with_capacity(targets.len());
        for spec in targets {
            match old
                .iter()
                .find(|t| t.spec.name == spec.name && t.spec.client == spec.client)
            {
                Some(t) => next.push(Arc::new(TargetRt::with_client(spec, t.client.clone()))),
                None => next.push(TargetRt::new(spec)?),
            }
        }
        *self.shared.targets.write() = next.clone();
        for t in old
            .iter()
            .filter(|t| !next.iter().any(|n| Arc::ptr_eq(&n.client, &t.client)))
        {
            t.client.logout().await;
        }
        self.shared.clusters.lock().retain(|_, c| {
            let c = c.data.lock();
            next.iter().any(|t| {
                t.spec.name == c.vcenter
                    && (c.name.is_empty()
                        || t.spec.clusters.as_ref().is_none_or(|f| f.contains(&c.name)))
            })
        });
        tracing::info!(vcenters = next.len(), "collection targets updated");
        Ok(())
    }

    /// Changes which clusters this replica collects (a reloaded config file), from the next
    /// collection on: a cluster that moves to another shard is no longer queried and its
    /// series are dropped; one that moves to this shard is collected from then on.
    pub fn set_sharding(&self, sharding: Sharding) {
        let mut cur = self.shared.sharding.write();
        if *cur != sharding {
            tracing::info!(
                shard = sharding.shard(),
                total_shards = sharding.total_shards(),
                previous_shard = cur.shard(),
                previous_total_shards = cur.total_shards(),
                "shard changed"
            );
            *cur = sharding;
        }
    }

    /// Pushes every interval value published from now on (a gauge's value, a counter's
    /// running total, each at its vSAN sample time) into `sink` for remote write
    /// ([`RemoteWrite`](crate::push::RemoteWrite)).
    pub fn set_push(&self, sink: PushSink) {
        *self.shared.push.write() = Some(sink);
    }

    /// Which clusters this replica collects.
    pub fn sharding(&self) -> Sharding {
        *self.shared.sharding.read()
    }

    /// Makes the next collection fetch every vCenter's inventory (and supported entity
    /// types) again instead of reusing the cached one; if that fails, the cached one is
    /// still used.
    pub fn refresh_inventory(&self) {
        for t in self.shared.targets.read().iter() {
            t.stale.store(true, Ordering::Release);
        }
    }

    /// Completed collection cycles.
    pub fn cycles(&self) -> u64 {
        self.shared.cycles.load(Ordering::Acquire)
    }

    /// One collector serving the latest results (every family), named `vsan`: for a
    /// registry that wants the exporter as one unit. The binary registers
    /// [`collectors`](Self::collectors) instead.
    pub fn collector(&self) -> VsanCollector {
        VsanCollector::new(self.shared.clone(), Part::All)
    }

    /// The collectors that together serve the same families as
    /// [`collector`](Self::collector), each family in exactly one of them, named after what
    /// they serve (the `collector` label of `vsanobs_scrape_collector_success`):
    ///
    /// - one per catalogue family, named after the family
    ///   (`vsan_capacity_disk_device_io_latency_seconds`);
    /// - one per health, capacity and resync family ([`summary::metrics::ALL`]), named after
    ///   the family;
    /// - one per entity type for the families of metric labels the catalogue does not know,
    ///   named `<entity type prefix>_unknown_labels` (`vsan_host_domclient_unknown_labels`);
    /// - `vsan_unknown_entity_types` for the raw families of every entity type the
    ///   catalogue does not know (`vsan_host_domowner_iops_read`): the types are learnt
    ///   from each vCenter at run time, after the collectors are registered;
    /// - `vsan_exporter` for the exporter's self-metrics (`vsan_exporter_*`).
    ///
    /// A registry encodes one collector's families before it runs the next, so a scrape
    /// holds one family's samples at a time, not the whole exporter's. (Collectors per
    /// vCenter or per cluster cannot do this: every cluster exports the same families, and
    /// a registry takes each family from one collector only.)
    pub fn collectors(&self) -> Vec<VsanCollector> {
        let families = catalogue::METRICS.iter().map(Part::Family);
        let summaries = summary::metrics::ALL.iter().map(Part::Summary);
        let unknown = (0..ENTITY_TYPES.len()).map(Part::UnknownLabels);
        families
            .chain(summaries)
            .chain(unknown)
            .chain([Part::RawTypes, Part::SelfMetrics])
            .map(|part| VsanCollector::new(self.shared.clone(), part))
            .collect()
    }

    /// Runs collections every `interval` until `stop` resolves, then logs out.
    pub async fn run(self, stop: impl std::future::Future<Output = ()>) {
        let mut stop = std::pin::pin!(stop);
        let mut tick = tokio::time::interval(self.shared.opts.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = &mut stop => break,
                _ = tick.tick() => {}
            }
            tokio::select! {
                _ = &mut stop => break,
                _ = self.collect_once() => {}
            }
        }
        self.shutdown().await;
    }

    /// Logs out of every vCenter.
    pub async fn shutdown(&self) {
        let targets = self.shared.targets.read().clone();
        for t in &targets {
            t.client.logout().await;
        }
    }

    /// One collection of every cluster of every vCenter.
    pub async fn collect_once(&self) {
        let targets = self.shared.targets.read().clone();
        let futs = targets.iter().map(|t| self.collect_target(t));
        futures_util::future::join_all(futs).await;
        self.log_shard_summary();
        let push = self.shared.push.read().clone();
        if let Some(p) = push {
            let gone = p.forget_series_unused_for(self.shared.opts.stale_after_secs);
            if gone > 0 {
                tracing::debug!(
                    series = gone,
                    "remote write: series not pushed for a while let go"
                );
            }
        }
        self.shared.cycles.fetch_add(1, Ordering::AcqRel);
    }

    fn cluster_entry(&self, vcenter: &str, name: &str, key: &str) -> Arc<ClusterSlot> {
        let mut map = self.shared.clusters.lock();
        let slot = map
            .entry(format!("{vcenter}\u{0}{name}"))
            .or_insert_with(|| {
                let state = self.shared.state.lock();
                let last_sample = state
                    .clusters
                    .get(key)
                    .cloned()
                    .unwrap_or_default()
                    .into_iter()
                    .collect();
                Arc::new(ClusterSlot {
                    data: Mutex::new(ClusterData {
                        vcenter: vcenter.to_owned(),
                        name: name.to_owned(),
                        key: key.to_owned(),
                        last_sample,
                        ..ClusterData::default()
                    }),
                    strings: Mutex::default(),
                    collecting: tokio::sync::Mutex::new(()),
                })
            })
            .clone();
        drop(map);
        // A cluster first seen without vSAN (keyed by MoRef) that now has it (keyed by vSAN
        // UUID): its state-file entry is the UUID's from now on.
        let mut c = slot.data.lock();
        if !key.is_empty() && c.key != key {
            c.key = key.to_owned();
            if c.last_sample.is_empty()
                && let Some(saved) = self.shared.state.lock().clusters.get(key)
            {
                c.last_sample = saved.clone().into_iter().collect();
            }
        }
        drop(c);
        slot
    }

    /// The state-file key of a cluster: its vSAN UUID, which survives a rename, or its MoRef
    /// while it has none.
    fn state_key(vcenter: &str, c: &ClusterInv) -> String {
        format!("{vcenter}/{}", c.uuid.as_deref().unwrap_or(&c.moref))
    }

    fn fail_known_clusters(&self, t: &TargetRt, reason: &'static str) {
        let map = self.shared.clusters.lock();
        let mut any = false;
        for c in map.values() {
            let mut c = c.data.lock();
            let collected = !matches!(
                c.state,
                Some(ClusterState::NoVsan | ClusterState::Excluded | ClusterState::OtherShard)
            );
            if c.vcenter == t.spec.name && collected {
                c.success = Some(false);
                *c.errors.entry(reason).or_default() += 1;
                if !c.name.is_empty() {
                    c.set_state(ClusterState::Error);
                }
                any = true;
            }
        }
        drop(map);
        if !any {
            let c = self.cluster_entry(&t.spec.name, "", "");
            let mut c = c.data.lock();
            c.success = Some(false);
            *c.errors.entry(reason).or_default() += 1;
        }
    }

    /// Counts and logs a failed inventory refresh; the previous inventory, if any, is what
    /// the cycle goes on with.
    fn inventory_failed(&self, t: &TargetRt, what: &str, reason: &'static str, error: &str) {
        *t.inventory_errors.lock().entry(reason).or_default() += 1;
        let kept = t.inventory.lock().is_some();
        tracing::warn!(vcenter = %t.spec.name, reason, error = %error, previous_kept = kept, "{what} failed");
    }

    /// The inventory to collect with: the cached one, a fresh one, or (when the refresh
    /// fails) the previous one; the reason of the failure when there is none at all.
    async fn inventory_of(&self, t: &TargetRt) -> Result<Arc<[ClusterInv]>, &'static str> {
        let cached = t
            .inventory
            .lock()
            .as_ref()
            .filter(|(at, _)| at.elapsed() < INVENTORY_REFRESH && !t.stale.load(Ordering::Acquire))
            .map(|(_, inv)| inv.clone());
        if let Some(inv) = cached {
            return Ok(inv);
        }
        t.stale.store(false, Ordering::Release);
        let deadline = self.shared.opts.cluster_timeout;
        let reason = match t.client.inventory(deadline).await {
            Ok(inv) => {
                let inv: Arc<[ClusterInv]> = inv.into();
                *t.inventory.lock() = Some((Instant::now(), inv.clone()));
                t.inventory_gen.fetch_add(1, Ordering::AcqRel);
                // A vCenter without any vSAN cluster may have no vSAN endpoint at all.
                if inv.iter().any(|c| c.uuid.is_some()) {
                    self.refresh_supported(t).await;
                }
                self.forget_gone_clusters(t, &inv);
                return Ok(inv);
            }
            Err(e) => {
                self.inventory_failed(t, "inventory", e.reason(), &error_chain(&e));
                e.reason()
            }
        };
        t.inventory
            .lock()
            .as_ref()
            .map(|(_, inv)| inv.clone())
            .ok_or(reason)
    }

    /// Asks the vCenter which entity types it supports (`VsanPerfGetSupportedEntityTypes`,
    /// one list for every cluster: the call takes none). On failure the previous list stays;
    /// with none yet, every catalogue type is tried and a type a cluster refuses is skipped
    /// until the next inventory.
    async fn refresh_supported(&self, t: &TargetRt) {
        let deadline = self.shared.opts.cluster_timeout;
        let ids = match tokio::time::timeout(deadline, t.client.supported_entity_types()).await {
            Ok(Ok(ids)) => ids,
            Ok(Err(e)) => {
                self.inventory_failed(t, "supported entity types", e.reason(), &error_chain(&e));
                let mut s = t.supported.lock();
                s.get_or_insert_with(|| Arc::new(Supported::catalogue()));
                return;
            }
            Err(_) => {
                self.inventory_failed(t, "supported entity types", "timeout", "timed out");
                let mut s = t.supported.lock();
                s.get_or_insert_with(|| Arc::new(Supported::catalogue()));
                return;
            }
        };
        let next = Supported::from_ids(&ids);
        let unknown_listed = ids
            .iter()
            .filter(|i| catalogue::entity_type(i).is_none())
            .collect::<BTreeSet<_>>()
            .len();
        if unknown_listed > next.unknown.len() {
            tracing::warn!(vcenter = %t.spec.name, listed = unknown_listed, queried = next.unknown.len(), max = MAX_UNKNOWN_ENTITY_TYPES, "the vCenter lists entity types that are malformed or beyond the bound: not queried");
        }
        let mut cur = t.supported.lock();
        let changed = cur.as_ref().is_none_or(|c| c.unknown != next.unknown);
        if changed && !next.unknown.is_empty() {
            tracing::info!(vcenter = %t.spec.name, count = next.unknown.len(), types = %next.unknown.join(","), "the vCenter supports entity types the catalogue does not know: exported raw");
        }
        let missing: Vec<&str> = ENTITY_TYPES
            .iter()
            .zip(&next.known)
            .filter(|(_, k)| !**k)
            .map(|(et, _)| et.id)
            .collect();
        if changed && !missing.is_empty() {
            tracing::info!(vcenter = %t.spec.name, types = %missing.join(","), "catalogue entity types the vCenter does not support: not queried");
        }
        *cur = Some(Arc::new(next));
    }

    /// Drops the clusters of this vCenter that a fresh inventory no longer lists (and the
    /// placeholder of a vCenter whose inventory was never read).
    fn forget_gone_clusters(&self, t: &TargetRt, inv: &[ClusterInv]) {
        self.shared.clusters.lock().retain(|_, slot| {
            let c = slot.data.lock();
            c.vcenter != t.spec.name || inv.iter().any(|i| i.name == c.name)
        });
    }

    async fn collect_target(&self, t: &TargetRt) {
        let now = {
            let _permit = self.shared.semaphore.acquire().await;
            match tokio::time::timeout(self.shared.opts.cluster_timeout, t.client.current_time())
                .await
            {
                Ok(Ok(now)) => now,
                Ok(Err(e)) => {
                    tracing::warn!(vcenter = %t.spec.name, reason = e.reason(), error = %error_chain(&e), "vCenter unreachable");
                    self.fail_known_clusters(t, e.reason());
                    return;
                }
                Err(_) => {
                    tracing::warn!(vcenter = %t.spec.name, "vCenter did not answer in time");
                    self.fail_known_clusters(t, "timeout");
                    return;
                }
            }
        };
        let inv = {
            let _permit = self.shared.semaphore.acquire().await;
            self.inventory_of(t).await
        };
        let inv = match inv {
            Ok(inv) => inv,
            Err(reason) => {
                self.fail_known_clusters(t, reason);
                return;
            }
        };
        let supported = t
            .supported
            .lock()
            .clone()
            .unwrap_or_else(|| Arc::new(Supported::catalogue()));
        let generation = t.inventory_gen.load(Ordering::Acquire);
        let sharding = self.sharding();
        let mut collect = Vec::new();
        for c in inv.iter() {
            if !sharding.owns(&t.spec.name, &c.moref) {
                self.other_shard(t, c);
                continue;
            }
            let state = if t
                .spec
                .clusters
                .as_ref()
                .is_some_and(|f| !f.contains(&c.name))
            {
                Some(ClusterState::Excluded)
            } else if c.uuid.is_none() {
                Some(ClusterState::NoVsan)
            } else {
                None
            };
            match state {
                Some(state) => {
                    let key = Self::state_key(&t.spec.name, c);
                    let slot = self.cluster_entry(&t.spec.name, &c.name, &key);
                    slot.data.lock().set_state(state);
                }
                None => collect.push(c),
            }
        }
        let futs = collect
            .iter()
            .map(|c| self.collect_cluster(t, c, now, &supported, generation));
        futures_util::future::join_all(futs).await;
        self.log_summary(t, inv.len());
    }

    /// Marks cluster `c` as another shard's. One this replica collected until now (the shard
    /// changed on reload) drops what it held, so only its new owner exports its series.
    fn other_shard(&self, t: &TargetRt, c: &ClusterInv) {
        let key = format!("{}/{}", t.spec.name, c.moref);
        let slot = self.cluster_entry(&t.spec.name, &c.name, &key);
        let mut d = slot.data.lock();
        if d.state.is_some() && d.state != Some(ClusterState::OtherShard) {
            let state = d.state;
            *d = ClusterData {
                vcenter: std::mem::take(&mut d.vcenter),
                name: std::mem::take(&mut d.name),
                key: std::mem::take(&mut d.key),
                state,
                ..ClusterData::default()
            };
        }
        d.set_state(ClusterState::OtherShard);
    }

    /// Logs how many clusters of all vCenters this shard collects, when sharded and that
    /// changed.
    fn log_shard_summary(&self) {
        let sharding = self.sharding();
        if sharding.total_shards() <= 1 {
            return;
        }
        let (mut found, mut other, mut collecting) = (0usize, 0usize, 0usize);
        for slot in self.shared.clusters.lock().values() {
            let c = slot.data.lock();
            match c.state {
                Some(ClusterState::OtherShard) => other += 1,
                Some(ClusterState::Collecting) => collecting += 1,
                _ => {}
            }
            if c.state.is_some() {
                found += 1;
            }
        }
        let mine = found - other;
        let summary = format!(
            "shard {} of {}: {mine} of {found} clusters are this shard's ({collecting} collecting), {other} another shard's",
            sharding.shard(),
            sharding.total_shards()
        );
        let mut last = self.shared.shard_summary.lock();
        if *last != summary {
            tracing::info!(
                shard = sharding.shard(),
                total_shards = sharding.total_shards(),
                clusters = found,
                this_shard = mine,
                collecting,
                "{summary}"
            );
            *last = summary;
        }
    }

    /// Logs how many clusters the vCenter has and what is done with them, when that changed.
    fn log_summary(&self, t: &TargetRt, found: usize) {
        let mut counts: BTreeMap<ClusterState, usize> = BTreeMap::new();
        for slot in self.shared.clusters.lock().values() {
            let c = slot.data.lock();
            if c.vcenter == t.spec.name
                && let Some(s) = c.state
            {
                *counts.entry(s).or_default() += 1;
            }
        }
        let collecting = counts.get(&ClusterState::Collecting).copied().unwrap_or(0);
        let others: Vec<String> = counts
            .iter()
            .filter(|(s, _)| **s != ClusterState::Collecting)
            .map(|(s, n)| format!("{n} {}", s.as_str()))
            .collect();
        let summary = format!(
            "{found} clusters found, {collecting} collected{}{}",
            if others.is_empty() {
                ""
            } else {
                "; not collected: "
            },
            others.join(", ")
        );
        let mut last = t.summary.lock();
        if *last == summary {
            return;
        }
        let other_shard = counts.get(&ClusterState::OtherShard).copied().unwrap_or(0);
        if collecting == 0 && (found == 0 || other_shard < found) {
            tracing::warn!(vcenter = %t.spec.name, found, collecting, "nothing to collect from this vCenter: {summary}");
        } else {
            tracing::info!(vcenter = %t.spec.name, found, collecting, "vCenter clusters: {summary}");
        }
        *last = summary;
    }

    async fn collect_cluster(
        &self,
        t: &TargetRt,
        inv: &ClusterInv,
        now: i64,
        supported: &Supported,
        generation: u64,
    ) {
        let key = Self::state_key(&t.spec.name, inv);
        let slot = self.cluster_entry(&t.spec.name, &inv.name, &key);
        // One collection of a cluster at a time: answers are staged against the high-water
        // marks read below, which only this collection moves.
        let _collecting = slot.collecting.lock().await;
        let started = Instant::now();
        let (slow, probe, windows) = {
            let mut c = slot.data.lock();
            if c.inventory_gen != generation {
                c.inventory_gen = generation;
                c.refused.clear();
            }
            // Catalogue types first (the probe below is one of them when there is one), then
            // those the catalogue does not know, exported raw.
            let known = ENTITY_TYPES
                .iter()
                .enumerate()
                .filter(|(i, et)| supported.known[*i] && et.served_by(inv.esa))
                .map(|(i, _)| TableType::Catalogue(i));
            let raw = supported.unknown.iter().cloned().map(TableType::Raw);
            let windows: Vec<(TableType, i64, Option<i64>)> = known
                .chain(raw)
                .filter(|et| !c.refused.contains(et.id()))
                .map(|et| {
                    let after = c.last_sample.get(et.id()).copied();
                    let start = after
                        .unwrap_or(now - self.shared.opts.lookback_secs)
                        .max(now - 86_000);
                    (et, start, after)
                })
                .collect();
            // A cluster not known to answer is asked one type first: when its performance
            // service is off or the user may not read it, that one answer says so.
            let probe = c.state != Some(ClusterState::Collecting);
            (c.slow, probe, windows)
        };
        // Health, capacity and resync run beside the performance queries, each on its own
        // deadline: a failure of one loses nothing of the others.
        let plan = slot
            .data
            .lock()
            .summary
            .plan(&self.shared.opts.summary, started);
        let summary_answers = summary::ask(
            &t.client,
            &self.shared.semaphore,
            inv,
            plan,
            self.shared.opts.cluster_timeout,
        );
        let conc = if slow {
            1
        } else {
            self.shared.opts.per_cluster_concurrency.max(1)
        };
        let per_cluster = Arc::new(tokio::sync::Semaphore::new(conc));
        let names = Arc::new(names_of(&mut slot.strings.lock(), &t.spec.name, inv));
        // Each answer is parsed as it streams in and staged in the compact form; the staged
        // answers are published together with the state file, under the cluster lock: a
        // scrape never sees counters the state file does not account for.
        let staged: Arc<Mutex<Vec<Staged>>> = Arc::default();
        // What each query ended with: None for success, else the error's reason.
        let outcomes: Arc<Mutex<Vec<Option<&'static str>>>> = Arc::default();
        if windows.is_empty() {
            // Neither the vCenter's supported types nor the cluster's architecture leave a
            // type to ask for: a cluster that cannot be collected, said as such.
            let answers = summary_answers.await;
            let mut c = slot.data.lock();
            c.summary.apply(answers, inv, &t.spec.name, started);
            if c.state != Some(ClusterState::Error) {
                tracing::warn!(vcenter = %t.spec.name, cluster = %inv.name, esa = inv.esa, "no entity type is supported for this cluster");
            }
            *c.errors.entry("no_supported_entity_type").or_default() += 1;
            c.success = Some(false);
            c.set_state(ClusterState::Error);
            return;
        }
        let windows: Vec<_> = windows.into_iter().filter(|(_, s, _)| *s < now).collect();
        let raw_cap = self.shared.opts.max_raw_series_per_cluster;
        let push = self.shared.push.read().clone();
        let record = push.is_some();
        let query = |(et, start, after): (TableType, i64, Option<i64>)| {
            let shared = self.shared.clone();
            let client = t.client.clone();
            let moref = inv.moref.clone();
            let (slot, staged, per_cluster, names, outcomes) = (
                slot.clone(),
                staged.clone(),
                per_cluster.clone(),
                names.clone(),
                outcomes.clone(),
            );
            let (vcenter, cluster) = (t.spec.name.clone(), inv.name.clone());
            async move {
                let et_id = et.id();
                let res = {
                    let _slot = per_cluster.acquire_owned().await;
                    let _permit = shared.semaphore.acquire().await;
                    client
                        .query_perf_with(&moref, et_id, start, now, |xml| {
                            let to = Staging {
                                names: &names,
                                strings: &slot.strings,
                                cluster: &cluster,
                                raw_cap,
                                record,
                            };
                            stage(xml, &et, after, &to)
                        })
                        .await
                };
                let outcome = match res {
                    Ok(s) => {
                        staged.lock().push(s);
                        None
                    }
                    Err(e) => {
                        let reason = e.reason();
                        let mut c = slot.data.lock();
                        *c.errors.entry(reason).or_default() += 1;
                        if reason == "invalid_argument" {
                            // The cluster does not serve this type (another architecture, an
                            // older release): skip it until the next inventory.
                            c.refused.insert(et_id.to_owned());
                            tracing::info!(vcenter = %vcenter, cluster = %cluster, entity_type = et_id, error = %error_chain(&e), "cluster refuses this entity type: not queried again until the next inventory");
                        } else if matches!(
                            (reason, c.state),
                            ("not_found", Some(ClusterState::PerfServiceOff))
                                | ("no_permission", Some(ClusterState::NoPermission))
                        ) {
                            // Already said once, with the state change: the probe repeats it
                            // every cycle.
                            tracing::debug!(vcenter = %vcenter, cluster = %cluster, entity_type = et_id, reason, "vSAN query failed (cluster state unchanged)");
                        } else {
                            tracing::warn!(vcenter = %vcenter, cluster = %cluster, entity_type = et_id, reason, error = %error_chain(&e), "vSAN query failed");
                        }
                        Some(reason)
                    }
                };
                outcomes.lock().push(outcome);
                outcome.is_none()
            }
        };
        let fut = async {
            let mut rest = windows.into_iter();
            let mut ok = true;
            if probe && let Some(first) = rest.next() {
                ok = query(first).await;
                let fatal = outcomes
                    .lock()
                    .last()
                    .copied()
                    .flatten()
                    .is_some_and(|r| r == "not_found" || r == "no_permission");
                if fatal {
                    return false;
                }
            }
            // Dropping the set (on timeout) aborts the requests still running.
            let mut set = tokio::task::JoinSet::new();
            for w in rest {
                set.spawn(query(w));
            }
            while let Some(r) = set.join_next().await {
                ok &= matches!(r, Ok(true));
            }
            ok
        };
        let perf = async {
            match tokio::time::timeout(self.shared.opts.cluster_timeout, fut).await {
                Ok(ok) => ok,
                Err(_) => {
                    tracing::warn!(vcenter = %t.spec.name, cluster = %inv.name, "cluster collection timed out");
                    *slot.data.lock().errors.entry("timeout").or_default() += 1;
                    outcomes.lock().push(Some("timeout"));
                    false
                }
            }
        };
        let (ok, answers) = tokio::join!(perf, summary_answers);
        let state = {
            let outcomes = outcomes.lock();
            if outcomes.iter().any(Option::is_none) {
                ClusterState::Collecting
            } else if outcomes.contains(&Some("no_permission")) {
                ClusterState::NoPermission
            } else if outcomes.contains(&Some("not_found")) {
                ClusterState::PerfServiceOff
            } else if outcomes.is_empty() {
                // Nothing was due (every window already collected) or nothing is supported.
                slot.data.lock().state.unwrap_or(ClusterState::Collecting)
            } else {
                ClusterState::Error
            }
        };
        drop(names);
        let mut staged = std::mem::take(&mut *staged.lock());
        // In type order, so the cap on raw series picks the same series whatever the order
        // the answers came in.
        staged.sort_by(|a, b| a.et.cmp(&b.et));
        if staged.iter().any(|s| s.unresolved > 0) {
            tracing::debug!(vcenter = %t.spec.name, cluster = %inv.name, "answer names entities the inventory does not know: fetching it next time");
            t.stale.store(true, Ordering::Release);
        }
        let any = !staged.is_empty();
        let elapsed = started.elapsed();
        let mut c = slot.data.lock();
        c.set_state(state);
        c.summary.apply(answers, inv, &t.spec.name, started);
        for s in staged {
            publish(&mut c, s, &self.shared.opts, push.as_ref(), &slot.strings);
        }
        c.success = Some(ok);
        c.duration = elapsed.as_secs_f64();
        c.slow = !ok || elapsed > self.shared.opts.cluster_timeout / 2;
        tracing::debug!(vcenter = %t.spec.name, cluster = %inv.name, series = c.tables.series(), table_bytes = c.tables.heap_bytes(), "collection published");
        let mut state = self.shared.state.lock();
        for (et, ts) in &c.last_sample {
            state.set(&c.key, et, *ts);
        }
        if let Some(path) = &self.shared.opts.state_file
            && any
            && let Err(e) = state.save(path)
        {
            tracing::warn!(path = %path.display(), error = %error_chain(&e), "cannot write state file");
        }
        drop(state);
        if let Some(p) = &push
            && any
        {
            p.flush();
        }
        // Names of entities that went away: drop them once they are a fair share.
        let mut strings = slot.strings.lock();
        let used = referenced(&c.tables, strings.len());
        if strings.len() - used > 32 && (strings.len() - used) * 4 > strings.len() {
            strings.compact(&mut c.tables);
        }
    }
}

/// The inventory's names of one cluster, interned.
fn names_of(strings: &mut Strings, vcenter: &str, inv: &ClusterInv) -> Names {
    let _ = vcenter;
    let mut names = Names {
        cluster_uuid: strings.intern(inv.uuid.as_deref().unwrap_or_default()),
        ..Names::default()
    };
    for h in &inv.hosts {
        let node = h.node_uuid.as_deref().unwrap_or_default();
        let ids = (strings.intern(&h.name), strings.intern(node));
        for (d, _) in &h.disks {
            names.disks.insert(d.clone(), ids);
        }
        names.hosts.insert(node.to_owned(), ids);
    }
    for v in &inv.vms {
        names
            .vms
            .insert(v.instance_uuid.clone(), strings.intern(&v.name));
    }
    names
}

/// What an answer is staged with: the cluster's inventory names, its interned strings, its
/// name (for logs) and the cap on series of types the catalogue does not know.
struct Staging<'a> {
    names: &'a Names,
    strings: &'a Mutex<Strings>,
    cluster: &'a str,
    raw_cap: usize,
    /// Keep every interval of every series too, for remote write.
    record: bool,
}

/// Parses one answer as it streams and stages it: entity type `et`, counter intervals after
/// `after` only.
fn stage(
    xml: &str,
    et: &TableType,
    after: Option<i64>,
    to: &Staging<'_>,
) -> Result<Staged, VsanError> {
    let (names, strings, cluster) = (to.names, to.strings, to.cluster);
    let mut staged = if to.record {
        Staged::recording(et.clone())
    } else {
        Staged::new(et.clone())
    };
    tracing::debug!(cluster = %cluster, entity_type = et.id(), bytes = xml.len(), "staging answer");
    let info = match et {
        TableType::Catalogue(i) => &ENTITY_TYPES[*i],
        TableType::Raw(id) => {
            for_each_entity(xml, |csv| {
                let m = match map_entity(csv, after) {
                    Ok(m) => m,
                    Err(e) => {
                        tracing::warn!(cluster = %cluster, entity = %csv.entity_ref_id, reason = e.reason(), error = %e, "skipping entity");
                        staged.bad += 1;
                        return;
                    }
                };
                if m.entity_type != **id {
                    return;
                }
                if staged.raw_full(to.raw_cap) {
                    // Nothing new fits: left out without interning its labels, so an answer
                    // of any size costs at most the cap.
                    staged.dropped += m.gauges.len() as u64;
                    return;
                }
                // The entity's id as the answer spells it: a UUID, maybe with `|<sub>`.
                let entity_id = csv
                    .entity_ref_id
                    .split_once(':')
                    .map_or(m.uuid.as_str(), |(_, rest)| rest);
                let key = names.raw_key(&mut strings.lock(), entity_id, &m.uuid);
                staged.add_raw(key, &m, to.raw_cap);
                if to.record {
                    staged.add_gauge_intervals(key, &gauge_intervals(csv, &m.entity_type, after));
                }
            })?;
            return Ok(staged);
        }
    };
    for_each_entity(xml, |csv| {
        let m = match map_entity(csv, after) {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(cluster = %cluster, entity = %csv.entity_ref_id, reason = e.reason(), error = %e, "skipping entity");
                staged.bad += 1;
                return;
            }
        };
        if m.entity_type != info.id {
            return;
        }
        if !names.knows(info.scope, &m.uuid) {
            staged.unresolved += 1;
        }
        let key = names.key(&mut strings.lock(), info.scope, &m.uuid, m.sub.as_deref());
        staged.add(key, &m);
        if to.record {
            staged.add_gauge_intervals(key, &gauge_intervals(csv, info.id, after));
        }
    })?;
    Ok(staged)
}

/// Every complete value of each gauge of an entity after `after` (the entity type's
/// high-water mark), converted as [`map_entity`] converts the latest one: what remote write
/// sends of a gauge. Counters are left out (their deltas come with the mapped entity).
fn gauge_intervals(
    csv: &EntityMetricCsv,
    entity_type: &str,
    after: Option<i64>,
) -> Vec<(MetricRef, Vec<(i64, f64)>)> {
    let Ok(ts) = parse_sample_info(&csv.sample_info) else {
        return Vec::new();
    };
    csv.series
        .iter()
        .filter_map(|s| {
            let values = parse_values(&s.values).ok()?;
            let metric = match catalogue::lookup(entity_type, &s.label) {
                Some(m) if m.is_delta() => return None,
                Some(m) => MetricRef::Known(m),
                None => MetricRef::Unknown(unknown_name(entity_type, &s.label)),
            };
            let points = valid_after(&ts, &values, after)
                .map(|(t, v)| match &metric {
                    MetricRef::Known(m) => (t, m.convert(v)),
                    _ => (t, v),
                })
                .collect();
            Some((metric, points))
        })
        .collect()
}

/// One staged series' intervals waiting to be pushed once its answer is merged; for a
/// counter, the total it held before.
struct PendingPush {
    key: EntityKey,
    metric: ColumnMetric,
    samples: Vec<(i64, f64)>,
    base: Option<DeltaTotal>,
}

/// Takes the recorded intervals of `s`, with each counter's total before the merge.
fn pending_push(c: &ClusterData, s: &mut Staged) -> Vec<PendingPush> {
    let Some(intervals) = s.intervals.take() else {
        return Vec::new();
    };
    let live = c.tables.table(&s.et);
    let mut pending: Vec<PendingPush> = intervals
        .into_iter()
        .filter_map(|((key, col), samples)| {
            let metric = s.table.columns.get(col)?.metric.clone();
            let base = metric.is_counter().then(|| {
                live.and_then(|t| t.cell(&key, &metric))
                    .map_or(DeltaTotal::new(), |c| c.delta_total())
            });
            Some(PendingPush {
                key,
                metric,
                samples,
                base,
            })
        })
        .collect();
    // A stable order, so series ids are given out the same way every run.
    pending.sort_by(|a, b| (a.metric.name(), a.key).cmp(&(b.metric.name(), b.key)));
    pending
}

/// Pushes the intervals of one answer just merged into `c`: each gauge value, and each
/// counter's running total after every interval the merge counted, at the vSAN sample
/// time. A series the merge left out (the cap on raw series) is not pushed.
fn push_intervals(
    c: &ClusterData,
    et: &TableType,
    pending: Vec<PendingPush>,
    strings: &Strings,
    sink: &PushSink,
) {
    let Some(live) = c.tables.table(et) else {
        return;
    };
    let mut families: BTreeMap<String, FamilyMeta> = BTreeMap::new();
    for p in pending {
        if live
            .cell(&p.key, &p.metric)
            .is_none_or(|cell| !cell.is_set())
        {
            continue;
        }
        let points: Vec<(i64, f64)> = match p.base {
            Some(base) => {
                let mut acc = DeltaTotal::new();
                let mut out = Vec::with_capacity(p.samples.len());
                for (t, d) in p.samples {
                    let before = acc.newest();
                    acc.add(t, d);
                    if acc.newest() != before {
                        out.push((t, base.total() + acc.total()));
                    }
                }
                // The merge adds the answer's sum only when it is newer than the total.
                let counted = acc
                    .newest()
                    .is_some_and(|n| base.newest().is_none_or(|b| n > b));
                if !counted {
                    continue;
                }
                out
            }
            None => {
                let mut v = p.samples;
                v.sort_by_key(|(t, _)| *t);
                let mut kept: Vec<(i64, f64)> = Vec::with_capacity(v.len());
                for (t, x) in v {
                    match kept.last_mut() {
                        Some(last) if last.0 == t => last.1 = x,
                        _ => kept.push((t, x)),
                    }
                }
                kept
            }
        };
        let name = p.metric.name();
        let family = families.entry(name.to_owned()).or_insert_with(|| match et {
            TableType::Catalogue(_) => {
                let (help, unit, kind) = p.metric.family();
                FamilyMeta {
                    name: name.to_owned(),
                    kind,
                    help: help.to_owned(),
                    unit: unit.map(str::to_owned),
                }
            }
            TableType::Raw(_) => FamilyMeta::new(name, MetricKind::Gauge, RAW_TYPE_HELP),
        });
        let mut pairs: Vec<(&str, &str)> = Vec::with_capacity(8);
        pairs.push(("vcenter", c.vcenter.as_str()));
        pairs.push(("cluster_name", c.name.as_str()));
        match et {
            TableType::Catalogue(i) => {
                let label_names = ENTITY_TYPES[*i].scope.labels();
                for (j, label) in label_names.iter().enumerate().skip(2).take(4) {
                    pairs.push((label, strings.get(p.key[j - 2])));
                }
                pairs.extend_from_slice(p.metric.extra());
            }
            TableType::Raw(_) => {
                for (label, &sid) in RAW_LABELS.iter().zip(&p.key) {
                    if sid != NONE {
                        pairs.push((label, strings.get(sid)));
                    }
                }
            }
        }
        let Some(id) = sink.series_id(family, &pairs, points.len()) else {
            continue;
        };
        for (t, v) in points {
            sink.push(id, t, v);
        }
    }
}

/// Publishes one staged answer: merges its series, counts its bad entities, unknown labels
/// and the raw series left out for the cap, moves the entity type's high-water mark and
/// drops stale gauges.
fn publish(
    c: &mut ClusterData,
    mut s: Staged,
    opts: &EngineOptions,
    push: Option<&PushSink>,
    strings: &Mutex<Strings>,
) {
    let pending = pending_push(c, &mut s);
    let et = s.et.clone();
    if s.bad > 0 {
        *c.errors.entry("bad_value").or_default() += s.bad;
    }
    if let TableType::Catalogue(i) = et {
        c.unknown_series.insert(ENTITY_TYPES[i].id, s.unknown);
    }
    let newest = s.newest;
    let staged_dropped = s.dropped;
    let dropped = staged_dropped + c.tables.merge(s, opts.max_raw_series_per_cluster);
    if let Some(sink) = push
        && !pending.is_empty()
    {
        push_intervals(c, &et, pending, &strings.lock(), sink);
    }
    if let TableType::Raw(id) = &et
        && dropped > 0
    {
        let first = !c.raw_dropped.contains_key(id);
        *c.raw_dropped.entry(id.clone()).or_default() += dropped;
        if first {
            tracing::warn!(vcenter = %c.vcenter, cluster = %c.name, entity_type = %id, dropped, cap = opts.max_raw_series_per_cluster, "too many series of entity types the catalogue does not know: new ones left out (counted in vsan_exporter_unknown_entity_type_series_dropped_total)");
        }
    }
    if let Some(n) = newest {
        let prev = c.last_sample.get(et.id()).copied().unwrap_or(i64::MIN);
        if n > prev {
            c.last_sample.insert(et.id().to_owned(), n);
        }
        c.tables.drop_stale(n.saturating_sub(opts.stale_after_secs));
    }
}

/// How many of `len` interned strings the tables refer to.
fn referenced(tables: &Tables, len: usize) -> usize {
    let mut used = vec![false; len];
    for t in tables.all() {
        for key in &t.keys {
            for &s in key.iter().filter(|s| **s != NONE) {
                if let Some(u) = used.get_mut(s as usize) {
                    *u = true;
                }
            }
        }
    }
    used.iter().filter(|u| **u).count()
}

/// Where a scrape's families go: the registry's [`FamilySink`], with the current family's
/// type remembered so a sample is written as a counter or a gauge.
struct Emit<'s, 'a> {
    sink: &'s mut FamilySink<'a>,
    kind: MetricKind,
}

impl Emit<'_, '_> {
    fn family(&mut self, name: &str, help: &str, unit: Option<&str>, kind: MetricKind) {
        self.kind = kind;
        self.sink.family(name, help, unit, kind);
    }

    /// A sample of the current family; `labels` are concatenated.
    fn sample(&mut self, labels: &[&[(&str, &str)]], value: Number) {
        match self.kind {
            MetricKind::Counter => self.sink.counter(labels, value),
            _ => self.sink.gauge(labels, value),
        }
    }
}

/// Serves the engine's latest results; never touches the network.
///
/// [`Engine::collector`] gives one collector for every family; [`Engine::collectors`] one
/// per family (and one for unknown labels per entity type, one for the entity types the
/// catalogue does not know, one for self-metrics), so each
/// builds only its family of a scrape, and the registry encodes and frees it before it runs
/// the next: the transient memory of a scrape is the largest family, not the whole exporter.
pub struct VsanCollector {
    shared: Arc<Shared>,
    name: String,
    part: Part,
}

/// What one collector serves.
#[derive(Debug, Clone, Copy)]
enum Part {
    /// Everything (`vsan`).
    All,
    /// One catalogue family.
    Family(&'static MetricDesc),
    /// The families of unknown labels of one entity type (index into [`ENTITY_TYPES`]).
    UnknownLabels(usize),
    /// The raw families of every entity type the catalogue does not know.
    RawTypes,
    /// The exporter's self-metrics.
    SelfMetrics,
    /// One family of health, capacity or resync.
    Summary(&'static MetricDesc),
}

impl Part {
    fn name(self) -> String {
        match self {
            Part::All => "vsan".to_owned(),
            Part::Family(desc) => desc.name.to_owned(),
            Part::UnknownLabels(et) => format!("{}_unknown_labels", ENTITY_TYPES[et].prefix),
            Part::RawTypes => "vsan_unknown_entity_types".to_owned(),
            Part::SelfMetrics => "vsan_exporter".to_owned(),
            Part::Summary(desc) => desc.name.to_owned(),
        }
    }
}

impl std::fmt::Debug for VsanCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VsanCollector")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// Emits one cluster's samples of a self-metric family: the cluster, its `vcenter` and
/// `cluster_name` labels, the family and the sink.
type SelfSamples = dyn Fn(&ClusterData, &[(&str, &str)], &mut Lazy<'_>, &mut Emit<'_, '_>);

/// Emits the family header once, before its first sample.
struct Lazy<'a> {
    desc: &'a MetricDesc,
    open: bool,
}

impl Lazy<'_> {
    fn sample(&mut self, out: &mut Emit<'_, '_>, labels: &[&[(&str, &str)]], value: Number) {
        if !self.open {
            out.family(
                self.desc.name,
                self.desc.help,
                self.desc.unit,
                self.desc.kind,
            );
            self.open = true;
        }
        out.sample(labels, value);
    }
}

impl VsanCollector {
    fn new(shared: Arc<Shared>, part: Part) -> VsanCollector {
        VsanCollector {
            shared,
            name: part.name(),
            part,
        }
    }

    fn slots(&self) -> Vec<Arc<ClusterSlot>> {
        self.shared.clusters.lock().values().cloned().collect()
    }

    /// Every family this collector serves: the vSAN series (catalogue families first, then
    /// those of unknown labels, then those of unknown entity types), then the self-metrics.
    fn emit(&self, out: &mut Emit<'_, '_>) {
        let slots = self.slots();
        match self.part {
            Part::All => {
                for desc in catalogue::METRICS {
                    emit_series(out, &slots, desc.name);
                }
                for desc in summary::metrics::ALL {
                    emit_summary(out, &slots, desc);
                }
                emit_unknown(out, &slots, None);
                emit_raw(out, &slots);
                self.emit_self(out, &slots);
            }
            Part::Summary(desc) => emit_summary(out, &slots, desc),
            Part::Family(desc) => emit_series(out, &slots, desc.name),
            Part::UnknownLabels(et) => emit_unknown(out, &slots, Some(et)),
            Part::RawTypes => emit_raw(out, &slots),
            Part::SelfMetrics => self.emit_self(out, &slots),
        }
    }

    fn emit_self(&self, out: &mut Emit<'_, '_>, slots: &[Arc<ClusterSlot>]) {
        use self_metrics as sm;
        let sharding = *self.shared.sharding.read();
        for (desc, v) in [
            (&sm::SHARD, sharding.shard()),
            (&sm::TOTAL_SHARDS, sharding.total_shards()),
        ] {
            let mut f = Lazy { desc, open: false };
            f.sample(out, &[], Number::Int(i64::from(v)));
        }
        let targets = self.shared.targets.read().clone();
        let mut f = Lazy {
            desc: &sm::INSECURE_TLS,
            open: false,
        };
        for t in &targets {
            let v = Number::Int(i64::from(t.spec.client.insecure));
            f.sample(out, &[&[("vcenter", &t.spec.name)]], v);
        }
        let mut f = Lazy {
            desc: &sm::LOGINS,
            open: false,
        };
        for t in &targets {
            let v = Number::Uint(t.client.logins());
            f.sample(out, &[&[("vcenter", &t.spec.name)]], v);
        }
        let each = |out: &mut Emit<'_, '_>, desc: &MetricDesc, emit: &SelfSamples| {
            let mut f = Lazy { desc, open: false };
            for slot in slots {
                let c = slot.data.lock();
                let id = [
                    ("vcenter", c.vcenter.as_str()),
                    ("cluster_name", c.name.as_str()),
                ];
                emit(&c, &id, &mut f, out);
            }
        };
        each(out, &sm::COLLECT_SUCCESS, &|c, id, f, out| {
            if let Some(ok) = c.success {
                f.sample(out, &[id], Number::Int(i64::from(ok)));
            }
        });
        each(out, &sm::COLLECT_DURATION, &|c, id, f, out| {
            if c.success.is_some() {
                f.sample(out, &[id], Number::Float(c.duration));
            }
        });
        each(out, &sm::FETCH_ERRORS, &|c, id, f, out| {
            for (reason, n) in &c.errors {
                f.sample(out, &[id, &[("reason", reason)]], Number::Uint(*n));
            }
            for (reason, n) in c.summary.error_counts() {
                f.sample(out, &[id, &[("reason", &reason)]], Number::Uint(n));
            }
        });
        let now = Instant::now();
        each(out, &sm::HEALTH_SUCCESS, &move |c, id, f, out| {
            if let Some((ok, _, _)) = c.summary.health_self(now) {
                f.sample(out, &[id], Number::Int(i64::from(ok)));
            }
        });
        each(out, &sm::HEALTH_AGE, &move |c, id, f, out| {
            if let Some((_, Some(age), _)) = c.summary.health_self(now) {
                f.sample(out, &[id], Number::Float(age));
            }
        });
        each(out, &sm::HEALTH_DURATION, &move |c, id, f, out| {
            if let Some((_, _, d)) = c.summary.health_self(now) {
                f.sample(out, &[id], Number::Float(d));
            }
        });
        each(out, &sm::LAST_SAMPLE, &|c, id, f, out| {
            for (et, ts) in &c.last_sample {
                f.sample(out, &[id, &[("entity_type", et)]], Number::Int(*ts));
            }
        });
        each(out, &sm::UNKNOWN_LABELS, &|c, id, f, out| {
            if !c.name.is_empty() && c.success.is_some() {
                let n = c.unknown_series.values().sum::<usize>();
                f.sample(out, &[id], Number::Int(n as i64));
            }
        });
        each(out, &sm::UNKNOWN_ENTITY_TYPE_SERIES, &|c, id, f, out| {
            if c.name.is_empty() {
                return;
            }
            for (et, t) in &c.tables.raw {
                let v = Number::Int(t.series() as i64);
                f.sample(out, &[id, &[("entity_type", et)]], v);
            }
        });
        each(out, &sm::UNKNOWN_ENTITY_TYPE_DROPPED, &|c, id, f, out| {
            for (et, n) in &c.raw_dropped {
                f.sample(out, &[id, &[("entity_type", et)]], Number::Uint(*n));
            }
        });
        each(out, &sm::CLUSTER_STATE, &|c, id, f, out| {
            if let Some(state) = c.state {
                f.sample(out, &[id, &[("state", state.as_str())]], Number::Int(1));
            }
        });
        let mut f = Lazy {
            desc: &sm::CLUSTERS,
            open: false,
        };
        for t in targets.iter().filter(|t| t.inventory.lock().is_some()) {
            let mut counts = [0i64; ClusterState::ALL.len()];
            for slot in slots {
                let c = slot.data.lock();
                if c.vcenter == t.spec.name
                    && let Some(s) = c.state
                    && let Some(i) = ClusterState::ALL.iter().position(|x| *x == s)
                {
                    counts[i] += 1;
                }
            }
            for (state, n) in ClusterState::ALL.iter().zip(counts) {
                let labels = [("vcenter", t.spec.name.as_str()), ("state", state.as_str())];
                f.sample(out, &[&labels], Number::Int(n));
            }
        }
        let mut f = Lazy {
            desc: &sm::UNKNOWN_ENTITY_TYPES,
            open: false,
        };
        for t in &targets {
            if let Some(s) = t.supported.lock().as_ref() {
                let v = Number::Int(s.unknown.len() as i64);
                f.sample(out, &[&[("vcenter", &t.spec.name)]], v);
            }
        }
        let mut f = Lazy {
            desc: &sm::API_VERSION,
            open: false,
        };
        for t in &targets {
            if let Some(v) = t.client.api_versions() {
                for (api, v) in [("vim25", &v.vim25), ("vsan", &v.vsan)] {
                    let labels = [
                        ("vcenter", t.spec.name.as_str()),
                        ("api", api),
                        ("version", v.version.as_deref().unwrap_or("unversioned")),
                        ("source", v.source),
                    ];
                    f.sample(out, &[&labels], Number::Int(1));
                }
            }
        }
        let mut f = Lazy {
            desc: &sm::INVENTORY_ERRORS,
            open: false,
        };
        for t in &targets {
            for (reason, n) in t.inventory_errors.lock().iter() {
                let labels = [("vcenter", t.spec.name.as_str()), ("reason", *reason)];
                f.sample(out, &[&labels], Number::Uint(*n));
            }
        }
    }
}

/// The families of unknown labels (of entity type `et`, or of all), in name order; a name
/// that is also a catalogue family's is served with that family.
fn emit_unknown(out: &mut Emit<'_, '_>, slots: &[Arc<ClusterSlot>], et: Option<usize>) {
    let mut unknown = BTreeSet::new();
    for slot in slots {
        let c = slot.data.lock();
        for (i, t) in c.tables.tables.iter().enumerate() {
            if et.is_some_and(|et| et != i) {
                continue;
            }
            for col in &t.columns {
                if let ColumnMetric::Unknown(n) = &col.metric
                    && !catalogue::METRICS.iter().any(|d| d.name == &**n)
                    && !unknown.contains(&**n)
                {
                    unknown.insert(n.to_string());
                }
            }
        }
    }
    for name in &unknown {
        emit_series(out, slots, name);
    }
}

/// The raw families of the entity types the catalogue does not know, in name order. A name
/// is served from one type only (the first by id, when two types' names sanitise alike),
/// and never when a catalogue family, a family of unknown labels or a self-metric has it.
fn emit_raw(out: &mut Emit<'_, '_>, slots: &[Arc<ClusterSlot>]) {
    let mut taken: BTreeSet<String> = BTreeSet::new();
    let mut families: BTreeMap<String, Arc<str>> = BTreeMap::new();
    for slot in slots {
        let c = slot.data.lock();
        for t in &c.tables.tables {
            for col in &t.columns {
                if let ColumnMetric::Unknown(n) = &col.metric
                    && !taken.contains(&**n)
                {
                    taken.insert(n.to_string());
                }
            }
        }
        for (et, t) in &c.tables.raw {
            for col in &t.columns {
                let name = col.metric.name();
                match families.get_mut(name) {
                    Some(first) if **first <= **et => {}
                    Some(first) => *first = et.clone(),
                    None => {
                        families.insert(name.to_owned(), et.clone());
                    }
                }
            }
        }
    }
    for (name, et) in &families {
        let reserved = taken.contains(name)
            || name.starts_with("vsan_exporter_")
            || catalogue::METRICS.iter().any(|d| d.name == name);
        if !reserved {
            emit_raw_family(out, slots, name, et);
        }
    }
}

/// The samples of raw family `name` of entity type `et` in every cluster.
fn emit_raw_family(out: &mut Emit<'_, '_>, slots: &[Arc<ClusterSlot>], name: &str, et: &str) {
    let mut open = false;
    for slot in slots {
        let c = slot.data.lock();
        if c.name.is_empty() {
            continue;
        }
        let Some(t) = c.tables.raw.get(et) else {
            continue;
        };
        let strings = slot.strings.lock();
        for col in t.columns.iter().filter(|c| c.metric.name() == name) {
            for (key, cell) in t.keys.iter().zip(&col.cells) {
                if !cell.is_set() {
                    continue;
                }
                if !open {
                    out.family(name, RAW_TYPE_HELP, None, MetricKind::Gauge);
                    open = true;
                }
                let mut pairs = [("", ""); 2 + RAW_LABELS.len()];
                pairs[0] = ("vcenter", c.vcenter.as_str());
                pairs[1] = ("cluster_name", c.name.as_str());
                let mut n = 2;
                for (label, &sid) in RAW_LABELS.iter().zip(key) {
                    if sid != NONE {
                        pairs[n] = (label, strings.get(sid));
                        n += 1;
                    }
                }
                out.sample(&[&pairs[..n]], Number::Float(cell.value()));
            }
        }
    }
}

/// The samples of health, capacity or resync family `desc` in every cluster.
fn emit_summary(out: &mut Emit<'_, '_>, slots: &[Arc<ClusterSlot>], desc: &MetricDesc) {
    let mut f = Lazy { desc, open: false };
    for slot in slots {
        let c = slot.data.lock();
        if c.name.is_empty() {
            continue;
        }
        let id = [
            ("vcenter", c.vcenter.as_str()),
            ("cluster_name", c.name.as_str()),
            ("cluster_uuid", c.summary.cluster_uuid()),
        ];
        c.summary.samples(desc.name, &mut |extra, v| {
            f.sample(out, &[&id, extra], Number::Float(v));
        });
    }
}

/// The samples of vSAN family `name` in every cluster, each cluster locked in turn.
fn emit_series(out: &mut Emit<'_, '_>, slots: &[Arc<ClusterSlot>], name: &str) {
    let mut open = false;
    for slot in slots {
        let c = slot.data.lock();
        if c.name.is_empty() {
            continue;
        }
        let strings = slot.strings.lock();
        for (t, et) in c.tables.tables.iter().zip(ENTITY_TYPES) {
            let label_names = et.scope.labels();
            for col in t.columns.iter().filter(|c| c.metric.name() == name) {
                let counter = col.metric.is_counter();
                let extra = col.metric.extra();
                for (key, cell) in t.keys.iter().zip(&col.cells) {
                    if !cell.is_set() {
                        continue;
                    }
                    if !open {
                        let (help, unit, kind) = col.metric.family();
                        out.family(name, help, unit, kind);
                        open = true;
                    }
                    let mut pairs = [("", ""); 6];
                    pairs[0] = ("vcenter", c.vcenter.as_str());
                    pairs[1] = ("cluster_name", c.name.as_str());
                    let n = label_names.len().min(pairs.len());
                    for (j, pair) in pairs.iter_mut().enumerate().take(n).skip(2) {
                        *pair = (label_names[j], strings.get(key[j - 2]));
                    }
                    let _ = counter;
                    out.sample(&[&pairs[..n], extra], Number::Float(cell.value()));
                }
            }
        }
    }
}

impl Collector for VsanCollector {
    fn name(&self) -> &str {
        &self.name
    }

    /// Streams every series from the compact tables: labels are borrowed from the cluster's
    /// interned strings, nothing is built per series.
    fn collect_into(&self, sink: &mut FamilySink<'_>) -> Result<(), CollectError> {
        self.emit(&mut Emit {
            sink,
            kind: MetricKind::Gauge,
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn supported_ids_are_checked_and_bounded() {
        let mut ids: Vec<String> = ["host-domclient", "host-domowner", "", "a:b", "x y"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        ids.push("z".repeat(65));
        ids.push("host-domowner".into());
        let s = Supported::from_ids(&ids);
        let unknown: Vec<&str> = s.unknown.iter().map(|u| &**u).collect();
        assert_eq!(
            unknown,
            ["host-domowner"],
            "malformed ids dropped, duplicates once"
        );
        let known = ENTITY_TYPES
            .iter()
            .zip(&s.known)
            .filter(|(_, k)| **k)
            .map(|(et, _)| et.id)
            .collect::<Vec<_>>();
        assert_eq!(known, ["host-domclient"]);

        let many: Vec<String> = (0..MAX_UNKNOWN_ENTITY_TYPES + 10)
            .map(|i| format!("raw-type-{i:04}"))
            .collect();
        let s = Supported::from_ids(&many);
        assert_eq!(s.unknown.len(), MAX_UNKNOWN_ENTITY_TYPES);
        assert_eq!(
            &*s.unknown[0], "raw-type-0000",
            "the first ones by id are kept"
        );
    }
}
