//! The reload pipeline: read (size cap) → SHA-256 → integrity checks → UTF-8 → parse →
//! validate, and the bounded thread the stages and the post-apply check run on.
//!
//! ## Note
//! [`run_bounded`] starts one short-lived thread per call, so that a timeout can abandon a
//! stuck parser or check (it finishes on its own thread and its result is dropped).

use std::io::Read as _;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::error::{BoxError, ReloadError};
use vsanobs_core::hex;

/// Turns the file's text into a config.
pub(crate) type Parser<C> = Arc<dyn Fn(&str) -> Result<C, BoxError> + Send + Sync>;
/// A check on a config (validation before the swap, post-apply check after it).
pub(crate) type Hook<C> = Arc<dyn Fn(&C) -> Result<(), BoxError> + Send + Sync>;

/// The stages that run off the caller's thread; shared with the stage thread by `Arc`.
pub(crate) struct Pipeline<C> {
    pub(crate) path: PathBuf,
    pub(crate) parser: Parser<C>,
    pub(crate) validate: Option<Hook<C>>,
    pub(crate) post_apply: Option<Hook<C>>,
    pub(crate) max_size: u64,
    #[cfg(feature = "signature")]
    pub(crate) signature: Option<(ed25519_dalek::VerifyingKey, PathBuf)>,
}

/// What [`Pipeline::stage`] produced.
pub(crate) enum Staged<C> {
    /// The file holds the live bytes.
    Unchanged,
    /// A parsed, validated config and the digest of its bytes.
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

    /// Reads the file and, unless its digest is `live`, checks, parses and validates it.
    pub(crate) fn stage(
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
                    expected: hex::encode(&expected),
                    actual: hex::encode(&digest),
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

/// Runs `f` on a new thread and waits at most until `deadline`.
pub(crate) fn run_bounded<T: Send + 'static>(
    deadline: Instant,
    timeout: Duration,
    f: impl FnOnce() -> Result<T, ReloadError> + Send + 'static,
) -> Result<T, ReloadError> {
    let (tx, rx) = mpsc::sync_channel(1);
    std::thread::Builder::new()
        .name("hot-reload-stage".into())
        .spawn(move || {
            let r = catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|p| {
                Err(ReloadError::Panicked(vsanobs_core::report::panic_message(
                    &*p,
                )))
            });
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
