//! The inventory: a `ContainerView` over the root folder, `RetrieveProperties(Ex)` calls
//! for the cluster, host and VM properties a vSAN exporter needs (paged: a
//! `RetrievePropertiesEx` page carries a `token` for `ContinueRetrievePropertiesEx`; a client
//! that stops early sends `CancelRetrievePropertiesEx`), and `DestroyView`.
//!
//! A client reads answers typed by what they hold for three object types
//! ([`ClusterObject`], [`HostObject`], [`VmObject`], in a [`RetrieveResult`]); a property a
//! server sends that is not modelled here is skipped, an object of another type is kept as
//! [`InventoryObject::Other`]. A server writes any property ([`RetrievePage`] of
//! [`ObjectContent`]s).
//!
//! # Example
//!
//! ```
//! use vsanobs_core::vsan::protocol::IncomingRequest;
//! use vsanobs_core::vsan::protocol::inventory::{
//!     ClusterObject, ClusterVsanConfig, ContinueRetrieveProperties, InventoryObject, PropertySpec,
//!     RetrieveProperties, RetrieveResult,
//! };
//!
//! // A paged RetrievePropertiesEx over a container view, 100 objects a page.
//! let mut req = RetrieveProperties::over_view(
//!     "propertyCollector",
//!     "session[52a1]",
//!     vec![PropertySpec::new("ClusterComputeResource", &["name", "configurationEx"])],
//! );
//! req.max_objects = Some(100);
//! let got = IncomingRequest::decode(&req.encode())?.retrieve_properties()?;
//! assert_eq!(got, req);
//! assert!(got.specs[0].wants("name") && !got.specs[0].wants("parent"));
//!
//! // A page with a token: the client continues with it.
//! let answer = RetrieveResult {
//!     objects: vec![InventoryObject::Cluster(ClusterObject {
//!         moref: "domain-c10".into(),
//!         name: Some("prod & test".into()),
//!         vsan: Some(ClusterVsanConfig { enabled: true, uuid: Some("52f1a6b3".into()), esa: true }),
//!         ..ClusterObject::default()
//!     })],
//!     token: Some("1".into()),
//! };
//! let page = RetrieveResult::decode(&answer.encode(got.extended))?;
//! assert_eq!(page, answer);
//! let next = ContinueRetrieveProperties { collector: got.collector, token: page.token.unwrap() };
//! let read = IncomingRequest::decode(&next.encode())?.continue_retrieve_properties()?;
//! assert_eq!(read.token, "1");
//! # Ok::<(), vsanobs_core::vsan::VsanError>(())
//! ```

use std::fmt::Write as _;

use super::super::VsanError;
use super::super::xml::Element;
use super::property::{MoRef, ObjectContent, PropertyValue};
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
    /// Property paths (`config.vsanHostConfig`).
    pub paths: Vec<String>,
    /// `all`: every property of the type (then `paths` is ignored).
    pub all: bool,
}

impl PropertySpec {
    /// The `paths` of objects of type `kind`.
    pub fn new(kind: &str, paths: &[&str]) -> PropertySpec {
        PropertySpec {
            kind: kind.to_owned(),
            paths: paths.iter().map(|p| (*p).to_owned()).collect(),
            all: false,
        }
    }

    /// Whether property `path` is asked for.
    pub fn wants(&self, path: &str) -> bool {
        self.all || self.paths.iter().any(|p| p == path)
    }
}

/// One `TraversalSpec` of an `ObjectSpec`'s `selectSet`: from an object of type `kind`,
/// follow property `path` to more objects. A bare `SelectionSpec` (a reference to a named
/// traversal) has only `name`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TraversalSpec {
    /// The spec's name (what a `SelectionSpec` refers to), may be empty.
    pub name: String,
    /// The type of the objects it starts from; empty for a bare `SelectionSpec`.
    pub kind: String,
    /// The property followed (`view`, `childEntity`, `hostFolder`, `host`).
    pub path: String,
    /// Whether the objects reached are left out of the answer (but traversed further).
    pub skip: bool,
    /// Traversals from the objects reached.
    pub select: Vec<TraversalSpec>,
}

impl TraversalSpec {
    /// Whether this is a bare `SelectionSpec` (a reference by name).
    pub fn is_reference(&self) -> bool {
        self.kind.is_empty() && self.path.is_empty()
    }

