//! Generated alert rules, promtool unit tests and Grafana dashboard.
