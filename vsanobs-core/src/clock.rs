//! Wall-clock time since the Unix epoch, in the units the exposition formats and push
//! protocols use.
//!
//! # Example
//!
//! ```
//! use vsanobs_core::clock;
//!
//! let secs = clock::unix_seconds();
//! let millis = clock::unix_millis();
//! // Both read the same clock: some time after 2020-01-01, and within a second of each other.
//! assert!(secs > 1_577_836_800.0);
//! assert!((millis as f64 / 1000.0 - secs).abs() < 1.0);
//! ```
//!
//! ## Note
//! These read the system clock, which can step backwards; measure durations with
//! [`std::time::Instant`]. A clock set before 1970 reads as the epoch itself (zero), never
//! as an error or a panic.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Time elapsed since the Unix epoch ([`Duration::ZERO`] if the clock is set before it).
///
/// # Example
///
/// ```
/// let since = vsanobs_core::clock::since_epoch();
/// assert!(since.as_secs() > 1_577_836_800); // after 2020-01-01
/// ```
pub fn since_epoch() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
}

/// Seconds since the Unix epoch, with sub-second precision (exemplar and `_seconds` gauge
/// timestamps).
///
/// # Example
///
/// ```
/// let now = vsanobs_core::clock::unix_seconds();
/// assert!(now > 1_577_836_800.0 && now.fract() >= 0.0);
/// ```
pub fn unix_seconds() -> f64 {
    since_epoch().as_secs_f64()
}

/// Milliseconds since the Unix epoch (sample timestamps of remote write, OTLP and the
/// sample pool); saturates at [`i64::MAX`].
///
/// # Example
///
/// ```
/// let now = vsanobs_core::clock::unix_millis();
/// assert!(now > 1_577_836_800_000);
/// ```
pub fn unix_millis() -> i64 {
    i64::try_from(since_epoch().as_millis()).unwrap_or(i64::MAX)
}
