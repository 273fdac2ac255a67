//! ed25519 signature check of the config bytes (feature `signature`).

use std::path::Path;

use ed25519_dalek::{Signature, VerifyingKey};

use crate::error::ReloadError;
use vsanobs_core::hex;

/// Verifies the signature in `sig_path` (64 raw bytes or 128 hex digits) over `bytes`.
pub(crate) fn verify(key: &VerifyingKey, sig_path: &Path, bytes: &[u8]) -> Result<(), ReloadError> {
    let raw = std::fs::read(sig_path).map_err(|e| ReloadError::Signature {
        reason: "cannot read signature file",
        source: Some(Box::new(e)),
    })?;
    let sig: [u8; 64] = match <[u8; 64]>::try_from(raw.as_slice()) {
        Ok(s) => s,
        Err(_) => std::str::from_utf8(&raw)
            .ok()
            .and_then(hex::decode::<64>)
            .ok_or(ReloadError::Signature {
                reason: "signature file is neither 64 bytes nor 128 hex digits",
                source: None,
            })?,
    };
    key.verify_strict(bytes, &Signature::from_bytes(&sig))
        .map_err(|e| ReloadError::Signature {
            reason: "signature does not match the config",
            source: Some(Box::new(e)),
        })
}
