//! The static vSAN counter catalogue: (entity type, metric label) -> Prometheus family, type,
//! unit conversion and the op/direction label value.
//!
//! vSAN answers `VsanPerfQueryPerf` with bare numbers: `statsType` and `rollupType` are empty
//! in practice and the catalogue's `time_ms` unit is wrong for DOM and VM latencies (the values
//! are microseconds). The typing therefore lives in this hand-curated table.
//!
//! # Example
//!
//! ```
//! use vsanobs_core::model::MetricKind;
//! use vsanobs_core::vsan::catalogue::{lookup, Conversion};
//!
//! let m = lookup("host-domclient", "latencyAvgRead").unwrap();
//! assert_eq!(m.metric.name, "vsan_host_domclient_io_latency_seconds");
//! assert_eq!(m.metric.kind, MetricKind::Gauge);
//! assert_eq!(m.conversion, Conversion::MicrosToSeconds);
//! assert_eq!(m.extra, &[("op", "read")]);
//! assert_eq!(m.convert(2158.0), 0.002158);
//!
//! let c = lookup("host-domclient", "readCount").unwrap();
//! assert_eq!(c.metric.name, "vsan_host_domclient_io_operations_total");
//! assert_eq!(c.metric.kind, MetricKind::Counter);
//! ```
//!
//! ## Note
//! [`lookup`] uses a hash map built once on first use; afterwards a lookup hashes two short
//! strings and allocates nothing.

use std::collections::HashMap;
use std::sync::OnceLock;

use crate::model::{MetricDesc, MetricKind};

/// How a raw CSV value converts to the exported base unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Conversion {
    /// Exported as is (counts, IO/s, bytes, bytes/s, levels).
    Identity,
    /// Microseconds to seconds (÷1e6): DOM, VM and device latencies.
    MicrosToSeconds,
    /// Milliseconds to seconds (÷1e3), for ids that declare `_ms`.
    MillisToSeconds,
    /// Percentage to ratio (÷100).
    PercentToRatio,
    /// Permille to ratio (÷1000).
    PermilleToRatio,
}

impl Conversion {
    /// Applies the conversion.
    pub fn apply(self, raw: f64) -> f64 {
        match self {
            Conversion::Identity => raw,
            Conversion::MicrosToSeconds => raw / 1e6,
            Conversion::MillisToSeconds => raw / 1e3,
            Conversion::PercentToRatio => raw / 100.0,
            Conversion::PermilleToRatio => raw / 1000.0,
        }
    }
}

/// Which identity labels an entity type's series carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Scope {
    /// `vcenter, cluster_name, cluster_uuid`.
    Cluster,
    /// Cluster labels plus `host_name, host_uuid`.
    Host,
    /// Host labels plus `disk_uuid` (a disk group is named by its cache disk's UUID).
    Disk,
    /// Cluster labels plus `vm_name`.
    Vm,
    /// Host labels plus `vmnic` (entity id `<host-uuid>|<vmnic>`).
    Pnic,
}

impl Scope {
    /// The identity label names, in order.
    pub fn labels(self) -> &'static [&'static str] {
        match self {
            Scope::Cluster => CL,
            Scope::Host => HO,
            Scope::Disk => DK,
            Scope::Vm => VM,
            Scope::Pnic => PN,
        }
    }
}

/// A vSAN performance entity type the catalogue covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EntityTypeInfo {
    /// The API's entity type id (`host-domclient`).
    pub id: &'static str,
    /// The identity labels its series carry.
    pub scope: Scope,
    /// Prefix of its unknown-label families (`vsan_host_domclient`).
    pub prefix: &'static str,
    /// What it measures.
    pub description: &'static str,
}

/// The entity types the catalogue covers, in the order the exporter queries them.
pub const ENTITY_TYPES: &[EntityTypeInfo] = &[
    et(
        "cluster-domclient",
        Scope::Cluster,
        "vsan_cluster_domclient",
        "VM consumption seen by the DOM clients of the cluster.",
    ),
    et(
        "cluster-domcompmgr",
        Scope::Cluster,
        "vsan_cluster_domcompmgr",
        "Backend IO of the cluster's DOM component managers.",
    ),
    et(
        "host-domclient",
        Scope::Host,
        "vsan_host_domclient",
        "VM consumption seen by the DOM client of one host.",
    ),
    et(
        "host-domcompmgr",
        Scope::Host,
        "vsan_host_domcompmgr",
        "Backend IO of one host's DOM component manager.",
    ),
    et(
        "disk-group",
        Scope::Disk,
        "vsan_disk_group",
        "One disk group (named by its cache disk).",
    ),
    et(
        "cache-disk",
        Scope::Disk,
        "vsan_cache_disk",
        "One cache-tier disk.",
    ),
    et(
        "capacity-disk",
        Scope::Disk,
        "vsan_capacity_disk",
        "One capacity-tier disk.",
    ),
    et(
        "virtual-machine",
        Scope::Vm,
        "vsan_vm",
        "One virtual machine's vSAN IO.",
    ),
    et(
        "vsan-host-net",
        Scope::Host,
        "vsan_host_net",
        "One host's vSAN network traffic.",
    ),
    et(
        "vsan-pnic-net",
        Scope::Pnic,
        "vsan_pnic",
        "One physical NIC carrying vSAN traffic.",
    ),
];

const fn et(
    id: &'static str,
    scope: Scope,
    prefix: &'static str,
    description: &'static str,
) -> EntityTypeInfo {
    EntityTypeInfo {
        id,
        scope,
        prefix,
        description,
    }
}

