//! The actix-demo's command line: `--help`, `--web.listen-address` and `--web.config.file` (tested in web_config.rs) only.

#[test]
fn takes_only_a_listen_address() {
    vsanobs_testkit::cli::assert_takes_only_a_listen_address(env!("CARGO_BIN_EXE_actix-demo"));
}
