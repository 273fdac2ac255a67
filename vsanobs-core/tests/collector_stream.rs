//! Streaming collectors (`Collector::collect_into` + `FamilySink`) and streaming encoding
//! (`Registry::write_to`): same output as the owned path, bad series dropped one by one, a
//! panic leaves nothing behind, and the writer only ever sees bounded chunks.

use std::io::{self, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use vsanobs_core::encoding::Visitor;
use vsanobs_core::labels::LabelsRef;
use vsanobs_core::model::{Exemplar, MetricFamily, MetricKind, Number, Sample};
use vsanobs_core::testutil::{parse, sample_value};
use vsanobs_core::{CollectError, Collector, Counter, Family, FamilySink, Format, Registry};

/// Disks with read and write counters, as an exporter would mirror them.
#[derive(Debug, Clone)]
struct Disks {
    hosts: usize,
    disks: usize,
}

impl Disks {
    fn value(h: usize, d: usize, op: usize) -> f64 {
        (h * 1000 + d * 10 + op) as f64 + 0.5
    }
}

/// Streams its series.
#[derive(Debug)]
struct Streaming(Disks);

impl Collector for Streaming {
    fn name(&self) -> &str {
        "disks_stream"
    }
    fn collect_into(&self, sink: &mut FamilySink<'_>) -> Result<(), CollectError> {
        sink.family(
            "disk_io_bytes_total",
            "Bytes moved.",
            Some("bytes"),
            MetricKind::Counter,
        );
        let ops = [[("op", "read")], [("op", "write")]];
        for h in 0..self.0.hosts {
            let host = format!("host-{h}");
            for d in 0..self.0.disks {
                let disk = format!("naa.{d:04}");
                let entity = [("host", host.as_str()), ("disk", disk.as_str())];
                for (i, op) in ops.iter().enumerate() {
                    sink.counter(&[&entity, op], Number::Float(Disks::value(h, d, i)));
                }
            }
        }
        sink.family("disk_count", "Disks known.", None, MetricKind::Gauge);
        sink.gauge(&[], Number::Int((self.0.hosts * self.0.disks) as i64));
        Ok(())
    }
}

/// The same data through owned families.
#[derive(Debug)]
struct Owned(Disks);

impl Collector for Owned {
    fn name(&self) -> &str {
        "disks_owned"
    }
    fn collect_into(&self, sink: &mut FamilySink<'_>) -> Result<(), CollectError> {
        let mut f = MetricFamily::new("disk_io_bytes_total", "Bytes moved.", MetricKind::Counter)
            .with_unit("bytes");
        for h in 0..self.0.hosts {
            for d in 0..self.0.disks {
                for (i, op) in ["read", "write"].iter().enumerate() {
                    f.push(
                        Sample::counter(Disks::value(h, d, i))
                            .with_label("host", format!("host-{h}"))
                            .with_label("disk", format!("naa.{d:04}"))
                            .with_label("op", *op),
                    );
                }
            }
        }
        sink.push(f);
        sink.push(
            MetricFamily::new("disk_count", "Disks known.", MetricKind::Gauge)
                .with_sample(Sample::gauge_int((self.0.hosts * self.0.disks) as i64)),
        );
        Ok(())
    }
}

fn registry_with(c: impl Collector) -> Registry {
    let r = Registry::builder()
        .prefix("site")
        .const_label("dc", "ams-1")
        // The two registries compared below are built at different instants, so their
        // series' `_created` samples could differ by a millisecond.
        .created_timestamps(false)
        .build()
        .unwrap();
    let jobs: Family<JobLabels, Counter> = Family::new();
    for k in 0..50 {
        jobs.get_or_create(&JobLabels {
            kind: format!("k{k}"),
        })
        .inc_by(k);
    }
    r.register("jobs", "Jobs done.", jobs).unwrap();
    r.register_collector(c).unwrap();
    r
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, vsanobs_core::LabelSet)]
struct JobLabels {
    kind: String,
}

