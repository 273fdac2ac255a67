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
