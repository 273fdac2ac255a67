//! From one parsed `VsanPerfEntityMetricCSV` to exported values: the latest complete sample
//! of every gauge, every new per-interval delta of every counter (accumulated by
//! [`DeltaAccumulator`]), and unknown labels as sanitised gauges.
//!
//! # Example
//!
//! ```
//! use vsanobs_core::vsan::mapping::{map_entity, DeltaAccumulator, MetricRef};
//! use vsanobs_core::vsan::soap::{EntityMetricCsv, MetricSeriesCsv};
//!
//! let csv = EntityMetricCsv {
//!     entity_ref_id: "host-domclient:5f3c0000-0000-4000-8000-000000000001".into(),
//!     sample_info: "2024-01-01 10:00:00,2024-01-01 10:05:00".into(),
//!     series: vec![
//!         MetricSeriesCsv { label: "latencyAvgRead".into(), interval: Some(300), values: "227,-1".into() },
//!         MetricSeriesCsv { label: "readCount".into(), interval: Some(300), values: "138900,141000".into() },
//!         MetricSeriesCsv { label: "newFancyMetric".into(), interval: Some(300), values: "7,8".into() },
//!     ],
//! };
//! let m = map_entity(&csv, None)?;
//! // -1 means "no data": the latest complete latency sample is the first one, in seconds.
//! assert_eq!(m.gauges[0].value, 0.000227);
//! assert_eq!(m.gauges[0].timestamp, 1704103200);
//! // Unknown labels become sanitised gauges and are counted.
//! assert_eq!(m.gauges[1].metric.name(), "vsan_host_domclient_new_fancy_metric");
//! assert_eq!(m.unknown_labels, 1);
//! // Deltas accumulate into a counter, each interval once.
//! let mut acc = DeltaAccumulator::new();
//! let d = &m.deltas[0];
//! assert_eq!(acc.add("host1/read", &d.samples), 279900.0);
//! assert_eq!(acc.add("host1/read", &d.samples), 279900.0);
//! # Ok::<(), vsanobs_core::vsan::VsanError>(())
//! ```

use std::collections::HashMap;
use std::hash::Hash;

use super::VsanError;
use super::catalogue::{self, Mapping};
use super::csv::{latest_valid, parse_entity_ref, parse_sample_info, parse_values, valid_after};
use super::soap::EntityMetricCsv;

/// Where a value goes: a catalogue family, or a sanitised gauge for a label the catalogue
/// does not know.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum MetricRef {
    /// A catalogue row.
    Known(&'static Mapping),
    /// An unknown label, exported as a gauge of this name with the raw value.
    Unknown(String),
}

impl MetricRef {
    /// The family name.
    pub fn name(&self) -> &str {
        match self {
            MetricRef::Known(m) => m.metric.name,
            MetricRef::Unknown(n) => n,
        }
    }
}

/// The latest complete sample of a gauge, converted to base units.
#[derive(Clone, Debug, PartialEq)]
pub struct GaugePoint {
    /// The family.
    pub metric: MetricRef,
    /// The converted value.
    pub value: f64,
    /// The sample's Unix time (UTC).
    pub timestamp: i64,
}

/// The complete per-interval deltas of a counter label newer than the high-water mark.
#[derive(Clone, Debug, PartialEq)]
pub struct DeltaPoints {
    /// The catalogue row (always a counter).
    pub mapping: &'static Mapping,
    /// `(timestamp, converted delta)`, oldest first.
    pub samples: Vec<(i64, f64)>,
}

/// The exported values of one entity.
#[derive(Clone, Debug, PartialEq)]
pub struct MappedEntity {
    /// Entity type (`host-domclient`).
    pub entity_type: String,
    /// Entity UUID.
    pub uuid: String,
    /// What follows `|` in the id (`vmnic1`), if anything.
    pub sub: Option<String>,
    /// Gauges, in series order.
    pub gauges: Vec<GaugePoint>,
    /// Counters, in series order.
    pub deltas: Vec<DeltaPoints>,
    /// Labels the catalogue does not know (exported as gauges in [`Self::gauges`]).
    pub unknown_labels: usize,
    /// Series with no complete sample at all (nothing exported for them).
    pub incomplete_series: usize,
    /// Series whose value count differed from the timestamp count.
    pub count_mismatches: usize,
    /// The newest timestamp in `sampleInfo`.
    pub latest_timestamp: Option<i64>,
}