    fn encode_into(&self, out: &mut String) {
        if self.is_reference() {
            out.push_str("<selectSet xsi:type=\"SelectionSpec\">");
            text_element(out, "name", &self.name);
            out.push_str("</selectSet>");
            return;
        }
        out.push_str("<selectSet xsi:type=\"TraversalSpec\">");
        if !self.name.is_empty() {
            text_element(out, "name", &self.name);
        }
        text_element(out, "type", &self.kind);
        text_element(out, "path", &self.path);
        let _ = write!(out, "<skip>{}</skip>", self.skip);
        for s in &self.select {
            s.encode_into(out);
        }
        out.push_str("</selectSet>");
    }

    fn from_element(el: &Element) -> TraversalSpec {
        TraversalSpec {
            name: child_text(el, "name").unwrap_or_default(),
            kind: child_text(el, "type").unwrap_or_default(),
            path: child_text(el, "path").unwrap_or_default(),
            skip: child_text(el, "skip").is_some_and(|s| s == "true" || s == "1"),
            select: el
                .children_named("selectSet")
                .map(TraversalSpec::from_element)
                .collect(),
        }
    }
}

/// One `ObjectSpec`: where a retrieval starts and how it traverses.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ObjectSpec {
    /// The starting object.
    pub obj: MoRef,
    /// Whether the starting object itself is left out of the answer.
    pub skip: bool,
    /// Traversals from it.
    pub select: Vec<TraversalSpec>,
}

impl ObjectSpec {
    /// Every object of container view `view` (the view itself left out): what govmomi's
    /// `view.Retrieve` sends.
    pub fn container_view(view: &str) -> ObjectSpec {
        ObjectSpec {
            obj: MoRef::new("ContainerView", view),
            skip: true,
            select: vec![TraversalSpec {
                name: "traverseEntities".into(),
                kind: "ContainerView".into(),
                path: "view".into(),
                skip: false,
                select: Vec::new(),
            }],
        }
    }

    /// Just `obj`, no traversal: a property read of one object.
    pub fn single(obj: MoRef) -> ObjectSpec {
        ObjectSpec {
            obj,
            skip: false,
            select: Vec::new(),
        }
    }
}

/// `PropertyCollector.RetrieveProperties(Ex)`: properties of the objects some `ObjectSpec`s
/// reach.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RetrieveProperties {
    /// The property collector.
    pub collector: String,
    /// Where to start and how to traverse.
    pub objects: Vec<ObjectSpec>,
    /// What to read, per object type.
    pub specs: Vec<PropertySpec>,
    /// `RetrievePropertiesEx` (answers with a `RetrieveResult`, paged) rather than the older
    /// `RetrieveProperties` (answers with every object directly).
    pub extended: bool,
    /// `options/maxObjects` of `RetrievePropertiesEx`: the page size asked for (None: the
    /// server's default).
    pub max_objects: Option<u32>,
}

