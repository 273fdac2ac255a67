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
use super::super::xml::escape;
use super::envelope;

/// A SOAP fault: its type and its fault string.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fault {
    /// The fault type (the `detail` element's `xsi:type`).
    pub kind: FaultKind,
    /// The fault string.
    pub message: String,
}

impl Fault {
    /// A fault of `kind` saying `message`.
    pub fn new(kind: FaultKind, message: impl Into<String>) -> Fault {
        Fault {
            kind,
            message: message.into(),
        }
    }

    /// The fault envelope, as vCenter sends it: `ServerFaultCode`, the message, and a
    /// `detail` element of the fault's type in `namespace`
    /// ([`VIM25_NAMESPACE`](super::VIM25_NAMESPACE) or [`VSAN_NAMESPACE`](super::VSAN_NAMESPACE)).
    pub fn encode(&self, namespace: &str) -> String {
        let kind = self.kind.wire_name();
        let mut body = String::with_capacity(256 + self.message.len());
        let _ = write!(
            body,
            "<soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring>{}</faultstring><detail><{kind}Fault xmlns=\"{}\" xsi:type=\"{kind}\"></{kind}Fault></detail></soapenv:Fault>",
            escape(&self.message),
            escape(namespace)
        );
        envelope(&body)
    }

    /// The fault an answer carries, if its body is a SOAP fault (None for any other body,
    /// including one that is not XML).
    pub fn decode(xml: &str) -> Option<Fault> {
        match parse_body(xml) {
            Err(VsanError::Fault { kind, message }) => Some(Fault { kind, message }),
            _ => None,
        }
    }
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
        assert_eq!(
            Fault::decode(&super::super::session::Logout.encode()),
            None,
            "a request is not a fault"
        );
    }
}
