#![cfg(unix)]
//! `SIGHUP` and `SIGUSR1` trigger a reload. Its own test binary: the signals go to the whole
//! process.

mod common;

use std::time::Duration;

use common::{result_count, wait_until};
use vsanobs_core::Registry;
use vsanobs_hotreload::ReloadManager;

#[test]
fn sighup_and_sigusr1_trigger_a_reload() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.conf");
    std::fs::write(&path, "v1").unwrap();
    let registry = Registry::new();
    let m = ReloadManager::<String>::builder(&path)
        .parser(|t: &str| -> Result<String, std::convert::Infallible> { Ok(t.to_owned()) })
        .watch(false)
        .signals(true)
        .register(&registry)
        .build()
        .unwrap();
    let h = m.handle();

    std::fs::write(&path, "v2").unwrap();
    signal_hook::low_level::raise(signal_hook::consts::SIGHUP).unwrap();
    assert!(
        wait_until(Duration::from_secs(20), || **h.load() == "v2"),
        "SIGHUP ignored"
    );
    assert_eq!(result_count(&registry, "success"), 2.0);

    std::fs::write(&path, "v3").unwrap();
    signal_hook::low_level::raise(signal_hook::consts::SIGUSR1).unwrap();
    assert!(
        wait_until(Duration::from_secs(20), || **h.load() == "v3"),
        "SIGUSR1 ignored"
    );
    assert_eq!(result_count(&registry, "success"), 3.0);
}
