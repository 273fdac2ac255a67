//! `hot_reload_heap_delta_bytes` comes from the counting allocator when it is installed.

mod common;

use std::alloc::System;

use vsanobs_core::Registry;
use vsanobs_core::alloc::CountingAlloc;
use vsanobs_hotreload::{ConfigFormat, ReloadManager};

#[global_allocator]
static ALLOC: CountingAlloc<System> = CountingAlloc::new(System);

#[derive(serde::Deserialize)]
struct Cfg {
    #[allow(dead_code)]
    items: Vec<String>,
}

fn config(n: usize) -> String {
    let items: Vec<String> = (0..n).map(|i| format!("\"item-{i:08}\"")).collect();
    format!("{{\"items\": [{}]}}", items.join(","))
}

#[test]
fn heap_delta_measures_the_new_config() {
    assert!(vsanobs_core::alloc::is_installed());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.json");
    std::fs::write(&path, config(10)).unwrap();
    let registry = Registry::new();
    let m = ReloadManager::<Cfg>::builder(&path)
        .format(ConfigFormat::Json)
        .watch(false)
        .register(&registry)
        .build()
        .unwrap();

    // 50k strings of 13 bytes plus their 24-byte headers: well over 1 MB more heap in use.
    std::fs::write(&path, config(50_000)).unwrap();
    m.reload().unwrap();
    let grown = common::metric(&registry, "hot_reload_heap_delta_bytes", &[]);
    assert!(grown > 1_000_000.0, "{grown}");

    // Back to a small config: the big one is freed, the delta is negative.
    std::fs::write(&path, config(10)).unwrap();
    m.reload().unwrap();
    let shrunk = common::metric(&registry, "hot_reload_heap_delta_bytes", &[]);
    assert!(shrunk < -1_000_000.0, "{shrunk}");
}
