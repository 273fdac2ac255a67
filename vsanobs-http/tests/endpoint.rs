//! The /metrics endpoint on a real axum server: negotiation, gzip, name[] selection,
//! concurrency limit, timeout, basic auth and its own handler metrics.

mod common;

use common::serve_endpoint;
use std::io::Read;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use vsanobs_core::{CollectError, Collector, FamilySink, Registry};
use vsanobs_http::MetricsEndpoint;

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

fn registry() -> Registry {
    let r = Registry::new();
    r.counter("jobs_total", "Jobs done.").unwrap().inc_by(3);
    r.gauge("queue_depth", "Items waiting.").unwrap().set(2);
    r
}

fn gunzip(b: &[u8]) -> String {
    let mut s = String::new();
    flate2::read::GzDecoder::new(b)
        .read_to_string(&mut s)
        .expect("valid gzip");
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accept_and_accept_encoding_table() {
    let url = serve_endpoint(MetricsEndpoint::new(registry())).await;
    let c = client();
    const OM: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
    const TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";
    let prometheus_accept = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    let table: &[(Option<&str>, Option<&str>, &str, bool)] = &[
        (None, None, TEXT, false),
        (Some("text/plain"), None, TEXT, false),
        (Some("*/*"), Some("gzip"), TEXT, true),
        (Some(prometheus_accept), Some("gzip"), OM, true),
        (Some("application/openmetrics-text"), None, OM, false),
        (
            Some("text/plain;q=0.9, application/openmetrics-text;q=0.5"),
            Some("br;q=1.0, gzip;q=0.8"),
            TEXT,
            true,
        ),
        (
            Some("text/plain;q=0.2, application/openmetrics-text;version=1.0.0;q=0.7"),
            Some("gzip;q=0"),
            OM,
            false,
        ),
        (Some("application/json"), Some("*"), TEXT, true),
        (
            Some("application/openmetrics-text;version=9.9"),
            Some("identity"),
            TEXT,
            false,
        ),
    ];
    for (accept, encoding, want_type, want_gzip) in table {
        let mut req = c.get(&url);
        if let Some(a) = accept {
            req = req.header("accept", *a);
        }
        if let Some(e) = encoding {
            req = req.header("accept-encoding", *e);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), 200);
        let ctype = resp.headers()["content-type"].to_str().unwrap().to_owned();
        assert_eq!(ctype, *want_type, "accept {accept:?}");
        let gz = resp
            .headers()
            .get("content-encoding")
            .is_some_and(|v| v == "gzip");
        assert_eq!(gz, *want_gzip, "accept-encoding {encoding:?}");
        let body = resp.bytes().await.unwrap();
        let text = if gz {
            gunzip(&body)
        } else {
            String::from_utf8(body.to_vec()).unwrap()
        };
        if *want_type == OM {
            assert!(text.contains("# TYPE jobs counter\n"), "{text}");
            assert!(text.ends_with("# EOF\n"));
        } else {
            assert!(
                text.contains("# TYPE jobs_total counter\njobs_total 3\n"),
                "{text}"
            );
            assert!(!text.contains("# EOF"));
        }
        assert!(text.contains("queue_depth 2\n"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn name_selection_and_handler_metrics() {
    let url = serve_endpoint(MetricsEndpoint::new(registry())).await;
    let c = client();
    let text = c
        .get(format!(
            "{url}?name[]=jobs_total&name%5B%5D=vsanobs_metric_handler_requests"
        ))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("jobs_total 3\n"), "{text}");
    assert!(!text.contains("queue_depth"), "{text}");
    // The first scrape is counted once it is done: the second sees it.
    assert!(
        text.contains("vsanobs_metric_handler_requests_total{code=\"200\"} 0\n"),
        "{text}"
    );
    let text = c.get(&url).send().await.unwrap().text().await.unwrap();
    assert!(
        text.contains("vsanobs_metric_handler_requests_total{code=\"200\"} 1\n"),
        "{text}"
    );
    assert!(
        text.contains("vsanobs_metric_handler_requests_in_flight 1\n"),
        "{text}"
    );
    // Other methods are refused.
    let resp = c.post(&url).send().await.unwrap();
    assert_eq!(resp.status(), 405);
}

/// A collector that blocks every scrape until the test opens the gate.
#[derive(Clone, Default)]
struct Gate(Arc<(Mutex<(bool, usize)>, Condvar)>);

impl Gate {
    fn wait_entered(&self, n: usize) {
        let (m, cv) = &*self.0;
        let g = m.lock().unwrap();
        let (_g, t) = cv
            .wait_timeout_while(g, Duration::from_secs(30), |s| s.1 < n)
            .unwrap();
        assert!(!t.timed_out(), "scrape never reached the collector");
    }
    fn open(&self) {
        let (m, cv) = &*self.0;
        m.lock().unwrap().0 = true;
        cv.notify_all();
    }
}

impl Collector for Gate {
    fn name(&self) -> &str {
        "gate"
    }
    fn collect_into(&self, _sink: &mut FamilySink<'_>) -> Result<(), CollectError> {
        let (m, cv) = &*self.0;
        let mut g = m.lock().unwrap();
        g.1 += 1;
        cv.notify_all();
        let _g = cv
            .wait_timeout_while(g, Duration::from_secs(60), |s| !s.0)
            .unwrap();
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrency_limit_returns_503_then_200() {
    let r = registry();
    let gate = Gate::default();
    r.register_collector(gate.clone()).unwrap();
    let url = serve_endpoint(MetricsEndpoint::new(r).max_concurrent_scrapes(1)).await;
    let c = client();
    let first = tokio::spawn({
        let c = c.clone();
        let url = url.clone();
        // The slot is held until the whole body is written, so the first answer is read to
        // its end before the third scrape: its status alone arrives before that.
        async move {
            let resp = c.get(&url).send().await.unwrap();
            let status = resp.status();
            resp.bytes().await.unwrap();
            status
        }
    });
    let g = gate.clone();
    tokio::task::spawn_blocking(move || g.wait_entered(1))
        .await
        .unwrap();
    let second = c.get(&url).send().await.unwrap();
    assert_eq!(second.status(), 503);
    gate.open();
    assert_eq!(first.await.unwrap(), 200);
    let third = c.get(&url).send().await.unwrap();
    assert_eq!(third.status(), 200);
    let text = third.text().await.unwrap();
    assert!(
        text.contains("vsanobs_metric_handler_requests_total{code=\"503\"} 1\n"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout_returns_503() {
    let r = registry();
    let gate = Gate::default();
    r.register_collector(gate.clone()).unwrap();
    let url =
        serve_endpoint(MetricsEndpoint::new(r).timeout(Some(Duration::from_millis(200)))).await;
    let c = client();
    let resp = c.get(&url).send().await.unwrap();
    assert_eq!(resp.status(), 503);
    assert!(resp.text().await.unwrap().contains("timeout"));
    gate.open();
    assert_eq!(c.get(&url).send().await.unwrap().status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_auth_with_bcrypt_hash() {
    let hash = bcrypt::hash("s3cret", 4).unwrap();
    assert!(
        MetricsEndpoint::new(Registry::new())
            .basic_auth("prom", "not-a-hash")
            .is_err()
    );
    let endpoint = MetricsEndpoint::new(registry())
        .basic_auth("prom", hash)
        .unwrap();
    let url = serve_endpoint(endpoint).await;
    let c = client();
    for (user, pass) in [
        (None, None),
        (Some("prom"), Some("wrong")),
        (Some("other"), Some("s3cret")),
        (Some("prom"), Some("")),
    ] {
        let mut req = c.get(&url);
        if let Some(u) = user {
            req = req.basic_auth(u, pass);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), 401, "{user:?}/{pass:?}");
        assert!(resp.headers().contains_key("www-authenticate"));
    }
    let bad = c
        .get(&url)
        .header("authorization", "Basic !!!not base64")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 401);
    let ok = c
        .get(&url)
        .basic_auth("prom", Some("s3cret"))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert!(ok.text().await.unwrap().contains("jobs_total 3\n"));
}

#[test]
fn endpoint_output_passes_promtool() {
    let r = registry();
    let m = vsanobs_http::RouteMetrics::new(&r).unwrap();
    m.start(Some("/users/{id}"), vsanobs_http::Method::Get)
        .finish(200);
    m.start(None, vsanobs_http::Method::parse("BREW"))
        .finish(404);
    let e = MetricsEndpoint::new(r);
    e.render(&Default::default());
    let resp = e.render(&Default::default());
    let text = String::from_utf8(resp.body).unwrap();
    vsanobs_testkit::promtool_check_metrics(&text).unwrap_or_else(|err| panic!("{err}\n{text}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scrapers_timeout_header_caps_the_timeout() {
    let r = registry();
    let gate = Gate::default();
    r.register_collector(gate.clone()).unwrap();
    // The configured timeout (30 s) is longer than the client waits: only the header can
    // make the endpoint answer first.
    let url = serve_endpoint(MetricsEndpoint::new(r).timeout(Some(Duration::from_secs(30)))).await;
    let c = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let resp = c
        .get(&url)
        .header("X-Prometheus-Scrape-Timeout-Seconds", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 503);
    assert!(resp.text().await.unwrap().contains("timeout"));
    gate.open();
    let resp = c
        .get(&url)
        .header("X-Prometheus-Scrape-Timeout-Seconds", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_scrape_timeout_headers_are_ignored() {
    const BAD: [&str; 9] = [
        "-1",
        "0",
        "-0.0",
        "1e400",
        "99999999999999999999",
        "NaN",
        "inf",
        "ten seconds",
        "",
    ];
    // The configured timeout applies: a closed gate gives 503 after it, not a hang and not a
    // panic (a panic would close the connection).
    let r = registry();
    let gate = Gate::default();
    r.register_collector(gate.clone()).unwrap();
    let endpoint = MetricsEndpoint::new(r)
        .timeout(Some(Duration::from_millis(300)))
        .max_concurrent_scrapes(BAD.len() + 1);
    let url = serve_endpoint(endpoint.clone()).await;
    let c = client();
    for bad in BAD {
        let resp = c
            .get(&url)
            .header("X-Prometheus-Scrape-Timeout-Seconds", bad)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 503, "{bad:?}");
        let req = vsanobs_http::ScrapeRequest {
            scrape_timeout: Some(bad.to_owned()),
            ..vsanobs_http::ScrapeRequest::default()
        };
        assert_eq!(
            endpoint.effective_timeout(&req),
            Some(Duration::from_millis(300)),
            "{bad:?}"
        );
    }
    gate.open();
    // And an open gate answers 200 whatever the header says.
    for bad in BAD {
        let resp = c
            .get(&url)
            .header("X-Prometheus-Scrape-Timeout-Seconds", bad)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{bad:?}");
    }
}

/// A collector that takes the given time per scrape.
struct Slow(Duration);

impl Collector for Slow {
    fn name(&self) -> &str {
        "slow"
    }
    fn collect_into(&self, _sink: &mut FamilySink<'_>) -> Result<(), CollectError> {
        std::thread::sleep(self.0);
        Ok(())
    }
}

#[test]
fn prometheus_gets_an_answer_within_its_own_scrape_timeout() {
    // Prometheus scrapes every second with a 1 s timeout (testkit's default) and sends it in
    // X-Prometheus-Scrape-Timeout-Seconds; each scrape takes 3 s. The endpoint's own
    // timeout (30 s) would let Prometheus give up first ("context deadline exceeded"); the
    // header makes the endpoint answer 503 after 0.5 s instead.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let r = registry();
    r.register_collector(Slow(Duration::from_secs(3))).unwrap();
    let endpoint = MetricsEndpoint::new(r.clone()).timeout(Some(Duration::from_secs(30)));
    let url = rt.block_on(serve_endpoint(endpoint));
    let target = url
        .trim_start_matches("http://")
        .trim_end_matches("/metrics")
        .to_owned();
    let prometheus = vsanobs_testkit::Prometheus::start(vsanobs_testkit::PrometheusConfig {
        scrape_targets: vec![target],
        ..vsanobs_testkit::PrometheusConfig::default()
    })
    .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let targets = prometheus.targets().unwrap();
        let error = targets[0]["lastError"].as_str().unwrap_or("").to_owned();
        if error.contains("503") {
            break;
        }
        assert!(
            !error.contains("deadline") && !error.contains("timeout"),
            "Prometheus timed out before the endpoint answered: {error}"
        );
        assert!(
            std::time::Instant::now() < deadline,
            "no scrape answered: {targets:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let text = r.encode_to_string(vsanobs_core::Format::PrometheusText);
    assert!(
        !text.contains("vsanobs_metric_handler_requests_total{code=\"503\"} 0\n"),
        "{text}"
    );
}
