//! Tokio runtime metrics and tracked spawning, read back through a registry scrape.

use std::time::{Duration, Instant};

use vsanobs_core::runtime::{TokioCollector, spawn_tracked, track, tracked_tasks};
use vsanobs_core::{Format, Gauge, Registry};

fn value(text: &str, series: &str) -> f64 {
    let prefix = format!("{series} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no {series} in:\n{text}"))
        .parse()
        .unwrap()
}

fn scrape(r: &Registry) -> String {
    r.encode_to_string(Format::PrometheusText)
}

/// Polls `cond` for up to 30 s (a bound against hangs, not a timing assertion).
fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "gave up waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn multi_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap()
}

#[test]
fn thousand_sleeping_tasks_show_as_thousand_more_alive_tasks() {
    let rt = multi_thread();
    let r = Registry::new();
    r.register_collector(TokioCollector::with_handle(rt.handle().clone()))
        .unwrap();
    let before = scrape(&r);
    assert_eq!(value(&before, "tokio_workers"), 2.0);
    let base = value(&before, "tokio_alive_tasks");
    let handles: Vec<_> = (0..1000)
        .map(|_| rt.spawn(async { tokio::time::sleep(Duration::from_secs(3600)).await }))
        .collect();
    let during = scrape(&r);
    assert_eq!(value(&during, "tokio_alive_tasks") - base, 1000.0);
    assert!(during.contains("vsanobs_scrape_collector_success{collector=\"tokio\"} 1\n"));
    for h in &handles {
        h.abort();
    }
    eventually("aborted tasks to finish", || {
        value(&scrape(&r), "tokio_alive_tasks") == base
    });
}

#[test]
fn a_leaking_site_grows_while_the_others_stay_flat() {
    let rt = multi_thread();
    let r = Registry::new();
    r.register_collector(TokioCollector::with_handle(rt.handle().clone()))
        .unwrap();
    let mut leaked = Vec::new();
    let mut series = Vec::new();
    for round in 1..=5 {
        rt.block_on(async {
            for _ in 0..10 {
                // Never completes: the leak.
                leaked.push(spawn_tracked(
                    "leaky_subscriber",
                    std::future::pending::<()>(),
                ));
            }
            let done: Vec<_> = (0..10)
                .map(|i| spawn_tracked("request_handler", async move { i * 2 }))
                .collect();
            for (i, h) in done.into_iter().enumerate() {
                assert_eq!(h.await.unwrap(), i * 2);
            }
        });
        let text = scrape(&r);
        let leaky = value(&text, "tokio_tracked_tasks{site=\"leaky_subscriber\"}");
        let handler = value(&text, "tokio_tracked_tasks{site=\"request_handler\"}");
        assert_eq!(leaky, f64::from(10 * round));
        assert_eq!(handler, 0.0);
        series.push((leaky, handler));
    }
    assert!(
        series
            .windows(2)
            .all(|w| w[1].0 > w[0].0 && w[1].1 == w[0].1)
    );
    // Shutting the runtime down drops the leaked tasks, and the guard counts them out.
    drop(rt);
    assert_eq!(tracked_tasks("leaky_subscriber"), 0);
    drop(leaked);
}

#[test]
fn aborted_and_panicking_tasks_are_counted_out() {
    let rt = multi_thread();
    rt.block_on(async {
        let h = spawn_tracked("aborted_site", std::future::pending::<()>());
        assert_eq!(tracked_tasks("aborted_site"), 1);
        h.abort();
        assert!(h.await.unwrap_err().is_cancelled());
        assert_eq!(tracked_tasks("aborted_site"), 0);

        let h = spawn_tracked("panicking_site", async {
            tokio::task::yield_now().await;
            panic!("task failed on purpose");
        });
        assert!(h.await.unwrap_err().is_panic());
        assert_eq!(tracked_tasks("panicking_site"), 0);

        // A tracked future dropped before it was ever polled.
        let f = track("never_polled", async {});
        assert_eq!(tracked_tasks("never_polled"), 1);
        drop(f);
        assert_eq!(tracked_tasks("never_polled"), 0);
    });
}

#[test]
fn spawn_outside_a_runtime_panics_like_tokio_without_leaking_a_count() {
    let result = std::panic::catch_unwind(|| spawn_tracked("no_runtime_site", async {}));
    assert!(result.is_err());
    assert_eq!(tracked_tasks("no_runtime_site"), 0);
}

#[test]
fn no_runtime_does_not_fail_the_scrape() {
    let r = Registry::new();
    let g = Gauge::default();
    r.register("app_ready", "Ready.", g.clone()).unwrap();
    g.set(1);
    r.register_collector(TokioCollector::new()).unwrap();
    // A task tracked earlier on a runtime that is gone is still reported.
    {
        let rt = multi_thread();
        rt.block_on(async { spawn_tracked("finished_site", async {}).await })
            .unwrap();
    }
    let text = scrape(&r);
    assert!(text.contains("app_ready 1\n"), "{text}");
    assert!(!text.contains("tokio_alive_tasks"), "{text}");
    assert_eq!(
        value(&text, "tokio_tracked_tasks{site=\"finished_site\"}"),
        0.0
    );
    assert!(text.contains("vsanobs_scrape_collector_success{collector=\"tokio\"} 0\n"));

    // Created outside a runtime, it uses the runtime a scrape runs in.
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let text = rt.block_on(async { scrape(&r) });
    assert_eq!(value(&text, "tokio_workers"), 1.0);
    assert!(text.contains("vsanobs_scrape_collector_success{collector=\"tokio\"} 1\n"));
}

#[test]
fn a_shut_down_runtime_still_scrapes() {
    let rt = multi_thread();
    let r = Registry::new();
    r.register_collector(TokioCollector::with_handle(rt.handle().clone()))
        .unwrap();
    rt.spawn(std::future::pending::<()>());
    drop(rt);
    let text = scrape(&r);
    assert_eq!(value(&text, "tokio_alive_tasks"), 0.0);
}
