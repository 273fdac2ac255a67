//! Reading `VsanPerfQueryPerf` answers (whole, or streamed one entity at a time) and the
//! SOAP faults any answer may be. The other calls, and the writing side, are in
//! [`protocol`](super::protocol).
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
#[derive(Clone, Debug, Default, PartialEq, Eq)]
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
    /// `InvalidRequest`: the request could not be read (not XML, no SOAP body).
    InvalidRequest,
    /// `MethodNotFound`: the server does not implement the call.
    MethodNotFound,
    /// `InvalidProperty`: a property path the object's type does not have (the path is in
    /// the fault's detail, [`FaultDetail::InvalidProperty`](super::protocol::fault::FaultDetail)).
    InvalidProperty,
    /// `NoPermission`: the user may not read the object (object and privilege in the detail).
    NoPermission,
    /// `ManagedObjectNotFound`: a MoRef that names no object.
    ManagedObjectNotFound,
    /// The `SOAPAction` names a version the server does not implement. vCenter answers it
    /// with a fault without a typed detail whose string reads
    /// `Request version 'urn:vim25/9.0.0.0' and namespace 'urn:vim25' are not supported`.
    UnsupportedVersion,
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
            FaultKind::InvalidRequest => "InvalidRequest",
            FaultKind::MethodNotFound => "MethodNotFound",
            FaultKind::InvalidProperty => "InvalidProperty",
            FaultKind::NoPermission => "NoPermission",
            FaultKind::ManagedObjectNotFound => "ManagedObjectNotFound",
            FaultKind::UnsupportedVersion => "UnsupportedVersion",
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
            "InvalidRequest" => FaultKind::InvalidRequest,
            "MethodNotFound" => FaultKind::MethodNotFound,
            "InvalidProperty" => FaultKind::InvalidProperty,
            "NoPermission" => FaultKind::NoPermission,
            "ManagedObjectNotFound" => FaultKind::ManagedObjectNotFound,
            _ => FaultKind::Other,
        }
    }
}

/// Parses an envelope and returns the first element of its `Body`.
///
/// # Errors
/// XML errors as for [`Element::parse`]; [`VsanError::Fault`] when the body is a SOAP fault;
/// [`VsanError::Unexpected`] when there is no `Envelope/Body/*`.
pub(crate) fn parse_body(xml: &str) -> Result<Element, VsanError> {
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
        d.xsi_type()
            .or_else(|| d.attr("type"))
            .map(FaultKind::from_name)
            .filter(|k| *k != FaultKind::Other)
            .unwrap_or_else(|| FaultKind::from_name(&d.name))
    });
    let kind = match detail_kind {
        Some(k) if k != FaultKind::Other => k,
        _ if is_unsupported_version(&message) => FaultKind::UnsupportedVersion,
        _ => {
            // vSAN faults are also reported only as "ServerFaultCode: NotFound"-style text.
            let code = f.child_text("faultcode").unwrap_or("");
            // `MethodNotFound` and `ManagedObjectNotFound` before `NotFound`, which their
            // names contain.
            [
                FaultKind::MethodNotFound,
                FaultKind::ManagedObjectNotFound,
                FaultKind::NotFound,
                FaultKind::InvalidArgument,
                FaultKind::NotAuthenticated,
                FaultKind::InvalidLogin,
                FaultKind::NotSupported,
                FaultKind::InvalidRequest,
                FaultKind::InvalidProperty,
                FaultKind::NoPermission,
            ]
            .into_iter()
            .find(|k| message.contains(k.wire_name()) || code.contains(k.wire_name()))
            .unwrap_or(FaultKind::Other)
        }
    };
    VsanError::Fault { kind, message }
}

/// Whether a fault string is vCenter's refusal of a `SOAPAction` version
/// (`Request version '...' and namespace '...' are not supported`).
pub(crate) fn is_unsupported_version(message: &str) -> bool {
    message.starts_with("Request version '") && message.ends_with("are not supported")
}

