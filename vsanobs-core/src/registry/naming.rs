//! Naming rules every family passes, registered or collected: valid names, type suffixes,
//! the series names a family claims, reserved self-metric names, and a registry's prefix and
//! constant labels ([`Namespace`]).

use std::collections::HashSet;

use super::error::RegistryError;
use super::self_metrics::{COLLECTOR_SUCCESS_METRIC, SERIES_OVERFLOW_METRIC};
use crate::labels::{is_valid_label_name, is_valid_metric_name};
use crate::model::MetricKind;

/// Names starting with this are the library's self-metrics and never get the registry prefix.
const LIBRARY_NAMESPACE: &str = "vsanobs_";

/// `name` without the suffix its type adds on output (`_total` for counters, `_info` for
/// info metrics).
pub(crate) fn base_name(name: &str, kind: MetricKind) -> &str {
    match kind {
        MetricKind::Counter => name.strip_suffix("_total").unwrap_or(name),
        MetricKind::Info => name.strip_suffix("_info").unwrap_or(name),
        _ => name,
    }
}

/// Every name a family of `kind` called `base` occupies: its family name and series names.
pub(crate) fn claimed_names(base: &str, kind: MetricKind) -> Vec<String> {
    let suffixes: &[&str] = match kind {
        MetricKind::Counter => &["", "_total", "_created"],
        MetricKind::Gauge | MetricKind::Unknown => &[""],
        MetricKind::Histogram => &["", "_bucket", "_sum", "_count", "_created"],
        MetricKind::Info => &["", "_info"],
    };
    suffixes.iter().map(|s| format!("{base}{s}")).collect()
}

/// Whether `base` belongs to the registry's own self-metrics.
fn is_reserved(base: &str) -> bool {
    base.starts_with(SERIES_OVERFLOW_METRIC) || base.starts_with(COLLECTOR_SUCCESS_METRIC)
}

/// A registry's name prefix and constant labels, checked once when the registry is built,
/// and the checks every family's name, help, unit and label names pass against them.
#[derive(Debug, Default)]
pub(crate) struct Namespace {
    prefix: Option<String>,
    consts: Vec<(String, String)>,
}

impl Namespace {
    /// Checks the prefix and constant labels.
    ///
    /// # Errors
    /// [`RegistryError::InvalidMetricName`] for a prefix that is not a valid name start,
    /// [`RegistryError::InvalidLabelName`] for an invalid or repeated constant label.
    pub(crate) fn new(
        prefix: Option<String>,
        consts: Vec<(String, String)>,
    ) -> Result<Self, RegistryError> {
        if let Some(p) = &prefix {
            if !is_valid_metric_name(p) {
                return Err(RegistryError::InvalidMetricName { name: p.clone() });
            }
        }
        let mut seen = HashSet::new();
        for (k, _) in &consts {
            if !is_valid_label_name(k) || !seen.insert(k.as_str()) {
                return Err(RegistryError::InvalidLabelName {
                    metric: String::new(),
                    label: k.clone(),
                });
            }
        }
        Ok(Namespace { prefix, consts })
    }

    /// The prefix, without the `_` that joins it to a name.
    pub(crate) fn prefix(&self) -> Option<&str> {
        self.prefix.as_deref()
    }

    /// The constant labels, in the order they were given.
    pub(crate) fn consts(&self) -> &[(String, String)] {
        &self.consts
    }

    /// The exported name of `base`: prefixed, except the library's own `vsanobs_*`
    /// self-metrics (pool, exporters, registry), whose names are fixed.
    pub(crate) fn full_name(&self, base: &str) -> String {
        match &self.prefix {
            Some(_) if base.starts_with(LIBRARY_NAMESPACE) => base.to_owned(),
            Some(p) => format!("{p}_{base}"),
            None => base.to_owned(),
        }
    }

    /// Checks a family and returns its full name (prefixed, type suffix removed).
    ///
    /// # Errors
    /// A [`RegistryError`] when the name, the unit or a label name is invalid, the name is
    /// reserved, or help is empty.
    pub(crate) fn check_family(
        &self,
        name: &str,
        help: &str,
        unit: Option<&str>,
        kind: MetricKind,
        label_names: &[&str],
    ) -> Result<String, RegistryError> {
        let base = base_name(name, kind);
        if base.is_empty() || !is_valid_metric_name(base) {
            return Err(RegistryError::InvalidMetricName {
                name: name.to_owned(),
            });
        }
        let full = self.full_name(base);
        if !is_valid_metric_name(&full) {
            return Err(RegistryError::InvalidMetricName { name: full });
        }
        if is_reserved(&full) {
            return Err(RegistryError::Reserved { name: full });
        }
        if help.trim().is_empty() {
            return Err(RegistryError::EmptyHelp { name: full });
        }
        if let Some(u) = unit {
            if u.is_empty() || !is_valid_label_name(u) || !full.ends_with(&format!("_{u}")) {
                return Err(RegistryError::UnitMismatch {
                    name: full,
                    unit: u.to_owned(),
                });
            }
        }
        let mut seen: HashSet<&str> = self.consts.iter().map(|(k, _)| k.as_str()).collect();
        for l in label_names {
            let reserved = kind == MetricKind::Histogram && *l == "le";
            if reserved || !is_valid_label_name(l) || !seen.insert(l) {
                return Err(RegistryError::InvalidLabelName {
                    metric: full,
                    label: (*l).to_owned(),
                });
            }
        }
        Ok(full)
    }
}
