//! The inventory: a `ContainerView` over the root folder, one `RetrieveProperties(Ex)` call
//! for the cluster, host and VM properties a vSAN exporter needs, and `DestroyView`.
//!
//! Property values are typed by what they hold for these three object types
//! ([`ClusterObject`], [`HostObject`], [`VmObject`]); a property a server sends that is not
//! modelled here is skipped, an object of another type is kept as [`InventoryObject::Other`].
//!
//! # Example
//!
//! ```
//! use vsanobs_core::vsan::protocol::IncomingRequest;
//! use vsanobs_core::vsan::protocol::inventory::{
//!     ClusterObject, ClusterVsanConfig, InventoryObject, PropertySpec, RetrieveProperties, RetrieveResult,
//! };
//!
//! let req = RetrieveProperties {
//!     collector: "propertyCollector".into(),
//!     view: "session[52a1]".into(),
//!     specs: vec![PropertySpec::new("ClusterComputeResource", &["name", "configurationEx"])],
//!     extended: true,
//! };
//! let got = IncomingRequest::decode(&req.encode())?.retrieve_properties()?;
//! assert_eq!(got, req);
//! assert!(got.specs[0].wants("name") && !got.specs[0].wants("parent"));
//!
//! let answer = RetrieveResult {
//!     objects: vec![InventoryObject::Cluster(ClusterObject {
//!         moref: "domain-c10".into(),
//!         name: Some("prod & test".into()),
//!         vsan: Some(ClusterVsanConfig { enabled: true, uuid: Some("52f1a6b3".into()), esa: true }),
//!     })],
//! };
//! assert_eq!(RetrieveResult::decode(&answer.encode(got.extended))?, answer);
//! # Ok::<(), vsanobs_core::vsan::VsanError>(())
//! ```

use std::fmt::Write as _;

use super::super::VsanError;
use super::super::xml::{Element, escape};
use super::{answer_body, child_text, envelope, moref_element, required_text, text_element};

const CLUSTER: &str = "ClusterComputeResource";
const HOST: &str = "HostSystem";
const VM: &str = "VirtualMachine";

/// `ViewManager.CreateContainerView`: a view of the objects of some types under a folder.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CreateContainerView {
    /// The view manager ([`ServiceContent::view_manager`](super::session::ServiceContent::view_manager)).
    pub view_manager: String,
    /// The folder to look under (the root folder).
    pub container: String,
    /// Managed object types to include (`ClusterComputeResource`, ...).
    pub types: Vec<String>,
    /// Whether to look into sub-folders.
    pub recursive: bool,
}

impl CreateContainerView {
    /// The request envelope.
    pub fn encode(&self) -> String {
        let mut out = String::from("<CreateContainerView xmlns=\"urn:vim25\">");
        moref_element(&mut out, "_this", "ViewManager", &self.view_manager);
        moref_element(&mut out, "container", "Folder", &self.container);
        for t in &self.types {
            text_element(&mut out, "type", t);
        }
        let _ = write!(
            out,
            "<recursive>{}</recursive></CreateContainerView>",
            self.recursive
        );
        envelope(&out)
    }

    pub(super) fn from_request(req: &Element) -> Result<CreateContainerView, VsanError> {
        Ok(CreateContainerView {
            view_manager: child_text(req, "_this").unwrap_or_default(),
            container: required_text(req, "container", "CreateContainerView without container")?,
            types: req
                .children_named("type")
                .map(|t| t.text.trim().to_owned())
                .collect(),
            recursive: child_text(req, "recursive").is_some_and(|r| r == "true" || r == "1"),
        })
    }

    /// The answer envelope: the new view's MoRef.
    pub fn encode_response(view: &str) -> String {
        let mut out = String::from("<CreateContainerViewResponse xmlns=\"urn:vim25\">");
        moref_element(&mut out, "returnval", "ContainerView", view);
        out.push_str("</CreateContainerViewResponse>");
        envelope(&out)
    }

    /// Reads the answer: the new view's MoRef.
    ///
    /// # Errors
    /// XML errors, [`VsanError::Fault`], [`VsanError::Unexpected`] for another answer or
    /// no `returnval`.
    pub fn decode_response(xml: &str) -> Result<String, VsanError> {
        let body = answer_body(
            xml,
            "CreateContainerViewResponse",
            "not a CreateContainerViewResponse",
        )?;
        required_text(&body, "returnval", "CreateContainerView without returnval")
    }
}

/// `ContainerView.DestroyView`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DestroyView {
    /// The view's MoRef.
    pub view: String,
}

