//! `VsanQueryVcClusterHealthSummary` on `VsanVcClusterHealthSystem:vsan-cluster-health-system`:
//! a cluster's overall vSAN health and its health groups with their tests.
//!
//! vSAN states a health as `green`, `yellow` or `red` (and, for some tests, `info`,
//! `skipped` or `unknown`); [`HealthState`] keeps the three and reads anything else as
//! [`HealthState::Unknown`], so a state the reader does not know is exported as unknown,
//! never dropped.
//!
//! The request asks for the `overallHealth` and `groups` fields only and, by default, for
//! the vCenter's cached result (`fetchFromCache`): a fresh health check runs every test on
//! every host and takes tens of seconds.
//!
//! # Example
//!
//! ```
//! use vsanobs_core::vsan::protocol::IncomingRequest;
//! use vsanobs_core::vsan::protocol::health::{
//!     HealthGroup, HealthState, HealthSummary, HealthSummaryQuery, HealthTest,
//! };
//!
//! let query = HealthSummaryQuery::cached("domain-c10");
//! assert_eq!(IncomingRequest::decode(&query.encode())?.health_summary()?, query);
//!
//! let summary = HealthSummary {
//!     overall: HealthState::Red,
//!     groups: vec![HealthGroup {
//!         id: "com.vmware.vsan.health.test.network".into(),
//!         name: "Network".into(),
//!         health: HealthState::Red,
//!         tests: vec![HealthTest {
//!             id: "com.vmware.vsan.health.test.hostdisconnected".into(),
//!             name: "Hosts disconnected from VC".into(),
//!             health: HealthState::Red,
//!         }],
//!     }],
//! };
//! let back = HealthSummary::decode(&summary.encode_response())?;
//! assert_eq!(back, summary);
//! assert_eq!(back.groups[0].short_id(), "network");
//! // A state vSAN may report that is none of the three.
//! assert_eq!(HealthState::parse("skipped"), HealthState::Unknown);
//! # Ok::<(), vsanobs_core::vsan::VsanError>(())
//! ```

use super::super::VsanError;
use super::super::xml::Element;
use super::{answer_body, child_text, envelope, moref_element, text_element};

/// The prefix of vSAN's health group and test ids (`com.vmware.vsan.health.test.network`).
pub const HEALTH_ID_PREFIX: &str = "com.vmware.vsan.health.test.";

/// Most health groups an answer may carry (vSAN 8 has about 15).
pub const MAX_HEALTH_GROUPS: usize = 128;

/// Most tests a health group may carry (the largest vSAN 8 group has about 20).
pub const MAX_HEALTH_TESTS_PER_GROUP: usize = 256;

/// A health state: the three vSAN grades, and unknown for anything else.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HealthState {
    /// `green`.
    Green,
    /// `yellow`.
    Yellow,
    /// `red`.
    Red,
    /// Missing, empty, or a state other than the three (`info`, `skipped`, `unknown`...).
    #[default]
    Unknown,
}

impl HealthState {
    /// Every state, in label order.
    pub const ALL: [HealthState; 4] = [
        HealthState::Green,
        HealthState::Yellow,
        HealthState::Red,
        HealthState::Unknown,
    ];

    /// Reads a state as vSAN writes it (case and surrounding space ignored).
    pub fn parse(s: &str) -> HealthState {
        let s = s.trim();
        if s.eq_ignore_ascii_case("green") {
            HealthState::Green
        } else if s.eq_ignore_ascii_case("yellow") {
            HealthState::Yellow
        } else if s.eq_ignore_ascii_case("red") {
            HealthState::Red
        } else {
            HealthState::Unknown
        }
    }

    /// The state as vSAN writes it, and the `status` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            HealthState::Green => "green",
            HealthState::Yellow => "yellow",
            HealthState::Red => "red",
            HealthState::Unknown => "unknown",
        }
    }
}

/// `VsanQueryVcClusterHealthSummary`'s arguments.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HealthSummaryQuery {
    /// The cluster's MoRef (`domain-c10`).
    pub cluster: String,
    /// `fetchFromCache`: the vCenter's last result instead of a fresh check.
    pub fetch_from_cache: Option<bool>,
    /// `fields`: the summary's properties wanted (none: all).
    pub fields: Vec<String>,
}

impl HealthSummaryQuery {
    /// The cached overall health and groups of `cluster`.
    pub fn cached(cluster: &str) -> HealthSummaryQuery {
        HealthSummaryQuery {
            cluster: cluster.to_owned(),
            fetch_from_cache: Some(true),
            fields: vec!["overallHealth".into(), "groups".into()],
        }
    }

    /// The request envelope (arguments in the order the WSDL declares them).
    pub fn encode(&self) -> String {
        let mut out = String::from("<VsanQueryVcClusterHealthSummary xmlns=\"urn:vsan\">");
        moref_element(
            &mut out,
            "_this",
            "VsanVcClusterHealthSystem",
            "vsan-cluster-health-system",
        );
        moref_element(&mut out, "cluster", "ClusterComputeResource", &self.cluster);
        for f in &self.fields {
            text_element(&mut out, "fields", f);
        }
        if let Some(c) = self.fetch_from_cache {
            text_element(&mut out, "fetchFromCache", if c { "true" } else { "false" });
        }
        out.push_str("</VsanQueryVcClusterHealthSummary>");
        envelope(&out)
    }

