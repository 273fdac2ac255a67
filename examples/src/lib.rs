//! Shared code of the example binaries: the vSAN exporter's collection engine, the vCenter
//! SOAP client and the vCenter/vSAN simulator ([`vsan`]).

pub mod vsan;
