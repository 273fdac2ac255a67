//! Exact exposition output for every metric kind in both formats, registration errors,
//! negotiation and collector isolation, through the public API only.

use vsanobs_core::model::{
    Bucket, Exemplar, ExemplarLabels, MetricFamily, MetricKind, Number, Sample, Value,
};
use vsanobs_core::{
    CollectError, Collector, Counter, Family, FamilySink, FloatCounter, FloatGauge, Format, Gauge,
    Histogram, Info, LabelSet, LabelValue, Registry, RegistryError, TraceContext, negotiate,
};

#[derive(Clone, Debug, PartialEq, Eq, Hash, LabelValue)]
enum Op {
    Read,
    #[label(rename = "write")]
    Wr,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, LabelSet)]
struct OpLabels {
    op: Op,
    disk: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, LabelSet)]
struct Version {
    version: &'static str,
}

fn sample_registry() -> Registry {
    let r = Registry::builder()
        .prefix("t")
        .const_label("site", "a")
        .build()
        .unwrap();
    let c = Counter::default();
    c.inc_by(5);
    r.register("events_total", "Events seen.", c).unwrap();
    let fc = FloatCounter::default();
    fc.inc_by(1.5);
    r.register_with_unit("cpu_seconds_total", "CPU time.", "seconds", fc)
        .unwrap();
    let g = Gauge::default();
    g.set(-3);
    r.register("level", "A level.", g).unwrap();
    let fg = FloatGauge::default();
    fg.set(f64::NAN);
    r.register("ratio", "A ratio with \"quotes\" and \\ and\nnewline.", fg)
        .unwrap();
    let h = Histogram::new([0.5, 1.0]);
    h.observe(0.25);
    h.observe(0.75);
    h.observe(3.0);
    r.register_with_unit("wait_seconds", "Wait time.", "seconds", h)
        .unwrap();
    r.register(
        "build",
        "Build facts.",
        Info::new(Version { version: "1.2" }),
    )
    .unwrap();
    let fam: Family<OpLabels, Counter> = Family::with_cap(10);
    fam.get_or_create(&OpLabels {
        op: Op::Read,
        disk: "d\"1\\\n".into(),
    })
    .inc();
    fam.get_or_create(&OpLabels {
        op: Op::Wr,
        disk: "中文 🚀".into(),
    })
    .inc_by(2);
    r.register("io_total", "IOs.", fam).unwrap();
    r
}

#[test]
fn text_0_0_4_exact() {
    let text = sample_registry().encode_to_string(Format::PrometheusText);
    let expected = r#"# HELP t_events_total Events seen.
# TYPE t_events_total counter
t_events_total{site="a"} 5
# HELP t_cpu_seconds_total CPU time.
# TYPE t_cpu_seconds_total counter
t_cpu_seconds_total{site="a"} 1.5
# HELP t_level A level.
# TYPE t_level gauge
t_level{site="a"} -3
# HELP t_ratio A ratio with "quotes" and \\ and\nnewline.
# TYPE t_ratio gauge
t_ratio{site="a"} NaN
# HELP t_wait_seconds Wait time.
# TYPE t_wait_seconds histogram
t_wait_seconds_bucket{site="a",le="0.5"} 1
t_wait_seconds_bucket{site="a",le="1.0"} 2
t_wait_seconds_bucket{site="a",le="+Inf"} 3
t_wait_seconds_sum{site="a"} 4.0
t_wait_seconds_count{site="a"} 3
# HELP t_build_info Build facts.
# TYPE t_build_info gauge
t_build_info{site="a",version="1.2"} 1
# HELP t_io_total IOs.
# TYPE t_io_total counter
t_io_total{site="a",op="read",disk="d\"1\\\n"} 1
t_io_total{site="a",op="write",disk="中文 🚀"} 2
# HELP vsanobs_series_overflow_total Label sets refused because their family reached its series cap.
# TYPE vsanobs_series_overflow_total counter
vsanobs_series_overflow_total{site="a",family="t_io"} 0
"#;
    assert_eq!(text, expected);
}

