//! The bucket arithmetic of native (exponential) histograms: which bucket a value falls in at
//! a schema ([`native_bucket_index`]) and what a bucket covers ([`native_bucket_bounds`]).
//!
//! At schema `s` (from -4 to 8) the growth factor is `base = 2^(2^-s)` and bucket `i` covers
//! `(base^(i-1), base^i]`: bucket 0 is `(1/base, 1]`, bucket 1 is `(1, base]`. The index
//! follows the Prometheus definition and client_golang's way of computing it, so a value
//! lands in the same bucket here and there:
//!
//! - split `|v|` into `frac * 2^exp` with `frac` in `[0.5, 1)` (subnormals included);
//! - for `s > 0`, the index is `(exp - 1) * 2^s` plus the position of the first of the
//!   `2^s` bounds `2^(j/2^s) / 2` (`j = 0..2^s`) that is `>= frac`; the bounds are built
//!   once per schema by multiplying by `base` and, for every second bound, taking the
//!   coarser schema's value, as the reference implementation does;
//! - for `s <= 0`, the index is `exp` (one less when `frac` is exactly one half, since a
//!   power of two is the upper bound of its bucket), shifted right by `-s` rounding up;
//! - `±Inf` goes one bucket past the one holding `±f64::MAX`, whose upper bound is
//!   reported as `f64::MAX`.
//!
//! # Example
//!
//! ```
//! use vsanobs_core::{native_bucket_bounds, native_bucket_index};
//!
//! assert_eq!(native_bucket_index(0, 1.0), Some(0)); // (0.5, 1]
//! assert_eq!(native_bucket_index(0, 1.5), Some(1)); // (1, 2]
//! assert_eq!(native_bucket_index(3, 2.0), Some(8)); // 2 = base^8 at schema 3
//! assert_eq!(native_bucket_bounds(-1, 1), (1.0, 4.0));
//! let i = native_bucket_index(5, 0.3).unwrap();
//! let (lo, hi) = native_bucket_bounds(5, i);
//! assert!(lo < 0.3 && 0.3 <= hi);
//! ```
//!
//! ## Note
//! The index of a positive finite value costs a `frexp` (bit operations) and, above
//! schema 0, a binary search over at most 256 bounds held in a table built on first use.

use std::sync::OnceLock;

/// The lowest schema native histograms support (growth factor 65536).
pub const NATIVE_SCHEMA_MIN: i8 = -4;
/// The highest schema native histograms support (growth factor about 1.0027).
pub const NATIVE_SCHEMA_MAX: i8 = 8;

/// The growth factor `2^(2^-s)` of schemas 0 to 8 as the reference table was built with:
/// the correctly rounded value, except at schema 1 where it is one unit in the last place
/// below `sqrt(2)` (what Go's `math.Exp2(0.5)` returns). With these factors the recurrence in
/// [`tables`] gives client_golang's bound table bit for bit (its values are not all correctly
/// rounded, and a bucket index at a bound depends on them).
const FACTORS: [f64; 9] = [
    2.0,
    // One unit in the last place below `SQRT_2` (0x3ff6_a09e_667f_3bcd).
    f64::from_bits(0x3ff6_a09e_667f_3bcc),
    1.189207115002721,
    1.0905077326652577,
    1.0442737824274138,
    1.0218971486541166,
    1.0108892860517005,
    1.0054299011128027,
    1.0027112750502025,
];

/// The fractional upper bounds of schemas 0 to 8 (`bounds[s][j] = 2^(j / 2^s) / 2`), and for
/// each schema a lookup table that replaces the search for `frac`'s position: `frac`'s top
/// `s + 1` mantissa bits name one of `2^(s+1)` equal slices of `[0.5, 1)`, and `first[s][slice]`
/// counts the bounds below the slice's start. A slice (width `2^-(s+2)`) is narrower than
/// the gap between two bounds (at least `(2^(2^-s) - 1) / 2`, about `0.35 * 2^-s`), so at most
/// one bound lies inside it and one comparison finishes the search.
struct Tables {
    bounds: [Box<[f64]>; 9],
    first: [Box<[u16]>; 9],
}

