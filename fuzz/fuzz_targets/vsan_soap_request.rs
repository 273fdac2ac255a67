//! The protocol readers never panic on any input: a request envelope and every typed
//! argument reader, and the answers a client decodes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vsanobs_core::vsan::protocol::fetch::Fetch;
use vsanobs_core::vsan::protocol::inventory::{
    CancelRetrieveProperties, CreateContainerView, RetrievePage, RetrieveResult,
};
use vsanobs_core::vsan::protocol::perf::SupportedEntityTypes;
use vsanobs_core::vsan::protocol::session::{CurrentTime, ServiceContent, UserSession};
use vsanobs_core::vsan::protocol::{Fault, IncomingRequest};

fuzz_target!(|data: &[u8]| {
    let Ok(xml) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(req) = IncomingRequest::decode(xml) {
        let _ = req.method();
        let _ = req.login();
        let _ = req.create_container_view();
        let _ = req.destroy_view();
        let _ = req.retrieve_properties();
        let _ = req.continue_retrieve_properties();
        let _ = req.cancel_retrieve_properties();
        let _ = req.fetch();
        let _ = req.perf_query();
    }
    let _ = Fault::decode(xml);
    let _ = ServiceContent::decode(xml);
    let _ = UserSession::decode(xml);
    let _ = CurrentTime::decode_response(xml);
    let _ = CreateContainerView::decode_response(xml);
    let _ = RetrieveResult::decode(xml);
    let _ = RetrievePage::decode(xml);
    let _ = CancelRetrieveProperties::decode_response(xml);
    let _ = Fetch::decode_response(xml);
    let _ = SupportedEntityTypes::decode(xml);
});
