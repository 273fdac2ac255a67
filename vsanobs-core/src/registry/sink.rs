//! [`FamilySink`]: where a collector writes its families, series by series with borrowed
//! labels, checked as they arrive.

use std::collections::HashSet;
use std::hash::{BuildHasher, Hasher};

use super::error::CollectError;
use super::naming::{Namespace, base_name, claimed_names};
use crate::encoding::Visitor;
use crate::gather::{Gatherer, visit_samples};
use crate::labels::{LabelsRef, OwnLabels, is_valid_label_name};
use crate::model::{MetricFamily, MetricKind, Number, Value};

/// Where a family stands while its samples arrive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Announced, no sample yet: the header is written with the first valid sample, once
    /// the label names are known and checked.
    Pending,
    /// Header written; samples go out.
    Writing,
    /// Valid but not selected (`name[]`): samples are skipped.
    Filtered,
    /// Invalid name, help, unit or label names, or a name another family already uses.
    Rejected,
}

#[derive(Debug)]
struct Open {
    name: String,
    help: String,
    unit: Option<String>,
    kind: MetricKind,
    state: State,
    /// The first sample's label names; every later sample must have the same.
    names: Vec<String>,
    /// Hashes of the label values seen, to drop a repeated series.
    seen: HashSet<u64, foldhash::fast::FixedState>,
    /// Whether a dropped sample of this family was already logged.
    warned: bool,
}

/// The registry side of [`Collector::collect_into`](crate::Collector::collect_into).
///
/// Call [`family`](Self::family), then [`counter`](Self::counter) / [`gauge`](Self::gauge) /
/// [`unknown`](Self::unknown) for each of its series; [`push`](Self::push) takes a whole
/// owned family (any type). Labels are given as a list of slices read in order, so shared
/// label sets (an entity's) and per-series ones (an operation's) are written without
/// building a vector per series.
///
/// Everything is checked as it arrives, and nothing invalid reaches the output: a family
/// with an invalid name, help, unit or label name, or whose name another family already
/// claims, is dropped; a series whose label names differ from the family's first series,
/// repeats an earlier series' labels, has the wrong type or a negative/NaN counter value is
/// dropped. Each drop is logged and makes the collector report
/// `vsanobs_scrape_collector_success 0`. A family without any series is not written.
///
/// Repeated series are found by a 64-bit hash of the label values; two different series
/// with the same hash would drop the second one (for a family of 100,000 series the chance
/// is about one in 3.7 billion).
///
/// # Example
///
/// ```
/// use vsanobs_core::model::{MetricKind, Number};
/// use vsanobs_core::{CollectError, Collector, FamilySink, Format, Registry};
///
/// /// Free space of some volumes, kept as plain data.
/// #[derive(Debug)]
/// struct Volumes(Vec<(String, f64)>);
///
/// impl Collector for Volumes {
///     fn name(&self) -> &str { "volumes" }
///     fn collect_into(&self, sink: &mut FamilySink<'_>) -> Result<(), CollectError> {
///         sink.family("volume_free_bytes", "Free space.", Some("bytes"), MetricKind::Gauge);
///         let site = [("site", "ams")];
///         for (name, free) in &self.0 {
///             sink.gauge(&[&site, &[("volume", name.as_str())]], Number::Float(*free));
///         }
///         Ok(())
///     }
/// }
///
/// let r = Registry::new();
/// r.register_collector(Volumes(vec![("a".into(), 10.0), ("b".into(), 2.5)])).unwrap();
/// let text = r.encode_to_string(Format::PrometheusText);
/// assert!(text.contains("volume_free_bytes{site=\"ams\",volume=\"a\"} 10.0\n"));
/// assert!(text.contains("volume_free_bytes{site=\"ams\",volume=\"b\"} 2.5\n"));
///
/// // The same collector, owned (for push exporters or tests).
/// let mut owned = Vec::new();
/// Volumes(vec![("a".into(), 1.0)]).collect(&mut owned).unwrap();
/// assert_eq!(owned[0].samples.len(), 1);
/// ```
pub struct FamilySink<'a> {
    /// The prefix and constant labels every family is checked against.
    ns: &'a Namespace,
    consts: &'a [(String, String)],
    keep: &'a dyn Fn(&str) -> bool,
    taken: &'a mut HashSet<String>,
    /// Names this sink added to `taken`, released again if the collector panics.
    claimed: Vec<String>,
    out: &'a mut dyn Visitor,
    collector: &'a str,
    ok: bool,
    cur: Option<Open>,
}