/// Maps one entity. Counter deltas older than or at `after` are left out.
///
/// # Errors
/// The first parse error of the entity id, the timestamps or a values CSV.
pub fn map_entity(csv: &EntityMetricCsv, after: Option<i64>) -> Result<MappedEntity, VsanError> {
    let e = parse_entity_ref(&csv.entity_ref_id)?;
    let ts = parse_sample_info(&csv.sample_info)?;
    let mut out = MappedEntity {
        entity_type: e.entity_type.to_owned(),
        uuid: e.uuid.to_owned(),
        sub: e.sub.map(str::to_owned),
        gauges: Vec::new(),
        deltas: Vec::new(),
        unknown_labels: 0,
        incomplete_series: 0,
        count_mismatches: 0,
        latest_timestamp: ts.iter().copied().max(),
    };
    for s in &csv.series {
        let values = parse_values(&s.values)?;
        if values.len() != ts.len() {
            out.count_mismatches += 1;
        }
        match catalogue::lookup(e.entity_type, &s.label) {
            Some(m) if m.is_delta() => {
                let samples: Vec<(i64, f64)> = valid_after(&ts, &values, after)
                    .map(|(t, v)| (t, m.convert(v)))
                    .collect();
                if latest_valid(&ts, &values).is_none() {
                    out.incomplete_series += 1;
                }
                out.deltas.push(DeltaPoints {
                    mapping: m,
                    samples,
                });
            }
            known => {
                let metric = match known {
                    Some(m) => MetricRef::Known(m),
                    None => {
                        out.unknown_labels += 1;
                        MetricRef::Unknown(unknown_name(e.entity_type, &s.label))
                    }
                };
                match latest_valid(&ts, &values) {
                    Some((timestamp, raw)) => {
                        let value = match &metric {
                            MetricRef::Known(m) => m.convert(raw),
                            MetricRef::Unknown(_) => raw,
                        };
                        out.gauges.push(GaugePoint {
                            metric,
                            value,
                            timestamp,
                        });
                    }
                    None => out.incomplete_series += 1,
                }
            }
        }
    }
    Ok(out)
}

/// The gauge name an unknown label is exported under: the entity type's prefix (or
/// `vsan_<sanitised type>`) plus the label in snake_case, restricted to `[a-z0-9_]`. Names
/// that would end in a suffix Prometheus reserves (`_total`, `_count`, `_sum`, `_bucket`,
/// `_info`, `_created`) get `_raw` appended.
///
/// # Example
///
/// ```
/// use vsanobs_core::vsan::mapping::unknown_name;
/// assert_eq!(unknown_name("host-domclient", "latencyP99Read"), "vsan_host_domclient_latency_p99_read");
/// assert_eq!(unknown_name("zdom-io", "ioTotal"), "vsan_zdom_io_io_total_raw");
/// ```
pub fn unknown_name(entity_type: &str, label: &str) -> String {
    let mut name = match catalogue::entity_type(entity_type) {
        Some(et) => et.prefix.to_owned(),
        None => format!("vsan_{}", snake_case(entity_type)),
    };
    name.push('_');
    name.push_str(&snake_case(label));
    for suffix in ["_total", "_count", "_sum", "_bucket", "_info", "_created"] {
        if name.ends_with(suffix) {
            name.push_str("_raw");
            break;
        }
    }
    name
}

/// camelCase / kebab / dotted text to `[a-z0-9_]` snake_case, without repeated or trailing
/// underscores.
pub(crate) fn snake_case(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 4);
    let mut prev_lower_or_digit = false;
    for c in s.chars() {
        if c.is_ascii_uppercase() {
            if prev_lower_or_digit && !out.ends_with('_') {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
            prev_lower_or_digit = false;
        } else if c.is_ascii_alphanumeric() {
            out.push(c);
            prev_lower_or_digit = true;
        } else {
            if !out.is_empty() && !out.ends_with('_') {
                out.push('_');
            }
            prev_lower_or_digit = false;
        }
    }
    while out.ends_with('_') {
        out.pop();
    }
    if out.is_empty() || out.as_bytes()[0].is_ascii_digit() {
        out.insert(0, '_');
    }
    out
}

/// One counter series: the running total of its per-interval deltas and the end of the
/// newest interval counted. [`add`](Self::add) is the rule every vSAN counter follows: an
/// interval at or before the newest one counted is a replay and is ignored, and so is a
/// negative or NaN delta (vSAN's "no data"); anything else is added once.
///
/// [`DeltaAccumulator`] keeps one per key; a store with its own layout (the exporter packs a
/// total and its time in 12 bytes) keeps the parts itself and applies the rule through this
/// type with [`from_parts`](Self::from_parts).
///
/// # Example
///
/// ```
/// use vsanobs_core::vsan::mapping::DeltaTotal;
///
/// let mut reads = DeltaTotal::new();
/// assert_eq!(reads.add(1_704_103_200, 138_900.0), 138_900.0);
/// assert_eq!(reads.add(1_704_103_200, 138_900.0), 138_900.0); // the same interval again
/// assert_eq!(reads.add(1_704_103_500, -1.0), 138_900.0); // no data
/// assert_eq!(reads.add_all(&[(1_704_103_500, 141_000.0), (1_704_103_800, 1.0)]), 279_901.0);
/// assert_eq!(reads.newest(), Some(1_704_103_800));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct DeltaTotal {
    total: f64,
    newest: Option<i64>,
}

