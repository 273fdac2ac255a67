//! [`ReloadManager`]: loads a config file, keeps the live value in an `ArcSwap`, and reloads
//! it on file changes, signals, HTTP or [`ReloadManager::reload`].
//!
//! # Example
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use vsanobs_core::{Format as Exposition, Registry};
//! use vsanobs_hotreload::{Format, ReloadManager, ReloadResult, ReloadStatus};
//!
//! #[derive(serde::Deserialize)]
//! struct Cfg { port: u16 }
//!
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("app.json");
//! std::fs::write(&path, r#"{"port": 8080}"#)?;
//!
//! let registry = Registry::new();
//! let manager = ReloadManager::<Cfg>::builder(&path)
//!     .format(Format::Json)
//!     .validate(|c: &Cfg| if c.port == 0 { Err("port must not be 0") } else { Ok(()) })
//!     .register(&registry)
//!     .watch(false)
//!     .build()?;
//! let config = manager.handle();
//! assert_eq!(config.load().port, 8080);
//!
//! std::fs::write(&path, r#"{"port": 0}"#)?;
//! let err = manager.reload().unwrap_err();
//! assert_eq!(err.result(), ReloadResult::Fail);
//! assert_eq!(config.load().port, 8080); // the old value keeps serving
//!
//! std::fs::write(&path, r#"{"port": 9090}"#)?;
//! assert_eq!(manager.reload()?.status, ReloadStatus::Applied);
//! assert_eq!(config.load().port, 9090);
//!
//! let text = registry.encode_to_string(Exposition::PrometheusText);
//! assert!(text.contains("hot_reload_updates_total{result=\"fail\"} 1\n"));
//! assert!(text.contains("hot_reload_total 2\n")); // the initial load counts
//! # Ok(()) }
//! ```
//!
//! ## Note
//! Reading the live config is an `arc-swap` load: no lock, no allocation. A reload runs its
//! read/parse/validate stages on a short-lived thread so that a timeout can abandon a stuck
//! parser while the old value keeps serving (an abandoned stage finishes on its own thread and
//! its result is dropped); reloads are rare, so the thread costs nothing that matters.

use std::fmt;
use std::io::Read as _;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use arc_swap::{ArcSwap, Guard};
use parking_lot::Mutex;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use vsanobs_core::Registry;

use crate::error::{BoxError, BuildError, ReloadError};
use crate::format::Format;
use crate::heap::MemSnapshot;
use crate::metrics::{DEFAULT_DURATION_BUCKETS, ReloadMetrics, ReloadResult, hash53};
use crate::workers::{Generations, WorkerGuard};

type Parser<C> = Arc<dyn Fn(&str) -> Result<C, BoxError> + Send + Sync>;
type Hook<C> = Arc<dyn Fn(&C) -> Result<(), BoxError> + Send + Sync>;

/// Default cap on the config file size: 4 MiB.
pub const DEFAULT_MAX_SIZE: u64 = 4 * 1024 * 1024;
/// Default whole-reload timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Default quiet period after the last file event before a watch-triggered reload.
pub const DEFAULT_DEBOUNCE: Duration = Duration::from_millis(250);
/// Default time the workers of a replaced generation get before they are reported as stale.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(30);

/// What started a reload (shown in log lines).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Trigger {
    /// The load at build time.
    Initial,
    /// [`ReloadManager::reload`] or [`ConfigHandle::reload`].
    Manual,
    /// A file event in the watched directory.
    Watch,
    /// A signal (`SIGHUP` or `SIGUSR1`), with its number.
    Signal(i32),
    /// The `POST /-/reload` route.
    Http,
}

impl Trigger {
    fn as_str(self) -> &'static str {
        match self {
            Trigger::Initial => "initial",
            Trigger::Manual => "manual",
            Trigger::Watch => "watch",
            Trigger::Signal(_) => "signal",
            Trigger::Http => "http",
        }
    }
}

