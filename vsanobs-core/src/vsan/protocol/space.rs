//! `VsanQuerySpaceUsage` on `VsanSpaceReportSystem:vsan-cluster-space-report-system`: a
//! cluster's total and free capacity, the space used per object type, and what
//! deduplication and compression save.
//!
//! Savings come from `efficientCapacity` (`VimVsanDataEfficiencyCapacityState`): vSAN ESA
//! 9.0 reports them directly (`esaDedupSpaceSaving`, `esaCompressionSpaceSaving`); OSA with
//! deduplication and compression, and ESA before 9.0, report the logical space used beside
//! the physical space used, the difference being the saving. A cluster without data
//! efficiency reports neither, and [`SpaceUsage::savings`] is None.
//!
//! # Example
//!
//! ```
//! use vsanobs_core::vsan::protocol::IncomingRequest;
//! use vsanobs_core::vsan::protocol::space::{
//!     EfficientCapacity, ObjectTypeSpace, SpaceUsage, SpaceUsageQuery,
//! };
//!
//! let q = SpaceUsageQuery { cluster: "domain-c10".into() };
//! assert_eq!(IncomingRequest::decode(&q.encode())?.space_usage()?, q);
//!
//! let usage = SpaceUsage {
//!     total_capacity_b: 1000,
//!     free_capacity_b: Some(400),
//!     by_object_type: vec![ObjectTypeSpace { obj_type: Some("vdisk".into()), used_b: Some(600), physical_used_b: None }],
//!     efficient_capacity: Some(EfficientCapacity {
//!         logical_capacity_used: Some(900),
//!         physical_capacity_used: Some(600),
//!         ..EfficientCapacity::default()
//!     }),
//! };
//! let back = SpaceUsage::decode(&usage.encode_response())?;
//! assert_eq!(back, usage);
//! assert_eq!(back.used(), Some(600));
//! assert_eq!(back.savings(), Some(300));
//! # Ok::<(), vsanobs_core::vsan::VsanError>(())
//! ```

use std::fmt::Write as _;

use super::super::VsanError;
use super::super::xml::Element;
use super::{answer_body, child_text, envelope, moref_element, opt_long, text_element};

/// Most entries of `spaceUsageByObjectType` an answer may carry (vSAN 8 knows about 35
/// object types).
pub const MAX_OBJECT_TYPES: usize = 128;

/// `VsanQuerySpaceUsage`'s arguments.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SpaceUsageQuery {
    /// The cluster's MoRef (`domain-c10`).
    pub cluster: String,
}

impl SpaceUsageQuery {
    /// The request envelope.
    pub fn encode(&self) -> String {
        let mut out = String::from("<VsanQuerySpaceUsage xmlns=\"urn:vsan\">");
        moref_element(
            &mut out,
            "_this",
            "VsanSpaceReportSystem",
            "vsan-cluster-space-report-system",
        );
        moref_element(&mut out, "cluster", "ClusterComputeResource", &self.cluster);
        out.push_str("</VsanQuerySpaceUsage>");
        envelope(&out)
    }

    pub(super) fn from_request(req: &Element) -> Result<SpaceUsageQuery, VsanError> {
        Ok(SpaceUsageQuery {
            cluster: child_text(req, "cluster").ok_or(VsanError::Unexpected {
                reason: "VsanQuerySpaceUsage without cluster",
            })?,
        })
    }
}

/// One `VsanObjectSpaceSummary` of `spaceDetail.spaceUsageByObjectType`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ObjectTypeSpace {
    /// `objType` (`vdisk`, `vmswap`, `namespace`...); None when the entry names none.
    pub obj_type: Option<String>,
    /// `usedB`: bytes used, with the policy's replicas.
    pub used_b: Option<i64>,
    /// `physicalUsedB`.
    pub physical_used_b: Option<i64>,
}

