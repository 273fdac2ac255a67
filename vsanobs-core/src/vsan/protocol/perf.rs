//! The vSAN performance manager on `/vsanHealth`: `VsanPerfQueryPerf` and
//! `VsanPerfGetSupportedEntityTypes`.
//!
//! Answers to `VsanPerfQueryPerf` are read with [`soap::for_each_entity`] (streamed) or
//! [`soap::parse_query_perf_response`], and written, one entity at a time, with
//! [`QueryPerfResponseWriter`]; both sides use [`EntityMetricCsv`].
//!
//! # Example
//!
//! ```
//! use vsanobs_core::vsan::protocol::perf::QueryPerfResponseWriter;
//! use vsanobs_core::vsan::soap::{parse_query_perf_response, EntityMetricCsv, MetricSeriesCsv};
//!
//! let entity = EntityMetricCsv {
//!     entity_ref_id: "cache-disk:52a0".into(),
//!     sample_info: "2024-01-01 10:00:00".into(),
//!     series: vec![MetricSeriesCsv { label: "latencyDevRead".into(), interval: Some(300), values: "880".into() }],
//! };
//! let mut w = QueryPerfResponseWriter::new();
//! w.push(&entity);
//! assert_eq!(parse_query_perf_response(&w.finish())?, [entity]);
//! # Ok::<(), vsanobs_core::vsan::VsanError>(())
//! ```
//!
//! [`soap::for_each_entity`]: super::super::soap::for_each_entity
//! [`soap::parse_query_perf_response`]: super::super::soap::parse_query_perf_response

use std::fmt::Write as _;

use super::super::VsanError;
use super::super::csv::{format_xsd_datetime, parse_xsd_datetime};
use super::super::soap::EntityMetricCsv;
use super::super::xml::{Element, escape};
use super::{answer_body, child_text, envelope, moref_element, text_element};

/// One `VsanPerfQuerySpec`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PerfQuerySpec {
    /// `<entity-type>:<uuid>`, `<entity-type>:*` (every entity) or
    /// `<entity-type>:<uuid>,<uuid>,...`.
    pub entity_ref_id: String,
    /// `startTime` (exclusive), Unix seconds; the server requires it.
    pub start: Option<i64>,
    /// `endTime` (inclusive), Unix seconds; the server requires it.
    pub end: Option<i64>,
    /// Metric labels to return (none: all of them).
    pub labels: Vec<String>,
}

impl PerfQuerySpec {
    /// Every entity of `entity_type`, every label, over `(start, end]`.
    pub fn wildcard(entity_type: &str, start: i64, end: i64) -> PerfQuerySpec {
        PerfQuerySpec {
            entity_ref_id: format!("{entity_type}:*"),
            start: Some(start),
            end: Some(end),
            labels: Vec::new(),
        }
    }
}

/// `VsanPerformanceManager.VsanPerfQueryPerf`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PerfQuery {
    /// The cluster's MoRef (required on vCenter).
    pub cluster: Option<String>,
    /// The specs (one wildcard spec, or up to 100 concrete ones).
    pub specs: Vec<PerfQuerySpec>,
}

impl PerfQuery {
    /// The request envelope.
    pub fn encode(&self) -> String {
        let mut out = String::from(
            "<VsanPerfQueryPerf xmlns=\"urn:vsan\"><_this type=\"VsanPerformanceManager\">vsan-performance-manager</_this>",
        );
        for s in &self.specs {
            out.push_str("<querySpecs>");
            text_element(&mut out, "entityRefId", &s.entity_ref_id);
            if let Some(t) = s.start {
                let _ = write!(out, "<startTime>{}</startTime>", format_xsd_datetime(t));
            }
            if let Some(t) = s.end {
                let _ = write!(out, "<endTime>{}</endTime>", format_xsd_datetime(t));
            }
            for l in &s.labels {
                text_element(&mut out, "labels", l);
            }
            out.push_str("</querySpecs>");
        }
        if let Some(c) = &self.cluster {
            moref_element(&mut out, "cluster", "ClusterComputeResource", c);
        }
        out.push_str("</VsanPerfQueryPerf>");
        envelope(&out)
    }

