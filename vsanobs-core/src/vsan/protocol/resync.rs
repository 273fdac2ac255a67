//! `VsanQuerySyncingVsanObjects` on `VsanSystemEx:vsanSystemEx-<n>`, the vSAN system of one
//! host (`host-<n>`): the objects of the host's cluster still resyncing, with the summary
//! (`includeSummary`: objects and bytes left, estimated time) and each object's components
//! (bytes left, why they resync).
//!
//! Telegraf asks the first host of a cluster for the summary only; a reader here also reads
//! up to `limit` objects to split the bytes by reason. Reasons are vSAN's
//! `VsanSyncReason` values ([`SYNC_REASONS`]); [`sync_reason`] reads anything else as
//! `unknown`.
//!
//! # Example
//!
//! ```
//! use vsanobs_core::vsan::protocol::IncomingRequest;
//! use vsanobs_core::vsan::protocol::resync::{
//!     SyncComponent, SyncObject, SyncingObjects, SyncingObjectsQuery, vsan_system_ex,
//! };
//!
//! let q = SyncingObjectsQuery::summary(&vsan_system_ex("host-101").unwrap(), 100);
//! assert_eq!(q.system, "vsanSystemEx-101");
//! assert_eq!(IncomingRequest::decode(&q.encode())?.syncing_objects()?, q);
//!
//! let answer = SyncingObjects {
//!     total_objects_to_sync: Some(1),
//!     total_bytes_to_sync: Some(4096),
//!     total_recovery_eta: Some(60),
//!     objects: vec![SyncObject {
//!         uuid: "5a1e".into(),
//!         components: vec![SyncComponent {
//!             uuid: "c0".into(),
//!             bytes_to_sync: 4096,
//!             reasons: vec!["repair".into()],
//!             ..SyncComponent::default()
//!         }],
//!     }],
//!     objects_beyond_cap: 0,
//! };
//! let back = SyncingObjects::decode(&answer.encode_response(), 100)?;
//! assert_eq!(back, answer);
//! assert_eq!(back.bytes_by_reason(), [("repair", 4096)]);
//! # Ok::<(), vsanobs_core::vsan::VsanError>(())
//! ```

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::super::VsanError;
use super::super::xml::Element;
use super::{answer_body, child_text, envelope, moref_element, opt_long, text_element};

/// vSAN's `VsanSyncReason` values (without `VsanSyncReason_Unknown`).
pub const SYNC_REASONS: [&str; 8] = [
    "repair",
    "evacuate",
    "rebalance",
    "reconfigure",
    "dying_evacuate",
    "stale",
    "merge_concat",
    "object_format_change",
];

/// A reason as [`SYNC_REASONS`] spells it, or `unknown` for anything else (a reason a
/// newer vSAN added, a missing one): the `reason` label stays a closed set.
pub fn sync_reason(s: &str) -> &'static str {
    SYNC_REASONS
        .iter()
        .find(|r| **r == s.trim())
        .copied()
        .unwrap_or("unknown")
}

/// Most components one object may list (a RAID-6 object striped wide has a few dozen).
pub const MAX_COMPONENTS_PER_OBJECT: usize = 256;

/// The `VsanSystemEx` MoRef of host `host-<n>`: `vsanSystemEx-<n>` (as telegraf derives it);
/// None for a MoRef of another form.
pub fn vsan_system_ex(host_moref: &str) -> Option<String> {
    let n = host_moref.strip_prefix("host-")?;
    (!n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())).then(|| format!("vsanSystemEx-{n}"))
}

/// `VsanQuerySyncingVsanObjects`' arguments.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SyncingObjectsQuery {
    /// The `VsanSystemEx` asked (`vsanSystemEx-101`).
    pub system: String,
    /// `uuids`: the objects asked about (none: every syncing object).
    pub uuids: Vec<String>,
    /// `start`: the first object's index.
    pub start: Option<i64>,
    /// `limit`: most objects returned.
    pub limit: Option<i64>,
    /// `includeSummary`: the totals too.
    pub include_summary: Option<bool>,
}

