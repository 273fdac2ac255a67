//! A small XML element tree for SOAP envelopes, built on `quick-xml`, plus text escaping.
//! Crate-private: callers use the typed calls of [`protocol`](super::protocol).
//!
//! SOAP bodies are small, nest shallowly and are read once, so an owned tree keyed by local
//! names (namespace prefixes dropped) is the simplest correct reader.
//!
//! ## Note
//! Parsing allocates one `String` per element name and text; this runs once per response.

use quick_xml::Reader;
use quick_xml::errors::SyntaxError;
use quick_xml::events::Event;

use super::VsanError;

/// One XML element: local name, attributes (local names), text content and children.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Element {
    /// Local name (prefix removed).
    pub(crate) name: String,
    /// Attributes as (local name, unescaped value); a prefixed attribute (`xsi:type`) is
    /// keyed `:` + its local name (`:type`), so it never shadows an unprefixed one (`type`).
    pub(crate) attrs: Vec<(String, String)>,
    /// Concatenated, unescaped text directly inside this element.
    pub(crate) text: String,
    /// Child elements in document order.
    pub(crate) children: Vec<Element>,
}

/// Maximum element depth accepted (SOAP envelopes nest far less).
const MAX_DEPTH: usize = 64;

impl Element {
    /// Parses a whole document and returns its root element.
    ///
    /// # Errors
    /// [`VsanError::Xml`] for malformed XML, [`VsanError::Truncated`] when the document ends
    /// inside an element, [`VsanError::Unexpected`] when there is no root element or the
    /// nesting is deeper than 64.
    pub(crate) fn parse(xml: &str) -> Result<Element, VsanError> {
        let mut reader = Reader::from_str(xml);
        reader.config_mut().check_end_names = true;
        let mut stack: Vec<Element> = Vec::new();
        let mut root: Option<Element> = None;
        loop {
            let ev = reader.read_event().map_err(read_error)?;
            match ev {
                Event::Start(e) | Event::Empty(e) if root.is_some() && stack.is_empty() => {
                    let _ = e;
                    return Err(VsanError::Unexpected {
                        reason: "content after the root element",
                    });
                }
                Event::Start(e) => {
                    if stack.len() >= MAX_DEPTH {
                        return Err(VsanError::Unexpected {
                            reason: "xml nested too deeply",
                        });
                    }
                    stack.push(start(&e)?);
                }
                Event::Empty(e) => {
                    let el = start(&e)?;
                    match stack.last_mut() {
                        Some(parent) => parent.children.push(el),
                        None => root = Some(el),
                    }
                }
                Event::End(_) => {
                    let el = stack.pop().ok_or(VsanError::Unexpected {
                        reason: "unbalanced end tag",
                    })?;
                    match stack.last_mut() {
                        Some(parent) => parent.children.push(el),
                        None => root = Some(el),
                    }
                }
                Event::Text(t) => {
                    if let Some(cur) = stack.last_mut() {
                        cur.text.push_str(&t.xml10_content());
                    } else if !t.xml10_content().trim().is_empty() {
                        return Err(VsanError::Unexpected {
                            reason: "text outside the root element",
                        });
                    }
                }
                Event::CData(t) => {
                    if let Some(cur) = stack.last_mut() {
                        cur.text.push_str(&t.into_inner());
                    }
                }
                Event::GeneralRef(r) => {
                    let resolved = resolve_ref(r)?;
                    if let Some(cur) = stack.last_mut() {
                        cur.text.push(resolved);
                    }
                }
                Event::Eof => break,
                Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => {}
            }
        }
        if !stack.is_empty() {
            return Err(VsanError::Truncated);
        }
        root.ok_or(VsanError::Truncated)
    }

