//! Managed object properties as the property collector and `Fetch` carry them: managed
//! object references ([`MoRef`]), typed values ([`PropertyValue`], data objects included),
//! and one object's properties ([`ObjectContent`]), with the property-path rules a vCenter
//! applies (a path it does not know raises `InvalidProperty`).
//!
//! # Example
//!
//! ```
//! use vsanobs_core::vsan::protocol::property::{MoRef, ObjectContent, PropertyValue};
//!
//! let runtime = PropertyValue::data("HostRuntimeInfo", vec![
//!     ("connectionState", PropertyValue::enumeration("HostSystemConnectionState", "connected")),
//!     ("inMaintenanceMode", PropertyValue::Bool(false)),
//! ]);
//! let host = MoRef::new("HostSystem", "host-101");
//! let all = vec![
//!     ("name".to_owned(), PropertyValue::String("esx-01.lab.local".into())),
//!     ("runtime".to_owned(), runtime),
//! ];
//! // A path into a data object, and a path the type does not have.
//! let got = ObjectContent::select(&host, &all, &["runtime.connectionState".into()])?;
//! assert_eq!(got.props[0].1, PropertyValue::enumeration("HostSystemConnectionState", "connected"));
//! let err = ObjectContent::select(&host, &all, &["runtime.bogus".into()]).unwrap_err();
//! assert_eq!(err, "runtime.bogus");
//! # Ok::<(), String>(())
//! ```

use std::fmt::Write as _;

use super::super::csv::{format_xsd_datetime, parse_xsd_datetime};
use super::super::xml::{Element, escape};

/// A managed object reference: type and id (`HostSystem` / `host-101`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct MoRef {
    /// The managed object type.
    pub kind: String,
    /// The id.
    pub value: String,
}

impl MoRef {
    /// The reference to `value` of type `kind`.
    pub fn new(kind: impl Into<String>, value: impl Into<String>) -> MoRef {
        MoRef {
            kind: kind.into(),
            value: value.into(),
        }
    }

    /// Reads `<x type="kind">value</x>`.
    pub(crate) fn from_element(el: &Element) -> MoRef {
        MoRef::new(el.attr("type").unwrap_or_default(), el.text.trim())
    }
}

/// A property value.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum PropertyValue {
    /// `xsd:string`.
    String(String),
    /// `xsd:boolean`.
    Bool(bool),
    /// `xsd:int`.
    Int(i32),
    /// `xsd:long`.
    Long(i64),
    /// `xsd:dateTime`, as Unix seconds (written in UTC).
    DateTime(i64),
    /// An enumeration value with its type (`HostSystemConnectionState` / `connected`).
    Enum {
        /// The enumeration type.
        kind: String,
        /// The value.
        value: String,
    },
    /// A managed object reference.
    MoRef(MoRef),
    /// `ArrayOfManagedObjectReference`.
    MoRefs(Vec<MoRef>),
    /// `ArrayOfString`.
    Strings(Vec<String>),
    /// A data object: its type and its fields in order (a field that repeats is an array).
    Data {
        /// The data object type (`HostRuntimeInfo`).
        kind: String,
        /// Field name and value, in the WSDL's order.
        fields: Vec<(String, PropertyValue)>,
    },
    /// A leaf read back without a type (inside a data object): its text.
    Text(String),
}

impl PropertyValue {
    /// A data object of type `kind` with `fields`.
    pub fn data(kind: &str, fields: Vec<(&str, PropertyValue)>) -> PropertyValue {
        PropertyValue::Data {
            kind: kind.to_owned(),
            fields: fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
        }
    }

    /// An enumeration value.
    pub fn enumeration(kind: &str, value: &str) -> PropertyValue {
        PropertyValue::Enum {
            kind: kind.to_owned(),
            value: value.to_owned(),
        }
    }

    /// The `xsi:type` of this value as a property value (`xsd:string`, `HostRuntimeInfo`).
    pub fn xsi_type(&self) -> &str {
        match self {
            PropertyValue::String(_) | PropertyValue::Text(_) => "xsd:string",
            PropertyValue::Bool(_) => "xsd:boolean",
            PropertyValue::Int(_) => "xsd:int",
            PropertyValue::Long(_) => "xsd:long",
            PropertyValue::DateTime(_) => "xsd:dateTime",
            PropertyValue::Enum { kind, .. } | PropertyValue::Data { kind, .. } => kind,
            PropertyValue::MoRef(_) => "ManagedObjectReference",
            PropertyValue::MoRefs(_) => "ArrayOfManagedObjectReference",
            PropertyValue::Strings(_) => "ArrayOfString",
        }
    }

