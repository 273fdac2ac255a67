#![cfg(unix)]
//! File-watch triggers on a real directory: a Kubernetes ConfigMap `..data` swap and an
//! editor's burst of writes each give exactly one reload.

mod common;

use std::os::unix::fs::symlink;
use std::path::Path;
use std::time::Duration;

use common::{metric, result_count, wait_until};
use vsanobs_core::Registry;
use vsanobs_hotreload::{ReloadManager, ReloadStatus};

fn manager(path: &Path, registry: &Registry) -> ReloadManager<String> {
    ReloadManager::<String>::builder(path)
        .parser(|t: &str| -> Result<String, std::convert::Infallible> { Ok(t.trim().to_owned()) })
        .debounce(Duration::from_millis(300))
        .register(registry)
        .build()
        .unwrap()
}

/// Lays out a directory the way the kubelet projects a ConfigMap volume.
fn kube_version(dir: &Path, version: &str, content: &str) {
    let v = dir.join(version);
    std::fs::create_dir(&v).unwrap();
    std::fs::write(v.join("app.conf"), content).unwrap();
}

#[test]
fn kubernetes_data_symlink_swap_triggers_exactly_one_reload() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    kube_version(d, "..2026_01_01_00_00_00.1", "v1");
    symlink("..2026_01_01_00_00_00.1", d.join("..data")).unwrap();
    symlink("..data/app.conf", d.join("app.conf")).unwrap();
    let registry = Registry::new();
    let m = manager(&d.join("app.conf"), &registry);
    assert_eq!(**m.handle().load(), "v1");

    // The kubelet's atomic writer: new timestamped dir, `..data_tmp` symlink, rename onto
    // `..data`, remove the old dir. The `app.conf` symlink itself never changes.
    kube_version(d, "..2026_01_01_00_05_00.2", "v2");
    symlink("..2026_01_01_00_05_00.2", d.join("..data_tmp")).unwrap();
    std::fs::rename(d.join("..data_tmp"), d.join("..data")).unwrap();
    std::fs::remove_dir_all(d.join("..2026_01_01_00_00_00.1")).unwrap();

    let h = m.handle();
    assert!(
        wait_until(Duration::from_secs(20), || **h.load() == "v2"),
        "swap not seen"
    );
    // Let any straggling events through the debounce, then count.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        result_count(&registry, "success"),
        2.0,
        "initial load + exactly one reload"
    );
    assert_eq!(metric(&registry, "hot_reload_failed_total", &[]), 0.0);
    assert_eq!(m.generation(), 2);
}

#[test]
fn editor_burst_triggers_one_reload() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.conf");
    std::fs::write(&path, "v1").unwrap();
    let registry = Registry::new();
    let m = manager(&path, &registry);

    // An editor's save: backup copy, swap file, several writes, then save-by-rename.
    std::fs::write(dir.path().join("app.conf~"), "v1").unwrap();
    for i in 0..5 {
        std::fs::write(dir.path().join(".app.conf.swp"), format!("draft {i}")).unwrap();
        std::fs::write(&path, format!("draft {i}")).unwrap();
    }
    std::fs::write(dir.path().join(".app.conf.tmp"), "final").unwrap();
    std::fs::rename(dir.path().join(".app.conf.tmp"), &path).unwrap();
    std::fs::remove_file(dir.path().join(".app.conf.swp")).unwrap();

    let h = m.handle();
    assert!(
        wait_until(Duration::from_secs(20), || **h.load() == "final"),
        "save not seen"
    );
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        result_count(&registry, "success"),
        2.0,
        "initial load + exactly one reload"
    );
    // A manual reload afterwards finds the same bytes.
    assert_eq!(m.reload().unwrap().status, ReloadStatus::Unchanged);
}

#[test]
fn unrelated_files_in_the_directory_do_not_reload() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.conf");
    std::fs::write(&path, "v1").unwrap();
    let registry = Registry::new();
    let _m = manager(&path, &registry);
    std::fs::write(dir.path().join("other.conf"), "x").unwrap();
    std::thread::sleep(Duration::from_millis(1200));
    assert_eq!(result_count(&registry, "success"), 1.0);
}