/// Streaming and owned collectors give the same exposition (up to the collector label), in
/// both formats, and `write_to` gives the same bytes as `encode`.
#[test]
fn streaming_equals_owned_and_write_to_equals_encode() {
    let d = Disks {
        hosts: 40,
        disks: 12,
    };
    let streaming = registry_with(Streaming(d.clone()));
    let owned = registry_with(Owned(d));
    for format in [Format::PrometheusText, Format::OpenMetrics] {
        let a = streaming.encode_to_string(format);
        let b = owned.encode_to_string(format);
        assert_eq!(a.replace("disks_stream", "disks_owned"), b, "{format:?}");
        let mut w = Vec::new();
        streaming.write_to(format, &mut w).unwrap();
        assert_eq!(String::from_utf8(w).unwrap(), a, "{format:?}");

        let fams = parse(&a).unwrap();
        assert_eq!(
            sample_value(
                &fams,
                "site_disk_io_bytes_total",
                &[
                    ("dc", "ams-1"),
                    ("host", "host-7"),
                    ("disk", "naa.0003"),
                    ("op", "write")
                ]
            ),
            Some(Disks::value(7, 3, 1))
        );
        assert_eq!(
            sample_value(&fams, "site_disk_count", &[("dc", "ams-1")]),
            Some(480.0)
        );
        assert_eq!(
            sample_value(
                &fams,
                "vsanobs_scrape_collector_success",
                &[("dc", "ams-1"), ("collector", "disks_stream")]
            ),
            Some(1.0)
        );
    }
    // gather (push exporters) sees the streamed families as owned ones.
    let g = streaming.gather();
    let io = g.iter().find(|f| f.name == "site_disk_io_bytes").unwrap();
    assert_eq!(io.samples.len(), 40 * 12 * 2);
    assert_eq!(io.unit.as_deref(), Some("bytes"));
    // collect_owned: the same collector as owned families, without the registry's prefix.
    let mut own = Vec::new();
    Streaming(Disks { hosts: 2, disks: 1 })
        .collect(&mut own)
        .unwrap();
    assert_eq!(own[0].name, "disk_io_bytes");
    assert_eq!(own[0].samples.len(), 4);
    assert_eq!(
        own[0].samples[3].labels,
        vec![
            ("host".to_owned(), "host-1".to_owned()),
            ("disk".to_owned(), "naa.0000".to_owned()),
            ("op".to_owned(), "write".to_owned())
        ]
    );
}

/// Every kind of bad series is dropped alone; the good ones around it are served and the
/// collector reports failure.
#[derive(Debug)]
struct Sloppy;

impl Collector for Sloppy {
    fn name(&self) -> &str {
        "sloppy"
    }
    fn collect_into(&self, sink: &mut FamilySink<'_>) -> Result<(), CollectError> {
        // A series before any family.
        sink.gauge(&[], Number::Int(1));
        sink.family("temps_celsius", "Temperatures.", None, MetricKind::Gauge);
        sink.gauge(&[&[("room", "a")]], Number::Float(20.5));
        // Different label names than the first series.
        sink.gauge(&[&[("zone", "b")]], Number::Float(99.0));
        // The same series twice.
        sink.gauge(&[&[("room", "a")]], Number::Float(21.0));
        // The wrong type for the family.
        sink.counter(&[&[("room", "c")]], Number::Int(3));
        sink.gauge(&[&[("room", "d")]], Number::Float(19.0));
        // A counter that went negative, and a NaN one.
        sink.family("events_total", "Events.", None, MetricKind::Counter);
        sink.counter(&[&[("kind", "x")]], Number::Int(-1));
        sink.counter(&[&[("kind", "y")]], Number::Float(f64::NAN));
        sink.counter(&[&[("kind", "z")]], Number::Int(7));
        // An invalid family name and an invalid label name: whole families dropped.
        sink.family("bad-name", "Bad.", None, MetricKind::Gauge);
        sink.gauge(&[], Number::Int(1));
        sink.family("labels_bad", "Bad labels.", None, MetricKind::Gauge);
        sink.gauge(&[&[("not valid", "v")]], Number::Int(1));
        // A name a registered family already uses.
        sink.family("jobs_total", "Clash.", None, MetricKind::Counter);
        sink.counter(&[], Number::Int(1));
        // An empty family is not written at all.
        sink.family("never_used", "Nothing.", None, MetricKind::Gauge);
        Ok(())
    }
}

