//! # vsan-exporter
//!
//! The vSAN performance exporter built on vsanobs: it collects `VsanPerfQueryPerf` answers
//! from each configured vCenter (or from the built-in [`vcsim`] simulator when none is
//! given) and serves them on `/metrics`.
//!
//! - [`engine`]: background collection per cluster, the scrape-time collectors (one per
//!   family, named after it), self-metrics.
//! - `store`: compact per-cluster tables the engine keeps between collections.
//! - [`client`]: the vCenter SOAP client (login, inventory, vSAN queries, TLS).
//! - [`config`]: the `--config.file` format and `VCENTER_*` environment.
//! - [`secret`]: credentials that never reach logs or output.
//! - [`shard`]: which clusters a replica collects when several share the vCenters.
//! - [`summary`]: health, capacity and resync of each cluster (the vSAN summary calls).
//! - [`state`]: the state file that carries the last sample time across restarts.
//! - [`push`]: `--remote-write.url`, every vSAN interval through a sample pool to remote
//!   write at its own timestamp.
//!
//! It builds on vsanobs-core's `vsan` feature: `vsanobs_core::vsan::catalogue` (families,
//! units), `vsan::mapping` (latest samples, the interval-delta rule of `DeltaTotal` that the
//! store's counters follow), `vsan::soap::for_each_entity` (streamed answers) and
//! `vsan::protocol`, the typed SOAP calls the client sends and the simulator answers.
//!
//! The binary (`src/main.rs`) wires these together; `scripts/run` builds and runs it.

pub mod artifacts;
pub mod client;
pub mod config;
pub mod engine;
pub mod push;
pub mod secret;
pub mod shard;
pub mod state;
mod store;
pub mod summary;
