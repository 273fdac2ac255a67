//! Property: any label value and any HELP text survive encode -> parse unchanged, in both
//! formats, together with the value.

use proptest::prelude::*;
use vsanobs_core::testutil::parse;
use vsanobs_core::{Family, FloatGauge, Format, LabelSet, Registry};

#[derive(Clone, Debug, PartialEq, Eq, Hash, LabelSet)]
struct L {
    a: String,
    b: String,
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]
    #[test]
    fn label_values_and_help_round_trip(
        a in any::<String>(),
        b in "[\\\\\"\n a-z中文🚀]{0,12}",
        help in any::<String>().prop_filter("help must not be blank", |h| !h.trim().is_empty()),
        value in any::<f64>(),
    ) {
        let r = Registry::new();
        let fam: Family<L, FloatGauge> = Family::new();
        r.register("prop", &help, fam.clone()).unwrap();
        fam.get_or_create(&L { a: a.clone(), b: b.clone() }).set(value);
        for format in [Format::PrometheusText, Format::OpenMetrics] {
            let text = r.encode_to_string(format);
            let fams = parse(&text).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
            let f = fams.iter().find(|f| f.name == "prop").ok_or_else(|| TestCaseError::fail("no family"))?;
            prop_assert_eq!(f.help.as_deref(), Some(help.as_str()));
            prop_assert_eq!(f.samples.len(), 1);
            let s = &f.samples[0];
            prop_assert_eq!(s.label("a"), Some(a.as_str()));
            prop_assert_eq!(s.label("b"), Some(b.as_str()));
            if value.is_nan() {
                prop_assert!(s.value.is_nan());
            } else {
                prop_assert_eq!(s.value, value);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]
    /// The parser and the negotiator take any input without panicking.
    #[test]
    fn parser_and_negotiation_never_panic(input in any::<String>(), lines in proptest::collection::vec("[#a-z_{}=\",\\\\ 0-9.+-]{0,40}", 0..8)) {
        let _ = parse(&input);
        let _ = parse(&lines.join("\n"));
        let _ = vsanobs_core::negotiate(Some(&input));
        let _ = vsanobs_core::negotiate(Some(&lines.join(",")));
    }

    /// Whatever a registry encodes, the parser reads back with the same number of samples.
    #[test]
    fn sample_counts_survive(n in 0usize..20, buckets in proptest::collection::vec(0.0f64..100.0, 0..6)) {
        let per_series = vsanobs_core::Histogram::new(buckets.clone()).bounds().len() + 3;
        let r = Registry::new();
        let fam: Family<L, vsanobs_core::Histogram> =
            Family::with_constructor(100, move || vsanobs_core::Histogram::new(buckets.clone()));
        r.register("h", "H.", fam.clone()).unwrap();
        for i in 0..n {
            fam.get_or_create(&L { a: i.to_string(), b: String::new() }).observe(i as f64);
        }
        for format in [Format::PrometheusText, Format::OpenMetrics] {
            let text = r.encode_to_string(format);
            let fams = parse(&text).unwrap();
            let h = fams.iter().find(|f| f.name == "h");
            let got = h.map_or(0, |f| f.samples.len());
            // OpenMetrics adds one `_created` sample per series.
            let per_series = per_series + usize::from(format == Format::OpenMetrics);
            prop_assert_eq!(got, if n == 0 { 0 } else { n * per_series });
        }
    }
}
