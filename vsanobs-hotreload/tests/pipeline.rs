//! The reload pipeline against real files on disk: every failure kind leaves the previous
//! config serving, is counted under its `result` and logged with the reason.

#![cfg(all(feature = "yaml", feature = "toml"))]
mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use common::{capture_logs, metric, result_count, wait_until};
use serde::Deserialize;
use vsanobs_core::Registry;
use vsanobs_hotreload::{ConfigFormat, ReloadError, ReloadManager, ReloadResult, ReloadStatus};

#[derive(Debug, Deserialize, PartialEq, Clone)]
struct Cfg {
    name: String,
    port: u16,
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

fn setup(initial: &str) -> (tempfile::TempDir, PathBuf, Registry) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.yaml");
    write(&path, initial);
    (dir, path, Registry::new())
}

fn manager(path: &Path, registry: &Registry) -> ReloadManager<Cfg> {
    ReloadManager::<Cfg>::builder(path)
        .format(ConfigFormat::Yaml)
        .validate(|c: &Cfg| {
            if c.port == 0 {
                Err("port must not be 0")
            } else {
                Ok(())
            }
        })
        .post_apply(|c: &Cfg| {
            if c.name == "unreachable-backend" {
                Err(format!("cannot connect to backend {}", c.name))
            } else {
                Ok(())
            }
        })
        .register(registry)
        .watch(false)
        .build()
        .unwrap()
}

const GOOD: &str = "name: a\nport: 1\n";

fn assert_old_serving(m: &ReloadManager<Cfg>) {
    assert_eq!(
        **m.handle().load(),
        Cfg {
            name: "a".into(),
            port: 1
        }
    );
}

#[test]
fn all_results_exported_at_zero_and_initial_load_counts() {
    let (_d, path, registry) = setup(GOOD);
    let _m = manager(&path, &registry);
    assert_eq!(result_count(&registry, "success"), 1.0);
    for r in ["fail", "timeout", "rollback"] {
        assert_eq!(result_count(&registry, r), 0.0, "{r}");
    }
    assert_eq!(metric(&registry, "hot_reload_total", &[]), 1.0);
    assert_eq!(
        metric(&registry, "hot_reload_last_reload_successful", &[]),
        1.0
    );
    assert_eq!(metric(&registry, "hot_reload_in_progress", &[]), 0.0);
    assert!(metric(&registry, "hot_reload_last_success_timestamp_seconds", &[]) > 1.6e9);
}

#[test]
fn valid_change_reloads() {
    let (_d, path, registry) = setup(GOOD);
    let m = manager(&path, &registry);
    let handle = m.handle();
    let hash_before = metric(&registry, "hot_reload_config_hash", &[]);
    let (logs, _g) = capture_logs();
    write(&path, "name: b\nport: 2\n");
    let outcome = m.reload().unwrap();
    assert_eq!(outcome.status, ReloadStatus::Applied);
    assert_eq!(outcome.generation, 2);
    assert_eq!(handle.load().name, "b");
    assert_eq!(result_count(&registry, "success"), 2.0);
    let hash_after = metric(&registry, "hot_reload_config_hash", &[]);
    assert_ne!(hash_before, hash_after);
    // The exported hash is the first 53 bits of the SHA-256 of the file.
    let expected = u64::from_str_radix(&outcome.sha256_hex()[..16], 16).unwrap() >> 11;
    assert_eq!(hash_after, expected as f64);
    assert!(logs.text().contains("config reloaded"), "{}", logs.text());
    // Same bytes again: nothing to do, nothing counted.
    assert_eq!(m.reload().unwrap().status, ReloadStatus::Unchanged);
    assert_eq!(result_count(&registry, "success"), 2.0);
    assert_eq!(
        metric(&registry, "hot_reload_duration_seconds_count", &[]),
        2.0
    );
}

fn assert_failed(
    registry: &Registry,
    m: &ReloadManager<Cfg>,
    result: &str,
    err: &ReloadError,
    log: &str,
    why: &str,
) {
    assert_old_serving(m);
    assert_eq!(result_count(registry, result), 1.0, "{result}");
    assert_eq!(metric(registry, "hot_reload_failed_total", &[]), 1.0);
    assert_eq!(
        metric(registry, "hot_reload_last_reload_successful", &[]),
        0.0
    );
    assert_eq!(metric(registry, "hot_reload_concurrent_updates", &[]), 0.0);
    assert!(err.chain().contains(why), "{}", err.chain());
    assert!(log.contains("config reload failed"), "{log}");
    assert!(log.contains(why), "log does not say why ({why}): {log}");
    assert!(
        log.contains(&format!("result=\"{result}\"")) || log.contains(&format!("result={result}")),
        "{log}"
    );
}

