//! `--help` on the vsan-exporter binary: exit 0, the usage text on stdout, every flag named.

use std::process::Command;

use vsanobs_testkit::cli::help;

#[test]
fn vsan_exporter_help_names_every_flag() {
    let text = help(env!("CARGO_BIN_EXE_vsan-exporter"));
    for flag in [
        "--web.listen-address",
        "--config.file",
        "--state.file",
        "--collect.interval",
        "--collect.cluster-timeout",
        "--collect.max-concurrency",
        "--collect.lookback",
        "--collect.max-raw-series",
        "--collect.health-interval",
        "--no-collect.health",
        "--no-collect.capacity",
        "--no-collect.resync",
        "--shard",
        "--total-shards",
        "--vcenter.ca-file",
        "--vcenter.insecure",
        "--sim.clusters",
        "--sim.esa-clusters",
        "--sim.hosts",
        "--sim.disk-groups",
        "--sim.interval",
        "--remote-write.url",
        "--remote-write.pool-size",
        "--remote-write.max-series",
        "--remote-write.batch-size",
        "--remote-write.bearer-token-file",
        "--remote-write.basic-auth.username",
        "--remote-write.basic-auth.password-file",
        "VCENTER_URL",
        "VCENTER_PASSWORD_FILE",
    ] {
        assert!(text.contains(flag), "{flag} missing from:\n{text}");
    }
    let out = Command::new(env!("CARGO_BIN_EXE_vsan-exporter"))
        .arg("--vcenter.password=x")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("never read from the command line"));
}
