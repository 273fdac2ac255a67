//! The prometheus-client bridge against prometheus-client's own encoder: every sample the
//! foreign registry serves is served by vsanobs with the same name, labels and value, in
//! both formats; exemplars kept; bad names sanitised and counted; a panicking foreign
//! registry isolated.

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use parking_lot::RwLock;
use prometheus_client::collector::Collector as ForeignCollector;
use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::exemplar::{CounterWithExemplar, HistogramWithExemplars};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::{Registry as ForeignRegistry, Unit};
use vsanobs_bridge::problems::{self, Problem};
use vsanobs_bridge::prometheus_client::PrometheusClientCollector;
use vsanobs_core::testutil::{ParsedSample, parse, sample_value};
use vsanobs_core::{Format, Registry};

type Labels = Vec<(String, String)>;

fn l(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| ((*k).into(), (*v).into()))
        .collect()
}

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const SPAN: &str = "00f067aa0ba902b7";

/// A foreign registry with every metric type prometheus-client has, sub-registries,
/// units and exemplars.
fn foreign() -> ForeignRegistry {
    let mut r = ForeignRegistry::default();
    let requests = Family::<Labels, Counter>::default();
    r.register("http_requests", "Requests served.", requests.clone());
    requests
        .get_or_create(&l(&[("method", "GET"), ("code", "200")]))
        .inc_by(41);
    requests
        .get_or_create(&l(&[("method", "POST"), ("code", "500")]))
        .inc();

    let bytes = Counter::<f64>::default();
    r.register_with_unit("sent", "Bytes sent.", Unit::Bytes, bytes.clone());
    bytes.inc_by(1536.5);

    let temp = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
    r.register("temperature", "A float gauge.", temp.clone());
    temp.set(-3.25);
    let depth = Gauge::<i64>::default();
    r.register("queue_depth", "An integer gauge.", depth.clone());
    depth.set(-7);

    let latency =
        Family::<Labels, Histogram>::new_with_constructor(|| Histogram::new([0.005, 0.1, 1.0]));
    r.register_with_unit(
        "request_duration",
        "Request latency.",
        Unit::Seconds,
        latency.clone(),
    );
    for v in [0.001, 0.05, 0.2, 3.0] {
        latency.get_or_create(&l(&[("route", "/a")])).observe(v);
    }
    latency
        .get_or_create(&l(&[("route", "/b \"quoted\"\\")]))
        .observe(0.5);

    r.register(
        "build",
        "Build information.",
        Info::new(l(&[("version", "1.2.3"), ("commit", "abc")])),
    );

    let ex_counter = CounterWithExemplar::<Labels>::default();
    r.register("jobs", "Jobs with exemplars.", ex_counter.clone());
    ex_counter.inc_by(
        5,
        Some(l(&[("trace_id", TRACE), ("span_id", SPAN)])),
        Some(UNIX_EPOCH + Duration::from_millis(1_700_000_000_123)),
    );
    let ex_hist = HistogramWithExemplars::<Labels>::new([0.1, 1.0].into_iter());
    r.register("db_query", "Query latency with exemplars.", ex_hist.clone());
    ex_hist.observe(
        0.05,
        Some(l(&[("trace_id", TRACE), ("span_id", SPAN)])),
        Some(UNIX_EPOCH + Duration::from_millis(1_700_000_001_000)),
    );
    ex_hist.observe(0.5, None, None);
    // Exemplars vsanobs's own metrics never record: a trace id alone, custom labels with a
    // value that needs escaping, no timestamp, a timestamp finer than a millisecond.
    ex_hist.observe(
        5.0,
        Some(l(&[("trace_id", TRACE)])),
        Some(UNIX_EPOCH + Duration::from_micros(1_700_000_002_123_456)),
    );
    let traced = CounterWithExemplar::<Labels>::default();
    r.register("traced", "A trace id alone, no timestamp.", traced.clone());
    traced.inc_by(2, Some(l(&[("trace_id", TRACE)])), None);
    let custom = Family::<Labels, CounterWithExemplar<Labels>>::default();
    r.register("custom_exemplar", "Custom exemplar labels.", custom.clone());
    custom.get_or_create(&l(&[("shard", "1")])).inc_by(
        4,
        Some(l(&[("trace_id", "abc"), ("user", "x y \"q\" \\ \n")])),
        None,
    );

    let sub = r.sub_registry_with_prefix("worker");
    let sub = sub.sub_registry_with_label(("pool".into(), "io".into()));
    let busy = Gauge::<i64>::default();
    sub.register("busy", "Busy workers.", busy.clone());
    busy.set(3);
    r
}

