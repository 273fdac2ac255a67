//! The Pushgateway exporter against a real Pushgateway (Debian `prometheus-pushgateway`) on
//! 127.0.0.1: pushed values are read back from its /metrics, grouping keys with `/` work
//! through the base64 form, POST keeps other families while PUT replaces the group, and
//! delete (on shutdown) removes the group.
#![cfg(feature = "push")]

use std::time::Duration;

use vsanobs_core::export::pushgateway::{PushMethod, PushgatewayExporter};
use vsanobs_core::export::{ExportError, Exporter, PushPipeline};
use vsanobs_core::{Counter, Family, Histogram, LabelSet, Registry};
use vsanobs_testkit::Pushgateway;

const T: Duration = Duration::from_secs(10);

fn start() -> Pushgateway {
    Pushgateway::start().unwrap_or_else(|e| panic!("cannot start the Pushgateway: {e}"))
}

/// Lines of the gateway's exposition for `name` whose labels include all of `want`.
fn lines<'a>(text: &'a str, name: &str, want: &[(&str, &str)]) -> Vec<&'a str> {
    text.lines()
        .filter(|l| {
            l.starts_with(name)
                && l[name.len()..].starts_with(['{', ' '])
                && want
                    .iter()
                    .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
        })
        .collect()
}

fn value(text: &str, name: &str, want: &[(&str, &str)]) -> Option<f64> {
    let found = lines(text, name, want);
    assert!(found.len() <= 1, "ambiguous {name} {want:?}: {found:?}");
    found
        .first()
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, LabelSet)]
struct Step {
    step: &'static str,
}

#[test]
fn pushgateway_values_grouping_base64_and_delete() {
    let gw = start();
    let registry = Registry::builder()
        .const_label("team", "storage")
        .build()
        .unwrap();
    let rows = Family::<Step, Counter>::new();
    registry
        .register("backup_rows", "Rows copied.", rows.clone())
        .unwrap();
    rows.get_or_create(&Step { step: "copy" }).inc_by(41);
    rows.get_or_create(&Step { step: "verify" }).inc_by(7);
    let size = registry
        .histogram("backup_chunk_bytes", "Chunk sizes.", [1024.0, 4096.0])
        .unwrap();
    size.observe(100.0);
    size.observe(2000.0);
    size.observe(9000.0);
    let last = registry
        .gauge("backup_last_success", "Last success.")
        .unwrap();
    last.set(1_700_000_000);

    let exporter = PushgatewayExporter::builder(gw.url(), "backup/nightly")
        .grouping_key("path", "/var/lib/db")
        .grouping_key("instance", "db-1")
        .delete_on_shutdown(true)
        .build()
        .unwrap();
    assert!(
        exporter.group_url().contains("/job@base64/"),
        "{}",
        exporter.group_url()
    );
    assert!(
        exporter.group_url().contains("/path@base64/"),
        "{}",
        exporter.group_url()
    );
    let pipeline = PushPipeline::builder(registry.clone())
        .interval(Duration::from_secs(3600))
        .exporter(exporter)
        .build()
        .unwrap();
    pipeline.push_now();

    let group = [
        ("job", "backup/nightly"),
        ("path", "/var/lib/db"),
        ("instance", "db-1"),
    ];
    let mut text = String::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while std::time::Instant::now() < deadline {
        text = gw.metrics_text().unwrap();
        if value(&text, "backup_rows_total", &[("step", "copy")]).is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut v: Vec<(&str, &str)> = group.to_vec();
        v.push(("team", "storage"));
        v.extend_from_slice(extra);
        v
    };
    assert_eq!(
        value(&text, "backup_rows_total", &with(&[("step", "copy")])),
        Some(41.0),
        "{text}"
    );
    assert_eq!(
        value(&text, "backup_rows_total", &with(&[("step", "verify")])),
        Some(7.0)
    );
    assert_eq!(value(&text, "backup_last_success", &with(&[])), Some(1.7e9));
    assert_eq!(
        value(&text, "backup_chunk_bytes_bucket", &with(&[("le", "1024")])),
        Some(1.0)
    );
    assert_eq!(
        value(&text, "backup_chunk_bytes_bucket", &with(&[("le", "4096")])),
        Some(2.0)
    );
    assert_eq!(
        value(&text, "backup_chunk_bytes_bucket", &with(&[("le", "+Inf")])),
        Some(3.0)
    );
    assert_eq!(
        value(&text, "backup_chunk_bytes_sum", &with(&[])),
        Some(11100.0)
    );
    assert_eq!(
        value(&text, "backup_chunk_bytes_count", &with(&[])),
        Some(3.0)
    );
    // The pipeline's own self-metrics travel with the push.
    assert!(text.contains("vsanobs_export_requests_total"), "{text}");

    // Shutdown flushes one last push, then deletes the group.
    rows.get_or_create(&Step { step: "copy" }).inc();
    let report = pipeline.shutdown(Duration::from_secs(20));
    assert!(report.is_complete(), "{report:?}");
    assert!(report.exporters[0].sent_batches >= 2, "{report:?}");
    let text = gw.metrics_text().unwrap();
    assert!(
        lines(&text, "backup_rows_total", &[("job", "backup/nightly")]).is_empty(),
        "group not deleted:\n{text}"
    );
}