    pub(super) fn from_request(req: &Element) -> Result<HealthSummaryQuery, VsanError> {
        let fetch_from_cache = match child_text(req, "fetchFromCache").as_deref() {
            None => None,
            Some("true" | "1") => Some(true),
            Some("false" | "0") => Some(false),
            Some(_) => {
                return Err(VsanError::Unexpected {
                    reason: "fetchFromCache is not a boolean",
                });
            }
        };
        Ok(HealthSummaryQuery {
            cluster: child_text(req, "cluster").unwrap_or_default(),
            fetch_from_cache,
            fields: req
                .children_named("fields")
                .map(|f| f.text.trim().to_owned())
                .collect(),
        })
    }
}

/// One `VsanClusterHealthTest`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HealthTest {
    /// `testId` (`com.vmware.vsan.health.test.hostdisconnected`); empty when absent.
    pub id: String,
    /// `testName`.
    pub name: String,
    /// `testHealth`.
    pub health: HealthState,
}

impl HealthTest {
    /// The id without [`HEALTH_ID_PREFIX`] (`hostdisconnected`).
    pub fn short_id(&self) -> &str {
        short(&self.id)
    }
}

/// One `VsanClusterHealthGroup`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HealthGroup {
    /// `groupId` (`com.vmware.vsan.health.test.network`).
    pub id: String,
    /// `groupName`.
    pub name: String,
    /// `groupHealth`.
    pub health: HealthState,
    /// `groupTests`.
    pub tests: Vec<HealthTest>,
}

impl HealthGroup {
    /// The id without [`HEALTH_ID_PREFIX`] (`network`).
    pub fn short_id(&self) -> &str {
        short(&self.id)
    }
}

fn short(id: &str) -> &str {
    id.strip_prefix(HEALTH_ID_PREFIX).unwrap_or(id)
}

/// The parts of a `VsanClusterHealthSummary` a health query reads.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HealthSummary {
    /// `overallHealth`.
    pub overall: HealthState,
    /// `groups`.
    pub groups: Vec<HealthGroup>,
}

impl HealthSummary {
    /// The answer envelope.
    pub fn encode_response(&self) -> String {
        let mut out = String::from(
            "<VsanQueryVcClusterHealthSummaryResponse xmlns=\"urn:vsan\"><returnval xsi:type=\"VsanClusterHealthSummary\">",
        );
        for g in &self.groups {
            out.push_str("<groups xsi:type=\"VsanClusterHealthGroup\">");
            text_element(&mut out, "groupId", &g.id);
            text_element(&mut out, "groupName", &g.name);
            text_element(&mut out, "groupHealth", g.health.as_str());
            for t in &g.tests {
                out.push_str("<groupTests xsi:type=\"VsanClusterHealthTest\">");
                text_element(&mut out, "testId", &t.id);
                text_element(&mut out, "testName", &t.name);
                text_element(&mut out, "testHealth", t.health.as_str());
                out.push_str("</groupTests>");
            }
            out.push_str("</groups>");
        }
        text_element(&mut out, "overallHealth", self.overall.as_str());
        let description = match self.overall {
            HealthState::Green => "No issues found",
            HealthState::Yellow => "Some health checks warn",
            HealthState::Red => "Some health checks failed",
            HealthState::Unknown => "Health unknown",
        };
        text_element(&mut out, "overallHealthDescription", description);
        out.push_str("</returnval></VsanQueryVcClusterHealthSummaryResponse>");
        envelope(&out)
    }

