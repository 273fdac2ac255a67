//! Checks on the example binaries' command lines: `--help` and flag errors.

use std::process::Command;

/// Runs `bin --help`, asserts it exits 0 and returns its standard output.
///
/// # Panics
/// When the binary cannot be run, exits non-zero or prints something that is not UTF-8.
pub fn help(bin: &str) -> String {
    let out = Command::new(bin)
        .arg("--help")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {bin}: {e}"));
    assert!(out.status.success(), "{bin} --help: {:?}", out.status);
    String::from_utf8(out.stdout).expect("--help output is UTF-8")
}

/// Asserts that a service binary documents `--web.listen-address` in its `--help` and
/// refuses, with exit code 2 and its usage line, a missing value, an unknown flag and an
/// address that does not parse.
///
/// # Panics
/// When any of those does not hold.
pub fn assert_takes_only_a_listen_address(bin: &str) {
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
