//! SOAP envelopes of the vSAN performance API: `VsanPerfQueryPerf` responses and faults.
//!
//! # Example
//!
//! ```
//! use vsanobs_core::vsan::soap::parse_query_perf_response;
//!
//! let xml = r#"<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>
//!   <VsanPerfQueryPerfResponse xmlns="urn:vsan"><returnval>
//!     <entityRefId>cluster-domclient:52f1a6b3-0000-4000-8000-000000000001</entityRefId>
//!     <sampleInfo>2024-01-01 10:00:00,2024-01-01 10:05:00</sampleInfo>
//!     <value><metricId><label>iopsRead</label><metricsCollectInterval>300</metricsCollectInterval></metricId>
//!       <values>463,470</values></value>
//!   </returnval></VsanPerfQueryPerfResponse></soapenv:Body></soapenv:Envelope>"#;
//! let out = parse_query_perf_response(xml)?;
//! assert_eq!(out[0].series[0].label, "iopsRead");
//! assert_eq!(out[0].series[0].interval, Some(300));
//! assert_eq!(out[0].series[0].values, "463,470");
//! # Ok::<(), vsanobs_core::vsan::VsanError>(())
//! ```

use super::VsanError;
use super::xml::Element;

/// One `VsanPerfEntityMetricCSV`: an entity, its sample timestamps and one CSV per metric.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntityMetricCsv {
    /// `<entity-type>:<uuid>`.
    pub entity_ref_id: String,
    /// Comma-separated `YYYY-MM-DD HH:MM:SS` timestamps (UTC).
    pub sample_info: String,
    /// One series per metric label.
    pub series: Vec<MetricSeriesCsv>,
}

/// One `VsanPerfMetricSeriesCSV`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetricSeriesCsv {
    /// `metricId.label` (`iopsRead`).
    pub label: String,
    /// `metricId.metricsCollectInterval` in seconds, when sent.
    pub interval: Option<u32>,
    /// Comma-separated values aligned with `sampleInfo`.
    pub values: String,
}

/// The kind of a SOAP fault, from its `detail` element or fault string.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FaultKind {
    /// `NotFound`: no host reachable, or the performance service is off.
    NotFound,
    /// `InvalidArgument` (e.g. a second wildcard spec).
    InvalidArgument,
    /// `NotAuthenticated`: the session is unknown or expired.
    NotAuthenticated,
    /// `InvalidLogin`: wrong user or password.
    InvalidLogin,
    /// `NotSupported`: the host is not the stats master.
    NotSupported,
    /// Any other fault.
    Other,
}

impl FaultKind {
    /// The fault type name as it appears on the wire (`NotFound`).
    pub fn wire_name(self) -> &'static str {
        match self {
            FaultKind::NotFound => "NotFound",
            FaultKind::InvalidArgument => "InvalidArgument",
            FaultKind::NotAuthenticated => "NotAuthenticated",
            FaultKind::InvalidLogin => "InvalidLogin",
            FaultKind::NotSupported => "NotSupported",
            FaultKind::Other => "SystemError",
        }
    }

    fn from_name(n: &str) -> FaultKind {
        let n = n.rsplit(':').next().unwrap_or(n);
        let n = n.strip_suffix("Fault").unwrap_or(n);
        match n {
            "NotFound" => FaultKind::NotFound,
            "InvalidArgument" => FaultKind::InvalidArgument,
            "NotAuthenticated" => FaultKind::NotAuthenticated,
            "InvalidLogin" => FaultKind::InvalidLogin,
            "NotSupported" => FaultKind::NotSupported,
            _ => FaultKind::Other,
        }
    }
}

/// Parses an envelope and returns the first element of its `Body`.
///
/// # Errors
/// XML errors as for [`Element::parse`]; [`VsanError::Fault`] when the body is a SOAP fault;
/// [`VsanError::Unexpected`] when there is no `Envelope/Body/*`.
pub fn parse_body(xml: &str) -> Result<Element, VsanError> {
    let mut root = Element::parse(xml)?;
    if root.name != "Envelope" {
        return Err(VsanError::Unexpected {
            reason: "not a soap envelope",
        });
    }
    let body_idx =
        root.children
            .iter()
            .position(|c| c.name == "Body")
            .ok_or(VsanError::Unexpected {
                reason: "soap envelope without body",
            })?;
    let mut body = root.children.swap_remove(body_idx);
    if body.children.is_empty() {
        return Err(VsanError::Unexpected {
            reason: "empty soap body",
        });
    }
    let first = body.children.swap_remove(0);
    if first.name == "Fault" {
        return Err(fault_of(&first));
    }
    Ok(first)
}