#[test]
fn pushgateway_put_replaces_post_merges() {
    let gw = start();
    let a = Registry::new();
    a.gauge("fam_a", "A.").unwrap().set(1);
    let b = Registry::new();
    b.gauge("fam_b", "B.").unwrap().set(2);
    let job = [("job", "merge")];

    let mut put = PushgatewayExporter::builder(gw.url(), "merge")
        .build()
        .unwrap();
    put.push_registry(&a, T).unwrap();
    let mut post = PushgatewayExporter::builder(gw.url(), "merge")
        .method(PushMethod::Post)
        .build()
        .unwrap();
    post.push_registry(&b, T).unwrap();
    let text = gw.metrics_text().unwrap();
    assert_eq!(value(&text, "fam_a", &job), Some(1.0), "{text}");
    assert_eq!(value(&text, "fam_b", &job), Some(2.0), "{text}");

    put.push_registry(&b, T).unwrap();
    let text = gw.metrics_text().unwrap();
    assert_eq!(
        value(&text, "fam_a", &job),
        None,
        "PUT must replace the group:\n{text}"
    );
    assert_eq!(value(&text, "fam_b", &job), Some(2.0));

    put.delete(T).unwrap();
    let text = gw.metrics_text().unwrap();
    assert_eq!(value(&text, "fam_b", &job), None, "{text}");
}

#[test]
fn pushgateway_rejection_is_not_retried() {
    let gw = start();
    // A family whose type contradicts the one already stored in another group is refused
    // with 400 ("pushed metrics are invalid or inconsistent with existing metrics").
    let first = Registry::new();
    first.counter("dup", "Counted.").unwrap().inc();
    PushgatewayExporter::builder(gw.url(), "first")
        .build()
        .unwrap()
        .push_registry(&first, T)
        .unwrap();
    let registry = Registry::new();
    registry.gauge("dup_total", "Gauged.").unwrap().set(1);
    let mut e = PushgatewayExporter::builder(gw.url(), "second")
        .build()
        .unwrap();
    match e.push_registry(&registry, T) {
        Err(err @ ExportError::Rejected { status: 400, .. }) => {
            assert!(!err.is_retryable());
            assert!(err.to_string().contains("400"));
        }
        other => panic!("expected a 400 rejection, got {other:?}"),
    }
}

#[test]
fn pushgateway_down_is_retryable() {
    let mut gw = start();
    let url = gw.url();
    gw.stop();
    let registry = Registry::new();
    registry.gauge("g", "G.").unwrap().set(1);
    let mut e = PushgatewayExporter::builder(url, "j").build().unwrap();
    let err = e.push_registry(&registry, T).unwrap_err();
    assert!(err.is_retryable(), "{err:?}");
    assert!(matches!(err, ExportError::Connect(_)), "{err:?}");
    // The histogram type is exercised in the first test; keep the import used here too.
    let _ = Histogram::new([1.0]);
    assert_eq!(e.name(), "pushgateway");
}