#[test]
fn bad_series_are_dropped_one_by_one() {
    let r = registry_with(Sloppy);
    for format in [Format::PrometheusText, Format::OpenMetrics] {
        let text = r.encode_to_string(format);
        let fams = parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        let temps = fams
            .iter()
            .find(|f| f.name == "site_temps_celsius")
            .unwrap();
        let got: Vec<(String, f64)> = temps
            .samples
            .iter()
            .map(|s| (s.labels[1].1.clone(), s.value))
            .collect();
        assert_eq!(
            got,
            vec![("a".to_owned(), 20.5), ("d".to_owned(), 19.0)],
            "{text}"
        );
        let events: Vec<f64> = fams
            .iter()
            .find(|f| f.name.starts_with("site_events"))
            .unwrap()
            .samples
            .iter()
            .map(|s| s.value)
            .collect();
        assert_eq!(events, vec![7.0]);
        assert!(!text.contains("bad"), "{text}");
        assert!(!text.contains("Clash"), "{text}");
        assert!(!text.contains("never_used"), "{text}");
        // The registered family is untouched.
        assert_eq!(
            sample_value(&fams, "site_jobs_total", &[("dc", "ams-1"), ("kind", "k3")]),
            Some(3.0)
        );
        assert_eq!(
            sample_value(
                &fams,
                "vsanobs_scrape_collector_success",
                &[("dc", "ams-1"), ("collector", "sloppy")]
            ),
            Some(0.0)
        );
    }
    let mut owned = Vec::new();
    let err = Sloppy.collect(&mut owned).unwrap_err();
    assert!(err.message().contains("dropped"), "{err}");
    // Outside a registry nothing else claims `jobs`, so only the invalid ones are missing.
    let names: Vec<&str> = owned.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["temps_celsius", "events", "jobs"]);
    assert_eq!(owned[0].samples.len(), 2);
    assert_eq!(owned[1].samples.len(), 1);
}

/// Panics after writing half its series; the flag makes the second collector panic too.
#[derive(Debug)]
struct Panicky(Arc<AtomicBool>);

impl Collector for Panicky {
    fn name(&self) -> &str {
        "panicky"
    }
    fn collect_into(&self, sink: &mut FamilySink<'_>) -> Result<(), CollectError> {
        sink.family("half_written", "Half.", None, MetricKind::Gauge);
        for i in 0..1000 {
            let v = i.to_string();
            sink.gauge(&[&[("i", v.as_str())]], Number::Int(i));
        }
        if self.0.load(Ordering::Relaxed) {
            panic!("collector bug");
        }
        Ok(())
    }
}

/// A visitor outside the crate, which cannot discard output: the registry buffers
/// collectors for it.
#[derive(Default)]
struct Lines(Vec<String>);

impl Visitor for Lines {
    fn family(&mut self, name: &str, _: &str, _: Option<&str>, _: MetricKind) {
        self.0.push(format!("family {name}"));
    }
    fn counter(&mut self, l: LabelsRef<'_>, v: Number, _: Option<&Exemplar>) {
        self.0.push(format!("{l:?} {}", v.as_f64()));
    }
    fn gauge(&mut self, l: LabelsRef<'_>, v: Number) {
        self.0.push(format!("{l:?} {}", v.as_f64()));
    }
    fn histogram(
        &mut self,
        l: LabelsRef<'_>,
        _: &[f64],
        _: &[u64],
        s: f64,
        _: Option<&[Option<Exemplar>]>,
    ) {
        self.0.push(format!("{l:?} {s}"));
    }
    fn info(&mut self, l: LabelsRef<'_>) {
        self.0.push(format!("{l:?}"));
    }
    fn unknown(&mut self, l: LabelsRef<'_>, v: Number) {
        self.0.push(format!("{l:?} {}", v.as_f64()));
    }
}

