//! API version negotiation: the service-versions documents a vCenter serves
//! ([`VIM_SERVICE_VERSIONS_PATH`], [`VSAN_SERVICE_VERSIONS_PATH`]), and the `SOAPAction` that
//! names the negotiated version on every call.
//!
//! The documents have one shape (the one the vSphere Web Services programming guide shows):
//!
//! ```text
//! <namespaces version="1.0">
//!  <namespace>
//!   <name>urn:vim25</name>
//!   <version>8.0.2.0</version>
//!   <priorVersions><version>8.0.1.0</version>...</priorVersions>
//!  </namespace>
//! </namespaces>
//! ```
//!
//! The rule is the one VMware's SDKs apply: pyVmomi's `SmartConnect` walks its own versions
//! from the newest and takes the first one the document lists as `version` or in
//! `priorVersions`; vsanapiutils' `GetLatestVmodlVersion` reads `vsanServiceVersions.xml`
//! the same way for `urn:vsan`. [`negotiate`] does that for a list of known versions, newest
//! first ([`KNOWN_VIM25_VERSIONS`], [`KNOWN_VSAN_VERSIONS`]).
//!
//! # Example
//!
//! ```
//! use vsanobs_core::vsan::protocol::versions::{
//!     KNOWN_VIM25_VERSIONS, ServiceNamespace, ServiceVersions, VersionsError, negotiate_document,
//!     soap_action,
//! };
//!
//! // Server side: a vCenter 7.0U3 document.
//! let doc = ServiceVersions {
//!     namespaces: vec![ServiceNamespace {
//!         name: "urn:vim25".into(),
//!         version: "7.0.3.0".into(),
//!         prior_versions: vec!["7.0.2.0".into(), "6.7.3".into()],
//!     }],
//! };
//! let xml = doc.encode();
//!
//! // Client side: the newest version both ends know.
//! let v = negotiate_document(200, &xml, "urn:vim25", KNOWN_VIM25_VERSIONS)?;
//! assert_eq!(v, "7.0.3.0");
//! assert_eq!(soap_action("urn:vim25", &v), "urn:vim25/7.0.3.0");
//!
//! // A vCenter without the document.
//! assert!(matches!(
//!     negotiate_document(404, "", "urn:vim25", KNOWN_VIM25_VERSIONS),
//!     Err(VersionsError::Missing { status: 404 })
//! ));
//! # Ok::<(), VersionsError>(())
//! ```
//!
//! ## Note
//! A document is a few hundred bytes, read once per login.

use std::fmt::Write as _;

use super::super::VsanError;
use super::super::xml::{Element, escape};

/// Where a vCenter serves the vim25 versions document.
pub const VIM_SERVICE_VERSIONS_PATH: &str = "/sdk/vimServiceVersions.xml";
/// Where a vCenter serves the vSAN versions document.
pub const VSAN_SERVICE_VERSIONS_PATH: &str = "/sdk/vsanServiceVersions.xml";

/// The vim25 releases this crate knows, newest first: the API versions of vCenter 8.0U3,
/// 8.0U2, 8.0U1, 8.0 and 7.0U3 (version ids as pyVmomi's version table spells them). The
/// calls of this module exist unchanged in all of them.
pub const KNOWN_VIM25_VERSIONS: &[&str] = &[
    "8.0.3.0", "8.0.2.0", "8.0.1.0", "8.0.0.2", "8.0.0.1", "8.0.0.0", "7.0.3.2", "7.0.3.1",
    "7.0.3.0",
];

/// The vSAN management releases this crate knows, newest first, as the `version` elements of
/// `vsanServiceVersions.xml` name them. The ids are those of pyVmomi's vSAN version table
/// (`vsan.version.version23` is `8.0.0.4`, ... `vsan.version.version18` is `vSAN 7.0U3`);
/// the release each stands for follows the table's order (8.0.0.4: 8.0U3, 8.0.0.3: 8.0U2,
/// 8.0.0.2: 8.0U1, 8.0.0.1: 8.0, `vSAN 7.0U3`: 7.0U3). `VsanPerfQueryPerf` and
/// `VsanPerfGetSupportedEntityTypes` exist in all of them.
pub const KNOWN_VSAN_VERSIONS: &[&str] =
    &["8.0.0.4", "8.0.0.3", "8.0.0.2", "8.0.0.1", "vSAN 7.0U3"];

