//! Prometheus name rules applied to foreign names, as the OpenTelemetry specification's
//! Prometheus compatibility rules say: characters outside the allowed set become `_`, runs
//! of `_` collapse into one, and a name that would start with a digit gets a leading `_`.
//! A name that is already valid is returned unchanged (borrowed).
//!
//! # Example
//!
//! ```
//! use vsanobs_bridge::sanitize::{label_name, metric_name};
//!
//! assert_eq!(metric_name("http.server.duration"), "http_server_duration");
//! assert_eq!(metric_name("0invalid.counter name"), "_0invalid_counter_name");
//! assert_eq!(metric_name("app:requests"), "app:requests");
//! assert_eq!(label_name("http.request.method"), "http_request_method");
//! assert_eq!(label_name("__reserved"), "_reserved");
//! assert_eq!(label_name("9lives"), "_9lives");
//! assert_eq!(label_name(""), "_");
//! ```

use std::borrow::Cow;

use vsanobs_core::labels::{is_valid_label_name, is_valid_metric_name};

fn rewrite(name: &str, allowed: impl Fn(char) -> bool) -> String {
    let mut out = String::with_capacity(name.len() + 1);
    if name.chars().next().is_none_or(|c| c.is_ascii_digit()) {
        out.push('_');
    }
    for c in name.chars() {
        let c = if allowed(c) { c } else { '_' };
        if c == '_' && out.ends_with('_') {
            continue;
        }
        out.push(c);
    }
    out
}

/// `name` as a valid Prometheus metric name (`[a-zA-Z_:][a-zA-Z0-9_:]*`).
pub fn metric_name(name: &str) -> Cow<'_, str> {
    if is_valid_metric_name(name) {
        return Cow::Borrowed(name);
    }
    Cow::Owned(rewrite(name, |c| {
        c.is_ascii_alphanumeric() || c == '_' || c == ':'
    }))
}

/// `name` as a valid Prometheus label name (`[a-zA-Z_][a-zA-Z0-9_]*`, not starting with
/// `__`).
pub fn label_name(name: &str) -> Cow<'_, str> {
    if is_valid_label_name(name) {
        return Cow::Borrowed(name);
    }
    Cow::Owned(rewrite(name, |c| c.is_ascii_alphanumeric() || c == '_'))
}