/// What a reload call did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReloadStatus {
    /// A new config is live.
    Applied,
    /// The file holds the bytes already live: nothing was parsed or swapped, nothing counted.
    Unchanged,
    /// Another reload that read the file after this request was made has run meanwhile and
    /// succeeded, so this request was folded into it (a failed one gives
    /// [`ReloadError::Concurrent`]).
    Coalesced,
}

/// The result of a reload call that did not fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReloadOutcome {
    /// What happened.
    pub status: ReloadStatus,
    /// The live generation afterwards (1 for the initial config).
    pub generation: u64,
    /// SHA-256 of the live config's bytes.
    pub sha256: [u8; 32],
    /// Time the call took, waiting included.
    pub duration: Duration,
}

impl ReloadOutcome {
    /// The live config's SHA-256 as 64 lowercase hex digits.
    pub fn sha256_hex(&self) -> String {
        hex(&self.sha256)
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    s
}

fn parse_hex32(text: &str) -> Option<[u8; 32]> {
    let text = text.trim();
    if text.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, chunk) in text.as_bytes().chunks(2).enumerate() {
        let s = std::str::from_utf8(chunk).ok()?;
        out[i] = u8::from_str_radix(s, 16).ok()?;
    }
    Some(out)
}

/// The stages that run off the caller's thread; shared with the stage thread by `Arc`.
struct Pipeline<C> {
    path: PathBuf,
    parser: Parser<C>,
    validate: Option<Hook<C>>,
    post_apply: Option<Hook<C>>,
    max_size: u64,
    #[cfg(feature = "signature")]
    signature: Option<(ed25519_dalek::VerifyingKey, PathBuf)>,
}

enum Staged<C> {
    Unchanged,
    Ready { digest: [u8; 32], value: C },
}

impl<C> Pipeline<C> {
    fn read(&self) -> Result<Vec<u8>, ReloadError> {
        let read_err = |source| ReloadError::Read {
            path: self.path.clone(),
            source,
        };
        let file = std::fs::File::open(&self.path).map_err(read_err)?;
        let meta = file.metadata().map_err(read_err)?;
        if meta.is_dir() {
            return Err(read_err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "is a directory",
            )));
        }
        if meta.len() > self.max_size {
            return Err(ReloadError::TooLarge {
                path: self.path.clone(),
                size: meta.len(),
                limit: self.max_size,
            });
        }
        // The file may grow between stat and read: read at most one byte past the cap.
        let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
        file.take(self.max_size.saturating_add(1))
            .read_to_end(&mut bytes)
            .map_err(read_err)?;
        if bytes.len() as u64 > self.max_size {
            return Err(ReloadError::TooLarge {
                path: self.path.clone(),
                size: bytes.len() as u64,
                limit: self.max_size,
            });
        }
        Ok(bytes)
    }

    fn stage(
        &self,
        live: Option<[u8; 32]>,
        expected: Option<[u8; 32]>,
    ) -> Result<Staged<C>, ReloadError> {
        let bytes = self.read()?;
        let digest: [u8; 32] = Sha256::digest(&bytes).into();
        if live == Some(digest) {
            return Ok(Staged::Unchanged);
        }
        if let Some(expected) = expected {
            if expected != digest {
                return Err(ReloadError::DigestMismatch {
                    expected: hex(&expected),
                    actual: hex(&digest),
                });
            }
        }
        #[cfg(feature = "signature")]
        if let Some((key, sig_path)) = &self.signature {
            crate::signature::verify(key, sig_path, &bytes)?;
        }
        let text = std::str::from_utf8(&bytes).map_err(|source| ReloadError::NotUtf8 {
            path: self.path.clone(),
            source,
        })?;
        let value = (self.parser)(text).map_err(|source| ReloadError::Parse { source })?;
        if let Some(validate) = &self.validate {
            validate(&value).map_err(|source| ReloadError::Validation { source })?;
        }
        Ok(Staged::Ready { digest, value })
    }
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_owned()
    }
}

