//! Parse exposition text back into samples and compare a registry with expected text, the way
//! client_golang's `testutil` does, so users can test their own instrumentation.
//!
//! # Example
//!
//! ```
//! use vsanobs_core::testutil::{assert_registry_matches, parse, sample_value};
//! use vsanobs_core::{Counter, Registry};
//!
//! let r = Registry::new();
//! let jobs = r.counter("jobs_total", "Jobs done.").unwrap();
//! jobs.inc_by(3);
//!
//! // Compare what the registry exports with what you expect (order and spacing do not matter).
//! assert_registry_matches(&r, &["jobs"], "
//!     ## HELP jobs_total Jobs done.
//!     ## TYPE jobs_total counter
//!     jobs_total 3
//! ").unwrap();
//!
//! // Or read single values back.
//! let text = r.encode_to_string(vsanobs_core::Format::OpenMetrics);
//! let families = parse(&text).unwrap();
//! assert_eq!(sample_value(&families, "jobs_total", &[]), Some(3.0));
//! ```
//!
//! ## Note
//! The parser accepts both text 0.0.4 and OpenMetrics 1.0 text (exemplars, `# UNIT`, `# EOF`).
//! It is strict about syntax (quoting, escapes, numbers) and lenient about family grouping, so
//! it can also read output from other libraries.

use std::fmt;

use crate::Format;
use crate::model::MetricKind;
use crate::registry::Registry;

/// A parsed exemplar.
#[derive(Clone, Debug, PartialEq)]
pub struct ParsedExemplar {
    /// Exemplar labels in the order written, values unescaped (for vsanobs's own metrics:
    /// `trace_id` and `span_id`).
    pub labels: Vec<(String, String)>,
    /// Exemplar value.
    pub value: f64,
    /// Exemplar timestamp, if given.
    pub timestamp: Option<f64>,
}

/// One parsed sample line.
#[derive(Clone, Debug, PartialEq)]
pub struct ParsedSample {
    /// Full sample name, including suffixes such as `_total` or `_bucket`.
    pub name: String,
    /// Labels in the order written, values unescaped.
    pub labels: Vec<(String, String)>,
    /// The value.
    pub value: f64,
    /// The timestamp, if given.
    pub timestamp: Option<f64>,
    /// The exemplar, if given (OpenMetrics only).
    pub exemplar: Option<ParsedExemplar>,
}

impl ParsedSample {
    /// The value of label `name`, if present.
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A parsed family: metadata lines and the samples that followed them.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct ParsedFamily {
    /// The name as written on its `# TYPE` line (or the sample name for lone samples).
    pub name: String,
    /// Unescaped help text.
    pub help: Option<String>,
    /// The type, if declared.
    pub kind: Option<MetricKind>,
    /// The unit, if declared (OpenMetrics).
    pub unit: Option<String>,
    /// The samples.
    pub samples: Vec<ParsedSample>,
}

/// Why exposition text could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    /// What was wrong.
    pub reason: String,
}

/// Parses text 0.0.4 or OpenMetrics 1.0 text.
///
/// # Errors
/// [`ParseError`] naming the line and what is wrong with it.
pub fn parse(text: &str) -> Result<Vec<ParsedFamily>, ParseError> {
    let mut fams: Vec<ParsedFamily> = Vec::new();
    let mut seen_eof = false;
    for (i, raw) in text.split('\n').enumerate() {
        let line_no = i + 1;
        let err = |reason: &str| ParseError {
            line: line_no,
            reason: reason.to_owned(),
        };
        let line = raw;
        if line.trim().is_empty() {
            continue;
        }
        if seen_eof {
            return Err(err("content after # EOF"));
        }
        if let Some(rest) = line.strip_prefix('#') {
            let rest = rest.trim_start();
            if rest == "EOF" {
                seen_eof = true;
                continue;
            }
            let (kw, rest) = rest.split_once(' ').unwrap_or((rest, ""));
            match kw {
                "HELP" | "TYPE" | "UNIT" => {
                    let (name, value) = rest.split_once(' ').unwrap_or((rest, ""));
                    if !crate::labels::is_valid_metric_name(name) {
                        return Err(err(&format!("invalid metric name {name:?} in # {kw}")));
                    }
                    let fam = family_for(&mut fams, name);
                    match kw {
                        "HELP" => fam.help = Some(unescape(value, false).map_err(|e| err(&e))?),
                        "TYPE" => {
                            fam.kind = Some(match value.trim() {
                                "counter" => MetricKind::Counter,
                                "gauge" => MetricKind::Gauge,
                                "histogram" => MetricKind::Histogram,
                                "info" => MetricKind::Info,
                                "untyped" | "unknown" => MetricKind::Unknown,
                                other => return Err(err(&format!("unsupported type {other:?}"))),
                            })
                        }
                        _ => fam.unit = Some(value.trim().to_owned()),
                    }
                }
                _ => {} // other comments are allowed in text 0.0.4
            }
            continue;
        }
        let sample = parse_sample(line).map_err(|e| err(&e))?;
        let belongs = fams.last().is_some_and(|f| sample_belongs(f, &sample.name));
        if !belongs {
            fams.push(ParsedFamily {
                name: sample.name.clone(),
                ..ParsedFamily::default()
            });
        }
        if let Some(f) = fams.last_mut() {
            f.samples.push(sample);
        }
    }
    Ok(fams)
}

