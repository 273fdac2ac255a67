//! The vCenter SOAP calls a vSAN exporter makes, as types both ends share: a client encodes
//! requests and decodes answers, a server (the simulator) decodes requests and encodes
//! answers, through the same structs.
//!
//! - [`session`]: `Login`, `Logout`, `RetrieveServiceContent`, `CurrentTime` and the
//!   [`SESSION_COOKIE`] that carries the session.
//! - [`inventory`]: `CreateContainerView`, `RetrieveProperties(Ex)` (paged, with
//!   `ContinueRetrievePropertiesEx` and `CancelRetrievePropertiesEx`) and the cluster, host
//!   and VM properties the exporter reads, `DestroyView`.
//! - [`perf`]: `VsanPerfQueryPerf` requests, [`perf::QueryPerfResponseWriter`] for answers
//!   (decoded by [`soap::for_each_entity`](super::soap::for_each_entity)), and
//!   `VsanPerfGetSupportedEntityTypes`.
//! - [`fault`]: SOAP faults, both ways, with the typed details of `InvalidProperty` and
//!   `NoPermission`.
//! - [`versions`]: the service-versions documents, API version negotiation and the
//!   `SOAPAction` naming the negotiated version.
//! - [`property`]: managed object references, property values and paths.
//! - [`fetch`]: `Fetch`, the single-property read pyVmomi uses.
//! - [`health`]: `VsanQueryVcClusterHealthSummary` (overall health, groups and tests).
//! - [`space`]: `VsanQuerySpaceUsage` (capacity, use by object type, dedup/compression).
//! - [`resync`]: `VsanQuerySyncingVsanObjects` (what is left to resync, by reason).
//!
//! A server reads a request with [`IncomingRequest::decode`], dispatches on
//! [`IncomingRequest::method`] and takes the arguments with the typed reader of that call
//! (a malformed envelope and malformed arguments are told apart, so each gets its own fault).
//!
//! # Example
//!
//! ```
//! use vsanobs_core::vsan::protocol::{IncomingRequest, Method};
//! use vsanobs_core::vsan::protocol::perf::{PerfQuery, PerfQuerySpec};
//!
//! // Client side: one wildcard spec over (start, end].
//! let query = PerfQuery {
//!     cluster: Some("domain-c10".into()),
//!     specs: vec![PerfQuerySpec::wildcard("host-domclient", 1_704_103_200, 1_704_103_500)],
//! };
//! let xml = query.encode();
//!
//! // Server side: the same type back.
//! let req = IncomingRequest::decode(&xml)?;
//! assert_eq!(req.method(), Method::VsanPerfQueryPerf);
//! let got = req.perf_query()?;
//! assert_eq!(got, query);
//! assert_eq!(got.specs[0].entity_ref_id, "host-domclient:*");
//! # Ok::<(), vsanobs_core::vsan::VsanError>(())
//! ```
//!
//! ## Note
//! Requests and the small answers are read into a tree once per call; the one large answer,
//! `VsanPerfQueryPerf`'s, is streamed by [`soap::for_each_entity`](super::soap::for_each_entity)
//! and written by [`perf::QueryPerfResponseWriter`] without an intermediate tree.

pub mod fault;
pub mod fetch;
pub mod health;
pub mod inventory;
pub mod perf;
pub mod property;
pub mod resync;
pub mod session;
pub mod space;
pub mod versions;

use std::fmt::Write as _;

use super::VsanError;
use super::soap::parse_body;
use super::xml::{Element, escape};

pub use fault::Fault;
pub use session::SESSION_COOKIE;

/// The vim25 endpoint of a vCenter (sessions, inventory).
pub const SDK_PATH: &str = "/sdk";
/// The vSAN management endpoint of a vCenter (performance manager); the session cookie of
/// [`SDK_PATH`] authenticates it.
pub const VSAN_HEALTH_PATH: &str = "/vsanHealth";
/// The namespace of vim25 calls.
pub const VIM25_NAMESPACE: &str = "urn:vim25";
/// The namespace of vSAN calls.
pub const VSAN_NAMESPACE: &str = "urn:vsan";
/// The `SOAPAction` header of vim25 calls when no version was negotiated: namespace and
/// API release (a vCenter 8.0U2 or newer accepts it; see [`versions`] to negotiate).
pub const VIM25_SOAP_ACTION: &str = "urn:vim25/8.0.2.0";
/// The `SOAPAction` header of vSAN calls (no release, as govmomi sends it).
pub const VSAN_SOAP_ACTION: &str = "urn:vsan/";

