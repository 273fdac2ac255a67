//! Generated artifacts for service metrics: the Grafana dashboard
//! `docs/dashboards/service.json` and the page `docs/go-metrics-mapping.md`, both built from
//! the metric tables in code ([`PROCESS_METRICS`], [`HEAP_METRICS`], [`TOKIO_METRICS`],
//! [`BUILD_INFO_METRIC`]) so they cannot drift from what is exported.
//!
//! # Example
//!
//! ```
//! use vsanobs_core::process::artifacts::{ServiceDashboardConfig, go_mapping_markdown, service_dashboard_json};
//!
//! let json = service_dashboard_json(&ServiceDashboardConfig::default());
//! assert!(json.contains("\"uid\": \"vsanobs-service\""));
//! assert!(json.contains("sum by (site) (tokio_tracked_tasks{"));
//! assert!(go_mapping_markdown().contains("| `go_goroutines` | `tokio_alive_tasks` |"));
//! ```

use std::fmt::Write as _;

use crate::alloc::{HEAP_METRICS, JEMALLOC_METRICS};
use crate::build_info::BUILD_INFO_METRIC;
use crate::model::{MetricDesc, MetricKind};
use crate::process::PROCESS_METRICS;
use crate::runtime::TOKIO_METRICS;

/// The HTTP request histogram of `vsanobs-http` (DESIGN's route matrix), whose `_count`
/// series gives request and error rates. `vsanobs-core` cannot depend on `vsanobs-http`, so
/// the name is fixed here; `vsanobs-http` tests that its table has the same name.
pub const HTTP_REQUEST_DURATION_METRIC: &str = "http_server_request_duration_seconds";

/// Options of the generated service dashboard.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceDashboardConfig {
    /// Dashboard title. Default `Service`.
    pub title: String,
    /// Dashboard uid. Default `vsanobs-service`.
    pub uid: String,
    /// The registry prefix of the service (`shop` for `shop_process_threads`); empty by
    /// default. `up` and the build-info regex ignore it.
    pub metric_prefix: String,
}

impl Default for ServiceDashboardConfig {
    fn default() -> Self {
        ServiceDashboardConfig {
            title: "Service".to_owned(),
            uid: "vsanobs-service".to_owned(),
            metric_prefix: String::new(),
        }
    }
}