fn tables() -> &'static Tables {
    static TABLES: OnceLock<Tables> = OnceLock::new();
    TABLES.get_or_init(|| {
        let mut bounds: [Box<[f64]>; 9] = Default::default();
        for s in 0..9usize {
            let n = 1usize << s;
            let factor = FACTORS[s];
            let mut b = Vec::with_capacity(n);
            b.push(0.5);
            for j in 1..n {
                // Every second bound is a bound of the coarser schema: reuse it rather than
                // accumulate one more rounding error.
                let v = if j % 2 == 0 {
                    bounds[s - 1][j / 2]
                } else {
                    b[j - 1] * factor
                };
                b.push(v);
            }
            bounds[s] = b.into_boxed_slice();
        }
        let mut first: [Box<[u16]>; 9] = Default::default();
        for (s, f) in first.iter_mut().enumerate() {
            let slices = 1usize << (s + 1);
            *f = (0..slices)
                .map(|k| {
                    let start = 0.5 + k as f64 / (slices as f64 * 2.0);
                    bounds[s].partition_point(|x| *x < start) as u16
                })
                .collect();
        }
        Tables { bounds, first }
    })
}

/// The position of the first bound `>= frac` among schema `s`'s bounds (`s` in 1..=8,
/// `frac` in `[0.5, 1)`): a table lookup and one comparison.
#[inline]
fn position(t: &Tables, s: usize, frac: f64) -> usize {
    let slice = ((frac.to_bits() & ((1 << 52) - 1)) >> (51 - s)) as usize;
    let i = usize::from(t.first[s][slice]);
    let b = &t.bounds[s];
    i + usize::from(b.get(i).is_some_and(|x| *x < frac))
}

/// `frac` in `[0.5, 1)` and `exp` with `v = frac * 2^exp`, for positive finite `v`.
#[inline]
pub(crate) fn frexp(v: f64) -> (f64, i32) {
    let bits = v.to_bits();
    let e = ((bits >> 52) & 0x7ff) as i32;
    if e == 0 {
        // Subnormal: scale into the normal range first (exact).
        let (f, x) = frexp(v * f64::from_bits(0x43f0_0000_0000_0000)); // 2^64
        return (f, x - 64);
    }
    let frac = f64::from_bits((bits & !(0x7ff << 52)) | (1022u64 << 52));
    (frac, e - 1022)
}

/// `frac * 2^exp` with a single rounding (exact unless the result is subnormal).
pub(crate) fn ldexp(frac: f64, mut exp: i32) -> f64 {
    let mut x = frac;
    // 2^1000 and 2^-1000 are exact; a step keeps `x` normal, so only the last multiplication
    // can round.
    while exp > 1000 {
        x *= f64::from_bits(((1023 + 1000) as u64) << 52);
        exp -= 1000;
    }
    while exp < -1000 {
        x *= f64::from_bits(((1023 - 1000) as u64) << 52);
        exp += 1000;
    }
    x * f64::from_bits(((1023 + exp) as u64) << 52)
}

/// The index of the bucket holding `|v|` at `schema`, for `|v|` positive (finite or
/// infinite). The caller keeps `schema` within range.
#[inline]
pub(crate) fn index_abs(schema: i8, a: f64) -> i32 {
    let (v, inf) = if a == f64::INFINITY {
        (f64::MAX, 1)
    } else {
        (a, 0)
    };
    let (frac, exp) = frexp(v);
    let key = if schema > 0 {
        let s = schema as usize;
        position(tables(), s, frac) as i32 + (exp - 1) * (1 << s)
    } else {
        let key = if frac == 0.5 { exp - 1 } else { exp };
        let shift = -i32::from(schema);
        (key + (1 << shift) - 1) >> shift
    };
    key + inf
}

