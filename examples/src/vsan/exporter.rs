//! The vSAN exporter's collection engine: background collection per cluster with a bound on
//! concurrent vCenter requests and a timeout per cluster, results kept per cluster and
//! served by a [`Collector`] (a scrape never waits on vCenter), counters accumulated from
//! per-interval deltas, and the last sample time per cluster persisted in the state file.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use vsanobs_core::model::{MetricDesc, MetricFamily, MetricKind, Sample};
use vsanobs_core::vsan::EntityMetricCsv;
use vsanobs_core::vsan::catalogue::{self, ENTITY_TYPES, Scope};
use vsanobs_core::vsan::mapping::{DeltaAccumulator, MetricRef, map_entity};
use vsanobs_core::{CollectError, Collector};

use super::client::{ClientError, ClusterInv, VcenterClient};
use super::config::Target;
use super::state::StateFile;

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
        help: "Failed vCenter requests, by reason.",
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
    /// Every self-metric, for generated docs.
    pub const ALL: &[MetricDesc] = &[
        COLLECT_SUCCESS,
        COLLECT_DURATION,
        FETCH_ERRORS,
        LAST_SAMPLE,
        UNKNOWN_LABELS,
        INSECURE_TLS,
        LOGINS,
    ];
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
}

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
        }
    }
}

