//! Counting gRPC messages in a byte stream: each message is a 5-byte prefix (1 flag byte, a
//! 4-byte big-endian length) and that many bytes. Chunks may cut anywhere, a prefix included.

/// Counts complete length-prefixed messages across arbitrary chunk boundaries, in constant
/// memory (no buffering, no allocation).
///
/// ```
/// use vsanobs_http::grpc::MessageCounter;
/// let mut c = MessageCounter::default();
/// // two messages: 3 bytes, then an empty one, fed in awkward pieces
/// assert_eq!(c.feed(&[0, 0, 0]), 0);
/// assert_eq!(c.feed(&[0, 3, b'a', b'b']), 0);
/// assert_eq!(c.feed(&[b'c', 0, 0, 0, 0, 0]), 2);
/// assert!(c.at_boundary());
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MessageCounter {
    /// Prefix bytes seen of the current message (0..=4; 5 means in the payload).
    prefix: u8,
    /// Length accumulated from the prefix.
    len: u32,
    /// Payload bytes still to skip.
    remaining: u32,
}

const IN_PAYLOAD: u8 = 5;

impl MessageCounter {
    /// Feeds the next chunk; returns how many messages it completed.
    #[inline]
    pub fn feed(&mut self, mut buf: &[u8]) -> u64 {
        let mut done = 0;
        while !buf.is_empty() {
            if self.prefix == IN_PAYLOAD {
                let take = (self.remaining as usize).min(buf.len());
                buf = &buf[take..];
                // `take` is at most `remaining`, a u32.
                self.remaining -= take as u32;
                if self.remaining == 0 {
                    self.prefix = 0;
                    done += 1;
                }
                continue;
            }
            if self.prefix == 0 && buf.len() >= 5 {
                // The whole prefix in this chunk.
                self.len = u32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]]);
                buf = &buf[5..];
                self.prefix = 4;
            } else {
                if self.prefix > 0 {
                    self.len = (self.len << 8) | u32::from(buf[0]);
                }
                buf = &buf[1..];
            }
            if self.prefix == 4 {
                self.remaining = self.len;
                self.len = 0;
                if self.remaining == 0 {
                    self.prefix = 0;
                    done += 1;
                } else {
                    self.prefix = IN_PAYLOAD;
                }
            } else {
                self.prefix += 1;
            }
        }
        done
    }

    /// Whether the bytes fed so far end exactly at a message boundary.
    pub fn at_boundary(&self) -> bool {
        self.prefix == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(lens: &[u32]) -> Vec<u8> {
        let mut v = Vec::new();
        for &l in lens {
            v.push(0);
            v.extend_from_slice(&l.to_be_bytes());
            v.extend(std::iter::repeat_n(0xAB, l as usize));
        }
        v
    }

    #[test]
    fn every_split_of_a_stream_counts_the_same() {
        let lens = [0, 1, 4, 5, 6, 300, 0, 0, 70_000];
        let bytes = encode(&lens);
        // One chunk, then every chunk size from 1 to 13.
        let mut one = MessageCounter::default();
        assert_eq!(one.feed(&bytes), lens.len() as u64);
        for size in 1..=13 {
            let mut c = MessageCounter::default();
            let n: u64 = bytes.chunks(size).map(|ch| c.feed(ch)).sum();
            assert_eq!(n, lens.len() as u64, "chunk size {size}");
            assert!(c.at_boundary());
        }
        // Every two-way split.
        let small = encode(&[0, 3, 0, 7]);
        for cut in 0..=small.len() {
            let mut c = MessageCounter::default();
            let n = c.feed(&small[..cut]) + c.feed(&small[cut..]);
            assert_eq!(n, 4, "cut at {cut}");
        }
    }

    #[test]
    fn a_truncated_message_is_not_counted() {
        let bytes = encode(&[10, 10]);
        let mut c = MessageCounter::default();
        assert_eq!(c.feed(&bytes[..bytes.len() - 1]), 1);
        assert!(!c.at_boundary());
        let mut c = MessageCounter::default();
        assert_eq!(c.feed(&[1, 0xFF]), 0); // a prefix cut short
        assert!(!c.at_boundary());
    }

    #[test]
    fn a_huge_announced_length_costs_nothing() {
        let mut c = MessageCounter::default();
        assert_eq!(c.feed(&[1, 0xFF, 0xFF, 0xFF, 0xFF, 1, 2, 3]), 0);
        assert_eq!(c.remaining, u32::MAX - 3);
    }
}
