//! The managed objects `/sdk` serves, built from the simulator's topology: the inventory
//! tree (root folder, one datacenter and its folders, clusters, hosts, VMs), each object's
//! properties as vCenter types them, and the ways from one object to others (a container
//! view's contents, traversal specs).
//!
//! The tree is the one a vCenter has: `group-d1` (root folder) → `datacenter-2` → host
//! folder `group-h4` → clusters → hosts; VMs sit in the VM folder `group-v3`. Only the
//! properties listed here exist: any other path is `InvalidProperty`, as on a vCenter for a
//! path its type does not have.

use std::collections::HashMap;

use vsanobs_core::vsan::protocol::inventory::{
    ClusterVsanConfig, DiskMapping, HostVsanConfig, VsanDisk, cluster_configuration_ex,
    host_vsan_config,
};
use vsanobs_core::vsan::protocol::property::{MoRef, PropertyValue};
use vsanobs_core::vsan::protocol::session::{ServiceContent, UserSession};

use crate::{ClusterKind, SimCluster, SimHost, Simulator};

/// The root folder.
pub(crate) const ROOT_FOLDER: &str = "group-d1";
/// The one datacenter.
pub(crate) const DATACENTER: &str = "datacenter-2";
const VM_FOLDER: &str = "group-v3";
const HOST_FOLDER: &str = "group-h4";
const DATASTORE_FOLDER: &str = "group-s5";
const NETWORK_FOLDER: &str = "group-n6";

const FOLDER: &str = "Folder";
const CLUSTER: &str = "ClusterComputeResource";
const HOST: &str = "HostSystem";
const VM: &str = "VirtualMachine";
const CONTAINER_VIEW: &str = "ContainerView";

/// Host hardware the summaries add up: 2 sockets of 16 cores at 2,600 MHz, 512 GiB.
const HOST_CORES: i32 = 32;
const HOST_MHZ: i32 = 2600;
const HOST_MEMORY: i64 = 512 << 30;

/// A container view: what `CreateContainerView` was given.
#[derive(Clone, Debug)]
pub(crate) struct View {
    pub(crate) container: String,
    pub(crate) types: Vec<String>,
    pub(crate) recursive: bool,
}

#[derive(Clone, Copy)]
enum Entity<'a> {
    ServiceInstance,
    SessionManager,
    Folder {
        name: &'static str,
        parent: Option<&'static str>,
    },
    Datacenter,
    Cluster(&'a SimCluster),
    Host(&'a SimCluster, &'a SimHost),
    Vm(&'a SimHost, &'a (String, String, String)),
    View(&'a View),
}

/// Every managed object of the simulator, by MoRef id, plus the session's views.
pub(crate) struct Objects<'a> {
    sim: &'a Simulator,
    login: Option<UserSession>,
    clusters: &'a [SimCluster],
    by_id: HashMap<&'a str, Entity<'a>>,
}

/// The vSAN settings of a cluster as `configurationEx` shows them.
pub(crate) fn cluster_vsan(c: &SimCluster) -> ClusterVsanConfig {
    ClusterVsanConfig {
        enabled: c.vsan_enabled(),
        uuid: c.vsan_enabled().then(|| c.uuid.clone()),
        esa: c.kind == ClusterKind::Esa,
    }
}

/// The vSAN settings of a host as `config.vsanHostConfig` shows them. An ESA host has no
/// disk groups; its storage-pool disks are only listed by the vSAN disk management API, not
/// by this property.
pub(crate) fn host_vsan(c: &SimCluster, h: &SimHost) -> HostVsanConfig {
    let disk_mappings = h
        .disk_groups
        .iter()
        .enumerate()
        .map(|(i, (cache, caps))| DiskMapping {
            cache: VsanDisk {
                canonical_name: format!("naa.5000c5{i:010x}"),
                vsan_uuid: Some(cache.clone()),
            },
            capacity: caps
                .iter()
                .enumerate()
                .map(|(k, cap)| VsanDisk {
                    canonical_name: format!("naa.5000c6{i:06x}{k:04x}"),
                    vsan_uuid: Some(cap.clone()),
                })
                .collect(),
        })
        .collect();
    let vsan = c.vsan_enabled();
    HostVsanConfig {
        enabled: vsan,
        cluster_uuid: vsan.then(|| c.uuid.clone()),
        node_uuid: vsan.then(|| h.node_uuid.clone()),
        disk_mappings,
    }
}