impl SyncingObjectsQuery {
    /// The summary and the first `limit` syncing objects of `system`'s cluster.
    pub fn summary(system: &str, limit: i64) -> SyncingObjectsQuery {
        SyncingObjectsQuery {
            system: system.to_owned(),
            uuids: Vec::new(),
            start: Some(0),
            limit: Some(limit),
            include_summary: Some(true),
        }
    }

    /// The request envelope.
    pub fn encode(&self) -> String {
        let mut out = String::from("<VsanQuerySyncingVsanObjects xmlns=\"urn:vsan\">");
        moref_element(&mut out, "_this", "VsanSystemEx", &self.system);
        for u in &self.uuids {
            text_element(&mut out, "uuids", u);
        }
        if let Some(s) = self.start {
            let _ = write!(out, "<start>{s}</start>");
        }
        if let Some(l) = self.limit {
            let _ = write!(out, "<limit>{l}</limit>");
        }
        if let Some(i) = self.include_summary {
            let _ = write!(out, "<includeSummary>{i}</includeSummary>");
        }
        out.push_str("</VsanQuerySyncingVsanObjects>");
        envelope(&out)
    }

    pub(super) fn from_request(req: &Element) -> Result<SyncingObjectsQuery, VsanError> {
        let system = child_text(req, "_this").ok_or(VsanError::Unexpected {
            reason: "VsanQuerySyncingVsanObjects without _this",
        })?;
        let include_summary = match child_text(req, "includeSummary").as_deref() {
            None => None,
            Some("true" | "1") => Some(true),
            Some("false" | "0") => Some(false),
            Some(_) => {
                return Err(VsanError::Unexpected {
                    reason: "includeSummary is not a boolean",
                });
            }
        };
        Ok(SyncingObjectsQuery {
            system,
            uuids: req
                .children_named("uuids")
                .map(|u| u.text.trim().to_owned())
                .collect(),
            start: opt_long(req, "start", "start is not an integer")?,
            limit: opt_long(req, "limit", "limit is not an integer")?,
            include_summary,
        })
    }
}

/// One `VsanHostComponentSyncState`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SyncComponent {
    /// `uuid`.
    pub uuid: String,
    /// `diskUuid`: the disk the component is written to.
    pub disk_uuid: String,
    /// `hostUuid`: that disk's host (vSAN node UUID).
    pub host_uuid: String,
    /// `bytesToSync`.
    pub bytes_to_sync: i64,
    /// `recoveryETA`, seconds.
    pub recovery_eta: Option<i64>,
    /// `reasons`, as sent.
    pub reasons: Vec<String>,
}

/// One `VsanHostVsanObjectSyncState`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SyncObject {
    /// The object's `uuid`.
    pub uuid: String,
    /// Its resyncing `components`.
    pub components: Vec<SyncComponent>,
}

/// The parts of a `VsanHostVsanObjectSyncQueryResult` a resync query reads.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SyncingObjects {
    /// `totalObjectsToSync`.
    pub total_objects_to_sync: Option<i64>,
    /// `totalBytesToSync`.
    pub total_bytes_to_sync: Option<i64>,
    /// `totalRecoveryETA`, seconds.
    pub total_recovery_eta: Option<i64>,
    /// `objects`, the first ones up to the reader's cap.
    pub objects: Vec<SyncObject>,
    /// Objects of the answer past the reader's cap (not in `objects`).
    pub objects_beyond_cap: u64,
}

impl SyncingObjects {
    /// Bytes left by reason over the components read ([`sync_reason`] names; a component
    /// with no reason counts as `unknown`, one with several counts once for each), in
    /// reason order.
    pub fn bytes_by_reason(&self) -> Vec<(&'static str, i64)> {
        let mut by: BTreeMap<&'static str, i64> = BTreeMap::new();
        for c in self.objects.iter().flat_map(|o| &o.components) {
            let bytes = c.bytes_to_sync.max(0);
            if c.reasons.is_empty() {
                *by.entry("unknown").or_default() += bytes;
            }
            let mut seen: Vec<&'static str> = Vec::new();
            for r in &c.reasons {
                let r = sync_reason(r);
                if !seen.contains(&r) {
                    seen.push(r);
                    *by.entry(r).or_default() += bytes;
                }
            }
        }
        by.into_iter().collect()
    }

