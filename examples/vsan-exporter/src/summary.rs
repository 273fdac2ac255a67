//! Health, capacity and resync of each collected cluster: the three vSAN summary calls
//! (`VsanQueryVcClusterHealthSummary`, `VsanQuerySpaceUsage`, `VsanQuerySyncingVsanObjects`)
//! made beside the performance queries, what is kept of their answers between
//! collections, and the series served from it.
//!
//! - Capacity and resync are asked every collection. A failed call is counted
//!   (`vsan_exporter_fetch_errors_total{reason="capacity_<reason>"}`, `resync_<reason>`) and
//!   its series are left out until it answers again: a stale capacity is not served as a
//!   current one. The other calls and the performance data are unaffected.
//! - Health is asked every [`SummaryOptions::health_interval`] (5 min by default: a health
//!   summary is expensive for the vCenter, even from its cache). Between queries, and
//!   after a failed one (`health_<reason>`), the last answer is served;
//!   `vsan_exporter_health_age_seconds` says how old it is and
//!   `vsan_exporter_health_success` whether the last query succeeded.
//! - Resync is asked of a host's `VsanSystemEx`, as telegraf does: the host that answered
//!   last, else the next ones in inventory order, at most [`MAX_RESYNC_HOSTS`] a collection
//!   (a failed host does not answer).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use vsanobs_core::report::error_chain;
use vsanobs_core::vsan::protocol::health::{HealthState, HealthSummary};
use vsanobs_core::vsan::protocol::resync::SyncingObjects;
use vsanobs_core::vsan::protocol::space::SpaceUsage;

use crate::client::{ClientError, ClusterInv, VcenterClient};

/// The cluster families of health, capacity and resync.
pub mod metrics {
    use vsanobs_core::model::{MetricDesc, MetricKind};

    const CLUSTER: &[&str] = &["vcenter", "cluster_name", "cluster_uuid"];

