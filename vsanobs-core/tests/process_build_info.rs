//! `build_info!` and the build-script probe against the real compiler and git.

use std::process::Command;

use vsanobs_core::build_info::{BUILD_INFO_METRIC, probe};
use vsanobs_core::{Format, Registry};

fn stdout(cmd: &mut Command) -> String {
    let out = cmd.output().expect("command runs");
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[test]
fn macro_captures_the_callers_version_and_profile() {
    let info = vsanobs_core::build_info!();
    assert_eq!(info.version, env!("CARGO_PKG_VERSION"));
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    assert_eq!(info.profile, profile);
    // No build script sets them for this test crate.
    assert_eq!(info.rustc_version, "unknown");
    assert_eq!(info.git_commit, "unknown");

    let registry = Registry::builder().prefix("shop").build().unwrap();
    info.register(&registry).unwrap();
    let text = registry.encode_to_string(Format::PrometheusText);
    let line = format!(
        "shop_build_info{{version=\"{}\",rustc_version=\"unknown\",git_commit=\"unknown\",profile=\"{profile}\"}} 1\n",
        env!("CARGO_PKG_VERSION")
    );
    assert!(text.contains(&line), "{text}");
    assert!(text.contains(&format!(
        "# HELP shop_build_info {}\n",
        BUILD_INFO_METRIC.help
    )));
    assert!(info.register(&registry).is_err());
}

#[test]
fn probe_reports_the_compiler_and_the_commit() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let (version, commit) = probe(&rustc, dir);
    assert_eq!(version, stdout(Command::new(&rustc).arg("--version")));
    assert!(version.starts_with("rustc "));
    let head = stdout(
        Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(["rev-parse", "HEAD"]),
    );
    assert!(
        commit == head || commit == format!("{head}-dirty"),
        "{commit} vs {head}"
    );
}

#[test]
fn probe_outside_git_and_without_compiler_says_unknown() {
    let dir = tempfile::tempdir().unwrap();
    let (version, commit) = probe("/nonexistent/rustc", dir.path());
    assert_eq!(version, "unknown");
    assert_eq!(commit, "unknown");
}
