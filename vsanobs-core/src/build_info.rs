//! `<ns>_build_info{version, rustc_version, git_commit, profile} 1` for the application's own
//! crate: [`build_info!`](crate::build_info!) captures the caller's version and profile at
//! compile time, and [`emit_build_env`] (called from the caller's `build.rs`) adds the
//! compiler version and git commit.
//!
//! # Example
//!
//! ```
//! use vsanobs_core::{Format, Registry};
//!
//! let registry = Registry::builder().prefix("shop").build().unwrap();
//! let info = vsanobs_core::build_info!();
//! info.register(&registry).unwrap();
//!
//! let text = registry.encode_to_string(Format::PrometheusText);
//! let expected = format!(
//!     "shop_build_info{{version=\"{}\",rustc_version=\"{}\",git_commit=\"{}\",profile=\"{}\"}} 1\n",
//!     env!("CARGO_PKG_VERSION"),
//!     info.rustc_version,
//!     info.git_commit,
//!     if cfg!(debug_assertions) { "debug" } else { "release" },
//! );
//! assert!(text.contains(&expected), "{text}");
//! ```
//!
//! ## Why a build-script helper and not `vergen` or `built`
//! The crate version and the profile are known to the compiler of the calling crate, so the
//! macro reads them with `env!`/`cfg!` where it expands. Only the compiler version and the
//! git commit need a build script. [`emit_build_env`] is about forty lines of `std`: it runs
//! `$RUSTC --version` and `git rev-parse`, which Cargo's build-script environment already
//! provides, where `vergen` or `built` would add their own dependency trees (gix or git2,
//! chrono, cargo metadata) to every build for two strings. Without the build script the two
//! labels read `unknown`; the metric is still exported.
//!
//! To get them, add `vsanobs-core` under `[build-dependencies]` and a `build.rs`:
//!
//! ```no_run
//! // build.rs
//! vsanobs_core::build_info::emit_build_env();
//! ```

use std::path::Path;
use std::process::Command;

use crate::model::{MetricDesc, MetricKind};
use crate::registry::{Registry, RegistryError};
use crate::{Info, LabelSet};

/// The family [`BuildInfo::register`] adds (before the registry's prefix).
pub const BUILD_INFO_METRIC: MetricDesc = MetricDesc {
    name: "build_info",
    kind: MetricKind::Info,
    help: "Build information of the running binary: crate version, compiler, git commit and profile.",
    unit: None,
    labels: &["version", "rustc_version", "git_commit", "profile"],
};

/// The environment variable [`emit_build_env`] sets to the compiler version.
pub const RUSTC_VERSION_ENV: &str = "VSANOBS_RUSTC_VERSION";
/// The environment variable [`emit_build_env`] sets to the git commit.
pub const GIT_COMMIT_ENV: &str = "VSANOBS_GIT_COMMIT";

/// Build information of an application; make one with [`build_info!`](crate::build_info!).
#[derive(Clone, Debug, PartialEq, Eq, Hash, LabelSet)]
pub struct BuildInfo {
    /// The crate version (`CARGO_PKG_VERSION` of the calling crate).
    pub version: &'static str,
    /// The compiler version (`rustc 1.85.0 (4d91de4e4 2025-02-17)`), or `unknown`.
    pub rustc_version: &'static str,
    /// The git commit hash (with `-dirty` when the work tree had changes), or `unknown`.
    pub git_commit: &'static str,
    /// `debug` or `release`.
    pub profile: &'static str,
}

impl BuildInfo {
    /// Registers `build_info` (so `<prefix>_build_info`) on `registry`.
    ///
    /// # Errors
    /// [`RegistryError::AlreadyRegistered`] when the registry already has a `build_info`.
    pub fn register(&self, registry: &Registry) -> Result<(), RegistryError> {
        registry.register(
            BUILD_INFO_METRIC.name,
            BUILD_INFO_METRIC.help,
            Info::new(self.clone()),
        )
    }
}

/// The calling crate's [`BuildInfo`]: its version and profile, plus the compiler version and
/// git commit when its `build.rs` calls [`emit_build_env`](crate::build_info::emit_build_env)
/// (`unknown` otherwise).
///
/// # Example
///
/// ```
/// let info = vsanobs_core::build_info!();
/// assert_eq!(info.version, env!("CARGO_PKG_VERSION"));
/// assert_eq!(info.profile, if cfg!(debug_assertions) { "debug" } else { "release" });
/// ```
#[macro_export]
macro_rules! build_info {
    () => {
        $crate::build_info::BuildInfo {
            version: ::core::env!("CARGO_PKG_VERSION"),
            rustc_version: match ::core::option_env!("VSANOBS_RUSTC_VERSION") {
                ::core::option::Option::Some(v) => v,
                ::core::option::Option::None => "unknown",
            },
            git_commit: match ::core::option_env!("VSANOBS_GIT_COMMIT") {
                ::core::option::Option::Some(v) => v,
                ::core::option::Option::None => "unknown",
            },
            profile: if ::core::cfg!(debug_assertions) {
                "debug"
            } else {
                "release"
            },
        }
    };
}

/// The compiler version and git commit as `(rustc_version, git_commit)`, `unknown` where a
/// command fails. `rustc` is the compiler to ask (Cargo passes it to build scripts as
/// `RUSTC`); `dir` is a directory inside the git work tree.
pub fn probe(rustc: &str, dir: &Path) -> (String, String) {
    let run = |cmd: &mut Command| -> Option<String> {
        let out = cmd.output().ok()?;
        if !out.status.success() {
            return None;
        }
        let s = String::from_utf8(out.stdout).ok()?;
        let s = s.trim();
        (!s.is_empty()).then(|| s.to_owned())
    };
    let rustc_version = run(Command::new(rustc).arg("--version"));
    let commit = run(Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["rev-parse", "HEAD"]));
    let commit = commit.map(|c| {
        let dirty = run(Command::new("git").arg("-C").arg(dir).args([
            "status",
            "--porcelain",
            "--untracked-files=no",
        ]))
        .is_some();
        if dirty { format!("{c}-dirty") } else { c }
    });
    (
        rustc_version.unwrap_or_else(|| "unknown".to_owned()),
        commit.unwrap_or_else(|| "unknown".to_owned()),
    )
}

/// For a `build.rs`: sets [`RUSTC_VERSION_ENV`] and [`GIT_COMMIT_ENV`] for the crate being
/// built, so [`build_info!`](crate::build_info!) can read them, and asks Cargo to rerun when
/// the git `HEAD` moves. Never fails the build: values it cannot find read `unknown`.
pub fn emit_build_env() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".to_owned());
    let (rustc_version, commit) = probe(&rustc, Path::new(&dir));
    println!("cargo:rustc-env={RUSTC_VERSION_ENV}={rustc_version}");
    println!("cargo:rustc-env={GIT_COMMIT_ENV}={commit}");
    if let Some(git_dir) = git_dir(Path::new(&dir)) {
        println!("cargo:rerun-if-changed={}", git_dir.join("HEAD").display());
        println!("cargo:rerun-if-changed={}", git_dir.join("index").display());
    }
    println!("cargo:rerun-if-env-changed=RUSTC");
}

fn git_dir(dir: &Path) -> Option<std::path::PathBuf> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["rev-parse", "--absolute-git-dir"])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().into())
}
