//! [`SeriesTable`]: what the `series` id of a [`TimestampedSample`](crate::pool::TimestampedSample)
//! stands for (a sample name, its labels and its family's type, help and unit), so a pool of
//! 24-byte samples can be shipped as named series by a [`PoolPipeline`](super::PoolPipeline).
//!
//! # Example
//!
//! ```
//! use vsanobs_core::export::{FamilyMeta, SeriesError, SeriesTable};
//! use vsanobs_core::model::MetricKind;
//!
//! let table = SeriesTable::new(2);
//! let reads = FamilyMeta::new("disk_reads_total", MetricKind::Counter, "Reads.");
//! let a = table.intern(&reads, &[("disk", "a")])?;
//! // The same name and labels, in any order, are the same series.
//! assert_eq!(table.intern(&reads, &[("disk", "a")])?, a);
//! let info = table.get(a).unwrap();
//! assert_eq!(info.name(), "disk_reads_total");
//! assert_eq!(info.labels(), [("disk".to_owned(), "a".to_owned())]);
//! table.intern(&reads, &[("disk", "b")])?;
//! // Bounded: a third series does not fit.
//! assert_eq!(table.intern(&reads, &[("disk", "c")]), Err(SeriesError::Full { max_series: 2 }));
//! # Ok::<(), SeriesError>(())
//! ```
//!
//! Series that are no longer pushed (a VM deleted, a disk replaced) are let go with
//! [`forget_unused_since`](SeriesTable::forget_unused_since), so a long-running producer
//! stays under the bound; a sample of a forgotten id still in a pool is dropped and counted
//! (`reason="unknown_series"`) when drained.
//!
//! ## Note
//! Interning takes a lock and hashes the name and labels (and allocates once for a new
//! series): call it once per series and keep the id, or once per collection as the vSAN
//! exporter does, not on a hot path. [`get`](SeriesTable::get) is a read lock and an index.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use parking_lot::RwLock;

use crate::labels::{is_valid_label_name, is_valid_metric_name};
use crate::model::MetricKind;

/// The family a series belongs to, as remote write's metadata describes it: its name (the
/// sample name for counters, `_total` included), type, help and unit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FamilyMeta {
    /// The family name.
    pub name: String,
    /// Its type.
    pub kind: MetricKind,
    /// Its help text.
    pub help: String,
    /// Its unit (`seconds`), if any.
    pub unit: Option<String>,
}

impl FamilyMeta {
    /// A family with no unit.
    pub fn new(name: impl Into<String>, kind: MetricKind, help: impl Into<String>) -> FamilyMeta {
        FamilyMeta {
            name: name.into(),
            kind,
            help: help.into(),
            unit: None,
        }
    }

    /// The same family with a unit.
    pub fn with_unit(mut self, unit: impl Into<String>) -> FamilyMeta {
        self.unit = Some(unit.into());
        self
    }
}

/// One series of a [`SeriesTable`]: its sample name, labels (sorted by name, none empty) and
/// family.
#[derive(Debug)]
pub struct SeriesInfo {
    name: String,
    labels: Vec<(String, String)>,
    family: Arc<FamilyMeta>,
    /// Unix seconds of the last [`SeriesTable::intern`] that returned it.
    last_used: AtomicI64,
}

impl PartialEq for SeriesInfo {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.labels == other.labels && self.family == other.family
    }
}

impl Eq for SeriesInfo {}

impl SeriesInfo {
    /// The sample name (`__name__`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The labels, sorted by name, without `__name__`; labels with an empty value are left
    /// out (Prometheus treats them as absent).
    pub fn labels(&self) -> &[(String, String)] {
        &self.labels
    }

    /// The family.
    pub fn family(&self) -> &FamilyMeta {
        &self.family
    }
}

/// Why a series could not be interned.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SeriesError {
    /// The table holds its maximum number of series.
    #[error("series table full ({max_series} series)")]
    Full {
        /// The table's bound.
        max_series: usize,
    },
    /// The sample or family name is not a valid metric name.
    #[error("invalid metric name {0:?}")]
    InvalidName(String),
    /// A label name is invalid, reserved (`__` prefix) or repeated.
    #[error("invalid label name {0:?}")]
    InvalidLabelName(String),
    /// The family is already known with another type, help or unit.
    #[error("family {0:?} is already known with another type, help or unit")]
    FamilyConflict(String),
}

#[derive(Debug, Default)]
struct Inner {
    /// `name\0k\0v\0...` -> id.
    index: HashMap<Box<str>, u64>,
    by_id: HashMap<u64, Arc<SeriesInfo>>,
    families: HashMap<String, Arc<FamilyMeta>>,
    next_id: u64,
}

