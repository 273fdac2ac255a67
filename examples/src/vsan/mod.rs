//! The vSAN exporter's parts: a vCenter SOAP [`client`], the collection [`exporter`] engine,
//! its [`state`] file, [`secret`] credentials, and the [`sim`]ulator it runs against when no
//! vCenter is configured.

pub mod cli;
pub mod client;
pub mod config;
pub mod exporter;
pub mod secret;
pub mod sim;
pub mod state;