    /// `vsan_cluster_health_status`.
    pub const HEALTH_STATUS: MetricDesc = MetricDesc {
        name: "vsan_cluster_health_status",
        kind: MetricKind::Gauge,
        help: "Overall vSAN health of the cluster (VsanQueryVcClusterHealthSummary overallHealth) as a state set: 1 for the current status (green, yellow, red; unknown for any other state vSAN reports), 0 for the other three. Queried every --collect.health-interval, served from the last answer in between.",
        unit: None,
        labels: &["vcenter", "cluster_name", "cluster_uuid", "status"],
    };
    /// `vsan_cluster_health_group_status`.
    pub const HEALTH_GROUP_STATUS: MetricDesc = MetricDesc {
        name: "vsan_cluster_health_group_status",
        kind: MetricKind::Gauge,
        help: "vSAN health of each health group of the cluster as a state set (1 for the current status of green, yellow, red, unknown); group is the groupId without com.vmware.vsan.health.test. (network, data, physicaldisks...).",
        unit: None,
        labels: &["vcenter", "cluster_name", "cluster_uuid", "group", "status"],
    };
    /// `vsan_cluster_health_test_status`.
    pub const HEALTH_TEST_STATUS: MetricDesc = MetricDesc {
        name: "vsan_cluster_health_test_status",
        kind: MetricKind::Gauge,
        help: "vSAN health of each test of each health group of the cluster as a state set (1 for the current status of green, yellow, red, unknown); test is the testId without com.vmware.vsan.health.test. (hostdisconnected, objecthealth...).",
        unit: None,
        labels: &[
            "vcenter",
            "cluster_name",
            "cluster_uuid",
            "group",
            "test",
            "status",
        ],
    };
    /// `vsan_cluster_capacity_total_bytes`.
    pub const CAPACITY_TOTAL: MetricDesc = MetricDesc {
        name: "vsan_cluster_capacity_total_bytes",
        kind: MetricKind::Gauge,
        help: "Total capacity of the cluster's vSAN datastore (VsanQuerySpaceUsage totalCapacityB).",
        unit: Some("bytes"),
        labels: CLUSTER,
    };
    /// `vsan_cluster_capacity_free_bytes`.
    pub const CAPACITY_FREE: MetricDesc = MetricDesc {
        name: "vsan_cluster_capacity_free_bytes",
        kind: MetricKind::Gauge,
        help: "Free capacity of the cluster's vSAN datastore (freeCapacityB).",
        unit: Some("bytes"),
        labels: CLUSTER,
    };
    /// `vsan_cluster_capacity_used_bytes`.
    pub const CAPACITY_USED: MetricDesc = MetricDesc {
        name: "vsan_cluster_capacity_used_bytes",
        kind: MetricKind::Gauge,
        help: "Used capacity of the cluster's vSAN datastore: total minus free.",
        unit: Some("bytes"),
        labels: CLUSTER,
    };
    /// `vsan_cluster_capacity_used_by_type_bytes`.
    pub const CAPACITY_USED_BY_TYPE: MetricDesc = MetricDesc {
        name: "vsan_cluster_capacity_used_by_type_bytes",
        kind: MetricKind::Gauge,
        help: "Capacity used per object type vSAN reports (spaceUsageByObjectType usedB: vdisk, vmswap, namespace, checksumOverhead...; unknown for an entry without a type).",
        unit: Some("bytes"),
        labels: &["vcenter", "cluster_name", "cluster_uuid", "object_type"],
    };
    /// `vsan_cluster_capacity_savings_bytes`.
    pub const CAPACITY_SAVINGS: MetricDesc = MetricDesc {
        name: "vsan_cluster_capacity_savings_bytes",
        kind: MetricKind::Gauge,
        help: "Space saved by deduplication and compression: ESA's reported savings, else logical minus physical space used (efficientCapacity); absent for a cluster that reports none.",
        unit: Some("bytes"),
        labels: CLUSTER,
    };
    /// `vsan_cluster_capacity_savings_ratio`.
    pub const CAPACITY_SAVINGS_RATIO: MetricDesc = MetricDesc {
        name: "vsan_cluster_capacity_savings_ratio",
        kind: MetricKind::Gauge,
        help: "Share (0-1) of the logical space used that deduplication and compression save: savings over logical space used; absent for a cluster that reports none.",
        unit: Some("ratio"),
        labels: CLUSTER,
    };
    /// `vsan_cluster_resync_remaining_bytes`.
    pub const RESYNC_BYTES: MetricDesc = MetricDesc {
        name: "vsan_cluster_resync_remaining_bytes",
        kind: MetricKind::Gauge,
        help: "Bytes left to resync in the cluster (VsanQuerySyncingVsanObjects totalBytesToSync).",
        unit: Some("bytes"),
        labels: CLUSTER,
    };
    /// `vsan_cluster_resync_remaining_objects`.
    pub const RESYNC_OBJECTS: MetricDesc = MetricDesc {
        name: "vsan_cluster_resync_remaining_objects",
        kind: MetricKind::Gauge,
        help: "Objects left to resync in the cluster (totalObjectsToSync).",
        unit: None,
        labels: CLUSTER,
    };
    /// `vsan_cluster_resync_eta_seconds`.
    pub const RESYNC_ETA: MetricDesc = MetricDesc {
        name: "vsan_cluster_resync_eta_seconds",
        kind: MetricKind::Gauge,
        help: "vSAN's estimate of the time until the cluster's resync is done (totalRecoveryETA); 0 when nothing resyncs.",
        unit: Some("seconds"),
        labels: CLUSTER,
    };
    /// `vsan_cluster_resync_remaining_by_reason_bytes`.
    pub const RESYNC_BY_REASON: MetricDesc = MetricDesc {
        name: "vsan_cluster_resync_remaining_by_reason_bytes",
        kind: MetricKind::Gauge,
        help: "Bytes left to resync by reason (repair, evacuate, rebalance, reconfigure, dying_evacuate, stale, merge_concat, object_format_change, unknown), summed over the components of the first 1000 syncing objects; a component with several reasons counts for each.",
        unit: Some("bytes"),
        labels: &["vcenter", "cluster_name", "cluster_uuid", "reason"],
    };
    /// Every family, in the order they are served.
    pub const ALL: &[MetricDesc] = &[
        HEALTH_STATUS,
        HEALTH_GROUP_STATUS,
        HEALTH_TEST_STATUS,
        CAPACITY_TOTAL,
        CAPACITY_FREE,
        CAPACITY_USED,
        CAPACITY_USED_BY_TYPE,
        CAPACITY_SAVINGS,
        CAPACITY_SAVINGS_RATIO,
        RESYNC_BYTES,
        RESYNC_OBJECTS,
        RESYNC_ETA,
        RESYNC_BY_REASON,
    ];
}