impl DestroyView {
    /// The request envelope.
    pub fn encode(&self) -> String {
        let mut out = String::from("<DestroyView xmlns=\"urn:vim25\">");
        moref_element(&mut out, "_this", "ContainerView", &self.view);
        out.push_str("</DestroyView>");
        envelope(&out)
    }

    /// The (empty) answer envelope.
    pub fn encode_response() -> String {
        envelope("<DestroyViewResponse xmlns=\"urn:vim25\"></DestroyViewResponse>")
    }

    pub(super) fn from_request(req: &Element) -> Result<DestroyView, VsanError> {
        Ok(DestroyView {
            view: required_text(req, "_this", "DestroyView without _this")?,
        })
    }
}

/// One `PropertySpec`: the properties wanted of one managed object type.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PropertySpec {
    /// The managed object type.
    pub kind: String,
    /// Property paths (`config.vsanHostConfig`); none means every property.
    pub paths: Vec<String>,
}

impl PropertySpec {
    /// The `paths` of objects of type `kind`.
    pub fn new(kind: &str, paths: &[&str]) -> PropertySpec {
        PropertySpec {
            kind: kind.to_owned(),
            paths: paths.iter().map(|p| (*p).to_owned()).collect(),
        }
    }

    /// Whether property `path` is asked for.
    pub fn wants(&self, path: &str) -> bool {
        self.paths.is_empty() || self.paths.iter().any(|p| p == path)
    }
}

/// `PropertyCollector.RetrieveProperties(Ex)` over every object of a container view.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RetrieveProperties {
    /// The property collector.
    pub collector: String,
    /// The container view whose objects are read (through its `view` property).
    pub view: String,
    /// What to read, per object type.
    pub specs: Vec<PropertySpec>,
    /// `RetrievePropertiesEx` (answers with a `RetrieveResult`) rather than the older
    /// `RetrieveProperties` (answers with the objects directly).
    pub extended: bool,
}

impl RetrieveProperties {
    fn method(&self) -> &'static str {
        if self.extended {
            "RetrievePropertiesEx"
        } else {
            "RetrieveProperties"
        }
    }

    /// The request envelope.
    pub fn encode(&self) -> String {
        let method = self.method();
        let mut out = format!("<{method} xmlns=\"urn:vim25\">");
        moref_element(&mut out, "_this", "PropertyCollector", &self.collector);
        out.push_str("<specSet>");
        for spec in &self.specs {
            out.push_str("<propSet>");
            text_element(&mut out, "type", &spec.kind);
            for p in &spec.paths {
                text_element(&mut out, "pathSet", p);
            }
            out.push_str("</propSet>");
        }
        out.push_str("<objectSet>");
        moref_element(&mut out, "obj", "ContainerView", &self.view);
        out.push_str("<skip>true</skip><selectSet xsi:type=\"TraversalSpec\"><name>traverseEntities</name><type>ContainerView</type><path>view</path><skip>false</skip></selectSet></objectSet></specSet>");
        if self.extended {
            out.push_str("<options></options>");
        }
        let _ = write!(out, "</{method}>");
        envelope(&out)
    }

    pub(super) fn from_request(req: &Element) -> RetrieveProperties {
        let specs = req
            .children_named("specSet")
            .flat_map(|s| s.children_named("propSet"))
            .map(|ps| PropertySpec {
                kind: child_text(ps, "type").unwrap_or_default(),
                paths: ps
                    .children_named("pathSet")
                    .map(|p| p.text.trim().to_owned())
                    .collect(),
            })
            .collect();
        let view = req
            .children_named("specSet")
            .flat_map(|s| s.children_named("objectSet"))
            .find_map(|o| child_text(o, "obj"))
            .unwrap_or_default();
        RetrieveProperties {
            collector: child_text(req, "_this").unwrap_or_default(),
            view,
            specs,
            extended: req.name == "RetrievePropertiesEx",
        }
    }
}

/// vSAN settings of a cluster (`configurationEx.vsanConfigInfo`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClusterVsanConfig {
    /// vSAN is on.
    pub enabled: bool,
    /// The vSAN cluster UUID (`defaultConfig.uuid`).
    pub uuid: Option<String>,
    /// `vsanEsaEnabled` (vSAN 8.0+): the cluster runs the Express Storage Architecture
    /// (storage pools, no disk groups).
    pub esa: bool,
}

/// A cluster and the properties read of it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClusterObject {
    /// MoRef (`domain-c10`).
    pub moref: String,
    /// `name`.
    pub name: Option<String>,
    /// `configurationEx`'s vSAN part (None when the property was not sent or has none).
    pub vsan: Option<ClusterVsanConfig>,
}

