//! The static vSAN counter catalogue: (entity type, metric label) -> Prometheus family, type,
//! unit conversion and the op/direction label value.
//!
//! vSAN answers `VsanPerfQueryPerf` with bare numbers: `statsType` and `rollupType` are empty
//! in practice and the catalogue's `time_ms` unit is wrong for DOM and VM latencies (the values
//! are microseconds). The typing therefore lives in this hand-curated table.
//!
//! vSAN ESA clusters have no disk groups: instead of `disk-group`, `cache-disk` and
//! `capacity-disk` they serve `vsan-esa-disk-layer` (what the vSAN layer asked of a
//! storage-pool disk) and `vsan-esa-disk-scsifw` (what the device did), both keyed by the
//! disk's vSAN UUID (telegraf resolves both through CMMDS `DISK` entries, as it does OSA
//! disks; one published dump of an ESA cluster's supported types names them by disk too).
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
    /// Cluster labels plus `disk_uuid`: a vSAN ESA storage-pool disk. vCenter's host
    /// properties list no ESA disk (`config.vsanHostConfig.storageInfo.diskMapping` holds
    /// disk groups, which ESA has none of; storage-pool disks are only listed by the vSAN
    /// disk management API), so these series carry no host labels.
    PoolDisk,
}

impl Scope {
    /// The identity label names, in order.
    pub fn labels(self) -> &'static [&'static str] {
        match self {
            Scope::Cluster => CLUSTER_LABELS,
            Scope::Host => HOST_LABELS,
            Scope::Disk => DISK_LABELS,
            Scope::Vm => VM_LABELS,
            Scope::Pnic => PNIC_LABELS,
            Scope::PoolDisk => POOL_DISK_LABELS,
        }
    }
}

/// Which vSAN storage architecture serves an entity type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Architecture {
    /// Both.
    Any,
    /// The original storage architecture only (disk groups: cache and capacity tiers).
    Osa,
    /// The Express Storage Architecture only (storage pools).
    Esa,
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
    /// The clusters that serve it.
    pub architecture: Architecture,
}

