//! The process, heap and runtime part of the service dashboard, as data built from the
//! collectors' metric tables ([`PROCESS_METRICS`], [`HEAP_METRICS`], [`TOKIO_METRICS`],
//! [`BUILD_INFO_METRIC`]), and how Go's client_golang metrics map to them ([`GO_MAPPINGS`]).
//!
//! `vsanobs-core` knows no HTTP metric: `vsanobs_http::artifacts::service_dashboard` composes
//! these panels with its own into `docs/dashboards/service.json`, and `gen-docs` renders
//! `docs/go-metrics-mapping.md` from [`GO_MAPPINGS`] and [`service_metrics`].
//!
//! # Example
//!
//! ```
//! use vsanobs_core::artifacts::Dashboard;
//! use vsanobs_core::process::artifacts::{scrape_panels, service_panels, service_variables};
//!
//! let mut dashboard = Dashboard::new("Worker", "worker").panels(scrape_panels());
//! dashboard.variables = service_variables("shop");
//! dashboard.panels.extend(service_panels("shop"));
//! assert!(dashboard.queries().any(|q| q.starts_with("sum by (site) (shop_tokio_tracked_tasks{")));
//! assert!(dashboard.to_json().contains(r#""query": "label_values(shop_process_uptime_seconds, job)""#));
//! ```

use crate::alloc::{HEAP_METRICS, JEMALLOC_METRICS};
use crate::artifacts::{Panel, PanelKind, Variable, metric_name};
use crate::build_info::BUILD_INFO_METRIC;
use crate::model::MetricDesc;
use crate::process::PROCESS_METRICS;
use crate::runtime::TOKIO_METRICS;

/// The label matchers of the service dashboard's `job` and `instance` variables; panels that
/// other crates add to that dashboard select their series with it too.
pub const SERVICE_SELECTOR: &str = r#"job=~"$job",instance=~"$instance""#;

/// The table entry of one of the collectors' metrics.
fn desc(name: &str) -> Option<&'static MetricDesc> {
    PROCESS_METRICS
        .iter()
        .chain(HEAP_METRICS)
        .chain(TOKIO_METRICS)
        .chain(crate::SELF_METRICS)
        .find(|d| d.name == name)
}

/// `name` as exported by a registry with `prefix`.
fn n(prefix: &str, name: &str) -> String {
    desc(name).map_or_else(|| name.to_owned(), |d| metric_name(prefix, d))
}

fn help(name: &str) -> &'static str {
    desc(name).map_or("", |d| d.help)
}

/// The `job` and `instance` variables of the service dashboard, their values from
/// `process_uptime_seconds` (with the registry's `prefix`).
pub fn service_variables(prefix: &str) -> Vec<Variable> {
    let uptime = n(prefix, "process_uptime_seconds");
    vec![
        Variable::new("job", "Job", format!("label_values({uptime}, job)")),
        Variable::new(
            "instance",
            "Instance",
            format!("label_values({uptime}{{job=~\"$job\"}}, instance)"),
        ),
    ]
}

/// Availability from Prometheus's own `up`: the share of successful scrapes in the range and
/// `up` per instance.
pub fn scrape_panels() -> Vec<Panel> {
    let sel = SERVICE_SELECTOR;
    vec![
        Panel::new(PanelKind::Stat, "Availability", 6, 6)
            .unit("percentunit")
            .description("Share of successful scrapes of the selected instances in the range.")
            .query(format!("avg(avg_over_time(up{{{sel}}}[$__range]))"), "up"),
        Panel::new(PanelKind::TimeSeries, "Targets up", 6, 6)
            .description("1 when the last scrape of the instance succeeded.")
            .query(format!("up{{{sel}}}"), "{{instance}}"),
    ]
}