/// One vSAN disk of a disk mapping.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VsanDisk {
    /// The device name (`naa.5000c5...`).
    pub canonical_name: String,
    /// `vsanDiskInfo.vsanUuid`.
    pub vsan_uuid: Option<String>,
}

/// A disk group: one cache disk and its capacity disks.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DiskMapping {
    /// The cache-tier disk (`ssd`).
    pub cache: VsanDisk,
    /// The capacity-tier disks (`nonSsd`).
    pub capacity: Vec<VsanDisk>,
}

/// vSAN settings of a host (`config.vsanHostConfig`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostVsanConfig {
    /// vSAN is on.
    pub enabled: bool,
    /// `clusterInfo.uuid`: the vSAN cluster.
    pub cluster_uuid: Option<String>,
    /// `clusterInfo.nodeUuid`: the host's vSAN node.
    pub node_uuid: Option<String>,
    /// `storageInfo.diskMapping`.
    pub disk_mappings: Vec<DiskMapping>,
}

/// A host and the properties read of it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostObject {
    /// MoRef (`host-101`).
    pub moref: String,
    /// `name`.
    pub name: Option<String>,
    /// `parent`: the cluster's MoRef.
    pub parent: Option<String>,
    /// `config.vsanHostConfig`.
    pub vsan: Option<HostVsanConfig>,
}

/// A virtual machine and the properties read of it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VmObject {
    /// MoRef (`vm-1001`).
    pub moref: String,
    /// `name`.
    pub name: Option<String>,
    /// `config.instanceUuid` (what vSAN's `virtual-machine` entities are named by).
    pub instance_uuid: Option<String>,
    /// `runtime.host`: the host's MoRef.
    pub host: Option<String>,
}

/// One `ObjectContent` of an answer.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum InventoryObject {
    /// A `ClusterComputeResource`.
    Cluster(ClusterObject),
    /// A `HostSystem`.
    Host(HostObject),
    /// A `VirtualMachine`.
    Vm(VmObject),
    /// An object of another type (its properties are not read).
    Other {
        /// The managed object type.
        kind: String,
        /// MoRef.
        moref: String,
    },
}

/// The answer to [`RetrieveProperties`]: the objects found and their properties.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RetrieveResult {
    /// Objects in the order sent.
    pub objects: Vec<InventoryObject>,
}

/// Appends one property: `<propSet><name>..</name><val xsi:type="..">inner</val></propSet>`,
/// `inner` already XML.
fn prop_xml(out: &mut String, name: &str, xsi_type: &str, attrs: &str, inner: &str) {
    let _ = write!(
        out,
        "<propSet><name>{name}</name><val{attrs} xsi:type=\"{xsi_type}\">{inner}</val></propSet>"
    );
}

fn prop_string(out: &mut String, name: &str, value: &str) {
    prop_xml(out, name, "xsd:string", "", &escape(value));
}

fn prop_moref(out: &mut String, name: &str, kind: &str, moref: &str) {
    let attrs = format!(" type=\"{kind}\"");
    prop_xml(out, name, "ManagedObjectReference", &attrs, &escape(moref));
}

fn disk_xml(out: &mut String, tag: &str, disk: &VsanDisk, ssd: bool) {
    let _ = write!(out, "<{tag}>");
    text_element(out, "canonicalName", &disk.canonical_name);
    let _ = write!(out, "<ssd>{ssd}</ssd><vsanDiskInfo>");
    if let Some(u) = &disk.vsan_uuid {
        text_element(out, "vsanUuid", u);
    }
    let _ = write!(out, "</vsanDiskInfo></{tag}>");
}

fn read_disk(el: &Element) -> VsanDisk {
    VsanDisk {
        canonical_name: child_text(el, "canonicalName").unwrap_or_default(),
        vsan_uuid: el
            .path(&["vsanDiskInfo", "vsanUuid"])
            .map(|u| u.text.trim().to_owned()),
    }
}

