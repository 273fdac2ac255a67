//! Health, capacity and resync of the simulated clusters (`VsanQueryVcClusterHealthSummary`,
//! `VsanQuerySpaceUsage`, `VsanQuerySyncingVsanObjects` on `/vsanHealth`), derived from the
//! topology and from the hosts failed and recovered with [`Simulator::fail_host`] and
//! [`Simulator::recover_host`].
//!
//! - Capacity: every capacity disk (OSA) or storage-pool disk (ESA) holds
//!   [`DISK_CAPACITY_BYTES`]; a host uses a fixed share of its disks (30-59 %, from the
//!   seed). A failed host's disks count neither in the total nor in the free space. OSA
//!   clusters with an even MoRef number run deduplication and compression (logical use 1.5
//!   times the physical); ESA clusters compress (1.25 times); the other OSA ones report no
//!   saving.
//! - Health: every group green, except with a failed host (overall red; the `network`,
//!   `data` and `physicaldisks` groups red, with their `hostdisconnected`, `objecthealth` and
//!   `physdiskoverall` tests) and while a resync runs (overall and `data`/`objecthealth`
//!   yellow).
//! - Resync: recovering a host makes its used bytes resync (reasons `stale` and `repair`),
//!   draining at [`RESYNC_BYTES_PER_SECOND`] of the simulator's clock (so
//!   [`Simulator::advance`] drains it deterministically); the objects left shrink with the
//!   bytes.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering;

use axum::response::Response;
use vsanobs_core::vsan::protocol::health::{
    HEALTH_ID_PREFIX, HealthGroup, HealthState, HealthSummary, HealthTest,
};
use vsanobs_core::vsan::protocol::resync::{SyncComponent, SyncObject, SyncingObjects};
use vsanobs_core::vsan::protocol::space::{EfficientCapacity, ObjectTypeSpace, SpaceUsage};
use vsanobs_core::vsan::protocol::{IncomingRequest, VSAN_NAMESPACE};
use vsanobs_core::vsan::soap::FaultKind;

use super::{ClusterKind, SimCluster, SimHost, Simulator, fault, mix, ok, xml_response};

/// Bytes of one capacity disk (OSA) or storage-pool disk (ESA), as the performance data's
/// disk capacity reports it.
pub const DISK_CAPACITY_BYTES: i64 = 4_000_000_000_000;

/// How fast a resync drains, in bytes per second of the simulator's clock (1 GiB/s).
pub const RESYNC_BYTES_PER_SECOND: i64 = 1 << 30;

/// Objects a recovered host resyncs per VM it runs (disk, namespace, swap), plus one.
const OBJECTS_PER_VM: i64 = 3;

/// The used space of a cluster split by object type: (objType, share in per mille).
const OBJECT_TYPES: [(&str, i64); 8] = [
    ("vdisk", 600),
    ("vmswap", 100),
    ("namespace", 40),
    ("vmem", 30),
    ("statsdb", 10),
    ("checksumOverhead", 20),
    ("fileSystemOverhead", 50),
    ("other", 150),
];

/// A health group: id (without [`HEALTH_ID_PREFIX`]), name, and its tests' ids and names.
type GroupSpec = (
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
);

/// The health groups and tests the simulator reports, by vSAN's ids and names.
const HEALTH_GROUPS: &[GroupSpec] = &[
    (
        "cluster",
        "Cluster",
        &[
            ("clomdliveness", "CLOMD liveness"),
            ("diskbalance", "vSAN Disk Balance"),
        ],
    ),
    (
        "network",
        "Network",
        &[
            ("hostdisconnected", "Hosts disconnected from VC"),
            ("clusterpartition", "vSAN cluster partition"),
            ("smallping", "vSAN: Basic (unicast) connectivity check"),
        ],
    ),
    ("data", "Data", &[("objecthealth", "vSAN object health")]),
    (
        "physicaldisks",
        "Physical disk",
        &[
            ("physdiskoverall", "Operation health"),
            ("physdiskcapacity", "Disk capacity"),
        ],
    ),
    (
        "limits",
        "Capacity utilization",
        &[("limit1hf", "After 1 additional host failure")],
    ),
];

/// Which of the three calls a [`SummaryFault`] applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum SummaryCall {
    /// `VsanQueryVcClusterHealthSummary`.
    Health,
    /// `VsanQuerySpaceUsage`.
    Space,
    /// `VsanQuerySyncingVsanObjects` (asked of any host of the cluster).
    Resync,
}