fn family_for<'a>(fams: &'a mut Vec<ParsedFamily>, name: &str) -> &'a mut ParsedFamily {
    let reuse = fams
        .last()
        .is_some_and(|f| f.name == name && f.samples.is_empty());
    if !reuse {
        fams.push(ParsedFamily {
            name: name.to_owned(),
            ..ParsedFamily::default()
        });
    }
    let last = fams.len() - 1;
    &mut fams[last]
}

fn sample_belongs(f: &ParsedFamily, sample: &str) -> bool {
    if f.name == sample {
        return true;
    }
    let Some(suffix) = sample.strip_prefix(f.name.as_str()) else {
        return false;
    };
    match f.kind {
        Some(MetricKind::Counter) => matches!(suffix, "_total" | "_created"),
        Some(MetricKind::Histogram) => matches!(suffix, "_bucket" | "_sum" | "_count" | "_created"),
        Some(MetricKind::Info) => suffix == "_info",
        _ => false,
    }
}

fn unescape(s: &str, quotes: bool) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('\\') => out.push('\\'),
            Some('n') => out.push('\n'),
            Some('"') => out.push('"'),
            Some(other) if !quotes => {
                out.push('\\');
                out.push(other);
            }
            Some(other) => return Err(format!("invalid escape \\{other}")),
            None => return Err("dangling backslash".to_owned()),
        }
    }
    Ok(out)
}

struct Cursor<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn rest(&self) -> &'a str {
        &self.s[self.pos..]
    }
    fn eat(&mut self, c: char) -> bool {
        if self.rest().starts_with(c) {
            self.pos += c.len_utf8();
            true
        } else {
            false
        }
    }
    fn skip_spaces(&mut self) {
        let r = self.rest();
        self.pos += r.len() - r.trim_start_matches([' ', '\t']).len();
    }
    fn name(&mut self) -> Option<&'a str> {
        let r = self.rest();
        let n = r
            .char_indices()
            .find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '_' || *c == ':'))
            .map(|(i, _)| i)
            .unwrap_or(r.len());
        if n == 0 {
            return None;
        }
        self.pos += n;
        Some(&r[..n])
    }
    fn token(&mut self) -> &'a str {
        let r = self.rest();
        let n = r.find([' ', '\t']).unwrap_or(r.len());
        self.pos += n;
        &r[..n]
    }
    fn quoted(&mut self) -> Result<String, String> {
        if !self.eat('"') {
            return Err("expected '\"'".to_owned());
        }
        let r = self.rest();
        let mut escaped = false;
        for (i, c) in r.char_indices() {
            if escaped {
                escaped = false;
                continue;
            }
            match c {
                '\\' => escaped = true,
                '"' => {
                    self.pos += i + 1;
                    return unescape(&r[..i], true);
                }
                '\n' => return Err("raw newline in label value".to_owned()),
                _ => {}
            }
        }
        Err("unterminated label value".to_owned())
    }
    fn labels(&mut self) -> Result<Vec<(String, String)>, String> {
        let mut out: Vec<(String, String)> = Vec::new();
        if !self.eat('{') {
            return Ok(out);
        }
        loop {
            self.skip_spaces();
            if self.eat('}') {
                return Ok(out);
            }
            let name = self.name().ok_or("expected a label name")?;
            if out.iter().any(|(k, _)| k == name) {
                return Err(format!("label {name:?} repeated"));
            }
            self.skip_spaces();
            if !self.eat('=') {
                return Err("expected '=' after label name".to_owned());
            }
            self.skip_spaces();
            let v = self.quoted()?;
            out.push((name.to_owned(), v));
            self.skip_spaces();
            if self.eat(',') {
                continue;
            }
            if self.eat('}') {
                return Ok(out);
            }
            return Err("expected ',' or '}' in label set".to_owned());
        }
    }
}

fn parse_float(s: &str) -> Result<f64, String> {
    match s {
        "+Inf" | "Inf" | "+inf" | "inf" => Ok(f64::INFINITY),
        "-Inf" | "-inf" => Ok(f64::NEG_INFINITY),
        "NaN" | "nan" => Ok(f64::NAN),
        _ => s
            .parse::<f64>()
            .map_err(|_| format!("invalid number {s:?}")),
    }
}

