//! Compact storage of one cluster's vSAN series: per entity type, a table of entities (label
//! values interned once per cluster) by catalogue columns, each cell one value and one
//! timestamp (16 bytes a series); answers are staged in the same form as they arrive and
//! merged when the cluster's collection completes. Entity types the catalogue does not know
//! get a table each too, keyed by the type's id, with every label a raw gauge.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use vsanobs_core::model::MetricKind;
use vsanobs_core::vsan::catalogue::{ENTITY_TYPES, Mapping, Scope};
use vsanobs_core::vsan::mapping::{DeltaTotal, MappedEntity, MetricRef};

/// Help of the families exported from labels the catalogue does not know.
pub(crate) const UNKNOWN_HELP: &str =
    "vSAN metric label not in the catalogue, exported raw (no unit conversion).";

/// Help of the families exported from entity types the catalogue does not know.
pub(crate) const RAW_TYPE_HELP: &str =
    "vSAN entity type not in the catalogue, exported raw (no unit conversion).";

/// The labels of a series of an entity type the catalogue does not know, after `vcenter`
/// and `cluster_name`, in [`EntityKey`] order (`host_*` only for a host the inventory knows).
pub(crate) const RAW_LABELS: [&str; 4] = ["cluster_uuid", "entity_id", "host_name", "host_uuid"];

/// The entity type of a table: one of the catalogue's, or one it does not know (exported
/// raw), by its id. Catalogue types order first.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum TableType {
    /// Index into [`ENTITY_TYPES`].
    Catalogue(usize),
    /// The id of a type the catalogue does not know (`host-domowner`).
    Raw(Arc<str>),
}

impl TableType {
    /// The entity type id (`host-domclient`).
    pub(crate) fn id(&self) -> &str {
        match self {
            TableType::Catalogue(i) => ENTITY_TYPES[*i].id,
            TableType::Raw(id) => id,
        }
    }
}

/// Index of an interned string; [`NONE`] for an unused key slot.
pub(crate) type Sid = u32;
/// An unused key slot.
pub(crate) const NONE: Sid = Sid::MAX;

/// Label values of one cluster, each stored once: entities refer to them by index.
#[derive(Debug, Default)]
pub(crate) struct Strings {
    list: Vec<Arc<str>>,
    index: HashMap<Arc<str>, Sid>,
}

impl Strings {
    /// The index of `s`, added when new.
    pub(crate) fn intern(&mut self, s: &str) -> Sid {
        if let Some(&i) = self.index.get(s) {
            return i;
        }
        let i = Sid::try_from(self.list.len()).unwrap_or(NONE - 1);
        let a: Arc<str> = Arc::from(s);
        self.list.push(a.clone());
        self.index.insert(a, i);
        i
    }

    /// The string of an index (empty for [`NONE`] or an unknown index).
    pub(crate) fn get(&self, i: Sid) -> &str {
        self.list.get(i as usize).map_or("", |s| s)
    }

    /// Number of strings held.
    pub(crate) fn len(&self) -> usize {
        self.list.len()
    }

    /// Keeps only the strings `tables` refer to and renumbers the tables' keys.
    pub(crate) fn compact(&mut self, tables: &mut Tables) {
        let mut remap: Vec<Sid> = vec![NONE; self.list.len()];
        let mut list = Vec::new();
        for t in tables.all() {
            for key in &t.keys {
                for &s in key.iter().filter(|s| **s != NONE) {
                    if let Some(slot) = remap.get_mut(s as usize)
                        && *slot == NONE
                    {
                        *slot = Sid::try_from(list.len()).unwrap_or(NONE - 1);
                        list.push(self.list[s as usize].clone());
                    }
                }
            }
        }
        for t in tables.all_mut() {
            for key in &mut t.keys {
                for s in key.iter_mut().filter(|s| **s != NONE) {
                    *s = remap.get(*s as usize).copied().unwrap_or(NONE);
                }
            }
            t.reindex();
        }
        self.index = list
            .iter()
            .enumerate()
            .map(|(i, s)| (s.clone(), i as Sid))
            .collect();
        self.list = list;
    }
}

/// An entity's label values after `vcenter` and `cluster_name` (which the cluster holds):
/// `cluster_uuid` then up to three scope labels (`host_name`, `host_uuid`, `disk_uuid` /
/// `vmnic`, or `vm_name`), in the order of [`Scope::labels`]; for an entity type the catalogue
/// does not know, the values of [`RAW_LABELS`]. Equal keys are equal label sets.
pub(crate) type EntityKey = [Sid; 4];

/// Where a column's values go.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ColumnMetric {
    /// A catalogue row.
    Known(&'static Mapping),
    /// A label the catalogue does not know, by its sanitised gauge name.
    Unknown(Box<str>),
}

