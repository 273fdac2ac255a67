//! The vSAN Grafana dashboard ([`dashboard`]).

use vsanobs_core::artifacts::{Dashboard, Legend, Panel, PanelKind, Variable};
use vsanobs_core::vsan::catalogue as cat;

use super::{name, names};
use crate::engine::self_metrics as sm;

/// Cluster families, filtered by the vCenter and cluster variables.
const C: &str = r#"vcenter=~"$vcenter",cluster_name=~"$cluster""#;
/// Host, disk and NIC families, filtered by the host variable too.
const H: &str = r#"vcenter=~"$vcenter",cluster_name=~"$cluster",host_name=~"$host""#;
/// VM families, filtered by the VM variable too.
const V: &str = r#"vcenter=~"$vcenter",cluster_name=~"$cluster",vm_name=~"$vm""#;
/// Per-vCenter families.
const VC: &str = r#"vcenter=~"$vcenter""#;

/// One number per cluster (or per `by`) from a stateset: 0 green, 1 yellow, 2 red,
/// 3 unknown.
fn status_code(metric: &str, extra: &str, by: &str) -> String {
    let arms: Vec<String> = ["green", "yellow", "red", "unknown"]
        .into_iter()
        .enumerate()
        .map(|(code, status)| format!("({metric}{{status=\"{status}\",{extra}}} == 1) * {code}"))
        .collect();
    format!("max by ({by}) (\n  {}\n)", arms.join("\n  or\n  "))
}

/// Shows the codes of [`status_code`] as the status names, in their colours.
fn status_texts(p: Panel) -> Panel {
    p.value_text(0, "green", "green")
        .value_text(1, "yellow", "yellow")
        .value_text(2, "red", "red")
        .value_text(3, "unknown", "blue")
}

fn ts(title: &str, width: u32) -> Panel {
    Panel::new(PanelKind::TimeSeries, title, width, 8)
}

