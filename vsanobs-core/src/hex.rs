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

/// Exactly `2 * N` hex digits (either case, surrounding whitespace ignored) as `N` bytes;
/// `None` for any other text.
///
/// # Example
///
/// ```
/// assert_eq!(vsanobs_core::hex::decode::<2>(" 0aFf\n"), Some([0x0a, 0xff]));
/// assert_eq!(vsanobs_core::hex::decode::<2>("0aF"), None);
/// assert_eq!(vsanobs_core::hex::decode::<1>("zz"), None);
/// ```
pub fn decode<const N: usize>(text: &str) -> Option<[u8; N]> {
    let text = text.trim();
    if text.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    for (i, pair) in text.as_bytes().chunks(2).enumerate() {
        let digits = std::str::from_utf8(pair).ok()?;
        out[i] = u8::from_str_radix(digits, 16).ok()?;
    }
    Some(out)
}