/// prometheus-client's own output, parsed.
fn foreign_samples(r: &ForeignRegistry) -> Vec<ParsedSample> {
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, r).unwrap();
    parse(&text)
        .unwrap()
        .into_iter()
        .flat_map(|f| f.samples)
        .filter(|s| !s.name.ends_with("_created"))
        .collect()
}

fn sorted(mut labels: Labels) -> Labels {
    labels.sort();
    labels
}

fn same_value(a: f64, b: f64) -> bool {
    a == b || (a.is_nan() && b.is_nan())
}

/// Every foreign sample appears in `ours` with equal labels and value, and nothing else
/// does (apart from the registry's self-metrics). `_created` samples are left out on both
/// sides: each library stamps its own series' creation time.
fn assert_sample_for_sample(theirs: &[ParsedSample], text: &str, format: Format) {
    let ours: Vec<ParsedSample> = parse(text)
        .unwrap()
        .into_iter()
        .flat_map(|f| f.samples)
        .filter(|s| !s.name.starts_with("vsanobs_") && !s.name.ends_with("_created"))
        .collect();
    assert_eq!(ours.len(), theirs.len(), "sample count differs:\n{text}");
    for t in theirs {
        let o = ours
            .iter()
            .find(|o| o.name == t.name && sorted(o.labels.clone()) == sorted(t.labels.clone()))
            .unwrap_or_else(|| panic!("{} {:?} missing from:\n{text}", t.name, t.labels));
        assert!(
            same_value(o.value, t.value),
            "{} {:?}: {} != {}",
            t.name,
            t.labels,
            o.value,
            t.value
        );
        if format == Format::OpenMetrics {
            match (&o.exemplar, &t.exemplar) {
                (Some(oe), Some(te)) => {
                    assert_eq!(sorted(oe.labels.clone()), sorted(te.labels.clone()));
                    assert_eq!(oe.value, te.value);
                    assert_eq!(oe.timestamp, te.timestamp);
                }
                (None, None) => {}
                (o, t) => panic!("{}: exemplar {o:?} != {t:?}", t.is_some()),
            }
        } else {
            assert!(o.exemplar.is_none());
        }
    }
}

/// The exemplar part (after ` # `) of every sample line that has one, by sample name and
/// sorted labels.
fn raw_exemplars(text: &str) -> Vec<(String, Labels, String)> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let at = line.find(" # ")?;
            let sample = parse(&format!("{}\n", &line[..at]))
                .unwrap_or_else(|e| panic!("{e}: {line}"))
                .into_iter()
                .flat_map(|f| f.samples)
                .next()
                .expect("one sample");
            Some((sample.name, sorted(sample.labels), line[at..].to_owned()))
        })
        .collect()
}