impl ColumnMetric {
    /// The family name.
    pub(crate) fn name(&self) -> &str {
        match self {
            ColumnMetric::Known(m) => m.metric.name,
            ColumnMetric::Unknown(name) => name,
        }
    }

    /// True for accumulated counters (catalogue rows of per-interval deltas).
    pub(crate) fn is_counter(&self) -> bool {
        matches!(self, ColumnMetric::Known(m) if m.is_delta())
    }

    /// Help, unit and type of the family.
    pub(crate) fn family(&self) -> (&'static str, Option<&'static str>, MetricKind) {
        match self {
            ColumnMetric::Known(m) => (m.metric.help, m.metric.unit, m.metric.kind),
            ColumnMetric::Unknown(_) => (UNKNOWN_HELP, None, MetricKind::Gauge),
        }
    }

    /// The catalogue labels that follow the entity labels (`op="read"`).
    pub(crate) fn extra(&self) -> &'static [(&'static str, &'static str)] {
        match self {
            ColumnMetric::Known(m) => m.extra,
            ColumnMetric::Unknown(_) => &[],
        }
    }

    /// True when values of `r` go to this column. Unknown labels whose names sanitise
    /// alike share a column, as they share a series.
    fn is(&self, r: &MetricRef) -> bool {
        match (self, r) {
            (ColumnMetric::Known(a), MetricRef::Known(b)) => std::ptr::eq(*a, *b),
            (ColumnMetric::Unknown(a), MetricRef::Unknown(b)) => **a == **b,
            _ => false,
        }
    }
}

/// Sample times are stored as seconds after this instant (2001-09-09) in a `u32`, which
/// reaches 2137; earlier and later times are clamped to the ends (vSAN did not exist
/// before 2014).
const EPOCH: i64 = 1_000_000_000;

/// One series: a gauge's latest value and its sample time, or a counter's running total and
/// the time of the newest interval it contains (`i64::MIN`: none yet). A NaN value means no
/// series (vSAN values are finite and totals of finite values are never NaN). Packed to 12
/// bytes (the value is read and written by copy, never by reference).
#[derive(Debug, Clone, Copy, PartialEq)]
#[repr(C, packed(4))]
pub(crate) struct Cell {
    value: f64,
    /// Seconds after [`EPOCH`]; 0 for `i64::MIN`.
    stamp: u32,
}

impl Cell {
    const EMPTY: Cell = Cell {
        value: f64::NAN,
        stamp: 0,
    };

    pub(crate) fn new(value: f64, stamp: i64) -> Cell {
        let stamp = if stamp == i64::MIN {
            0
        } else {
            (stamp.saturating_sub(EPOCH)).clamp(1, i64::from(u32::MAX)) as u32
        };
        Cell { value, stamp }
    }

    /// The value (NaN: no series).
    pub(crate) fn value(&self) -> f64 {
        self.value
    }

    /// The sample time (`i64::MIN`: none).
    pub(crate) fn stamp(&self) -> i64 {
        match self.stamp {
            0 => i64::MIN,
            s => EPOCH + i64::from(s),
        }
    }

    pub(crate) fn is_set(&self) -> bool {
        !self.value().is_nan()
    }

    /// A counter cell as the catalogue's [`DeltaTotal`] (an unset cell: nothing counted).
    pub(crate) fn delta_total(&self) -> DeltaTotal {
        if !self.is_set() {
            return DeltaTotal::new();
        }
        let newest = Some(self.stamp()).filter(|t| *t != i64::MIN);
        DeltaTotal::from_parts(self.value(), newest)
    }

    /// A counter cell holding `t`.
    fn from_delta_total(t: DeltaTotal) -> Cell {
        Cell::new(t.total(), t.newest().unwrap_or(i64::MIN))
    }
}

/// One catalogue row (or unknown label) of an entity type: a cell per entity of the table.
#[derive(Debug)]
pub(crate) struct Column {
    pub(crate) metric: ColumnMetric,
    pub(crate) cells: Vec<Cell>,
}

/// The series of one entity type in one cluster: entities x columns.
#[derive(Debug, Default)]
pub(crate) struct Table {
    pub(crate) keys: Vec<EntityKey>,
    index: HashMap<EntityKey, u32>,
    pub(crate) columns: Vec<Column>,
}

impl Table {
    /// The row of `key`, added (with no series) when new.
    fn row(&mut self, key: EntityKey) -> usize {
        if let Some(&r) = self.index.get(&key) {
            return r as usize;
        }
        let r = self.keys.len();
        self.keys.push(key);
        self.index.insert(key, r as u32);
        for c in &mut self.columns {
            c.cells.push(Cell::EMPTY);
        }
        r
    }

