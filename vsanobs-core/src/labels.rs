//! Typed label sets: a label set is a type, not a positional `&[&str]`.
//!
//! # Example
//!
//! ```
//! use vsanobs_core::{LabelSet, LabelValue};
//!
//! #[derive(Clone, Debug, PartialEq, Eq, Hash, LabelValue)]
//! enum Op { Read, Write, #[label(rename = "resync_read")] ResyncRead }
//!
//! #[derive(Clone, Debug, PartialEq, Eq, Hash, LabelSet)]
//! struct IoLabels { host: String, op: Op, disk: u16 }
//!
//! assert_eq!(IoLabels::NAMES, &["host", "op", "disk"]);
//! let mut values = Vec::new();
//! IoLabels { host: "esx-1".into(), op: Op::ResyncRead, disk: 7 }
//!     .visit_values(&mut |v| values.push(v.to_owned()));
//! assert_eq!(values, ["esx-1", "resync_read", "7"]);
//! ```
//!
//! ## Note
//! Visiting a label set never allocates: integers are formatted into a stack buffer and
//! strings are handed out by reference.

use std::borrow::Cow;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// A closed set of labels with fixed names, usable as the key of a [`Family`](crate::Family).
///
/// Derive it with `#[derive(LabelSet)]` on a struct with named fields; each field's type
/// implements [`LabelValue`]. `()` is the empty label set.
pub trait LabelSet: Clone + Eq + Hash + Send + Sync + 'static {
    /// The label names, in the order [`visit_values`](Self::visit_values) yields values.
    const NAMES: &'static [&'static str];
    /// Calls `f` once per label with its (unescaped) value, in [`NAMES`](Self::NAMES) order.
    fn visit_values(&self, f: &mut dyn FnMut(&str));
    /// Feeds the label values to `state`: the hash a [`Family`](crate::Family) looks series
    /// up by. Label sets that are equal (`==`) must feed the same data.
    ///
    /// The default is the type's own [`Hash`]. `#[derive(LabelSet)]` instead feeds each value
    /// once through [`LabelValue::hash_value`] (strings as one `write` of their bytes, no
    /// terminator), which costs fewer hasher rounds; so a derived label set must not have a
    /// hand-written `PartialEq` under which different label values compare equal.
    #[inline]
    fn hash_values<H: Hasher>(&self, state: &mut H) {
        self.hash(state)
    }
}

impl LabelSet for () {
    const NAMES: &'static [&'static str] = &[];
    fn visit_values(&self, _f: &mut dyn FnMut(&str)) {}
}

/// A value that can stand in a label: strings, integers, booleans, enums with
/// `#[derive(LabelValue)]`, and `Option`s of those (`None` is the empty value).
pub trait LabelValue {
    /// Calls `f` exactly once with the value's text.
    fn visit(&self, f: &mut dyn FnMut(&str));
    /// Feeds the value to `state` for a derived [`LabelSet::hash_values`]. Values that are
    /// equal (`==`) must feed the same data. The default writes the value's text (see
    /// [`visit`](Self::visit)) as one `write`.
    #[inline]
    fn hash_value<H: Hasher>(&self, state: &mut H)
    where
        Self: Sized,
    {
        self.visit(&mut |v| state.write(v.as_bytes()))
    }
}

macro_rules! str_label_value {
    ($($t:ty),*) => {$(
        impl LabelValue for $t {
            fn visit(&self, f: &mut dyn FnMut(&str)) {
                f(self)
            }
            #[inline]
            fn hash_value<H: Hasher>(&self, state: &mut H) {
                state.write(self.as_bytes())
            }
        }
    )*};
}
impl LabelValue for str {
    fn visit(&self, f: &mut dyn FnMut(&str)) {
        f(self)
    }
}
str_label_value!(String, &'static str, Cow<'static, str>, Arc<str>);
impl LabelValue for bool {
    fn visit(&self, f: &mut dyn FnMut(&str)) {
        f(if *self { "true" } else { "false" })
    }
    #[inline]
    fn hash_value<H: Hasher>(&self, state: &mut H) {
        state.write_u8(u8::from(*self))
    }
}
impl<T: LabelValue> LabelValue for Option<T> {
    fn visit(&self, f: &mut dyn FnMut(&str)) {
        match self {
            Some(v) => v.visit(f),
            None => f(""),
        }
    }
    #[inline]
    fn hash_value<H: Hasher>(&self, state: &mut H) {
        match self {
            Some(v) => v.hash_value(state),
            None => state.write(b""),
        }
    }
}