/// Runs `f` on a new thread and waits at most until `deadline`.
fn run_bounded<T: Send + 'static>(
    deadline: Instant,
    timeout: Duration,
    f: impl FnOnce() -> Result<T, ReloadError> + Send + 'static,
) -> Result<T, ReloadError> {
    let (tx, rx) = mpsc::sync_channel(1);
    std::thread::Builder::new()
        .name("hot-reload-stage".into())
        .spawn(move || {
            let r = catch_unwind(AssertUnwindSafe(f))
                .unwrap_or_else(|p| Err(ReloadError::Panicked(panic_message(&*p))));
            let _ = tx.send(r);
        })
        .map_err(ReloadError::Spawn)?;
    let left = deadline.saturating_duration_since(Instant::now());
    match rx.recv_timeout(left) {
        Ok(r) => r,
        Err(mpsc::RecvTimeoutError::Timeout) => Err(ReloadError::Timeout(timeout)),
        Err(mpsc::RecvTimeoutError::Disconnected) => Err(ReloadError::Panicked(
            "reload stage ended without a result".into(),
        )),
    }
}

struct State {
    live_digest: [u8; 32],
    generation: u64,
    /// The last attempt's failure, handed to requests folded into it.
    last_failure: Option<(ReloadResult, String)>,
}

pub(crate) struct Inner<C> {
    cell: Arc<ArcSwap<C>>,
    pipeline: Arc<Pipeline<C>>,
    timeout: Duration,
    expected: Mutex<Option<[u8; 32]>>,
    metrics: ReloadMetrics,
    state: Mutex<State>,
    requested: AtomicU64,
    served: AtomicU64,
    generations: Generations,
}

struct Pending<'a>(&'a vsanobs_core::Gauge);
impl Drop for Pending<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}