impl RetrieveProperties {
    /// `RetrievePropertiesEx` of `specs` over every object of container view `view`.
    pub fn over_view(collector: &str, view: &str, specs: Vec<PropertySpec>) -> RetrieveProperties {
        RetrieveProperties {
            collector: collector.to_owned(),
            objects: vec![ObjectSpec::container_view(view)],
            specs,
            extended: true,
            max_objects: None,
        }
    }

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
            if spec.all {
                out.push_str("<all>true</all>");
            }
            for p in &spec.paths {
                text_element(&mut out, "pathSet", p);
            }
            out.push_str("</propSet>");
        }
        for o in &self.objects {
            out.push_str("<objectSet>");
            moref_element(&mut out, "obj", &o.obj.kind, &o.obj.value);
            let _ = write!(out, "<skip>{}</skip>", o.skip);
            for s in &o.select {
                s.encode_into(&mut out);
            }
            out.push_str("</objectSet>");
        }
        out.push_str("</specSet>");
        if self.extended {
            out.push_str("<options>");
            if let Some(n) = self.max_objects {
                let _ = write!(out, "<maxObjects>{n}</maxObjects>");
            }
            out.push_str("</options>");
        }
        let _ = write!(out, "</{method}>");
        envelope(&out)
    }

    pub(super) fn from_request(req: &Element) -> Result<RetrieveProperties, VsanError> {
        let specs = req
            .children_named("specSet")
            .flat_map(|s| s.children_named("propSet"))
            .map(|ps| PropertySpec {
                kind: child_text(ps, "type").unwrap_or_default(),
                paths: ps
                    .children_named("pathSet")
                    .map(|p| p.text.trim().to_owned())
                    .collect(),
                all: child_text(ps, "all").is_some_and(|a| a == "true" || a == "1"),
            })
            .collect();
        let objects = req
            .children_named("specSet")
            .flat_map(|s| s.children_named("objectSet"))
            .map(|o| {
                Ok(ObjectSpec {
                    obj: MoRef::from_element(o.child("obj").ok_or(VsanError::Unexpected {
                        reason: "objectSet without obj",
                    })?),
                    skip: child_text(o, "skip").is_some_and(|s| s == "true" || s == "1"),
                    select: o
                        .children_named("selectSet")
                        .map(TraversalSpec::from_element)
                        .collect(),
                })
            })
            .collect::<Result<_, VsanError>>()?;
        let max_objects = match req.path(&["options", "maxObjects"]) {
            None => None,
            Some(m) => Some(
                m.text
                    .trim()
                    .parse::<i64>()
                    .map_err(|_| VsanError::Unexpected {
                        reason: "maxObjects is not an integer",
                    })?,
            )
            // vCenter reads a zero or negative maxObjects as unset.
            .filter(|n| *n > 0)
            .map(|n| u32::try_from(n).unwrap_or(u32::MAX)),
        };
        Ok(RetrieveProperties {
            collector: child_text(req, "_this").unwrap_or_default(),
            objects,
            specs,
            extended: req.name == "RetrievePropertiesEx",
            max_objects,
        })
    }
}

/// `PropertyCollector.ContinueRetrievePropertiesEx`: the next page of a retrieval.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContinueRetrieveProperties {
    /// The property collector that returned the token.
    pub collector: String,
    /// The `token` of the previous page.
    pub token: String,
}

impl ContinueRetrieveProperties {
    /// The request envelope.
    pub fn encode(&self) -> String {
        token_request("ContinueRetrievePropertiesEx", &self.collector, &self.token)
    }

    pub(super) fn from_request(req: &Element) -> Result<ContinueRetrieveProperties, VsanError> {
        Ok(ContinueRetrieveProperties {
            collector: child_text(req, "_this").unwrap_or_default(),
            token: required_text(req, "token", "ContinueRetrievePropertiesEx without token")?,
        })
    }
}

/// `PropertyCollector.CancelRetrievePropertiesEx`: drops the rest of a retrieval.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CancelRetrieveProperties {
    /// The property collector that returned the token.
    pub collector: String,
    /// The `token` of the last page received.
    pub token: String,
}

impl CancelRetrieveProperties {
    /// The request envelope.
    pub fn encode(&self) -> String {
        token_request("CancelRetrievePropertiesEx", &self.collector, &self.token)
    }

    /// The (empty) answer envelope.
    pub fn encode_response() -> String {
        envelope(
            "<CancelRetrievePropertiesExResponse xmlns=\"urn:vim25\"></CancelRetrievePropertiesExResponse>",
        )
    }

    /// Reads the answer.
    ///
    /// # Errors
    /// XML errors, [`VsanError::Fault`] (`InvalidArgument` for a token the server does not
    /// know), [`VsanError::Unexpected`] for another answer.
    pub fn decode_response(xml: &str) -> Result<(), VsanError> {
        answer_body(
            xml,
            "CancelRetrievePropertiesExResponse",
            "not a CancelRetrievePropertiesExResponse",
        )
        .map(|_| ())
    }

    pub(super) fn from_request(req: &Element) -> Result<CancelRetrieveProperties, VsanError> {
        Ok(CancelRetrieveProperties {
            collector: child_text(req, "_this").unwrap_or_default(),
            token: required_text(req, "token", "CancelRetrievePropertiesEx without token")?,
        })
    }
}

fn token_request(method: &str, collector: &str, token: &str) -> String {
    let mut out = format!("<{method} xmlns=\"urn:vim25\">");
    moref_element(&mut out, "_this", "PropertyCollector", collector);
    text_element(&mut out, "token", token);
    let _ = write!(out, "</{method}>");
    envelope(&out)
}