/// A fault injected into one of a cluster's summary calls.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum SummaryFault {
    /// Answer this SOAP fault.
    Soap(FaultKind),
    /// Answer XML with a broken closing tag.
    Malformed,
}

/// A resync started by a recovery.
#[derive(Clone, Debug)]
pub(crate) struct Resync {
    /// The recovered host's MoRef.
    host: String,
    /// Clock time it started.
    start: i64,
    bytes: i64,
    objects: i64,
}

/// Failed hosts and running resyncs.
#[derive(Debug, Default)]
pub(crate) struct HostEvents {
    failed: BTreeSet<String>,
    /// Per cluster MoRef: the resyncs of its recovered hosts.
    resyncs: BTreeMap<String, Vec<Resync>>,
}

impl HostEvents {
    pub(crate) fn failed_host(&self, moref: &str) -> bool {
        self.failed.contains(moref)
    }
}

/// What is left of a cluster's resyncs at a time.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResyncState {
    /// Bytes left.
    pub bytes: i64,
    /// Objects left.
    pub objects: i64,
    /// Seconds until done at the drain rate.
    pub eta_seconds: i64,
}

fn host_used_share(seed: u64, h: &SimHost) -> i64 {
    30 + (mix(seed, &[&h.node_uuid, "used"], 0) % 30) as i64
}

fn host_capacity(h: &SimHost) -> i64 {
    let disks = h.disk_groups.iter().map(|g| g.1.len()).sum::<usize>() + h.pool_disks.len();
    disks as i64 * DISK_CAPACITY_BYTES
}

fn moref_number(moref: &str) -> u64 {
    moref
        .rsplit('-')
        .next()
        .and_then(|n| n.trim_start_matches('c').parse().ok())
        .unwrap_or(0)
}

impl Simulator {
    fn host_of(&self, key: &str) -> Option<(&SimCluster, &SimHost)> {
        self.clusters().iter().find_map(|c| {
            c.hosts
                .iter()
                .find(|h| h.moref == key || h.name == key)
                .map(|h| (c, h))
        })
    }

    /// Fails a host (by MoRef or name): its cluster's health turns red, its disks leave the
    /// cluster's capacity and its performance data stops. False for an unknown host.
    pub fn fail_host(&self, host: &str) -> bool {
        let Some((_, h)) = self.host_of(host) else {
            return false;
        };
        self.inner.events.lock().failed.insert(h.moref.clone());
        true
    }

    /// Brings a failed host back (by MoRef or name): its disks and performance data return
    /// and a resync of its used bytes starts, draining at [`RESYNC_BYTES_PER_SECOND`] of the
    /// simulator's clock. False for an unknown host or one that had not failed.
    pub fn recover_host(&self, host: &str) -> bool {
        let Some((c, h)) = self.host_of(host) else {
            return false;
        };
        let mut ev = self.inner.events.lock();
        if !ev.failed.remove(&h.moref) {
            return false;
        }
        let bytes = self.host_used_bytes(h);
        let objects = 1 + h.vms.len() as i64 * OBJECTS_PER_VM;
        let start = self.now();
        ev.resyncs.entry(c.moref.clone()).or_default().push(Resync {
            host: h.moref.clone(),
            start,
            bytes,
            objects,
        });
        true
    }

    /// Whether a host (by MoRef) is failed.
    pub fn host_failed(&self, moref: &str) -> bool {
        self.inner.events.lock().failed.contains(moref)
    }

    /// Bytes a host's disks hold (its share of their capacity).
    pub fn host_used_bytes(&self, h: &SimHost) -> i64 {
        host_capacity(h) / 100 * host_used_share(self.config().seed, h)
    }

    /// Injects a fault into one summary call of a cluster (by name or MoRef); None clears it.
    pub fn set_summary_fault(&self, cluster: &str, call: SummaryCall, f: Option<SummaryFault>) {
        let Some(c) = self.cluster(cluster) else {
            return;
        };
        let mut faults = self.inner.summary_faults.lock();
        match f {
            Some(f) => {
                faults.insert((c.moref.clone(), call), f);
            }
            None => {
                faults.remove(&(c.moref.clone(), call));
            }
        }
    }