    /// The value at `path` (`connectionState`, `clusterInfo.uuid`) inside this one; the empty
    /// path is the value itself. None when a step names no field. For a field that repeats,
    /// the first occurrence.
    pub fn get(&self, path: &str) -> Option<&PropertyValue> {
        if path.is_empty() {
            return Some(self);
        }
        let (head, rest) = path.split_once('.').unwrap_or((path, ""));
        match self {
            PropertyValue::Data { fields, .. } => fields
                .iter()
                .find(|(k, _)| k == head)
                .and_then(|(_, v)| v.get(rest)),
            _ => None,
        }
    }

    /// The text of a leaf (string, enumeration, number, boolean, reference id).
    pub fn text(&self) -> Option<String> {
        match self {
            PropertyValue::String(s) | PropertyValue::Text(s) => Some(s.clone()),
            PropertyValue::Bool(b) => Some(b.to_string()),
            PropertyValue::Int(i) => Some(i.to_string()),
            PropertyValue::Long(i) => Some(i.to_string()),
            PropertyValue::DateTime(t) => Some(format_xsd_datetime(*t)),
            PropertyValue::Enum { value, .. } => Some(value.clone()),
            PropertyValue::MoRef(m) => Some(m.value.clone()),
            _ => None,
        }
    }

    /// Appends `<tag xsi:type="..">..</tag>`: the value as a property value (`val`) or a
    /// `Fetch` result (`returnval`).
    pub fn encode_typed(&self, out: &mut String, tag: &str) {
        match self {
            PropertyValue::MoRef(m) => {
                let _ = write!(
                    out,
                    "<{tag} type=\"{}\" xsi:type=\"ManagedObjectReference\">{}</{tag}>",
                    escape(&m.kind),
                    escape(&m.value)
                );
            }
            _ => {
                let _ = write!(out, "<{tag} xsi:type=\"{}\">", escape(self.xsi_type()));
                self.encode_inner(out);
                let _ = write!(out, "</{tag}>");
            }
        }
    }

    /// Appends the content of the value's element (not the element itself).
    fn encode_inner(&self, out: &mut String) {
        match self {
            PropertyValue::String(s) | PropertyValue::Text(s) => out.push_str(&escape(s)),
            PropertyValue::Bool(b) => {
                let _ = write!(out, "{b}");
            }
            PropertyValue::Int(i) => {
                let _ = write!(out, "{i}");
            }
            PropertyValue::Long(i) => {
                let _ = write!(out, "{i}");
            }
            PropertyValue::DateTime(t) => out.push_str(&format_xsd_datetime(*t)),
            PropertyValue::Enum { value, .. } => out.push_str(&escape(value)),
            PropertyValue::MoRef(m) => out.push_str(&escape(&m.value)),
            PropertyValue::MoRefs(ms) => {
                for m in ms {
                    PropertyValue::MoRef(m.clone()).encode_typed(out, "ManagedObjectReference");
                }
            }
            PropertyValue::Strings(ss) => {
                for s in ss {
                    let _ = write!(out, "<string>{}</string>", escape(s));
                }
            }
            PropertyValue::Data { fields, .. } => {
                for (name, v) in fields {
                    v.encode_field(out, name);
                }
            }
        }
    }

    /// Appends the value as a field of a data object: no `xsi:type` (the field's declared
    /// type is the value's), a reference keeps its `type` attribute, an array repeats the
    /// field.
    fn encode_field(&self, out: &mut String, name: &str) {
        match self {
            PropertyValue::MoRef(m) => {
                let _ = write!(
                    out,
                    "<{name} type=\"{}\">{}</{name}>",
                    escape(&m.kind),
                    escape(&m.value)
                );
            }
            PropertyValue::MoRefs(ms) => {
                for m in ms {
                    PropertyValue::MoRef(m.clone()).encode_field(out, name);
                }
            }
            PropertyValue::Strings(ss) => {
                for s in ss {
                    let _ = write!(out, "<{name}>{}</{name}>", escape(s));
                }
            }
            _ => {
                let _ = write!(out, "<{name}>");
                self.encode_inner(out);
                let _ = write!(out, "</{name}>");
            }
        }
    }