fn fault_of(f: &Element) -> VsanError {
    let message = f.child_text("faultstring").unwrap_or("").trim().to_owned();
    let detail_kind = f.child("detail").and_then(|d| d.children.first()).map(|d| {
        d.attr("type")
            .map(FaultKind::from_name)
            .filter(|k| *k != FaultKind::Other)
            .unwrap_or_else(|| FaultKind::from_name(&d.name))
    });
    let kind = match detail_kind {
        Some(k) if k != FaultKind::Other => k,
        _ => {
            // vSAN faults are also reported only as "ServerFaultCode: NotFound"-style text.
            let code = f.child_text("faultcode").unwrap_or("");
            [
                FaultKind::NotFound,
                FaultKind::InvalidArgument,
                FaultKind::NotAuthenticated,
                FaultKind::InvalidLogin,
                FaultKind::NotSupported,
            ]
            .into_iter()
            .find(|k| message.contains(k.wire_name()) || code.contains(k.wire_name()))
            .unwrap_or(FaultKind::Other)
        }
    };
    VsanError::Fault { kind, message }
}

/// Parses a `VsanPerfQueryPerfResponse` envelope.
///
/// # Errors
/// As [`parse_body`]; [`VsanError::Unexpected`] when the body is another response or a
/// `returnval` lacks its `entityRefId`.
pub fn parse_query_perf_response(xml: &str) -> Result<Vec<EntityMetricCsv>, VsanError> {
    let body = parse_body(xml)?;
    if body.name != "VsanPerfQueryPerfResponse" {
        return Err(VsanError::Unexpected {
            reason: "not a VsanPerfQueryPerfResponse",
        });
    }
    body.children_named("returnval")
        .map(|rv| {
            let entity_ref_id = rv
                .child_text("entityRefId")
                .ok_or(VsanError::Unexpected {
                    reason: "returnval without entityRefId",
                })?
                .trim()
                .to_owned();
            let sample_info = rv.child_text("sampleInfo").unwrap_or("").trim().to_owned();
            let series = rv
                .children_named("value")
                .map(|v| {
                    let id = v.child("metricId").ok_or(VsanError::Unexpected {
                        reason: "value without metricId",
                    })?;
                    let label = id
                        .child_text("label")
                        .ok_or(VsanError::Unexpected {
                            reason: "metricId without label",
                        })?
                        .trim()
                        .to_owned();
                    let interval = id
                        .child_text("metricsCollectInterval")
                        .and_then(|s| s.trim().parse().ok());
                    let values = v.child_text("values").unwrap_or("").trim().to_owned();
                    Ok(MetricSeriesCsv {
                        label,
                        interval,
                        values,
                    })
                })
                .collect::<Result<_, VsanError>>()?;
            Ok(EntityMetricCsv {
                entity_ref_id,
                sample_info,
                series,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults() {
        let xml = r#"<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring>Invalid Argument. Only one wildcard query allowed in query specs.</faultstring><detail><InvalidArgumentFault xmlns="urn:vsan" xsi:type="InvalidArgument"><invalidProperty>querySpecs</invalidProperty></InvalidArgumentFault></detail></soapenv:Fault></soapenv:Body></soapenv:Envelope>"#;
        match parse_query_perf_response(xml) {
            Err(VsanError::Fault {
                kind: FaultKind::InvalidArgument,
                message,
            }) => assert!(message.contains("one wildcard")),
            other => panic!("{other:?}"),
        }
        let xml = r#"<Envelope><Body><Fault><faultcode>ServerFaultCode: NotFound</faultcode><faultstring>x</faultstring></Fault></Body></Envelope>"#;
        assert!(matches!(
            parse_query_perf_response(xml),
            Err(VsanError::Fault {
                kind: FaultKind::NotFound,
                ..
            })
        ));
    }

    #[test]
    fn truncated_and_html() {
        assert!(matches!(
            parse_query_perf_response("<Envelope><Body><VsanPerfQueryPerfResponse><returnval>"),
            Err(VsanError::Truncated)
        ));
        assert!(
            parse_query_perf_response("<html><body>Service unavailable</body></html>").is_err()
        );
        assert!(parse_query_perf_response("").is_err());
        assert!(parse_query_perf_response("<a><b></a>").is_err());
    }
}