    /// Ground truth of a cluster's capacity now: what `VsanQuerySpaceUsage` answers.
    pub fn space_usage(&self, c: &SimCluster) -> SpaceUsage {
        let failed = self.inner.events.lock().failed.clone();
        let live = c.hosts.iter().filter(|h| !failed.contains(&h.moref));
        let (total, used) = live.fold((0i64, 0i64), |(t, u), h| {
            (t + host_capacity(h), u + self.host_used_bytes(h))
        });
        let mut rest = used;
        let by_object_type = OBJECT_TYPES
            .iter()
            .enumerate()
            .map(|(i, (t, share))| {
                let b = if i + 1 == OBJECT_TYPES.len() {
                    rest
                } else {
                    used / 1000 * share
                };
                rest -= b;
                ObjectTypeSpace {
                    obj_type: Some((*t).to_owned()),
                    used_b: Some(b),
                    physical_used_b: Some(b),
                }
            })
            .collect();
        let factor = match c.kind {
            ClusterKind::Esa => Some((5, 4)),
            _ if moref_number(&c.moref) % 2 == 0 => Some((3, 2)),
            _ => None,
        };
        let efficient_capacity = factor.map(|(n, d)| EfficientCapacity {
            logical_capacity: Some(total / d * n),
            logical_capacity_used: Some(used / d * n),
            physical_capacity: Some(total),
            physical_capacity_used: Some(used),
            dedup_metadata_size: (c.kind != ClusterKind::Esa).then_some(used / 100),
            ..EfficientCapacity::default()
        });
        SpaceUsage {
            total_capacity_b: total,
            free_capacity_b: Some(total - used),
            by_object_type,
            efficient_capacity,
        }
    }

    /// Ground truth of what a cluster has left to resync now.
    pub fn resync_state(&self, c: &SimCluster) -> ResyncState {
        self.resync_objects(c, usize::MAX).0
    }

    /// The state and the syncing objects (the first `limit`) now.
    fn resync_objects(&self, c: &SimCluster, limit: usize) -> (ResyncState, Vec<SyncObject>) {
        let now = self.now();
        let ev = self.inner.events.lock();
        let mut state = ResyncState::default();
        let mut objects = Vec::new();
        for r in ev.resyncs.get(&c.moref).map(Vec::as_slice).unwrap_or(&[]) {
            let drained = (now - r.start)
                .max(0)
                .saturating_mul(RESYNC_BYTES_PER_SECOND);
            let left = (r.bytes - drained).max(0);
            if left == 0 {
                continue;
            }
            // Objects finish one after the other: as many left as the bytes need.
            let per = (r.bytes / r.objects).max(1);
            let n = ((left + per - 1) / per).min(r.objects);
            state.bytes += left;
            state.objects += n;
            let Some(h) = c.hosts.iter().find(|h| h.moref == r.host) else {
                continue;
            };
            let disk = h
                .disk_groups
                .first()
                .and_then(|g| g.1.first())
                .or(h.pool_disks.first())
                .cloned()
                .unwrap_or_default();
            let mut rest = left;
            for i in 0..n {
                if objects.len() >= limit {
                    break;
                }
                let b = if i + 1 == n { rest } else { rest.min(per) };
                rest -= b;
                objects.push(SyncObject {
                    uuid: super::uuid(self.config().seed, &r.host, i as usize, 0, 0),
                    components: vec![SyncComponent {
                        uuid: super::uuid(self.config().seed, &r.host, i as usize, 1, 0),
                        disk_uuid: disk.clone(),
                        host_uuid: h.node_uuid.clone(),
                        bytes_to_sync: b,
                        recovery_eta: Some(b / RESYNC_BYTES_PER_SECOND),
                        reasons: vec![if i % 3 == 0 { "repair" } else { "stale" }.to_owned()],
                    }],
                });
            }
        }
        state.eta_seconds = (state.bytes + RESYNC_BYTES_PER_SECOND - 1) / RESYNC_BYTES_PER_SECOND;
        (state, objects)
    }