    /// Reads a value element (`val`, `returnval`): typed by its `xsi:type`; a data object's
    /// fields are read as [`PropertyValue::Text`] leaves, references and nested data objects.
    pub(crate) fn decode(el: &Element) -> PropertyValue {
        let text = || el.text.trim().to_owned();
        match el.xsi_type() {
            Some("ManagedObjectReference") => PropertyValue::MoRef(MoRef::from_element(el)),
            Some("ArrayOfManagedObjectReference") => {
                PropertyValue::MoRefs(el.children.iter().map(MoRef::from_element).collect())
            }
            Some("ArrayOfString") => PropertyValue::Strings(
                el.children
                    .iter()
                    .map(|c| c.text.trim().to_owned())
                    .collect(),
            ),
            Some("string") => PropertyValue::String(el.text.clone()),
            Some("boolean") => match el.text.trim() {
                "true" | "1" => PropertyValue::Bool(true),
                "false" | "0" => PropertyValue::Bool(false),
                _ => PropertyValue::Text(text()),
            },
            Some("int" | "short" | "byte") => el
                .text
                .trim()
                .parse()
                .map_or_else(|_| PropertyValue::Text(text()), PropertyValue::Int),
            Some("dateTime") => parse_xsd_datetime(el.text.trim())
                .map_or_else(|_| PropertyValue::Text(text()), PropertyValue::DateTime),
            Some("long") => el
                .text
                .trim()
                .parse()
                .map_or_else(|_| PropertyValue::Text(text()), PropertyValue::Long),
            Some(kind)
                if el.children.is_empty() && !kind.is_empty() && !el.text.trim().is_empty() =>
            {
                PropertyValue::Enum {
                    kind: kind.to_owned(),
                    value: text(),
                }
            }
            kind => PropertyValue::Data {
                kind: kind.unwrap_or_default().to_owned(),
                fields: el
                    .children
                    .iter()
                    .map(|c| (c.name.clone(), field(c)))
                    .collect(),
            },
        }
    }
}

/// A data object field read back.
fn field(el: &Element) -> PropertyValue {
    if el.xsi_type().is_some() {
        PropertyValue::decode(el)
    } else if el.attr("type").is_some() {
        PropertyValue::MoRef(MoRef::from_element(el))
    } else if el.children.is_empty() {
        PropertyValue::Text(el.text.trim().to_owned())
    } else {
        PropertyValue::Data {
            kind: String::new(),
            fields: el
                .children
                .iter()
                .map(|c| (c.name.clone(), field(c)))
                .collect(),
        }
    }
}

/// One object and the properties read of it (`ObjectContent`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ObjectContent {
    /// The object.
    pub obj: MoRef,
    /// Property path and value, in the order asked.
    pub props: Vec<(String, PropertyValue)>,
}

impl ObjectContent {
    /// The properties at `paths` (every top-level property when `paths` is empty) of `obj`,
    /// whose top-level properties are `all`. A path is a top-level name, optionally followed
    /// by `.field` steps into a data object (`runtime.connectionState`); a known property
    /// that is unset is left out, as a vCenter does.
    ///
    /// # Errors
    /// The first path that names no property of `all` (the server answers
    /// `InvalidProperty` with it).
    pub fn select(
        obj: &MoRef,
        all: &[(String, PropertyValue)],
        paths: &[String],
    ) -> Result<ObjectContent, String> {
        let props = if paths.is_empty() {
            all.to_vec()
        } else {
            let mut props = Vec::with_capacity(paths.len());
            for p in paths {
                props.push((p.clone(), resolve(all, p).ok_or_else(|| p.clone())?.clone()));
            }
            props
        };
        Ok(ObjectContent {
            obj: obj.clone(),
            props,
        })
    }

    /// The value of property `path`, if sent.
    pub fn prop(&self, path: &str) -> Option<&PropertyValue> {
        self.props.iter().find(|(k, _)| k == path).map(|(_, v)| v)
    }

    /// Appends the `ObjectContent` fields (`obj`, then one `propSet` per property) to `out`.
    pub(crate) fn encode_into(&self, out: &mut String) {
        let _ = write!(
            out,
            "<obj type=\"{}\">{}</obj>",
            escape(&self.obj.kind),
            escape(&self.obj.value)
        );
        for (name, v) in &self.props {
            let _ = write!(out, "<propSet><name>{}</name>", escape(name));
            v.encode_typed(out, "val");
            out.push_str("</propSet>");
        }
    }