impl InventoryObject {
    fn encode_into(&self, out: &mut String) {
        match self {
            InventoryObject::Cluster(c) => {
                moref_element(out, "obj", CLUSTER, &c.moref);
                if let Some(n) = &c.name {
                    prop_string(out, "name", n);
                }
                if let Some(v) = &c.vsan {
                    let mut inner = format!("<vsanConfigInfo><enabled>{}</enabled>", v.enabled);
                    if let Some(u) = &v.uuid {
                        inner.push_str("<defaultConfig>");
                        text_element(&mut inner, "uuid", u);
                        inner
                            .push_str("<autoClaimStorage>false</autoClaimStorage></defaultConfig>");
                    }
                    if v.esa {
                        inner.push_str("<vsanEsaEnabled>true</vsanEsaEnabled>");
                    }
                    inner.push_str("</vsanConfigInfo>");
                    prop_xml(out, "configurationEx", "ClusterConfigInfoEx", "", &inner);
                }
            }
            InventoryObject::Host(h) => {
                moref_element(out, "obj", HOST, &h.moref);
                if let Some(n) = &h.name {
                    prop_string(out, "name", n);
                }
                if let Some(p) = &h.parent {
                    prop_moref(out, "parent", CLUSTER, p);
                }
                if let Some(v) = &h.vsan {
                    let mut inner = format!("<enabled>{}</enabled>", v.enabled);
                    moref_element(&mut inner, "hostSystem", HOST, &h.moref);
                    inner.push_str("<clusterInfo>");
                    if let Some(u) = &v.cluster_uuid {
                        text_element(&mut inner, "uuid", u);
                    }
                    if let Some(u) = &v.node_uuid {
                        text_element(&mut inner, "nodeUuid", u);
                    }
                    inner.push_str(
                        "</clusterInfo><storageInfo><autoClaimStorage>false</autoClaimStorage>",
                    );
                    for dm in &v.disk_mappings {
                        inner.push_str("<diskMapping>");
                        disk_xml(&mut inner, "ssd", &dm.cache, true);
                        for d in &dm.capacity {
                            disk_xml(&mut inner, "nonSsd", d, false);
                        }
                        inner.push_str("</diskMapping>");
                    }
                    inner.push_str("</storageInfo>");
                    prop_xml(
                        out,
                        "config.vsanHostConfig",
                        "VsanHostConfigInfo",
                        "",
                        &inner,
                    );
                }
            }
            InventoryObject::Vm(v) => {
                moref_element(out, "obj", VM, &v.moref);
                if let Some(n) = &v.name {
                    prop_string(out, "name", n);
                }
                if let Some(u) = &v.instance_uuid {
                    prop_string(out, "config.instanceUuid", u);
                }
                if let Some(h) = &v.host {
                    prop_moref(out, "runtime.host", HOST, h);
                }
            }
            InventoryObject::Other { kind, moref } => moref_element(out, "obj", kind, moref),
        }
    }

    fn decode(o: &Element) -> Option<InventoryObject> {
        let obj = o.child("obj")?;
        let moref = obj.text.trim().to_owned();
        let prop = |name: &str| {
            o.children_named("propSet")
                .find(|p| p.child_text("name").map(str::trim) == Some(name))
                .and_then(|p| p.child("val"))
        };
        let text = |name: &str| prop(name).map(|v| v.text.trim().to_owned());
        Some(match obj.attr("type") {
            Some(CLUSTER) => InventoryObject::Cluster(ClusterObject {
                moref,
                name: text("name"),
                vsan: prop("configurationEx")
                    .and_then(|c| c.child("vsanConfigInfo"))
                    .map(|v| ClusterVsanConfig {
                        enabled: child_text(v, "enabled").is_some_and(|e| e == "true"),
                        uuid: v
                            .path(&["defaultConfig", "uuid"])
                            .map(|u| u.text.trim().to_owned()),
                        esa: child_text(v, "vsanEsaEnabled").is_some_and(|e| e == "true"),
                    }),
            }),
            Some(HOST) => InventoryObject::Host(HostObject {
                moref,
                name: text("name"),
                parent: text("parent"),
                vsan: prop("config.vsanHostConfig").map(|c| HostVsanConfig {
                    enabled: child_text(c, "enabled").is_some_and(|e| e == "true"),
                    cluster_uuid: c
                        .path(&["clusterInfo", "uuid"])
                        .map(|u| u.text.trim().to_owned()),
                    node_uuid: c
                        .path(&["clusterInfo", "nodeUuid"])
                        .map(|u| u.text.trim().to_owned()),
                    disk_mappings: c
                        .child("storageInfo")
                        .into_iter()
                        .flat_map(|s| s.children_named("diskMapping"))
                        .map(|dm| DiskMapping {
                            cache: dm.child("ssd").map(read_disk).unwrap_or_default(),
                            capacity: dm.children_named("nonSsd").map(read_disk).collect(),
                        })
                        .collect(),
                }),
            }),
            Some(VM) => InventoryObject::Vm(VmObject {
                moref,
                name: text("name"),
                instance_uuid: text("config.instanceUuid"),
                host: text("runtime.host"),
            }),
            other => InventoryObject::Other {
                kind: other.unwrap_or_default().to_owned(),
                moref,
            },
        })
    }
}

