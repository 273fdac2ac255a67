//! The route matrix's operator artifacts as data: its Prometheus recording rules
//! ([`recording_rules`]), its Grafana dashboard ([`route_dashboard`]), and the service
//! dashboard ([`service_dashboard`]) that puts the HTTP error ratio next to the process,
//! heap and runtime panels of `vsanobs-core`. Everything is built from the
//! [`MetricDesc`](vsanobs_core::model::MetricDesc) constants the middleware registers, and
//! rendered by [`vsanobs_core::artifacts`], so no file can drift from what is exported.
//!
//! # Example
//!
//! ```
//! use vsanobs_http::artifacts::{ServiceDashboardConfig, recording_rules, route_dashboard, service_dashboard};
//!
//! let rules = recording_rules().to_yaml();
//! assert!(rules.contains("- record: route:http_server_requests:rate5m\n"));
//! assert!(rules.contains(
//!     "expr: |\n          sum by (job, route) (rate(http_server_request_duration_seconds_count[5m]))\n"
//! ));
//! assert!(route_dashboard().to_json().contains(r#""title": "HTTP routes","#));
//!
//! let service = service_dashboard(&ServiceDashboardConfig::default());
//! assert!(service.queries().any(|q| q.contains(r#"http_server_request_duration_seconds_count{status=~"5..","#)));
//! assert!(service.queries().any(|q| q.starts_with("sum by (site) (tokio_tracked_tasks{")));
//! ```
//!
//! ## Note
//! `cargo run -p gen-docs` writes them to `docs/rules/http.rules.yml`,
//! `docs/dashboards/http.json` and `docs/dashboards/service.json`; a test fails when the
//! checked-in files differ.

use vsanobs_core::artifacts::{
    Dashboard, Legend, Panel, PanelKind, RecordingRule, RuleGroup, Variable, metric_name,
};
use vsanobs_core::process::artifacts::{
    SERVICE_SELECTOR, scrape_panels, service_panels, service_variables,
};

use crate::metrics::{ACTIVE_REQUESTS, REQUEST_DURATION};

/// The recording rules of the route matrix (5 m windows, aggregated per job and route), in
/// the group `vsanobs-http`.
pub fn recording_rules() -> RuleGroup {
    let d = REQUEST_DURATION.name;
    let count = format!("{d}_count");
    let bucket = format!("{d}_bucket");
    let active = ACTIVE_REQUESTS.name;
    let mut group = RuleGroup::new("vsanobs-http")
        .record(RecordingRule::new(
            "route_method_status:http_server_requests:rate5m",
            format!("sum by (job, route, method, status) (rate({count}[5m]))"),
        ))
        .record(RecordingRule::new(
            "route:http_server_requests:rate5m",
            format!("sum by (job, route) (rate({count}[5m]))"),
        ))
        .record(RecordingRule::new(
            "route:http_server_request_errors:ratio_rate5m",
            format!(
                "sum by (job, route) (rate({count}{{status=~\"5..\"}}[5m])) / sum by (job, route) (rate({count}[5m]))"
            ),
        ))
        .record(RecordingRule::new(
            "job:http_server_request_errors:ratio_rate5m",
            format!(
                "sum by (job) (rate({count}{{status=~\"5..\"}}[5m])) / sum by (job) (rate({count}[5m]))"
            ),
        ));
    for (q, name) in [(0.5, "p50"), (0.95, "p95"), (0.99, "p99")] {
        group = group.record(RecordingRule::new(
            format!("route:{d}:{name}_5m"),
            format!("histogram_quantile({q}, sum by (job, route, le) (rate({bucket}[5m])))"),
        ));
    }
    group.record(RecordingRule::new(
        format!("route:{active}:sum"),
        format!("sum by (job, route) ({active})"),
    ))
}