/// One page of a retrieval as a server writes it: objects with any properties, and the
/// token of the next page.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RetrievePage {
    /// The objects of this page.
    pub objects: Vec<ObjectContent>,
    /// The token of the next page (None: this is the last).
    pub token: Option<String>,
}

impl RetrievePage {
    /// The answer to a `RetrieveProperties` (`extended == false`: every object as one
    /// `returnval`, no token) or a `RetrievePropertiesEx` (one `returnval` `RetrieveResult`
    /// with `token` then `objects`; no `returnval` at all when there is neither).
    pub fn encode(&self, extended: bool) -> String {
        if extended {
            self.encode_result("RetrievePropertiesExResponse")
        } else {
            let mut out = String::from("<RetrievePropertiesResponse xmlns=\"urn:vim25\">");
            for o in &self.objects {
                out.push_str("<returnval>");
                o.encode_into(&mut out);
                out.push_str("</returnval>");
            }
            out.push_str("</RetrievePropertiesResponse>");
            envelope(&out)
        }
    }

    /// The answer to a `ContinueRetrievePropertiesEx` (the `RetrieveResult` shape).
    pub fn encode_continue(&self) -> String {
        self.encode_result("ContinueRetrievePropertiesExResponse")
    }

    fn encode_result(&self, response: &str) -> String {
        let mut out = format!("<{response} xmlns=\"urn:vim25\">");
        if self.token.is_some() || !self.objects.is_empty() {
            out.push_str("<returnval>");
            if let Some(t) = &self.token {
                text_element(&mut out, "token", t);
            }
            for o in &self.objects {
                out.push_str("<objects>");
                o.encode_into(&mut out);
                out.push_str("</objects>");
            }
            out.push_str("</returnval>");
        }
        let _ = write!(out, "</{response}>");
        envelope(&out)
    }

    /// Reads an answer to `RetrieveProperties`, `RetrievePropertiesEx` or
    /// `ContinueRetrievePropertiesEx` with every property as sent.
    ///
    /// # Errors
    /// XML errors, [`VsanError::Fault`], [`VsanError::Unexpected`] for another answer.
    pub fn decode(xml: &str) -> Result<RetrievePage, VsanError> {
        let (contents, token) = retrieve_answer(xml)?;
        Ok(RetrievePage {
            objects: contents.iter().filter_map(ObjectContent::decode).collect(),
            token,
        })
    }
}