#[test]
fn syntax_error_keeps_previous() {
    let (_d, path, registry) = setup(GOOD);
    let m = manager(&path, &registry);
    let (logs, _g) = capture_logs();
    write(&path, "name: b\nport: [1,\n");
    let err = m.reload().unwrap_err();
    assert!(matches!(err, ReloadError::Parse { .. }));
    assert_failed(
        &registry,
        &m,
        "fail",
        &err,
        &logs.text(),
        "cannot parse config",
    );
}

#[test]
fn failed_validation_keeps_previous() {
    let (_d, path, registry) = setup(GOOD);
    let m = manager(&path, &registry);
    let (logs, _g) = capture_logs();
    write(&path, "name: b\nport: 0\n");
    let err = m.reload().unwrap_err();
    assert!(matches!(err, ReloadError::Validation { .. }));
    assert_failed(
        &registry,
        &m,
        "fail",
        &err,
        &logs.text(),
        "port must not be 0",
    );
}

#[test]
fn failed_post_apply_check_rolls_back() {
    let (_d, path, registry) = setup(GOOD);
    let m = manager(&path, &registry);
    let hash = metric(&registry, "hot_reload_config_hash", &[]);
    let (logs, _g) = capture_logs();
    write(&path, "name: unreachable-backend\nport: 5\n");
    let err = m.reload().unwrap_err();
    assert_eq!(err.result(), ReloadResult::Rollback);
    assert_failed(
        &registry,
        &m,
        "rollback",
        &err,
        &logs.text(),
        "cannot connect to backend unreachable-backend",
    );
    assert_eq!(metric(&registry, "hot_reload_config_hash", &[]), hash);
    assert_eq!(m.generation(), 1);
}

#[test]
fn timeout_keeps_previous() {
    let (_d, path, registry) = setup("fast");
    let m = ReloadManager::<String>::builder(&path)
        .parser(|text: &str| -> Result<String, std::convert::Infallible> {
            if text.starts_with("slow") {
                std::thread::sleep(Duration::from_secs(3));
            }
            Ok(text.to_owned())
        })
        .timeout(Duration::from_millis(200))
        .register(&registry)
        .watch(false)
        .build()
        .unwrap();
    let (logs, _g) = capture_logs();
    write(&path, "slow config");
    let err = m.reload().unwrap_err();
    assert!(matches!(err, ReloadError::Timeout(_)), "{err:?}");
    assert_eq!(**m.handle().load(), "fast");
    assert_eq!(result_count(&registry, "timeout"), 1.0);
    assert_eq!(result_count(&registry, "fail"), 0.0);
    let log = logs.text();
    assert!(log.contains("reload timed out after 200ms"), "{log}");
    // The abandoned parse finishing later must not swap anything in.
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(**m.handle().load(), "fast");
    write(&path, "quick again");
    m.reload().unwrap();
    assert_eq!(**m.handle().load(), "quick again");
}

#[test]
fn panicking_parser_is_a_failed_reload() {
    let (_d, path, registry) = setup("ok");
    let m = ReloadManager::<String>::builder(&path)
        .parser(|text: &str| -> Result<String, std::convert::Infallible> {
            assert!(text != "boom", "parser exploded");
            Ok(text.to_owned())
        })
        .register(&registry)
        .watch(false)
        .build()
        .unwrap();
    write(&path, "boom");
    let err = m.reload().unwrap_err();
    assert!(err.to_string().contains("parser exploded"), "{err}");
    assert_eq!(**m.handle().load(), "ok");
    assert_eq!(result_count(&registry, "fail"), 1.0);
}