/// Which summary calls are made, and how often health is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SummaryOptions {
    /// `VsanQueryVcClusterHealthSummary` (`--collect.health`).
    pub health: bool,
    /// Time between health queries of a cluster (`--collect.health-interval`); the last
    /// answer is served in between.
    pub health_interval: Duration,
    /// `VsanQuerySpaceUsage` every collection (`--collect.capacity`).
    pub capacity: bool,
    /// `VsanQuerySyncingVsanObjects` every collection (`--collect.resync`).
    pub resync: bool,
}

/// Default of [`SummaryOptions::health_interval`].
pub const DEFAULT_HEALTH_INTERVAL: Duration = Duration::from_secs(300);

impl Default for SummaryOptions {
    fn default() -> Self {
        SummaryOptions {
            health: true,
            health_interval: DEFAULT_HEALTH_INTERVAL,
            capacity: true,
            resync: true,
        }
    }
}

/// Hosts asked for the resync summary in one collection at most.
pub const MAX_RESYNC_HOSTS: usize = 3;

/// Syncing objects read per answer to split the bytes by reason (the totals come from the
/// summary whatever their number).
pub const MAX_RESYNC_OBJECTS: usize = 1000;

/// A cluster's capacity as served.
#[derive(Debug, Default, Clone, PartialEq)]
struct Capacity {
    total: i64,
    free: Option<i64>,
    /// (object type, bytes), in type order, duplicates summed.
    by_type: Vec<(String, i64)>,
    savings: Option<(i64, Option<f64>)>,
}

impl Capacity {
    fn from_usage(u: &SpaceUsage) -> Capacity {
        let mut by_type: BTreeMap<String, i64> = BTreeMap::new();
        for o in &u.by_object_type {
            if let Some(b) = o.used_b {
                let t = o.obj_type.as_deref().unwrap_or("unknown");
                *by_type.entry(t.to_owned()).or_default() += b;
            }
        }
        let savings = u.savings().map(|s| {
            let logical = u
                .efficient_capacity
                .as_ref()
                .and_then(
                    |e| match (e.esa_dedup_space_saving, e.esa_compression_space_saving) {
                        (None, None) => e.logical_capacity_used,
                        _ => e.physical_capacity_used.map(|p| p + s),
                    },
                )
                .or_else(|| u.used().map(|used| used + s));
            let ratio = logical
                .filter(|l| *l > 0)
                .map(|l| (s as f64 / l as f64).clamp(0.0, 1.0));
            (s, ratio)
        });
        Capacity {
            total: u.total_capacity_b,
            free: u.free_capacity_b,
            by_type: by_type.into_iter().collect(),
            savings,
        }
    }
}

/// A cluster's resync as served.
#[derive(Debug, Default, Clone, PartialEq)]
struct Resync {
    bytes: i64,
    objects: i64,
    eta: i64,
    by_reason: Vec<(&'static str, i64)>,
}

impl Resync {
    fn from_answer(s: &SyncingObjects) -> Resync {
        Resync {
            bytes: s.total_bytes_to_sync.unwrap_or(0),
            objects: s.total_objects_to_sync.unwrap_or(0),
            eta: s.total_recovery_eta.unwrap_or(0).max(0),
            by_reason: s.bytes_by_reason(),
        }
    }
}

/// One health group as served: its label, state, and its tests' labels and states.
type GroupStates = (String, HealthState, Vec<(String, HealthState)>);

/// Receives one series: the labels after `vcenter`, `cluster_name`, `cluster_uuid`, and the
/// value.
type SeriesSink<'a> = &'a mut dyn FnMut(&[(&str, &str)], f64);

/// A health answer as served: groups and tests by label, duplicates and empty ids folded.
#[derive(Debug, Default, Clone, PartialEq)]
struct Health {
    overall: HealthState,
    groups: Vec<GroupStates>,
}

fn label_of(id: &str) -> &str {
    if id.is_empty() { "unknown" } else { id }
}

impl Health {
    fn from_answer(s: &HealthSummary) -> Health {
        let mut groups: Vec<GroupStates> = Vec::new();
        for g in &s.groups {
            let name = label_of(g.short_id());
            let idx = match groups.iter().position(|(n, _, _)| n == name) {
                Some(i) => {
                    // The same group twice: the worse state stands.
                    groups[i].1 = groups[i].1.max(g.health);
                    i
                }
                None => {
                    groups.push((name.to_owned(), g.health, Vec::new()));
                    groups.len() - 1
                }
            };
            let tests = &mut groups[idx].2;
            for t in &g.tests {
                let name = label_of(t.short_id());
                match tests.iter_mut().find(|(n, _)| n == name) {
                    Some(x) => x.1 = x.1.max(t.health),
                    None => tests.push((name.to_owned(), t.health)),
                }
            }
        }
        Health {
            overall: s.overall,
            groups,
        }
    }
}

/// What is kept of one cluster's summary calls between collections.
#[derive(Debug, Default)]
pub(crate) struct SummaryData {
    cluster_uuid: String,
    health: Option<Health>,
    /// When the health being served was fetched.
    health_fetched: Option<Instant>,
    /// When health was last asked (answered or not).
    health_asked: Option<Instant>,
    health_ok: Option<bool>,
    health_duration: f64,
    capacity: Option<Capacity>,
    resync: Option<Resync>,
    /// Index (in the inventory's host order) of the host that answered the resync query last.
    resync_host: usize,
    /// Failed calls by (call, reason).
    errors: BTreeMap<(&'static str, &'static str), u64>,
    /// The last failure of each call (None once it answers), so a failure is logged at
    /// warn once and not every collection.
    last_failure: BTreeMap<&'static str, &'static str>,
}

/// The calls one collection makes.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Plan {
    health: bool,
    capacity: bool,
    resync: bool,
    resync_host: usize,
}