/// The index of the bucket `v` falls in at `schema`, as Prometheus defines it: bucket `i`
/// covers `(base^(i-1), base^i]` for positive values and the mirror image for negative ones
/// (so `v` and `-v` share an index). `±Inf` gets the index one past the bucket of
/// `±f64::MAX`.
///
/// Zero, NaN and a schema outside -4..=8 have no bucket: the result is `None`. (A native
/// histogram counts values within its zero threshold in the zero bucket and NaN only in its
/// count and sum.)
///
/// # Example
/// ```
/// use vsanobs_core::native_bucket_index;
///
/// assert_eq!(native_bucket_index(0, 4.0), Some(2));   // (2, 4]
/// assert_eq!(native_bucket_index(0, -4.0), Some(2));  // the negative side mirrors it
/// assert_eq!(native_bucket_index(-2, 16.0), Some(1)); // (1, 16] at growth factor 16
/// assert_eq!(native_bucket_index(3, f64::INFINITY), Some(8193));
/// assert_eq!(native_bucket_index(3, f64::NAN), None);
/// /// ```
pub fn native_bucket_index(schema: i8, v: f64) -> Option<i32> {
    if v.is_nan() || v == 0.0 || !(NATIVE_SCHEMA_MIN..=NATIVE_SCHEMA_MAX).contains(&schema) {
        return None;
    }
    Some(index_abs(schema, v.abs()))
}

/// The upper bound of bucket `index` at `schema` (positive side), as client_golang reports
/// it: the last finite bucket ends at `f64::MAX` and the one after it (±Inf) at `+Inf`.
pub(crate) fn upper_bound(schema: i8, index: i32) -> f64 {
    if schema < 0 {
        let exp = i64::from(index) << -i32::from(schema);
        return match exp {
            1024 => f64::MAX,
            e if e > 1024 => f64::INFINITY,
            e if e < -1100 => 0.0,
            e => ldexp(1.0, e as i32),
        };
    }
    let b = &tables().bounds[schema as usize];
    let j = (index & ((1 << schema) - 1)) as usize;
    let exp = i64::from(index >> schema) + 1;
    let frac = b[j];
    if frac == 0.5 && exp == 1025 {
        return f64::MAX;
    }
    match exp {
        e if e > 1025 => f64::INFINITY,
        e if e < -1100 => 0.0,
        e => ldexp(frac, e as i32),
    }
}

/// The bounds `(lower, upper]` of positive bucket `index` at `schema` (negate both for the
/// negative bucket of the same index). A schema outside -4..=8 is clamped into it.
///
/// # Example
/// ```
/// use vsanobs_core::native_bucket_bounds;
///
/// assert_eq!(native_bucket_bounds(0, 0), (0.5, 1.0));
/// assert_eq!(native_bucket_bounds(-4, 1), (1.0, 65536.0));
/// assert_eq!(native_bucket_bounds(0, 1024), (2f64.powi(1023), f64::MAX));
/// assert_eq!(native_bucket_bounds(0, 1025), (f64::MAX, f64::INFINITY));
/// ```
pub fn native_bucket_bounds(schema: i8, index: i32) -> (f64, f64) {
    let s = schema.clamp(NATIVE_SCHEMA_MIN, NATIVE_SCHEMA_MAX);
    (
        upper_bound(s, index.saturating_sub(1)),
        upper_bound(s, index),
    )
}

