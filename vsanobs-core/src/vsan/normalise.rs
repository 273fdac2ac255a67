//! Normalises seed-style counter ids (`vsan:disk.read_latency_us`) to Prometheus names in
//! base units (`vsan_disk_read_latency_seconds`).
//!
//! # Example
//!
//! ```
//! use vsanobs_core::model::MetricKind;
//! use vsanobs_core::vsan::catalogue::Conversion;
//! use vsanobs_core::vsan::normalise::normalise_counter_id;
//!
//! let n = normalise_counter_id("vsan:disk.read_latency_us")?;
//! assert_eq!(n.name, "vsan_disk_read_latency_seconds");
//! assert_eq!(n.kind, MetricKind::Gauge); // a latency is a gauge: no `_total`
//! assert_eq!(n.conversion, Conversion::MicrosToSeconds);
//!
//! let c = normalise_counter_id("vsan:host.readCount")?;
//! assert_eq!((c.name.as_str(), c.kind), ("vsan_host_read_total", MetricKind::Counter));
//! # Ok::<(), vsanobs_core::vsan::VsanError>(())
//! ```

use super::VsanError;
use super::catalogue::Conversion;
use super::mapping::snake_case;
use crate::model::MetricKind;

/// The result of [`normalise_counter_id`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NormalisedId {
    /// The Prometheus name (counters end in `_total`, nothing else does).
    pub name: String,
    /// Gauge or counter.
    pub kind: MetricKind,
    /// Raw value to base unit.
    pub conversion: Conversion,
}

/// Unit suffixes (after snake_casing) and what they become.
const UNITS: &[(&str, &str, Conversion)] = &[
    ("_microseconds", "_seconds", Conversion::MicrosToSeconds),
    ("_usec", "_seconds", Conversion::MicrosToSeconds),
    ("_us", "_seconds", Conversion::MicrosToSeconds),
    ("_milliseconds", "_seconds", Conversion::MillisToSeconds),
    ("_msec", "_seconds", Conversion::MillisToSeconds),
    ("_ms", "_seconds", Conversion::MillisToSeconds),
    ("_seconds", "_seconds", Conversion::Identity),
    ("_sec", "_seconds", Conversion::Identity),
    ("_percentage", "_ratio", Conversion::PercentToRatio),
    ("_percent", "_ratio", Conversion::PercentToRatio),
    ("_pct", "_ratio", Conversion::PercentToRatio),
    ("_permille", "_ratio", Conversion::PermilleToRatio),
    ("_bytes_per_sec", "_bytes_per_second", Conversion::Identity),
    ("_bps", "_bytes_per_second", Conversion::Identity),
    ("_iops", "_io_operations_per_second", Conversion::Identity),
];

/// Normalises `vsan:<group>.<quantity>[_<unit>]`: the group and quantity are snake_cased and
/// joined with `_`, the unit suffix becomes the base unit (`_us`/`_ms` -> `_seconds`,
/// `_pct` -> `_ratio`, `_bps` -> `_bytes_per_second`), and a `_count`/`_total` suffix makes
/// a counter named `..._total`.
///
/// # Errors
/// [`VsanError::CounterId`] when the id lacks the `vsan:` prefix, the `.` between group and
/// quantity, or a part is empty.
pub fn normalise_counter_id(id: &str) -> Result<NormalisedId, VsanError> {
    let bad = |reason| VsanError::CounterId {
        id: id.to_owned(),
        reason,
    };
    let rest = id
        .strip_prefix("vsan:")
        .ok_or_else(|| bad("missing the vsan: prefix"))?;
    let (group, quantity) = rest
        .split_once('.')
        .ok_or_else(|| bad("missing the '.' between group and quantity"))?;
    let group = snake_case(group);
    let mut quantity = snake_case(quantity);
    if group.trim_matches('_').is_empty() || quantity.trim_matches('_').is_empty() {
        return Err(bad("empty group or quantity"));
    }
    quantity.insert(0, '_');
    let mut kind = MetricKind::Gauge;
    let mut conversion = Conversion::Identity;
    if let Some(base) = quantity
        .strip_suffix("_count")
        .or_else(|| quantity.strip_suffix("_total"))
    {
        if base.is_empty() {
            return Err(bad("empty group or quantity"));
        }
        quantity = format!("{base}_total");
        kind = MetricKind::Counter;
    } else if let Some((suffix, unit, conv)) = UNITS.iter().find(|(s, _, _)| quantity.ends_with(s))
    {
        quantity.truncate(quantity.len() - suffix.len());
        quantity.push_str(unit);
        conversion = *conv;
    }
    if quantity.trim_matches('_').is_empty() {
        return Err(bad("empty group or quantity"));
    }
    Ok(NormalisedId {
        name: format!("vsan_{}{}", group.trim_start_matches('_'), quantity),
        kind,
        conversion,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cases() {
        let n = |s| normalise_counter_id(s).map(|n| n.name);
        assert_eq!(
            n("vsan:disk.write_latency_ms").unwrap(),
            "vsan_disk_write_latency_seconds"
        );
        assert_eq!(
            n("vsan:cache.hitRate_pct").unwrap(),
            "vsan_cache_hit_rate_ratio"
        );
        assert_eq!(
            n("vsan:net.rx_bps").unwrap(),
            "vsan_net_rx_bytes_per_second"
        );
        assert_eq!(
            n("vsan:disk.capacity_bytes").unwrap(),
            "vsan_disk_capacity_bytes"
        );
        assert_eq!(n("vsan:host.congestion").unwrap(), "vsan_host_congestion");
        assert!(matches!(
            normalise_counter_id("disk.read"),
            Err(VsanError::CounterId { .. })
        ));
        assert!(normalise_counter_id("vsan:disk").is_err());
        assert!(normalise_counter_id("vsan:.x").is_err());
        assert!(normalise_counter_id("vsan:disk._count").is_err());
    }
}