impl<C: Send + Sync + 'static> Inner<C> {
    pub(crate) fn reload(&self, trigger: Trigger) -> Result<ReloadOutcome, ReloadError> {
        let called = Instant::now();
        self.metrics.concurrent.inc();
        let _pending = Pending(&self.metrics.concurrent);
        let my_seq = self.requested.fetch_add(1, Ordering::AcqRel) + 1;
        let mut state = self.state.lock();
        if self.served.load(Ordering::Acquire) >= my_seq {
            if let Some((result, reason)) = &state.last_failure {
                return Err(ReloadError::Concurrent {
                    result: *result,
                    reason: reason.clone(),
                });
            }
            return Ok(ReloadOutcome {
                status: ReloadStatus::Coalesced,
                generation: state.generation,
                sha256: state.live_digest,
                duration: called.elapsed(),
            });
        }
        // Every request issued up to now is answered by this attempt, which reads the file
        // after all of them: the last written config wins.
        let covers = self.requested.load(Ordering::Acquire);
        self.metrics.in_progress.set(1);
        let mem = MemSnapshot::now();
        let started = Instant::now();
        let result = self.attempt(&mut state, started);
        let elapsed = started.elapsed();
        self.served.store(covers, Ordering::Release);
        self.metrics.in_progress.set(0);
        match result {
            Ok(Some(())) => {
                state.last_failure = None;
                self.metrics.heap_delta.set(mem.delta());
                self.metrics
                    .record(ReloadResult::Success, elapsed.as_secs_f64());
                tracing::info!(
                    trigger = trigger.as_str(),
                    generation = state.generation,
                    sha256 = %hex(&state.live_digest),
                    duration_seconds = elapsed.as_secs_f64(),
                    "config reloaded from {}",
                    self.pipeline.path.display()
                );
                Ok(ReloadOutcome {
                    status: ReloadStatus::Applied,
                    generation: state.generation,
                    sha256: state.live_digest,
                    duration: called.elapsed(),
                })
            }
            Ok(None) => {
                state.last_failure = None;
                tracing::debug!(
                    trigger = trigger.as_str(),
                    "config file unchanged; nothing to reload"
                );
                Ok(ReloadOutcome {
                    status: ReloadStatus::Unchanged,
                    generation: state.generation,
                    sha256: state.live_digest,
                    duration: called.elapsed(),
                })
            }
            Err(err) => {
                self.metrics.heap_delta.set(mem.delta());
                let result = err.result();
                self.metrics.record(result, elapsed.as_secs_f64());
                let reason = err.chain();
                state.last_failure = Some((result, reason.clone()));
                tracing::warn!(
                    trigger = trigger.as_str(),
                    result = result.as_str(),
                    generation = state.generation,
                    "config reload failed, previous config kept: {reason}"
                );
                Err(err)
            }
        }
    }

    /// One attempt under the state lock: `Ok(Some(()))` applied, `Ok(None)` unchanged.
    fn attempt(&self, state: &mut State, started: Instant) -> Result<Option<()>, ReloadError> {
        let deadline = started + self.timeout;
        let pipeline = Arc::clone(&self.pipeline);
        let live = Some(state.live_digest);
        let expected = *self.expected.lock();
        let staged = run_bounded(deadline, self.timeout, move || {
            pipeline.stage(live, expected)
        })?;
        let (digest, value) = match staged {
            Staged::Unchanged => return Ok(None),
            Staged::Ready { digest, value } => (digest, Arc::new(value)),
        };
        let previous = self.cell.swap(Arc::clone(&value));
        if let Some(check) = self.pipeline.post_apply.clone() {
            let checked = run_bounded(deadline, self.timeout, move || {
                check(&value).map_err(|source| ReloadError::Rollback { source })
            });
            if let Err(e) = checked {
                self.cell.store(previous);
                return Err(match e {
                    ReloadError::Panicked(msg) => ReloadError::Rollback {
                        source: format!("post-apply check panicked: {msg}").into(),
                    },
                    other => other,
                });
            }
        }
        state.live_digest = digest;
        state.generation += 1;
        self.metrics.hash.set(hash53(&digest) as i64);
        self.generations.advance(state.generation);
        Ok(Some(()))
    }
}

/// Loads a config file of type `C` and keeps it live; see the [module docs](self).
///
/// Dropping the manager stops its file watcher and signal thread; [`ConfigHandle`]s keep
/// serving the last live value.
pub struct ReloadManager<C> {
    inner: Arc<Inner<C>>,
    _watch: Option<crate::watch::WatchTask>,
    #[cfg(unix)]
    _signals: Option<crate::signals::SignalTask>,
}

impl<C> fmt::Debug for ReloadManager<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never wait for a running reload just to print.
        let state = self.inner.state.try_lock();
        f.debug_struct("ReloadManager")
            .field("path", &self.inner.pipeline.path)
            .field("generation", &state.as_ref().map(|s| s.generation))
            .field("sha256", &state.as_ref().map(|s| hex(&s.live_digest)))
            .field("watching", &self._watch.is_some())
            .finish()
    }
}

