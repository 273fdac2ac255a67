//! Sets the compiler version and git commit that `vsanobs_core::build_info!()` reads, for the
//! `vsan_exporter_build_info` metric.

fn main() {
    vsanobs_core::build_info::emit_build_env();
}