/// Parses a `VsanPerfQueryPerfResponse` envelope.
///
/// # Errors
/// [`VsanError::Xml`] for malformed XML, [`VsanError::Truncated`] when the document ends
/// inside an element, [`VsanError::Fault`] when the body is a SOAP fault;
/// [`VsanError::Unexpected`] when it is not a SOAP envelope with a body, the body is another response or a
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

/// Parses a `VsanPerfQueryPerfResponse` envelope one `returnval` at a time: `f` sees each
/// entity as soon as its element closes, through one buffer reused for every entity, so the
/// answer is never held parsed as a whole (a wildcard answer for a large cluster is megabytes
/// of CSV). Returns the number of entities passed to `f`.
///
/// The whole document is checked: an error found after some entities went to `f` (a body cut
/// off in the middle) is still returned, and the caller must discard what it did with them.
/// For any input, the outcome is that of [`parse_query_perf_response`]: the same entities in
/// the same order, or the same error.
///
/// # Example
///
/// ```
/// use vsanobs_core::vsan::soap::for_each_entity;
///
/// let xml = r#"<Envelope><Body><VsanPerfQueryPerfResponse>
///   <returnval><entityRefId>cache-disk:52a0</entityRefId><sampleInfo>2024-01-01 10:00:00</sampleInfo>
///     <value><metricId><label>latencyDevRead</label></metricId><values>880</values></value></returnval>
///   <returnval><entityRefId>cache-disk:52a1</entityRefId><sampleInfo>2024-01-01 10:00:00</sampleInfo>
///     <value><metricId><label>latencyDevRead</label></metricId><values>910</values></value></returnval>
/// </VsanPerfQueryPerfResponse></Body></Envelope>"#;
/// let mut seen = Vec::new();
/// let n = for_each_entity(xml, |e| seen.push((e.entity_ref_id.clone(), e.series[0].values.clone())))?;
/// assert_eq!(n, 2);
/// assert_eq!(seen[1], ("cache-disk:52a1".to_owned(), "910".to_owned()));
///
/// // A body cut off after the first entity: that entity was seen, the answer is an error.
/// let cut = &xml[..xml.find("<returnval><entityRefId>cache-disk:52a1").unwrap()];
/// assert!(for_each_entity(cut, |_| {}).is_err());
/// # Ok::<(), vsanobs_core::vsan::VsanError>(())
/// ```
///
/// # Errors
/// As [`parse_query_perf_response`].
pub fn for_each_entity(xml: &str, mut f: impl FnMut(&EntityMetricCsv)) -> Result<usize, VsanError> {
    match stream_entities(xml, &mut f) {
        Ok(n) => Ok(n),
        // Errors are rare (faults, cut-off bodies): the tree parser gives the exact error it
        // would have given, SOAP fault details included.
        Err(e) => match parse_query_perf_response(xml) {
            Err(tree) => Err(tree),
            Ok(_) => Err(e),
        },
    }
}

/// Where an open element sits in a query answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tag {
    Envelope,
    Body,
    Response,
    Returnval,
    RefId,
    Info,
    Value,
    MetricId,
    Label,
    Interval,
    Values,
    /// Anything else (ignored, like the tree parser's unread children).
    Other,
}

/// Text buffers and "first child seen" flags of the entity being read.
#[derive(Default)]
struct EntityState {
    csv: EntityMetricCsv,
    /// Series buffers kept from earlier entities, reused.
    spare: Vec<MetricSeriesCsv>,
    ref_id: String,
    info: String,
    label: String,
    interval: String,
    values: String,
    seen_ref: bool,
    seen_info: bool,
    seen_metric_id: bool,
    seen_values: bool,
    seen_label: bool,
    seen_interval: bool,
}

impl EntityState {
    fn text(&mut self, tag: Tag) -> Option<&mut String> {
        match tag {
            Tag::RefId => Some(&mut self.ref_id),
            Tag::Info => Some(&mut self.info),
            Tag::Label => Some(&mut self.label),
            Tag::Interval => Some(&mut self.interval),
            Tag::Values => Some(&mut self.values),
            _ => None,
        }
    }