    /// The answer envelope.
    pub fn encode_response(&self) -> String {
        let mut out = String::from(
            "<VsanQuerySyncingVsanObjectsResponse xmlns=\"urn:vsan\"><returnval xsi:type=\"VsanHostVsanObjectSyncQueryResult\">",
        );
        for (name, v) in [
            ("totalObjectsToSync", self.total_objects_to_sync),
            ("totalBytesToSync", self.total_bytes_to_sync),
            ("totalRecoveryETA", self.total_recovery_eta),
        ] {
            if let Some(v) = v {
                let _ = write!(out, "<{name}>{v}</{name}>");
            }
        }
        for o in &self.objects {
            out.push_str("<objects xsi:type=\"VsanHostVsanObjectSyncState\">");
            text_element(&mut out, "uuid", &o.uuid);
            for c in &o.components {
                out.push_str("<components xsi:type=\"VsanHostComponentSyncState\">");
                text_element(&mut out, "uuid", &c.uuid);
                text_element(&mut out, "diskUuid", &c.disk_uuid);
                text_element(&mut out, "hostUuid", &c.host_uuid);
                let _ = write!(out, "<bytesToSync>{}</bytesToSync>", c.bytes_to_sync);
                if let Some(e) = c.recovery_eta {
                    let _ = write!(out, "<recoveryETA>{e}</recoveryETA>");
                }
                for r in &c.reasons {
                    text_element(&mut out, "reasons", r);
                }
                out.push_str("</components>");
            }
            out.push_str("</objects>");
        }
        out.push_str("</returnval></VsanQuerySyncingVsanObjectsResponse>");
        envelope(&out)
    }