/// The root element's `version` attribute the SDKs understand (pyVmomi refuses any other).
const DOCUMENT_FORMAT: &str = "1.0";

/// Why no API version could be taken from a service-versions document.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VersionsError {
    /// The server does not serve the document (HTTP 404, or any status but 200).
    #[error("service versions document not served (http {status})")]
    Missing {
        /// The HTTP status received.
        status: u16,
    },
    /// The document is empty (or only white space).
    #[error("service versions document is empty")]
    Empty,
    /// The document is not XML, or not a `namespaces` document of format 1.0.
    #[error("service versions document is malformed")]
    Malformed {
        /// What was wrong.
        #[source]
        source: VsanError,
    },
    /// The document does not list the namespace asked for.
    #[error("service versions document does not list {namespace}")]
    NamespaceAbsent {
        /// The namespace asked for (`urn:vsan`).
        namespace: String,
    },
    /// The namespace is listed, but with no version this crate knows.
    #[error("no known version of {namespace} among {offered:?}")]
    NoKnownVersion {
        /// The namespace.
        namespace: String,
        /// The versions the server lists (current first).
        offered: Vec<String>,
    },
}

impl VersionsError {
    /// A short stable reason for a `reason` label: `missing`, `empty`, `malformed`,
    /// `namespace_absent`, `no_known_version`.
    pub fn reason(&self) -> &'static str {
        match self {
            VersionsError::Missing { .. } => "missing",
            VersionsError::Empty => "empty",
            VersionsError::Malformed { .. } => "malformed",
            VersionsError::NamespaceAbsent { .. } => "namespace_absent",
            VersionsError::NoKnownVersion { .. } => "no_known_version",
        }
    }
}

/// One `namespace` of a service-versions document.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServiceNamespace {
    /// `urn:vim25` or `urn:vsan`.
    pub name: String,
    /// The server's current version of it.
    pub version: String,
    /// Older versions it still accepts, newest first.
    pub prior_versions: Vec<String>,
}

impl ServiceNamespace {
    /// Whether the server accepts `version` of this namespace (current or prior).
    pub fn accepts(&self, version: &str) -> bool {
        self.version == version || self.prior_versions.iter().any(|v| v == version)
    }

    /// Current version, then prior ones, as listed.
    pub fn all_versions(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.version.as_str()).chain(self.prior_versions.iter().map(String::as_str))
    }
}

/// A service-versions document (`vimServiceVersions.xml`, `vsanServiceVersions.xml`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServiceVersions {
    /// The namespaces listed, in document order.
    pub namespaces: Vec<ServiceNamespace>,
}

impl ServiceVersions {
    /// Reads a document.
    ///
    /// # Errors
    /// [`VersionsError::Empty`] for an empty body; [`VersionsError::Malformed`] when it is
    /// not XML, its root is not `namespaces` of format `1.0`, or a `namespace` lacks its
    /// `name` or `version`.
    pub fn parse(xml: &str) -> Result<ServiceVersions, VersionsError> {
        if xml.trim().is_empty() {
            return Err(VersionsError::Empty);
        }
        let malformed = |reason| VersionsError::Malformed {
            source: VsanError::Unexpected { reason },
        };
        let root = Element::parse(xml).map_err(|source| VersionsError::Malformed { source })?;
        if root.name != "namespaces" {
            return Err(malformed("root element is not namespaces"));
        }
        if root.attr("version").is_some_and(|v| v != DOCUMENT_FORMAT) {
            return Err(malformed("namespaces document format is not 1.0"));
        }
        let namespaces = root
            .children_named("namespace")
            .map(|ns| {
                let text = |name: &str| {
                    ns.child_text(name)
                        .map(|t| t.trim().to_owned())
                        .filter(|t| !t.is_empty())
                };
                Ok(ServiceNamespace {
                    name: text("name").ok_or_else(|| malformed("namespace without name"))?,
                    version: text("version")
                        .ok_or_else(|| malformed("namespace without version"))?,
                    prior_versions: ns
                        .children_named("priorVersions")
                        .flat_map(|p| p.children_named("version"))
                        .map(|v| v.text.trim().to_owned())
                        .filter(|v| !v.is_empty())
                        .collect(),
                })
            })
            .collect::<Result<_, VersionsError>>()?;
        Ok(ServiceVersions { namespaces })
    }

