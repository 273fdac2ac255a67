//! [`ReloadOutcome`] and [`ReloadStatus`]: what a reload call that did not fail did.

use std::time::Duration;

use vsanobs_core::hex;

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
    /// [`ReloadError::Concurrent`](crate::ReloadError::Concurrent)).
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
        hex::encode(&self.sha256)
    }
}