/// The answers of one collection's calls (None: not asked).
#[derive(Debug, Default)]
pub(crate) struct Answers {
    health: Option<(Result<HealthSummary, ClientError>, Duration)>,
    capacity: Option<Result<SpaceUsage, ClientError>>,
    resync: Option<Result<(SyncingObjects, usize), ClientError>>,
}

impl SummaryData {
    /// The calls due now.
    pub(crate) fn plan(&self, opts: &SummaryOptions, now: Instant) -> Plan {
        Plan {
            health: opts.health
                && self
                    .health_asked
                    .is_none_or(|at| now.duration_since(at) >= opts.health_interval),
            capacity: opts.capacity,
            resync: opts.resync,
            resync_host: self.resync_host,
        }
    }

    /// Takes in one collection's answers.
    pub(crate) fn apply(&mut self, a: Answers, inv: &ClusterInv, vcenter: &str, asked: Instant) {
        if let Some(u) = &inv.uuid {
            u.clone_into(&mut self.cluster_uuid);
        }
        if let Some((res, took)) = a.health {
            self.health_asked = Some(asked);
            self.health_duration = took.as_secs_f64();
            let ok = res.is_ok();
            match res {
                Ok(s) => {
                    self.health = Some(Health::from_answer(&s));
                    self.health_fetched = Some(asked + took);
                    self.succeeded("health", vcenter, &inv.name);
                }
                Err(e) => self.failed("health", &e, vcenter, &inv.name),
            }
            self.health_ok = Some(ok);
        }
        if let Some(res) = a.capacity {
            match res {
                Ok(u) => {
                    self.capacity = Some(Capacity::from_usage(&u));
                    self.succeeded("capacity", vcenter, &inv.name);
                }
                Err(e) => {
                    self.capacity = None;
                    self.failed("capacity", &e, vcenter, &inv.name);
                }
            }
        }
        if let Some(res) = a.resync {
            match res {
                Ok((s, host)) => {
                    if s.objects_beyond_cap > 0 {
                        tracing::debug!(vcenter = %vcenter, cluster = %inv.name, read = s.objects.len(), beyond = s.objects_beyond_cap, "resync: only the first syncing objects are split by reason");
                    }
                    self.resync = Some(Resync::from_answer(&s));
                    self.resync_host = host;
                    self.succeeded("resync", vcenter, &inv.name);
                }
                Err(e) => {
                    self.resync = None;
                    self.failed("resync", &e, vcenter, &inv.name);
                }
            }
        }
    }

    fn succeeded(&mut self, call: &'static str, vcenter: &str, cluster: &str) {
        if self.last_failure.remove(call).is_some() {
            tracing::info!(vcenter = %vcenter, cluster = %cluster, call, "vSAN {call} query answers again");
        }
    }