#[test]
fn exemplars_are_written_exactly_as_prometheus_client_writes_them() {
    let mut theirs_text = String::new();
    prometheus_client::encoding::text::encode(&mut theirs_text, &foreign()).unwrap();
    let theirs = raw_exemplars(&theirs_text);
    // The fixture's exemplars, as prometheus-client writes them.
    let expected = [
        format!(" # {{trace_id=\"{TRACE}\",span_id=\"{SPAN}\"}} 5.0 1700000000.123"),
        format!(" # {{trace_id=\"{TRACE}\"}} 2.0"),
        " # {trace_id=\"abc\",user=\"x y \\\"q\\\" \\\\ \\n\"} 4.0".to_owned(),
        format!(" # {{trace_id=\"{TRACE}\"}} 5.0 1700000002.123456"),
    ];
    for e in &expected {
        assert!(
            theirs.iter().any(|(_, _, x)| x == e),
            "{e} not in prometheus-client's output:\n{theirs_text}"
        );
    }
    assert_eq!(theirs.len(), 5, "{theirs_text}");

    let registry = Registry::new();
    PrometheusClientCollector::new("pc_exemplars", foreign())
        .register(&registry)
        .unwrap();
    let text = registry.encode_to_string(Format::OpenMetrics);
    let ours = raw_exemplars(&text);
    assert_eq!(ours.len(), theirs.len(), "{text}");
    for t in &theirs {
        assert!(ours.contains(t), "{t:?} missing from:\n{text}");
    }
    assert_eq!(problems::get("pc_exemplars", Problem::ExemplarDropped), 0);

    // The protobuf format carries the same exemplars: labels, value, timestamp or none.
    let body = registry.encode_to_vec(Format::Protobuf);
    let traced = counter_exemplar(&body, "traced_total");
    assert_eq!(traced, (l(&[("trace_id", TRACE)]), 2.0, false));
    let custom = counter_exemplar(&body, "custom_exemplar_total");
    assert_eq!(
        custom,
        (
            l(&[("trace_id", "abc"), ("user", "x y \"q\" \\ \n")]),
            4.0,
            false
        )
    );
    let jobs = counter_exemplar(&body, "jobs_total");
    assert_eq!(
        jobs,
        (l(&[("trace_id", TRACE), ("span_id", SPAN)]), 5.0, true)
    );
}

/// The fields of one protobuf message: (field number, varint or fixed64 value, bytes of a
/// length-delimited field).
fn fields(mut msg: &[u8]) -> Vec<(u64, u64, &[u8])> {
    fn varint(b: &mut &[u8]) -> u64 {
        let mut v = 0;
        for i in 0.. {
            let byte = b[0];
            *b = &b[1..];
            v |= u64::from(byte & 0x7f) << (7 * i);
            if byte < 0x80 {
                break;
            }
        }
        v
    }
    let mut out = Vec::new();
    while !msg.is_empty() {
        let key = varint(&mut msg);
        match key & 7 {
            0 => out.push((key >> 3, varint(&mut msg), &[][..])),
            1 => {
                let v = u64::from_le_bytes(msg[..8].try_into().unwrap());
                msg = &msg[8..];
                out.push((key >> 3, v, &[][..]));
            }
            2 => {
                let len = varint(&mut msg) as usize;
                out.push((key >> 3, 0, &msg[..len]));
                msg = &msg[len..];
            }
            w => panic!("wire type {w}"),
        }
    }
    out
}

/// The exemplar of the first sample of counter family `name` in a delimited protobuf body:
/// its labels, value and whether it has a timestamp.
fn counter_exemplar(body: &[u8], name: &str) -> (Labels, f64, bool) {
    let mut rest = body;
    while !rest.is_empty() {
        // One varint length, then the MetricFamily.
        let n = rest.iter().position(|b| *b < 0x80).unwrap() + 1;
        let len = rest[..n]
            .iter()
            .rev()
            .fold(0usize, |acc, b| (acc << 7) | usize::from(b & 0x7f));
        let fam = fields(&rest[n..n + len]);
        rest = &rest[n + len..];
        if !fam.iter().any(|(f, _, b)| *f == 1 && *b == name.as_bytes()) {
            continue;
        }
        let metric = fam.iter().find(|(f, _, _)| *f == 4).expect("a metric").2;
        let counter = fields(metric)
            .into_iter()
            .find(|(f, _, _)| *f == 3)
            .expect("a counter")
            .2;
        let ex = fields(counter)
            .into_iter()
            .find(|(f, _, _)| *f == 2)
            .expect("an exemplar")
            .2;
        let mut labels = Vec::new();
        let (mut value, mut ts) = (f64::NAN, false);
        for (f, v, b) in fields(ex) {
            match f {
                1 => {
                    let pair = fields(b);
                    let text = |n| {
                        pair.iter()
                            .find(|(f, _, _)| *f == n)
                            .map_or(String::new(), |p| String::from_utf8(p.2.to_vec()).unwrap())
                    };
                    labels.push((text(1), text(2)));
                }
                2 => value = f64::from_bits(v),
                3 => ts = true,
                _ => {}
            }
        }
        return (labels, value, ts);
    }
    panic!("{name} not in the protobuf body");
}