    /// The column of a metric, added when new.
    fn column_of(&mut self, metric: &ColumnMetric) -> usize {
        if let Some(i) = self.columns.iter().position(|c| c.metric == *metric) {
            return i;
        }
        self.columns.push(Column {
            metric: metric.clone(),
            cells: vec![Cell::EMPTY; self.keys.len()],
        });
        self.columns.len() - 1
    }

    /// The column a mapped value goes to, added when new.
    fn column_for(&mut self, r: &MetricRef) -> usize {
        if let Some(i) = self.columns.iter().position(|c| c.metric.is(r)) {
            return i;
        }
        let metric = match r {
            MetricRef::Known(m) => ColumnMetric::Known(m),
            other => ColumnMetric::Unknown(other.name().into()),
        };
        self.column_of(&metric)
    }

    /// The cell of entity `key` in the column of `metric`, if the table has both.
    pub(crate) fn cell(&self, key: &EntityKey, metric: &ColumnMetric) -> Option<Cell> {
        let row = *self.index.get(key)? as usize;
        let col = self.columns.iter().find(|c| c.metric == *metric)?;
        col.cells.get(row).copied()
    }

    fn reindex(&mut self) {
        self.index = self
            .keys
            .iter()
            .enumerate()
            .map(|(i, k)| (*k, i as u32))
            .collect();
    }

    /// Series held.
    pub(crate) fn series(&self) -> usize {
        self.columns
            .iter()
            .map(|c| c.cells.iter().filter(|c| c.is_set()).count())
            .sum()
    }

    /// Drops gauges whose sample is at or before `cutoff`, then entities left with no
    /// series at all (counters are never dropped).
    fn drop_stale(&mut self, cutoff: i64) {
        for c in self.columns.iter_mut().filter(|c| !c.metric.is_counter()) {
            for cell in c.cells.iter_mut().filter(|c| c.stamp() <= cutoff) {
                *cell = Cell::EMPTY;
            }
        }
        let live: Vec<bool> = (0..self.keys.len())
            .map(|r| self.columns.iter().any(|c| c.cells[r].is_set()))
            .collect();
        if live.iter().all(|l| *l) {
            return;
        }
        let mut r = 0;
        self.keys.retain(|_| {
            r += 1;
            live[r - 1]
        });
        for c in &mut self.columns {
            let mut r = 0;
            c.cells.retain(|_| {
                r += 1;
                live[r - 1]
            });
        }
        self.columns.retain(|c| c.cells.iter().any(Cell::is_set));
        self.reindex();
    }

    /// Memory the table holds (capacity, not length), for tests and the figures.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.keys.capacity() * size_of::<EntityKey>()
            + self.index.capacity() * (size_of::<EntityKey>() + size_of::<u32>() + 1)
            + self
                .columns
                .iter()
                .map(|c| c.cells.capacity() * size_of::<Cell>() + size_of::<Column>())
                .sum::<usize>()
    }
}

/// UUID -> interned names of one cluster's inventory, for one collection.
#[derive(Debug, Default)]
pub(crate) struct Names {
    pub(crate) cluster_uuid: Sid,
    pub(crate) hosts: HashMap<String, (Sid, Sid)>,
    pub(crate) disks: HashMap<String, (Sid, Sid)>,
    pub(crate) vms: HashMap<String, Sid>,
}

impl Names {
    /// Whether the inventory names an entity of this scope and UUID.
    pub(crate) fn knows(&self, scope: Scope, uuid: &str) -> bool {
        match scope {
            Scope::Host | Scope::Pnic => self.hosts.contains_key(uuid),
            Scope::Disk => self.disks.contains_key(uuid),
            Scope::Vm => self.vms.contains_key(uuid),
            // No inventory property lists ESA storage-pool disks: nothing to refresh for.
            Scope::PoolDisk => true,
            _ => true,
        }
    }

    /// The key of an entity: host, disk and VM UUIDs resolved to names (an unknown UUID
    /// stands for its own name; a disk of no known host has empty host labels).
    pub(crate) fn key(
        &self,
        strings: &mut Strings,
        scope: Scope,
        uuid: &str,
        sub: Option<&str>,
    ) -> EntityKey {
        let host = |strings: &mut Strings| match self.hosts.get(uuid) {
            Some(&(name, node)) => (name, node),
            None => {
                let own = strings.intern(uuid);
                (own, own)
            }
        };
        let c = self.cluster_uuid;
        match scope {
            Scope::Cluster => [c, NONE, NONE, NONE],
            Scope::Host => {
                let (n, u) = host(strings);
                [c, n, u, NONE]
            }
            Scope::Pnic => {
                let (n, u) = host(strings);
                [c, n, u, strings.intern(sub.unwrap_or(""))]
            }
            Scope::Disk => {
                let (n, u) = match self.disks.get(uuid) {
                    Some(&ids) => ids,
                    None => {
                        let empty = strings.intern("");
                        (empty, empty)
                    }
                };
                [c, n, u, strings.intern(uuid)]
            }
            Scope::PoolDisk => [c, strings.intern(uuid), NONE, NONE],
            Scope::Vm => {
                let vm = match self.vms.get(uuid) {
                    Some(&v) => v,
                    None => strings.intern(uuid),
                };
                [c, vm, NONE, NONE]
            }
            _ => [c, NONE, NONE, NONE],
        }
    }