    /// The tag of a child element `name` opened inside `parent`; resets what it starts.
    fn open(&mut self, parent: Tag, name: &str) -> Tag {
        match (parent, name) {
            (Tag::Response, "returnval") => {
                self.spare.append(&mut self.csv.series);
                self.seen_ref = false;
                self.seen_info = false;
                self.ref_id.clear();
                self.info.clear();
                Tag::Returnval
            }
            (Tag::Returnval, "entityRefId") if !self.seen_ref => {
                self.seen_ref = true;
                Tag::RefId
            }
            (Tag::Returnval, "sampleInfo") if !self.seen_info => {
                self.seen_info = true;
                Tag::Info
            }
            (Tag::Returnval, "value") => {
                self.seen_metric_id = false;
                self.seen_values = false;
                self.seen_label = false;
                self.seen_interval = false;
                self.label.clear();
                self.interval.clear();
                self.values.clear();
                Tag::Value
            }
            (Tag::Value, "metricId") if !self.seen_metric_id => {
                self.seen_metric_id = true;
                Tag::MetricId
            }
            (Tag::Value, "values") if !self.seen_values => {
                self.seen_values = true;
                Tag::Values
            }
            (Tag::MetricId, "label") if !self.seen_label => {
                self.seen_label = true;
                Tag::Label
            }
            (Tag::MetricId, "metricsCollectInterval") if !self.seen_interval => {
                self.seen_interval = true;
                Tag::Interval
            }
            _ => Tag::Other,
        }
    }

    /// Completes a `value`: one series of the current entity.
    fn close_value(&mut self) -> Result<(), VsanError> {
        if !self.seen_metric_id {
            return Err(VsanError::Unexpected {
                reason: "value without metricId",
            });
        }
        if !self.seen_label {
            return Err(VsanError::Unexpected {
                reason: "metricId without label",
            });
        }
        let mut s = self.spare.pop().unwrap_or(MetricSeriesCsv {
            label: String::new(),
            interval: None,
            values: String::new(),
        });
        s.label.clear();
        s.label.push_str(self.label.trim());
        s.interval = self
            .interval
            .trim()
            .parse()
            .ok()
            .filter(|_| self.seen_interval);
        s.values.clear();
        s.values.push_str(self.values.trim());
        self.csv.series.push(s);
        Ok(())
    }

    /// Completes a `returnval`: the entity is ready.
    fn close_entity(&mut self) -> Result<&EntityMetricCsv, VsanError> {
        if !self.seen_ref {
            return Err(VsanError::Unexpected {
                reason: "returnval without entityRefId",
            });
        }
        self.csv.entity_ref_id.clear();
        self.csv.entity_ref_id.push_str(self.ref_id.trim());
        self.csv.sample_info.clear();
        self.csv.sample_info.push_str(self.info.trim());
        Ok(&self.csv)
    }
}