/// `efficientCapacity` (`VimVsanDataEfficiencyCapacityState`), each field as reported.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EfficientCapacity {
    /// `logicalCapacity`.
    pub logical_capacity: Option<i64>,
    /// `logicalCapacityUsed`: space used before deduplication and compression.
    pub logical_capacity_used: Option<i64>,
    /// `physicalCapacity`.
    pub physical_capacity: Option<i64>,
    /// `physicalCapacityUsed`: space used after them.
    pub physical_capacity_used: Option<i64>,
    /// `dedupMetadataSize`.
    pub dedup_metadata_size: Option<i64>,
    /// `esaDedupSpaceSaving` (vSAN ESA 9.0).
    pub esa_dedup_space_saving: Option<i64>,
    /// `esaCompressionSpaceSaving` (vSAN ESA 9.0).
    pub esa_compression_space_saving: Option<i64>,
}

impl EfficientCapacity {
    /// Bytes saved: the ESA savings when reported, else logical minus physical space used
    /// (never negative); None when neither is reported.
    pub fn savings(&self) -> Option<i64> {
        match (
            self.esa_dedup_space_saving,
            self.esa_compression_space_saving,
        ) {
            (None, None) => {}
            (d, c) => return Some(d.unwrap_or(0).max(0) + c.unwrap_or(0).max(0)),
        }
        match (self.logical_capacity_used, self.physical_capacity_used) {
            (Some(l), Some(p)) if l > 0 => Some((l - p).max(0)),
            _ => None,
        }
    }
}

/// The parts of a `VsanSpaceUsage` a capacity query reads.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SpaceUsage {
    /// `totalCapacityB`.
    pub total_capacity_b: i64,
    /// `freeCapacityB`.
    pub free_capacity_b: Option<i64>,
    /// `spaceDetail.spaceUsageByObjectType`, in answer order.
    pub by_object_type: Vec<ObjectTypeSpace>,
    /// `efficientCapacity`.
    pub efficient_capacity: Option<EfficientCapacity>,
}

const EFFICIENCY_FIELDS: [&str; 7] = [
    "logicalCapacity",
    "logicalCapacityUsed",
    "physicalCapacity",
    "physicalCapacityUsed",
    "dedupMetadataSize",
    "esaDedupSpaceSaving",
    "esaCompressionSpaceSaving",
];

impl SpaceUsage {
    /// Bytes used: total minus free, when free is reported.
    pub fn used(&self) -> Option<i64> {
        self.free_capacity_b
            .map(|f| (self.total_capacity_b - f).max(0))
    }

    /// Bytes saved by deduplication and compression (see [`EfficientCapacity::savings`]).
    pub fn savings(&self) -> Option<i64> {
        self.efficient_capacity
            .as_ref()
            .and_then(EfficientCapacity::savings)
    }

    /// The answer envelope (fields in the order the WSDL declares them).
    pub fn encode_response(&self) -> String {
        let mut out = String::from(
            "<VsanQuerySpaceUsageResponse xmlns=\"urn:vsan\"><returnval xsi:type=\"VsanSpaceUsage\">",
        );
        let _ = write!(
            out,
            "<totalCapacityB>{}</totalCapacityB>",
            self.total_capacity_b
        );
        if let Some(f) = self.free_capacity_b {
            let _ = write!(out, "<freeCapacityB>{f}</freeCapacityB>");
        }
        if !self.by_object_type.is_empty() {
            out.push_str("<spaceDetail xsi:type=\"VsanSpaceUsageDetailResult\">");
            for o in &self.by_object_type {
                out.push_str("<spaceUsageByObjectType xsi:type=\"VsanObjectSpaceSummary\">");
                if let Some(t) = &o.obj_type {
                    text_element(&mut out, "objType", t);
                }
                if let Some(p) = o.physical_used_b {
                    let _ = write!(out, "<physicalUsedB>{p}</physicalUsedB>");
                }
                if let Some(u) = o.used_b {
                    let _ = write!(out, "<usedB>{u}</usedB>");
                }
                out.push_str("</spaceUsageByObjectType>");
            }
            out.push_str("</spaceDetail>");
        }
        if let Some(e) = &self.efficient_capacity {
            out.push_str("<efficientCapacity xsi:type=\"VimVsanDataEfficiencyCapacityState\">");
            let values = [
                e.logical_capacity,
                e.logical_capacity_used,
                e.physical_capacity,
                e.physical_capacity_used,
                e.dedup_metadata_size,
                e.esa_dedup_space_saving,
                e.esa_compression_space_saving,
            ];
            for (name, v) in EFFICIENCY_FIELDS.iter().zip(values) {
                if let Some(v) = v {
                    let _ = write!(out, "<{name}>{v}</{name}>");
                }
            }
            out.push_str("</efficientCapacity>");
        }
        out.push_str("</returnval></VsanQuerySpaceUsageResponse>");
        envelope(&out)
    }