    /// The key of an entity of a type the catalogue does not know: `entity_id` is what
    /// follows `<type>:` in its id, and `uuid` names a host when it is the node UUID of a
    /// host of the inventory (else no host labels).
    pub(crate) fn raw_key(&self, strings: &mut Strings, entity_id: &str, uuid: &str) -> EntityKey {
        let (name, node) = self.hosts.get(uuid).copied().unwrap_or((NONE, NONE));
        [self.cluster_uuid, strings.intern(entity_id), name, node]
    }
}

/// One successful answer (one entity type) of a cluster's collection, not yet published:
/// gauges as their latest sample, counters as the sum of their new intervals.
#[derive(Debug)]
pub(crate) struct Staged {
    /// The entity type.
    pub(crate) et: TableType,
    pub(crate) table: Table,
    /// Newest sample time seen in the answer.
    pub(crate) newest: Option<i64>,
    /// Series exported from unknown labels.
    pub(crate) unknown: usize,
    /// Entities skipped for a bad id, timestamp or value.
    pub(crate) bad: u64,
    /// Entities the inventory did not name.
    pub(crate) unresolved: usize,
    /// Series of an entity type the catalogue does not know left out: the answer reached
    /// the cap [`add_raw`](Self::add_raw) was given.
    pub(crate) dropped: u64,
    /// Series staged by [`add_raw`](Self::add_raw).
    raw_series: usize,
    /// For remote write ([`recording`](Self::recording)): every interval of each staged
    /// series, by entity key and column of [`table`](Self::table), oldest first: a gauge's
    /// values, a counter's deltas.
    pub(crate) intervals: Option<Intervals>,
}

/// Per staged series (entity key, column of the staged table): `(sample time, value)`.
pub(crate) type Intervals = HashMap<(EntityKey, usize), Vec<(i64, f64)>>;

impl Staged {
    /// An empty answer for entity type `et`.
    pub(crate) fn new(et: TableType) -> Staged {
        Staged {
            et,
            table: Table::default(),
            newest: None,
            unknown: 0,
            bad: 0,
            unresolved: 0,
            dropped: 0,
            raw_series: 0,
            intervals: None,
        }
    }

    /// An empty answer for entity type `et` that also keeps every interval of its series
    /// ([`intervals`](Self::intervals)), for remote write.
    pub(crate) fn recording(et: TableType) -> Staged {
        Staged {
            intervals: Some(Intervals::new()),
            ..Staged::new(et)
        }
    }

    /// Records the per-interval values of gauges (`(metric, [(time, value)])`, as taken
    /// from the answer after the high-water mark) of entity `key`, for the series staged
    /// (a series left out for a cap is not recorded). Nothing when not recording.
    pub(crate) fn add_gauge_intervals(
        &mut self,
        key: EntityKey,
        gauges: &[(MetricRef, Vec<(i64, f64)>)],
    ) {
        let Some(intervals) = self.intervals.as_mut() else {
            return;
        };
        let Some(&row) = self.table.index.get(&key) else {
            return;
        };
        for (metric, points) in gauges {
            let Some(col) = self.table.columns.iter().position(|c| c.metric.is(metric)) else {
                continue;
            };
            if points.is_empty() || !self.table.columns[col].cells[row as usize].is_set() {
                continue;
            }
            intervals
                .entry((key, col))
                .or_default()
                .extend_from_slice(points);
        }
    }

    /// Whether [`add_raw`](Self::add_raw) has staged `cap` series: no new one fits.
    pub(crate) fn raw_full(&self, cap: usize) -> bool {
        self.raw_series >= cap
    }