/// The types in the inventory tree (`ManagedEntity` and its subtypes).
const ENTITIES: &[&str] = &[FOLDER, "Datacenter", CLUSTER, HOST, VM];

fn is_a(kind: &str, wanted: &str) -> bool {
    kind == wanted
        || wanted == "ManagedObject"
        || (wanted == "ManagedEntity" && ENTITIES.contains(&kind))
        || (wanted == "ComputeResource" && kind == CLUSTER)
        || (wanted == "View" && kind == CONTAINER_VIEW)
}

fn s(v: &str) -> PropertyValue {
    PropertyValue::String(v.to_owned())
}

fn mo(kind: &str, id: &str) -> PropertyValue {
    PropertyValue::MoRef(MoRef::new(kind, id))
}

fn mos<'b>(kind: &str, ids: impl IntoIterator<Item = &'b str>) -> PropertyValue {
    PropertyValue::MoRefs(ids.into_iter().map(|i| MoRef::new(kind, i)).collect())
}

fn green() -> PropertyValue {
    PropertyValue::enumeration("ManagedEntityStatus", "green")
}

/// A VM's runtime on `host`, connected and powered on: its `runtime` and, the same
/// `VirtualMachineRuntimeInfo`, its `summary.runtime`.
fn vm_runtime(host: &str) -> PropertyValue {
    PropertyValue::data(
        "VirtualMachineRuntimeInfo",
        vec![
            ("host", mo(HOST, host)),
            (
                "connectionState",
                PropertyValue::enumeration("VirtualMachineConnectionState", "connected"),
            ),
            (
                "powerState",
                PropertyValue::enumeration("VirtualMachinePowerState", "poweredOn"),
            ),
        ],
    )
}

/// A VM's name and UUIDs as `kind` carries them: `VirtualMachineConfigInfo` (`config`) and
/// `VirtualMachineConfigSummary` (`summary.config`) name them alike; the simulator uses the
/// instance UUID for both UUIDs.
fn vm_config(kind: &str, name: &str, instance_uuid: &str) -> PropertyValue {
    PropertyValue::data(
        kind,
        vec![
            ("name", s(name)),
            ("uuid", s(instance_uuid)),
            ("instanceUuid", s(instance_uuid)),
        ],
    )
}