/// A small JSON value, enough for a dashboard; printed like `serde_json`'s pretty printer.
#[derive(Debug, Clone)]
enum J {
    S(String),
    I(i64),
    B(bool),
    A(Vec<J>),
    O(Vec<(&'static str, J)>),
}

fn s(v: impl Into<String>) -> J {
    J::S(v.into())
}

impl J {
    fn write(&self, out: &mut String, indent: usize) {
        let pad = |out: &mut String, n: usize| out.extend(std::iter::repeat_n("  ", n));
        match self {
            J::S(v) => {
                out.push('"');
                for c in v.chars() {
                    match c {
                        '"' => out.push_str("\\\""),
                        '\\' => out.push_str("\\\\"),
                        '\n' => out.push_str("\\n"),
                        '\t' => out.push_str("\\t"),
                        '\r' => out.push_str("\\r"),
                        c if (c as u32) < 0x20 => {
                            let _ = write!(out, "\\u{:04x}", c as u32);
                        }
                        c => out.push(c),
                    }
                }
                out.push('"');
            }
            J::I(v) => {
                let _ = write!(out, "{v}");
            }
            J::B(v) => out.push_str(if *v { "true" } else { "false" }),
            J::A(items) if items.is_empty() => out.push_str("[]"),
            J::A(items) => {
                out.push_str("[\n");
                for (i, item) in items.iter().enumerate() {
                    pad(out, indent + 1);
                    item.write(out, indent + 1);
                    out.push_str(if i + 1 < items.len() { ",\n" } else { "\n" });
                }
                pad(out, indent);
                out.push(']');
            }
            J::O(fields) if fields.is_empty() => out.push_str("{}"),
            J::O(fields) => {
                out.push_str("{\n");
                for (i, (k, v)) in fields.iter().enumerate() {
                    pad(out, indent + 1);
                    J::S((*k).to_owned()).write(out, indent + 1);
                    out.push_str(": ");
                    v.write(out, indent + 1);
                    out.push_str(if i + 1 < fields.len() { ",\n" } else { "\n" });
                }
                pad(out, indent);
                out.push('}');
            }
        }
    }
}

fn desc(name: &str) -> &'static MetricDesc {
    PROCESS_METRICS
        .iter()
        .chain(HEAP_METRICS)
        .find(|d| d.name == name)
        .unwrap_or(&BUILD_INFO_METRIC)
}

struct Panel {
    title: &'static str,
    kind: &'static str,
    unit: &'static str,
    grid: [i64; 4],
    targets: Vec<(String, &'static str)>,
    description: String,
}

/// The PromQL expressions of every panel of the service dashboard, with Grafana's variables
/// in place (`$job`, `$instance`, `$__rate_interval`, `$__range`). Tests run each against a
/// real Prometheus.
pub fn service_dashboard_queries(c: &ServiceDashboardConfig) -> Vec<String> {
    panels(c)
        .into_iter()
        .flat_map(|p| p.targets.into_iter().map(|(e, _)| e))
        .collect()
}

fn panels(c: &ServiceDashboardConfig) -> Vec<Panel> {
    let n = |name: &str| -> String {
        if c.metric_prefix.is_empty() {
            name.to_owned()
        } else {
            format!("{}_{}", c.metric_prefix, name)
        }
    };
    let sel = r#"job=~"$job",instance=~"$instance""#;
    let http = n(&format!("{HTTP_REQUEST_DURATION_METRIC}_count"));
    vec![
        Panel {
            title: "Availability",
            kind: "stat",
            unit: "percentunit",
            grid: [0, 0, 6, 6],
            targets: vec![(format!("avg(avg_over_time(up{{{sel}}}[$__range]))"), "up")],
            description: "Share of successful scrapes of the selected instances in the range."
                .to_owned(),
        },
        Panel {
            title: "Targets up",
            kind: "timeseries",
            unit: "short",
            grid: [6, 0, 6, 6],
            targets: vec![(format!("up{{{sel}}}"), "{{instance}}")],
            description: "1 when the last scrape of the instance succeeded.".to_owned(),
        },
        Panel {
            title: "HTTP error ratio (5xx)",
            kind: "timeseries",
            unit: "percentunit",
            grid: [12, 0, 12, 6],
            targets: vec![(
                format!(
                    "sum by (instance) (rate({http}{{status=~\"5..\",{sel}}}[$__rate_interval]))\n/\nsum by (instance) (rate({http}{{{sel}}}[$__rate_interval]))"
                ),
                "{{instance}}",
            )],
            description: format!(
                "Responses with a 5xx status over all responses, from {HTTP_REQUEST_DURATION_METRIC} (vsanobs-http)."
            ),
        },
        Panel {
            title: "Tracked tasks by spawn site (leak heat map)",
            kind: "heatmap",
            unit: "short",
            grid: [0, 6, 24, 9],
            targets: vec![(
                format!("sum by (site) ({}{{{sel}}})", n("tokio_tracked_tasks")),
                "{{site}}",
            )],
            description: "Tasks alive per spawn_tracked site, one row per site: a leak is a row that only gets hotter.".to_owned(),
        },
        Panel {
            title: "Fastest-growing spawn sites (1h)",
            kind: "timeseries",
            unit: "short",
            grid: [0, 15, 12, 8],
            targets: vec![(
                format!(
                    "topk(5, sum by (site) (delta({}{{{sel}}}[1h])))",
                    n("tokio_tracked_tasks")
                ),
                "{{site}}",
            )],
            description: "Change of alive tasks per site over the last hour; a leaking site stays on top.".to_owned(),
        },
        Panel {
            title: "Tokio runtime",
            kind: "timeseries",
            unit: "short",
            grid: [12, 15, 12, 8],
            targets: vec![
                (
                    format!("sum by (instance) ({}{{{sel}}})", n("tokio_alive_tasks")),
                    "alive tasks {{instance}}",
                ),
                (
                    format!(
                        "sum by (instance) ({}{{{sel}}})",
                        n("tokio_global_queue_depth")
                    ),
                    "global queue {{instance}}",
                ),
                (
                    format!("sum by (instance) ({}{{{sel}}})", n("tokio_workers")),
                    "workers {{instance}}",
                ),
            ],
            description: "Alive tasks, tasks waiting in the global queue, and worker threads."
                .to_owned(),
        },
        Panel {
            title: "Heap in use and resident memory",
            kind: "timeseries",
            unit: "bytes",
            grid: [0, 23, 12, 8],
            targets: vec![
                (
                    format!("{}{{{sel}}}", n("process_heap_inuse_bytes")),
                    "heap in use {{instance}}",
                ),
                (
                    format!("{}{{{sel}}}", n("process_resident_memory_bytes")),
                    "resident {{instance}}",
                ),
            ],
            description: format!(
                "{} / {}",
                desc("process_heap_inuse_bytes").help,
                desc("process_resident_memory_bytes").help
            ),
        },
        Panel {
            title: "Allocation rate",
            kind: "timeseries",
            unit: "Bps",
            grid: [12, 23, 12, 8],
            targets: vec![(
                format!(
                    "rate({}{{{sel}}}[$__rate_interval])",
                    n("process_heap_allocated_bytes_total")
                ),
                "{{instance}}",
            )],
            description: desc("process_heap_allocated_bytes_total").help.to_owned(),
        },
        Panel {
            title: "CPU",
            kind: "timeseries",
            unit: "short",
            grid: [0, 31, 12, 8],
            targets: vec![(
                format!(
                    "rate({}{{{sel}}}[$__rate_interval])",
                    n("process_cpu_seconds_total")
                ),
                "{{instance}}",
            )],
            description: "CPU cores used (user + system), from process_cpu_seconds_total."
                .to_owned(),
        },
        Panel {
            title: "Open file descriptors",
            kind: "timeseries",
            unit: "short",
            grid: [12, 31, 12, 8],
            targets: vec![
                (
                    format!("{}{{{sel}}}", n("process_open_fds")),
                    "open {{instance}}",
                ),
                (
                    format!("{}{{{sel}}}", n("process_max_fds")),
                    "limit {{instance}}",
                ),
            ],
            description: format!(
                "{} / {}",
                desc("process_open_fds").help,
                desc("process_max_fds").help
            ),
        },
        Panel {
            title: "Threads",
            kind: "timeseries",
            unit: "short",
            grid: [0, 39, 8, 7],
            targets: vec![(
                format!("{}{{{sel}}}", n("process_threads")),
                "{{instance}}",
            )],
            description: desc("process_threads").help.to_owned(),
        },
        Panel {
            title: "Uptime",
            kind: "stat",
            unit: "s",
            grid: [8, 39, 4, 7],
            targets: vec![(
                format!("min({}{{{sel}}})", n("process_uptime_seconds")),
                "uptime",
            )],
            description: desc("process_uptime_seconds").help.to_owned(),
        },
        Panel {
            title: "Failing collectors",
            kind: "table",
            unit: "none",
            grid: [12, 39, 12, 7],
            targets: vec![(
                format!("vsanobs_scrape_collector_success{{{sel}}} == 0"),
                "{{instance}} {{collector}}",
            )],
            description: "Collectors whose last run failed (for example an unreadable /proc entry); their other values are still served.".to_owned(),
        },
        Panel {
            title: "Build",
            kind: "table",
            unit: "none",
            grid: [0, 46, 24, 6],
            targets: vec![(
                format!("{{__name__=~\"(.+_)?{}\",{sel}}}", BUILD_INFO_METRIC.name),
                "{{instance}}",
            )],
            description: BUILD_INFO_METRIC.help.to_owned(),
        },
    ]
}

/// The Grafana dashboard (`docs/dashboards/service.json` for the default config): `up`,
/// the HTTP error ratio, the task-leak heat map by spawn site, heap in use and resident
/// memory, CPU, open file descriptors, threads, failing collectors and build info. The data
/// source is a template variable, so it imports without `__inputs`.
pub fn service_dashboard_json(c: &ServiceDashboardConfig) -> String {
    let ds = || J::O(vec![("type", s("prometheus")), ("uid", s("${datasource}"))]);
    let panels: Vec<J> = panels(c)
        .into_iter()
        .enumerate()
        .map(|(i, p)| {
            let targets = p
                .targets
                .into_iter()
                .enumerate()
                .map(|(t, (expr, legend))| {
                    J::O(vec![
                        ("datasource", ds()),
                        ("expr", s(expr)),
                        ("legendFormat", s(legend)),
                        ("refId", s(char::from(b'A' + t as u8).to_string())),
                    ])
                })
                .collect();
            let mut options = vec![(
                "legend",
                J::O(vec![
                    ("displayMode", s("list")),
                    ("placement", s("bottom")),
                    ("showLegend", J::B(true)),
                ]),
            )];
            if p.kind == "heatmap" {
                options.push(("calculate", J::B(false)));
                options.push(("yAxis", J::O(vec![("axisPlacement", s("left"))])));
                options.push(("rowsFrame", J::O(vec![("layout", s("auto"))])));
                options.push(("color", J::O(vec![("scheme", s("Oranges"))])));
            }
            J::O(vec![
                ("id", J::I(i as i64 + 1)),
                ("type", s(p.kind)),
                ("title", s(p.title)),
                ("description", s(p.description)),
                ("datasource", ds()),
                (
                    "gridPos",
                    J::O(vec![
                        ("x", J::I(p.grid[0])),
                        ("y", J::I(p.grid[1])),
                        ("w", J::I(p.grid[2])),
                        ("h", J::I(p.grid[3])),
                    ]),
                ),
                (
                    "fieldConfig",
                    J::O(vec![
                        ("defaults", J::O(vec![("unit", s(p.unit))])),
                        ("overrides", J::A(vec![])),
                    ]),
                ),
                ("options", J::O(options)),
                ("targets", J::A(targets)),
            ])
        })
        .collect();
    let var = |name: &str, label: &str, query: String| {
        J::O(vec![
            ("type", s("query")),
            ("name", s(name)),
            ("label", s(label)),
            ("datasource", ds()),
            ("definition", s(query.clone())),
            ("query", J::O(vec![("query", s(query)), ("refId", s(name))])),
            ("refresh", J::I(2)),
            ("includeAll", J::B(true)),
            ("multi", J::B(true)),
            ("allValue", s(".*")),
            (
                "current",
                J::O(vec![
                    ("selected", J::B(true)),
                    ("text", J::A(vec![s("All")])),
                    ("value", J::A(vec![s("$__all")])),
                ]),
            ),
            ("sort", J::I(1)),
        ])
    };
    let uptime = if c.metric_prefix.is_empty() {
        "process_uptime_seconds".to_owned()
    } else {
        format!("{}_process_uptime_seconds", c.metric_prefix)
    };
    let dashboard = J::O(vec![
        ("title", s(c.title.clone())),
        ("uid", s(c.uid.clone())),
        (
            "description",
            s(
                "Service health from vsanobs: availability, HTTP errors, task leaks by spawn site, heap and resident memory, CPU, file descriptors.",
            ),
        ),
        ("tags", J::A(vec![s("vsanobs"), s("service")])),
        ("timezone", s("browser")),
        ("schemaVersion", J::I(39)),
        ("version", J::I(1)),
        ("editable", J::B(true)),
        ("refresh", s("30s")),
        ("time", J::O(vec![("from", s("now-6h")), ("to", s("now"))])),
        (
            "templating",
            J::O(vec![(
                "list",
                J::A(vec![
                    J::O(vec![
                        ("type", s("datasource")),
                        ("name", s("datasource")),
                        ("label", s("Data source")),
                        ("query", s("prometheus")),
                    ]),
                    var("job", "Job", format!("label_values({uptime}, job)")),
                    var(
                        "instance",
                        "Instance",
                        format!("label_values({uptime}{{job=~\"$job\"}}, instance)"),
                    ),
                ]),
            )]),
        ),
        ("panels", J::A(panels)),
    ]);
    let mut out = String::new();
    dashboard.write(&mut out, 0);
    out.push('\n');
    out
}

/// How one Go client_golang metric maps to vsanobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GoMapping {
    /// The Go metric name.
    pub go: &'static str,
    /// The vsanobs metric (or PromQL over vsanobs metrics), if there is one.
    pub vsanobs: Option<&'static str>,
    /// How they differ, or why there is no counterpart.
    pub note: &'static str,
}

const fn m(go: &'static str, vsanobs: &'static str, note: &'static str) -> GoMapping {
    GoMapping {
        go,
        vsanobs: Some(vsanobs),
        note,
    }
}

const fn none(go: &'static str, note: &'static str) -> GoMapping {
    GoMapping {
        go,
        vsanobs: None,
        note,
    }
}

const NO_GC: &str = "Rust has no garbage collector: memory is freed when its owner is dropped.";
const GO_RUNTIME: &str = "Go runtime internal structure; a Rust program has no such structure.";

/// Every metric of client_golang's process and Go collectors (default set) and its vsanobs
/// counterpart.
pub const GO_MAPPINGS: &[GoMapping] = &[
    m(
        "process_cpu_seconds_total",
        "process_cpu_seconds_total",
        "Same. Fractional seconds (clock-tick resolution) on Linux, `getrusage` elsewhere.",
    ),
    m("process_open_fds", "process_open_fds", "Same (Linux)."),
    m(
        "process_max_fds",
        "process_max_fds",
        "Same: the soft `RLIMIT_NOFILE`.",
    ),
    m(
        "process_virtual_memory_bytes",
        "process_virtual_memory_bytes",
        "Same (Linux).",
    ),
    m(
        "process_virtual_memory_max_bytes",
        "process_virtual_memory_max_bytes",
        "Same: the soft `RLIMIT_AS`; unlimited reads 18446744073709551615 as in Go.",
    ),
    m(
        "process_resident_memory_bytes",
        "process_resident_memory_bytes",
        "Same (Linux).",
    ),
    m(
        "process_start_time_seconds",
        "process_start_time_seconds",
        "Same (Linux): boot time plus the start tick of the process.",
    ),
    none(
        "process_network_receive_bytes_total",
        "Not exported: `/proc/<pid>/net/dev` counts the whole network namespace, not the process. Use node_exporter or cAdvisor.",
    ),
    none(
        "process_network_transmit_bytes_total",
        "Not exported, as `process_network_receive_bytes_total`.",
    ),
    m(
        "go_goroutines",
        "tokio_alive_tasks",
        "Tasks alive in the tokio runtime; `tokio_tracked_tasks{site}` splits tracked tasks by spawn site, which Go cannot.",
    ),
    m(
        "go_threads",
        "process_threads",
        "All OS threads of the process.",
    ),
    m(
        "go_info",
        "build_info",
        "`<ns>_build_info{version, rustc_version, git_commit, profile}`; `rustc_version` plays the part of Go's `version` label.",
    ),
    m(
        "go_sched_gomaxprocs_threads",
        "tokio_workers",
        "Worker threads of the tokio runtime.",
    ),
    m(
        "go_memstats_alloc_bytes",
        "process_heap_inuse_bytes",
        "Bytes allocated and not yet freed, counted by `CountingAlloc`.",
    ),
    m(
        "go_memstats_alloc_bytes_total",
        "process_heap_allocated_bytes_total",
        "Bytes allocated, even if freed.",
    ),
    m(
        "go_memstats_mallocs_total",
        "process_heap_allocations_total",
        "Allocations; a `realloc` counts as one allocation and one free.",
    ),
    m(
        "go_memstats_frees_total",
        "process_heap_frees_total",
        "Frees.",
    ),
    m(
        "go_memstats_heap_alloc_bytes",
        "process_heap_inuse_bytes",
        "Same value as `go_memstats_alloc_bytes` in Go too.",
    ),
    m(
        "go_memstats_heap_inuse_bytes",
        "process_heap_inuse_bytes",
        "Requested bytes, not allocator spans: allocator overhead and fragmentation are not included.",
    ),
    m(
        "go_memstats_heap_objects",
        "process_heap_allocations_total - process_heap_frees_total",
        "Live allocations, as PromQL over the two counters.",
    ),
    m(
        "go_memstats_sys_bytes",
        "process_resident_memory_bytes",
        "Closest counterpart: memory the process holds from the OS.",
    ),
    m(
        "go_memstats_heap_sys_bytes",
        "jemalloc_mapped_bytes",
        "Only with the `jemalloc` feature and jemalloc as the allocator; the system allocator does not report it.",
    ),
    m(
        "go_memstats_heap_idle_bytes",
        "jemalloc_mapped_bytes - jemalloc_active_bytes",
        "Only with the `jemalloc` feature and jemalloc as the allocator, as PromQL over the two gauges.",
    ),
    m(
        "go_memstats_heap_released_bytes",
        "jemalloc_retained_bytes",
        "Only with the `jemalloc` feature and jemalloc as the allocator: memory kept as address space but given back to the OS.",
    ),
    none(
        "go_memstats_stack_inuse_bytes",
        "Thread stacks are not heap allocations; they are part of `process_resident_memory_bytes`.",
    ),
    none(
        "go_memstats_stack_sys_bytes",
        "As `go_memstats_stack_inuse_bytes`.",
    ),
    none("go_memstats_mspan_inuse_bytes", GO_RUNTIME),
    none("go_memstats_mspan_sys_bytes", GO_RUNTIME),
    none("go_memstats_mcache_inuse_bytes", GO_RUNTIME),
    none("go_memstats_mcache_sys_bytes", GO_RUNTIME),
    none("go_memstats_buck_hash_sys_bytes", GO_RUNTIME),
    none("go_memstats_other_sys_bytes", GO_RUNTIME),
    none("go_memstats_lookups_total", GO_RUNTIME),
    none("go_memstats_gc_sys_bytes", NO_GC),
    none("go_memstats_next_gc_bytes", NO_GC),
    none("go_memstats_last_gc_time_seconds", NO_GC),
    none("go_gc_duration_seconds", NO_GC),
    none("go_gc_gogc_percent", NO_GC),
    none("go_gc_gomemlimit_bytes", NO_GC),
];

fn kind_name(k: MetricKind) -> &'static str {
    match k {
        MetricKind::Counter => "counter",
        MetricKind::Gauge => "gauge",
        MetricKind::Histogram => "histogram",
        MetricKind::Info => "info",
        _ => "unknown",
    }
}

