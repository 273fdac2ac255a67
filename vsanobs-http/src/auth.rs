//! Basic-auth password checks with a bounded CPU cost: at most a fixed number of bcrypt
//! verifications run at once (the others wait, without spinning), and a successful
//! verification is remembered for [`CACHE_TTL`] under a keyed SHA-256 digest of the user,
//! password and hash, so a scraper with the right credentials costs one bcrypt run per
//! [`CACHE_TTL`], not one per scrape. Failed attempts are never cached (a flood of distinct
//! wrong passwords cannot grow memory); each costs one bcrypt run, serialised behind the
//! bound. The password itself is never stored.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// How long a successful verification is remembered.
pub(crate) const CACHE_TTL: Duration = Duration::from_secs(300);
/// Most remembered verifications; past it the oldest are dropped.
pub(crate) const CACHE_CAP: usize = 128;
/// Default bound on concurrent bcrypt verifications.
pub(crate) const DEFAULT_MAX_CHECKS: usize = 1;

pub(crate) struct PasswordChecker {
    max: usize,
    running: Mutex<usize>,
    freed: Condvar,
    /// Per-process random key of the cache digests; `None` (no cache) when the operating
    /// system gave no randomness.
    key: Option<[u8; 32]>,
    cache: Mutex<HashMap<[u8; 32], Instant>>,
    /// bcrypt verifications run so far.
    pub(crate) verifications: AtomicU64,
    /// Most bcrypt verifications seen running at once.
    pub(crate) peak: AtomicUsize,
}

impl PasswordChecker {
    pub(crate) fn new(max: usize) -> Self {
        let mut key = [0u8; 32];
        let key = getrandom::fill(&mut key).ok().map(|()| key);
        PasswordChecker {
            max: max.max(1),
            running: Mutex::new(0),
            freed: Condvar::new(),
            key,
            cache: Mutex::new(HashMap::new()),
            verifications: AtomicU64::new(0),
            peak: AtomicUsize::new(0),
        }
    }

    pub(crate) fn max(&self) -> usize {
        self.max
    }

    fn digest(&self, user: &str, pass: &str, hash: &str) -> Option<[u8; 32]> {
        let key = self.key.as_ref()?;
        let mut h = Sha256::new();
        h.update(key);
        for part in [user, pass, hash] {
            h.update((part.len() as u64).to_le_bytes());
            h.update(part.as_bytes());
        }
        Some(h.finalize().into())
    }

    /// Whether `pass` is the password of `user` among `users` (name, bcrypt hash). An
    /// unknown user runs bcrypt against the first user's hash, so it costs as long as a wrong
    /// password.
    pub(crate) fn check(&self, users: &[(String, String)], user: &str, pass: &str) -> bool {
        let Some(first) = users.first() else {
            return false;
        };
        let mut found = None;
        for (u, h) in users {
            let eq: bool = u.as_bytes().ct_eq(user.as_bytes()).into();
            if eq && found.is_none() {
                found = Some(h.as_str());
            }
        }
        let hash = found.unwrap_or(&first.1);
        let digest = if found.is_some() {
            self.digest(user, pass, hash)
        } else {
            None
        };
        if let Some(d) = &digest {
            let cache = self.cache.lock();
            if cache.get(d).is_some_and(|t| t.elapsed() < CACHE_TTL) {
                return true;
            }
        }
        let ok = self.verify_bounded(pass, hash) && found.is_some();
        if let (true, Some(d)) = (ok, digest) {
            self.remember(d);
        }
        ok
    }

    /// Remembers a successful verification, dropping expired entries and then the oldest
    /// when the cache is full.
    fn remember(&self, d: [u8; 32]) {
        let mut cache = self.cache.lock();
        if cache.len() >= CACHE_CAP {
            cache.retain(|_, t| t.elapsed() < CACHE_TTL);
        }
        if cache.len() >= CACHE_CAP {
            if let Some(oldest) = cache.iter().min_by_key(|(_, t)| **t).map(|(k, _)| *k) {
                cache.remove(&oldest);
            }
        }
        cache.insert(d, Instant::now());
    }

    /// One bcrypt verification, waiting for a free slot first.
    fn verify_bounded(&self, pass: &str, hash: &str) -> bool {
        {
            let mut running = self.running.lock();
            while *running >= self.max {
                self.freed.wait(&mut running);
            }
            *running += 1;
            self.peak.fetch_max(*running, Ordering::Relaxed);
        }
        struct Release<'a>(&'a PasswordChecker);
        impl Drop for Release<'_> {
            fn drop(&mut self) {
                *self.0.running.lock() -= 1;
                self.0.freed.notify_one();
            }
        }
        let _release = Release(self);
        self.verifications.fetch_add(1, Ordering::Relaxed);
        bcrypt::verify(pass, hash).unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn users() -> Vec<(String, String)> {
        vec![
            ("prom".to_owned(), bcrypt::hash("right", 4).unwrap()),
            ("other".to_owned(), bcrypt::hash("second", 4).unwrap()),
        ]
    }

    #[test]
    fn success_is_cached_and_failure_is_not() {
        let c = PasswordChecker::new(1);
        let users = users();
        assert!(c.check(&users, "prom", "right"));
        assert!(c.check(&users, "prom", "right"));
        assert_eq!(c.verifications.load(Ordering::Relaxed), 1);
        assert!(c.check(&users, "other", "second"));
        assert_eq!(c.verifications.load(Ordering::Relaxed), 2);
        assert!(!c.check(&users, "prom", "wrong"));
        assert!(!c.check(&users, "prom", "wrong"));
        assert_eq!(c.verifications.load(Ordering::Relaxed), 4);
        // A password of one user is not another's; an unknown user still costs a bcrypt run.
        assert!(!c.check(&users, "other", "right"));
        assert!(!c.check(&users, "nobody", "right"));
        assert_eq!(c.verifications.load(Ordering::Relaxed), 6);
        assert!(!c.check(&[], "prom", "right"));
    }

    #[test]
    fn concurrent_verifications_are_bounded() {
        for max in [1, 2] {
            let c = Arc::new(PasswordChecker::new(max));
            let users = Arc::new(users());
            let threads: Vec<_> = (0..8)
                .map(|i| {
                    let (c, users) = (c.clone(), users.clone());
                    std::thread::spawn(move || c.check(&users, "prom", &format!("wrong{i}")))
                })
                .collect();
            for t in threads {
                assert!(!t.join().unwrap());
            }
            assert_eq!(c.verifications.load(Ordering::Relaxed), 8);
            let peak = c.peak.load(Ordering::Relaxed);
            assert!((1..=max).contains(&peak), "peak {peak} over bound {max}");
        }
    }

    #[test]
    fn cache_stays_bounded() {
        let c = PasswordChecker::new(1);
        let users = users();
        for i in 0..(CACHE_CAP + 10) {
            c.remember(c.digest("prom", &format!("p{i}"), &users[0].1).unwrap());
        }
        assert_eq!(c.cache.lock().len(), CACHE_CAP);
        assert!(c.check(&users, "prom", "right"));
        assert!(c.cache.lock().len() <= CACHE_CAP);
    }
}
