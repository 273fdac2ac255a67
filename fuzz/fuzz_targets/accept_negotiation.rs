#![no_main]
//! Accept-header negotiation never panics on any header value.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = vsanobs_core::negotiate(Some(text));
    }
});