impl std::fmt::Debug for FamilySink<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FamilySink")
            .field("collector", &self.collector)
            .field("family", &self.cur.as_ref().map(|c| c.name.as_str()))
            .field("ok", &self.ok)
            .finish_non_exhaustive()
    }
}

/// The labels of all parts, in order.
fn flat<'l>(
    labels: &'l [&'l [(&'l str, &'l str)]],
) -> impl Iterator<Item = &'l (&'l str, &'l str)> {
    labels.iter().flat_map(|p| p.iter())
}

impl<'a> FamilySink<'a> {
    pub(crate) fn new(
        ns: &'a Namespace,
        consts: &'a [(String, String)],
        keep: &'a dyn Fn(&str) -> bool,
        taken: &'a mut HashSet<String>,
        out: &'a mut dyn Visitor,
        collector: &'a str,
    ) -> Self {
        FamilySink {
            ns,
            consts,
            keep,
            taken,
            claimed: Vec::new(),
            out,
            collector,
            ok: true,
            cur: None,
        }
    }

    /// Whether everything so far was valid, and the names this sink claimed.
    pub(crate) fn finish(self) -> (bool, Vec<String>) {
        (self.ok, self.claimed)
    }

    /// Runs `f` against a sink that builds owned families into `out`: what
    /// [`Collector::collect`](crate::Collector::collect) does with
    /// [`Collector::collect_into`](crate::Collector::collect_into). Names are not prefixed
    /// (the registry does that when it serves them).
    ///
    /// # Errors
    /// `f`'s error, or an error saying how many samples or families were dropped as invalid
    /// (the valid ones are still in `out`).
    pub fn collect_owned(
        out: &mut Vec<MetricFamily>,
        f: impl FnOnce(&mut FamilySink<'_>) -> Result<(), CollectError>,
    ) -> Result<(), CollectError> {
        let ns = Namespace::default();
        let mut taken = HashSet::new();
        let mut g = Gatherer::default();
        let keep = |_: &str| true;
        let mut sink = FamilySink::new(&ns, &[], &keep, &mut taken, &mut g, "owned");
        let result = f(&mut sink);
        let (ok, _) = sink.finish();
        out.extend(g.families);
        result?;
        if ok {
            Ok(())
        } else {
            Err(CollectError::new(
                "invalid samples or families were dropped (see the log)",
            ))
        }
    }

    /// Starts a family. `name` may carry its type suffix (`_total` for counters). The
    /// header is written with the family's first valid series.
    pub fn family(&mut self, name: &str, help: &str, unit: Option<&str>, kind: MetricKind) {
        self.cur = Some(Open {
            name: name.to_owned(),
            help: help.to_owned(),
            unit: unit.map(str::to_owned),
            kind,
            state: State::Pending,
            names: Vec::new(),
            seen: HashSet::with_hasher(foldhash::fast::FixedState::with_seed(0x7673_616e)),
            warned: false,
        });
    }

    /// A counter series of the current family (which must be a counter).
    pub fn counter(&mut self, labels: &[&[(&str, &str)]], value: Number) {
        self.series(labels, MetricKind::Counter, value);
    }

    /// A gauge series of the current family (which must be a gauge).
    pub fn gauge(&mut self, labels: &[&[(&str, &str)]], value: Number) {
        self.series(labels, MetricKind::Gauge, value);
    }

    /// An untyped series of the current family (which must be [`MetricKind::Unknown`]).
    pub fn unknown(&mut self, labels: &[&[(&str, &str)]], value: Number) {
        self.series(labels, MetricKind::Unknown, value);
    }

    /// A whole owned family, of any type: its name, help, unit, label names, series and
    /// values are checked, and an invalid family is dropped whole. Ends the current family.
    pub fn push(&mut self, mut fam: MetricFamily) {
        self.cur = None;
        fam.name = base_name(&fam.name, fam.kind).to_owned();
        let names: Vec<&str> = fam
            .samples
            .first()
            .map(|s| s.labels.iter().map(|(k, _)| k.as_str()).collect())
            .unwrap_or_default();
        let full = match self.ns.check_family(
            &fam.name,
            &fam.help,
            fam.unit.as_deref(),
            fam.kind,
            &names,
        ) {
            Ok(f) => f,
            Err(e) => {
                tracing::warn!(collector = %self.collector, error = %e, "collector produced an invalid family; dropped");
                self.ok = false;
                return;
            }
        };
        let claims = claimed_names(&full, fam.kind);
        if claims.iter().any(|n| self.taken.contains(n)) {
            tracing::warn!(collector = %self.collector, family = %full, "collector family collides with another family; dropped");
            self.ok = false;
            return;
        }
        if let Err(why) = validate_samples(&fam) {
            tracing::warn!(collector = %self.collector, family = %full, reason = why, "collector family is invalid; dropped");
            self.ok = false;
            return;
        }
        self.claim(claims);
        if !(self.keep)(&full) {
            return;
        }
        self.out
            .family(&full, &fam.help, fam.unit.as_deref(), fam.kind);
        visit_samples(&fam, self.consts, self.out);
    }

    fn claim(&mut self, claims: Vec<String>) {
        for c in claims {
            if self.taken.insert(c.clone()) {
                self.claimed.push(c);
            }
        }
    }

    /// Drops one sample: the collector is marked failed, the first drop of a family logged.
    fn drop_sample(&mut self, why: &'static str) {
        self.ok = false;
        match &mut self.cur {
            Some(cur) if !cur.warned => {
                cur.warned = true;
                tracing::warn!(collector = %self.collector, family = %cur.name, reason = why, "collector series dropped (further drops in this family are not logged)");
            }
            Some(_) => {}
            None => {
                tracing::warn!(collector = %self.collector, reason = why, "collector series dropped");
            }
        }
    }

    /// Checks the family on its first series and writes its header.
    fn open(&mut self, labels: &[&[(&str, &str)]]) {
        let Some(cur) = self.cur.as_mut() else { return };
        let names: Vec<&str> = flat(labels).map(|(k, _)| *k).collect();
        let checked =
            self.ns
                .check_family(&cur.name, &cur.help, cur.unit.as_deref(), cur.kind, &names);
        let full = match checked {
            Ok(full) => full,
            Err(e) => {
                tracing::warn!(collector = %self.collector, error = %e, "collector produced an invalid family; dropped");
                cur.state = State::Rejected;
                self.ok = false;
                return;
            }
        };
        let claims = claimed_names(&full, cur.kind);
        if claims.iter().any(|n| self.taken.contains(n)) {
            tracing::warn!(collector = %self.collector, family = %full, "collector family collides with another family; dropped");
            cur.state = State::Rejected;
            self.ok = false;
            return;
        }
        cur.names = names.iter().map(|n| (*n).to_owned()).collect();
        let selected = (self.keep)(&full);
        cur.name = full;
        if selected {
            self.out
                .family(&cur.name, &cur.help, cur.unit.as_deref(), cur.kind);
            cur.state = State::Writing;
        } else {
            cur.state = State::Filtered;
        }
        self.claim(claims);
    }

    fn series(&mut self, labels: &[&[(&str, &str)]], kind: MetricKind, value: Number) {
        let Some(cur) = self.cur.as_ref() else {
            self.drop_sample("series before any family");
            return;
        };
        if cur.kind != kind {
            self.drop_sample("series type does not match the family type");
            return;
        }
        if cur.state == State::Pending {
            self.open(labels);
        }
        let Some(cur) = self.cur.as_mut() else { return };
        match cur.state {
            State::Writing => {}
            State::Pending | State::Filtered | State::Rejected => return,
        }
        if !flat(labels)
            .map(|(k, _)| *k)
            .eq(cur.names.iter().map(String::as_str))
        {
            self.drop_sample("label names differ from the family's first series");
            return;
        }
        if kind == MetricKind::Counter {
            let v = value.as_f64();
            if v.is_nan() || v < 0.0 {
                self.drop_sample("counter value is negative or NaN");
                return;
            }
        }
        let mut h = cur.seen.hasher().build_hasher();
        for (_, v) in flat(labels) {
            h.write(v.as_bytes());
            // 0xff never occurs in UTF-8, so values cannot run into each other.
            h.write_u8(0xff);
        }
        if !cur.seen.insert(h.finish()) {
            self.drop_sample("two series with the same labels");
            return;
        }
        let l = LabelsRef {
            consts: self.consts,
            own: OwnLabels::Slices(labels),
        };
        match kind {
            MetricKind::Counter => self.out.counter(l, value, None),
            MetricKind::Gauge => self.out.gauge(l, value),
            _ => self.out.unknown(l, value),
        }
    }
}

/// Checks an owned family a collector handed over whole: label names, repeated series,
/// value types, counter values and histogram buckets.
fn validate_samples(fam: &MetricFamily) -> Result<(), &'static str> {
    let mut seen = HashSet::new();
    for s in &fam.samples {
        let mut names = HashSet::new();
        for (k, _) in &s.labels {
            if !is_valid_label_name(k) || !names.insert(k.as_str()) {
                return Err("invalid or repeated label name");
            }
        }
        if !seen.insert(&s.labels) {
            return Err("two series with the same labels");
        }
        let kind_ok = matches!(
            (&s.value, fam.kind),
            (Value::Counter { .. }, MetricKind::Counter)
                | (Value::Gauge(_), MetricKind::Gauge)
                | (Value::Histogram { .. }, MetricKind::Histogram)
                | (Value::NativeHistogram(_), MetricKind::Histogram)
                | (Value::Info, MetricKind::Info)
                | (Value::Unknown(_), MetricKind::Unknown)
        );
        if !kind_ok {
            return Err("sample value does not match the family type");
        }
        match &s.value {
            Value::Counter { value, .. } => {
                let v = value.as_f64();
                if v.is_nan() || v < 0.0 {
                    return Err("counter value is negative or NaN");
                }
            }
            Value::Histogram { buckets, .. } => {
                if buckets
                    .last()
                    .is_none_or(|b| b.upper_bound != f64::INFINITY)
                {
                    return Err("histogram does not end with a +Inf bucket");
                }
                for w in buckets.windows(2) {
                    if w[1].upper_bound <= w[0].upper_bound
                        || w[1].cumulative_count < w[0].cumulative_count
                    {
                        return Err("histogram buckets are not increasing");
                    }
                }
            }
            Value::NativeHistogram(h) => {
                if !(crate::metrics::NATIVE_SCHEMA_MIN..=crate::metrics::NATIVE_SCHEMA_MAX)
                    .contains(&h.schema)
                    || h.zero_threshold.is_nan()
                    || h.zero_threshold < 0.0
                {
                    return Err("native histogram schema or zero threshold out of range");
                }
                let sorted = |b: &[(i32, u64)]| b.windows(2).all(|w| w[0].0 < w[1].0);
                if !sorted(&h.positive) || !sorted(&h.negative) {
                    return Err("native histogram buckets are not in increasing index order");
                }
                let in_buckets = h
                    .positive
                    .iter()
                    .chain(&h.negative)
                    .fold(h.zero_count, |a, b| a.saturating_add(b.1));
                if in_buckets > h.count {
                    return Err("native histogram count is below its buckets");
                }
            }
            _ => {}
        }
    }
    Ok(())
}
