//! `Fetch`: one property of one managed object, the way pyVmomi reads every property
//! (`cluster.name` sends `Fetch` with `prop` = `name` to the cluster; its
//! `StubAdapterAccessorImpl` builds the call, in the session's negotiated version).
//!
//! The answer is a `FetchResponse` with the value as one `returnval` typed by `xsi:type`
//! (an array property is one `returnval` of an `ArrayOf...` type), and no `returnval` when
//! the property is unset; a property the object's type does not have is the fault
//! `InvalidProperty`.
//!
//! # Example
//!
//! ```
//! use vsanobs_core::vsan::protocol::IncomingRequest;
//! use vsanobs_core::vsan::protocol::fetch::Fetch;
//! use vsanobs_core::vsan::protocol::property::{MoRef, PropertyValue};
//!
//! let req = Fetch { obj: MoRef::new("ClusterComputeResource", "domain-c10"), prop: "host".into() };
//! let got = IncomingRequest::decode(&req.encode())?.fetch()?;
//! assert_eq!(got, req);
//!
//! let hosts = PropertyValue::MoRefs(vec![MoRef::new("HostSystem", "host-101")]);
//! let answer = Fetch::encode_response(Some(&hosts));
//! assert!(answer.contains(r#"<returnval xsi:type="ArrayOfManagedObjectReference">"#));
//! assert_eq!(Fetch::decode_response(&answer)?, Some(hosts));
//! assert_eq!(Fetch::decode_response(&Fetch::encode_response(None))?, None);
//! # Ok::<(), vsanobs_core::vsan::VsanError>(())
//! ```

use super::super::VsanError;
use super::super::xml::Element;
use super::property::{MoRef, PropertyValue};
use super::{answer_body, envelope, moref_element, required_text, text_element};

/// `Fetch` of property `prop` of `obj`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Fetch {
    /// The object read.
    pub obj: MoRef,
    /// The property: a top-level name (`name`, `host`, `runtime`) or a path
    /// (`runtime.connectionState`).
    pub prop: String,
}

impl Fetch {
    /// The request envelope.
    pub fn encode(&self) -> String {
        let mut out = String::from("<Fetch xmlns=\"urn:vim25\">");
        moref_element(&mut out, "_this", &self.obj.kind, &self.obj.value);
        text_element(&mut out, "prop", &self.prop);
        out.push_str("</Fetch>");
        envelope(&out)
    }

    pub(super) fn from_request(req: &Element) -> Result<Fetch, VsanError> {
        let this = req.child("_this").ok_or(VsanError::Unexpected {
            reason: "Fetch without _this",
        })?;
        Ok(Fetch {
            obj: MoRef::from_element(this),
            prop: required_text(req, "prop", "Fetch without prop")?,
        })
    }

    /// The answer envelope: the value, or none for an unset property.
    pub fn encode_response(value: Option<&PropertyValue>) -> String {
        let mut out = String::from("<FetchResponse xmlns=\"urn:vim25\">");
        if let Some(v) = value {
            v.encode_typed(&mut out, "returnval");
        }
        out.push_str("</FetchResponse>");
        envelope(&out)
    }

    /// Reads the answer: the value (data objects as [`PropertyValue::decode`] reads them),
    /// None for an unset property.
    ///
    /// # Errors
    /// XML errors, [`VsanError::Fault`] (`InvalidProperty` for a property the type does not
    /// have), [`VsanError::Unexpected`] for another answer.
    pub fn decode_response(xml: &str) -> Result<Option<PropertyValue>, VsanError> {
        let body = answer_body(xml, "FetchResponse", "not a FetchResponse")?;
        Ok(body.child("returnval").map(PropertyValue::decode))
    }
}