    /// Adds one entity of a type the catalogue does not know (every label a raw gauge)
    /// under `key`; once `cap` series are staged, new series are counted in
    /// [`dropped`](Self::dropped) instead of staged.
    pub(crate) fn add_raw(&mut self, key: EntityKey, m: &MappedEntity, cap: usize) {
        for g in &m.gauges {
            self.newest = self.newest.max(Some(g.timestamp));
            let row = self.table.index.get(&key).map(|r| *r as usize);
            let col = self
                .table
                .columns
                .iter()
                .position(|c| c.metric.is(&g.metric));
            let held =
                matches!((row, col), (Some(r), Some(c)) if self.table.columns[c].cells[r].is_set());
            if !held {
                if self.raw_series >= cap {
                    self.dropped += 1;
                    continue;
                }
                self.raw_series += 1;
            }
            let row = self.table.row(key);
            let col = self.table.column_for(&g.metric);
            self.table.columns[col].cells[row] = Cell::new(g.value, g.timestamp);
        }
    }

    /// Adds one mapped entity under `key`.
    pub(crate) fn add(&mut self, key: EntityKey, m: &MappedEntity) {
        self.unknown += m.unknown_labels;
        let row = self.table.row(key);
        for g in &m.gauges {
            let col = self.table.column_for(&g.metric);
            self.newest = self.newest.max(Some(g.timestamp));
            self.table.columns[col].cells[row] = Cell::new(g.value, g.timestamp);
        }
        for d in &m.deltas {
            let col = self.table.column_of(&ColumnMetric::Known(d.mapping));
            let cell = &mut self.table.columns[col].cells[row];
            if let Some(t) = d.samples.last() {
                self.newest = self.newest.max(Some(t.0));
            }
            // Each interval once, by the catalogue's rule: samples come oldest first.
            let mut total = cell.delta_total();
            total.add_all(&d.samples);
            *cell = Cell::from_delta_total(total);
            if let Some(intervals) = self.intervals.as_mut() {
                intervals
                    .entry((key, col))
                    .or_default()
                    .extend_from_slice(&d.samples);
            }
        }
    }
}

/// The published series of one cluster: one table per entity type of [`ENTITY_TYPES`], and
/// one per entity type the catalogue does not know that answered.
#[derive(Debug)]
pub(crate) struct Tables {
    pub(crate) tables: Vec<Table>,
    /// Tables of the types the catalogue does not know, by type id.
    pub(crate) raw: BTreeMap<Arc<str>, Table>,
}

impl Default for Tables {
    fn default() -> Self {
        Tables {
            tables: ENTITY_TYPES.iter().map(|_| Table::default()).collect(),
            raw: BTreeMap::new(),
        }
    }
}

/// Merges `staged` into `live`: gauges replace the previous sample, counters add their new
/// intervals. A series `live` does not hold yet is added only if `admit` says so; returns how
/// many were not.
fn merge_table(live: &mut Table, staged: &Table, mut admit: impl FnMut() -> bool) -> u64 {
    let mut refused = 0;
    let cols: Vec<usize> = staged
        .columns
        .iter()
        .map(|c| live.column_of(&c.metric))
        .collect();
    for (r, key) in staged.keys.iter().enumerate() {
        let mut row = live.index.get(key).map(|r| *r as usize);
        for (c, &lc) in staged.columns.iter().zip(&cols) {
            let cell = c.cells[r];
            if !cell.is_set() {
                continue;
            }
            let held = row.is_some_and(|row| live.columns[lc].cells[row].is_set());
            if !held && !admit() {
                refused += 1;
                continue;
            }
            let row = *row.get_or_insert_with(|| live.row(*key));
            let dst = &mut live.columns[lc].cells[row];
            if c.metric.is_counter() {
                let staged = cell.delta_total();
                let mut total = dst.delta_total();
                if let Some(newest) = staged.newest() {
                    total.add(newest, staged.total());
                }
                *dst = Cell::from_delta_total(total);
            } else {
                *dst = cell;
            }
        }
    }
    refused
}

impl Tables {
    /// Merges a staged answer: gauges replace the previous sample, counters add their new
    /// intervals to the running total. A staged counter is the sum of the answer's intervals
    /// newer than the entity type's high-water mark when the answer was staged (which no
    /// other collection of the cluster moves in between: collections of a cluster are
    /// serialised), so it is added by the same rule as one interval ending at the newest of
    /// them: once, and only if newer than what the total holds.
    ///
    /// A staged answer of a type the catalogue does not know adds new series only while the
    /// cluster holds fewer than `raw_cap` series of such types (a series it holds is always
    /// updated); returns how many new series were left out.
    pub(crate) fn merge(&mut self, staged: Staged, raw_cap: usize) -> u64 {
        match &staged.et {
            TableType::Catalogue(i) => match self.tables.get_mut(*i) {
                Some(live) => merge_table(live, &staged.table, || true),
                None => 0,
            },
            TableType::Raw(id) => {
                let mut held = self.raw_series();
                let live = self.raw.entry(id.clone()).or_default();
                merge_table(live, &staged.table, || {
                    held += 1;
                    held <= raw_cap
                })
            }
        }
    }