#[test]
fn openmetrics_exact() {
    let r = sample_registry();
    let text = r.encode_to_string(Format::OpenMetrics);
    // `_created` samples carry the time each series was created; the rest is exact.
    let created: Vec<&str> = text.lines().filter(|l| l.contains("_created")).collect();
    assert_eq!(created.len(), 5, "{text}");
    for line in &created {
        let t: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
        let now = vsanobs_core::clock::unix_seconds();
        // Written to the millisecond, rounded to nearest: up to 0.5 ms past the instant.
        assert!(t > now - 600.0 && t <= now + 0.001, "{line}");
    }
    let text: String = text
        .lines()
        .filter(|l| !l.contains("_created"))
        .map(|l| format!("{l}\n"))
        .collect();
    let expected = r#"# TYPE t_events counter
# HELP t_events Events seen.
t_events_total{site="a"} 5
# TYPE t_cpu_seconds counter
# UNIT t_cpu_seconds seconds
# HELP t_cpu_seconds CPU time.
t_cpu_seconds_total{site="a"} 1.5
# TYPE t_level gauge
# HELP t_level A level.
t_level{site="a"} -3
# TYPE t_ratio gauge
# HELP t_ratio A ratio with \"quotes\" and \\ and\nnewline.
t_ratio{site="a"} NaN
# TYPE t_wait_seconds histogram
# UNIT t_wait_seconds seconds
# HELP t_wait_seconds Wait time.
t_wait_seconds_bucket{site="a",le="0.5"} 1
t_wait_seconds_bucket{site="a",le="1.0"} 2
t_wait_seconds_bucket{site="a",le="+Inf"} 3
t_wait_seconds_sum{site="a"} 4.0
t_wait_seconds_count{site="a"} 3
# TYPE t_build info
# HELP t_build Build facts.
t_build_info{site="a",version="1.2"} 1
# TYPE t_io counter
# HELP t_io IOs.
t_io_total{site="a",op="read",disk="d\"1\\\n"} 1
t_io_total{site="a",op="write",disk="中文 🚀"} 2
# TYPE vsanobs_series_overflow counter
# HELP vsanobs_series_overflow Label sets refused because their family reached its series cap.
vsanobs_series_overflow_total{site="a",family="t_io"} 0
# EOF
"#;
    assert_eq!(text, expected);
}

#[test]
fn infinities_and_exemplars() {
    let r = Registry::new();
    let g = FloatGauge::default();
    r.register("hi", "High.", g.clone()).unwrap();
    g.set(f64::INFINITY);
    let h = Histogram::with_exemplars([1.0]);
    r.register("lat", "Latency.", h.clone()).unwrap();
    let ctx = TraceContext::from_ids(0x0af7651916cd43dd8448eb211c80319c, 0xb7ad6b7169203331);
    h.observe_with_exemplar(0.5, &ctx);
    let c = Counter::default();
    r.register("reqs", "Requests.", c.clone()).unwrap();
    c.inc_by_with_exemplar(1, &ctx);

    let text = r.encode_to_string(Format::PrometheusText);
    assert!(text.contains("hi +Inf\n"), "{text}");
    assert!(
        !text.contains("trace_id"),
        "text 0.0.4 has no exemplars: {text}"
    );
    g.set(f64::NEG_INFINITY);
    let om = r.encode_to_string(Format::OpenMetrics);
    assert!(om.contains("hi -Inf\n"), "{om}");
    let bucket = om
        .lines()
        .find(|l| l.starts_with("lat_bucket{le=\"1.0\"}"))
        .unwrap();
    assert!(
        bucket.starts_with(
            "lat_bucket{le=\"1.0\"} 1 # {trace_id=\"0af7651916cd43dd8448eb211c80319c\",span_id=\"b7ad6b7169203331\"} 0.5 "
        ),
        "{bucket}"
    );
    let total = om.lines().find(|l| l.starts_with("reqs_total")).unwrap();
    assert!(
        total.contains(
            "# {trace_id=\"0af7651916cd43dd8448eb211c80319c\",span_id=\"b7ad6b7169203331\"} 1.0 "
        ),
        "{total}"
    );
    // The +Inf bucket got no exemplar.
    let inf = om
        .lines()
        .find(|l| l.starts_with("lat_bucket{le=\"+Inf\"}"))
        .unwrap();
    assert_eq!(inf, "lat_bucket{le=\"+Inf\"} 1");
}