    /// Reads the answer. States other than green, yellow and red are
    /// [`HealthState::Unknown`]; a group or test without an id is kept with an empty one.
    ///
    /// # Errors
    /// XML errors, [`VsanError::Fault`], [`VsanError::Unexpected`] for another answer or
    /// one without `returnval`, [`VsanError::TooLarge`] beyond [`MAX_HEALTH_GROUPS`] groups
    /// or [`MAX_HEALTH_TESTS_PER_GROUP`] tests in a group.
    pub fn decode(xml: &str) -> Result<HealthSummary, VsanError> {
        let body = answer_body(
            xml,
            "VsanQueryVcClusterHealthSummaryResponse",
            "not a VsanQueryVcClusterHealthSummaryResponse",
        )?;
        let rv = body.child("returnval").ok_or(VsanError::Unexpected {
            reason: "health summary without returnval",
        })?;
        let state =
            |el: &Element, name: &str| HealthState::parse(el.child_text(name).unwrap_or_default());
        let mut groups = Vec::new();
        for g in rv.children_named("groups") {
            if groups.len() == MAX_HEALTH_GROUPS {
                return Err(VsanError::TooLarge {
                    what: "health groups",
                    limit: MAX_HEALTH_GROUPS,
                });
            }
            let mut tests = Vec::new();
            for t in g.children_named("groupTests") {
                if tests.len() == MAX_HEALTH_TESTS_PER_GROUP {
                    return Err(VsanError::TooLarge {
                        what: "tests in a health group",
                        limit: MAX_HEALTH_TESTS_PER_GROUP,
                    });
                }
                tests.push(HealthTest {
                    id: child_text(t, "testId").unwrap_or_default(),
                    name: child_text(t, "testName").unwrap_or_default(),
                    health: state(t, "testHealth"),
                });
            }
            groups.push(HealthGroup {
                id: child_text(g, "groupId").unwrap_or_default(),
                name: child_text(g, "groupName").unwrap_or_default(),
                health: state(g, "groupHealth"),
                tests,
            });
        }
        Ok(HealthSummary {
            overall: state(rv, "overallHealth"),
            groups,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vsan::protocol::{IncomingRequest, Method};

    #[test]
    fn request_round_trips_and_bad_flag_is_named() {
        let q = HealthSummaryQuery::cached("domain-c10");
        let req = IncomingRequest::decode(&q.encode()).expect("request");
        assert_eq!(req.method(), Method::VsanQueryVcClusterHealthSummary);
        assert_eq!(req.health_summary().expect("query"), q);
        let bad = q
            .encode()
            .replace("<fetchFromCache>true", "<fetchFromCache>maybe");
        match IncomingRequest::decode(&bad).and_then(|r| r.health_summary()) {
            Err(VsanError::Unexpected { reason }) => {
                assert_eq!(reason, "fetchFromCache is not a boolean")
            }
            other => panic!("{other:?}"),
        }
        assert!(
            req.space_usage().is_err(),
            "another call's reader refuses it"
        );
    }

    #[test]
    fn unknown_states_groups_and_tests_are_unknown_not_dropped() {
        let xml = envelope(
            r#"<VsanQueryVcClusterHealthSummaryResponse xmlns="urn:vsan"><returnval>
            <groups><groupId>com.vmware.vsan.health.test.futuregroup</groupId><groupName>Future</groupName><groupHealth>info</groupHealth>
              <groupTests><testId>com.vmware.vsan.health.test.newtest</testId><testHealth>skipped</testHealth></groupTests>
              <groupTests><testName>no id</testName><testHealth> RED </testHealth></groupTests>
              <groupTests><testId>x</testId></groupTests></groups>
            <groups><groupId>com.vmware.vsan.health.test.data</groupId><groupHealth>yellow</groupHealth></groups>
            <overallHealth>purple</overallHealth><overallHealthDescription>?</overallHealthDescription>
            </returnval></VsanQueryVcClusterHealthSummaryResponse>"#,
        );
        let s = HealthSummary::decode(&xml).expect("decode");
        assert_eq!(s.overall, HealthState::Unknown);
        assert_eq!(s.groups.len(), 2);
        let g = &s.groups[0];
        assert_eq!(
            (g.short_id(), g.health),
            ("futuregroup", HealthState::Unknown)
        );
        let tests: Vec<(&str, HealthState)> =
            g.tests.iter().map(|t| (t.short_id(), t.health)).collect();
        assert_eq!(
            tests,
            [
                ("newtest", HealthState::Unknown),
                ("", HealthState::Red),
                ("x", HealthState::Unknown)
            ]
        );
        assert_eq!(
            (s.groups[1].short_id(), s.groups[1].health),
            ("data", HealthState::Yellow)
        );
    }

    #[test]
    fn malformed_oversized_and_wrong_answers_are_typed_errors() {
        let ok = HealthSummary {
            overall: HealthState::Green,
            groups: vec![HealthGroup::default()],
        }
        .encode_response();
        let cut = &ok[..ok.len() / 2];
        assert!(matches!(
            HealthSummary::decode(cut),
            Err(VsanError::Truncated | VsanError::Xml { .. })
        ));
        let broken = ok.replacen("</groupId>", "</groupIdx>", 1);
        assert!(matches!(
            HealthSummary::decode(&broken),
            Err(VsanError::Xml { .. })
        ));
        assert!(matches!(
            HealthSummary::decode(&envelope("<FetchResponse/>")),
            Err(VsanError::Unexpected { .. })
        ));
        assert!(matches!(
            HealthSummary::decode(&envelope("<VsanQueryVcClusterHealthSummaryResponse/>")),
            Err(VsanError::Unexpected {
                reason: "health summary without returnval"
            })
        ));
        let many = HealthSummary {
            overall: HealthState::Green,
            groups: vec![HealthGroup::default(); MAX_HEALTH_GROUPS + 1],
        };
        assert!(matches!(
            HealthSummary::decode(&many.encode_response()),
            Err(VsanError::TooLarge {
                limit: MAX_HEALTH_GROUPS,
                ..
            })
        ));
        let many_tests = HealthSummary {
            overall: HealthState::Green,
            groups: vec![HealthGroup {
                tests: vec![HealthTest::default(); MAX_HEALTH_TESTS_PER_GROUP + 1],
                ..HealthGroup::default()
            }],
        };
        assert_eq!(
            HealthSummary::decode(&many_tests.encode_response())
                .map_err(|e| e.reason())
                .unwrap_err(),
            "too_large"
        );
    }
}