impl RetrieveResult {
    /// The answer envelope to a [`RetrieveProperties`] (`extended`: its `Ex` form).
    pub fn encode(&self, extended: bool) -> String {
        let (resp, wrap) = if extended {
            ("RetrievePropertiesExResponse", "objects")
        } else {
            ("RetrievePropertiesResponse", "returnval")
        };
        let mut out = format!("<{resp} xmlns=\"urn:vim25\">");
        if extended {
            out.push_str("<returnval>");
        }
        for o in &self.objects {
            let _ = write!(out, "<{wrap}>");
            o.encode_into(&mut out);
            let _ = write!(out, "</{wrap}>");
        }
        if extended {
            out.push_str("</returnval>");
        }
        let _ = write!(out, "</{resp}>");
        envelope(&out)
    }

    /// Reads an answer to `RetrieveProperties` or `RetrievePropertiesEx`. An object
    /// without `obj` is skipped.
    ///
    /// # Errors
    /// XML errors, [`VsanError::Fault`], [`VsanError::Unexpected`] for another answer.
    pub fn decode(xml: &str) -> Result<RetrieveResult, VsanError> {
        let body = super::super::soap::parse_body(xml)?;
        let contents: Vec<&Element> = match body.name.as_str() {
            "RetrievePropertiesExResponse" => body
                .children_named("returnval")
                .flat_map(|r| r.children_named("objects"))
                .collect(),
            "RetrievePropertiesResponse" => body.children_named("returnval").collect(),
            _ => {
                return Err(VsanError::Unexpected {
                    reason: "not a RetrievePropertiesResponse",
                });
            }
        };
        Ok(RetrieveResult {
            objects: contents
                .into_iter()
                .filter_map(InventoryObject::decode)
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vsan::protocol::IncomingRequest;

    fn disk(n: &str) -> VsanDisk {
        VsanDisk {
            canonical_name: format!("naa.{n}"),
            vsan_uuid: Some(n.to_owned()),
        }
    }

    #[test]
    fn every_object_type_round_trips_in_both_forms() {
        let answer = RetrieveResult {
            objects: vec![
                InventoryObject::Cluster(ClusterObject {
                    moref: "domain-c10".into(),
                    name: Some("c1".into()),
                    vsan: Some(ClusterVsanConfig {
                        enabled: true,
                        uuid: Some("52c0".into()),
                        esa: true,
                    }),
                }),
                InventoryObject::Host(HostObject {
                    moref: "host-101".into(),
                    name: Some("esx <1>".into()),
                    parent: Some("domain-c10".into()),
                    vsan: Some(HostVsanConfig {
                        enabled: true,
                        cluster_uuid: Some("52c0".into()),
                        node_uuid: Some("5f3c".into()),
                        disk_mappings: vec![DiskMapping {
                            cache: disk("a"),
                            capacity: vec![disk("b"), disk("c")],
                        }],
                    }),
                }),
                InventoryObject::Vm(VmObject {
                    moref: "vm-1001".into(),
                    name: Some("app".into()),
                    instance_uuid: Some("5001".into()),
                    host: Some("host-101".into()),
                }),
                InventoryObject::Host(HostObject {
                    moref: "host-102".into(),
                    ..HostObject::default()
                }),
                InventoryObject::Other {
                    kind: "Datastore".into(),
                    moref: "datastore-1".into(),
                },
            ],
        };
        for extended in [true, false] {
            assert_eq!(
                RetrieveResult::decode(&answer.encode(extended)).expect("decode"),
                answer
            );
        }
        let view = CreateContainerView {
            view_manager: "ViewManager".into(),
            container: "group-d1".into(),
            types: vec![CLUSTER.into(), HOST.into()],
            recursive: true,
        };
        let got = IncomingRequest::decode(&view.encode())
            .and_then(|r| r.create_container_view())
            .expect("request");
        assert_eq!(got, view);
        assert_eq!(
            CreateContainerView::decode_response(&CreateContainerView::encode_response(
                "session[1]"
            ))
            .expect("answer"),
            "session[1]"
        );
        let destroy = DestroyView {
            view: "session[1]".into(),
        };
        assert_eq!(
            IncomingRequest::decode(&destroy.encode())
                .and_then(|r| r.destroy_view())
                .expect("request"),
            destroy
        );
    }
}