    /// The table of entity type `et`, if it has one.
    pub(crate) fn table(&self, et: &TableType) -> Option<&Table> {
        match et {
            TableType::Catalogue(i) => self.tables.get(*i),
            TableType::Raw(id) => self.raw.get(id),
        }
    }

    /// Every table, catalogue types first.
    pub(crate) fn all(&self) -> impl Iterator<Item = &Table> {
        self.tables.iter().chain(self.raw.values())
    }

    /// Every table, mutably.
    pub(crate) fn all_mut(&mut self) -> impl Iterator<Item = &mut Table> {
        self.tables.iter_mut().chain(self.raw.values_mut())
    }

    /// Drops every gauge of the cluster sampled at or before `cutoff`, and the tables of
    /// types the catalogue does not know left empty.
    pub(crate) fn drop_stale(&mut self, cutoff: i64) {
        for t in self.all_mut() {
            t.drop_stale(cutoff);
        }
        self.raw.retain(|_, t| !t.keys.is_empty());
    }

    /// Series held.
    pub(crate) fn series(&self) -> usize {
        self.all().map(Table::series).sum()
    }

    /// Series held of the entity types the catalogue does not know.
    pub(crate) fn raw_series(&self) -> usize {
        self.raw.values().map(Table::series).sum()
    }

    /// Bytes the tables hold.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.all().map(Table::heap_bytes).sum()
    }
}

#[cfg(test)]
mod tests {
    use vsanobs_core::vsan::map_entity;
    use vsanobs_core::vsan::soap::{EntityMetricCsv, MetricSeriesCsv};

    use super::*;

    const HOST: usize = 2; // host-domclient
    const T: i64 = 1_704_103_200;

    fn entity(uuid: &str, t0: i64, reads: &str, latency: &str) -> MappedEntity {
        entity_after(uuid, t0, reads, latency, None)
    }

    /// [`entity`] with counter samples at or before `after` left out, as the engine maps
    /// an answer.
    fn entity_after(
        uuid: &str,
        t0: i64,
        reads: &str,
        latency: &str,
        after: Option<i64>,
    ) -> MappedEntity {
        let ts = |t: i64| vsanobs_core::vsan::csv::format_timestamp(t);
        let csv = EntityMetricCsv {
            entity_ref_id: format!("host-domclient:{uuid}"),
            sample_info: format!("{},{}", ts(t0), ts(t0 + 300)),
            series: vec![
                MetricSeriesCsv {
                    label: "readCount".into(),
                    interval: Some(300),
                    values: reads.into(),
                },
                MetricSeriesCsv {
                    label: "latencyAvgRead".into(),
                    interval: Some(300),
                    values: latency.into(),
                },
                MetricSeriesCsv {
                    label: "someNewLabel".into(),
                    interval: Some(300),
                    values: "7,8".into(),
                },
            ],
        };
        map_entity(&csv, after).expect("valid entity")
    }

    fn names(strings: &mut Strings) -> Names {
        let mut n = Names {
            cluster_uuid: strings.intern("52c0"),
            ..Names::default()
        };
        n.hosts
            .insert("h1".into(), (strings.intern("esx-1"), strings.intern("h1")));
        n
    }

    fn value(t: &Table, name: &str, key: &EntityKey) -> Option<f64> {
        let r = t.keys.iter().position(|k| k == key)?;
        let col = t.columns.iter().find(|c| c.metric.name() == name)?;
        Some(col.cells[r].value()).filter(|v| !v.is_nan())
    }

    #[test]
    fn counters_add_each_interval_once_and_gauges_keep_the_latest() {
        let mut strings = Strings::default();
        let n = names(&mut strings);
        let key = n.key(&mut strings, Scope::Host, "h1", None);
        let mut tables = Tables::default();

        let mut s = Staged::new(TableType::Catalogue(HOST));
        s.add(key, &entity("h1", T, "100,200", "1000,-1"));
        assert_eq!(s.newest, Some(T + 300));
        assert_eq!(s.unknown, 1);
        tables.merge(s, usize::MAX);
        let t = &tables.tables[HOST];
        assert_eq!(
            value(t, "vsan_host_domclient_io_operations_total", &key),
            Some(300.0)
        );
        // -1 is "no data": the latest complete latency sample is the first one.
        assert_eq!(
            value(t, "vsan_host_domclient_io_latency_seconds", &key),
            Some(0.001)
        );
        assert_eq!(
            value(t, "vsan_host_domclient_some_new_label", &key),
            Some(8.0)
        );
        assert_eq!(tables.series(), 3);

        // The next answer holds only newer intervals (the query window starts after the
        // high-water mark); a repeated timestamp inside one answer counts once.
        let mut s = Staged::new(TableType::Catalogue(HOST));
        s.add(key, &entity("h1", T + 600, "50,", "2000,3000"));
        s.add(key, &entity("h1", T + 600, "50,", "2000,3000"));
        tables.merge(s, usize::MAX);
        let t = &tables.tables[HOST];
        assert_eq!(
            value(t, "vsan_host_domclient_io_operations_total", &key),
            Some(350.0)
        );
        assert_eq!(
            value(t, "vsan_host_domclient_io_latency_seconds", &key),
            Some(0.003)
        );
        assert_eq!(tables.series(), 3);
        assert_eq!(strings.get(key[1]), "esx-1");
    }