    pub(super) fn from_request(req: &Element) -> Result<PerfQuery, VsanError> {
        let time = |s: &Element, name: &str, reason: &'static str| {
            s.child_text(name)
                .map(|t| parse_xsd_datetime(t).map_err(|_| VsanError::Unexpected { reason }))
                .transpose()
        };
        let specs = req
            .children_named("querySpecs")
            .map(|s| {
                Ok(PerfQuerySpec {
                    entity_ref_id: child_text(s, "entityRefId").unwrap_or_default(),
                    start: time(s, "startTime", "startTime is malformed")?,
                    end: time(s, "endTime", "endTime is malformed")?,
                    labels: s
                        .children_named("labels")
                        .map(|l| l.text.trim().to_owned())
                        .collect(),
                })
            })
            .collect::<Result<_, VsanError>>()?;
        Ok(PerfQuery {
            cluster: child_text(req, "cluster"),
            specs,
        })
    }
}

/// Writes a `VsanPerfQueryPerf` answer one entity at a time, without building it as a
/// tree first (a wildcard answer for a large cluster is megabytes).
#[derive(Debug)]
pub struct QueryPerfResponseWriter {
    out: String,
}

impl Default for QueryPerfResponseWriter {
    fn default() -> Self {
        Self::new()
    }
}

impl QueryPerfResponseWriter {
    /// An answer with no entity yet.
    pub fn new() -> QueryPerfResponseWriter {
        QueryPerfResponseWriter {
            out: String::from("<VsanPerfQueryPerfResponse xmlns=\"urn:vsan\">"),
        }
    }

    /// Appends one entity (`VsanPerfEntityMetricCSV`) and its series.
    pub fn push(&mut self, e: &EntityMetricCsv) {
        let out = &mut self.out;
        out.push_str("<returnval xsi:type=\"VsanPerfEntityMetricCSV\">");
        text_element(out, "entityRefId", &e.entity_ref_id);
        text_element(out, "sampleInfo", &e.sample_info);
        for s in &e.series {
            out.push_str("<value xsi:type=\"VsanPerfMetricSeriesCSV\"><metricId xsi:type=\"VsanPerfMetricId\">");
            text_element(out, "label", &s.label);
            if let Some(i) = s.interval {
                let _ = write!(out, "<metricsCollectInterval>{i}</metricsCollectInterval>");
            }
            out.push_str("</metricId>");
            text_element(out, "values", &s.values);
            out.push_str("</value>");
        }
        out.push_str("</returnval>");
    }

    /// The answer envelope.
    pub fn finish(mut self) -> String {
        self.out.push_str("</VsanPerfQueryPerfResponse>");
        envelope(&self.out)
    }
}

/// One `VsanPerfGraph` of an entity type: a metric label and its unit.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PerfGraph {
    /// Graph id (the label for single-metric graphs).
    pub id: String,
    /// The catalogue unit vSAN names (`time_ms`, `rate_bytes`, `number`, ...).
    pub unit: String,
    /// The metric label.
    pub label: String,
    /// Sample interval in seconds.
    pub interval: u32,
}

/// One `VsanPerfEntityType` of `VsanPerfGetSupportedEntityTypes`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PerfEntityType {
    /// The entity type id (`host-domclient`).
    pub name: String,
    /// What it measures.
    pub description: String,
    /// Its metrics.
    pub graphs: Vec<PerfGraph>,
}

/// The answer to `VsanPerfGetSupportedEntityTypes`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SupportedEntityTypes {
    /// The entity types the server reports.
    pub types: Vec<PerfEntityType>,
}

impl SupportedEntityTypes {
    /// The request envelope.
    pub fn encode_request() -> String {
        envelope(
            "<VsanPerfGetSupportedEntityTypes xmlns=\"urn:vsan\"><_this type=\"VsanPerformanceManager\">vsan-performance-manager</_this></VsanPerfGetSupportedEntityTypes>",
        )
    }