    /// Reads the answer. Entries without `objType` or `usedB` are kept as such (the caller
    /// decides what to do with them); a missing `spaceDetail` is no entry.
    ///
    /// # Errors
    /// XML errors, [`VsanError::Fault`], [`VsanError::Unexpected`] for another answer, one
    /// without `returnval` or `totalCapacityB`, or a size that is not an integer;
    /// [`VsanError::TooLarge`] beyond [`MAX_OBJECT_TYPES`] entries.
    pub fn decode(xml: &str) -> Result<SpaceUsage, VsanError> {
        let body = answer_body(
            xml,
            "VsanQuerySpaceUsageResponse",
            "not a VsanQuerySpaceUsageResponse",
        )?;
        let rv = body.child("returnval").ok_or(VsanError::Unexpected {
            reason: "space usage without returnval",
        })?;
        const BAD: &str = "space usage size is not an integer";
        let total_capacity_b =
            opt_long(rv, "totalCapacityB", BAD)?.ok_or(VsanError::Unexpected {
                reason: "space usage without totalCapacityB",
            })?;
        let mut by_object_type = Vec::new();
        if let Some(detail) = rv.child("spaceDetail") {
            for o in detail.children_named("spaceUsageByObjectType") {
                if by_object_type.len() == MAX_OBJECT_TYPES {
                    return Err(VsanError::TooLarge {
                        what: "object types in a space report",
                        limit: MAX_OBJECT_TYPES,
                    });
                }
                by_object_type.push(ObjectTypeSpace {
                    obj_type: child_text(o, "objType").filter(|t| !t.is_empty()),
                    used_b: opt_long(o, "usedB", BAD)?,
                    physical_used_b: opt_long(o, "physicalUsedB", BAD)?,
                });
            }
        }
        let efficient_capacity = rv
            .child("efficientCapacity")
            .map(|e| {
                Ok::<_, VsanError>(EfficientCapacity {
                    logical_capacity: opt_long(e, "logicalCapacity", BAD)?,
                    logical_capacity_used: opt_long(e, "logicalCapacityUsed", BAD)?,
                    physical_capacity: opt_long(e, "physicalCapacity", BAD)?,
                    physical_capacity_used: opt_long(e, "physicalCapacityUsed", BAD)?,
                    dedup_metadata_size: opt_long(e, "dedupMetadataSize", BAD)?,
                    esa_dedup_space_saving: opt_long(e, "esaDedupSpaceSaving", BAD)?,
                    esa_compression_space_saving: opt_long(e, "esaCompressionSpaceSaving", BAD)?,
                })
            })
            .transpose()?;
        Ok(SpaceUsage {
            total_capacity_b,
            free_capacity_b: opt_long(rv, "freeCapacityB", BAD)?,
            by_object_type,
            efficient_capacity,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vsan::protocol::{IncomingRequest, Method};

    #[test]
    fn request_round_trips_and_needs_a_cluster() {
        let q = SpaceUsageQuery {
            cluster: "domain-c11".into(),
        };
        let req = IncomingRequest::decode(&q.encode()).expect("request");
        assert_eq!(req.method(), Method::VsanQuerySpaceUsage);
        assert_eq!(req.space_usage().expect("query"), q);
        let none = envelope("<VsanQuerySpaceUsage xmlns=\"urn:vsan\"/>");
        match IncomingRequest::decode(&none).and_then(|r| r.space_usage()) {
            Err(VsanError::Unexpected { reason }) => {
                assert_eq!(reason, "VsanQuerySpaceUsage without cluster")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn missing_types_detail_and_efficiency_are_read_as_absent() {
        let xml = envelope(
            r#"<VsanQuerySpaceUsageResponse xmlns="urn:vsan"><returnval>
            <totalCapacityB>5000</totalCapacityB>
            <spaceDetail>
              <spaceUsageByObjectType><usedB>10</usedB></spaceUsageByObjectType>
              <spaceUsageByObjectType><objType>vmswap</objType></spaceUsageByObjectType>
              <spaceUsageByObjectType><objType></objType><usedB>3</usedB></spaceUsageByObjectType>
            </spaceDetail></returnval></VsanQuerySpaceUsageResponse>"#,
        );
        let s = SpaceUsage::decode(&xml).expect("decode");
        assert_eq!(s.total_capacity_b, 5000);
        assert_eq!((s.free_capacity_b, s.used()), (None, None));
        assert_eq!(s.savings(), None);
        let types: Vec<(Option<&str>, Option<i64>)> = s
            .by_object_type
            .iter()
            .map(|o| (o.obj_type.as_deref(), o.used_b))
            .collect();
        assert_eq!(
            types,
            [(None, Some(10)), (Some("vmswap"), None), (None, Some(3))]
        );
        let bare = envelope(
            "<VsanQuerySpaceUsageResponse><returnval><totalCapacityB>1</totalCapacityB><freeCapacityB>1</freeCapacityB></returnval></VsanQuerySpaceUsageResponse>",
        );
        let s = SpaceUsage::decode(&bare).expect("decode");
        assert!(s.by_object_type.is_empty());
        assert_eq!(s.used(), Some(0));
    }

    #[test]
    fn savings_esa_first_then_logical_minus_physical() {
        let mut e = EfficientCapacity {
            logical_capacity_used: Some(900),
            physical_capacity_used: Some(1000),
            ..EfficientCapacity::default()
        };
        assert_eq!(e.savings(), Some(0), "never negative");
        e.esa_compression_space_saving = Some(70);
        assert_eq!(e.savings(), Some(70));
        e.esa_dedup_space_saving = Some(30);
        assert_eq!(e.savings(), Some(100));
        let none = EfficientCapacity {
            physical_capacity_used: Some(5),
            ..EfficientCapacity::default()
        };
        assert_eq!(none.savings(), None);
    }

    #[test]
    fn malformed_and_oversized_answers_are_typed_errors() {
        let s = SpaceUsage {
            total_capacity_b: 10,
            free_capacity_b: Some(5),
            by_object_type: vec![ObjectTypeSpace::default(); MAX_OBJECT_TYPES + 1],
            efficient_capacity: None,
        };
        assert!(matches!(
            SpaceUsage::decode(&s.encode_response()),
            Err(VsanError::TooLarge { .. })
        ));
        let bad = SpaceUsage {
            by_object_type: Vec::new(),
            ..s
        }
        .encode_response()
        .replace("<freeCapacityB>5", "<freeCapacityB>five");
        assert!(matches!(
            SpaceUsage::decode(&bad),
            Err(VsanError::Unexpected {
                reason: "space usage size is not an integer"
            })
        ));
        let no_total = envelope(
            "<VsanQuerySpaceUsageResponse><returnval><freeCapacityB>1</freeCapacityB></returnval></VsanQuerySpaceUsageResponse>",
        );
        assert!(matches!(
            SpaceUsage::decode(&no_total),
            Err(VsanError::Unexpected {
                reason: "space usage without totalCapacityB"
            })
        ));
        assert!(matches!(
            SpaceUsage::decode("<soapenv:Envelope><soapenv:Body><VsanQuerySpaceUsageResponse>"),
            Err(VsanError::Truncated)
        ));
    }
}