#[test]
fn bad_input_is_a_failed_reload_never_a_partial_config() {
    let (dir, path, registry) = setup(GOOD);
    let m = ReloadManager::<Cfg>::builder(&path)
        .format(ConfigFormat::Yaml)
        .max_size(64)
        .timeout(Duration::from_secs(2))
        .register(&registry)
        .watch(false)
        .build()
        .unwrap();
    let (logs, _g) = capture_logs();
    let mut fails = 0.0;
    let mut check = |what: &str, why: &str| {
        let err = m.reload().unwrap_err();
        fails += 1.0;
        assert!(err.chain().contains(why), "{what}: {}", err.chain());
        assert_old_serving(&m);
        assert_eq!(result_count(&registry, "fail"), fails, "{what}");
        assert!(logs.text().contains(why), "{what}: {}", logs.text());
    };

    // Half-written: the writer stopped in the middle of a mapping.
    write(&path, "name: half\npo");
    check("half-written", "cannot parse config");
    // Oversized.
    write(&path, &format!("name: {}\nport: 1\n", "x".repeat(100)));
    check("oversized", "over the 64 byte limit");
    // Not UTF-8.
    std::fs::write(&path, b"name: \xff\xfe\nport: 1\n").unwrap();
    check("non-utf8", "is not valid utf-8");
    // Missing.
    std::fs::remove_file(&path).unwrap();
    check("missing", "No such file or directory");
    // Unreadable: a directory where the file should be (root reads any mode bits).
    std::fs::create_dir(&path).unwrap();
    check("unreadable", "is a directory");
    std::fs::remove_dir(&path).unwrap();
    // The whole directory deleted.
    let dir_path = dir.path().to_path_buf();
    drop(dir);
    assert!(!dir_path.exists());
    check("deleted directory", "cannot read config file");
    assert_eq!(metric(&registry, "hot_reload_concurrent_updates", &[]), 0.0);
}

#[test]
fn deleted_watch_directory_is_a_failed_reload_not_a_crash() {
    let (dir, path, registry) = setup(GOOD);
    let m = ReloadManager::<Cfg>::builder(&path)
        .format(ConfigFormat::Yaml)
        .debounce(Duration::from_millis(100))
        .register(&registry)
        .build()
        .unwrap();
    std::fs::remove_dir_all(dir.path()).unwrap();
    // The watcher sees the directory go and tries a reload, which fails cleanly.
    assert!(
        wait_until(Duration::from_secs(20), || result_count(&registry, "fail")
            >= 1.0),
        "the deletion did not trigger a failed reload"
    );
    assert_old_serving(&m);
    let err = m.reload().unwrap_err();
    assert!(matches!(err, ReloadError::Read { .. }), "{err:?}");

    // The directory comes back (a volume remounted): the watch picks it up again.
    std::fs::create_dir(dir.path()).unwrap();
    write(&path, "name: back\nport: 7\n");
    assert!(
        wait_until(Duration::from_secs(30), || m.handle().load().name == "back"),
        "the recreated directory was not watched again"
    );
    write(&path, "name: again\nport: 8\n");
    assert!(
        wait_until(Duration::from_secs(30), || m.handle().load().name
            == "again"),
        "changes after the re-watch were not seen"
    );
}

#[test]
fn expected_digest_is_enforced() {
    let (_d, path, registry) = setup(GOOD);
    let m = manager(&path, &registry);
    write(&path, "name: b\nport: 2\n");
    let good: [u8; 32] = {
        use sha2::Digest as _;
        sha2::Sha256::digest(std::fs::read(&path).unwrap()).into()
    };
    m.set_expected_sha256(Some([7; 32]));
    let err = m.reload().unwrap_err();
    assert!(err.to_string().contains("digest mismatch"), "{err}");
    assert_old_serving(&m);
    m.set_expected_sha256(Some(good));
    assert_eq!(m.reload().unwrap().sha256, good);
    assert_eq!(m.handle().load().name, "b");
}