    /// Reads the answer, keeping the first `max_objects` objects (the rest are counted in
    /// [`objects_beyond_cap`](Self::objects_beyond_cap)). Objects, disks and hosts are
    /// taken as named: whether the inventory knows them is the caller's business.
    ///
    /// # Errors
    /// XML errors, [`VsanError::Fault`], [`VsanError::Unexpected`] for another answer, one
    /// without `returnval`, or a number that is not an integer; [`VsanError::TooLarge`] for
    /// an object with more than [`MAX_COMPONENTS_PER_OBJECT`] components.
    pub fn decode(xml: &str, max_objects: usize) -> Result<SyncingObjects, VsanError> {
        let body = answer_body(
            xml,
            "VsanQuerySyncingVsanObjectsResponse",
            "not a VsanQuerySyncingVsanObjectsResponse",
        )?;
        let rv = body.child("returnval").ok_or(VsanError::Unexpected {
            reason: "syncing objects without returnval",
        })?;
        const BAD: &str = "resync number is not an integer";
        let mut objects = Vec::new();
        let mut beyond = 0u64;
        for o in rv.children_named("objects") {
            if objects.len() == max_objects {
                beyond += 1;
                continue;
            }
            let mut components = Vec::new();
            for c in o.children_named("components") {
                if components.len() == MAX_COMPONENTS_PER_OBJECT {
                    return Err(VsanError::TooLarge {
                        what: "components in a syncing object",
                        limit: MAX_COMPONENTS_PER_OBJECT,
                    });
                }
                components.push(SyncComponent {
                    uuid: child_text(c, "uuid").unwrap_or_default(),
                    disk_uuid: child_text(c, "diskUuid").unwrap_or_default(),
                    host_uuid: child_text(c, "hostUuid").unwrap_or_default(),
                    bytes_to_sync: opt_long(c, "bytesToSync", BAD)?.unwrap_or(0),
                    recovery_eta: opt_long(c, "recoveryETA", BAD)?,
                    reasons: c
                        .children_named("reasons")
                        .map(|r| r.text.trim().to_owned())
                        .collect(),
                });
            }
            objects.push(SyncObject {
                uuid: child_text(o, "uuid").unwrap_or_default(),
                components,
            });
        }
        Ok(SyncingObjects {
            total_objects_to_sync: opt_long(rv, "totalObjectsToSync", BAD)?,
            total_bytes_to_sync: opt_long(rv, "totalBytesToSync", BAD)?,
            total_recovery_eta: opt_long(rv, "totalRecoveryETA", BAD)?,
            objects,
            objects_beyond_cap: beyond,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vsan::protocol::{IncomingRequest, Method};

    #[test]
    fn system_names_and_request_round_trip() {
        assert_eq!(
            vsan_system_ex("host-2041").as_deref(),
            Some("vsanSystemEx-2041")
        );
        assert_eq!(vsan_system_ex("host-"), None);
        assert_eq!(vsan_system_ex("domain-c10"), None);
        assert_eq!(vsan_system_ex("host-1a"), None);
        let q = SyncingObjectsQuery {
            uuids: vec!["a".into()],
            ..SyncingObjectsQuery::summary("vsanSystemEx-7", 50)
        };
        let req = IncomingRequest::decode(&q.encode()).expect("request");
        assert_eq!(req.method(), Method::VsanQuerySyncingVsanObjects);
        assert_eq!(req.syncing_objects().expect("query"), q);
        let bad = q.encode().replace("<limit>50", "<limit>many");
        match IncomingRequest::decode(&bad).and_then(|r| r.syncing_objects()) {
            Err(VsanError::Unexpected { reason }) => assert_eq!(reason, "limit is not an integer"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn unknown_objects_hosts_and_reasons_are_read_and_capped() {
        // Objects, disks and hosts no inventory knows; a reason vSAN may add later; a
        // component with no reason; one listing a reason twice.
        let xml = envelope(
            r#"<VsanQuerySyncingVsanObjectsResponse xmlns="urn:vsan"><returnval>
            <totalObjectsToSync>3</totalObjectsToSync><totalBytesToSync>700</totalBytesToSync><totalRecoveryETA>30</totalRecoveryETA>
            <objects><uuid>ghost-object</uuid>
              <components><uuid>c1</uuid><diskUuid>ghost-disk</diskUuid><hostUuid>ghost-host</hostUuid><bytesToSync>100</bytesToSync><reasons>repair</reasons><reasons>repair</reasons></components>
              <components><uuid>c2</uuid><bytesToSync>200</bytesToSync><reasons>quantum_rebalance</reasons><reasons>evacuate</reasons></components>
              <components><uuid>c3</uuid><bytesToSync>50</bytesToSync></components></objects>
            <objects><uuid>o2</uuid><components><uuid>c4</uuid><bytesToSync>1</bytesToSync><reasons>stale</reasons></components></objects>
            <objects><uuid>o3</uuid></objects>
            </returnval></VsanQuerySyncingVsanObjectsResponse>"#,
        );
        let s = SyncingObjects::decode(&xml, 2).expect("decode");
        assert_eq!(
            (
                s.total_objects_to_sync,
                s.total_bytes_to_sync,
                s.total_recovery_eta
            ),
            (Some(3), Some(700), Some(30))
        );
        assert_eq!(s.objects.len(), 2);
        assert_eq!(s.objects_beyond_cap, 1);
        assert_eq!(s.objects[0].components[0].host_uuid, "ghost-host");
        assert_eq!(
            s.bytes_by_reason(),
            [
                ("evacuate", 200),
                ("repair", 100),
                ("stale", 1),
                ("unknown", 250)
            ]
        );
    }

    #[test]
    fn malformed_answers_are_typed_errors() {
        let ok = SyncingObjects {
            total_bytes_to_sync: Some(5),
            objects: vec![SyncObject {
                uuid: "o".into(),
                components: vec![SyncComponent::default(); MAX_COMPONENTS_PER_OBJECT + 1],
            }],
            ..SyncingObjects::default()
        }
        .encode_response();
        assert!(matches!(
            SyncingObjects::decode(&ok, 10),
            Err(VsanError::TooLarge { .. })
        ));
        let bad = ok.replacen("<bytesToSync>0", "<bytesToSync>-x", 1);
        assert!(matches!(
            SyncingObjects::decode(&bad, 10),
            Err(VsanError::Unexpected {
                reason: "resync number is not an integer"
            })
        ));
        assert!(matches!(
            SyncingObjects::decode("<a><b></a>", 10),
            Err(VsanError::Xml { .. })
        ));
        assert!(matches!(
            SyncingObjects::decode(&envelope("<VsanQuerySyncingVsanObjectsResponse/>"), 10),
            Err(VsanError::Unexpected {
                reason: "syncing objects without returnval"
            })
        ));
    }
}
