#![no_main]
//! The streaming VsanPerfQueryPerf parser the exporter uses (`soap::for_each_entity`) agrees
//! with the tree parser on any input: the same entities when both succeed, an error from
//! both otherwise, and no panic.

use libfuzzer_sys::fuzz_target;
use vsanobs_core::vsan::parse_query_perf_response;
use vsanobs_core::vsan::soap::for_each_entity;

fuzz_target!(|data: &[u8]| {
    let Ok(xml) = std::str::from_utf8(data) else {
        return;
    };
    let mut streamed = Vec::new();
    let counted = for_each_entity(xml, |e| streamed.push(e.clone()));
    match (counted, parse_query_perf_response(xml)) {
        (Ok(n), Ok(tree)) => {
            assert_eq!(n, streamed.len());
            assert_eq!(streamed, tree);
        }
        (Err(_), Err(_)) => {}
        (s, t) => panic!("parsers disagree: streaming {s:?}, tree {t:?}"),
    }
});