/// The catalogue entry of an entity type id.
pub fn entity_type(id: &str) -> Option<&'static EntityTypeInfo> {
    ENTITY_TYPES.iter().find(|e| e.id == id)
}

/// One catalogue row: a metric label of an entity type and where its values go.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Mapping {
    /// The entity type id (`host-domclient`).
    pub entity_type: &'static str,
    /// The API's metric label (`iopsRead`).
    pub label: &'static str,
    /// The family its values are exported in.
    pub metric: &'static MetricDesc,
    /// Raw value to base unit.
    pub conversion: Conversion,
    /// Label pairs that tell this label apart inside the family (`op="read"`).
    pub extra: &'static [(&'static str, &'static str)],
}

impl Mapping {
    /// The raw CSV value converted to the family's unit.
    pub fn convert(&self, raw: f64) -> f64 {
        self.conversion.apply(raw)
    }
    /// True when the raw values are per-interval deltas accumulated into a `_total` counter.
    pub fn is_delta(&self) -> bool {
        self.metric.kind == MetricKind::Counter
    }
}

const CL: &[&str] = &["vcenter", "cluster_name", "cluster_uuid"];
const CL_OP: &[&str] = &["vcenter", "cluster_name", "cluster_uuid", "op"];
const HO: &[&str] = &[
    "vcenter",
    "cluster_name",
    "cluster_uuid",
    "host_name",
    "host_uuid",
];
const HO_OP: &[&str] = &[
    "vcenter",
    "cluster_name",
    "cluster_uuid",
    "host_name",
    "host_uuid",
    "op",
];
const HO_DIR: &[&str] = &[
    "vcenter",
    "cluster_name",
    "cluster_uuid",
    "host_name",
    "host_uuid",
    "direction",
];
const DK: &[&str] = &[
    "vcenter",
    "cluster_name",
    "cluster_uuid",
    "host_name",
    "host_uuid",
    "disk_uuid",
];
const DK_OP: &[&str] = &[
    "vcenter",
    "cluster_name",
    "cluster_uuid",
    "host_name",
    "host_uuid",
    "disk_uuid",
    "op",
];
const DK_REASON: &[&str] = &[
    "vcenter",
    "cluster_name",
    "cluster_uuid",
    "host_name",
    "host_uuid",
    "disk_uuid",
    "reason",
];
const DK_KIND: &[&str] = &[
    "vcenter",
    "cluster_name",
    "cluster_uuid",
    "host_name",
    "host_uuid",
    "disk_uuid",
    "kind",
];
const DK_TYPE: &[&str] = &[
    "vcenter",
    "cluster_name",
    "cluster_uuid",
    "host_name",
    "host_uuid",
    "disk_uuid",
    "type",
];
const VM: &[&str] = &["vcenter", "cluster_name", "cluster_uuid", "vm_name"];
const VM_OP: &[&str] = &["vcenter", "cluster_name", "cluster_uuid", "vm_name", "op"];
const PN: &[&str] = &[
    "vcenter",
    "cluster_name",
    "cluster_uuid",
    "host_name",
    "host_uuid",
    "vmnic",
];
const PN_DIR: &[&str] = &[
    "vcenter",
    "cluster_name",
    "cluster_uuid",
    "host_name",
    "host_uuid",
    "vmnic",
    "direction",
];

macro_rules! families {
    ($($id:ident = $name:literal, $kind:ident, $unit:expr, $labels:ident, $help:literal;)*) => {
        $(
            #[doc = concat!("`", $name, "`: ", $help)]
            pub const $id: MetricDesc = MetricDesc {
                name: $name,
                kind: MetricKind::$kind,
                help: $help,
                unit: $unit,
                labels: $labels,
            };
        )*
        /// Every family the catalogue exports, for generated docs.
        pub const METRICS: &[MetricDesc] = &[$($id),*];
    };
}

const S: Option<&str> = Some("seconds");
const B: Option<&str> = Some("bytes");
const R: Option<&str> = Some("ratio");
const N: Option<&str> = None;

