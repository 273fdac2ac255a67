//! Lowercase hex for SHA-256 digests and signatures: encoding for messages and log lines,
//! decoding for digests and signatures given as text.

/// `bytes` as lowercase hex digits, two per byte.
pub(crate) fn encode(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    s
}

/// Exactly `2 * N` hex digits (either case, surrounding whitespace ignored) as `N` bytes;
/// `None` for any other text.
pub(crate) fn decode<const N: usize>(text: &str) -> Option<[u8; N]> {
    let text = text.trim();
    if text.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    for (i, chunk) in text.as_bytes().chunks(2).enumerate() {
        let s = std::str::from_utf8(chunk).ok()?;
        out[i] = u8::from_str_radix(s, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    #[test]
    fn hex_round_trip() {
        let d: [u8; 32] = Sha256::digest(b"abc").into();
        let h = encode(&d);
        assert_eq!(
            h,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(decode::<32>(&h), Some(d));
        assert_eq!(decode::<32>("zz"), None);
        assert_eq!(decode::<32>(&"g".repeat(64)), None);
    }
}