    /// The document as a server serves it.
    pub fn encode(&self) -> String {
        let mut out = String::from(
            "<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\n<namespaces version=\"1.0\">\n",
        );
        for ns in &self.namespaces {
            let _ = write!(
                out,
                " <namespace>\n  <name>{}</name>\n  <version>{}</version>\n",
                escape(&ns.name),
                escape(&ns.version)
            );
            if !ns.prior_versions.is_empty() {
                out.push_str("  <priorVersions>\n");
                for v in &ns.prior_versions {
                    let _ = writeln!(out, "   <version>{}</version>", escape(v));
                }
                out.push_str("  </priorVersions>\n");
            }
            out.push_str(" </namespace>\n");
        }
        out.push_str("</namespaces>\n");
        out
    }

    /// The entry of `namespace` (`urn:vim25`; `vim25` is read as `urn:vim25`).
    pub fn namespace(&self, namespace: &str) -> Option<&ServiceNamespace> {
        let want = qualified(namespace);
        self.namespaces
            .iter()
            .find(|ns| qualified(&ns.name) == want)
    }
}

/// `urn:` + `namespace` unless it already starts so.
fn qualified(namespace: &str) -> std::borrow::Cow<'_, str> {
    if namespace.starts_with("urn:") {
        namespace.into()
    } else {
        format!("urn:{namespace}").into()
    }
}

/// The first of `known` (newest first) that the document lists for `namespace`, current or
/// prior.
///
/// # Errors
/// [`VersionsError::NamespaceAbsent`], [`VersionsError::NoKnownVersion`].
pub fn negotiate(
    doc: &ServiceVersions,
    namespace: &str,
    known: &[&str],
) -> Result<String, VersionsError> {
    let ns = doc
        .namespace(namespace)
        .ok_or_else(|| VersionsError::NamespaceAbsent {
            namespace: qualified(namespace).into_owned(),
        })?;
    known
        .iter()
        .find(|k| ns.accepts(k))
        .map(|k| (*k).to_owned())
        .ok_or_else(|| VersionsError::NoKnownVersion {
            namespace: ns.name.clone(),
            offered: ns.all_versions().map(str::to_owned).collect(),
        })
}

/// [`negotiate`] on an HTTP answer: `status` and `body` of the `GET` of the document.
///
/// # Errors
/// [`VersionsError::Missing`] for any status but 200, then as [`ServiceVersions::parse`]
/// and [`negotiate`].
pub fn negotiate_document(
    status: u16,
    body: &str,
    namespace: &str,
    known: &[&str],
) -> Result<String, VersionsError> {
    if status != 200 {
        return Err(VersionsError::Missing { status });
    }
    negotiate(&ServiceVersions::parse(body)?, namespace, known)
}

/// The `SOAPAction` header naming `version` of `namespace`: `urn:vim25/8.0.2.0`
/// (`namespace` with or without its `urn:`).
pub fn soap_action(namespace: &str, version: &str) -> String {
    format!("{}/{version}", qualified(namespace))
}