impl<C: Send + Sync + 'static> ReloadManager<C> {
    /// A builder for a manager of the config file at `path`.
    pub fn builder(path: impl AsRef<Path>) -> ReloadManagerBuilder<C> {
        ReloadManagerBuilder {
            path: path.as_ref().to_path_buf(),
            parser: None,
            validate: None,
            post_apply: None,
            max_size: DEFAULT_MAX_SIZE,
            timeout: DEFAULT_TIMEOUT,
            debounce: DEFAULT_DEBOUNCE,
            grace: DEFAULT_GRACE,
            watch: true,
            signals: false,
            registry: None,
            buckets: DEFAULT_DURATION_BUCKETS.to_vec(),
            expected: None,
            #[cfg(feature = "signature")]
            signature: None,
        }
    }

    /// A cheap, cloneable handle to the live config.
    pub fn handle(&self) -> ConfigHandle<C> {
        ConfigHandle {
            cell: Arc::clone(&self.inner.cell),
            manager: Arc::downgrade(&self.inner),
        }
    }

    /// Reads the live config (an `arc-swap` load).
    pub fn load(&self) -> Guard<Arc<C>> {
        self.inner.cell.load()
    }

    /// Reloads now: read, hash, verify, parse, validate, swap, post-apply check.
    ///
    /// # Errors
    /// A [`ReloadError`] saying why; the previous config stays live. The attempt is counted
    /// under the error's [`result`](ReloadError::result) and logged.
    pub fn reload(&self) -> Result<ReloadOutcome, ReloadError> {
        self.inner.reload(Trigger::Manual)
    }

    /// Registers a worker with the live generation; see [`WorkerGuard`].
    pub fn worker(&self) -> WorkerGuard {
        self.inner.generations.guard()
    }

    /// The live generation (1 for the initial config, +1 per applied reload).
    pub fn generation(&self) -> u64 {
        self.inner.state.lock().generation
    }

    /// SHA-256 of the live config's bytes.
    pub fn sha256(&self) -> [u8; 32] {
        self.inner.state.lock().live_digest
    }

    /// Workers of replaced generations that were still alive after the grace period.
    pub fn stale_workers(&self) -> u64 {
        self.inner.generations.stale()
    }

    /// Sets (or clears) the SHA-256 the next reloads must match.
    pub fn set_expected_sha256(&self, digest: Option<[u8; 32]>) {
        *self.inner.expected.lock() = digest;
    }

    /// The config file path.
    pub fn path(&self) -> &Path {
        &self.inner.pipeline.path
    }
}

/// Builds a [`ReloadManager`]; from [`ReloadManager::builder`].
#[must_use]
pub struct ReloadManagerBuilder<C> {
    path: PathBuf,
    parser: Option<Parser<C>>,
    validate: Option<Hook<C>>,
    post_apply: Option<Hook<C>>,
    max_size: u64,
    timeout: Duration,
    debounce: Duration,
    grace: Duration,
    watch: bool,
    signals: bool,
    registry: Option<Registry>,
    buckets: Vec<f64>,
    expected: Option<String>,
    #[cfg(feature = "signature")]
    signature: Option<(ed25519_dalek::VerifyingKey, Option<PathBuf>)>,
}

impl<C> fmt::Debug for ReloadManagerBuilder<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReloadManagerBuilder")
            .field("path", &self.path)
            .field("max_size", &self.max_size)
            .field("timeout", &self.timeout)
            .field("debounce", &self.debounce)
            .field("watch", &self.watch)
            .field("signals", &self.signals)
            .finish_non_exhaustive()
    }
}