/// Every metric the service collectors export: process, heap, jemalloc, tokio and build info, as
/// `(name, type, help)`.
pub fn service_metrics() -> Vec<(&'static str, &'static str, &'static str)> {
    let mut out: Vec<(&str, &str, &str)> = PROCESS_METRICS
        .iter()
        .chain(HEAP_METRICS)
        .chain(JEMALLOC_METRICS)
        .map(|d| (d.name, kind_name(d.kind), d.help))
        .collect();
    out.extend(
        TOKIO_METRICS
            .iter()
            .map(|d| (d.name, kind_name(d.kind), d.help)),
    );
    out.push((
        BUILD_INFO_METRIC.name,
        kind_name(BUILD_INFO_METRIC.kind),
        BUILD_INFO_METRIC.help,
    ));
    out
}

/// The page `docs/go-metrics-mapping.md`: each Go client_golang metric and its vsanobs
/// counterpart (or why there is none), then the vsanobs metrics Go has no counterpart for.
pub fn go_mapping_markdown() -> String {
    let mut out = String::new();
    out.push_str("# Go metrics and their vsanobs counterparts\n\n");
    out.push_str(
        "Generated from `vsanobs_core::process::artifacts::GO_MAPPINGS` and the collectors' metric \
         tables by `cargo run -p gen-docs`; do not edit by hand.\n\n\
         Dashboards built for Go services query the `process_*` names unchanged. The Go \
         runtime metrics map to the counting allocator (`CountingAlloc`, `process_heap_*`), \
         the tokio collector (`tokio_*`) and `<ns>_build_info`.\n\n",
    );
    out.push_str("| Go metric | vsanobs | note |\n|---|---|---|\n");
    for g in GO_MAPPINGS {
        let v = g.vsanobs.map_or("none".to_owned(), |v| format!("`{v}`"));
        let _ = writeln!(out, "| `{}` | {v} | {} |", g.go, g.note);
    }
    out.push_str("\n## Every service metric of vsanobs\n\n");
    out.push_str("| metric | type | help | Go counterpart |\n|---|---|---|---|\n");
    for (name, kind, help) in service_metrics() {
        let go: Vec<String> = GO_MAPPINGS
            .iter()
            .filter(|g| {
                g.vsanobs
                    .is_some_and(|v| v.split(" - ").any(|part| part == name))
            })
            .map(|g| format!("`{}`", g.go))
            .collect();
        let go = if go.is_empty() {
            "none".to_owned()
        } else {
            go.join(", ")
        };
        let shown = if name == BUILD_INFO_METRIC.name {
            format!("`<ns>_{name}`")
        } else {
            format!("`{name}`")
        };
        let _ = writeln!(out, "| {shown} | {kind} | {help} | {go} |");
    }
    out.push_str(
        "\n`tokio_*` need the `tokio` feature, `jemalloc_*` the `jemalloc` feature (and jemalloc \
         as the allocator), `process_heap_*` a `CountingAlloc` as the global allocator. Outside Linux the process collector exports only CPU seconds and the two \
         limits (other Unix) or nothing (elsewhere); see the `process` module docs.\n",
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_strings_are_escaped() {
        let mut out = String::new();
        J::A(vec![s("a\"b\\c\nd\u{1}"), J::O(vec![]), J::A(vec![])]).write(&mut out, 0);
        assert_eq!(out, "[\n  \"a\\\"b\\\\c\\nd\\u0001\",\n  {},\n  []\n]");
    }

    #[test]
    fn every_mapped_vsanobs_metric_exists() {
        let names: Vec<&str> = service_metrics().iter().map(|m| m.0).collect();
        for g in GO_MAPPINGS {
            if let Some(v) = g.vsanobs {
                for part in v.split(" - ") {
                    assert!(names.contains(&part), "{} maps to unknown {part}", g.go);
                }
            }
        }
    }
}