#[test]
fn registration_errors_are_typed() {
    let r = Registry::new();
    r.register("dup", "x", Gauge::default()).unwrap();
    assert!(matches!(
        r.register("dup", "x", Gauge::default()),
        Err(RegistryError::AlreadyRegistered { .. })
    ));
    // A counter named `dup_total` would export a family called `dup` in OpenMetrics.
    assert!(matches!(
        r.register("dup_total", "x", Counter::default()),
        Err(RegistryError::AlreadyRegistered { .. })
    ));
    r.register("h", "x", Histogram::default()).unwrap();
    assert!(matches!(
        r.register("h_count", "x", Gauge::default()),
        Err(RegistryError::AlreadyRegistered { .. })
    ));
    assert!(matches!(
        r.register("1bad", "x", Gauge::default()),
        Err(RegistryError::InvalidMetricName { .. })
    ));
    assert!(matches!(
        r.register("with-dash", "x", Gauge::default()),
        Err(RegistryError::InvalidMetricName { .. })
    ));
    assert!(matches!(
        r.register("nohelp", " ", Gauge::default()),
        Err(RegistryError::EmptyHelp { .. })
    ));
    assert!(matches!(
        r.register_with_unit("latency_ms", "x", "seconds", Gauge::default()),
        Err(RegistryError::UnitMismatch { .. })
    ));
    assert!(matches!(
        r.register("vsanobs_series_overflow_total", "x", Counter::default()),
        Err(RegistryError::Reserved { .. })
    ));
    #[derive(Clone, Debug, PartialEq, Eq, Hash, LabelSet)]
    struct Le {
        le: String,
    }
    assert!(matches!(
        r.register("hist2", "x", Family::<Le, Histogram>::new()),
        Err(RegistryError::InvalidLabelName { .. })
    ));
    let dupe = Registry::builder()
        .const_label("a", "1")
        .const_label("a", "2")
        .build();
    assert!(matches!(dupe, Err(RegistryError::InvalidLabelName { .. })));
    // Nothing already registered was lost.
    assert!(
        r.encode_to_string(Format::PrometheusText)
            .contains("# TYPE dup gauge")
    );
    // Unregister by the registered name, with or without suffix.
    r.unregister("h").unwrap();
    r.register("h_count", "x", Gauge::default()).unwrap();
    assert!(matches!(
        r.unregister("nope"),
        Err(RegistryError::NotFound { .. })
    ));
    let err = r.register("dup", "x", Gauge::default()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "metric \"dup\" collides with the already registered \"dup\""
    );
}

