//! Shared by the reclamation tests: a one-label family key and a read of the process-wide
//! reclamation self-metrics.

#![allow(dead_code, unreachable_pub)]

use vsanobs_core::reclaim::ReclaimCollector;
use vsanobs_core::{Format, LabelSet, Registry};

#[derive(Clone, Debug, PartialEq, Eq, Hash, LabelSet)]
pub struct L {
    pub k: String,
}

/// The label set of series `i`.
pub fn l(i: usize) -> L {
    L {
        k: format!("series-{i}"),
    }
}

/// The current value of one of `ReclaimCollector`'s metrics.
pub fn self_metric(name: &str) -> u64 {
    let reg = Registry::new();
    reg.register_collector(ReclaimCollector::new())
        .unwrap_or_else(|e| panic!("{e}"));
    let text = reg.encode_to_string(Format::PrometheusText);
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in:\n{text}"))
}

/// A two-label key shaped like an HTTP route matrix series (longer values than [`L`]).
#[derive(Clone, Debug, PartialEq, Eq, Hash, LabelSet)]
pub struct RouteLabels {
    pub route: String,
    pub status: String,
}

/// The label set of route series `i`.
pub fn route(i: usize) -> RouteLabels {
    RouteLabels {
        route: format!("/api/v1/resource/{i}/items"),
        status: (200 + i % 4).to_string(),
    }
}