impl<C: Send + Sync + 'static> ReloadManagerBuilder<C> {
    /// Parses the file with a serde format.
    pub fn format(mut self, format: Format) -> Self
    where
        C: DeserializeOwned,
    {
        self.parser = Some(Arc::new(move |text: &str| format.parse::<C>(text)));
        self
    }

    /// Parses the file with the format its extension names (`.json`, `.yaml`/`.yml`,
    /// `.toml`); [`build`](Self::build) fails with [`BuildError::NoParser`] when there is none.
    pub fn format_from_extension(mut self) -> Self
    where
        C: DeserializeOwned,
    {
        self.parser = Format::from_path(&self.path)
            .map(|format| -> Parser<C> { Arc::new(move |text: &str| format.parse::<C>(text)) });
        self
    }

    /// Parses the file with your own function.
    pub fn parser<E>(mut self, parse: impl Fn(&str) -> Result<C, E> + Send + Sync + 'static) -> Self
    where
        E: Into<BoxError>,
    {
        self.parser = Some(Arc::new(move |text: &str| parse(text).map_err(Into::into)));
        self
    }

    /// A check on the parsed config before it goes live; an error rejects the reload
    /// (`result="fail"`).
    pub fn validate<E>(
        mut self,
        check: impl Fn(&C) -> Result<(), E> + Send + Sync + 'static,
    ) -> Self
    where
        E: Into<BoxError>,
    {
        self.validate = Some(Arc::new(move |c: &C| check(c).map_err(Into::into)));
        self
    }

    /// A check run right after the new config went live (probe a backend, rebind a socket);
    /// an error puts the previous config back (`result="rollback"`).
    pub fn post_apply<E>(
        mut self,
        check: impl Fn(&C) -> Result<(), E> + Send + Sync + 'static,
    ) -> Self
    where
        E: Into<BoxError>,
    {
        self.post_apply = Some(Arc::new(move |c: &C| check(c).map_err(Into::into)));
        self
    }

    /// Largest accepted file, in bytes (default [`DEFAULT_MAX_SIZE`]).
    pub fn max_size(mut self, bytes: u64) -> Self {
        self.max_size = bytes;
        self
    }

    /// Whole-reload timeout (default [`DEFAULT_TIMEOUT`]); past it the old config stays live
    /// (`result="timeout"`).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Watch the file's directory and reload on changes (default on).
    pub fn watch(mut self, on: bool) -> Self {
        self.watch = on;
        self
    }

    /// Quiet period after the last file event before reloading (default [`DEFAULT_DEBOUNCE`]).
    pub fn debounce(mut self, quiet: Duration) -> Self {
        self.debounce = quiet;
        self
    }

    /// Reload on `SIGHUP` and `SIGUSR1` (default off; Unix only, ignored elsewhere).
    pub fn signals(mut self, on: bool) -> Self {
        self.signals = on;
        self
    }

    /// Time workers of a replaced generation get before they are reported as stale
    /// (default [`DEFAULT_GRACE`]).
    pub fn grace_period(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// Exports the reload metrics in `registry`.
    pub fn register(mut self, registry: &Registry) -> Self {
        self.registry = Some(registry.clone());
        self
    }

    /// Bucket bounds of `hot_reload_duration_seconds` (default 0.01 0.1 1 5).
    pub fn duration_buckets(mut self, bounds: impl IntoIterator<Item = f64>) -> Self {
        self.buckets = bounds.into_iter().collect();
        self
    }

    /// Reject any file whose SHA-256 is not this digest (64 hex digits); see also
    /// [`ReloadManager::set_expected_sha256`].
    pub fn expected_sha256(mut self, hex_digest: impl Into<String>) -> Self {
        self.expected = Some(hex_digest.into());
        self
    }

    /// Require an ed25519 signature of the file's bytes, verified with `key`. The signature
    /// is read from `<path>.sig` (64 raw bytes or 128 hex digits) unless
    /// [`signature_path`](Self::signature_path) says otherwise.
    #[cfg(feature = "signature")]
    pub fn signature_key(mut self, key: ed25519_dalek::VerifyingKey) -> Self {
        let path = self.signature.take().and_then(|(_, p)| p);
        self.signature = Some((key, path));
        self
    }

    /// Where the signature file is (with [`signature_key`](Self::signature_key)).
    #[cfg(feature = "signature")]
    pub fn signature_path(mut self, path: impl AsRef<Path>) -> Self {
        if let Some((_, p)) = &mut self.signature {
            *p = Some(path.as_ref().to_path_buf());
        }
        self
    }

    /// Loads the file, registers the metrics and starts the watcher and signal thread.
    ///
    /// # Errors
    /// [`BuildError`]: the initial load failed (with the [`ReloadError`] as source), no parser
    /// was set, a metric name is taken, or the watcher or signal handler could not start.
    pub fn build(self) -> Result<ReloadManager<C>, BuildError> {
        let parser = self.parser.ok_or_else(|| BuildError::NoParser {
            path: self.path.clone(),
        })?;
        let expected = match &self.expected {
            Some(h) => Some(parse_hex32(h).ok_or(BuildError::BadDigest)?),
            None => None,
        };
        let file_name = self.path.file_name().map(ToOwned::to_owned);
        let Some(file_name) = file_name else {
            return Err(BuildError::BadPath { path: self.path });
        };
        #[cfg(feature = "signature")]
        let signature = self.signature.map(|(key, p)| {
            let p = p.unwrap_or_else(|| {
                let mut s = self.path.clone().into_os_string();
                s.push(".sig");
                PathBuf::from(s)
            });
            (key, p)
        });
        let pipeline = Arc::new(Pipeline {
            path: self.path.clone(),
            parser,
            validate: self.validate,
            post_apply: self.post_apply,
            max_size: self.max_size,
            #[cfg(feature = "signature")]
            signature,
        });
        let metrics = ReloadMetrics::new(&self.buckets);
        // Initial load: the same stages, counted like any reload.
        let started = Instant::now();
        let mem = MemSnapshot::now();
        let staged = {
            let p = Arc::clone(&pipeline);
            run_bounded(started + self.timeout, self.timeout, move || {
                let staged = p.stage(None, expected)?;
                if let (Staged::Ready { value, .. }, Some(check)) = (&staged, &p.post_apply) {
                    check(value).map_err(|source| ReloadError::Rollback { source })?;
                }
                Ok(staged)
            })
        };
        let (digest, value) = match staged {
            Ok(Staged::Ready { digest, value }) => (digest, value),
            Ok(Staged::Unchanged) => {
                // Not reachable: there is no live digest to compare with yet.
                return Err(BuildError::Initial(ReloadError::Panicked(
                    "initial load reported unchanged bytes".into(),
                )));
            }
            Err(e) => {
                metrics.record(e.result(), started.elapsed().as_secs_f64());
                return Err(BuildError::Initial(e));
            }
        };
        metrics.record(ReloadResult::Success, started.elapsed().as_secs_f64());
        metrics.hash.set(hash53(&digest) as i64);
        metrics.heap_delta.set(mem.delta());
        if let Some(registry) = &self.registry {
            metrics.register(registry).map_err(BuildError::Register)?;
        }
        let generations = Generations::new(metrics.workers.clone(), self.grace);
        let inner = Arc::new(Inner {
            cell: Arc::new(ArcSwap::from_pointee(value)),
            pipeline,
            timeout: self.timeout,
            expected: Mutex::new(expected),
            metrics,
            state: Mutex::new(State {
                live_digest: digest,
                generation: 1,
                last_failure: None,
            }),
            requested: AtomicU64::new(0),
            served: AtomicU64::new(0),
            generations,
        });
        tracing::info!(
            trigger = Trigger::Initial.as_str(),
            sha256 = %hex(&digest),
            "config loaded from {}",
            self.path.display()
        );
        let watch = if self.watch {
            Some(crate::watch::WatchTask::start(
                Arc::downgrade(&inner),
                &self.path,
                file_name,
                self.debounce,
            )?)
        } else {
            None
        };
        #[cfg(unix)]
        let signals = if self.signals {
            Some(crate::signals::SignalTask::start(Arc::downgrade(&inner))?)
        } else {
            None
        };
        Ok(ReloadManager {
            inner,
            _watch: watch,
            #[cfg(unix)]
            _signals: signals,
        })
    }
}

/// A cheap, cloneable handle to the live config of a [`ReloadManager`].
///
/// It holds the config cell and a `Weak` reference to the manager: it never keeps the
/// manager (its watcher, its signal thread) alive, and once the manager is gone it keeps
/// serving the last live value while [`reload`](Self::reload) returns
/// [`ReloadError::Closed`].
pub struct ConfigHandle<C> {
    cell: Arc<ArcSwap<C>>,
    manager: Weak<Inner<C>>,
}

impl<C> Clone for ConfigHandle<C> {
    fn clone(&self) -> Self {
        ConfigHandle {
            cell: Arc::clone(&self.cell),
            manager: Weak::clone(&self.manager),
        }
    }
}

impl<C> fmt::Debug for ConfigHandle<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConfigHandle")
            .field("manager_alive", &(self.manager.strong_count() > 0))
            .finish()
    }
}

