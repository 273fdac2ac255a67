//! `--help` on the binaries: exit 0, the usage text on stdout, every flag named.

use std::process::Command;

fn help(bin: &str) -> String {
    let out = Command::new(bin)
        .arg("--help")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {bin}: {e}"));
    assert!(out.status.success(), "{bin} --help: {:?}", out.status);
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn vcsim_help_names_every_flag() {
    let text = help(env!("CARGO_BIN_EXE_vcsim"));
    for flag in [
        "--web.listen-address",
        "--clusters",
        "--hosts",
        "--disk-groups",
        "--vms",
        "--interval",
        "--seed",
        "--tls-self-signed",
        "--tls-ca-out",
        "--tls-cert",
        "--tls-key",
    ] {
        assert!(text.contains(flag), "{flag} missing from:\n{text}");
    }
    // An unknown flag is still an error (exit 2), not the usage text.
    let out = Command::new(env!("CARGO_BIN_EXE_vcsim"))
        .arg("--bogus")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown flag --bogus"));
}

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
        "--vcenter.ca-file",
        "--vcenter.insecure",
        "--sim.clusters",
        "--sim.hosts",
        "--sim.disk-groups",
        "--sim.interval",
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

#[test]
fn demo_services_take_only_a_listen_address() {
    for bin in [
        env!("CARGO_BIN_EXE_axum-demo"),
        env!("CARGO_BIN_EXE_actix-demo"),
    ] {
        assert!(help(bin).contains("--web.listen-address"), "{bin}");
        for bad in [
            &["--web.listen-address"][..],
            &["--other", "x"],
            &["--web.listen-address", "nope"],
        ] {
            let out = Command::new(bin).args(bad).output().unwrap();
            assert_eq!(out.status.code(), Some(2), "{bin} {bad:?}");
            assert!(
                String::from_utf8_lossy(&out.stderr).contains("usage:"),
                "{bin} {bad:?}"
            );
        }
    }
}
