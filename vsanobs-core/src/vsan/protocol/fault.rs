//! SOAP faults: what a server answers instead of a result, and how a client reads one.
//!
//! # Example
//!
//! ```
//! use vsanobs_core::vsan::VsanError;
//! use vsanobs_core::vsan::protocol::{Fault, VSAN_NAMESPACE};
//! use vsanobs_core::vsan::soap::FaultKind;
//!
//! let xml = Fault::new(FaultKind::NotFound, "The object or item referred to could not be found.")
//!     .encode(VSAN_NAMESPACE);
//! let fault = Fault::decode(&xml).expect("a fault");
//! assert_eq!(fault.kind, FaultKind::NotFound);
//! assert_eq!(VsanError::from(fault).reason(), "not_found");
//! ```

use std::fmt::Write as _;

use super::super::VsanError;
use super::super::soap::{FaultKind, parse_body};
use super::super::xml::{Element, escape};
use super::property::MoRef;
use super::{envelope, moref_element, text_element};

/// The typed part of a fault's `detail`, for the kinds that carry one.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum FaultDetail {
    /// Nothing beyond the fault type.
    #[default]
    None,
    /// `InvalidProperty.name`: the property path the server does not know.
    InvalidProperty {
        /// The path as sent (`hostt`, `runtime.foo`).
        name: String,
    },
    /// `InvalidArgument.invalidProperty`: the argument that was not correct, when named.
    InvalidArgument {
        /// The argument (`token`).
        invalid_property: Option<String>,
    },
    /// `NoPermission.object` and `NoPermission.privilegeId`.
    NoPermission {
        /// The object the user may not read.
        object: MoRef,
        /// The privilege missing (`System.View`, `System.Read`).
        privilege_id: String,
    },
}

/// A SOAP fault: its type, its fault string and its typed detail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fault {
    /// The fault type (the `detail` element's `xsi:type`).
    pub kind: FaultKind,
    /// The fault string.
    pub message: String,
    /// The detail's fields, for the kinds that carry some.
    pub detail: FaultDetail,
}

impl Fault {
    /// A fault of `kind` saying `message`.
    pub fn new(kind: FaultKind, message: impl Into<String>) -> Fault {
        Fault {
            kind,
            message: message.into(),
            detail: FaultDetail::None,
        }
    }

    /// `InvalidProperty` for property path `name`, as vCenter raises it for a path the
    /// object's type does not have (the path in `detail/name`).
    pub fn invalid_property(name: impl Into<String>) -> Fault {
        let name = name.into();
        Fault {
            kind: FaultKind::InvalidProperty,
            message: String::new(),
            detail: FaultDetail::InvalidProperty { name },
        }
    }

    /// `NoPermission` on `object` for want of `privilege_id`.
    pub fn no_permission(object: MoRef, privilege_id: impl Into<String>) -> Fault {
        let privilege_id = privilege_id.into();
        Fault {
            kind: FaultKind::NoPermission,
            message: format!(
                "Permission to perform this operation was denied. Required privilege '{privilege_id}' on managed object with id '{}'.",
                object.value
            ),
            detail: FaultDetail::NoPermission {
                object,
                privilege_id,
            },
        }
    }

    /// vCenter's refusal of a `SOAPAction` version it does not implement: a fault without
    /// typed detail (seen in the field as `ServerFaultCode: Request version 'urn:pbm/6.7'
    /// and namespace 'urn:pbm' are not supported`).
    pub fn unsupported_version(namespace: &str, action: &str) -> Fault {
        Fault::new(
            FaultKind::UnsupportedVersion,
            format!("Request version '{action}' and namespace '{namespace}' are not supported"),
        )
    }

