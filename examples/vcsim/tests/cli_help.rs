//! `--help` on the vcsim binary: exit 0, the usage text on stdout, every flag named.

use std::process::Command;

use vsanobs_testkit::cli::help;

#[test]
fn vcsim_help_names_every_flag() {
    let text = help(env!("CARGO_BIN_EXE_vcsim"));
    for flag in [
        "--web.listen-address",
        "--clusters",
        "--hosts",
        "--disk-groups",
        "--vms",
        "--vms-total",
        "--esa-clusters",
        "--esa-disks",
        "--no-vsan-clusters",
        "--perf-off-clusters",
        "--no-permission-clusters",
        "--interval",
        "--seed",
        "--tls-self-signed",
        "--tls-ca-out",
        "--tls-cert",
        "--tls-key",
        "--vcenter-version",
        "--fail-hosts",
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
    // A host to fail that the topology does not have is refused at start (before binding).
    let out = Command::new(env!("CARGO_BIN_EXE_vcsim"))
        .args(["--fail-hosts", "esx-01-01.lab.local,esx-99-99.lab.local"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no host \"esx-99-99.lab.local\""), "{err}");
    // A release the simulator does not emulate is refused at start, naming the choices.
    let out = Command::new(env!("CARGO_BIN_EXE_vcsim"))
        .args(["--vcenter-version", "6.7U3"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("7.0U3, 8.0U2 or 8.0U3"), "{err}");
    // ESA clusters under 7.0U3 (ESA came with 8.0) describe no real vCenter: refused at start.
    let out = Command::new(env!("CARGO_BIN_EXE_vcsim"))
        .args(["--vcenter-version", "7.0U3", "--esa-clusters", "1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("has no vSAN ESA"), "{err}");
}