/// The `ObjectContent` elements and the token of a retrieval answer.
fn retrieve_answer(xml: &str) -> Result<(Vec<Element>, Option<String>), VsanError> {
    let body = super::super::soap::parse_body(xml)?;
    match body.name.as_str() {
        "RetrievePropertiesExResponse" | "ContinueRetrievePropertiesExResponse" => {
            let mut token = None;
            let mut contents = Vec::new();
            for rv in body.children.into_iter().filter(|c| c.name == "returnval") {
                if let Some(t) = child_text(&rv, "token").filter(|t| !t.is_empty()) {
                    token = Some(t);
                }
                contents.extend(rv.children.into_iter().filter(|c| c.name == "objects"));
            }
            Ok((contents, token))
        }
        "RetrievePropertiesResponse" => Ok((
            body.children
                .into_iter()
                .filter(|c| c.name == "returnval")
                .collect(),
            None,
        )),
        _ => Err(VsanError::Unexpected {
            reason: "not a RetrievePropertiesResponse",
        }),
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
    /// `parent`: the host folder holding the cluster.
    pub parent: Option<String>,
    /// `host`: the cluster's hosts (None when not sent).
    pub hosts: Option<Vec<String>>,
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
    /// `runtime.connectionState` (`connected`, `disconnected`, `notResponding`).
    pub connection_state: Option<String>,
    /// `runtime.inMaintenanceMode`.
    pub in_maintenance_mode: Option<bool>,
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

/// The answer to [`RetrieveProperties`] or [`ContinueRetrieveProperties`], typed: the
/// objects found and their properties, and the token of the next page.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RetrieveResult {
    /// Objects in the order sent.
    pub objects: Vec<InventoryObject>,
    /// The token of the next page (`ContinueRetrievePropertiesEx`); None on the last page.
    pub token: Option<String>,
}

fn string(s: &str) -> PropertyValue {
    PropertyValue::String(s.to_owned())
}

fn moref(kind: &str, value: &str) -> PropertyValue {
    PropertyValue::MoRef(MoRef::new(kind, value))
}

/// `configurationEx` of a cluster with vSAN settings `v` (a `ClusterConfigInfoEx`).
pub fn cluster_configuration_ex(v: &ClusterVsanConfig) -> PropertyValue {
    let mut vsan = vec![("enabled", PropertyValue::Bool(v.enabled))];
    if let Some(u) = &v.uuid {
        vsan.push((
            "defaultConfig",
            PropertyValue::data(
                "VsanClusterConfigInfoHostDefaultInfo",
                vec![
                    ("uuid", string(u)),
                    ("autoClaimStorage", PropertyValue::Bool(false)),
                ],
            ),
        ));
    }
    if v.esa {
        vsan.push(("vsanEsaEnabled", PropertyValue::Bool(true)));
    }
    PropertyValue::data(
        "ClusterConfigInfoEx",
        vec![(
            "vsanConfigInfo",
            PropertyValue::data("VsanClusterConfigInfo", vsan),
        )],
    )
}

fn scsi_disk(disk: &VsanDisk, ssd: bool) -> PropertyValue {
    let mut info = Vec::new();
    if let Some(u) = &disk.vsan_uuid {
        info.push(("vsanUuid", string(u)));
    }
    PropertyValue::data(
        "HostScsiDisk",
        vec![
            ("canonicalName", string(&disk.canonical_name)),
            ("ssd", PropertyValue::Bool(ssd)),
            (
                "vsanDiskInfo",
                PropertyValue::data("VsanHostVsanDiskInfo", info),
            ),
        ],
    )
}

/// `config.vsanHostConfig` of host `host` (a `VsanHostConfigInfo`).
pub fn host_vsan_config(host: &str, v: &HostVsanConfig) -> PropertyValue {
    let mut cluster_info = Vec::new();
    if let Some(u) = &v.cluster_uuid {
        cluster_info.push(("uuid", string(u)));
    }
    if let Some(u) = &v.node_uuid {
        cluster_info.push(("nodeUuid", string(u)));
    }
    let mut storage = vec![("autoClaimStorage", PropertyValue::Bool(false))];
    for dm in &v.disk_mappings {
        let mut m = vec![("ssd", scsi_disk(&dm.cache, true))];
        m.extend(dm.capacity.iter().map(|d| ("nonSsd", scsi_disk(d, false))));
        storage.push(("diskMapping", PropertyValue::data("VsanHostDiskMapping", m)));
    }
    PropertyValue::data(
        "VsanHostConfigInfo",
        vec![
            ("enabled", PropertyValue::Bool(v.enabled)),
            ("hostSystem", moref(HOST, host)),
            (
                "clusterInfo",
                PropertyValue::data("VsanHostConfigInfoClusterInfo", cluster_info),
            ),
            (
                "storageInfo",
                PropertyValue::data("VsanHostConfigInfoStorageInfo", storage),
            ),
        ],
    )
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
    /// The object with the properties set in it, as the property collector sends it.
    pub fn to_content(&self) -> ObjectContent {
        let mut props: Vec<(String, PropertyValue)> = Vec::new();
        let mut push = |name: &str, v: PropertyValue| props.push((name.to_owned(), v));
        let obj = match self {
            InventoryObject::Cluster(c) => {
                if let Some(n) = &c.name {
                    push("name", string(n));
                }
                if let Some(p) = &c.parent {
                    push("parent", moref("Folder", p));
                }
                if let Some(hs) = &c.hosts {
                    push(
                        "host",
                        PropertyValue::MoRefs(hs.iter().map(|h| MoRef::new(HOST, h)).collect()),
                    );
                }
                if let Some(v) = &c.vsan {
                    push("configurationEx", cluster_configuration_ex(v));
                }
                MoRef::new(CLUSTER, &c.moref)
            }
            InventoryObject::Host(h) => {
                if let Some(n) = &h.name {
                    push("name", string(n));
                }
                if let Some(p) = &h.parent {
                    push("parent", moref(CLUSTER, p));
                }
                if let Some(s) = &h.connection_state {
                    push(
                        "runtime.connectionState",
                        PropertyValue::enumeration("HostSystemConnectionState", s),
                    );
                }
                if let Some(m) = h.in_maintenance_mode {
                    push("runtime.inMaintenanceMode", PropertyValue::Bool(m));
                }
                if let Some(v) = &h.vsan {
                    push("config.vsanHostConfig", host_vsan_config(&h.moref, v));
                }
                MoRef::new(HOST, &h.moref)
            }
            InventoryObject::Vm(v) => {
                if let Some(n) = &v.name {
                    push("name", string(n));
                }
                if let Some(u) = &v.instance_uuid {
                    push("config.instanceUuid", string(u));
                }
                if let Some(h) = &v.host {
                    push("runtime.host", moref(HOST, h));
                }
                MoRef::new(VM, &v.moref)
            }
            InventoryObject::Other { kind, moref } => MoRef::new(kind, moref),
        };
        ObjectContent { obj, props }
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
                parent: text("parent"),
                hosts: prop("host").map(|h| {
                    h.children
                        .iter()
                        .map(|m| m.text.trim().to_owned())
                        .collect()
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
                connection_state: text("runtime.connectionState"),
                in_maintenance_mode: text("runtime.inMaintenanceMode").map(|m| m == "true"),
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
    /// The answer envelope to a [`RetrieveProperties`] (`extended`: its `Ex` form, with the
    /// token), through [`RetrievePage::encode`].
    pub fn encode(&self, extended: bool) -> String {
        self.page().encode(extended)
    }

    /// The answer envelope to a [`ContinueRetrieveProperties`].
    pub fn encode_continue(&self) -> String {
        self.page().encode_continue()
    }

    fn page(&self) -> RetrievePage {
        RetrievePage {
            objects: self
                .objects
                .iter()
                .map(InventoryObject::to_content)
                .collect(),
            token: self.token.clone(),
        }
    }

    /// Reads an answer to `RetrieveProperties`, `RetrievePropertiesEx` or
    /// `ContinueRetrievePropertiesEx`. An object without `obj` is skipped.
    ///
    /// # Errors
    /// XML errors, [`VsanError::Fault`] (`InvalidProperty` for a path the server does not
    /// know, `InvalidArgument` for a token it does not know), [`VsanError::Unexpected`] for
    /// another answer.
    pub fn decode(xml: &str) -> Result<RetrieveResult, VsanError> {
        let (contents, token) = retrieve_answer(xml)?;
        Ok(RetrieveResult {
            objects: contents
                .iter()
                .filter_map(InventoryObject::decode)
                .collect(),
            token,
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
                    parent: Some("group-h4".into()),
                    hosts: Some(vec!["host-101".into(), "host-102".into()]),
                }),
                InventoryObject::Host(HostObject {
                    moref: "host-101".into(),
                    name: Some("esx <1>".into()),
                    parent: Some("domain-c10".into()),
                    connection_state: Some("connected".into()),
                    in_maintenance_mode: Some(false),
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
            token: None,
        };
        for extended in [true, false] {
            assert_eq!(
                RetrieveResult::decode(&answer.encode(extended)).expect("decode"),
                answer
            );
        }
        let paged = RetrieveResult {
            token: Some("t-2".into()),
            ..answer.clone()
        };
        assert_eq!(
            RetrieveResult::decode(&paged.encode(true)).expect("ex"),
            paged
        );
        assert_eq!(
            RetrieveResult::decode(&paged.encode_continue()).expect("continue"),
            paged
        );
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

#[cfg(test)]
mod paging_tests {
    use super::*;
    use crate::vsan::protocol::{IncomingRequest, Method};

    #[test]
    fn wsdl_shapes_of_the_three_answers() {
        let page = RetrievePage {
            objects: vec![ObjectContent {
                obj: MoRef::new(CLUSTER, "domain-c10"),
                props: vec![("name".into(), PropertyValue::String("c1".into()))],
            }],
            token: Some("7".into()),
        };
        // RetrieveProperties: one returnval per ObjectContent, never a token.
        let plain = page.encode(false);
        assert!(
            plain.contains("<RetrievePropertiesResponse xmlns=\"urn:vim25\"><returnval><obj type=\"ClusterComputeResource\">domain-c10</obj><propSet><name>name</name><val xsi:type=\"xsd:string\">c1</val></propSet></returnval></RetrievePropertiesResponse>"),
            "{plain}"
        );
        // RetrievePropertiesEx / Continue: one RetrieveResult, token before objects.
        for (xml, resp) in [
            (page.encode(true), "RetrievePropertiesExResponse"),
            (
                page.encode_continue(),
                "ContinueRetrievePropertiesExResponse",
            ),
        ] {
            assert!(
                xml.contains(&format!(
                    "<{resp} xmlns=\"urn:vim25\"><returnval><token>7</token><objects><obj "
                )),
                "{xml}"
            );
            assert_eq!(RetrievePage::decode(&xml).expect("decode"), page);
        }
        // Nothing found: no returnval at all.
        let empty = RetrievePage::default().encode(true);
        assert!(empty.contains(
            "<RetrievePropertiesExResponse xmlns=\"urn:vim25\"></RetrievePropertiesExResponse>"
        ));
        assert_eq!(
            RetrievePage::decode(&empty).expect("empty"),
            RetrievePage::default()
        );
        // Zero objects and a token (a server's odd page) still reads.
        let odd = RetrievePage {
            objects: Vec::new(),
            token: Some("8".into()),
        };
        assert_eq!(
            RetrieveResult::decode(&odd.encode_continue())
                .expect("odd")
                .token
                .as_deref(),
            Some("8")
        );
    }

    #[test]
    fn requests_round_trip() {
        let mut req = RetrieveProperties {
            collector: "propertyCollector".into(),
            objects: vec![
                ObjectSpec::single(MoRef::new(CLUSTER, "domain-c10")),
                ObjectSpec {
                    obj: MoRef::new("Folder", "group-d1"),
                    skip: true,
                    select: vec![TraversalSpec {
                        name: "folder".into(),
                        kind: "Folder".into(),
                        path: "childEntity".into(),
                        skip: false,
                        select: vec![TraversalSpec {
                            name: "folder".into(),
                            ..TraversalSpec::default()
                        }],
                    }],
                },
            ],
            specs: vec![PropertySpec {
                kind: HOST.into(),
                paths: Vec::new(),
                all: true,
            }],
            extended: false,
            max_objects: None,
        };
        let got = IncomingRequest::decode(&req.encode())
            .and_then(|r| r.retrieve_properties())
            .expect("plain");
        assert_eq!(got, req);
        assert!(got.specs[0].wants("anything"));
        assert!(got.objects[1].select[0].select[0].is_reference());
        req.extended = true;
        req.max_objects = Some(250);
        let got = IncomingRequest::decode(&req.encode())
            .and_then(|r| r.retrieve_properties())
            .expect("ex");
        assert_eq!(got, req);
        // maxObjects 0 or negative reads as unset; garbage is an error.
        let zero = req
            .encode()
            .replace("<maxObjects>250</maxObjects>", "<maxObjects>0</maxObjects>");
        assert_eq!(
            IncomingRequest::decode(&zero)
                .and_then(|r| r.retrieve_properties())
                .expect("zero")
                .max_objects,
            None
        );
        let bad = req.encode().replace(
            "<maxObjects>250</maxObjects>",
            "<maxObjects>many</maxObjects>",
        );
        assert!(
            IncomingRequest::decode(&bad)
                .and_then(|r| r.retrieve_properties())
                .is_err()
        );

        let cont = ContinueRetrieveProperties {
            collector: "propertyCollector".into(),
            token: "a&b".into(),
        };
        let r = IncomingRequest::decode(&cont.encode()).expect("continue");
        assert_eq!(r.method(), Method::ContinueRetrieveProperties);
        assert_eq!(r.continue_retrieve_properties().expect("args"), cont);
        assert!(r.cancel_retrieve_properties().is_err());
        let cancel = CancelRetrieveProperties {
            collector: "propertyCollector".into(),
            token: "9".into(),
        };
        let r = IncomingRequest::decode(&cancel.encode()).expect("cancel");
        assert_eq!(r.method(), Method::CancelRetrieveProperties);
        assert_eq!(r.cancel_retrieve_properties().expect("args"), cancel);
        CancelRetrieveProperties::decode_response(&CancelRetrieveProperties::encode_response())
            .expect("answer");
        let no_token = cont.encode().replace("<token>a&amp;b</token>", "");
        assert!(
            IncomingRequest::decode(&no_token)
                .and_then(|r| r.continue_retrieve_properties())
                .is_err()
        );
    }
}