    /// The fault envelope, as vCenter sends it: `ServerFaultCode`, the message, and a
    /// `detail` element of the fault's type in `namespace`
    /// ([`VIM25_NAMESPACE`](super::VIM25_NAMESPACE) or [`VSAN_NAMESPACE`](super::VSAN_NAMESPACE))
    /// holding the detail's fields. [`FaultKind::UnsupportedVersion`] has no `detail`.
    pub fn encode(&self, namespace: &str) -> String {
        let kind = self.kind.wire_name();
        let mut body = String::with_capacity(256 + self.message.len());
        let _ = write!(
            body,
            "<soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring>{}</faultstring>",
            escape(&self.message),
        );
        if self.kind != FaultKind::UnsupportedVersion {
            let _ = write!(
                body,
                "<detail><{kind}Fault xmlns=\"{}\" xsi:type=\"{kind}\">",
                escape(namespace)
            );
            match &self.detail {
                FaultDetail::None => {}
                FaultDetail::InvalidProperty { name } => text_element(&mut body, "name", name),
                FaultDetail::InvalidArgument { invalid_property } => {
                    if let Some(p) = invalid_property {
                        text_element(&mut body, "invalidProperty", p);
                    }
                }
                FaultDetail::NoPermission {
                    object,
                    privilege_id,
                } => {
                    moref_element(&mut body, "object", &object.kind, &object.value);
                    text_element(&mut body, "privilegeId", privilege_id);
                }
            }
            let _ = write!(body, "</{kind}Fault></detail>");
        }
        body.push_str("</soapenv:Fault>");
        envelope(&body)
    }

    /// The fault an answer carries, if its body is a SOAP fault (None for any other body,
    /// including one that is not XML).
    pub fn decode(xml: &str) -> Option<Fault> {
        match parse_body(xml) {
            Err(VsanError::Fault { kind, message }) => {
                let detail = Element::parse(xml)
                    .ok()
                    .and_then(|root| detail_of(&root, kind))
                    .unwrap_or_default();
                Some(Fault {
                    kind,
                    message,
                    detail,
                })
            }
            _ => None,
        }
    }
}

/// The typed detail of the fault in envelope `root`.
fn detail_of(root: &Element, kind: FaultKind) -> Option<FaultDetail> {
    let d = root.path(&["Body", "Fault", "detail"])?.children.first()?;
    let text = |name: &str| d.child_text(name).map(|t| t.trim().to_owned());
    Some(match kind {
        FaultKind::InvalidProperty => FaultDetail::InvalidProperty {
            name: text("name")?,
        },
        FaultKind::InvalidArgument => match text("invalidProperty") {
            Some(p) => FaultDetail::InvalidArgument {
                invalid_property: Some(p),
            },
            None => FaultDetail::None,
        },
        FaultKind::NoPermission => {
            let o = d.child("object")?;
            FaultDetail::NoPermission {
                object: MoRef::new(o.attr("type").unwrap_or_default(), o.text.trim()),
                privilege_id: text("privilegeId").unwrap_or_default(),
            }
        }
        _ => FaultDetail::None,
    })
}

impl From<Fault> for VsanError {
    fn from(f: Fault) -> VsanError {
        VsanError::Fault {
            kind: f.kind,
            message: f.message,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips() {
        for kind in [
            FaultKind::InvalidProperty,
            FaultKind::NoPermission,
            FaultKind::ManagedObjectNotFound,
            FaultKind::NotFound,
            FaultKind::InvalidArgument,
            FaultKind::NotAuthenticated,
            FaultKind::InvalidLogin,
            FaultKind::NotSupported,
            FaultKind::InvalidRequest,
            FaultKind::MethodNotFound,
            FaultKind::NoPermission,
        ] {
            let f = Fault::new(kind, "a <b> & \"c\"");
            assert_eq!(
                Fault::decode(&f.encode(super::super::VIM25_NAMESPACE)),
                Some(f)
            );
        }
        assert_eq!(Fault::decode("<html/>"), None);
        for f in [
            Fault::invalid_property("hostt"),
            Fault::no_permission(
                MoRef::new("ClusterComputeResource", "domain-c10"),
                "System.View",
            ),
            Fault::unsupported_version("urn:vim25", "urn:vim25/9.0.0.0"),
            Fault {
                kind: FaultKind::InvalidArgument,
                message: "A specified parameter was not correct: token".into(),
                detail: FaultDetail::InvalidArgument {
                    invalid_property: Some("token".into()),
                },
            },
        ] {
            let xml = f.encode(super::super::VIM25_NAMESPACE);
            assert_eq!(Fault::decode(&xml), Some(f.clone()), "{xml}");
        }
        let xml = Fault::invalid_property("a<b").encode(super::super::VIM25_NAMESPACE);
        assert!(
            xml.contains("<InvalidPropertyFault xmlns=\"urn:vim25\" xsi:type=\"InvalidProperty\"><name>a&lt;b</name></InvalidPropertyFault>"),
            "{xml}"
        );
        assert_eq!(
            Fault::decode(&super::super::session::Logout.encode()),
            None,
            "a request is not a fault"
        );
    }
}