    fn failed(&mut self, call: &'static str, e: &ClientError, vcenter: &str, cluster: &str) {
        let reason = e.reason();
        *self.errors.entry((call, reason)).or_default() += 1;
        if self.last_failure.insert(call, reason) == Some(reason) {
            tracing::debug!(vcenter = %vcenter, cluster = %cluster, call, reason, "vSAN {call} query failed again");
        } else {
            tracing::warn!(vcenter = %vcenter, cluster = %cluster, call, reason, error = %error_chain(e), "vSAN {call} query failed; the other queries go on");
        }
    }

    /// Failed calls as (`<call>_<reason>`, count), for `vsan_exporter_fetch_errors_total`.
    pub(crate) fn error_counts(&self) -> impl Iterator<Item = (String, u64)> + '_ {
        self.errors
            .iter()
            .map(|((call, reason), n)| (format!("{call}_{reason}"), *n))
    }

    /// `vsan_exporter_health_success`, `_age_seconds` and `_duration_seconds` at `now`:
    /// None before the first health query.
    pub(crate) fn health_self(&self, now: Instant) -> Option<(bool, Option<f64>, f64)> {
        let ok = self.health_ok?;
        let age = self
            .health_fetched
            .map(|at| now.saturating_duration_since(at).as_secs_f64());
        Some((ok, age, self.health_duration))
    }

    /// Calls `f` with the extra labels (after `vcenter`, `cluster_name`, `cluster_uuid`)
    /// and the value of each series of family `name` this cluster has.
    pub(crate) fn samples(&self, name: &str, f: SeriesSink<'_>) {
        use metrics as m;
        let stateset = |f: SeriesSink<'_>, pre: &[(&str, &str)], s: HealthState| {
            for st in HealthState::ALL {
                let mut labels: Vec<(&str, &str)> = pre.to_vec();
                labels.push(("status", st.as_str()));
                f(&labels, if st == s { 1.0 } else { 0.0 });
            }
        };
        let to_f = |v: i64| v as f64;
        match name {
            n if n == m::HEALTH_STATUS.name => {
                if let Some(h) = &self.health {
                    stateset(f, &[], h.overall);
                }
            }
            n if n == m::HEALTH_GROUP_STATUS.name => {
                for (g, s, _) in self.health.iter().flat_map(|h| &h.groups) {
                    stateset(f, &[("group", g)], *s);
                }
            }
            n if n == m::HEALTH_TEST_STATUS.name => {
                for (g, _, tests) in self.health.iter().flat_map(|h| &h.groups) {
                    for (t, s) in tests {
                        stateset(f, &[("group", g), ("test", t)], *s);
                    }
                }
            }
            n if n == m::CAPACITY_TOTAL.name => {
                if let Some(c) = &self.capacity {
                    f(&[], to_f(c.total));
                }
            }
            n if n == m::CAPACITY_FREE.name => {
                if let Some(free) = self.capacity.as_ref().and_then(|c| c.free) {
                    f(&[], to_f(free));
                }
            }
            n if n == m::CAPACITY_USED.name => {
                if let Some(c) = &self.capacity
                    && let Some(free) = c.free
                {
                    f(&[], to_f((c.total - free).max(0)));
                }
            }
            n if n == m::CAPACITY_USED_BY_TYPE.name => {
                for (t, b) in self.capacity.iter().flat_map(|c| &c.by_type) {
                    f(&[("object_type", t)], to_f(*b));
                }
            }
            n if n == m::CAPACITY_SAVINGS.name => {
                if let Some((s, _)) = self.capacity.as_ref().and_then(|c| c.savings) {
                    f(&[], to_f(s));
                }
            }
            n if n == m::CAPACITY_SAVINGS_RATIO.name => {
                if let Some((_, Some(r))) = self.capacity.as_ref().and_then(|c| c.savings) {
                    f(&[], r);
                }
            }
            n if n == m::RESYNC_BYTES.name => {
                if let Some(r) = &self.resync {
                    f(&[], to_f(r.bytes));
                }
            }
            n if n == m::RESYNC_OBJECTS.name => {
                if let Some(r) = &self.resync {
                    f(&[], to_f(r.objects));
                }
            }
            n if n == m::RESYNC_ETA.name => {
                if let Some(r) = &self.resync {
                    f(&[], to_f(r.eta));
                }
            }
            n if n == m::RESYNC_BY_REASON.name => {
                for (reason, b) in self.resync.iter().flat_map(|r| &r.by_reason) {
                    f(&[("reason", reason)], to_f(*b));
                }
            }
            _ => {}
        }
    }

    /// The vSAN UUID of the cluster (the `cluster_uuid` label).
    pub(crate) fn cluster_uuid(&self) -> &str {
        &self.cluster_uuid
    }
}

