//! The actix-demo's command line: `--help` and `--web.listen-address` only.

#[test]
fn takes_only_a_listen_address() {
    vsanobs_testkit::cli::assert_takes_only_a_listen_address(env!("CARGO_BIN_EXE_actix-demo"));
}