/// Maps series ids to their name, labels and family; bounded. Cloning shares it. Ids are
/// given out from 0 and never reused (a forgotten series that comes back gets a new one).
#[derive(Clone)]
pub struct SeriesTable {
    inner: Arc<RwLock<Inner>>,
    max_series: usize,
}

impl fmt::Debug for SeriesTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SeriesTable")
            .field("series", &self.len())
            .field("max_series", &self.max_series)
            .finish()
    }
}

impl SeriesTable {
    /// A table holding at most `max_series` series.
    pub fn new(max_series: usize) -> SeriesTable {
        SeriesTable {
            inner: Arc::default(),
            max_series,
        }
    }

    /// The bound given to [`new`](Self::new).
    pub fn max_series(&self) -> usize {
        self.max_series
    }

    /// Series held.
    pub fn len(&self) -> usize {
        self.inner.read().by_id.len()
    }

    /// Whether no series is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The id of the series `family.name` with `labels` (in any order; empty values are left
    /// out), added when new.
    ///
    /// # Errors
    /// [`SeriesError::InvalidName`], [`SeriesError::InvalidLabelName`] (also for a
    /// repeated name), [`SeriesError::FamilyConflict`] when the family was interned with
    /// other metadata, [`SeriesError::Full`] for a new series past the bound.
    pub fn intern(&self, family: &FamilyMeta, labels: &[(&str, &str)]) -> Result<u64, SeriesError> {
        self.intern_named(family, &family.name, labels)
    }

    /// Like [`intern`](Self::intern) for a sample whose name differs from its family's
    /// (a histogram's `_bucket`, `_sum` and `_count`).
    ///
    /// # Errors
    /// As [`intern`](Self::intern).
    pub fn intern_named(
        &self,
        family: &FamilyMeta,
        name: &str,
        labels: &[(&str, &str)],
    ) -> Result<u64, SeriesError> {
        let mut sorted: Vec<(&str, &str)> = labels
            .iter()
            .copied()
            .filter(|(_, v)| !v.is_empty())
            .collect();
        sorted.sort_unstable_by(|a, b| a.0.cmp(b.0));
        let key = series_key(name, sorted.iter().copied());
        let now = crate::clock::unix_millis() / 1000;
        {
            let inner = self.inner.read();
            if let Some(&id) = inner.index.get(key.as_str()) {
                if let Some(info) = inner.by_id.get(&id) {
                    info.last_used.store(now, Ordering::Relaxed);
                }
                return Ok(id);
            }
        }
        if !is_valid_metric_name(name) {
            return Err(SeriesError::InvalidName(name.to_owned()));
        }
        if !is_valid_metric_name(&family.name) {
            return Err(SeriesError::InvalidName(family.name.clone()));
        }
        for (i, (k, _)) in sorted.iter().enumerate() {
            let repeated = i > 0 && sorted[i - 1].0 == *k;
            if repeated || !is_valid_label_name(k) || k.starts_with("__") {
                return Err(SeriesError::InvalidLabelName((*k).to_owned()));
            }
        }
        let mut inner = self.inner.write();
        if let Some(&id) = inner.index.get(key.as_str()) {
            return Ok(id);
        }
        if inner.by_id.len() >= self.max_series {
            return Err(SeriesError::Full {
                max_series: self.max_series,
            });
        }
        let fam = match inner.families.get(&family.name) {
            Some(f) if **f == *family => f.clone(),
            Some(_) => return Err(SeriesError::FamilyConflict(family.name.clone())),
            None => {
                let f = Arc::new(family.clone());
                inner.families.insert(family.name.clone(), f.clone());
                f
            }
        };
        let id = inner.next_id;
        inner.next_id += 1;
        let info = Arc::new(SeriesInfo {
            name: name.to_owned(),
            labels: sorted
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            family: fam,
            last_used: AtomicI64::new(now),
        });
        inner.index.insert(key.into_boxed_str(), id);
        inner.by_id.insert(id, info);
        Ok(id)
    }

    /// The series of `id`, if the table holds it.
    pub fn get(&self, id: u64) -> Option<Arc<SeriesInfo>> {
        self.inner.read().by_id.get(&id).cloned()
    }