#[test]
fn negotiation_table() {
    let cases: &[(Option<&str>, Format)] = &[
        (None, Format::PrometheusText),
        (Some(""), Format::PrometheusText),
        (Some("*/*"), Format::PrometheusText),
        (Some("text/plain;version=0.0.4"), Format::PrometheusText),
        (Some("application/openmetrics-text"), Format::OpenMetrics),
        (
            Some("application/openmetrics-text; version=1.0.0; charset=utf-8"),
            Format::OpenMetrics,
        ),
        (
            Some("application/openmetrics-text;version=0.0.1"),
            Format::OpenMetrics,
        ),
        (
            Some("application/openmetrics-text;version=2.0.0"),
            Format::PrometheusText,
        ),
        (
            Some("text/plain;q=0.9,application/openmetrics-text;q=0.5"),
            Format::PrometheusText,
        ),
        (
            Some("text/plain;q=0.4,application/openmetrics-text;q=0.5"),
            Format::OpenMetrics,
        ),
        (
            Some("application/openmetrics-text;q=0"),
            Format::PrometheusText,
        ),
        (Some("application/json"), Format::PrometheusText),
        (
            Some(
                "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.7,text/plain;version=0.0.4;q=0.3",
            ),
            Format::Protobuf,
        ),
        // Prometheus 2.42 with --enable-feature=native-histograms.
        (
            Some(
                "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.7,application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.3,*/*;q=0.2",
            ),
            Format::Protobuf,
        ),
        // Unknown extra parameters are ignored, as client_golang does.
        (
            Some(
                "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited; escaping=underscores; foo=\"bar\"",
            ),
            Format::Protobuf,
        ),
        // An encoding or message this library does not write: text.
        (
            Some(
                "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=compact-text",
            ),
            Format::PrometheusText,
        ),
        (
            Some("application/vnd.google.protobuf;proto=other.Message;encoding=delimited"),
            Format::PrometheusText,
        ),
        (
            Some("application/vnd.google.protobuf;encoding=delimited"),
            Format::PrometheusText,
        ),
        (
            Some(
                "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.2,application/openmetrics-text;q=0.9",
            ),
            Format::OpenMetrics,
        ),
        (
            Some(
                "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=nonsense",
            ),
            Format::PrometheusText,
        ),
        (
            Some(
                "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
            ),
            Format::OpenMetrics,
        ),
        (Some("garbage;;;q=abc"), Format::PrometheusText),
    ];
    for (accept, want) in cases {
        assert_eq!(negotiate(*accept), *want, "Accept: {accept:?}");
    }
    assert_eq!(
        Format::OpenMetrics.content_type(),
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    assert_eq!(
        Format::PrometheusText.content_type(),
        "text/plain; version=0.0.4; charset=utf-8"
    );
    assert_eq!(
        Format::Protobuf.content_type(),
        "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited"
    );
}

#[derive(Debug)]
struct Good;
impl Collector for Good {
    fn name(&self) -> &str {
        "good"
    }
    fn collect_into(&self, sink: &mut FamilySink<'_>) -> Result<(), CollectError> {
        sink.push(
            MetricFamily::new("good_value", "Good.", MetricKind::Gauge)
                .with_sample(Sample::gauge(1.0)),
        );
        Ok(())
    }
}

#[derive(Debug)]
struct Partial;
impl Collector for Partial {
    fn name(&self) -> &str {
        "partial"
    }
    fn collect_into(&self, sink: &mut FamilySink<'_>) -> Result<(), CollectError> {
        sink.push(
            MetricFamily::new("partial_ok", "Readable part.", MetricKind::Gauge)
                .with_sample(Sample::gauge(2.0)),
        );
        Err(CollectError::with_source(
            "reading /proc/x",
            std::io::Error::other("denied"),
        ))
    }
}

#[derive(Debug)]
struct Panics;
impl Collector for Panics {
    fn name(&self) -> &str {
        "panics"
    }
    fn collect_into(&self, sink: &mut FamilySink<'_>) -> Result<(), CollectError> {
        sink.push(
            MetricFamily::new("never_seen", "x", MetricKind::Gauge).with_sample(Sample::gauge(1.0)),
        );
        panic!("collector bug")
    }
}

#[derive(Debug)]
struct Invalid;
impl Collector for Invalid {
    fn name(&self) -> &str {
        "invalid"
    }
    fn collect_into(&self, sink: &mut FamilySink<'_>) -> Result<(), CollectError> {
        // Collides with a registered family, a bad name, a bad histogram, and one good family.
        sink.push(
            MetricFamily::new("taken", "x", MetricKind::Gauge).with_sample(Sample::gauge(1.0)),
        );
        sink.push(
            MetricFamily::new("bad-name", "x", MetricKind::Gauge).with_sample(Sample::gauge(1.0)),
        );
        sink.push(
            MetricFamily::new("bad_hist", "x", MetricKind::Histogram).with_sample(Sample {
                labels: vec![],
                value: Value::Histogram {
                    buckets: vec![Bucket {
                        upper_bound: 1.0,
                        cumulative_count: 1,
                        exemplar: None,
                    }],
                    sum: 1.0,
                    count: 1,
                },
            }),
        );
        sink.push(
            MetricFamily::new("neg_total", "x", MetricKind::Counter).with_sample(Sample {
                labels: vec![],
                value: Value::Counter {
                    value: Number::Float(-1.0),
                    exemplar: None,
                },
            }),
        );
        sink.push(
            MetricFamily::new("still_served", "x", MetricKind::Gauge)
                .with_sample(Sample::gauge(7.0)),
        );
        Ok(())
    }
}

#[test]
fn failing_collectors_never_fail_the_scrape() {
    let r = Registry::new();
    r.register("taken", "Registered.", Gauge::default())
        .unwrap();
    r.register_collector(Good).unwrap();
    r.register_collector(Partial).unwrap();
    r.register_collector(Panics).unwrap();
    r.register_collector(Invalid).unwrap();
    assert!(matches!(
        r.register_collector(Good),
        Err(RegistryError::DuplicateCollector { .. })
    ));
    let text = r.encode_to_string(Format::PrometheusText);
    assert!(text.contains("good_value 1.0\n"), "{text}");
    assert!(text.contains("partial_ok 2.0\n"), "{text}");
    assert!(text.contains("still_served 7.0\n"), "{text}");
    assert!(!text.contains("never_seen"), "{text}");
    assert!(!text.contains("bad_hist"), "{text}");
    assert!(!text.contains("neg_total"), "{text}");
    assert_eq!(text.matches("# TYPE taken gauge").count(), 1, "{text}");
    for (name, ok) in [("good", 1), ("partial", 0), ("panics", 0), ("invalid", 0)] {
        let line = format!("vsanobs_scrape_collector_success{{collector=\"{name}\"}} {ok}\n");
        assert!(text.contains(&line), "missing {line} in {text}");
    }
    r.unregister_collector("panics").unwrap();
    assert!(
        !r.encode_to_string(Format::PrometheusText)
            .contains("collector=\"panics\"")
    );
}

#[test]
fn gather_matches_encoding() {
    let r = sample_registry();
    let fams = r.gather();
    let names: Vec<&str> = fams.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "t_events",
            "t_cpu_seconds",
            "t_level",
            "t_ratio",
            "t_wait_seconds",
            "t_build",
            "t_io",
            "vsanobs_series_overflow"
        ]
    );
    let wait = fams.iter().find(|f| f.name == "t_wait_seconds").unwrap();
    assert_eq!(wait.unit.as_deref(), Some("seconds"));
    match &wait.samples[0].value {
        Value::Histogram {
            buckets,
            sum,
            count,
        } => {
            assert_eq!(*count, 3);
            assert_eq!(*sum, 4.0);
            let cum: Vec<(f64, u64)> = buckets
                .iter()
                .map(|b| (b.upper_bound, b.cumulative_count))
                .collect();
            assert_eq!(cum, [(0.5, 1), (1.0, 2), (f64::INFINITY, 3)]);
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(
        wait.samples[0].labels,
        [("site".to_string(), "a".to_string())]
    );
}

#[test]
fn family_overflow_remove_and_filter() {
    #[derive(Clone, Debug, PartialEq, Eq, Hash, LabelSet)]
    struct K {
        k: u32,
    }
    let r = Registry::new();
    let fam: Family<K, Gauge> = Family::with_cap(2);
    r.register("g", "G.", fam.clone()).unwrap();
    fam.get_or_create(&K { k: 1 }).set(1);
    fam.get_or_create(&K { k: 2 }).set(2);
    fam.with(&K { k: 3 }, |g| g.set(30));
    fam.with(&K { k: 4 }, |g| g.inc());
    assert_eq!(fam.len(), 2);
    assert_eq!(fam.overflowed(), 2);
    assert!(fam.get(&K { k: 3 }).is_none());
    let text = r.encode_to_string(Format::PrometheusText);
    assert!(text.contains("g{k=\"__overflow__\"} 31\n"), "{text}");
    assert!(
        text.contains("vsanobs_series_overflow_total{family=\"g\"} 2\n"),
        "{text}"
    );
    assert!(fam.remove(&K { k: 1 }));
    assert!(!fam.remove(&K { k: 1 }));
    fam.get_or_create(&K { k: 5 }).set(5);
    let text = r.encode_to_string(Format::PrometheusText);
    assert!(!text.contains("g{k=\"1\"}"), "{text}");
    assert!(text.contains("g{k=\"5\"} 5\n"), "{text}");
    let mut only = String::new();
    r.encode_filtered(Format::PrometheusText, &mut only, &|n| n == "g");
    assert!(!only.contains("vsanobs_series_overflow"), "{only}");
    assert!(only.contains("g{k=\"2\"} 2\n"), "{only}");
}

#[test]
fn histogram_edges() {
    let h = Histogram::new([1.0, f64::NAN, 0.5, 1.0, f64::INFINITY]);
    assert_eq!(h.bounds(), &[0.5, 1.0]);
    h.observe(0.5); // le is inclusive
    h.observe(f64::NAN);
    h.observe(-1.0);
    assert_eq!(h.cumulative_counts(), [2, 2, 3]);
    assert!(Histogram::try_new([1.0, 0.5]).is_err());
    assert!(Histogram::try_new([f64::NAN]).is_err());
    let many: Vec<f64> = (1..=40).map(f64::from).collect();
    let big = Histogram::new(many);
    big.observe(39.5);
    big.observe(40.0);
    big.observe(0.1);
    let cum = big.cumulative_counts();
    assert_eq!(cum[0], 1);
    assert_eq!(cum[38], 1);
    assert_eq!(cum[39], 3);
    assert_eq!(cum[40], 3);
    let fc = FloatCounter::default();
    fc.inc_by(-1.0);
    fc.inc_by(f64::NAN);
    fc.inc_by(0.25);
    assert_eq!(fc.get(), 0.25);
    assert!(fc.raise_to(2.0));
    assert!(!fc.raise_to(1.0));
    assert_eq!(fc.get(), 2.0);
}

// Compile-time checks: public types can cross threads.
#[allow(dead_code)]
fn assert_send_sync() {
    fn is<T: Send + Sync>() {}
    is::<Registry>();
    is::<Counter>();
    is::<FloatCounter>();
    is::<Gauge>();
    is::<FloatGauge>();
    is::<Histogram>();
    is::<Info<Version>>();
    is::<Family<OpLabels, Histogram>>();
    is::<RegistryError>();
    is::<CollectError>();
}

#[test]
fn library_self_metrics_keep_their_names_under_a_prefix() {
    use vsanobs_core::pool::{PoolMetrics, SamplePool, TimestampedSample};
    let r = Registry::builder().prefix("svc").build().unwrap();
    let pool = SamplePool::new("ingest", 1).unwrap();
    pool.push(TimestampedSample::new(1, 1.0, 1));
    pool.push(TimestampedSample::new(2, 2.0, 2));
    let m = PoolMetrics::new();
    m.add(&pool);
    r.register_collector(m).unwrap();
    r.register("jobs_total", "Jobs.", Counter::default())
        .unwrap();
    let text = r.encode_to_string(Format::PrometheusText);
    assert!(
        text.contains("\nvsanobs_pool_dropped_samples_total{pool=\"ingest\"} 1\n"),
        "{text}"
    );
    assert!(!text.contains("svc_vsanobs_"), "{text}");
    assert!(text.contains("svc_jobs_total 0\n"), "{text}");
}

/// A scraper that drops the connection mid-stream: the protobuf writer reports the first
/// error, nothing panics, and every recorded value is still there for the next scrape.
#[test]
fn protobuf_to_a_dropped_connection_is_an_error_not_a_loss() {
    struct Drops(usize);
    impl std::io::Write for Drops {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            if self.0 == 0 {
                return Err(std::io::Error::new(std::io::ErrorKind::BrokenPipe, "gone"));
            }
            self.0 -= 1;
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let r = Registry::new();
    let fam: Family<OpLabels, Counter> = Family::with_cap(100_000);
    r.register("ops", "Ops.", fam.clone()).unwrap();
    for i in 0..20_000 {
        fam.get_or_create(&OpLabels {
            op: Op::Read,
            disk: i.to_string(),
        })
        .inc();
    }
    let h = vsanobs_core::NativeHistogram::new(3).unwrap();
    h.observe(1.5);
    r.register("nh", "Native.", h.clone()).unwrap();
    let err = r.write_to(Format::Protobuf, &mut Drops(1)).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::BrokenPipe);
    let full = r.encode_to_vec(Format::Protobuf);
    assert!(
        full.len() > 64 * 1024,
        "more than one chunk: {}",
        full.len()
    );
    assert_eq!(h.count(), 1);
    assert_eq!(r.encode_to_vec(Format::Protobuf), full);
}

/// Families whose exemplars carry other labels than a trace context, one without a
/// timestamp, as a bridged library hands them over.
#[derive(Debug)]
struct ForeignExemplars;
impl Collector for ForeignExemplars {
    fn name(&self) -> &str {
        "foreign_exemplars"
    }
    fn collect_into(&self, sink: &mut FamilySink<'_>) -> Result<(), CollectError> {
        let labels = ExemplarLabels::new([("trace_id", "abc"), ("user", "x \"y\"\\\n")]).unwrap();
        sink.push(
            MetricFamily::new("jobs", "Jobs.", MetricKind::Counter).with_sample(Sample {
                labels: Vec::new(),
                value: Value::Counter {
                    value: Number::Uint(3),
                    exemplar: Some(Exemplar {
                        labels: labels.clone(),
                        value: 1.0,
                        timestamp: None,
                    }),
                },
            }),
        );
        let only_trace = ExemplarLabels::new([("trace_id", "4bf92f3577b34da6")]).unwrap();
        sink.push(
            MetricFamily::new("wait", "Waits.", MetricKind::Histogram).with_sample(Sample {
                labels: Vec::new(),
                value: Value::Histogram {
                    buckets: vec![
                        Bucket {
                            upper_bound: 1.0,
                            cumulative_count: 1,
                            exemplar: Some(Exemplar {
                                labels: only_trace,
                                value: 0.25,
                                timestamp: Some(1_700_000_000.123456),
                            }),
                        },
                        Bucket {
                            upper_bound: f64::INFINITY,
                            cumulative_count: 1,
                            exemplar: None,
                        },
                    ],
                    sum: 0.25,
                    count: 1,
                },
            }),
        );
        Ok(())
    }
}

#[test]
fn exemplars_with_any_labels_and_no_timestamp_are_written_as_held() {
    let r = Registry::new();
    r.register_collector(ForeignExemplars).unwrap();
    let om = r.encode_to_string(Format::OpenMetrics);
    assert!(
        om.contains("jobs_total 3 # {trace_id=\"abc\",user=\"x \\\"y\\\"\\\\\\n\"} 1.0\n"),
        "{om}"
    );
    assert!(
        om.contains(
            "wait_bucket{le=\"1.0\"} 1 # {trace_id=\"4bf92f3577b34da6\"} 0.25 1700000000.123456\n"
        ),
        "{om}"
    );
    let text = r.encode_to_string(Format::PrometheusText);
    assert!(!text.contains("trace_id"), "{text}");
    // Protobuf: the exemplar's label pair `user` is written with its raw value.
    let body = r.encode_to_vec(Format::Protobuf);
    let value = b"x \"y\"\\\n";
    let mut pair = vec![0x0a, 4];
    pair.extend_from_slice(b"user");
    pair.extend_from_slice(&[0x12, value.len() as u8]);
    pair.extend_from_slice(value);
    assert!(
        body.windows(pair.len()).any(|w| w == pair.as_slice()),
        "{body:?}"
    );
}