    /// The first child with this local name.
    pub(crate) fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// All children with this local name.
    pub(crate) fn children_named<'a>(
        &'a self,
        name: &'a str,
    ) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// Follows a path of child names from this element.
    pub(crate) fn path(&self, names: &[&str]) -> Option<&Element> {
        names.iter().try_fold(self, |el, n| el.child(n))
    }

    /// The text of the child with this name, if present.
    pub(crate) fn child_text(&self, name: &str) -> Option<&str> {
        self.child(name).map(|c| c.text.as_str())
    }

    /// The `xsi:type` attribute (whatever its prefix), without a namespace prefix in its
    /// value (`xsd:string` -> `string`, `vim25:HostRuntimeInfo` -> `HostRuntimeInfo`).
    pub(crate) fn xsi_type(&self) -> Option<&str> {
        self.attr(":type")
            .map(|t| t.rsplit(':').next().unwrap_or(t))
    }

    /// An attribute's value by local name (`:name` for a prefixed one).
    pub(crate) fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A reader error as a [`VsanError`]: input that ends inside a tag, comment or declaration is
/// a cut-off body ([`VsanError::Truncated`]).
pub(crate) fn read_error(source: quick_xml::Error) -> VsanError {
    match source {
        quick_xml::Error::Syntax(
            SyntaxError::UnclosedPI
            | SyntaxError::UnclosedXmlDecl
            | SyntaxError::UnclosedComment
            | SyntaxError::UnclosedDoctype
            | SyntaxError::UnclosedCData
            | SyntaxError::UnclosedTag
            | SyntaxError::UnclosedSingleQuotedAttributeValue
            | SyntaxError::UnclosedDoubleQuotedAttributeValue,
        ) => VsanError::Truncated,
        source => VsanError::Xml { source },
    }
}

/// The character a `&...;` reference stands for (character references and the five
/// predefined entities; any other entity is an error).
pub(crate) fn resolve_ref(r: quick_xml::events::BytesRef<'_>) -> Result<char, VsanError> {
    match r
        .resolve_char_ref()
        .map_err(|source| VsanError::Xml { source })?
    {
        Some(c) => Ok(c),
        None => match &*r.into_inner() {
            "lt" => Ok('<'),
            "gt" => Ok('>'),
            "amp" => Ok('&'),
            "apos" => Ok('\''),
            "quot" => Ok('"'),
            _ => Err(VsanError::Unexpected {
                reason: "unknown xml entity",
            }),
        },
    }
}

/// Checks every attribute of a start tag as [`Element::parse`] reads them, without keeping
/// them.
pub(crate) fn check_attributes(e: &quick_xml::events::BytesStart<'_>) -> Result<(), VsanError> {
    for a in e.attributes() {
        let a = a.map_err(|source| VsanError::Xml {
            source: source.into(),
        })?;
        if a.key.as_ref().starts_with("xmlns") {
            continue;
        }
        a.normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .map_err(|source| VsanError::Xml { source })?;
    }
    Ok(())
}

fn start(e: &quick_xml::events::BytesStart<'_>) -> Result<Element, VsanError> {
    let name = e.local_name().as_ref().to_owned();
    let mut attrs = Vec::new();
    for a in e.attributes() {
        let a = a.map_err(|source| VsanError::Xml {
            source: source.into(),
        })?;
        if a.key.as_ref().starts_with("xmlns") {
            continue;
        }
        let local = a.key.local_name().as_ref().to_owned();
        let key = if a.key.prefix().is_some() {
            format!(":{local}")
        } else {
            local
        };
        let value = a
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .map_err(|source| VsanError::Xml { source })?
            .into_owned();
        attrs.push((key, value));
    }
    Ok(Element {
        name,
        attrs,
        text: String::new(),
        children: Vec::new(),
    })
}

/// Escapes `&`, `<`, `>`, `"` and `'` for element text and attribute values.
pub(crate) fn escape(s: &str) -> std::borrow::Cow<'_, str> {
    quick_xml::escape::escape(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_local_names_text_and_attributes() {
        let doc = Element::parse(
            r#"<s:Envelope xmlns:s="x"><s:Body><a k="v">1 &amp; 2</a></s:Body></s:Envelope>"#,
        )
        .expect("parse");
        let a = doc.path(&["Body", "a"]).expect("a");
        assert_eq!(a.text, "1 & 2");
        assert_eq!(a.attr("k"), Some("v"));
        assert_eq!(escape("<a&b>"), "&lt;a&amp;b&gt;");
    }
}
