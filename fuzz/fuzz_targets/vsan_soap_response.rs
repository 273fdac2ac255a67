#![no_main]
//! The VsanPerfQueryPerf response parser and the entity mapping never panic: malformed input
//! is a typed error.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(xml) = std::str::from_utf8(data) {
        if let Ok(entities) = vsanobs_core::vsan::parse_query_perf_response(xml) {
            for e in &entities {
                let _ = vsanobs_core::vsan::map_entity(e, None);
            }
        }
    }
});