#[test]
fn a_panic_leaves_no_half_family_behind() {
    let fail = Arc::new(AtomicBool::new(true));
    let r = registry_with(Panicky(fail.clone()));
    for format in [Format::PrometheusText, Format::OpenMetrics] {
        let text = r.encode_to_string(format);
        assert!(!text.contains("half_written"), "{text}");
        let fams = parse(&text).unwrap();
        assert_eq!(
            sample_value(
                &fams,
                "vsanobs_scrape_collector_success",
                &[("dc", "ams-1"), ("collector", "panicky")]
            ),
            Some(0.0)
        );
        let mut w = Vec::new();
        r.write_to(format, &mut w).unwrap();
        assert_eq!(String::from_utf8(w).unwrap(), text);
    }
    let mut lines = Lines::default();
    r.visit(&mut lines);
    assert!(!lines.0.iter().any(|l| l.contains("half_written")));
    assert!(lines.0.iter().any(|l| l == "family site_jobs"));
    assert!(r.gather().iter().all(|f| f.name != "site_half_written"));

    // The same collector once it works: all 1,000 series, in every path.
    fail.store(false, Ordering::Relaxed);
    let text = r.encode_to_string(Format::PrometheusText);
    assert_eq!(text.matches("site_half_written{").count(), 1000);
    let mut lines = Lines::default();
    r.visit(&mut lines);
    assert_eq!(
        lines
            .0
            .iter()
            .filter(|l| l.contains("\"i\": \"999\""))
            .count(),
        1
    );
    assert!(lines.0.iter().any(|l| l == "family site_half_written"));
}

/// Records how `write_to` writes.
#[derive(Default)]
struct Chunks {
    sizes: Vec<usize>,
    bytes: Vec<u8>,
    fail_after: Option<usize>,
}

impl Write for Chunks {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.fail_after.is_some_and(|n| self.bytes.len() >= n) {
            return Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "client went away",
            ));
        }
        self.sizes.push(buf.len());
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn write_to_hands_over_bounded_chunks_and_stops_on_error() {
    let r = Registry::new();
    let fam: Family<JobLabels, Counter> = Family::with_cap(100_000);
    for k in 0..30_000 {
        fam.get_or_create(&JobLabels {
            kind: format!("a-fairly-long-label-value-{k:06}"),
        })
        .inc();
    }
    r.register("jobs", "Jobs done.", fam).unwrap();
    // The collector's output (400 series) stays below a chunk.
    r.register_collector(Streaming(Disks {
        hosts: 20,
        disks: 10,
    }))
    .unwrap();
    let mut w = Chunks::default();
    r.write_to(Format::OpenMetrics, &mut w).unwrap();
    let text = String::from_utf8(w.bytes.clone()).unwrap();
    assert_eq!(text, r.encode_to_string(Format::OpenMetrics));
    assert!(text.len() > 1_000_000, "{}", text.len());
    assert!(w.sizes.len() > 10, "{:?}", w.sizes.len());
    // A chunk is handed over once it passes 64 KiB, between two series or after a
    // collector: at most one series line or one collector's output more.
    let alone = Registry::new();
    alone
        .register_collector(Streaming(Disks {
            hosts: 20,
            disks: 10,
        }))
        .unwrap();
    let collector_text = alone.encode_to_string(Format::OpenMetrics).len();
    let (last, full) = w.sizes.split_last().unwrap();
    assert!(*last <= 64 * 1024 + collector_text, "{last}");
    for s in full {
        assert!(
            (64 * 1024..64 * 1024 + collector_text).contains(s),
            "{:?}",
            w.sizes
        );
    }

    // A writer that fails: the error comes back and nothing is written after it.
    let mut w = Chunks {
        fail_after: Some(200_000),
        ..Chunks::default()
    };
    let err = r.write_to(Format::PrometheusText, &mut w).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
    assert!(w.bytes.len() >= 200_000 && w.bytes.len() < 200_000 + 70 * 1024);
}