families! {
    CLUSTER_DOMCLIENT_IOPS = "vsan_cluster_domclient_io_operations_per_second", Gauge, N, CL_OP, "IO operations per second issued by VMs in the cluster (DOM client), averaged over the sample interval.";
    CLUSTER_DOMCLIENT_BYTES = "vsan_cluster_domclient_io_bytes_per_second", Gauge, N, CL_OP, "Throughput of VM IO in the cluster (DOM client) in bytes per second.";
    CLUSTER_DOMCLIENT_LATENCY = "vsan_cluster_domclient_io_latency_seconds", Gauge, S, CL_OP, "Average latency of VM IO in the cluster (DOM client).";
    CLUSTER_DOMCLIENT_CONGESTION = "vsan_cluster_domclient_congestion", Gauge, N, CL, "Congestion level (0-255) seen by the cluster's DOM clients.";
    CLUSTER_DOMCLIENT_OIO = "vsan_cluster_domclient_outstanding_io", Gauge, N, CL, "Outstanding IO of the cluster's DOM clients.";
    CLUSTER_DOMCOMPMGR_IOPS = "vsan_cluster_domcompmgr_io_operations_per_second", Gauge, N, CL_OP, "Backend IO operations per second in the cluster (DOM component manager).";
    CLUSTER_DOMCOMPMGR_BYTES = "vsan_cluster_domcompmgr_io_bytes_per_second", Gauge, N, CL_OP, "Backend throughput in the cluster in bytes per second.";
    CLUSTER_DOMCOMPMGR_LATENCY = "vsan_cluster_domcompmgr_io_latency_seconds", Gauge, S, CL_OP, "Average backend IO latency in the cluster.";
    CLUSTER_DOMCOMPMGR_CONGESTION = "vsan_cluster_domcompmgr_congestion", Gauge, N, CL, "Backend congestion level (0-255) in the cluster.";
    CLUSTER_DOMCOMPMGR_OIO = "vsan_cluster_domcompmgr_outstanding_io", Gauge, N, CL, "Outstanding backend IO in the cluster.";
    HOST_DOMCLIENT_IOPS = "vsan_host_domclient_io_operations_per_second", Gauge, N, HO_OP, "IO operations per second issued by VMs on the host (DOM client).";
    HOST_DOMCLIENT_BYTES = "vsan_host_domclient_io_bytes_per_second", Gauge, N, HO_OP, "Throughput of VM IO on the host in bytes per second.";
    HOST_DOMCLIENT_LATENCY = "vsan_host_domclient_io_latency_seconds", Gauge, S, HO_OP, "Average latency of VM IO on the host.";
    HOST_DOMCLIENT_LATENCY_STDDEV = "vsan_host_domclient_io_latency_stddev_seconds", Gauge, S, HO_OP, "Standard deviation of VM IO latency on the host.";
    HOST_DOMCLIENT_LATENCY_MAX = "vsan_host_domclient_io_latency_max_seconds", Gauge, S, HO_OP, "Maximum VM IO latency on the host within the sample interval.";
    HOST_DOMCLIENT_CONGESTION = "vsan_host_domclient_congestion", Gauge, N, HO, "Congestion level (0-255) seen by the host's DOM client.";
    HOST_DOMCLIENT_OIO = "vsan_host_domclient_outstanding_io", Gauge, N, HO, "Outstanding IO of the host's DOM client.";
    HOST_DOMCLIENT_OPS = "vsan_host_domclient_io_operations_total", Counter, N, HO_OP, "IO operations completed by the host's DOM client (per-interval counts accumulated by the exporter).";
    HOST_DOMCLIENT_CACHE_HITS = "vsan_host_domclient_client_cache_hits_per_second", Gauge, N, HO, "Client cache hits per second on the host.";
    HOST_DOMCLIENT_CACHE_HIT_RATIO = "vsan_host_domclient_client_cache_hit_ratio", Gauge, R, HO, "Client cache hit ratio on the host (0-1).";
    HOST_DOMCOMPMGR_IOPS = "vsan_host_domcompmgr_io_operations_per_second", Gauge, N, HO_OP, "Backend IO operations per second on the host (DOM component manager).";
    HOST_DOMCOMPMGR_BYTES = "vsan_host_domcompmgr_io_bytes_per_second", Gauge, N, HO_OP, "Backend throughput on the host in bytes per second.";
    HOST_DOMCOMPMGR_LATENCY = "vsan_host_domcompmgr_io_latency_seconds", Gauge, S, HO_OP, "Average backend IO latency on the host.";
    HOST_DOMCOMPMGR_CONGESTION = "vsan_host_domcompmgr_congestion", Gauge, N, HO, "Backend congestion level (0-255) on the host.";
    HOST_DOMCOMPMGR_OIO = "vsan_host_domcompmgr_outstanding_io", Gauge, N, HO, "Outstanding backend IO on the host.";
    HOST_DOMCOMPMGR_OPS = "vsan_host_domcompmgr_io_operations_total", Counter, N, HO_OP, "Backend IO operations completed on the host (accumulated per-interval counts).";
    DISK_GROUP_IOPS = "vsan_disk_group_io_operations_per_second", Gauge, N, DK_OP, "IO operations per second on the disk group.";
    DISK_GROUP_BYTES = "vsan_disk_group_io_bytes_per_second", Gauge, N, DK_OP, "Throughput of the disk group in bytes per second.";
    DISK_GROUP_LATENCY = "vsan_disk_group_io_latency_seconds", Gauge, S, DK_OP, "Average IO latency of the disk group.";
    DISK_GROUP_OPS = "vsan_disk_group_io_operations_total", Counter, N, DK_OP, "IO operations completed by the disk group (accumulated per-interval counts).";
    DISK_GROUP_RC_HIT_RATIO = "vsan_disk_group_read_cache_hit_ratio", Gauge, R, DK, "Read cache hit ratio of the disk group (0-1).";
    DISK_GROUP_WB_FREE_RATIO = "vsan_disk_group_write_buffer_free_ratio", Gauge, R, DK, "Free fraction of the disk group's write buffer (0-1).";
    DISK_GROUP_EVICTIONS = "vsan_disk_group_cache_evictions_per_second", Gauge, N, DK_REASON, "Cache evictions per second in the disk group, by reason.";
    DISK_GROUP_CAPACITY = "vsan_disk_group_capacity_bytes", Gauge, B, DK, "Capacity of the disk group.";
    DISK_GROUP_CAPACITY_USED = "vsan_disk_group_capacity_used_bytes", Gauge, B, DK, "Used capacity of the disk group.";
    DISK_GROUP_CAPACITY_RESERVED = "vsan_disk_group_capacity_reserved_bytes", Gauge, B, DK, "Reserved capacity of the disk group.";
    DISK_GROUP_DESTAGE = "vsan_disk_group_destage_bytes_per_second", Gauge, N, DK_KIND, "Bytes per second destaged from the write buffer to the capacity tier.";
    DISK_GROUP_CONGESTION = "vsan_disk_group_congestion", Gauge, N, DK_TYPE, "Congestion level (0-255) of the disk group, by type.";
    DISK_GROUP_OUTSTANDING_WRITES = "vsan_disk_group_outstanding_writes", Gauge, N, DK_OP, "Outstanding writes in the disk group.";
    CACHE_DISK_DEV_IOPS = "vsan_cache_disk_device_io_operations_per_second", Gauge, N, DK_OP, "Device IO operations per second on the cache disk.";
    CACHE_DISK_DEV_BYTES = "vsan_cache_disk_device_io_bytes_per_second", Gauge, N, DK_OP, "Device throughput of the cache disk in bytes per second.";
    CACHE_DISK_DEV_LATENCY = "vsan_cache_disk_device_io_latency_seconds", Gauge, S, DK_OP, "Device IO latency of the cache disk.";
    CACHE_DISK_GUEST_LATENCY = "vsan_cache_disk_guest_latency_seconds", Gauge, S, DK, "Guest-observed latency (GAVG) of the cache disk.";
    CACHE_DISK_DEVICE_LATENCY = "vsan_cache_disk_device_latency_seconds", Gauge, S, DK, "Device latency (DAVG) of the cache disk.";
    CACHE_DISK_DEV_OPS = "vsan_cache_disk_device_io_operations_total", Counter, N, DK_OP, "Device IO operations completed by the cache disk (accumulated per-interval counts).";
    CAPACITY_DISK_DEV_IOPS = "vsan_capacity_disk_device_io_operations_per_second", Gauge, N, DK_OP, "Device IO operations per second on the capacity disk.";
    CAPACITY_DISK_DEV_BYTES = "vsan_capacity_disk_device_io_bytes_per_second", Gauge, N, DK_OP, "Device throughput of the capacity disk in bytes per second.";
    CAPACITY_DISK_DEV_LATENCY = "vsan_capacity_disk_device_io_latency_seconds", Gauge, S, DK_OP, "Device IO latency of the capacity disk.";
    CAPACITY_DISK_GUEST_LATENCY = "vsan_capacity_disk_guest_latency_seconds", Gauge, S, DK, "Guest-observed latency (GAVG) of the capacity disk.";
    CAPACITY_DISK_DEVICE_LATENCY = "vsan_capacity_disk_device_latency_seconds", Gauge, S, DK, "Device latency (DAVG) of the capacity disk.";
    CAPACITY_DISK_DEV_OPS = "vsan_capacity_disk_device_io_operations_total", Counter, N, DK_OP, "Device IO operations completed by the capacity disk (accumulated per-interval counts).";
    CAPACITY_DISK_IOPS = "vsan_capacity_disk_io_operations_per_second", Gauge, N, DK_OP, "vSAN-layer IO operations per second on the capacity disk.";
    CAPACITY_DISK_LATENCY = "vsan_capacity_disk_io_latency_seconds", Gauge, S, DK_OP, "vSAN-layer IO latency of the capacity disk.";
    CAPACITY_DISK_OPS = "vsan_capacity_disk_io_operations_total", Counter, N, DK_OP, "vSAN-layer IO operations completed by the capacity disk (accumulated per-interval counts).";
    CAPACITY_DISK_DELETE_CONGESTION = "vsan_capacity_disk_delete_congestion", Gauge, N, DK, "Delete congestion level of the capacity disk.";
    VM_IOPS = "vsan_vm_io_operations_per_second", Gauge, N, VM_OP, "IO operations per second of the VM on vSAN.";
    VM_BYTES = "vsan_vm_io_bytes_per_second", Gauge, N, VM_OP, "Throughput of the VM on vSAN in bytes per second.";
    VM_LATENCY = "vsan_vm_io_latency_seconds", Gauge, S, VM_OP, "Average IO latency of the VM on vSAN.";
    VM_OPS = "vsan_vm_io_operations_total", Counter, N, VM_OP, "IO operations completed by the VM (accumulated per-interval counts).";
    HOST_NET_BYTES = "vsan_host_net_bytes_per_second", Gauge, N, HO_DIR, "vSAN network throughput of the host in bytes per second.";
    HOST_NET_PACKETS = "vsan_host_net_packets_per_second", Gauge, N, HO_DIR, "vSAN network packets per second on the host.";
    HOST_NET_LOSS = "vsan_host_net_packet_loss_ratio", Gauge, R, HO_DIR, "vSAN network packet loss ratio on the host (0-1).";
    PNIC_BYTES = "vsan_pnic_bytes_per_second", Gauge, N, PN_DIR, "Throughput of the physical NIC in bytes per second.";
    PNIC_PACKETS = "vsan_pnic_packets_per_second", Gauge, N, PN_DIR, "Packets per second on the physical NIC.";
    PNIC_LOSS = "vsan_pnic_packet_loss_ratio", Gauge, R, PN_DIR, "Packet loss ratio on the physical NIC (0-1).";
}

