//! Hot path: recording through pre-bound handles (and `Family::with` on a series that
//! exists) performs no heap allocation. A counting global allocator in this test binary
//! counts the allocations made by the current thread.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use vsanobs_core::{
    Counter, Family, FloatCounter, FloatGauge, Gauge, Histogram, LabelSet, LabelValue,
    NativeHistogram, Registry, TraceContext,
};

/// Forwards to the system allocator and counts allocations per thread, so the harness's
/// other threads cannot disturb a measurement.
struct CountingAllocator;

thread_local! {
    // `const` initialisation and a type without `Drop`: touching it never allocates and
    // registers no destructor, so it is safe to use from inside the allocator.
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn count_one() {
    // `try_with` fails only while the thread is being torn down; those are not counted.
    let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so the
// `GlobalAlloc` contract (layouts, pointer provenance, alignment) is exactly `System`'s; the
// only extra work is a thread-local counter update, which neither allocates nor unwinds.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_one();
        // SAFETY: the caller upholds `alloc`'s contract (non-zero size), passed on as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count_one();
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_one();
        // SAFETY: `ptr` was allocated by this allocator, i.e. by `System`, with `layout`;
        // the caller upholds the rest of `realloc`'s contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` (through this allocator) with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

/// Allocations made by this thread so far.
fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

/// Runs `f` once to warm up (first-use lazy state such as the family snapshot reader's per-thread slot may
/// allocate once per thread), then `ITERATIONS` times, and returns the allocations made by
/// the measured runs.
fn allocations_of(mut f: impl FnMut(u64)) -> u64 {
    const ITERATIONS: u64 = 10_000;
    f(0);
    let before = allocations();
    for i in 1..=ITERATIONS {
        f(i);
    }
    allocations() - before
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, LabelValue)]
enum Method {
    Get,
    Post,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, LabelSet)]
struct Route {
    method: Method,
    route: &'static str,
    status: u16,
}

const ROUTE: Route = Route {
    method: Method::Get,
    route: "/users/{id}",
    status: 200,
};

#[test]
fn the_counting_allocator_sees_allocations() {
    // Without this, a broken counter would make every test below pass.
    let n = allocations_of(|i| {
        std::hint::black_box(vec![i; 4]);
    });
    assert_eq!(n, 10_000);
}

#[test]
fn pre_bound_handles_record_without_allocating() {
    let registry = Registry::new();
    let counter = Counter::default();
    let float_counter = FloatCounter::default();
    let gauge = Gauge::default();
    let float_gauge = FloatGauge::default();
    let histogram = Histogram::new([0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0]);
    registry.register("c", "Counter.", counter.clone()).unwrap();
    registry
        .register("fc", "Float counter.", float_counter.clone())
        .unwrap();
    registry.register("g", "Gauge.", gauge.clone()).unwrap();
    registry
        .register("fg", "Float gauge.", float_gauge.clone())
        .unwrap();
    registry
        .register("h", "Histogram.", histogram.clone())
        .unwrap();

    let cases: [(&str, &mut dyn FnMut(u64)); 11] = [
        ("Counter::inc", &mut |_| counter.inc()),
        ("Counter::inc_by", &mut |i| counter.inc_by(i)),
        ("FloatCounter::inc_by", &mut |i| {
            float_counter.inc_by(i as f64 * 0.5)
        }),
        ("Gauge::set", &mut |i| gauge.set(i as i64)),
        ("Gauge::inc", &mut |_| gauge.inc()),
        ("Gauge::dec", &mut |_| gauge.dec()),
        ("Gauge::add", &mut |i| gauge.add(-(i as i64))),
        ("FloatGauge::set", &mut |i| float_gauge.set(i as f64 / 3.0)),
        ("FloatGauge::add", &mut |i| float_gauge.add(i as f64)),
        ("Histogram::observe", &mut |i| {
            histogram.observe(i as f64 / 1000.0)
        }),
        ("Histogram::observe(+Inf bucket)", &mut |_| {
            histogram.observe(1e9)
        }),
    ];
    for (name, f) in cases {
        assert_eq!(allocations_of(f), 0, "{name} allocated");
    }
    // The records really happened.
    assert_eq!(counter.get(), 10_001 + (1..=10_000).sum::<u64>());
    assert_eq!(histogram.count(), 20_002);
}