/// The vSAN dashboard (`docs/dashboards/vsan.json`): a cluster overview (health, capacity
/// and its trend, IOPS, throughput, latency, congestion, outstanding IO, resync), host,
/// disk and VM drill-downs and the exporter's own health; variables `datasource`,
/// `vcenter`, `cluster`, `host` and `vm`.
pub fn dashboard() -> Dashboard {
    let free = names::CAPACITY_FREE;
    let used = names::CAPACITY_USED;
    let total = names::CAPACITY_TOTAL;
    let success = name(&sm::COLLECT_SUCCESS);
    Dashboard::new("vSAN", "vsanobs-vsan")
        .description("vSAN clusters as the vsan-exporter serves them: health, capacity, performance, resync; host, disk and VM drill-downs; the exporter's own health.")
        .tags(["vsanobs", "vsan"])
        .time_from("now-6h")
        .variable(Variable::new("vcenter", "vCenter", format!("label_values({success}, vcenter)")))
        .variable(Variable::new(
            "cluster",
            "Cluster",
            format!("label_values({success}{{{VC}}}, cluster_name)"),
        ))
        .variable(Variable::new(
            "host",
            "Host",
            format!("label_values({}{{{C}}}, host_name)", name(&cat::HOST_DOMCLIENT_LATENCY)),
        ))
        .variable(Variable::new(
            "vm",
            "VM",
            format!("label_values({}{{{C}}}, vm_name)", name(&cat::VM_IOPS)),
        ))
        // Cluster overview: health.
        .panel(
            status_texts(Panel::new(PanelKind::Stat, "Cluster health", 6, 8))
                .unit("none")
                .description("Overall vSAN health per cluster (VsanQueryVcClusterHealthSummary, queried on its own interval): green, yellow, red or unknown (codes 0 to 3).")
                .query(status_code(names::HEALTH_STATUS, C, "vcenter, cluster_name"), "{{cluster_name}}"),
        )
        .panel(
            status_texts(Panel::new(PanelKind::Table, "Health groups", 9, 8))
                .unit("none")
                .description("Health per group: green, yellow, red or unknown (codes 0 to 3).")
                .query(
                    status_code(names::HEALTH_GROUP_STATUS, C, "vcenter, cluster_name, group"),
                    "{{cluster_name}} {{group}}",
                ),
        )
        .panel(
            Panel::new(PanelKind::Table, "Health tests not green", 9, 8)
                .unit("none")
                .description("The health tests at yellow, red or unknown: what to fix.")
                .query(
                    format!("{}{{status!=\"green\",{C}}} == 1", names::HEALTH_TEST_STATUS),
                    "{{cluster_name}} {{group}}/{{test}}: {{status}}",
                ),
        )
        // Capacity.
        .panel(
            Panel::new(PanelKind::Stat, "Capacity used", 6, 8)
                .unit("percentunit")
                .description("Used over total capacity of the vSAN datastore (the alerts warn at 80% and 90%).")
                .query(format!("{used}{{{C}}} / {total}{{{C}}}"), "{{cluster_name}}"),
        )
        .panel(
            ts("Capacity and trend", 12)
                .unit("bytes")
                .description("Used, free and total capacity, and the free capacity predicted in 7 days from the trend of the last 6 hours (below 0: full within a week).")
                .query(format!("{used}{{{C}}}"), "used {{cluster_name}}")
                .query(format!("{free}{{{C}}}"), "free {{cluster_name}}")
                .query(format!("{total}{{{C}}}"), "total {{cluster_name}}")
                .query(
                    format!("predict_linear({free}{{{C}}}[6h], 7 * 86400)"),
                    "free in 7 days {{cluster_name}}",
                ),
        )
        .panel(
            Panel::new(PanelKind::Stat, "Time until full", 6, 8)
                .unit("s")
                .description("Free capacity over its rate of decrease in the last 6 hours; +Inf when free capacity is not falling.")
                .query(
                    format!("{free}{{{C}}} / clamp_min(-deriv({free}{{{C}}}[6h]), 0)"),
                    "{{cluster_name}}",
                ),
        )
        .panel(
            ts("Used capacity by object type", 12)
                .unit("bytes")
                .legend(Legend::Table)
                .description("Used space split by the object types vSAN reports (VsanQuerySpaceUsage).")
                .query(
                    format!("sum by (cluster_name, object_type) ({}{{{C}}})", names::CAPACITY_USED_BY_TYPE),
                    "{{cluster_name}} {{object_type}}",
                ),
        )
        .panel(
            ts("Deduplication and compression savings", 6)
                .unit("bytes")
                .description("Space saved by deduplication and compression, on clusters that have them.")
                .query(format!("{}{{{C}}}", names::CAPACITY_SAVINGS), "{{cluster_name}}"),
        )
        .panel(
            Panel::new(PanelKind::Stat, "Savings ratio", 6, 8)
                .unit("percentunit")
                .description("Saved over what would be used without deduplication and compression (0-1).")
                .query(format!("{}{{{C}}}", names::CAPACITY_SAVINGS_RATIO), "{{cluster_name}}"),
        )
        // Performance.
        .panel(
            ts("VM IOPS", 8)
                .unit("iops")
                .description(cat::CLUSTER_DOMCLIENT_IOPS.help)
                .query(
                    format!("sum by (cluster_name, op) ({}{{{C}}})", name(&cat::CLUSTER_DOMCLIENT_IOPS)),
                    "{{cluster_name}} {{op}}",
                ),
        )
        .panel(
            ts("VM throughput", 8)
                .unit("Bps")
                .description(cat::CLUSTER_DOMCLIENT_BYTES.help)
                .query(
                    format!("sum by (cluster_name, op) ({}{{{C}}})", name(&cat::CLUSTER_DOMCLIENT_BYTES)),
                    "{{cluster_name}} {{op}}",
                ),
        )
        .panel(
            ts("VM latency", 8)
                .unit("s")
                .description(cat::CLUSTER_DOMCLIENT_LATENCY.help)
                .query(
                    format!("{}{{{C}}}", name(&cat::CLUSTER_DOMCLIENT_LATENCY)),
                    "{{cluster_name}} {{op}}",
                ),
        )
        .panel(
            ts("Congestion", 8)
                .description("Congestion level (0-255) of the DOM clients (VM side) and the DOM component managers (backend).")
                .query(format!("{}{{{C}}}", name(&cat::CLUSTER_DOMCLIENT_CONGESTION)), "client {{cluster_name}}")
                .query(format!("{}{{{C}}}", name(&cat::CLUSTER_DOMCOMPMGR_CONGESTION)), "backend {{cluster_name}}"),
        )
        .panel(
            ts("Outstanding IO", 8)
                .description("Outstanding IO of the DOM clients and the DOM component managers.")
                .query(format!("{}{{{C}}}", name(&cat::CLUSTER_DOMCLIENT_OIO)), "client {{cluster_name}}")
                .query(format!("{}{{{C}}}", name(&cat::CLUSTER_DOMCOMPMGR_OIO)), "backend {{cluster_name}}"),
        )
        .panel(
            ts("Backend IOPS (with resync)", 8)
                .unit("iops")
                .description("Backend IO by operation: recovery_write and resync_read are resync traffic.")
                .query(
                    format!("sum by (cluster_name, op) ({}{{{C}}})", name(&cat::CLUSTER_DOMCOMPMGR_IOPS)),
                    "{{cluster_name}} {{op}}",
                ),
        )
        // Resync.
        .panel(
            ts("Resync: bytes left", 8)
                .unit("bytes")
                .description("Bytes left to resync, in all and by reason (VsanQuerySyncingVsanObjects).")
                .query(format!("{}{{{C}}}", names::RESYNC_BYTES), "{{cluster_name}}")
                .query(
                    format!("sum by (cluster_name, reason) ({}{{{C}}})", names::RESYNC_BY_REASON),
                    "{{cluster_name}} {{reason}}",
                ),
        )
        .panel(
            ts("Resync: objects left", 8)
                .description("Objects left to resync.")
                .query(format!("{}{{{C}}}", names::RESYNC_OBJECTS), "{{cluster_name}}"),
        )
        .panel(
            Panel::new(PanelKind::Stat, "Resync: estimated time left", 8, 8)
                .unit("s")
                .description("vSAN's estimate of the time until the resync is done.")
                .query(format!("{}{{{C}}}", names::RESYNC_ETA), "{{cluster_name}}"),
        )
        // Host drill-down.
        .panel(
            ts("Hosts: VM IOPS", 12)
                .unit("iops")
                .legend(Legend::Table)
                .description(cat::HOST_DOMCLIENT_IOPS.help)
                .query(
                    format!("sum by (host_name, op) ({}{{{H}}})", name(&cat::HOST_DOMCLIENT_IOPS)),
                    "{{host_name}} {{op}}",
                ),
        )
        .panel(
            ts("Hosts: VM latency (average and maximum)", 12)
                .unit("s")
                .legend(Legend::Table)
                .description("Average and maximum latency of VM IO on each host (DOM client).")
                .query(format!("{}{{{H}}}", name(&cat::HOST_DOMCLIENT_LATENCY)), "avg {{host_name}} {{op}}")
                .query(format!("{}{{{H}}}", name(&cat::HOST_DOMCLIENT_LATENCY_MAX)), "max {{host_name}} {{op}}"),
        )
        .panel(
            ts("Hosts: congestion", 8)
                .description("Congestion (0-255) of each host's DOM client and component manager.")
                .query(format!("{}{{{H}}}", name(&cat::HOST_DOMCLIENT_CONGESTION)), "client {{host_name}}")
                .query(format!("{}{{{H}}}", name(&cat::HOST_DOMCOMPMGR_CONGESTION)), "backend {{host_name}}"),
        )
        .panel(
            ts("Hosts: outstanding IO", 8)
                .description("Outstanding IO of each host's DOM client and component manager.")
                .query(format!("{}{{{H}}}", name(&cat::HOST_DOMCLIENT_OIO)), "client {{host_name}}")
                .query(format!("{}{{{H}}}", name(&cat::HOST_DOMCOMPMGR_OIO)), "backend {{host_name}}"),
        )
        .panel(
            ts("Hosts: backend latency", 8)
                .unit("s")
                .description(cat::HOST_DOMCOMPMGR_LATENCY.help)
                .query(format!("{}{{{H}}}", name(&cat::HOST_DOMCOMPMGR_LATENCY)), "{{host_name}} {{op}}"),
        )
        .panel(
            ts("Hosts: vSAN network throughput", 8)
                .unit("Bps")
                .description(cat::HOST_NET_BYTES.help)
                .query(format!("{}{{{H}}}", name(&cat::HOST_NET_BYTES)), "{{host_name}} {{direction}}"),
        )
        .panel(
            ts("Hosts: packet loss", 8)
                .unit("percentunit")
                .description("Packet loss of each host's vSAN network and of its physical NICs (0-1).")
                .query(format!("{}{{{H}}}", name(&cat::HOST_NET_LOSS)), "{{host_name}} {{direction}}")
                .query(format!("{}{{{H}}}", name(&cat::PNIC_LOSS)), "{{host_name}} {{vmnic}} {{direction}}"),
        )
        .panel(
            ts("Hosts: client cache hit ratio", 8)
                .unit("percentunit")
                .description(cat::HOST_DOMCLIENT_CACHE_HIT_RATIO.help)
                .query(format!("{}{{{H}}}", name(&cat::HOST_DOMCLIENT_CACHE_HIT_RATIO)), "{{host_name}}"),
        )
        // Disk and disk-group drill-down.
        .panel(
            ts("Disk groups: latency", 12)
                .unit("s")
                .legend(Legend::Table)
                .description(cat::DISK_GROUP_LATENCY.help)
                .query(
                    format!("{}{{{H}}}", name(&cat::DISK_GROUP_LATENCY)),
                    "{{host_name}} {{disk_uuid}} {{op}}",
                ),
        )
        .panel(
            ts("Disk groups: IOPS", 12)
                .unit("iops")
                .legend(Legend::Table)
                .description(cat::DISK_GROUP_IOPS.help)
                .query(
                    format!("sum by (host_name, disk_uuid) ({}{{{H}}})", name(&cat::DISK_GROUP_IOPS)),
                    "{{host_name}} {{disk_uuid}}",
                ),
        )
        .panel(
            ts("Disk groups: write buffer free and read cache hits", 8)
                .unit("percentunit")
                .description("Free fraction of each disk group's write buffer, and its read cache hit ratio (0-1).")
                .query(format!("{}{{{H}}}", name(&cat::DISK_GROUP_WB_FREE_RATIO)), "buffer free {{host_name}} {{disk_uuid}}")
                .query(format!("{}{{{H}}}", name(&cat::DISK_GROUP_RC_HIT_RATIO)), "cache hits {{host_name}} {{disk_uuid}}"),
        )
        .panel(
            ts("Disk groups: congestion", 8)
                .description(cat::DISK_GROUP_CONGESTION.help)
                .query(
                    format!("max by (host_name, disk_uuid, type) ({}{{{H}}})", name(&cat::DISK_GROUP_CONGESTION)),
                    "{{host_name}} {{disk_uuid}} {{type}}",
                ),
        )
        .panel(
            ts("Disk groups: capacity used", 8)
                .unit("percentunit")
                .description("Used over total capacity of each disk group.")
                .query(
                    format!(
                        "{}{{{H}}} / {}{{{H}}}",
                        name(&cat::DISK_GROUP_CAPACITY_USED),
                        name(&cat::DISK_GROUP_CAPACITY)
                    ),
                    "{{host_name}} {{disk_uuid}}",
                ),
        )
        .panel(
            ts("Disks: device latency (OSA)", 12)
                .unit("s")
                .legend(Legend::Table)
                .description("Device latency (DAVG) of the cache and capacity disks.")
                .query(format!("{}{{{H}}}", name(&cat::CACHE_DISK_DEVICE_LATENCY)), "cache {{host_name}} {{disk_uuid}}")
                .query(format!("{}{{{H}}}", name(&cat::CAPACITY_DISK_DEVICE_LATENCY)), "capacity {{host_name}} {{disk_uuid}}"),
        )
        .panel(
            ts("Disks: latency (ESA)", 12)
                .unit("s")
                .legend(Legend::Table)
                .description("vSAN-layer and device latency of the storage-pool disks of ESA clusters (by cluster: the API names no host).")
                .query(format!("{}{{{C}}}", name(&cat::ESA_LAYER_LATENCY)), "vSAN {{cluster_name}} {{disk_uuid}} {{op}}")
                .query(format!("{}{{{C}}}", name(&cat::ESA_DEVICE_DEVICE_LATENCY)), "device {{cluster_name}} {{disk_uuid}}"),
        )
        // VM drill-down.
        .panel(
            ts("VMs: top 10 by IOPS", 8)
                .unit("iops")
                .legend(Legend::Table)
                .description(cat::VM_IOPS.help)
                .query(
                    format!("topk(10, sum by (cluster_name, vm_name) ({}{{{V}}}))", name(&cat::VM_IOPS)),
                    "{{vm_name}}",
                ),
        )
        .panel(
            ts("VMs: top 10 by latency", 8)
                .unit("s")
                .legend(Legend::Table)
                .description(cat::VM_LATENCY.help)
                .query(
                    format!("topk(10, max by (cluster_name, vm_name) ({}{{{V}}}))", name(&cat::VM_LATENCY)),
                    "{{vm_name}}",
                ),
        )
        .panel(
            ts("VMs: top 10 by throughput", 8)
                .unit("Bps")
                .legend(Legend::Table)
                .description(cat::VM_BYTES.help)
                .query(
                    format!("topk(10, sum by (cluster_name, vm_name) ({}{{{V}}}))", name(&cat::VM_BYTES)),
                    "{{vm_name}}",
                ),
        )
        // The exporter's own health.
        .panel(
            Panel::new(PanelKind::Table, "Exporter: last queries successful", 8, 8)
                .unit("bool_yes_no")
                .description("1 if the last performance query (perf) and the last health query (health) of the cluster succeeded.")
                .query(format!("{success}{{{C}}}"), "perf {{cluster_name}}")
                .query(format!("{}{{{C}}}", names::HEALTH_SUCCESS), "health {{cluster_name}}"),
        )
        .panel(
            ts("Exporter: query durations", 8)
                .unit("s")
                .description("Duration of the last collection (performance) and of the last health query of each cluster.")
                .query(format!("{}{{{C}}}", name(&sm::COLLECT_DURATION)), "perf {{cluster_name}}")
                .query(format!("{}{{{C}}}", names::HEALTH_DURATION), "health {{cluster_name}}"),
        )
        .panel(
            ts("Exporter: data age", 8)
                .unit("s")
                .description("Age of the newest performance sample and of the health answer served (the stale-data alert fires past 30 minutes).")
                .query(
                    format!("time() - max without (entity_type) ({}{{{C}}})", name(&sm::LAST_SAMPLE)),
                    "perf {{cluster_name}}",
                )
                .query(format!("{}{{{C}}}", names::HEALTH_AGE), "health {{cluster_name}}"),
        )
        .panel(
            ts("Exporter: fetch errors", 8)
                .description(sm::FETCH_ERRORS.help)
                .query(
                    format!(
                        "sum by (vcenter, cluster_name, reason) (increase({}{{{C}}}[$__rate_interval]))",
                        name(&sm::FETCH_ERRORS)
                    ),
                    "{{cluster_name}} {{reason}}",
                ),
        )
        .panel(
            ts("Exporter: clusters by state", 8)
                .description(sm::CLUSTERS.help)
                .query(
                    format!("sum by (vcenter, state) ({}{{{VC}}})", name(&sm::CLUSTERS)),
                    "{{vcenter}} {{state}}",
                ),
        )
        .panel(
            Panel::new(PanelKind::Table, "Exporter: cluster states", 8, 8)
                .unit("none")
                .description(sm::CLUSTER_STATE.help)
                .query(
                    format!("{}{{{C}}} == 1", name(&sm::CLUSTER_STATE)),
                    "{{cluster_name}}: {{state}}",
                ),
        )
        .panel(
            ts("Exporter: logins", 12)
                .description(sm::LOGINS.help)
                .query(
                    format!("increase({}{{{VC}}}[$__rate_interval])", name(&sm::LOGINS)),
                    "{{vcenter}}",
                ),
        )
        .panel(
            Panel::new(PanelKind::Stat, "Exporter: insecure TLS", 12, 8)
                .unit("bool_yes_no")
                .description(sm::INSECURE_TLS.help)
                .query(format!("{}{{{VC}}}", name(&sm::INSECURE_TLS)), "{{vcenter}}"),
        )
}