macro_rules! int_label_value {
    ($($t:ty),*) => {$(
        impl LabelValue for $t {
            fn visit(&self, f: &mut dyn FnMut(&str)) {
                let mut buf = itoa::Buffer::new();
                f(buf.format(*self))
            }
            #[inline]
            fn hash_value<H: Hasher>(&self, state: &mut H) {
                // Sign-extended: equal values feed equal words.
                state.write_u64(*self as i128 as u64)
            }
        }
    )*};
}
int_label_value!(u8, u16, u32, u64, usize, i8, i16, i32, i64, isize);

/// Whether `name` is a valid metric name (`[a-zA-Z_:][a-zA-Z0-9_:]*`).
pub fn is_valid_metric_name(name: &str) -> bool {
    let b = name.as_bytes();
    match b.first() {
        Some(c) if c.is_ascii_alphabetic() || *c == b'_' || *c == b':' => {}
        _ => return false,
    }
    b.iter()
        .all(|c| c.is_ascii_alphanumeric() || *c == b'_' || *c == b':')
}

/// Whether `name` is a valid label name (`[a-zA-Z_][a-zA-Z0-9_]*`, not starting with `__`,
/// which Prometheus reserves).
pub fn is_valid_label_name(name: &str) -> bool {
    let b = name.as_bytes();
    match b.first() {
        Some(c) if c.is_ascii_alphabetic() || *c == b'_' => {}
        _ => return false,
    }
    !name.starts_with("__") && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_')
}

/// The value every label of a family's overflow series carries (the series that label sets
/// refused past the family's series cap share).
pub const OVERFLOW_LABEL_VALUE: &str = "__overflow__";

/// Labels of one series as a [`Visitor`](crate::encoding::Visitor) sees them: the registry's
/// constant labels followed by the series' own.
#[derive(Clone, Copy)]
pub struct LabelsRef<'a> {
    pub(crate) consts: &'a [(String, String)],
    pub(crate) own: OwnLabels<'a>,
}

#[derive(Clone, Copy)]
pub(crate) enum OwnLabels<'a> {
    None,
    Typed(&'static [&'static str], &'a dyn ErasedLabelSet),
    /// Every label of the set carries [`OVERFLOW_LABEL_VALUE`].
    Overflow(&'static [&'static str]),
    Pairs(&'a [(String, String)]),
    /// One extra pair (used for library self-metrics such as `{family="..."}`).
    One(&'static str, &'a str),
    /// Borrowed pairs in several slices, read in order (a streaming collector's entity
    /// labels followed by its per-metric labels).
    Slices(&'a [&'a [(&'a str, &'a str)]]),
}

impl std::fmt::Debug for LabelsRef<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut m = f.debug_map();
        self.for_each(&mut |k, v| {
            m.entry(&k, &v);
        });
        m.finish()
    }
}

pub(crate) trait ErasedLabelSet: Send + Sync {
    fn visit_values_dyn(&self, f: &mut dyn FnMut(&str));
}
impl<L: LabelSet> ErasedLabelSet for L {
    fn visit_values_dyn(&self, f: &mut dyn FnMut(&str)) {
        self.visit_values(f)
    }
}

impl<'a> LabelsRef<'a> {
    /// Whether the series has no labels at all.
    pub fn is_empty(&self) -> bool {
        self.consts.is_empty()
            && match self.own {
                OwnLabels::None => true,
                OwnLabels::Typed(n, _) | OwnLabels::Overflow(n) => n.is_empty(),
                OwnLabels::Pairs(p) => p.is_empty(),
                OwnLabels::One(..) => false,
                OwnLabels::Slices(parts) => parts.iter().all(|p| p.is_empty()),
            }
    }

    /// Calls `f` with each label name and (unescaped) value, constant labels first.
    pub fn for_each(&self, f: &mut dyn FnMut(&str, &str)) {
        for (k, v) in self.consts {
            f(k, v);
        }
        match self.own {
            OwnLabels::None => {}
            OwnLabels::Typed(names, set) => {
                let mut i = 0;
                set.visit_values_dyn(&mut |v| {
                    if let Some(n) = names.get(i) {
                        f(n, v);
                    }
                    i += 1;
                });
            }
            OwnLabels::Overflow(names) => {
                for n in names {
                    f(n, OVERFLOW_LABEL_VALUE);
                }
            }
            OwnLabels::Pairs(p) => {
                for (k, v) in p {
                    f(k, v);
                }
            }
            OwnLabels::One(k, v) => f(k, v),
            OwnLabels::Slices(parts) => {
                for (k, v) in parts.iter().flat_map(|p| p.iter()) {
                    f(k, v);
                }
            }
        }
    }

    /// The labels as owned pairs.
    pub fn to_pairs(self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        self.for_each(&mut |k, v| out.push((k.to_owned(), v.to_owned())));
        out
    }
}
