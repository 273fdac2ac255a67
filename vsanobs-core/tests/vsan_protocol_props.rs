//! Properties of the vCenter protocol types: what a server writes, a client reads back
//! unchanged (service-versions documents, property-collector pages, faults with detail).

use proptest::prelude::*;
use vsanobs_core::vsan::protocol::Fault;
use vsanobs_core::vsan::protocol::inventory::RetrievePage;
use vsanobs_core::vsan::protocol::property::{MoRef, ObjectContent, PropertyValue};
use vsanobs_core::vsan::protocol::versions::{ServiceNamespace, ServiceVersions, negotiate};

/// Text an XML 1.0 document can carry (no control characters), without surrounding blanks.
fn word() -> impl Strategy<Value = String> {
    "[^\\s\\p{C}]([^\\p{C}]{0,10}[^\\s\\p{C}])?"
}

fn leaf() -> impl Strategy<Value = PropertyValue> {
    prop_oneof![
        "[^\\p{C}]{0,16}".prop_map(PropertyValue::String),
        any::<bool>().prop_map(PropertyValue::Bool),
        any::<i32>().prop_map(PropertyValue::Int),
        any::<i64>().prop_map(PropertyValue::Long),
        (word(), word()).prop_map(|(k, v)| PropertyValue::MoRef(MoRef::new(k, v))),
        prop::collection::vec((word(), word()), 0..4).prop_map(|v| PropertyValue::MoRefs(
            v.into_iter().map(|(k, id)| MoRef::new(k, id)).collect()
        )),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn service_versions_round_trip_and_negotiate_within_the_list(
        namespaces in prop::collection::vec((word(), word(), prop::collection::vec(word(), 0..5)), 0..4),
        known in prop::collection::vec(word(), 0..6),
    ) {
        let doc = ServiceVersions {
            namespaces: namespaces
                .into_iter()
                .map(|(name, version, prior_versions)| ServiceNamespace { name, version, prior_versions })
                .collect(),
        };
        prop_assert_eq!(ServiceVersions::parse(&doc.encode()).expect("parse"), doc.clone());
        let known: Vec<&str> = known.iter().map(String::as_str).collect();
        for ns in &doc.namespaces {
            match negotiate(&doc, &ns.name, &known) {
                Ok(v) => {
                    // The first known version the first entry of that name accepts.
                    let entry = doc.namespace(&ns.name).expect("listed");
                    prop_assert!(entry.accepts(&v));
                    let first = known.iter().find(|k| entry.accepts(k)).copied();
                    prop_assert_eq!(first, Some(v.as_str()));
                }
                Err(e) => prop_assert_eq!(e.reason(), "no_known_version"),
            }
        }
    }

    #[test]
    fn pages_round_trip_in_every_answer_shape(
        objects in prop::collection::vec(
            ((word(), word()), prop::collection::vec((word(), leaf()), 0..4)),
            0..5,
        ),
        token in prop::option::of(word()),
    ) {
        let page = RetrievePage {
            objects: objects
                .into_iter()
                .map(|((k, id), props)| ObjectContent { obj: MoRef::new(k, id), props })
                .collect(),
            token,
        };
        let ex = RetrievePage::decode(&page.encode(true)).expect("ex");
        prop_assert_eq!(&ex, &page);
        prop_assert_eq!(&RetrievePage::decode(&page.encode_continue()).expect("continue"), &page);
        let plain = RetrievePage::decode(&page.encode(false)).expect("plain");
        prop_assert_eq!(plain.objects, page.objects);
        prop_assert_eq!(plain.token, None);
    }

    #[test]
    fn invalid_property_names_survive_the_fault(name in word()) {
        let f = Fault::invalid_property(name);
        prop_assert_eq!(Fault::decode(&f.encode("urn:vim25")), Some(f));
    }
}