    /// Reads an `ObjectContent` element (None without `obj`).
    pub(crate) fn decode(el: &Element) -> Option<ObjectContent> {
        let obj = MoRef::from_element(el.child("obj")?);
        let props = el
            .children_named("propSet")
            .filter_map(|p| {
                let name = p.child_text("name")?.trim().to_owned();
                Some((name, p.child("val").map(PropertyValue::decode)?))
            })
            .collect();
        Some(ObjectContent { obj, props })
    }
}

/// The value at property path `path` among top-level properties `all`.
pub fn resolve<'a>(all: &'a [(String, PropertyValue)], path: &str) -> Option<&'a PropertyValue> {
    if path.split('.').any(str::is_empty) {
        return None;
    }
    let (head, rest) = path.split_once('.').unwrap_or((path, ""));
    all.iter()
        .find(|(k, _)| k == head)
        .and_then(|(_, v)| v.get(rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<(String, PropertyValue)> {
        vec![
            ("name".into(), PropertyValue::String("c <1> & 2".into())),
            (
                "host".into(),
                PropertyValue::MoRefs(vec![
                    MoRef::new("HostSystem", "host-1"),
                    MoRef::new("HostSystem", "host-2"),
                ]),
            ),
            (
                "parent".into(),
                PropertyValue::MoRef(MoRef::new("Folder", "group-h4")),
            ),
            (
                "summary".into(),
                PropertyValue::data(
                    "ClusterComputeResourceSummary",
                    vec![
                        ("totalMemory", PropertyValue::Long(1 << 40)),
                        ("numHosts", PropertyValue::Int(2)),
                        ("bootTime", PropertyValue::DateTime(1_704_103_200)),
                        (
                            "overallStatus",
                            PropertyValue::enumeration("ManagedEntityStatus", "green"),
                        ),
                    ],
                ),
            ),
        ]
    }

    #[test]
    fn object_content_round_trips_through_xml() {
        let obj = MoRef::new("ClusterComputeResource", "domain-c10");
        let oc = ObjectContent::select(&obj, &sample(), &[]).expect("all");
        let mut xml = String::from("<objects>");
        oc.encode_into(&mut xml);
        xml.push_str("</objects>");
        let doc = format!(
            "<r xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xmlns:xsd=\"x\">{xml}</r>"
        );
        let el = Element::parse(&doc).expect("xml");
        let back = ObjectContent::decode(&el.children[0]).expect("content");
        assert_eq!(back.obj, obj);
        assert_eq!(back.prop("name"), oc.prop("name"));
        assert_eq!(back.prop("host"), oc.prop("host"));
        assert_eq!(back.prop("parent"), oc.prop("parent"));
        let clock = ObjectContent {
            obj: obj.clone(),
            props: vec![("serverClock".into(), PropertyValue::DateTime(1_704_103_200))],
        };
        let mut xml =
            String::from("<objects xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">");
        clock.encode_into(&mut xml);
        xml.push_str("</objects>");
        assert!(
            xml.contains("<val xsi:type=\"xsd:dateTime\">2024-01-01T10:00:00Z</val>"),
            "{xml}"
        );
        let el = Element::parse(&xml).expect("xml");
        assert_eq!(ObjectContent::decode(&el), Some(clock));
        // Nested leaves come back as text, reachable by path.
        let s = back.prop("summary").expect("summary");
        assert_eq!(s.xsi_type(), "ClusterComputeResourceSummary");
        assert_eq!(
            s.get("numHosts").and_then(PropertyValue::text),
            Some("2".into())
        );
        assert_eq!(
            s.get("overallStatus").and_then(PropertyValue::text),
            Some("green".into())
        );
    }

    #[test]
    fn paths_resolve_or_name_the_unknown_one() {
        let obj = MoRef::new("ClusterComputeResource", "domain-c10");
        let all = sample();
        let got = ObjectContent::select(&obj, &all, &["summary.numHosts".into(), "name".into()])
            .expect("known");
        assert_eq!(got.props[0].1, PropertyValue::Int(2));
        assert_eq!(got.props[1].0, "name");
        for bad in ["hosts", "summary.nope", "name.length", "", "summary."] {
            assert_eq!(
                ObjectContent::select(&obj, &all, &[bad.into()]),
                Err(bad.to_owned()),
                "{bad}"
            );
        }
    }
}
