#![no_main]
//! The CSV, timestamp, entity-id and counter-id parsers never panic.

use libfuzzer_sys::fuzz_target;
use vsanobs_core::vsan::csv;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = csv::parse_entity_ref(s);
        let _ = csv::parse_timestamp(s);
        let _ = csv::parse_xsd_datetime(s);
        let _ = vsanobs_core::vsan::normalise_counter_id(s);
        if let (Ok(ts), Ok(values)) = (csv::parse_sample_info(s), csv::parse_values(s)) {
            let _ = csv::latest_valid(&ts, &values);
        }
    }
});
