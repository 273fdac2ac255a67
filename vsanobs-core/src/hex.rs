//! Lowercase hexadecimal text of bytes, as trace and span ids and config hashes are written.
//!
//! # Example
//!
//! ```
//! assert_eq!(vsanobs_core::hex::encode(&[0x0a, 0xff, 0x00]), "0aff00");
//! ```
//!
//! ## Note
//! [`encode_into`] appends to an existing buffer, so an encoder writes ids without
//! allocating.

const DIGITS: &[u8; 16] = b"0123456789abcdef";

/// `bytes` as lowercase hex, two digits per byte.
///
/// # Example
///
/// ```
/// assert_eq!(vsanobs_core::hex::encode(&[0xde, 0xad, 0xbe, 0xef]), "deadbeef");
/// assert_eq!(vsanobs_core::hex::encode(&[]), "");
/// ```
pub fn encode(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    encode_into(&mut s, bytes);
    s
}

/// Appends `bytes` to `out` as lowercase hex, two digits per byte.
///
/// # Example
///
/// ```
/// let mut out = String::from("span_id=");
/// vsanobs_core::hex::encode_into(&mut out, &[0x00, 0x01, 0xab]);
/// assert_eq!(out, "span_id=0001ab");
/// ```
pub fn encode_into(out: &mut String, bytes: &[u8]) {
    out.reserve(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 15)]));
    }
}