/// The Grafana dashboard of the route matrix (`docs/dashboards/http.json`): QPS, error ratio
/// and P95 per route, requests by status, in-flight, and a duration heat map; variables
/// `datasource`, `job` and `route`.
pub fn route_dashboard() -> Dashboard {
    let d = REQUEST_DURATION.name;
    let sel = "job=~\"$job\", route=~\"$route\"";
    let panel = |kind, title: &str, unit: &str| {
        Panel::new(kind, title, 12, 8)
            .unit(unit)
            .legend(Legend::Table)
    };
    Dashboard::new("HTTP routes", "vsanobs-http")
        .description("Route matrix of vsanobs-http (generated; do not edit).")
        .tags(["vsanobs", "http"])
        .time_from("now-1h")
        .variable(Variable::new("job", "Job", format!("label_values({d}_count, job)")))
        .variable(Variable::new(
            "route",
            "Route",
            format!("label_values({d}_count{{job=~\"$job\"}}, route)"),
        ))
        .panel(
            panel(PanelKind::TimeSeries, "Requests per second by route", "reqps").query(
                format!("sum by (route) (rate({d}_count{{{sel}}}[$__rate_interval]))"),
                "{{route}}",
            ),
        )
        .panel(
            panel(PanelKind::TimeSeries, "Error ratio (5xx) by route", "percentunit").query(
                format!(
                    "sum by (route) (rate({d}_count{{{sel}, status=~\"5..\"}}[$__rate_interval])) / sum by (route) (rate({d}_count{{{sel}}}[$__rate_interval]))"
                ),
                "{{route}}",
            ),
        )
        .panel(panel(PanelKind::TimeSeries, "P95 duration by route", "s").query(
            format!(
                "histogram_quantile(0.95, sum by (route, le) (rate({d}_bucket{{{sel}}}[$__rate_interval])))"
            ),
            "{{route}}",
        ))
        .panel(panel(PanelKind::TimeSeries, "Requests by status", "reqps").query(
            format!("sum by (status) (rate({d}_count{{{sel}}}[$__rate_interval]))"),
            "{{status}}",
        ))
        .panel(
            panel(PanelKind::TimeSeries, "In-flight requests by route", "short").query(
                format!("sum by (route) ({}{{{sel}}})", ACTIVE_REQUESTS.name),
                "{{route}}",
            ),
        )
        .panel(panel(PanelKind::BucketHeatmap, "Duration heatmap", "s").query(
            format!("sum by (le) (increase({d}_bucket{{{sel}}}[$__rate_interval]))"),
            "{{le}}",
        ))
}

/// The HTTP panels of the service dashboard, for a registry with `prefix`: the 5xx error
/// ratio per instance, over the service dashboard's `job` and `instance` variables.
pub fn service_http_panels(prefix: &str) -> Vec<Panel> {
    let count = format!("{}_count", metric_name(prefix, &REQUEST_DURATION));
    let sel = SERVICE_SELECTOR;
    vec![
        Panel::new(PanelKind::TimeSeries, "HTTP error ratio (5xx)", 12, 6)
            .unit("percentunit")
            .description(format!(
                "Responses with a 5xx status over all responses, from {} (vsanobs-http).",
                REQUEST_DURATION.name
            ))
            .query(
                format!(
                    "sum by (instance) (rate({count}{{status=~\"5..\",{sel}}}[$__rate_interval]))\n/\nsum by (instance) (rate({count}{{{sel}}}[$__rate_interval]))"
                ),
                "{{instance}}",
            ),
    ]
}

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

/// The service dashboard (`docs/dashboards/service.json` for the default config):
/// availability and `up`, the HTTP error ratio ([`service_http_panels`]), then the process,
/// heap and runtime panels of `vsanobs-core`
/// ([`service_panels`]).
pub fn service_dashboard(c: &ServiceDashboardConfig) -> Dashboard {
    let prefix = c.metric_prefix.as_str();
    let mut d = Dashboard::new(c.title.clone(), c.uid.clone())
        .description(
            "Service health from vsanobs: availability, HTTP errors, task leaks by spawn site, heap and resident memory, CPU, file descriptors.",
        )
        .tags(["vsanobs", "service"])
        .panels(scrape_panels())
        .panels(service_http_panels(prefix))
        .panels(service_panels(prefix));
    d.variables = service_variables(prefix);
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_dashboard_has_every_panel() {
        let d = route_dashboard();
        assert_eq!(d.panels.len(), 6);
        assert!(d.panels.iter().any(|p| p.kind == PanelKind::BucketHeatmap));
        assert!(d.queries().all(|q| q.contains("http_server_")));
    }
}
