//! Route templates matched against request paths as axum 0.8 matches them, for
//! [`HttpMetricsLayer::with_routes`](crate::HttpMetricsLayer::with_routes).
//!
//! Every template goes into a `matchit` router, the matcher axum 0.8 routes with, which
//! validates it and answers for tables that use its full syntax. When every template is made of
//! whole segments only (static text, `{name}`, a final `{*name}`), which is how nearly all
//! routes are written, paths are matched by a segment trie instead, with the same answers
//! (static before parameter before catch-all, backtracking; checked against matchit by a
//! property test) for about a third of the instructions, since it neither collects
//! parameter values nor walks byte prefixes.

/// A template's value for each request path: the first template matching it, by matchit's
/// priorities.
pub(crate) struct RouteTable<T> {
    matchit: matchit::Router<T>,
    /// `Some` when every template is made of whole segments.
    trie: Option<Node<T>>,
    len: usize,
}

impl<T> std::fmt::Debug for RouteTable<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RouteTable")
            .field("routes", &self.len)
            .field("segment_trie", &self.trie.is_some())
            .finish()
    }
}

/// One segment position of the trie.
struct Node<T> {
    /// The value of a template ending here.
    value: Option<T>,
    /// Static segments, in insertion order (few per node).
    statics: Vec<StaticChild<T>>,
    /// A `{name}` segment: any non-empty segment.
    param: Option<Box<Node<T>>>,
    /// A final `{*name}` segment: the rest of the path, if not empty.
    catch_all: Option<T>,
}

/// A static segment and the node after it. The segment's first eight bytes are kept as one
/// word, so that a path segment of up to eight bytes (nearly all of them) is compared with
/// one load and two integer comparisons instead of a call to `memcmp`.
struct StaticChild<T> {
    word: u64,
    key: Box<[u8]>,
    node: Node<T>,
}

/// The first eight bytes of `seg` as a little-endian word, zero-padded.
fn prefix_word(seg: &[u8]) -> u64 {
    seg.iter()
        .take(8)
        .enumerate()
        .fold(0, |w, (i, b)| w | u64::from(*b) << (8 * i))
}