use Conversion::{
    Identity as I, MicrosToSeconds as US, PercentToRatio as PCT, PermilleToRatio as PM,
};

const fn m(
    entity_type: &'static str,
    label: &'static str,
    metric: &'static MetricDesc,
    conversion: Conversion,
    extra: &'static [(&'static str, &'static str)],
) -> Mapping {
    Mapping {
        entity_type,
        label,
        metric,
        conversion,
        extra,
    }
}

const RD: &[(&str, &str)] = &[("op", "read")];
const WR: &[(&str, &str)] = &[("op", "write")];
const UN: &[(&str, &str)] = &[("op", "unmap")];
const RW: &[(&str, &str)] = &[("op", "recovery_write")];
const RR: &[(&str, &str)] = &[("op", "resync_read")];
const RX: &[(&str, &str)] = &[("direction", "receive")];
const TX: &[(&str, &str)] = &[("direction", "transmit")];
const NONE: &[(&str, &str)] = &[];

/// Every catalogue row.
pub const MAPPINGS: &[Mapping] = &[
    // cluster-domclient
    m(
        "cluster-domclient",
        "iopsRead",
        &CLUSTER_DOMCLIENT_IOPS,
        I,
        RD,
    ),
    m(
        "cluster-domclient",
        "iopsWrite",
        &CLUSTER_DOMCLIENT_IOPS,
        I,
        WR,
    ),
    m(
        "cluster-domclient",
        "iopsUnmap",
        &CLUSTER_DOMCLIENT_IOPS,
        I,
        UN,
    ),
    m(
        "cluster-domclient",
        "throughputRead",
        &CLUSTER_DOMCLIENT_BYTES,
        I,
        RD,
    ),
    m(
        "cluster-domclient",
        "throughputWrite",
        &CLUSTER_DOMCLIENT_BYTES,
        I,
        WR,
    ),
    m(
        "cluster-domclient",
        "throughputUnmap",
        &CLUSTER_DOMCLIENT_BYTES,
        I,
        UN,
    ),
    m(
        "cluster-domclient",
        "latencyAvgRead",
        &CLUSTER_DOMCLIENT_LATENCY,
        US,
        RD,
    ),
    m(
        "cluster-domclient",
        "latencyAvgWrite",
        &CLUSTER_DOMCLIENT_LATENCY,
        US,
        WR,
    ),
    m(
        "cluster-domclient",
        "latencyAvgUnmap",
        &CLUSTER_DOMCLIENT_LATENCY,
        US,
        UN,
    ),
    m(
        "cluster-domclient",
        "congestion",
        &CLUSTER_DOMCLIENT_CONGESTION,
        I,
        NONE,
    ),
    m("cluster-domclient", "oio", &CLUSTER_DOMCLIENT_OIO, I, NONE),
    // cluster-domcompmgr
    m(
        "cluster-domcompmgr",
        "iopsRead",
        &CLUSTER_DOMCOMPMGR_IOPS,
        I,
        RD,
    ),
    m(
        "cluster-domcompmgr",
        "iopsWrite",
        &CLUSTER_DOMCOMPMGR_IOPS,
        I,
        WR,
    ),
    m(
        "cluster-domcompmgr",
        "iopsRecWrite",
        &CLUSTER_DOMCOMPMGR_IOPS,
        I,
        RW,
    ),
    m(
        "cluster-domcompmgr",
        "iopsResyncRead",
        &CLUSTER_DOMCOMPMGR_IOPS,
        I,
        RR,
    ),
    m(
        "cluster-domcompmgr",
        "throughputRead",
        &CLUSTER_DOMCOMPMGR_BYTES,
        I,
        RD,
    ),
    m(
        "cluster-domcompmgr",
        "throughputWrite",
        &CLUSTER_DOMCOMPMGR_BYTES,
        I,
        WR,
    ),
    m(
        "cluster-domcompmgr",
        "throughputRecWrite",
        &CLUSTER_DOMCOMPMGR_BYTES,
        I,
        RW,
    ),
    m(
        "cluster-domcompmgr",
        "tputResyncRead",
        &CLUSTER_DOMCOMPMGR_BYTES,
        I,
        RR,
    ),
    m(
        "cluster-domcompmgr",
        "latencyAvgRead",
        &CLUSTER_DOMCOMPMGR_LATENCY,
        US,
        RD,
    ),
    m(
        "cluster-domcompmgr",
        "latencyAvgWrite",
        &CLUSTER_DOMCOMPMGR_LATENCY,
        US,
        WR,
    ),
    m(
        "cluster-domcompmgr",
        "latencyAvgRecWrite",
        &CLUSTER_DOMCOMPMGR_LATENCY,
        US,
        RW,
    ),
    m(
        "cluster-domcompmgr",
        "latAvgResyncRead",
        &CLUSTER_DOMCOMPMGR_LATENCY,
        US,
        RR,
    ),
    m(
        "cluster-domcompmgr",
        "congestion",
        &CLUSTER_DOMCOMPMGR_CONGESTION,
        I,
        NONE,
    ),
    m(
        "cluster-domcompmgr",
        "oio",
        &CLUSTER_DOMCOMPMGR_OIO,
        I,
        NONE,
    ),
    // host-domclient
    m("host-domclient", "iopsRead", &HOST_DOMCLIENT_IOPS, I, RD),
    m("host-domclient", "iopsWrite", &HOST_DOMCLIENT_IOPS, I, WR),
    m("host-domclient", "iopsUnmap", &HOST_DOMCLIENT_IOPS, I, UN),
    m(
        "host-domclient",
        "throughputRead",
        &HOST_DOMCLIENT_BYTES,
        I,
        RD,
    ),
    m(
        "host-domclient",
        "throughputWrite",
        &HOST_DOMCLIENT_BYTES,
        I,
        WR,
    ),
    m(
        "host-domclient",
        "throughputUnmap",
        &HOST_DOMCLIENT_BYTES,
        I,
        UN,
    ),
    m(
        "host-domclient",
        "latencyAvgRead",
        &HOST_DOMCLIENT_LATENCY,
        US,
        RD,
    ),
    m(
        "host-domclient",
        "latencyAvgWrite",
        &HOST_DOMCLIENT_LATENCY,
        US,
        WR,
    ),
    m(
        "host-domclient",
        "latencyAvgUnmap",
        &HOST_DOMCLIENT_LATENCY,
        US,
        UN,
    ),
    m(
        "host-domclient",
        "latencyStddevRead",
        &HOST_DOMCLIENT_LATENCY_STDDEV,
        US,
        RD,
    ),
    m(
        "host-domclient",
        "latencyStddevWrite",
        &HOST_DOMCLIENT_LATENCY_STDDEV,
        US,
        WR,
    ),
    m(
        "host-domclient",
        "latencyMaxRead",
        &HOST_DOMCLIENT_LATENCY_MAX,
        US,
        RD,
    ),
    m(
        "host-domclient",
        "latencyMaxWrite",
        &HOST_DOMCLIENT_LATENCY_MAX,
        US,
        WR,
    ),
    m(
        "host-domclient",
        "congestion",
        &HOST_DOMCLIENT_CONGESTION,
        I,
        NONE,
    ),
    m("host-domclient", "oio", &HOST_DOMCLIENT_OIO, I, NONE),
    m("host-domclient", "readCount", &HOST_DOMCLIENT_OPS, I, RD),
    m("host-domclient", "writeCount", &HOST_DOMCLIENT_OPS, I, WR),
    m("host-domclient", "unmapCount", &HOST_DOMCLIENT_OPS, I, UN),
    m(
        "host-domclient",
        "clientCacheHits",
        &HOST_DOMCLIENT_CACHE_HITS,
        I,
        NONE,
    ),
    m(
        "host-domclient",
        "clientCacheHitRate",
        &HOST_DOMCLIENT_CACHE_HIT_RATIO,
        PCT,
        NONE,
    ),
    // host-domcompmgr
    m("host-domcompmgr", "iopsRead", &HOST_DOMCOMPMGR_IOPS, I, RD),
    m("host-domcompmgr", "iopsWrite", &HOST_DOMCOMPMGR_IOPS, I, WR),
    m("host-domcompmgr", "iopsUnmap", &HOST_DOMCOMPMGR_IOPS, I, UN),
    m(
        "host-domcompmgr",
        "iopsRecWrite",
        &HOST_DOMCOMPMGR_IOPS,
        I,
        RW,
    ),
    m(
        "host-domcompmgr",
        "iopsResyncRead",
        &HOST_DOMCOMPMGR_IOPS,
        I,
        RR,
    ),
    m(
        "host-domcompmgr",
        "throughputRead",
        &HOST_DOMCOMPMGR_BYTES,
        I,
        RD,
    ),
    m(
        "host-domcompmgr",
        "throughputWrite",
        &HOST_DOMCOMPMGR_BYTES,
        I,
        WR,
    ),
    m(
        "host-domcompmgr",
        "throughputUnmap",
        &HOST_DOMCOMPMGR_BYTES,
        I,
        UN,
    ),
    m(
        "host-domcompmgr",
        "throughputRecWrite",
        &HOST_DOMCOMPMGR_BYTES,
        I,
        RW,
    ),
    m(
        "host-domcompmgr",
        "tputResyncRead",
        &HOST_DOMCOMPMGR_BYTES,
        I,
        RR,
    ),
    m(
        "host-domcompmgr",
        "latencyAvgRead",
        &HOST_DOMCOMPMGR_LATENCY,
        US,
        RD,
    ),
    m(
        "host-domcompmgr",
        "latencyAvgWrite",
        &HOST_DOMCOMPMGR_LATENCY,
        US,
        WR,
    ),
    m(
        "host-domcompmgr",
        "latencyAvgUnmap",
        &HOST_DOMCOMPMGR_LATENCY,
        US,
        UN,
    ),
    m(
        "host-domcompmgr",
        "latencyAvgRecWrite",
        &HOST_DOMCOMPMGR_LATENCY,
        US,
        RW,
    ),
    m(
        "host-domcompmgr",
        "latAvgResyncRead",
        &HOST_DOMCOMPMGR_LATENCY,
        US,
        RR,
    ),
    m(
        "host-domcompmgr",
        "congestion",
        &HOST_DOMCOMPMGR_CONGESTION,
        I,
        NONE,
    ),
    m("host-domcompmgr", "oio", &HOST_DOMCOMPMGR_OIO, I, NONE),
    m("host-domcompmgr", "readCount", &HOST_DOMCOMPMGR_OPS, I, RD),
    m("host-domcompmgr", "writeCount", &HOST_DOMCOMPMGR_OPS, I, WR),
    m(
        "host-domcompmgr",
        "recWriteCount",
        &HOST_DOMCOMPMGR_OPS,
        I,
        RW,
    ),
    // disk-group
    m("disk-group", "iopsRead", &DISK_GROUP_IOPS, I, RD),
    m("disk-group", "iopsWrite", &DISK_GROUP_IOPS, I, WR),
    m("disk-group", "throughputRead", &DISK_GROUP_BYTES, I, RD),
    m("disk-group", "throughputWrite", &DISK_GROUP_BYTES, I, WR),
    m("disk-group", "latencyAvgRead", &DISK_GROUP_LATENCY, US, RD),
    m("disk-group", "latencyAvgWrite", &DISK_GROUP_LATENCY, US, WR),
    m("disk-group", "readCount", &DISK_GROUP_OPS, I, RD),
    m("disk-group", "writeCount", &DISK_GROUP_OPS, I, WR),
    m(
        "disk-group",
        "rcHitRate",
        &DISK_GROUP_RC_HIT_RATIO,
        PCT,
        NONE,
    ),
    m(
        "disk-group",
        "wbFreePct",
        &DISK_GROUP_WB_FREE_RATIO,
        PCT,
        NONE,
    ),
    m(
        "disk-group",
        "warEvictions",
        &DISK_GROUP_EVICTIONS,
        I,
        &[("reason", "overwrite")],
    ),
    m(
        "disk-group",
        "quotaEvictions",
        &DISK_GROUP_EVICTIONS,
        I,
        &[("reason", "quota")],
    ),
    m("disk-group", "capacity", &DISK_GROUP_CAPACITY, I, NONE),
    m(
        "disk-group",
        "capacityUsed",
        &DISK_GROUP_CAPACITY_USED,
        I,
        NONE,
    ),
    m(
        "disk-group",
        "capacityReserved",
        &DISK_GROUP_CAPACITY_RESERVED,
        I,
        NONE,
    ),
    m(
        "disk-group",
        "ssdBytesDrained",
        &DISK_GROUP_DESTAGE,
        I,
        &[("kind", "data")],
    ),
    m(
        "disk-group",
        "zeroBytesDrained",
        &DISK_GROUP_DESTAGE,
        I,
        &[("kind", "zero")],
    ),
    m(
        "disk-group",
        "memCongestion",
        &DISK_GROUP_CONGESTION,
        I,
        &[("type", "mem")],
    ),
    m(
        "disk-group",
        "slabCongestion",
        &DISK_GROUP_CONGESTION,
        I,
        &[("type", "slab")],
    ),
    m(
        "disk-group",
        "ssdCongestion",
        &DISK_GROUP_CONGESTION,
        I,
        &[("type", "ssd")],
    ),
    m(
        "disk-group",
        "iopsCongestion",
        &DISK_GROUP_CONGESTION,
        I,
        &[("type", "iops")],
    ),
    m(
        "disk-group",
        "logCongestion",
        &DISK_GROUP_CONGESTION,
        I,
        &[("type", "log")],
    ),
    m(
        "disk-group",
        "compCongestion",
        &DISK_GROUP_CONGESTION,
        I,
        &[("type", "comp")],
    ),
    m(
        "disk-group",
        "oioWrite",
        &DISK_GROUP_OUTSTANDING_WRITES,
        I,
        WR,
    ),
    m(
        "disk-group",
        "oioRecWrite",
        &DISK_GROUP_OUTSTANDING_WRITES,
        I,
        RW,
    ),
    // cache-disk
    m("cache-disk", "iopsDevRead", &CACHE_DISK_DEV_IOPS, I, RD),
    m("cache-disk", "iopsDevWrite", &CACHE_DISK_DEV_IOPS, I, WR),
    m(
        "cache-disk",
        "throughputDevRead",
        &CACHE_DISK_DEV_BYTES,
        I,
        RD,
    ),
    m(
        "cache-disk",
        "throughputDevWrite",
        &CACHE_DISK_DEV_BYTES,
        I,
        WR,
    ),
    m(
        "cache-disk",
        "latencyDevRead",
        &CACHE_DISK_DEV_LATENCY,
        US,
        RD,
    ),
    m(
        "cache-disk",
        "latencyDevWrite",
        &CACHE_DISK_DEV_LATENCY,
        US,
        WR,
    ),
    m(
        "cache-disk",
        "latencyDevGAvg",
        &CACHE_DISK_GUEST_LATENCY,
        US,
        NONE,
    ),
    m(
        "cache-disk",
        "latencyDevDAvg",
        &CACHE_DISK_DEVICE_LATENCY,
        US,
        NONE,
    ),
    m("cache-disk", "ioCountDevRead", &CACHE_DISK_DEV_OPS, I, RD),
    m("cache-disk", "ioCountDevWrite", &CACHE_DISK_DEV_OPS, I, WR),
    // capacity-disk
    m(
        "capacity-disk",
        "iopsDevRead",
        &CAPACITY_DISK_DEV_IOPS,
        I,
        RD,
    ),
    m(
        "capacity-disk",
        "iopsDevWrite",
        &CAPACITY_DISK_DEV_IOPS,
        I,
        WR,
    ),
    m(
        "capacity-disk",
        "throughputDevRead",
        &CAPACITY_DISK_DEV_BYTES,
        I,
        RD,
    ),
    m(
        "capacity-disk",
        "throughputDevWrite",
        &CAPACITY_DISK_DEV_BYTES,
        I,
        WR,
    ),
    m(
        "capacity-disk",
        "latencyDevRead",
        &CAPACITY_DISK_DEV_LATENCY,
        US,
        RD,
    ),
    m(
        "capacity-disk",
        "latencyDevWrite",
        &CAPACITY_DISK_DEV_LATENCY,
        US,
        WR,
    ),
    m(
        "capacity-disk",
        "latencyDevGAvg",
        &CAPACITY_DISK_GUEST_LATENCY,
        US,
        NONE,
    ),
    m(
        "capacity-disk",
        "latencyDevDAvg",
        &CAPACITY_DISK_DEVICE_LATENCY,
        US,
        NONE,
    ),
    m(
        "capacity-disk",
        "ioCountDevRead",
        &CAPACITY_DISK_DEV_OPS,
        I,
        RD,
    ),
    m(
        "capacity-disk",
        "ioCountDevWrite",
        &CAPACITY_DISK_DEV_OPS,
        I,
        WR,
    ),
    m("capacity-disk", "iopsRead", &CAPACITY_DISK_IOPS, I, RD),
    m("capacity-disk", "iopsWrite", &CAPACITY_DISK_IOPS, I, WR),
    m(
        "capacity-disk",
        "latencyRead",
        &CAPACITY_DISK_LATENCY,
        US,
        RD,
    ),
    m(
        "capacity-disk",
        "latencyWrite",
        &CAPACITY_DISK_LATENCY,
        US,
        WR,
    ),
    m("capacity-disk", "ioCountRead", &CAPACITY_DISK_OPS, I, RD),
    m("capacity-disk", "ioCountWrite", &CAPACITY_DISK_OPS, I, WR),
    m(
        "capacity-disk",
        "deleteCongestion",
        &CAPACITY_DISK_DELETE_CONGESTION,
        I,
        NONE,
    ),
    // virtual-machine
    m("virtual-machine", "iopsRead", &VM_IOPS, I, RD),
    m("virtual-machine", "iopsWrite", &VM_IOPS, I, WR),
    m("virtual-machine", "throughputRead", &VM_BYTES, I, RD),
    m("virtual-machine", "throughputWrite", &VM_BYTES, I, WR),
    m("virtual-machine", "latencyRead", &VM_LATENCY, US, RD),
    m("virtual-machine", "latencyWrite", &VM_LATENCY, US, WR),
    m("virtual-machine", "readCount", &VM_OPS, I, RD),
    m("virtual-machine", "writeCount", &VM_OPS, I, WR),
    // vsan-host-net
    m("vsan-host-net", "rxThroughput", &HOST_NET_BYTES, I, RX),
    m("vsan-host-net", "txThroughput", &HOST_NET_BYTES, I, TX),
    m("vsan-host-net", "rxPackets", &HOST_NET_PACKETS, I, RX),
    m("vsan-host-net", "txPackets", &HOST_NET_PACKETS, I, TX),
    m("vsan-host-net", "rxPacketsLossRate", &HOST_NET_LOSS, PM, RX),
    m("vsan-host-net", "txPacketsLossRate", &HOST_NET_LOSS, PM, TX),
    // vsan-pnic-net
    m("vsan-pnic-net", "rxThroughput", &PNIC_BYTES, I, RX),
    m("vsan-pnic-net", "txThroughput", &PNIC_BYTES, I, TX),
    m("vsan-pnic-net", "rxPackets", &PNIC_PACKETS, I, RX),
    m("vsan-pnic-net", "txPackets", &PNIC_PACKETS, I, TX),
    m("vsan-pnic-net", "rxPacketsLossRate", &PNIC_LOSS, PM, RX),
    m("vsan-pnic-net", "txPacketsLossRate", &PNIC_LOSS, PM, TX),
];