#[test]
fn native_histogram_records_without_allocating() {
    let h = NativeHistogram::builder()
        .schema(8)
        .classic_buckets([0.1, 1.0])
        .build()
        .unwrap();
    // Settle the layout: the first values anchor the windows and reduce the schema.
    for i in 0..10_000u32 {
        h.observe(f64::from(i) / 1000.0);
        h.observe(-f64::from(i) / 1000.0);
    }
    let settled = h.schema();
    let n = allocations_of(|i| {
        let v = (i % 10_000) as f64 / 1000.0;
        h.observe(v);
        h.observe(-v);
        h.observe(f64::NAN);
        h.observe(0.0);
    });
    assert_eq!(n, 0, "NativeHistogram::observe allocated");
    assert_eq!(h.schema(), settled);
    // A layout change allocates the new layout's two bucket arrays, and a histogram has at
    // most 16 layouts in its life: 10,000 values that keep widening the range allocate a
    // bounded, small number of times.
    let n = allocations_of(|i| h.observe(1e12 * (i + 1) as f64));
    assert!(n > 0 && n <= 2 * 16, "{n} allocations for layout changes");
    assert!(h.schema() < settled);
    assert_eq!(h.count(), 20_000 + 4 * 10_001 + 10_001);
}

#[test]
fn family_records_on_existing_series_without_allocating() {
    let requests: Family<Route, Counter> = Family::new();
    let latency: Family<Route, Histogram> =
        Family::with_constructor(100, || Histogram::new([0.1, 1.0]));
    let in_flight: Family<Route, FloatGauge> = Family::new();
    // Create the series first (that may allocate), then bind handles. A second series makes
    // the lookups below pick one of several.
    let other = Route {
        method: Method::Post,
        route: "/users",
        status: 201,
    };
    requests.get_or_create(&other);
    let bound = requests.get_or_create(&ROUTE);
    latency.get_or_create(&ROUTE);
    in_flight.get_or_create(&ROUTE);

    assert_eq!(
        allocations_of(|_| bound.inc()),
        0,
        "pre-bound family handle"
    );
    assert_eq!(
        allocations_of(|_| requests.with(&ROUTE, |c| c.inc())),
        0,
        "Family::with on an existing counter series"
    );
    assert_eq!(
        allocations_of(|i| latency.with(&ROUTE, |h| h.observe(i as f64 / 10_000.0))),
        0,
        "Family::with on an existing histogram series"
    );
    assert_eq!(
        allocations_of(|i| in_flight.with(&ROUTE, |g| g.set(i as f64))),
        0,
        "Family::with on an existing float gauge series"
    );
    assert_eq!(
        allocations_of(|_| {
            std::hint::black_box(requests.get_or_create(&ROUTE));
        }),
        0,
        "Family::get_or_create of an existing series"
    );
    assert_eq!(bound.get(), 20_002);
    assert_eq!(requests.get(&other).map(|c| c.get()), Some(0));
}

#[test]
fn exemplar_recording_does_not_allocate() {
    let counter = Counter::default();
    let histogram = Histogram::with_exemplars([0.1, 1.0]);
    let trace = TraceContext::from_ids(0x0af7651916cd43dd8448eb211c80319c, 0xb7ad6b7169203331);
    assert_eq!(
        allocations_of(|i| counter.inc_by_with_exemplar(i, &trace)),
        0,
        "Counter::inc_by_with_exemplar"
    );
    assert_eq!(
        allocations_of(|i| histogram.observe_with_exemplar(i as f64 / 1000.0, &trace)),
        0,
        "Histogram::observe_with_exemplar"
    );
    assert!(counter.exemplar().is_some());
}