fn stream_entities(xml: &str, f: &mut dyn FnMut(&EntityMetricCsv)) -> Result<usize, VsanError> {
    use quick_xml::events::Event;

    use super::xml::{check_attributes, read_error, resolve_ref};

    const MAX_DEPTH: usize = 64;
    let unexpected = |reason| VsanError::Unexpected { reason };
    let mut reader = quick_xml::Reader::from_str(xml);
    reader.config_mut().check_end_names = true;
    let mut stack: Vec<Tag> = Vec::with_capacity(16);
    let mut st = EntityState::default();
    let (mut root_done, mut seen_body, mut body_children) = (false, false, 0usize);
    let mut entities = 0usize;
    loop {
        let ev = reader.read_event().map_err(read_error)?;
        let (e, empty) = match ev {
            Event::Start(e) => (e, false),
            Event::Empty(e) => (e, true),
            Event::End(_) => {
                let tag = stack.pop().ok_or(unexpected("unbalanced end tag"))?;
                match tag {
                    Tag::Value => st.close_value()?,
                    Tag::Returnval => {
                        f(st.close_entity()?);
                        entities += 1;
                    }
                    Tag::Body if body_children == 0 => return Err(unexpected("empty soap body")),
                    _ => {}
                }
                root_done |= stack.is_empty();
                continue;
            }
            Event::Text(t) => {
                match stack.last() {
                    Some(&tag) => {
                        if let Some(buf) = st.text(tag) {
                            buf.push_str(&t.xml10_content());
                        }
                    }
                    None if !t.xml10_content().trim().is_empty() => {
                        return Err(unexpected("text outside the root element"));
                    }
                    None => {}
                }
                continue;
            }
            Event::CData(t) => {
                if let Some(buf) = stack.last().and_then(|&tag| st.text(tag)) {
                    buf.push_str(&t.into_inner());
                }
                continue;
            }
            Event::GeneralRef(r) => {
                let c = resolve_ref(r)?;
                if let Some(buf) = stack.last().and_then(|&tag| st.text(tag)) {
                    buf.push(c);
                }
                continue;
            }
            Event::Eof => break,
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => continue,
        };
        if root_done {
            return Err(unexpected("content after the root element"));
        }
        if stack.len() >= MAX_DEPTH {
            return Err(unexpected("xml nested too deeply"));
        }
        check_attributes(&e)?;
        let local = e.local_name();
        let name: &str = local.as_ref();
        let tag = match stack.last() {
            None if name == "Envelope" => Tag::Envelope,
            None => return Err(unexpected("not a soap envelope")),
            Some(Tag::Envelope) if name == "Body" && !seen_body => {
                seen_body = true;
                Tag::Body
            }
            Some(Tag::Body) => {
                body_children += 1;
                match name {
                    _ if body_children > 1 => Tag::Other,
                    "VsanPerfQueryPerfResponse" => Tag::Response,
                    "Fault" => return Err(unexpected("soap fault")),
                    _ => return Err(unexpected("not a VsanPerfQueryPerfResponse")),
                }
            }
            Some(&parent) => st.open(parent, name),
        };
        if empty {
            match tag {
                Tag::Value => st.close_value()?,
                Tag::Returnval => {
                    f(st.close_entity()?);
                    entities += 1;
                }
                Tag::Body => return Err(unexpected("empty soap body")),
                _ => {}
            }
            root_done |= stack.is_empty();
        } else {
            stack.push(tag);
        }
    }
    if !stack.is_empty() || !root_done {
        return Err(VsanError::Truncated);
    }
    if !seen_body {
        return Err(unexpected("soap envelope without body"));
    }
    Ok(entities)
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

    /// Streams `xml` and collects what `for_each_entity` passes on, or its error's reason.
    fn streamed(xml: &str) -> Result<Vec<EntityMetricCsv>, &'static str> {
        let mut out = Vec::new();
        match for_each_entity(xml, |e| out.push(e.clone())) {
            Ok(n) => {
                assert_eq!(n, out.len());
                Ok(out)
            }
            Err(e) => Err(e.reason()),
        }
    }

    fn tree(xml: &str) -> Result<Vec<EntityMetricCsv>, &'static str> {
        parse_query_perf_response(xml).map_err(|e| e.reason())
    }

    const DOC: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Header/><soapenv:Body>
<VsanPerfQueryPerfResponse xmlns="urn:vsan"><returnval>
  <entityRefId> disk-group:52a0|x </entityRefId><sampleInfo>2024-01-01 10:00:00,2024-01-01 10:05:00</sampleInfo>
  <value><metricId><label>iopsRead</label><metricsCollectInterval>300</metricsCollectInterval><label>second</label></metricId>
    <values>1,<![CDATA[2]]></values><values>ignored</values></value>
  <value><metricId><label>a&amp;b&#x41;</label></metricId><values/></value>
  <other><value><metricId><label>nested, not read</label></metricId></value></other>
