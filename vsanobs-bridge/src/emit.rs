//! Owned families a bridge builds during one scrape, with the Prometheus rules every bridge
//! needs applied once: sanitised label sets, one type per name (a later family of another
//! type that claims the same names is dropped), no repeated series, non-empty help. Each
//! rewrite or drop is counted in [`problems`](crate::problems).

use std::collections::{HashMap, HashSet};
use std::hash::BuildHasher;

use vsanobs_core::FamilySink;
use vsanobs_core::model::{MetricFamily, MetricKind, Sample, Value};

use crate::problems::{self, Problem};
use crate::sanitize;

/// The names a family of `kind` called `base` occupies (as the registry counts them).
fn claims(base: &str, kind: MetricKind) -> Vec<String> {
    let suffixes: &[&str] = match kind {
        MetricKind::Counter => &["", "_total", "_created"],
        MetricKind::Histogram => &["", "_bucket", "_sum", "_count", "_created"],
        MetricKind::Info => &["", "_info"],
        _ => &[""],
    };
    suffixes.iter().map(|s| format!("{base}{s}")).collect()
}

/// A label set in the Prometheus rules: names sanitised, empty values dropped, names that
/// sanitise to the same one merged (values joined by `;` in the order of the original
/// names), sorted by name.
pub(crate) fn label_set<'a>(
    bridge: &str,
    pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Vec<(String, String)> {
    let mut raw: Vec<(&str, &str)> = pairs.into_iter().collect();
    raw.sort_by(|a, b| a.0.cmp(b.0));
    let mut out: Vec<(String, String)> = Vec::with_capacity(raw.len());
    for (k, v) in raw {
        if v.is_empty() {
            problems::count(bridge, Problem::EmptyLabelValue);
            continue;
        }
        let name = sanitize::label_name(k);
        if let std::borrow::Cow::Owned(_) = name {
            problems::count(bridge, Problem::InvalidLabelName);
        }
        match out.iter_mut().find(|(n, _)| *n == name) {
            Some((_, existing)) => {
                problems::count(bridge, Problem::LabelCollision);
                existing.push(';');
                existing.push_str(v);
            }
            None => out.push((name.into_owned(), v.to_owned())),
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

struct Fam {
    fam: MetricFamily,
    seen: HashSet<u64>,
}

/// The families of one scrape of one bridge.
pub(crate) struct Emitter<'b> {
    bridge: &'b str,
    fams: Vec<Fam>,
    /// Family name -> index.
    index: HashMap<String, usize>,
    /// Every name a family claims -> the family's index.
    claimed: HashMap<String, usize>,
    hasher: foldhash::fast::FixedState,
}

impl<'b> Emitter<'b> {
    pub(crate) fn new(bridge: &'b str) -> Self {
        Emitter {
            bridge,
            fams: Vec::new(),
            index: HashMap::new(),
            claimed: HashMap::new(),
            hasher: foldhash::fast::FixedState::with_seed(0x6272_6467),
        }
    }

    /// The bridge's name (the `bridge` label of its problem counts).
    pub(crate) fn bridge(&self) -> &str {
        self.bridge
    }

    /// The bridge's name, borrowed for as long as the emitter's own borrow.
    pub(crate) fn bridge_name(&self) -> &'b str {
        self.bridge
    }

    /// The family `name` (already a valid metric name, without type suffix) of `kind`:
    /// an existing one of the same kind is reused (its help and unit kept); `None` when
    /// another type holds the name (counted as [`Problem::TypeConflict`]).
    pub(crate) fn family(
        &mut self,
        name: &str,
        help: &str,
        unit: Option<&str>,
        kind: MetricKind,
    ) -> Option<usize> {
        if let Some(&i) = self.index.get(name) {
            if self.fams[i].fam.kind == kind {
                return Some(i);
            }
            problems::count(self.bridge, Problem::TypeConflict);
            tracing::warn!(
                bridge = self.bridge,
                family = name,
                "two families of different types share a name; the later one is dropped"
            );
            return None;
        }
        let mine = claims(name, kind);
        if mine.iter().any(|c| self.claimed.contains_key(c)) {
            problems::count(self.bridge, Problem::TypeConflict);
            tracing::warn!(
                bridge = self.bridge,
                family = name,
                "a family's series names collide with another family's; the later one is dropped"
            );
            return None;
        }
        let help = if help.trim().is_empty() {
            problems::count(self.bridge, Problem::EmptyHelp);
            name
        } else {
            help
        };
        let unit = unit.filter(|u| {
            !u.is_empty()
                && vsanobs_core::labels::is_valid_label_name(u)
                && name.ends_with(&format!("_{u}"))
        });
        let i = self.fams.len();
        let mut fam = MetricFamily::new(name, help, kind);
        fam.unit = unit.map(str::to_owned);
        self.fams.push(Fam {
            fam,
            seen: HashSet::new(),
        });
        self.index.insert(name.to_owned(), i);
        for c in mine {
            self.claimed.insert(c, i);
        }
        Some(i)
    }

    /// Adds a series to family `i`; a repeated label set is dropped (counted).
    pub(crate) fn sample(&mut self, i: usize, labels: Vec<(String, String)>, value: Value) {
        let h = self.hasher.hash_one(&labels);
        let f = &mut self.fams[i];
        if !f.seen.insert(h) {
            problems::count(self.bridge, Problem::DuplicateSeries);
            return;
        }
        if let Value::Counter { value: v, .. } = &value {
            let v = v.as_f64();
            if v.is_nan() || v < 0.0 {
                problems::count(self.bridge, Problem::InvalidValue);
                return;
            }
        }
        f.fam.samples.push(Sample { labels, value });
    }

    /// Hands every family with at least one series to `sink`: counters without exemplars,
    /// gauges and unknowns whose series share their label names are streamed with borrowed
    /// labels; the rest go as owned families.
    pub(crate) fn finish(self, sink: &mut FamilySink<'_>) {
        for f in self.fams {
            let fam = f.fam;
            if fam.samples.is_empty() {
                continue;
            }
            if !streamable(&fam) {
                sink.push(fam);
                continue;
            }
            sink.family(&fam.name, &fam.help, fam.unit.as_deref(), fam.kind);
            let mut pairs: Vec<(&str, &str)> = Vec::new();
            for smp in &fam.samples {
                pairs.clear();
                pairs.extend(smp.labels.iter().map(|(k, v)| (k.as_str(), v.as_str())));
                match &smp.value {
                    Value::Counter { value, .. } => sink.counter(&[&pairs], *value),
                    Value::Gauge(v) => sink.gauge(&[&pairs], *v),
                    Value::Unknown(v) => sink.unknown(&[&pairs], *v),
                    _ => {}
                }
            }
        }
    }
}

/// Whether a family can be streamed series by series: a counter without exemplars, a gauge
/// or an unknown, all series with the same label names.
fn streamable(fam: &MetricFamily) -> bool {
    let kind_ok = fam.samples.iter().all(|s| match &s.value {
        Value::Counter { exemplar, .. } => exemplar.is_none(),
        Value::Gauge(_) | Value::Unknown(_) => true,
        _ => false,
    });
    let first = &fam.samples[0].labels;
    kind_ok
        && fam.samples.iter().all(|s| {
            s.labels.len() == first.len() && s.labels.iter().zip(first).all(|(a, b)| a.0 == b.0)
        })
}