type Labels = Vec<(&'static str, Lv)>;

/// A label value: static (`op="read"`) or shared between all series of an entity, so a
/// series costs one small vector, not one string per label.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Lv {
    Static(&'static str),
    Shared(Arc<str>),
}

impl AsRef<str> for Lv {
    fn as_ref(&self) -> &str {
        match self {
            Lv::Static(s) => s,
            Lv::Shared(s) => s,
        }
    }
}

fn shared(s: &str) -> Lv {
    Lv::Shared(Arc::from(s))
}

/// The labels of one series: the entity's labels (vcenter, cluster, host, disk...), one
/// allocation shared by every series of the entity, then the catalogue row's static labels
/// (`op="read"`). A series key costs two pointers, not a vector of label pairs.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct SeriesKey {
    entity: Arc<[(&'static str, Lv)]>,
    extra: &'static [(&'static str, &'static str)],
}

impl SeriesKey {
    /// Appends the labels to `s`, entity labels first.
    fn label(&self, mut s: Sample) -> Sample {
        s.labels.reserve(self.entity.len() + self.extra.len());
        for (k, v) in self.entity.iter() {
            s.labels.push(((*k).to_owned(), v.as_ref().to_owned()));
        }
        for (k, v) in self.extra {
            s.labels.push(((*k).to_owned(), (*v).to_owned()));
        }
        s
    }
}

/// Successful answers of one cluster's collection, by entity type, not yet published.
type Staged = Vec<(&'static str, Vec<EntityMetricCsv>)>;

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
    gauges: HashMap<String, HashMap<SeriesKey, (f64, i64)>>,
    help: HashMap<String, (&'static str, Option<&'static str>)>,
    counters: DeltaAccumulator<(&'static str, SeriesKey)>,
    unknown_series: BTreeMap<&'static str, usize>,
}

struct TargetRt {
    spec: Target,
    client: Arc<VcenterClient>,
}

impl TargetRt {
    fn new(spec: Target) -> Result<Arc<TargetRt>, EngineError> {
        let client =
            VcenterClient::new(spec.client.clone()).map_err(|source| EngineError::Client {
                name: spec.name.clone(),
                source,
            })?;
        Ok(Arc::new(TargetRt {
            spec,
            client: Arc::new(client),
        }))
    }
}

struct Shared {
    opts: EngineOptions,
    targets: parking_lot::RwLock<Vec<Arc<TargetRt>>>,
    clusters: Mutex<BTreeMap<String, Arc<Mutex<ClusterData>>>>,
    state: Mutex<StateFile>,
    semaphore: tokio::sync::Semaphore,
    cycles: AtomicU64,
}

/// The engine: create it, [`Exporter::spawn`] the loop, register [`Exporter::collector`].
#[derive(Clone)]
pub struct Exporter {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Exporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exporter")
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

impl Exporter {
    /// Builds the engine and loads the state file (a corrupt one is logged and ignored).
    ///
    /// # Errors
    /// A client that cannot be built (CA file, TLS).
    pub fn new(targets: Vec<Target>, opts: EngineOptions) -> Result<Exporter, EngineError> {
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
        Ok(Exporter {
            shared: Arc::new(Shared {
                opts,
                targets: parking_lot::RwLock::new(targets),
                clusters: Mutex::new(BTreeMap::new()),
                state: Mutex::new(state),
                semaphore: tokio::sync::Semaphore::new(permits),
                cycles: AtomicU64::new(0),
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
                Some(t) => next.push(Arc::new(TargetRt {
                    spec,
                    client: t.client.clone(),
                })),
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
            let c = c.lock();
            next.iter().any(|t| {
                t.spec.name == c.vcenter
                    && (c.name.is_empty()
                        || t.spec.clusters.as_ref().is_none_or(|f| f.contains(&c.name)))
            })
        });
        tracing::info!(vcenters = next.len(), "collection targets updated");
        Ok(())
    }

    /// Completed collection cycles.
    pub fn cycles(&self) -> u64 {
        self.shared.cycles.load(Ordering::Acquire)
    }

    /// The collector serving the latest results (every family), named `vsan`.
    pub fn collector(&self) -> VsanCollector {
        VsanCollector::new(self.shared.clone(), 0, 1)
    }

    /// `count` collectors (at least 1) that together serve the same families as
    /// [`collector`](Self::collector), each family in exactly one of them (by a stable hash of
    /// its name), named `vsan_0`, `vsan_1`, ...; with `count == 1`, the single `vsan`
    /// collector. Register all of them: the registry encodes one collector's families before
    /// it runs the next, so a scrape holds only one share of the owned samples at a time.
    pub fn collectors(&self, count: usize) -> Vec<VsanCollector> {
        let count = count.max(1) as u64;
        (0..count)
            .map(|i| VsanCollector::new(self.shared.clone(), i, count))
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
        self.shared.cycles.fetch_add(1, Ordering::AcqRel);
    }

    fn cluster_entry(&self, vcenter: &str, name: &str, key: &str) -> Arc<Mutex<ClusterData>> {
        let mut map = self.shared.clusters.lock();
        map.entry(format!("{vcenter}\u{0}{name}"))
            .or_insert_with(|| {
                let state = self.shared.state.lock();
                let last_sample = state
                    .clusters
                    .get(key)
                    .cloned()
                    .unwrap_or_default()
                    .into_iter()
                    .collect();
                Arc::new(Mutex::new(ClusterData {
                    vcenter: vcenter.to_owned(),
                    name: name.to_owned(),
                    key: key.to_owned(),
                    last_sample,
                    ..ClusterData::default()
                }))
            })
            .clone()
    }

    fn fail_known_clusters(&self, t: &TargetRt, reason: &'static str) {
        let map = self.shared.clusters.lock();
        let mut any = false;
        for c in map.values() {
            let mut c = c.lock();
            if c.vcenter == t.spec.name {
                c.success = Some(false);
                *c.errors.entry(reason).or_default() += 1;
                any = true;
            }
        }
        drop(map);
        if !any {
            let c = self.cluster_entry(&t.spec.name, "", "");
            let mut c = c.lock();
            c.success = Some(false);
            *c.errors.entry(reason).or_default() += 1;
        }
    }

    async fn collect_target(&self, t: &TargetRt) {
        let inv = {
            let _permit = self.shared.semaphore.acquire().await;
            tokio::time::timeout(self.shared.opts.cluster_timeout, async {
                let now = t.client.current_time().await?;
                let inv = t.client.inventory().await?;
                Ok::<_, ClientError>((now, inv))
            })
            .await
        };
        let (now, inv) = match inv {
            Ok(Ok(v)) => v,
            Ok(Err(e)) => {
                tracing::warn!(vcenter = %t.spec.name, reason = e.reason(), error = %ErrChain(&e), "inventory failed");
                self.fail_known_clusters(t, e.reason());
                return;
            }
            Err(_) => {
                tracing::warn!(vcenter = %t.spec.name, "inventory timed out");
                self.fail_known_clusters(t, "timeout");
                return;
            }
        };
        let clusters: Vec<ClusterInv> = inv
            .into_iter()
            .filter(|c| c.uuid.is_some())
            .filter(|c| t.spec.clusters.as_ref().is_none_or(|f| f.contains(&c.name)))
            .collect();
        let futs = clusters.iter().map(|c| self.collect_cluster(t, c, now));
        futures_util::future::join_all(futs).await;
    }

    async fn collect_cluster(&self, t: &TargetRt, inv: &ClusterInv, now: i64) {
        let uuid = inv.uuid.clone().unwrap_or_default();
        let key = format!("{}/{uuid}", t.spec.name);
        let entry = self.cluster_entry(&t.spec.name, &inv.name, &key);
        let started = Instant::now();
        let (slow, windows) = {
            let c = entry.lock();
            let windows: Vec<(&'static str, i64)> = ENTITY_TYPES
                .iter()
                .map(|et| {
                    let start = c
                        .last_sample
                        .get(et.id)
                        .copied()
                        .unwrap_or(now - self.shared.opts.lookback_secs)
                        .max(now - 86_000);
                    (et.id, start)
                })
                .collect();
            (c.slow, windows)
        };
        let conc = if slow {
            1
        } else {
            self.shared.opts.per_cluster_concurrency.max(1)
        };
        let per_cluster = Arc::new(tokio::sync::Semaphore::new(conc));
        let names = Arc::new(Names::new(&t.spec.name, inv));
        // Results are staged and published together with the state file, under the cluster
        // lock: a scrape never sees counters the state file does not account for.
        let staged: Arc<Mutex<Staged>> = Arc::default();
        // Dropping the set (on timeout) aborts the requests still running.
        let mut set = tokio::task::JoinSet::new();
        for (et, start) in windows.into_iter().filter(|(_, s)| *s < now) {
            let shared = self.shared.clone();
            let client = t.client.clone();
            let moref = inv.moref.clone();
            let (entry, staged, per_cluster) = (entry.clone(), staged.clone(), per_cluster.clone());
            let (vcenter, cluster) = (t.spec.name.clone(), inv.name.clone());
            set.spawn(async move {
                let res = {
                    let _slot = per_cluster.acquire_owned().await;
                    let _permit = shared.semaphore.acquire().await;
                    client.query_perf(&moref, et, start, now).await
                };
                match res {
                    Ok(entities) => {
                        staged.lock().push((et, entities));
                        true
                    }
                    Err(e) => {
                        tracing::warn!(vcenter = %vcenter, cluster = %cluster, entity_type = et, reason = e.reason(), error = %ErrChain(&e), "vSAN query failed");
                        *entry.lock().errors.entry(e.reason()).or_default() += 1;
                        false
                    }
                }
            });
        }
        let fut = async move {
            let mut ok = true;
            while let Some(r) = set.join_next().await {
                ok &= matches!(r, Ok(true));
            }
            ok
        };
        let ok = match tokio::time::timeout(self.shared.opts.cluster_timeout, fut).await {
            Ok(ok) => ok,
            Err(_) => {
                tracing::warn!(vcenter = %t.spec.name, cluster = %inv.name, "cluster collection timed out");
                *entry.lock().errors.entry("timeout").or_default() += 1;
                false
            }
        };
        let staged = std::mem::take(&mut *staged.lock());
        let elapsed = started.elapsed();
        let mut c = entry.lock();
        for (et, entities) in &staged {
            apply(
                &mut c,
                et,
                entities,
                &names,
                self.shared.opts.stale_after_secs,
            );
        }
        c.success = Some(ok);
        c.duration = elapsed.as_secs_f64();
        c.slow = !ok || elapsed > self.shared.opts.cluster_timeout / 2;
        let mut state = self.shared.state.lock();
        for (et, ts) in &c.last_sample {
            state.set(&c.key, et, *ts);
        }
        if let Some(path) = &self.shared.opts.state_file
            && !staged.is_empty()
            && let Err(e) = state.save(path)
        {
            tracing::warn!(path = %path.display(), error = %ErrChain(&e), "cannot write state file");
        }
    }
}

struct ErrChain<'a>(&'a dyn std::error::Error);

impl std::fmt::Display for ErrChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut s = self.0.source();
        while let Some(e) = s {
            write!(f, ": {e}")?;
            s = e.source();
        }
        Ok(())
    }
}

/// UUID -> name maps of one cluster.
struct Names {
    base: Labels,
    hosts: HashMap<String, (Lv, Lv)>,
    disks: HashMap<String, (Lv, Lv)>,
    vms: HashMap<String, Lv>,
}

impl Names {
    fn new(vcenter: &str, inv: &ClusterInv) -> Names {
        let base = vec![
            ("vcenter", shared(vcenter)),
            ("cluster_name", shared(&inv.name)),
            (
                "cluster_uuid",
                shared(inv.uuid.as_deref().unwrap_or_default()),
            ),
        ];
        let mut hosts = HashMap::new();
        let mut disks = HashMap::new();
        for h in &inv.hosts {
            let node = h.node_uuid.clone().unwrap_or_default();
            let ids = (shared(&h.name), shared(&node));
            for (d, _) in &h.disks {
                disks.insert(d.clone(), ids.clone());
            }
            hosts.insert(node, ids);
        }
        let vms = inv
            .vms
            .iter()
            .map(|v| (v.instance_uuid.clone(), shared(&v.name)))
            .collect();
        Names {
            base,
            hosts,
            disks,
            vms,
        }
    }

    fn labels(&self, scope: Scope, uuid: &str, sub: Option<&str>) -> Labels {
        let mut l = self.base.clone();
        let own = shared(uuid);
        let host = |l: &mut Labels, h: Option<&(Lv, Lv)>| {
            let (name, node) = h.cloned().unwrap_or_else(|| (own.clone(), own.clone()));
            l.push(("host_name", name));
            l.push(("host_uuid", node));
        };
        match scope {
            Scope::Cluster => {}
            Scope::Host => host(&mut l, self.hosts.get(uuid)),
            Scope::Pnic => {
                host(&mut l, self.hosts.get(uuid));
                l.push(("vmnic", shared(sub.unwrap_or(""))));
            }
            Scope::Disk => {
                let (name, node) = self
                    .disks
                    .get(uuid)
                    .cloned()
                    .unwrap_or((Lv::Static(""), Lv::Static("")));
                l.push(("host_name", name));
                l.push(("host_uuid", node));
                l.push(("disk_uuid", own.clone()));
            }
            Scope::Vm => l.push((
                "vm_name",
                self.vms.get(uuid).cloned().unwrap_or_else(|| own.clone()),
            )),
            _ => {}
        }
        l
    }
}

fn apply(
    c: &mut ClusterData,
    et: &'static str,
    entities: &[EntityMetricCsv],
    names: &Names,
    stale_after: i64,
) {
    let Some(info) = catalogue::entity_type(et) else {
        return;
    };
    let after = c.last_sample.get(et).copied();
    let mut newest: Option<i64> = None;
    let mut bad = 0u64;
    let mut unknown = 0usize;
    for csv in entities {
        let m = match map_entity(csv, after) {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(cluster = %c.name, entity = %csv.entity_ref_id, reason = e.reason(), error = %e, "skipping entity");
                bad += 1;
                continue;
            }
        };
        if m.entity_type != et {
            continue;
        }
        unknown += m.unknown_labels;
        let entity: Arc<[(&'static str, Lv)]> =
            names.labels(info.scope, &m.uuid, m.sub.as_deref()).into();
        for g in &m.gauges {
            let (name, help, unit, extra) = match &g.metric {
                MetricRef::Known(k) => (
                    k.metric.name.to_owned(),
                    k.metric.help,
                    k.metric.unit,
                    k.extra,
                ),
                other => (
                    other.name().to_owned(),
                    "vSAN metric label not in the catalogue, exported raw (no unit conversion).",
                    None,
                    &[][..],
                ),
            };
            // An existing equal key is kept, so all series of an entity keep sharing the
            // entity labels of the first collection.
            let labels = SeriesKey {
                entity: entity.clone(),
                extra,
            };
            newest = newest.max(Some(g.timestamp));
            c.help.entry(name.clone()).or_insert((help, unit));
            c.gauges
                .entry(name)
                .or_default()
                .insert(labels, (g.value, g.timestamp));
        }
        for d in &m.deltas {
            let labels = SeriesKey {
                entity: entity.clone(),
                extra: d.mapping.extra,
            };
            if let Some(t) = d.samples.last() {
                newest = newest.max(Some(t.0));
            }
            c.counters.add((d.mapping.metric.name, labels), &d.samples);
        }
    }
    if bad > 0 {
        *c.errors.entry("bad_value").or_default() += bad;
    }
    c.unknown_series.insert(et, unknown);
    if let Some(n) = newest {
        let prev = c.last_sample.get(et).copied().unwrap_or(i64::MIN);
        if n > prev {
            c.last_sample.insert(et.to_owned(), n);
        }
        for series in c.gauges.values_mut() {
            series.retain(|_, (_, ts)| *ts > n - stale_after);
        }
    }
}

/// Serves the engine's latest results; never touches the network.
///
/// [`Exporter::collector`] gives one collector for every family;
/// [`Exporter::collectors`] splits the families between several collectors by a stable hash
/// of their name, so each builds only its share of the owned samples the `Collector` API
/// asks for, and the registry encodes and frees one share before it runs the next: the
/// transient memory of a scrape is the largest share, not the whole exporter.
pub struct VsanCollector {
    shared: Arc<Shared>,
    name: String,
    /// `(index, count)`: this collector serves the families whose name hashes to `index`.
    shard: (u64, u64),
}

impl std::fmt::Debug for VsanCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VsanCollector")
            .field("name", &self.name)
            .field("shard", &self.shard)
            .finish_non_exhaustive()
    }
}

/// FNV-1a of a family name: stable across runs and platforms, so a family always lands in
/// the same collector.
fn name_hash(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn fam(desc: &MetricDesc) -> MetricFamily {
    let f = MetricFamily::new(desc.name, desc.help, desc.kind);
    match desc.unit {
        Some(u) => f.with_unit(u),
        None => f,
    }
}

fn sample<V: AsRef<str>>(mut s: Sample, labels: &[(&'static str, V)]) -> Sample {
    s.labels.reserve(labels.len());
    for (k, v) in labels {
        s = s.with_label(*k, v.as_ref());
    }
    s
}

impl VsanCollector {
    fn new(shared: Arc<Shared>, index: u64, count: u64) -> VsanCollector {
        let name = if count == 1 {
            "vsan".to_owned()
        } else {
            format!("vsan_{index}")
        };
        VsanCollector {
            shared,
            name,
            shard: (index, count),
        }
    }

    /// Whether this collector serves family `name`.
    fn serves(&self, name: &str) -> bool {
        let (index, count) = self.shard;
        count <= 1 || name_hash(name) % count == index
    }
}

impl Collector for VsanCollector {
    fn name(&self) -> &str {
        &self.name
    }

    fn collect(&self, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        let clusters: Vec<Arc<Mutex<ClusterData>>> =
            self.shared.clusters.lock().values().cloned().collect();
        let mut families: BTreeMap<String, MetricFamily> = BTreeMap::new();
        let own = |desc: &MetricDesc| self.serves(desc.name).then(|| fam(desc));
        let mut success = own(&self_metrics::COLLECT_SUCCESS);
        let mut duration = own(&self_metrics::COLLECT_DURATION);
        let mut errors = own(&self_metrics::FETCH_ERRORS);
        let mut last = own(&self_metrics::LAST_SAMPLE);
        let mut unknown = own(&self_metrics::UNKNOWN_LABELS);
        let mut insecure = own(&self_metrics::INSECURE_TLS);
        let mut logins = own(&self_metrics::LOGINS);
        let targets = self.shared.targets.read().clone();
        for t in &targets {
            if let Some(f) = &mut insecure {
                f.push(
                    Sample::gauge_int(i64::from(t.spec.client.insecure))
                        .with_label("vcenter", t.spec.name.clone()),
                );
            }
            if let Some(f) = &mut logins {
                f.push(
                    Sample::counter_int(t.client.logins())
                        .with_label("vcenter", t.spec.name.clone()),
                );
            }
        }
        for c in &clusters {
            let c = c.lock();
            let id = [
                ("vcenter", c.vcenter.as_str()),
                ("cluster_name", c.name.as_str()),
            ];
            if let Some(ok) = c.success {
                if let Some(f) = &mut success {
                    f.push(sample(Sample::gauge_int(i64::from(ok)), &id));
                }
                if let Some(f) = &mut duration {
                    f.push(sample(Sample::gauge(c.duration), &id));
                }
            }
            if let Some(f) = &mut errors {
                for (reason, n) in &c.errors {
                    f.push(sample(Sample::counter_int(*n), &id).with_label("reason", *reason));
                }
            }
            if let Some(f) = &mut last {
                for (et, ts) in &c.last_sample {
                    f.push(
                        sample(Sample::gauge_int(*ts), &id).with_label("entity_type", et.clone()),
                    );
                }
            }
            if c.name.is_empty() {
                continue;
            }
            if let Some(f) = &mut unknown {
                f.push(sample(
                    Sample::gauge_int(c.unknown_series.values().sum::<usize>() as i64),
                    &id,
                ));
            }
            for (name, series) in c.gauges.iter().filter(|(n, _)| self.serves(n)) {
                let f = families.entry(name.clone()).or_insert_with(|| {
                    let (help, unit) = c.help.get(name).copied().unwrap_or(("", None));
                    let f = MetricFamily::new(name.clone(), help, MetricKind::Gauge);
                    match unit {
                        Some(u) => f.with_unit(u),
                        None => f,
                    }
                });
                f.samples.reserve(series.len());
                for (key, (v, _)) in series {
                    f.push(key.label(Sample::gauge(*v)));
                }
            }
            // Counters: help and unit from the catalogue.
            for ((name, key), total) in c.counters.iter() {
                if !self.serves(name) {
                    continue;
                }
                let f = match families.get_mut(*name) {
                    Some(f) => f,
                    None => {
                        let Some(desc) = catalogue::METRICS.iter().find(|d| d.name == *name) else {
                            continue;
                        };
                        families.entry((*name).to_owned()).or_insert(fam(desc))
                    }
                };
                f.push(key.label(Sample::counter(total)));
            }
        }
        out.extend(families.into_values());
        out.extend(
            [success, duration, errors, last, unknown, insecure, logins]
                .into_iter()
                .flatten()
                .filter(|f| !f.samples.is_empty()),
        );
        Ok(())
    }
}