#[test]
fn concurrent_triggers_serialise_and_the_last_write_wins() {
    let (_d, path, registry) = setup("name: w0\nport: 1\n");
    let m = Arc::new(manager(&path, &registry));
    let writes = Arc::new(std::sync::Mutex::new(0u32));
    let threads: Vec<_> = (0..100)
        .map(|_| {
            let (m, writes, path) = (Arc::clone(&m), Arc::clone(&writes), path.clone());
            std::thread::spawn(move || {
                {
                    let mut n = writes.lock().unwrap();
                    *n += 1;
                    // Write to a temp file and rename, so no reader sees a half-written file.
                    let tmp = path.with_extension(format!("tmp{n}"));
                    std::fs::write(&tmp, format!("name: w{n}\nport: 1\n")).unwrap();
                    std::fs::rename(&tmp, &path).unwrap();
                }
                m.reload().map(|o| o.status)
            })
        })
        .collect();
    for t in threads {
        let r = t.join().expect("no panic");
        assert!(r.is_ok(), "{r:?}");
    }
    let last = *writes.lock().unwrap();
    assert_eq!(last, 100);
    assert_eq!(m.handle().load().name, format!("w{last}"));
    assert_eq!(metric(&registry, "hot_reload_concurrent_updates", &[]), 0.0);
    assert_eq!(metric(&registry, "hot_reload_in_progress", &[]), 0.0);
    assert_eq!(result_count(&registry, "fail"), 0.0);
    let successes = result_count(&registry, "success");
    assert!((2.0..=101.0).contains(&successes), "{successes}");
}

#[test]
fn json_and_toml_formats_and_custom_parser() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("a.json");
    write(&json, r#"{"name":"j","port":3}"#);
    let m = ReloadManager::<Cfg>::builder(&json)
        .format_from_extension()
        .watch(false)
        .build()
        .unwrap();
    assert_eq!(m.handle().load().name, "j");
    let toml = dir.path().join("a.toml");
    write(&toml, "name = \"t\"\nport = 4\n");
    let m = ReloadManager::<Cfg>::builder(&toml)
        .format(ConfigFormat::Toml)
        .watch(false)
        .build()
        .unwrap();
    assert_eq!(m.handle().load().port, 4);
    let none = ReloadManager::<Cfg>::builder(dir.path().join("a.ini"))
        .format_from_extension()
        .build();
    assert!(matches!(
        none,
        Err(vsanobs_hotreload::BuildError::NoParser { .. })
    ));
}

#[test]
fn handle_does_not_keep_the_manager_alive() {
    let (_d, path, registry) = setup(GOOD);
    let m = manager(&path, &registry);
    let h = m.handle();
    assert!(h.is_manager_alive());
    drop(m);
    assert!(!h.is_manager_alive());
    assert!(matches!(h.reload(), Err(ReloadError::Closed)));
    assert_eq!(h.load().name, "a");
}

#[test]
fn workers_of_replaced_generations_are_cancelled_and_counted() {
    let (_d, path, registry) = setup(GOOD);
    let m = ReloadManager::<Cfg>::builder(&path)
        .format(ConfigFormat::Yaml)
        .grace_period(Duration::from_millis(100))
        .register(&registry)
        .watch(false)
        .build()
        .unwrap();
    let polite = m.worker();
    let leaky = m.worker();
    assert_eq!(metric(&registry, "hot_reload_active_workers", &[]), 2.0);
    let t = std::thread::spawn(move || {
        assert!(polite.wait_cancelled(Duration::from_secs(30)));
    });
    let (logs, _g) = capture_logs();
    write(&path, "name: b\nport: 2\n");
    m.reload().unwrap();
    t.join().unwrap();
    assert!(leaky.is_cancelled());
    assert!(wait_until(Duration::from_secs(20), || m.stale_workers() == 1));
    assert_eq!(metric(&registry, "hot_reload_active_workers", &[]), 1.0);
    drop(leaky);
    assert_eq!(metric(&registry, "hot_reload_active_workers", &[]), 0.0);
    // The leak warning is logged by the grace thread, not this one.
    drop(logs);
}

#[test]
fn requests_folded_into_a_failed_reload_fail_too() {
    let (_d, path, registry) = setup(GOOD);
    let m = Arc::new(manager(&path, &registry));
    write(&path, "name: b\nport: [\n");
    let threads: Vec<_> = (0..20)
        .map(|_| {
            let m = Arc::clone(&m);
            std::thread::spawn(move || m.reload())
        })
        .collect();
    for t in threads {
        let err = t.join().expect("no panic").unwrap_err();
        assert_eq!(err.result(), ReloadResult::Fail);
        assert!(
            err.chain().contains("cannot parse config"),
            "{}",
            err.chain()
        );
    }
    let fails = result_count(&registry, "fail");
    assert!((1.0..=20.0).contains(&fails), "{fails}");
    assert_eq!(metric(&registry, "hot_reload_concurrent_updates", &[]), 0.0);
    assert_old_serving(&m);
}