/// The index of the first `/` in `rest`, eight bytes at a time: a byte equal to `/` is a
/// zero byte of the word xor `0x2f2f..`, and the lowest zero byte is the lowest byte whose
/// top bit survives `(x - 0x0101..) & !x & 0x8080..` (a borrow only reaches bytes above a
/// zero byte, so only higher bytes can be flagged falsely).
#[inline]
fn slash(rest: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let mut chunks = rest.chunks_exact(8);
    let mut at = 0;
    for chunk in chunks.by_ref() {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let x = u64::from_le_bytes(word) ^ (ONES * u64::from(b'/'));
        let found = x.wrapping_sub(ONES) & !x & HIGHS;
        if found != 0 {
            return Some(at + (found.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|&b| b == b'/')
        .map(|i| at + i)
}

/// The first eight bytes of the segment of length `len` that starts `rest`, as
/// [`prefix_word`] gives them: one unaligned load and a mask when `rest` has eight bytes.
#[inline]
fn segment_word(rest: &[u8], len: usize) -> u64 {
    match rest.first_chunk::<8>() {
        Some(chunk) if len >= 8 => u64::from_le_bytes(*chunk),
        Some(chunk) => u64::from_le_bytes(*chunk) & ((1u64 << (8 * len)) - 1),
        None => prefix_word(rest.get(..len).unwrap_or(rest)),
    }
}

impl<T> Default for Node<T> {
    fn default() -> Self {
        Node {
            value: None,
            statics: Vec::new(),
            param: None,
            catch_all: None,
        }
    }
}

/// One segment of a whole-segment template.
enum Segment<'a> {
    Static(&'a str),
    Param,
    CatchAll,
}

/// The segments of `template` after its leading `/`, or `None` when a segment is neither
/// static text nor a whole parameter (matchit alone handles those).
fn segments(template: &str) -> Option<Vec<Segment<'_>>> {
    let rest = template.strip_prefix('/')?;
    let parts: Vec<&str> = rest.split('/').collect();
    let last = parts.len() - 1;
    parts
        .iter()
        .enumerate()
        .map(|(i, s)| {
            if !s.contains(['{', '}']) {
                return Some(Segment::Static(s));
            }
            let name = s.strip_prefix('{')?.strip_suffix('}')?;
            let (catch_all, name) = match name.strip_prefix('*') {
                Some(n) => (true, n),
                None => (false, name),
            };
            if name.is_empty() || name.contains(['{', '}', '*']) {
                return None;
            }
            if catch_all {
                (i == last).then_some(Segment::CatchAll)
            } else {
                Some(Segment::Param)
            }
        })
        .collect()
}

impl<T: Clone> RouteTable<T> {
    /// A table of `routes`; errors are matchit's, for the template that caused them.
    pub(crate) fn new<'a>(
        routes: impl IntoIterator<Item = (&'a str, T)>,
    ) -> Result<Self, (String, matchit::InsertError)> {
        let mut matchit = matchit::Router::new();
        let mut trie = Some(Node::default());
        let mut len = 0;
        for (template, value) in routes {
            matchit
                .insert(template, value.clone())
                .map_err(|e| (template.to_owned(), e))?;
            len += 1;
            let segs = match (&trie, segments(template)) {
                (Some(_), Some(segs)) => segs,
                _ => {
                    trie = None;
                    continue;
                }
            };
            let Some(root) = trie.as_mut() else { continue };
            let mut node = root;
            let mut ends_in_catch_all = false;
            for seg in segs {
                node = match seg {
                    Segment::Static(s) => {
                        let key = s.as_bytes();
                        let i = match node.statics.iter().position(|c| *c.key == *key) {
                            Some(i) => i,
                            None => {
                                node.statics.push(StaticChild {
                                    word: prefix_word(key),
                                    key: Box::from(key),
                                    node: Node::default(),
                                });
                                node.statics.len() - 1
                            }
                        };
                        &mut node.statics[i].node
                    }
                    Segment::Param => node.param.get_or_insert_with(Default::default),
                    Segment::CatchAll => {
                        ends_in_catch_all = true;
                        break;
                    }
                };
            }
            // matchit accepted the template, so no other template ends here.
            if ends_in_catch_all {
                node.catch_all = Some(value);
            } else {
                node.value = Some(value);
            }
        }
        Ok(RouteTable { matchit, trie, len })
    }

    /// The value of the template `path` matches.
    #[inline]
    pub(crate) fn at(&self, path: &str) -> Option<&T> {
        match &self.trie {
            Some(root) => match path.as_bytes() {
                [b'/', rest @ ..] => root.at(rest),
                _ => None,
            },
            None => self.matchit.at(path).ok().map(|m| m.value),
        }
    }
}

impl<T> Node<T> {
    /// The value for `rest`, the path after the `/` that leads to this node. Works on bytes:
    /// `/` never occurs inside a UTF-8 sequence, and `str` slicing and `find(char)` cost several
    /// times more on paths this short.
    fn at(&self, rest: &[u8]) -> Option<&T> {
        let (seg, tail) = match slash(rest) {
            Some(i) => (&rest[..i], rest.get(i + 1..)),
            None => (rest, None),
        };
        fn next<'n, T>(child: &'n Node<T>, tail: Option<&[u8]>) -> Option<&'n T> {
            match tail {
                Some(t) => child.at(t),
                None => child.value.as_ref(),
            }
        }
        if !self.statics.is_empty() {
            let word = segment_word(rest, seg.len());
            for c in &self.statics {
                // Equal words and lengths decide up to eight bytes; the rest is compared after.
                if c.word == word
                    && c.key.len() == seg.len()
                    && (seg.len() <= 8 || c.key[8..] == seg[8..])
                {
                    if let Some(v) = next(&c.node, tail) {
                        return Some(v);
                    }
                    break;
                }
            }
        }
        // As matchit: a parameter may be empty when a `/` follows it, not at the end.
        if !seg.is_empty() || tail.is_some() {
            if let Some(child) = &self.param {
                if let Some(v) = next(child, tail) {
                    return Some(v);
                }
            }
        }
        if !rest.is_empty() {
            return self.catch_all.as_ref();
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn table(routes: &[&str]) -> RouteTable<usize> {
        RouteTable::new(routes.iter().enumerate().map(|(i, r)| (*r, i))).unwrap()
    }

    /// The word-at-a-time search against a byte scan, for every position of zero, one and
    /// two slashes in paths up to 40 bytes, with bytes just around `/` (`.`, `0`, 0x2e, 0xaf).
    #[test]
    fn slash_finds_the_first_slash_as_a_byte_scan_does() {
        for len in 0..40usize {
            for fill in [b'a', b'.', b'0', 0xaf, 0x2e, 0x30] {
                for first in 0..=len {
                    for second in [first, first + 1, first + 9, len] {
                        let mut p = vec![fill; len];
                        for at in [first, second] {
                            if let Some(b) = p.get_mut(at) {
                                *b = b'/';
                            }
                        }
                        let want = p.iter().position(|&b| b == b'/');
                        assert_eq!(slash(&p), want, "{p:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn whole_segment_tables_use_the_trie_and_others_matchit() {
        assert!(
            table(&["/users/{id}", "/files/{*path}", "/"])
                .trie
                .is_some()
        );
        assert!(table(&["/users/{id}", "/img/x-{name}"]).trie.is_none());
        assert!(table(&["/users/{id}", "/a/{{x}}"]).trie.is_none());
    }

    #[test]
    fn static_before_param_before_catch_all_with_backtracking() {
        let t = table(&[
            "/users/me/settings",
            "/users/{id}/posts",
            "/users/{id}",
            "/files/{*rest}",
            "/",
        ]);
        for (path, want) in [
            ("/users/me/settings", Some(0)),
            ("/users/me/posts", Some(1)),
            ("/users/7", Some(2)),
            ("/files/7/x/y", Some(3)),
            ("/files/", None),
            ("/users/", None),
            ("/", Some(4)),
            ("", None),
            ("/users", None),
        ] {
            assert_eq!(
                t.at(path).copied(),
                t.matchit.at(path).ok().map(|m| *m.value),
                "{path}"
            );
            assert_eq!(t.at(path).copied(), want, "{path}");
        }
    }

    fn segment() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("a".to_owned()),
            Just("b".to_owned()),
            Just("ab".to_owned()),
            Just("".to_owned()),
            Just("{x}".to_owned()),
            Just("{y}".to_owned()),
            Just("{*z}".to_owned()),
            Just("x-{x}".to_owned()),
            // Eight bytes and past eight bytes, differing only after the eighth.
            Just("abcdefgh".to_owned()),
            Just("abcdefghij".to_owned()),
            Just("abcdefghik".to_owned()),
        ]
    }

    fn template() -> impl Strategy<Value = String> {
        prop::collection::vec(segment(), 0..4).prop_map(|s| format!("/{}", s.join("/")))
    }

    fn path() -> impl Strategy<Value = String> {
        prop::collection::vec(
            prop_oneof![
                Just("a"),
                Just("b"),
                Just("ab"),
                Just(""),
                Just("c"),
                Just("a.png"),
                Just("abcdefgh"),
                Just("abcdefghij"),
                Just("abcdefghik"),
                Just("abcdefghijk"),
            ],
            0..5,
        )
        .prop_map(|s| format!("/{}", s.join("/")))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        /// The trie answers as matchit does, for every table matchit accepts.
        #[test]
        fn the_trie_answers_as_matchit(
            templates in prop::collection::vec(template(), 1..8),
            paths in prop::collection::vec(path(), 1..16),
        ) {
            let mut accepted = matchit::Router::new();
            let mut kept = Vec::new();
            for t in &templates {
                if accepted.insert(t.as_str(), ()).is_ok() {
                    kept.push(t.as_str());
                }
            }
            prop_assume!(!kept.is_empty());
            let t = table(&kept);
            for p in &paths {
                let want = t.matchit.at(p).ok().map(|m| *m.value);
                prop_assert_eq!(t.at(p).copied(), want, "{} in {:?}", p, kept);
            }
        }
    }
}