/// Makes the calls of `plan` for cluster `inv`, concurrently, each bounded by `timeout` and
/// holding a permit of `permits` while it runs.
pub(crate) async fn ask(
    client: &VcenterClient,
    permits: &tokio::sync::Semaphore,
    inv: &ClusterInv,
    plan: Plan,
    timeout: Duration,
) -> Answers {
    let health = async {
        if !plan.health {
            return None;
        }
        let started = Instant::now();
        let r = bounded(permits, timeout, client.health_summary(&inv.moref)).await;
        Some((r, started.elapsed()))
    };
    let capacity = async {
        if !plan.capacity {
            return None;
        }
        Some(bounded(permits, timeout, client.space_usage(&inv.moref)).await)
    };
    let resync = async {
        if !plan.resync {
            return None;
        }
        Some(ask_resync(client, permits, inv, plan.resync_host, timeout).await)
    };
    let (health, capacity, resync) = tokio::join!(health, capacity, resync);
    Answers {
        health,
        capacity,
        resync,
    }
}

/// One call, holding a permit, bounded by `timeout`.
async fn bounded<T>(
    permits: &tokio::sync::Semaphore,
    timeout: Duration,
    call: impl std::future::Future<Output = Result<T, ClientError>>,
) -> Result<T, ClientError> {
    let _permit = permits.acquire().await;
    tokio::time::timeout(timeout, call)
        .await
        .unwrap_or(Err(ClientError::Timeout))
}

/// The resync summary from the host that answered last, else the next ones.
async fn ask_resync(
    client: &VcenterClient,
    permits: &tokio::sync::Semaphore,
    inv: &ClusterInv,
    first: usize,
    timeout: Duration,
) -> Result<(SyncingObjects, usize), ClientError> {
    let n = inv.hosts.len();
    if n == 0 {
        return Ok((SyncingObjects::default(), 0));
    }
    let until = tokio::time::Instant::now() + timeout;
    let mut last = ClientError::Timeout;
    for k in 0..n.min(MAX_RESYNC_HOSTS) {
        let i = (first + k) % n;
        let _permit = permits.acquire().await;
        let call = client.syncing_objects(&inv.hosts[i].moref, MAX_RESYNC_OBJECTS);
        match tokio::time::timeout_at(until, call).await {
            Ok(Ok(s)) => return Ok((s, i)),
            Ok(Err(e)) if e.reason() == "no_permission" => return Err(e),
            Ok(Err(e)) => {
                tracing::debug!(cluster = %inv.name, host = %inv.hosts[i].name, reason = e.reason(), "resync query failed on this host; trying the next");
                last = e;
            }
            Err(_) => return Err(ClientError::Timeout),
        }
    }
    Err(last)
}

#[cfg(test)]
mod tests {
    use super::*;
    use vsanobs_core::vsan::protocol::health::{HealthGroup, HealthTest};
    use vsanobs_core::vsan::protocol::space::{EfficientCapacity, ObjectTypeSpace};

    fn series(d: &SummaryData, name: &str) -> Vec<(String, f64)> {
        let mut out = Vec::new();
        d.samples(name, &mut |labels, v| {
            let l: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
            out.push((l.join(","), v));
        });
        out
    }

    fn inv() -> ClusterInv {
        ClusterInv {
            moref: "domain-c10".into(),
            name: "c".into(),
            uuid: Some("u".into()),
            ..ClusterInv::default()
        }
    }

