//! Parsers for the pieces of a `VsanPerfEntityMetricCSV`: the `entityRefId`, the
//! `sampleInfo` timestamps and the per-metric `values` CSV.
//!
//! # Example
//!
//! ```
//! use vsanobs_core::vsan::csv::{parse_entity_ref, parse_sample_info, parse_values, latest_valid};
//!
//! let e = parse_entity_ref("vsan-pnic-net:52a1c3f0-0000-4000-8000-000000000001|vmnic1")?;
//! assert_eq!((e.entity_type, e.uuid, e.sub), ("vsan-pnic-net", "52a1c3f0-0000-4000-8000-000000000001", Some("vmnic1")));
//!
//! let ts = parse_sample_info("2024-01-01 10:00:00,2024-01-01 10:05:00")?;
//! assert_eq!(ts, [1704103200, 1704103500]);
//!
//! // The last bucket is empty, so the latest complete sample is the first one.
//! let v = parse_values("463,")?;
//! assert_eq!(latest_valid(&ts, &v), Some((1704103200, 463.0)));
//! # Ok::<(), vsanobs_core::vsan::VsanError>(())
//! ```
//!
//! ## Note
//! Timestamps are parsed as UTC (what telegraf does, and what vCenter sends), without any
//! time zone database. Values are kept as `Option<f64>`: `None` for empty cells and for the
//! negative values vSAN uses to say "no data".

use super::VsanError;

/// A parsed `entityRefId`: `<entity-type>:<uuid>[|<sub>...]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EntityRef<'a> {
    /// The entity type (`host-domclient`).
    pub entity_type: &'a str,
    /// The UUID (or `*` for a wildcard); for `|`-composite ids, the part before the first `|`.
    pub uuid: &'a str,
    /// What follows the first `|` (`vmnic1`, `vmkernel|vmk1`), if any.
    pub sub: Option<&'a str>,
}

/// Splits an `entityRefId` on the first `:` and the first `|` after it.
///
/// # Errors
/// [`VsanError::EntityRefId`] when there is no `:`, or the type or UUID is empty.
pub fn parse_entity_ref(id: &str) -> Result<EntityRef<'_>, VsanError> {
    let bad = || VsanError::EntityRefId { id: id.to_owned() };
    let (ty, rest) = id.split_once(':').ok_or_else(bad)?;
    if ty.is_empty()
        || rest.is_empty()
        || !ty
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(bad());
    }
    let (uuid, sub) = match rest.split_once('|') {
        Some((u, s)) => (u, Some(s)),
        None => (rest, None),
    };
    if uuid.is_empty() {
        return Err(bad());
    }
    Ok(EntityRef {
        entity_type: ty,
        uuid,
        sub,
    })
}

/// Parses one `YYYY-MM-DD HH:MM:SS` timestamp (UTC) into Unix seconds.
///
/// # Errors
/// [`VsanError::Timestamp`] when the text is not in that exact form or the date is invalid.
pub fn parse_timestamp(s: &str) -> Result<i64, VsanError> {
    let bad = || VsanError::Timestamp {
        value: s.to_owned(),
    };
    let b = s.trim().as_bytes();
    if b.len() != 19
        || b[4] != b'-'
        || b[7] != b'-'
        || !(b[10] == b' ' || b[10] == b'T')
        || b[13] != b':'
        || b[16] != b':'
    {
        return Err(bad());
    }
    let num = |r: std::ops::Range<usize>| -> Result<i64, VsanError> {
        let mut v = 0i64;
        for &c in &b[r] {
            if !c.is_ascii_digit() {
                return Err(bad());
            }
            v = v * 10 + i64::from(c - b'0');
        }
        Ok(v)
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || se > 60
    {
        return Err(bad());
    }
    Ok(days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + se)
}

/// Formats Unix seconds as `YYYY-MM-DD HH:MM:SS` (UTC), the `sampleInfo` form.
pub fn format_timestamp(unix: i64) -> String {
    let (y, mo, d, h, mi, s) = civil(unix);
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}")
}

/// Formats Unix seconds as an `xsd:dateTime` in UTC (`2024-01-01T10:00:00Z`), the form SOAP
/// requests carry.
pub fn format_xsd_datetime(unix: i64) -> String {
    let (y, mo, d, h, mi, s) = civil(unix);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
}

/// Parses an `xsd:dateTime` (`2024-01-01T10:00:00Z`, optional fraction, `Z` or `±HH:MM`) into
/// Unix seconds (fractions truncated).
///
/// # Errors
/// [`VsanError::Timestamp`] when it is not an `xsd:dateTime`.
pub fn parse_xsd_datetime(s: &str) -> Result<i64, VsanError> {
    let s = s.trim();
    let bad = || VsanError::Timestamp {
        value: s.to_owned(),
    };
    if s.len() < 19 || !s.is_char_boundary(19) {
        return Err(bad());
    }
    let base = parse_timestamp(&s[..19])?;
    let mut rest = &s[19..];
    if let Some(r) = rest.strip_prefix('.') {
        let n = r.bytes().take_while(u8::is_ascii_digit).count();
        rest = &r[n..];
    }
    let offset = match rest {
        "" | "Z" => 0,
        _ => {
            let sign = match rest.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return Err(bad()),
            };
            let hm = &rest[1..];
            let (h, m) = hm.split_once(':').ok_or_else(bad)?;
            let h: i64 = h.parse().map_err(|_| bad())?;
            let m: i64 = m.parse().map_err(|_| bad())?;
            sign * (h * 3600 + m * 60)
        }
    };
    Ok(base - offset)
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