#[test]
fn every_sample_equals_prometheus_clients_own_encoder_in_both_formats() {
    let theirs = foreign_samples(&foreign());
    assert!(
        theirs.len() > 20,
        "the fixture covers every type: {}",
        theirs.len()
    );
    assert!(theirs.iter().any(|s| s.exemplar.is_some()));

    let registry = Registry::new();
    let own = registry
        .counter("own_events", "vsanobs's own counter.")
        .unwrap();
    own.inc_by(2);
    PrometheusClientCollector::new("pc_equal", foreign())
        .register(&registry)
        .unwrap();

    for format in [Format::PrometheusText, Format::OpenMetrics] {
        let text = registry.encode_to_string(format);
        assert_sample_for_sample(&theirs, &text.replace("own_events_total 2\n", ""), format);
        let fams = parse(&text).unwrap();
        assert_eq!(sample_value(&fams, "own_events_total", &[]), Some(2.0));
        assert_eq!(
            sample_value(
                &fams,
                "vsanobs_scrape_collector_success",
                &[("collector", "pc_equal")]
            ),
            Some(1.0),
            "{text}"
        );
        // Types, help and units survive.
        assert!(
            text.contains("# TYPE request_duration_seconds histogram\n"),
            "{text}"
        );
        assert!(
            text.contains("# TYPE http_requests_total counter\n")
                || text.contains("# TYPE http_requests counter\n"),
            "{text}"
        );
        if format == Format::OpenMetrics {
            assert!(
                text.contains("# UNIT request_duration_seconds seconds\n"),
                "{text}"
            );
            assert!(text.contains("# TYPE build info\n"), "{text}");
            assert!(text.ends_with("# EOF\n"));
        }
    }
    vsanobs_testkit::promtool_check_metrics(&registry.encode_to_string(Format::PrometheusText))
        .expect("promtool accepts the bridged text");
}

#[test]
fn a_shared_registry_serves_what_is_registered_later() {
    let shared = Arc::new(RwLock::new(ForeignRegistry::default()));
    let registry = Registry::new();
    PrometheusClientCollector::shared("pc_shared", shared.clone())
        .register(&registry)
        .unwrap();
    assert!(
        !registry
            .encode_to_string(Format::PrometheusText)
            .contains("late_total")
    );
    let late = Counter::<u64>::default();
    shared
        .write()
        .register("late", "Registered after the bridge.", late.clone());
    late.inc_by(9);
    let text = registry.encode_to_string(Format::PrometheusText);
    assert!(text.contains("late_total 9\n"), "{text}");
}

#[derive(Debug)]
struct Panics;
impl ForeignCollector for Panics {
    fn encode(&self, _encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        panic!("foreign collector exploded");
    }
}

#[derive(Debug)]
struct Fails;
impl ForeignCollector for Fails {
    fn encode(&self, _encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        Err(std::fmt::Error)
    }
}

#[test]
fn a_foreign_registry_that_panics_is_isolated_like_any_collector() {
    let mut bad = ForeignRegistry::default();
    let c = Counter::<u64>::default();
    bad.register(
        "before_panic",
        "Served only if encoding finishes.",
        c.clone(),
    );
    c.inc();
    bad.register_collector(Box::new(Panics));

    let registry = Registry::new();
    let own = registry.gauge("still_served", "Own gauge.").unwrap();
    own.set(1);
    PrometheusClientCollector::new("pc_panics", bad)
        .register(&registry)
        .unwrap();
    PrometheusClientCollector::new("pc_fine", foreign())
        .register(&registry)
        .unwrap();

    for format in [Format::PrometheusText, Format::OpenMetrics] {
        let text = registry.encode_to_string(format);
        let fams = parse(&text).unwrap();
        assert_eq!(sample_value(&fams, "still_served", &[]), Some(1.0));
        assert!(!text.contains("before_panic"), "{text}");
        assert_eq!(
            sample_value(
                &fams,
                "vsanobs_scrape_collector_success",
                &[("collector", "pc_panics")]
            ),
            Some(0.0)
        );
        assert_eq!(
            sample_value(
                &fams,
                "vsanobs_scrape_collector_success",
                &[("collector", "pc_fine")]
            ),
            Some(1.0)
        );
        assert_eq!(sample_value(&fams, "queue_depth", &[]), Some(-7.0));
    }
}