    /// Ground truth of a cluster's health now: what `VsanQueryVcClusterHealthSummary`
    /// answers.
    pub fn health_summary(&self, c: &SimCluster) -> HealthSummary {
        let failed = {
            let ev = self.inner.events.lock();
            c.hosts.iter().any(|h| ev.failed.contains(&h.moref))
        };
        let resyncing = self.resync_state(c).bytes > 0;
        let test_state = |group: &str, test: &str| match (group, test) {
            ("network", "hostdisconnected")
            | ("data", "objecthealth")
            | ("physicaldisks", "physdiskoverall")
                if failed =>
            {
                HealthState::Red
            }
            ("data", "objecthealth") if resyncing => HealthState::Yellow,
            _ => HealthState::Green,
        };
        let groups: Vec<HealthGroup> = HEALTH_GROUPS
            .iter()
            .map(|(gid, gname, tests)| {
                let tests: Vec<HealthTest> = tests
                    .iter()
                    .map(|(tid, tname)| HealthTest {
                        id: format!("{HEALTH_ID_PREFIX}{tid}"),
                        name: (*tname).to_owned(),
                        health: test_state(gid, tid),
                    })
                    .collect();
                HealthGroup {
                    id: format!("{HEALTH_ID_PREFIX}{gid}"),
                    name: (*gname).to_owned(),
                    health: tests
                        .iter()
                        .map(|t| t.health)
                        .max()
                        .unwrap_or(HealthState::Green),
                    tests,
                }
            })
            .collect();
        HealthSummary {
            overall: groups
                .iter()
                .map(|g| g.health)
                .max()
                .unwrap_or(HealthState::Green),
            groups,
        }
    }
}

fn not_found() -> Response {
    fault(
        VSAN_NAMESPACE,
        FaultKind::NotFound,
        "The object or item referred to could not be found.",
    )
}

fn invalid(msg: &str) -> Response {
    fault(VSAN_NAMESPACE, FaultKind::InvalidArgument, msg)
}

/// The answer for a cluster's kind and injected fault, or None to answer normally.
fn refuse(sim: &Simulator, c: &SimCluster, call: SummaryCall) -> Option<Response> {
    match c.kind {
        ClusterKind::NoVsan => return Some(not_found()),
        ClusterKind::NoPermission => {
            return Some(fault(
                VSAN_NAMESPACE,
                FaultKind::NoPermission,
                "Permission to perform this operation was denied.",
            ));
        }
        _ => {}
    }
    match sim
        .inner
        .summary_faults
        .lock()
        .get(&(c.moref.clone(), call))?
    {
        SummaryFault::Soap(kind) => Some(fault(VSAN_NAMESPACE, *kind, "injected fault")),
        SummaryFault::Malformed => Some(xml_response(
            axum::http::StatusCode::OK,
            "<?xml version=\"1.0\"?><soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\"><soapenv:Body><Broken></Brok></soapenv:Body></soapenv:Envelope>".to_owned(),
        )),
    }
}

pub(crate) fn health(sim: &Simulator, req: &IncomingRequest) -> Response {
    sim.inner
        .stats
        .health_queries
        .fetch_add(1, Ordering::Relaxed);
    let q = match req.health_summary() {
        Ok(q) => q,
        Err(e) => return invalid(&format!("Invalid Argument. {e}.")),
    };
    let Some(c) = sim.cluster(&q.cluster) else {
        return not_found();
    };
    if let Some(r) = refuse(sim, c, SummaryCall::Health) {
        return r;
    }
    ok(sim.health_summary(c).encode_response())
}

pub(crate) fn space(sim: &Simulator, req: &IncomingRequest) -> Response {
    sim.inner
        .stats
        .space_queries
        .fetch_add(1, Ordering::Relaxed);
    let q = match req.space_usage() {
        Ok(q) => q,
        Err(e) => return invalid(&format!("Invalid Argument. {e}.")),
    };
    let Some(c) = sim.cluster(&q.cluster) else {
        return not_found();
    };
    if let Some(r) = refuse(sim, c, SummaryCall::Space) {
        return r;
    }
    ok(sim.space_usage(c).encode_response())
}

/// Most objects one answer lists when the request sets no `limit`.
const DEFAULT_SYNC_LIMIT: usize = 100;

