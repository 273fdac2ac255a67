#![no_main]
//! The exposition parser takes any text without panicking, and whatever it accepts from a
//! registry's own output it reads back identically.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = vsanobs_core::testutil::parse(text);
    }
});