</returnval><returnval><entityRefId>cache-disk:1</entityRefId><sampleInfo/><entityRefId>second</entityRefId>
  <value><metricId><label>x</label><metricsCollectInterval>bad</metricsCollectInterval></metricId><values> 3 </values></value>
</returnval><returnval><entityRefId>vm:2</entityRefId></returnval><unrelated/></VsanPerfQueryPerfResponse>
<ignoredSecond/></soapenv:Body></soapenv:Envelope>
"#;

    #[test]
    fn streaming_matches_the_tree_parser() {
        let whole = streamed(DOC).expect("valid");
        assert_eq!(Ok(whole.clone()), tree(DOC));
        assert_eq!(whole.len(), 3);
        assert_eq!(whole[0].entity_ref_id, "disk-group:52a0|x");
        assert_eq!(whole[0].series.len(), 2);
        assert_eq!(whole[0].series[0].values, "1,2");
        assert_eq!(whole[0].series[0].interval, Some(300));
        assert_eq!(whole[0].series[1].label, "a&bA");
        assert_eq!(whole[1].series[0].interval, None);
        assert_eq!(whole[1].series[0].values, "3");
        assert!(whole[2].series.is_empty());
        // Every cut-off prefix: the same outcome (mostly "truncated") from both parsers.
        for end in (0..DOC.len()).filter(|i| DOC.is_char_boundary(*i)) {
            let cut = &DOC[..end];
            assert_eq!(streamed(cut), tree(cut), "prefix of {end} bytes");
        }
    }

    #[test]
    fn streaming_rejects_what_the_tree_parser_rejects() {
        let docs = [
            "",
            "<html><body>Service unavailable</body></html>",
            "<Envelope/>",
            "<Envelope><Body/></Envelope>",
            "<Envelope><Body></Body></Envelope>",
            "<Envelope><Body><Other/></Body></Envelope>",
            "<Envelope><Body><VsanPerfQueryPerfResponse/></Body></Envelope>",
            "<Envelope><Body><VsanPerfQueryPerfResponse><returnval/></VsanPerfQueryPerfResponse></Body></Envelope>",
            "<Envelope><Body><VsanPerfQueryPerfResponse><returnval><entityRefId>a:b</entityRefId><value/></returnval></VsanPerfQueryPerfResponse></Body></Envelope>",
            "<Envelope><Body><VsanPerfQueryPerfResponse><returnval><entityRefId>a:b</entityRefId><value><metricId/></value></returnval></VsanPerfQueryPerfResponse></Body></Envelope>",
            "<Envelope><Body><VsanPerfQueryPerfResponse><returnval><entityRefId>a&bogus;</entityRefId></returnval></VsanPerfQueryPerfResponse></Body></Envelope>",
            "<Envelope><Body><VsanPerfQueryPerfResponse x='1' y></VsanPerfQueryPerfResponse></Body></Envelope>",
            "<Envelope><Body><VsanPerfQueryPerfResponse></VsanPerfQueryPerfResponse></Body></Envelope><extra/>",
            "<Envelope><Body><VsanPerfQueryPerfResponse></VsanPerfQueryPerfResponse></Body></Envelope>text",
            "text<Envelope/>",
            "<Envelope><Body><VsanPerfQueryPerfResponse></Body></Envelope>",
            "<Envelope><Body><Fault><faultcode>ServerFaultCode: NotFound</faultcode><faultstring>x</faultstring></Fault></Body></Envelope>",
        ];
        for d in docs {
            assert_eq!(streamed(d), tree(d), "{d}");
        }
        let deep = format!(
            "<Envelope><Body><VsanPerfQueryPerfResponse>{}{}</VsanPerfQueryPerfResponse></Body></Envelope>",
            "<a>".repeat(70),
            "</a>".repeat(70)
        );
        assert_eq!(streamed(&deep), tree(&deep));
        assert!(streamed(&deep).is_err());
        assert_eq!(
            streamed(docs[docs.len() - 1]),
            Err("not_found"),
            "a fault keeps its kind"
        );
    }
}