    #[test]
    fn unknown_states_and_ids_are_exported_as_unknown_and_duplicates_folded() {
        let test = |id: &str, h| HealthTest {
            id: id.into(),
            name: String::new(),
            health: h,
        };
        let answer = HealthSummary {
            overall: HealthState::Unknown,
            groups: vec![
                HealthGroup {
                    id: "com.vmware.vsan.health.test.network".into(),
                    name: "Network".into(),
                    health: HealthState::Yellow,
                    tests: vec![
                        test("com.vmware.vsan.health.test.smallping", HealthState::Green),
                        test("", HealthState::Unknown),
                    ],
                },
                HealthGroup {
                    id: "com.vmware.vsan.health.test.network".into(),
                    name: "Network again".into(),
                    health: HealthState::Red,
                    tests: vec![test(
                        "com.vmware.vsan.health.test.smallping",
                        HealthState::Red,
                    )],
                },
            ],
        };
        let mut d = SummaryData::default();
        let answers = Answers {
            health: Some((Ok(answer), Duration::from_millis(5))),
            ..Answers::default()
        };
        d.apply(answers, &inv(), "vc", Instant::now());
        assert_eq!(d.cluster_uuid(), "u");
        let overall = series(&d, metrics::HEALTH_STATUS.name);
        assert_eq!(
            overall,
            [
                ("status=green".to_owned(), 0.0),
                ("status=yellow".to_owned(), 0.0),
                ("status=red".to_owned(), 0.0),
                ("status=unknown".to_owned(), 1.0)
            ]
        );
        let groups = series(&d, metrics::HEALTH_GROUP_STATUS.name);
        assert_eq!(
            groups.len(),
            4,
            "one group, the duplicate folded: {groups:?}"
        );
        assert!(groups.contains(&("group=network,status=red".to_owned(), 1.0)));
        let tests = series(&d, metrics::HEALTH_TEST_STATUS.name);
        assert_eq!(tests.len(), 8, "{tests:?}");
        assert!(tests.contains(&("group=network,test=smallping,status=red".to_owned(), 1.0)));
        assert!(tests.contains(&("group=network,test=unknown,status=unknown".to_owned(), 1.0)));
        let (ok, age, took) = d.health_self(Instant::now()).expect("asked");
        assert!(ok && age.is_some() && took > 0.0);
    }

    #[test]
    fn a_space_report_with_missing_types_and_a_failed_call() {
        let usage = SpaceUsage {
            total_capacity_b: 1000,
            free_capacity_b: Some(400),
            by_object_type: vec![
                ObjectTypeSpace {
                    obj_type: Some("vdisk".into()),
                    used_b: Some(500),
                    physical_used_b: None,
                },
                ObjectTypeSpace {
                    obj_type: None,
                    used_b: Some(60),
                    physical_used_b: None,
                },
                ObjectTypeSpace {
                    obj_type: None,
                    used_b: Some(40),
                    physical_used_b: None,
                },
                ObjectTypeSpace {
                    obj_type: Some("vmswap".into()),
                    used_b: None,
                    physical_used_b: None,
                },
            ],
            efficient_capacity: Some(EfficientCapacity {
                logical_capacity_used: Some(800),
                physical_capacity_used: Some(600),
                ..EfficientCapacity::default()
            }),
        };
        let mut d = SummaryData::default();
        let answers = Answers {
            capacity: Some(Ok(usage)),
            ..Answers::default()
        };
        d.apply(answers, &inv(), "vc", Instant::now());
        assert_eq!(
            series(&d, metrics::CAPACITY_USED_BY_TYPE.name),
            [
                ("object_type=unknown".to_owned(), 100.0),
                ("object_type=vdisk".to_owned(), 500.0)
            ]
        );
        assert_eq!(
            series(&d, metrics::CAPACITY_USED.name),
            [(String::new(), 600.0)]
        );
        assert_eq!(
            series(&d, metrics::CAPACITY_SAVINGS.name),
            [(String::new(), 200.0)]
        );
        assert_eq!(
            series(&d, metrics::CAPACITY_SAVINGS_RATIO.name),
            [(String::new(), 0.25)]
        );
        assert!(d.health_self(Instant::now()).is_none(), "health not asked");
        // A failure drops capacity and is counted under its own reason.
        let failed = Answers {
            capacity: Some(Err(ClientError::Timeout)),
            ..Answers::default()
        };
        d.apply(failed, &inv(), "vc", Instant::now());
        assert!(series(&d, metrics::CAPACITY_TOTAL.name).is_empty());
        assert_eq!(
            d.error_counts().collect::<Vec<_>>(),
            [("capacity_timeout".to_owned(), 1)]
        );
    }

    #[test]
    fn health_is_due_once_per_interval() {
        let opts = SummaryOptions::default();
        let mut d = SummaryData::default();
        let t0 = Instant::now();
        assert!(d.plan(&opts, t0).health);
        d.health_asked = Some(t0);
        assert!(!d.plan(&opts, t0 + Duration::from_secs(299)).health);
        assert!(d.plan(&opts, t0 + DEFAULT_HEALTH_INTERVAL).health);
        let off = SummaryOptions {
            health: false,
            ..opts
        };
        assert!(!SummaryData::default().plan(&off, t0).health);
    }
}
