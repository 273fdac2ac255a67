//! The service-versions reader and the negotiation never panic on any document, and a
//! document that negotiates names a version of the known list.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vsanobs_core::vsan::protocol::versions::{
    KNOWN_VIM25_VERSIONS, KNOWN_VSAN_VERSIONS, ServiceVersions, negotiate_document,
    parse_soap_action,
};

fuzz_target!(|data: &[u8]| {
    let Ok(xml) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(doc) = ServiceVersions::parse(xml) {
        // What a server writes from it reads back the same.
        assert_eq!(ServiceVersions::parse(&doc.encode()).ok(), Some(doc));
    }
    for (ns, known) in [("urn:vim25", KNOWN_VIM25_VERSIONS), ("urn:vsan", KNOWN_VSAN_VERSIONS)] {
        if let Ok(v) = negotiate_document(200, xml, ns, known) {
            assert!(known.contains(&v.as_str()));
        }
    }
    let _ = parse_soap_action(xml);
});