#[test]
fn a_foreign_encoding_error_serves_what_was_written_and_reports_failure() {
    let mut bad = ForeignRegistry::default();
    let c = Counter::<u64>::default();
    bad.register(
        "written_first",
        "Encoded before the failing collector.",
        c.clone(),
    );
    c.inc_by(4);
    bad.register_collector(Box::new(Fails));
    let registry = Registry::new();
    PrometheusClientCollector::new("pc_fails", bad)
        .register(&registry)
        .unwrap();
    let fams = parse(&registry.encode_to_string(Format::PrometheusText)).unwrap();
    assert_eq!(sample_value(&fams, "written_first_total", &[]), Some(4.0));
    assert_eq!(
        sample_value(
            &fams,
            "vsanobs_scrape_collector_success",
            &[("collector", "pc_fails")]
        ),
        Some(0.0)
    );
}

#[test]
fn bad_foreign_names_and_labels_are_sanitised_counted_and_never_fail_a_scrape() {
    let mut r = ForeignRegistry::default();
    let dotted = Family::<Labels, Counter>::default();
    r.register("my.dotted name", "Dots and a space.", dotted.clone());
    dotted
        .get_or_create(&l(&[("http.method", "GET"), ("empty", "")]))
        .inc_by(2);
    let digit = Gauge::<i64>::default();
    r.register("9lives", "Leading digit.", digit.clone());
    digit.set(9);
    // A counter and a gauge under one name: the later family is dropped.
    let c = Counter::<u64>::default();
    r.register("clash", "A counter.", c.clone());
    c.inc();
    let g = Gauge::<i64>::default();
    r.register("clash", "A gauge under the counter's name.", g.clone());
    g.set(7);
    // An exemplar longer than OpenMetrics allows (128 characters): dropped, the sample kept.
    let ex = CounterWithExemplar::<Labels>::default();
    r.register("odd_exemplar", "An exemplar too long.", ex.clone());
    ex.inc_by(3, Some(l(&[("user", &"a".repeat(130))])), None);

    let registry = Registry::new();
    PrometheusClientCollector::new("pc_bad", r)
        .register(&registry)
        .unwrap();
    for format in [Format::PrometheusText, Format::OpenMetrics] {
        let text = registry.encode_to_string(format);
        let fams = parse(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
        assert_eq!(
            sample_value(&fams, "my_dotted_name_total", &[("http_method", "GET")]),
            Some(2.0),
            "{text}"
        );
        assert_eq!(sample_value(&fams, "_9lives", &[]), Some(9.0), "{text}");
        assert_eq!(sample_value(&fams, "clash_total", &[]), Some(1.0), "{text}");
        assert!(!text.contains("# TYPE clash gauge"), "{text}");
        assert_eq!(sample_value(&fams, "odd_exemplar_total", &[]), Some(3.0));
        assert_eq!(
            sample_value(
                &fams,
                "vsanobs_scrape_collector_success",
                &[("collector", "pc_bad")]
            ),
            Some(1.0),
            "{text}"
        );
    }
    vsanobs_testkit::promtool_check_metrics(&registry.encode_to_string(Format::PrometheusText))
        .expect("promtool accepts the sanitised text");
    // Three scrapes above: each problem counted once per scrape (two invalid names).
    assert_eq!(problems::get("pc_bad", Problem::InvalidMetricName), 6);
    assert_eq!(problems::get("pc_bad", Problem::InvalidLabelName), 3);
    assert_eq!(problems::get("pc_bad", Problem::EmptyLabelValue), 3);
    assert_eq!(problems::get("pc_bad", Problem::TypeConflict), 3);
    assert_eq!(problems::get("pc_bad", Problem::ExemplarDropped), 3);
    // Registered families are written before collectors run: a scrape shows the counts
    // up to the scrape before it.
    let text = registry.encode_to_string(Format::PrometheusText);
    assert!(
        text.contains(
            "vsanobs_bridge_problems_total{bridge=\"pc_bad\",reason=\"type_conflict\"} 3\n"
        ),
        "{text}"
    );
}