const ENVELOPE_OPEN: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenc="http://schemas.xmlsoap.org/soap/encoding/" xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<soapenv:Body>
"#;
const ENVELOPE_CLOSE: &str = "\n</soapenv:Body>\n</soapenv:Envelope>\n";

/// A SOAP envelope around `body` (one request or answer element).
pub(crate) fn envelope(body: &str) -> String {
    let mut s = String::with_capacity(ENVELOPE_OPEN.len() + body.len() + ENVELOPE_CLOSE.len());
    s.push_str(ENVELOPE_OPEN);
    s.push_str(body);
    s.push_str(ENVELOPE_CLOSE);
    s
}

/// Appends `<name>text</name>` with `text` escaped.
pub(crate) fn text_element(out: &mut String, name: &str, text: &str) {
    let _ = write!(out, "<{name}>{}</{name}>", escape(text));
}

/// Appends `<name type="kind">moref</name>`: a managed object reference.
pub(crate) fn moref_element(out: &mut String, name: &str, kind: &str, moref: &str) {
    let _ = write!(
        out,
        "<{name} type=\"{}\">{}</{name}>",
        escape(kind),
        escape(moref)
    );
}

/// The trimmed text of child `name`, if present.
pub(crate) fn child_text(el: &Element, name: &str) -> Option<String> {
    el.child_text(name).map(|t| t.trim().to_owned())
}

/// The trimmed text of child `name`, or `reason` as an error.
pub(crate) fn required_text(
    el: &Element,
    name: &str,
    reason: &'static str,
) -> Result<String, VsanError> {
    child_text(el, name).ok_or(VsanError::Unexpected { reason })
}

/// The integer (`xsd:long`/`xsd:int`) text of child `name`, None when absent.
///
/// # Errors
/// [`VsanError::Unexpected`] with `reason` when present but not an integer.
pub(crate) fn opt_long(
    el: &Element,
    name: &str,
    reason: &'static str,
) -> Result<Option<i64>, VsanError> {
    el.child_text(name)
        .map(|t| {
            t.trim()
                .parse::<i64>()
                .map_err(|_| VsanError::Unexpected { reason })
        })
        .transpose()
}

/// The body element of an answer that must be `expected`.
///
/// # Errors
/// As [`parse_body`]: XML errors, [`VsanError::Fault`] for a SOAP fault; and
/// [`VsanError::Unexpected`] when the body is another element.
pub(crate) fn answer_body(
    xml: &str,
    expected: &str,
    reason: &'static str,
) -> Result<Element, VsanError> {
    let body = parse_body(xml)?;
    if body.name != expected {
        return Err(VsanError::Unexpected { reason });
    }
    Ok(body)
}

/// The call a request names (the local name of its body element).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Method<'a> {
    /// `RetrieveServiceContent` ([`session::RetrieveServiceContent`]).
    RetrieveServiceContent,
    /// `Login` ([`IncomingRequest::login`]).
    Login,
    /// `Logout`.
    Logout,
    /// `CurrentTime`.
    CurrentTime,
    /// `CreateContainerView` ([`IncomingRequest::create_container_view`]).
    CreateContainerView,
    /// `DestroyView` ([`IncomingRequest::destroy_view`]).
    DestroyView,
    /// `RetrieveProperties` or `RetrievePropertiesEx` ([`IncomingRequest::retrieve_properties`]).
    RetrieveProperties,
    /// `ContinueRetrievePropertiesEx` ([`IncomingRequest::continue_retrieve_properties`]).
    ContinueRetrieveProperties,
    /// `CancelRetrievePropertiesEx` ([`IncomingRequest::cancel_retrieve_properties`]).
    CancelRetrieveProperties,
    /// `Fetch` ([`IncomingRequest::fetch`]).
    Fetch,
    /// `VsanPerfQueryPerf` ([`IncomingRequest::perf_query`]).
    VsanPerfQueryPerf,
    /// `VsanPerfGetSupportedEntityTypes`.
    VsanPerfGetSupportedEntityTypes,
    /// `VsanQueryVcClusterHealthSummary` ([`IncomingRequest::health_summary`]).
    VsanQueryVcClusterHealthSummary,
    /// `VsanQuerySpaceUsage` ([`IncomingRequest::space_usage`]).
    VsanQuerySpaceUsage,
    /// `VsanQuerySyncingVsanObjects` ([`IncomingRequest::syncing_objects`]).
    VsanQuerySyncingVsanObjects,
    /// A call this module does not model, by its name.
    Other(&'a str),
}