impl DeltaTotal {
    /// A series with nothing counted yet.
    pub const fn new() -> DeltaTotal {
        DeltaTotal {
            total: 0.0,
            newest: None,
        }
    }

    /// A series restored from its total and the end of its newest counted interval.
    pub const fn from_parts(total: f64, newest: Option<i64>) -> DeltaTotal {
        DeltaTotal { total, newest }
    }

    /// The running total.
    pub fn total(&self) -> f64 {
        self.total
    }

    /// The end of the newest interval counted (None: none yet).
    pub fn newest(&self) -> Option<i64> {
        self.newest
    }

    /// Counts the delta of the interval ending at `timestamp` unless that interval is not
    /// newer than the newest counted or the delta is negative or NaN; returns the total.
    pub fn add(&mut self, timestamp: i64, delta: f64) -> f64 {
        if self.newest.is_none_or(|n| timestamp > n) && delta >= 0.0 {
            self.total += delta;
            self.newest = Some(timestamp);
        }
        self.total
    }

    /// [`add`](Self::add) for each `(timestamp, delta)`, oldest first (as [`map_entity`]
    /// returns them); returns the total.
    pub fn add_all(&mut self, samples: &[(i64, f64)]) -> f64 {
        for &(t, v) in samples {
            self.add(t, v);
        }
        self.total
    }
}

/// Accumulates per-interval deltas into monotonic totals, one [`DeltaTotal`] per key:
/// each interval counts once, replays and "no data" never.
#[derive(Debug, Clone)]
pub struct DeltaAccumulator<K> {
    series: HashMap<K, DeltaTotal>,
}

impl<K: Hash + Eq> Default for DeltaAccumulator<K> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: Hash + Eq> DeltaAccumulator<K> {
    /// An empty accumulator.
    pub fn new() -> Self {
        DeltaAccumulator {
            series: HashMap::new(),
        }
    }

    /// Adds the samples newer than the series' high-water mark and returns the new total.
    /// Samples must be oldest first (as [`map_entity`] returns them).
    pub fn add(&mut self, key: K, samples: &[(i64, f64)]) -> f64 {
        self.series.entry(key).or_default().add_all(samples)
    }

    /// Adds one interval's delta, ending at `timestamp`, unless the series has counted it
    /// (or a newer one) already; returns the new total.
    pub fn add_one(&mut self, key: K, timestamp: i64, delta: f64) -> f64 {
        self.series.entry(key).or_default().add(timestamp, delta)
    }

    /// The state of a series.
    pub fn series(&self, key: &K) -> Option<DeltaTotal> {
        self.series.get(key).copied()
    }

    /// The current total of a series.
    pub fn get(&self, key: &K) -> Option<f64> {
        self.series.get(key).map(DeltaTotal::total)
    }

    /// The high-water mark of a series.
    pub fn last_timestamp(&self, key: &K) -> Option<i64> {
        self.series.get(key).and_then(DeltaTotal::newest)
    }

    /// Every series and its total.
    pub fn iter(&self) -> impl Iterator<Item = (&K, f64)> + '_ {
        self.series.iter().map(|(k, v)| (k, v.total()))
    }

    /// Number of series.
    pub fn len(&self) -> usize {
        self.series.len()
    }

    /// True when no series is tracked.
    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }

    /// Keeps only the series for which `keep` returns true (drop entities that went away).
    pub fn retain(&mut self, mut keep: impl FnMut(&K) -> bool) {
        self.series.retain(|k, _| keep(k));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snake() {
        assert_eq!(snake_case("iopsRead"), "iops_read");
        assert_eq!(snake_case("NIOPSDelayed"), "niopsdelayed");
        assert_eq!(snake_case("rx.Packets-Loss"), "rx_packets_loss");
        assert_eq!(snake_case("9lives"), "_9lives");
        assert_eq!(snake_case("é"), "_");
    }

    #[test]
    fn accumulator_ignores_replays_and_negatives() {
        let mut a = DeltaAccumulator::new();
        assert_eq!(a.add(1, &[(10, 5.0), (20, 7.0)]), 12.0);
        assert_eq!(a.add(1, &[(20, 7.0), (30, -1.0), (40, 1.0)]), 13.0);
        assert_eq!(a.last_timestamp(&1), Some(40));
        assert_eq!(a.add_one(1, 40, 9.0), 13.0, "a replayed interval");
        assert_eq!(a.add_one(1, 50, f64::NAN), 13.0, "no data");
        assert_eq!(a.add_one(1, 50, 2.0), 15.0);
        assert_eq!(a.series(&1), Some(DeltaTotal::from_parts(15.0, Some(50))));
        a.retain(|k| *k != 1);
        assert!(a.is_empty());
    }
}