/// A `SOAPAction` header read back: namespace (with `urn:`) and version, None for an
/// unversioned action (`urn:vsan/`, `urn:vsan`, as govmomi sends). Quotes around the value
/// are dropped. Returns None for an empty header.
pub fn parse_soap_action(header: &str) -> Option<(String, Option<String>)> {
    let h = header.trim().trim_matches('"').trim();
    if h.is_empty() {
        return None;
    }
    let (ns, version) = match h.split_once('/') {
        Some((ns, v)) => (ns, Some(v.trim()).filter(|v| !v.is_empty())),
        None => (h, None),
    };
    Some((qualified(ns).into_owned(), version.map(str::to_owned)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(name: &str, version: &str, prior: &[&str]) -> ServiceVersions {
        ServiceVersions {
            namespaces: vec![ServiceNamespace {
                name: name.into(),
                version: version.into(),
                prior_versions: prior.iter().map(|p| (*p).to_owned()).collect(),
            }],
        }
    }

    #[test]
    fn round_trip_and_the_documented_shape() {
        let d = doc("urn:vim25", "8.0.3.0", &["8.0.2.0", "8.0.1.0", "7.0.3.0"]);
        assert_eq!(ServiceVersions::parse(&d.encode()).expect("parse"), d);
        // The programming guide's example, with a second namespace and a comment.
        let guide = r#"<?xml version="1.0" encoding="UTF-8" ?>
<!-- Copyright notice -->
<namespaces version="1.0">
 <namespace><name>urn:vim25</name><version>5.0</version>
  <priorVersions><version>2.5u2</version><version>2.5</version></priorVersions></namespace>
 <namespace><name>urn:vim2</name><version>2.0</version></namespace>
</namespaces>"#;
        let g = ServiceVersions::parse(guide).expect("guide");
        assert_eq!(g.namespaces.len(), 2);
        assert_eq!(
            g.namespace("vim25").map(|n| n.prior_versions.clone()),
            Some(vec!["2.5u2".to_owned(), "2.5".to_owned()])
        );
        assert!(g.namespace("urn:vim2").is_some_and(|n| n.accepts("2.0")));
    }

    #[test]
    fn negotiation_takes_the_newest_common_version() {
        // 8.0U2 vCenter: current 8.0.2.0, newest known 8.0.3.0 is not offered.
        let d = doc("urn:vim25", "8.0.2.0", &["8.0.1.0", "8.0.0.2", "7.0.3.0"]);
        assert_eq!(
            negotiate(&d, "urn:vim25", KNOWN_VIM25_VERSIONS).expect("v"),
            "8.0.2.0"
        );
        // A newer server than we know: a prior version we know is taken.
        let d = doc("urn:vim25", "9.0.0.0", &["8.0.3.0", "8.0.2.0"]);
        assert_eq!(
            negotiate(&d, "vim25", KNOWN_VIM25_VERSIONS).expect("v"),
            "8.0.3.0"
        );
        let d = doc("urn:vsan", "8.0.0.3", &["8.0.0.2", "vSAN 7.0U3", "7.0"]);
        assert_eq!(
            negotiate(&d, "urn:vsan", KNOWN_VSAN_VERSIONS).expect("v"),
            "8.0.0.3"
        );
    }

    #[test]
    fn every_bad_document_has_its_own_error() {
        let known = KNOWN_VIM25_VERSIONS;
        let reason = |status, body: &str| {
            negotiate_document(status, body, "urn:vim25", known)
                .expect_err("must fail")
                .reason()
        };
        assert_eq!(reason(404, "<html>not found</html>"), "missing");
        assert_eq!(reason(503, ""), "missing");
        assert_eq!(reason(200, ""), "empty");
        assert_eq!(reason(200, "  \n"), "empty");
        assert_eq!(reason(200, "<namespaces><namespace>"), "malformed");
        assert_eq!(reason(200, "<html><body>hi</body></html>"), "malformed");
        assert_eq!(reason(200, "not xml at all"), "malformed");
        assert_eq!(
            reason(200, r#"<namespaces version="2.0"></namespaces>"#),
            "malformed"
        );
        assert_eq!(
            reason(
                200,
                "<namespaces><namespace><name>urn:vim25</name></namespace></namespaces>"
            ),
            "malformed"
        );
        assert_eq!(
            reason(200, &doc("urn:vsan", "8.0.0.3", &[]).encode()),
            "namespace_absent"
        );
        let err = negotiate_document(
            200,
            &doc("urn:vim25", "6.7.3", &["6.7"]).encode(),
            "urn:vim25",
            known,
        )
        .expect_err("too old");
        match err {
            VersionsError::NoKnownVersion { namespace, offered } => {
                assert_eq!(namespace, "urn:vim25");
                assert_eq!(offered, vec!["6.7.3".to_owned(), "6.7".to_owned()]);
            }
            e => panic!("unexpected {e:?}"),
        }
    }

    #[test]
    fn soap_actions_both_ways() {
        assert_eq!(soap_action("vim25", "8.0.2.0"), "urn:vim25/8.0.2.0");
        assert_eq!(soap_action("urn:vsan", "vSAN 7.0U3"), "urn:vsan/vSAN 7.0U3");
        assert_eq!(
            parse_soap_action("\"urn:vim25/8.0.2.0\""),
            Some(("urn:vim25".into(), Some("8.0.2.0".into())))
        );
        assert_eq!(
            parse_soap_action("urn:vsan/"),
            Some(("urn:vsan".into(), None))
        );
        assert_eq!(
            parse_soap_action("urn:vsan"),
            Some(("urn:vsan".into(), None))
        );
        assert_eq!(parse_soap_action("\"\""), None);
    }
}