    #[test]
    fn stale_gauges_go_counters_stay_and_unused_names_are_dropped() {
        let mut strings = Strings::default();
        let n = names(&mut strings);
        let kept = n.key(&mut strings, Scope::Host, "h1", None);
        // A host the inventory does not know is named by its UUID (and makes the exporter
        // fetch the inventory again).
        assert!(n.knows(Scope::Host, "h1") && !n.knows(Scope::Host, "h2"));
        assert!(n.knows(Scope::Cluster, "any"));
        let gone = n.key(&mut strings, Scope::Host, "h2", None);
        assert_eq!(strings.get(gone[1]), "h2");
        let mut tables = Tables::default();
        let mut s = Staged::new(TableType::Catalogue(HOST));
        s.add(kept, &entity("h1", T, "100,200", "1000,2000"));
        let mut gauges_only = entity("h2", T, "", "1000,2000");
        gauges_only.deltas.clear();
        s.add(gone, &gauges_only);
        tables.merge(s, usize::MAX);
        assert_eq!(tables.tables[HOST].keys.len(), 2);

        // Everything sampled at or before T + 300 is stale: h2 had only gauges and goes.
        tables.drop_stale(T + 300);
        let t = &tables.tables[HOST];
        assert_eq!(t.keys, [kept]);
        assert_eq!(
            value(t, "vsan_host_domclient_io_operations_total", &kept),
            Some(300.0)
        );
        assert_eq!(
            value(t, "vsan_host_domclient_io_latency_seconds", &kept),
            None
        );
        assert_eq!(tables.series(), 1);

        let before = strings.len();
        strings.compact(&mut tables);
        assert!(strings.len() < before, "{} -> {}", before, strings.len());
        let key = tables.tables[HOST].keys[0];
        assert_eq!(
            [
                strings.get(key[0]),
                strings.get(key[1]),
                strings.get(key[2])
            ],
            ["52c0", "esx-1", "h1"]
        );
        // Lookups still find the renumbered entity.
        let mut s = Staged::new(TableType::Catalogue(HOST));
        s.add(key, &entity("h1", T + 600, "1,", ""));
        tables.merge(s, usize::MAX);
        assert_eq!(tables.tables[HOST].keys.len(), 1);
        assert_eq!(
            value(
                &tables.tables[HOST],
                "vsan_host_domclient_io_operations_total",
                &key
            ),
            Some(301.0)
        );
    }

    /// The store's counters are the catalogue accumulator's totals, answer after answer, fed
    /// as the engine feeds them: each answer covers the buckets after the entity type's
    /// high-water mark (the query window), and a repeated answer is a replay. The
    /// accumulator sees every sample unfiltered and must drop the replays itself.
    #[test]
    fn counters_equal_the_catalogue_accumulator() {
        use vsanobs_core::vsan::DeltaAccumulator;
        let mut strings = Strings::default();
        let n = names(&mut strings);
        let key = n.key(&mut strings, Scope::Host, "h1", None);
        let mut tables = Tables::default();
        let mut acc = DeltaAccumulator::new();
        let mut high_water: Option<i64> = None;
        // (first bucket of the answer, its two readCount cells): "no data" (-1, empty)
        // included, and the last answer sent twice.
        let answers = [
            (T, "100,200"),
            (T + 600, "-1,50"),
            (T + 1200, ","),
            (T + 1800, "5,6"),
            (T + 1800, "5,6"),
        ];
        for (t0, reads) in answers {
            let unfiltered = entity("h1", t0, reads, "1,1");
            let want = acc.add("h1/read", &unfiltered.deltas[0].samples);
            let csv_after = entity_after("h1", t0, reads, "1,1", high_water);
            let mut s = Staged::new(TableType::Catalogue(HOST));
            s.add(key, &csv_after);
            high_water = high_water.max(s.newest);
            tables.merge(s, usize::MAX);
            assert_eq!(
                value(
                    &tables.tables[HOST],
                    "vsan_host_domclient_io_operations_total",
                    &key
                ),
                Some(want),
                "after the answer starting at {t0}"
            );
        }
        assert_eq!(acc.get(&"h1/read"), Some(361.0));
    }