    /// Forgets every series not interned since `cutoff` (Unix seconds), and the families
    /// left with no series; returns how many series went.
    ///
    /// ```
    /// use vsanobs_core::export::{FamilyMeta, SeriesTable};
    /// use vsanobs_core::model::MetricKind;
    ///
    /// let table = SeriesTable::new(1);
    /// let fam = FamilyMeta::new("vm_reads_total", MetricKind::Counter, "Reads.");
    /// let old = table.intern(&fam, &[("vm", "deleted")])?;
    /// let now = vsanobs_core::clock::unix_millis() / 1000;
    /// assert_eq!(table.forget_unused_since(now + 1), 1);
    /// assert!(table.get(old).is_none());
    /// // Room again; a new id.
    /// assert_eq!(table.intern(&fam, &[("vm", "new")])?, old + 1);
    /// # Ok::<(), vsanobs_core::export::SeriesError>(())
    /// ```
    pub fn forget_unused_since(&self, cutoff: i64) -> usize {
        let mut inner = self.inner.write();
        let gone: Vec<u64> = inner
            .by_id
            .iter()
            .filter(|(_, s)| s.last_used.load(Ordering::Relaxed) < cutoff)
            .map(|(id, _)| *id)
            .collect();
        for id in &gone {
            if let Some(s) = inner.by_id.remove(id) {
                let labels = s.labels.iter().map(|(k, v)| (k.as_str(), v.as_str()));
                inner.index.remove(series_key(&s.name, labels).as_str());
            }
        }
        if !gone.is_empty() {
            let Inner {
                by_id, families, ..
            } = &mut *inner;
            let live: std::collections::HashSet<&str> =
                by_id.values().map(|s| s.family.name.as_str()).collect();
            families.retain(|name, _| live.contains(name.as_str()));
        }
        gone.len()
    }
}

/// `name\0k\0v\0...` for labels sorted by name, empty values left out.
fn series_key<'a>(name: &str, sorted: impl Iterator<Item = (&'a str, &'a str)> + Clone) -> String {
    let mut key = String::with_capacity(
        name.len()
            + sorted
                .clone()
                .map(|(k, v)| k.len() + v.len() + 2)
                .sum::<usize>(),
    );
    key.push_str(name);
    for (k, v) in sorted {
        key.push('\0');
        key.push_str(k);
        key.push('\0');
        key.push_str(v);
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_table_validates_and_sorts() {
        let t = SeriesTable::new(10);
        let g = FamilyMeta::new("temp_celsius", MetricKind::Gauge, "T.").with_unit("celsius");
        let id = t
            .intern(&g, &[("z", "1"), ("a", "2"), ("empty", "")])
            .unwrap();
        let s = t.get(id).unwrap();
        assert_eq!(
            s.labels(),
            [("a".into(), "2".into()), ("z".into(), "1".into())]
        );
        assert_eq!(s.family().unit.as_deref(), Some("celsius"));
        assert_eq!(t.intern(&g, &[("a", "2"), ("z", "1")]).unwrap(), id);
        assert_eq!(
            t.intern(&g, &[("a", "1"), ("a", "2")]),
            Err(SeriesError::InvalidLabelName("a".into()))
        );
        assert_eq!(
            t.intern(&g, &[("__name__", "x")]),
            Err(SeriesError::InvalidLabelName("__name__".into()))
        );
        assert_eq!(
            t.intern(&g, &[("a b", "x")]),
            Err(SeriesError::InvalidLabelName("a b".into()))
        );
        let bad = FamilyMeta::new("1x", MetricKind::Gauge, "");
        assert_eq!(
            t.intern(&bad, &[]),
            Err(SeriesError::InvalidName("1x".into()))
        );
        let other = FamilyMeta::new("temp_celsius", MetricKind::Counter, "T.");
        assert_eq!(
            t.intern(&other, &[("a", "3")]),
            Err(SeriesError::FamilyConflict("temp_celsius".into()))
        );
        assert_eq!(t.len(), 1);
        assert!(t.get(1).is_none() && t.get(u64::MAX).is_none());
    }

    #[test]
    fn series_table_forgets_unused_series_and_their_families() {
        let t = SeriesTable::new(3);
        let g = FamilyMeta::new("g", MetricKind::Gauge, "G.");
        let c = FamilyMeta::new("c_total", MetricKind::Counter, "C.");
        let a = t.intern(&g, &[("x", "a")]).unwrap();
        let b = t.intern(&c, &[("x", "b")]).unwrap();
        let now = crate::clock::unix_millis() / 1000;
        assert_eq!(t.forget_unused_since(now - 10), 0);
        // Mark `a` as used long ago; `b` stays recent.
        t.get(a)
            .unwrap()
            .last_used
            .store(now - 100, Ordering::Relaxed);
        assert_eq!(t.forget_unused_since(now - 10), 1);
        assert!(t.get(a).is_none() && t.get(b).is_some());
        assert_eq!(t.len(), 1);
        // Its family went with it: `g` may come back as a counter.
        let g2 = FamilyMeta::new("g", MetricKind::Counter, "G.");
        let a2 = t.intern(&g2, &[("x", "a")]).unwrap();
        assert_eq!(a2, 2, "ids are never reused");
        assert_eq!(t.intern(&c, &[("x", "b")]).unwrap(), b);
    }
}