/// The panels of the process, heap and tokio collectors, the failing collectors and the
/// build info, for a registry with `prefix` (empty: none; `up`, the self-metrics and the
/// build-info regex ignore it): the task-leak heat map by spawn site, the fastest-growing
/// sites, the tokio runtime, heap in use and resident memory, allocation rate, CPU, open file
/// descriptors, threads, uptime, failing collectors and build info.
pub fn service_panels(prefix: &str) -> Vec<Panel> {
    let sel = SERVICE_SELECTOR;
    let m = |name: &str| n(prefix, name);
    let both = |a: &str, b: &str| format!("{} / {}", help(a), help(b));
    vec![
        Panel::new(PanelKind::Heatmap, "Tracked tasks by spawn site (leak heat map)", 24, 9)
            .description("Tasks alive per spawn_tracked site, one row per site: a leak is a row that only gets hotter.")
            .query(format!("sum by (site) ({}{{{sel}}})", m("tokio_tracked_tasks")), "{{site}}"),
        Panel::new(PanelKind::TimeSeries, "Fastest-growing spawn sites (1h)", 12, 8)
            .description("Change of alive tasks per site over the last hour; a leaking site stays on top.")
            .query(
                format!("topk(5, sum by (site) (delta({}{{{sel}}}[1h])))", m("tokio_tracked_tasks")),
                "{{site}}",
            ),
        Panel::new(PanelKind::TimeSeries, "Tokio runtime", 12, 8)
            .description("Alive tasks, tasks waiting in the global queue, and worker threads.")
            .query(
                format!("sum by (instance) ({}{{{sel}}})", m("tokio_alive_tasks")),
                "alive tasks {{instance}}",
            )
            .query(
                format!("sum by (instance) ({}{{{sel}}})", m("tokio_global_queue_depth")),
                "global queue {{instance}}",
            )
            .query(
                format!("sum by (instance) ({}{{{sel}}})", m("tokio_workers")),
                "workers {{instance}}",
            ),
        Panel::new(PanelKind::TimeSeries, "Heap in use and resident memory", 12, 8)
            .unit("bytes")
            .description(both("process_heap_inuse_bytes", "process_resident_memory_bytes"))
            .query(format!("{}{{{sel}}}", m("process_heap_inuse_bytes")), "heap in use {{instance}}")
            .query(format!("{}{{{sel}}}", m("process_resident_memory_bytes")), "resident {{instance}}"),
        Panel::new(PanelKind::TimeSeries, "Allocation rate", 12, 8)
            .unit("Bps")
            .description(help("process_heap_allocated_bytes_total"))
            .query(
                format!("rate({}{{{sel}}}[$__rate_interval])", m("process_heap_allocated_bytes_total")),
                "{{instance}}",
            ),
        Panel::new(PanelKind::TimeSeries, "CPU", 12, 8)
            .description("CPU cores used (user + system), from process_cpu_seconds_total.")
            .query(
                format!("rate({}{{{sel}}}[$__rate_interval])", m("process_cpu_seconds_total")),
                "{{instance}}",
            ),
        Panel::new(PanelKind::TimeSeries, "Open file descriptors", 12, 8)
            .description(both("process_open_fds", "process_max_fds"))
            .query(format!("{}{{{sel}}}", m("process_open_fds")), "open {{instance}}")
            .query(format!("{}{{{sel}}}", m("process_max_fds")), "limit {{instance}}"),
        Panel::new(PanelKind::TimeSeries, "Threads", 8, 7)
            .description(help("process_threads"))
            .query(format!("{}{{{sel}}}", m("process_threads")), "{{instance}}"),
        Panel::new(PanelKind::Stat, "Uptime", 4, 7)
            .unit("s")
            .description(help("process_uptime_seconds"))
            .query(format!("min({}{{{sel}}})", m("process_uptime_seconds")), "uptime"),
        Panel::new(PanelKind::Table, "Failing collectors", 12, 7)
            .unit("none")
            .description("Collectors whose last run failed (for example an unreadable /proc entry); their other values are still served.")
            .query(
                format!("{}{{{sel}}} == 0", n("", "vsanobs_scrape_collector_success")),
                "{{instance}} {{collector}}",
            ),
        Panel::new(PanelKind::Table, "Build", 24, 6)
            .unit("none")
            .description(BUILD_INFO_METRIC.help)
            .query(
                format!("{{__name__=~\"(.+_)?{}\",{sel}}}", BUILD_INFO_METRIC.name),
                "{{instance}}",
            ),
    ]
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

/// Every metric the service collectors export: process, heap, jemalloc, tokio and build
/// info, in that order.
pub fn service_metrics() -> Vec<MetricDesc> {
    PROCESS_METRICS
        .iter()
        .chain(HEAP_METRICS)
        .chain(JEMALLOC_METRICS)
        .chain(TOKIO_METRICS)
        .chain(std::iter::once(&BUILD_INFO_METRIC))
        .copied()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_mapped_vsanobs_metric_exists() {
        let names: Vec<&str> = service_metrics().iter().map(|m| m.name).collect();
        for g in GO_MAPPINGS {
            if let Some(v) = g.vsanobs {
                for part in v.split(" - ") {
                    assert!(names.contains(&part), "{} maps to unknown {part}", g.go);
                }
            }
        }
    }

    #[test]
    fn panels_name_only_exported_metrics() {
        // With a prefix, every prefixed name in a query is a metric of the tables (plus a
        // histogram suffix): a typo would show as an unknown name.
        for p in service_panels("zz").iter().chain(&scrape_panels()) {
            for q in &p.queries {
                for (i, _) in q.expr.match_indices("zz_") {
                    let name: String = q.expr[i + 3..]
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                        .collect();
                    assert!(desc(&name).is_some(), "{name} in {:?}", q.expr);
                }
            }
        }
        let unprefixed = ["vsanobs_scrape_collector_success", "up", "__name__"];
        for p in service_panels("zz") {
            for q in &p.queries {
                assert!(
                    q.expr.contains("zz_") || unprefixed.iter().any(|u| q.expr.contains(u)),
                    "{:?}",
                    q.expr
                );
            }
        }
    }
}
