//! [`RetryPolicy`]: exponential backoff with jitter between export attempts.

use std::time::Duration;

use super::error::ExportError;

/// Backoff between attempts: exponential from `min_backoff` to `max_backoff`, each delay
/// jittered to a random value in `[delay/2, delay]`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RetryPolicy {
    /// The first delay.
    pub min_backoff: Duration,
    /// The largest delay.
    pub max_backoff: Duration,
    /// Give up on a batch after this many attempts (`None`: retry until it is pushed out of
    /// the buffer by newer batches, as remote write does).
    pub max_attempts: Option<u32>,
    /// The longest `Retry-After` honoured (longer ones are capped).
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    /// Prometheus' remote-write defaults: 30 ms to 5 s, retried until pushed out.
    fn default() -> Self {
        RetryPolicy {
            min_backoff: Duration::from_millis(30),
            max_backoff: Duration::from_secs(5),
            max_attempts: None,
            max_retry_after: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// The delay before attempt `attempt + 1` (`attempt` counts from 1), given the error.
    pub fn delay(&self, attempt: u32, err: &ExportError, rng: &mut u64) -> Duration {
        if let Some(after) = err.retry_after() {
            return after.min(self.max_retry_after);
        }
        let exp = attempt.saturating_sub(1).min(30);
        let base = self
            .min_backoff
            .saturating_mul(1u32 << exp)
            .min(self.max_backoff);
        // xorshift64*: jitter only, not cryptographic.
        *rng ^= *rng >> 12;
        *rng ^= *rng << 25;
        *rng ^= *rng >> 27;
        let r = rng.wrapping_mul(0x2545_F491_4F6C_DD1D);
        let frac = (r >> 11) as f64 / (1u64 << 53) as f64;
        base.mul_f64(0.5 + 0.5 * frac)
    }
}

/// A non-zero seed for the jitter of one exporter's retries.
pub(super) fn jitter_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(crate::clock::since_epoch().as_nanos());
    h.finish() | 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn export_backoff_grows_with_jitter_and_honours_retry_after() {
        let p = RetryPolicy {
            min_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
            ..RetryPolicy::default()
        };
        let e = ExportError::Unavailable {
            status: 503,
            retry_after: None,
            body: String::new(),
        };
        let mut rng = 42;
        for attempt in 1..10 {
            let base =
                Duration::from_millis(100 * (1 << (attempt - 1))).min(Duration::from_secs(1));
            let d = p.delay(attempt, &e, &mut rng);
            assert!(
                d >= base / 2 && d <= base,
                "attempt {attempt}: {d:?} vs {base:?}"
            );
        }
        let e = ExportError::Unavailable {
            status: 429,
            retry_after: Some(Duration::from_secs(7)),
            body: String::new(),
        };
        assert_eq!(p.delay(1, &e, &mut rng), Duration::from_secs(7));
        let e = ExportError::Unavailable {
            status: 429,
            retry_after: Some(Duration::from_secs(7000)),
            body: String::new(),
        };
        assert_eq!(p.delay(1, &e, &mut rng), p.max_retry_after);
    }
}