pub(crate) fn resync(sim: &Simulator, req: &IncomingRequest) -> Response {
    sim.inner
        .stats
        .resync_queries
        .fetch_add(1, Ordering::Relaxed);
    let q = match req.syncing_objects() {
        Ok(q) => q,
        Err(e) => return invalid(&format!("Invalid Argument. {e}.")),
    };
    let host = q
        .system
        .strip_prefix("vsanSystemEx-")
        .map(|n| format!("host-{n}"));
    let Some((c, h)) = host.as_deref().and_then(|h| sim.host_of(h)) else {
        return fault(
            VSAN_NAMESPACE,
            FaultKind::ManagedObjectNotFound,
            &format!(
                "The object '{}' has already been deleted or has not been completely created",
                q.system
            ),
        );
    };
    if let Some(r) = refuse(sim, c, SummaryCall::Resync) {
        return r;
    }
    if sim.host_failed(&h.moref) {
        return fault(
            VSAN_NAMESPACE,
            FaultKind::Other,
            &format!("Host {} is not responding", h.name),
        );
    }
    let limit = q
        .limit
        .and_then(|l| usize::try_from(l).ok())
        .unwrap_or(DEFAULT_SYNC_LIMIT);
    let (state, objects) = sim.resync_objects(c, limit);
    let summary = q.include_summary == Some(true);
    ok(SyncingObjects {
        total_objects_to_sync: summary.then_some(state.objects),
        total_bytes_to_sync: summary.then_some(state.bytes),
        total_recovery_eta: summary.then_some(state.eta_seconds),
        objects,
        objects_beyond_cap: 0,
    }
    .encode_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SimConfig;

    fn sim() -> Simulator {
        let sim = Simulator::new(SimConfig {
            clusters: 2,
            esa_clusters: 1,
            hosts_per_cluster: 3,
            disk_groups_per_host: 2,
            capacity_disks_per_group: 2,
            vms_per_host: 2,
            ..SimConfig::default()
        });
        sim.freeze_at(1_767_225_600);
        sim
    }

    #[test]
    fn capacity_follows_the_disks_and_the_architecture() {
        let sim = sim();
        let (osa_odd, osa_even, esa) = (&sim.clusters()[1], &sim.clusters()[0], &sim.clusters()[2]);
        // domain-c10 (even) dedups, domain-c11 does not, the ESA one compresses.
        let u = sim.space_usage(osa_odd);
        assert_eq!(u.total_capacity_b, 3 * 4 * DISK_CAPACITY_BYTES);
        assert_eq!(u.savings(), None);
        let used = u.used().expect("used");
        assert_eq!(
            u.by_object_type
                .iter()
                .map(|o| o.used_b.expect("used"))
                .sum::<i64>(),
            used
        );
        let e = sim.space_usage(osa_even);
        assert_eq!(
            e.savings(),
            Some(e.used().expect("used") / 2 * 3 - e.used().expect("used"))
        );
        let s = sim.space_usage(esa);
        assert_eq!(
            s.total_capacity_b,
            3 * 4 * DISK_CAPACITY_BYTES,
            "4 pool disks a host"
        );
        assert!(s.savings().expect("compression") > 0);
    }

    #[test]
    fn failure_then_recovery_drains_deterministically() {
        let sim = sim();
        let c = sim.clusters()[0].clone();
        let h = c.hosts[2].clone();
        assert!(!sim.fail_host("esx-99-99.lab.local"));
        assert!(!sim.recover_host(&h.moref), "not failed");
        let before = sim.space_usage(&c);
        assert!(sim.fail_host(&h.name));
        assert_eq!(sim.health_summary(&c).overall, HealthState::Red);
        let failed = sim.space_usage(&c);
        assert_eq!(
            failed.total_capacity_b,
            before.total_capacity_b - 4 * DISK_CAPACITY_BYTES
        );
        assert!(failed.free_capacity_b < before.free_capacity_b);
        assert!(
            !sim.entities(&c, "capacity-disk")
                .iter()
                .any(|d| h.disk_groups[0].1.contains(d))
        );
        assert!(!sim.entities(&c, "virtual-machine").contains(&h.vms[0].2));
        assert_eq!(sim.resync_state(&c), ResyncState::default());

        assert!(sim.recover_host(&h.moref));
        assert_eq!(sim.space_usage(&c), before);
        let bytes = sim.host_used_bytes(&h);
        let start = sim.resync_state(&c);
        assert_eq!(start.bytes, bytes);
        assert_eq!(start.objects, 1 + 2 * OBJECTS_PER_VM);
        assert_eq!(sim.health_summary(&c).overall, HealthState::Yellow);
        let (state, objects) = sim.resync_objects(&c, 100);
        assert_eq!(objects.len() as i64, state.objects);
        assert_eq!(
            objects
                .iter()
                .flat_map(|o| &o.components)
                .map(|x| x.bytes_to_sync)
                .sum::<i64>(),
            state.bytes
        );
        sim.advance(600);
        let later = sim.resync_state(&c);
        assert_eq!(later.bytes, bytes - 600 * RESYNC_BYTES_PER_SECOND);
        assert!(later.objects <= start.objects);
        sim.advance(later.eta_seconds);
        assert_eq!(sim.resync_state(&c), ResyncState::default());
        assert_eq!(sim.health_summary(&c).overall, HealthState::Green);
        // The other clusters never noticed.
        assert_eq!(
            sim.health_summary(&sim.clusters()[1]).overall,
            HealthState::Green
        );
    }
}