    /// An entity of a type the catalogue does not know, with `labels` labels.
    fn raw_entity(uuid: &str, labels: usize) -> MappedEntity {
        let ts = |t: i64| vsanobs_core::vsan::csv::format_timestamp(t);
        let csv = EntityMetricCsv {
            entity_ref_id: format!("host-domowner:{uuid}"),
            sample_info: format!("{},{}", ts(T), ts(T + 300)),
            series: (0..labels)
                .map(|i| MetricSeriesCsv {
                    label: format!("iopsLabel{i}"),
                    interval: Some(300),
                    values: format!("{i},{}", 10 + i),
                })
                .collect(),
        };
        map_entity(&csv, None).expect("valid entity")
    }

    #[test]
    fn raw_types_are_capped_per_answer_and_per_cluster() {
        let mut strings = Strings::default();
        let n = names(&mut strings);
        let raw = |id: &str| TableType::Raw(Arc::from(id));
        // A host the inventory knows gets host labels; another id gets none.
        let known = n.raw_key(&mut strings, "h1", "h1");
        let other = n.raw_key(&mut strings, "h9|x", "h9");
        assert_eq!(
            [
                strings.get(known[1]),
                strings.get(known[2]),
                strings.get(known[3])
            ],
            ["h1", "esx-1", "h1"]
        );
        assert_eq!(strings.get(other[1]), "h9|x");
        assert_eq!([other[2], other[3]], [NONE, NONE]);

        // One answer: 2 entities x 3 labels, a cap of 4 staged series.
        let mut s = Staged::new(raw("host-domowner"));
        s.add_raw(known, &raw_entity("h1", 3), 4);
        s.add_raw(other, &raw_entity("h9", 3), 4);
        assert_eq!((s.table.series(), s.dropped), (4, 2));
        assert_eq!(s.newest, Some(T + 300));
        let mut tables = Tables::default();
        assert_eq!(tables.merge(s, 5), 0);
        let t = &tables.raw["host-domowner"];
        assert_eq!(
            value(t, "vsan_host_domowner_iops_label2", &known),
            Some(12.0)
        );
        assert_eq!(tables.raw_series(), 4);

        // A second type: one more series fits under the cluster's cap of 5.
        let mut s = Staged::new(raw("zdom-io"));
        s.add_raw(known, &raw_entity("h1", 3), 5);
        assert_eq!(tables.merge(s, 5), 2);
        assert_eq!(tables.raw_series(), 5);
        // Series already held are always updated, even at the cap.
        let mut s = Staged::new(raw("host-domowner"));
        s.add_raw(known, &raw_entity("h1", 1), 5);
        assert_eq!(tables.merge(s, 5), 0);
        assert_eq!(tables.raw_series(), 5);
        assert_eq!(tables.series(), 5);

        // Stale raw tables go, with the names they used.
        tables.drop_stale(T + 300);
        assert!(tables.raw.is_empty());
        strings.compact(&mut tables);
        assert_eq!(strings.len(), 0);
    }

    #[test]
    fn cell_times_round_trip() {
        for t in [i64::MIN, EPOCH + 1, T, T + 300, EPOCH + i64::from(u32::MAX)] {
            let c = Cell::new(1.5, t);
            assert_eq!((c.value(), c.stamp()), (1.5, t));
        }
        // Out of range: clamped, never "no time".
        assert_eq!(Cell::new(0.0, 0).stamp(), EPOCH + 1);
        assert_eq!(
            Cell::new(0.0, i64::MAX).stamp(),
            EPOCH + i64::from(u32::MAX)
        );
        assert!(!Cell::EMPTY.is_set() && Cell::new(0.0, i64::MIN).is_set());
    }

    #[test]
    fn a_series_costs_tens_of_bytes() {
        let mut strings = Strings::default();
        let mut n = names(&mut strings);
        let mut tables = Tables::default();
        let mut s = Staged::new(TableType::Catalogue(HOST));
        for h in 0..500 {
            let uuid = format!("u{h}");
            n.hosts.insert(
                uuid.clone(),
                (strings.intern(&format!("esx-{h}")), strings.intern(&uuid)),
            );
            let key = n.key(&mut strings, Scope::Host, &uuid, None);
            s.add(key, &entity(&uuid, T, "1,2", "3,4"));
        }
        tables.merge(s, usize::MAX);
        let per_series = tables.heap_bytes() / tables.series();
        assert!(per_series < 40, "{per_series} bytes per series");
        assert_eq!(size_of::<Cell>(), 12);
    }
}