/// The index at `schema - k` of the bucket `index` at `schema`: buckets `2j-1` and `2j` of
/// one schema merge into bucket `j` of the next lower one, so this is `ceil(index / 2^k)`.
#[inline]
pub(crate) fn coarsen(index: i32, k: u32) -> i32 {
    if k == 0 {
        return index;
    }
    ((index - 1) >> k) + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `2^e` exactly, subnormals included (`powi` is not exact there).
    fn pow2(e: i32) -> f64 {
        if e >= -1022 {
            f64::from_bits(((e + 1023) as u64) << 52)
        } else {
            f64::from_bits(1 << (e + 1074))
        }
    }
    use proptest::prelude::*;

    /// `lower < v <= upper` with the bounds of `v`'s bucket, checked without rounding: for a
    /// subnormal `v` the comparison is made on `v` and the bounds scaled up by `2^200`, since
    /// the rounded subnormal bounds of neighbouring buckets can coincide.
    fn assert_contained(schema: i8, v: f64) {
        let i = native_bucket_index(schema, v).expect("a bucket");
        let a = v.abs();
        if a == f64::INFINITY {
            assert_eq!(native_bucket_bounds(schema, i), (f64::MAX, f64::INFINITY));
            return;
        }
        let (lo, hi) = native_bucket_bounds(schema, i);
        if a >= f64::MIN_POSITIVE {
            assert!(
                lo < a && a <= hi,
                "schema {schema}: {a:e} in bucket {i} = ({lo:e}, {hi:e}]"
            );
        } else {
            // Scaled: the same (frac, exp) decomposition, 200 binary orders higher.
            let scaled = a * 2f64.powi(200);
            let up = |idx: i32| {
                if schema < 0 {
                    ldexp(1.0, (idx << -schema) + 200)
                } else {
                    let b = &tables().bounds[schema as usize];
                    ldexp(
                        b[(idx & ((1 << schema) - 1)) as usize],
                        (idx >> schema) + 1 + 200,
                    )
                }
            };
            assert!(
                up(i - 1) < scaled && scaled <= up(i),
                "schema {schema}: subnormal {a:e} in bucket {i}"
            );
        }
    }

    #[test]
    fn table_matches_the_reference_values() {
        // Values of client_golang's bound table (facts of the reference implementation).
        let t = &tables().bounds;
        assert_eq!(t[0][..], [0.5]);
        // One below the correctly rounded sqrt(0.5), as in the reference table.
        assert_eq!(t[1][..], [0.5, 0.7071067811865475]);
        assert_eq!(
            t[2][..],
            [
                0.5,
                0.5946035575013605,
                0.7071067811865475,
                0.8408964152537144
            ]
        );
        assert_eq!(t[4][5], 0.620928906036742);
        assert_eq!(t[6][33], 0.7148066691959849);
        assert_eq!(t[7][101], 0.8639756154809185);
        assert_eq!(t[8][77], 0.6159056423670379);
        assert_eq!(t[8][200], 0.8593096490612387);
        assert_eq!(t[3][1], 0.5452538663326288);
        assert_eq!(t[3][7], 0.9170040432046711);
        assert_eq!(t[8][255], 0.9972960560854698);
        assert_eq!(t[8][1], 0.5013556375251013);
        assert_eq!(t[8][128], 0.7071067811865475);
        for table in &t[1..] {
            for w in table.windows(2) {
                assert!(w[0] < w[1]);
            }
            assert!(*table.last().unwrap() < 1.0);
        }
    }

    #[test]
    fn lookup_equals_search() {
        let t = tables();
        for s in 1..9usize {
            let b = &t.bounds[s];
            let mut probes: Vec<f64> = b
                .iter()
                .flat_map(|x| [*x, x.next_up(), x.next_down()])
                .collect();
            probes.extend((0..4096).map(|k| 0.5 + f64::from(k) / 8192.0));
            probes.push(1.0f64.next_down());
            for frac in probes.into_iter().filter(|f| (0.5..1.0).contains(f)) {
                assert_eq!(
                    position(t, s, frac),
                    b.partition_point(|x| *x < frac),
                    "schema {s}, {frac}"
                );
            }
        }
    }

    #[test]
    fn reference_indices() {
        // Results of client_golang's algorithm for these inputs.
        assert_eq!(native_bucket_index(3, 1.0), Some(0));
        assert_eq!(native_bucket_index(3, 1.0000001), Some(1));
        assert_eq!(native_bucket_index(3, 2.0), Some(8));
        assert_eq!(native_bucket_index(3, 0.5), Some(-8));
        assert_eq!(native_bucket_index(0, 0.75), Some(0));
        assert_eq!(native_bucket_index(-1, 4.0), Some(1));
        assert_eq!(native_bucket_index(-1, 4.000001), Some(2));
        assert_eq!(native_bucket_index(-1, 0.25), Some(-1));
        assert_eq!(native_bucket_index(-1, 0.3), Some(0));
        assert_eq!(native_bucket_index(-1, 0.2), Some(-1));
        assert_eq!(native_bucket_index(-4, 65536.0), Some(1));
        assert_eq!(native_bucket_index(-4, 65537.0), Some(2));
        assert_eq!(native_bucket_index(8, 1.5), Some(150));
        assert_eq!(native_bucket_index(3, f64::MAX), Some(8192));
        assert_eq!(native_bucket_index(3, f64::INFINITY), Some(8193));
        assert_eq!(native_bucket_index(-4, f64::INFINITY), Some(65));
        assert_eq!(native_bucket_index(0, f64::from_bits(1)), Some(-1074));
        assert_eq!(native_bucket_index(-4, f64::from_bits(1)), Some(-67));
        assert_eq!(native_bucket_index(9, 1.0), None);
        assert_eq!(native_bucket_index(-5, 1.0), None);
        assert_eq!(native_bucket_bounds(3, 8192).1, f64::MAX);
        assert_eq!(native_bucket_bounds(3, 8193).1, f64::INFINITY);
    }

    #[test]
    fn edges_at_every_schema() {
        for schema in NATIVE_SCHEMA_MIN..=NATIVE_SCHEMA_MAX {
            let mut probes = vec![
                f64::MAX,
                -f64::MAX,
                f64::INFINITY,
                f64::NEG_INFINITY,
                f64::MIN_POSITIVE,
                f64::from_bits(1),
                f64::from_bits(0x000f_ffff_ffff_ffff),
                f64::EPSILON,
                2.938735877055719e-39, // client_golang's default zero threshold, 2^-128
            ];
            for e in -1074..=1023 {
                let p = pow2(e);
                probes.extend([p, -p, p.next_up(), p.next_down()]);
            }
            // Every bound of a few octaves and its neighbours.
            for i in -3 * (1 << schema.max(0))..3 * (1 << schema.max(0)) {
                let (_, hi) = native_bucket_bounds(schema, i);
                probes.extend([hi, hi.next_up(), hi.next_down()]);
            }
            for v in probes {
                if v != 0.0 {
                    assert_contained(schema, v);
                }
            }
        }
    }

    #[test]
    fn coarsening_merges_pairs() {
        for schema in -3..=8i8 {
            for i in -300..300 {
                let (lo, hi) = native_bucket_bounds(schema, i);
                let j = coarsen(i, 1);
                let (clo, chi) = native_bucket_bounds(schema - 1, j);
                assert!(clo <= lo && hi <= chi, "schema {schema} bucket {i} -> {j}");
            }
        }
        assert_eq!(coarsen(-1, 1), 0);
        assert_eq!(coarsen(-2, 1), -1);
        assert_eq!(coarsen(2, 1), 1);
        assert_eq!(coarsen(3, 1), 2);
        assert_eq!(coarsen(8193, 3), 1025);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]
        #[test]
        fn every_value_lands_in_its_bucket(bits in any::<u64>(), schema in NATIVE_SCHEMA_MIN..=NATIVE_SCHEMA_MAX) {
            let v = f64::from_bits(bits);
            if v.is_nan() || v == 0.0 {
                prop_assert_eq!(native_bucket_index(schema, v), None);
            } else {
                assert_contained(schema, v);
                prop_assert_eq!(native_bucket_index(schema, v), native_bucket_index(schema, -v));
            }
        }

        #[test]
        fn index_matches_the_logarithm(v in 1e-300f64..1e300, schema in NATIVE_SCHEMA_MIN..=NATIVE_SCHEMA_MAX) {
            // The definition, ceil(log2(v) * 2^schema), where v is not within rounding
            // distance of a bound.
            let x = v.log2() * 2f64.powi(i32::from(schema));
            prop_assume!((x - x.round()).abs() > 1e-6);
            prop_assert_eq!(native_bucket_index(schema, v), Some(x.ceil() as i32));
        }

        #[test]
        fn coarser_index_is_ceiling_half(v in 1e-300f64..1e300, schema in -3i8..=8) {
            let i = native_bucket_index(schema, v).unwrap();
            prop_assert_eq!(native_bucket_index(schema - 1, v), Some(coarsen(i, 1)));
        }
    }
}