// Howard Hinnant's days_from_civil.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil(unix: i64) -> (i64, i64, i64, i64, i64, i64) {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d, secs / 3600, secs % 3600 / 60, secs % 60)
}

/// Parses a `sampleInfo` CSV into Unix seconds (UTC). An empty string gives no timestamps.
///
/// # Errors
/// [`VsanError::Timestamp`] for the first timestamp that does not parse.
pub fn parse_sample_info(csv: &str) -> Result<Vec<i64>, VsanError> {
    if csv.trim().is_empty() {
        return Ok(Vec::new());
    }
    csv.split(',').map(parse_timestamp).collect()
}

/// Parses a `values` CSV. Empty cells and negative numbers (vSAN's "no data") become `None`.
/// An empty string gives no values.
///
/// # Errors
/// [`VsanError::Value`] for a cell that is not a number, [`VsanError::NonFinite`] for NaN
/// or an infinity.
pub fn parse_values(csv: &str) -> Result<Vec<Option<f64>>, VsanError> {
    if csv.trim().is_empty() {
        return Ok(Vec::new());
    }
    csv.split(',')
        .enumerate()
        .map(|(index, cell)| {
            let cell = cell.trim();
            if cell.is_empty() {
                return Ok(None);
            }
            let v: f64 = cell.parse().map_err(|source| VsanError::Value {
                index,
                value: cell.to_owned(),
                source,
            })?;
            if !v.is_finite() {
                return Err(VsanError::NonFinite {
                    index,
                    value: cell.to_owned(),
                });
            }
            Ok(if v < 0.0 { None } else { Some(v) })
        })
        .collect()
}

/// The latest complete sample: the highest index that has both a timestamp and a value.
///
/// Values align with timestamps by index. When the counts differ, the indexes present in
/// both are used: a value with no timestamp, or a timestamp with no value, is never
/// completed by guessing.
pub fn latest_valid(timestamps: &[i64], values: &[Option<f64>]) -> Option<(i64, f64)> {
    let n = timestamps.len().min(values.len());
    (0..n)
        .rev()
        .find_map(|i| values[i].map(|v| (timestamps[i], v)))
}

/// Every complete sample strictly after `after` (all of them when `None`), oldest first.
pub fn valid_after<'a>(
    timestamps: &'a [i64],
    values: &'a [Option<f64>],
    after: Option<i64>,
) -> impl Iterator<Item = (i64, f64)> + 'a {
    timestamps
        .iter()
        .zip(values)
        .filter_map(move |(&t, v)| v.filter(|_| after.is_none_or(|a| t > a)).map(|v| (t, v)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip() {
        for t in [
            0i64,
            951_782_400,
            1_704_103_200,
            4_102_444_799,
            1_709_164_800,
        ] {
            assert_eq!(parse_timestamp(&format_timestamp(t)).unwrap(), t);
            assert_eq!(parse_xsd_datetime(&format_xsd_datetime(t)).unwrap(), t);
        }
        assert_eq!(
            parse_timestamp("2024-02-29 00:00:00").unwrap(),
            1_709_164_800
        );
        assert!(parse_timestamp("2023-02-29 00:00:00").is_err());
        assert!(parse_timestamp("2024-13-01 00:00:00").is_err());
        assert!(parse_timestamp("2024-01-01 10:00").is_err());
        assert!(parse_timestamp("2024-01-01 1a:00:00").is_err());
        assert_eq!(
            parse_xsd_datetime("2024-01-01T12:00:00.123+02:00").unwrap(),
            1_704_103_200
        );
    }

    #[test]
    fn values() {
        assert_eq!(
            parse_values("1,,-1,2.5").unwrap(),
            [Some(1.0), None, None, Some(2.5)]
        );
        assert!(matches!(
            parse_values("1,abc"),
            Err(VsanError::Value { index: 1, .. })
        ));
        assert!(parse_values("NaN").is_err());
        assert_eq!(parse_values("").unwrap(), []);
    }

    #[test]
    fn latest_and_mismatch() {
        let ts = [10, 20, 30];
        assert_eq!(latest_valid(&ts, &[Some(1.0), Some(2.0)]), Some((20, 2.0)));
        assert_eq!(
            latest_valid(&ts[..1], &[Some(1.0), Some(2.0)]),
            Some((10, 1.0))
        );
        assert_eq!(latest_valid(&ts, &[None, None, None]), None);
        let v: Vec<_> = valid_after(&ts, &[Some(1.0), None, Some(3.0)], Some(10)).collect();
        assert_eq!(v, [(30, 3.0)]);
    }

    #[test]
    fn entity_refs() {
        assert!(parse_entity_ref("nocolon").is_err());
        assert!(parse_entity_ref(":uuid").is_err());
        assert!(parse_entity_ref("host-domclient:").is_err());
        let e = parse_entity_ref("virtual-machine:5003a1b2-0000").unwrap();
        assert_eq!(e.sub, None);
    }
}