fn props(list: Vec<(&str, PropertyValue)>) -> Vec<(String, PropertyValue)> {
    list.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

impl<'a> Objects<'a> {
    /// The objects of `sim`, with `views` (the calling session's container views).
    pub(crate) fn new(sim: &'a Simulator, views: &'a HashMap<String, View>) -> Objects<'a> {
        let clusters = sim.clusters();
        let mut by_id: HashMap<&'a str, Entity<'a>> = HashMap::new();
        for (id, name, parent) in [
            (ROOT_FOLDER, "Datacenters", None),
            (VM_FOLDER, "vm", Some(DATACENTER)),
            (HOST_FOLDER, "host", Some(DATACENTER)),
            (DATASTORE_FOLDER, "datastore", Some(DATACENTER)),
            (NETWORK_FOLDER, "network", Some(DATACENTER)),
        ] {
            by_id.insert(id, Entity::Folder { name, parent });
        }
        by_id.insert(DATACENTER, Entity::Datacenter);
        by_id.insert("ServiceInstance", Entity::ServiceInstance);
        by_id.insert("SessionManager", Entity::SessionManager);
        for c in clusters {
            by_id.insert(&c.moref, Entity::Cluster(c));
            for h in &c.hosts {
                by_id.insert(&h.moref, Entity::Host(c, h));
                for v in &h.vms {
                    by_id.insert(&v.0, Entity::Vm(h, v));
                }
            }
        }
        for (id, v) in views {
            by_id.insert(id, Entity::View(v));
        }
        Objects {
            sim,
            login: None,
            clusters,
            by_id,
        }
    }

    /// The calling session's login, for `SessionManager.currentSession`.
    pub(crate) fn with_login(mut self, login: UserSession) -> Objects<'a> {
        self.login = Some(login);
        self
    }

    /// The object with id `id` (its type checked against `kind` when `kind` is not empty).
    pub(crate) fn get(&self, kind: &str, id: &str) -> Option<MoRef> {
        let e = self.by_id.get(id)?;
        let found = kind_of(e);
        (kind.is_empty() || is_a(found, kind) || kind == found).then(|| MoRef::new(found, id))
    }

    /// Whether `obj` is of type `wanted` or a subtype.
    pub(crate) fn is_a(obj: &MoRef, wanted: &str) -> bool {
        is_a(&obj.kind, wanted)
    }

    /// Every top-level property of `obj`, as vCenter types them.
    pub(crate) fn properties(&self, obj: &MoRef) -> Vec<(String, PropertyValue)> {
        let Some(e) = self.by_id.get(obj.value.as_str()) else {
            return Vec::new();
        };
        match *e {
            Entity::ServiceInstance => {
                let sc = service_content(self.sim);
                let a = &sc.about;
                let about = PropertyValue::data(
                    "AboutInfo",
                    vec![
                        ("name", s(&a.name)),
                        ("fullName", s(&a.full_name)),
                        ("vendor", s(&a.vendor)),
                        ("version", s(&a.version)),
                        ("build", s(&a.build)),
                        ("osType", s(&a.os_type)),
                        ("productLineId", s(&a.product_line_id)),
                        ("apiType", s(&a.api_type)),
                        ("apiVersion", s(&a.api_version)),
                        ("instanceUuid", s(&a.instance_uuid)),
                    ],
                );
                props(vec![(
                    "content",
                    PropertyValue::data(
                        "ServiceContent",
                        vec![
                            ("rootFolder", mo(FOLDER, &sc.root_folder)),
                            (
                                "propertyCollector",
                                mo("PropertyCollector", &sc.property_collector),
                            ),
                            ("viewManager", mo("ViewManager", &sc.view_manager)),
                            ("about", about),
                            ("sessionManager", mo("SessionManager", &sc.session_manager)),
                        ],
                    ),
                )])
            }
            Entity::SessionManager => {
                let Some(l) = &self.login else {
                    return Vec::new();
                };
                props(vec![(
                    "currentSession",
                    PropertyValue::data(
                        "UserSession",
                        vec![
                            ("key", s(&l.key)),
                            ("userName", s(&l.user_name)),
                            ("fullName", s(&l.full_name)),
                            ("loginTime", PropertyValue::DateTime(l.login_time)),
                            ("lastActiveTime", PropertyValue::DateTime(self.sim.now())),
                            ("locale", s("en")),
                            ("messageLocale", s("en")),
                            ("extensionSession", PropertyValue::Bool(false)),
                            ("ipAddress", s("127.0.0.1")),
                            ("userAgent", s("vsanobs")),
                            ("callCount", PropertyValue::Long(0)),
                        ],
                    ),
                )])
            }
            Entity::Folder { name, parent } => {
                let (children, child_types): (Vec<MoRef>, &[&str]) = match obj.value.as_str() {
                    ROOT_FOLDER => (
                        vec![MoRef::new("Datacenter", DATACENTER)],
                        &[FOLDER, "Datacenter"],
                    ),
                    HOST_FOLDER => (
                        self.clusters
                            .iter()
                            .map(|c| MoRef::new(CLUSTER, &c.moref))
                            .collect(),
                        &[FOLDER, "ComputeResource"],
                    ),
                    VM_FOLDER => (
                        self.clusters
                            .iter()
                            .flat_map(|c| &c.hosts)
                            .flat_map(|h| &h.vms)
                            .map(|v| MoRef::new(VM, &v.0))
                            .collect(),
                        &[FOLDER, VM, "VirtualApp"],
                    ),
                    DATASTORE_FOLDER => (Vec::new(), &[FOLDER, "Datastore"]),
                    _ => (Vec::new(), &[FOLDER, "Network"]),
                };
                let mut p = vec![("name", s(name))];
                if let Some(parent) = parent {
                    p.push(("parent", mo("Datacenter", parent)));
                }
                p.push(("childEntity", PropertyValue::MoRefs(children)));
                p.push((
                    "childType",
                    PropertyValue::Strings(child_types.iter().map(|t| (*t).to_owned()).collect()),
                ));
                p.push(("overallStatus", green()));
                props(p)
            }
            Entity::Datacenter => props(vec![
                ("name", s("Datacenter")),
                ("parent", mo(FOLDER, ROOT_FOLDER)),
                ("vmFolder", mo(FOLDER, VM_FOLDER)),
                ("hostFolder", mo(FOLDER, HOST_FOLDER)),
                ("datastoreFolder", mo(FOLDER, DATASTORE_FOLDER)),
                ("networkFolder", mo(FOLDER, NETWORK_FOLDER)),
                ("datastore", PropertyValue::MoRefs(Vec::new())),
                ("network", PropertyValue::MoRefs(Vec::new())),
                ("overallStatus", green()),
            ]),
            Entity::Cluster(c) => {
                let n = i32::try_from(c.hosts.len()).unwrap_or(i32::MAX);
                let hosts = i64::from(n);
                props(vec![
                    ("name", s(&c.name)),
                    ("parent", mo(FOLDER, HOST_FOLDER)),
                    ("host", mos(HOST, c.hosts.iter().map(|h| h.moref.as_str()))),
                    ("datastore", PropertyValue::MoRefs(Vec::new())),
                    ("network", PropertyValue::MoRefs(Vec::new())),
                    (
                        "summary",
                        PropertyValue::data(
                            "ClusterComputeResourceSummary",
                            vec![
                                (
                                    "totalCpu",
                                    PropertyValue::Int(n.saturating_mul(HOST_CORES * HOST_MHZ)),
                                ),
                                ("totalMemory", PropertyValue::Long(hosts * HOST_MEMORY)),
                                (
                                    "numCpuCores",
                                    PropertyValue::Int(n.saturating_mul(HOST_CORES)),
                                ),
                                (
                                    "numCpuThreads",
                                    PropertyValue::Int(n.saturating_mul(HOST_CORES * 2)),
                                ),
                                (
                                    "effectiveCpu",
                                    PropertyValue::Int(n.saturating_mul(HOST_CORES * HOST_MHZ)),
                                ),
                                (
                                    "effectiveMemory",
                                    PropertyValue::Long(hosts * (HOST_MEMORY >> 20)),
                                ),
                                ("numHosts", PropertyValue::Int(n)),
                                ("numEffectiveHosts", PropertyValue::Int(n)),
                                ("overallStatus", green()),
                            ],
                        ),
                    ),
                    (
                        "configurationEx",
                        cluster_configuration_ex(&cluster_vsan(c)),
                    ),
                    ("overallStatus", green()),
                ])
            }
            Entity::Host(c, h) => {
                let runtime = PropertyValue::data(
                    "HostRuntimeInfo",
                    vec![
                        (
                            "connectionState",
                            PropertyValue::enumeration("HostSystemConnectionState", "connected"),
                        ),
                        (
                            "powerState",
                            PropertyValue::enumeration("HostSystemPowerState", "poweredOn"),
                        ),
                        ("inMaintenanceMode", PropertyValue::Bool(false)),
                    ],
                );
                props(vec![
                    ("name", s(&h.name)),
                    ("parent", mo(CLUSTER, &c.moref)),
                    ("runtime", runtime.clone()),
                    (
                        "summary",
                        PropertyValue::data(
                            "HostListSummary",
                            vec![
                                ("host", mo(HOST, &h.moref)),
                                ("runtime", runtime),
                                (
                                    "config",
                                    PropertyValue::data(
                                        "HostConfigSummary",
                                        vec![
                                            ("name", s(&h.name)),
                                            ("port", PropertyValue::Int(443)),
                                        ],
                                    ),
                                ),
                                ("overallStatus", green()),
                            ],
                        ),
                    ),
                    (
                        "config",
                        PropertyValue::data(
                            "HostConfigInfo",
                            vec![
                                ("host", mo(HOST, &h.moref)),
                                (
                                    "vsanHostConfig",
                                    host_vsan_config(&h.moref, &host_vsan(c, h)),
                                ),
                            ],
                        ),
                    ),
                    (
                        "hardware",
                        PropertyValue::data(
                            "HostHardwareInfo",
                            vec![
                                (
                                    "cpuInfo",
                                    PropertyValue::data(
                                        "HostCpuInfo",
                                        vec![
                                            ("numCpuPackages", PropertyValue::Int(2)),
                                            ("numCpuCores", PropertyValue::Int(HOST_CORES)),
                                            ("numCpuThreads", PropertyValue::Int(HOST_CORES * 2)),
                                            (
                                                "hz",
                                                PropertyValue::Long(
                                                    i64::from(HOST_MHZ) * 1_000_000,
                                                ),
                                            ),
                                        ],
                                    ),
                                ),
                                ("memorySize", PropertyValue::Long(HOST_MEMORY)),
                            ],
                        ),
                    ),
                    ("vm", mos(VM, h.vms.iter().map(|v| v.0.as_str()))),
                    ("datastore", PropertyValue::MoRefs(Vec::new())),
                    ("network", PropertyValue::MoRefs(Vec::new())),
                    ("overallStatus", green()),
                ])
            }
            Entity::Vm(h, (vm_id, name, instance_uuid)) => props(vec![
                ("name", s(name)),
                ("parent", mo(FOLDER, VM_FOLDER)),
                ("runtime", vm_runtime(&h.moref)),
                (
                    "config",
                    vm_config("VirtualMachineConfigInfo", name, instance_uuid),
                ),
                (
                    "summary",
                    PropertyValue::data(
                        "VirtualMachineSummary",
                        vec![
                            ("vm", mo(VM, vm_id)),
                            ("runtime", vm_runtime(&h.moref)),
                            (
                                "config",
                                vm_config("VirtualMachineConfigSummary", name, instance_uuid),
                            ),
                            ("overallStatus", green()),
                        ],
                    ),
                ),
                ("overallStatus", green()),
            ]),
            Entity::View(v) => props(vec![
                ("view", PropertyValue::MoRefs(self.view_contents(v))),
                (
                    "container",
                    mo(
                        self.get("", &v.container)
                            .map_or(FOLDER.to_owned(), |m| m.kind)
                            .as_str(),
                        &v.container,
                    ),
                ),
                ("type", PropertyValue::Strings(v.types.clone())),
                ("recursive", PropertyValue::Bool(v.recursive)),
            ]),
        }
    }

    /// The objects property `path` of `obj` refers to (a reference or an array of them; none
    /// for another property).
    pub(crate) fn follow(&self, obj: &MoRef, path: &str) -> Vec<MoRef> {
        if let Some(Entity::View(v)) = self.by_id.get(obj.value.as_str())
            && path == "view"
        {
            return self.view_contents(v);
        }
        match self
            .properties(obj)
            .into_iter()
            .find(|(k, _)| k == path)
            .map(|(_, v)| v)
        {
            Some(PropertyValue::MoRef(m)) => vec![m],
            Some(PropertyValue::MoRefs(ms)) => ms,
            _ => Vec::new(),
        }
    }

    /// The inventory children of an object (what a recursive container view descends into).
    fn children(&self, id: &str) -> Vec<MoRef> {
        match self.by_id.get(id) {
            Some(Entity::Folder { .. }) => self.follow(&MoRef::new(FOLDER, id), "childEntity"),
            Some(Entity::Datacenter) => [VM_FOLDER, HOST_FOLDER, DATASTORE_FOLDER, NETWORK_FOLDER]
                .into_iter()
                .map(|f| MoRef::new(FOLDER, f))
                .collect(),
            Some(Entity::Cluster(c)) => {
                c.hosts.iter().map(|h| MoRef::new(HOST, &h.moref)).collect()
            }
            _ => Vec::new(),
        }
    }

    /// The objects a container view shows: those of its types under its container (all
    /// levels when recursive), in inventory order.
    pub(crate) fn view_contents(&self, v: &View) -> Vec<MoRef> {
        let wanted = |m: &MoRef| v.types.is_empty() || v.types.iter().any(|t| is_a(&m.kind, t));
        let mut out = Vec::new();
        let mut stack: Vec<MoRef> = self.children(&v.container).into_iter().rev().collect();
        while let Some(m) = stack.pop() {
            if wanted(&m) {
                out.push(m.clone());
            }
            if v.recursive {
                stack.extend(self.children(&m.value).into_iter().rev());
            }
        }
        out
    }
}

fn kind_of(e: &Entity<'_>) -> &'static str {
    match e {
        Entity::ServiceInstance => "ServiceInstance",
        Entity::SessionManager => "SessionManager",
        Entity::Folder { .. } => FOLDER,
        Entity::Datacenter => "Datacenter",
        Entity::Cluster(_) => CLUSTER,
        Entity::Host(..) => HOST,
        Entity::Vm(..) => VM,
        Entity::View(_) => CONTAINER_VIEW,
    }
}

/// `ServiceContent` of the emulated release.
pub(crate) fn service_content(sim: &Simulator) -> ServiceContent {
    ServiceContent {
        root_folder: ROOT_FOLDER.into(),
        property_collector: "propertyCollector".into(),
        view_manager: "ViewManager".into(),
        session_manager: "SessionManager".into(),
        about: sim.config().vcenter_version.about(),
    }
}
