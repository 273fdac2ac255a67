//! Within each crate of the workspace no two modules import each other, and there is no
//! longer cycle either: `scripts/module-graph` reads every `crate::` path of a crate's
//! sources and exits 1 when its module graph has a cycle.

use std::path::{Path, PathBuf};
use std::process::Command;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("testkit sits in the workspace root")
        .to_path_buf()
}

/// Every `src` directory of a workspace member.
fn crate_sources(root: &Path) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    for parent in [root.to_path_buf(), root.join("examples")] {
        for entry in std::fs::read_dir(&parent).expect("read workspace directory") {
            let dir = entry.expect("directory entry").path();
            if dir.join("Cargo.toml").is_file() && dir.join("src").is_dir() {
                dirs.push(dir.join("src"));
            }
        }
    }
    dirs.sort();
    dirs
}

#[test]
fn no_crate_has_a_module_cycle() {
    let root = workspace_root();
    let sources = crate_sources(&root);
    assert!(
        sources.len() >= 12,
        "expected every member's src/, found {sources:?}"
    );
    let mut failures = Vec::new();
    for src in &sources {
        let out = Command::new("python3")
            .arg(root.join("scripts/module-graph"))
            .arg(src)
            .output()
            .expect("python3 runs scripts/module-graph (scripts/test installs python3)");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("two-module cycles:"),
            "{}: unexpected output:\n{text}{}",
            src.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        if !out.status.success() {
            failures.push(format!("{}:\n{text}", src.display()));
        }
    }
    assert!(
        failures.is_empty(),
        "module cycles:\n{}",
        failures.join("\n")
    );
}