impl EntityTypeInfo {
    /// Whether a cluster (`esa`: it runs the Express Storage Architecture) serves this type.
    ///
    /// ```
    /// use vsanobs_core::vsan::catalogue::entity_type;
    /// let dg = entity_type("disk-group").unwrap();
    /// assert!(dg.served_by(false) && !dg.served_by(true));
    /// let esa = entity_type("vsan-esa-disk-scsifw").unwrap();
    /// assert!(esa.served_by(true) && !esa.served_by(false));
    /// assert!(entity_type("host-domclient").unwrap().served_by(true));
    /// ```
    pub fn served_by(&self, esa: bool) -> bool {
        match self.architecture {
            Architecture::Any => true,
            Architecture::Osa => !esa,
            Architecture::Esa => esa,
        }
    }
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
        "vsan-esa-disk-layer",
        Scope::PoolDisk,
        "vsan_esa_disk_layer",
        "vSAN ESA: the vSAN layer's IO to one storage-pool disk.",
    ),
    et(
        "vsan-esa-disk-scsifw",
        Scope::PoolDisk,
        "vsan_esa_disk_device",
        "vSAN ESA: one storage-pool disk as its SCSI framework (device) sees it.",
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
    let architecture = match scope {
        Scope::PoolDisk => Architecture::Esa,
        Scope::Disk => Architecture::Osa,
        _ => Architecture::Any,
    };
    EntityTypeInfo {
        id,
        scope,
        prefix,
        description,
        architecture,
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

// The label names of each family: an entity scope's identity labels, then what tells the
// rows of the family apart.
const CLUSTER_LABELS: &[&str] = &["vcenter", "cluster_name", "cluster_uuid"];
const CLUSTER_LABELS_AND_OP: &[&str] = &["vcenter", "cluster_name", "cluster_uuid", "op"];
const HOST_LABELS: &[&str] = &[
    "vcenter",
    "cluster_name",
    "cluster_uuid",
    "host_name",
    "host_uuid",
];
const HOST_LABELS_AND_OP: &[&str] = &[
    "vcenter",
    "cluster_name",
    "cluster_uuid",
    "host_name",
    "host_uuid",
    "op",
];
const HOST_LABELS_AND_DIRECTION: &[&str] = &[
    "vcenter",
    "cluster_name",
    "cluster_uuid",
    "host_name",
    "host_uuid",
    "direction",
];
const DISK_LABELS: &[&str] = &[
    "vcenter",
    "cluster_name",
    "cluster_uuid",
    "host_name",
    "host_uuid",
    "disk_uuid",
];
const DISK_LABELS_AND_OP: &[&str] = &[
    "vcenter",
    "cluster_name",
    "cluster_uuid",
    "host_name",
    "host_uuid",
    "disk_uuid",
    "op",
];
const DISK_LABELS_AND_REASON: &[&str] = &[
    "vcenter",
    "cluster_name",
    "cluster_uuid",
    "host_name",
    "host_uuid",
    "disk_uuid",
    "reason",
];
const DISK_LABELS_AND_KIND: &[&str] = &[
    "vcenter",
    "cluster_name",
    "cluster_uuid",
    "host_name",
    "host_uuid",
    "disk_uuid",
    "kind",
];
const DISK_LABELS_AND_TYPE: &[&str] = &[
    "vcenter",
    "cluster_name",
    "cluster_uuid",
    "host_name",
    "host_uuid",
    "disk_uuid",
    "type",
];
const POOL_DISK_LABELS: &[&str] = &["vcenter", "cluster_name", "cluster_uuid", "disk_uuid"];
const POOL_DISK_LABELS_AND_OP: &[&str] =
    &["vcenter", "cluster_name", "cluster_uuid", "disk_uuid", "op"];
const VM_LABELS: &[&str] = &["vcenter", "cluster_name", "cluster_uuid", "vm_name"];
const VM_LABELS_AND_OP: &[&str] = &["vcenter", "cluster_name", "cluster_uuid", "vm_name", "op"];
const PNIC_LABELS: &[&str] = &[
    "vcenter",
    "cluster_name",
    "cluster_uuid",
    "host_name",
    "host_uuid",
    "vmnic",
];
const PNIC_LABELS_AND_DIRECTION: &[&str] = &[
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

// One family a line: `CONST = name, type, unit, label names, help;`.
families! {
    CLUSTER_DOMCLIENT_IOPS = "vsan_cluster_domclient_io_operations_per_second", Gauge, None, CLUSTER_LABELS_AND_OP, "IO operations per second issued by VMs in the cluster (DOM client), averaged over the sample interval.";
    CLUSTER_DOMCLIENT_BYTES = "vsan_cluster_domclient_io_bytes_per_second", Gauge, None, CLUSTER_LABELS_AND_OP, "Throughput of VM IO in the cluster (DOM client) in bytes per second.";
    CLUSTER_DOMCLIENT_LATENCY = "vsan_cluster_domclient_io_latency_seconds", Gauge, Some("seconds"), CLUSTER_LABELS_AND_OP, "Average latency of VM IO in the cluster (DOM client).";
    CLUSTER_DOMCLIENT_CONGESTION = "vsan_cluster_domclient_congestion", Gauge, None, CLUSTER_LABELS, "Congestion level (0-255) seen by the cluster's DOM clients.";
    CLUSTER_DOMCLIENT_OIO = "vsan_cluster_domclient_outstanding_io", Gauge, None, CLUSTER_LABELS, "Outstanding IO of the cluster's DOM clients.";
    CLUSTER_DOMCOMPMGR_IOPS = "vsan_cluster_domcompmgr_io_operations_per_second", Gauge, None, CLUSTER_LABELS_AND_OP, "Backend IO operations per second in the cluster (DOM component manager).";
    CLUSTER_DOMCOMPMGR_BYTES = "vsan_cluster_domcompmgr_io_bytes_per_second", Gauge, None, CLUSTER_LABELS_AND_OP, "Backend throughput in the cluster in bytes per second.";
    CLUSTER_DOMCOMPMGR_LATENCY = "vsan_cluster_domcompmgr_io_latency_seconds", Gauge, Some("seconds"), CLUSTER_LABELS_AND_OP, "Average backend IO latency in the cluster.";
    CLUSTER_DOMCOMPMGR_CONGESTION = "vsan_cluster_domcompmgr_congestion", Gauge, None, CLUSTER_LABELS, "Backend congestion level (0-255) in the cluster.";
    CLUSTER_DOMCOMPMGR_OIO = "vsan_cluster_domcompmgr_outstanding_io", Gauge, None, CLUSTER_LABELS, "Outstanding backend IO in the cluster.";
    HOST_DOMCLIENT_IOPS = "vsan_host_domclient_io_operations_per_second", Gauge, None, HOST_LABELS_AND_OP, "IO operations per second issued by VMs on the host (DOM client).";
    HOST_DOMCLIENT_BYTES = "vsan_host_domclient_io_bytes_per_second", Gauge, None, HOST_LABELS_AND_OP, "Throughput of VM IO on the host in bytes per second.";
    HOST_DOMCLIENT_LATENCY = "vsan_host_domclient_io_latency_seconds", Gauge, Some("seconds"), HOST_LABELS_AND_OP, "Average latency of VM IO on the host.";
    HOST_DOMCLIENT_LATENCY_STDDEV = "vsan_host_domclient_io_latency_stddev_seconds", Gauge, Some("seconds"), HOST_LABELS_AND_OP, "Standard deviation of VM IO latency on the host.";
    HOST_DOMCLIENT_LATENCY_MAX = "vsan_host_domclient_io_latency_max_seconds", Gauge, Some("seconds"), HOST_LABELS_AND_OP, "Maximum VM IO latency on the host within the sample interval.";
    HOST_DOMCLIENT_CONGESTION = "vsan_host_domclient_congestion", Gauge, None, HOST_LABELS, "Congestion level (0-255) seen by the host's DOM client.";
    HOST_DOMCLIENT_OIO = "vsan_host_domclient_outstanding_io", Gauge, None, HOST_LABELS, "Outstanding IO of the host's DOM client.";
    HOST_DOMCLIENT_OPS = "vsan_host_domclient_io_operations_total", Counter, None, HOST_LABELS_AND_OP, "IO operations completed by the host's DOM client (per-interval counts accumulated by the exporter).";
    HOST_DOMCLIENT_CACHE_HITS = "vsan_host_domclient_client_cache_hits_per_second", Gauge, None, HOST_LABELS, "Client cache hits per second on the host.";
    HOST_DOMCLIENT_CACHE_HIT_RATIO = "vsan_host_domclient_client_cache_hit_ratio", Gauge, Some("ratio"), HOST_LABELS, "Client cache hit ratio on the host (0-1).";
    HOST_DOMCOMPMGR_IOPS = "vsan_host_domcompmgr_io_operations_per_second", Gauge, None, HOST_LABELS_AND_OP, "Backend IO operations per second on the host (DOM component manager).";
    HOST_DOMCOMPMGR_BYTES = "vsan_host_domcompmgr_io_bytes_per_second", Gauge, None, HOST_LABELS_AND_OP, "Backend throughput on the host in bytes per second.";
    HOST_DOMCOMPMGR_LATENCY = "vsan_host_domcompmgr_io_latency_seconds", Gauge, Some("seconds"), HOST_LABELS_AND_OP, "Average backend IO latency on the host.";
    HOST_DOMCOMPMGR_CONGESTION = "vsan_host_domcompmgr_congestion", Gauge, None, HOST_LABELS, "Backend congestion level (0-255) on the host.";
    HOST_DOMCOMPMGR_OIO = "vsan_host_domcompmgr_outstanding_io", Gauge, None, HOST_LABELS, "Outstanding backend IO on the host.";
    HOST_DOMCOMPMGR_OPS = "vsan_host_domcompmgr_io_operations_total", Counter, None, HOST_LABELS_AND_OP, "Backend IO operations completed on the host (accumulated per-interval counts).";
    DISK_GROUP_IOPS = "vsan_disk_group_io_operations_per_second", Gauge, None, DISK_LABELS_AND_OP, "IO operations per second on the disk group.";
    DISK_GROUP_BYTES = "vsan_disk_group_io_bytes_per_second", Gauge, None, DISK_LABELS_AND_OP, "Throughput of the disk group in bytes per second.";
    DISK_GROUP_LATENCY = "vsan_disk_group_io_latency_seconds", Gauge, Some("seconds"), DISK_LABELS_AND_OP, "Average IO latency of the disk group.";
    DISK_GROUP_OPS = "vsan_disk_group_io_operations_total", Counter, None, DISK_LABELS_AND_OP, "IO operations completed by the disk group (accumulated per-interval counts).";
    DISK_GROUP_RC_HIT_RATIO = "vsan_disk_group_read_cache_hit_ratio", Gauge, Some("ratio"), DISK_LABELS, "Read cache hit ratio of the disk group (0-1).";
    DISK_GROUP_WB_FREE_RATIO = "vsan_disk_group_write_buffer_free_ratio", Gauge, Some("ratio"), DISK_LABELS, "Free fraction of the disk group's write buffer (0-1).";
    DISK_GROUP_EVICTIONS = "vsan_disk_group_cache_evictions_per_second", Gauge, None, DISK_LABELS_AND_REASON, "Cache evictions per second in the disk group, by reason.";
    DISK_GROUP_CAPACITY = "vsan_disk_group_capacity_bytes", Gauge, Some("bytes"), DISK_LABELS, "Capacity of the disk group.";
    DISK_GROUP_CAPACITY_USED = "vsan_disk_group_capacity_used_bytes", Gauge, Some("bytes"), DISK_LABELS, "Used capacity of the disk group.";
    DISK_GROUP_CAPACITY_RESERVED = "vsan_disk_group_capacity_reserved_bytes", Gauge, Some("bytes"), DISK_LABELS, "Reserved capacity of the disk group.";
    DISK_GROUP_DESTAGE = "vsan_disk_group_destage_bytes_per_second", Gauge, None, DISK_LABELS_AND_KIND, "Bytes per second destaged from the write buffer to the capacity tier.";
    DISK_GROUP_CONGESTION = "vsan_disk_group_congestion", Gauge, None, DISK_LABELS_AND_TYPE, "Congestion level (0-255) of the disk group, by type.";
    DISK_GROUP_OUTSTANDING_WRITES = "vsan_disk_group_outstanding_writes", Gauge, None, DISK_LABELS_AND_OP, "Outstanding writes in the disk group.";
    CACHE_DISK_DEV_IOPS = "vsan_cache_disk_device_io_operations_per_second", Gauge, None, DISK_LABELS_AND_OP, "Device IO operations per second on the cache disk.";
    CACHE_DISK_DEV_BYTES = "vsan_cache_disk_device_io_bytes_per_second", Gauge, None, DISK_LABELS_AND_OP, "Device throughput of the cache disk in bytes per second.";
    CACHE_DISK_DEV_LATENCY = "vsan_cache_disk_device_io_latency_seconds", Gauge, Some("seconds"), DISK_LABELS_AND_OP, "Device IO latency of the cache disk.";
    CACHE_DISK_GUEST_LATENCY = "vsan_cache_disk_guest_latency_seconds", Gauge, Some("seconds"), DISK_LABELS, "Guest-observed latency (GAVG) of the cache disk.";
    CACHE_DISK_DEVICE_LATENCY = "vsan_cache_disk_device_latency_seconds", Gauge, Some("seconds"), DISK_LABELS, "Device latency (DAVG) of the cache disk.";
    CACHE_DISK_DEV_OPS = "vsan_cache_disk_device_io_operations_total", Counter, None, DISK_LABELS_AND_OP, "Device IO operations completed by the cache disk (accumulated per-interval counts).";
    CAPACITY_DISK_DEV_IOPS = "vsan_capacity_disk_device_io_operations_per_second", Gauge, None, DISK_LABELS_AND_OP, "Device IO operations per second on the capacity disk.";
    CAPACITY_DISK_DEV_BYTES = "vsan_capacity_disk_device_io_bytes_per_second", Gauge, None, DISK_LABELS_AND_OP, "Device throughput of the capacity disk in bytes per second.";
    CAPACITY_DISK_DEV_LATENCY = "vsan_capacity_disk_device_io_latency_seconds", Gauge, Some("seconds"), DISK_LABELS_AND_OP, "Device IO latency of the capacity disk.";
    CAPACITY_DISK_GUEST_LATENCY = "vsan_capacity_disk_guest_latency_seconds", Gauge, Some("seconds"), DISK_LABELS, "Guest-observed latency (GAVG) of the capacity disk.";
    CAPACITY_DISK_DEVICE_LATENCY = "vsan_capacity_disk_device_latency_seconds", Gauge, Some("seconds"), DISK_LABELS, "Device latency (DAVG) of the capacity disk.";
    CAPACITY_DISK_DEV_OPS = "vsan_capacity_disk_device_io_operations_total", Counter, None, DISK_LABELS_AND_OP, "Device IO operations completed by the capacity disk (accumulated per-interval counts).";
    CAPACITY_DISK_IOPS = "vsan_capacity_disk_io_operations_per_second", Gauge, None, DISK_LABELS_AND_OP, "vSAN-layer IO operations per second on the capacity disk.";
    CAPACITY_DISK_LATENCY = "vsan_capacity_disk_io_latency_seconds", Gauge, Some("seconds"), DISK_LABELS_AND_OP, "vSAN-layer IO latency of the capacity disk.";
    CAPACITY_DISK_OPS = "vsan_capacity_disk_io_operations_total", Counter, None, DISK_LABELS_AND_OP, "vSAN-layer IO operations completed by the capacity disk (accumulated per-interval counts).";
    CAPACITY_DISK_DELETE_CONGESTION = "vsan_capacity_disk_delete_congestion", Gauge, None, DISK_LABELS, "Delete congestion level of the capacity disk.";
    ESA_LAYER_IOPS = "vsan_esa_disk_layer_io_operations_per_second", Gauge, None, POOL_DISK_LABELS_AND_OP, "IO operations per second the vSAN layer issued to the ESA disk.";
    ESA_LAYER_BYTES = "vsan_esa_disk_layer_io_bytes_per_second", Gauge, None, POOL_DISK_LABELS_AND_OP, "Throughput the vSAN layer moved to and from the ESA disk in bytes per second.";
    ESA_LAYER_LATENCY = "vsan_esa_disk_layer_io_latency_seconds", Gauge, Some("seconds"), POOL_DISK_LABELS_AND_OP, "Average vSAN-layer IO latency of the ESA disk.";
    ESA_DEVICE_IOPS = "vsan_esa_disk_device_io_operations_per_second", Gauge, None, POOL_DISK_LABELS_AND_OP, "Device IO operations per second on the ESA disk.";
    ESA_DEVICE_BYTES = "vsan_esa_disk_device_io_bytes_per_second", Gauge, None, POOL_DISK_LABELS_AND_OP, "Device throughput of the ESA disk in bytes per second.";
    ESA_DEVICE_LATENCY = "vsan_esa_disk_device_io_latency_seconds", Gauge, Some("seconds"), POOL_DISK_LABELS_AND_OP, "Device IO latency of the ESA disk.";
    ESA_DEVICE_GUEST_LATENCY = "vsan_esa_disk_device_guest_latency_seconds", Gauge, Some("seconds"), POOL_DISK_LABELS, "Guest-observed latency (GAVG) of the ESA disk.";
    ESA_DEVICE_DEVICE_LATENCY = "vsan_esa_disk_device_latency_seconds", Gauge, Some("seconds"), POOL_DISK_LABELS, "Device latency (DAVG) of the ESA disk.";
    VM_IOPS = "vsan_vm_io_operations_per_second", Gauge, None, VM_LABELS_AND_OP, "IO operations per second of the VM on vSAN.";
    VM_BYTES = "vsan_vm_io_bytes_per_second", Gauge, None, VM_LABELS_AND_OP, "Throughput of the VM on vSAN in bytes per second.";
    VM_LATENCY = "vsan_vm_io_latency_seconds", Gauge, Some("seconds"), VM_LABELS_AND_OP, "Average IO latency of the VM on vSAN.";
    VM_OPS = "vsan_vm_io_operations_total", Counter, None, VM_LABELS_AND_OP, "IO operations completed by the VM (accumulated per-interval counts).";
    HOST_NET_BYTES = "vsan_host_net_bytes_per_second", Gauge, None, HOST_LABELS_AND_DIRECTION, "vSAN network throughput of the host in bytes per second.";
    HOST_NET_PACKETS = "vsan_host_net_packets_per_second", Gauge, None, HOST_LABELS_AND_DIRECTION, "vSAN network packets per second on the host.";
    HOST_NET_LOSS = "vsan_host_net_packet_loss_ratio", Gauge, Some("ratio"), HOST_LABELS_AND_DIRECTION, "vSAN network packet loss ratio on the host (0-1).";
    PNIC_BYTES = "vsan_pnic_bytes_per_second", Gauge, None, PNIC_LABELS_AND_DIRECTION, "Throughput of the physical NIC in bytes per second.";
    PNIC_PACKETS = "vsan_pnic_packets_per_second", Gauge, None, PNIC_LABELS_AND_DIRECTION, "Packets per second on the physical NIC.";
    PNIC_LOSS = "vsan_pnic_packet_loss_ratio", Gauge, Some("ratio"), PNIC_LABELS_AND_DIRECTION, "Packet loss ratio on the physical NIC (0-1).";
}

/// A catalogue row (see [`Mapping`]'s fields for what each argument is).
const fn row(
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

// The label pairs that tell a row apart inside its family.
const OP_READ: &[(&str, &str)] = &[("op", "read")];
const OP_WRITE: &[(&str, &str)] = &[("op", "write")];
const OP_UNMAP: &[(&str, &str)] = &[("op", "unmap")];
const OP_RECOVERY_WRITE: &[(&str, &str)] = &[("op", "recovery_write")];
const OP_RESYNC_READ: &[(&str, &str)] = &[("op", "resync_read")];
const DIRECTION_RECEIVE: &[(&str, &str)] = &[("direction", "receive")];
const DIRECTION_TRANSMIT: &[(&str, &str)] = &[("direction", "transmit")];
const NO_EXTRA_LABELS: &[(&str, &str)] = &[];

/// Every catalogue row: `row(entity type, API metric label, family, conversion of the raw
/// value, label pairs inside the family)`. One row per line, so the table reads as a table.
#[rustfmt::skip]
pub const MAPPINGS: &[Mapping] = &[
    // cluster-domclient
    row("cluster-domclient", "iopsRead", &CLUSTER_DOMCLIENT_IOPS, Conversion::Identity, OP_READ),
    row("cluster-domclient", "iopsWrite", &CLUSTER_DOMCLIENT_IOPS, Conversion::Identity, OP_WRITE),
    row("cluster-domclient", "iopsUnmap", &CLUSTER_DOMCLIENT_IOPS, Conversion::Identity, OP_UNMAP),
    row("cluster-domclient", "throughputRead", &CLUSTER_DOMCLIENT_BYTES, Conversion::Identity, OP_READ),
    row("cluster-domclient", "throughputWrite", &CLUSTER_DOMCLIENT_BYTES, Conversion::Identity, OP_WRITE),
    row("cluster-domclient", "throughputUnmap", &CLUSTER_DOMCLIENT_BYTES, Conversion::Identity, OP_UNMAP),
    row("cluster-domclient", "latencyAvgRead", &CLUSTER_DOMCLIENT_LATENCY, Conversion::MicrosToSeconds, OP_READ),
    row("cluster-domclient", "latencyAvgWrite", &CLUSTER_DOMCLIENT_LATENCY, Conversion::MicrosToSeconds, OP_WRITE),
    row("cluster-domclient", "latencyAvgUnmap", &CLUSTER_DOMCLIENT_LATENCY, Conversion::MicrosToSeconds, OP_UNMAP),
    row("cluster-domclient", "congestion", &CLUSTER_DOMCLIENT_CONGESTION, Conversion::Identity, NO_EXTRA_LABELS),
    row("cluster-domclient", "oio", &CLUSTER_DOMCLIENT_OIO, Conversion::Identity, NO_EXTRA_LABELS),
    // cluster-domcompmgr
    row("cluster-domcompmgr", "iopsRead", &CLUSTER_DOMCOMPMGR_IOPS, Conversion::Identity, OP_READ),
    row("cluster-domcompmgr", "iopsWrite", &CLUSTER_DOMCOMPMGR_IOPS, Conversion::Identity, OP_WRITE),
    row("cluster-domcompmgr", "iopsRecWrite", &CLUSTER_DOMCOMPMGR_IOPS, Conversion::Identity, OP_RECOVERY_WRITE),
    row("cluster-domcompmgr", "iopsResyncRead", &CLUSTER_DOMCOMPMGR_IOPS, Conversion::Identity, OP_RESYNC_READ),
    row("cluster-domcompmgr", "throughputRead", &CLUSTER_DOMCOMPMGR_BYTES, Conversion::Identity, OP_READ),
    row("cluster-domcompmgr", "throughputWrite", &CLUSTER_DOMCOMPMGR_BYTES, Conversion::Identity, OP_WRITE),
    row("cluster-domcompmgr", "throughputRecWrite", &CLUSTER_DOMCOMPMGR_BYTES, Conversion::Identity, OP_RECOVERY_WRITE),
    row("cluster-domcompmgr", "tputResyncRead", &CLUSTER_DOMCOMPMGR_BYTES, Conversion::Identity, OP_RESYNC_READ),
    row("cluster-domcompmgr", "latencyAvgRead", &CLUSTER_DOMCOMPMGR_LATENCY, Conversion::MicrosToSeconds, OP_READ),
    row("cluster-domcompmgr", "latencyAvgWrite", &CLUSTER_DOMCOMPMGR_LATENCY, Conversion::MicrosToSeconds, OP_WRITE),
    row("cluster-domcompmgr", "latencyAvgRecWrite", &CLUSTER_DOMCOMPMGR_LATENCY, Conversion::MicrosToSeconds, OP_RECOVERY_WRITE),
    row("cluster-domcompmgr", "latAvgResyncRead", &CLUSTER_DOMCOMPMGR_LATENCY, Conversion::MicrosToSeconds, OP_RESYNC_READ),
    row("cluster-domcompmgr", "congestion", &CLUSTER_DOMCOMPMGR_CONGESTION, Conversion::Identity, NO_EXTRA_LABELS),
    row("cluster-domcompmgr", "oio", &CLUSTER_DOMCOMPMGR_OIO, Conversion::Identity, NO_EXTRA_LABELS),
    // host-domclient
    row("host-domclient", "iopsRead", &HOST_DOMCLIENT_IOPS, Conversion::Identity, OP_READ),
    row("host-domclient", "iopsWrite", &HOST_DOMCLIENT_IOPS, Conversion::Identity, OP_WRITE),
    row("host-domclient", "iopsUnmap", &HOST_DOMCLIENT_IOPS, Conversion::Identity, OP_UNMAP),
    row("host-domclient", "throughputRead", &HOST_DOMCLIENT_BYTES, Conversion::Identity, OP_READ),
    row("host-domclient", "throughputWrite", &HOST_DOMCLIENT_BYTES, Conversion::Identity, OP_WRITE),
    row("host-domclient", "throughputUnmap", &HOST_DOMCLIENT_BYTES, Conversion::Identity, OP_UNMAP),
    row("host-domclient", "latencyAvgRead", &HOST_DOMCLIENT_LATENCY, Conversion::MicrosToSeconds, OP_READ),
    row("host-domclient", "latencyAvgWrite", &HOST_DOMCLIENT_LATENCY, Conversion::MicrosToSeconds, OP_WRITE),
    row("host-domclient", "latencyAvgUnmap", &HOST_DOMCLIENT_LATENCY, Conversion::MicrosToSeconds, OP_UNMAP),
    row("host-domclient", "latencyStddevRead", &HOST_DOMCLIENT_LATENCY_STDDEV, Conversion::MicrosToSeconds, OP_READ),
    row("host-domclient", "latencyStddevWrite", &HOST_DOMCLIENT_LATENCY_STDDEV, Conversion::MicrosToSeconds, OP_WRITE),
    row("host-domclient", "latencyMaxRead", &HOST_DOMCLIENT_LATENCY_MAX, Conversion::MicrosToSeconds, OP_READ),
    row("host-domclient", "latencyMaxWrite", &HOST_DOMCLIENT_LATENCY_MAX, Conversion::MicrosToSeconds, OP_WRITE),
    row("host-domclient", "congestion", &HOST_DOMCLIENT_CONGESTION, Conversion::Identity, NO_EXTRA_LABELS),
    row("host-domclient", "oio", &HOST_DOMCLIENT_OIO, Conversion::Identity, NO_EXTRA_LABELS),
    row("host-domclient", "readCount", &HOST_DOMCLIENT_OPS, Conversion::Identity, OP_READ),
    row("host-domclient", "writeCount", &HOST_DOMCLIENT_OPS, Conversion::Identity, OP_WRITE),
    row("host-domclient", "unmapCount", &HOST_DOMCLIENT_OPS, Conversion::Identity, OP_UNMAP),
    row("host-domclient", "clientCacheHits", &HOST_DOMCLIENT_CACHE_HITS, Conversion::Identity, NO_EXTRA_LABELS),
    row("host-domclient", "clientCacheHitRate", &HOST_DOMCLIENT_CACHE_HIT_RATIO, Conversion::PercentToRatio, NO_EXTRA_LABELS),
    // host-domcompmgr
    row("host-domcompmgr", "iopsRead", &HOST_DOMCOMPMGR_IOPS, Conversion::Identity, OP_READ),
    row("host-domcompmgr", "iopsWrite", &HOST_DOMCOMPMGR_IOPS, Conversion::Identity, OP_WRITE),
    row("host-domcompmgr", "iopsUnmap", &HOST_DOMCOMPMGR_IOPS, Conversion::Identity, OP_UNMAP),
    row("host-domcompmgr", "iopsRecWrite", &HOST_DOMCOMPMGR_IOPS, Conversion::Identity, OP_RECOVERY_WRITE),
    row("host-domcompmgr", "iopsResyncRead", &HOST_DOMCOMPMGR_IOPS, Conversion::Identity, OP_RESYNC_READ),
    row("host-domcompmgr", "throughputRead", &HOST_DOMCOMPMGR_BYTES, Conversion::Identity, OP_READ),
    row("host-domcompmgr", "throughputWrite", &HOST_DOMCOMPMGR_BYTES, Conversion::Identity, OP_WRITE),
    row("host-domcompmgr", "throughputUnmap", &HOST_DOMCOMPMGR_BYTES, Conversion::Identity, OP_UNMAP),
    row("host-domcompmgr", "throughputRecWrite", &HOST_DOMCOMPMGR_BYTES, Conversion::Identity, OP_RECOVERY_WRITE),
    row("host-domcompmgr", "tputResyncRead", &HOST_DOMCOMPMGR_BYTES, Conversion::Identity, OP_RESYNC_READ),
    row("host-domcompmgr", "latencyAvgRead", &HOST_DOMCOMPMGR_LATENCY, Conversion::MicrosToSeconds, OP_READ),
    row("host-domcompmgr", "latencyAvgWrite", &HOST_DOMCOMPMGR_LATENCY, Conversion::MicrosToSeconds, OP_WRITE),
    row("host-domcompmgr", "latencyAvgUnmap", &HOST_DOMCOMPMGR_LATENCY, Conversion::MicrosToSeconds, OP_UNMAP),
    row("host-domcompmgr", "latencyAvgRecWrite", &HOST_DOMCOMPMGR_LATENCY, Conversion::MicrosToSeconds, OP_RECOVERY_WRITE),
    row("host-domcompmgr", "latAvgResyncRead", &HOST_DOMCOMPMGR_LATENCY, Conversion::MicrosToSeconds, OP_RESYNC_READ),
    row("host-domcompmgr", "congestion", &HOST_DOMCOMPMGR_CONGESTION, Conversion::Identity, NO_EXTRA_LABELS),
    row("host-domcompmgr", "oio", &HOST_DOMCOMPMGR_OIO, Conversion::Identity, NO_EXTRA_LABELS),
    row("host-domcompmgr", "readCount", &HOST_DOMCOMPMGR_OPS, Conversion::Identity, OP_READ),
    row("host-domcompmgr", "writeCount", &HOST_DOMCOMPMGR_OPS, Conversion::Identity, OP_WRITE),
    row("host-domcompmgr", "recWriteCount", &HOST_DOMCOMPMGR_OPS, Conversion::Identity, OP_RECOVERY_WRITE),
    // disk-group
    row("disk-group", "iopsRead", &DISK_GROUP_IOPS, Conversion::Identity, OP_READ),
    row("disk-group", "iopsWrite", &DISK_GROUP_IOPS, Conversion::Identity, OP_WRITE),
    row("disk-group", "throughputRead", &DISK_GROUP_BYTES, Conversion::Identity, OP_READ),
    row("disk-group", "throughputWrite", &DISK_GROUP_BYTES, Conversion::Identity, OP_WRITE),
    row("disk-group", "latencyAvgRead", &DISK_GROUP_LATENCY, Conversion::MicrosToSeconds, OP_READ),
    row("disk-group", "latencyAvgWrite", &DISK_GROUP_LATENCY, Conversion::MicrosToSeconds, OP_WRITE),
    row("disk-group", "readCount", &DISK_GROUP_OPS, Conversion::Identity, OP_READ),
    row("disk-group", "writeCount", &DISK_GROUP_OPS, Conversion::Identity, OP_WRITE),
    row("disk-group", "rcHitRate", &DISK_GROUP_RC_HIT_RATIO, Conversion::PercentToRatio, NO_EXTRA_LABELS),
    row("disk-group", "wbFreePct", &DISK_GROUP_WB_FREE_RATIO, Conversion::PercentToRatio, NO_EXTRA_LABELS),
    row("disk-group", "warEvictions", &DISK_GROUP_EVICTIONS, Conversion::Identity, &[("reason", "overwrite")]),
    row("disk-group", "quotaEvictions", &DISK_GROUP_EVICTIONS, Conversion::Identity, &[("reason", "quota")]),
    row("disk-group", "capacity", &DISK_GROUP_CAPACITY, Conversion::Identity, NO_EXTRA_LABELS),
    row("disk-group", "capacityUsed", &DISK_GROUP_CAPACITY_USED, Conversion::Identity, NO_EXTRA_LABELS),
    row("disk-group", "capacityReserved", &DISK_GROUP_CAPACITY_RESERVED, Conversion::Identity, NO_EXTRA_LABELS),
    row("disk-group", "ssdBytesDrained", &DISK_GROUP_DESTAGE, Conversion::Identity, &[("kind", "data")]),
    row("disk-group", "zeroBytesDrained", &DISK_GROUP_DESTAGE, Conversion::Identity, &[("kind", "zero")]),
    row("disk-group", "memCongestion", &DISK_GROUP_CONGESTION, Conversion::Identity, &[("type", "mem")]),
    row("disk-group", "slabCongestion", &DISK_GROUP_CONGESTION, Conversion::Identity, &[("type", "slab")]),
    row("disk-group", "ssdCongestion", &DISK_GROUP_CONGESTION, Conversion::Identity, &[("type", "ssd")]),
    row("disk-group", "iopsCongestion", &DISK_GROUP_CONGESTION, Conversion::Identity, &[("type", "iops")]),
    row("disk-group", "logCongestion", &DISK_GROUP_CONGESTION, Conversion::Identity, &[("type", "log")]),
    row("disk-group", "compCongestion", &DISK_GROUP_CONGESTION, Conversion::Identity, &[("type", "comp")]),
    row("disk-group", "oioWrite", &DISK_GROUP_OUTSTANDING_WRITES, Conversion::Identity, OP_WRITE),
    row("disk-group", "oioRecWrite", &DISK_GROUP_OUTSTANDING_WRITES, Conversion::Identity, OP_RECOVERY_WRITE),
    // cache-disk
    row("cache-disk", "iopsDevRead", &CACHE_DISK_DEV_IOPS, Conversion::Identity, OP_READ),
    row("cache-disk", "iopsDevWrite", &CACHE_DISK_DEV_IOPS, Conversion::Identity, OP_WRITE),
    row("cache-disk", "throughputDevRead", &CACHE_DISK_DEV_BYTES, Conversion::Identity, OP_READ),
    row("cache-disk", "throughputDevWrite", &CACHE_DISK_DEV_BYTES, Conversion::Identity, OP_WRITE),
    row("cache-disk", "latencyDevRead", &CACHE_DISK_DEV_LATENCY, Conversion::MicrosToSeconds, OP_READ),
    row("cache-disk", "latencyDevWrite", &CACHE_DISK_DEV_LATENCY, Conversion::MicrosToSeconds, OP_WRITE),
    row("cache-disk", "latencyDevGAvg", &CACHE_DISK_GUEST_LATENCY, Conversion::MicrosToSeconds, NO_EXTRA_LABELS),
    row("cache-disk", "latencyDevDAvg", &CACHE_DISK_DEVICE_LATENCY, Conversion::MicrosToSeconds, NO_EXTRA_LABELS),
    row("cache-disk", "ioCountDevRead", &CACHE_DISK_DEV_OPS, Conversion::Identity, OP_READ),
    row("cache-disk", "ioCountDevWrite", &CACHE_DISK_DEV_OPS, Conversion::Identity, OP_WRITE),
    // capacity-disk
    row("capacity-disk", "iopsDevRead", &CAPACITY_DISK_DEV_IOPS, Conversion::Identity, OP_READ),
    row("capacity-disk", "iopsDevWrite", &CAPACITY_DISK_DEV_IOPS, Conversion::Identity, OP_WRITE),
    row("capacity-disk", "throughputDevRead", &CAPACITY_DISK_DEV_BYTES, Conversion::Identity, OP_READ),
    row("capacity-disk", "throughputDevWrite", &CAPACITY_DISK_DEV_BYTES, Conversion::Identity, OP_WRITE),
    row("capacity-disk", "latencyDevRead", &CAPACITY_DISK_DEV_LATENCY, Conversion::MicrosToSeconds, OP_READ),
    row("capacity-disk", "latencyDevWrite", &CAPACITY_DISK_DEV_LATENCY, Conversion::MicrosToSeconds, OP_WRITE),
    row("capacity-disk", "latencyDevGAvg", &CAPACITY_DISK_GUEST_LATENCY, Conversion::MicrosToSeconds, NO_EXTRA_LABELS),
    row("capacity-disk", "latencyDevDAvg", &CAPACITY_DISK_DEVICE_LATENCY, Conversion::MicrosToSeconds, NO_EXTRA_LABELS),
    row("capacity-disk", "ioCountDevRead", &CAPACITY_DISK_DEV_OPS, Conversion::Identity, OP_READ),
    row("capacity-disk", "ioCountDevWrite", &CAPACITY_DISK_DEV_OPS, Conversion::Identity, OP_WRITE),
    row("capacity-disk", "iopsRead", &CAPACITY_DISK_IOPS, Conversion::Identity, OP_READ),
    row("capacity-disk", "iopsWrite", &CAPACITY_DISK_IOPS, Conversion::Identity, OP_WRITE),
    row("capacity-disk", "latencyRead", &CAPACITY_DISK_LATENCY, Conversion::MicrosToSeconds, OP_READ),
    row("capacity-disk", "latencyWrite", &CAPACITY_DISK_LATENCY, Conversion::MicrosToSeconds, OP_WRITE),
    row("capacity-disk", "ioCountRead", &CAPACITY_DISK_OPS, Conversion::Identity, OP_READ),
    row("capacity-disk", "ioCountWrite", &CAPACITY_DISK_OPS, Conversion::Identity, OP_WRITE),
    row("capacity-disk", "deleteCongestion", &CAPACITY_DISK_DELETE_CONGESTION, Conversion::Identity, NO_EXTRA_LABELS),
    // vsan-esa-disk-layer (labels as the hotspot API lists them for this type)
    row("vsan-esa-disk-layer", "iopsReadCapacity", &ESA_LAYER_IOPS, Conversion::Identity, OP_READ),
    row("vsan-esa-disk-layer", "iopsWriteCapacity", &ESA_LAYER_IOPS, Conversion::Identity, OP_WRITE),
    row("vsan-esa-disk-layer", "tputReadCapacity", &ESA_LAYER_BYTES, Conversion::Identity, OP_READ),
    row("vsan-esa-disk-layer", "tputWriteCapacity", &ESA_LAYER_BYTES, Conversion::Identity, OP_WRITE),
    row("vsan-esa-disk-layer", "avgLatReadCapacity", &ESA_LAYER_LATENCY, Conversion::MicrosToSeconds, OP_READ),
    row("vsan-esa-disk-layer", "avgLatWriteCapacity", &ESA_LAYER_LATENCY, Conversion::MicrosToSeconds, OP_WRITE),
    // vsan-esa-disk-scsifw (the cache-disk device labels)
    row("vsan-esa-disk-scsifw", "iopsDevRead", &ESA_DEVICE_IOPS, Conversion::Identity, OP_READ),
    row("vsan-esa-disk-scsifw", "iopsDevWrite", &ESA_DEVICE_IOPS, Conversion::Identity, OP_WRITE),
    row("vsan-esa-disk-scsifw", "throughputDevRead", &ESA_DEVICE_BYTES, Conversion::Identity, OP_READ),
    row("vsan-esa-disk-scsifw", "throughputDevWrite", &ESA_DEVICE_BYTES, Conversion::Identity, OP_WRITE),
    row("vsan-esa-disk-scsifw", "latencyDevRead", &ESA_DEVICE_LATENCY, Conversion::MicrosToSeconds, OP_READ),
    row("vsan-esa-disk-scsifw", "latencyDevWrite", &ESA_DEVICE_LATENCY, Conversion::MicrosToSeconds, OP_WRITE),
    row("vsan-esa-disk-scsifw", "latencyDevGAvg", &ESA_DEVICE_GUEST_LATENCY, Conversion::MicrosToSeconds, NO_EXTRA_LABELS),
    row("vsan-esa-disk-scsifw", "latencyDevDAvg", &ESA_DEVICE_DEVICE_LATENCY, Conversion::MicrosToSeconds, NO_EXTRA_LABELS),
    // virtual-machine
    row("virtual-machine", "iopsRead", &VM_IOPS, Conversion::Identity, OP_READ),
    row("virtual-machine", "iopsWrite", &VM_IOPS, Conversion::Identity, OP_WRITE),
    row("virtual-machine", "throughputRead", &VM_BYTES, Conversion::Identity, OP_READ),
    row("virtual-machine", "throughputWrite", &VM_BYTES, Conversion::Identity, OP_WRITE),
    row("virtual-machine", "latencyRead", &VM_LATENCY, Conversion::MicrosToSeconds, OP_READ),
    row("virtual-machine", "latencyWrite", &VM_LATENCY, Conversion::MicrosToSeconds, OP_WRITE),
    row("virtual-machine", "readCount", &VM_OPS, Conversion::Identity, OP_READ),
    row("virtual-machine", "writeCount", &VM_OPS, Conversion::Identity, OP_WRITE),
    // vsan-host-net
    row("vsan-host-net", "rxThroughput", &HOST_NET_BYTES, Conversion::Identity, DIRECTION_RECEIVE),
    row("vsan-host-net", "txThroughput", &HOST_NET_BYTES, Conversion::Identity, DIRECTION_TRANSMIT),
    row("vsan-host-net", "rxPackets", &HOST_NET_PACKETS, Conversion::Identity, DIRECTION_RECEIVE),
    row("vsan-host-net", "txPackets", &HOST_NET_PACKETS, Conversion::Identity, DIRECTION_TRANSMIT),
    row("vsan-host-net", "rxPacketsLossRate", &HOST_NET_LOSS, Conversion::PermilleToRatio, DIRECTION_RECEIVE),
    row("vsan-host-net", "txPacketsLossRate", &HOST_NET_LOSS, Conversion::PermilleToRatio, DIRECTION_TRANSMIT),
    // vsan-pnic-net
    row("vsan-pnic-net", "rxThroughput", &PNIC_BYTES, Conversion::Identity, DIRECTION_RECEIVE),
    row("vsan-pnic-net", "txThroughput", &PNIC_BYTES, Conversion::Identity, DIRECTION_TRANSMIT),
    row("vsan-pnic-net", "rxPackets", &PNIC_PACKETS, Conversion::Identity, DIRECTION_RECEIVE),
    row("vsan-pnic-net", "txPackets", &PNIC_PACKETS, Conversion::Identity, DIRECTION_TRANSMIT),
    row("vsan-pnic-net", "rxPacketsLossRate", &PNIC_LOSS, Conversion::PermilleToRatio, DIRECTION_RECEIVE),
    row("vsan-pnic-net", "txPacketsLossRate", &PNIC_LOSS, Conversion::PermilleToRatio, DIRECTION_TRANSMIT),
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