impl<C: Send + Sync + 'static> ConfigHandle<C> {
    /// Reads the live config: lock-free, allocation-free. Keep the guard short-lived; use
    /// [`load_full`](Self::load_full) to hold the value longer.
    #[inline]
    pub fn load(&self) -> Guard<Arc<C>> {
        self.cell.load()
    }

    /// The live config as an owned `Arc` (one reference-count increment).
    pub fn load_full(&self) -> Arc<C> {
        self.cell.load_full()
    }

    /// A per-thread (or per-task) cache of the live config whose [`load`](CachedConfig::load)
    /// is one atomic load and a pointer compare while the config is unchanged: the cheapest
    /// way to read the config on a hot path.
    pub fn cached(&self) -> CachedConfig<C> {
        CachedConfig {
            cache: arc_swap::Cache::new(Arc::clone(&self.cell)),
        }
    }

    /// Reloads through the manager.
    ///
    /// # Errors
    /// [`ReloadError::Closed`] when the manager was dropped, otherwise as
    /// [`ReloadManager::reload`].
    pub fn reload(&self) -> Result<ReloadOutcome, ReloadError> {
        self.reload_from(Trigger::Manual)
    }

    pub(crate) fn reload_from(&self, trigger: Trigger) -> Result<ReloadOutcome, ReloadError> {
        let inner = self.manager.upgrade().ok_or(ReloadError::Closed)?;
        inner.reload(trigger)
    }

    /// Registers a worker with the live generation, or `None` when the manager is gone.
    pub fn worker(&self) -> Option<WorkerGuard> {
        self.manager.upgrade().map(|m| m.generations.guard())
    }

    /// True while the manager exists.
    pub fn is_manager_alive(&self) -> bool {
        self.manager.strong_count() > 0
    }
}