/// A request as a server receives it: the call's name, and its arguments read on demand
/// with the reader of that call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IncomingRequest {
    body: Element,
}

impl IncomingRequest {
    /// Reads a request envelope.
    ///
    /// # Errors
    /// [`VsanError::Xml`] / [`VsanError::Truncated`] for malformed XML;
    /// [`VsanError::Unexpected`] when it is not a SOAP envelope with a body element;
    /// [`VsanError::Fault`] when the body is a fault.
    pub fn decode(xml: &str) -> Result<IncomingRequest, VsanError> {
        Ok(IncomingRequest {
            body: parse_body(xml)?,
        })
    }

    /// The call.
    pub fn method(&self) -> Method<'_> {
        match self.body.name.as_str() {
            "RetrieveServiceContent" => Method::RetrieveServiceContent,
            "Login" => Method::Login,
            "Logout" => Method::Logout,
            "CurrentTime" => Method::CurrentTime,
            "CreateContainerView" => Method::CreateContainerView,
            "DestroyView" => Method::DestroyView,
            "RetrieveProperties" | "RetrievePropertiesEx" => Method::RetrieveProperties,
            "ContinueRetrievePropertiesEx" => Method::ContinueRetrieveProperties,
            "CancelRetrievePropertiesEx" => Method::CancelRetrieveProperties,
            "Fetch" => Method::Fetch,
            "VsanPerfQueryPerf" => Method::VsanPerfQueryPerf,
            "VsanPerfGetSupportedEntityTypes" => Method::VsanPerfGetSupportedEntityTypes,
            "VsanQueryVcClusterHealthSummary" => Method::VsanQueryVcClusterHealthSummary,
            "VsanQuerySpaceUsage" => Method::VsanQuerySpaceUsage,
            "VsanQuerySyncingVsanObjects" => Method::VsanQuerySyncingVsanObjects,
            other => Method::Other(other),
        }
    }

    /// The name of the call as sent (`RetrievePropertiesEx`).
    pub fn method_name(&self) -> &str {
        &self.body.name
    }

    /// The arguments of a `Login`.
    ///
    /// # Errors
    /// [`VsanError::Unexpected`] when the request is not a `Login` or lacks `userName`.
    pub fn login(&self) -> Result<session::Login, VsanError> {
        session::Login::from_request(self.expect("Login")?)
    }

    /// The arguments of a `CreateContainerView`.
    ///
    /// # Errors
    /// [`VsanError::Unexpected`] when the request is not a `CreateContainerView`.
    pub fn create_container_view(&self) -> Result<inventory::CreateContainerView, VsanError> {
        inventory::CreateContainerView::from_request(self.expect("CreateContainerView")?)
    }

    /// The arguments of a `DestroyView`.
    ///
    /// # Errors
    /// [`VsanError::Unexpected`] when the request is not a `DestroyView` or names no view.
    pub fn destroy_view(&self) -> Result<inventory::DestroyView, VsanError> {
        inventory::DestroyView::from_request(self.expect("DestroyView")?)
    }

    /// The arguments of a `RetrieveProperties` or `RetrievePropertiesEx`.
    ///
    /// # Errors
    /// [`VsanError::Unexpected`] when the request is neither, an `objectSet` has no `obj`
    /// or `maxObjects` is not an integer.
    pub fn retrieve_properties(&self) -> Result<inventory::RetrieveProperties, VsanError> {
        if self.method() != Method::RetrieveProperties {
            return Err(VsanError::Unexpected {
                reason: "not a RetrieveProperties request",
            });
        }
        inventory::RetrieveProperties::from_request(&self.body)
    }

    /// The arguments of a `ContinueRetrievePropertiesEx`.
    ///
    /// # Errors
    /// [`VsanError::Unexpected`] when the request is another call or has no `token`.
    pub fn continue_retrieve_properties(
        &self,
    ) -> Result<inventory::ContinueRetrieveProperties, VsanError> {
        inventory::ContinueRetrieveProperties::from_request(
            self.expect("ContinueRetrievePropertiesEx")?,
        )
    }

    /// The arguments of a `CancelRetrievePropertiesEx`.
    ///
    /// # Errors
    /// [`VsanError::Unexpected`] when the request is another call or has no `token`.
    pub fn cancel_retrieve_properties(
        &self,
    ) -> Result<inventory::CancelRetrieveProperties, VsanError> {
        inventory::CancelRetrieveProperties::from_request(
            self.expect("CancelRetrievePropertiesEx")?,
        )
    }

    /// The arguments of a `Fetch`.
    ///
    /// # Errors
    /// [`VsanError::Unexpected`] when the request is another call or lacks `_this` or `prop`.
    pub fn fetch(&self) -> Result<fetch::Fetch, VsanError> {
        fetch::Fetch::from_request(self.expect("Fetch")?)
    }

    /// The arguments of a `VsanPerfQueryPerf`.
    ///
    /// # Errors
    /// [`VsanError::Unexpected`] when the request is not a `VsanPerfQueryPerf`, or a spec's
    /// `startTime` / `endTime` is not an `xsd:dateTime` (the reason names which).
    pub fn perf_query(&self) -> Result<perf::PerfQuery, VsanError> {
        perf::PerfQuery::from_request(self.expect("VsanPerfQueryPerf")?)
    }

    /// The arguments of a `VsanQueryVcClusterHealthSummary`.
    ///
    /// # Errors
    /// [`VsanError::Unexpected`] when the request is another call or `fetchFromCache` is
    /// not a boolean.
    pub fn health_summary(&self) -> Result<health::HealthSummaryQuery, VsanError> {
        health::HealthSummaryQuery::from_request(self.expect("VsanQueryVcClusterHealthSummary")?)
    }

    /// The arguments of a `VsanQuerySpaceUsage`.
    ///
    /// # Errors
    /// [`VsanError::Unexpected`] when the request is another call or names no cluster.
    pub fn space_usage(&self) -> Result<space::SpaceUsageQuery, VsanError> {
        space::SpaceUsageQuery::from_request(self.expect("VsanQuerySpaceUsage")?)
    }

    /// The arguments of a `VsanQuerySyncingVsanObjects`.
    ///
    /// # Errors
    /// [`VsanError::Unexpected`] when the request is another call, has no `_this`, or
    /// `start` / `limit` / `includeSummary` are malformed.
    pub fn syncing_objects(&self) -> Result<resync::SyncingObjectsQuery, VsanError> {
        resync::SyncingObjectsQuery::from_request(self.expect("VsanQuerySyncingVsanObjects")?)
    }

    fn expect(&self, name: &str) -> Result<&Element, VsanError> {
        if self.body.name == name {
            Ok(&self.body)
        } else {
            Err(VsanError::Unexpected {
                reason: "request is another call",
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_and_envelope_errors() {
        let req = IncomingRequest::decode(&session::Logout.encode()).expect("logout");
        assert_eq!(req.method(), Method::Logout);
        assert!(req.login().is_err(), "a Logout has no login arguments");
        let other = IncomingRequest::decode(&envelope("<Frobnicate xmlns=\"urn:vim25\"/>"))
            .expect("well-formed");
        assert_eq!(other.method(), Method::Other("Frobnicate"));
        assert!(matches!(
            IncomingRequest::decode("<Envelope><Body>"),
            Err(VsanError::Truncated)
        ));
        assert!(matches!(
            IncomingRequest::decode("<html/>"),
            Err(VsanError::Unexpected { .. })
        ));
    }
}
