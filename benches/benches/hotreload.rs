//! Reading the live config: `vsanobs_hotreload::ConfigHandle::load` (arc-swap) against the
//! usual `RwLock<Arc<C>>` and `Mutex<Arc<C>>`, measured while a second thread reads the same
//! value in a loop and a third reloads it (rewrites the file, reads, parses and publishes)
//! about once a millisecond. Every variant does the same work per read: load and touch one field.
//!
//! `cargo bench -p vsanobs-benches --bench hotreload`

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use serde::Deserialize;
use vsanobs_hotreload::{ConfigFormat, ReloadManager};

#[derive(Debug, Deserialize)]
struct Config {
    port: u16,
    name: String,
    #[allow(dead_code)]
    upstreams: Vec<String>,
}

fn config_text(port: u16) -> String {
    format!(
        r#"{{"port": {port}, "name": "svc-{port}", "upstreams": ["10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80"]}}"#
    )
}

/// One extra reader and one reloader running until dropped.
struct Background {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    reloads: Arc<AtomicU64>,
}

impl Background {
    fn start(
        read: impl Fn() -> u16 + Send + 'static,
        reload: impl Fn(u16) + Send + 'static,
    ) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let reloads = Arc::new(AtomicU64::new(0));
        let s = Arc::clone(&stop);
        let reader = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                black_box(read());
            }
        });
        let (s, n) = (Arc::clone(&stop), Arc::clone(&reloads));
        let writer = std::thread::spawn(move || {
            let mut port = 1000u16;
            while !s.load(Ordering::Relaxed) {
                port = if port == 1000 { 1001 } else { 1000 };
                reload(port);
                n.fetch_add(1, Ordering::Relaxed);
                // Same pace for every variant: one reload per millisecond at most.
                std::thread::sleep(Duration::from_millis(1));
            }
        });
        Background {
            stop,
            threads: vec![reader, writer],
            reloads,
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        black_box(self.reloads.load(Ordering::Relaxed));
    }
}

/// What the peers' reloader does, matching the manager's pipeline minus its bookkeeping:
/// rewrite the file, read it back, parse it.
fn reparse(path: &Path, port: u16) -> Config {
    std::fs::write(path, config_text(port)).unwrap_or_default();
    let text = std::fs::read_to_string(path).unwrap_or_default();
    serde_json::from_str(&text).unwrap_or(Config {
        port,
        name: String::new(),
        upstreams: Vec::new(),
    })
}

fn file(dir: &Path, name: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, config_text(1000)).expect("write config");
    p
}

fn read_while_reloading(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut group = c.benchmark_group("hotreload_read_while_reloading");

    {
        let path = file(dir.path(), "handle.json");
        let manager = Arc::new(
            ReloadManager::<Config>::builder(&path)
                .format(ConfigFormat::Json)
                .watch(false)
                .build()
                .expect("manager"),
        );
        let handle = manager.handle();
        let (h2, m2, p2) = (handle.clone(), Arc::clone(&manager), path.clone());
        let _bg = Background::start(
            move || h2.load().port,
            move |port| {
                std::fs::write(&p2, config_text(port)).unwrap_or_default();
                let _ = m2.reload();
            },
        );
        group.bench_function("vsanobs_config_handle_load", |b| {
            b.iter(|| black_box(handle.load().port))
        });
        let mut cached = handle.cached();
        group.bench_function("vsanobs_cached_config_load", |b| {
            b.iter(|| black_box(cached.load().port))
        });
        group.bench_function("vsanobs_config_handle_load_full", |b| {
            b.iter(|| black_box(handle.load_full().name.len()))
        });
    }

    {
        let path = file(dir.path(), "rwlock.json");
        let live = Arc::new(RwLock::new(Arc::new(reparse(&path, 1000))));
        let (l2, l3) = (Arc::clone(&live), Arc::clone(&live));
        let _bg = Background::start(
            move || l2.read().map(|c| c.port).unwrap_or(0),
            move |port| {
                let next = Arc::new(reparse(&path, port));
                if let Ok(mut w) = l3.write() {
                    *w = next;
                }
            },
        );
        group.bench_function("std_rwlock_arc_read", |b| {
            b.iter(|| black_box(live.read().map(|c| c.port).unwrap_or(0)))
        });
        group.bench_function("std_rwlock_arc_clone", |b| {
            b.iter(|| {
                black_box(
                    live.read()
                        .map(|c| Arc::clone(&c))
                        .ok()
                        .map(|c| c.name.len()),
                )
            })
        });
    }

    {
        let path = file(dir.path(), "mutex.json");
        let live = Arc::new(Mutex::new(Arc::new(reparse(&path, 1000))));
        let (l2, l3) = (Arc::clone(&live), Arc::clone(&live));
        let _bg = Background::start(
            move || l2.lock().map(|c| c.port).unwrap_or(0),
            move |port| {
                let next = Arc::new(reparse(&path, port));
                if let Ok(mut w) = l3.lock() {
                    *w = next;
                }
            },
        );
        group.bench_function("std_mutex_arc_read", |b| {
            b.iter(|| black_box(live.lock().map(|c| c.port).unwrap_or(0)))
        });
    }
    group.finish();
}

criterion_group!(benches, read_while_reloading);
criterion_main!(benches);