    /// The answer envelope.
    pub fn encode(&self) -> String {
        let mut out = String::from("<VsanPerfGetSupportedEntityTypesResponse xmlns=\"urn:vsan\">");
        for et in &self.types {
            out.push_str("<returnval>");
            text_element(&mut out, "name", &et.name);
            text_element(&mut out, "id", &et.name);
            text_element(&mut out, "description", &et.description);
            for g in &et.graphs {
                let _ = write!(
                    out,
                    "<graphs><id>{}</id><unit>{}</unit><metrics><label>{}</label><metricsCollectInterval>{}</metricsCollectInterval></metrics></graphs>",
                    escape(&g.id),
                    escape(&g.unit),
                    escape(&g.label),
                    g.interval
                );
            }
            out.push_str("</returnval>");
        }
        out.push_str("</VsanPerfGetSupportedEntityTypesResponse>");
        envelope(&out)
    }

    /// Reads the answer.
    ///
    /// # Errors
    /// XML errors, [`VsanError::Fault`], [`VsanError::Unexpected`] for another answer.
    pub fn decode(xml: &str) -> Result<SupportedEntityTypes, VsanError> {
        let body = answer_body(
            xml,
            "VsanPerfGetSupportedEntityTypesResponse",
            "not a VsanPerfGetSupportedEntityTypesResponse",
        )?;
        let types = body
            .children_named("returnval")
            .map(|rv| PerfEntityType {
                name: child_text(rv, "name").unwrap_or_default(),
                description: child_text(rv, "description").unwrap_or_default(),
                graphs: rv
                    .children_named("graphs")
                    .map(|g| PerfGraph {
                        id: child_text(g, "id").unwrap_or_default(),
                        unit: child_text(g, "unit").unwrap_or_default(),
                        label: g
                            .path(&["metrics", "label"])
                            .map(|l| l.text.trim().to_owned())
                            .unwrap_or_default(),
                        interval: g
                            .path(&["metrics", "metricsCollectInterval"])
                            .and_then(|i| i.text.trim().parse().ok())
                            .unwrap_or_default(),
                    })
                    .collect(),
            })
            .collect();
        Ok(SupportedEntityTypes { types })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vsan::protocol::IncomingRequest;
    use crate::vsan::soap::{MetricSeriesCsv, for_each_entity};

    #[test]
    fn queries_round_trip_and_bad_times_are_named() {
        let q = PerfQuery {
            cluster: Some("domain-c10".into()),
            specs: vec![
                PerfQuerySpec {
                    entity_ref_id: "host-domclient:a,b".into(),
                    start: Some(1_704_103_200),
                    end: None,
                    labels: vec!["iopsRead".into(), "a&b".into()],
                },
                PerfQuerySpec::wildcard("disk-group", 1, 2),
            ],
        };
        let req = IncomingRequest::decode(&q.encode()).expect("request");
        assert_eq!(req.perf_query().expect("query"), q);
        let bad = q.encode().replace("<startTime>2024", "<startTime>x2024");
        match IncomingRequest::decode(&bad).and_then(|r| r.perf_query()) {
            Err(VsanError::Unexpected { reason }) => assert_eq!(reason, "startTime is malformed"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn written_answers_stream_back_unchanged() {
        let entities: Vec<EntityMetricCsv> = (0..3)
            .map(|i| EntityMetricCsv {
                entity_ref_id: format!("vsan-pnic-net:52a{i}|vmnic{i}"),
                sample_info: "2024-01-01 10:00:00,2024-01-01 10:05:00".into(),
                series: vec![MetricSeriesCsv {
                    label: "rxThroughput".into(),
                    interval: (i != 1).then_some(300),
                    values: format!("{i},"),
                }],
            })
            .collect();
        let mut w = QueryPerfResponseWriter::new();
        for e in &entities {
            w.push(e);
        }
        let xml = w.finish();
        let mut seen = Vec::new();
        assert_eq!(
            for_each_entity(&xml, |e| seen.push(e.clone())).expect("parse"),
            3
        );
        assert_eq!(seen, entities);
        let types = SupportedEntityTypes {
            types: vec![PerfEntityType {
                name: "host-domclient".into(),
                description: "x < y".into(),
                graphs: vec![PerfGraph {
                    id: "iopsRead".into(),
                    unit: "number".into(),
                    label: "iopsRead".into(),
                    interval: 300,
                }],
            }],
        };
        assert_eq!(
            SupportedEntityTypes::decode(&types.encode()).expect("decode"),
            types
        );
    }
}