fn index() -> &'static HashMap<(&'static str, &'static str), &'static Mapping> {
    static INDEX: OnceLock<HashMap<(&'static str, &'static str), &'static Mapping>> =
        OnceLock::new();
    INDEX.get_or_init(|| {
        MAPPINGS
            .iter()
            .map(|m| ((m.entity_type, m.label), m))
            .collect()
    })
}

/// The catalogue row for a metric label of an entity type, if the catalogue knows it.
pub fn lookup(entity_type: &str, label: &str) -> Option<&'static Mapping> {
    // A tuple of borrowed strs hashes like the stored tuple of 'static strs.
    index().get(&(entity_type, label)).copied()
}

/// The metric labels the catalogue knows for an entity type, in table order.
pub fn labels_of(entity_type: &str) -> impl Iterator<Item = &'static Mapping> + '_ {
    MAPPINGS
        .iter()
        .filter(move |m| m.entity_type == entity_type)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_row_is_consistent() {
        let mut seen = std::collections::HashSet::new();
        for row in MAPPINGS {
            assert!(
                seen.insert((row.entity_type, row.label)),
                "duplicate row {row:?}"
            );
            let et = entity_type(row.entity_type).expect("entity type listed");
            assert!(
                row.metric.name.starts_with(et.prefix),
                "{}",
                row.metric.name
            );
            let scope = et.scope.labels();
            assert_eq!(
                &row.metric.labels[..scope.len()],
                scope,
                "{}",
                row.metric.name
            );
            let extra: Vec<&str> = row.extra.iter().map(|(k, _)| *k).collect();
            assert_eq!(
                &row.metric.labels[scope.len()..],
                &extra[..],
                "{}",
                row.metric.name
            );
            let counter = row.metric.kind == MetricKind::Counter;
            assert_eq!(
                counter,
                row.metric.name.ends_with("_total"),
                "{}",
                row.metric.name
            );
            if let Some(unit) = row.metric.unit {
                assert!(row.metric.name.ends_with(unit), "{}", row.metric.name);
            }
            if row.conversion == Conversion::MicrosToSeconds {
                assert_eq!(row.metric.unit, Some("seconds"));
            }
        }
        for et in ENTITY_TYPES {
            assert!(labels_of(et.id).count() >= 5, "{} has too few rows", et.id);
        }
        for desc in METRICS {
            assert!(
                MAPPINGS.iter().any(|m| m.metric == desc),
                "{} unused",
                desc.name
            );
        }
    }

    #[test]
    fn conversions() {
        assert_eq!(Conversion::PercentToRatio.apply(87.0), 0.87);
        assert_eq!(Conversion::PermilleToRatio.apply(5.0), 0.005);
        assert_eq!(Conversion::MicrosToSeconds.apply(1_500_000.0), 1.5);
        assert_eq!(Conversion::Identity.apply(50137368.0), 50137368.0);
    }
}