/// A cached view of the live config, from [`ConfigHandle::cached`]. Keep one per thread or
/// task; it holds the last value it saw (so an idle cache keeps a replaced config alive until
/// its next [`load`](Self::load)).
///
/// # Example
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use vsanobs_hotreload::{Format, ReloadManager};
///
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("limit.json");
/// std::fs::write(&path, "10")?;
/// let manager = ReloadManager::<u32>::builder(&path).format(Format::Json).watch(false).build()?;
/// let mut limit = manager.handle().cached();
/// assert_eq!(**limit.load(), 10);
/// std::fs::write(&path, "20")?;
/// manager.reload()?;
/// assert_eq!(**limit.load(), 20);
/// # Ok(()) }
/// ```
pub struct CachedConfig<C> {
    cache: arc_swap::Cache<Arc<ArcSwap<C>>, Arc<C>>,
}

impl<C> Clone for CachedConfig<C> {
    fn clone(&self) -> Self {
        CachedConfig {
            cache: self.cache.clone(),
        }
    }
}

impl<C> fmt::Debug for CachedConfig<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CachedConfig")
    }
}

impl<C> CachedConfig<C> {
    /// The live config: one atomic load and a compare when unchanged, a reference-count
    /// update after a reload.
    #[inline]
    pub fn load(&mut self) -> &Arc<C> {
        self.cache.load()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip() {
        let d: [u8; 32] = Sha256::digest(b"abc").into();
        let h = hex(&d);
        assert_eq!(
            h,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(parse_hex32(&h), Some(d));
        assert_eq!(parse_hex32("zz"), None);
        assert_eq!(parse_hex32(&"g".repeat(64)), None);
    }

    fn _assert_send_sync() {
        fn is<T: Send + Sync>() {}
        is::<ReloadManager<u32>>();
        is::<ConfigHandle<u32>>();
        is::<WorkerGuard>();
        is::<ReloadError>();
    }
}