fn parse_sample(line: &str) -> Result<ParsedSample, String> {
    let mut c = Cursor { s: line, pos: 0 };
    let name = c.name().ok_or("expected a metric name")?.to_owned();
    let labels = c.labels()?;
    c.skip_spaces();
    let value = parse_float(c.token())?;
    c.skip_spaces();
    let mut timestamp = None;
    if !c.rest().is_empty() && !c.rest().starts_with('#') {
        timestamp = Some(parse_float(c.token())?);
        c.skip_spaces();
    }
    let mut exemplar = None;
    if c.eat('#') {
        c.skip_spaces();
        let labels = c.labels()?;
        c.skip_spaces();
        let value = parse_float(c.token())?;
        c.skip_spaces();
        let ts = if c.rest().is_empty() {
            None
        } else {
            Some(parse_float(c.token())?)
        };
        exemplar = Some(ParsedExemplar {
            labels,
            value,
            timestamp: ts,
        });
        c.skip_spaces();
    }
    if !c.rest().is_empty() {
        return Err(format!("unexpected trailing text {:?}", c.rest()));
    }
    Ok(ParsedSample {
        name,
        labels,
        value,
        timestamp,
        exemplar,
    })
}

/// The value of the sample called `name` whose labels are exactly `labels` (in any order).
pub fn sample_value(families: &[ParsedFamily], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    families
        .iter()
        .flat_map(|f| &f.samples)
        .find_map(|s| (s.name == name && same_labels(&s.labels, labels)).then_some(s.value))
}

fn same_labels(have: &[(String, String)], want: &[(&str, &str)]) -> bool {
    have.len() == want.len()
        && want
            .iter()
            .all(|(k, v)| have.iter().any(|(hk, hv)| hk == k && hv == v))
}

/// Number of series (sample lines) whose name is `name`, over all families.
pub fn count_samples(families: &[ParsedFamily], name: &str) -> usize {
    families
        .iter()
        .flat_map(|f| &f.samples)
        .filter(|s| s.name == name)
        .count()
}

/// Where a registry's output differs from the expected text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// Lines only in the expected text (`-`) and only in the registry's output (`+`).
    pub diff: String,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "registry output differs from the expected text:\n{}",
            self.diff
        )
    }
}

impl std::error::Error for Mismatch {}

/// Errors from the compare helpers.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CompareError {
    /// The expected text (or the registry output) did not parse.
    #[error("could not parse exposition text")]
    Parse(#[from] ParseError),
    /// The two differ.
    #[error(transparent)]
    Mismatch(#[from] Mismatch),
}

fn canonical(fams: &[ParsedFamily], names: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for f in fams {
        let base = f
            .name
            .strip_suffix("_total")
            .or_else(|| f.name.strip_suffix("_info"))
            .unwrap_or(&f.name);
        if !names.is_empty() && !names.contains(&base) && !names.contains(&f.name.as_str()) {
            continue;
        }
        if let Some(h) = &f.help {
            out.push(format!("# HELP {} {}", f.name, h.replace('\n', "\\n")));
        }
        if let Some(k) = f.kind {
            out.push(format!("# TYPE {} {}", f.name, k.text_name()));
        }
        for s in &f.samples {
            let mut labels = s.labels.clone();
            labels.sort();
            let l: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
            out.push(format!("{}{{{}}} {}", s.name, l.join(","), s.value));
        }
    }
    out.sort();
    out
}

/// Compares the registry's text 0.0.4 output, restricted to the families named in `names`
/// (base names, as registered; all families when empty), with `expected` text 0.0.4.
/// Order, blank lines and indentation do not matter; help, types, labels and values do.
///
/// # Errors
/// [`CompareError::Mismatch`] with a line diff, or [`CompareError::Parse`].
pub fn assert_registry_matches(
    registry: &Registry,
    names: &[&str],
    expected: &str,
) -> Result<(), CompareError> {
    let got = parse(&registry.encode_to_string(Format::PrometheusText))?;
    let dedented: String = expected
        .lines()
        .map(str::trim_start)
        .collect::<Vec<_>>()
        .join("\n");
    let want = parse(&dedented)?;
    let (g, w) = (canonical(&got, names), canonical(&want, names));
    if g == w {
        return Ok(());
    }
    let mut diff = String::new();
    for l in w.iter().filter(|l| !g.contains(l)) {
        diff.push_str(&format!("- {l}\n"));
    }
    for l in g.iter().filter(|l| !w.contains(l)) {
        diff.push_str(&format!("+ {l}\n"));
    }
    Err(Mismatch { diff }.into())
}
